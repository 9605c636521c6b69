//! Building a snapshot's documents: each control re-evaluated exactly as the controller does, at snapshot time.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::document::{ControlDocument, OperationRecord};
use super::ledger::{EvaluationLedger, LedgerEntry};
use crate::api::Control;
use crate::engine::evaluate::{evaluate, required_kinds};
use crate::engine::validation::validate;
use crate::view::{ClusterSnapshot, Reads};

/// Slack on a control's interval before a window without evaluations counts as "did not run": the controller
/// requeues a little after the interval, and a reconcile can wait behind others.
const INTERVAL_TOLERANCE: Duration = Duration::from_secs(60);

/// What the previous snapshot saw of the controller's evaluations, to count the ones since.
#[derive(Clone, Debug, Default)]
pub struct OperationBaseline {
    /// The schedule tick of the previous snapshot.
    pub previous_snapshot_at: Option<Timestamp>,
    /// Each control's ledger count at the previous snapshot.
    pub counts: BTreeMap<String, u64>,
}

/// The documents for `controls` in the snapshot of `tick`, each evaluated at `tick` (offline scans and tests).
pub fn control_documents(
    snapshot_id: &str,
    controls: &[Control],
    tick: Timestamp,
    snapshot_for: impl Fn(&Reads) -> ClusterSnapshot,
    ledger: Option<&EvaluationLedger>,
    baseline: &mut OperationBaseline,
) -> Result<Vec<ControlDocument>, serde_json::Error> {
    control_documents_at(
        snapshot_id,
        controls,
        tick,
        tick,
        snapshot_for,
        ledger,
        baseline,
    )
}

/// The documents for `controls` in the snapshot of schedule tick `tick`, evaluated at `evaluated_at`.
/// `snapshot_for` gives the view a control's check kinds need; `ledger` (operator only) says how often the
/// controller evaluated each control since `baseline`, and `baseline` is updated for the next snapshot. Windows
/// are measured between ticks, never between evaluation times, so they cannot overlap or run backwards.
pub fn control_documents_at(
    snapshot_id: &str,
    controls: &[Control],
    tick: Timestamp,
    evaluated_at: Timestamp,
    snapshot_for: impl Fn(&Reads) -> ClusterSnapshot,
    ledger: Option<&EvaluationLedger>,
    baseline: &mut OperationBaseline,
) -> Result<Vec<ControlDocument>, serde_json::Error> {
    let mut docs = Vec::with_capacity(controls.len());
    let mut counts = BTreeMap::new();
    for control in controls {
        let name = control.metadata.name.clone().unwrap_or_default();
        let validated = validate(&control.spec);
        let interval = validated.as_ref().ok().map(|v| v.interval);
        let mut exceptions = Vec::new();
        let result = validated.map_err(|e| e.to_string()).and_then(|v| {
            let view = snapshot_for(&required_kinds(&v));
            exceptions = view.control_exceptions.clone();
            evaluate(&name, &v, &view, evaluated_at).map_err(|e| e.to_string())
        });
        let operation = match ledger {
            None => OperationRecord::default(),
            Some(ledger) => {
                let entry = ledger.get(&name);
                let total = entry.map(|e| e.evaluations).unwrap_or(0);
                counts.insert(name.clone(), total);
                let since = total.saturating_sub(baseline.counts.get(&name).copied().unwrap_or(0));
                operation_record(entry, since, baseline.previous_snapshot_at, tick, interval)
            }
        };
        docs.push(ControlDocument::new(
            snapshot_id,
            &evaluated_at.to_string(),
            control,
            result.as_ref().map_err(Clone::clone),
            &exceptions,
            operation,
        )?);
    }
    if ledger.is_some() {
        baseline.counts = counts;
        baseline.previous_snapshot_at = Some(tick);
    }
    Ok(docs)
}

/// The proof of operation for one control: `since` evaluations by the controller between the previous tick and
/// `tick`. The window counts as not run only when it is longer than the control's interval (plus tolerance), the
/// longest the controller may rightly go without evaluating it.
fn operation_record(
    entry: Option<LedgerEntry>,
    since: u64,
    previous_tick: Option<Timestamp>,
    tick: Timestamp,
    interval: Option<Duration>,
) -> OperationRecord {
    let window = previous_tick.map(|p| tick.as_second().saturating_sub(p.as_second()));
    let overdue = match (window, interval) {
        (Some(w), Some(i)) => {
            u64::try_from(w).unwrap_or(0) > i.as_secs().saturating_add(INTERVAL_TOLERANCE.as_secs())
        }
        _ => false,
    };
    OperationRecord {
        evaluations_since_previous: since,
        last_evaluated_at: entry.map(|e| e.last.to_string()),
        previous_snapshot_at: previous_tick.map(|t| t.to_string()),
        interval_seconds: interval.map(|i| i.as_secs()),
        not_evaluated_in_window: since == 0 && overdue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_window_shorter_than_the_interval_needs_no_evaluation() {
        let five_minutes = Some(Duration::from_secs(300));
        let tick = ts("2026-01-01T01:00:00Z");
        let short = operation_record(
            None,
            0,
            Some(ts("2026-01-01T00:58:00Z")),
            tick,
            five_minutes,
        );
        assert!(!short.not_evaluated_in_window);
        let within_tolerance = operation_record(
            None,
            0,
            Some(ts("2026-01-01T00:54:00Z")),
            tick,
            five_minutes,
        );
        assert!(!within_tolerance.not_evaluated_in_window);
        let long = operation_record(
            None,
            0,
            Some(ts("2026-01-01T00:00:00Z")),
            tick,
            five_minutes,
        );
        assert!(long.not_evaluated_in_window);
        assert_eq!(
            long.previous_snapshot_at.as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
        assert_eq!(long.interval_seconds, Some(300));
        let evaluated = operation_record(
            None,
            3,
            Some(ts("2026-01-01T00:00:00Z")),
            tick,
            five_minutes,
        );
        assert!(!evaluated.not_evaluated_in_window);
        assert!(!operation_record(None, 0, None, tick, five_minutes).not_evaluated_in_window);
        assert!(
            !operation_record(None, 0, Some(ts("2026-01-01T00:00:00Z")), tick, None)
                .not_evaluated_in_window,
            "an invalid control has no interval: its window is reported as invalid, not as not run"
        );
    }
}
