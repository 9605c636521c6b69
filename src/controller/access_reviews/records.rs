//! The latest record of each review's cycles, handed from the access review controller to the snapshot loops.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::evidence::access_review::CycleRecord;

/// Cycle records by AccessReview, with the EvidenceStore that keeps them.
#[derive(Default)]
pub struct CycleRecords {
    by_review: Mutex<BTreeMap<String, (String, Vec<CycleRecord>)>>,
}

impl CycleRecords {
    /// Replaces what `review` records: its cycles' records (the open one, and the previous one while its
    /// revocations are being carried out) kept in `store`.
    pub fn set(&self, review: &str, store: &str, records: Vec<CycleRecord>) {
        if let Ok(mut map) = self.by_review.lock() {
            map.insert(review.to_string(), (store.to_string(), records));
        }
    }

    /// Keeps only the reviews `keep` accepts (the others were deleted).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        if let Ok(mut map) = self.by_review.lock() {
            map.retain(|review, _| keep(review));
        }
    }

    /// Every record kept in `store`, by review then cycle.
    pub fn for_store(&self, store: &str) -> Vec<CycleRecord> {
        let Ok(map) = self.by_review.lock() else {
            return Vec::new();
        };
        map.values()
            .filter(|(s, _)| s == store)
            .flat_map(|(_, records)| records.iter().cloned())
            .collect()
    }
}
