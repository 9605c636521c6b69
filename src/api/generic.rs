//! Generic check kinds that users configure without Rust: CEL validations over any kind (`cel`) and the
//! presence of declared resources (`requiredResources`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A kind of object, by API group (or full apiVersion) and kind.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KindMatch {
    /// `apps/v1`, `v1`, `monitoring.coreos.com/v1`.
    #[schemars(length(min = 1))]
    pub api_version: String,
    /// e.g. `Deployment`, `ConfigMap`, `PrometheusRule`.
    #[schemars(length(min = 1))]
    pub kind: String,
}

/// Which objects a CEL check evaluates. The control's `scope` applies as well; all filters must match.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CelMatch {
    /// The kinds evaluated (at least one).
    #[schemars(length(min = 1))]
    pub kinds: Vec<KindMatch>,
    /// Only objects in these namespaces (exact names). Cluster-scoped objects ignore this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
    /// Only objects whose labels match.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<super::k8s_schema::LabelSelector>")]
    pub label_selector: Option<LabelSelector>,
}

/// A named CEL expression, visible to later variables and to validations as `variables.<name>`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CelVariable {
    /// A CEL identifier, e.g. `containers`.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub name: String,
    /// The expression; it may use `object`, `namespaceObject`, `params` and earlier variables.
    #[schemars(length(min = 1))]
    pub expression: String,
}

/// One rule every matched object must satisfy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CelValidation {
    /// A CEL expression that must evaluate to `true` for a compliant object.
    #[schemars(length(min = 1))]
    pub expression: String,
    /// The finding's message when the expression is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A CEL expression producing the message (a string); takes precedence over `message`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_expression: Option<String>,
    /// A stable rule id for the finding, e.g. `replicas-below-minimum`. Default: `cel-validation-<index>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Custom CEL control, in the dialect of Kubernetes ValidatingAdmissionPolicy: every matched object must satisfy
/// every validation. Expressions see `object`, `namespaceObject` (null for cluster-scoped objects), `params` and
/// `variables`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CelCheck {
    /// The objects evaluated.
    #[serde(rename = "match")]
    pub match_: CelMatch,
    /// Named expressions, evaluated in order and only when used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variables: Option<Vec<CelVariable>>,
    /// The rules (at least one).
    #[schemars(length(min = 1))]
    pub validations: Vec<CelValidation>,
    /// Free-form parameters, visible as `params`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form")]
    pub params: Option<serde_json::Value>,
}

/// One resource (or set of resources) that must exist.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequiredResource {
    /// What this resource is for, as an auditor reads it, e.g. `Alert on API server errors`.
    #[schemars(length(min = 1))]
    pub description: String,
    /// e.g. `monitoring.coreos.com/v1`.
    #[schemars(length(min = 1))]
    pub api_version: String,
    /// e.g. `PrometheusRule`.
    #[schemars(length(min = 1))]
    pub kind: String,
    /// Only in this namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Only the object of this name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only objects whose labels match.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<super::k8s_schema::LabelSelector>")]
    pub label_selector: Option<LabelSelector>,
    /// How many matching objects must exist. Default: 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_count: Option<u32>,
    /// A CEL expression over `object` that a matching object must satisfy, e.g.
    /// `object.spec.groups.exists(g, g.rules.exists(r, has(r.alert) && r.alert == 'KubeAPIErrorsHigh'))`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

impl RequiredResource {
    /// `minCount` with its default applied.
    pub fn effective_min_count(&self) -> u32 {
        self.min_count.unwrap_or(1)
    }
}

/// Monitoring presence (CC7.2, CC7.3): the declared resources exist, e.g. a PrometheusRule with given alerts or an
/// Alertmanager configuration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequiredResourcesCheck {
    /// The required resources (at least one).
    #[schemars(length(min = 1))]
    pub resources: Vec<RequiredResource>,
}

fn free_form(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}
