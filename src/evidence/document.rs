//! The per-control evidence document: what a control said, what the operator found, and proof it kept running.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{Control, ControlException};
use crate::engine::evaluate::Evaluation;
use crate::engine::exceptions::key;
use crate::view::ResourceRef;

/// Version of the document and manifest format written; readers refuse versions they do not know.
///
/// 2 added to manifests the public key beside each signature and the schedule the writer kept (none for ad-hoc
/// scans), and to documents the exceptions applied with the findings each waived.
pub const FORMAT_VERSION: u32 = 2;

/// Every format version this program reads (3 is [`FORMAT_VERSION`] with access review cycles listed).
pub const READABLE_FORMAT_VERSIONS: [u32; 3] = [1, 2, 3];

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
    /// The schedule tick of the previous snapshot; evaluations are counted from then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_snapshot_at: Option<String>,
    /// How often the controller re-evaluates the control when nothing changes (its `spec.interval`), in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<u64>,
    /// True when the controller did not evaluate the control at all during a window longer than its interval (the
    /// control did not run between the previous snapshot and this one; the snapshot's own evaluation is the only
    /// one at its end). A window shorter than the interval needs no evaluation and is never flagged.
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
    /// The ControlExceptions that waived findings in this evaluation, with the findings each waived.
    #[serde(default)]
    pub exceptions_applied: Vec<AppliedException>,
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
    pub fn of(
        control: &Control,
        counts: Option<&crate::runtime::metrics::AdmissionCounts>,
    ) -> Option<Self> {
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
        exceptions: &[Arc<ControlException>],
        operation: OperationRecord,
    ) -> Result<Self, serde_json::Error> {
        let exceptions_applied = match &result {
            Ok(e) => AppliedException::of(e, exceptions),
            Err(_) => Vec::new(),
        };
        let (evaluation, invalid) = match result {
            Ok(e) => (serde_json::to_value(e)?, None),
            Err(reason) => (Value::Null, Some(reason)),
        };
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

/// A ControlException as an auditor reads it in the evidence: who approved what, why, until when, and which
/// findings it waived in this evaluation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AppliedException {
    /// `namespace/name` of the ControlException, as the findings reference it.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Who approved it.
    pub approved_by: String,
    /// The approval ticket.
    pub ticket: String,
    /// Why the risk is accepted and which compensating controls apply. Empty when the exception was no longer in
    /// the cluster when the evidence was collected.
    pub justification: String,
    /// When it expires (RFC 3339); the waived findings fail again from then.
    pub expires_at: String,
    /// The findings it waived.
    pub waived: Vec<WaivedFinding>,
}

/// One finding an exception waived.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WaivedFinding {
    /// The resource.
    pub resource: ResourceRef,
    /// The rule that failed.
    pub rule: String,
}

impl AppliedException {
    /// The exceptions `evaluation` applied, sorted by name; `exceptions` (the ControlExceptions the evaluation
    /// saw) supply what the findings' references do not carry.
    pub fn of(evaluation: &Evaluation, exceptions: &[Arc<ControlException>]) -> Vec<Self> {
        let mut applied: BTreeMap<&str, AppliedException> = BTreeMap::new();
        for finding in &evaluation.findings {
            let Some(reference) = &finding.exception else {
                continue;
            };
            let entry = applied.entry(&reference.name).or_insert_with(|| {
                let source = exceptions.iter().find(|e| key(e) == reference.name);
                AppliedException {
                    name: reference.name.clone(),
                    namespace: reference
                        .name
                        .split_once('/')
                        .map(|(ns, _)| ns.to_string())
                        .unwrap_or_default(),
                    approved_by: reference.approved_by.clone(),
                    ticket: reference.ticket.clone(),
                    justification: source
                        .map(|e| e.spec.justification.clone())
                        .unwrap_or_default(),
                    expires_at: reference.expires_at.clone(),
                    waived: Vec::new(),
                }
            });
            entry.waived.push(WaivedFinding {
                resource: finding.resource.clone(),
                rule: finding.rule.clone(),
            });
        }
        applied.into_values().collect()
    }
}

#[cfg(test)]
mod admission_tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    use super::*;
    use crate::api::{ControlStatus, Mode};
    use crate::runtime::metrics::AdmissionCounts;

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
