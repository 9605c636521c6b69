//! Access review evidence: each cycle's population, written once when the cycle opens, and the cycle's record
//! (every decision, who the API server authenticated as making it, revocations and when they took effect), written
//! with every snapshot. Both are content-addressed objects the manifest lists with their digests.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::tally::Tally;
use crate::access::{AccessChange, Population};

/// `kind` of a population document.
pub const POPULATION_KIND: &str = "AccessReviewPopulation";
/// `kind` of a cycle record.
pub const RECORD_KIND: &str = "AccessReviewCycle";
/// The manifest format that lists access reviews; manifests without any keep the previous format, so that their
/// bytes and the soc2ctl versions that read them do not change.
pub const ACCESS_REVIEW_FORMAT_VERSION: u32 = 3;

/// The cycle whose population the changes are measured against.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Baseline {
    /// Its id.
    pub cycle: String,
    /// SHA-256 of its population document.
    pub population_digest: String,
    /// Why its population could not be read, when it could not (the changes are then not listed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// Who had which access when a cycle opened: what the reviewers review.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PopulationDocument {
    /// [`ACCESS_REVIEW_FORMAT_VERSION`].
    pub format_version: u32,
    /// [`POPULATION_KIND`].
    pub kind: String,
    /// The AccessReview.
    pub access_review: String,
    /// Its title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The cycle id.
    pub cycle: String,
    /// When the cycle opened and the access was read (RFC 3339).
    pub opened: String,
    /// When every subject must be decided.
    pub due: String,
    /// The AccessReview's spec as applied (scope, reviewers, schedule).
    pub spec: Value,
    /// Every subject in scope with its grants.
    pub population: Population,
    /// The last completed cycle, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
    /// What changed since the baseline.
    #[serde(default)]
    pub changes: Vec<AccessChange>,
}

/// A cycle's decisions as of one snapshot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CycleRecord {
    /// [`ACCESS_REVIEW_FORMAT_VERSION`].
    pub format_version: u32,
    /// [`RECORD_KIND`].
    pub kind: String,
    /// The AccessReview.
    pub access_review: String,
    /// Its title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The cycle id.
    pub cycle: String,
    /// When it opened.
    pub opened: String,
    /// When every subject must be decided.
    pub due: String,
    /// SHA-256 of its population document.
    pub population_digest: String,
    /// Subjects in the population.
    pub subjects: u32,
    /// The decisions, counted.
    pub tally: Tally,
}

impl CycleRecord {
    /// `Completed`, `Overdue` or `Open`, as listings show it.
    pub fn state(&self) -> &'static str {
        if self.tally.completed.is_some() {
            "Completed"
        } else if self.tally.overdue {
            "Overdue"
        } else {
            "Open"
        }
    }
}

/// An object a manifest lists by digest.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectEntry {
    /// Path relative to the store prefix (`objects/<sha256>.json`).
    pub path: String,
    /// Lowercase hex SHA-256 of its bytes.
    pub sha256: String,
}

/// One access review cycle in a manifest.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AccessReviewEntry {
    /// The AccessReview.
    pub access_review: String,
    /// The cycle id.
    pub cycle: String,
    /// `Open`, `Overdue` or `Completed` as of this snapshot.
    pub state: String,
    /// The population document, written when the cycle opened.
    pub population: ObjectEntry,
    /// The cycle record as of this snapshot.
    pub record: ObjectEntry,
}
