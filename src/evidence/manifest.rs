//! The manifest: the list of a snapshot's documents with their digests, linked to the previous manifest.

use serde::{Deserialize, Serialize};

use super::document::ClusterIdentity;
use crate::engine::canonical::{sha256_hex, to_canonical_json};

/// One document listed by a manifest.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DocumentEntry {
    /// The control the document is about.
    pub control: String,
    /// Path relative to the store prefix (`objects/<sha256>.json`).
    pub path: String,
    /// Lowercase hex SHA-256 of the document's bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// The verdict, repeated so that listings need not open every document.
    pub verdict: String,
}

/// The link to the previous manifest in the chain.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PreviousLink {
    /// Its sequence number.
    pub sequence: u64,
    /// Its snapshot id.
    pub snapshot_id: String,
    /// SHA-256 of its stored bytes.
    pub digest: String,
}

/// Scheduled snapshots that were not taken between the previous snapshot and this one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotGap {
    /// The previous snapshot's time (RFC 3339).
    pub from: String,
    /// This snapshot's time.
    pub to: String,
    /// Schedule ticks in between with no snapshot.
    pub missed_ticks: u64,
    /// Why, when the writer knows (the last storage error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The snapshot schedule as the EvidenceStore declared it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRecord {
    /// `spec.schedule.interval`, e.g. `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// `spec.schedule.cron`, evaluated in UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
}

/// An ed25519 signature over the manifest's canonical JSON without its `signature` field.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Signature {
    /// Always `ed25519`.
    pub algorithm: String,
    /// Hex SHA-256 of the public key, so auditors know which key to check against.
    pub key_id: String,
    /// Hex of the public key (format 2). It proves only that the manifest is unchanged since it was signed by
    /// this key; who holds the key is proved by the auditor's trusted keys (`soc2ctl verify --public-key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Hex of the 64-byte signature.
    pub value: String,
}

/// The manifest of one snapshot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Format version (see [`super::document::FORMAT_VERSION`]).
    pub format_version: u32,
    /// Position in the chain, from 1.
    pub sequence: u64,
    /// The snapshot id, derived from the schedule tick (`20260101T120000Z`).
    pub snapshot_id: String,
    /// When the snapshot was taken (the schedule tick, RFC 3339).
    pub taken_at: String,
    /// Start of the window this snapshot covers: the previous snapshot's time, or this one's for the first.
    pub window_start: String,
    /// Which cluster.
    pub cluster: ClusterIdentity,
    /// Version of the program that wrote the snapshot.
    pub operator_version: String,
    /// Who wrote it: the EvidenceStore name, or `soc2ctl scan`.
    pub source: String,
    /// The documents, sorted by control.
    pub documents: Vec<DocumentEntry>,
    /// The access review cycles (format 3), sorted by review: each cycle's population and its record as of this
    /// snapshot. Absent when the cluster runs no access review.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_reviews: Vec<super::access_review::AccessReviewEntry>,
    /// The previous manifest; `None` only for sequence 1.
    pub previous: Option<PreviousLink>,
    /// Missed ticks since the previous snapshot, when there were any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap: Option<SnapshotGap>,
    /// The schedule the writer keeps (format 2); absent for ad-hoc snapshots (`soc2ctl scan --evidence`), which
    /// show the controls at a point in time but never their operation over a period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleRecord>,
    /// The signature, when a signing key is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
}

impl Manifest {
    /// The bytes a signature covers: canonical JSON of the manifest without `signature`.
    pub fn signed_bytes(&self) -> serde_json::Result<Vec<u8>> {
        let mut unsigned = self.clone();
        unsigned.signature = None;
        to_canonical_json(&unsigned)
    }

    /// The bytes stored (canonical JSON, signature included).
    pub fn to_bytes(&self) -> serde_json::Result<Vec<u8>> {
        to_canonical_json(self)
    }

    /// Digest of the stored bytes, as the next manifest's `previous.digest`.
    pub fn digest(bytes: &[u8]) -> String {
        sha256_hex(bytes)
    }

    /// The store path of the manifest with `sequence`.
    pub fn path_for(sequence: u64) -> String {
        format!("manifests/{sequence:012}.json")
    }

    /// The sequence number a manifest path names, if it is one.
    pub fn sequence_of(path: &str) -> Option<u64> {
        let name = path.rsplit('/').next()?;
        let digits = name.strip_suffix(".json")?;
        if digits.len() != 12 {
            return None;
        }
        digits.parse().ok()
    }
}

/// The store path of a document with digest `sha256`.
pub fn document_path(sha256: &str) -> String {
    format!("objects/{sha256}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        assert_eq!(Manifest::path_for(42), "manifests/000000000042.json");
        assert_eq!(
            Manifest::sequence_of("manifests/000000000042.json"),
            Some(42)
        );
        assert_eq!(Manifest::sequence_of("manifests/42.json"), None);
        assert_eq!(Manifest::sequence_of("manifests/notes.txt"), None);
    }
}
