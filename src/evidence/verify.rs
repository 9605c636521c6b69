//! Checking a chain: every document hash, every link, every signature. Also loads the chain for reports.

use futures::{StreamExt, TryStreamExt};

use super::access_review::{
    AccessReviewEntry, CycleRecord, POPULATION_KIND, PopulationDocument, RECORD_KIND,
};
use super::document::{ControlDocument, READABLE_FORMAT_VERSIONS};
use super::manifest::Manifest;
use super::signing::{VerifyingKeys, check_embedded};
use super::store::{EvidenceStoreClient, StoreError};
use crate::engine::canonical::sha256_hex;

/// How far in the future a manifest's time may be (clock skew between writer and verifier) before it is a problem.
const FUTURE_TOLERANCE_SECONDS: i64 = 300;

/// Objects fetched at once; enough to hide store latency, small enough for a laptop.
const CONCURRENCY: usize = 32;

/// One broken object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyProblem {
    /// The object's URI.
    pub object: String,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.object, self.reason)
    }
}

/// A snapshot as read back.
#[derive(Clone, Debug)]
pub struct LoadedSnapshot {
    /// Its manifest.
    pub manifest: Manifest,
    /// SHA-256 of the manifest's stored bytes (what the next manifest links to, and what a published chain head
    /// names).
    pub digest: String,
    /// Its documents that could be read and matched their digest, in manifest order.
    pub documents: Vec<ControlDocument>,
    /// Its access review cycle records that could be read and matched their digest, in manifest order.
    pub access_reviews: Vec<CycleRecord>,
}

/// The result of verifying a chain.
#[derive(Clone, Debug, Default)]
pub struct VerifyOutcome {
    /// Every snapshot, in chain order.
    pub snapshots: Vec<LoadedSnapshot>,
    /// Documents checked.
    pub documents_checked: usize,
    /// Whether signatures were checked (trusted keys were given).
    pub signatures_checked: bool,
    /// Every signing key id seen, in chain order of first use.
    pub key_ids: Vec<String>,
    /// Manifests carrying no signature.
    pub unsigned: usize,
    /// Signed manifests whose signature was checked against the public key they carry (format 2), which proves
    /// them unchanged since signing even without trusted keys.
    pub self_checked: usize,
    /// Whether the store keeps object versions (a versioned S3 bucket), so that overwritten and deleted manifests
    /// show. Without versions a removed head cannot be told from a shorter chain: compare a published head.
    pub keeps_versions: bool,
    /// Everything broken, in chain order; empty when the chain is intact.
    pub problems: Vec<VerifyProblem>,
    /// The access review populations the manifests list, by digest, each read once and matched to its digest.
    pub populations: std::collections::BTreeMap<String, PopulationDocument>,
}

impl VerifyOutcome {
    /// True when nothing is broken.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// The newest snapshot read (the chain head).
    pub fn head(&self) -> Option<&LoadedSnapshot> {
        self.snapshots.last()
    }

    /// Whether the chain contains the manifest a head published elsewhere names: `digest` (hex SHA-256 of the
    /// manifest's bytes) and/or `sequence`. `Err` says what does not match: the chain was truncated below the
    /// published head, or rewritten at or before it.
    pub fn contains_published_head(
        &self,
        digest: Option<&str>,
        sequence: Option<u64>,
    ) -> Result<(), String> {
        let head = self.head().map(|h| h.manifest.sequence).unwrap_or(0);
        if let Some(n) = sequence
            && head < n
        {
            return Err(format!(
                "the chain ends at sequence {head} but the published head is sequence {n}: manifests after \
                 {head} were removed (truncated)"
            ));
        }
        let Some(digest) = digest.map(str::to_ascii_lowercase) else {
            return Ok(());
        };
        match sequence {
            Some(n) => match self.snapshots.iter().find(|s| s.manifest.sequence == n) {
                Some(s) if s.digest == digest => Ok(()),
                Some(s) => Err(format!(
                    "manifest {n} has SHA-256 {} but the published head is {digest}: the chain was rewritten \
                     at or before sequence {n}",
                    s.digest
                )),
                None => Err(format!(
                    "manifest {n} cannot be read: the published head {digest} is not in the chain"
                )),
            },
            None => match self.snapshots.iter().find(|s| s.digest == digest) {
                Some(_) => Ok(()),
                None => Err(format!(
                    "no manifest has SHA-256 {digest}: the published head was removed or rewritten (the chain \
                     head is now sequence {head})"
                )),
            },
        }
    }
}

/// Reads `path`, with `NotFound` as a value: a missing object is tampering, not an unreadable store.
async fn fetch(
    store: &EvidenceStoreClient,
    path: String,
) -> Result<(String, Option<Vec<u8>>), StoreError> {
    match store.get(&path).await {
        Ok(b) => Ok((path, Some(b))),
        Err(StoreError::NotFound(_)) => Ok((path, None)),
        Err(e) => Err(e),
    }
}

/// Verifies the whole chain in `store`. `progress` is called with (done, total) manifests.
/// `Err` only when the store cannot be read; tampering is reported in [`VerifyOutcome::problems`].
pub async fn verify_chain(
    store: &EvidenceStoreClient,
    keys: &VerifyingKeys,
    mut progress: impl FnMut(usize, usize),
) -> Result<VerifyOutcome, StoreError> {
    let mut out = VerifyOutcome {
        signatures_checked: !keys.is_empty(),
        ..VerifyOutcome::default()
    };
    let problem = |out: &mut VerifyOutcome, path: &str, reason: String| {
        out.problems.push(VerifyProblem {
            object: store.object_uri(path),
            reason,
        })
    };

    let mut manifest_paths = Vec::new();
    for path in store.list("manifests").await? {
        match Manifest::sequence_of(&path) {
            Some(seq) => manifest_paths.push((seq, path)),
            None => problem(
                &mut out,
                &path,
                "not a manifest name (manifests/<12-digit sequence>.json): renamed or planted"
                    .into(),
            ),
        }
    }
    // On a versioned bucket the listing hides what was overwritten or deleted; the versions show it.
    let versions = store.versions("manifests").await?;
    out.keeps_versions = versions.is_some();
    for v in versions.unwrap_or_default() {
        let reason = if v.latest_is_delete_marker {
            format!(
                "deleted: hidden by a delete marker in the versioned bucket ({} data version(s) kept); a DELETE \
                 without a version id removed it from listings, which is how a chain head is removed",
                v.versions
            )
        } else if v.versions > 1 {
            format!(
                "overwritten: the versioned bucket keeps {} versions of it; evidence is written once",
                v.versions
            )
        } else if v.delete_markers > 0 {
            format!(
                "was deleted and written again: the versioned bucket keeps {} delete marker(s) of it",
                v.delete_markers
            )
        } else {
            continue;
        };
        problem(&mut out, &v.path, reason);
    }
    let total = manifest_paths.len();
    // Each manifest is fetched together with its documents, up to CONCURRENCY snapshots at once; the chain is
    // then checked in order. (Fetching a manifest's documents only once the previous snapshot was checked cost one
    // round trip per snapshot: minutes for a 10k chain on a remote store.)
    let mut fetched = futures::stream::iter(
        manifest_paths
            .iter()
            .map(|(_, p)| fetch_snapshot(store, p.clone()))
            .collect::<Vec<_>>(),
    )
    .buffered(CONCURRENCY);

    let mut expected_seq = 1u64;
    let mut previous: Option<(Manifest, String)> = None;
    let mut done = 0;
    while let Some(snapshot) = fetched.try_next().await? {
        done += 1;
        progress(done, total);
        let FetchedSnapshot {
            path,
            manifest,
            documents,
            records,
        } = snapshot;
        let seq = Manifest::sequence_of(&path).unwrap_or_default();
        while expected_seq < seq {
            problem(
                &mut out,
                &Manifest::path_for(expected_seq),
                "missing: the chain skips this sequence number (manifest deleted)".into(),
            );
            expected_seq += 1;
        }
        expected_seq = seq + 1;
        let Some((bytes, parsed)) = manifest else {
            problem(
                &mut out,
                &path,
                "listed but cannot be read (deleted)".into(),
            );
            continue;
        };
        let digest = Manifest::digest(&bytes);
        let manifest = match parsed {
            Ok(m) => m,
            Err(e) => {
                problem(&mut out, &path, format!("not a valid manifest: {e}"));
                previous = None;
                continue;
            }
        };
        check_manifest(
            &mut out,
            store,
            &path,
            &manifest,
            previous.as_ref(),
            seq,
            keys,
        );
        // Writers store the canonical JSON of a manifest. Other bytes that parse to the same content (a field
        // added, a value re-encoded, whitespace) slip past the signature, which covers the parsed content, and
        // past the chain when this is the head: only the bytes themselves show the edit.
        if manifest.to_bytes().ok().as_deref() != Some(bytes.as_slice()) {
            problem(
                &mut out,
                &path,
                "is not the canonical JSON of its own content: edited by hand (a field added or removed, \
                 reformatted or re-encoded)"
                    .into(),
            );
        }
        let documents = check_documents(&mut out, store, &manifest, documents);
        let access_reviews = check_records(&mut out, store, &manifest, records);
        out.snapshots.push(LoadedSnapshot {
            manifest: manifest.clone(),
            digest: digest.clone(),
            documents,
            access_reviews,
        });
        previous = Some((manifest, digest));
    }
    check_populations(&mut out, store).await?;
    Ok(out)
}

/// Reads every population the manifests list, once per digest (every snapshot of a cycle lists the same one).
async fn check_populations(
    out: &mut VerifyOutcome,
    store: &EvidenceStoreClient,
) -> Result<(), StoreError> {
    let mut listed: std::collections::BTreeMap<String, (&AccessReviewEntry, String)> =
        std::collections::BTreeMap::new();
    let snapshots = std::mem::take(&mut out.snapshots);
    for snapshot in &snapshots {
        for entry in &snapshot.manifest.access_reviews {
            listed
                .entry(entry.population.sha256.clone())
                .or_insert_with(|| (entry, snapshot.manifest.snapshot_id.clone()));
        }
    }
    let fetched: Vec<(String, Option<Vec<u8>>)> = futures::stream::iter(
        listed
            .values()
            .map(|(entry, _)| fetch(store, entry.population.path.clone())),
    )
    .buffered(CONCURRENCY)
    .try_collect()
    .await?;
    for ((digest, (entry, snapshot_id)), (path, bytes)) in listed.iter().zip(fetched) {
        let mut bad = |reason: String| {
            out.problems.push(VerifyProblem {
                object: store.object_uri(&path),
                reason: format!(
                    "{reason} (population of access review {} cycle {}, first listed in snapshot {snapshot_id})",
                    entry.access_review, entry.cycle
                ),
            })
        };
        let Some(bytes) = bytes else {
            bad("missing: listed in a manifest but deleted from the store".into());
            continue;
        };
        let actual = sha256_hex(&bytes);
        if &actual != digest {
            bad(format!(
                "SHA-256 is {actual}, the manifests record {digest}: the population was altered"
            ));
            continue;
        }
        match serde_json::from_slice::<PopulationDocument>(&bytes) {
            Ok(doc)
                if doc.kind != POPULATION_KIND
                    || doc.access_review != entry.access_review
                    || doc.cycle != entry.cycle =>
            {
                bad(format!(
                    "is the {} of access review {} cycle {}",
                    doc.kind, doc.access_review, doc.cycle
                ))
            }
            Ok(doc) => {
                out.populations.insert(digest.clone(), doc);
            }
            Err(e) => bad(format!("not a valid population document: {e}")),
        }
    }
    out.snapshots = snapshots;
    Ok(())
}

fn check_records(
    out: &mut VerifyOutcome,
    store: &EvidenceStoreClient,
    manifest: &Manifest,
    fetched: Vec<(String, Option<Vec<u8>>)>,
) -> Vec<CycleRecord> {
    let mut records = Vec::with_capacity(fetched.len());
    for (entry, (path, bytes)) in manifest.access_reviews.iter().zip(fetched) {
        out.documents_checked += 1;
        let mut bad = |reason: String| {
            out.problems.push(VerifyProblem {
                object: store.object_uri(&path),
                reason: format!(
                    "{reason} (access review {} cycle {} in snapshot {})",
                    entry.access_review, entry.cycle, manifest.snapshot_id
                ),
            })
        };
        let Some(bytes) = bytes else {
            bad("missing: listed in the manifest but deleted from the store".into());
            continue;
        };
        let actual = sha256_hex(&bytes);
        if actual != entry.record.sha256 {
            bad(format!(
                "SHA-256 is {actual}, the manifest records {}: the cycle record was altered",
                entry.record.sha256
            ));
            continue;
        }
        match serde_json::from_slice::<CycleRecord>(&bytes) {
            Ok(record)
                if record.kind != RECORD_KIND
                    || record.access_review != entry.access_review
                    || record.cycle != entry.cycle
                    || record.population_digest != entry.population.sha256 =>
            {
                bad(format!(
                    "is the {} of access review {} cycle {} over population {}",
                    record.kind, record.access_review, record.cycle, record.population_digest
                ))
            }
            Ok(record) => records.push(record),
            Err(e) => bad(format!("not a valid cycle record: {e}")),
        }
    }
    records
}

/// A manifest's bytes as read and parsed (`None` when missing), with its documents' bytes (`None` where missing)
/// in manifest order.
struct FetchedSnapshot {
    path: String,
    manifest: Option<(Vec<u8>, serde_json::Result<Manifest>)>,
    documents: Vec<(String, Option<Vec<u8>>)>,
    records: Vec<(String, Option<Vec<u8>>)>,
}

/// Reads the manifest at `path` and, when it parses, every document it lists.
async fn fetch_snapshot(
    store: &EvidenceStoreClient,
    path: String,
) -> Result<FetchedSnapshot, StoreError> {
    let (path, bytes) = fetch(store, path).await?;
    let manifest = bytes.map(|b| {
        let parsed = serde_json::from_slice::<Manifest>(&b);
        (b, parsed)
    });
    let paths: Vec<String> = match &manifest {
        Some((_, Ok(m))) => m.documents.iter().map(|d| d.path.clone()).collect(),
        _ => Vec::new(),
    };
    let documents = futures::stream::iter(paths.into_iter().map(|p| fetch(store, p)))
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let record_paths: Vec<String> = match &manifest {
        Some((_, Ok(m))) => m
            .access_reviews
            .iter()
            .map(|a| a.record.path.clone())
            .collect(),
        _ => Vec::new(),
    };
    let records = futures::stream::iter(record_paths.into_iter().map(|p| fetch(store, p)))
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    Ok(FetchedSnapshot {
        path,
        manifest,
        documents,
        records,
    })
}

fn check_manifest(
    out: &mut VerifyOutcome,
    store: &EvidenceStoreClient,
    path: &str,
    manifest: &Manifest,
    previous: Option<&(Manifest, String)>,
    seq: u64,
    keys: &VerifyingKeys,
) {
    let mut reasons = Vec::new();
    let mut self_checked = false;
    let mut bad = |reason: String| reasons.push(reason);
    if !READABLE_FORMAT_VERSIONS.contains(&manifest.format_version) {
        bad(format!(
            "format version {} is not supported (this soc2ctl reads {READABLE_FORMAT_VERSIONS:?}): use a newer \
             soc2ctl",
            manifest.format_version
        ));
    }
    if let Ok(at) = manifest.taken_at.parse::<k8s_openapi::jiff::Timestamp>()
        && at.as_second()
            > k8s_openapi::jiff::Timestamp::now().as_second() + FUTURE_TOLERANCE_SECONDS
    {
        bad(format!(
            "taken at {} which is in the future: the writer's clock was wrong or the manifest was forged",
            manifest.taken_at
        ));
    }
    if manifest.sequence != seq {
        bad(format!(
            "records sequence {} but is stored as sequence {seq}: manifests were moved or reordered",
            manifest.sequence
        ));
    }
    match (&manifest.previous, previous) {
        (None, None) if seq == 1 => {}
        (None, _) => bad("has no link to a previous manifest but is not the first".into()),
        (Some(_), None) if seq == 1 => {
            bad("is the first manifest but links to a previous one".into())
        }
        (Some(_), None) => {}
        (Some(link), Some((prev, prev_digest))) => {
            if link.digest != *prev_digest {
                bad(format!(
                    "links to previous digest {} but manifest {} has digest {prev_digest}: \
                     the previous manifest was altered or the chain reordered",
                    link.digest, prev.sequence
                ));
            } else if link.sequence != prev.sequence || link.snapshot_id != prev.snapshot_id {
                bad("previous link names a different sequence or snapshot".into());
            }
            if !later_than(manifest, prev) {
                bad(format!(
                    "snapshot {} (taken {}) is not later than the previous snapshot {} (taken {})",
                    manifest.snapshot_id, manifest.taken_at, prev.snapshot_id, prev.taken_at
                ));
            }
        }
    }
    let trusted = (!keys.is_empty()).then(|| keys.check(manifest));
    if let Some(Err(reason)) = &trusted {
        bad(format!("signature invalid: {reason}"));
    }
    // A signature a trusted key verified needs no second check of the same bytes; the key it carries must still be
    // the one its id names.
    match check_embedded(manifest, !matches!(trusted, Some(Ok(())))) {
        Ok(true) => self_checked = true,
        Ok(false) => {}
        Err(reason) => bad(format!(
            "signature invalid against the public key it carries: {reason} (the manifest was changed after it \
             was signed)"
        )),
    }
    match (
        &manifest.signature,
        previous.and_then(|(p, _)| p.signature.as_ref()),
    ) {
        // Without trusted keys the chain vouches for itself only while one key signs all of it: a new key or an
        // unsigned manifest after signed ones is how a rewrite by someone without the key looks.
        (Some(sig), Some(prev)) if sig.key_id != prev.key_id && keys.is_empty() => bad(format!(
            "signed by key id {} but the previous manifest by key id {}: the signing key changed; if the key \
             was rotated, verify with both public keys (--public-key twice)",
            sig.key_id, prev.key_id
        )),
        (None, Some(prev)) if keys.is_empty() => bad(format!(
            "is not signed although the previous manifest is (key id {}): manifests stopped being signed",
            prev.key_id
        )),
        _ => {}
    }
    if self_checked {
        out.self_checked += 1;
    }
    match &manifest.signature {
        Some(sig) if !out.key_ids.contains(&sig.key_id) => out.key_ids.push(sig.key_id.clone()),
        Some(_) => {}
        None => out.unsigned += 1,
    }
    out.problems
        .extend(reasons.into_iter().map(|reason| VerifyProblem {
            object: store.object_uri(path),
            reason,
        }));
}

/// Whether `manifest` was taken after `previous`: by time when both times parse (ad-hoc ids carry milliseconds,
/// scheduled ids do not, so the ids alone do not order a mixed chain), else by id.
fn later_than(manifest: &Manifest, previous: &Manifest) -> bool {
    use k8s_openapi::jiff::Timestamp;
    match (
        manifest.taken_at.parse::<Timestamp>(),
        previous.taken_at.parse::<Timestamp>(),
    ) {
        (Ok(a), Ok(b)) => a > b,
        _ => manifest.snapshot_id > previous.snapshot_id,
    }
}

fn check_documents(
    out: &mut VerifyOutcome,
    store: &EvidenceStoreClient,
    manifest: &Manifest,
    fetched: Vec<(String, Option<Vec<u8>>)>,
) -> Vec<ControlDocument> {
    let mut documents = Vec::with_capacity(fetched.len());
    for (entry, (path, bytes)) in manifest.documents.iter().zip(fetched) {
        out.documents_checked += 1;
        let mut bad = |reason: String| {
            out.problems.push(VerifyProblem {
                object: store.object_uri(&path),
                reason: format!(
                    "{reason} (control {} in snapshot {})",
                    entry.control, manifest.snapshot_id
                ),
            })
        };
        let Some(bytes) = bytes else {
            bad("missing: listed in the manifest but deleted from the store".into());
            continue;
        };
        let actual = sha256_hex(&bytes);
        if actual != entry.sha256 {
            bad(format!(
                "SHA-256 is {actual}, the manifest records {}: the document was altered",
                entry.sha256
            ));
            continue;
        }
        match serde_json::from_slice::<ControlDocument>(&bytes) {
            Ok(doc) if doc.snapshot_id != manifest.snapshot_id || doc.control != entry.control => {
                bad(format!(
                    "belongs to control {} in snapshot {}",
                    doc.control, doc.snapshot_id
                ))
            }
            Ok(doc) => documents.push(doc),
            Err(e) => bad(format!("not a valid evidence document: {e}")),
        }
    }
    documents
}
