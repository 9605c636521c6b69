//! The pod templates of workloads: what pod security, image provenance, service-account and confidentiality checks
//! read, whatever controller runs the pods.
//!
//! A pod created by a workload controller is judged through its workload (the Deployment, not each replica), so pods
//! such a workload owns and Jobs owned by a CronJob are skipped: the finding lands on the object a team edits. A pod
//! whose controller is anything else (a ReplicaSet created by hand, a ReplicationController, an operator's custom
//! kind, a node's static pod) is judged itself: no pod-template check reads those owners, and skipping their pods
//! would leave running containers that no control ever judged.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::stored::{Container, PodSpec, PodTemplateSpec, TemplateMeta};
use super::{ClusterSnapshot, ResourceKind, ResourceRef};
use crate::api::WorkloadKind;

/// Every workload kind that runs pods, bare pods included: the default of pod-template checks.
pub const ALL_POD_WORKLOADS: &[WorkloadKind] = &[
    WorkloadKind::Deployment,
    WorkloadKind::StatefulSet,
    WorkloadKind::DaemonSet,
    WorkloadKind::CronJob,
    WorkloadKind::Job,
    WorkloadKind::Pod,
];

/// One workload's pod template.
#[derive(Clone, Debug)]
pub struct PodTemplate<'a> {
    /// The workload's apiVersion and kind; with `meta`, what [`PodTemplate::resource`] names.
    pub type_: (&'static str, &'static str),
    /// The workload's metadata (scope, annotations).
    pub meta: &'a ObjectMeta,
    /// The template's own metadata (pod labels, annotations). None for a bare pod, whose own metadata is `meta`.
    pub template_meta: Option<&'a TemplateMeta>,
    /// The pod spec, as the stores keep it ([`super::stored`]).
    pub spec: &'a PodSpec,
}

impl PodTemplate<'_> {
    /// The workload (or bare pod) the template belongs to. Built on demand: most templates pass, and a reference
    /// costs five allocations that a check needs only for a finding.
    pub fn resource(&self) -> ResourceRef {
        let (api_version, kind) = self.type_;
        ResourceRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: self.meta.namespace.clone(),
            name: self.meta.name.clone().unwrap_or_default(),
            uid: self.meta.uid.clone(),
        }
    }

    /// Init and regular containers, as (container kind word, container). Checks that judge ephemeral containers
    /// too use [`crate::checks::workload_templates::all_containers`].
    pub fn containers(&self) -> Vec<(&'static str, &Container)> {
        let mut all: Vec<(&'static str, &Container)> = Vec::new();
        for c in self.spec.init_containers.iter().flatten() {
            all.push(("init container", c));
        }
        for c in &self.spec.containers {
            all.push(("container", c));
        }
        all
    }

    /// An annotation of the workload or, failing that, of its pod template.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        let own = self.meta.annotations.as_ref().and_then(|a| a.get(key));
        let template = || {
            self.template_meta
                .and_then(|m| m.annotations.as_ref()?.get(key))
        };
        own.or_else(template).map(String::as_str)
    }
}

/// The snapshot kind that holds a workload kind.
pub fn resource_kind(kind: WorkloadKind) -> ResourceKind {
    match kind {
        WorkloadKind::Deployment => ResourceKind::Deployment,
        WorkloadKind::StatefulSet => ResourceKind::StatefulSet,
        WorkloadKind::DaemonSet => ResourceKind::DaemonSet,
        WorkloadKind::CronJob => ResourceKind::CronJob,
        WorkloadKind::Job => ResourceKind::Job,
        WorkloadKind::Pod => ResourceKind::Pod,
    }
}

/// The snapshot kinds that hold `kinds`, in order.
pub fn resource_kinds(kinds: Vec<WorkloadKind>) -> Vec<ResourceKind> {
    kinds.into_iter().map(resource_kind).collect()
}

/// Whether a Job belongs to a CronJob, whose template [`pod_templates`] judges in its stead.
pub(crate) fn judged_through_cron_job(job: &ObjectMeta) -> bool {
    job.owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.kind == "CronJob")
}

/// Whether a pod belongs to a workload whose template [`pod_templates`] judges. A Deployment's pods are owned by a
/// ReplicaSet the Deployment controller names `<deployment>-<pod-template-hash>` and stamps with that label; a
/// ReplicaSet without it was made by hand (or by another controller, such as Argo Rollouts, that uses its own label),
/// and no check reads ReplicaSets, so its pods are judged themselves. Decided from the pod alone, so judging one pod
/// never needs another object.
pub(crate) fn judged_through_workload(pod: &ObjectMeta) -> bool {
    let hash = pod
        .labels
        .as_ref()
        .and_then(|l| l.get("pod-template-hash"))
        .filter(|h| !h.is_empty());
    pod.owner_references
        .iter()
        .flatten()
        .filter(|o| o.controller == Some(true))
        .any(|o| match (o.api_version.as_str(), o.kind.as_str()) {
            ("apps/v1", "StatefulSet" | "DaemonSet") | ("batch/v1", "Job") => true,
            ("apps/v1", "ReplicaSet") => hash.is_some_and(|h| {
                o.name
                    .strip_suffix(h.as_str())
                    .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('-'))
            }),
            _ => false,
        })
}

fn template<'a, K: k8s_openapi::Resource + kube::Resource>(
    obj: &'a K,
    template: Option<&'a PodTemplateSpec>,
) -> Option<PodTemplate<'a>> {
    let t = template?;
    Some(PodTemplate {
        type_: (K::API_VERSION, K::KIND),
        meta: kube::Resource::meta(obj),
        template_meta: t.metadata.as_ref(),
        spec: t.spec.as_ref()?,
    })
}

/// The pod templates of `kinds` in `view`, in snapshot order. Kinds the view lacks contribute nothing: callers
/// report them `Unknown` with [`crate::checks::CheckReport::unknown_if_missing`].
pub fn pod_templates<'a>(
    view: &'a ClusterSnapshot,
    kinds: &[WorkloadKind],
) -> Vec<PodTemplate<'a>> {
    let mut out = Vec::new();
    for kind in kinds {
        match kind {
            WorkloadKind::Deployment => out.extend(
                view.deployments
                    .iter()
                    .filter_map(|d| template(d.as_ref(), d.spec.as_ref().map(|s| &s.template))),
            ),
            WorkloadKind::StatefulSet => out.extend(
                view.stateful_sets
                    .iter()
                    .filter_map(|d| template(d.as_ref(), d.spec.as_ref().map(|s| &s.template))),
            ),
            WorkloadKind::DaemonSet => out.extend(
                view.daemon_sets
                    .iter()
                    .filter_map(|d| template(d.as_ref(), d.spec.as_ref().map(|s| &s.template))),
            ),
            WorkloadKind::CronJob => out.extend(view.cron_jobs.iter().filter_map(|c| {
                template(
                    c.as_ref(),
                    c.spec
                        .as_ref()
                        .and_then(|s| s.job_template.spec.as_ref())
                        .map(|s| &s.template),
                )
            })),
            WorkloadKind::Job => out.extend(
                view.jobs
                    .iter()
                    .filter(|j| !judged_through_cron_job(&j.metadata))
                    .filter_map(|j| template(j.as_ref(), j.spec.as_ref().map(|s| &s.template))),
            ),
            WorkloadKind::Pod => out.extend(
                view.pods
                    .iter()
                    .filter(|p| !judged_through_workload(&p.metadata))
                    .filter_map(|p| {
                        Some(PodTemplate {
                            type_: ("v1", "Pod"),
                            meta: &p.metadata,
                            template_meta: None,
                            spec: p.spec.as_ref()?,
                        })
                    }),
            ),
        }
    }
    out
}

/// Labels of an object's metadata, empty when unset.
pub fn labels(meta: &ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

/// Labels of a pod template, empty when unset, as a label selector reads them.
pub fn template_labels(meta: &TemplateMeta) -> BTreeMap<String, String> {
    meta.labels.as_ref().map(BTreeMap::from).unwrap_or_default()
}

/// Test metadata: `namespace/name` with a controller owner `(apiVersion, kind, name)` and labels.
#[cfg(test)]
pub(crate) fn controlled_meta(
    namespace: &str,
    name: &str,
    owner: Option<(&str, &str, &str)>,
    labels: &[(&str, &str)],
) -> ObjectMeta {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        labels: Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        owner_references: owner.map(|(api_version, kind, name)| {
            vec![OwnerReference {
                api_version: api_version.into(),
                kind: kind.into(),
                name: name.into(),
                controller: Some(true),
                ..Default::default()
            }]
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    use super::*;
    use crate::view::stored::{Deployment, Job, Pod, ReplicatedSpec};

    fn spec() -> PodSpec {
        PodSpec {
            containers: vec![Container {
                name: "app".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn meta(name: &str, owner: Option<&str>) -> ObjectMeta {
        owned(name, owner.map(|k| ("batch/v1", k, "owner")), &[])
    }

    /// Metadata in namespace `web` with a controller owner `(apiVersion, kind, name)` and labels.
    fn owned(name: &str, owner: Option<(&str, &str, &str)>, labels: &[(&str, &str)]) -> ObjectMeta {
        controlled_meta("web", name, owner, labels)
    }

    fn pod(meta: ObjectMeta) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: meta,
            spec: Some(spec()),
        })
    }

    #[test]
    fn workloads_are_judged_once_through_their_controller() {
        let view = ClusterSnapshot {
            deployments: vec![Arc::new(Deployment {
                metadata: meta("api", None),
                spec: Some(ReplicatedSpec {
                    template: PodTemplateSpec {
                        metadata: None,
                        spec: Some(spec()),
                    },
                    ..Default::default()
                }),
            })],
            pods: vec![
                pod(owned(
                    "api-7d9f8-x2x",
                    Some(("apps/v1", "ReplicaSet", "api-7d9f8")),
                    &[("pod-template-hash", "7d9f8")],
                )),
                pod(owned("db-0", Some(("apps/v1", "StatefulSet", "db")), &[])),
                pod(owned(
                    "agent-x",
                    Some(("apps/v1", "DaemonSet", "agent")),
                    &[],
                )),
                pod(owned("once-x", Some(("batch/v1", "Job", "once")), &[])),
                pod(meta("debug", None)),
                // A pod without spec (malformed dump) is skipped, not a panic.
                Arc::new(Pod {
                    metadata: meta("broken", None),
                    ..Default::default()
                }),
            ],
            jobs: vec![Arc::new(Job {
                metadata: meta("nightly-1", Some("CronJob")),
                ..Default::default()
            })],
            ..Default::default()
        };
        let names: Vec<String> = pod_templates(&view, ALL_POD_WORKLOADS)
            .iter()
            .map(|t| t.resource().display_name())
            .collect();
        assert_eq!(names, ["Deployment web/api", "Pod web/debug"]);
    }

    #[test]
    fn pods_of_owners_no_check_reads_are_judged_themselves() {
        let view = ClusterSnapshot {
            pods: vec![
                // A ReplicaSet created by hand: no pod-template-hash label.
                pod(owned("rs-x", Some(("apps/v1", "ReplicaSet", "rs")), &[])),
                // The label does not match the owner's name: not the Deployment controller's naming.
                pod(owned(
                    "other-x",
                    Some(("apps/v1", "ReplicaSet", "other")),
                    &[("pod-template-hash", "abc")],
                )),
                // A name that is only the hash, or the hash without the dash, is not `<deployment>-<hash>`.
                pod(owned(
                    "bare-hash",
                    Some(("apps/v1", "ReplicaSet", "-abc")),
                    &[("pod-template-hash", "abc")],
                )),
                pod(owned(
                    "glued",
                    Some(("apps/v1", "ReplicaSet", "apiabc")),
                    &[("pod-template-hash", "abc")],
                )),
                // An empty label proves nothing.
                pod(owned(
                    "empty",
                    Some(("apps/v1", "ReplicaSet", "api-")),
                    &[("pod-template-hash", "")],
                )),
                pod(owned(
                    "rc-x",
                    Some(("v1", "ReplicationController", "rc")),
                    &[],
                )),
                // Argo Rollouts' ReplicaSets carry their own hash label.
                pod(owned(
                    "canary-x",
                    Some(("argoproj.io/v1alpha1", "Rollout", "canary")),
                    &[("rollouts-pod-template-hash", "abc")],
                )),
                pod(owned("etcd-node-1", Some(("v1", "Node", "node-1")), &[])),
                // A kind of the same name in another group is not the workload the checks judge.
                pod(owned(
                    "fake-x",
                    Some(("example.com/v1", "StatefulSet", "fake")),
                    &[],
                )),
                // An owner that is not the controller does not make the pod someone else's.
                pod(ObjectMeta {
                    owner_references: Some(vec![OwnerReference {
                        api_version: "apps/v1".into(),
                        kind: "StatefulSet".into(),
                        name: "db".into(),
                        controller: Some(false),
                        ..Default::default()
                    }]),
                    ..owned("adopted", None, &[])
                }),
            ],
            ..Default::default()
        };
        let names: Vec<String> = pod_templates(&view, &[WorkloadKind::Pod])
            .iter()
            .map(|t| t.resource().name)
            .collect();
        assert_eq!(
            names,
            [
                "rs-x",
                "other-x",
                "bare-hash",
                "glued",
                "empty",
                "rc-x",
                "canary-x",
                "etcd-node-1",
                "fake-x",
                "adopted"
            ]
        );
    }
}
