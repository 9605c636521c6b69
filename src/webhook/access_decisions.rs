//! Authenticated sign-off of access reviews: the admission endpoints for AccessReviewDecisions.
//!
//! - [`MUTATE_PATH`] (mutating webhook, CREATE): records in `spec.authenticated` the user the API server
//!   authenticated (`userInfo`: username, uid, groups), replacing whatever the requester wrote there.
//! - [`VALIDATE_PATH`] (validating webhook, CREATE and UPDATE): admits a decision only when `spec.authenticated` is
//!   still that user, `spec.reviewer` is that user, the user is a declared reviewer of the named AccessReview, the
//!   decision is on the review's open cycle, no subject is the user's own access (separation of duties) and no
//!   subject is decided twice; an update that changes `spec` is denied (decisions are immutable: a newer decision
//!   supersedes).
//!
//! [`judge`] is the pure verdict and [`authentication_patch`] the pure patch; the handlers only decode, count and
//! answer. This module owns the sign-off rules; it does not count decisions, know a cycle's population or decide
//! whether a cycle is complete (the cycle controller does, and ignores decisions without `spec.authenticated`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use k8s_openapi::api::authentication::v1::UserInfo;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use serde_json::{Value, json};

use super::handler::{AdmissionState, refused, serve};
use crate::api::{AccessReview, AccessReviewDecision, AuthenticatedUser, SubjectKey, SubjectKind};

/// Path of the mutating webhook that records the authenticated user.
pub const MUTATE_PATH: &str = "/mutate/access-review-decisions";
/// Path of the validating webhook that admits or denies a decision.
pub const VALIDATE_PATH: &str = "/validate/access-review-decisions";
/// The name of the decision webhook, in both the Mutating- and the ValidatingWebhookConfiguration.
pub const WEBHOOK_NAME: &str = "access-review-decisions.soc2.dev";
/// The API group of AccessReviewDecisions.
pub const GROUP: &str = "soc2.dev";
/// Their version.
pub const VERSION: &str = "v1alpha1";
/// Their resource (plural).
pub const RESOURCE: &str = "accessreviewdecisions";
const KIND: &str = "AccessReviewDecision";

/// The current AccessReviews (from the operator's AccessReview watch), `None` while that watch has not synced.
pub type AccessReviewSource = Arc<dyn Fn() -> Option<Vec<Arc<AccessReview>>> + Send + Sync>;

/// Which sign-off rule a denial is about (the label of the log line; the message says it in words).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// The API server sent no user name, or `spec.authenticated` is missing.
    Unauthenticated,
    /// `spec.authenticated` is not the user the API server authenticated.
    IdentityAltered,
    /// `spec.reviewer` is not the requesting user.
    NotTheReviewer,
    /// The operator has not read the AccessReviews yet.
    ReviewsNotSynced,
    /// The named AccessReview does not exist.
    UnknownReview,
    /// The user is not a declared reviewer.
    NotAReviewer,
    /// `spec.cycle` is not the review's open cycle.
    NotTheOpenCycle,
    /// A subject is the user's own access.
    SelfReview,
    /// A subject is decided twice in one decision.
    DuplicateSubject,
    /// An update changes `spec`.
    Immutable,
}

impl Rule {
    /// A stable label for logs.
    pub fn label(self) -> &'static str {
        match self {
            Rule::Unauthenticated => "unauthenticated",
            Rule::IdentityAltered => "identity-altered",
            Rule::NotTheReviewer => "not-the-reviewer",
            Rule::ReviewsNotSynced => "reviews-not-synced",
            Rule::UnknownReview => "unknown-review",
            Rule::NotAReviewer => "not-a-reviewer",
            Rule::NotTheOpenCycle => "not-the-open-cycle",
            Rule::SelfReview => "self-review",
            Rule::DuplicateSubject => "duplicate-subject",
            Rule::Immutable => "immutable",
        }
    }
}

/// One broken rule, in words a reviewer and an auditor understand (a full sentence).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// The rule.
    pub rule: Rule,
    /// What is wrong and what to do.
    pub message: String,
}

/// The verdict on one admission request for an AccessReviewDecision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// Admitted.
    Admitted,
    /// Denied, for every reason found (at least one).
    Denied(Vec<Denial>),
    /// The request does not carry a readable AccessReviewDecision (answered with code 400).
    Malformed(String),
}

/// The user as the API server authenticated the request, as a decision records it; `None` without a user name.
/// An empty uid is no uid.
pub fn authenticated_user(user: &UserInfo) -> Option<AuthenticatedUser> {
    let username = user.username.as_deref().filter(|u| !u.is_empty())?;
    Some(AuthenticatedUser {
        username: username.to_string(),
        uid: user.uid.clone().filter(|u| !u.is_empty()),
        groups: user.groups.clone().unwrap_or_default(),
    })
}

/// The JSON patch (RFC 6902) that sets `spec.authenticated` of `object` to `user`, replacing any value; `None` when
/// the object has no `spec` object to patch (the CRD's schema refuses it after the mutating webhooks ran).
pub fn authentication_patch(object: &Value, user: &AuthenticatedUser) -> Option<Value> {
    object.get("spec")?.as_object()?;
    Some(json!([{"op": "add", "path": "/spec/authenticated", "value": user}]))
}

struct Who<'a>(&'a AuthenticatedUser);

impl fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "user \"{}\"", self.0.username)?;
        if let Some(uid) = &self.0.uid {
            write!(f, " (uid {uid})")?;
        }
        write!(f, " in groups [{}]", self.0.groups.join(", "))
    }
}

fn no_user_name() -> Denial {
    Denial {
        rule: Rule::Unauthenticated,
        message: "The API server sent no user name in request.userInfo: only an authenticated user can sign an \
                  access review decision."
            .into(),
    }
}

fn list(names: Option<&Vec<String>>) -> String {
    format!("[{}]", names.map(|n| n.join(", ")).unwrap_or_default())
}

/// Decides admission of an AccessReviewDecision: `object` (and `old_object` on update) as the API server sent them,
/// `user` its `userInfo`, `reviews` the AccessReviews (`None` while their watch has not synced). Creates are judged
/// by every sign-off rule, updates only for immutability; deletes (and anything else) are admitted.
pub fn judge(
    operation: &Operation,
    user: &UserInfo,
    object: Option<&Value>,
    old_object: Option<&Value>,
    reviews: Option<&[Arc<AccessReview>]>,
) -> Judgement {
    match operation {
        Operation::Create => judge_create(user, object, reviews),
        Operation::Update => judge_update(object, old_object),
        Operation::Delete | Operation::Connect => Judgement::Admitted,
    }
}

fn judge_update(object: Option<&Value>, old_object: Option<&Value>) -> Judgement {
    let (Some(object), Some(old)) = (object, old_object) else {
        return Judgement::Malformed(
            "an UPDATE request must carry request.object and request.oldObject".into(),
        );
    };
    if object.get("spec") == old.get("spec") {
        return Judgement::Admitted;
    }
    Judgement::Denied(vec![Denial {
        rule: Rule::Immutable,
        message: "Its spec cannot change once admitted: a decision is evidence of what a reviewer signed, so it \
                  is immutable. Create a new AccessReviewDecision; the newest decision on a subject supersedes \
                  earlier ones."
            .into(),
    }])
}

fn judge_create(
    user: &UserInfo,
    object: Option<&Value>,
    reviews: Option<&[Arc<AccessReview>]>,
) -> Judgement {
    let Some(object) = object else {
        return Judgement::Malformed("request.object is missing from a CREATE request".into());
    };
    let decision: AccessReviewDecision = match serde_json::from_value(object.clone()) {
        Ok(d) => d,
        Err(e) => {
            return Judgement::Malformed(format!(
                "request.object is not a valid AccessReviewDecision: {e}"
            ));
        }
    };
    let Some(me) = authenticated_user(user) else {
        return Judgement::Denied(vec![no_user_name()]);
    };
    let spec = &decision.spec;
    let mut denials = Vec::new();
    match &spec.authenticated {
        None => denials.push(Denial {
            rule: Rule::Unauthenticated,
            message: format!(
                "spec.authenticated is missing: the operator's mutating webhook {WEBHOOK_NAME}, which records \
                 who the API server authenticated, did not run (is MutatingWebhookConfiguration soc2-operator \
                 installed? kubectl get mutatingwebhookconfigurations)."
            ),
        }),
        Some(recorded) if recorded != &me => denials.push(Denial {
            rule: Rule::IdentityAltered,
            message: format!(
                "spec.authenticated says {} but the API server authenticated {}: it was changed after the \
                 operator recorded it (by another mutating webhook?), so the sign-off cannot be trusted.",
                Who(recorded),
                Who(&me)
            ),
        }),
        Some(_) => {}
    }
    if spec.reviewer != me.username {
        denials.push(Denial {
            rule: Rule::NotTheReviewer,
            message: format!(
                "spec.reviewer is \"{}\" but the request is authenticated as \"{}\": a decision can only be \
                 signed by the reviewer it names. Set spec.reviewer to \"{}\", or have \"{}\" create it.",
                spec.reviewer, me.username, me.username, spec.reviewer
            ),
        });
    }
    let review_name = &spec.access_review;
    match reviews {
        None => denials.push(Denial {
            rule: Rule::ReviewsNotSynced,
            message: format!(
                "The operator has not finished reading AccessReviews (it has just started, or its watch is \
                 reconnecting), so it cannot check that \"{}\" is a reviewer of AccessReview {review_name}: \
                 retry in a few seconds.",
                me.username
            ),
        }),
        Some(reviews) => {
            match reviews
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(review_name))
            {
                None => denials.push(Denial {
                    rule: Rule::UnknownReview,
                    message: format!(
                        "AccessReview {review_name} does not exist (kubectl get accessreviews lists them)."
                    ),
                }),
                Some(review) => {
                    let reviewers = &review.spec.reviewers;
                    if !reviewers.admits(&me.username, &me.groups) {
                        denials.push(Denial {
                            rule: Rule::NotAReviewer,
                            message: format!(
                                "\"{}\" is not a reviewer of AccessReview {review_name}: its spec.reviewers \
                                 names users {} and groups {}, and the request's groups are [{}]. Ask the \
                                 review's owner to add you, or have a declared reviewer decide.",
                                me.username,
                                list(reviewers.users.as_ref()),
                                list(reviewers.groups.as_ref()),
                                me.groups.join(", ")
                            ),
                        });
                    }
                    let open = review.status.as_ref().and_then(|s| s.cycle.as_ref());
                    match open {
                        None => denials.push(Denial {
                            rule: Rule::NotTheOpenCycle,
                            message: format!(
                                "AccessReview {review_name} has no open cycle yet: decisions can be taken \
                                 once the operator opens its first cycle (status.cycle.id; kubectl get \
                                 accessreview {review_name})."
                            ),
                        }),
                        Some(cycle) if cycle.id != spec.cycle => denials.push(Denial {
                            rule: Rule::NotTheOpenCycle,
                            message: format!(
                                "Cycle \"{}\" is not the open cycle of AccessReview {review_name}: the open \
                                 cycle is \"{}\", and decisions are taken on the open cycle only.",
                                spec.cycle, cycle.id
                            ),
                        }),
                        Some(_) => {}
                    }
                }
            }
        }
    }
    let own: Vec<String> = spec
        .decisions
        .iter()
        .filter(|d| d.subject.is_requester(&me.username, &me.groups))
        .map(|d| own_access(&d.subject))
        .collect();
    if !own.is_empty() {
        denials.push(Denial {
            rule: Rule::SelfReview,
            message: format!(
                "\"{}\" may not decide on their own access (separation of duties): {}. Leave {} to another \
                 reviewer.",
                me.username,
                own.join("; "),
                if own.len() == 1 {
                    "this subject"
                } else {
                    "these subjects"
                }
            ),
        });
    }
    let mut counts: BTreeMap<&SubjectKey, usize> = BTreeMap::new();
    for d in &spec.decisions {
        *counts.entry(&d.subject).or_default() += 1;
    }
    for (subject, n) in counts.into_iter().filter(|(_, n)| *n > 1) {
        denials.push(Denial {
            rule: Rule::DuplicateSubject,
            message: format!(
                "{subject} is decided {n} times in spec.decisions: give one decision per subject."
            ),
        });
    }
    if denials.is_empty() {
        Judgement::Admitted
    } else {
        Judgement::Denied(denials)
    }
}

fn own_access(subject: &SubjectKey) -> String {
    let why = match subject.kind {
        SubjectKind::User => "the requesting user",
        SubjectKind::Group => "a group the requesting user belongs to",
        SubjectKind::ServiceAccount => "the ServiceAccount the request is authenticated as",
    };
    format!("{subject} is {why}")
}

/// How messages name the decision: its name, or its `generateName` prefix when the API server has not named it yet.
fn decision_name(request: &AdmissionRequest<DynamicObject>) -> String {
    if !request.name.is_empty() {
        return format!("AccessReviewDecision {}", request.name);
    }
    match request
        .object
        .as_ref()
        .and_then(|o| o.metadata.generate_name.as_deref())
    {
        Some(prefix) => format!("AccessReviewDecision {prefix}*"),
        None => "AccessReviewDecision".into(),
    }
}

fn is_decision(request: &AdmissionRequest<DynamicObject>) -> bool {
    request.kind.group == GROUP && request.kind.kind == KIND && request.sub_resource.is_none()
}

/// `object` as JSON; the error says which field of the request could not be read.
fn object_value(object: Option<&DynamicObject>, field: &str) -> Result<Option<Value>, String> {
    object
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| format!("request.{field} cannot be read: {e}"))
}

fn forbidden(allowed: AdmissionResponse, message: String, code: u16) -> AdmissionResponse {
    let mut r = allowed.deny(message);
    r.result.code = code;
    r.result.reason = if code == 503 {
        "ServiceUnavailable".into()
    } else {
        "Forbidden".into()
    };
    r
}

/// The mutating webhook's answer: on CREATE, a patch recording the authenticated user in `spec.authenticated`.
pub fn respond_mutate(request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    let allowed = AdmissionResponse::from(request);
    if !is_decision(request) || !matches!(request.operation, Operation::Create) {
        return allowed;
    }
    let name = decision_name(request);
    let Some(user) = authenticated_user(&request.user_info) else {
        return forbidden(
            allowed,
            format!("soc2-operator denied {name}: {}", no_user_name().message),
            403,
        );
    };
    let object = match object_value(request.object.as_ref(), "object") {
        Ok(Some(o)) => o,
        Ok(None) => {
            return refused(
                request,
                "request.object is missing from a CREATE request".into(),
            );
        }
        Err(reason) => return refused(request, reason),
    };
    let Some(patch) = authentication_patch(&object, &user) else {
        return allowed;
    };
    let patched = serde_json::from_value(patch)
        .map_err(|e| e.to_string())
        .and_then(|p| allowed.with_patch(p).map_err(|e| e.to_string()));
    match patched {
        Ok(r) => r,
        Err(e) => refused(
            request,
            format!("cannot build the patch of spec.authenticated: {e}"),
        ),
    }
}

/// The validating webhook's answer, from [`judge`].
pub fn respond_validate(
    state: &AdmissionState,
    request: &AdmissionRequest<DynamicObject>,
) -> AdmissionResponse {
    let allowed = AdmissionResponse::from(request);
    if !is_decision(request) {
        return allowed;
    }
    let object = match object_value(request.object.as_ref(), "object") {
        Ok(o) => o,
        Err(reason) => return refused(request, reason),
    };
    let old_object = match object_value(request.old_object.as_ref(), "oldObject") {
        Ok(o) => o,
        Err(reason) => return refused(request, reason),
    };
    let reviews = match request.operation {
        Operation::Create => (state.access_reviews)(),
        _ => None,
    };
    let judgement = judge(
        &request.operation,
        &request.user_info,
        object.as_ref(),
        old_object.as_ref(),
        reviews.as_deref(),
    );
    let name = decision_name(request);
    match judgement {
        Judgement::Admitted => {
            if matches!(request.operation, Operation::Create) {
                tracing::info!(decision = %name, user = ?request.user_info.username, dry_run = request.dry_run, "access review decision admitted");
            }
            allowed
        }
        Judgement::Malformed(reason) => refused(request, reason),
        Judgement::Denied(denials) => {
            let rules: Vec<&str> = denials.iter().map(|d| d.rule.label()).collect();
            tracing::info!(decision = %name, user = ?request.user_info.username, dry_run = request.dry_run, rules = ?rules, "access review decision denied");
            // Only a watch that has not synced: retrying helps, so say so with 503.
            let code = if denials.iter().all(|d| d.rule == Rule::ReviewsNotSynced) {
                503
            } else {
                403
            };
            let messages: Vec<&str> = denials.iter().map(|d| d.message.as_str()).collect();
            forbidden(
                allowed,
                format!("soc2-operator denied {name}: {}", messages.join(" ")),
                code,
            )
        }
    }
}

/// `POST` [`MUTATE_PATH`].
pub(super) async fn mutate(State(state): State<AdmissionState>, body: Bytes) -> Response {
    serve(
        &state,
        "access-review-decisions-mutate",
        Instant::now(),
        &body,
        respond_mutate,
    )
}

/// `POST` [`VALIDATE_PATH`].
pub(super) async fn validate(State(state): State<AdmissionState>, body: Bytes) -> Response {
    serve(
        &state,
        "access-review-decisions",
        Instant::now(),
        &body,
        |request| respond_validate(&state, request),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            username: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            groups: Some(groups.iter().map(|g| g.to_string()).collect()),
            extra: None,
        }
    }

    /// The record the mutating webhook writes for `u`.
    fn recorded(u: &UserInfo) -> Value {
        serde_json::to_value(authenticated_user(u).expect("user name")).expect("json")
    }

    fn review(
        name: &str,
        users: &[&str],
        groups: &[&str],
        cycle: Option<&str>,
    ) -> Arc<AccessReview> {
        let mut r = json!({
            "apiVersion": "soc2.dev/v1alpha1", "kind": "AccessReview",
            "metadata": {"name": name},
            "spec": {"schedule": {"interval": "2160h"}, "dueWithin": "336h",
                     "reviewers": {"users": users, "groups": groups}},
        });
        if let Some(id) = cycle {
            r["status"] = json!({"cycle": {
                "id": id, "opened": "2026-10-01T09:00:00Z", "due": "2026-10-15T09:00:00Z",
                "populationDigest": "ab", "evidenceStore": "audit", "subjects": 3, "decided": 0,
                "kept": 0, "toRevoke": 0, "revoked": 0, "overdue": false}});
        }
        Arc::new(serde_json::from_value(r).expect("AccessReview"))
    }

    fn reviews() -> Vec<Arc<AccessReview>> {
        vec![review(
            "privileged",
            &["alice"],
            &["oidc:security"],
            Some("20261001T090000Z"),
        )]
    }

    fn subject(kind: &str, name: &str) -> Value {
        match kind {
            "ServiceAccount" => {
                let (ns, n) = name.split_once('/').expect("ns/name");
                json!({"kind": kind, "namespace": ns, "name": n})
            }
            _ => json!({"kind": kind, "name": name}),
        }
    }

    /// A decision by `reviewer` on `subjects`, as the mutating webhook left it for `by`.
    fn decision(reviewer: &str, subjects: &[Value], by: &UserInfo) -> Value {
        json!({
            "apiVersion": "soc2.dev/v1alpha1", "kind": "AccessReviewDecision",
            "metadata": {"name": "alice-q4"},
            "spec": {
                "accessReview": "privileged", "cycle": "20261001T090000Z", "reviewer": reviewer,
                "decisions": subjects.iter().map(|s| json!({"subject": s, "decision": "Keep",
                                                             "comment": "on-call SRE"})).collect::<Vec<_>>(),
                "authenticated": recorded(by),
            },
        })
    }

    fn create(u: &UserInfo, object: &Value, reviews: Option<&[Arc<AccessReview>]>) -> Judgement {
        judge(&Operation::Create, u, Some(object), None, reviews)
    }

    fn denied(j: &Judgement) -> Vec<(Rule, String)> {
        match j {
            Judgement::Denied(d) => d.iter().map(|d| (d.rule, d.message.clone())).collect(),
            other => panic!("not denied: {other:?}"),
        }
    }

    fn only(j: &Judgement, rule: Rule) -> String {
        let d = denied(j);
        assert_eq!(
            d.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
            [rule],
            "{d:?}"
        );
        d[0].1.clone()
    }

    #[test]
    fn a_declared_reviewer_deciding_on_others_in_the_open_cycle_is_admitted() {
        let alice = user("alice", &["system:authenticated"]);
        let d = decision("alice", &[subject("User", "bob")], &alice);
        assert_eq!(create(&alice, &d, Some(&reviews())), Judgement::Admitted);
    }

    #[test]
    fn a_member_of_a_reviewer_group_is_a_reviewer() {
        let carol = user("carol", &["system:authenticated", "oidc:security"]);
        let d = decision("carol", &[subject("User", "bob")], &carol);
        assert_eq!(create(&carol, &d, Some(&reviews())), Judgement::Admitted);
    }

    #[test]
    fn a_decision_naming_another_reviewer_is_denied() {
        let mallory = user("mallory", &["oidc:security"]);
        let d = decision("alice", &[subject("User", "bob")], &mallory);
        let m = only(
            &create(&mallory, &d, Some(&reviews())),
            Rule::NotTheReviewer,
        );
        assert!(
            m.contains("spec.reviewer is \"alice\"") && m.contains("authenticated as \"mallory\""),
            "{m}"
        );
    }

    #[test]
    fn an_identity_changed_after_the_mutating_webhook_is_denied() {
        let alice = user("alice", &["system:authenticated"]);
        // Another mutating webhook added a group to the record.
        let mut d = decision("alice", &[subject("User", "bob")], &alice);
        d["spec"]["authenticated"]["groups"] = json!(["system:authenticated", "oidc:security"]);
        let m = only(&create(&alice, &d, Some(&reviews())), Rule::IdentityAltered);
        assert!(
            m.contains("oidc:security") && m.contains("cannot be trusted"),
            "{m}"
        );
        // Or replaced the uid.
        let mut d = decision("alice", &[subject("User", "bob")], &alice);
        d["spec"]["authenticated"]["uid"] = json!("someone-else");
        only(&create(&alice, &d, Some(&reviews())), Rule::IdentityAltered);
        // The mutating webhook did not run at all.
        let mut d = decision("alice", &[subject("User", "bob")], &alice);
        d["spec"]
            .as_object_mut()
            .expect("spec")
            .remove("authenticated");
        let m = only(&create(&alice, &d, Some(&reviews())), Rule::Unauthenticated);
        assert!(m.contains("mutating webhook"), "{m}");
        // A request without a user name is never admitted.
        let nobody = UserInfo::default();
        only(
            &create(&nobody, &d, Some(&reviews())),
            Rule::Unauthenticated,
        );
    }

    #[test]
    fn a_user_who_is_not_a_declared_reviewer_is_denied() {
        let dave = user("dave", &["system:authenticated", "oidc:dev"]);
        let d = decision("dave", &[subject("User", "bob")], &dave);
        let m = only(&create(&dave, &d, Some(&reviews())), Rule::NotAReviewer);
        for part in [
            "\"dave\" is not a reviewer of AccessReview privileged",
            "users [alice]",
            "groups [oidc:security]",
            "oidc:dev",
        ] {
            assert!(m.contains(part), "{part:?} missing from {m}");
        }
    }

    #[test]
    fn deciding_on_ones_own_access_is_denied_as_user_group_member_and_service_account() {
        let alice = user("alice", &["system:authenticated", "oidc:sre"]);
        let d = decision("alice", &[subject("User", "alice")], &alice);
        let m = only(&create(&alice, &d, Some(&reviews())), Rule::SelfReview);
        assert!(
            m.contains("User alice is the requesting user") && m.contains("separation of duties"),
            "{m}"
        );

        let d = decision(
            "alice",
            &[subject("User", "bob"), subject("Group", "oidc:sre")],
            &alice,
        );
        let m = only(&create(&alice, &d, Some(&reviews())), Rule::SelfReview);
        assert!(
            m.contains("Group oidc:sre is a group the requesting user belongs to")
                && !m.contains("bob"),
            "{m}"
        );

        let robot = user(
            "system:serviceaccount:ci:reviewer",
            &["system:serviceaccounts", "system:serviceaccounts:ci"],
        );
        let reviews = vec![review(
            "privileged",
            &["system:serviceaccount:ci:reviewer"],
            &[],
            Some("20261001T090000Z"),
        )];
        let d = decision(
            "system:serviceaccount:ci:reviewer",
            &[subject("ServiceAccount", "ci/reviewer")],
            &robot,
        );
        let m = only(&create(&robot, &d, Some(&reviews)), Rule::SelfReview);
        assert!(
            m.contains(
                "ServiceAccount ci/reviewer is the ServiceAccount the request is authenticated as"
            ),
            "{m}"
        );
    }

    #[test]
    fn only_the_open_cycle_takes_decisions() {
        let alice = user("alice", &[]);
        let mut d = decision("alice", &[subject("User", "bob")], &alice);
        d["spec"]["cycle"] = json!("20260701T090000Z");
        let m = only(&create(&alice, &d, Some(&reviews())), Rule::NotTheOpenCycle);
        assert!(
            m.contains("\"20260701T090000Z\" is not the open cycle")
                && m.contains("the open cycle is \"20261001T090000Z\""),
            "{m}"
        );
        let unopened = vec![review("privileged", &["alice"], &[], None)];
        let d = decision("alice", &[subject("User", "bob")], &alice);
        let m = only(&create(&alice, &d, Some(&unopened)), Rule::NotTheOpenCycle);
        assert!(m.contains("has no open cycle yet"), "{m}");
    }

    #[test]
    fn an_unknown_review_and_an_unsynced_watch_are_denied_with_what_to_do() {
        let alice = user("alice", &[]);
        let mut d = decision("alice", &[subject("User", "bob")], &alice);
        d["spec"]["accessReview"] = json!("quarterly");
        let m = only(&create(&alice, &d, Some(&reviews())), Rule::UnknownReview);
        assert!(m.contains("AccessReview quarterly does not exist"), "{m}");
        let d = decision("alice", &[subject("User", "bob")], &alice);
        let m = only(&create(&alice, &d, None), Rule::ReviewsNotSynced);
        assert!(m.contains("retry"), "{m}");
    }

    #[test]
    fn a_subject_decided_twice_in_one_decision_is_denied() {
        let alice = user("alice", &[]);
        let d = decision(
            "alice",
            &[
                subject("User", "bob"),
                subject("ServiceAccount", "ci/deployer"),
                subject("User", "bob"),
            ],
            &alice,
        );
        let m = only(
            &create(&alice, &d, Some(&reviews())),
            Rule::DuplicateSubject,
        );
        assert!(m.contains("User bob is decided 2 times"), "{m}");
    }

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let dave = user("dave", &[]);
        let d = decision("alice", &[subject("User", "dave")], &dave);
        let rules: Vec<Rule> = denied(&create(&dave, &d, Some(&reviews())))
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert_eq!(
            rules,
            [Rule::NotTheReviewer, Rule::NotAReviewer, Rule::SelfReview]
        );
    }

    #[test]
    fn an_admitted_decision_is_immutable_but_its_metadata_may_change() {
        let alice = user("alice", &[]);
        let old = decision("alice", &[subject("User", "bob")], &alice);
        let mut new = old.clone();
        new["spec"]["decisions"][0]["decision"] = json!("Revoke");
        let update = |new: &Value| judge(&Operation::Update, &alice, Some(new), Some(&old), None);
        let m = only(&update(&new), Rule::Immutable);
        assert!(
            m.contains("Create a new AccessReviewDecision")
                && m.contains("newest decision on a subject supersedes"),
            "{m}"
        );
        let mut labelled = old.clone();
        labelled["metadata"]["labels"] = json!({"team": "security"});
        labelled["metadata"]["finalizers"] = json!(["example.com/archive"]);
        assert_eq!(update(&labelled), Judgement::Admitted);
        assert!(matches!(
            judge(&Operation::Update, &alice, Some(&old), None, None),
            Judgement::Malformed(_)
        ));
        assert_eq!(
            judge(&Operation::Delete, &alice, None, Some(&old), None),
            Judgement::Admitted
        );
    }

    #[test]
    fn a_malformed_decision_is_refused_as_such() {
        let alice = user("alice", &[]);
        let mut d = decision("alice", &[subject("User", "bob")], &alice);
        d["spec"]["decisions"] = json!("keep everyone");
        match create(&alice, &d, Some(&reviews())) {
            Judgement::Malformed(m) => {
                assert!(m.contains("not a valid AccessReviewDecision"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            judge(&Operation::Create, &alice, None, None, Some(&reviews())),
            Judgement::Malformed(_)
        ));
    }

    #[test]
    fn the_patch_records_the_authenticated_user_over_what_the_requester_wrote() {
        let alice = user("alice", &["system:authenticated", "oidc:security"]);
        let me = authenticated_user(&alice).expect("user");
        let forged = json!({"spec": {"reviewer": "alice",
                                     "authenticated": {"username": "alice", "groups": ["system:masters"]}}});
        let patch = authentication_patch(&forged, &me).expect("patch");
        assert_eq!(
            patch,
            json!([{"op": "add", "path": "/spec/authenticated", "value": {
                "username": "alice", "uid": "uid-alice", "groups": ["system:authenticated", "oidc:security"]}}])
        );
        assert_eq!(authentication_patch(&json!({"metadata": {}}), &me), None);
        assert_eq!(authentication_patch(&json!({"spec": "x"}), &me), None);
        // An empty uid is no uid; no user name, no record.
        let mut anonymous = user("alice", &[]);
        anonymous.uid = Some(String::new());
        assert_eq!(authenticated_user(&anonymous).expect("user").uid, None);
        anonymous.username = Some(String::new());
        assert_eq!(authenticated_user(&anonymous), None);
    }
}
