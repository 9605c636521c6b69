//! The status this replica last wrote for each Control.
//!
//! A reconcile gets the Control from the watch cache, which may not have received the status this replica wrote a
//! moment ago. Compared with that stale status, a result that went back to what the cache still shows looks
//! unchanged and is not written: the Control would keep saying Compliant after a violation came back (seen on
//! the real control plane at 100k objects, when a change followed the previous write within milliseconds). So the
//! comparison uses this replica's own last write while the cache has not caught up with it.
//!
//! resourceVersions are opaque: they are only compared for equality. The versions a write was based on and the
//! versions it produced are remembered; a cached Control at one of them has not seen the last write; at any other
//! version someone else wrote after it (another replica, a user), and the cache is what counts.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::api::{Control, ControlStatus};

/// The last status written per Control name.
#[derive(Debug, Default)]
pub struct WrittenStatuses {
    by_name: Mutex<HashMap<String, Written>>,
}

#[derive(Debug)]
struct Written {
    /// Versions the cache may still be at without having seen `status`.
    behind: HashSet<String>,
    /// The version `status` was written at.
    latest: String,
    status: ControlStatus,
}

impl WrittenStatuses {
    /// The status a new one is compared with: the cached Control's, or this replica's last write when the cache
    /// has not caught up with it.
    pub fn previous(&self, control: &Control) -> Option<ControlStatus> {
        let cached = control.status.clone();
        let (Some(name), Some(version)) =
            (&control.metadata.name, &control.metadata.resource_version)
        else {
            return cached;
        };
        let Ok(mut by_name) = self.by_name.lock() else {
            return cached;
        };
        match by_name.get(name) {
            Some(w) if w.behind.contains(version) => Some(w.status.clone()),
            Some(_) => {
                // Caught up, or someone else wrote since: the cache holds the truth from now on.
                by_name.remove(name);
                cached
            }
            None => cached,
        }
    }

    /// Records that `status` was written for `control` (at the version the cache showed), producing `written`.
    pub fn record(&self, control: &Control, written: Option<String>, status: ControlStatus) {
        let (Some(name), Some(written)) = (&control.metadata.name, written) else {
            return;
        };
        let Ok(mut by_name) = self.by_name.lock() else {
            return;
        };
        let based_on = control.metadata.resource_version.clone();
        let entry = by_name.entry(name.clone()).or_insert_with(|| Written {
            behind: HashSet::new(),
            latest: written.clone(),
            status: status.clone(),
        });
        entry.behind.extend(based_on);
        // Earlier writes of this series: the cache may show one of them before it shows this one.
        let earlier = std::mem::replace(&mut entry.latest, written);
        entry.behind.insert(earlier);
        entry.behind.remove(&entry.latest);
        entry.status = status;
    }

    /// Forgets `name` (deleted, or this replica no longer leads).
    pub fn forget(&self, name: &str) {
        if let Ok(mut by_name) = self.by_name.lock() {
            by_name.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(version: &str, compliant: bool) -> Control {
        let mut c: Control = serde_json::from_value(serde_json::json!({
            "apiVersion": "soc2.dev/v1alpha1", "kind": "Control",
            "metadata": { "name": "c", "resourceVersion": version },
            "spec": { "criteria": ["CC6.1"], "category": "Security", "title": "t", "owner": "o",
                      "check": { "networkIsolation": {} } },
        }))
        .expect("control");
        c.status = Some(status(compliant));
        c
    }

    fn status(compliant: bool) -> ControlStatus {
        ControlStatus {
            observed_generation: Some(i64::from(compliant)),
            ..ControlStatus::default()
        }
    }

    #[test]
    fn a_cache_behind_the_last_write_is_answered_with_the_write() {
        let written = WrittenStatuses::default();
        let stale = control("10", false);
        written.record(&stale, Some("11".into()), status(true));
        assert_eq!(
            written.previous(&stale),
            Some(status(true)),
            "cache still at the version written over"
        );
        // A second write before the cache caught up: the cache may show the first one.
        written.record(&stale, Some("12".into()), status(false));
        assert_eq!(written.previous(&stale), Some(status(false)));
        assert_eq!(written.previous(&control("11", true)), Some(status(false)));
        // Caught up: the cache counts, and the memory is dropped.
        assert_eq!(written.previous(&control("12", false)), Some(status(false)));
        assert_eq!(
            written.previous(&stale),
            Some(status(false)),
            "no memory left: the cache's own"
        );
    }

    #[test]
    fn a_write_by_someone_else_wins() {
        let written = WrittenStatuses::default();
        written.record(&control("10", false), Some("11".into()), status(true));
        assert_eq!(written.previous(&control("15", false)), Some(status(false)));
        assert_eq!(
            written.previous(&control("10", false)),
            Some(status(false)),
            "forgotten"
        );
    }

    #[test]
    fn a_forgotten_control_is_answered_from_the_cache() {
        let written = WrittenStatuses::default();
        written.record(&control("10", false), Some("11".into()), status(true));
        written.forget("c");
        assert_eq!(written.previous(&control("10", false)), Some(status(false)));
    }
}
