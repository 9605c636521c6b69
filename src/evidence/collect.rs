//! Building a snapshot's documents: each control re-evaluated exactly as the controller does, at snapshot time.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;

use super::document::{ControlDocument, OperationRecord};
use super::ledger::EvaluationLedger;
use crate::api::Control;
use crate::evaluate::{evaluate, required_kinds};
use crate::validation::validate;
use crate::view::{ClusterSnapshot, Reads};

/// What the previous snapshot saw of the controller's evaluations, to count the ones since.
#[derive(Clone, Debug, Default)]
pub struct OperationBaseline {
    /// When the previous snapshot was taken.
    pub previous_snapshot_at: Option<Timestamp>,
    /// Each control's ledger count at the previous snapshot.
    pub counts: BTreeMap<String, u64>,
}

/// The documents for `controls` at `now`. `snapshot_for` gives the view a control's check kinds need;
/// `ledger` (operator only) says how often the controller evaluated each control since `baseline`, and
/// `baseline` is updated for the next snapshot.
pub fn control_documents(
    snapshot_id: &str,
    controls: &[Control],
    now: Timestamp,
    snapshot_for: impl Fn(&Reads) -> ClusterSnapshot,
    ledger: Option<&EvaluationLedger>,
    baseline: &mut OperationBaseline,
) -> Result<Vec<ControlDocument>, serde_json::Error> {
    let mut docs = Vec::with_capacity(controls.len());
    let mut counts = BTreeMap::new();
    for control in controls {
        let name = control.metadata.name.clone().unwrap_or_default();
        let result = validate(&control.spec)
            .map_err(|e| e.to_string())
            .and_then(|v| {
                let view = snapshot_for(&required_kinds(&v));
                evaluate(&name, &v, &view, now).map_err(|e| e.to_string())
            });
        let operation = match ledger {
            None => OperationRecord::default(),
            Some(ledger) => {
                let entry = ledger.get(&name);
                let total = entry.map(|e| e.evaluations).unwrap_or(0);
                counts.insert(name.clone(), total);
                let since = total.saturating_sub(baseline.counts.get(&name).copied().unwrap_or(0));
                OperationRecord {
                    evaluations_since_previous: since,
                    last_evaluated_at: entry.map(|e| e.last.to_string()),
                    previous_snapshot_at: baseline.previous_snapshot_at.map(|t| t.to_string()),
                    not_evaluated_in_window: baseline.previous_snapshot_at.is_some() && since == 0,
                }
            }
        };
        docs.push(ControlDocument::new(
            snapshot_id,
            &now.to_string(),
            control,
            result.as_ref().map_err(Clone::clone),
            operation,
        )?);
    }
    if ledger.is_some() {
        baseline.counts = counts;
        baseline.previous_snapshot_at = Some(now);
    }
    Ok(docs)
}
