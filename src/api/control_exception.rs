//! The `ControlException` custom resource: a time-boxed, approved waiver of named resources for one control.
//!
//! Scoping (enforced in [`crate::engine::exceptions`], not here): an exception in namespace N waives only resources in
//! N; an exception in the operator's own namespace is cluster-wide and may waive any resource, cluster-scoped objects
//! and control-plane aspects included.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A documented, approved and time-boxed exception to one SOC 2 control for named resources (or a label selector).
/// Findings it covers stay listed in the control's status and evidence, marked `Excepted`, and no longer fail the
/// control until `expiresAt`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[allow(clippy::duplicated_attributes)]
#[kube(
    group = "soc2.dev",
    version = "v1alpha1",
    kind = "ControlException",
    namespaced,
    status = "ControlExceptionStatus",
    shortname = "cex",
    category = "soc2",
    doc = "An approved, time-boxed exception to a SOC 2 control for named resources or a label selector.",
    printcolumn(name = "Control", type_ = "string", json_path = ".spec.control"),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.state",
        description = "Active, Expired or Invalid"
    ),
    printcolumn(name = "Expires", type_ = "string", json_path = ".spec.expiresAt"),
    printcolumn(
        name = "Matched",
        type_ = "integer",
        json_path = ".status.matchedFindings",
        description = "Failing findings this exception waives"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.reason",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(
    cel,
    validation = Rule::new("has(self.resources) || has(self.selector)")
        .message("name the excepted resources in spec.resources, or select them with spec.selector")
)]
#[serde(rename_all = "camelCase")]
pub struct ControlExceptionSpec {
    /// The name of the Control whose findings this exception waives.
    #[schemars(length(min = 1, max = 253))]
    pub control: String,

    /// The excepted resources, by kind and name. A namespace left unset means the exception's own namespace; set it
    /// only on cluster-wide exceptions (those in the operator's namespace). Omit `namespace` for cluster-scoped
    /// objects there too, and `apiVersion` to match any version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub resources: Option<Vec<ExceptedResource>>,

    /// Excepts the findings whose objects' labels match this selector (within the exception's namespace, unless the
    /// exception is cluster-wide). Must not be empty: name what is excepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<super::k8s_schema::LabelSelector>")]
    pub selector: Option<LabelSelector>,

    /// Why the risk is accepted and which compensating controls apply, as an auditor should read it.
    #[schemars(length(min = 1, max = 4096))]
    pub justification: String,

    /// Who approved the exception (a person or role accountable for the risk acceptance).
    #[schemars(length(min = 1, max = 256))]
    pub approved_by: String,

    /// The change or risk ticket that records the approval, e.g. `SEC-1234` or a URL.
    #[schemars(length(min = 1, max = 512))]
    pub ticket: String,

    /// When the exception ends (RFC 3339, e.g. `2027-01-31T00:00:00Z`). From that moment the findings fail again. At
    /// most the operator's maximum lifetime (`--max-exception-days`, default 365) after the exception's creation.
    #[schemars(with = "super::k8s_schema::Time")]
    pub expires_at: Time,
}

/// One excepted resource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExceptedResource {
    /// e.g. `apps/v1`; unset matches any version of the kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// e.g. `Deployment`, `ClusterRoleBinding`, or the kind of a control-plane aspect, exactly as the control's
    /// findings show it.
    #[schemars(length(min = 1, max = 253))]
    pub kind: String,
    /// The object's name, as in the control's findings.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The object's namespace; unset means the exception's namespace for namespaced kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Where an exception stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ExceptionState {
    /// Valid and not expired: the findings it covers are excepted.
    Active,
    /// `expiresAt` has passed: it waives nothing, the findings fail again.
    Expired,
    /// It cannot be honoured (see `reason`): it waives nothing.
    Invalid,
}

impl std::fmt::Display for ExceptionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// Written by soc2-operator only.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlExceptionStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Active, Expired or Invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ExceptionState>,
    /// A PascalCase reason for the state, e.g. `Approved`, `Expired`, `MissingApprover`, `ControlNotFound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the state means for the control's findings, and for Invalid what to fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `Active`: True while the exception waives findings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<super::k8s_schema::Condition>")]
    pub conditions: Vec<Condition>,
    /// How many failing findings of the control this exception waived at its last evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_findings: Option<u32>,
}
