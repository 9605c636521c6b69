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

    /// The typed store that holds every object of this GVK, when one exists. Pods (the typed store holds only
    /// kube-system) and Secrets (only service-account tokens) are not served from typed stores.
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
            ("apps", "v1", "Deployment") => ResourceKind::Deployment,
            ("apps", "v1", "StatefulSet") => ResourceKind::StatefulSet,
            ("apps", "v1", "DaemonSet") => ResourceKind::DaemonSet,
            ("batch", "v1", "CronJob") => ResourceKind::CronJob,
            ("batch", "v1", "Job") => ResourceKind::Job,
            ("", "v1", "Pod") => ResourceKind::Pod,
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

/// Removes what must never be cached or is not needed: `managedFields`, the last-applied annotation, and the
/// values of a Secret (as [`super::Project`] does for typed kinds).
pub fn strip_dynamic(object: &mut DynamicObject) {
    object.metadata.managed_fields = None;
    let secret = object
        .types
        .as_ref()
        .is_some_and(|t| t.kind == "Secret" && t.api_version == "v1");
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
            Gvk::new("apps", "v1", "Deployment").typed_kind(),
            Some(ResourceKind::Deployment)
        );
        assert_eq!(
            Gvk::new("", "v1", "Pod").typed_kind(),
            Some(ResourceKind::Pod)
        );
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
