//! Periodic access reviews (CC6.2, CC6.3): the review of user access operates, on time, and what it decides is
//! carried out. Judged from AccessReview and AccessReviewDecision objects and from RBAC read live:
//!
//! - `review-not-operating`: no cycle completed within one schedule period plus `dueWithin` (or, before the first
//!   completion, the first cycle's due date passed; or no cycle opened at all), or the review's spec cannot run;
//! - `cycle-overdue`: the current cycle is past due with subjects undecided;
//! - `revocation-not-carried-out`: a subject decided `Revoke` in the current cycle by an authenticated reviewer
//!   still holds in-scope access after the review's grace period (RBAC resolved here, not taken from the status);
//! - `privileged-access-unreviewed`: a subject the controller lists in `status.cycle.privilegedSinceReview` (it
//!   gained privileged access since the last completed cycle and no decision covers it) still holds it;
//! - `no-access-review` / `access-review-missing`: nothing to judge where a review is required.
//!
//! The check computes nothing the access review controller writes back: it reads the statuses as facts and judges
//! them against the clock it is given. The decisions' authenticity is decided at admission by the operator's own
//! webhook (`crate::webhook::access_decisions`), so this check is audit-only.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::{Admissibility, Check, CheckReport, Finding};
use crate::access::cycle::ReviewSettings;
use crate::access::{Population, SubjectAccess, resolve, tally};
use crate::api::{
    AccessReview, AccessReviewCheck, AccessReviewDecision, CheckKind, CycleStatus, SubjectKey,
    SubjectKind, Verdict,
};
use crate::engine::validation::SpecError;
use crate::view::{ClusterSnapshot, Reads, ResourceKind, ResourceRef, ScopeMatcher};

/// The RBAC kinds resolved to tell who holds which access.
const RBAC_KINDS: [ResourceKind; 4] = [
    ResourceKind::ClusterRoleBinding,
    ResourceKind::RoleBinding,
    ResourceKind::ClusterRole,
    ResourceKind::Role,
];

/// The access review check (`spec.check.accessReview`).
pub struct PeriodicAccessReview;

impl Check for PeriodicAccessReview {
    const KIND: CheckKind = CheckKind::AccessReview;
    type Params = AccessReviewCheck;

    fn params(check: &crate::api::Check) -> Option<&AccessReviewCheck> {
        check.access_review.as_ref()
    }

    fn validate(params: &AccessReviewCheck) -> Result<(), SpecError> {
        if let Some(names) = &params.access_reviews {
            if names.is_empty() {
                return Err(SpecError::invalid_parameter(
                    "spec.check.accessReview.accessReviews",
                    "is empty, so the control would judge nothing; name AccessReviews or leave it out for all",
                ));
            }
            if names.iter().any(|n| n.trim().is_empty()) {
                return Err(SpecError::invalid_parameter(
                    "spec.check.accessReview.accessReviews",
                    "has a blank entry; name an AccessReview (kubectl get accessreviews)",
                ));
            }
        }
        Ok(())
    }

    fn reads(_: &AccessReviewCheck) -> Reads {
        let mut kinds = vec![
            ResourceKind::AccessReview,
            ResourceKind::AccessReviewDecision,
        ];
        kinds.extend(RBAC_KINDS);
        Reads::new(kinds, Vec::new())
    }

    fn admissibility(_: &AccessReviewCheck) -> Admissibility {
        Admissibility::AuditOnly(
            "access review decisions are authenticated at admission by the operator's own webhook (reviewer \
             identity, separation of duties); cycles, deadlines and revocations depend on time and on RBAC as a \
             whole, so no single object at admission can decide them",
        )
    }

    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &AccessReviewCheck,
        now: Timestamp,
    ) -> CheckReport {
        check(view, scope, params, now)
    }
}

/// The reference a finding about a reviewed subject carries: a ControlException names it by kind and name (and
/// namespace, for a ServiceAccount).
pub fn subject_ref(subject: &SubjectKey) -> ResourceRef {
    let api_version = match subject.kind {
        SubjectKind::ServiceAccount => "v1",
        SubjectKind::User | SubjectKind::Group => "rbac.authorization.k8s.io/v1",
    };
    ResourceRef {
        api_version: api_version.into(),
        kind: subject.kind.as_str().into(),
        namespace: subject.namespace.clone(),
        name: subject.name.clone(),
        uid: None,
    }
}

/// Runs the check at `now`.
pub fn check(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &AccessReviewCheck,
    now: Timestamp,
) -> CheckReport {
    let mut report = CheckReport::default();
    if report.unknown_if_missing(
        view,
        ResourceKind::AccessReview,
        ResourceRef::aspect("soc2.dev/v1alpha1", "AccessReview", "(all)"),
    ) {
        return report;
    }
    let reviews: Vec<&AccessReview> = view
        .access_reviews
        .iter()
        .map(AsRef::as_ref)
        .filter(|r| scope.matches(&r.metadata))
        .filter(|r| {
            params
                .access_reviews
                .as_ref()
                .is_none_or(|names| super::contains(names, &r.name_any()))
        })
        .collect();
    for name in params.access_reviews.iter().flatten() {
        if !reviews.iter().any(|r| &r.name_any() == name) {
            report.evaluated += 1;
            report.findings.push(Finding::fail(
                ResourceRef::aspect("soc2.dev/v1alpha1", "AccessReview", name),
                "access-review-missing",
                format!(
                    "AccessReview {name}, named by the control, does not exist, so the periodic review of access it \
                     stands for is not performed. Create it, or remove it from spec.check.accessReview.accessReviews."
                ),
            ));
        }
    }
    if reviews.is_empty() {
        if params.access_reviews.is_none() && params.effective_require_review() {
            report.evaluated += 1;
            report.findings.push(Finding::fail(
                ResourceRef::aspect("soc2.dev/v1alpha1", "AccessReview", "(none)"),
                "no-access-review",
                "no periodic access review is configured: no AccessReview exists, so nobody reviews who holds \
                 which access to the cluster. Create one (kubectl explain accessreview.spec) naming the reviewers, the \
                 schedule and the subjects in scope.",
            ));
        }
        return report;
    }
    let rbac_missing = RBAC_KINDS
        .into_iter()
        .map(|kind| {
            let aspect =
                ResourceRef::aspect("rbac.authorization.k8s.io/v1", kind_name(kind), "(all)");
            report.unknown_if_missing(view, kind, aspect)
        })
        .fold(false, |any, missing| any | missing);
    let decisions_missing = report.unknown_if_missing(
        view,
        ResourceKind::AccessReviewDecision,
        ResourceRef::aspect("soc2.dev/v1alpha1", "AccessReviewDecision", "(all)"),
    );
    let mut subjects: BTreeSet<ResourceRef> = BTreeSet::new();
    for review in reviews {
        report.evaluated += 1;
        let live = Live {
            view,
            rbac: !rbac_missing,
            decisions: !decisions_missing,
        };
        judge_review(review, &live, now, &mut subjects, &mut report);
    }
    report.evaluated += subjects.len();
    report
}

/// What the check can read beside the reviews.
struct Live<'a> {
    view: &'a ClusterSnapshot,
    /// RBAC is readable.
    rbac: bool,
    /// AccessReviewDecisions are readable.
    decisions: bool,
}

fn kind_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::ClusterRoleBinding => "ClusterRoleBinding",
        ResourceKind::RoleBinding => "RoleBinding",
        ResourceKind::ClusterRole => "ClusterRole",
        _ => "Role",
    }
}

fn judge_review(
    review: &AccessReview,
    live: &Live<'_>,
    now: Timestamp,
    subjects: &mut BTreeSet<ResourceRef>,
    report: &mut CheckReport,
) {
    let name = review.name_any();
    let resource = ResourceRef::of(review);
    let settings = match ReviewSettings::new(&review.spec) {
        Ok(s) => s,
        Err(e) => {
            report.findings.push(Finding::fail(
                resource,
                "review-not-operating",
                format!(
                    "AccessReview {name} cannot run, so no review of access takes place: {e}. Fix the spec \
                     (kubectl describe accessreview {name} shows the same reason)."
                ),
            ));
            return;
        }
    };
    let status = review.status.as_ref();
    let cycle = status.and_then(|s| s.cycle.as_ref());
    let created = review.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let period = period(&settings, now);
    let due_within = settings.due_within;
    // When the review must have completed a cycle by, measured from the last completion or, before the first, from
    // creation (and from the first cycle's due date, when one is open).
    let completed = status
        .and_then(|s| s.last_completed_cycle.as_ref())
        .map(|c| c.completed.0);
    let after_creation = add(add(created, Some(period)), Some(due_within));
    let deadline = match completed {
        Some(at) => add(add(Some(at), Some(period)), Some(due_within)),
        None => [after_creation, cycle.map(|c| c.due.0)]
            .into_iter()
            .flatten()
            .min(),
    };
    let Some(cycle) = cycle else {
        match deadline {
            Some(d) if now > d => report.findings.push(Finding::fail(
                resource,
                "review-not-operating",
                format!(
                    "AccessReview {name} has opened no cycle since it was created{}, so the periodic review of \
                     access did not operate{}. Check the operator's logs and the review's Ready condition.",
                    created.map(|c| format!(" on {c}")).unwrap_or_default(),
                    ready_message(review),
                ),
            )),
            _ => {
                if let Some(d) = deadline {
                    report.holds_until(d);
                }
                report.findings.push(Finding::unknown(
                    resource,
                    "review-not-reconciled",
                    format!(
                        "AccessReview {name} has no cycle yet{}, so whether it operates cannot be shown until the \
                         operator opens one",
                        ready_message(review)
                    ),
                ));
            }
        }
        return;
    };
    match deadline {
        Some(d) if now > d => {
            let since = match status.and_then(|s| s.last_completed_cycle.as_ref()) {
                Some(done) => format!(
                    "its last completed cycle, {}, completed on {}",
                    done.id, done.completed.0
                ),
                None => "no cycle has completed since it was created".into(),
            };
            report.findings.push(Finding::fail(
                resource.clone(),
                "review-not-operating",
                format!(
                    "AccessReview {name} did not operate within its schedule: {since}, and a cycle must complete \
                     within one schedule period ({}) plus dueWithin ({}), so by {d}. Reviewers decide every \
                     subject of cycle {} (kubectl get accessreview {name}).",
                    span(period),
                    span(due_within),
                    cycle.id
                ),
            ));
        }
        Some(d) => report.holds_until(d),
        None => {}
    }
    judge_cycle(&name, &resource, cycle, now, report);
    if !live.rbac {
        return; // Unknown, reported once for the control.
    }
    let Ok(scope) = settings.scope(live.view) else {
        return; // ReviewSettings::new checked that the selectors compile.
    };
    let current = resolve(live.view, &scope);
    if live.decisions {
        judge_revocations(
            &name,
            cycle,
            &live.view.access_review_decisions,
            &current,
            settings.grace,
            now,
            Out {
                report: &mut *report,
                subjects: &mut *subjects,
            },
        );
    }
    judge_privileged(&name, &resource, cycle, &current, subjects, report);
}

/// The review's Ready condition, as a clause, when it is not True.
fn ready_message(review: &AccessReview) -> String {
    review
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .filter(|c| c.status != "True")
        .map(|c| format!(" (Ready={}, {}: {})", c.status, c.reason, c.message))
        .unwrap_or_default()
}

/// One schedule period: from the tick at or before `now` to the next one.
fn period(settings: &ReviewSettings, now: Timestamp) -> Duration {
    let tick = settings.schedule.tick_at_or_before(now);
    tick.and_then(|t| Some((t, settings.schedule.next_after(t)?)))
        .and_then(|(t, next)| Duration::try_from(next.duration_since(t)).ok())
        .unwrap_or(Duration::ZERO)
}

/// A duration as people read it: a week or more in whole days as `92d`, else whole hours as `72h`.
fn span(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 7 * 86_400 && secs.is_multiple_of(86_400) {
        format!("{}d", secs / 86_400)
    } else if secs > 0 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else {
        humantime::format_duration(d).to_string()
    }
}

fn add(at: Option<Timestamp>, d: Option<Duration>) -> Option<Timestamp> {
    at?.checked_add(d?).ok()
}

fn judge_cycle(
    name: &str,
    resource: &ResourceRef,
    cycle: &CycleStatus,
    now: Timestamp,
    report: &mut CheckReport,
) {
    if cycle.completed.is_some() {
        return;
    }
    let past_due = now > cycle.due.0;
    if !(cycle.overdue || past_due) {
        report.holds_until(cycle.due.0);
        return;
    }
    let undecided = cycle.subjects.saturating_sub(cycle.decided);
    let listed = if cycle.undecided.is_empty() {
        String::new()
    } else {
        let more = (undecided as usize).saturating_sub(cycle.undecided.len());
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!(": {}{tail}", cycle.undecided.join(", "))
    };
    report.findings.push(Finding::fail(
        resource.clone(),
        "cycle-overdue",
        format!(
            "access review cycle {} of AccessReview {name} was due on {} and {undecided} of {} subjects are still \
             undecided{listed}. The reviewers record a Keep or Revoke decision for each (AccessReviewDecision).",
            cycle.id, cycle.due.0, cycle.subjects
        ),
    ));
}

/// The newest authenticated decision on each subject of the cycle, as the controller counts it: oldest first, a
/// newer decision superseding an older one, only decisions the webhook recorded as made by the reviewer they name,
/// and never on the reviewer's own access.
fn decided<'a>(
    review: &str,
    cycle: &str,
    decisions: &'a [std::sync::Arc<AccessReviewDecision>],
) -> BTreeMap<&'a SubjectKey, (Verdict, &'a AccessReviewDecision)> {
    let mut chosen = BTreeMap::new();
    for decision in tally::on_cycle(review, cycle, decisions) {
        let Some(who) = tally::authenticated(decision) else {
            continue;
        };
        let mut seen: Vec<&SubjectKey> = Vec::new();
        for item in &decision.spec.decisions {
            if item.subject.is_requester(&who.username, &who.groups)
                || seen.contains(&&item.subject)
            {
                continue;
            }
            seen.push(&item.subject);
            chosen.insert(&item.subject, (item.decision, decision.as_ref()));
        }
    }
    chosen
}

/// What the check found so far: its report, and the subjects it judged (each counted once).
struct Out<'a> {
    report: &'a mut CheckReport,
    subjects: &'a mut BTreeSet<ResourceRef>,
}

fn judge_revocations(
    name: &str,
    cycle: &CycleStatus,
    decisions: &[std::sync::Arc<AccessReviewDecision>],
    current: &Population,
    grace: Duration,
    now: Timestamp,
    out: Out<'_>,
) {
    let Out { report, subjects } = out;
    for (subject, (verdict, decision)) in decided(name, &cycle.id, decisions) {
        if verdict != Verdict::Revoke {
            continue;
        }
        subjects.insert(subject_ref(subject));
        let Some(access) = current.get(subject) else {
            continue; // Carried out: no in-scope access left.
        };
        let Some(deadline) = add(
            decision.metadata.creation_timestamp.as_ref().map(|t| t.0),
            Some(grace),
        ) else {
            continue; // Without an admission time there is no deadline, as the controller counts it.
        };
        if now <= deadline {
            report.holds_until(deadline);
            continue;
        }
        report.findings.push(Finding::fail(
            subject_ref(subject),
            "revocation-not-carried-out",
            format!(
                "{subject} was decided Revoke in access review cycle {} of AccessReview {name} (decision {}, by \
                 {}), but {} still grant{} that access after the grace period ({}, ended {deadline}). Remove the \
                 subject from {}, or record a ControlException with the approved reason it stays.",
                cycle.id,
                decision.name_any(),
                decision.spec.reviewer,
                bindings(access),
                if access.grants.len() == 1 { "s" } else { "" },
                span(grace),
                if access.grants.len() == 1 {
                    "that binding"
                } else {
                    "those bindings"
                },
            ),
        ));
    }
}

/// The bindings that grant a subject its access, as people write them.
fn bindings(access: &SubjectAccess) -> String {
    let mut names: Vec<String> = access
        .grants
        .iter()
        .map(|g| match &g.binding.namespace {
            Some(ns) => format!("{} {ns}/{}", g.binding.kind, g.binding.name),
            None => format!("{} {}", g.binding.kind, g.binding.name),
        })
        .collect();
    names.dedup();
    names.join(", ")
}

fn judge_privileged(
    name: &str,
    resource: &ResourceRef,
    cycle: &CycleStatus,
    current: &Population,
    subjects: &mut BTreeSet<ResourceRef>,
    report: &mut CheckReport,
) {
    let Some(listed) = &cycle.privileged_since_review else {
        report.findings.push(Finding::unknown(
            resource.clone(),
            "privileged-access-unreviewed",
            format!(
                "whether anyone gained privileged access without a review decision cannot be shown: AccessReview \
                 {name}'s status.cycle.privilegedSinceReview is unset (the operator could not read RBAC at its last \
                 pass, or has not reconciled the review since an upgrade)"
            ),
        ));
        return;
    };
    let privileged: BTreeMap<String, &SubjectAccess> = current
        .privileged()
        .map(|s| (s.subject.to_string(), s))
        .collect();
    for entry in &listed.subjects {
        let Some(access) = privileged.get(entry) else {
            continue; // No longer privileged.
        };
        let subject = subject_ref(&access.subject);
        subjects.insert(subject.clone());
        report.findings.push(Finding::fail(
            subject,
            "privileged-access-unreviewed",
            format!(
                "{entry} holds privileged access ({}, through {}) that it gained since the last completed access \
                 review, and no review decision covers it (AccessReview {name}, cycle {}). Decide it in the \
                 current cycle when the cycle lists it, otherwise the next cycle reviews it; until then record \
                 the approval of the grant as a ControlException naming the subject.",
                access.privileged.join(", "),
                bindings(access),
                cycle.id
            ),
        ));
    }
    let more = (listed.count as usize).saturating_sub(listed.subjects.len());
    if more > 0 {
        report.findings.push(Finding::fail(
            resource.clone(),
            "privileged-access-unreviewed",
            format!(
                "{more} more subjects than the {} listed in AccessReview {name}'s status gained privileged access \
                 since the last completed access review without a decision; the next cycle lists them all.",
                listed.subjects.len()
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::rbac::v1::{
        ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use serde_json::json;

    use super::*;
    use crate::api::{
        AccessReviewSpec, AccessReviewStatus, CompletedCycle, FindingResult, ListedSubjects,
    };
    use crate::checks::test_support::{assert_report, keys};

    const FAIL: FindingResult = FindingResult::Fail;
    const UNKNOWN: FindingResult = FindingResult::Unknown;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn now() -> Timestamp {
        at("2026-06-10T12:00:00Z")
    }

    /// A daily review, due within 48h: it must complete a cycle every 72h.
    fn review(name: &str, status: Option<AccessReviewStatus>) -> AccessReview {
        let spec: AccessReviewSpec = serde_json::from_value(json!({
            "schedule": {"interval": "24h"},
            "reviewers": {"users": ["carol"]},
            "dueWithin": "48h",
        }))
        .unwrap();
        let mut r = AccessReview::new(name, spec);
        r.metadata.uid = Some(format!("uid-{name}"));
        r.metadata.creation_timestamp = Some(Time(at("2026-06-01T00:00:00Z")));
        r.status = status;
        r
    }

    fn cycle(id: &str, opened: &str, due: &str) -> CycleStatus {
        CycleStatus {
            id: id.into(),
            opened: Time(at(opened)),
            due: Time(at(due)),
            completed: None,
            population_digest: "d".into(),
            evidence_store: "s".into(),
            subjects: 2,
            decided: 0,
            kept: 0,
            to_revoke: 0,
            revoked: 0,
            revocations_overdue: 0,
            overdue: false,
            undecided: vec!["User alice".into(), "User bob".into()],
            changes: Default::default(),
            privileged_since_review: Some(ListedSubjects::default()),
        }
    }

    fn completed(id: &str, at_: &str) -> CompletedCycle {
        CompletedCycle {
            id: id.into(),
            opened: Time(at(at_)),
            completed: Time(at(at_)),
            population_digest: "d".into(),
            evidence_store: "s".into(),
        }
    }

    /// Today's cycle, open and on time, and yesterday's completed.
    fn operating() -> AccessReviewStatus {
        AccessReviewStatus {
            cycle: Some(cycle(
                "20260610T000000Z",
                "2026-06-10T00:00:00Z",
                "2026-06-12T00:00:00Z",
            )),
            last_completed_cycle: Some(completed("20260609T000000Z", "2026-06-09T10:00:00Z")),
            ..Default::default()
        }
    }

    fn admin_binding(name: &str, subjects: &[(&str, &str)]) -> Arc<ClusterRoleBinding> {
        Arc::new(ClusterRoleBinding {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: "cluster-admin".into(),
            },
            subjects: Some(
                subjects
                    .iter()
                    .map(|(kind, name)| Subject {
                        kind: (*kind).into(),
                        name: (*name).into(),
                        ..Default::default()
                    })
                    .collect(),
            ),
        })
    }

    fn view(reviews: Vec<AccessReview>) -> ClusterSnapshot {
        ClusterSnapshot {
            access_reviews: reviews.into_iter().map(Arc::new).collect(),
            cluster_roles: vec![Arc::new(ClusterRole {
                metadata: ObjectMeta {
                    name: Some("cluster-admin".into()),
                    ..Default::default()
                },
                rules: Some(vec![PolicyRule {
                    api_groups: Some(vec!["*".into()]),
                    resources: Some(vec!["*".into()]),
                    verbs: vec!["*".into()],
                    ..Default::default()
                }]),
                ..Default::default()
            })],
            cluster_role_bindings: vec![admin_binding("admins", &[("User", "alice")])],
            ..Default::default()
        }
    }

    fn decision(
        name: &str,
        created: &str,
        reviewer: &str,
        authenticated: Option<&str>,
        items: &[(&str, &str)],
    ) -> Arc<AccessReviewDecision> {
        let mut d: AccessReviewDecision = serde_json::from_value(json!({
            "apiVersion": "soc2.dev/v1alpha1",
            "kind": "AccessReviewDecision",
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": {
                "accessReview": "quarterly",
                "cycle": "20260610T000000Z",
                "reviewer": reviewer,
                "decisions": items.iter().map(|(user, verdict)| json!({
                    "subject": {"kind": "User", "name": user},
                    "decision": verdict,
                    "comment": "reviewed against the joiners-movers-leavers list",
                })).collect::<Vec<_>>(),
            },
        }))
        .unwrap();
        d.spec.authenticated = authenticated.map(|u| crate::api::AuthenticatedUser {
            username: u.into(),
            ..Default::default()
        });
        Arc::new(d)
    }

    fn run(view: &ClusterSnapshot, params: &AccessReviewCheck) -> CheckReport {
        let scope = ScopeMatcher::new(None, view).unwrap();
        check(view, &scope, params, now())
    }

    /// The default control's report on one review named `quarterly` with `status`.
    fn judged(status: AccessReviewStatus) -> CheckReport {
        run(
            &view(vec![review("quarterly", Some(status))]),
            &default_params(),
        )
    }

    fn default_params() -> AccessReviewCheck {
        AccessReviewCheck::default()
    }

    #[test]
    fn an_operating_review_passes() {
        let report = judged(operating());
        assert_report(&report, 1, &[]);
        // The findings hold until the cycle falls due.
        assert_eq!(report.valid_until, Some(at("2026-06-12T00:00:00Z")));
    }

    #[test]
    fn no_review_configured_fails_unless_not_required() {
        let report = run(&view(vec![]), &default_params());
        assert_report(
            &report,
            1,
            &[("AccessReview (none)", FAIL, "no-access-review")],
        );
        assert!(
            report.findings[0]
                .message
                .contains("no periodic access review is configured")
        );
        let optional = AccessReviewCheck {
            require_review: Some(false),
            ..Default::default()
        };
        assert_report(&run(&view(vec![]), &optional), 0, &[]);
    }

    #[test]
    fn a_named_review_that_does_not_exist_fails_and_others_are_not_judged() {
        let params = AccessReviewCheck {
            access_reviews: Some(vec!["quarterly".into(), "missing".into()]),
            ..Default::default()
        };
        let overdue = review("other", Some(AccessReviewStatus::default()));
        let report = run(
            &view(vec![review("quarterly", Some(operating())), overdue]),
            &params,
        );
        assert_report(
            &report,
            2,
            &[("AccessReview missing", FAIL, "access-review-missing")],
        );
    }

    #[test]
    fn durations_read_as_people_write_them() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(span(h(72)), "72h");
        assert_eq!(span(h(336)), "14d");
        assert_eq!(span(h(2208)), "92d");
        assert_eq!(span(Duration::from_secs(5400)), "1h 30m");
    }

    #[test]
    fn blank_or_empty_review_lists_are_invalid() {
        for names in [vec![], vec![" ".to_string()]] {
            let params = AccessReviewCheck {
                access_reviews: Some(names),
                ..Default::default()
            };
            let e = PeriodicAccessReview::validate(&params).unwrap_err();
            assert!(e.to_string().contains("accessReviews"), "{e}");
        }
        assert!(PeriodicAccessReview::validate(&default_params()).is_ok());
    }

    #[test]
    fn a_review_without_status_is_unknown_until_it_should_have_operated() {
        let mut fresh = review("quarterly", None);
        fresh.metadata.creation_timestamp = Some(Time(at("2026-06-09T00:00:00Z")));
        let report = run(&view(vec![fresh.clone()]), &default_params());
        assert_report(
            &report,
            1,
            &[("AccessReview quarterly", UNKNOWN, "review-not-reconciled")],
        );
        assert_eq!(report.valid_until, Some(at("2026-06-12T00:00:00Z")));
        // Created 24h + 48h ago and more: the operator never opened a cycle.
        fresh.metadata.creation_timestamp = Some(Time(at("2026-06-01T00:00:00Z")));
        let report = run(&view(vec![fresh]), &default_params());
        assert_report(
            &report,
            1,
            &[("AccessReview quarterly", FAIL, "review-not-operating")],
        );
        assert!(report.findings[0].message.contains("has opened no cycle"));
    }

    #[test]
    fn a_cycle_past_due_with_undecided_subjects_fails_even_before_the_controller_says_so() {
        let mut status = operating();
        let c = status.cycle.as_mut().unwrap();
        c.due = Time(at("2026-06-10T11:00:00Z"));
        let report = judged(status.clone());
        assert_report(
            &report,
            1,
            &[("AccessReview quarterly", FAIL, "cycle-overdue")],
        );
        assert!(
            report.findings[0]
                .message
                .contains("2 of 2 subjects are still undecided: User alice, User bob"),
            "{}",
            report.findings[0].message
        );
        // Its twin: completed on time.
        status.cycle.as_mut().unwrap().completed = Some(Time(at("2026-06-10T10:00:00Z")));
        assert_report(&judged(status), 1, &[]);
    }

    #[test]
    fn a_review_that_completed_no_cycle_within_its_schedule_does_not_operate() {
        let mut status = operating();
        // 72h is the limit: one period (24h) plus dueWithin (48h).
        status.last_completed_cycle = Some(completed("20260607T000000Z", "2026-06-07T13:00:00Z"));
        assert_report(&judged(status.clone()), 1, &[]);
        status.last_completed_cycle = Some(completed("20260607T000000Z", "2026-06-07T11:00:00Z"));
        let report = judged(status.clone());
        assert_report(
            &report,
            1,
            &[("AccessReview quarterly", FAIL, "review-not-operating")],
        );
        assert!(report.findings[0].message.contains("20260607T000000Z"));
        // Never completed: failing once the first cycle's due date has passed, not before.
        status.last_completed_cycle = None;
        let mut young = review("quarterly", Some(status.clone()));
        young.metadata.creation_timestamp = Some(Time(at("2026-06-10T00:00:00Z")));
        assert_report(&run(&view(vec![young.clone()]), &default_params()), 1, &[]);
        young.status.as_mut().unwrap().cycle.as_mut().unwrap().due =
            Time(at("2026-06-10T06:00:00Z"));
        assert_report(
            &run(&view(vec![young]), &default_params()),
            1,
            &[
                ("AccessReview quarterly", FAIL, "cycle-overdue"),
                ("AccessReview quarterly", FAIL, "review-not-operating"),
            ],
        );
    }

    #[test]
    fn a_review_whose_spec_cannot_run_does_not_operate() {
        let mut r = review("quarterly", Some(operating()));
        r.spec.revocation_grace_period = Some("soon".into());
        let report = run(&view(vec![r]), &default_params());
        assert_report(
            &report,
            1,
            &[("AccessReview quarterly", FAIL, "review-not-operating")],
        );
        assert!(
            report.findings[0]
                .message
                .contains("spec.revocationGracePeriod")
        );
    }

    #[test]
    fn a_revocation_not_carried_out_within_the_grace_period_fails() {
        let mut v = view(vec![review("quarterly", Some(operating()))]);
        v.cluster_role_bindings = vec![admin_binding(
            "admins",
            &[("User", "alice"), ("User", "bob")],
        )];
        v.access_review_decisions = vec![
            // Revoke alice 4 days ago (grace 72h): overdue while the binding still names her.
            decision(
                "d1",
                "2026-06-06T00:00:00Z",
                "carol",
                Some("carol"),
                &[("alice", "Revoke")],
            ),
            // Revoke bob an hour ago: within the grace period.
            decision(
                "d2",
                "2026-06-10T11:00:00Z",
                "carol",
                Some("carol"),
                &[("bob", "Revoke")],
            ),
        ];
        let report = run(&v, &default_params());
        assert_report(
            &report,
            3,
            &[("User alice", FAIL, "revocation-not-carried-out")],
        );
        let message = &report.findings[0].message;
        assert!(message.contains("ClusterRoleBinding admins"), "{message}");
        assert!(message.contains("decision d1, by carol"), "{message}");
        assert_eq!(report.valid_until, Some(at("2026-06-12T00:00:00Z")));
        // The compliant twin: the binding no longer names alice.
        v.cluster_role_bindings = vec![admin_binding("admins", &[("User", "bob")])];
        assert_report(&run(&v, &default_params()), 3, &[]);
    }

    #[test]
    fn only_authenticated_newest_decisions_count() {
        let mut v = view(vec![review("quarterly", Some(operating()))]);
        v.access_review_decisions = vec![
            // Not admitted by the webhook: never counts.
            decision(
                "forged",
                "2026-06-01T00:00:00Z",
                "carol",
                None,
                &[("alice", "Revoke")],
            ),
            // Authenticated as someone else than the reviewer it names: never counts.
            decision(
                "spoofed",
                "2026-06-01T00:00:00Z",
                "carol",
                Some("mallory"),
                &[("alice", "Revoke")],
            ),
            // A revoke superseded by a later keep.
            decision(
                "d1",
                "2026-06-02T00:00:00Z",
                "carol",
                Some("carol"),
                &[("alice", "Revoke")],
            ),
            decision(
                "d2",
                "2026-06-03T00:00:00Z",
                "carol",
                Some("carol"),
                &[("alice", "Keep")],
            ),
            // A reviewer's decision on their own access does not count.
            decision(
                "own",
                "2026-06-02T00:00:00Z",
                "alice",
                Some("alice"),
                &[("alice", "Revoke")],
            ),
        ];
        assert_report(&run(&v, &default_params()), 1, &[]);
        // Without an admission time a revocation has no deadline (as the controller counts it).
        let mut undated = (*decision(
            "d3",
            "2026-06-04T00:00:00Z",
            "carol",
            Some("carol"),
            &[("alice", "Revoke")],
        ))
        .clone();
        undated.metadata.creation_timestamp = None;
        v.access_review_decisions = vec![Arc::new(undated)];
        assert_report(&run(&v, &default_params()), 2, &[]);
        // A decision for another cycle is not this cycle's.
        let mut other = (*decision(
            "old",
            "2026-06-01T00:00:00Z",
            "carol",
            Some("carol"),
            &[("alice", "Revoke")],
        ))
        .clone();
        other.spec.cycle = "20260601T000000Z".into();
        v.access_review_decisions = vec![Arc::new(other)];
        assert_report(&run(&v, &default_params()), 1, &[]);
    }

    #[test]
    fn privileged_access_gained_since_the_last_review_is_reported_while_it_lasts() {
        let mut status = operating();
        status.cycle.as_mut().unwrap().privileged_since_review = Some(ListedSubjects {
            count: 3,
            subjects: vec!["User alice".into(), "User gone".into()],
        });
        let v = view(vec![review("quarterly", Some(status.clone()))]);
        let report = run(&v, &default_params());
        assert_report(
            &report,
            2,
            &[
                (
                    "AccessReview quarterly",
                    FAIL,
                    "privileged-access-unreviewed",
                ),
                ("User alice", FAIL, "privileged-access-unreviewed"),
            ],
        );
        assert!(
            report.findings.iter().any(|f| f
                .message
                .contains("administrative rights, through ClusterRoleBinding admins")),
            "{:#?}",
            report.findings
        );
        // The twin: nobody listed (User gone no longer holds privileged access either).
        status.cycle.as_mut().unwrap().privileged_since_review = Some(ListedSubjects {
            count: 1,
            subjects: vec!["User gone".into()],
        });
        assert_report(&judged(status), 1, &[]);
    }

    #[test]
    fn unreadable_rbac_is_unknown_and_the_statuses_are_still_judged() {
        let mut status = operating();
        status.cycle.as_mut().unwrap().due = Time(at("2026-06-10T11:00:00Z"));
        let mut v = view(vec![review("quarterly", Some(status))]);
        v.unavailable
            .insert(ResourceKind::ClusterRoleBinding, "forbidden".into());
        v.unavailable
            .insert(ResourceKind::AccessReviewDecision, "not synced".into());
        assert_report(
            &run(&v, &default_params()),
            3,
            &[
                ("AccessReview quarterly", FAIL, "cycle-overdue"),
                ("AccessReviewDecision (all)", UNKNOWN, "data-unavailable"),
                ("ClusterRoleBinding (all)", UNKNOWN, "data-unavailable"),
            ],
        );
        let mut none = view(vec![]);
        none.unavailable.insert(
            ResourceKind::AccessReview,
            "the CRD is not installed".into(),
        );
        assert_report(
            &run(&none, &default_params()),
            1,
            &[("AccessReview (all)", UNKNOWN, "data-unavailable")],
        );
    }

    #[test]
    fn a_status_without_the_privileged_list_is_unknown_never_a_pass() {
        let mut status = operating();
        status.cycle.as_mut().unwrap().privileged_since_review = None;
        assert_report(
            &judged(status),
            1,
            &[(
                "AccessReview quarterly",
                UNKNOWN,
                "privileged-access-unreviewed",
            )],
        );
    }

    #[test]
    fn subjects_of_kinds_rbac_does_not_know_are_not_access() {
        let mut status = operating();
        status.cycle.as_mut().unwrap().privileged_since_review = Some(ListedSubjects {
            count: 1,
            subjects: vec!["User robot".into()],
        });
        let mut v = view(vec![review("quarterly", Some(status))]);
        v.cluster_role_bindings = vec![admin_binding("odd", &[("Robot", "robot"), ("User", "")])];
        assert!(keys(&run(&v, &default_params())).is_empty());
    }

    #[test]
    fn a_controlexception_can_name_the_subject_of_a_finding() {
        let exception: crate::api::ControlException = serde_json::from_value(json!({
            "apiVersion": "soc2.dev/v1alpha1",
            "kind": "ControlException",
            "metadata": {"name": "alice-onboarding", "namespace": "soc2-system"},
            "spec": {
                "control": "access-review",
                "justification": "granted through the provisioning workflow, reviewed next cycle",
                "approvedBy": "ciso@example.com",
                "ticket": "SEC-42",
                "expiresAt": "2026-07-01T00:00:00Z",
                "resources": [{"kind": "User", "name": "alice"}],
            },
        }))
        .unwrap();
        let policy = crate::engine::exceptions::ExceptionPolicy {
            cluster_namespace: "soc2-system".into(),
            ..Default::default()
        };
        assert!(crate::engine::exceptions::covers(
            &exception,
            &policy,
            &subject_ref(&SubjectKey::user("alice")),
            None
        ));
    }
}
