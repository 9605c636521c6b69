//! Logging (CC7.2): API audit logging is on, and a log collector runs on every schedulable node.

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration,
};
use k8s_openapi::jiff::Timestamp;

use super::apiserver_flags::visible_api_servers;
use super::attestation::{AttestationSubject, judge_attestation};
use super::{Admissibility, Check, CheckReport, Finding};
use crate::api::{Attestation, CheckKind, LoggingCheck};
use crate::view::scope_matcher::compile_selector;
use crate::view::stored::DaemonSet;
use crate::view::{ClusterSnapshot, Reads, ResourceKind, ResourceRef, ScopeMatcher};
use kube::core::SelectorExt;

pub use super::attestation::ATTESTATION_MAX_AGE_DAYS;
use crate::engine::validation::SpecError;

/// The logging check (`spec.check.logging`).
pub struct Logging;

impl Check for Logging {
    const KIND: CheckKind = CheckKind::Logging;
    type Params = LoggingCheck;

    fn params(check: &crate::api::Check) -> Option<&LoggingCheck> {
        check.logging.as_ref()
    }

    fn validate(params: &LoggingCheck) -> Result<(), SpecError> {
        if let Some(s) = &params.collector_selector {
            compile_selector(s, "spec.check.logging.collectorSelector")?;
        }
        Ok(())
    }

    fn reads(params: &LoggingCheck) -> Reads {
        let mut kinds = vec![ResourceKind::ControlPlanePod];
        if params.require_collector.unwrap_or(true) {
            kinds.extend([ResourceKind::DaemonSet, ResourceKind::Node]);
        }
        Reads::kinds(&kinds)
    }

    fn admissibility(_: &LoggingCheck) -> Admissibility {
        Admissibility::AuditOnly(
            "the logging check needs the control plane, nodes and the log collector together, so one object at admission cannot decide it",
        )
    }

    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &LoggingCheck,
        now: Timestamp,
    ) -> CheckReport {
        check(view, scope, params, now)
    }
}

/// Runs the check. `now` dates attestations.
pub fn check(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &LoggingCheck,
    now: Timestamp,
) -> CheckReport {
    let mut report = CheckReport::default();
    audit_logging(view, params.audit_attestation.as_ref(), now, &mut report);
    if params.require_collector.unwrap_or(true) {
        log_collectors(view, scope, params, &mut report);
    }
    report
}

fn control_plane() -> ResourceRef {
    ResourceRef::aspect("v1", "ControlPlane", "kube-apiserver")
}

fn audit_logging(
    view: &ClusterSnapshot,
    attestation: Option<&Attestation>,
    now: Timestamp,
    report: &mut CheckReport,
) {
    if report.unknown_if_missing(view, ResourceKind::ControlPlanePod, control_plane()) {
        return;
    }
    let servers = visible_api_servers(view);
    for (pod, flags) in &servers {
        report.evaluated += 1;
        let resource = ResourceRef::of(*pod);
        if !flags.has_value("audit-log-path") && !flags.has_value("audit-webhook-config-file") {
            report.findings.push(Finding::fail(
                resource.clone(),
                "audit-log-disabled",
                "kube-apiserver has no audit backend: neither --audit-log-path nor --audit-webhook-config-file is set, \
                 so API activity is not recorded. Configure an audit log or webhook backend.",
            ));
        }
        if !flags.has_value("audit-policy-file") {
            report.findings.push(Finding::fail(
                resource,
                "audit-policy-missing",
                "kube-apiserver has no --audit-policy-file: without a policy no audit events are written. \
                 Add an audit policy that records at least Metadata for all requests.",
            ));
        }
    }
    if !servers.is_empty() {
        return;
    }
    report.evaluated += 1;
    let finding = match attestation {
        None => Finding::unknown(
            control_plane(),
            "audit-logging-not-visible",
            "No kube-apiserver static pod is visible in kube-system (a managed control plane?), so audit logging \
             cannot be verified from the cluster. Enable the provider's control-plane audit logs and record \
             spec.check.logging.auditAttestation (attestedBy, reference, date).",
        ),
        Some(a) => judge_attestation(
            a,
            now,
            &AttestationSubject {
                resource: control_plane(),
                field: "spec.check.logging.auditAttestation",
                statement: "API audit logging",
                attested_rule: "audit-logging-attested",
                attested_state: "API audit logging is enabled on the managed control plane",
            },
        ),
    };
    report.findings.push(finding);
}

fn log_collectors(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &LoggingCheck,
    report: &mut CheckReport,
) {
    let aspect = ResourceRef::aspect("apps/v1", "DaemonSet", "(log collector)");
    if report.unknown_if_missing(view, ResourceKind::DaemonSet, aspect.clone())
        || report.unknown_if_missing(
            view,
            ResourceKind::Node,
            ResourceRef::aspect("v1", "Node", "(all)"),
        )
    {
        return;
    }
    let selector = match params
        .collector_selector
        .as_ref()
        .map(|s| compile_selector(s, "spec.check.logging.collectorSelector"))
    {
        // validation rejects invalid selectors before a check runs; stay total anyway.
        Some(Err(e)) => {
            report.evaluated += 1;
            report
                .findings
                .push(Finding::unknown(aspect, "invalid-selector", e.to_string()));
            return;
        }
        Some(Ok(s)) => Some(s),
        None => None,
    };
    let names = params.effective_collectors();
    let collectors: Vec<&DaemonSet> = view
        .daemon_sets
        .iter()
        .map(|d| d.as_ref())
        .filter(|d| scope.matches(&d.metadata))
        .filter(|d| match &selector {
            Some(s) => s.matches(d.metadata.labels.as_ref().unwrap_or(&Default::default())),
            None => is_named_collector(d, &names),
        })
        .collect();
    if collectors.is_empty() {
        report.evaluated += 1;
        let how = if selector.is_some() {
            "matching spec.check.logging.collectorSelector".to_string()
        } else {
            format!("({})", names.join(", "))
        };
        report.findings.push(Finding::fail(
            aspect,
            "no-log-collector",
            format!("No log collector DaemonSet {how} is deployed in scope, so container and node logs are not collected centrally. Deploy one."),
        ));
        return;
    }
    for ds in collectors {
        report.evaluated += 1;
        if let Some(finding) = judge_collector(ds, &view.nodes) {
            report.findings.push(finding);
        }
    }
}

/// True when the DaemonSet's name, name labels or an image name a known collector.
pub fn is_named_collector(ds: &DaemonSet, names: &[String]) -> bool {
    let labels = ds.metadata.labels.as_ref();
    let label = |k: &str| {
        labels
            .and_then(|l| l.get(k))
            .map(String::as_str)
            .unwrap_or("")
    };
    let images = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| {
            p.containers
                .iter()
                .filter_map(|c| c.image.as_deref())
                .map(image_name)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let ds_name = ds.metadata.name.as_deref().unwrap_or("");
    names.iter().filter(|n| !n.is_empty()).any(|n| {
        let n = n.as_str();
        ds_name.contains(n)
            || label("app.kubernetes.io/name").contains(n)
            || label("app").contains(n)
            || images.iter().any(|i| i.starts_with(n))
    })
}

/// The last path segment of an image reference, without tag or digest: `grafana/promtail:2.9` -> `promtail`.
fn image_name(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split(':').next().unwrap_or(last)
}

/// Taints the DaemonSet controller tolerates on every daemon pod.
const DAEMON_TOLERATED: &[&str] = &[
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/unschedulable",
    "node.kubernetes.io/network-unavailable",
];

fn tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    if DAEMON_TOLERATED.contains(&taint.key.as_str()) {
        return true;
    }
    tolerations.iter().any(|t| {
        let effect_ok = t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect);
        let key = t.key.as_deref().unwrap_or("");
        match t.operator.as_deref().unwrap_or("Equal") {
            "Exists" => effect_ok && (key.is_empty() || key == taint.key),
            _ => {
                effect_ok
                    && key == taint.key
                    && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
            }
        }
    })
}

/// True when the node meets one term of a required node affinity (terms are ORed; the expressions and fields of a
/// term are ANDed; a term with neither matches no node), as the scheduler reads it.
fn meets_required_affinity(terms: &[NodeSelectorTerm], node: &Node) -> bool {
    let empty = Default::default();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    let name = node.metadata.name.as_deref().unwrap_or_default();
    let holds = |r: &NodeSelectorRequirement, value: Option<&str>| {
        let values = r.values.as_deref().unwrap_or_default();
        let number = |v: &str| v.parse::<i64>().ok();
        match r.operator.as_str() {
            "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
            "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            "Gt" | "Lt" => match (
                value.and_then(number),
                values.first().and_then(|v| number(v)),
            ) {
                (Some(v), Some(bound)) if r.operator == "Gt" => v > bound,
                (Some(v), Some(bound)) => v < bound,
                _ => false,
            },
            _ => false,
        }
    };
    terms.iter().any(|term| {
        let expressions = term.match_expressions.as_deref().unwrap_or_default();
        let fields = term.match_fields.as_deref().unwrap_or_default();
        (!expressions.is_empty() || !fields.is_empty())
            && expressions
                .iter()
                .all(|r| holds(r, labels.get(&r.key).map(String::as_str)))
            && fields
                .iter()
                .all(|r| holds(r, (r.key == "metadata.name").then_some(name)))
    })
}

/// Nodes the DaemonSet should run on: not cordoned, every NoSchedule/NoExecute taint tolerated, nodeSelector and
/// required node affinity met.
fn schedulable_nodes<'a>(ds: &DaemonSet, nodes: &'a [std::sync::Arc<Node>]) -> Vec<&'a Node> {
    let pod = ds.spec.as_ref().and_then(|s| s.template.spec.as_ref());
    let tolerations = pod.and_then(|p| p.tolerations.clone()).unwrap_or_default();
    let node_selector = pod
        .and_then(|p| p.node_selector.clone())
        .unwrap_or_default();
    let required_affinity = pod
        .and_then(|p| p.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|r| r.node_selector_terms.as_slice());
    nodes
        .iter()
        .map(|n| n.as_ref())
        .filter(|n| {
            let spec = n.spec.as_ref();
            let cordoned = spec.and_then(|s| s.unschedulable).unwrap_or(false);
            let taints = spec.and_then(|s| s.taints.as_deref()).unwrap_or_default();
            let labels = n.metadata.labels.clone().unwrap_or_default();
            !cordoned
                && taints
                    .iter()
                    .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
                    .all(|t| tolerates(&tolerations, t))
                && node_selector.iter().all(|(k, v)| labels.get(k) == Some(v))
                && required_affinity.is_none_or(|terms| meets_required_affinity(terms, n))
        })
        .collect()
}

fn judge_collector(ds: &DaemonSet, nodes: &[std::sync::Arc<Node>]) -> Option<Finding> {
    let resource = ResourceRef::of(ds);
    let Some(status) = ds.status.as_ref() else {
        return Some(Finding::unknown(
            resource,
            "collector-status-missing",
            "the log collector DaemonSet has no status yet; its rollout cannot be judged.",
        ));
    };
    let ready = status.number_ready.max(0);
    let scheduled = status.desired_number_scheduled.max(0);
    // Without Node objects (a partial dump) the DaemonSet's own count is the best available measure.
    let expected = if nodes.is_empty() {
        scheduled
    } else {
        schedulable_nodes(ds, nodes).len() as i32
    };
    if expected == 0 {
        return Some(Finding::fail(
            resource,
            "collector-not-scheduled",
            "the log collector DaemonSet is scheduled on no node, so no logs are collected. Check its nodeSelector and tolerations.",
        ));
    }
    if ready < expected || ready < scheduled {
        let target = expected.max(scheduled);
        return Some(Finding::fail(
            resource,
            "collector-not-ready",
            format!(
                "the log collector is ready on {ready} of {target} schedulable nodes ({scheduled} scheduled), so logs from the other nodes are not collected. Fix the failing collector pods."
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::checks::test_support::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use k8s_openapi::api::apps::v1::DaemonSetStatus;
    use k8s_openapi::api::core::v1 as corev1;
    use k8s_openapi::api::core::v1::{NodeSpec, Pod};

    use crate::view::stored::{Container, DaemonSetSpec, PodSpec, PodTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelector, LabelSelectorRequirement, ObjectMeta,
    };

    use super::*;
    use crate::api::Scope;
    use crate::checks::FindingResult::{Fail, Notice, Unknown};

    // ---- object builders -------------------------------------------------------------------------------------

    fn now() -> Timestamp {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
        (!pairs.is_empty()).then(|| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
    }

    /// A pod in `namespace` running kube-apiserver with `args`.
    fn apiserver(namespace: &str, args: &[&str]) -> Arc<Pod> {
        let mut command = vec!["kube-apiserver".to_string()];
        command.extend(args.iter().map(|s| s.to_string()));
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some("kube-apiserver-cp-1".into()),
                namespace: Some(namespace.into()),
                ..Default::default()
            },
            spec: Some(corev1::PodSpec {
                containers: vec![corev1::Container {
                    name: "kube-apiserver".into(),
                    command: Some(command),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    const AUDITED: &[&str] = &[
        "--audit-log-path=/var/log/kubernetes/audit.log",
        "--audit-policy-file=/etc/kubernetes/audit-policy.yaml",
    ];

    /// A DaemonSet in `logging` with `image`, and status `(desired, ready)` when given.
    fn ds(
        name: &str,
        ds_labels: &[(&str, &str)],
        image: &str,
        status: Option<(i32, i32)>,
    ) -> DaemonSet {
        DaemonSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("logging".into()),
                labels: labels(ds_labels),
                ..Default::default()
            },
            spec: Some(DaemonSetSpec {
                template: PodTemplateSpec {
                    metadata: None,
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "main".into(),
                            image: Some(image.into()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                },
            }),
            status: status.map(|(desired, ready)| DaemonSetStatus {
                desired_number_scheduled: desired,
                current_number_scheduled: desired,
                number_ready: ready,
                ..Default::default()
            }),
        }
    }

    fn fluent_bit(status: Option<(i32, i32)>) -> DaemonSet {
        ds(
            "fluent-bit",
            &[],
            "cr.fluentbit.io/fluent/fluent-bit:3.0",
            status,
        )
    }

    fn pod_spec(d: &mut DaemonSet) -> &mut PodSpec {
        d.spec.as_mut().unwrap().template.spec.as_mut().unwrap()
    }

    fn with_tolerations(mut d: DaemonSet, tolerations: Vec<Toleration>) -> DaemonSet {
        pod_spec(&mut d).tolerations = Some(tolerations);
        d
    }

    fn with_node_selector(mut d: DaemonSet, selector: &[(&str, &str)]) -> DaemonSet {
        pod_spec(&mut d).node_selector = labels(selector);
        d
    }

    fn node(
        name: &str,
        node_labels: &[(&str, &str)],
        unschedulable: bool,
        taints: Vec<Taint>,
    ) -> Arc<Node> {
        Arc::new(Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: labels(node_labels),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                unschedulable: unschedulable.then_some(true),
                taints: (!taints.is_empty()).then_some(taints),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn worker(name: &str) -> Arc<Node> {
        node(name, &[], false, vec![])
    }

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: value.map(str::to_string),
            effect: effect.into(),
            time_added: None,
        }
    }

    fn toleration(
        key: Option<&str>,
        operator: Option<&str>,
        value: Option<&str>,
        effect: Option<&str>,
    ) -> Toleration {
        Toleration {
            key: key.map(str::to_string),
            operator: operator.map(str::to_string),
            value: value.map(str::to_string),
            effect: effect.map(str::to_string),
            toleration_seconds: None,
        }
    }

    /// A cluster whose audit logging is fine, with these collectors and nodes.
    fn cluster(daemon_sets: Vec<DaemonSet>, nodes: Vec<Arc<Node>>) -> ClusterSnapshot {
        ClusterSnapshot {
            control_plane_pods: vec![apiserver("kube-system", AUDITED)],
            daemon_sets: daemon_sets.into_iter().map(Arc::new).collect(),
            nodes,
            ..Default::default()
        }
    }

    fn three_workers() -> Vec<Arc<Node>> {
        vec![worker("n1"), worker("n2"), worker("n3")]
    }

    fn attestation(date: &str) -> Attestation {
        Attestation {
            attested_by: "jane.doe@example.com (Head of Platform)".into(),
            reference: "TICKET-42".into(),
            date: date.into(),
        }
    }

    fn audit_only() -> LoggingCheck {
        LoggingCheck {
            require_collector: Some(false),
            ..Default::default()
        }
    }

    fn attested(date: &str) -> LoggingCheck {
        LoggingCheck {
            audit_attestation: Some(attestation(date)),
            ..audit_only()
        }
    }

    // ---- running and asserting -------------------------------------------------------------------------------

    fn run(view: &ClusterSnapshot, params: &LoggingCheck) -> CheckReport {
        check(view, &ScopeMatcher::new(None, view).unwrap(), params, now())
    }

    const APISERVER: &str = "Pod kube-system/kube-apiserver-cp-1";
    const CONTROL_PLANE: &str = "ControlPlane kube-apiserver";
    const NO_COLLECTOR: &str = "DaemonSet (log collector)";

    fn apiserver_view(args: &[&str]) -> ClusterSnapshot {
        ClusterSnapshot {
            control_plane_pods: vec![apiserver("kube-system", args)],
            ..Default::default()
        }
    }

    // ---- audit logging: visible control plane --------------------------------------------------------------

    #[test]
    fn audit_log_path_and_policy_pass() {
        assert_report(&run(&apiserver_view(AUDITED), &audit_only()), 1, &[]);
    }

    #[test]
    fn audit_webhook_backend_with_policy_passes() {
        let view = apiserver_view(&[
            "--audit-webhook-config-file=/etc/kubernetes/audit-webhook.yaml",
            "--audit-policy-file",
            "/etc/kubernetes/audit-policy.yaml",
        ]);
        assert_report(&run(&view, &audit_only()), 1, &[]);
    }

    #[test]
    fn missing_audit_backend_fails() {
        for args in [
            &["--audit-policy-file=/p.yaml"][..],
            &["--audit-policy-file=/p.yaml", "--audit-log-path="][..],
            &["--audit-policy-file=/p.yaml", "--audit-log-path=  "][..],
            &["--audit-policy-file=/p.yaml", "--audit-log-path"][..],
            &[
                "--audit-policy-file=/p.yaml",
                "--audit-webhook-config-file=",
            ][..],
            &["--audit-policy-file=/p.yaml", "--audit-log-maxage=30"][..],
        ] {
            let report = run(&apiserver_view(args), &audit_only());
            assert_report(&report, 1, &[(APISERVER, Fail, "audit-log-disabled")]);
        }
    }

    #[test]
    fn missing_audit_policy_fails() {
        for args in [
            &["--audit-log-path=/var/log/audit.log"][..],
            &[
                "--audit-log-path=/var/log/audit.log",
                "--audit-policy-file=",
            ][..],
            &["--audit-webhook-config-file=/w.yaml", "--audit-policy-file"][..],
        ] {
            let report = run(&apiserver_view(args), &audit_only());
            assert_report(&report, 1, &[(APISERVER, Fail, "audit-policy-missing")]);
        }
    }

    #[test]
    fn missing_backend_and_policy_are_both_reported() {
        let report = run(&apiserver_view(&["--v=2"]), &audit_only());
        assert_report(
            &report,
            1,
            &[
                (APISERVER, Fail, "audit-log-disabled"),
                (APISERVER, Fail, "audit-policy-missing"),
            ],
        );
    }

    #[test]
    fn visible_flags_win_over_an_attestation() {
        let report = run(&apiserver_view(&["--v=2"]), &attested("2026-05-01"));
        assert_report(
            &report,
            1,
            &[
                (APISERVER, Fail, "audit-log-disabled"),
                (APISERVER, Fail, "audit-policy-missing"),
            ],
        );
        assert_report(
            &run(&apiserver_view(AUDITED), &attested("1999-01-01")),
            1,
            &[],
        );
    }

    #[test]
    fn each_visible_apiserver_is_evaluated() {
        let mut second = (*apiserver("kube-system", &["--audit-log-path=/a.log"])).clone();
        second.metadata.name = Some("kube-apiserver-cp-2".into());
        let view = ClusterSnapshot {
            control_plane_pods: vec![apiserver("kube-system", AUDITED), Arc::new(second)],
            ..Default::default()
        };
        assert_report(
            &run(&view, &audit_only()),
            2,
            &[(
                "Pod kube-system/kube-apiserver-cp-2",
                Fail,
                "audit-policy-missing",
            )],
        );
    }

    // ---- audit logging: invisible control plane ------------------------------------------------------------

    #[test]
    fn no_apiserver_and_no_attestation_is_unknown() {
        let report = run(&ClusterSnapshot::default(), &audit_only());
        assert_report(
            &report,
            1,
            &[(CONTROL_PLANE, Unknown, "audit-logging-not-visible")],
        );
        assert!(message(&report).contains("auditAttestation"));
        assert_eq!(report.findings[0].resource.api_version, "v1");
        assert_eq!(report.findings[0].resource.namespace, None);
    }

    #[test]
    fn apiserver_lookalikes_outside_kube_system_are_ignored() {
        let etcd = Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some("etcd-cp-1".into()),
                namespace: Some("kube-system".into()),
                ..Default::default()
            },
            spec: Some(corev1::PodSpec {
                containers: vec![corev1::Container {
                    name: "etcd".into(),
                    command: Some(vec!["etcd".into()]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        });
        let no_spec = Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some("kube-apiserver-x".into()),
                namespace: Some("kube-system".into()),
                ..Default::default()
            },
            ..Default::default()
        });
        let view = ClusterSnapshot {
            control_plane_pods: vec![
                apiserver("default", AUDITED),
                apiserver("kube-system2", AUDITED),
                etcd,
                no_spec,
            ],
            ..Default::default()
        };
        assert_report(
            &run(&view, &audit_only()),
            1,
            &[(CONTROL_PLANE, Unknown, "audit-logging-not-visible")],
        );
    }

    #[test]
    fn a_recent_attestation_is_a_notice() {
        let report = run(&ClusterSnapshot::default(), &attested("2026-05-01"));
        assert_report(
            &report,
            1,
            &[(CONTROL_PLANE, Notice, "audit-logging-attested")],
        );
        let m = message(&report);
        assert!(m.contains("jane.doe@example.com (Head of Platform)"), "{m}");
        assert!(m.contains("2026-05-01"), "{m}");
        assert!(m.contains("TICKET-42"), "{m}");
    }

    #[test]
    fn attestation_age_boundaries() {
        // now is 2026-06-01: today and exactly 365 days ago still count, 366 days ago does not.
        for (date, rule, result) in [
            ("2026-06-01", "audit-logging-attested", Notice),
            ("2025-06-01", "audit-logging-attested", Notice),
            ("2025-05-31", "attestation-expired", Fail),
            ("2020-01-01", "attestation-expired", Fail),
            ("0001-01-01", "attestation-expired", Fail),
            ("2026-06-02", "attestation-invalid", Fail),
            ("9999-12-31", "attestation-invalid", Fail),
        ] {
            let report = run(&ClusterSnapshot::default(), &attested(date));
            assert_report(&report, 1, &[(CONTROL_PLANE, result, rule)]);
            assert!(
                message(&report).contains(date),
                "{date}: {}",
                message(&report)
            );
        }
    }

    #[test]
    fn attestation_is_dated_in_utc_whatever_the_time_of_day() {
        let late: Timestamp = "2026-06-01T23:59:59Z".parse().unwrap();
        let view = ClusterSnapshot::default();
        let scope = ScopeMatcher::new(None, &view).unwrap();
        let report = check(&view, &scope, &attested("2026-06-01"), late);
        assert_report(
            &report,
            1,
            &[(CONTROL_PLANE, Notice, "audit-logging-attested")],
        );
        let report = check(&view, &scope, &attested("2026-06-02"), late);
        assert_report(&report, 1, &[(CONTROL_PLANE, Fail, "attestation-invalid")]);
        let next_day: Timestamp = "2026-06-02T00:00:00Z".parse().unwrap();
        let report = check(&view, &scope, &attested("2026-06-02"), next_day);
        assert_report(
            &report,
            1,
            &[(CONTROL_PLANE, Notice, "audit-logging-attested")],
        );
    }

    #[test]
    fn an_expired_attestation_names_who_and_where() {
        let report = run(&ClusterSnapshot::default(), &attested("2024-01-15"));
        let m = message(&report);
        assert!(m.contains("jane.doe@example.com"), "{m}");
        assert!(m.contains("TICKET-42"), "{m}");
        assert!(m.contains("365 days"), "{m}");
    }

    #[test]
    fn malformed_attestation_dates_are_invalid() {
        for date in [
            "",
            " ",
            "2026/05/01",
            "01-05-2026",
            "2026-5-1",
            "2026-05-1",
            "2026-02-30",
            "2026-13-01",
            "2026-00-10",
            "20260501",
            "2026-05-01T10:00",
            "2026-05-01T10:00:00Z",
            "2026-05-01[UTC]",
            "+002026-05-01",
            " 2026-05-01",
            "2026-05-01 ",
            "２０２６-05-01",
            "yesterday",
            "2026-05-01\n",
        ] {
            let report = run(&ClusterSnapshot::default(), &attested(date));
            assert_report(&report, 1, &[(CONTROL_PLANE, Fail, "attestation-invalid")]);
            assert!(
                message(&report).contains("is not a date"),
                "{date:?}: {}",
                message(&report)
            );
        }
    }

    #[test]
    fn unreadable_control_plane_pods_are_unknown_even_with_an_attestation() {
        let mut view = apiserver_view(AUDITED);
        view.unavailable
            .insert(ResourceKind::ControlPlanePod, "forbidden".into());
        for params in [audit_only(), attested("2026-05-01")] {
            let report = run(&view, &params);
            assert_report(&report, 1, &[(CONTROL_PLANE, Unknown, "data-unavailable")]);
            assert!(message(&report).contains("pods could not be read: forbidden"));
        }
    }

    // ---- collectors: recognition ---------------------------------------------------------------------------

    #[test]
    fn a_ready_collector_on_every_node_passes() {
        let view = cluster(vec![fluent_bit(Some((3, 3)))], three_workers());
        assert_report(&run(&view, &LoggingCheck::default()), 2, &[]);
    }

    #[test]
    fn collectors_are_recognised_by_name_label_and_image() {
        let recognised = [
            ds("fluent-bit", &[], "busybox", Some((3, 0))),
            ds(
                "logs",
                &[("app.kubernetes.io/name", "vector")],
                "busybox",
                Some((3, 0)),
            ),
            ds("agent", &[("app", "fluentd")], "busybox", Some((3, 0))),
            ds("shipper", &[], "grafana/promtail:2.9", Some((3, 0))),
            ds(
                "otel",
                &[],
                "registry.local:5000/otel/opentelemetry-collector-contrib@sha256:abcd",
                Some((3, 0)),
            ),
            ds("my-fluent-bit-agent", &[], "busybox", Some((3, 0))),
        ];
        for d in recognised {
            let name = d.metadata.name.clone().unwrap();
            // Not ready: so recognition shows as a collector-not-ready finding rather than no-log-collector.
            let view = cluster(vec![d], three_workers());
            let report = run(&view, &LoggingCheck::default());
            let expected = format!("DaemonSet logging/{name}");
            assert_report(
                &report,
                2,
                &[(expected.as_str(), Fail, "collector-not-ready")],
            );
        }
    }

    #[test]
    fn unrelated_daemon_sets_are_not_collectors() {
        let view = cluster(
            vec![
                ds(
                    "kube-proxy",
                    &[("app", "kube-proxy")],
                    "registry.k8s.io/kube-proxy:v1.33.0",
                    Some((3, 3)),
                ),
                // The collector name in a registry host or tag is not the image name.
                ds("cni", &[], "vector.example.com/cni:1.0", Some((3, 3))),
                ds("csi", &[], "busybox:fluent-bit", Some((3, 3))),
                // Other labels do not count.
                ds(
                    "node-exporter",
                    &[("app.kubernetes.io/part-of", "fluent-bit")],
                    "prom/node-exporter",
                    Some((3, 3)),
                ),
            ],
            three_workers(),
        );
        let report = run(&view, &LoggingCheck::default());
        assert_report(&report, 2, &[(NO_COLLECTOR, Fail, "no-log-collector")]);
        assert!(
            message(&report)
                .contains("(fluent-bit, vector, fluentd, opentelemetry-collector, promtail)")
        );
    }

    #[test]
    fn no_daemon_sets_at_all_is_no_log_collector() {
        let report = run(&cluster(vec![], three_workers()), &LoggingCheck::default());
        assert_report(&report, 2, &[(NO_COLLECTOR, Fail, "no-log-collector")]);
    }

    #[test]
    fn custom_collector_names_replace_the_defaults() {
        let params = LoggingCheck {
            collectors: Some(vec!["datadog-agent".into()]),
            ..Default::default()
        };
        let view = cluster(
            vec![
                ds(
                    "datadog",
                    &[],
                    "gcr.io/datadoghq/datadog-agent:7",
                    Some((3, 3)),
                ),
                fluent_bit(Some((3, 0))),
            ],
            three_workers(),
        );
        assert_report(&run(&view, &params), 2, &[]);
        let only_fluent_bit = cluster(vec![fluent_bit(Some((3, 3)))], three_workers());
        let report = run(&only_fluent_bit, &params);
        assert_report(&report, 2, &[(NO_COLLECTOR, Fail, "no-log-collector")]);
        assert!(message(&report).contains("(datadog-agent)"));
    }

    #[test]
    fn empty_collector_names_match_nothing() {
        let params = LoggingCheck {
            collectors: Some(vec!["".into()]),
            ..Default::default()
        };
        let view = cluster(
            vec![fluent_bit(Some((3, 3))), ds("", &[], "", Some((3, 3)))],
            three_workers(),
        );
        assert_report(
            &run(&view, &params),
            2,
            &[(NO_COLLECTOR, Fail, "no-log-collector")],
        );
    }

    #[test]
    fn collector_selector_replaces_name_recognition() {
        let params = LoggingCheck {
            collector_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    "logging.example.com/collector".into(),
                    "true".into(),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let view = cluster(
            vec![
                ds(
                    "in-house",
                    &[("logging.example.com/collector", "true")],
                    "example/shipper:1",
                    Some((3, 3)),
                ),
                // A well-known collector without the label is not selected.
                fluent_bit(Some((3, 0))),
            ],
            three_workers(),
        );
        assert_report(&run(&view, &params), 2, &[]);

        let unlabelled = cluster(vec![fluent_bit(Some((3, 3)))], three_workers());
        let report = run(&unlabelled, &params);
        assert_report(&report, 2, &[(NO_COLLECTOR, Fail, "no-log-collector")]);
        assert!(message(&report).contains("collectorSelector"));
    }

    #[test]
    fn collector_selector_with_expressions() {
        let params = LoggingCheck {
            collector_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["logs".into(), "telemetry".into()]),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let view = cluster(
            vec![
                ds("a", &[("tier", "logs")], "x", Some((3, 3))),
                ds("b", &[("tier", "telemetry")], "x", Some((3, 2))),
                ds("c", &[("tier", "web")], "x", Some((3, 0))),
            ],
            three_workers(),
        );
        assert_report(
            &run(&view, &params),
            3,
            &[("DaemonSet logging/b", Fail, "collector-not-ready")],
        );
    }

    #[test]
    fn an_invalid_collector_selector_is_unknown() {
        let params = LoggingCheck {
            collector_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "Near".into(),
                    values: None,
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let report = run(
            &cluster(vec![fluent_bit(Some((3, 3)))], three_workers()),
            &params,
        );
        assert_report(&report, 2, &[(NO_COLLECTOR, Unknown, "invalid-selector")]);
        assert!(message(&report).contains("spec.check.logging.collectorSelector"));
    }

    #[test]
    fn scope_exclusion_hides_collectors() {
        let view = cluster(vec![fluent_bit(Some((3, 3)))], three_workers());
        let scope = Scope {
            exclude_namespaces: Some(vec!["logging".into()]),
            ..Default::default()
        };
        let report = check(
            &view,
            &ScopeMatcher::new(Some(&scope), &view).unwrap(),
            &LoggingCheck::default(),
            now(),
        );
        assert_report(&report, 2, &[(NO_COLLECTOR, Fail, "no-log-collector")]);
    }

    #[test]
    fn every_recognised_collector_is_judged() {
        let view = cluster(
            vec![
                fluent_bit(Some((3, 3))),
                ds("promtail", &[], "grafana/promtail:2.9", Some((3, 1))),
                ds("vector", &[], "timberio/vector:0.40", None),
            ],
            three_workers(),
        );
        assert_report(
            &run(&view, &LoggingCheck::default()),
            4,
            &[
                ("DaemonSet logging/promtail", Fail, "collector-not-ready"),
                (
                    "DaemonSet logging/vector",
                    Unknown,
                    "collector-status-missing",
                ),
            ],
        );
    }

    // ---- collectors: readiness -----------------------------------------------------------------------------

    #[test]
    fn fewer_ready_than_schedulable_nodes_fails_and_the_fix_passes() {
        let report = run(
            &cluster(vec![fluent_bit(Some((3, 2)))], three_workers()),
            &LoggingCheck::default(),
        );
        assert_report(
            &report,
            2,
            &[("DaemonSet logging/fluent-bit", Fail, "collector-not-ready")],
        );
        assert!(
            message(&report).contains("ready on 2 of 3 schedulable nodes (3 scheduled)"),
            "{}",
            message(&report)
        );

        // The DaemonSet controller has not caught up with a new node: still not ready everywhere.
        let report = run(
            &cluster(vec![fluent_bit(Some((2, 2)))], three_workers()),
            &LoggingCheck::default(),
        );
        assert_report(
            &report,
            2,
            &[("DaemonSet logging/fluent-bit", Fail, "collector-not-ready")],
        );
        assert!(
            message(&report).contains("ready on 2 of 3"),
            "{}",
            message(&report)
        );

        assert_report(
            &run(
                &cluster(vec![fluent_bit(Some((3, 3)))], three_workers()),
                &LoggingCheck::default(),
            ),
            2,
            &[],
        );
    }

    #[test]
    fn fewer_ready_than_scheduled_fails_even_when_nodes_suggest_fewer() {
        let report = run(
            &cluster(vec![fluent_bit(Some((4, 3)))], three_workers()),
            &LoggingCheck::default(),
        );
        assert_report(
            &report,
            2,
            &[("DaemonSet logging/fluent-bit", Fail, "collector-not-ready")],
        );
        assert!(
            message(&report).contains("ready on 3 of 4"),
            "{}",
            message(&report)
        );
    }

    #[test]
    fn cordoned_nodes_are_not_counted() {
        let nodes = vec![worker("n1"), worker("n2"), node("n3", &[], true, vec![])];
        assert_report(
            &run(
                &cluster(vec![fluent_bit(Some((2, 2)))], nodes),
                &LoggingCheck::default(),
            ),
            2,
            &[],
        );
    }

    #[test]
    fn untolerated_no_schedule_and_no_execute_taints_are_not_counted() {
        let nodes = vec![
            worker("n1"),
            worker("n2"),
            node(
                "gpu",
                &[],
                false,
                vec![taint("nvidia.com/gpu", Some("present"), "NoSchedule")],
            ),
            node(
                "infra",
                &[],
                false,
                vec![taint("dedicated", Some("infra"), "NoExecute")],
            ),
            // PreferNoSchedule does not keep the collector away: counted.
            node(
                "soft",
                &[],
                false,
                vec![taint("soft", None, "PreferNoSchedule")],
            ),
            // Taints the DaemonSet controller tolerates itself: counted.
            node(
                "pressure",
                &[],
                false,
                vec![taint(
                    "node.kubernetes.io/disk-pressure",
                    None,
                    "NoSchedule",
                )],
            ),
            node(
                "not-ready",
                &[],
                false,
                vec![taint("node.kubernetes.io/not-ready", None, "NoExecute")],
            ),
        ];
        assert_report(
            &run(
                &cluster(vec![fluent_bit(Some((5, 5)))], nodes.clone()),
                &LoggingCheck::default(),
            ),
            2,
            &[],
        );
        let report = run(
            &cluster(vec![fluent_bit(Some((4, 4)))], nodes),
            &LoggingCheck::default(),
        );
        assert_report(
            &report,
            2,
            &[("DaemonSet logging/fluent-bit", Fail, "collector-not-ready")],
        );
        assert!(
            message(&report).contains("ready on 4 of 5"),
            "{}",
            message(&report)
        );
    }

    #[test]
    fn tolerated_taints_are_counted() {
        let nodes = vec![
            worker("n1"),
            node(
                "gpu",
                &[],
                false,
                vec![taint("nvidia.com/gpu", Some("present"), "NoSchedule")],
            ),
            node(
                "infra",
                &[],
                false,
                vec![taint("dedicated", Some("infra"), "NoExecute")],
            ),
        ];
        let tolerant = with_tolerations(
            fluent_bit(Some((3, 2))),
            vec![
                toleration(
                    Some("nvidia.com/gpu"),
                    Some("Exists"),
                    None,
                    Some("NoSchedule"),
                ),
                toleration(Some("dedicated"), None, Some("infra"), None),
            ],
        );
        let report = run(
            &cluster(vec![tolerant.clone()], nodes.clone()),
            &LoggingCheck::default(),
        );
        assert_report(
            &report,
            2,
            &[("DaemonSet logging/fluent-bit", Fail, "collector-not-ready")],
        );
        assert!(
            message(&report).contains("ready on 2 of 3"),
            "{}",
            message(&report)
        );
        let mut fixed = tolerant;
        fixed.status.as_mut().unwrap().number_ready = 3;
        assert_report(
            &run(&cluster(vec![fixed], nodes), &LoggingCheck::default()),
            2,
            &[],
        );
    }

    #[test]
    fn toleration_matching_rules() {
        let gpu = || {
            node(
                "gpu",
                &[],
                false,
                vec![taint("gpu", Some("a100"), "NoSchedule")],
            )
        };
        // (tolerations, counts the gpu node)
        let cases: Vec<(Vec<Toleration>, bool)> = vec![
            (vec![toleration(None, Some("Exists"), None, None)], true), // tolerate everything
            (
                vec![toleration(Some("gpu"), Some("Exists"), None, Some(""))],
                true,
            ),
            (
                vec![toleration(
                    Some("gpu"),
                    Some("Equal"),
                    Some("a100"),
                    Some("NoSchedule"),
                )],
                true,
            ),
            (
                vec![toleration(Some("gpu"), None, Some("a100"), None)],
                true,
            ), // Equal is the default
            (
                vec![toleration(Some("gpu"), Some("Equal"), Some("h100"), None)],
                false,
            ), // wrong value
            (
                vec![toleration(
                    Some("gpu"),
                    Some("Exists"),
                    None,
                    Some("NoExecute"),
                )],
                false,
            ), // wrong effect
            (
                vec![toleration(Some("GPU"), Some("Exists"), None, None)],
                false,
            ), // keys are exact
            (vec![toleration(None, Some("Equal"), None, None)], false), // empty key with Equal
            (vec![], false),
        ];
        for (tolerations, counted) in cases {
            let d = with_tolerations(fluent_bit(Some((1, 1))), tolerations);
            let report = run(
                &cluster(vec![d], vec![worker("n1"), gpu()]),
                &LoggingCheck::default(),
            );
            if counted {
                assert_report(
                    &report,
                    2,
                    &[("DaemonSet logging/fluent-bit", Fail, "collector-not-ready")],
                );
            } else {
                assert_report(&report, 2, &[]);
            }
        }
    }

    #[test]
    fn node_selector_is_respected() {
        let nodes = vec![
            node("l1", &[("kubernetes.io/os", "linux")], false, vec![]),
            node(
                "l2",
                &[("kubernetes.io/os", "linux"), ("zone", "a")],
                false,
                vec![],
            ),
            node("w1", &[("kubernetes.io/os", "windows")], false, vec![]),
            node("bare", &[], false, vec![]),
        ];
        let linux = with_node_selector(fluent_bit(Some((2, 2))), &[("kubernetes.io/os", "linux")]);
        assert_report(
            &run(
                &cluster(vec![linux], nodes.clone()),
                &LoggingCheck::default(),
            ),
            2,
            &[],
        );
        let linux_not_ready =
            with_node_selector(fluent_bit(Some((2, 1))), &[("kubernetes.io/os", "linux")]);
        assert_report(
            &run(
                &cluster(vec![linux_not_ready], nodes.clone()),
                &LoggingCheck::default(),
            ),
            2,
            &[("DaemonSet logging/fluent-bit", Fail, "collector-not-ready")],
        );
        let none_match =
            with_node_selector(fluent_bit(Some((0, 0))), &[("kubernetes.io/os", "plan9")]);
        let report = run(&cluster(vec![none_match], nodes), &LoggingCheck::default());
        assert_report(
            &report,
            2,
            &[(
                "DaemonSet logging/fluent-bit",
                Fail,
                "collector-not-scheduled",
            )],
        );
    }

    #[test]
    fn required_node_affinity_is_respected() {
        use k8s_openapi::api::core::v1::{
            Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
        };
        let requirement = |key: &str, operator: &str, values: &[&str]| NodeSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        };
        let with_affinity = |mut d: DaemonSet, terms: Vec<NodeSelectorTerm>| {
            pod_spec(&mut d).affinity = Some(Box::new(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: terms,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }));
            d
        };
        let nodes = vec![
            node("l1", &[("kubernetes.io/os", "linux")], false, vec![]),
            node(
                "l2",
                &[("kubernetes.io/os", "linux"), ("cores", "8")],
                false,
                vec![],
            ),
            node("w1", &[("kubernetes.io/os", "windows")], false, vec![]),
            node(
                "gpu",
                &[("kubernetes.io/os", "linux"), ("gpu", "a100")],
                false,
                vec![],
            ),
        ];
        // Linux nodes without a GPU, or the node named w1: l1, l2 and w1.
        let terms = || {
            vec![
                NodeSelectorTerm {
                    match_expressions: Some(vec![
                        requirement("kubernetes.io/os", "In", &["linux"]),
                        requirement("gpu", "DoesNotExist", &[]),
                    ]),
                    match_fields: None,
                },
                NodeSelectorTerm {
                    match_expressions: None,
                    match_fields: Some(vec![requirement("metadata.name", "In", &["w1"])]),
                },
            ]
        };
        let ready_where_it_runs = with_affinity(fluent_bit(Some((3, 3))), terms());
        assert_report(
            &run(
                &cluster(vec![ready_where_it_runs], nodes.clone()),
                &LoggingCheck::default(),
            ),
            2,
            &[],
        );
        let one_not_ready = with_affinity(fluent_bit(Some((3, 2))), terms());
        assert_report(
            &run(
                &cluster(vec![one_not_ready], nodes.clone()),
                &LoggingCheck::default(),
            ),
            2,
            &[("DaemonSet logging/fluent-bit", Fail, "collector-not-ready")],
        );
        // Gt/Lt compare integers; NotIn admits nodes without the label; an empty term matches no node.
        let big = with_affinity(
            fluent_bit(Some((1, 1))),
            vec![NodeSelectorTerm {
                match_expressions: Some(vec![
                    requirement("cores", "Gt", &["4"]),
                    requirement("gpu", "NotIn", &["a100"]),
                ]),
                match_fields: None,
            }],
        );
        assert_report(
            &run(&cluster(vec![big], nodes.clone()), &LoggingCheck::default()),
            2,
            &[],
        );
        let nowhere = with_affinity(fluent_bit(Some((0, 0))), vec![NodeSelectorTerm::default()]);
        assert_report(
            &run(&cluster(vec![nowhere], nodes), &LoggingCheck::default()),
            2,
            &[(
                "DaemonSet logging/fluent-bit",
                Fail,
                "collector-not-scheduled",
            )],
        );
    }

    #[test]
    fn every_node_unschedulable_means_not_scheduled() {
        let nodes = vec![
            node("n1", &[], true, vec![]),
            node("n2", &[], false, vec![taint("x", None, "NoSchedule")]),
        ];
        assert_report(
            &run(
                &cluster(vec![fluent_bit(Some((0, 0)))], nodes),
                &LoggingCheck::default(),
            ),
            2,
            &[(
                "DaemonSet logging/fluent-bit",
                Fail,
                "collector-not-scheduled",
            )],
        );
    }

    #[test]
    fn nodes_without_spec_or_labels_are_schedulable() {
        let bare = Arc::new(Node::default());
        assert_report(
            &run(
                &cluster(vec![fluent_bit(Some((1, 0)))], vec![bare.clone()]),
                &LoggingCheck::default(),
            ),
            2,
            &[("DaemonSet logging/fluent-bit", Fail, "collector-not-ready")],
        );
        assert_report(
            &run(
                &cluster(vec![fluent_bit(Some((1, 1)))], vec![bare]),
                &LoggingCheck::default(),
            ),
            2,
            &[],
        );
    }

    #[test]
    fn without_nodes_in_view_the_daemon_set_count_decides() {
        assert_report(
            &run(
                &cluster(vec![fluent_bit(Some((3, 3)))], vec![]),
                &LoggingCheck::default(),
            ),
            2,
            &[],
        );
        let report = run(
            &cluster(vec![fluent_bit(Some((3, 2)))], vec![]),
            &LoggingCheck::default(),
        );
        assert_report(
            &report,
            2,
            &[("DaemonSet logging/fluent-bit", Fail, "collector-not-ready")],
        );
        assert!(
            message(&report).contains("ready on 2 of 3"),
            "{}",
            message(&report)
        );
        assert_report(
            &run(
                &cluster(vec![fluent_bit(Some((0, 0)))], vec![]),
                &LoggingCheck::default(),
            ),
            2,
            &[(
                "DaemonSet logging/fluent-bit",
                Fail,
                "collector-not-scheduled",
            )],
        );
    }

    #[test]
    fn negative_status_counts_are_treated_as_zero() {
        assert_report(
            &run(
                &cluster(vec![fluent_bit(Some((-1, -5)))], vec![]),
                &LoggingCheck::default(),
            ),
            2,
            &[(
                "DaemonSet logging/fluent-bit",
                Fail,
                "collector-not-scheduled",
            )],
        );
        let report = run(
            &cluster(vec![fluent_bit(Some((-1, -5)))], three_workers()),
            &LoggingCheck::default(),
        );
        assert_report(
            &report,
            2,
            &[("DaemonSet logging/fluent-bit", Fail, "collector-not-ready")],
        );
        assert!(
            message(&report).contains("ready on 0 of 3 schedulable nodes (0 scheduled)"),
            "{}",
            message(&report)
        );
    }

    #[test]
    fn more_ready_than_needed_passes() {
        assert_report(
            &run(
                &cluster(vec![fluent_bit(Some((5, 5)))], three_workers()),
                &LoggingCheck::default(),
            ),
            2,
            &[],
        );
    }

    #[test]
    fn missing_status_is_unknown() {
        let report = run(
            &cluster(vec![fluent_bit(None)], three_workers()),
            &LoggingCheck::default(),
        );
        assert_report(
            &report,
            2,
            &[(
                "DaemonSet logging/fluent-bit",
                Unknown,
                "collector-status-missing",
            )],
        );
    }

    // ---- collectors: configuration and missing data --------------------------------------------------------

    #[test]
    fn require_collector_false_skips_the_collector_part() {
        let params = LoggingCheck {
            require_collector: Some(false),
            ..Default::default()
        };
        let mut view = cluster(vec![], three_workers());
        assert_report(&run(&view, &params), 1, &[]);
        view.unavailable
            .insert(ResourceKind::DaemonSet, "forbidden".into());
        view.unavailable
            .insert(ResourceKind::Node, "forbidden".into());
        assert_report(&run(&view, &params), 1, &[]);
        // Twin: the default requires one.
        let view = cluster(vec![], three_workers());
        assert_report(
            &run(&view, &LoggingCheck::default()),
            2,
            &[(NO_COLLECTOR, Fail, "no-log-collector")],
        );
    }

    #[test]
    fn unreadable_daemon_sets_or_nodes_are_unknown() {
        let mut view = cluster(vec![fluent_bit(Some((3, 3)))], three_workers());
        view.unavailable
            .insert(ResourceKind::DaemonSet, "forbidden".into());
        let report = run(&view, &LoggingCheck::default());
        assert_report(&report, 2, &[(NO_COLLECTOR, Unknown, "data-unavailable")]);
        assert!(message(&report).contains("daemonsets could not be read: forbidden"));

        let mut view = cluster(vec![fluent_bit(Some((3, 3)))], three_workers());
        view.unavailable
            .insert(ResourceKind::Node, "not synced".into());
        let report = run(&view, &LoggingCheck::default());
        assert_report(&report, 2, &[("Node (all)", Unknown, "data-unavailable")]);
        assert!(message(&report).contains("nodes could not be read: not synced"));
    }

    #[test]
    fn a_managed_cluster_without_anything_reports_both_gaps() {
        let report = run(&ClusterSnapshot::default(), &LoggingCheck::default());
        assert_report(
            &report,
            2,
            &[
                (CONTROL_PLANE, Unknown, "audit-logging-not-visible"),
                (NO_COLLECTOR, Fail, "no-log-collector"),
            ],
        );
    }

    #[test]
    fn an_attested_managed_cluster_with_a_ready_collector() {
        let view = ClusterSnapshot {
            daemon_sets: vec![Arc::new(fluent_bit(Some((3, 3))))],
            nodes: three_workers(),
            ..Default::default()
        };
        let params = LoggingCheck {
            audit_attestation: Some(attestation("2026-01-15")),
            ..Default::default()
        };
        assert_report(
            &run(&view, &params),
            2,
            &[(CONTROL_PLANE, Notice, "audit-logging-attested")],
        );
    }

    // ---- malformed and adversarial -------------------------------------------------------------------------

    #[test]
    fn daemon_sets_without_spec_names_or_images_are_handled() {
        let no_spec = DaemonSet {
            metadata: ObjectMeta {
                name: Some("fluent-bit".into()),
                namespace: Some("logging".into()),
                ..Default::default()
            },
            status: Some(DaemonSetStatus {
                desired_number_scheduled: 3,
                number_ready: 3,
                ..Default::default()
            }),
            ..Default::default()
        };
        // Recognised by name; without a pod spec it has no tolerations or nodeSelector.
        assert_report(
            &run(
                &cluster(vec![no_spec], three_workers()),
                &LoggingCheck::default(),
            ),
            2,
            &[],
        );

        let mut nameless = ds("", &[], "", Some((3, 3)));
        nameless.metadata.name = None;
        pod_spec(&mut nameless).containers[0].image = None;
        assert_report(
            &run(
                &cluster(vec![nameless], three_workers()),
                &LoggingCheck::default(),
            ),
            2,
            &[(NO_COLLECTOR, Fail, "no-log-collector")],
        );

        let mut nameless_vector = ds("", &[("app", "vector")], "", Some((3, 1)));
        nameless_vector.metadata.name = None;
        assert_report(
            &run(
                &cluster(vec![nameless_vector], three_workers()),
                &LoggingCheck::default(),
            ),
            2,
            &[("DaemonSet logging/", Fail, "collector-not-ready")],
        );
    }

    #[test]
    fn very_long_names_are_handled() {
        let long = format!("{}-fluent-bit", "x".repeat(10_000));
        let long_image = format!("{}/promtail:{}", "r".repeat(5_000), "t".repeat(5_000));
        let view = cluster(
            vec![
                ds(&long, &[], "busybox", Some((3, 3))),
                ds("shipper", &[], &long_image, Some((3, 1))),
            ],
            three_workers(),
        );
        assert_report(
            &run(&view, &LoggingCheck::default()),
            3,
            &[("DaemonSet logging/shipper", Fail, "collector-not-ready")],
        );
        let long_attester = Attestation {
            attested_by: "a".repeat(100_000),
            ..attestation("2026-05-01")
        };
        let params = LoggingCheck {
            audit_attestation: Some(long_attester),
            ..audit_only()
        };
        let report = run(&ClusterSnapshot::default(), &params);
        assert_report(
            &report,
            1,
            &[(CONTROL_PLANE, Notice, "audit-logging-attested")],
        );
        assert!(message(&report).contains(&"a".repeat(100_000)));
    }

    #[test]
    fn unicode_names_are_handled() {
        let params = LoggingCheck {
            collectors: Some(vec!["ログ収集".into()]),
            ..Default::default()
        };
        let view = cluster(
            vec![
                ds("ログ収集-agent", &[], "busybox", Some((3, 3))),
                ds(
                    "other",
                    &[("app", "🪵")],
                    "example/ログ収集:1",
                    Some((3, 2)),
                ),
            ],
            vec![worker("ノード-1"), worker("ノード-2"), worker("ノード-3")],
        );
        assert_report(
            &run(&view, &params),
            3,
            &[("DaemonSet logging/other", Fail, "collector-not-ready")],
        );
        let attested_unicode = LoggingCheck {
            audit_attestation: Some(Attestation {
                attested_by: "Zoë Ångström 👩‍💻".into(),
                reference: "チケット-1".into(),
                date: "2026-05-01".into(),
            }),
            ..audit_only()
        };
        let report = run(&ClusterSnapshot::default(), &attested_unicode);
        assert!(message(&report).contains("Zoë Ångström 👩‍💻"));
    }

    #[test]
    fn duplicate_collectors_and_nodes_are_each_counted() {
        // The same node listed twice counts twice; so does the same DaemonSet.
        let view = cluster(
            vec![fluent_bit(Some((3, 3))), fluent_bit(Some((3, 2)))],
            vec![worker("n1"), worker("n1"), worker("n2")],
        );
        assert_report(
            &run(&view, &LoggingCheck::default()),
            3,
            &[("DaemonSet logging/fluent-bit", Fail, "collector-not-ready")],
        );
    }

    #[test]
    fn duplicate_and_conflicting_flags_take_the_last_value() {
        let view = apiserver_view(&[
            "--audit-log-path=/a.log",
            "--audit-policy-file=/p.yaml",
            "--audit-log-path=",
        ]);
        assert_report(
            &run(&view, &audit_only()),
            1,
            &[(APISERVER, Fail, "audit-log-disabled")],
        );
        let view = apiserver_view(&[
            "--audit-log-path=",
            "--audit-policy-file=/p.yaml",
            "--audit-log-path=/a.log",
        ]);
        assert_report(&run(&view, &audit_only()), 1, &[]);
    }
}
