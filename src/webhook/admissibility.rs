//! Which checks can decide admission, and on which kinds: each check declares it ([`Check::admissibility`]), read
//! through [`checks::registered`]; this module narrows it to the kinds the webhook can admit ([`target`]).
//!
//! A check can decide admission when its verdict on one object depends on that object alone (and on its Namespace,
//! which the admission snapshot carries for `namespaceSelector` scopes). A check that needs other objects (bindings
//! and roles, a collector DaemonSet, control-plane pods) stays audit-only: at admission it would see a partial
//! cluster and decide wrongly.
//!
//! [`Check::admissibility`]: crate::checks::Check::admissibility

use crate::checks::{self, Admissibility};
use crate::engine::validation::ValidatedControl;
use crate::view::ResourceKind;

/// What `control`'s check can do at admission: what the check declares, narrowed to the kinds that have a
/// [`target`] (for a new object kind, add one arm to [`target`] and to `super::admitted::insert`).
pub fn admissibility(control: &ValidatedControl<'_>) -> Admissibility {
    match checks::registered(control.kind).admissibility(&control.spec.check) {
        Admissibility::PerObject(kinds) if kinds.iter().any(|k| target(*k).is_none()) => {
            Admissibility::per_object(kinds.into_iter().filter(|k| target(*k).is_some()).collect())
        }
        declared => declared,
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
        | ResourceKind::ControlException
        | ResourceKind::AccessReview
        | ResourceKind::AccessReviewDecision => None,
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
    fn cel_decides_per_object_on_kinds_with_a_typed_store_whole_or_trimmed() {
        let s: ControlSpec = serde_json::from_value(serde_json::json!({
            "criteria": ["CC7.1"], "category": "Security", "title": "t", "check": {"cel": {
                "match": {"kinds": [
                    {"apiVersion": "apps/v1", "kind": "Deployment"},
                    {"apiVersion": "batch/v1", "kind": "CronJob"},
                    {"apiVersion": "v1", "kind": "Pod"},
                    {"apiVersion": "v1", "kind": "Service"},
                    {"apiVersion": "v1", "kind": "ConfigMap"},
                ]},
                "validations": [{"expression": "true"}],
            }},
        }))
        .unwrap();
        // Workloads and Pods are trimmed in their typed stores and admitted whole (see `admitted::whole_object`);
        // a ConfigMap has no typed store and is judged in the audit only.
        assert_eq!(
            admissibility(&validate(&s).unwrap()),
            Admissibility::PerObject(vec![
                ResourceKind::Deployment,
                ResourceKind::CronJob,
                ResourceKind::Pod,
                ResourceKind::Service,
            ])
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
