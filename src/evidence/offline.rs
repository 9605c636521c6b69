//! `soc2ctl scan --evidence DIR`: the bundle format written from an offline scan of manifests.

use k8s_openapi::jiff::Timestamp;

use super::collect::{OperationBaseline, control_documents};
use super::document::ClusterIdentity;
use super::schedule::snapshot_id;
use super::signing::SigningKey;
use super::snapshot::{SnapshotError, SnapshotInput, SnapshotOutcome, write_snapshot};
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

/// Evaluates `controls` against `snapshot` and appends one snapshot to `store`, taken at `now` (whole seconds).
pub async fn write_scan_snapshot(
    store: &EvidenceStoreClient,
    snapshot: &ClusterSnapshot,
    controls: &[Control],
    now: Timestamp,
    signing_key: Option<&SigningKey>,
) -> Result<SnapshotOutcome, SnapshotError> {
    let tick = Timestamp::from_second(now.as_second()).unwrap_or(now);
    let id = snapshot_id(tick);
    let documents = control_documents(
        &id,
        controls,
        tick,
        |_| snapshot.clone(),
        None,
        &mut OperationBaseline::default(),
    )?;
    write_snapshot(
        store,
        SnapshotInput {
            source: "soc2ctl scan".into(),
            cluster: offline_identity(snapshot),
            tick,
            documents,
            schedule: None,
            gap_reason: None,
            signing_key,
        },
    )
    .await
}
