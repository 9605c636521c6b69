//! Which checks can decide admission, and on which kinds: the single table to extend when a check is added.
//!
//! A check can decide admission when its verdict on one object depends on that object alone (and on its Namespace,
//! which the admission snapshot carries for `namespaceSelector` scopes). A check that needs other objects (bindings
//! and roles, a collector DaemonSet, control-plane pods) stays audit-only: at admission it would see a partial
//! cluster and decide wrongly.

use crate::api::CheckKind;
use crate::checks;
use crate::engine::validation::ValidatedControl;
use crate::view::ResourceKind;

/// What a control's check can do at admission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admissibility {
    /// The check decides on one object of these kinds (never empty).
    PerObject(Vec<ResourceKind>),
    /// The check needs more than one object; the reason is shown in the control's `AdmissionEnforced` condition.
    AuditOnly(&'static str),
}

/// The per-check table. Add one arm per new check kind (and, for a new object kind, one arm to [`target`] and to
/// `super::admitted::insert`).
pub fn admissibility(control: &ValidatedControl<'_>) -> Admissibility {
    match control.kind {
        CheckKind::ChangeApproval => {
            Admissibility::PerObject(checks::change_approval::judged_kinds(
                &control
                    .spec
                    .check
                    .change_approval
                    .clone()
                    .unwrap_or_default(),
            ))
        }
        CheckKind::PodSecurity => {
            let p = control.spec.check.pod_security.clone().unwrap_or_default();
            if p.workloads == Some(false) {
                Admissibility::AuditOnly(
                    "this podSecurity control judges only Namespace labels, which are audited continuously",
                )
            } else {
                workloads(p.effective_kinds())
            }
        }
        CheckKind::ImageProvenance => workloads(
            control
                .spec
                .check
                .image_provenance
                .clone()
                .unwrap_or_default()
                .effective_kinds(),
        ),
        CheckKind::Confidentiality => {
            let p = control
                .spec
                .check
                .confidentiality
                .clone()
                .unwrap_or_default();
            if p.network_isolation.unwrap_or(true) {
                Admissibility::AuditOnly(
                    "the confidentiality check's network-isolation part needs the namespace's NetworkPolicies, so one object at admission cannot decide it; set networkIsolation: false in a separate control to enforce the environment-literal rule",
                )
            } else {
                workloads(p.effective_kinds())
            }
        }
        CheckKind::Exposure => per_object(checks::exposure::judged_kinds(
            &control.spec.check.exposure.clone().unwrap_or_default(),
        )),
        CheckKind::EncryptionInTransit => Admissibility::PerObject(vec![ResourceKind::Ingress]),
        CheckKind::Cel => per_object(
            control
                .spec
                .check
                .cel
                .as_ref()
                .map(|c| {
                    checks::cel::gvks(&c.match_.kinds)
                        .iter()
                        .filter_map(crate::view::Gvk::typed_kind)
                        .filter(|k| target(*k).is_some())
                        .collect()
                })
                .unwrap_or_default(),
        ),
        CheckKind::Backups => Admissibility::AuditOnly(
            "the backups check judges Velero Backups and Restores that Velero itself writes after the fact, so no object at admission can decide it",
        ),
        CheckKind::Availability => Admissibility::AuditOnly(
            "the availability check needs the workload's PodDisruptionBudget, so one object at admission cannot decide it",
        ),
        CheckKind::ServiceAccountHygiene => Admissibility::AuditOnly(
            "the serviceAccountHygiene check needs the workload's ServiceAccount, so one object at admission cannot decide it",
        ),
        CheckKind::NetworkIsolation => Admissibility::AuditOnly(
            "the networkIsolation check judges each namespace's set of NetworkPolicies, so one object at admission cannot decide it",
        ),
        CheckKind::RbacLeastPrivilege => Admissibility::AuditOnly(
            "the rbacLeastPrivilege check needs bindings and the roles they reference together, so one object at admission cannot decide it",
        ),
        CheckKind::EncryptionAtRest => Admissibility::AuditOnly(
            "the encryptionAtRest check reads the control plane's configuration, which is not admitted object by object",
        ),
        CheckKind::JobHealth => Admissibility::AuditOnly(
            "the jobHealth check judges how jobs ran over time, which admission cannot see",
        ),
        CheckKind::RequiredResources => Admissibility::AuditOnly(
            "the requiredResources check judges whether objects exist, which a single create or update cannot decide",
        ),
        CheckKind::MfaAccess => Admissibility::AuditOnly(
            "the mfaAccess check needs bindings, roles and token Secrets together, so one object at admission cannot decide it",
        ),
        CheckKind::Logging => Admissibility::AuditOnly(
            "the logging check needs the control plane, nodes and the log collector together, so one object at admission cannot decide it",
        ),
    }
}

fn workloads(kinds: Vec<crate::api::WorkloadKind>) -> Admissibility {
    per_object(
        kinds
            .into_iter()
            .map(crate::view::workloads::resource_kind)
            .collect(),
    )
}

/// Per object on `kinds`, or audit-only when the parameters leave no admitted kind.
fn per_object(mut kinds: Vec<ResourceKind>) -> Admissibility {
    kinds.sort();
    kinds.dedup();
    if kinds.is_empty() {
        Admissibility::AuditOnly("the check's parameters name no kind that admission can decide on")
    } else {
        Admissibility::PerObject(kinds)
    }
}

/// The API coordinates of a kind the webhook can admit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// API group (`""` for core).
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Plural resource name.
    pub resource: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// True for namespaced kinds.
    pub namespaced: bool,
}

/// The coordinates of `kind` when the admission snapshot can carry an admitted object of it.
pub fn target(kind: ResourceKind) -> Option<Target> {
    let t = |group, version, kind| {
        Some(Target {
            group,
            version,
            resource: kind_plural(kind),
            kind: kind_name(kind),
            namespaced: true,
        })
    };
    fn kind_plural(k: ResourceKind) -> &'static str {
        k.plural()
    }
    fn kind_name(k: ResourceKind) -> &'static str {
        match k {
            ResourceKind::Deployment => "Deployment",
            ResourceKind::StatefulSet => "StatefulSet",
            ResourceKind::DaemonSet => "DaemonSet",
            ResourceKind::CronJob => "CronJob",
            ResourceKind::Job => "Job",
            ResourceKind::Pod => "Pod",
            ResourceKind::Service => "Service",
            ResourceKind::Ingress => "Ingress",
            _ => "",
        }
    }
    match kind {
        ResourceKind::Deployment | ResourceKind::StatefulSet | ResourceKind::DaemonSet => {
            t("apps", "v1", kind)
        }
        ResourceKind::CronJob | ResourceKind::Job => t("batch", "v1", kind),
        ResourceKind::Pod | ResourceKind::Service => t("", "v1", kind),
        ResourceKind::Ingress => t("networking.k8s.io", "v1", kind),
        // Cluster-wide or read for context only: never admitted one by one.
        ResourceKind::Namespace
        | ResourceKind::Node
        | ResourceKind::ControlPlanePod
        | ResourceKind::ServiceAccountTokenSecret
        | ResourceKind::Role
        | ResourceKind::ClusterRole
        | ResourceKind::RoleBinding
        | ResourceKind::ClusterRoleBinding
        | ResourceKind::ServiceAccount
        | ResourceKind::NetworkPolicy
        | ResourceKind::PodDisruptionBudget
        | ResourceKind::ControlException => None,
    }
}

/// The admitted kind for an AdmissionReview's `kind` (group, version, kind), if the webhook handles it.
pub fn kind_of(group: &str, version: &str, kind: &str) -> Option<ResourceKind> {
    [
        ResourceKind::Deployment,
        ResourceKind::StatefulSet,
        ResourceKind::DaemonSet,
        ResourceKind::CronJob,
        ResourceKind::Job,
        ResourceKind::Pod,
        ResourceKind::Service,
        ResourceKind::Ingress,
    ]
    .into_iter()
    .find(|k| {
        target(*k).is_some_and(|t| t.group == group && t.version == version && t.kind == kind)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ChangeApprovalCheck, Check, ControlSpec, WorkloadKind};
    use crate::engine::validation::validate;

    fn spec(check: Check) -> ControlSpec {
        serde_json::from_value(serde_json::json!({
            "criteria": ["CC8.1"], "category": "Security", "title": "t", "check": check,
        }))
        .unwrap()
    }

    #[test]
    fn change_approval_decides_per_object_on_its_kinds() {
        let s = spec(Check {
            change_approval: Some(ChangeApprovalCheck {
                kinds: Some(vec![WorkloadKind::Deployment, WorkloadKind::Job]),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(
            admissibility(&validate(&s).unwrap()),
            Admissibility::PerObject(vec![ResourceKind::Deployment, ResourceKind::Job])
        );
    }

    #[test]
    fn whole_cluster_checks_are_audit_only() {
        for check in [
            Check {
                mfa_access: Some(Default::default()),
                ..Default::default()
            },
            Check {
                logging: Some(Default::default()),
                ..Default::default()
            },
        ] {
            let s = spec(check);
            assert!(matches!(
                admissibility(&validate(&s).unwrap()),
                Admissibility::AuditOnly(_)
            ));
        }
    }

    #[test]
    fn every_per_object_kind_has_a_target_and_round_trips() {
        for kind in [
            WorkloadKind::Deployment,
            WorkloadKind::StatefulSet,
            WorkloadKind::DaemonSet,
            WorkloadKind::CronJob,
            WorkloadKind::Job,
            WorkloadKind::Pod,
        ] {
            let k = checks::change_approval::resource_kind(kind);
            let t = target(k).expect("admissible kind has coordinates");
            assert_eq!(kind_of(t.group, t.version, t.kind), Some(k));
        }
        for k in [ResourceKind::Service, ResourceKind::Ingress] {
            let t = target(k).expect("admissible kind has coordinates");
            assert_eq!(kind_of(t.group, t.version, t.kind), Some(k));
        }
        assert_eq!(target(ResourceKind::Namespace), None);
        assert_eq!(kind_of("", "v1", "Secret"), None);
    }
}
