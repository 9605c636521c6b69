//! Building `ControlException.status` from an [`Assessment`], and deciding whether it must be written.

use k8s_openapi::jiff::Timestamp;

use super::cluster_scoped::condition;
use crate::api::{ControlExceptionStatus, ExceptionState};
use crate::engine::exceptions::Assessment;

/// Condition type: True while the exception waives findings.
pub const ACTIVE: &str = "Active";

/// The status for `assessment`; `matched` is how many failing findings it waived at this evaluation (`None` when
/// the control could not be evaluated). The condition keeps its `lastTransitionTime` from `previous` while its
/// status is unchanged.
pub fn build(
    previous: Option<&ControlExceptionStatus>,
    assessment: &Assessment,
    matched: Option<u32>,
    generation: Option<i64>,
    now: Timestamp,
) -> ControlExceptionStatus {
    let previous = previous.map_or(&[][..], |p| p.conditions.as_slice());
    ControlExceptionStatus {
        observed_generation: generation,
        state: Some(assessment.state),
        reason: Some(assessment.reason.into()),
        message: Some(assessment.message.clone()),
        conditions: vec![condition(
            ACTIVE,
            previous,
            assessment.state == ExceptionState::Active,
            assessment.reason,
            &assessment.message,
            generation,
            now,
        )],
        matched_findings: matched,
    }
}

/// True when `new` says anything `previous` does not.
pub fn needs_write(
    previous: Option<&ControlExceptionStatus>,
    new: &ControlExceptionStatus,
) -> bool {
    previous != Some(new)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    fn assessment(state: ExceptionState, reason: &'static str) -> Assessment {
        Assessment {
            state,
            reason,
            message: format!("{reason} message"),
        }
    }

    #[test]
    fn transition_time_changes_only_with_the_condition_status() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let t1: Timestamp = "2026-02-01T00:00:00Z".parse().unwrap();
        let first = build(
            None,
            &assessment(ExceptionState::Active, "Approved"),
            Some(2),
            Some(1),
            t0,
        );
        assert_eq!(first.conditions[0].status, "True");
        let again = build(
            Some(&first),
            &assessment(ExceptionState::Active, "Approved"),
            Some(2),
            Some(1),
            t1,
        );
        assert_eq!(again, first, "nothing changed: identical status, no write");
        assert!(!needs_write(Some(&first), &again));
        let expired = build(
            Some(&first),
            &assessment(ExceptionState::Expired, "Expired"),
            Some(0),
            Some(1),
            t1,
        );
        assert_eq!(expired.conditions[0].status, "False");
        assert_eq!(expired.conditions[0].last_transition_time, Time(t1));
        assert_eq!(expired.state, Some(ExceptionState::Expired));
        assert!(needs_write(Some(&first), &expired));
        assert!(needs_write(None, &first));
    }
}
