//! Which part of a report's period the evidence covers. A scheduled sample stands for the time until the next
//! sample the schedule expected; time before the first sample, after the last, and every stretch with a missed
//! scheduled snapshot is not covered. Ad-hoc samples (`soc2ctl scan --evidence`) have no schedule and stand for
//! the moment they were taken only.

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use super::seconds;
use crate::evidence::schedule::Schedule;

/// A sample as coverage sees it.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When it was taken.
    pub at: Timestamp,
    /// The schedule its writer kept; `None` for an ad-hoc snapshot.
    pub schedule: Option<Schedule>,
    /// Why the writer missed ticks before this sample, when it recorded a reason.
    pub gap_reason: Option<String>,
}

/// A stretch of the period attributed to one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Index of the sample in the slice given to [`compute`].
    pub sample: usize,
    /// Start (the sample's time).
    pub from: Timestamp,
    /// End (exclusive).
    pub to: Timestamp,
}

impl Segment {
    /// Its length in seconds.
    pub fn seconds(&self) -> u64 {
        u64::try_from(self.to.as_second() - self.from.as_second()).unwrap_or(0)
    }
}

/// An interval of the period no sample covers.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NotCovered {
    /// From (RFC 3339, to the second).
    pub from: String,
    /// To.
    pub to: String,
    /// Why.
    pub reason: String,
}

/// What the period's evidence covers.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    /// True when no sample in the period was taken on a schedule: the evidence shows points in time only.
    pub ad_hoc: bool,
    /// The schedule of the last scheduled sample, e.g. `every 1h` or `cron 0 * * * * (UTC)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// How late a sample may be after the tick the schedule expected before the time between counts as not covered.
    pub tolerance: String,
    /// Start of the period reported.
    pub period_start: String,
    /// End of the period reported (the requested end, or the report's time when that was in the future).
    pub period_end: String,
    /// Set when the requested end was in the future and the period was cut at the report's time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clamped: Option<String>,
    /// The first sample in the period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_sample: Option<String>,
    /// The last sample in the period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sample: Option<String>,
    /// Length of the period in seconds.
    pub period_seconds: u64,
    /// Seconds of it that samples cover.
    pub covered_seconds: u64,
    /// Every interval not covered, in order.
    pub not_covered: Vec<NotCovered>,
    /// Each change of the recorded schedule in the period: coverage follows the schedule each sample declares, so
    /// an auditor should see when it changed (a longer interval covers more time with fewer samples).
    pub schedule_changes: Vec<String>,
}

impl Coverage {
    /// True when the whole period is covered by scheduled samples.
    pub fn complete(&self) -> bool {
        !self.ad_hoc
            && self.not_covered.is_empty()
            && self.period_seconds > 0
            && self.covered_seconds >= self.period_seconds
    }
}

/// The tolerance for a sample taken after `tick` following `previous`: a tenth of the schedule's step there, at
/// least a minute.
fn tolerance(previous: Timestamp, tick: Timestamp) -> i64 {
    ((tick.as_second() - previous.as_second()) / 10).max(60)
}

const TOLERANCE_TEXT: &str = "a tenth of the schedule interval, at least 1 minute";

fn describe(schedule: &Schedule) -> String {
    let record = schedule.record();
    match (record.interval, record.cron) {
        (Some(i), _) => format!("every {i}"),
        (None, Some(c)) => format!("cron {c} (UTC)"),
        (None, None) => "unknown".into(),
    }
}

fn missed_ticks(schedule: &Schedule, from: Timestamp, to: Timestamp) -> u64 {
    schedule.ticks_between(from, to)
}

/// Coverage of `[from, to]` by `samples` (sorted by time, all within the period), and the segment each sample
/// stands for. A `to` later than `now` is cut at `now`: evidence cannot speak for time that has not happened.
pub fn compute(
    samples: &[Sample],
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> (Coverage, Vec<Segment>) {
    let (end, clamped) = if to > now {
        (
            now,
            Some(format!(
                "the requested end {} is in the future: the period is reported up to the report's time {}",
                seconds(to),
                seconds(now)
            )),
        )
    } else {
        (to, None)
    };
    let end = end.max(from);
    let mut not_covered = Vec::new();
    let mut segments = Vec::new();
    let mut gap = |a: Timestamp, b: Timestamp, reason: String| {
        if b > a {
            not_covered.push(NotCovered {
                from: seconds(a),
                to: seconds(b),
                reason,
            });
        }
    };
    let ad_hoc = samples.iter().all(|s| s.schedule.is_none());
    match (samples.first(), samples.last()) {
        (None, _) | (_, None) => gap(
            from,
            end,
            "no evidence snapshot was taken in the period".into(),
        ),
        _ if ad_hoc => gap(
            from,
            end,
            format!(
                "the {} snapshot(s) in the period were taken ad hoc (soc2ctl scan), without a schedule: each \
                 shows the controls at the moment it was taken, not their operation in between",
                samples.len()
            ),
        ),
        (Some(first), Some(_)) => {
            gap(
                from,
                first.at,
                format!("before the first sample ({})", seconds(first.at)),
            );
            // Only scheduled samples stand for time: an ad-hoc sample between them is a point, and the time after
            // it is judged by the schedule of the scheduled sample before it.
            let scheduled: Vec<usize> = (0..samples.len())
                .filter(|i| samples[*i].schedule.is_some())
                .collect();
            if let Some(&first_scheduled) = scheduled.first()
                && samples[first_scheduled].at > first.at
            {
                gap(
                    first.at,
                    samples[first_scheduled].at,
                    format!(
                        "only ad-hoc snapshots before the first scheduled sample ({})",
                        seconds(samples[first_scheduled].at)
                    ),
                );
            }
            for (k, &i) in scheduled.iter().enumerate() {
                let s = &samples[i];
                let next = scheduled.get(k + 1).map(|&j| &samples[j]);
                let boundary = next.map_or(end, |n| n.at).min(end);
                let Some(schedule) = &s.schedule else {
                    continue;
                };
                let Some(expected) = schedule.next_after(s.at) else {
                    segments.push(Segment {
                        sample: i,
                        from: s.at,
                        to: boundary,
                    });
                    continue;
                };
                if boundary.as_second() <= expected.as_second() + tolerance(s.at, expected) {
                    segments.push(Segment {
                        sample: i,
                        from: s.at,
                        to: boundary,
                    });
                    continue;
                }
                segments.push(Segment {
                    sample: i,
                    from: s.at,
                    to: expected,
                });
                let reason = match next {
                    Some(n) if n.at <= end => format!(
                        "no scheduled snapshot between {} and {}: {} scheduled snapshot(s) ({}) not taken{}",
                        seconds(s.at),
                        seconds(n.at),
                        missed_ticks(schedule, s.at, n.at),
                        describe(schedule),
                        n.gap_reason
                            .as_ref()
                            .map(|r| format!("; the writer recorded: {r}"))
                            .unwrap_or_default()
                    ),
                    _ => format!(
                        "after the last scheduled sample ({}): the schedule ({}) expected the next at {}",
                        seconds(s.at),
                        describe(schedule),
                        seconds(expected)
                    ),
                };
                gap(expected, boundary, reason);
            }
        }
    }
    let mut schedule_changes = Vec::new();
    let mut last: Option<String> = None;
    for s in samples {
        let Some(schedule) = &s.schedule else {
            continue;
        };
        let now_described = describe(schedule);
        if let Some(before) = &last
            && *before != now_described
        {
            schedule_changes.push(format!(
                "the schedule changed from {before} to {now_described} at the sample of {}",
                seconds(s.at)
            ));
        }
        last = Some(now_described);
    }
    let period_seconds = u64::try_from(end.as_second() - from.as_second()).unwrap_or(0);
    let covered_seconds = segments.iter().map(Segment::seconds).sum();
    let coverage = Coverage {
        ad_hoc,
        schedule: samples
            .iter()
            .rev()
            .find_map(|s| s.schedule.as_ref())
            .map(describe),
        tolerance: TOLERANCE_TEXT.into(),
        period_start: seconds(from),
        period_end: seconds(end),
        clamped,
        first_sample: samples.first().map(|s| seconds(s.at)),
        last_sample: samples.last().map(|s| seconds(s.at)),
        period_seconds,
        covered_seconds,
        not_covered,
        schedule_changes,
    };
    (coverage, segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn hourly(at: &str) -> Sample {
        Sample {
            at: ts(at),
            schedule: Some(Schedule::parse(Some("1h"), None).unwrap()),
            gap_reason: None,
        }
    }

    #[test]
    fn an_unbroken_hourly_chain_covers_its_period() {
        let samples = [
            hourly("2026-01-01T00:00:00Z"),
            hourly("2026-01-01T01:00:00Z"),
            hourly("2026-01-01T02:00:00Z"),
        ];
        let (c, segments) = compute(
            &samples,
            ts("2026-01-01T00:00:00Z"),
            ts("2026-01-01T02:59:59Z"),
            ts("2026-06-01T00:00:00Z"),
        );
        assert!(c.complete(), "{c:?}");
        assert_eq!(c.covered_seconds, c.period_seconds);
        assert_eq!(segments.len(), 3);
        assert_eq!(segments[2].to, ts("2026-01-01T02:59:59Z"));
    }

    #[test]
    fn time_before_the_first_after_the_last_and_missed_ticks_is_not_covered() {
        let mut late = hourly("2026-01-01T05:00:00Z");
        late.gap_reason = Some("evidence store unavailable".into());
        let samples = [
            hourly("2026-01-01T01:00:00Z"),
            hourly("2026-01-01T02:00:00Z"),
            late,
        ];
        let (c, _) = compute(
            &samples,
            ts("2026-01-01T00:00:00Z"),
            ts("2026-01-01T23:59:59Z"),
            ts("2026-06-01T00:00:00Z"),
        );
        let rows: Vec<(&str, &str)> = c
            .not_covered
            .iter()
            .map(|n| (n.from.as_str(), n.to.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                ("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"),
                ("2026-01-01T03:00:00Z", "2026-01-01T05:00:00Z"),
                ("2026-01-01T06:00:00Z", "2026-01-01T23:59:59Z"),
            ]
        );
        assert!(
            c.not_covered[1].reason.contains("2 scheduled snapshot(s)"),
            "{:?}",
            c.not_covered[1]
        );
        assert!(
            c.not_covered[1]
                .reason
                .contains("evidence store unavailable")
        );
        assert!(
            c.not_covered[2]
                .reason
                .contains("after the last scheduled sample")
        );
        assert_eq!(c.covered_seconds, 3 * 3600);
        assert!(!c.complete());
    }

    #[test]
    fn a_future_end_is_cut_at_the_report_time_and_said() {
        let samples = [hourly("2026-01-01T00:00:00Z")];
        let (c, segments) = compute(
            &samples,
            ts("2026-01-01T00:00:00Z"),
            ts("2026-12-31T23:59:59Z"),
            ts("2026-01-01T00:30:00Z"),
        );
        assert_eq!(c.period_end, "2026-01-01T00:30:00Z");
        assert!(c.clamped.as_deref().unwrap().contains("in the future"));
        assert!(c.complete());
        assert_eq!(segments[0].to, ts("2026-01-01T00:30:00Z"));
    }

    #[test]
    fn ad_hoc_samples_cover_no_time() {
        let at = |s: &str| Sample {
            at: ts(s),
            schedule: None,
            gap_reason: None,
        };
        let samples = [at("2026-01-01T00:00:01Z"), at("2026-01-01T00:00:05Z")];
        let (c, segments) = compute(
            &samples,
            ts("2026-01-01T00:00:00Z"),
            ts("2026-12-31T23:59:59Z"),
            ts("2027-01-02T00:00:00Z"),
        );
        assert!(c.ad_hoc);
        assert!(segments.is_empty());
        assert_eq!(c.covered_seconds, 0);
        assert_eq!(c.not_covered.len(), 1);
        assert!(c.not_covered[0].reason.contains("ad hoc"));
    }

    #[test]
    fn a_period_without_samples_is_not_covered_at_all() {
        let (c, _) = compute(
            &[],
            ts("2026-01-01T00:00:00Z"),
            ts("2026-01-31T00:00:00Z"),
            ts("2026-06-01T00:00:00Z"),
        );
        assert_eq!(c.not_covered.len(), 1);
        assert_eq!(c.covered_seconds, 0);
        assert!(!c.complete());
    }

    #[test]
    fn an_ad_hoc_sample_in_a_scheduled_chain_covers_no_time_and_hides_no_gap() {
        let ad_hoc = Sample {
            at: ts("2026-01-01T01:10:00Z"),
            schedule: None,
            gap_reason: None,
        };
        let samples = [
            hourly("2026-01-01T00:00:00Z"),
            hourly("2026-01-01T01:00:00Z"),
            ad_hoc,
            hourly("2026-01-03T00:00:00Z"),
        ];
        let (c, segments) = compute(
            &samples,
            ts("2026-01-01T00:00:00Z"),
            ts("2026-01-03T00:59:59Z"),
            ts("2026-06-01T00:00:00Z"),
        );
        assert_eq!(
            c.not_covered
                .iter()
                .map(|n| (n.from.as_str(), n.to.as_str()))
                .collect::<Vec<_>>(),
            [("2026-01-01T02:00:00Z", "2026-01-03T00:00:00Z")]
        );
        assert!(!c.complete());
        assert!(segments.iter().all(|s| s.sample != 2));
    }

    #[test]
    fn schedule_changes_are_named() {
        let mut daily = hourly("2026-01-01T02:00:00Z");
        daily.schedule = Some(Schedule::parse(Some("24h"), None).unwrap());
        let samples = [
            hourly("2026-01-01T00:00:00Z"),
            hourly("2026-01-01T01:00:00Z"),
            daily,
        ];
        let (c, _) = compute(
            &samples,
            ts("2026-01-01T00:00:00Z"),
            ts("2026-01-01T03:00:00Z"),
            ts("2026-06-01T00:00:00Z"),
        );
        assert_eq!(c.schedule_changes.len(), 1);
        assert!(
            c.schedule_changes[0].contains("from every 1h to every 1day"),
            "{:?}",
            c.schedule_changes
        );
    }

    #[test]
    fn a_sample_late_within_tolerance_keeps_coverage() {
        let samples = [
            hourly("2026-01-01T00:00:00Z"),
            hourly("2026-01-01T01:05:00Z"),
        ];
        let (c, _) = compute(
            &samples,
            ts("2026-01-01T00:00:00Z"),
            ts("2026-01-01T01:30:00Z"),
            ts("2026-06-01T00:00:00Z"),
        );
        assert!(c.complete(), "{c:?}");
    }
}
