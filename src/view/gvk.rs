//! Group/version/kind of objects read dynamically (CRDs such as PrometheusRule, or any built-in kind).

use std::fmt;

use kube::api::DynamicObject;
use kube::core::GroupVersionKind;
use serde::Serialize;

use super::ResourceKind;

/// A group, version and kind, ordered so that it can key the snapshot's maps.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Gvk {
    /// API group; empty for the core group.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `PrometheusRule`.
    pub kind: String,
}

impl Gvk {
    /// Builds a Gvk from explicit parts.
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        Gvk {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
        }
    }

    /// Parses `apiVersion` as manifests spell it (`v1`, `apps/v1`, `monitoring.coreos.com/v1`).
    pub fn from_api_version(api_version: &str, kind: &str) -> Self {
        match api_version.split_once('/') {
            Some((group, version)) => Gvk::new(group, version, kind),
            None => Gvk::new("", api_version, kind),
        }
    }

    /// `apiVersion` as manifests spell it.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The GVK of a dynamic object, from its `types`; `None` when the object has none.
    pub fn of(object: &DynamicObject) -> Option<Self> {
        object
            .types
            .as_ref()
            .map(|t| Gvk::from_api_version(&t.api_version, &t.kind))
    }

    /// True for core/v1 Secret: its data is never cached.
    pub fn is_secret(&self) -> bool {
        self.group.is_empty() && self.kind == "Secret"
    }

    /// The typed store that holds every object of this GVK whole (as far as CEL can tell), when one exists.
    /// Secrets (the typed store holds only service-account tokens, redacted), workloads and Pods (their typed stores
    /// keep only what the checks read of them, see [`Gvk::trimmed_kind`]) are read by GVK from watches of their own.
    pub fn typed_kind(&self) -> Option<ResourceKind> {
        let kind = match (
            self.group.as_str(),
            self.version.as_str(),
            self.kind.as_str(),
        ) {
            ("", "v1", "Namespace") => ResourceKind::Namespace,
            ("", "v1", "Node") => ResourceKind::Node,
            ("rbac.authorization.k8s.io", "v1", "Role") => ResourceKind::Role,
            ("rbac.authorization.k8s.io", "v1", "ClusterRole") => ResourceKind::ClusterRole,
            ("rbac.authorization.k8s.io", "v1", "RoleBinding") => ResourceKind::RoleBinding,
            ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding") => {
                ResourceKind::ClusterRoleBinding
            }
            ("", "v1", "Service") => ResourceKind::Service,
            ("", "v1", "ServiceAccount") => ResourceKind::ServiceAccount,
            ("networking.k8s.io", "v1", "NetworkPolicy") => ResourceKind::NetworkPolicy,
            ("networking.k8s.io", "v1", "Ingress") => ResourceKind::Ingress,
            ("policy", "v1", "PodDisruptionBudget") => ResourceKind::PodDisruptionBudget,
            _ => return None,
        };
        Some(kind)
    }
}

impl Gvk {
    /// The typed store that holds this GVK's objects trimmed to what the checks read, when one does: a Pod a
    /// workload controller runs is judged through its workload, so its store keeps its metadata and drops its spec
    /// and status (by far the largest part of a cluster's cached bytes), and workloads and the other Pods are kept
    /// in the compact types of [`super::stored`]. Controls that read such a GVK as a whole (CEL rules) get a watch of
    /// their own, and offline scans keep whole copies only for them.
    pub fn trimmed_kind(&self) -> Option<ResourceKind> {
        match (
            self.group.as_str(),
            self.version.as_str(),
            self.kind.as_str(),
        ) {
            ("", "v1", "Pod") => Some(ResourceKind::Pod),
            ("apps", "v1", "Deployment") => Some(ResourceKind::Deployment),
            ("apps", "v1", "StatefulSet") => Some(ResourceKind::StatefulSet),
            ("apps", "v1", "DaemonSet") => Some(ResourceKind::DaemonSet),
            ("batch", "v1", "CronJob") => Some(ResourceKind::CronJob),
            ("batch", "v1", "Job") => Some(ResourceKind::Job),
            _ => None,
        }
    }
}

impl From<&Gvk> for GroupVersionKind {
    fn from(g: &Gvk) -> Self {
        GroupVersionKind::gvk(&g.group, &g.version, &g.kind)
    }
}

impl fmt::Display for Gvk {
    /// `monitoring.coreos.com/v1 PrometheusRule`, `v1 ConfigMap`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.api_version(), self.kind)
    }
}

/// Removes what must never be cached or is not needed: `managedFields` (a Pod's reduced to who wrote when), the
/// last-applied annotation, and the values of a Secret (as [`super::Project`] does for typed kinds).
pub fn strip_dynamic(object: &mut DynamicObject) {
    let is = |api_version: &str, kind: &str| {
        object
            .types
            .as_ref()
            .is_some_and(|t| t.kind == kind && t.api_version == api_version)
    };
    // Pods read by GVK carry what their typed store keeps of managedFields (who wrote when), as they did when
    // CEL read them from that store.
    if is("v1", "Pod") {
        super::projection::compact_managed_fields(&mut object.metadata);
    } else {
        object.metadata.managed_fields = None;
    }
    let secret = is("v1", "Secret");
    if secret && let Some(map) = object.data.as_object_mut() {
        map.remove("data");
        map.remove("stringData");
    }
    super::projection::drop_last_applied(&mut object.metadata);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_round_trip() {
        let g = Gvk::from_api_version("monitoring.coreos.com/v1", "PrometheusRule");
        assert_eq!(g.group, "monitoring.coreos.com");
        assert_eq!(g.api_version(), "monitoring.coreos.com/v1");
        assert_eq!(g.to_string(), "monitoring.coreos.com/v1 PrometheusRule");
        let core = Gvk::from_api_version("v1", "ConfigMap");
        assert_eq!((core.group.as_str(), core.api_version()), ("", "v1".into()));
    }

    #[test]
    fn typed_kinds_are_full_stores_only() {
        assert_eq!(
            Gvk::new("", "v1", "Service").typed_kind(),
            Some(ResourceKind::Service)
        );
        assert_eq!(Gvk::new("", "v1", "Service").trimmed_kind(), None);
        for (group, kind, trimmed) in [
            ("", "Pod", ResourceKind::Pod),
            ("apps", "Deployment", ResourceKind::Deployment),
            ("apps", "StatefulSet", ResourceKind::StatefulSet),
            ("apps", "DaemonSet", ResourceKind::DaemonSet),
            ("batch", "CronJob", ResourceKind::CronJob),
            ("batch", "Job", ResourceKind::Job),
        ] {
            let gvk = Gvk::new(group, "v1", kind);
            assert_eq!(gvk.typed_kind(), None, "{gvk}");
            assert_eq!(gvk.trimmed_kind(), Some(trimmed), "{gvk}");
        }
        assert_eq!(Gvk::new("", "v1", "Secret").typed_kind(), None);
        assert_eq!(Gvk::new("apps", "v1beta1", "Deployment").typed_kind(), None);
    }

    #[test]
    fn secret_values_are_stripped() {
        let mut o: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "a": "b"}},
            "data": {"password": "c2VjcmV0"}, "stringData": {"x": "y"}, "type": "Opaque"
        }))
        .unwrap();
        strip_dynamic(&mut o);
        assert!(o.data.get("data").is_none() && o.data.get("stringData").is_none());
        assert_eq!(o.data["type"], "Opaque");
        let annotations = o.metadata.annotations.unwrap();
        assert_eq!(annotations.len(), 1);
    }
}
