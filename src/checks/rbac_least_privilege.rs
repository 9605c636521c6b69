//! RBAC least privilege (CC6.1, CC6.3): no binding grants more than the job needs. Judged per binding, because a
//! binding is what turns a role's rules into someone's access: an unbound wildcard role grants nothing.

use std::collections::BTreeSet;

use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

use super::{Admissibility, Check, CheckReport, Finding};
use crate::api::{CheckKind, RbacLeastPrivilegeCheck};
use crate::view::{ClusterSnapshot, Reads, ResourceKind, ResourceRef, ScopeMatcher};

/// Label Kubernetes puts on the RBAC objects it bootstraps and reconciles.
const BOOTSTRAP_LABEL: (&str, &str) = ("kubernetes.io/bootstrapping", "rbac-defaults");

/// One excessive grant found in a role's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Excess {
    FullAdmin,
    WildcardVerbs,
    WildcardResources,
    SecretsRead,
    EscalationVerbs,
    NodesProxy,
    PodExec,
}

impl Excess {
    fn rule(self, cluster_wide: bool) -> &'static str {
        match self {
            Excess::FullAdmin => "full-administrative-access",
            Excess::WildcardVerbs => "wildcard-verbs",
            Excess::WildcardResources => "wildcard-resources",
            Excess::SecretsRead if cluster_wide => "cluster-wide-secrets-read",
            Excess::SecretsRead => "secrets-read",
            Excess::EscalationVerbs => "privilege-escalation-verbs",
            Excess::NodesProxy => "nodes-proxy",
            Excess::PodExec => "pod-exec",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Excess::FullAdmin => "every verb on every resource (full administrative access)",
            Excess::WildcardVerbs => "every verb (`*`)",
            Excess::WildcardResources => {
                "every resource (`*`), which includes Secrets, nodes/proxy and pods/exec"
            }
            Excess::SecretsRead => "read access to Secrets",
            Excess::EscalationVerbs => "the escalate, bind or impersonate verb",
            Excess::NodesProxy => {
                "nodes/proxy (direct kubelet API access, which bypasses audit and admission)"
            }
            Excess::PodExec => "pods/exec or pods/attach (interactive shells in running workloads)",
        }
    }
}

fn has(list: &[String], v: &str) -> bool {
    list.iter().any(|x| x == v)
}

/// The excessive grants in `rules`.
fn excesses(rules: &[PolicyRule]) -> BTreeSet<Excess> {
    let mut found = BTreeSet::new();
    for rule in rules {
        let verbs = &rule.verbs;
        let resources = rule.resources.as_deref().unwrap_or_default();
        let groups = rule.api_groups.as_deref().unwrap_or_default();
        // Rules naming only non-resource URLs (/healthz, /metrics) grant nothing over cluster objects.
        if resources.is_empty() {
            continue;
        }
        let any_verb = has(verbs, "*");
        let core = groups.is_empty() || has(groups, "") || has(groups, "*");
        if any_verb {
            found.insert(Excess::WildcardVerbs);
        }
        if has(resources, "*") {
            found.insert(Excess::WildcardResources);
        }
        let all_resources = has(resources, "*");
        let reads = any_verb || ["get", "list", "watch"].iter().any(|v| has(verbs, v));
        if core && reads && (all_resources || has(resources, "secrets")) {
            found.insert(Excess::SecretsRead);
        }
        if ["escalate", "bind", "impersonate"]
            .iter()
            .any(|v| has(verbs, v))
        {
            found.insert(Excess::EscalationVerbs);
        }
        // RBAC matches `*` (everything), the exact `resource/subresource`, and `*/subresource` (that subresource of
        // every resource).
        let uses = |sub: &str| {
            all_resources
                || has(resources, sub)
                || sub
                    .split_once('/')
                    .is_some_and(|(_, subresource)| has(resources, &format!("*/{subresource}")))
        };
        if core && uses("nodes/proxy") {
            found.insert(Excess::NodesProxy);
        }
        // exec and attach upgrade a GET (older clients) or a POST (create) to a stream.
        let exec_verbs = any_verb || has(verbs, "create") || has(verbs, "get");
        if core && exec_verbs && (uses("pods/exec") || uses("pods/attach")) {
            found.insert(Excess::PodExec);
        }
    }
    // Report the broadest grant once rather than everything it implies.
    if found.contains(&Excess::WildcardResources) {
        for implied in [Excess::SecretsRead, Excess::NodesProxy, Excess::PodExec] {
            found.remove(&implied);
        }
        if found.remove(&Excess::WildcardVerbs) {
            found.remove(&Excess::WildcardResources);
            found.insert(Excess::FullAdmin);
        }
    }
    found
}

/// The rules of the role a binding refers to. Kubernetes' built-in roles are known by name so that a manifest
/// dump without ClusterRoles still judges the bindings that matter most; `None` when the role does not exist (a
/// binding to a missing role grants nothing until the role appears, and the control is re-evaluated then).
fn role_rules<'a>(
    view: &'a ClusterSnapshot,
    role_ref: &RoleRef,
    namespace: Option<&str>,
) -> Option<std::borrow::Cow<'a, [PolicyRule]>> {
    let found = match role_ref.kind.as_str() {
        "ClusterRole" => view
            .cluster_roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(role_ref.name.as_str()))
            .map(|r| r.rules.as_deref().unwrap_or_default()),
        "Role" => view
            .roles
            .iter()
            .find(|r| {
                r.metadata.name.as_deref() == Some(role_ref.name.as_str())
                    && r.metadata.namespace.as_deref() == namespace
            })
            .map(|r| r.rules.as_deref().unwrap_or_default()),
        _ => None,
    };
    if let Some(rules) = found {
        return Some(std::borrow::Cow::Borrowed(rules));
    }
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| PolicyRule {
        api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let builtin = match (role_ref.kind.as_str(), role_ref.name.as_str()) {
        ("ClusterRole", "cluster-admin") => vec![rule(&["*"], &["*"], &["*"])],
        ("ClusterRole", "admin" | "edit") => vec![
            rule(
                &[""],
                &["secrets"],
                &["get", "list", "watch", "create", "update", "delete"],
            ),
            rule(&[""], &["pods/exec", "pods/attach"], &["create", "get"]),
            rule(&[""], &["serviceaccounts"], &["impersonate"]),
        ],
        _ => return None,
    };
    Some(std::borrow::Cow::Owned(builtin))
}

fn is_bootstrap(meta: &ObjectMeta) -> bool {
    meta.name
        .as_deref()
        .is_some_and(|n| n.starts_with("system:"))
        || meta
            .labels
            .as_ref()
            .and_then(|l| l.get(BOOTSTRAP_LABEL.0))
            .is_some_and(|v| v == BOOTSTRAP_LABEL.1)
}

/// A subject that is a ServiceAccount in one of `exempt` namespaces (platform automation).
fn is_exempt(subject: &Subject, binding_namespace: Option<&str>, exempt: &[String]) -> bool {
    if subject.kind == "ServiceAccount" {
        let ns = subject
            .namespace
            .as_deref()
            .or(binding_namespace)
            .unwrap_or_default();
        return has(exempt, ns);
    }
    if subject.kind == "User"
        && let Some(rest) = subject.name.strip_prefix("system:serviceaccount:")
    {
        return rest.split(':').next().is_some_and(|ns| has(exempt, ns));
    }
    false
}

fn is_default_service_account(
    subject: &Subject,
    binding_namespace: Option<&str>,
) -> Option<String> {
    match subject.kind.as_str() {
        "ServiceAccount" if subject.name == "default" => Some(format!(
            "{}/default",
            subject
                .namespace
                .as_deref()
                .or(binding_namespace)
                .unwrap_or("?")
        )),
        "User" => subject
            .name
            .strip_prefix("system:serviceaccount:")
            .and_then(|rest| rest.strip_suffix(":default"))
            .map(|ns| format!("{ns}/default")),
        _ => None,
    }
}

fn subject_words(subjects: &[&Subject]) -> String {
    subjects
        .iter()
        .map(|s| match &s.namespace {
            Some(ns) if s.kind == "ServiceAccount" => format!("ServiceAccount {ns}/{}", s.name),
            _ => format!("{} {}", s.kind, s.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The RBAC least privilege check (`spec.check.rbacLeastPrivilege`).
pub struct RbacLeastPrivilege;

impl Check for RbacLeastPrivilege {
    const KIND: CheckKind = CheckKind::RbacLeastPrivilege;
    type Params = RbacLeastPrivilegeCheck;

    fn params(check: &crate::api::Check) -> Option<&RbacLeastPrivilegeCheck> {
        check.rbac_least_privilege.as_ref()
    }

    fn reads(_: &RbacLeastPrivilegeCheck) -> Reads {
        Reads::kinds(&[
            ResourceKind::ClusterRoleBinding,
            ResourceKind::RoleBinding,
            ResourceKind::ClusterRole,
            ResourceKind::Role,
        ])
    }

    fn subject_kinds(_: &RbacLeastPrivilegeCheck) -> Vec<ResourceKind> {
        vec![ResourceKind::ClusterRoleBinding, ResourceKind::RoleBinding]
    }

    /// The count of standing cluster-admin bindings against `maxClusterAdminBindings`.
    const JUDGES_TOGETHER: bool = true;

    fn admissibility(_: &RbacLeastPrivilegeCheck) -> Admissibility {
        Admissibility::AuditOnly(
            "the rbacLeastPrivilege check needs bindings and the roles they reference together, so one object at admission cannot decide it",
        )
    }

    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &RbacLeastPrivilegeCheck,
        _: Timestamp,
    ) -> CheckReport {
        check(view, scope, params)
    }

    fn judge_one_by_one(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &RbacLeastPrivilegeCheck,
        _: Timestamp,
    ) -> CheckReport {
        bindings(view, scope, params)
    }

    fn judge_together(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &RbacLeastPrivilegeCheck,
        _: Timestamp,
    ) -> CheckReport {
        together(view, scope, params)
    }
}

/// Runs the check.
pub fn check(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &RbacLeastPrivilegeCheck,
) -> CheckReport {
    let mut report = bindings(view, scope, params);
    let count = together(view, scope, params);
    report.evaluated += count.evaluated;
    report.findings.extend(count.findings);
    report
}

/// What the check finds about all bindings together: the count of cluster-admin bindings (nothing when RBAC
/// cannot be read: [`bindings`] says so).
pub fn together(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &RbacLeastPrivilegeCheck,
) -> CheckReport {
    if RBAC_KINDS.iter().all(|k| view.require(*k).is_ok()) {
        cluster_admin_count(view, scope, params)
    } else {
        CheckReport::default()
    }
}

/// What the check reads; without any of them it judges nothing and says why.
const RBAC_KINDS: [ResourceKind; 4] = [
    ResourceKind::ClusterRoleBinding,
    ResourceKind::RoleBinding,
    ResourceKind::ClusterRole,
    ResourceKind::Role,
];

/// The bindings judged, each on its own (with the roles they grant): everything but the count of cluster-admin
/// bindings.
pub fn bindings(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &RbacLeastPrivilegeCheck,
) -> CheckReport {
    let mut report = CheckReport::default();
    let mut missing = false;
    for kind in RBAC_KINDS {
        let aspect = ResourceRef::aspect(
            "rbac.authorization.k8s.io/v1",
            "RBAC",
            &format!("({})", kind.plural()),
        );
        missing |= report.unknown_if_missing(view, kind, aspect);
    }
    if missing {
        return report;
    }
    let exempt = params.effective_exempt_namespaces();
    let ignore_bootstrap = params.ignore_bootstrap_bindings.unwrap_or(true);
    let flag_exec = params.flag_pod_exec.unwrap_or(true);

    let cluster = view.cluster_role_bindings.iter().map(|b| {
        (
            ResourceRef::of(b.as_ref()),
            &b.metadata,
            &b.role_ref,
            b.subjects.as_deref().unwrap_or_default(),
        )
    });
    let namespaced = view.role_bindings.iter().map(|b| {
        (
            ResourceRef::of(b.as_ref()),
            &b.metadata,
            &b.role_ref,
            b.subjects.as_deref().unwrap_or_default(),
        )
    });
    for (resource, meta, role_ref, subjects) in cluster.chain(namespaced) {
        let Some(judged) = judged_subjects(meta, subjects, scope, &exempt, ignore_bootstrap) else {
            continue;
        };
        let namespace = meta.namespace.as_deref();
        report.evaluated += 1;
        for subject in &judged {
            if let Some(sa) = is_default_service_account(subject, namespace) {
                report.findings.push(Finding::fail(
                    resource.clone(),
                    "default-service-account-bound",
                    format!(
                        "{} {} is bound to the default ServiceAccount {sa}, so every pod in that namespace that \
                         does not name its own ServiceAccount gets these rights. Create a dedicated ServiceAccount \
                         for the workload that needs them and bind that instead.",
                        role_ref.kind, role_ref.name
                    ),
                ));
            }
        }
        let Some(rules) = role_rules(view, role_ref, namespace) else {
            continue;
        };
        let cluster_wide = namespace.is_none();
        let who = subject_words(&judged);
        for excess in excesses(&rules) {
            if excess == Excess::PodExec && !flag_exec {
                continue;
            }
            // Reading Secrets within one namespace is an application's normal need; across the cluster it is
            // the keys to every tenant.
            if excess == Excess::SecretsRead && !cluster_wide {
                continue;
            }
            let reach = if cluster_wide {
                "in every namespace".to_string()
            } else {
                format!("in namespace {}", namespace.unwrap_or_default())
            };
            report.findings.push(Finding::fail(
                resource.clone(),
                excess.rule(cluster_wide),
                format!(
                    "{} {} grants {} {reach} to {who}. Replace it with a role listing only the verbs and resources \
                     the subject needs, or record a ControlException with the business justification.",
                    role_ref.kind,
                    role_ref.name,
                    excess.words()
                ),
            ));
        }
    }
    report
}

/// The subjects of a binding the check judges; `None` when it judges none (a bootstrap binding it ignores, out of
/// scope, or only exempt subjects).
fn judged_subjects<'s>(
    meta: &ObjectMeta,
    subjects: &'s [Subject],
    scope: &ScopeMatcher,
    exempt: &[String],
    ignore_bootstrap: bool,
) -> Option<Vec<&'s Subject>> {
    if (ignore_bootstrap && is_bootstrap(meta)) || !scope.matches(meta) {
        return None;
    }
    let namespace = meta.namespace.as_deref();
    let judged: Vec<&Subject> = subjects
        .iter()
        .filter(|s| !is_exempt(s, namespace, exempt))
        .collect();
    (!judged.is_empty()).then_some(judged)
}

/// The count of judged ClusterRoleBindings that grant cluster-admin, against the declared maximum: the one part of
/// the check about all bindings together.
fn cluster_admin_count(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &RbacLeastPrivilegeCheck,
) -> CheckReport {
    let mut report = CheckReport::default();
    let exempt = params.effective_exempt_namespaces();
    let ignore_bootstrap = params.ignore_bootstrap_bindings.unwrap_or(true);
    let cluster_admin_bindings: Vec<String> = view
        .cluster_role_bindings
        .iter()
        .filter(|b| {
            b.metadata.namespace.is_none()
                && b.role_ref.kind == "ClusterRole"
                && b.role_ref.name == "cluster-admin"
        })
        .filter(|b| {
            let subjects = b.subjects.as_deref().unwrap_or_default();
            judged_subjects(&b.metadata, subjects, scope, &exempt, ignore_bootstrap).is_some()
        })
        .map(|b| ResourceRef::of(b.as_ref()).display_name())
        .collect();
    let max = params.effective_max_cluster_admin_bindings() as usize;
    if cluster_admin_bindings.len() > max {
        report.evaluated += 1;
        report.findings.push(Finding::fail(
            ResourceRef::aspect("rbac.authorization.k8s.io/v1", "ClusterRole", "cluster-admin"),
            "too-many-cluster-admin-bindings",
            format!(
                "{} bindings grant cluster-admin, more than the declared maximum of {max}: {}. Reduce standing \
                 administrative access to the declared break-glass paths.",
                cluster_admin_bindings.len(),
                cluster_admin_bindings.join(", ")
            ),
        ));
    }
    report
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};

    use super::*;
    use crate::api::{FindingResult::*, Scope};
    use crate::checks::test_support::*;

    fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: namespace.map(Into::into),
            uid: None,
            ..Default::default()
        }
    }

    fn subject(kind: &str, name: &str, namespace: Option<&str>) -> Subject {
        Subject {
            kind: kind.into(),
            name: name.into(),
            namespace: namespace.map(Into::into),
            api_group: None,
        }
    }

    fn group(name: &str) -> Subject {
        subject("Group", name, None)
    }

    fn role_ref(kind: &str, name: &str) -> RoleRef {
        RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: kind.into(),
            name: name.into(),
        }
    }

    fn rule(resources: &[&str], verbs: &[&str]) -> PolicyRule {
        PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(resources.iter().map(|s| s.to_string()).collect()),
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> Arc<ClusterRole> {
        Arc::new(ClusterRole {
            metadata: meta(None, name),
            rules: Some(rules),
            ..Default::default()
        })
    }

    fn crb(name: &str, role: &str, subjects: Vec<Subject>) -> Arc<ClusterRoleBinding> {
        Arc::new(ClusterRoleBinding {
            metadata: meta(None, name),
            role_ref: role_ref("ClusterRole", role),
            subjects: Some(subjects),
        })
    }

    fn rb(ns: &str, name: &str, role: RoleRef, subjects: Vec<Subject>) -> Arc<RoleBinding> {
        Arc::new(RoleBinding {
            metadata: meta(Some(ns), name),
            role_ref: role,
            subjects: Some(subjects),
        })
    }

    fn run(view: &ClusterSnapshot, params: &RbacLeastPrivilegeCheck) -> CheckReport {
        check(view, &ScopeMatcher::new(None, view).expect("scope"), params)
    }

    fn roles() -> Vec<Arc<ClusterRole>> {
        vec![
            cluster_role("wild-verbs", vec![rule(&["configmaps"], &["*"])]),
            cluster_role("wild-resources", vec![rule(&["*"], &["get"])]),
            cluster_role("secret-reader", vec![rule(&["secrets"], &["list"])]),
            cluster_role("escalator", vec![rule(&["roles"], &["escalate"])]),
            cluster_role("kubelet-proxy", vec![rule(&["nodes/proxy"], &["get"])]),
            cluster_role("shell", vec![rule(&["pods/exec"], &["create"])]),
            cluster_role(
                "viewer",
                vec![rule(&["pods", "configmaps"], &["get", "list", "watch"])],
            ),
            cluster_role(
                "health",
                vec![PolicyRule {
                    non_resource_urls: Some(vec!["*".into()]),
                    verbs: vec!["*".into()],
                    ..Default::default()
                }],
            ),
        ]
    }

    #[test]
    fn each_excessive_grant_fails_and_the_least_privilege_twin_passes() {
        let who = || vec![group("oidc:team")];
        let view = ClusterSnapshot {
            cluster_roles: roles(),
            cluster_role_bindings: vec![
                crb("b-verbs", "wild-verbs", who()),
                crb("b-resources", "wild-resources", who()),
                crb("b-secrets", "secret-reader", who()),
                crb("b-escalate", "escalator", who()),
                crb("b-proxy", "kubelet-proxy", who()),
                crb("b-exec", "shell", who()),
                crb("b-viewer", "viewer", who()),
                crb("b-health", "health", who()),
                crb("b-missing-role", "no-such-role", who()),
            ],
            ..Default::default()
        };
        let report = run(&view, &Default::default());
        assert_report(
            &report,
            9,
            &[
                ("ClusterRoleBinding b-verbs", Fail, "wildcard-verbs"),
                // `get` on every resource includes Secrets, nodes/proxy and pods/exec: reported once.
                ("ClusterRoleBinding b-resources", Fail, "wildcard-resources"),
                (
                    "ClusterRoleBinding b-secrets",
                    Fail,
                    "cluster-wide-secrets-read",
                ),
                (
                    "ClusterRoleBinding b-escalate",
                    Fail,
                    "privilege-escalation-verbs",
                ),
                ("ClusterRoleBinding b-proxy", Fail, "nodes-proxy"),
                ("ClusterRoleBinding b-exec", Fail, "pod-exec"),
            ],
        );
        let exec = report
            .findings
            .iter()
            .find(|f| f.rule == "pod-exec" && f.resource.name == "b-exec")
            .expect("exec finding");
        assert!(
            exec.message.contains("Group oidc:team") && exec.message.contains("every namespace")
        );
    }

    #[test]
    fn subresource_wildcards_grant_exec_and_kubelet_proxy() {
        // RBAC reads `*/exec` as the exec subresource of every resource, so it includes pods/exec; `*/status`
        // grants nothing of the kind.
        let who = || vec![group("oidc:team")];
        let view = ClusterSnapshot {
            cluster_roles: vec![
                cluster_role("any-exec", vec![rule(&["*/exec", "*/attach"], &["create"])]),
                cluster_role("any-proxy", vec![rule(&["*/proxy"], &["get"])]),
                cluster_role("any-status", vec![rule(&["*/status"], &["get", "update"])]),
            ],
            cluster_role_bindings: vec![
                crb("b-any-exec", "any-exec", who()),
                crb("b-any-proxy", "any-proxy", who()),
                crb("b-any-status", "any-status", who()),
            ],
            ..Default::default()
        };
        assert_report(
            &run(&view, &Default::default()),
            3,
            &[
                ("ClusterRoleBinding b-any-exec", Fail, "pod-exec"),
                ("ClusterRoleBinding b-any-proxy", Fail, "nodes-proxy"),
            ],
        );
    }

    #[test]
    fn secrets_read_within_one_namespace_is_an_applications_normal_need() {
        let view = ClusterSnapshot {
            roles: vec![Arc::new(Role {
                metadata: meta(Some("web"), "app-secrets"),
                rules: Some(vec![rule(&["secrets"], &["get"])]),
            })],
            role_bindings: vec![rb(
                "web",
                "app",
                role_ref("Role", "app-secrets"),
                vec![subject("ServiceAccount", "api", Some("web"))],
            )],
            ..Default::default()
        };
        assert_report(&run(&view, &Default::default()), 1, &[]);
    }

    #[test]
    fn builtin_roles_are_known_without_the_cluster_roles_in_view() {
        let view = ClusterSnapshot {
            role_bindings: vec![rb(
                "web",
                "devs-edit",
                role_ref("ClusterRole", "edit"),
                vec![group("oidc:web-devs")],
            )],
            cluster_role_bindings: vec![crb("ops", "cluster-admin", vec![group("oidc:ops")])],
            ..Default::default()
        };
        assert_report(
            &run(&view, &Default::default()),
            2,
            &[
                ("ClusterRoleBinding ops", Fail, "full-administrative-access"),
                (
                    "RoleBinding web/devs-edit",
                    Fail,
                    "privilege-escalation-verbs",
                ),
                ("RoleBinding web/devs-edit", Fail, "pod-exec"),
            ],
        );
    }

    #[test]
    fn pod_exec_can_be_left_to_another_control() {
        let view = ClusterSnapshot {
            cluster_roles: roles(),
            cluster_role_bindings: vec![crb("b-exec", "shell", vec![group("oidc:sre")])],
            ..Default::default()
        };
        let params = RbacLeastPrivilegeCheck {
            flag_pod_exec: Some(false),
            ..Default::default()
        };
        assert_report(&run(&view, &params), 1, &[]);
    }

    #[test]
    fn cluster_admin_bindings_beyond_the_maximum_fail_once() {
        let admins = |n: usize| {
            (0..n)
                .map(|i| {
                    crb(
                        &format!("admin-{i}"),
                        "cluster-admin",
                        vec![group("oidc:ops")],
                    )
                })
                .collect::<Vec<_>>()
        };
        let params = RbacLeastPrivilegeCheck {
            max_cluster_admin_bindings: Some(2),
            ..Default::default()
        };
        let count = |report: &CheckReport| {
            report
                .findings
                .iter()
                .filter(|f| f.rule == "too-many-cluster-admin-bindings")
                .count()
        };
        let at_max = ClusterSnapshot {
            cluster_role_bindings: admins(2),
            ..Default::default()
        };
        assert_eq!(count(&run(&at_max, &params)), 0);
        let over = ClusterSnapshot {
            cluster_role_bindings: admins(3),
            ..Default::default()
        };
        let report = run(&over, &params);
        assert_eq!(count(&report), 1);
        let finding = report
            .findings
            .iter()
            .find(|f| f.rule == "too-many-cluster-admin-bindings")
            .expect("finding");
        assert!(finding.message.contains("admin-0") && finding.message.contains("admin-2"));
        assert_eq!(finding.resource.display_name(), "ClusterRole cluster-admin");
    }

    #[test]
    fn the_default_service_account_bound_to_anything_fails() {
        let view = ClusterSnapshot {
            cluster_roles: roles(),
            role_bindings: vec![
                rb(
                    "web",
                    "default-viewer",
                    role_ref("ClusterRole", "viewer"),
                    vec![subject("ServiceAccount", "default", None)],
                ),
                rb(
                    "web",
                    "default-as-user",
                    role_ref("ClusterRole", "viewer"),
                    vec![subject("User", "system:serviceaccount:web:default", None)],
                ),
                rb(
                    "web",
                    "own-sa",
                    role_ref("ClusterRole", "viewer"),
                    vec![subject("ServiceAccount", "api", Some("web"))],
                ),
            ],
            ..Default::default()
        };
        let report = run(&view, &Default::default());
        assert_report(
            &report,
            3,
            &[
                (
                    "RoleBinding web/default-as-user",
                    Fail,
                    "default-service-account-bound",
                ),
                (
                    "RoleBinding web/default-viewer",
                    Fail,
                    "default-service-account-bound",
                ),
            ],
        );
        assert!(report.findings[0].message.contains("web/default"));
    }

    #[test]
    fn bootstrap_bindings_and_exempt_automation_are_not_judged() {
        let mut bootstrap = meta(None, "cluster-admin");
        bootstrap.labels =
            Some([(BOOTSTRAP_LABEL.0.to_string(), BOOTSTRAP_LABEL.1.to_string())].into());
        let view = ClusterSnapshot {
            cluster_role_bindings: vec![
                Arc::new(ClusterRoleBinding {
                    metadata: bootstrap,
                    role_ref: role_ref("ClusterRole", "cluster-admin"),
                    subjects: Some(vec![group("system:masters")]),
                }),
                crb("system:controller:foo", "cluster-admin", vec![group("x")]),
                crb(
                    "kube-system-operator",
                    "cluster-admin",
                    vec![
                        subject("ServiceAccount", "operator", Some("kube-system")),
                        subject("User", "system:serviceaccount:kube-system:other", None),
                    ],
                ),
            ],
            ..Default::default()
        };
        assert_report(&run(&view, &Default::default()), 0, &[]);
        let judge_all = RbacLeastPrivilegeCheck {
            ignore_bootstrap_bindings: Some(false),
            exempt_service_account_namespaces: Some(vec![]),
            max_cluster_admin_bindings: Some(5),
            ..Default::default()
        };
        assert_eq!(run(&view, &judge_all).evaluated, 3);
    }

    #[test]
    fn scope_limits_role_bindings_by_namespace() {
        let view = ClusterSnapshot {
            cluster_roles: roles(),
            role_bindings: vec![
                rb(
                    "prod",
                    "shell",
                    role_ref("ClusterRole", "shell"),
                    vec![group("oidc:dev")],
                ),
                rb(
                    "sandbox",
                    "shell",
                    role_ref("ClusterRole", "shell"),
                    vec![group("oidc:dev")],
                ),
            ],
            ..Default::default()
        };
        let scope = Scope {
            namespaces: Some(vec!["prod".into()]),
            ..Default::default()
        };
        let matcher = ScopeMatcher::new(Some(&scope), &view).expect("scope");
        assert_report(
            &check(&view, &matcher, &Default::default()),
            1,
            &[("RoleBinding prod/shell", Fail, "pod-exec")],
        );
    }

    #[test]
    fn malformed_bindings_do_not_panic() {
        let view = ClusterSnapshot {
            cluster_role_bindings: vec![
                Arc::new(ClusterRoleBinding {
                    metadata: ObjectMeta::default(),
                    role_ref: role_ref("Weird", ""),
                    subjects: None,
                }),
                crb("no-subjects", "cluster-admin", vec![]),
                crb(
                    "odd-subject",
                    "cluster-admin",
                    vec![subject("ServiceAccount", "", None)],
                ),
            ],
            role_bindings: vec![rb(
                "ns",
                "bad",
                role_ref("Role", "absent"),
                vec![group("g")],
            )],
            ..Default::default()
        };
        let report = run(&view, &Default::default());
        assert_eq!(report.evaluated, 2);
    }

    #[test]
    fn unreadable_rbac_kinds_are_unknown() {
        let mut view = ClusterSnapshot::default();
        view.unavailable
            .insert(ResourceKind::ClusterRole, "forbidden".into());
        let report = run(&view, &Default::default());
        assert_report(
            &report,
            1,
            &[("RBAC (clusterroles)", Unknown, "data-unavailable")],
        );
    }
}
