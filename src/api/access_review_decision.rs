//! The `AccessReviewDecision` custom resource: a reviewer's sign-off on subjects of one access review cycle.
//!
//! Cluster-scoped, like the AccessReview it names: a reviewer decides on cluster-wide access and should not have to
//! know which namespace the operator runs in, and RBAC grants `create` on decisions once, cluster-wide, to the
//! reviewers' group. Authenticity is not left to RBAC: the admission webhook admits a decision only from the user
//! it names, a declared reviewer, never on their own access, and records who the API server authenticated.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SubjectKey;

/// A reviewer's decisions on subjects of one access review cycle. Immutable once admitted: a later decision on the
/// same subject supersedes an earlier one.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[allow(clippy::duplicated_attributes)]
#[kube(
    group = "soc2.dev",
    version = "v1alpha1",
    kind = "AccessReviewDecision",
    status = "AccessReviewDecisionStatus",
    shortname = "ard",
    category = "soc2",
    doc = "A reviewer's authenticated keep or revoke decisions on subjects of one access review cycle.",
    printcolumn(name = "Review", type_ = "string", json_path = ".spec.accessReview"),
    printcolumn(name = "Cycle", type_ = "string", json_path = ".spec.cycle"),
    printcolumn(name = "Reviewer", type_ = "string", json_path = ".spec.reviewer"),
    printcolumn(
        name = "Accepted",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Accepted\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AccessReviewDecisionSpec {
    /// The AccessReview decided on.
    #[schemars(length(min = 1, max = 253))]
    pub access_review: String,
    /// The cycle decided on (`status.cycle.id` of the AccessReview).
    #[schemars(length(min = 1, max = 64))]
    pub cycle: String,
    /// The deciding user, exactly as the API server authenticates the request that creates this decision.
    #[schemars(length(min = 1))]
    pub reviewer: String,
    /// One decision per subject.
    #[schemars(length(min = 1, max = 500))]
    pub decisions: Vec<SubjectDecision>,
    /// Who the API server authenticated as creating this decision. Written by the operator's admission webhook;
    /// a value given by the requester is replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticated: Option<AuthenticatedUser>,
}

/// The decision on one subject.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubjectDecision {
    /// The subject, as the cycle lists it.
    pub subject: SubjectKey,
    /// `Keep` or `Revoke`.
    pub decision: Verdict,
    /// Why, in the reviewer's words (required: an auditor reads it).
    #[schemars(length(min = 1, max = 1024))]
    pub comment: String,
}

/// Keep or revoke a subject's reviewed access.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Verdict {
    /// The access is appropriate and stays.
    Keep,
    /// The access must be removed within the review's grace period.
    Revoke,
}

/// A user as the API server authenticated a request.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatedUser {
    /// `userInfo.username`.
    pub username: String,
    /// `userInfo.uid`, when the authenticator sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// `userInfo.groups`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// What the operator made of the decision.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessReviewDecisionStatus {
    /// `Accepted`: counted in its cycle (False with the reason: unknown review or cycle, subject not in the
    /// population, not authenticated by the webhook).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<super::k8s_schema::Condition>")]
    pub conditions: Vec<Condition>,
    /// When each revoked subject's reviewed access was seen gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revocations: Vec<Revocation>,
}

/// A revocation carried out.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Revocation {
    /// The subject.
    pub subject: SubjectKey,
    /// When the operator first saw none of its reviewed access granted any more.
    #[schemars(with = "super::k8s_schema::Time")]
    pub carried_out: Time,
}
