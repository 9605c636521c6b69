//! The per-control evidence document: what a control said, what the operator found, and proof it kept running.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::Control;
use crate::evaluate::Evaluation;

/// Version of the document and manifest format; readers refuse versions they do not know.
pub const FORMAT_VERSION: u32 = 1;

/// Which cluster the evidence is about.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterIdentity {
    /// UID of the `kube-system` namespace: stable for the life of a cluster, unique across clusters.
    pub uid: String,
    /// The API server's version (`/version` gitVersion), or `offline` for `soc2ctl scan`.
    pub server_version: String,
}

/// How often the control was evaluated between the previous snapshot and this one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct OperationRecord {
    /// Evaluations by the controller since the previous snapshot (the snapshot's own evaluation excluded).
    pub evaluations_since_previous: u64,
    /// When the controller last evaluated the control, if it ever did in this process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_evaluated_at: Option<String>,
    /// When the previous snapshot was taken; evaluations are counted from then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_snapshot_at: Option<String>,
    /// True when the controller did not evaluate the control at all during the window (a period when the control
    /// did not run, apart from the snapshot's own evaluation).
    pub not_evaluated_in_window: bool,
}

/// One control's evidence in one snapshot. Serialized as canonical JSON; its SHA-256 is in the manifest.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ControlDocument {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The snapshot this document belongs to.
    pub snapshot_id: String,
    /// When the evaluation below ran (RFC 3339).
    pub evaluated_at: String,
    /// The control's name.
    pub control: String,
    /// The control's title.
    pub title: String,
    /// The control's criteria (also inside `spec`, repeated for readers).
    pub criteria: Vec<String>,
    /// The control's spec as applied (only the spec: never status or annotations).
    pub spec: Value,
    /// The control's metadata.generation at evaluation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// The evaluation exactly as the controller computes it (verdict, summary, findings); `null` when the
    /// spec is invalid, with the reason in `invalid`.
    pub evaluation: Value,
    /// Why the control could not be evaluated, when its spec is invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid: Option<String>,
    /// Exceptions the evaluation applied, as the evaluation carries them (empty when it carries none).
    pub exceptions_applied: Vec<Value>,
    /// Proof of operation since the previous snapshot.
    pub operation: OperationRecord,
}

impl ControlDocument {
    /// The document for `control` and its evaluation result at `evaluated_at`.
    pub fn new(
        snapshot_id: &str,
        evaluated_at: &str,
        control: &Control,
        result: Result<&Evaluation, String>,
        operation: OperationRecord,
    ) -> Result<Self, serde_json::Error> {
        let (evaluation, invalid) = match result {
            Ok(e) => (serde_json::to_value(e)?, None),
            Err(reason) => (Value::Null, Some(reason)),
        };
        let exceptions_applied = exceptions_in(&evaluation);
        Ok(ControlDocument {
            format_version: FORMAT_VERSION,
            snapshot_id: snapshot_id.to_string(),
            evaluated_at: evaluated_at.to_string(),
            control: control.metadata.name.clone().unwrap_or_default(),
            title: control.spec.title.clone(),
            criteria: control
                .spec
                .criteria
                .iter()
                .map(|c| c.to_string())
                .collect(),
            spec: serde_json::to_value(&control.spec)?,
            generation: control.metadata.generation,
            evaluation,
            invalid,
            exceptions_applied,
            operation,
        })
    }

    /// The verdict: `Compliant`, `NonCompliant`, `Unknown`, or `Invalid` for a spec that could not be evaluated.
    pub fn verdict(&self) -> &str {
        self.evaluation
            .get("compliance")
            .and_then(Value::as_str)
            .unwrap_or("Invalid")
    }

    /// Failing findings in the evaluation.
    pub fn failed(&self) -> u64 {
        self.evaluation
            .pointer("/summary/failed")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }
}

/// Exceptions carried by an evaluation, under whichever field name the evaluation uses for them.
fn exceptions_in(evaluation: &Value) -> Vec<Value> {
    ["exceptionsApplied", "exceptions", "appliedExceptions"]
        .iter()
        .find_map(|k| evaluation.get(*k).and_then(Value::as_array).cloned())
        .unwrap_or_default()
}
