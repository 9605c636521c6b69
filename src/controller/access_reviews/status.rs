//! What the status of an AccessReview and of its decisions says, computed from a cycle's tally (pure).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::access::tally::{DecisionReview, Tally};
use crate::access::{AccessChange, ChangeKind, Population, diff};
use crate::api::{
    AccessReviewDecisionStatus, ChangeCounts, CycleStatus, LISTED_SUBJECTS, ListedSubjects,
    Revocation, SubjectKey, Verdict,
};
use crate::controller::cluster_scoped::condition;
use crate::evidence::access_review::{ACCESS_REVIEW_FORMAT_VERSION, CycleRecord, RECORD_KIND};

/// The cycle's summary with the counts of `tally`.
pub fn summarise(mut cycle: CycleStatus, tally: &Tally) -> CycleStatus {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    cycle.subjects = count(tally.outcomes.len());
    cycle.decided = count(tally.decided());
    cycle.kept = count(tally.count(Verdict::Keep));
    cycle.to_revoke = count(tally.count(Verdict::Revoke));
    cycle.revoked = count(tally.revoked());
    cycle.revocations_overdue = count(tally.revocations_overdue());
    cycle.overdue = tally.overdue;
    cycle.completed = tally.completed.map(Time);
    cycle.undecided = tally
        .undecided()
        .take(LISTED_SUBJECTS)
        .map(SubjectKey::to_string)
        .collect();
    cycle
}

/// The subjects holding privileged access now (`current`) that no review decided on: those that gained it after
/// the cycle opened (compared with the cycle's `population`; the next cycle reviews them), and those the cycle lists
/// as gaining it since the last completed cycle (`changes`) that are still privileged and undecided. `None` when
/// RBAC cannot be read.
pub fn privileged_since_review(
    population: &Population,
    changes: &[AccessChange],
    tally: &Tally,
    current: Option<&Population>,
) -> Option<ListedSubjects> {
    let current = current?;
    let mut subjects: std::collections::BTreeSet<SubjectKey> = diff(population, current)
        .into_iter()
        .filter(|c| c.gained_privilege)
        .map(|c| c.subject)
        .collect();
    let undecided: std::collections::BTreeSet<&SubjectKey> = tally.undecided().collect();
    for change in changes.iter().filter(|c| c.gained_privilege) {
        let still = current
            .get(&change.subject)
            .is_some_and(|s| !s.privileged.is_empty());
        if still && undecided.contains(&change.subject) {
            subjects.insert(change.subject.clone());
        }
    }
    Some(ListedSubjects {
        count: u32::try_from(subjects.len()).unwrap_or(u32::MAX),
        subjects: subjects
            .iter()
            .take(LISTED_SUBJECTS)
            .map(SubjectKey::to_string)
            .collect(),
    })
}

/// How many subjects changed in each way.
pub fn change_counts(changes: &[AccessChange]) -> ChangeCounts {
    let n = |kind: ChangeKind| {
        u32::try_from(changes.iter().filter(|c| c.kind == kind).count()).unwrap_or(u32::MAX)
    };
    ChangeCounts {
        new_subjects: n(ChangeKind::NewSubject),
        widened: n(ChangeKind::AccessWidened),
        reduced: n(ChangeKind::AccessReduced),
        removed: n(ChangeKind::AccessRemoved),
    }
}

/// The Ready condition's reason and message for a running review.
pub fn progress(cycle: &CycleStatus) -> (&'static str, String) {
    let due = cycle.due.0;
    let undecided = cycle.subjects.saturating_sub(cycle.decided);
    let mut message = if cycle.completed.is_some() {
        format!(
            "cycle {}: all {} subject(s) decided ({} kept, {} to revoke)",
            cycle.id, cycle.subjects, cycle.kept, cycle.to_revoke
        )
    } else {
        format!(
            "cycle {}: {} of {} subject(s) decided, due {due}",
            cycle.id, cycle.decided, cycle.subjects
        )
    };
    if cycle.overdue {
        message.push_str(&format!("; overdue with {undecided} undecided"));
    }
    if cycle.to_revoke > 0 {
        message.push_str(&format!(
            "; {} of {} revocations carried out",
            cycle.revoked, cycle.to_revoke
        ));
    }
    if cycle.revocations_overdue > 0 {
        message.push_str(&format!(
            ", {} past the grace period",
            cycle.revocations_overdue
        ));
    }
    let reason = if cycle.overdue {
        "CycleOverdue"
    } else if cycle.completed.is_some() {
        "CycleCompleted"
    } else {
        "CycleOpen"
    };
    (reason, message)
}

/// A decision's status: whether it counted, and the revocations it asked for that were carried out.
pub fn decision_status(
    previous: Option<&AccessReviewDecisionStatus>,
    review: &DecisionReview,
    revocations: Vec<Revocation>,
    generation: Option<i64>,
    now: Timestamp,
) -> AccessReviewDecisionStatus {
    let previous_conditions = previous
        .map(|p| p.conditions.as_slice())
        .unwrap_or_default();
    let (ok, reason, message) = if review.ignored.is_empty() {
        (
            true,
            "Counted",
            format!("{} subject decision(s) counted", review.counted),
        )
    } else {
        (
            false,
            if review.counted == 0 {
                "NotCounted"
            } else {
                "PartlyCounted"
            },
            format!(
                "{} counted; not counted: {}",
                review.counted,
                review.ignored.join("; ")
            ),
        )
    };
    AccessReviewDecisionStatus {
        conditions: vec![condition(
            "Accepted",
            previous_conditions,
            ok,
            reason,
            &message,
            generation,
            now,
        )],
        revocations,
    }
}

/// The revocations recorded in decision statuses: when each subject's revocation was first seen carried out.
pub fn recorded_revocations<'a>(
    statuses: impl Iterator<Item = &'a AccessReviewDecisionStatus>,
) -> BTreeMap<SubjectKey, Timestamp> {
    let mut map = BTreeMap::new();
    for status in statuses {
        for r in &status.revocations {
            map.entry(r.subject.clone())
                .and_modify(|t: &mut Timestamp| *t = (*t).min(r.carried_out.0))
                .or_insert(r.carried_out.0);
        }
    }
    map
}

/// The cycle's record for the evidence store.
pub fn record(
    review: &str,
    title: Option<&str>,
    cycle: &CycleStatus,
    tally: &Tally,
) -> CycleRecord {
    CycleRecord {
        format_version: ACCESS_REVIEW_FORMAT_VERSION,
        kind: RECORD_KIND.into(),
        access_review: review.into(),
        title: title.map(str::to_string),
        cycle: cycle.id.clone(),
        opened: cycle.opened.0.to_string(),
        due: cycle.due.0.to_string(),
        population_digest: cycle.population_digest.clone(),
        subjects: cycle.subjects,
        tally: tally.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::SubjectAccess;
    use crate::access::tally::SubjectOutcome;

    fn access(subject: SubjectKey, privileged: bool) -> SubjectAccess {
        SubjectAccess {
            subject,
            grants: Vec::new(),
            privileged: if privileged {
                vec!["administrative rights".into()]
            } else {
                Vec::new()
            },
        }
    }

    fn population(mut subjects: Vec<SubjectAccess>) -> Population {
        subjects.sort_by(|a, b| a.subject.cmp(&b.subject));
        Population { subjects }
    }

    #[test]
    fn privileged_access_no_review_decided_on_is_listed() {
        let (alice, bob, carol, dave) = (
            SubjectKey::user("alice"),
            SubjectKey::user("bob"),
            SubjectKey::user("carol"),
            SubjectKey::user("dave"),
        );
        // The cycle opened with alice (privileged, reviewed before), carol (new and privileged since the last
        // completed cycle, undecided) and dave (likewise, but decided).
        let opened = population(vec![
            access(alice.clone(), true),
            access(carol.clone(), true),
            access(dave.clone(), true),
        ]);
        let gained = |s: &SubjectKey| AccessChange {
            subject: s.clone(),
            kind: ChangeKind::NewSubject,
            gained_privilege: true,
            details: Vec::new(),
        };
        let changes = vec![gained(&carol), gained(&dave)];
        let outcome = |s: &SubjectKey, decided: bool| SubjectOutcome {
            subject: s.clone(),
            privileged: Vec::new(),
            decision: decided.then(|| crate::access::tally::Decided {
                verdict: Verdict::Keep,
                comment: "ok".into(),
                decision: "d".into(),
                reviewer: "r".into(),
                authenticated: Default::default(),
                decided_at: None,
            }),
            carried_out: None,
            revocation_overdue: false,
        };
        let tally = Tally {
            outcomes: vec![
                outcome(&alice, true),
                outcome(&carol, false),
                outcome(&dave, true),
            ],
            ..Default::default()
        };
        // Now bob holds privileged access too, granted after the cycle opened.
        let now = population(vec![
            access(alice.clone(), true),
            access(bob.clone(), true),
            access(carol.clone(), true),
            access(dave.clone(), true),
        ]);
        let listed = privileged_since_review(&opened, &changes, &tally, Some(&now)).unwrap();
        assert_eq!(listed.count, 2);
        assert_eq!(listed.subjects, ["User bob", "User carol"]);
        // Carol's privileged access is gone: only bob is left.
        let now = population(vec![
            access(alice, true),
            access(bob, true),
            access(carol, false),
            access(dave, true),
        ]);
        let listed = privileged_since_review(&opened, &changes, &tally, Some(&now)).unwrap();
        assert_eq!(listed.subjects, ["User bob"]);
        // RBAC unreadable: nothing can be said.
        assert_eq!(
            privileged_since_review(&opened, &changes, &tally, None),
            None
        );
    }
}
