//! What the stores keep of the kinds that carry a pod spec (Deployments, StatefulSets, DaemonSets, CronJobs, Jobs
//! and Pods): the fields the checks read, in types that mirror k8s-openapi's names and nesting, and nothing else.
//!
//! k8s-openapi's types hold every optional sub-object inline, so a `Container` takes 2,120 bytes and a `Volume`
//! 3,208 even when nearly empty, and a Deployment's `PodSpec` sits inside it whether set or not. The types here
//! keep only what a check reads, and box what is large and often absent (security contexts, affinity, a secret
//! reference in an env var). A check reads them exactly as it read k8s-openapi's types (same field names, same
//! field types or boxes of them, or a [`SortedMap`] in place of a small map, with the map's lookups), so a field no
//! check reads cannot be read by mistake: it does not exist here, and reading it does not compile. Each `From` conversion moves the fields it keeps unchanged.
//!
//! The stores convert as they read (each type deserializes as its k8s-openapi counterpart, then converts), and so
//! do `soc2ctl scan` and the admission webhook: all three judge the same shape. CEL rules may read any field, so
//! these kinds are served to them whole from watches of their own ([`super::Gvk::trimmed_kind`]).
//!
//! What is not kept, by kind: every status but a DaemonSet's (a log collector's rollout), a CronJob's and a Job's
//! (job health reads them); of a workload's
//! spec, everything but its replicas (Deployments, StatefulSets), a CronJob's schedule, time zone, suspension and
//! starting deadline, and the pod template; of a pod template's metadata, everything but its labels and annotations
//! (see [`TemplateMeta`]); of a pod template or a Pod's spec, everything no check reads (see [`PodSpec`] and
//! [`Container`]).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::batch::v1 as batch;
use k8s_openapi::api::core::v1 as corev1;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What the checks read of a pod spec (a workload's pod template or a bare Pod).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// Regular containers.
    pub containers: Vec<Container>,
    /// Init containers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<Vec<Container>>,
    /// Ephemeral containers (`kubectl debug`), with the fields the checks read of them: name, image, pull policy,
    /// securityContext, env and envFrom.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_containers: Option<Vec<Container>>,
    /// Volumes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    /// `hostNetwork`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_network: Option<bool>,
    /// `hostPID`.
    #[serde(rename = "hostPID", skip_serializing_if = "Option::is_none")]
    pub host_pid: Option<bool>,
    /// `hostIPC`.
    #[serde(rename = "hostIPC", skip_serializing_if = "Option::is_none")]
    pub host_ipc: Option<bool>,
    /// `automountServiceAccountToken`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
    /// `serviceAccountName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// `serviceAccount`, the deprecated alias.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// The pod's securityContext.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<Box<corev1::PodSecurityContext>>,
    /// `os`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<corev1::PodOS>,
    /// Tolerations (where a collector DaemonSet can run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<corev1::Toleration>>,
    /// `nodeSelector`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Affinity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Box<corev1::Affinity>>,
}

/// What the checks read of a container.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// Name.
    pub name: String,
    /// Image reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `imagePullPolicy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// The container's securityContext.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<Box<corev1::SecurityContext>>,
    /// Environment variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    /// `envFrom`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_from: Option<Vec<corev1::EnvFromSource>>,
    /// Ports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<corev1::ContainerPort>>,
    /// Whether a readiness probe is set (nothing reads what it probes). Serialized as an empty probe.
    #[serde(
        rename = "readinessProbe",
        skip_serializing_if = "std::ops::Not::not",
        serialize_with = "empty_probe"
    )]
    pub has_readiness_probe: bool,
    /// Resource requests and limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

/// An environment variable.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// Name.
    pub name: String,
    /// Literal value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Where the value comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<Box<corev1::EnvVarSource>>,
}

/// A container's resource requests and limits.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// Limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<ResourceList>,
    /// Requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<ResourceList>,
}

/// Entries in key order, held as one slice: a container's few quantities, or a pod template's few labels, cost a
/// fraction of a `BTreeMap`'s node (about 540 bytes for string pairs, even for one entry). Values are kept as the
/// map kept them, so a reader gets what it got from the map; serializes as the map it replaces, in the same order.
#[derive(Clone, Debug, PartialEq)]
pub struct SortedMap<V>(Box<[(Box<str>, V)]>);

/// Quantities by resource name.
pub type ResourceList = SortedMap<Quantity>;

impl<V> SortedMap<V> {
    /// The value of `key`, when set.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }

    /// Whether `key` is set.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The entries, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<V> Default for SortedMap<V> {
    fn default() -> Self {
        SortedMap(Box::default())
    }
}

impl<V: Serialize> Serialize for SortedMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

/// A `BTreeMap` iterates in key order, which the lookups rely on.
impl<V> From<BTreeMap<String, V>> for SortedMap<V> {
    fn from(map: BTreeMap<String, V>) -> Self {
        SortedMap(
            map.into_iter()
                .map(|(k, v)| (k.into_boxed_str(), v))
                .collect(),
        )
    }
}

impl From<&SortedMap<String>> for BTreeMap<String, String> {
    fn from(map: &SortedMap<String>) -> Self {
        map.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }
}

fn empty_probe<S: Serializer>(_: &bool, serializer: S) -> Result<S::Ok, S::Error> {
    corev1::Probe::default().serialize(serializer)
}

/// What the checks read of a volume: its name and the sources they judge (a node's directory, Secrets).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Name.
    pub name: String,
    /// A hostPath source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_path: Option<Box<corev1::HostPathVolumeSource>>,
    /// A Secret source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<Box<corev1::SecretVolumeSource>>,
    /// A projected source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projected: Option<Box<corev1::ProjectedVolumeSource>>,
}

/// What the checks read of a pod template's metadata: the pods' labels and annotations (a PodDisruptionBudget's
/// selector, scope and approval annotations set on the template rather than the workload).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMeta {
    /// Annotations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<SortedMap<String>>,
    /// Labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<SortedMap<String>>,
}

/// A pod template.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateSpec {
    /// The template's metadata (pod labels and annotations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMeta>,
    /// The pod spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<PodSpec>,
}

/// A Deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<ReplicatedSpec>,
}

/// A StatefulSet.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSet {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<ReplicatedSpec>,
}

/// The spec of a Deployment or StatefulSet.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicatedSpec {
    /// Replicas (unset means one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// The pod template.
    pub template: PodTemplateSpec,
}

/// A DaemonSet.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSet {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<DaemonSetSpec>,
    /// Status (a log collector's rollout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<apps::DaemonSetStatus>,
}

/// The spec of a DaemonSet.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetSpec {
    /// The pod template.
    pub template: PodTemplateSpec,
}

/// A Job.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<JobSpec>,
    /// Status (job health reads its conditions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<batch::JobStatus>,
}

/// The spec of a Job, or of a CronJob's jobs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// The pod template.
    pub template: PodTemplateSpec,
}

/// A CronJob.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJob {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<CronJobSpec>,
    /// Status (job health reads when it last ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<batch::CronJobStatus>,
}

/// The spec of a CronJob.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJobSpec {
    /// The cron schedule.
    pub schedule: String,
    /// The IANA time zone of the schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Whether runs are suspended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// How late a run may start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_deadline_seconds: Option<i64>,
    /// The template of its Jobs.
    pub job_template: JobTemplateSpec,
}

/// The template of a CronJob's Jobs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTemplateSpec {
    /// The Jobs' spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<JobSpec>,
}

/// A Pod: its metadata and, when a check reads it, its spec (never its status).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    /// Metadata.
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<PodSpec>,
}

impl From<corev1::PodSpec> for PodSpec {
    fn from(s: corev1::PodSpec) -> Self {
        PodSpec {
            containers: converted(s.containers, Container::from),
            init_containers: s.init_containers.map(|l| converted(l, Container::from)),
            ephemeral_containers: s
                .ephemeral_containers
                .map(|l| converted(l, Container::from)),
            volumes: s.volumes.map(|l| converted(l, Volume::from)),
            host_network: s.host_network,
            host_pid: s.host_pid,
            host_ipc: s.host_ipc,
            automount_service_account_token: s.automount_service_account_token,
            service_account_name: s.service_account_name,
            service_account: s.service_account,
            security_context: s.security_context.map(Box::new),
            os: s.os,
            tolerations: s.tolerations,
            node_selector: s.node_selector,
            affinity: s.affinity.map(Box::new),
        }
    }
}

impl From<corev1::Container> for Container {
    fn from(c: corev1::Container) -> Self {
        Container {
            name: c.name,
            image: c.image,
            image_pull_policy: c.image_pull_policy,
            security_context: c.security_context.map(Box::new),
            env: c.env.map(env),
            env_from: c.env_from,
            ports: c.ports,
            has_readiness_probe: c.readiness_probe.is_some(),
            resources: c.resources.map(|r| Resources {
                limits: r.limits.map(ResourceList::from),
                requests: r.requests.map(ResourceList::from),
            }),
        }
    }
}

/// An ephemeral container keeps what the checks judge of it: name, image, pull policy, securityContext, env and
/// envFrom (no ports, probes or resources: the API server rejects them on ephemeral containers).
impl From<corev1::EphemeralContainer> for Container {
    fn from(e: corev1::EphemeralContainer) -> Self {
        Container {
            name: e.name,
            image: e.image,
            image_pull_policy: e.image_pull_policy,
            security_context: e.security_context.map(Box::new),
            env: e.env.map(env),
            env_from: e.env_from,
            ..Container::default()
        }
    }
}

fn env(list: Vec<corev1::EnvVar>) -> Vec<EnvVar> {
    converted(list, |e| EnvVar {
        name: e.name,
        value: e.value,
        value_from: e.value_from.map(Box::new),
    })
}

/// `list` converted element by element, in a buffer of its own size. Collecting a `Vec`'s own iterator reuses its
/// buffer, so without the shrink a compact list would keep the whole allocation of the k8s-openapi list it came from
/// (2,120 bytes per `Container`) wherever it is not cloned: a scan's snapshot, the object under admission review.
fn converted<T, U>(list: Vec<T>, convert: impl FnMut(T) -> U) -> Vec<U> {
    let mut out: Vec<U> = list.into_iter().map(convert).collect();
    out.shrink_to_fit();
    out
}

impl From<corev1::Volume> for Volume {
    fn from(v: corev1::Volume) -> Self {
        Volume {
            name: v.name,
            host_path: v.host_path.map(Box::new),
            secret: v.secret.map(Box::new),
            projected: v.projected.map(Box::new),
        }
    }
}

impl From<ObjectMeta> for TemplateMeta {
    fn from(m: ObjectMeta) -> Self {
        TemplateMeta {
            annotations: m.annotations.map(SortedMap::from),
            labels: m.labels.map(SortedMap::from),
        }
    }
}

impl From<corev1::PodTemplateSpec> for PodTemplateSpec {
    fn from(t: corev1::PodTemplateSpec) -> Self {
        PodTemplateSpec {
            metadata: t.metadata.map(TemplateMeta::from),
            spec: t.spec.map(PodSpec::from),
        }
    }
}

impl From<apps::Deployment> for Deployment {
    fn from(d: apps::Deployment) -> Self {
        Deployment {
            metadata: d.metadata,
            spec: d.spec.map(|s| ReplicatedSpec {
                replicas: s.replicas,
                template: s.template.into(),
            }),
        }
    }
}

impl From<apps::StatefulSet> for StatefulSet {
    fn from(d: apps::StatefulSet) -> Self {
        StatefulSet {
            metadata: d.metadata,
            spec: d.spec.map(|s| ReplicatedSpec {
                replicas: s.replicas,
                template: s.template.into(),
            }),
        }
    }
}

impl From<apps::DaemonSet> for DaemonSet {
    fn from(d: apps::DaemonSet) -> Self {
        DaemonSet {
            metadata: d.metadata,
            spec: d.spec.map(|s| DaemonSetSpec {
                template: s.template.into(),
            }),
            status: d.status,
        }
    }
}

impl From<batch::JobSpec> for JobSpec {
    fn from(s: batch::JobSpec) -> Self {
        JobSpec {
            template: s.template.into(),
        }
    }
}

impl From<batch::Job> for Job {
    fn from(j: batch::Job) -> Self {
        Job {
            metadata: j.metadata,
            spec: j.spec.map(JobSpec::from),
            status: j.status,
        }
    }
}

impl From<batch::CronJob> for CronJob {
    fn from(c: batch::CronJob) -> Self {
        CronJob {
            metadata: c.metadata,
            spec: c.spec.map(|s| CronJobSpec {
                schedule: s.schedule,
                time_zone: s.time_zone,
                suspend: s.suspend,
                starting_deadline_seconds: s.starting_deadline_seconds,
                job_template: JobTemplateSpec {
                    spec: s.job_template.spec.map(JobSpec::from),
                },
            }),
            status: c.status,
        }
    }
}

impl From<corev1::Pod> for Pod {
    fn from(p: corev1::Pod) -> Self {
        Pod {
            metadata: p.metadata,
            spec: p.spec.map(PodSpec::from),
        }
    }
}

/// Resource identity (apiVersion, kind, plural, scope) and metadata of a kept kind: its k8s-openapi counterpart's,
/// so that kube's reflector stores, `ResourceRef` and every generic reader treat it as that kind. Deserializes as
/// that kind (the same errors for a malformed object), then keeps what it keeps.
macro_rules! kept_as {
    ($($kept:ident => $full:ty),+ $(,)?) => {
        $(
            impl k8s_openapi::Resource for $kept {
                const API_VERSION: &'static str = <$full as k8s_openapi::Resource>::API_VERSION;
                const GROUP: &'static str = <$full as k8s_openapi::Resource>::GROUP;
                const KIND: &'static str = <$full as k8s_openapi::Resource>::KIND;
                const VERSION: &'static str = <$full as k8s_openapi::Resource>::VERSION;
                const URL_PATH_SEGMENT: &'static str = <$full as k8s_openapi::Resource>::URL_PATH_SEGMENT;
                type Scope = <$full as k8s_openapi::Resource>::Scope;
            }

            impl k8s_openapi::Metadata for $kept {
                type Ty = ObjectMeta;

                fn metadata(&self) -> &ObjectMeta {
                    &self.metadata
                }

                fn metadata_mut(&mut self) -> &mut ObjectMeta {
                    &mut self.metadata
                }
            }

            impl<'de> Deserialize<'de> for $kept {
                fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                    <$full>::deserialize(deserializer).map($kept::from)
                }
            }
        )+
    };
}

kept_as!(
    Deployment => apps::Deployment,
    StatefulSet => apps::StatefulSet,
    DaemonSet => apps::DaemonSet,
    CronJob => batch::CronJob,
    Job => batch::Job,
    Pod => corev1::Pod,
);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse<K: serde::de::DeserializeOwned>(value: serde_json::Value) -> K {
        serde_json::from_value(value).expect("parses")
    }

    #[test]
    fn converted_lists_do_not_keep_the_k8s_openapi_buffer() {
        let spec: corev1::PodSpec = parse(json!({
            "containers": [
                { "name": "a", "image": "a", "env": [{ "name": "X", "value": "1" }, { "name": "Y", "value": "2" }] },
                { "name": "b", "image": "b" },
                { "name": "c", "image": "c" },
            ],
            "volumes": [{ "name": "v", "emptyDir": {} }, { "name": "w", "emptyDir": {} }],
        }));
        let compact = PodSpec::from(spec);
        assert_eq!(compact.containers.capacity(), 3);
        assert_eq!(
            compact.containers[0].env.as_ref().map(Vec::capacity),
            Some(2)
        );
        assert_eq!(compact.volumes.as_ref().map(Vec::capacity), Some(2));
    }

    /// A pod spec with every field the checks read, and some they do not.
    fn full_spec() -> serde_json::Value {
        json!({
            "containers": [{
                "name": "app", "image": "registry.example/app:1", "imagePullPolicy": "Always",
                "command": ["/app"], "args": ["--serve"], "workingDir": "/srv",
                "securityContext": {"privileged": true, "runAsUser": 0, "capabilities": {"add": ["NET_ADMIN"]},
                                    "seccompProfile": {"type": "Unconfined"}},
                "env": [{"name": "PASSWORD", "value": "hunter2"},
                        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
                        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                "envFrom": [{"secretRef": {"name": "db"}}, {"configMapRef": {"name": "cfg"}}],
                "ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 80}},
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 80}},
                "resources": {"requests": {"memory": "128Mi", "cpu": "0"}, "limits": {"cpu": "1"}},
                "volumeMounts": [{"name": "host", "mountPath": "/host"}],
            }],
            "initContainers": [{"name": "init", "image": "busybox"}],
            "ephemeralContainers": [{
                "name": "debug", "image": "debug:latest", "imagePullPolicy": "IfNotPresent",
                "securityContext": {"privileged": true}, "env": [{"name": "A", "value": "b"}],
                "envFrom": [{"secretRef": {"name": "e"}}], "targetContainerName": "app",
            }],
            "volumes": [
                {"name": "host", "hostPath": {"path": "/var/run", "type": "Directory"}},
                {"name": "creds", "secret": {"secretName": "creds"}},
                {"name": "both", "projected": {"sources": [{"secret": {"name": "p"}}]}},
                {"name": "scratch", "emptyDir": {}},
            ],
            "hostNetwork": true, "hostPID": false, "hostIPC": true,
            "automountServiceAccountToken": false, "serviceAccountName": "app", "serviceAccount": "legacy",
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "os": {"name": "linux"},
            "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a"]}]}]}}},
            "priorityClassName": "high", "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
        })
    }

    #[test]
    fn a_pod_spec_keeps_every_field_a_check_reads_unchanged() {
        let full: corev1::PodSpec = parse(full_spec());
        let kept = PodSpec::from(full.clone());
        let c = &kept.containers[0];
        let f = &full.containers[0];
        assert_eq!(c.name, f.name);
        assert_eq!(c.image, f.image);
        assert_eq!(c.image_pull_policy, f.image_pull_policy);
        assert_eq!(c.security_context.as_deref(), f.security_context.as_ref());
        assert_eq!(c.env_from, f.env_from);
        assert_eq!(c.ports, f.ports);
        assert!(c.has_readiness_probe);
        let env = c.env.as_ref().expect("env");
        for (kept, full) in env.iter().zip(f.env.as_ref().expect("env")) {
            assert_eq!(kept.name, full.name);
            assert_eq!(kept.value, full.value);
            assert_eq!(kept.value_from.as_deref(), full.value_from.as_ref());
        }
        assert_eq!(env.len(), 3);
        let resources = c.resources.as_ref().expect("resources");
        let requests = resources.requests.as_ref().expect("requests");
        assert_eq!(requests.get("memory").map(|q| q.0.as_str()), Some("128Mi"));
        assert_eq!(requests.get("cpu").map(|q| q.0.as_str()), Some("0"));
        assert_eq!(requests.get("storage"), None);
        let limits = resources.limits.as_ref().expect("limits");
        assert_eq!(limits.get("cpu").map(|q| q.0.as_str()), Some("1"));
        assert_eq!(limits.get("memory"), None);

        let init = kept.init_containers.as_ref().expect("init containers");
        assert_eq!(init[0].name, "init");
        assert_eq!(init[0].image.as_deref(), Some("busybox"));

        let volumes = kept.volumes.as_ref().expect("volumes");
        let full_volumes = full.volumes.as_ref().expect("volumes");
        assert_eq!(
            volumes.len(),
            full_volumes.len(),
            "every volume keeps its name"
        );
        for (kept, full) in volumes.iter().zip(full_volumes) {
            assert_eq!(kept.name, full.name);
            assert_eq!(kept.host_path.as_deref(), full.host_path.as_ref());
            assert_eq!(kept.secret.as_deref(), full.secret.as_ref());
            assert_eq!(kept.projected.as_deref(), full.projected.as_ref());
        }

        assert_eq!(kept.host_network, Some(true));
        assert_eq!(kept.host_pid, Some(false));
        assert_eq!(kept.host_ipc, Some(true));
        assert_eq!(kept.automount_service_account_token, Some(false));
        assert_eq!(kept.service_account_name.as_deref(), Some("app"));
        assert_eq!(kept.service_account.as_deref(), Some("legacy"));
        assert_eq!(
            kept.security_context.as_deref(),
            full.security_context.as_ref()
        );
        assert_eq!(kept.os, full.os);
        assert_eq!(kept.tolerations, full.tolerations);
        assert_eq!(kept.node_selector, full.node_selector);
        assert_eq!(kept.affinity.as_deref(), full.affinity.as_ref());
    }

    #[test]
    fn ephemeral_containers_keep_what_the_checks_judge_of_them() {
        let full: corev1::PodSpec = parse(full_spec());
        let e = &full.ephemeral_containers.as_ref().expect("ephemeral")[0];
        let kept = PodSpec::from(full.clone());
        let k = &kept.ephemeral_containers.as_ref().expect("ephemeral")[0];
        assert_eq!(k.name, e.name);
        assert_eq!(k.image, e.image);
        assert_eq!(k.image_pull_policy, e.image_pull_policy);
        assert_eq!(k.security_context.as_deref(), e.security_context.as_ref());
        assert_eq!(k.env.as_ref().map(Vec::len), Some(1));
        assert_eq!(k.env_from, e.env_from);
        assert!(k.ports.is_none() && k.resources.is_none() && !k.has_readiness_probe);
    }

    #[test]
    fn absent_and_empty_parts_stay_absent_and_empty() {
        let empty = PodSpec::from(parse::<corev1::PodSpec>(json!({"containers": []})));
        assert_eq!(empty, PodSpec::default());
        let bare = Container::from(parse::<corev1::Container>(json!({"name": "c"})));
        assert_eq!(
            bare,
            Container {
                name: "c".into(),
                ..Container::default()
            }
        );
        let empty_lists = PodSpec::from(parse::<corev1::PodSpec>(json!({
            "containers": [{"name": "c", "env": [], "resources": {"requests": {}}}],
            "initContainers": [], "volumes": [], "tolerations": [], "nodeSelector": {},
        })));
        assert_eq!(empty_lists.init_containers, Some(vec![]));
        assert_eq!(empty_lists.volumes, Some(vec![]));
        assert_eq!(empty_lists.tolerations, Some(vec![]));
        assert_eq!(empty_lists.node_selector, Some(BTreeMap::new()));
        let c = &empty_lists.containers[0];
        assert_eq!(c.env, Some(vec![]));
        let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
        assert_eq!(requests.map(|r| r.get("cpu")), Some(None));
        assert!(c.resources.as_ref().is_some_and(|r| r.limits.is_none()));
    }

    #[test]
    fn workloads_keep_their_metadata_replicas_template_and_what_job_health_reads() {
        let template = json!({"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}}, "spec": full_spec()});
        let meta = json!({"name": "web", "namespace": "team-a", "uid": "u1", "labels": {"tier": "prod"},
                          "annotations": {"soc2.dev/change-ticket": "CHG-1"}});
        let d: Deployment = parse(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template},
            "status": {"replicas": 3}}),
        );
        let full: apps::Deployment = parse(json!({"metadata": meta, "spec": {"replicas": 3,
            "selector": {"matchLabels": {"app": "web"}}, "template": template}}));
        assert_eq!(d.metadata, full.metadata);
        let spec = d.spec.as_ref().expect("spec");
        assert_eq!(spec.replicas, Some(3));
        let full_template = full.spec.expect("spec").template;
        assert_eq!(
            spec.template.metadata,
            full_template.metadata.map(TemplateMeta::from)
        );
        assert_eq!(
            spec.template.spec,
            full_template.spec.map(PodSpec::from),
            "the template's spec is converted as a Pod's"
        );

        let s: StatefulSet = parse(
            json!({"metadata": meta, "spec": {"selector": {}, "serviceName": "web",
            "template": template}}),
        );
        assert_eq!(
            s.spec.as_ref().and_then(|s| s.replicas),
            None,
            "unset stays unset"
        );
        assert!(s.spec.as_ref().is_some_and(|s| s.template.spec.is_some()));

        let ds: DaemonSet = parse(
            json!({"metadata": meta, "spec": {"selector": {}, "template": template},
            "status": {"currentNumberScheduled": 2, "desiredNumberScheduled": 3, "numberMisscheduled": 0,
                       "numberReady": 1}}),
        );
        assert_eq!(ds.status.as_ref().map(|s| s.number_ready), Some(1));
        assert!(ds.spec.is_some_and(|s| s.template.spec.is_some()));

        let cj: CronJob = parse(json!({"metadata": meta, "spec": {"schedule": "0 * * * *",
            "timeZone": "Europe/Berlin", "suspend": true, "startingDeadlineSeconds": 300,
            "concurrencyPolicy": "Forbid", "jobTemplate": {"spec": {"backoffLimit": 2, "template": template}}},
            "status": {"lastScheduleTime": "2026-06-01T00:00:00Z"}}));
        let spec = cj.spec.as_ref().expect("spec");
        assert_eq!(spec.schedule, "0 * * * *");
        assert_eq!(spec.time_zone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(spec.suspend, Some(true));
        assert_eq!(spec.starting_deadline_seconds, Some(300));
        assert!(
            spec.job_template
                .spec
                .as_ref()
                .is_some_and(|s| s.template.spec.is_some())
        );
        assert!(
            cj.status
                .as_ref()
                .is_some_and(|s| s.last_schedule_time.is_some())
        );

        let job: Job = parse(json!({"metadata": meta, "spec": {"template": template},
            "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}));
        assert!(job.spec.as_ref().is_some_and(|s| s.template.spec.is_some()));
        assert_eq!(
            job.status
                .and_then(|s| s.conditions)
                .map(|c| c[0].type_.clone()),
            Some("Failed".to_string())
        );
    }

    #[test]
    fn missing_specs_and_templates_stay_missing() {
        let d: Deployment = parse(json!({"metadata": {"name": "no-spec"}}));
        assert_eq!(d.spec, None);
        let d: Deployment = parse(json!({"metadata": {"name": "no-pod-spec"},
            "spec": {"selector": {}, "template": {}}}));
        let template = &d.spec.as_ref().expect("spec").template;
        assert_eq!((&template.metadata, &template.spec), (&None, &None));
        let cj: CronJob = parse(
            json!({"metadata": {"name": "c"}, "spec": {"schedule": "@daily",
            "jobTemplate": {}}}),
        );
        assert_eq!(cj.spec.expect("spec").job_template.spec, None);
        let p: Pod = parse(json!({"metadata": {"name": "p"}, "status": {"phase": "Running"}}));
        assert_eq!(p.spec, None);
    }

    #[test]
    fn malformed_objects_fail_as_their_kind_does() {
        for (value, kind) in [
            (json!({"metadata": {"name": 7}}), "Deployment"),
            (
                json!({"apiVersion": "apps/v2", "kind": "Deployment"}),
                "Deployment",
            ),
            (
                json!({"spec": {"template": {"spec": {"containers": "x"}}}}),
                "StatefulSet",
            ),
            (json!({"spec": {"schedule": 5}}), "CronJob"),
            (json!({"spec": {"containers": [{"name": ["a"]}]}}), "Pod"),
            (
                json!({"spec": {"volumes": [{"name": "v", "hostPath": {"path": 1}}]}}),
                "Pod",
            ),
        ] {
            let (kept, full) = match kind {
                "Deployment" => (
                    serde_json::from_value::<Deployment>(value.clone()).map(drop),
                    serde_json::from_value::<apps::Deployment>(value).map(drop),
                ),
                "StatefulSet" => (
                    serde_json::from_value::<StatefulSet>(value.clone()).map(drop),
                    serde_json::from_value::<apps::StatefulSet>(value).map(drop),
                ),
                "CronJob" => (
                    serde_json::from_value::<CronJob>(value.clone()).map(drop),
                    serde_json::from_value::<batch::CronJob>(value).map(drop),
                ),
                _ => (
                    serde_json::from_value::<Pod>(value.clone()).map(drop),
                    serde_json::from_value::<corev1::Pod>(value).map(drop),
                ),
            };
            let (kept, full) = (kept.expect_err(kind), full.expect_err(kind));
            assert_eq!(kept.to_string(), full.to_string(), "{kind}");
        }
    }

    #[test]
    fn what_is_kept_serializes_as_its_kind_and_reads_back_the_same() {
        let template = json!({"metadata": {"labels": {"app": "web"}}, "spec": full_spec()});
        let meta = json!({"name": "web", "namespace": "team-a"});
        fn round_trip<K: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
            kept: K,
        ) {
            let json = serde_json::to_value(&kept).expect("serializes");
            assert_eq!(parse::<K>(json.clone()), kept, "{json}");
        }
        round_trip(parse::<Deployment>(
            json!({"metadata": meta, "spec": {"replicas": 2, "template": template}}),
        ));
        round_trip(parse::<StatefulSet>(
            json!({"metadata": meta, "spec": {"template": template}}),
        ));
        round_trip(parse::<DaemonSet>(
            json!({"metadata": meta, "spec": {"template": template},
            "status": {"currentNumberScheduled": 1, "desiredNumberScheduled": 1, "numberMisscheduled": 0,
                       "numberReady": 1}}),
        ));
        round_trip(parse::<CronJob>(
            json!({"metadata": meta, "spec": {"schedule": "@daily",
            "timeZone": "UTC", "jobTemplate": {"spec": {"template": template}}}}),
        ));
        round_trip(parse::<Job>(
            json!({"metadata": meta, "spec": {"template": template},
            "status": {"succeeded": 1}}),
        ));
        round_trip(parse::<Pod>(json!({"metadata": meta, "spec": full_spec()})));
        round_trip(Pod::default());
        let json = serde_json::to_value(parse::<Pod>(json!({"spec": full_spec()}))).expect("json");
        assert_eq!(json["spec"]["hostPID"], false);
        assert_eq!(json["spec"]["hostIPC"], true);
        assert_eq!(json["spec"]["containers"][0]["readinessProbe"], json!({}));
        assert_eq!(
            json["spec"]["containers"][0]["resources"]["requests"]["memory"],
            "128Mi"
        );
        assert!(
            json["spec"]["containers"][0].get("livenessProbe").is_none(),
            "not kept"
        );
        assert!(
            json["spec"]["initContainers"][0]
                .get("readinessProbe")
                .is_none()
        );
    }

    #[test]
    fn a_sorted_map_reads_and_serializes_as_the_map_it_replaces() {
        let map: BTreeMap<String, String> = [
            ("tier", "prod"),
            ("app.kubernetes.io/name", "web"),
            ("Zone", ""),
            ("app", "web"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let kept = SortedMap::from(map.clone());
        assert_eq!(kept.len(), map.len());
        assert!(!kept.is_empty() && SortedMap::<String>::default().is_empty());
        for key in [
            "tier",
            "app.kubernetes.io/name",
            "Zone",
            "app",
            "zone",
            "",
            "ap",
        ] {
            assert_eq!(kept.get(key), map.get(key), "{key}");
            assert_eq!(kept.contains_key(key), map.contains_key(key), "{key}");
        }
        assert!(
            kept.iter()
                .map(|(k, _)| k)
                .eq(map.keys().map(String::as_str))
        );
        assert_eq!(BTreeMap::from(&kept), map);
        assert_eq!(
            serde_json::to_string(&kept).expect("json"),
            serde_json::to_string(&map).expect("json"),
            "same keys, values and order"
        );
    }

    #[test]
    fn a_pod_template_keeps_its_labels_and_annotations() {
        let full: corev1::PodTemplateSpec = parse(json!({
            "metadata": {"name": "ignored", "labels": {"app": "web", "tier": "prod"},
                         "annotations": {"soc2.dev/exposure-approved-by": "jane"}},
            "spec": {"containers": []},
        }));
        let meta = full.metadata.clone().expect("metadata");
        let kept = PodTemplateSpec::from(full).metadata.expect("metadata");
        let labels = kept.labels.as_ref().expect("labels");
        for (key, value) in meta.labels.iter().flatten() {
            assert_eq!(labels.get(key), Some(value));
        }
        assert_eq!(labels.len(), 2);
        let annotations = kept.annotations.as_ref().expect("annotations");
        assert_eq!(
            annotations
                .get("soc2.dev/exposure-approved-by")
                .map(String::as_str),
            Some("jane")
        );
        assert_eq!(
            serde_json::to_value(&kept).expect("json"),
            json!({"annotations": {"soc2.dev/exposure-approved-by": "jane"},
                   "labels": {"app": "web", "tier": "prod"}})
        );
        let bare = PodTemplateSpec::from(parse::<corev1::PodTemplateSpec>(json!({"metadata": {}})));
        assert_eq!(
            bare.metadata,
            Some(TemplateMeta::default()),
            "empty stays empty"
        );
    }

    #[test]
    fn kept_kinds_are_their_kinds_to_kube() {
        use kube::Resource;
        assert_eq!(Deployment::kind(&()), "Deployment");
        assert_eq!(Deployment::api_version(&()), "apps/v1");
        assert_eq!(StatefulSet::plural(&()), "statefulsets");
        assert_eq!(DaemonSet::group(&()), "apps");
        assert_eq!(CronJob::api_version(&()), "batch/v1");
        assert_eq!(Job::plural(&()), "jobs");
        assert_eq!(Pod::api_version(&()), "v1");
        let d: Deployment = parse(json!({"metadata": {"name": "web", "namespace": "a"}}));
        assert_eq!(d.meta().name.as_deref(), Some("web"));
        let r = crate::view::ResourceRef::of(&d);
        assert_eq!(r.display_name(), "Deployment a/web");
    }
}
