//! Taking a snapshot: documents first (content-addressed), the manifest last with a conditional create.
//!
//! A reader lists manifests only, so documents written by a snapshot that failed before its manifest are never
//! part of the evidence; the next snapshot links to the last manifest that exists and records the gap.

use k8s_openapi::jiff::Timestamp;

use super::access_review::{
    ACCESS_REVIEW_FORMAT_VERSION, AccessReviewEntry, CycleRecord, ObjectEntry,
};
use super::document::{ClusterIdentity, ControlDocument, FORMAT_VERSION};
use super::manifest::{DocumentEntry, Manifest, PreviousLink, SnapshotGap, document_path};
use super::schedule::{Schedule, snapshot_id};
use super::signing::SigningKey;
use super::store::{EvidenceStoreClient, StoreError};
use crate::engine::canonical::{sha256_hex, to_canonical_json};

/// Why a snapshot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another writer extended the chain with a different snapshot at the same sequence.
    #[error(
        "another writer created manifest {path} for snapshot {theirs} while this one wrote {ours}; \
         the next attempt links to it"
    )]
    Conflict {
        /// The manifest.
        path: String,
        /// Its snapshot id.
        theirs: String,
        /// Ours.
        ours: String,
    },
    /// The last manifest in the store cannot be read as a manifest.
    #[error("the chain head {path} is not a readable manifest ({reason}); run `soc2ctl verify`")]
    Head {
        /// The manifest.
        path: String,
        /// Why.
        reason: String,
    },
    /// An ad-hoc snapshot would not be later than the chain head: it would not be written, and saying it was
    /// would lose it.
    #[error(
        "nothing was written: the chain head {head} (sequence {sequence}) was taken at {head_at}, not before this \
         snapshot's time {at}; check this machine's clock, or wait and scan again"
    )]
    NotAfterHead {
        /// The head's snapshot id.
        head: String,
        /// Its sequence.
        sequence: u64,
        /// When it was taken.
        head_at: String,
        /// This snapshot's time.
        at: String,
    },
    /// The manifest key this snapshot would take held an object before (a versioned bucket keeps its versions or a
    /// delete marker): the chain head was deleted or hidden, and writing there would replace signed evidence.
    #[error(
        "nothing was written: manifest {path} is not in the store's listing, but the bucket keeps {versions} \
         version(s) and {delete_markers} delete marker(s) of it, so the chain head was deleted (a delete marker \
         hides it); writing the same sequence again would replace signed evidence. Restore the manifest by \
         deleting its delete marker (aws s3api list-object-versions / delete-object --version-id <marker>), then \
         run soc2ctl verify; snapshots resume on their own once the head is back"
    )]
    ManifestKeyUsed {
        /// The manifest's URI.
        path: String,
        /// Data versions the bucket keeps of it.
        versions: usize,
        /// Delete markers on it.
        delete_markers: usize,
    },
    /// Serialization failed.
    #[error("cannot serialize evidence: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl SnapshotError {
    /// A stable label for metrics and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            SnapshotError::Store(e) => e.category(),
            SnapshotError::Conflict { .. } => "conflict",
            SnapshotError::Head { .. } => "corrupt_chain",
            SnapshotError::NotAfterHead { .. } => "clock",
            SnapshotError::ManifestKeyUsed { .. } => "chain_regressed",
            SnapshotError::Serialize(_) => "serialize",
        }
    }
}

/// What goes into one snapshot.
#[derive(Debug)]
pub struct SnapshotInput<'a> {
    /// The EvidenceStore name, or `soc2ctl scan`.
    pub source: String,
    /// Which cluster.
    pub cluster: ClusterIdentity,
    /// The schedule tick this snapshot is for.
    pub tick: Timestamp,
    /// One document per control, all with the snapshot's id: [`snapshot_id`]`(tick)` for a scheduled snapshot,
    /// [`super::schedule::ad_hoc_snapshot_id`]`(tick)` for an ad-hoc one.
    pub documents: Vec<ControlDocument>,
    /// The schedule, to count missed ticks since the previous snapshot.
    pub schedule: Option<&'a Schedule>,
    /// Why earlier attempts failed, recorded with the gap.
    pub gap_reason: Option<String>,
    /// Signs the manifest when set.
    pub signing_key: Option<&'a SigningKey>,
    /// The access review cycles this store keeps, as of this snapshot (their populations are in the store
    /// already: they were written when each cycle opened).
    pub access_reviews: Vec<CycleRecord>,
}

/// The last manifest of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    /// Its path.
    pub path: String,
    /// The manifest.
    pub manifest: Manifest,
    /// SHA-256 of its bytes.
    pub digest: String,
}

/// What a snapshot attempt did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotOutcome {
    /// A new manifest was created.
    Written(ChainHead),
    /// The chain already has a snapshot for this tick or a later one (another replica, or a retry after a
    /// write that did succeed): nothing was written.
    AlreadyTaken(ChainHead),
}

impl SnapshotOutcome {
    /// The chain head after the attempt.
    pub fn head(&self) -> &ChainHead {
        match self {
            SnapshotOutcome::Written(h) | SnapshotOutcome::AlreadyTaken(h) => h,
        }
    }
}

/// The last manifest in `store`, if any.
pub async fn chain_head(store: &EvidenceStoreClient) -> Result<Option<ChainHead>, SnapshotError> {
    let paths = store.list("manifests").await?;
    let Some(path) = paths
        .into_iter()
        .rfind(|p| Manifest::sequence_of(p).is_some())
    else {
        return Ok(None);
    };
    read_head(store, &path).await.map(Some)
}

async fn read_head(store: &EvidenceStoreClient, path: &str) -> Result<ChainHead, SnapshotError> {
    let bytes = store.get(path).await?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| SnapshotError::Head {
        path: store.object_uri(path),
        reason: e.to_string(),
    })?;
    Ok(ChainHead {
        path: path.to_string(),
        digest: Manifest::digest(&bytes),
        manifest,
    })
}

/// Writes one snapshot to `store`, linked to the store's current chain head (found by listing the manifests).
pub async fn write_snapshot(
    store: &EvidenceStoreClient,
    input: SnapshotInput<'_>,
) -> Result<SnapshotOutcome, SnapshotError> {
    let head = chain_head(store).await?;
    write_snapshot_after(store, head, input).await
}

/// Writes one snapshot linked to `head`, the chain head as the caller last knew it (`None` for an empty store),
/// without listing. If another writer has extended the chain since, the conditional create fails with
/// [`SnapshotError::Conflict`] and the caller retries with [`write_snapshot`].
pub async fn write_snapshot_after(
    store: &EvidenceStoreClient,
    head: Option<ChainHead>,
    input: SnapshotInput<'_>,
) -> Result<SnapshotOutcome, SnapshotError> {
    let id = input_id(&input);
    if let Some(h) = &head
        && h.manifest.snapshot_id >= id
    {
        return Ok(SnapshotOutcome::AlreadyTaken(h.clone()));
    }

    let mut documents = Vec::with_capacity(input.documents.len());
    for doc in &input.documents {
        let bytes = to_canonical_json(doc)?;
        let sha256 = sha256_hex(&bytes);
        let path = document_path(&sha256);
        let size = bytes.len() as u64;
        match store.create(&path, bytes).await {
            // Content-addressed: an existing object at this path has these bytes, or verify will say otherwise.
            Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        documents.push(DocumentEntry {
            control: doc.control.clone(),
            path,
            sha256,
            size,
            verdict: doc.verdict().to_string(),
        });
    }
    documents.sort_by(|a, b| a.control.cmp(&b.control));
    let mut access_reviews = Vec::with_capacity(input.access_reviews.len());
    for record in &input.access_reviews {
        let bytes = to_canonical_json(record)?;
        let sha256 = sha256_hex(&bytes);
        let path = document_path(&sha256);
        match store.create(&path, bytes).await {
            Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        access_reviews.push(AccessReviewEntry {
            access_review: record.access_review.clone(),
            cycle: record.cycle.clone(),
            state: record.state().to_string(),
            population: ObjectEntry {
                path: document_path(&record.population_digest),
                sha256: record.population_digest.clone(),
            },
            record: ObjectEntry { path, sha256 },
        });
    }
    access_reviews.sort_by(|a, b| (&a.access_review, &a.cycle).cmp(&(&b.access_review, &b.cycle)));

    let taken_at = input.tick.to_string();
    let (sequence, previous, window_start, gap) = match &head {
        None => (1, None, taken_at.clone(), None),
        Some(h) => {
            let missed = match (input.schedule, h.manifest.taken_at.parse::<Timestamp>()) {
                (Some(s), Ok(prev)) => s.ticks_between(prev, input.tick),
                _ => 0,
            };
            let gap = (missed > 0).then(|| SnapshotGap {
                from: h.manifest.taken_at.clone(),
                to: taken_at.clone(),
                missed_ticks: missed,
                reason: input.gap_reason.clone(),
            });
            (
                h.manifest.sequence + 1,
                Some(PreviousLink {
                    sequence: h.manifest.sequence,
                    snapshot_id: h.manifest.snapshot_id.clone(),
                    digest: h.digest.clone(),
                }),
                h.manifest.taken_at.clone(),
                gap,
            )
        }
    };
    let mut manifest = Manifest {
        format_version: if access_reviews.is_empty() {
            FORMAT_VERSION
        } else {
            ACCESS_REVIEW_FORMAT_VERSION
        },
        sequence,
        snapshot_id: id.clone(),
        taken_at,
        window_start,
        cluster: input.cluster,
        operator_version: env!("CARGO_PKG_VERSION").to_string(),
        source: input.source,
        documents,
        access_reviews,
        previous,
        gap,
        schedule: input.schedule.map(Schedule::record),
        signature: None,
    };
    if let Some(key) = input.signing_key {
        key.sign(&mut manifest)?;
    }
    let bytes = manifest.to_bytes()?;
    let path = Manifest::path_for(sequence);
    let digest = Manifest::digest(&bytes);
    // The conditional create is what keeps the chain from forking, and not every S3-compatible store makes
    // `If-None-Match: *` atomic (s3s-fs checks, then writes; some stores ignore it). So also look before writing
    // (a writer with a stale head finds the sequence taken) and read back after (a writer whose manifest was
    // replaced in a race learns that it lost instead of reporting a head that is not in the store).
    match store.get(&path).await {
        Ok(_) => return lost_race(store, &path, id).await,
        Err(StoreError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    // A key that ever held an object is never written again: on a versioned bucket a DELETE without a version id
    // (allowed even under Object Lock) only hides the head behind a delete marker, and a writer trusting the
    // listing would write its sequence again with new content.
    if let Some(versions) = store.versions(&path).await?
        && let Some(v) = versions
            .iter()
            .find(|v| v.path == path && (v.versions > 0 || v.delete_markers > 0))
    {
        return Err(SnapshotError::ManifestKeyUsed {
            path: store.object_uri(&path),
            versions: v.versions,
            delete_markers: v.delete_markers,
        });
    }
    match store.create(&path, bytes).await {
        Ok(()) => {
            let stored = store.get(&path).await?;
            if Manifest::digest(&stored) != digest {
                return lost_race(store, &path, id).await;
            }
            Ok(SnapshotOutcome::Written(ChainHead {
                path,
                manifest,
                digest,
            }))
        }
        Err(StoreError::AlreadyExists(_)) => lost_race(store, &path, id).await,
        Err(e) => Err(e.into()),
    }
}

/// The snapshot id of `input`: the one its documents carry (an ad-hoc scan's is to the millisecond), else the
/// schedule tick's.
fn input_id(input: &SnapshotInput<'_>) -> String {
    input
        .documents
        .first()
        .map(|d| d.snapshot_id.clone())
        .unwrap_or_else(|| snapshot_id(input.tick))
}

/// Another writer holds `path`: the tick is taken if it is the same snapshot, a conflict otherwise.
async fn lost_race(
    store: &EvidenceStoreClient,
    path: &str,
    id: String,
) -> Result<SnapshotOutcome, SnapshotError> {
    let theirs = read_head(store, path).await?;
    if theirs.manifest.snapshot_id == id {
        Ok(SnapshotOutcome::AlreadyTaken(theirs))
    } else {
        Err(SnapshotError::Conflict {
            path: store.object_uri(path),
            theirs: theirs.manifest.snapshot_id,
            ours: id,
        })
    }
}
