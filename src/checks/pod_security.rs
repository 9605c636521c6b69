//! Pod security (CC6.8): namespaces enforce a Pod Security Standards level through Pod Security Admission, and
//! workload pod templates meet that level.
//!
//! The namespace label makes the API server refuse non-conforming pods from then on; the template rules find what
//! already runs or is declared (a label added later does not evict running pods, and Deployments keep templates the
//! admission would now refuse). The rules follow the Kubernetes Pod Security Standards; one finding per violated rule
//! per workload, naming the containers.

use k8s_openapi::api::core::v1::SeccompProfile;
use k8s_openapi::jiff::Timestamp;

use super::workload_templates::{all_containers, in_scope, join_names};
use super::{Admissibility, Check, CheckReport, Finding};
use crate::api::{CheckKind, PodSecurityCheck, PodSecurityLevel};
use crate::view::stored::{Container, PodSpec};
use crate::view::workloads::{PodTemplate, resource_kinds};
use crate::view::{ClusterSnapshot, Reads, ResourceKind, ResourceRef, ScopeMatcher};

/// The Pod Security Admission label that enforces a level on a namespace.
pub const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// The pod security check (`spec.check.podSecurity`).
pub struct PodSecurity;

impl Check for PodSecurity {
    const KIND: CheckKind = CheckKind::PodSecurity;
    type Params = PodSecurityCheck;

    fn params(check: &crate::api::Check) -> Option<&PodSecurityCheck> {
        check.pod_security.as_ref()
    }

    fn reads(params: &PodSecurityCheck) -> Reads {
        Reads::kinds(&Self::subject_kinds(params))
    }

    /// The workload kinds, unless only Namespace labels are judged (`workloads: false`).
    fn subject_kinds(params: &PodSecurityCheck) -> Vec<ResourceKind> {
        if params.workloads.unwrap_or(true) {
            resource_kinds(params.effective_kinds())
        } else {
            Vec::new()
        }
    }

    fn namespace_local_context(_: &PodSecurityCheck) -> Vec<ResourceKind> {
        vec![ResourceKind::Namespace]
    }

    fn admissibility(params: &PodSecurityCheck) -> Admissibility {
        if params.workloads == Some(false) {
            Admissibility::AuditOnly(
                "this podSecurity control judges only Namespace labels, which are audited continuously",
            )
        } else {
            Admissibility::per_object(Self::subject_kinds(params))
        }
    }

    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &PodSecurityCheck,
        _: Timestamp,
    ) -> CheckReport {
        check(view, scope, params)
    }
}

/// Runs the check.
pub fn check(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &PodSecurityCheck,
) -> CheckReport {
    let mut report = CheckReport::default();
    let level = params.effective_level();
    if params.require_namespace_labels.unwrap_or(true) {
        namespace_labels(view, scope, level, &mut report);
    }
    if params.workloads.unwrap_or(true) {
        let allowed = normalized(&params.effective_allowed_capabilities());
        for template in in_scope(view, scope, &params.effective_kinds(), &mut report) {
            report.evaluated += 1;
            judge(&template, level, &allowed, &mut report);
        }
    }
    report
}

/// Strictness of a Pod Security Admission label value; None for a value that is not a level.
fn strictness(value: &str) -> Option<u8> {
    match value {
        "privileged" => Some(0),
        "baseline" => Some(1),
        "restricted" => Some(2),
        _ => None,
    }
}

fn namespace_labels(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    level: PodSecurityLevel,
    report: &mut CheckReport,
) {
    let aspect = ResourceRef::aspect("v1", "Namespace", "(all)");
    if report.unknown_if_missing(view, ResourceKind::Namespace, aspect) {
        return;
    }
    let required = level.as_str();
    let required_rank = strictness(required).unwrap_or(2);
    for ns in &view.namespaces {
        let Some(name) = ns.metadata.name.as_deref() else {
            continue;
        };
        if !scope.namespace_in_scope(name) {
            continue;
        }
        report.evaluated += 1;
        let set = format!("kubectl label namespace {name} {ENFORCE_LABEL}={required} --overwrite");
        let value = ns
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(ENFORCE_LABEL));
        let problem = match value.map(String::as_str) {
            None => format!(
                "Namespace {name} has no Pod Security Admission label {ENFORCE_LABEL}, so the API server admits pods of any privilege."
            ),
            Some(v) => match strictness(v) {
                Some(rank) if rank >= required_rank => continue,
                Some(_) => format!(
                    "Namespace {name} enforces Pod Security level {v:?} ({ENFORCE_LABEL}), weaker than the required {required:?}."
                ),
                None => format!(
                    "Namespace {name} sets {ENFORCE_LABEL}={v:?}, which is not a Pod Security level (privileged, baseline, restricted)."
                ),
            },
        };
        report.findings.push(Finding::fail(
            ResourceRef::of(ns.as_ref()),
            "pod-security-label",
            format!("{problem} Set the label to {required} or stricter: {set}."),
        ));
    }
}

fn normalized(caps: &[String]) -> Vec<String> {
    caps.iter().map(|c| normalize_capability(c)).collect()
}

fn normalize_capability(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map(str::to_string)
        .unwrap_or(upper)
}

/// One rule's verdict on a template: the containers (or volumes) that violate it.
struct Rule {
    id: &'static str,
    standard: PodSecurityLevel,
    offenders: Vec<String>,
    what: String,
    fix: &'static str,
}

fn judge(
    template: &PodTemplate<'_>,
    level: PodSecurityLevel,
    allowed_caps: &[String],
    report: &mut CheckReport,
) {
    let spec = template.spec;
    let containers = all_containers(template);
    let named = |word: &str, c: &Container| format!("{word} {}", c.name);
    let offenders = |test: &dyn Fn(&Container) -> bool| -> Vec<String> {
        containers
            .iter()
            .filter(|(_, c)| test(c))
            .map(|(word, c)| named(word, c))
            .collect()
    };
    let pod_flag = |flag: Option<bool>, field: &str| -> Vec<String> {
        if flag == Some(true) {
            vec![format!("the pod (spec.{field}: true)")]
        } else {
            Vec::new()
        }
    };
    let windows = spec.os.as_ref().is_some_and(|os| os.name == "windows");

    let mut rules = vec![
        Rule {
            id: "privileged-container",
            standard: PodSecurityLevel::Baseline,
            offenders: offenders(&|c| {
                c.security_context.as_ref().and_then(|s| s.privileged) == Some(true)
            }),
            what: "containers must not run privileged (securityContext.privileged: true gives full access to the node)".into(),
            fix: "remove securityContext.privileged",
        },
        Rule {
            id: "host-network",
            standard: PodSecurityLevel::Baseline,
            offenders: pod_flag(spec.host_network, "hostNetwork"),
            what: "pods must not share the node's network namespace (hostNetwork)".into(),
            fix: "remove hostNetwork",
        },
        Rule {
            id: "host-pid",
            standard: PodSecurityLevel::Baseline,
            offenders: pod_flag(spec.host_pid, "hostPID"),
            what: "pods must not share the node's process namespace (hostPID)".into(),
            fix: "remove hostPID",
        },
        Rule {
            id: "host-ipc",
            standard: PodSecurityLevel::Baseline,
            offenders: pod_flag(spec.host_ipc, "hostIPC"),
            what: "pods must not share the node's IPC namespace (hostIPC)".into(),
            fix: "remove hostIPC",
        },
        Rule {
            id: "host-path-volume",
            standard: PodSecurityLevel::Baseline,
            offenders: spec
                .volumes
                .iter()
                .flatten()
                .filter_map(|v| {
                    v.host_path
                        .as_ref()
                        .map(|h| format!("volume {} (hostPath {})", v.name, h.path))
                })
                .collect(),
            what: "pods must not mount directories of the node (hostPath volumes)".into(),
            fix: "replace hostPath volumes with persistent volumes, ConfigMaps or emptyDir",
        },
        Rule {
            id: "added-capabilities",
            standard: PodSecurityLevel::Baseline,
            offenders: containers
                .iter()
                .filter_map(|(word, c)| {
                    let extra: Vec<String> = added_capabilities(c)
                        .into_iter()
                        .filter(|cap| !allowed_caps.contains(&normalize_capability(cap)))
                        .collect();
                    (!extra.is_empty()).then(|| format!("{} (adds {})", named(word, c), extra.join(", ")))
                })
                .collect(),
            what: format!("containers may add only the allowed Linux capabilities ({})", if allowed_caps.is_empty() { "none".to_string() } else { allowed_caps.join(", ") }),
            fix: "remove them from securityContext.capabilities.add, or list them in allowedCapabilities with a justification",
        },
    ];
    if level == PodSecurityLevel::Baseline {
        rules.push(Rule {
            id: "seccomp-unconfined",
            standard: PodSecurityLevel::Baseline,
            offenders: offenders(&|c| {
                effective_seccomp(spec, c).is_some_and(|t| t == "Unconfined")
            }),
            what: "containers must not run with seccomp profile Unconfined".into(),
            fix: "set securityContext.seccompProfile.type: RuntimeDefault",
        });
    }
    if level == PodSecurityLevel::Restricted {
        rules.extend([
            Rule {
                id: "privilege-escalation-allowed",
                standard: PodSecurityLevel::Restricted,
                offenders: if windows {
                    Vec::new()
                } else {
                    offenders(&|c| {
                        c.security_context.as_ref().and_then(|s| s.allow_privilege_escalation)
                            != Some(false)
                    })
                },
                what: "containers must set securityContext.allowPrivilegeEscalation: false, so that setuid binaries cannot gain privileges".into(),
                fix: "set securityContext.allowPrivilegeEscalation: false on every container",
            },
            Rule {
                id: "run-as-non-root-not-set",
                standard: PodSecurityLevel::Restricted,
                offenders: offenders(&|c| {
                    c.security_context
                        .as_ref()
                        .and_then(|s| s.run_as_non_root)
                        .or(spec.security_context.as_ref().and_then(|s| s.run_as_non_root))
                        != Some(true)
                }),
                what: "containers must set runAsNonRoot: true (container or pod securityContext)".into(),
                fix: "set securityContext.runAsNonRoot: true on the pod (or every container) and run the image as a non-root user",
            },
            Rule {
                id: "run-as-root-user",
                standard: PodSecurityLevel::Restricted,
                offenders: offenders(&|c| {
                    c.security_context
                        .as_ref()
                        .and_then(|s| s.run_as_user)
                        .or(spec.security_context.as_ref().and_then(|s| s.run_as_user))
                        == Some(0)
                }),
                what: "containers must not run as UID 0 (runAsUser: 0)".into(),
                fix: "set runAsUser to a non-zero UID",
            },
            Rule {
                id: "seccomp-profile-missing",
                standard: PodSecurityLevel::Restricted,
                offenders: if windows {
                    Vec::new()
                } else {
                    offenders(&|c| {
                        !effective_seccomp(spec, c)
                            .is_some_and(|t| t == "RuntimeDefault" || t == "Localhost")
                    })
                },
                what: "containers must run with seccomp profile RuntimeDefault or Localhost (container or pod securityContext.seccompProfile)".into(),
                fix: "set securityContext.seccompProfile.type: RuntimeDefault on the pod",
            },
            Rule {
                id: "capabilities-not-dropped",
                standard: PodSecurityLevel::Restricted,
                offenders: if windows {
                    Vec::new()
                } else {
                    offenders(&|c| {
                        !c.security_context
                            .as_ref()
                            .and_then(|s| s.capabilities.as_ref())
                            .and_then(|caps| caps.drop.as_ref())
                            .is_some_and(|d| d.iter().any(|x| normalize_capability(x) == "ALL"))
                    })
                },
                what: "containers must drop all capabilities (securityContext.capabilities.drop includes ALL)".into(),
                fix: "set securityContext.capabilities.drop: [ALL] on every container",
            },
        ]);
    }
    for rule in rules.into_iter().filter(|r| !r.offenders.is_empty()) {
        report.findings.push(Finding::fail(
            template.resource(),
            rule.id,
            format!(
                "Pod Security Standards ({standard}): {what}; violated by {offenders}. Fix: {fix}.",
                offenders = join_names(&rule.offenders),
                what = rule.what,
                standard = rule.standard.as_str(),
                fix = rule.fix,
            ),
        ));
    }
}

fn added_capabilities(c: &Container) -> Vec<String> {
    c.security_context
        .as_ref()
        .and_then(|s| s.capabilities.as_ref())
        .and_then(|caps| caps.add.clone())
        .unwrap_or_default()
}

/// The seccomp profile type that applies to a container: its own, else the pod's.
fn effective_seccomp<'a>(spec: &'a PodSpec, c: &'a Container) -> Option<&'a str> {
    let kind = |p: Option<&'a SeccompProfile>| p.map(|p| p.type_.as_str());
    kind(
        c.security_context
            .as_ref()
            .and_then(|s| s.seccomp_profile.as_ref()),
    )
    .or_else(|| {
        kind(
            spec.security_context
                .as_ref()
                .and_then(|s| s.seccomp_profile.as_ref()),
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::api::WorkloadKind;
    use crate::checks::FindingResult::{Fail, Unknown};
    use crate::checks::test_support::*;
    use crate::checks::workload_templates::fixtures::*;

    /// A pod spec that meets the restricted level.
    fn restricted() -> Value {
        json!({
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "app",
                "image": "ghcr.io/acme/app:1.0",
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                },
            }],
        })
    }

    fn workloads_only() -> PodSecurityCheck {
        PodSecurityCheck {
            require_namespace_labels: Some(false),
            ..Default::default()
        }
    }

    fn run(spec: Value, params: &PodSecurityCheck) -> CheckReport {
        let view = ClusterSnapshot {
            deployments: vec![deployment("web", "api", spec, json!({}))],
            ..Default::default()
        };
        check(&view, &scope(&view), params)
    }

    fn set(mut spec: Value, pointer: &str, value: Value) -> Value {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer");
        let target = spec.pointer_mut(parent).expect("parent exists");
        target[key] = value;
        spec
    }

    #[test]
    fn compliant_restricted_template_passes() {
        assert_report(&run(restricted(), &workloads_only()), 1, &[]);
    }

    #[test]
    fn each_restricted_violation_and_its_twin() {
        let cases: &[(&str, Value, &str)] = &[
            (
                "/containers/0/securityContext/privileged",
                json!(true),
                "privileged-container",
            ),
            ("/hostNetwork", json!(true), "host-network"),
            ("/hostPID", json!(true), "host-pid"),
            ("/hostIPC", json!(true), "host-ipc"),
            (
                "/volumes",
                json!([{"name": "root", "hostPath": {"path": "/"}}]),
                "host-path-volume",
            ),
            (
                "/containers/0/securityContext/capabilities/add",
                json!(["SYS_ADMIN"]),
                "added-capabilities",
            ),
            (
                "/containers/0/securityContext/allowPrivilegeEscalation",
                json!(true),
                "privilege-escalation-allowed",
            ),
            (
                "/securityContext/runAsNonRoot",
                json!(false),
                "run-as-non-root-not-set",
            ),
            ("/securityContext/runAsUser", json!(0), "run-as-root-user"),
            (
                "/securityContext/seccompProfile/type",
                json!("Unconfined"),
                "seccomp-profile-missing",
            ),
            (
                "/containers/0/securityContext/capabilities/drop",
                json!(["NET_RAW"]),
                "capabilities-not-dropped",
            ),
        ];
        for (pointer, value, rule) in cases {
            let report = run(set(restricted(), pointer, value.clone()), &workloads_only());
            assert_report(&report, 1, &[("Deployment web/api", Fail, rule)]);
        }
        // Compliant twins: false host flags, an empty volume, an allowed capability (spelled CAP_...), a non-root UID.
        for (pointer, value) in [
            ("/hostNetwork", json!(false)),
            ("/volumes", json!([{"name": "tmp", "emptyDir": {}}])),
            (
                "/containers/0/securityContext/capabilities/add",
                json!(["CAP_NET_BIND_SERVICE"]),
            ),
            ("/securityContext/runAsUser", json!(1000)),
            (
                "/securityContext/seccompProfile",
                json!({"type": "Localhost", "localhostProfile": "p.json"}),
            ),
        ] {
            assert_report(
                &run(set(restricted(), pointer, value), &workloads_only()),
                1,
                &[],
            );
        }
    }

    #[test]
    fn container_settings_override_the_pod() {
        // Container-level runAsNonRoot and seccomp are enough without pod-level ones...
        let mut spec = restricted();
        spec["securityContext"] = json!({});
        spec["containers"][0]["securityContext"]["runAsNonRoot"] = json!(true);
        spec["containers"][0]["securityContext"]["seccompProfile"] =
            json!({"type": "RuntimeDefault"});
        assert_report(&run(spec, &workloads_only()), 1, &[]);
        // ...and a container's own weaker value wins over the pod's.
        let mut spec = restricted();
        spec["containers"][0]["securityContext"]["runAsNonRoot"] = json!(false);
        spec["containers"][0]["securityContext"]["seccompProfile"] = json!({"type": "Unconfined"});
        assert_report(
            &run(spec, &workloads_only()),
            1,
            &[
                ("Deployment web/api", Fail, "run-as-non-root-not-set"),
                ("Deployment web/api", Fail, "seccomp-profile-missing"),
            ],
        );
    }

    #[test]
    fn one_finding_per_rule_names_every_container() {
        let mut spec = restricted();
        let mut sidecar = spec["containers"][0].clone();
        sidecar["name"] = json!("proxy");
        spec["initContainers"] = json!([sidecar]);
        spec["containers"][0]["securityContext"]["privileged"] = json!(true);
        spec["initContainers"][0]["securityContext"]["privileged"] = json!(true);
        let report = run(spec, &workloads_only());
        assert_report(
            &report,
            1,
            &[("Deployment web/api", Fail, "privileged-container")],
        );
        assert!(
            message(&report).contains("init container proxy and container app"),
            "{}",
            message(&report)
        );
    }

    #[test]
    fn an_empty_template_fails_every_restricted_rule_it_can() {
        let spec = json!({"containers": [{"name": "app", "image": "nginx"}]});
        assert_report(
            &run(spec.clone(), &workloads_only()),
            1,
            &[
                ("Deployment web/api", Fail, "capabilities-not-dropped"),
                ("Deployment web/api", Fail, "privilege-escalation-allowed"),
                ("Deployment web/api", Fail, "run-as-non-root-not-set"),
                ("Deployment web/api", Fail, "seccomp-profile-missing"),
            ],
        );
        // Baseline asks for none of these.
        let baseline = PodSecurityCheck {
            level: Some(PodSecurityLevel::Baseline),
            ..workloads_only()
        };
        assert_report(&run(spec, &baseline), 1, &[]);
    }

    #[test]
    fn baseline_level_rules() {
        let baseline = PodSecurityCheck {
            level: Some(PodSecurityLevel::Baseline),
            ..workloads_only()
        };
        let spec = json!({"containers": [{"name": "app", "image": "nginx",
            "securityContext": {"capabilities": {"add": ["CHOWN", "KILL"]}}}]});
        assert_report(&run(spec, &baseline), 1, &[]);
        let spec = json!({"hostNetwork": true, "containers": [{"name": "app", "image": "nginx",
            "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}, "seccompProfile": {"type": "Unconfined"}}}]});
        assert_report(
            &run(spec, &baseline),
            1,
            &[
                ("Deployment web/api", Fail, "added-capabilities"),
                ("Deployment web/api", Fail, "host-network"),
                ("Deployment web/api", Fail, "seccomp-unconfined"),
            ],
        );
    }

    #[test]
    fn ephemeral_debug_containers_of_bare_pods_are_judged() {
        let mut spec = restricted();
        spec["ephemeralContainers"] = json!([{"name": "debugger", "image": "busybox",
            "securityContext": {"privileged": true}}]);
        let view = ClusterSnapshot {
            pods: vec![pod("web", "debugged", spec)],
            ..Default::default()
        };
        let report = check(&view, &scope(&view), &workloads_only());
        assert_report(
            &report,
            1,
            &[
                ("Pod web/debugged", Fail, "capabilities-not-dropped"),
                ("Pod web/debugged", Fail, "privilege-escalation-allowed"),
                ("Pod web/debugged", Fail, "privileged-container"),
            ],
        );
        assert!(
            report
                .findings
                .iter()
                .all(|f| f.message.contains("ephemeral container debugger"))
        );
    }

    #[test]
    fn windows_pods_are_exempt_from_linux_only_rules() {
        let spec = json!({"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": true},
            "containers": [{"name": "app", "image": "mcr.microsoft.com/windows/servercore:ltsc2022"}]});
        assert_report(&run(spec, &workloads_only()), 1, &[]);
    }

    fn label_view() -> ClusterSnapshot {
        ClusterSnapshot {
            namespaces: vec![
                namespace("none", json!({})),
                namespace("priv", json!({ENFORCE_LABEL: "privileged"})),
                namespace("base", json!({ENFORCE_LABEL: "baseline"})),
                namespace("strict", json!({ENFORCE_LABEL: "restricted"})),
                namespace("typo", json!({ENFORCE_LABEL: "Restricted"})),
                namespace("kube-system", json!({})),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn namespace_labels_at_the_required_level_or_stricter() {
        let view = label_view();
        let params = PodSecurityCheck {
            workloads: Some(false),
            ..Default::default()
        };
        let report = check(&view, &scope(&view), &params);
        assert_report(
            &report,
            5,
            &[
                ("Namespace base", Fail, "pod-security-label"),
                ("Namespace none", Fail, "pod-security-label"),
                ("Namespace priv", Fail, "pod-security-label"),
                ("Namespace typo", Fail, "pod-security-label"),
            ],
        );
        let none = report
            .findings
            .iter()
            .find(|f| f.resource.name == "none")
            .expect("finding");
        assert!(
            none.message.contains(
                "kubectl label namespace none pod-security.kubernetes.io/enforce=restricted"
            ),
            "{}",
            none.message
        );
        let baseline = PodSecurityCheck {
            level: Some(PodSecurityLevel::Baseline),
            ..params
        };
        assert_report(
            &check(&view, &scope(&view), &baseline),
            5,
            &[
                ("Namespace none", Fail, "pod-security-label"),
                ("Namespace priv", Fail, "pod-security-label"),
                ("Namespace typo", Fail, "pod-security-label"),
            ],
        );
    }

    #[test]
    fn out_of_scope_and_malformed_objects() {
        let mut view = ClusterSnapshot {
            deployments: vec![deployment(
                "kube-system",
                "proxy",
                json!({"hostNetwork": true, "containers": []}),
                json!({}),
            )],
            pods: vec![pod("web", "empty", json!({"containers": []}))],
            ..Default::default()
        };
        let no_spec: crate::view::stored::Deployment =
            serde_json::from_value(json!({"metadata": {"name": "broken", "namespace": "web"}}))
                .expect("json");
        view.deployments.push(std::sync::Arc::new(no_spec));
        // The bare pod without containers passes vacuously; the kube-system Deployment is out of scope.
        assert_report(&check(&view, &scope(&view), &workloads_only()), 1, &[]);
    }

    #[test]
    fn missing_kinds_are_unknown() {
        let mut view = ClusterSnapshot::default();
        view.unavailable
            .insert(ResourceKind::Pod, "forbidden".into());
        let params = PodSecurityCheck {
            kinds: Some(vec![WorkloadKind::Pod]),
            ..workloads_only()
        };
        assert_report(
            &check(&view, &scope(&view), &params),
            1,
            &[("Pod (all)", Unknown, "data-unavailable")],
        );
    }
}
