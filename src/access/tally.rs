//! Counting a cycle's decisions: who decided what on which subject, which revocations were carried out, what is
//! still undecided.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};

use super::effective::Population;
use crate::api::{AccessReviewDecision, AuthenticatedUser, SubjectKey, Verdict};

/// A cycle to count decisions for.
#[derive(Clone, Copy, Debug)]
pub struct CycleRef<'a> {
    /// The AccessReview.
    pub review: &'a str,
    /// The cycle id.
    pub id: &'a str,
    /// When every subject must be decided.
    pub due: Timestamp,
    /// How long a revocation may take.
    pub grace: Duration,
}

/// The decision that counts for one subject.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Decided {
    /// Keep or revoke.
    pub verdict: Verdict,
    /// The reviewer's comment.
    pub comment: String,
    /// The AccessReviewDecision it comes from.
    pub decision: String,
    /// The reviewer it names.
    pub reviewer: String,
    /// Who the API server authenticated as creating it.
    pub authenticated: AuthenticatedUser,
    /// When it was admitted (its creation time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
}

/// One subject of the cycle and what became of it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SubjectOutcome {
    /// The subject.
    pub subject: SubjectKey,
    /// Why its access was privileged when the cycle opened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub privileged: Vec<String>,
    /// The decision that counts (the newest admitted one); none while undecided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decided>,
    /// For a revoked subject: since when none of its reviewed access is granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried_out: Option<Timestamp>,
    /// A revoked subject whose access is still granted after the grace period.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revocation_overdue: bool,
}

/// What was made of one AccessReviewDecision.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DecisionReview {
    /// Its name.
    pub name: String,
    /// Subjects it decided that count (a newer decision may supersede them later).
    pub counted: u32,
    /// Items that do not count, each with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

/// A cycle's decisions, counted.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    /// Every subject of the population, in its order.
    pub outcomes: Vec<SubjectOutcome>,
    /// Every decision on the cycle, oldest first.
    pub decisions: Vec<DecisionReview>,
    /// When the last subject was decided; none while any is undecided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<Timestamp>,
    /// Past due with subjects undecided.
    pub overdue: bool,
}

impl Tally {
    /// Subjects with a decision.
    pub fn decided(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.decision.is_some())
            .count()
    }

    /// Subjects decided `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.decision.as_ref().is_some_and(|d| d.verdict == verdict))
            .count()
    }

    /// Revoked subjects whose access is gone.
    pub fn revoked(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.carried_out.is_some())
            .count()
    }

    /// Revocations not carried out within the grace period.
    pub fn revocations_overdue(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.revocation_overdue)
            .count()
    }

    /// Subjects without a decision.
    pub fn undecided(&self) -> impl Iterator<Item = &SubjectKey> {
        self.outcomes
            .iter()
            .filter(|o| o.decision.is_none())
            .map(|o| &o.subject)
    }
}

/// Counts the decisions on `cycle` over its `population`.
///
/// `current` is the in-scope access now (`None` when RBAC cannot be read: revocations are then taken as last
/// seen); `carried_out` the times revocations were first seen carried out, as recorded before (so that the time
/// survives a restart). Decisions are taken oldest first and a newer decision on a subject supersedes an older one.
/// A decision counts only when the admission webhook recorded its author as the reviewer it names; an item counts
/// only for a subject of the population and never on the reviewer's own access.
pub fn tally(
    cycle: CycleRef<'_>,
    population: &Population,
    decisions: &[Arc<AccessReviewDecision>],
    current: Option<&Population>,
    carried_out: &BTreeMap<SubjectKey, Timestamp>,
    now: Timestamp,
) -> Tally {
    let ordered = on_cycle(cycle.review, cycle.id, decisions);
    let mut chosen: BTreeMap<&SubjectKey, Decided> = BTreeMap::new();
    let mut reviews = Vec::new();
    for decision in ordered {
        let name = decision.name_any();
        let mut review = DecisionReview {
            name: name.clone(),
            counted: 0,
            ignored: Vec::new(),
        };
        let Some(authenticated) = authenticated(decision) else {
            review.ignored.push(format!(
                "not authenticated: spec.authenticated does not name the reviewer {:?}, so the decision was not \
                 admitted by the operator's webhook (was it serving?); create it again while the webhook serves",
                decision.spec.reviewer
            ));
            reviews.push(review);
            continue;
        };
        let mut seen: Vec<&SubjectKey> = Vec::new();
        for item in &decision.spec.decisions {
            let subject = &item.subject;
            let Some(member) = population.get(subject) else {
                review.ignored.push(format!(
                    "{subject} is not in cycle {}'s population",
                    cycle.id
                ));
                continue;
            };
            if subject.is_requester(&authenticated.username, &authenticated.groups) {
                review.ignored.push(format!(
                    "{subject} is the reviewer's own access, which they may not decide"
                ));
                continue;
            }
            if seen.contains(&subject) {
                review.ignored.push(format!(
                    "{subject} is decided twice in this decision; the first counts"
                ));
                continue;
            }
            seen.push(subject);
            review.counted += 1;
            chosen.insert(
                &member.subject,
                Decided {
                    verdict: item.decision,
                    comment: item.comment.clone(),
                    decision: name.clone(),
                    reviewer: decision.spec.reviewer.clone(),
                    authenticated: authenticated.clone(),
                    decided_at: decision.metadata.creation_timestamp.as_ref().map(|t| t.0),
                },
            );
        }
        reviews.push(review);
    }
    let outcomes: Vec<SubjectOutcome> = population
        .subjects
        .iter()
        .map(|member| {
            let decision = chosen.remove(&member.subject);
            let (carried, overdue) = match &decision {
                Some(d) if d.verdict == Verdict::Revoke => {
                    revocation(&member.subject, d, current, carried_out, cycle.grace, now)
                }
                _ => (None, false),
            };
            SubjectOutcome {
                subject: member.subject.clone(),
                privileged: member.privileged.clone(),
                decision,
                carried_out: carried,
                revocation_overdue: overdue,
            }
        })
        .collect();
    let all_decided = outcomes.iter().all(|o| o.decision.is_some());
    let completed = all_decided.then(|| {
        outcomes
            .iter()
            .filter_map(|o| o.decision.as_ref().map(|d| d.decided_at.unwrap_or(now)))
            .max()
            .unwrap_or(now)
    });
    Tally {
        overdue: !all_decided && now > cycle.due,
        outcomes,
        decisions: reviews,
        completed,
    }
}

/// The decisions on cycle `id` of the AccessReview `review`, oldest first (by creation time, then name): the order
/// in which a newer decision on a subject supersedes an older one.
pub fn on_cycle<'a>(
    review: &str,
    id: &str,
    decisions: &'a [Arc<AccessReviewDecision>],
) -> Vec<&'a Arc<AccessReviewDecision>> {
    let mut ordered: Vec<&Arc<AccessReviewDecision>> = decisions
        .iter()
        .filter(|d| d.spec.access_review == review && d.spec.cycle == id)
        .collect();
    ordered.sort_by(|a, b| {
        let at = |d: &AccessReviewDecision| d.metadata.creation_timestamp.as_ref().map(|t| t.0);
        at(a)
            .cmp(&at(b))
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
    ordered
}

/// Who the admission webhook recorded as creating `decision`, when that is the reviewer it names: only then does
/// the decision count.
pub fn authenticated(decision: &AccessReviewDecision) -> Option<&AuthenticatedUser> {
    decision
        .spec
        .authenticated
        .as_ref()
        .filter(|a| a.username == decision.spec.reviewer)
}

/// Since when a revoked subject's access is gone, and whether it is overdue.
fn revocation(
    subject: &SubjectKey,
    decided: &Decided,
    current: Option<&Population>,
    carried_out: &BTreeMap<SubjectKey, Timestamp>,
    grace: Duration,
    now: Timestamp,
) -> (Option<Timestamp>, bool) {
    let recorded = carried_out.get(subject).copied();
    let Some(current) = current else {
        return (recorded, false);
    };
    if current.get(subject).is_none() {
        return (Some(recorded.unwrap_or(now)), false);
    }
    let deadline = decided.decided_at.and_then(|at| at.checked_add(grace).ok());
    (None, deadline.is_some_and(|d| now > d))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    use super::*;
    use crate::access::SubjectAccess;
    use crate::api::{AccessReviewDecisionSpec, SubjectDecision};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn population(names: &[&str]) -> Population {
        let mut subjects: Vec<SubjectAccess> = names
            .iter()
            .map(|n| SubjectAccess {
                subject: SubjectKey::user(n),
                grants: Vec::new(),
                privileged: vec!["administrative rights".into()],
            })
            .collect();
        subjects.sort_by(|a, b| a.subject.cmp(&b.subject));
        Population { subjects }
    }

    fn decision(
        name: &str,
        created: &str,
        reviewer: &str,
        items: &[(&str, Verdict)],
    ) -> Arc<AccessReviewDecision> {
        Arc::new(AccessReviewDecision {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(Time(at(created))),
                ..Default::default()
            },
            spec: AccessReviewDecisionSpec {
                access_review: "quarterly".into(),
                cycle: "20261001T000000Z".into(),
                reviewer: reviewer.into(),
                decisions: items
                    .iter()
                    .map(|(subject, verdict)| SubjectDecision {
                        subject: SubjectKey::user(subject),
                        decision: *verdict,
                        comment: format!("{verdict:?} {subject}"),
                    })
                    .collect(),
                authenticated: Some(AuthenticatedUser {
                    username: reviewer.into(),
                    uid: None,
                    groups: vec!["oidc:security".into()],
                }),
            },
            status: None,
        })
    }

    fn cycle() -> CycleRef<'static> {
        CycleRef {
            review: "quarterly",
            id: "20261001T000000Z",
            due: at("2026-10-15T00:00:00Z"),
            grace: Duration::from_secs(72 * 3600),
        }
    }

    fn run(
        decisions: &[Arc<AccessReviewDecision>],
        current: Option<&Population>,
        now: &str,
    ) -> Tally {
        tally(
            cycle(),
            &population(&["bob", "carol", "dave"]),
            decisions,
            current,
            &BTreeMap::new(),
            at(now),
        )
    }

    fn verdicts(t: &Tally) -> Vec<(String, Option<Verdict>)> {
        t.outcomes
            .iter()
            .map(|o| {
                (
                    o.subject.name.clone(),
                    o.decision.as_ref().map(|d| d.verdict),
                )
            })
            .collect()
    }

    #[test]
    fn an_undecided_cycle_is_overdue_only_after_its_due_date() {
        let t = run(&[], None, "2026-10-14T23:59:59Z");
        assert!(!t.overdue);
        assert_eq!(t.decided(), 0);
        assert_eq!(t.undecided().count(), 3);
        assert!(run(&[], None, "2026-10-15T00:00:01Z").overdue);
    }

    #[test]
    fn every_subject_decided_completes_the_cycle_at_the_last_decision() {
        let decisions = [
            decision(
                "d1",
                "2026-10-02T10:00:00Z",
                "alice",
                &[("bob", Verdict::Keep), ("carol", Verdict::Keep)],
            ),
            decision(
                "d2",
                "2026-10-03T10:00:00Z",
                "alice",
                &[("dave", Verdict::Revoke)],
            ),
        ];
        let t = run(&decisions, None, "2026-10-20T00:00:00Z");
        assert_eq!(t.completed, Some(at("2026-10-03T10:00:00Z")));
        assert!(
            !t.overdue,
            "decided late is not overdue: every subject is decided"
        );
        assert_eq!((t.count(Verdict::Keep), t.count(Verdict::Revoke)), (2, 1));
        assert_eq!(
            t.decisions.iter().map(|d| d.counted).collect::<Vec<_>>(),
            [2, 1]
        );
        let bob = t.outcomes[0].decision.as_ref().unwrap();
        assert_eq!(bob.authenticated.groups, ["oidc:security"]);
        assert_eq!(bob.decision, "d1");
    }

    #[test]
    fn a_newer_decision_supersedes_an_older_one_whatever_the_listing_order() {
        let decisions = [
            decision(
                "z-late",
                "2026-10-05T00:00:00Z",
                "erin",
                &[("bob", Verdict::Revoke)],
            ),
            decision(
                "a-early",
                "2026-10-02T00:00:00Z",
                "alice",
                &[("bob", Verdict::Keep)],
            ),
        ];
        let t = run(&decisions, None, "2026-10-06T00:00:00Z");
        assert_eq!(verdicts(&t)[0], ("bob".to_string(), Some(Verdict::Revoke)));
        assert_eq!(t.outcomes[0].decision.as_ref().unwrap().reviewer, "erin");
    }

    #[test]
    fn unauthenticated_decisions_and_invalid_items_do_not_count() {
        let mut forged = decision(
            "forged",
            "2026-10-02T00:00:00Z",
            "alice",
            &[("bob", Verdict::Keep)],
        );
        Arc::make_mut(&mut forged).spec.authenticated = None;
        let mut impersonated = decision(
            "other",
            "2026-10-02T00:00:00Z",
            "alice",
            &[("carol", Verdict::Keep)],
        );
        Arc::make_mut(&mut impersonated)
            .spec
            .authenticated
            .as_mut()
            .unwrap()
            .username = "mallory".into();
        let own = decision(
            "own",
            "2026-10-02T00:00:00Z",
            "dave",
            &[("dave", Verdict::Keep)],
        );
        let stranger = decision(
            "stranger",
            "2026-10-02T00:00:00Z",
            "alice",
            &[("zed", Verdict::Keep)],
        );
        let twice = decision(
            "twice",
            "2026-10-03T00:00:00Z",
            "alice",
            &[("carol", Verdict::Keep), ("carol", Verdict::Revoke)],
        );
        let mut other_cycle = decision(
            "old",
            "2026-10-02T00:00:00Z",
            "alice",
            &[("bob", Verdict::Keep)],
        );
        Arc::make_mut(&mut other_cycle).spec.cycle = "20260701T000000Z".into();
        let t = run(
            &[forged, impersonated, own, stranger, twice, other_cycle],
            None,
            "2026-10-04T00:00:00Z",
        );
        assert_eq!(
            verdicts(&t),
            [
                ("bob".to_string(), None),
                ("carol".to_string(), Some(Verdict::Keep)),
                ("dave".to_string(), None)
            ]
        );
        let ignored: Vec<(String, String)> = t
            .decisions
            .iter()
            .flat_map(|d| d.ignored.iter().map(|i| (d.name.clone(), i.clone())))
            .collect();
        assert_eq!(ignored.len(), 5, "{ignored:#?}");
        assert!(ignored[0].1.starts_with("not authenticated"));
        assert!(ignored[1].1.starts_with("not authenticated"));
        assert!(ignored[2].1.contains("own access"));
        assert!(ignored[3].1.contains("not in cycle"));
        assert!(ignored[4].1.contains("twice"));
        assert_eq!(
            t.decisions.len(),
            5,
            "the other cycle's decision is not listed"
        );
    }

    #[test]
    fn a_group_member_may_not_decide_on_the_group() {
        let mut p = population(&[]);
        p.subjects.push(SubjectAccess {
            subject: SubjectKey::group("oidc:security"),
            grants: Vec::new(),
            privileged: Vec::new(),
        });
        let mut d = decision("d", "2026-10-02T00:00:00Z", "alice", &[]);
        Arc::make_mut(&mut d).spec.decisions.push(SubjectDecision {
            subject: SubjectKey::group("oidc:security"),
            decision: Verdict::Keep,
            comment: "ours".into(),
        });
        let t = tally(
            cycle(),
            &p,
            &[d],
            None,
            &BTreeMap::new(),
            at("2026-10-03T00:00:00Z"),
        );
        assert_eq!(t.decided(), 0);
    }

    #[test]
    fn revocations_are_carried_out_when_the_access_is_gone_and_overdue_after_the_grace_period() {
        let decisions = [decision(
            "d",
            "2026-10-02T00:00:00Z",
            "alice",
            &[("bob", Verdict::Revoke)],
        )];
        let still = population(&["bob", "carol", "dave"]);
        let gone = population(&["carol", "dave"]);

        let within = run(&decisions, Some(&still), "2026-10-04T23:00:00Z");
        assert_eq!((within.revoked(), within.revocations_overdue()), (0, 0));
        let late = run(&decisions, Some(&still), "2026-10-05T00:00:01Z");
        assert_eq!((late.revoked(), late.revocations_overdue()), (0, 1));
        let done = run(&decisions, Some(&gone), "2026-10-06T00:00:00Z");
        assert_eq!((done.revoked(), done.revocations_overdue()), (1, 0));
        assert_eq!(
            done.outcomes[0].carried_out,
            Some(at("2026-10-06T00:00:00Z"))
        );

        // The first time it was seen gone is kept; unreadable RBAC keeps what was recorded and judges nothing.
        let recorded = BTreeMap::from([(SubjectKey::user("bob"), at("2026-10-03T00:00:00Z"))]);
        let p = population(&["bob", "carol", "dave"]);
        let t = tally(
            cycle(),
            &p,
            &decisions,
            Some(&gone),
            &recorded,
            at("2026-10-09T00:00:00Z"),
        );
        assert_eq!(t.outcomes[0].carried_out, Some(at("2026-10-03T00:00:00Z")));
        let t = tally(
            cycle(),
            &p,
            &decisions,
            None,
            &recorded,
            at("2026-10-09T00:00:00Z"),
        );
        assert_eq!((t.revoked(), t.revocations_overdue()), (1, 0));
        // Granted again: no longer carried out.
        let t = tally(
            cycle(),
            &p,
            &decisions,
            Some(&still),
            &recorded,
            at("2026-10-09T00:00:00Z"),
        );
        assert_eq!((t.revoked(), t.revocations_overdue()), (0, 1));
    }

    #[test]
    fn an_empty_population_is_complete_at_once() {
        let t = tally(
            cycle(),
            &Population::default(),
            &[],
            None,
            &BTreeMap::new(),
            at("2026-10-01T00:00:05Z"),
        );
        assert_eq!(t.completed, Some(at("2026-10-01T00:00:05Z")));
        assert!(!t.overdue);
    }
}
