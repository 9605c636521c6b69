//! What the operator keeps of each object it reads, in one place: the live watches apply it before an object
//! enters a store, `soc2ctl scan` as it loads a manifest and the admission webhook to the object under review, so
//! the three judge the same shape and their results cannot drift.
//!
//! What goes, and why it changes no verdict:
//! - `kubectl.kubernetes.io/last-applied-configuration`: a second copy of the object as JSON, often its largest
//!   part; no check reads it, and CEL rules must read the object itself, not kubectl's record of it.
//! - `metadata.managedFields` of every kind change approval cannot judge: nothing reads them (CEL never saw
//!   them). Of the kinds it judges (workloads and Pods), each entry keeps what change approval reads (manager,
//!   operation, subresource, time) and loses `fieldsV1`, the tree of every field the manager owns: with
//!   server-side apply it is as large as the object.
//! - The spec of a Pod a workload controller runs (its workload's template is judged instead) and every Pod's
//!   status: no check reads them; CEL rules read Pods from a watch of their own (see [`Project for stored::Pod`]).
//!   Likewise the spec of a Job a CronJob runs (see [`Project for stored::Job`]).
//! - Of workloads and Pods, every field no check reads: the stores keep them in the compact types of
//!   [`super::stored`] (converted as they are read), and CEL rules read them from watches of their own.
//! - Secret values (`data`, `stringData`): never held at all (see [`ClusterSnapshot::redact_secret`]).

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;

use super::{ClusterSnapshot, stored};
use crate::api::{AccessReview, AccessReviewDecision, ControlException};

/// The annotation kubectl's client-side apply records the applied manifest in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Reduces an object to what the operator keeps of it (see the module documentation).
pub trait Project {
    /// Drops in place what is not kept.
    fn project(&mut self);
}

/// Removes the last-applied annotation.
pub fn drop_last_applied(meta: &mut ObjectMeta) {
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// Keeps of each managedFields entry what change approval reads: manager, operation, subresource and time. An
/// absent list stays absent (change approval reports that it cannot tell) and an empty one stays empty.
pub fn compact_managed_fields(meta: &mut ObjectMeta) {
    for entry in meta.managed_fields.iter_mut().flatten() {
        entry.fields_v1 = None;
        entry.fields_type = None;
        entry.api_version = None;
    }
}

/// For kinds change approval judges: the compact managedFields and no last-applied annotation.
fn project_judged<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    compact_managed_fields(meta);
    drop_last_applied(meta);
}

/// For every other kind: neither managedFields nor the last-applied annotation.
fn project_other<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    drop_last_applied(meta);
}

macro_rules! projected {
    ($how:ident: $($kind:ty),+) => {
        $(impl Project for $kind {
            fn project(&mut self) {
                $how(self)
            }
        })+
    };
}

projected!(project_judged: stored::Deployment, stored::StatefulSet, stored::DaemonSet, stored::CronJob);
projected!(project_other: Namespace, Node, Role, ClusterRole, RoleBinding, ClusterRoleBinding, Service,
    ServiceAccount, NetworkPolicy, Ingress, PodDisruptionBudget, ControlException, AccessReview,
    AccessReviewDecision);

/// A Pod keeps what change approval judges, and its spec only when something reads it: the pod templates of a
/// workload judge the pods its controller runs ([`super::workloads::judged_through_workload`]). The stored type
/// holds no status (no check reads a Pod's). Controls that read Pods whole (CEL) read them from a watch of their own
/// ([`super::Gvk::trimmed_kind`]).
impl Project for stored::Pod {
    fn project(&mut self) {
        project_judged(self);
        if super::workloads::judged_through_workload(&self.metadata) {
            self.spec = None;
        }
    }
}

/// A Job keeps what change approval and job health judge, and its spec (the pod template) only when something reads
/// it: a CronJob's template judges the Jobs it owns ([`super::workloads::judged_through_cron_job`]). CEL rules read
/// Jobs from a watch of their own ([`super::Gvk::trimmed_kind`]).
impl Project for stored::Job {
    fn project(&mut self) {
        project_judged(self);
        if super::workloads::judged_through_cron_job(&self.metadata) {
            self.spec = None;
        }
    }
}

/// kube-system's pods as the control-plane checks read them (the API server's flags are in their spec): whole but
/// for their status, which no check reads.
impl Project for Pod {
    fn project(&mut self) {
        project_judged(self);
        self.status = None;
    }
}

impl Project for Secret {
    fn project(&mut self) {
        *self = ClusterSnapshot::redact_secret(std::mem::take(self));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, Time};
    use serde_json::json;

    use super::*;

    fn entry(manager: &str, subresource: Option<&str>) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some("Apply".into()),
            subresource: subresource.map(str::to_string),
            time: Some(Time("2026-12-01T10:00:00Z".parse().expect("time"))),
            api_version: Some("apps/v1".into()),
            fields_type: Some("FieldsV1".into()),
            fields_v1: Some(FieldsV1(json!({ "f:spec": { "f:replicas": {} } }))),
        }
    }

    fn meta() -> ObjectMeta {
        ObjectMeta {
            name: Some("app".into()),
            annotations: Some(BTreeMap::from([
                (LAST_APPLIED.to_string(), "{\"big\":true}".to_string()),
                ("soc2.dev/change-ticket".to_string(), "CHG-1".to_string()),
            ])),
            labels: Some(BTreeMap::from([("app".to_string(), "app".to_string())])),
            managed_fields: Some(vec![
                entry("argocd-controller", None),
                entry("kube-controller-manager", Some("status")),
            ]),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn judged_kinds_keep_who_wrote_what_when_but_not_the_field_trees() {
        let mut d = stored::Deployment {
            metadata: meta(),
            ..stored::Deployment::default()
        };
        d.project();
        let entries = d.metadata.managed_fields.as_ref().expect("entries kept");
        assert_eq!(
            entries.len(),
            2,
            "status writes stay: change approval filters them itself"
        );
        for (e, (manager, subresource)) in entries.iter().zip([
            ("argocd-controller", None),
            ("kube-controller-manager", Some("status")),
        ]) {
            assert_eq!(e.manager.as_deref(), Some(manager));
            assert_eq!(e.subresource.as_deref(), subresource);
            assert_eq!(e.operation.as_deref(), Some("Apply"));
            assert!(e.time.is_some());
            assert!(e.fields_v1.is_none() && e.fields_type.is_none() && e.api_version.is_none());
        }
        let annotations = d.metadata.annotations.as_ref().expect("annotations");
        assert!(!annotations.contains_key(LAST_APPLIED));
        assert_eq!(
            annotations
                .get("soc2.dev/change-ticket")
                .map(String::as_str),
            Some("CHG-1")
        );
        assert_eq!(
            d.metadata.labels,
            meta().labels,
            "labels stay whole: selectors read them"
        );
    }

    #[test]
    fn absent_and_empty_managed_fields_stay_as_they_were() {
        let mut absent = stored::Pod::default();
        absent.project();
        assert_eq!(absent.metadata.managed_fields, None);
        let mut empty = stored::Pod {
            metadata: ObjectMeta {
                managed_fields: Some(vec![]),
                ..ObjectMeta::default()
            },
            ..stored::Pod::default()
        };
        empty.project();
        assert_eq!(empty.metadata.managed_fields, Some(vec![]));
    }

    /// A pod with a controller owner `(apiVersion, kind, name)`, labels, a spec and a status.
    fn pod(namespace: &str, owner: Option<(&str, &str, &str)>, labels: &[(&str, &str)]) -> Pod {
        use k8s_openapi::api::core::v1::{Container, PodSpec, PodStatus};
        let owned = crate::view::workloads::controlled_meta(namespace, "app-x", owner, labels);
        Pod {
            metadata: ObjectMeta {
                labels: owned.labels,
                owner_references: owned.owner_references,
                namespace: owned.namespace,
                ..meta()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    image: Some("registry.example/app:1".into()),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                ..PodStatus::default()
            }),
        }
    }

    #[test]
    fn pods_a_workload_runs_keep_their_metadata_only() {
        let hash = [("pod-template-hash", "7d9f")];
        for owner in [
            ("apps/v1", "ReplicaSet", "web-7d9f"),
            ("apps/v1", "StatefulSet", "db"),
            ("apps/v1", "DaemonSet", "agent"),
            ("batch/v1", "Job", "backup-1"),
        ] {
            let mut p = stored::Pod::from(pod("team-a", Some(owner), &hash));
            p.project();
            assert_eq!(p.spec, None, "{owner:?}: judged through its workload");
            assert_eq!(
                p.metadata.labels,
                pod("team-a", None, &hash).metadata.labels
            );
            let entries = p
                .metadata
                .managed_fields
                .expect("change approval reads them");
            assert!(entries.iter().all(|e| e.fields_v1.is_none()));
            assert!(
                p.metadata
                    .annotations
                    .expect("annotations")
                    .contains_key("soc2.dev/change-ticket")
            );
        }
    }

    #[test]
    fn pods_judged_themselves_keep_their_spec() {
        let judged_themselves = [
            pod("team-a", None, &[]),
            // A ReplicaSet made by hand (its pods carry no matching pod-template-hash).
            pod("team-a", Some(("apps/v1", "ReplicaSet", "manual")), &[]),
            pod("team-a", Some(("example.com/v1", "Workflow", "w")), &[]),
            // The API server's mirror pod.
            pod("kube-system", Some(("v1", "Node", "cp-1")), &[]),
        ];
        for p in judged_themselves {
            let spec = p.spec.clone().map(stored::PodSpec::from);
            let mut kept = stored::Pod::from(p);
            kept.project();
            assert_eq!(kept.spec, spec, "{:?}", kept.metadata.owner_references);
        }
    }

    #[test]
    fn jobs_a_cron_job_runs_keep_no_spec_and_other_jobs_keep_theirs() {
        let job = |owner: Option<(&str, &str, &str)>| -> stored::Job {
            let owned = crate::view::workloads::controlled_meta("team-a", "backup-1", owner, &[]);
            let mut job: stored::Job = serde_json::from_value(json!({
                "metadata": {"name": "backup-1", "namespace": "team-a",
                             "ownerReferences": owned.owner_references},
                "spec": {"template": {"metadata": {"labels": {"app": "backup"}},
                         "spec": {"containers": [{"name": "backup", "image": "backup:1"}]}}},
                "status": {"failed": 1},
            }))
            .expect("job");
            job.metadata.managed_fields = meta().managed_fields;
            job
        };
        let mut owned = job(Some(("batch/v1", "CronJob", "backup")));
        owned.project();
        assert_eq!(owned.spec, None, "judged through its CronJob");
        assert!(owned.status.is_some(), "job health reads it");
        assert!(
            owned
                .metadata
                .managed_fields
                .iter()
                .flatten()
                .all(|e| e.fields_v1.is_none() && e.manager.is_some())
        );
        for judged_itself in [None, Some(("example.com/v1", "Workflow", "w"))] {
            let listed = job(judged_itself);
            let mut kept = listed.clone();
            kept.project();
            assert_eq!(kept.spec, listed.spec, "{judged_itself:?}");
        }
    }

    #[test]
    fn kube_system_pods_keep_their_spec_for_the_control_plane_checks() {
        // The control-plane checks read the API server's flags from kube-system's own store, whatever runs the pod;
        // the every-namespace store judges a DaemonSet's pod through its DaemonSet.
        let agent = pod(
            "kube-system",
            Some(("apps/v1", "DaemonSet", "kube-apiserver")),
            &[],
        );
        let mut control_plane = agent.clone();
        control_plane.project();
        assert_eq!(control_plane.spec, agent.spec);
        assert_eq!(control_plane.status, None, "no check reads a Pod's status");
        assert!(
            control_plane
                .metadata
                .managed_fields
                .iter()
                .flatten()
                .all(|e| e.fields_v1.is_none())
        );
        let mut kept = stored::Pod::from(agent);
        kept.project();
        assert_eq!(kept.spec, None);
    }

    #[test]
    fn other_kinds_lose_managed_fields_and_the_last_applied_copy() {
        let mut policy = NetworkPolicy {
            metadata: meta(),
            ..NetworkPolicy::default()
        };
        policy.project();
        assert_eq!(policy.metadata.managed_fields, None);
        assert!(
            !policy
                .metadata
                .annotations
                .as_ref()
                .expect("annotations")
                .contains_key(LAST_APPLIED)
        );
    }

    #[test]
    fn secrets_keep_no_value() {
        let mut secret = Secret {
            metadata: meta(),
            data: Some(BTreeMap::from([(
                "token".to_string(),
                k8s_openapi::ByteString(b"s3cr3t".to_vec()),
            )])),
            string_data: Some(BTreeMap::from([(
                "password".to_string(),
                "s3cr3t".to_string(),
            )])),
            type_: Some("kubernetes.io/service-account-token".into()),
            ..Secret::default()
        };
        secret.project();
        assert!(secret.data.is_none() && secret.string_data.is_none());
        assert!(
            !serde_json::to_string(&secret)
                .expect("json")
                .contains("s3cr3t")
        );
        assert_eq!(
            secret.type_.as_deref(),
            Some("kubernetes.io/service-account-token")
        );
    }
}
