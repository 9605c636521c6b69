//! The `AccessReview` custom resource: a periodic review of who holds which access through RBAC (CC6.2, CC6.3),
//! run by the cluster itself and signed off by declared reviewers.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Scope, SubjectKind};

/// Default `spec.revocationGracePeriod`: three days to carry out a revocation.
pub const DEFAULT_REVOCATION_GRACE_PERIOD: &str = "72h";

/// A periodic access review: on each schedule tick the operator opens a cycle that lists every in-scope subject's
/// effective access (its bindings, the rules they grant, what is privileged and what changed since the last
/// completed cycle), writes it to the evidence store, and counts the reviewers' AccessReviewDecisions until every
/// subject is decided.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[allow(clippy::duplicated_attributes)]
#[kube(
    group = "soc2.dev",
    version = "v1alpha1",
    kind = "AccessReview",
    status = "AccessReviewStatus",
    shortname = "ar",
    category = "soc2",
    doc = "A periodic review of RBAC access, run by the cluster and signed off by declared reviewers.",
    printcolumn(name = "Cycle", type_ = "string", json_path = ".status.cycle.id"),
    printcolumn(name = "Due", type_ = "string", json_path = ".status.cycle.due"),
    printcolumn(
        name = "Decided",
        type_ = "integer",
        json_path = ".status.cycle.decided",
        description = "Subjects of the cycle with a decision"
    ),
    printcolumn(
        name = "Subjects",
        type_ = "integer",
        json_path = ".status.cycle.subjects",
        description = "Subjects in the cycle's population"
    ),
    printcolumn(
        name = "Overdue",
        type_ = "boolean",
        json_path = ".status.cycle.overdue"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(
    cel,
    validation = Rule::new("(has(self.reviewers.users) ? size(self.reviewers.users) : 0) + (has(self.reviewers.groups) ? size(self.reviewers.groups) : 0) > 0")
        .message("declare at least one reviewer in spec.reviewers.users or spec.reviewers.groups")
)]
#[serde(rename_all = "camelCase")]
pub struct AccessReviewSpec {
    /// What the review covers, in the words of the control it evidences, e.g. "Quarterly review of privileged
    /// cluster access".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// When a cycle opens: exactly one of `interval` (e.g. `2160h`, quarterly) and `cron` (UTC, e.g.
    /// `0 9 1 1,4,7,10 *`). Intervals are aligned to the Unix epoch.
    pub schedule: ReviewSchedule,
    /// Which subjects and which of their access are reviewed. Default: every user, group and ServiceAccount named
    /// in a binding, all of their access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects: Option<ReviewSubjects>,
    /// Who may decide. A decision is admitted only from a user named here or a member of a group named here, as
    /// the API server authenticated the request, and never on the deciding user's own access.
    pub reviewers: Reviewers,
    /// How long after a cycle opens every subject must be decided, e.g. `336h` (two weeks).
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(s|m|h))+$')").message("dueWithin must be a duration such as 336h or 72h30m"))]
    pub due_within: String,
    /// How long after a `revoke` decision the access may still be granted before the control fails. Default
    /// `72h`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(s|m|h))+$')").message("revocationGracePeriod must be a duration such as 72h"))]
    pub revocation_grace_period: Option<String>,
    /// The EvidenceStore that keeps each cycle's population. Default: the only EvidenceStore of the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_store: Option<String>,
}

/// When cycles open: exactly one of `interval` and `cron`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewSchedule {
    /// Every interval (`2160h` for quarterly; at least `1m`), aligned to the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// A cron expression in UTC, e.g. `0 9 1 1,4,7,10 *` (09:00 on the first day of each quarter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
}

/// Which subjects and which access a review covers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewSubjects {
    /// The kinds of subject reviewed. Default: `User`, `Group` and `ServiceAccount`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<SubjectKind>>,
    /// Which bindings count: RoleBindings by namespace (name or label selector) and labels, ClusterRoleBindings by
    /// labels only (they grant access in every namespace). Default: every binding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bindings: Option<Scope>,
    /// Review privileged access only (the MFA check's definition: `privilegedClusterRoles`, wildcard verbs or
    /// resources, reading Secrets, escalate, bind, impersonate). Default false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged_only: Option<bool>,
    /// ClusterRoles privileged by name. Default `cluster-admin`, `admin`, `edit` (as the MFA check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged_cluster_roles: Option<Vec<String>>,
    /// Also review the bindings Kubernetes creates for its own components (labelled
    /// `kubernetes.io/bootstrapping: rbac-defaults`, such as `system:masters`' cluster-admin). Default false: they
    /// are the platform's, not granted by anyone here, and the MFA check reports the dangerous ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_default_bindings: Option<bool>,
}

/// The people who may decide.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reviewers {
    /// User names, as the API server authenticates them (e.g. the OIDC username claim with its prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<String>>,
    /// Groups, as the API server authenticates them; any member may decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

/// What the operator knows of the review.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessReviewStatus {
    /// The `metadata.generation` this status describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the spec is valid and cycles open on schedule (False with the reason otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<super::k8s_schema::Condition>")]
    pub conditions: Vec<Condition>,
    /// The latest cycle opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycle: Option<CycleStatus>,
    /// The latest cycle in which every subject was decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_completed_cycle: Option<CompletedCycle>,
    /// When the next cycle opens.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<super::k8s_schema::Time>")]
    pub next_cycle: Option<Time>,
}

/// Most subjects listed by name in a status list; the counts are always whole and the evidence lists them all.
pub const LISTED_SUBJECTS: usize = 20;

/// One cycle, as the status summarises it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CycleStatus {
    /// The cycle's id: its schedule tick, e.g. `20261001T090000Z`. Decisions name it.
    pub id: String,
    /// When it opened (its population is the access as it was then).
    #[schemars(with = "super::k8s_schema::Time")]
    pub opened: Time,
    /// When every subject must be decided.
    #[schemars(with = "super::k8s_schema::Time")]
    pub due: Time,
    /// When the last subject was decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<super::k8s_schema::Time>")]
    pub completed: Option<Time>,
    /// SHA-256 of the population document in the evidence store (`objects/<digest>.json`).
    pub population_digest: String,
    /// The EvidenceStore holding it.
    pub evidence_store: String,
    /// Subjects in the population.
    pub subjects: u32,
    /// Subjects with a decision.
    pub decided: u32,
    /// Subjects decided `keep`.
    pub kept: u32,
    /// Subjects decided `revoke`.
    pub to_revoke: u32,
    /// Of those, subjects whose reviewed access is gone.
    pub revoked: u32,
    /// Subjects decided `revoke` whose access is still granted after the grace period.
    #[serde(default)]
    pub revocations_overdue: u32,
    /// True when the cycle is past due with subjects undecided.
    pub overdue: bool,
    /// Subjects without a decision (at most 20 listed; `decided` and `subjects` give the count).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undecided: Vec<String>,
    /// Changes since the previous completed cycle: new subjects, widened, reduced and removed access.
    #[serde(default)]
    pub changes: ChangeCounts,
    /// Subjects holding privileged access now that no review has decided on: granted after this cycle opened
    /// (the next cycle reviews them), or new or widened to privileged since the last completed cycle and still
    /// undecided in this one. Unset when RBAC could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged_since_review: Option<ListedSubjects>,
}

/// A count of subjects, the first of them by name.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListedSubjects {
    /// How many subjects.
    pub count: u32,
    /// The first 20, as `Kind name` (`ServiceAccount namespace/name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
}

/// How many subjects changed in each way since the previous completed cycle.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeCounts {
    /// Subjects not in the previous cycle.
    pub new_subjects: u32,
    /// Subjects granted more.
    pub widened: u32,
    /// Subjects granted less.
    pub reduced: u32,
    /// Subjects whose in-scope access is gone.
    pub removed: u32,
}

/// A cycle in which every subject was decided.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompletedCycle {
    /// The cycle's id.
    pub id: String,
    /// When it opened.
    #[schemars(with = "super::k8s_schema::Time")]
    pub opened: Time,
    /// When its last subject was decided.
    #[schemars(with = "super::k8s_schema::Time")]
    pub completed: Time,
    /// SHA-256 of its population document: the baseline the next cycle's changes are measured against.
    pub population_digest: String,
    /// The EvidenceStore holding it.
    pub evidence_store: String,
}

impl Reviewers {
    /// True when a request authenticated as `username` with `groups` comes from a declared reviewer.
    pub fn admits(&self, username: &str, groups: &[String]) -> bool {
        self.users.iter().flatten().any(|u| u == username)
            || self
                .groups
                .iter()
                .flatten()
                .any(|g| groups.iter().any(|mine| mine == g))
    }
}

/// Parameters of the access review check (`spec.check.accessReview`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessReviewCheck {
    /// The AccessReviews judged, by name. Default: every AccessReview (that the control's `scope.objectSelector`
    /// matches, when it sets one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_reviews: Option<Vec<String>>,
    /// Fail when no AccessReview is configured at all ("no periodic access review is configured"). Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_review: Option<bool>,
}

impl AccessReviewCheck {
    /// `requireReview` with its default applied.
    pub fn effective_require_review(&self) -> bool {
        self.require_review.unwrap_or(true)
    }
}
