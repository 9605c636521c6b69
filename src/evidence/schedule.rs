//! When snapshots are due. Ticks are pure functions of time (intervals are aligned to the Unix epoch), so every
//! replica computes the same tick and a snapshot id derived from it names one snapshot per tick.

use std::str::FromStr;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use k8s_openapi::jiff::tz::TimeZone;

use super::manifest::ScheduleRecord;

/// Most ticks counted between two snapshots; a longer gap is reported as at least this many.
const MAX_COUNTED_TICKS: u64 = 100_000;

/// A snapshot schedule.
#[derive(Clone, Debug)]
pub enum Schedule {
    /// Every interval, aligned to the Unix epoch.
    Interval(Duration),
    /// A cron expression, evaluated in UTC.
    Cron(Box<croner::Cron>),
}

/// Why a schedule is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// Interval unparsable or too short.
    #[error("schedule.interval {0:?} is invalid: {1}")]
    Interval(String, String),
    /// Cron unparsable.
    #[error("schedule.cron {0:?} is invalid: {1}")]
    Cron(String, String),
    /// Both or neither given.
    #[error(
        "set exactly one of schedule.interval (e.g. \"1h\") or schedule.cron (e.g. \"0 * * * *\")"
    )]
    Ambiguous,
}

impl Schedule {
    /// The schedule from an interval (`1h`, `15m`; at least one minute) or a cron expression.
    pub fn parse(interval: Option<&str>, cron: Option<&str>) -> Result<Self, ScheduleError> {
        match (interval, cron) {
            (Some(i), None) => {
                let d = humantime::parse_duration(i)
                    .map_err(|e| ScheduleError::Interval(i.into(), e.to_string()))?;
                if d < Duration::from_secs(60) {
                    return Err(ScheduleError::Interval(
                        i.into(),
                        "the shortest interval is 1m".into(),
                    ));
                }
                Ok(Schedule::Interval(d))
            }
            (None, Some(c)) => croner::Cron::from_str(c)
                .map(|c| Schedule::Cron(Box::new(c)))
                .map_err(|e| ScheduleError::Cron(c.into(), e.to_string())),
            _ => Err(ScheduleError::Ambiguous),
        }
    }

    /// The schedule as recorded in manifests.
    pub fn record(&self) -> ScheduleRecord {
        match self {
            Schedule::Interval(d) => ScheduleRecord {
                interval: Some(humantime::format_duration(*d).to_string()),
                cron: None,
            },
            Schedule::Cron(c) => ScheduleRecord {
                interval: None,
                cron: Some(c.as_str().to_string()),
            },
        }
    }

    /// The schedule a manifest recorded.
    pub fn from_record(record: &ScheduleRecord) -> Result<Self, ScheduleError> {
        Schedule::parse(record.interval.as_deref(), record.cron.as_deref())
    }

    /// The latest tick at or before `now`.
    pub fn tick_at_or_before(&self, now: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Interval(d) => {
                let step = i64::try_from(d.as_secs()).ok()?.max(1);
                let s = now.as_second().div_euclid(step) * step;
                Timestamp::from_second(s).ok()
            }
            Schedule::Cron(c) => {
                let z = now.to_zoned(TimeZone::UTC);
                c.find_previous_occurrence(&z, true)
                    .ok()
                    .map(|z| z.timestamp())
            }
        }
    }

    /// The first tick strictly after `t`.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Interval(d) => {
                let step = i64::try_from(d.as_secs()).ok()?.max(1);
                let s = (t.as_second().div_euclid(step) + 1) * step;
                Timestamp::from_second(s).ok()
            }
            Schedule::Cron(c) => {
                let z = t.to_zoned(TimeZone::UTC);
                c.find_next_occurrence(&z, false)
                    .ok()
                    .map(|z| z.timestamp())
            }
        }
    }

    /// Ticks strictly between `from` and `to`: scheduled snapshots that were not taken.
    pub fn ticks_between(&self, from: Timestamp, to: Timestamp) -> u64 {
        if let Schedule::Interval(d) = self {
            let step = i64::try_from(d.as_secs()).unwrap_or(i64::MAX).max(1);
            let first = from.as_second().div_euclid(step) + 1;
            let last = (to.as_second() - 1).div_euclid(step);
            return u64::try_from(last - first + 1).unwrap_or(0);
        }
        let mut n = 0;
        let mut t = from;
        while let Some(next) = self.next_after(t) {
            if next >= to || n >= MAX_COUNTED_TICKS {
                break;
            }
            n += 1;
            t = next;
        }
        n
    }
}

/// The snapshot id for a tick: `20260101T120000Z`, sortable as text.
pub fn snapshot_id(tick: Timestamp) -> String {
    tick.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// The snapshot id of an ad-hoc snapshot (`soc2ctl scan --evidence`) taken at `at`, to the millisecond
/// (`20260101T120000.250Z`), so that two scans in the same second are two snapshots.
pub fn ad_hoc_snapshot_id(at: Timestamp) -> String {
    at.strftime("%Y%m%dT%H%M%S.%3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn interval_ticks_are_aligned_and_counted() {
        let s = Schedule::parse(Some("1h"), None).unwrap();
        assert_eq!(
            s.tick_at_or_before(ts("2026-01-01T10:59:59Z")),
            Some(ts("2026-01-01T10:00:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-01-01T10:00:00Z")),
            Some(ts("2026-01-01T11:00:00Z"))
        );
        assert_eq!(
            s.ticks_between(ts("2026-01-01T10:00:00Z"), ts("2026-01-01T14:00:00Z")),
            3
        );
        assert_eq!(
            s.ticks_between(ts("2026-01-01T10:00:00Z"), ts("2026-01-01T11:00:00Z")),
            0
        );
    }

    #[test]
    fn cron_ticks_in_utc() {
        let s = Schedule::parse(None, Some("0 */6 * * *")).unwrap();
        assert_eq!(
            s.tick_at_or_before(ts("2026-01-01T13:00:00Z")),
            Some(ts("2026-01-01T12:00:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-01-01T12:00:00Z")),
            Some(ts("2026-01-01T18:00:00Z"))
        );
        assert_eq!(
            s.ticks_between(ts("2026-01-01T00:00:00Z"), ts("2026-01-02T00:00:00Z")),
            3
        );
    }

    #[test]
    fn bad_schedules_are_explained() {
        assert!(
            Schedule::parse(Some("10s"), None)
                .unwrap_err()
                .to_string()
                .contains("1m")
        );
        assert!(Schedule::parse(None, Some("nope")).is_err());
        assert!(matches!(
            Schedule::parse(Some("1h"), Some("* * * * *")),
            Err(ScheduleError::Ambiguous)
        ));
        assert_eq!(snapshot_id(ts("2026-01-01T12:00:00Z")), "20260101T120000Z");
        assert_eq!(
            ad_hoc_snapshot_id(ts("2026-01-01T12:00:00.25Z")),
            "20260101T120000.250Z"
        );
        assert_eq!(
            ad_hoc_snapshot_id(ts("2026-01-01T12:00:00Z")),
            "20260101T120000.000Z"
        );
    }

    #[test]
    fn schedules_round_trip_through_their_record() {
        for (interval, cron) in [
            (Some("1h"), None),
            (Some("90m"), None),
            (None, Some("0 */6 * * *")),
        ] {
            let s = Schedule::parse(interval, cron).unwrap();
            let again = Schedule::from_record(&s.record()).unwrap();
            let t = ts("2026-01-01T13:10:00Z");
            assert_eq!(s.next_after(t), again.next_after(t));
        }
        assert_eq!(
            Schedule::parse(Some("60m"), None)
                .unwrap()
                .record()
                .interval
                .as_deref(),
            Some("1h")
        );
    }
}
