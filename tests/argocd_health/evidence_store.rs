//! `config/argocd/health-evidencestore.lua` against EvidenceStores with the statuses the snapshot loop
//! (`src/controller/evidence.rs`) writes: after a written snapshot, after a failed one, and for an invalid spec.
//!
//! The loop builds those statuses inside its async steps (its condition builder is private), so they are rebuilt
//! here field by field from the crate's types, with the spec check, store URI and snapshot id the loop uses.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::{Value, json};
use soc2_operator::api::{EvidenceStore, EvidenceStoreSpec, EvidenceStoreStatus, LastSnapshot};
use soc2_operator::controller::evidence::validate_spec;
use soc2_operator::evidence::schedule::snapshot_id;
use soc2_operator::evidence::{Manifest, StoreLocation};

use crate::now;
use crate::script::{EVIDENCE_STORE, Variants};

fn store_uri() -> String {
    StoreLocation::parse("s3://audit-evidence/prod")
        .unwrap()
        .uri()
}

fn spec() -> EvidenceStoreSpec {
    serde_json::from_value(json!({
        "s3": {"bucket": "audit-evidence", "prefix": "prod"},
        "schedule": {"interval": "1h"},
    }))
    .expect("a valid EvidenceStoreSpec")
}

fn store(
    spec: EvidenceStoreSpec,
    generation: i64,
    status: Option<EvidenceStoreStatus>,
) -> EvidenceStore {
    let mut es = EvidenceStore::new("audit", spec);
    es.metadata.generation = Some(generation);
    es.status = status;
    es
}

/// The `Ready` condition as the loop writes it.
fn ready(ok: bool, reason: &str, message: &str, generation: i64) -> Condition {
    Condition {
        type_: "Ready".into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: Some(generation),
        last_transition_time: Time(now()),
    }
}

fn last_snapshot() -> LastSnapshot {
    LastSnapshot {
        uri: format!("{}/{}", store_uri(), Manifest::path_for(7)),
        digest: "a".repeat(64),
        id: snapshot_id(now()),
        sequence: 7,
        time: Time(now()),
        controls: 12,
        findings: 3,
    }
}

/// After a snapshot was written (`succeeded`).
fn written(generation: i64) -> EvidenceStoreStatus {
    let message = format!(
        "snapshot {} (sequence 7) is the chain head",
        snapshot_id(now())
    );
    EvidenceStoreStatus {
        observed_generation: Some(generation),
        uri: Some(store_uri()),
        conditions: vec![ready(true, "SnapshotWritten", &message, generation)],
        last_snapshot: Some(last_snapshot()),
        chain_head: Some("a".repeat(64)),
        consecutive_failures: 0,
        next_snapshot: Some(Time(crate::at("2026-03-01T13:00:00Z"))),
    }
}

const FAILURE: &str = "snapshot 20260301T130000Z failed (store): PUT s3://audit-evidence/prod/manifests/000000000008.json: 403 AccessDenied; retrying with backoff, the next snapshot links to the last good one";

/// After the next snapshot failed (`failed`): the last good one stays in the status.
fn failing(generation: i64) -> EvidenceStoreStatus {
    EvidenceStoreStatus {
        conditions: vec![ready(false, "SnapshotFailed", FAILURE, generation)],
        consecutive_failures: 2,
        ..written(generation)
    }
}

#[test]
fn no_status_is_progressing() {
    let h = EVIDENCE_STORE.health(&store(spec(), 1, None));
    assert_eq!(h.status, "Progressing");
    assert_eq!(h.message, "waiting for the first evidence snapshot");
}

#[test]
fn an_older_generation_is_progressing() {
    // The spec changed (generation 2); the status still describes generation 1's last snapshot.
    let h = EVIDENCE_STORE.health(&store(spec(), 2, Some(written(1))));
    assert_eq!(h.status, "Progressing");
    assert_eq!(h.message, "applying generation 2");
}

#[test]
fn a_written_snapshot_is_healthy_naming_it() {
    let h = EVIDENCE_STORE.health(&store(spec(), 3, Some(written(3))));
    assert_eq!(h.status, "Healthy");
    assert_eq!(
        h.message,
        format!(
            "last snapshot {} at 2026-03-01T12:00:00Z",
            last_snapshot().uri
        )
    );
}

/// Ready=True without a recorded snapshot: the loop found this tick's snapshot already taken.
#[test]
fn ready_without_a_last_snapshot_is_healthy_with_the_ready_message() {
    let status = EvidenceStoreStatus {
        last_snapshot: None,
        ..written(1)
    };
    let expected = status.conditions[0].message.clone();
    let h = EVIDENCE_STORE.health(&store(spec(), 1, Some(status)));
    assert_eq!(h.status, "Healthy");
    assert_eq!(h.message, expected);
}

#[test]
fn failing_snapshots_are_degraded_with_the_error() {
    let h = EVIDENCE_STORE.health(&store(spec(), 1, Some(failing(1))));
    assert_eq!(h.status, "Degraded");
    assert_eq!(h.message, FAILURE);
}

#[test]
fn an_invalid_spec_is_degraded_with_the_spec_error() {
    let mut both = spec();
    both.filesystem = serde_json::from_value(json!({"path": "/var/evidence"})).unwrap();
    let reason = validate_spec(&both).expect_err("two backends are invalid");
    // As `run_store` writes it: Ready=False InvalidSpec over whatever the status held.
    let status = EvidenceStoreStatus {
        observed_generation: Some(2),
        conditions: vec![ready(false, "InvalidSpec", &reason, 2)],
        ..written(1)
    };
    let h = EVIDENCE_STORE.health(&store(both, 2, Some(status)));
    assert_eq!(h.status, "Degraded");
    assert_eq!(h.message, reason);
    assert!(h.message.contains("spec.filesystem"), "{}", h.message);
}

/// Objects no API server would store, and some it would: the script answers each with a valid status, and never
/// through its safety net.
#[test]
fn malformed_objects_never_raise_a_lua_error() {
    let healthy = Variants(serde_json::to_value(store(spec(), 1, Some(written(1)))).unwrap());
    let mut cases = healthy.shared_cases("Healthy");
    cases.extend(healthy.ready_cases("/status/conditions/0"));
    cases.extend([
        (healthy.without("/status", "lastSnapshot"), Some("Healthy")),
        (
            healthy.with("/status/lastSnapshot", json!("s3://x")),
            Some("Healthy"),
        ),
        (
            healthy.with("/status/lastSnapshot", json!([])),
            Some("Healthy"),
        ),
        (
            healthy.with("/status/lastSnapshot/uri", json!(7)),
            Some("Healthy"),
        ),
        (
            healthy.with("/status/lastSnapshot/uri", json!("")),
            Some("Healthy"),
        ),
        (
            healthy.with("/status/lastSnapshot/time", json!({})),
            Some("Healthy"),
        ),
        (
            healthy.with("/status/lastSnapshot/time", Value::Null),
            Some("Healthy"),
        ),
        (
            healthy.with("/status/conditions/0/message", json!(["x"])),
            Some("Healthy"),
        ),
        (
            healthy.with("/status/consecutiveFailures", json!("many")),
            Some("Healthy"),
        ),
        (
            healthy.with(
                "/status/conditions/0",
                json!({"type": "Ready", "status": "False", "reason": "SnapshotFailed"}),
            ),
            Some("Degraded"),
        ),
    ]);
    EVIDENCE_STORE.assert_cases(&cases);
}
