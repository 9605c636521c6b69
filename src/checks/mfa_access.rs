//! MFA-backed privileged access (CC6.1, CC6.2, CC6.3).
//!
//! MFA is enforced by the identity provider, not by Kubernetes. What the cluster can show is that privileged
//! rights are reachable only through identity-provider groups declared as MFA-enforced, through declared
//! automation service accounts, or through declared break-glass subjects (reported, never silently allowed).

use k8s_openapi::api::rbac::v1::{RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

use super::apiserver_flags::visible_api_servers;
use super::rbac_privilege::role_ref_reasons;
use super::{Admissibility, Check, CheckReport, Finding, contains};
use crate::api::{CheckKind, MfaAccessCheck};
use crate::view::{ClusterSnapshot, Reads, ResourceKind, ResourceRef, ScopeMatcher};

/// The MFA-backed privileged access check (`spec.check.mfaAccess`).
pub struct MfaAccess;

impl Check for MfaAccess {
    const KIND: CheckKind = CheckKind::MfaAccess;
    type Params = MfaAccessCheck;

    fn params(check: &crate::api::Check) -> Option<&MfaAccessCheck> {
        check.mfa_access.as_ref()
    }

    fn reads(params: &MfaAccessCheck) -> Reads {
        let mut kinds = vec![
            ResourceKind::ClusterRoleBinding,
            ResourceKind::RoleBinding,
            ResourceKind::ClusterRole,
            ResourceKind::Role,
        ];
        if params.legacy_token_secrets.unwrap_or(true) {
            kinds.push(ResourceKind::ServiceAccountTokenSecret);
        }
        if params.api_server_flags.unwrap_or(true) {
            kinds.push(ResourceKind::ControlPlanePod);
        }
        Reads::kinds(&kinds)
    }

    fn subject_kinds(_: &MfaAccessCheck) -> Vec<ResourceKind> {
        vec![ResourceKind::ClusterRoleBinding, ResourceKind::RoleBinding]
    }

    fn admissibility(_: &MfaAccessCheck) -> Admissibility {
        Admissibility::AuditOnly(
            "the mfaAccess check needs bindings, roles and token Secrets together, so one object at admission cannot decide it",
        )
    }

    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &MfaAccessCheck,
        _: Timestamp,
    ) -> CheckReport {
        check(view, scope, params)
    }
}

/// Runs the check.
pub fn check(view: &ClusterSnapshot, scope: &ScopeMatcher, params: &MfaAccessCheck) -> CheckReport {
    let mut report = CheckReport::default();
    let rbac = ResourceRef::aspect(
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "(RBAC)",
    );
    let missing_rbac = [
        ResourceKind::ClusterRoleBinding,
        ResourceKind::RoleBinding,
        ResourceKind::ClusterRole,
        ResourceKind::Role,
    ]
    .into_iter()
    .any(|kind| report.unknown_if_missing(view, kind, rbac.clone()));
    if !missing_rbac {
        bindings(view, scope, params, &mut report);
    }
    if params.legacy_token_secrets.unwrap_or(true) {
        legacy_tokens(view, scope, &mut report);
    }
    if params.api_server_flags.unwrap_or(true) {
        api_server_authentication(view, &mut report);
    }
    report
}

struct Policy {
    mfa_groups: Vec<String>,
    mfa_prefixes: Vec<String>,
    automation_namespaces: Vec<String>,
    control_plane: Vec<String>,
    privileged_cluster_roles: Vec<String>,
    break_glass: Vec<crate::api::SubjectRef>,
}

/// How one subject of a privileged binding stands.
enum SubjectVerdict {
    Allowed,
    BreakGlass,
    Violation { rule: &'static str, why: String },
}

impl Policy {
    fn new(params: &MfaAccessCheck) -> Self {
        Policy {
            mfa_groups: params.mfa_groups.clone().unwrap_or_default(),
            mfa_prefixes: params.mfa_group_prefixes.clone().unwrap_or_default(),
            automation_namespaces: params.effective_automation_namespaces(),
            control_plane: params.effective_control_plane_identities(),
            privileged_cluster_roles: params.effective_privileged_cluster_roles(),
            break_glass: params.break_glass.clone().unwrap_or_default(),
        }
    }

    fn is_break_glass(&self, subject: &Subject, sa_namespace: Option<&str>) -> bool {
        self.break_glass.iter().any(|b| {
            b.kind == subject.kind
                && b.name == subject.name
                && (subject.kind != "ServiceAccount" || b.namespace.as_deref() == sa_namespace)
        })
    }

    fn is_mfa_group(&self, group: &str) -> bool {
        contains(&self.mfa_groups, group)
            || self
                .mfa_prefixes
                .iter()
                .any(|p| !p.is_empty() && group.starts_with(p.as_str()))
    }

    fn judge(&self, subject: &Subject, binding_namespace: Option<&str>) -> SubjectVerdict {
        // An empty subject namespace means the binding's namespace, as the RBAC authorizer reads it.
        let sa_namespace = subject
            .namespace
            .as_deref()
            .filter(|ns| !ns.is_empty())
            .or(binding_namespace);
        if self.is_break_glass(subject, sa_namespace) {
            return SubjectVerdict::BreakGlass;
        }
        let name = subject.name.as_str();
        match subject.kind.as_str() {
            "User" if contains(&self.control_plane, name) => SubjectVerdict::Allowed,
            "User" if name == "system:anonymous" => SubjectVerdict::Violation {
                rule: "privileged-binding-to-anonymous",
                why: "to anonymous requests (User system:anonymous)".into(),
            },
            "User" => {
                if let Some(sa) = name.strip_prefix("system:serviceaccount:") {
                    let ns = sa.split(':').next().unwrap_or_default();
                    return self.judge_service_account(ns, name);
                }
                SubjectVerdict::Violation {
                    rule: "privileged-binding-to-user",
                    why: format!("directly to User {name}, bypassing the MFA-enforced identity-provider groups"),
                }
            }
            "Group" if name == "system:masters" => SubjectVerdict::Violation {
                rule: "privileged-binding-to-system-masters",
                why: "to Group system:masters, whose client certificates bypass the identity provider and cannot be revoked".into(),
            },
            "Group" if name == "system:authenticated" || name == "system:unauthenticated" => SubjectVerdict::Violation {
                rule: "privileged-binding-to-everyone",
                why: format!("to Group {name}, i.e. to every {}caller", if name == "system:authenticated" { "authenticated " } else { "unauthenticated " }),
            },
            "Group" if name == "system:serviceaccounts" => SubjectVerdict::Violation {
                rule: "privileged-binding-to-service-account",
                why: "to Group system:serviceaccounts, i.e. to every ServiceAccount in the cluster".into(),
            },
            "Group" => {
                if let Some(ns) = name.strip_prefix("system:serviceaccounts:") {
                    return self.judge_service_account(ns, name);
                }
                if contains(&self.control_plane, name) || self.is_mfa_group(name) {
                    SubjectVerdict::Allowed
                } else {
                    SubjectVerdict::Violation {
                        rule: "privileged-binding-to-non-mfa-group",
                        why: format!("to Group {name}, which is not declared as MFA-enforced (spec.check.mfaAccess.mfaGroups or mfaGroupPrefixes)"),
                    }
                }
            }
            "ServiceAccount" => {
                let ns = sa_namespace.unwrap_or_default();
                self.judge_service_account(ns, &format!("ServiceAccount {ns}/{name}"))
            }
            other => SubjectVerdict::Violation {
                rule: "privileged-binding-to-unknown-subject",
                why: format!("to a subject of unknown kind {other:?} named {name}"),
            },
        }
    }

    fn judge_service_account(&self, namespace: &str, label: &str) -> SubjectVerdict {
        if contains(&self.automation_namespaces, namespace) {
            SubjectVerdict::Allowed
        } else {
            SubjectVerdict::Violation {
                rule: "privileged-binding-to-service-account",
                why: format!(
                    "to {label}, outside the declared automation namespaces ({})",
                    self.automation_namespaces.join(", ")
                ),
            }
        }
    }
}

fn bindings(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &MfaAccessCheck,
    report: &mut CheckReport,
) {
    let policy = Policy::new(params);
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
        if scope.matches(meta) {
            report.evaluated += 1;
            judge_binding(view, &policy, resource, meta, role_ref, subjects, report);
        }
    }
}

fn judge_binding(
    view: &ClusterSnapshot,
    policy: &Policy,
    resource: ResourceRef,
    meta: &ObjectMeta,
    role_ref: &RoleRef,
    subjects: &[Subject],
    report: &mut CheckReport,
) {
    let namespace = meta.namespace.as_deref();
    let reasons = role_ref_reasons(view, role_ref, namespace, &policy.privileged_cluster_roles);
    if reasons.is_empty() {
        return;
    }
    let grant = format!(
        "{} {}, which grants {},",
        role_ref.kind,
        role_ref.name,
        reasons.join(", ")
    );
    for subject in subjects {
        match policy.judge(subject, namespace) {
            SubjectVerdict::Allowed => {}
            SubjectVerdict::BreakGlass => report.findings.push(Finding::notice(
                resource.clone(),
                "break-glass-access",
                format!(
                    "Declared break-glass {} {} holds privileged access: {grant} is bound to it. Review every use of it.",
                    subject.kind, subject.name
                ),
            )),
            SubjectVerdict::Violation { rule, why } => report.findings.push(Finding::fail(
                resource.clone(),
                rule,
                format!(
                    "{grant} is bound {why}. Bind an MFA-enforced identity-provider group instead, or declare the subject as break-glass."
                ),
            )),
        }
    }
}

/// Fails every in-scope legacy long-lived ServiceAccount token Secret (shared with the service-account hygiene check).
pub(crate) fn legacy_tokens(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    report: &mut CheckReport,
) {
    let aspect = ResourceRef::aspect("v1", "Secret", "(service-account tokens)");
    if report.unknown_if_missing(view, ResourceKind::ServiceAccountTokenSecret, aspect) {
        return;
    }
    for secret in &view.service_account_token_secrets {
        if !ClusterSnapshot::is_service_account_token(secret) || !scope.matches(&secret.metadata) {
            continue;
        }
        report.evaluated += 1;
        let sa = secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("kubernetes.io/service-account.name"))
            .map(String::as_str)
            .unwrap_or("(unnamed)");
        report.findings.push(Finding::fail(
            ResourceRef::of(secret.as_ref()),
            "legacy-service-account-token",
            format!(
                "Secret holds a long-lived token for ServiceAccount {sa}: it never expires and is usable without MFA. \
                 Delete it and use short-lived tokens (TokenRequest API, projected service-account volumes)."
            ),
        ));
    }
}

fn api_server_authentication(view: &ClusterSnapshot, report: &mut CheckReport) {
    // The control plane is invisible on managed clusters: no pod, nothing to evaluate, nothing failed.
    if view.require(ResourceKind::ControlPlanePod).is_err() {
        return;
    }
    for (pod, flags) in visible_api_servers(view) {
        report.evaluated += 1;
        let resource = ResourceRef::of(pod);
        if let Some(path) = flags.get("token-auth-file") {
            report.findings.push(Finding::fail(
                resource.clone(),
                "static-token-file",
                format!("kube-apiserver accepts static bearer tokens from --token-auth-file={path}; they never expire and bypass MFA. Remove the flag."),
            ));
        }
        if let Some(path) = flags.get("basic-auth-file") {
            report.findings.push(Finding::fail(
                resource.clone(),
                "basic-auth",
                format!("kube-apiserver accepts passwords from --basic-auth-file={path}, bypassing MFA. Remove the flag."),
            ));
        }
        match flags.get("anonymous-auth") {
            Some(v) if is_false(v) => {}
            Some(v) => report.findings.push(Finding::fail(
                resource.clone(),
                "anonymous-auth",
                format!("kube-apiserver runs with --anonymous-auth={}: unauthenticated requests are served. Set --anonymous-auth=false.", if v.is_empty() { "true" } else { v }),
            )),
            None if flags.has_value("authentication-config") => report.findings.push(Finding::notice(
                resource.clone(),
                "anonymous-auth-in-config",
                format!(
                    "Anonymous authentication is governed by the structured authentication configuration {}, which the operator cannot read; confirm anonymous access is limited to health endpoints.",
                    flags.get("authentication-config").unwrap_or_default()
                ),
            )),
            None => report.findings.push(Finding::fail(
                resource.clone(),
                "anonymous-auth",
                "kube-apiserver does not set --anonymous-auth, which defaults to true: unauthenticated requests are served. Set --anonymous-auth=false.",
            )),
        }
    }
}

/// True when a boolean flag value means false to the apiserver (Go's `strconv.ParseBool`: `false`, `False`,
/// `FALSE`, `f`, `F`, `0`; other capitalisations of `false` are accepted too, they are no less false).
fn is_false(value: &str) -> bool {
    value.eq_ignore_ascii_case("false") || matches!(value, "0" | "f" | "F")
}

#[cfg(test)]
mod tests {
    use crate::checks::test_support::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Secret};
    use k8s_openapi::api::rbac::v1::{
        ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding,
    };

    use super::*;
    use crate::api::{Scope, SubjectRef};
    use crate::checks::FindingResult::{self, Fail, Notice, Unknown};
    use crate::view::SERVICE_ACCOUNT_TOKEN_TYPE;

    // ---- object builders -------------------------------------------------------------------------------------

    fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: namespace.map(str::to_string),
            ..Default::default()
        }
    }

    fn subject(kind: &str, name: &str, namespace: Option<&str>) -> Subject {
        Subject {
            api_group: (kind != "ServiceAccount").then(|| "rbac.authorization.k8s.io".to_string()),
            kind: kind.to_string(),
            name: name.to_string(),
            namespace: namespace.map(str::to_string),
        }
    }

    fn user(name: &str) -> Subject {
        subject("User", name, None)
    }

    fn group(name: &str) -> Subject {
        subject("Group", name, None)
    }

    fn sa(namespace: Option<&str>, name: &str) -> Subject {
        subject("ServiceAccount", name, namespace)
    }

    fn role_ref(kind: &str, name: &str) -> RoleRef {
        RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: kind.into(),
            name: name.into(),
        }
    }

    /// A ClusterRoleBinding to the ClusterRole `role`.
    fn crb(name: &str, role: &str, subjects: Vec<Subject>) -> Arc<ClusterRoleBinding> {
        Arc::new(ClusterRoleBinding {
            metadata: meta(None, name),
            role_ref: role_ref("ClusterRole", role),
            subjects: Some(subjects),
        })
    }

    /// A RoleBinding in `namespace` to the `role_kind` (`Role` or `ClusterRole`) named `role`.
    fn rb(
        namespace: &str,
        name: &str,
        role_kind: &str,
        role: &str,
        subjects: Vec<Subject>,
    ) -> Arc<RoleBinding> {
        Arc::new(RoleBinding {
            metadata: meta(Some(namespace), name),
            role_ref: role_ref(role_kind, role),
            subjects: Some(subjects),
        })
    }

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        PolicyRule {
            api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
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

    fn role(namespace: &str, name: &str, rules: Vec<PolicyRule>) -> Arc<Role> {
        Arc::new(Role {
            metadata: meta(Some(namespace), name),
            rules: Some(rules),
        })
    }

    /// A pod in `namespace` running `kube-apiserver` with `args`.
    fn apiserver(namespace: &str, args: &[&str]) -> Arc<Pod> {
        let mut command = vec!["kube-apiserver".to_string()];
        command.extend(args.iter().map(|s| s.to_string()));
        Arc::new(Pod {
            metadata: meta(Some(namespace), "kube-apiserver-cp-1"),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "kube-apiserver".into(),
                    command: Some(command),
                    image: Some("registry.k8s.io/kube-apiserver:v1.33.0".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn token_secret(namespace: &str, name: &str, service_account: Option<&str>) -> Arc<Secret> {
        let mut metadata = meta(Some(namespace), name);
        metadata.annotations = service_account.map(|sa| {
            BTreeMap::from([(
                "kubernetes.io/service-account.name".to_string(),
                sa.to_string(),
            )])
        });
        Arc::new(Secret {
            metadata,
            type_: Some(SERVICE_ACCOUNT_TOKEN_TYPE.into()),
            ..Default::default()
        })
    }

    /// A ClusterRole granting `*` on `*`, privileged by its rules rather than its name.
    fn wildcard_role(name: &str) -> Arc<ClusterRole> {
        cluster_role(name, vec![rule(&["*"], &["*"], &["*"])])
    }

    fn strings(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| s.to_string()).collect())
    }

    // ---- running and asserting -------------------------------------------------------------------------------

    fn run(view: &ClusterSnapshot, params: &MfaAccessCheck) -> CheckReport {
        check(view, &ScopeMatcher::new(None, view).unwrap(), params)
    }

    fn run_scoped(view: &ClusterSnapshot, scope: &Scope, params: &MfaAccessCheck) -> CheckReport {
        check(view, &ScopeMatcher::new(Some(scope), view).unwrap(), params)
    }

    /// MFA groups `oidc:platform-admins` and every `okta:` group.
    fn mfa_params() -> MfaAccessCheck {
        MfaAccessCheck {
            mfa_groups: strings(&["oidc:platform-admins"]),
            mfa_group_prefixes: strings(&["okta:"]),
            ..Default::default()
        }
    }

    fn rbac_view(
        cluster_role_bindings: Vec<Arc<ClusterRoleBinding>>,
        role_bindings: Vec<Arc<RoleBinding>>,
    ) -> ClusterSnapshot {
        ClusterSnapshot {
            cluster_role_bindings,
            role_bindings,
            ..Default::default()
        }
    }

    // ---- what is privileged ----------------------------------------------------------------------------------

    #[test]
    fn default_privileged_cluster_roles_are_privileged_by_name_even_when_not_in_view() {
        let view = rbac_view(
            vec![
                crb("b-cluster-admin", "cluster-admin", vec![user("alice")]),
                crb("b-admin", "admin", vec![user("alice")]),
                crb("b-edit", "edit", vec![user("alice")]),
                crb("b-view", "view", vec![user("alice")]),
            ],
            vec![],
        );
        assert_report(
            &run(&view, &mfa_params()),
            4,
            &[
                (
                    "ClusterRoleBinding b-cluster-admin",
                    Fail,
                    "privileged-binding-to-user",
                ),
                (
                    "ClusterRoleBinding b-admin",
                    Fail,
                    "privileged-binding-to-user",
                ),
                (
                    "ClusterRoleBinding b-edit",
                    Fail,
                    "privileged-binding-to-user",
                ),
            ],
        );
    }

    #[test]
    fn default_privileged_cluster_roles_bound_to_an_mfa_group_pass() {
        let view = rbac_view(
            vec![
                crb(
                    "b-cluster-admin",
                    "cluster-admin",
                    vec![group("oidc:platform-admins")],
                ),
                crb("b-admin", "admin", vec![group("okta:team-a")]),
                crb("b-edit", "edit", vec![group("okta:team-b")]),
            ],
            vec![],
        );
        assert_report(&run(&view, &mfa_params()), 3, &[]);
    }

    #[test]
    fn each_privileged_rule_pattern_makes_a_role_privileged() {
        let roles = vec![
            cluster_role(
                "wild-verbs",
                vec![rule(&["apps"], &["deployments"], &["*"])],
            ),
            cluster_role("wild-resources", vec![rule(&["apps"], &["*"], &["get"])]),
            cluster_role("secrets-get", vec![rule(&[""], &["secrets"], &["get"])]),
            cluster_role("secrets-list", vec![rule(&[""], &["secrets"], &["list"])]),
            cluster_role("secrets-watch", vec![rule(&[""], &["secrets"], &["watch"])]),
            cluster_role(
                "escalate",
                vec![rule(
                    &["rbac.authorization.k8s.io"],
                    &["clusterroles"],
                    &["escalate"],
                )],
            ),
            cluster_role(
                "bind",
                vec![rule(&["rbac.authorization.k8s.io"], &["roles"], &["bind"])],
            ),
            cluster_role(
                "impersonate",
                vec![rule(&[""], &["users", "groups"], &["impersonate"])],
            ),
        ];
        let names: Vec<String> = roles
            .iter()
            .map(|r| r.metadata.name.clone().unwrap())
            .collect();
        let mut view = rbac_view(
            names
                .iter()
                .map(|n| crb(&format!("to-user-{n}"), n, vec![user("bob")]))
                .collect(),
            vec![],
        );
        view.cluster_role_bindings.extend(names.iter().map(|n| {
            crb(
                &format!("to-mfa-{n}"),
                n,
                vec![group("oidc:platform-admins")],
            )
        }));
        view.cluster_roles = roles;
        let report = run(&view, &mfa_params());
        let expected: Vec<(String, FindingResult, String)> = names
            .iter()
            .map(|n| {
                (
                    format!("ClusterRoleBinding to-user-{n}"),
                    Fail,
                    "privileged-binding-to-user".to_string(),
                )
            })
            .collect();
        let mut expected = expected;
        expected.sort();
        assert_eq!(keys(&report), expected);
        assert_eq!(report.evaluated, 2 * names.len());
    }

    #[test]
    fn the_grant_and_the_subject_are_named_in_the_message() {
        let view = ClusterSnapshot {
            cluster_roles: vec![cluster_role(
                "secrets-get",
                vec![rule(&[""], &["secrets"], &["get"])],
            )],
            cluster_role_bindings: vec![crb("b", "secrets-get", vec![user("carol@example.com")])],
            ..Default::default()
        };
        let report = run(&view, &mfa_params());
        assert_eq!(report.findings.len(), 1);
        let message = &report.findings[0].message;
        assert!(message.contains("ClusterRole secrets-get"), "{message}");
        assert!(message.contains("read access to secrets"), "{message}");
        assert!(message.contains("User carol@example.com"), "{message}");
        assert_eq!(report.findings[0].resource.kind, "ClusterRoleBinding");
        assert_eq!(
            report.findings[0].resource.api_version,
            "rbac.authorization.k8s.io/v1"
        );
        assert_eq!(report.findings[0].resource.namespace, None);
    }

    #[test]
    fn ordinary_roles_never_produce_findings_whoever_holds_them() {
        let roles = vec![
            cluster_role(
                "pod-reader",
                vec![rule(
                    &[""],
                    &["pods", "configmaps"],
                    &["get", "list", "watch"],
                )],
            ),
            cluster_role(
                "secret-writer",
                vec![rule(&[""], &["secrets"], &["create", "update", "delete"])],
            ),
            cluster_role(
                "foreign-secrets",
                vec![rule(&["example.com"], &["secrets"], &["get"])],
            ),
            cluster_role(
                "non-resource",
                vec![PolicyRule {
                    non_resource_urls: strings(&["*"]),
                    verbs: vec!["*".into()],
                    ..Default::default()
                }],
            ),
            cluster_role("empty", vec![]),
            Arc::new(ClusterRole {
                metadata: meta(None, "no-rules"),
                ..Default::default()
            }),
        ];
        let everyone_bad = vec![
            user("alice"),
            user("system:anonymous"),
            group("system:masters"),
            group("system:authenticated"),
            group("system:unauthenticated"),
            group("system:serviceaccounts"),
            group("developers"),
            sa(Some("ci"), "deployer"),
            subject("Robot", "r2d2", None),
        ];
        let names: Vec<String> = roles
            .iter()
            .map(|r| r.metadata.name.clone().unwrap())
            .collect();
        let mut view = rbac_view(
            names
                .iter()
                .map(|n| crb(n, n, everyone_bad.clone()))
                .collect(),
            names
                .iter()
                .map(|n| rb("team-a", n, "ClusterRole", n, everyone_bad.clone()))
                .collect(),
        );
        view.cluster_roles = roles;
        view.roles = vec![role(
            "team-a",
            "pod-reader",
            vec![rule(&[""], &["pods"], &["get"])],
        )];
        view.role_bindings.push(rb(
            "team-a",
            "ns-reader",
            "Role",
            "pod-reader",
            everyone_bad.clone(),
        ));
        assert_report(&run(&view, &mfa_params()), 2 * names.len() + 1, &[]);
    }

    #[test]
    fn bindings_to_roles_that_do_not_exist_grant_nothing() {
        let view = rbac_view(
            vec![
                crb("ghost", "no-such-cluster-role", vec![user("alice")]),
                Arc::new(ClusterRoleBinding {
                    metadata: meta(None, "ghost-role-kind"),
                    role_ref: role_ref("Role", "no-such-role"),
                    subjects: Some(vec![user("alice")]),
                }),
            ],
            vec![
                rb(
                    "team-a",
                    "ghost-role",
                    "Role",
                    "no-such-role",
                    vec![user("alice")],
                ),
                rb(
                    "team-a",
                    "ghost-cr",
                    "ClusterRole",
                    "no-such-cluster-role",
                    vec![user("alice")],
                ),
                rb(
                    "team-a",
                    "weird-kind",
                    "Group",
                    "cluster-admin",
                    vec![user("alice")],
                ),
                rb(
                    "team-a",
                    "empty-kind",
                    "",
                    "cluster-admin",
                    vec![user("alice")],
                ),
            ],
        );
        assert_report(&run(&view, &mfa_params()), 6, &[]);
    }

    #[test]
    fn a_role_named_cluster_admin_is_not_privileged_by_name() {
        // Only ClusterRoles are privileged by name; a namespaced Role is judged by its rules.
        let view = ClusterSnapshot {
            roles: vec![role(
                "team-a",
                "cluster-admin",
                vec![rule(&[""], &["pods"], &["get"])],
            )],
            role_bindings: vec![rb(
                "team-a",
                "b",
                "Role",
                "cluster-admin",
                vec![user("alice")],
            )],
            ..Default::default()
        };
        assert_report(&run(&view, &mfa_params()), 1, &[]);
    }

    #[test]
    fn privileged_cluster_roles_can_be_overridden() {
        let params = MfaAccessCheck {
            privileged_cluster_roles: strings(&["ops-superuser"]),
            ..mfa_params()
        };
        let view = ClusterSnapshot {
            cluster_roles: vec![cluster_role(
                "edit",
                vec![rule(&["apps"], &["deployments"], &["update"])],
            )],
            cluster_role_bindings: vec![
                crb("b-ops", "ops-superuser", vec![user("alice")]),
                // edit is no longer privileged by name and its (stand-in) rules are ordinary.
                crb("b-edit", "edit", vec![user("alice")]),
                // cluster-admin is neither named nor in the view: nothing to judge it by.
                crb("b-cluster-admin", "cluster-admin", vec![user("alice")]),
            ],
            ..Default::default()
        };
        assert_report(
            &run(&view, &params),
            3,
            &[(
                "ClusterRoleBinding b-ops",
                Fail,
                "privileged-binding-to-user",
            )],
        );
    }

    // ---- who may hold privileged rights ----------------------------------------------------------------------

    #[test]
    fn user_fails_and_the_same_binding_to_an_mfa_group_passes() {
        let bad = rbac_view(
            vec![crb("admins", "cluster-admin", vec![user("alice")])],
            vec![],
        );
        assert_report(
            &run(&bad, &mfa_params()),
            1,
            &[(
                "ClusterRoleBinding admins",
                Fail,
                "privileged-binding-to-user",
            )],
        );
        let good = rbac_view(
            vec![crb(
                "admins",
                "cluster-admin",
                vec![group("oidc:platform-admins")],
            )],
            vec![],
        );
        assert_report(&run(&good, &mfa_params()), 1, &[]);
    }

    #[test]
    fn default_control_plane_identities_may_hold_privileged_rights() {
        let view = rbac_view(
            vec![crb(
                "control-plane",
                "cluster-admin",
                vec![
                    user("system:kube-controller-manager"),
                    user("system:kube-scheduler"),
                    user("system:kube-proxy"),
                    user("system:apiserver"),
                    group("system:nodes"),
                ],
            )],
            vec![],
        );
        assert_report(&run(&view, &MfaAccessCheck::default()), 1, &[]);
    }

    #[test]
    fn control_plane_identities_can_be_overridden_and_look_alikes_fail() {
        let params = MfaAccessCheck {
            control_plane_identities: strings(&["my-distro:controller"]),
            ..Default::default()
        };
        let view = rbac_view(
            vec![
                crb(
                    "custom",
                    "cluster-admin",
                    vec![user("my-distro:controller")],
                ),
                crb(
                    "kcm",
                    "cluster-admin",
                    vec![user("system:kube-controller-manager")],
                ),
            ],
            vec![],
        );
        assert_report(
            &run(&view, &params),
            2,
            &[("ClusterRoleBinding kcm", Fail, "privileged-binding-to-user")],
        );
        // With the defaults, near-misses of control-plane names are ordinary users.
        let view = rbac_view(
            vec![crb(
                "look-alikes",
                "cluster-admin",
                vec![
                    user("system:kube-controller-manager "),
                    user("System:Kube-Scheduler"),
                ],
            )],
            vec![],
        );
        assert_report(
            &run(&view, &MfaAccessCheck::default()),
            1,
            &[
                (
                    "ClusterRoleBinding look-alikes",
                    Fail,
                    "privileged-binding-to-user",
                ),
                (
                    "ClusterRoleBinding look-alikes",
                    Fail,
                    "privileged-binding-to-user",
                ),
            ],
        );
    }

    #[test]
    fn system_masters_fails_even_when_declared_as_mfa_group() {
        let params = MfaAccessCheck {
            mfa_groups: strings(&["system:masters"]),
            mfa_group_prefixes: strings(&["system:"]),
            ..Default::default()
        };
        let view = rbac_view(
            vec![crb(
                "masters",
                "cluster-admin",
                vec![group("system:masters")],
            )],
            vec![],
        );
        assert_report(
            &run(&view, &params),
            1,
            &[(
                "ClusterRoleBinding masters",
                Fail,
                "privileged-binding-to-system-masters",
            )],
        );
        let fixed = rbac_view(
            vec![crb(
                "masters",
                "cluster-admin",
                vec![group("oidc:platform-admins")],
            )],
            vec![],
        );
        assert_report(&run(&fixed, &mfa_params()), 1, &[]);
    }

    #[test]
    fn everyone_groups_and_anonymous_fail() {
        let view = rbac_view(
            vec![
                crb(
                    "authenticated",
                    "cluster-admin",
                    vec![group("system:authenticated")],
                ),
                crb(
                    "unauthenticated",
                    "cluster-admin",
                    vec![group("system:unauthenticated")],
                ),
                crb("anonymous", "cluster-admin", vec![user("system:anonymous")]),
                crb(
                    "all-sas",
                    "cluster-admin",
                    vec![group("system:serviceaccounts")],
                ),
            ],
            vec![],
        );
        let params = MfaAccessCheck {
            // Even a prefix that covers them does not make these groups MFA-backed.
            mfa_group_prefixes: strings(&["system:"]),
            ..Default::default()
        };
        let report = run(&view, &params);
        assert_report(
            &report,
            4,
            &[
                (
                    "ClusterRoleBinding authenticated",
                    Fail,
                    "privileged-binding-to-everyone",
                ),
                (
                    "ClusterRoleBinding unauthenticated",
                    Fail,
                    "privileged-binding-to-everyone",
                ),
                (
                    "ClusterRoleBinding anonymous",
                    Fail,
                    "privileged-binding-to-anonymous",
                ),
                (
                    "ClusterRoleBinding all-sas",
                    Fail,
                    "privileged-binding-to-service-account",
                ),
            ],
        );
        let msg = |name: &str| {
            report
                .findings
                .iter()
                .find(|f| f.resource.name == name)
                .map(|f| f.message.clone())
                .unwrap()
        };
        assert!(msg("authenticated").contains("every authenticated caller"));
        assert!(msg("unauthenticated").contains("every unauthenticated caller"));

        let fixed = rbac_view(
            vec![
                crb(
                    "authenticated",
                    "cluster-admin",
                    vec![group("oidc:platform-admins")],
                ),
                crb("unauthenticated", "cluster-admin", vec![]),
                crb("anonymous", "view", vec![user("system:anonymous")]),
                crb(
                    "all-sas",
                    "cluster-admin",
                    vec![group("system:serviceaccounts:kube-system")],
                ),
            ],
            vec![],
        );
        assert_report(&run(&fixed, &mfa_params()), 4, &[]);
    }

    #[test]
    fn groups_must_be_declared_as_mfa_enforced() {
        let view = rbac_view(
            vec![crb(
                "groups",
                "cluster-admin",
                vec![
                    group("oidc:platform-admins"),     // listed
                    group("okta:sre"),                 // prefix
                    group("okta:"),                    // the prefix itself starts with the prefix
                    group("developers"),               // neither
                    group("OKTA:sre"),                 // prefixes are case-sensitive
                    group("oidc:platform-admins-old"), // listed names match exactly
                ],
            )],
            vec![],
        );
        assert_report(
            &run(&view, &mfa_params()),
            1,
            &[
                (
                    "ClusterRoleBinding groups",
                    Fail,
                    "privileged-binding-to-non-mfa-group",
                ),
                (
                    "ClusterRoleBinding groups",
                    Fail,
                    "privileged-binding-to-non-mfa-group",
                ),
                (
                    "ClusterRoleBinding groups",
                    Fail,
                    "privileged-binding-to-non-mfa-group",
                ),
            ],
        );
    }

    #[test]
    fn an_empty_mfa_prefix_does_not_match_every_group() {
        let params = MfaAccessCheck {
            mfa_group_prefixes: strings(&[""]),
            mfa_groups: Some(vec![]),
            ..Default::default()
        };
        let view = rbac_view(
            vec![crb("b", "cluster-admin", vec![group("developers")])],
            vec![],
        );
        assert_report(
            &run(&view, &params),
            1,
            &[(
                "ClusterRoleBinding b",
                Fail,
                "privileged-binding-to-non-mfa-group",
            )],
        );
        let fixed = MfaAccessCheck {
            mfa_group_prefixes: strings(&["", "dev"]),
            ..Default::default()
        };
        assert_report(&run(&view, &fixed), 1, &[]);
    }

    #[test]
    fn service_account_subjects_outside_automation_namespaces_fail() {
        let view = rbac_view(
            vec![crb(
                "sas",
                "cluster-admin",
                vec![
                    sa(Some("kube-system"), "replicaset-controller"),
                    sa(Some("ci"), "deployer"),
                ],
            )],
            vec![],
        );
        let report = run(&view, &MfaAccessCheck::default());
        assert_report(
            &report,
            1,
            &[(
                "ClusterRoleBinding sas",
                Fail,
                "privileged-binding-to-service-account",
            )],
        );
        assert!(
            report.findings[0]
                .message
                .contains("ServiceAccount ci/deployer")
        );
        assert!(report.findings[0].message.contains("(kube-system)"));

        let fixed = rbac_view(
            vec![crb(
                "sas",
                "cluster-admin",
                vec![sa(Some("kube-system"), "replicaset-controller")],
            )],
            vec![],
        );
        assert_report(&run(&fixed, &MfaAccessCheck::default()), 1, &[]);
    }

    #[test]
    fn automation_namespaces_replace_the_default() {
        let params = MfaAccessCheck {
            automation_namespaces: strings(&["ci", "argocd"]),
            ..Default::default()
        };
        let view = rbac_view(
            vec![crb(
                "sas",
                "cluster-admin",
                vec![
                    sa(Some("ci"), "deployer"),
                    sa(Some("argocd"), "argocd-application-controller"),
                    sa(Some("kube-system"), "replicaset-controller"),
                ],
            )],
            vec![],
        );
        assert_report(
            &run(&view, &params),
            1,
            &[(
                "ClusterRoleBinding sas",
                Fail,
                "privileged-binding-to-service-account",
            )],
        );
        let none = MfaAccessCheck {
            automation_namespaces: Some(vec![]),
            ..Default::default()
        };
        let view = rbac_view(
            vec![crb(
                "kube-system-sa",
                "cluster-admin",
                vec![sa(Some("kube-system"), "x")],
            )],
            vec![],
        );
        assert_report(
            &run(&view, &none),
            1,
            &[(
                "ClusterRoleBinding kube-system-sa",
                Fail,
                "privileged-binding-to-service-account",
            )],
        );
    }

    #[test]
    fn service_account_user_names_are_judged_as_service_accounts() {
        let view = rbac_view(
            vec![
                crb(
                    "sa-user-bad",
                    "cluster-admin",
                    vec![user("system:serviceaccount:ci:deployer")],
                ),
                crb(
                    "sa-user-good",
                    "cluster-admin",
                    vec![user("system:serviceaccount:kube-system:deployer")],
                ),
                // No namespace at all: the empty namespace is not an automation namespace.
                crb(
                    "sa-user-empty",
                    "cluster-admin",
                    vec![user("system:serviceaccount:")],
                ),
            ],
            vec![],
        );
        let report = run(&view, &MfaAccessCheck::default());
        assert_report(
            &report,
            3,
            &[
                (
                    "ClusterRoleBinding sa-user-bad",
                    Fail,
                    "privileged-binding-to-service-account",
                ),
                (
                    "ClusterRoleBinding sa-user-empty",
                    Fail,
                    "privileged-binding-to-service-account",
                ),
            ],
        );
        let bad = report
            .findings
            .iter()
            .find(|f| f.resource.name == "sa-user-bad")
            .unwrap();
        assert!(
            bad.message.contains("system:serviceaccount:ci:deployer"),
            "{}",
            bad.message
        );
    }

    #[test]
    fn service_account_namespace_groups_are_judged_as_service_accounts() {
        let view = rbac_view(
            vec![
                crb(
                    "sa-group-bad",
                    "cluster-admin",
                    vec![group("system:serviceaccounts:ci")],
                ),
                crb(
                    "sa-group-good",
                    "cluster-admin",
                    vec![group("system:serviceaccounts:kube-system")],
                ),
            ],
            vec![],
        );
        // A prefix covering the group does not make a namespace of service accounts MFA-backed.
        let params = MfaAccessCheck {
            mfa_group_prefixes: strings(&["system:serviceaccounts:"]),
            ..Default::default()
        };
        assert_report(
            &run(&view, &params),
            2,
            &[(
                "ClusterRoleBinding sa-group-bad",
                Fail,
                "privileged-binding-to-service-account",
            )],
        );
    }

    #[test]
    fn service_account_without_namespace_takes_the_role_bindings_namespace() {
        let view = rbac_view(
            vec![],
            vec![
                rb(
                    "kube-system",
                    "sys",
                    "ClusterRole",
                    "admin",
                    vec![sa(None, "operator")],
                ),
                rb(
                    "ci",
                    "ci",
                    "ClusterRole",
                    "admin",
                    vec![sa(None, "deployer")],
                ),
                // An explicit namespace wins over the binding's.
                rb(
                    "kube-system",
                    "cross",
                    "ClusterRole",
                    "admin",
                    vec![sa(Some("ci"), "deployer")],
                ),
                rb(
                    "ci",
                    "cross-ok",
                    "ClusterRole",
                    "admin",
                    vec![sa(Some("kube-system"), "operator")],
                ),
            ],
        );
        let report = run(&view, &MfaAccessCheck::default());
        assert_report(
            &report,
            4,
            &[
                (
                    "RoleBinding ci/ci",
                    Fail,
                    "privileged-binding-to-service-account",
                ),
                (
                    "RoleBinding kube-system/cross",
                    Fail,
                    "privileged-binding-to-service-account",
                ),
            ],
        );
        let ci = report
            .findings
            .iter()
            .find(|f| f.resource.name == "ci")
            .unwrap();
        assert!(
            ci.message.contains("ServiceAccount ci/deployer"),
            "{}",
            ci.message
        );
    }

    #[test]
    fn service_account_with_empty_namespace_takes_the_role_bindings_namespace() {
        // The RBAC authorizer reads an empty subject namespace as the RoleBinding's own namespace.
        let view = rbac_view(
            vec![],
            vec![
                rb(
                    "kube-system",
                    "sys",
                    "ClusterRole",
                    "admin",
                    vec![sa(Some(""), "operator")],
                ),
                rb(
                    "ci",
                    "ci",
                    "ClusterRole",
                    "admin",
                    vec![sa(Some(""), "deployer")],
                ),
            ],
        );
        assert_report(
            &run(&view, &MfaAccessCheck::default()),
            2,
            &[(
                "RoleBinding ci/ci",
                Fail,
                "privileged-binding-to-service-account",
            )],
        );
    }

    #[test]
    fn service_account_without_namespace_in_a_cluster_role_binding_fails() {
        let view = rbac_view(
            vec![
                crb("no-ns", "cluster-admin", vec![sa(None, "operator")]),
                crb("empty-ns", "cluster-admin", vec![sa(Some(""), "operator")]),
            ],
            vec![],
        );
        assert_report(
            &run(&view, &MfaAccessCheck::default()),
            2,
            &[
                (
                    "ClusterRoleBinding no-ns",
                    Fail,
                    "privileged-binding-to-service-account",
                ),
                (
                    "ClusterRoleBinding empty-ns",
                    Fail,
                    "privileged-binding-to-service-account",
                ),
            ],
        );
    }

    #[test]
    fn break_glass_subjects_are_a_notice_not_a_failure() {
        let params = MfaAccessCheck {
            break_glass: Some(vec![
                SubjectRef {
                    kind: "User".into(),
                    name: "breakglass-admin".into(),
                    namespace: None,
                },
                SubjectRef {
                    kind: "ServiceAccount".into(),
                    name: "emergency".into(),
                    namespace: Some("ops".into()),
                },
                SubjectRef {
                    kind: "Group".into(),
                    name: "system:masters".into(),
                    namespace: None,
                },
            ]),
            ..Default::default()
        };
        let view = rbac_view(
            vec![
                crb("bg-user", "cluster-admin", vec![user("breakglass-admin")]),
                crb("bg-sa", "cluster-admin", vec![sa(Some("ops"), "emergency")]),
                crb("bg-masters", "cluster-admin", vec![group("system:masters")]),
            ],
            vec![rb(
                "ops",
                "bg-sa-implicit-ns",
                "ClusterRole",
                "admin",
                vec![sa(None, "emergency")],
            )],
        );
        let report = run(&view, &params);
        assert_report(
            &report,
            4,
            &[
                ("ClusterRoleBinding bg-user", Notice, "break-glass-access"),
                ("ClusterRoleBinding bg-sa", Notice, "break-glass-access"),
                (
                    "ClusterRoleBinding bg-masters",
                    Notice,
                    "break-glass-access",
                ),
                (
                    "RoleBinding ops/bg-sa-implicit-ns",
                    Notice,
                    "break-glass-access",
                ),
            ],
        );
        let user_notice = report
            .findings
            .iter()
            .find(|f| f.resource.name == "bg-user")
            .unwrap();
        assert!(
            user_notice.message.contains("User breakglass-admin"),
            "{}",
            user_notice.message
        );

        // The same subjects, undeclared, fail.
        assert_report(
            &run(&view, &MfaAccessCheck::default()),
            4,
            &[
                (
                    "ClusterRoleBinding bg-user",
                    Fail,
                    "privileged-binding-to-user",
                ),
                (
                    "ClusterRoleBinding bg-sa",
                    Fail,
                    "privileged-binding-to-service-account",
                ),
                (
                    "ClusterRoleBinding bg-masters",
                    Fail,
                    "privileged-binding-to-system-masters",
                ),
                (
                    "RoleBinding ops/bg-sa-implicit-ns",
                    Fail,
                    "privileged-binding-to-service-account",
                ),
            ],
        );
    }

    #[test]
    fn break_glass_must_match_kind_name_and_service_account_namespace() {
        let params = MfaAccessCheck {
            break_glass: Some(vec![
                SubjectRef {
                    kind: "User".into(),
                    name: "emergency".into(),
                    namespace: None,
                },
                SubjectRef {
                    kind: "ServiceAccount".into(),
                    name: "emergency".into(),
                    namespace: Some("ops".into()),
                },
            ]),
            ..Default::default()
        };
        let view = rbac_view(
            vec![crb(
                "near-misses",
                "cluster-admin",
                vec![
                    group("emergency"),           // wrong kind
                    user("Emergency"),            // names are exact
                    sa(Some("dev"), "emergency"), // wrong namespace
                    sa(None, "emergency"),        // no namespace in a ClusterRoleBinding
                ],
            )],
            vec![],
        );
        assert_report(
            &run(&view, &params),
            1,
            &[
                (
                    "ClusterRoleBinding near-misses",
                    Fail,
                    "privileged-binding-to-non-mfa-group",
                ),
                (
                    "ClusterRoleBinding near-misses",
                    Fail,
                    "privileged-binding-to-user",
                ),
                (
                    "ClusterRoleBinding near-misses",
                    Fail,
                    "privileged-binding-to-service-account",
                ),
                (
                    "ClusterRoleBinding near-misses",
                    Fail,
                    "privileged-binding-to-service-account",
                ),
            ],
        );
    }

    #[test]
    fn unknown_subject_kinds_fail_on_privileged_bindings() {
        let view = rbac_view(
            vec![crb(
                "odd",
                "cluster-admin",
                vec![
                    subject("Robot", "r2d2", None),
                    subject("user", "alice", None), // kinds are case-sensitive
                    subject("", "", None),
                ],
            )],
            vec![],
        );
        let report = run(&view, &mfa_params());
        assert_report(
            &report,
            1,
            &[
                (
                    "ClusterRoleBinding odd",
                    Fail,
                    "privileged-binding-to-unknown-subject",
                ),
                (
                    "ClusterRoleBinding odd",
                    Fail,
                    "privileged-binding-to-unknown-subject",
                ),
                (
                    "ClusterRoleBinding odd",
                    Fail,
                    "privileged-binding-to-unknown-subject",
                ),
            ],
        );
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.message.contains("\"Robot\""))
        );
    }

    #[test]
    fn one_finding_per_violating_subject_of_a_binding() {
        let view = rbac_view(
            vec![crb(
                "mixed",
                "cluster-admin",
                vec![
                    group("oidc:platform-admins"),
                    user("alice"),
                    sa(Some("kube-system"), "ok"),
                    group("devs"),
                    user("system:kube-scheduler"),
                ],
            )],
            vec![],
        );
        assert_report(
            &run(&view, &mfa_params()),
            1,
            &[
                (
                    "ClusterRoleBinding mixed",
                    Fail,
                    "privileged-binding-to-user",
                ),
                (
                    "ClusterRoleBinding mixed",
                    Fail,
                    "privileged-binding-to-non-mfa-group",
                ),
            ],
        );
    }

    // ---- resolving roles and scope -------------------------------------------------------------------------

    #[test]
    fn role_binding_resolves_the_role_in_its_own_namespace_only() {
        let secrets = vec![rule(&[""], &["secrets"], &["get", "list"])];
        let view = ClusterSnapshot {
            roles: vec![
                role("team-a", "secret-reader", secrets.clone()),
                // Same name, harmless rules, in team-b.
                role(
                    "team-b",
                    "secret-reader",
                    vec![rule(&[""], &["configmaps"], &["get"])],
                ),
            ],
            role_bindings: vec![
                rb("team-a", "a", "Role", "secret-reader", vec![user("alice")]),
                rb("team-b", "b", "Role", "secret-reader", vec![user("alice")]),
                // team-c has no Role of that name at all.
                rb("team-c", "c", "Role", "secret-reader", vec![user("alice")]),
            ],
            // A ClusterRoleBinding cannot reach a namespaced Role.
            cluster_role_bindings: vec![Arc::new(ClusterRoleBinding {
                metadata: meta(None, "crb-to-role"),
                role_ref: role_ref("Role", "secret-reader"),
                subjects: Some(vec![user("alice")]),
            })],
            ..Default::default()
        };
        let report = run(&view, &mfa_params());
        assert_report(
            &report,
            4,
            &[("RoleBinding team-a/a", Fail, "privileged-binding-to-user")],
        );
        assert_eq!(
            report.findings[0].resource.namespace.as_deref(),
            Some("team-a")
        );
        assert!(report.findings[0].message.contains("Role secret-reader"));
        assert!(
            report.findings[0]
                .message
                .contains("read access to secrets")
        );
    }

    #[test]
    fn a_role_binding_to_a_privileged_role_with_an_mfa_group_passes() {
        let view = ClusterSnapshot {
            roles: vec![role("team-a", "all", vec![rule(&["*"], &["*"], &["*"])])],
            role_bindings: vec![rb("team-a", "a", "Role", "all", vec![group("okta:team-a")])],
            ..Default::default()
        };
        assert_report(&run(&view, &mfa_params()), 1, &[]);
    }

    #[test]
    fn role_binding_to_a_cluster_role_is_judged_by_the_cluster_role() {
        let view = ClusterSnapshot {
            cluster_roles: vec![wildcard_role("everything")],
            role_bindings: vec![
                rb(
                    "team-a",
                    "by-rules",
                    "ClusterRole",
                    "everything",
                    vec![user("alice")],
                ),
                rb(
                    "team-a",
                    "by-name",
                    "ClusterRole",
                    "edit",
                    vec![user("alice")],
                ),
                // A Role named like the ClusterRole is not the ClusterRole.
                rb(
                    "team-a",
                    "role-kind",
                    "Role",
                    "everything",
                    vec![user("alice")],
                ),
            ],
            ..Default::default()
        };
        assert_report(
            &run(&view, &mfa_params()),
            3,
            &[
                (
                    "RoleBinding team-a/by-rules",
                    Fail,
                    "privileged-binding-to-user",
                ),
                (
                    "RoleBinding team-a/by-name",
                    Fail,
                    "privileged-binding-to-user",
                ),
            ],
        );
    }

    #[test]
    fn scope_exclusion_removes_the_namespaces_role_bindings_but_not_cluster_bindings() {
        let view = ClusterSnapshot {
            cluster_role_bindings: vec![crb("cluster", "cluster-admin", vec![user("alice")])],
            role_bindings: vec![
                rb("team-a", "a", "ClusterRole", "admin", vec![user("alice")]),
                rb("team-b", "b", "ClusterRole", "admin", vec![user("alice")]),
            ],
            service_account_token_secrets: vec![
                token_secret("team-a", "a-token", Some("a")),
                token_secret("team-b", "b-token", Some("b")),
            ],
            ..Default::default()
        };
        let scope = Scope {
            exclude_namespaces: strings(&["team-b"]),
            ..Default::default()
        };
        assert_report(
            &run_scoped(&view, &scope, &mfa_params()),
            3,
            &[
                (
                    "ClusterRoleBinding cluster",
                    Fail,
                    "privileged-binding-to-user",
                ),
                ("RoleBinding team-a/a", Fail, "privileged-binding-to-user"),
                (
                    "Secret team-a/a-token",
                    Fail,
                    "legacy-service-account-token",
                ),
            ],
        );
        let only_b = Scope {
            namespaces: strings(&["team-b"]),
            ..Default::default()
        };
        assert_report(
            &run_scoped(&view, &only_b, &mfa_params()),
            3,
            &[
                (
                    "ClusterRoleBinding cluster",
                    Fail,
                    "privileged-binding-to-user",
                ),
                ("RoleBinding team-b/b", Fail, "privileged-binding-to-user"),
                (
                    "Secret team-b/b-token",
                    Fail,
                    "legacy-service-account-token",
                ),
            ],
        );
    }

    // ---- malformed objects ---------------------------------------------------------------------------------

    #[test]
    fn bindings_without_subjects_are_evaluated_and_pass() {
        let view = rbac_view(
            vec![
                Arc::new(ClusterRoleBinding {
                    metadata: meta(None, "none"),
                    role_ref: role_ref("ClusterRole", "cluster-admin"),
                    subjects: None,
                }),
                crb("empty", "cluster-admin", vec![]),
            ],
            vec![Arc::new(RoleBinding {
                metadata: meta(Some("team-a"), "none"),
                role_ref: role_ref("ClusterRole", "admin"),
                subjects: None,
            })],
        );
        assert_report(&run(&view, &mfa_params()), 3, &[]);
    }

    #[test]
    fn objects_without_names_are_still_judged() {
        let view = ClusterSnapshot {
            cluster_role_bindings: vec![Arc::new(ClusterRoleBinding {
                metadata: ObjectMeta::default(),
                role_ref: role_ref("ClusterRole", "cluster-admin"),
                subjects: Some(vec![user(""), group("")]),
            })],
            role_bindings: vec![Arc::new(RoleBinding {
                // No namespace either: it cannot resolve a Role, but a named ClusterRole is still privileged.
                metadata: ObjectMeta::default(),
                role_ref: role_ref("ClusterRole", "edit"),
                subjects: Some(vec![user("alice")]),
            })],
            // A Role without a name never matches a roleRef.
            roles: vec![Arc::new(Role {
                metadata: ObjectMeta {
                    namespace: Some("team-a".into()),
                    ..Default::default()
                },
                rules: Some(vec![rule(&["*"], &["*"], &["*"])]),
            })],
            ..Default::default()
        };
        let mut view = view;
        view.role_bindings
            .push(rb("team-a", "to-nameless", "Role", "", vec![user("alice")]));
        assert_report(
            &run(&view, &mfa_params()),
            3,
            &[
                ("ClusterRoleBinding ", Fail, "privileged-binding-to-user"),
                (
                    "ClusterRoleBinding ",
                    Fail,
                    "privileged-binding-to-non-mfa-group",
                ),
                ("RoleBinding ", Fail, "privileged-binding-to-user"),
            ],
        );
    }

    #[test]
    fn roles_without_rules_or_with_empty_lists_are_not_privileged() {
        let view = ClusterSnapshot {
            cluster_roles: vec![
                Arc::new(ClusterRole {
                    metadata: meta(None, "no-rules"),
                    ..Default::default()
                }),
                cluster_role(
                    "empty-lists",
                    vec![PolicyRule {
                        api_groups: None,
                        resources: None,
                        verbs: vec![],
                        ..Default::default()
                    }],
                ),
                // No resources: nothing is granted, even with `*` verbs.
                cluster_role(
                    "verbs-only",
                    vec![PolicyRule {
                        verbs: vec!["*".into()],
                        ..Default::default()
                    }],
                ),
            ],
            cluster_role_bindings: vec![
                crb("a", "no-rules", vec![user("alice")]),
                crb("b", "empty-lists", vec![user("alice")]),
                crb("c", "verbs-only", vec![user("alice")]),
            ],
            ..Default::default()
        };
        assert_report(&run(&view, &mfa_params()), 3, &[]);
    }

    // ---- missing data --------------------------------------------------------------------------------------

    #[test]
    fn any_missing_rbac_kind_makes_rbac_unknown_and_skips_bindings() {
        for kind in [
            ResourceKind::ClusterRoleBinding,
            ResourceKind::RoleBinding,
            ResourceKind::ClusterRole,
            ResourceKind::Role,
        ] {
            let mut view = rbac_view(
                vec![crb("admins", "cluster-admin", vec![user("alice")])],
                vec![rb(
                    "team-a",
                    "a",
                    "ClusterRole",
                    "admin",
                    vec![user("alice")],
                )],
            );
            view.unavailable.insert(kind, "forbidden".into());
            let report = run(&view, &mfa_params());
            assert_report(
                &report,
                1,
                &[("ClusterRoleBinding (RBAC)", Unknown, "data-unavailable")],
            );
            assert!(
                report.findings[0].message.contains(kind.plural()),
                "{kind:?}"
            );
            assert!(report.findings[0].message.contains("forbidden"));
        }
    }

    #[test]
    fn several_missing_rbac_kinds_give_a_single_unknown() {
        let mut view = ClusterSnapshot::default();
        for kind in [
            ResourceKind::ClusterRoleBinding,
            ResourceKind::RoleBinding,
            ResourceKind::ClusterRole,
            ResourceKind::Role,
        ] {
            view.unavailable.insert(kind, "not synced".into());
        }
        assert_report(
            &run(&view, &mfa_params()),
            1,
            &[("ClusterRoleBinding (RBAC)", Unknown, "data-unavailable")],
        );
    }

    #[test]
    fn missing_token_secrets_are_unknown_while_rbac_is_still_judged() {
        let mut view = rbac_view(
            vec![crb("admins", "cluster-admin", vec![user("alice")])],
            vec![],
        );
        view.unavailable
            .insert(ResourceKind::ServiceAccountTokenSecret, "forbidden".into());
        assert_report(
            &run(&view, &mfa_params()),
            2,
            &[
                (
                    "ClusterRoleBinding admins",
                    Fail,
                    "privileged-binding-to-user",
                ),
                (
                    "Secret (service-account tokens)",
                    Unknown,
                    "data-unavailable",
                ),
            ],
        );
        // Not asked for, not missed.
        let params = MfaAccessCheck {
            legacy_token_secrets: Some(false),
            ..mfa_params()
        };
        assert_report(
            &run(&view, &params),
            1,
            &[(
                "ClusterRoleBinding admins",
                Fail,
                "privileged-binding-to-user",
            )],
        );
    }

    #[test]
    fn missing_control_plane_pods_are_a_managed_control_plane_not_a_finding() {
        let mut view = ClusterSnapshot {
            control_plane_pods: vec![apiserver("kube-system", &["--token-auth-file=/t.csv"])],
            ..Default::default()
        };
        view.unavailable
            .insert(ResourceKind::ControlPlanePod, "forbidden".into());
        assert_report(&run(&view, &mfa_params()), 0, &[]);
    }

    #[test]
    fn an_empty_cluster_evaluates_nothing_and_finds_nothing() {
        assert_report(
            &run(&ClusterSnapshot::default(), &MfaAccessCheck::default()),
            0,
            &[],
        );
    }

    // ---- legacy tokens -------------------------------------------------------------------------------------

    #[test]
    fn legacy_service_account_token_secrets_fail() {
        let view = ClusterSnapshot {
            service_account_token_secrets: vec![
                token_secret("ci", "deployer-token", Some("deployer")),
                token_secret("ci", "orphan-token", None),
            ],
            ..Default::default()
        };
        let report = run(&view, &MfaAccessCheck::default());
        assert_report(
            &report,
            2,
            &[
                (
                    "Secret ci/deployer-token",
                    Fail,
                    "legacy-service-account-token",
                ),
                (
                    "Secret ci/orphan-token",
                    Fail,
                    "legacy-service-account-token",
                ),
            ],
        );
        let named = report
            .findings
            .iter()
            .find(|f| f.resource.name == "deployer-token")
            .unwrap();
        assert!(
            named.message.contains("ServiceAccount deployer"),
            "{}",
            named.message
        );
        let orphan = report
            .findings
            .iter()
            .find(|f| f.resource.name == "orphan-token")
            .unwrap();
        assert!(orphan.message.contains("(unnamed)"), "{}", orphan.message);
    }

    #[test]
    fn secrets_of_other_types_and_disabled_token_checks_pass() {
        let opaque = Arc::new(Secret {
            metadata: meta(Some("ci"), "opaque"),
            type_: Some("Opaque".into()),
            ..Default::default()
        });
        let untyped = Arc::new(Secret {
            metadata: meta(Some("ci"), "untyped"),
            ..Default::default()
        });
        let look_alike = Arc::new(Secret {
            metadata: meta(Some("ci"), "look-alike"),
            type_: Some("kubernetes.io/service-account-token ".into()),
            ..Default::default()
        });
        let view = ClusterSnapshot {
            service_account_token_secrets: vec![opaque, untyped, look_alike],
            ..Default::default()
        };
        assert_report(&run(&view, &MfaAccessCheck::default()), 0, &[]);

        let tokens = ClusterSnapshot {
            service_account_token_secrets: vec![token_secret("ci", "t", Some("sa"))],
            ..Default::default()
        };
        let off = MfaAccessCheck {
            legacy_token_secrets: Some(false),
            ..Default::default()
        };
        assert_report(&run(&tokens, &off), 0, &[]);
    }

    // ---- kube-apiserver flags ------------------------------------------------------------------------------

    fn apiserver_view(pods: Vec<Arc<Pod>>) -> ClusterSnapshot {
        ClusterSnapshot {
            control_plane_pods: pods,
            ..Default::default()
        }
    }

    const APISERVER: &str = "Pod kube-system/kube-apiserver-cp-1";

    #[test]
    fn a_hardened_apiserver_passes() {
        let view = apiserver_view(vec![apiserver(
            "kube-system",
            &["--anonymous-auth=false", "--authorization-mode=Node,RBAC"],
        )]);
        assert_report(&run(&view, &MfaAccessCheck::default()), 1, &[]);
    }

    #[test]
    fn static_token_and_basic_auth_files_fail() {
        let view = apiserver_view(vec![apiserver(
            "kube-system",
            &[
                "--token-auth-file=/etc/kubernetes/tokens.csv",
                "--basic-auth-file",
                "/etc/kubernetes/basic.csv",
                "--anonymous-auth=false",
            ],
        )]);
        let report = run(&view, &MfaAccessCheck::default());
        assert_report(
            &report,
            1,
            &[
                (APISERVER, Fail, "static-token-file"),
                (APISERVER, Fail, "basic-auth"),
            ],
        );
        assert!(report.findings.iter().any(|f| {
            f.message
                .contains("--token-auth-file=/etc/kubernetes/tokens.csv")
        }));
        assert!(report.findings.iter().any(|f| {
            f.message
                .contains("--basic-auth-file=/etc/kubernetes/basic.csv")
        }));
    }

    #[test]
    fn anonymous_auth_true_bare_or_absent_fails() {
        for args in [
            &["--anonymous-auth=true"][..],
            &["--anonymous-auth"][..],
            &["--anonymous-auth", "--v=2"][..],
            &["--anonymous-auth=yes"][..],
            &[][..],
            &["--anonymous-auth=false", "--anonymous-auth=true"][..],
            &["--authentication-config="][..],
            &["-anonymous-auth=false"][..],
        ] {
            let view = apiserver_view(vec![apiserver("kube-system", args)]);
            let report = run(&view, &MfaAccessCheck::default());
            assert_report(&report, 1, &[(APISERVER, Fail, "anonymous-auth")]);
        }
        let bare = run(
            &apiserver_view(vec![apiserver("kube-system", &["--anonymous-auth"])]),
            &MfaAccessCheck::default(),
        );
        assert!(
            bare.findings[0].message.contains("--anonymous-auth=true"),
            "{}",
            bare.findings[0].message
        );
        let absent = run(
            &apiserver_view(vec![apiserver("kube-system", &[])]),
            &MfaAccessCheck::default(),
        );
        assert!(
            absent.findings[0].message.contains("defaults to true"),
            "{}",
            absent.findings[0].message
        );
    }

    #[test]
    fn every_spelling_of_false_disables_anonymous_auth() {
        for value in ["false", "False", "FALSE", "f", "F", "0"] {
            let flag = format!("--anonymous-auth={value}");
            let view = apiserver_view(vec![apiserver("kube-system", &[flag.as_str()])]);
            assert_report(&run(&view, &MfaAccessCheck::default()), 1, &[]);
        }
        let later_wins = apiserver_view(vec![apiserver(
            "kube-system",
            &["--anonymous-auth=true", "--anonymous-auth=false"],
        )]);
        assert_report(&run(&later_wins, &MfaAccessCheck::default()), 1, &[]);
    }

    #[test]
    fn structured_authentication_config_gives_a_notice() {
        let view = apiserver_view(vec![apiserver(
            "kube-system",
            &["--authentication-config=/etc/kubernetes/authn.yaml"],
        )]);
        let report = run(&view, &MfaAccessCheck::default());
        assert_report(
            &report,
            1,
            &[(APISERVER, Notice, "anonymous-auth-in-config")],
        );
        assert!(
            report.findings[0]
                .message
                .contains("/etc/kubernetes/authn.yaml")
        );
        // An explicit flag still decides.
        let explicit = apiserver_view(vec![apiserver(
            "kube-system",
            &[
                "--authentication-config=/etc/kubernetes/authn.yaml",
                "--anonymous-auth=true",
            ],
        )]);
        assert_report(
            &run(&explicit, &MfaAccessCheck::default()),
            1,
            &[(APISERVER, Fail, "anonymous-auth")],
        );
    }

    #[test]
    fn every_authentication_problem_of_one_apiserver_is_reported() {
        let view = apiserver_view(vec![apiserver(
            "kube-system",
            &["--token-auth-file=/t.csv", "--basic-auth-file=/b.csv"],
        )]);
        assert_report(
            &run(&view, &MfaAccessCheck::default()),
            1,
            &[
                (APISERVER, Fail, "static-token-file"),
                (APISERVER, Fail, "basic-auth"),
                (APISERVER, Fail, "anonymous-auth"),
            ],
        );
    }

    #[test]
    fn apiserver_flags_are_read_from_args_and_full_command_paths() {
        let args_form = Arc::new(Pod {
            metadata: meta(Some("kube-system"), "kube-apiserver-args"),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "kube-apiserver".into(),
                    args: strings(&["--token-auth-file=/t.csv", "--anonymous-auth=false"]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        });
        let path_form = Arc::new(Pod {
            metadata: meta(Some("kube-system"), "kube-apiserver-path"),
            spec: Some(PodSpec {
                containers: vec![
                    Container {
                        name: "sidecar".into(),
                        command: strings(&["/bin/sh", "-c", "--token-auth-file=/nope"]),
                        ..Default::default()
                    },
                    Container {
                        name: "apiserver".into(),
                        command: strings(&["/usr/local/bin/kube-apiserver"]),
                        args: strings(&["--anonymous-auth=false"]),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            ..Default::default()
        });
        let view = apiserver_view(vec![args_form, path_form]);
        assert_report(
            &run(&view, &MfaAccessCheck::default()),
            2,
            &[(
                "Pod kube-system/kube-apiserver-args",
                Fail,
                "static-token-file",
            )],
        );
    }

    #[test]
    fn non_apiserver_pods_and_apiservers_outside_kube_system_are_ignored() {
        let etcd = Arc::new(Pod {
            metadata: meta(Some("kube-system"), "etcd-cp-1"),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "etcd".into(),
                    command: strings(&["etcd", "--token-auth-file=/x"]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        });
        let no_spec = Arc::new(Pod {
            metadata: meta(Some("kube-system"), "kube-apiserver-no-spec"),
            ..Default::default()
        });
        let no_namespace = Arc::new(Pod {
            metadata: meta(None, "kube-apiserver"),
            ..(*apiserver("kube-system", &[])).clone()
        });
        let view = apiserver_view(vec![
            etcd,
            no_spec,
            no_namespace,
            apiserver("default", &["--token-auth-file=/t.csv"]),
            apiserver("kube-system-evil", &["--anonymous-auth=true"]),
        ]);
        assert_report(&run(&view, &MfaAccessCheck::default()), 0, &[]);
    }

    #[test]
    fn apiserver_flag_checks_can_be_disabled() {
        let view = apiserver_view(vec![apiserver(
            "kube-system",
            &["--token-auth-file=/t.csv"],
        )]);
        let off = MfaAccessCheck {
            api_server_flags: Some(false),
            ..Default::default()
        };
        assert_report(&run(&view, &off), 0, &[]);
    }

    #[test]
    fn each_visible_apiserver_is_evaluated() {
        let mut second = (*apiserver("kube-system", &["--anonymous-auth=false"])).clone();
        second.metadata.name = Some("kube-apiserver-cp-2".into());
        let view = apiserver_view(vec![
            apiserver("kube-system", &["--anonymous-auth=true"]),
            Arc::new(second),
        ]);
        assert_report(
            &run(&view, &MfaAccessCheck::default()),
            2,
            &[(APISERVER, Fail, "anonymous-auth")],
        );
    }

    // ---- adversarial ---------------------------------------------------------------------------------------

    #[test]
    fn very_long_names_are_handled_and_reported_in_full() {
        let long_user = "u".repeat(100_000);
        let long_binding = "b".repeat(10_000);
        let long_group = format!("okta:{}", "g".repeat(50_000));
        let view = rbac_view(
            vec![crb(
                &long_binding,
                "cluster-admin",
                vec![user(&long_user), group(&long_group)],
            )],
            vec![],
        );
        let report = run(&view, &mfa_params());
        assert_eq!(report.evaluated, 1);
        assert_eq!(report.findings.len(), 1);
        assert_eq!(report.findings[0].resource.name, long_binding);
        assert_eq!(report.findings[0].rule, "privileged-binding-to-user");
        assert!(report.findings[0].message.contains(&long_user));
    }

    #[test]
    fn unicode_names_are_compared_exactly() {
        let params = MfaAccessCheck {
            mfa_groups: strings(&["oidc:管理者"]),
            mfa_group_prefixes: strings(&["oidc:équipe-"]),
            break_glass: Some(vec![SubjectRef {
                kind: "User".into(),
                name: "Ærøskøbing-🚨".into(),
                namespace: None,
            }]),
            ..Default::default()
        };
        let view = rbac_view(
            vec![crb(
                "管理-binding",
                "cluster-admin",
                vec![
                    group("oidc:管理者"),            // listed
                    group("oidc:équipe-sre"),        // prefix
                    group("oidc:e\u{301}quipe-sre"), // decomposed é: a different string
                    user("Ærøskøbing-🚨"),           // break-glass
                    user("ærøskøbing-🚨"),           // not the break-glass user
                    user("用户"),
                ],
            )],
            vec![],
        );
        let report = run(&view, &params);
        assert_report(
            &report,
            1,
            &[
                (
                    "ClusterRoleBinding 管理-binding",
                    Fail,
                    "privileged-binding-to-non-mfa-group",
                ),
                (
                    "ClusterRoleBinding 管理-binding",
                    Notice,
                    "break-glass-access",
                ),
                (
                    "ClusterRoleBinding 管理-binding",
                    Fail,
                    "privileged-binding-to-user",
                ),
                (
                    "ClusterRoleBinding 管理-binding",
                    Fail,
                    "privileged-binding-to-user",
                ),
            ],
        );
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.message.contains("User 用户"))
        );
    }

    #[test]
    fn duplicate_subjects_give_duplicate_findings_for_one_evaluated_binding() {
        // evaluate() de-duplicates identical findings; the check reports each subject entry it judged.
        let view = rbac_view(
            vec![crb(
                "dup",
                "cluster-admin",
                vec![
                    user("alice"),
                    user("alice"),
                    group("oidc:platform-admins"),
                    group("oidc:platform-admins"),
                ],
            )],
            vec![],
        );
        let report = run(&view, &mfa_params());
        assert_report(
            &report,
            1,
            &[
                ("ClusterRoleBinding dup", Fail, "privileged-binding-to-user"),
                ("ClusterRoleBinding dup", Fail, "privileged-binding-to-user"),
            ],
        );
        assert_eq!(report.findings[0], report.findings[1]);
    }

    #[test]
    fn duplicate_bindings_with_the_same_name_are_each_evaluated() {
        let view = rbac_view(
            vec![
                crb("twin", "cluster-admin", vec![user("alice")]),
                crb("twin", "cluster-admin", vec![group("oidc:platform-admins")]),
            ],
            vec![],
        );
        assert_report(
            &run(&view, &mfa_params()),
            2,
            &[(
                "ClusterRoleBinding twin",
                Fail,
                "privileged-binding-to-user",
            )],
        );
    }

    #[test]
    fn subject_names_with_separators_and_whitespace_are_not_normalised() {
        let view = rbac_view(
            vec![crb(
                "weird",
                "cluster-admin",
                vec![
                    group(" oidc:platform-admins"),
                    group("oidc:platform-admins\n"),
                    user("system:serviceaccount:kube-system"), // no name part: still kube-system
                    user("system:serviceaccount:kube-system:a:b:c"),
                    group("system:serviceaccounts:"),
                ],
            )],
            vec![],
        );
        assert_report(
            &run(&view, &mfa_params()),
            1,
            &[
                (
                    "ClusterRoleBinding weird",
                    Fail,
                    "privileged-binding-to-non-mfa-group",
                ),
                (
                    "ClusterRoleBinding weird",
                    Fail,
                    "privileged-binding-to-non-mfa-group",
                ),
                (
                    "ClusterRoleBinding weird",
                    Fail,
                    "privileged-binding-to-service-account",
                ),
            ],
        );
    }
}
