//! Checking a chain: every document hash, every link, every signature. Also loads the chain for reports.

use futures::{StreamExt, TryStreamExt};

use super::document::{ControlDocument, FORMAT_VERSION};
use super::manifest::Manifest;
use super::signing::VerifyingKeys;
use super::store::{EvidenceStoreClient, StoreError};
use crate::canonical::sha256_hex;

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
    /// Its documents that could be read and matched their digest, in manifest order.
    pub documents: Vec<ControlDocument>,
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
    /// Everything broken, in chain order; empty when the chain is intact.
    pub problems: Vec<VerifyProblem>,
}

impl VerifyOutcome {
    /// True when nothing is broken.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
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
        out.snapshots.push(LoadedSnapshot {
            manifest: manifest.clone(),
            documents,
        });
        previous = Some((manifest, digest));
    }
    Ok(out)
}

/// A manifest's bytes as read and parsed (`None` when missing), with its documents' bytes (`None` where missing)
/// in manifest order.
struct FetchedSnapshot {
    path: String,
    manifest: Option<(Vec<u8>, serde_json::Result<Manifest>)>,
    documents: Vec<(String, Option<Vec<u8>>)>,
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
    Ok(FetchedSnapshot {
        path,
        manifest,
        documents,
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
    let mut bad = |reason: String| {
        out.problems.push(VerifyProblem {
            object: store.object_uri(path),
            reason,
        })
    };
    if manifest.format_version != FORMAT_VERSION {
        bad(format!(
            "format version {} is not supported (this soc2ctl reads {FORMAT_VERSION})",
            manifest.format_version
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
            if manifest.snapshot_id <= prev.snapshot_id {
                bad(format!(
                    "snapshot {} is not later than the previous snapshot {}",
                    manifest.snapshot_id, prev.snapshot_id
                ));
            }
        }
    }
    if !keys.is_empty()
        && let Err(reason) = keys.check(manifest)
    {
        bad(format!("signature invalid: {reason}"));
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
