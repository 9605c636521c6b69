//! The `Control` custom resource.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Check, ControlStatus, Criterion, Scope};

/// A SOC 2 control: a testable statement about the cluster, mapped to Trust Services Criteria, evaluated
/// continuously by soc2-operator. Its status is the evidence that the control operated.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
// kube's derive takes one `printcolumn`/`shortname` argument per column/name; clippy mistakes them for duplicates.
#[allow(clippy::duplicated_attributes)]
#[kube(
    group = "soc2.dev",
    version = "v1alpha1",
    kind = "Control",
    status = "ControlStatus",
    shortname = "ctl",
    shortname = "ctls",
    category = "soc2",
    doc = "A SOC 2 control mapped to Trust Services Criteria and evaluated continuously against the cluster.",
    printcolumn(
        name = "Criteria",
        type_ = "string",
        json_path = ".spec.criteria",
        description = "Trust Services Criteria"
    ),
    printcolumn(
        name = "Category",
        type_ = "string",
        json_path = ".spec.category",
        priority = 1
    ),
    printcolumn(
        name = "Mode",
        type_ = "string",
        json_path = ".status.mode",
        description = "Effective mode: Audit, Warn or Enforce"
    ),
    printcolumn(
        name = "Compliant",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Compliant\")].status"
    ),
    printcolumn(
        name = "Failed",
        type_ = "integer",
        json_path = ".status.summary.failed",
        description = "Resources failing the control"
    ),
    printcolumn(
        name = "Evaluated",
        type_ = "integer",
        json_path = ".status.summary.evaluated",
        priority = 1
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Compliant\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ControlSpec {
    /// Trust Services Criteria this control addresses, e.g. `[CC6.1, CC6.3]`.
    #[schemars(length(min = 1, max = 32))]
    pub criteria: Vec<Criterion>,

    /// The Trust Services Category the control belongs to.
    pub category: Category,

    /// A one-line statement of the control as it appears in the control matrix.
    #[schemars(length(min = 1, max = 256))]
    pub title: String,

    /// The control description an auditor reads: what is controlled, how, and why it meets the criteria.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,

    /// The test procedure in plain words: what the operator inspects and what counts as an exception, so that an
    /// auditor can re-perform it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_procedure: Option<String>,

    /// Remediation guidance for a failing resource: what to change, and how to request a ControlException when the
    /// deviation is accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,

    /// The control owner (a team or person accountable for its operation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,

    /// How severe a failure of this control is. Unset means Medium.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,

    /// Audit reports only. Warn and Enforce additionally act at admission once the admission webhook is enabled;
    /// until then the control is audited only and its `AdmissionEnforced` condition says so. Unset means Audit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,

    /// Which namespaces and objects the control evaluates. Unset means all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,

    /// How often the control is re-evaluated even when nothing changed, as a duration such as `30s`, `10m` or `1h`
    /// (minimum 10s). Unset means 10m. Changes to watched objects re-evaluate immediately regardless.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(s|m|h))+$')").message("interval must be a duration such as 30s, 10m or 1h30m"))]
    pub interval: Option<String>,

    /// The test this control runs: exactly one check kind.
    pub check: Check,
}

/// Trust Services Categories.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Category {
    /// Common Criteria (CC1-CC9), always in scope.
    Security,
    /// A1
    Availability,
    /// PI1
    ProcessingIntegrity,
    /// C1
    Confidentiality,
    /// P1-P8
    Privacy,
}

/// How severe a control failure is.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    JsonSchema,
)]
pub enum Severity {
    /// Low
    Low,
    /// Medium (the default)
    #[default]
    Medium,
    /// High
    High,
    /// Critical
    Critical,
}

/// What the operator does about a failing control.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum Mode {
    /// Report only (the default).
    #[default]
    Audit,
    /// Report, and warn at admission.
    Warn,
    /// Report, and deny violating changes at admission.
    Enforce,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}
