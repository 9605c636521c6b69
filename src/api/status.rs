//! `Control.status`: the operator's record of the latest evaluation.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Mode;

/// The most recent evaluation of a control, written by soc2-operator only.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlStatus {
    /// The `metadata.generation` of the spec this status describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The effective mode (spec.mode, defaulted to Audit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,

    /// `Ready`: the control is valid and was evaluated. `Compliant`: True when nothing in scope fails, False when
    /// something fails, Unknown when the data needed to decide is missing. `AdmissionEnforced`: whether Warn/Enforce
    /// act at admission.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<super::k8s_schema::Condition>")]
    pub conditions: Vec<Condition>,

    /// Counts of the last evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,

    /// The failing (and unknown or noteworthy) resources, at most 100; see `findingsTruncated`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<StatusFinding>,

    /// How many findings were left out of `findings` to keep the status small. The evidence snapshot keeps them all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings_truncated: Option<u32>,

    /// When the control was last evaluated with this result. Refreshed at least once per interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<super::k8s_schema::Time>")]
    pub last_evaluated: Option<Time>,

    /// SHA-256 (hex) of the evaluation (its canonical header, then a SHA-256 of each resource's findings): same
    /// digest, same result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_digest: Option<String>,
}

/// Counts of one evaluation. `evaluated = passed + failed + excepted + unknown`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Resources (and control-plane settings) the control evaluated.
    pub evaluated: u32,
    /// Of those, how many pass.
    pub passed: u32,
    /// Of those, how many fail.
    pub failed: u32,
    /// Of those, how many fail but are covered by a valid ControlException.
    pub excepted: u32,
    /// Of those, how many could not be decided for lack of data.
    pub unknown: u32,
}

/// The outcome a finding records.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
pub enum FindingResult {
    /// The resource violates the control.
    Fail,
    /// The control could not decide for this resource; `message` says which data is missing.
    Unknown,
    /// The resource fails, but an active ControlException covers it; `exception` names it.
    Excepted,
    /// Reported for the auditor's attention without failing (break-glass access, attestations).
    Notice,
}

impl std::fmt::Display for FindingResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// One resource's finding as shown in status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusFinding {
    /// The resource's apiVersion, e.g. `rbac.authorization.k8s.io/v1`.
    pub api_version: String,
    /// The resource's kind.
    pub kind: String,
    /// The resource's namespace; unset for cluster-scoped resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The resource's name.
    pub name: String,
    /// The resource's uid, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Fail, Unknown, Excepted or Notice.
    pub result: FindingResult,
    /// A stable id of the rule that produced the finding, e.g. `privileged-binding-to-user`.
    pub rule: String,
    /// What is wrong and what to do about it.
    pub message: String,
    /// When this finding was first observed (kept across evaluations while it persists).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<super::k8s_schema::Time>")]
    pub since: Option<Time>,
    /// For `Excepted` findings: the ControlException that covers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<ExceptionRef>,
}

/// The ControlException covering a finding, as recorded in status and evidence.
#[derive(
    Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionRef {
    /// `namespace/name` of the ControlException.
    pub name: String,
    /// Who approved it.
    pub approved_by: String,
    /// The approval ticket.
    pub ticket: String,
    /// When it expires (RFC 3339); the finding fails again from then.
    pub expires_at: String,
}
