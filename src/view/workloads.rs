//! The pod templates of workloads: what pod security, image provenance, service-account and confidentiality checks
//! read, whatever controller runs the pods.
//!
//! A pod created by a workload controller is judged through its workload (the Deployment, not each replica), so pods
//! with a controller owner and Jobs owned by a CronJob are skipped: the finding lands on the object a team edits.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

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
    /// The template's own metadata (pod labels, annotations); the pod's metadata for a bare pod.
    pub template_meta: Option<&'a ObjectMeta>,
    /// The pod spec.
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

    /// Init and regular containers, as (container kind word, container). Ephemeral containers are not `Container`s;
    /// checks that judge them too use [`crate::checks::workload_templates::all_containers`].
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
        fn get<'m>(m: &'m ObjectMeta, key: &str) -> Option<&'m str> {
            m.annotations
                .as_ref()
                .and_then(|a| a.get(key))
                .map(String::as_str)
        }
        get(self.meta, key).or_else(|| self.template_meta.and_then(|m| get(m, key)))
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

fn owned_by(meta: &ObjectMeta, kind: Option<&str>) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && kind.is_none_or(|k| o.kind == k))
}

fn template<'a, K: k8s_openapi::Resource + kube::Resource>(
    obj: &'a K,
    template: Option<&'a k8s_openapi::api::core::v1::PodTemplateSpec>,
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
                    .filter(|j| !owned_by(&j.metadata, Some("CronJob")))
                    .filter_map(|j| template(j.as_ref(), j.spec.as_ref().map(|s| &s.template))),
            ),
            WorkloadKind::Pod => out.extend(
                view.pods
                    .iter()
                    .filter(|p| !owned_by(&p.metadata, None))
                    .filter_map(|p| {
                        Some(PodTemplate {
                            type_: ("v1", "Pod"),
                            meta: &p.metadata,
                            template_meta: Some(&p.metadata),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    use super::*;

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
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("web".into()),
            owner_references: owner.map(|k| {
                vec![OwnerReference {
                    kind: k.into(),
                    name: "owner".into(),
                    controller: Some(true),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }
    }

    #[test]
    fn workloads_are_judged_once_through_their_controller() {
        let view = ClusterSnapshot {
            deployments: vec![Arc::new(Deployment {
                metadata: meta("api", None),
                spec: Some(DeploymentSpec {
                    template: PodTemplateSpec {
                        metadata: None,
                        spec: Some(spec()),
                    },
                    ..Default::default()
                }),
                ..Default::default()
            })],
            pods: vec![
                Arc::new(Pod {
                    metadata: meta("api-123", Some("ReplicaSet")),
                    spec: Some(spec()),
                    ..Default::default()
                }),
                Arc::new(Pod {
                    metadata: meta("debug", None),
                    spec: Some(spec()),
                    ..Default::default()
                }),
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
}
