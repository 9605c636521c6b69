//! Evidence against an S3-compatible server you run yourself, e.g. one that checks SigV4 signatures (s3s-fs,
//! MinIO), unlike the moto server `tests/evidence_s3.rs` starts. Opt-in: skipped unless `SOC2_TEST_S3_ENDPOINT`
//! is set; CI does not set it.
//!
//! ```sh
//! SOC2_TEST_S3_ENDPOINT=http://127.0.0.1:9000 SOC2_TEST_S3_BUCKET=evidence \
//! AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... cargo test --test evidence_s3_external
//! ```
//!
//! The bucket must exist. Each test writes under its own random prefix. `SOC2_TEST_S3_PATH_STYLE=false` switches
//! to virtual-hosted requests (the endpoint's host must then resolve with the bucket in front of it).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use k8s_openapi::jiff::Timestamp;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use soc2_operator::evidence::collect::{OperationBaseline, control_documents};
use soc2_operator::evidence::schedule::{Schedule, snapshot_id};
use soc2_operator::evidence::snapshot::{
    SnapshotError, SnapshotInput, SnapshotOutcome, chain_head, write_snapshot, write_snapshot_after,
};
use soc2_operator::evidence::store::{S3Credentials, S3Location};
use soc2_operator::evidence::{
    ClusterIdentity, EvidenceStoreClient, SigningKey, StoreError, StoreLocation, VerifyOutcome,
    VerifyingKeys, verify_chain,
};
use soc2_operator::scan::load_paths;

use crate::outage_proxy;

struct Server {
    endpoint: String,
    bucket: String,
    path_style: bool,
    key: String,
    secret: String,
}

fn server() -> Option<Server> {
    let Ok(endpoint) = std::env::var("SOC2_TEST_S3_ENDPOINT") else {
        eprintln!(
            "SKIPPED: SOC2_TEST_S3_ENDPOINT is not set (an S3-compatible server you started; see this file's header)"
        );
        return None;
    };
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} must be set"));
    Some(Server {
        endpoint,
        bucket: std::env::var("SOC2_TEST_S3_BUCKET").unwrap_or_else(|_| "evidence".into()),
        path_style: std::env::var("SOC2_TEST_S3_PATH_STYLE").as_deref() != Ok("false"),
        key: var("AWS_ACCESS_KEY_ID"),
        secret: var("AWS_SECRET_ACCESS_KEY"),
    })
}

fn random_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("soc2-test/{test}-{nanos:x}-{}", std::process::id())
}

impl Server {
    fn location_at(&self, endpoint: &str, prefix: &str, secret: &str) -> StoreLocation {
        StoreLocation::S3(S3Location {
            bucket: self.bucket.clone(),
            prefix: prefix.into(),
            endpoint: Some(endpoint.into()),
            region: Some("us-east-1".into()),
            path_style: self.path_style,
            credentials: Some(S3Credentials {
                access_key_id: self.key.clone(),
                secret_access_key: secret.into(),
                session_token: None,
            }),
            object_lock: None,
        })
    }

    fn store(&self, prefix: &str) -> EvidenceStoreClient {
        EvidenceStoreClient::connect(&self.location_at(&self.endpoint, prefix, &self.secret))
            .unwrap()
    }

    /// A plain client for tampering, as a person with write access to the bucket would.
    fn raw(&self) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region("us-east-1")
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_access_key_id(&self.key)
            .with_secret_access_key(&self.secret)
            .build()
            .unwrap()
    }

    fn soc2ctl(&self, args: &[&str]) -> std::process::Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_soc2ctl"));
        c.args(args)
            .args(["--endpoint", &self.endpoint])
            .env("AWS_ACCESS_KEY_ID", &self.key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_REGION", "us-east-1");
        if self.path_style {
            c.arg("--path-style");
        }
        c.output().unwrap()
    }
}

fn input<'a>(
    tick: &str,
    key: Option<&'a SigningKey>,
    schedule: Option<&'a Schedule>,
) -> SnapshotInput<'a> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let controls = load_paths(&[root.join("config/samples")]).unwrap().controls;
    let view = load_paths(&[root.join("examples/cluster")])
        .unwrap()
        .snapshot;
    let tick: Timestamp = tick.parse().unwrap();
    SnapshotInput {
        source: "external s3 test".into(),
        cluster: ClusterIdentity {
            uid: "uid-1".into(),
            server_version: "v1.33.1".into(),
        },
        tick,
        documents: control_documents(
            &snapshot_id(tick),
            &controls,
            tick,
            |_| view.clone(),
            None,
            &mut OperationBaseline::default(),
        )
        .unwrap(),
        schedule,
        gap_reason: None,
        signing_key: key,
        access_reviews: Vec::new(),
    }
}

async fn verify(store: &EvidenceStoreClient, keys: &VerifyingKeys) -> VerifyOutcome {
    verify_chain(store, keys, |_, _| {}).await.unwrap()
}

const TICKS: [&str; 3] = [
    "2026-01-01T00:00:00Z",
    "2026-01-01T01:00:00Z",
    "2026-01-01T02:00:00Z",
];

#[tokio::test]
async fn snapshots_verify_and_every_tamper_case_is_named() {
    let Some(s) = server() else { return };
    let key = SigningKey::from_seed(&[9u8; 32]).unwrap();
    let mut keys = VerifyingKeys::default();
    keys.add(key.public_key_hex().as_bytes()).unwrap();
    let hourly = Schedule::parse(Some("1h"), None).unwrap();
    let prefix = random_prefix("tamper");
    let store = s.store(&prefix);
    for t in TICKS {
        let out = write_snapshot(&store, input(t, Some(&key), Some(&hourly)))
            .await
            .unwrap();
        assert!(matches!(out, SnapshotOutcome::Written(_)));
    }
    let out = verify(&store, &keys).await;
    assert!(out.is_intact(), "{:?}", out.problems);
    assert_eq!(out.snapshots.len(), 3);
    let head = chain_head(&store).await.unwrap().unwrap();
    assert_eq!(head.manifest.sequence, 3);

    // soc2ctl reads it: verify with the key, report, OSCAL export.
    let uri = format!("s3://{}/{prefix}", s.bucket);
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("pub");
    std::fs::write(&public, key.public_key_hex()).unwrap();
    let public = public.to_str().unwrap();
    let ok = s.soc2ctl(&["verify", &uri, "--public-key", public]);
    let text =
        String::from_utf8_lossy(&ok.stdout).to_string() + &String::from_utf8_lossy(&ok.stderr);
    assert_eq!(ok.status.code(), Some(0), "{text}");
    assert!(text.contains("3 snapshot(s)"), "{text}");
    for args in [
        [
            "report",
            uri.as_str(),
            "-f",
            "md",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-01",
        ],
        [
            "export",
            uri.as_str(),
            "-f",
            "oscal",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-01",
        ],
    ] {
        let out = s.soc2ctl(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let raw = s.raw();
    let object = |rel: &str| Path::from(format!("{prefix}/{rel}"));
    let first_problem = |out: &VerifyOutcome| {
        assert!(!out.is_intact());
        out.problems[0].to_string()
    };

    // One changed byte in a document.
    let doc = head.manifest.documents[0].path.clone();
    let mut bytes = raw
        .get(&object(&doc))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let original_doc = bytes.clone();
    let i = bytes.iter().position(|b| *b == b'N').unwrap();
    bytes[i] = b'M';
    raw.put(&object(&doc), PutPayload::from(bytes))
        .await
        .unwrap();
    let p = first_problem(&verify(&store, &keys).await);
    assert!(p.contains(&doc) && p.contains("was altered"), "{p}");
    let bad = s.soc2ctl(&["verify", &uri, "--public-key", public]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains(&doc));

    // The document deleted.
    raw.delete(&object(&doc)).await.unwrap();
    let p = first_problem(&verify(&store, &keys).await);
    assert!(p.contains(&doc) && p.contains("deleted"), "{p}");
    raw.put(&object(&doc), PutPayload::from(original_doc))
        .await
        .unwrap();
    assert!(verify(&store, &keys).await.is_intact());

    // Manifests 2 and 3 swapped.
    let m = |seq: u64| object(&format!("manifests/{seq:012}.json"));
    let two = raw.get(&m(2)).await.unwrap().bytes().await.unwrap();
    let three = raw.get(&m(3)).await.unwrap().bytes().await.unwrap();
    raw.put(&m(2), PutPayload::from(three.clone()))
        .await
        .unwrap();
    raw.put(&m(3), PutPayload::from(two.clone())).await.unwrap();
    let p = first_problem(&verify(&store, &keys).await);
    assert!(
        p.contains("000000000002.json") && p.contains("reordered"),
        "{p}"
    );
    raw.put(&m(2), PutPayload::from(two.clone())).await.unwrap();
    raw.put(&m(3), PutPayload::from(three.clone()))
        .await
        .unwrap();

    // Manifest 2 removed.
    raw.delete(&m(2)).await.unwrap();
    let p = first_problem(&verify(&store, &keys).await);
    assert!(
        p.contains("000000000002.json") && p.contains("missing"),
        "{p}"
    );
    raw.put(&m(2), PutPayload::from(two)).await.unwrap();
    assert!(verify(&store, &keys).await.is_intact());

    // The head re-signed by another key, then with a signature that does not match its content.
    let mut head_json: serde_json::Value = serde_json::from_slice(&three).unwrap();
    let mut manifest = head.manifest.clone();
    SigningKey::from_seed(&[1u8; 32])
        .unwrap()
        .sign(&mut manifest)
        .unwrap();
    raw.put(&m(3), PutPayload::from(manifest.to_bytes().unwrap()))
        .await
        .unwrap();
    let p = first_problem(&verify(&store, &keys).await);
    assert!(
        p.contains("000000000003.json") && p.contains("not among the trusted"),
        "{p}"
    );
    head_json["source"] = "someone else".into();
    raw.put(
        &m(3),
        PutPayload::from(serde_json::to_vec(&head_json).unwrap()),
    )
    .await
    .unwrap();
    let p = first_problem(&verify(&store, &keys).await);
    assert!(
        p.contains("000000000003.json") && p.contains("does not match"),
        "{p}"
    );
}

#[tokio::test]
async fn conditional_creates_conflict_and_concurrent_writers_cannot_fork() {
    let Some(s) = server() else { return };
    let prefix = random_prefix("conflict");
    let store = s.store(&prefix);
    store
        .create("manifests/000000000001.json", b"first".to_vec())
        .await
        .unwrap();
    let err = store
        .create("manifests/000000000001.json", b"second".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err}");
    assert_eq!(
        store.get("manifests/000000000001.json").await.unwrap(),
        b"first"
    );

    let prefix = random_prefix("race");
    let store = s.store(&prefix);
    let a = write_snapshot(&store, input(TICKS[0], None, None))
        .await
        .unwrap();
    // The same tick again: nothing written.
    let again = write_snapshot(&store, input(TICKS[0], None, None))
        .await
        .unwrap();
    assert_eq!(again, SnapshotOutcome::AlreadyTaken(a.head().clone()));
    // A writer with a stale head loses its conditional create instead of overwriting.
    let stale = Some(a.head().clone());
    write_snapshot_after(&store, stale.clone(), input(TICKS[1], None, None))
        .await
        .unwrap();
    let lost = write_snapshot_after(&store, stale, input(TICKS[2], None, None)).await;
    assert!(
        matches!(lost, Err(SnapshotError::Conflict { .. })),
        "{lost:?}"
    );
    // Eight at once.
    let ticks: Vec<String> = (3..11)
        .map(|h| format!("2026-01-01T{h:02}:00:00Z"))
        .collect();
    let results = futures::future::join_all(ticks.iter().map(|t| {
        let store = store.clone();
        let input = input(t, None, None);
        async move { write_snapshot(&store, input).await }
    }))
    .await;
    let written = results
        .iter()
        .filter(|r| matches!(r, Ok(SnapshotOutcome::Written(_))))
        .count();
    for r in &results {
        assert!(
            matches!(r, Ok(_) | Err(SnapshotError::Conflict { .. })),
            "{r:?}"
        );
    }
    // Whatever the server, the chain stays linear and intact. Whether exactly the writers told they won are in it
    // depends on the server making `If-None-Match: *` atomic: s3s-fs 0.14 checks, then writes, so two racing
    // writers can both succeed (the client looks before and reads back after, which narrows that window only).
    let out = verify(&store, &VerifyingKeys::default()).await;
    assert!(out.is_intact(), "{:?}", out.problems);
    assert!(written >= 1 && out.snapshots.len() > 2, "{results:?}");
    if out.snapshots.len() != 2 + written {
        eprintln!(
            "WARNING: {written} writers were told they won but the chain grew by {}: this server's conditional \
             create is not atomic",
            out.snapshots.len() - 2
        );
    }
}

#[tokio::test]
async fn wrong_credentials_are_reported_as_such() {
    let Some(s) = server() else { return };
    let store = EvidenceStoreClient::connect(&s.location_at(
        &s.endpoint,
        &random_prefix("creds"),
        "not-the-secret",
    ))
    .unwrap();
    let err = write_snapshot(&store, input(TICKS[0], None, None))
        .await
        .unwrap_err();
    assert_eq!(err.category(), "credentials", "{err}");
}

#[tokio::test]
async fn a_store_down_mid_snapshot_shows_no_partial_snapshot_and_the_next_records_the_gap() {
    let Some(s) = server() else { return };
    if !s.path_style {
        eprintln!("SKIPPED: the outage proxy needs path-style requests");
        return;
    }
    let url: http::Uri = s.endpoint.parse().unwrap();
    let upstream = tokio::net::lookup_host((url.host().unwrap(), url.port_u16().unwrap_or(80)))
        .await
        .unwrap()
        .next()
        .unwrap();
    let (down, armed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let port = outage_proxy::proxy(upstream, armed.clone(), down.clone()).await;
    let prefix = random_prefix("outage");
    let through = EvidenceStoreClient::connect(&s.location_at(
        &format!("http://127.0.0.1:{port}"),
        &prefix,
        &s.secret,
    ))
    .unwrap();
    let direct = s.store(&prefix);
    let hourly = Schedule::parse(Some("1h"), None).unwrap();
    write_snapshot(&through, input(TICKS[0], None, Some(&hourly)))
        .await
        .unwrap();
    armed.store(true, Ordering::SeqCst);
    let err = write_snapshot(&through, input(TICKS[1], None, Some(&hourly)))
        .await
        .unwrap_err();
    assert_eq!(err.category(), "unavailable", "{err}");
    assert!(direct.list("objects").await.unwrap().len() > 3);
    assert_eq!(direct.list("manifests").await.unwrap().len(), 1);
    let out = verify(&direct, &VerifyingKeys::default()).await;
    assert!(
        out.is_intact() && out.snapshots.len() == 1,
        "{:?}",
        out.problems
    );

    armed.store(false, Ordering::SeqCst);
    down.store(false, Ordering::SeqCst);
    let mut back = input("2026-01-01T03:00:00Z", None, Some(&hourly));
    back.gap_reason = Some(err.to_string());
    let back = write_snapshot(&through, back).await.unwrap();
    let m = &back.head().manifest;
    assert_eq!(m.sequence, 2);
    assert_eq!(m.previous.as_ref().unwrap().snapshot_id, "20260101T000000Z");
    assert_eq!(m.gap.as_ref().unwrap().missed_ticks, 2);
    assert!(verify(&direct, &VerifyingKeys::default()).await.is_intact());
}

#[tokio::test]
async fn listing_follows_continuation_past_a_thousand_objects() {
    use futures::StreamExt;
    let Some(s) = server() else { return };
    let store = s.store(&random_prefix("pages"));
    let names: Vec<String> = (1..=1005u64)
        .map(|i| format!("manifests/{i:012}.json"))
        .collect();
    let created: Vec<_> =
        futures::stream::iter(names.iter().map(|n| store.create(n, b"x".to_vec())))
            .buffer_unordered(16)
            .collect()
            .await;
    assert!(created.iter().all(Result::is_ok));
    assert_eq!(store.list("manifests").await.unwrap(), names);
    assert!(store.list("objects").await.unwrap().is_empty());
}
