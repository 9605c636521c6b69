//! `soc2ctl scan --evidence DIR`: the bundle format written from an offline scan of manifests.

use k8s_openapi::jiff::{Timestamp, Unit};

use super::collect::{OperationBaseline, control_documents};
use super::document::ClusterIdentity;
use super::schedule::ad_hoc_snapshot_id;
use super::signing::SigningKey;
use super::snapshot::{
    ChainHead, SnapshotError, SnapshotInput, SnapshotOutcome, chain_head, write_snapshot_after,
};
use super::store::EvidenceStoreClient;
use crate::api::Control;
use crate::view::{CONTROL_PLANE_NAMESPACE, ClusterSnapshot};

/// The cluster an offline scan is about: the kube-system namespace UID when the manifests include it.
pub fn offline_identity(snapshot: &ClusterSnapshot) -> ClusterIdentity {
    let uid = snapshot
        .namespaces
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(CONTROL_PLANE_NAMESPACE))
        .and_then(|n| n.metadata.uid.clone())
        .unwrap_or_else(|| "offline".into());
    ClusterIdentity {
        uid,
        server_version: "offline".into(),
    }
}

/// Evaluates `controls` against `snapshot` and appends one ad-hoc snapshot to `store`, taken at `now` (to the
/// millisecond, so two scans in one second are two snapshots). A scan whose time is not after the chain head is
/// an error ([`SnapshotError::NotAfterHead`]), never a silent no-op: the caller said it wrote evidence.
pub async fn write_scan_snapshot(
    store: &EvidenceStoreClient,
    snapshot: &ClusterSnapshot,
    controls: &[Control],
    now: Timestamp,
    signing_key: Option<&SigningKey>,
) -> Result<SnapshotOutcome, SnapshotError> {
    let tick = now.round(Unit::Millisecond).unwrap_or(now);
    let id = ad_hoc_snapshot_id(tick);
    let documents = control_documents(
        &id,
        controls,
        tick,
        |reads| snapshot.offline_view(reads),
        None,
        &mut OperationBaseline::default(),
    )?;
    // An ad-hoc snapshot is its own moment: one not later than the head is refused, never dropped.
    let head = chain_head(store).await?;
    if let Some(h) = &head
        && h.manifest
            .taken_at
            .parse::<Timestamp>()
            .is_ok_and(|head_at| head_at >= tick)
    {
        return Err(not_after(h, tick));
    }
    let outcome = write_snapshot_after(
        store,
        head,
        SnapshotInput {
            source: "soc2ctl scan".into(),
            cluster: offline_identity(snapshot),
            tick,
            documents,
            schedule: None,
            gap_reason: None,
            signing_key,
            access_reviews: Vec::new(),
        },
    )
    .await?;
    match outcome {
        SnapshotOutcome::Written(_) => Ok(outcome),
        // Another scan wrote the same millisecond: ours is not in the chain.
        SnapshotOutcome::AlreadyTaken(head) => Err(not_after(&head, tick)),
    }
}

fn not_after(head: &ChainHead, at: Timestamp) -> SnapshotError {
    SnapshotError::NotAfterHead {
        head: head.manifest.snapshot_id.clone(),
        sequence: head.manifest.sequence,
        head_at: head.manifest.taken_at.clone(),
        at: at.to_string(),
    }
}
