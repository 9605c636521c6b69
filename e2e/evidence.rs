//! Evidence: an EvidenceStore with a filesystem backend (the operator runs as a local process, so a temporary
//! directory works) gets a snapshot, reported in its status, and `soc2ctl verify` finds the chain intact.

use std::time::Duration;

use kube::Api;
use serde_json::json;
use soc2_operator::api::EvidenceStore;
use tokio::time::Instant;

use crate::support::objects::{assert_chain_verifies, control_spec};
use crate::support::wait::TIMEOUT;
use crate::support::{TestEnv, TestResult, skip};

#[tokio::test]
async fn an_evidence_store_gets_a_verifiable_snapshot() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("evd").await?;
    let control = env.control_name("evidence");
    env.apply_control(
        &control,
        control_spec(
            &env,
            &["CC8.1"],
            "e2e: evidence",
            json!({ "changeApproval": {} }),
        ),
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let store_name = env.apply_evidence_store(dir.path(), "1h").await?;
    let stores: Api<EvidenceStore> = Api::all(env.client.clone());

    // The first tick at or before now has no snapshot yet: the operator takes it at once.
    let deadline = Instant::now() + TIMEOUT * 2;
    let status = loop {
        let store = stores.get(&store_name).await?;
        if let Some(s) = store.status.as_ref()
            && s.last_snapshot.is_some()
        {
            break s.clone();
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out waiting for EvidenceStore {store_name} to report a snapshot; status: {:?}\n{}",
                store.status,
                env.report(&control).await
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let last = status.last_snapshot.clone().expect("checked above");
    assert_eq!(last.sequence, 1);
    assert!(
        last.controls >= 1,
        "the snapshot holds our control: {last:?}"
    );
    assert_eq!(status.chain_head.as_deref(), Some(last.digest.as_str()));
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        "{status:?}"
    );

    let manifest = std::fs::read_to_string(dir.path().join("manifests/000000000001.json"))?;
    assert!(
        manifest.contains(&format!("\"control\":\"{control}\"")),
        "{manifest}"
    );
    assert_chain_verifies(dir.path(), "after the first snapshot");
    Ok(())
}
