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
    /// Enforcement at admission for Warn and Enforce controls: whether the webhook was in force for this control
    /// (its `AdmissionEnforced` condition when the snapshot was taken) and the decisions it made since the operator
    /// started. Absent for Audit controls and offline scans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission: Option<AdmissionRecord>,
}

/// What the admission webhook did for one control, as recorded in a snapshot.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRecord {
    /// The control's mode (`Warn` or `Enforce`).
    pub mode: String,
    /// `True` when the webhook was registered and serving for the control, else `False`.
    pub enforced: String,
    /// The condition's reason: `WebhookRegistered`, `WebhookNotRegistered` or `AuditOnly`.
    pub reason: String,
    /// The condition's message (why the control is audited only, when it is).
    pub message: String,
    /// Requests admitted with nothing failing, since the operator started (dry runs excluded).
    pub allowed: u64,
    /// Requests admitted with a warning.
    pub warned: u64,
    /// Requests denied.
    pub denied: u64,
}

impl AdmissionRecord {
    /// The record for `control` from its status and the webhook's `counts` for it; `None` in Audit mode.
    pub fn of(control: &Control, counts: Option<&crate::metrics::AdmissionCounts>) -> Option<Self> {
        let mode = control.spec.mode.unwrap_or_default();
        if mode == crate::api::Mode::Audit {
            return None;
        }
        let condition = control
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "AdmissionEnforced"));
        let counts = counts.cloned().unwrap_or_default();
        Some(AdmissionRecord {
            mode: mode.to_string(),
            enforced: condition
                .map(|c| c.status.clone())
                .unwrap_or_else(|| "Unknown".into()),
            reason: condition
                .map(|c| c.reason.clone())
                .unwrap_or_else(|| "NotYetEvaluated".into()),
            message: condition.map(|c| c.message.clone()).unwrap_or_default(),
            allowed: counts.allowed,
            warned: counts.warned,
            denied: counts.denied,
        })
    }
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
            admission: None,
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

#[cfg(test)]
mod admission_tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    use super::*;
    use crate::api::{ControlStatus, Mode};
    use crate::metrics::AdmissionCounts;

    fn control(mode: Mode, condition: Option<(&str, &str)>) -> Control {
        let mut c: Control = serde_json::from_value(serde_json::json!({
            "apiVersion": "soc2.dev/v1alpha1", "kind": "Control", "metadata": {"name": "images"},
            "spec": {"criteria": ["CC6.8"], "category": "Security", "title": "t", "check": {"imageProvenance": {}}},
        }))
        .expect("control");
        c.spec.mode = Some(mode);
        c.status = condition.map(|(status, reason)| ControlStatus {
            conditions: vec![Condition {
                type_: "AdmissionEnforced".into(),
                status: status.into(),
                reason: reason.into(),
                message: "the admission webhook is registered and serving".into(),
                last_transition_time: Time("2026-06-01T00:00:00Z".parse().expect("time")),
                observed_generation: None,
            }],
            ..Default::default()
        });
        c
    }

    #[test]
    fn enforce_controls_record_the_webhook_state_and_its_decisions() {
        let counts = AdmissionCounts {
            allowed: 7,
            warned: 0,
            denied: 2,
        };
        let record = AdmissionRecord::of(
            &control(Mode::Enforce, Some(("True", "WebhookRegistered"))),
            Some(&counts),
        )
        .expect("a record");
        assert_eq!(record.mode, "Enforce");
        assert_eq!(record.enforced, "True");
        assert_eq!(record.reason, "WebhookRegistered");
        assert_eq!((record.allowed, record.warned, record.denied), (7, 0, 2));
    }

    #[test]
    fn audit_controls_have_no_record_and_unevaluated_ones_say_so() {
        assert_eq!(AdmissionRecord::of(&control(Mode::Audit, None), None), None);
        let record = AdmissionRecord::of(&control(Mode::Warn, None), None).expect("a record");
        assert_eq!(record.enforced, "Unknown");
        assert_eq!(record.reason, "NotYetEvaluated");
        assert_eq!(record.allowed + record.warned + record.denied, 0);
    }
}
