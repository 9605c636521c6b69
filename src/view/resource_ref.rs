//! A reference to the object a finding is about.

use kube::Resource;
use serde::{Deserialize, Serialize};

/// Identifies an object (or, for control-plane settings, an aspect of the cluster) a finding is about.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRef {
    /// e.g. `apps/v1`
    pub api_version: String,
    /// e.g. `Deployment`
    pub kind: String,
    /// Unset for cluster-scoped objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
    /// The object's uid when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl ResourceRef {
    /// The reference of a typed Kubernetes object.
    pub fn of<K: Resource<DynamicType = ()>>(obj: &K) -> Self {
        let meta = obj.meta();
        ResourceRef {
            api_version: K::api_version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone(),
        }
    }

    /// A cluster aspect that is not an object of its own, such as "the kube-apiserver" on a managed control plane.
    pub fn aspect(api_version: &str, kind: &str, name: &str) -> Self {
        ResourceRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: None,
            name: name.to_string(),
            uid: None,
        }
    }

    /// `Kind namespace/name` or `Kind name`, as people write it.
    pub fn display_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {}/{}", self.kind, ns, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    /// Identity across evaluations: the uid when known (a recreated object is a new object), else kind/ns/name.
    pub fn identity(&self) -> String {
        match &self.uid {
            Some(uid) => uid.clone(),
            None => format!(
                "{}/{}/{}",
                self.kind,
                self.namespace.as_deref().unwrap_or(""),
                self.name
            ),
        }
    }
}

impl std::fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display_name())
    }
}

impl ResourceRef {
    /// The reference of a dynamic object of `gvk`.
    pub fn from_dynamic(gvk: &super::Gvk, o: &kube::api::DynamicObject) -> Self {
        ResourceRef {
            api_version: gvk.api_version(),
            kind: gvk.kind.clone(),
            namespace: o.metadata.namespace.clone(),
            name: o.metadata.name.clone().unwrap_or_default(),
            uid: o.metadata.uid.clone(),
        }
    }
}
