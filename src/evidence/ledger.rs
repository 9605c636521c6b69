//! How often each control was evaluated: the reconcile records, the snapshot loop reads.
//!
//! Counters are monotonic per process; each snapshot loop remembers the counts it saw last, so several
//! EvidenceStores can read the same ledger without resetting each other.

use std::collections::BTreeMap;
use std::sync::Mutex;

use k8s_openapi::jiff::Timestamp;

/// Evaluations seen for one control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Evaluations since the process started.
    pub evaluations: u64,
    /// The last one.
    pub last: Timestamp,
}

/// Per-control evaluation counts, shared between the controller and the snapshot loops.
#[derive(Debug, Default)]
pub struct EvaluationLedger {
    entries: Mutex<BTreeMap<String, LedgerEntry>>,
}

impl EvaluationLedger {
    /// Records that `control` was evaluated at `at`.
    pub fn record(&self, control: &str, at: Timestamp) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.entry(control.to_string()).or_insert(LedgerEntry {
            evaluations: 0,
            last: at,
        });
        entry.evaluations += 1;
        entry.last = at;
    }

    /// What is known of `control`.
    pub fn get(&self, control: &str) -> Option<LedgerEntry> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(control).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_keeps_the_last_time() {
        let ledger = EvaluationLedger::default();
        assert_eq!(ledger.get("a"), None);
        let t1 = Timestamp::from_second(100).unwrap();
        let t2 = Timestamp::from_second(200).unwrap();
        ledger.record("a", t1);
        ledger.record("a", t2);
        ledger.record("b", t1);
        assert_eq!(
            ledger.get("a"),
            Some(LedgerEntry {
                evaluations: 2,
                last: t2
            })
        );
        assert_eq!(ledger.get("b").map(|e| e.evaluations), Some(1));
    }
}
