//! A review's settings as the controller uses them, and when a cycle is due.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::effective::AccessScope;
use crate::api::{
    AccessReviewSpec, CycleStatus, DEFAULT_PRIVILEGED_CLUSTER_ROLES,
    DEFAULT_REVOCATION_GRACE_PERIOD, ReviewSubjects, SubjectKind,
};
use crate::evidence::schedule::{Schedule, snapshot_id};
use crate::view::{ClusterSnapshot, ScopeMatcher};

/// An AccessReview's spec, checked and parsed.
#[derive(Clone, Debug)]
pub struct ReviewSettings {
    /// When cycles open.
    pub schedule: Schedule,
    /// How long a cycle may take.
    pub due_within: Duration,
    /// How long a revocation may take.
    pub grace: Duration,
    /// Who and what is reviewed.
    pub subjects: ReviewSubjects,
}

/// Why a spec cannot run, as the Ready condition says it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidReview(pub String);

fn duration(field: &str, value: &str) -> Result<Duration, InvalidReview> {
    let d = humantime::parse_duration(value).map_err(|e| {
        InvalidReview(format!(
            "{field} {value:?} is not a duration ({e}); write e.g. 336h"
        ))
    })?;
    if d.is_zero() {
        return Err(InvalidReview(format!("{field} must be longer than 0")));
    }
    Ok(d)
}

impl ReviewSettings {
    /// Checks `spec` and parses what it names; the error names the field.
    pub fn new(spec: &AccessReviewSpec) -> Result<Self, InvalidReview> {
        let schedule = Schedule::parse(
            spec.schedule.interval.as_deref(),
            spec.schedule.cron.as_deref(),
        )
        .map_err(|e| InvalidReview(format!("spec.{e}")))?;
        let due_within = duration("spec.dueWithin", &spec.due_within)?;
        let grace = duration(
            "spec.revocationGracePeriod",
            spec.revocation_grace_period
                .as_deref()
                .unwrap_or(DEFAULT_REVOCATION_GRACE_PERIOD),
        )?;
        if spec
            .reviewers
            .users
            .iter()
            .flatten()
            .chain(spec.reviewers.groups.iter().flatten())
            .next()
            .is_none()
        {
            return Err(InvalidReview(
                "declare at least one reviewer in spec.reviewers.users or spec.reviewers.groups"
                    .into(),
            ));
        }
        let subjects = spec.subjects.clone().unwrap_or_default();
        if subjects.kinds.as_ref().is_some_and(Vec::is_empty) {
            return Err(InvalidReview(
                "spec.subjects.kinds is empty: name User, Group or ServiceAccount, or leave it out for all three".into(),
            ));
        }
        // Selectors are checked against an empty view: their syntax does not depend on the cluster.
        ScopeMatcher::new(subjects.bindings.as_ref(), &ClusterSnapshot::default())
            .map_err(|e| InvalidReview(format!("spec.subjects.bindings: {e}")))?;
        Ok(ReviewSettings {
            schedule,
            due_within,
            grace,
            subjects,
        })
    }

    /// The access scope over `view` (whose Namespaces a namespace selector reads).
    pub fn scope(&self, view: &ClusterSnapshot) -> Result<AccessScope, InvalidReview> {
        let kinds: BTreeSet<SubjectKind> = match &self.subjects.kinds {
            Some(kinds) => kinds.iter().copied().collect(),
            None => [
                SubjectKind::User,
                SubjectKind::Group,
                SubjectKind::ServiceAccount,
            ]
            .into(),
        };
        let bindings = ScopeMatcher::new(self.subjects.bindings.as_ref(), view)
            .map_err(|e| InvalidReview(format!("spec.subjects.bindings: {e}")))?;
        Ok(AccessScope {
            kinds,
            bindings,
            privileged_only: self.subjects.privileged_only.unwrap_or(false),
            privileged_cluster_roles: self
                .subjects
                .privileged_cluster_roles
                .clone()
                .unwrap_or_else(|| {
                    DEFAULT_PRIVILEGED_CLUSTER_ROLES
                        .iter()
                        .map(|s| s.to_string())
                        .collect()
                }),
            include_default_bindings: self.subjects.include_default_bindings.unwrap_or(false),
        })
    }

    /// The tick of the cycle that should be open at `now`, when it is not the cycle in `status`: a review opens
    /// its first cycle when it is created (for the schedule's current period), then one per tick. Ticks missed
    /// while the operator was down are not opened late one by one: the latest is, and the status shows the gap.
    pub fn cycle_to_open(
        &self,
        current: Option<&CycleStatus>,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let tick = self.schedule.tick_at_or_before(now)?;
        match current {
            Some(c) if c.id == cycle_id(tick) => None,
            Some(c) if c.opened.0 >= tick => None,
            _ => Some(tick),
        }
    }

    /// When the cycle after the one of `tick` opens.
    pub fn next_cycle(&self, tick: Timestamp) -> Option<Timestamp> {
        self.schedule.next_after(tick)
    }
}

/// The id of the cycle for a schedule tick: the tick in UTC, e.g. `20261001T090000Z`.
pub fn cycle_id(tick: Timestamp) -> String {
    snapshot_id(tick)
}

/// The tick a cycle id names.
pub fn tick_of(id: &str) -> Option<Timestamp> {
    k8s_openapi::jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", id)
        .ok()?
        .to_zoned(k8s_openapi::jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::api::{ReviewSchedule, Reviewers};

    fn spec(interval: &str) -> AccessReviewSpec {
        AccessReviewSpec {
            title: None,
            schedule: ReviewSchedule {
                interval: Some(interval.into()),
                cron: None,
            },
            subjects: None,
            reviewers: Reviewers {
                users: Some(vec!["alice".into()]),
                groups: None,
            },
            due_within: "336h".into(),
            revocation_grace_period: None,
            evidence_store: None,
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cycle(id: &str, opened: &str) -> CycleStatus {
        CycleStatus {
            id: id.into(),
            opened: Time(at(opened)),
            due: Time(at(opened)),
            completed: None,
            population_digest: String::new(),
            evidence_store: String::new(),
            subjects: 0,
            decided: 0,
            kept: 0,
            to_revoke: 0,
            revoked: 0,
            revocations_overdue: 0,
            overdue: false,
            undecided: Vec::new(),
            changes: Default::default(),
            privileged_since_review: None,
        }
    }

    #[test]
    fn the_first_cycle_opens_at_once_then_one_per_tick() {
        let settings = ReviewSettings::new(&spec("24h")).unwrap();
        let now = at("2026-12-07T15:00:00Z");
        let tick = settings.cycle_to_open(None, now).unwrap();
        assert_eq!(cycle_id(tick), "20261207T000000Z");
        assert_eq!(tick_of("20261207T000000Z"), Some(tick));
        let open = cycle("20261207T000000Z", "2026-12-07T15:00:00Z");
        assert_eq!(settings.cycle_to_open(Some(&open), now), None);
        assert_eq!(
            settings.cycle_to_open(Some(&open), at("2026-12-07T23:59:59Z")),
            None
        );
        assert_eq!(
            settings
                .cycle_to_open(Some(&open), at("2026-12-08T00:00:01Z"))
                .map(cycle_id)
                .as_deref(),
            Some("20261208T000000Z")
        );
        // Missed ticks: only the latest opens.
        assert_eq!(
            settings
                .cycle_to_open(Some(&open), at("2026-12-11T08:00:00Z"))
                .map(cycle_id)
                .as_deref(),
            Some("20261211T000000Z")
        );
        assert_eq!(settings.next_cycle(tick), Some(at("2026-12-08T00:00:00Z")));
    }

    #[test]
    fn invalid_specs_name_their_field() {
        let mut s = spec("1s");
        assert!(
            ReviewSettings::new(&s)
                .unwrap_err()
                .0
                .contains("schedule.interval")
        );
        s = spec("24h");
        s.due_within = "soon".into();
        assert!(
            ReviewSettings::new(&s)
                .unwrap_err()
                .0
                .contains("spec.dueWithin")
        );
        s = spec("24h");
        s.revocation_grace_period = Some("0s".into());
        assert!(
            ReviewSettings::new(&s)
                .unwrap_err()
                .0
                .contains("spec.revocationGracePeriod")
        );
        s = spec("24h");
        s.reviewers = Reviewers::default();
        assert!(ReviewSettings::new(&s).unwrap_err().0.contains("reviewer"));
        s = spec("24h");
        s.subjects = Some(ReviewSubjects {
            kinds: Some(vec![]),
            ..Default::default()
        });
        assert!(
            ReviewSettings::new(&s)
                .unwrap_err()
                .0
                .contains("spec.subjects.kinds")
        );
        s = spec("24h");
        s.schedule.cron = Some("0 * * * *".into());
        assert!(
            ReviewSettings::new(&s)
                .unwrap_err()
                .0
                .contains("exactly one")
        );
        assert!(tick_of("not-a-cycle").is_none());
    }
}
