//! MFA-backed privileged access (CC6.1, CC6.2, CC6.3).
//!
//! MFA is enforced by the identity provider, not by Kubernetes. What the cluster can show is that privileged
//! rights are reachable only through identity-provider groups declared as MFA-enforced, through declared
//! automation service accounts, or through declared break-glass subjects (reported, never silently allowed).

use k8s_openapi::api::rbac::v1::{RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::apiserver_flags::visible_api_servers;
use super::rbac_privilege::role_ref_reasons;
use super::{CheckReport, Finding, contains};
use crate::api::MfaAccessCheck;
use crate::view::{ClusterSnapshot, ResourceKind, ResourceRef, ScopeMatcher};

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
        let sa_namespace = subject.namespace.as_deref().or(binding_namespace);
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
        "{} {} grants {}",
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
                    "Declared break-glass {} {} holds privileged access: {grant}. Review every use of it.",
                    subject.kind, subject.name
                ),
            )),
            SubjectVerdict::Violation { rule, why } => report.findings.push(Finding::fail(
                resource.clone(),
                rule,
                format!(
                    "{grant} {why}. Bind an MFA-enforced identity-provider group instead, or declare the subject as break-glass."
                ),
            )),
        }
    }
}

fn legacy_tokens(view: &ClusterSnapshot, scope: &ScopeMatcher, report: &mut CheckReport) {
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
            Some(v) if v.eq_ignore_ascii_case("false") => {}
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
