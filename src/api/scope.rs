//! Which objects a control looks at.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The objects a control evaluates. All given filters must match; an empty scope matches everything.
///
/// Namespace filters apply to namespaced objects only; cluster-scoped objects (ClusterRoleBindings, Nodes) are
/// filtered by `objectSelector` alone.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// Only namespaces whose labels match this selector, e.g. `{matchLabels: {soc2.dev/in-scope: "true"}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<super::k8s_schema::LabelSelector>")]
    pub namespace_selector: Option<LabelSelector>,

    /// Only these namespaces (exact names). Unset means every namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,

    /// Never these namespaces (exact names), even when selected otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude_namespaces: Option<Vec<String>>,

    /// Only objects whose own labels match this selector.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<super::k8s_schema::LabelSelector>")]
    pub object_selector: Option<LabelSelector>,
}
