//! Evidence on S3-compatible storage, against a real moto server on 127.0.0.1 started by each test: snapshot,
//! list, verify, conditional-create conflict, Object Lock retention on write, an outage mid-snapshot, object
//! versions and delete markers, and misconfigured stores (missing bucket, bucket without Object Lock, access denied,
//! no credentials at all). Skipped (with a message) when `moto_server` is not installed; `.ci/run` installs it.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use k8s_openapi::jiff::Timestamp;
use soc2_operator::evidence::collect::{OperationBaseline, control_documents};
use soc2_operator::evidence::schedule::{Schedule, snapshot_id};
use soc2_operator::evidence::snapshot::{
    SnapshotError, SnapshotInput, SnapshotOutcome, chain_head, write_snapshot,
};
use soc2_operator::evidence::store::{Misconfiguration, ObjectLock, S3Credentials, S3Location};
use soc2_operator::evidence::versions::ObjectVersions;
use soc2_operator::evidence::{
    ClusterIdentity, EvidenceStoreClient, StoreError, StoreLocation, VerifyingKeys, verify_chain,
};
use soc2_operator::scan::load_paths;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::outage_proxy;

use crate::support::moto::{SERIAL, bucket, free_port, http, moto};

fn location(port: u16, bucket: &str, lock: Option<ObjectLock>) -> StoreLocation {
    StoreLocation::S3(S3Location {
        bucket: bucket.into(),
        prefix: "cluster-a".into(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: Some("us-east-1".into()),
        path_style: true,
        credentials: Some(S3Credentials {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
            session_token: None,
        }),
        object_lock: lock,
    })
}

async fn snapshot(
    store: &EvidenceStoreClient,
    tick: &str,
    schedule: &Schedule,
    gap_reason: Option<String>,
) -> Result<SnapshotOutcome, SnapshotError> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let controls = load_paths(&[root.join("config/samples")]).unwrap().controls;
    let view = load_paths(&[root.join("examples/cluster")])
        .unwrap()
        .snapshot;
    let tick: Timestamp = tick.parse().unwrap();
    let documents = control_documents(
        &snapshot_id(tick),
        &controls,
        tick,
        |_| view.clone(),
        None,
        &mut OperationBaseline::default(),
    )
    .unwrap();
    write_snapshot(
        store,
        SnapshotInput {
            source: "s3 test".into(),
            cluster: ClusterIdentity {
                uid: "uid-1".into(),
                server_version: "v1.33.1".into(),
            },
            tick,
            documents,
            schedule: Some(schedule),
            gap_reason,
            signing_key: None,
            access_reviews: Vec::new(),
        },
    )
    .await
}

#[tokio::test]
async fn snapshots_list_and_verify_on_s3_and_soc2ctl_reads_them() {
    let _serial = SERIAL.lock().await;
    let Some(moto) = moto().await else { return };
    bucket(moto.port, "evidence", false).await;
    let store = EvidenceStoreClient::connect(&location(moto.port, "evidence", None)).unwrap();
    let hourly = Schedule::parse(Some("1h"), None).unwrap();
    snapshot(&store, "2026-01-01T00:00:00Z", &hourly, None)
        .await
        .unwrap();
    snapshot(&store, "2026-01-01T01:00:00Z", &hourly, None)
        .await
        .unwrap();
    assert_eq!(
        store.list("manifests").await.unwrap(),
        vec!["manifests/000000000001.json", "manifests/000000000002.json"]
    );
    let head = chain_head(&store).await.unwrap().unwrap();
    assert_eq!(head.manifest.sequence, 2);
    let out = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert!(out.is_intact(), "{:?}", out.problems);
    assert_eq!(out.snapshots.len(), 2);

    let run = |uri: &str| {
        Command::new(env!("CARGO_BIN_EXE_soc2ctl"))
            .args(["verify", uri, "--path-style", "--endpoint"])
            .arg(format!("http://127.0.0.1:{}", moto.port))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap()
    };
    let ok = run("s3://evidence/cluster-a");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("2 snapshot(s)"));
    let missing_bucket = run("s3://no-such-bucket/x");
    assert_eq!(missing_bucket.status.code(), Some(2));

    // Tamper with one document through the S3 API: verify names it.
    let doc = &head.manifest.documents[0].path;
    let (status, text) = http(moto.port, "PUT", &format!("/evidence/cluster-a/{doc}"), &[])
        .await
        .unwrap();
    assert_eq!(status, 200, "{text}");
    let bad = run("s3://evidence/cluster-a");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains(doc.as_str()));
}

#[tokio::test]
async fn a_second_create_of_the_same_object_conflicts() {
    let _serial = SERIAL.lock().await;
    let Some(moto) = moto().await else { return };
    bucket(moto.port, "conflict", false).await;
    let store = EvidenceStoreClient::connect(&location(moto.port, "conflict", None)).unwrap();
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
    // The same tick twice: the second writer sees the snapshot and writes nothing.
    let hourly = Schedule::parse(Some("1h"), None).unwrap();
    bucket(moto.port, "ticks", false).await;
    let store = EvidenceStoreClient::connect(&location(moto.port, "ticks", None)).unwrap();
    let a = snapshot(&store, "2026-01-01T00:00:00Z", &hourly, None)
        .await
        .unwrap();
    let b = snapshot(&store, "2026-01-01T00:00:00Z", &hourly, None)
        .await
        .unwrap();
    assert!(matches!(a, SnapshotOutcome::Written(_)));
    assert_eq!(b, SnapshotOutcome::AlreadyTaken(a.head().clone()));
}

#[tokio::test]
async fn object_lock_retention_is_set_on_every_write() {
    let _serial = SERIAL.lock().await;
    let Some(moto) = moto().await else { return };
    bucket(moto.port, "locked", true).await;
    let lock = ObjectLock {
        mode: "COMPLIANCE".into(),
        days: 400,
    };
    let store = EvidenceStoreClient::connect(&location(moto.port, "locked", Some(lock))).unwrap();
    let hourly = Schedule::parse(Some("1h"), None).unwrap();
    let out = snapshot(&store, "2026-01-01T00:00:00Z", &hourly, None)
        .await
        .unwrap();
    let head = out.head();
    for path in [head.path.clone(), head.manifest.documents[0].path.clone()] {
        let (status, text) = http(moto.port, "HEAD", &format!("/locked/cluster-a/{path}"), &[])
            .await
            .unwrap();
        assert_eq!(status, 200, "{text}");
        let lower = text.to_ascii_lowercase();
        assert!(
            lower.contains("x-amz-object-lock-mode: compliance"),
            "{text}"
        );
        let until = lower
            .lines()
            .find_map(|l| l.strip_prefix("x-amz-object-lock-retain-until-date: "))
            .expect("retain-until date");
        let until: Timestamp = until.trim().to_ascii_uppercase().parse().unwrap();
        let days = (until.as_second() - Timestamp::now().as_second()) / 86_400;
        assert!((399..=400).contains(&days), "retained {days} days");
    }
    // COMPLIANCE mode: the locked version cannot be deleted (a plain DELETE only adds a delete marker).
    let key = format!("/locked/cluster-a/{}", head.path);
    let (_, text) = http(moto.port, "HEAD", &key, &[]).await.unwrap();
    let version = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("x-amz-version-id:")
                .then(|| l.split_once(':').unwrap().1.trim().to_string())
        })
        .expect("a locked bucket is versioned");
    let (status, text) = http(
        moto.port,
        "DELETE",
        &format!("{key}?versionId={version}"),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(status, 403, "deleting a COMPLIANCE-locked version: {text}");
}

#[tokio::test]
async fn an_outage_mid_snapshot_leaves_no_partial_snapshot_and_the_next_one_records_the_gap() {
    let _serial = SERIAL.lock().await;
    let Some(moto) = moto().await else { return };
    bucket(moto.port, "outage", false).await;
    let armed = Arc::new(AtomicBool::new(false));
    let down = Arc::new(AtomicBool::new(false));
    let port = outage_proxy::proxy(
        ([127, 0, 0, 1], moto.port).into(),
        armed.clone(),
        down.clone(),
    )
    .await;
    let through_proxy = EvidenceStoreClient::connect(&location(port, "outage", None)).unwrap();
    let direct = EvidenceStoreClient::connect(&location(moto.port, "outage", None)).unwrap();
    let hourly = Schedule::parse(Some("1h"), None).unwrap();
    snapshot(&through_proxy, "2026-01-01T00:00:00Z", &hourly, None)
        .await
        .unwrap();

    armed.store(true, Ordering::SeqCst);
    let err = snapshot(&through_proxy, "2026-01-01T01:00:00Z", &hourly, None)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "unavailable", "{err}");
    assert!(
        down.load(Ordering::SeqCst),
        "the outage hit the manifest write"
    );
    // Documents of the failed snapshot reached the store, its manifest did not: readers see one snapshot.
    let objects = direct.list("objects").await.unwrap().len();
    assert!(
        objects > 3,
        "documents of the failed attempt were written ({objects})"
    );
    assert_eq!(direct.list("manifests").await.unwrap().len(), 1);
    let out = verify_chain(&direct, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert!(
        out.is_intact() && out.snapshots.len() == 1,
        "{:?}",
        out.problems
    );
    // Still down: the next attempt fails cleanly too.
    assert!(
        snapshot(&through_proxy, "2026-01-01T02:00:00Z", &hourly, None)
            .await
            .is_err()
    );

    // The store comes back: the next snapshot links to the last good one and records the gap.
    armed.store(false, Ordering::SeqCst);
    down.store(false, Ordering::SeqCst);
    let back = snapshot(
        &through_proxy,
        "2026-01-01T03:00:00Z",
        &hourly,
        Some(err.to_string()),
    )
    .await
    .unwrap();
    let m = &back.head().manifest;
    assert_eq!(m.sequence, 2);
    assert_eq!(m.previous.as_ref().unwrap().snapshot_id, "20260101T000000Z");
    let gap = m.gap.as_ref().expect("gap recorded");
    assert_eq!(gap.missed_ticks, 2);
    assert!(
        gap.reason
            .as_deref()
            .unwrap_or("")
            .contains("evidence store")
    );
    let out = verify_chain(&direct, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert!(out.is_intact(), "{:?}", out.problems);
}

/// An S3 endpoint that refuses every request with 403 and S3 error `code`: `SignatureDoesNotMatch` is how a
/// signature-checking store refuses a wrong secret key, `AccessDenied` how S3 refuses valid credentials that a
/// policy does not allow. moto checks neither signatures nor policies, so this stands in; it needs no moto.
async fn refusing_store(code: &'static str, message: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                // Read the whole request (headers, then Content-Length bytes) before answering.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let body = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>\
                     <Message>{message}</Message></Error>"
                );
                let response = format!(
                    "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(response.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_wrong_secret_key_is_reported_as_credentials_not_as_an_outage() {
    let port = refusing_store(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
    )
    .await;
    let store = EvidenceStoreClient::connect(&location(port, "evidence", None)).unwrap();
    let hourly = Schedule::parse(Some("1h"), None).unwrap();
    // A snapshot starts by listing the manifests: object_store reports a refused listing as a generic error.
    let err = snapshot(&store, "2026-01-01T00:00:00Z", &hourly, None)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "credentials", "{err}");
    let err = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap_err();
    assert_eq!(err.category(), "credentials", "{err}");
    // A refused write and read.
    let err = store
        .create("objects/x.json", b"{}".to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.category(), "credentials", "{err}");
    let err = store.get("manifests/000000000001.json").await.unwrap_err();
    assert_eq!(err.category(), "credentials", "{err}");
    let err = store.versions("manifests").await.unwrap_err();
    assert_eq!(err.category(), "credentials", "{err}");
    assert!(err.retry_slowly(), "{err}");
}

/// The versions of every object under `dir`, as (path, versions, delete markers, latest is a delete marker).
async fn versions_of(store: &EvidenceStoreClient, dir: &str) -> Vec<(String, usize, usize, bool)> {
    store
        .versions(dir)
        .await
        .unwrap()
        .expect("a versioned bucket keeps versions")
        .into_iter()
        .map(|v: ObjectVersions| {
            (
                v.path,
                v.versions,
                v.delete_markers,
                v.latest_is_delete_marker,
            )
        })
        .collect()
}

#[tokio::test]
async fn versions_show_overwrites_and_delete_markers_a_listing_hides() {
    let _serial = SERIAL.lock().await;
    let Some(moto) = moto().await else { return };
    // Object Lock implies versioning; no retention on these writes, so raw overwrites and deletes are allowed.
    bucket(moto.port, "versioned", true).await;
    let store = EvidenceStoreClient::connect(&location(moto.port, "versioned", None)).unwrap();
    for path in [
        "manifests/000000000001.json",
        "manifests/000000000002.json",
        "objects/a.json",
        "objects/b.json",
        "objects/c.json",
    ] {
        store.create(path, b"{}".to_vec()).await.unwrap();
    }
    // Keys that share a prefix string but not the directory, and a key outside the store prefix.
    for key in [
        "/versioned/cluster-a/manifests-old/x.json",
        "/versioned/cluster-ab/manifests/000000000001.json",
    ] {
        let (status, text) = http(moto.port, "PUT", key, &[]).await.unwrap();
        assert_eq!(status, 200, "{text}");
    }
    // Overwrite the first manifest; put a delete marker on the newest one (a DELETE without versionId).
    let (status, text) = http(
        moto.port,
        "PUT",
        "/versioned/cluster-a/manifests/000000000001.json",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{text}");
    let (status, text) = http(
        moto.port,
        "DELETE",
        "/versioned/cluster-a/manifests/000000000002.json",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(status, 204, "{text}");

    // The listing no longer shows the newest manifest; its versions do.
    assert_eq!(
        store.list("manifests").await.unwrap(),
        vec!["manifests/000000000001.json"]
    );
    let manifests = vec![
        ("manifests/000000000001.json".to_string(), 2, 0, false),
        ("manifests/000000000002.json".to_string(), 1, 1, true),
    ];
    assert_eq!(versions_of(&store, "manifests").await, manifests);
    assert_eq!(
        versions_of(&store, "manifests/000000000002.json").await,
        manifests[1..].to_vec()
    );
    let mut everything = manifests.clone();
    everything.insert(0, ("manifests-old/x.json".to_string(), 1, 0, false));
    for name in ["a", "b", "c"] {
        everything.push((format!("objects/{name}.json"), 1, 0, false));
    }
    everything.sort();
    assert_eq!(versions_of(&store, "").await, everything);

    // Ten entries in pages of 3 (a page boundary falls inside one key's versions): the same answer.
    let paged = EvidenceStoreClient::connect(&location(moto.port, "versioned", None))
        .unwrap()
        .with_versions_page_size(3);
    assert_eq!(versions_of(&paged, "").await, everything);
    let paged = EvidenceStoreClient::connect(&location(moto.port, "versioned", None))
        .unwrap()
        .with_versions_page_size(1);
    assert_eq!(versions_of(&paged, "manifests").await, manifests);
}

#[tokio::test]
async fn stores_without_versioning_report_no_versions() {
    let _serial = SERIAL.lock().await;
    // A local directory, and any backend handed in: no versions, no server needed.
    let dir = tempfile::tempdir().unwrap();
    let fs = EvidenceStoreClient::connect(&StoreLocation::Filesystem(dir.path().into())).unwrap();
    fs.create("manifests/000000000001.json", b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(fs.versions("manifests").await.unwrap(), None);
    let memory = EvidenceStoreClient::from_object_store(
        Arc::new(object_store::memory::InMemory::new()),
        "memory://",
    );
    assert_eq!(memory.versions("").await.unwrap(), None);

    // A bucket whose versioning was never enabled keeps one version per key: no versions either.
    let Some(moto) = moto().await else { return };
    bucket(moto.port, "unversioned", false).await;
    let store = EvidenceStoreClient::connect(&location(moto.port, "unversioned", None)).unwrap();
    store
        .create("manifests/000000000001.json", b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(store.versions("manifests").await.unwrap(), None);
}

/// Asserts `err` is the misconfiguration `expected`, categorised `configuration`, with the fix in its message.
fn assert_misconfigured(err: &StoreError, expected: &Misconfiguration, fix: &str) {
    assert!(
        matches!(err, StoreError::Misconfigured { problem, .. } if problem == expected),
        "{err:?}"
    );
    assert_eq!(err.category(), "configuration", "{err}");
    assert!(err.retry_slowly(), "{err}");
    assert!(err.to_string().contains(fix), "{err}");
}

#[tokio::test]
async fn a_missing_bucket_is_a_configuration_error_that_names_the_fix() {
    let _serial = SERIAL.lock().await;
    let Some(moto) = moto().await else { return };
    let store = EvidenceStoreClient::connect(&location(moto.port, "no-such-bucket", None)).unwrap();
    let expected = Misconfiguration::NoSuchBucket {
        bucket: "no-such-bucket".into(),
    };
    let fix = "bucket no-such-bucket does not exist: create it (with Object Lock enabled if spec.s3.objectLock is set) or fix spec.s3.bucket";
    let err = store
        .create("objects/x.json", b"{}".to_vec())
        .await
        .unwrap_err();
    assert_misconfigured(&err, &expected, fix);
    // A 404 on a read is a missing bucket, not a missing object.
    let err = store.get("manifests/000000000001.json").await.unwrap_err();
    assert_misconfigured(&err, &expected, fix);
    let err = store.list("manifests").await.unwrap_err();
    assert_misconfigured(&err, &expected, fix);
    let err = store.versions("manifests").await.unwrap_err();
    assert_misconfigured(&err, &expected, fix);
    // What the operator loop sees.
    let hourly = Schedule::parse(Some("1h"), None).unwrap();
    let err = snapshot(&store, "2026-01-01T00:00:00Z", &hourly, None)
        .await
        .unwrap_err();
    assert_eq!(err.category(), "configuration", "{err}");
    assert!(err.to_string().contains(fix), "{err}");
}

#[tokio::test]
async fn a_bucket_without_object_lock_is_a_configuration_error_when_object_lock_is_set() {
    let _serial = SERIAL.lock().await;
    let Some(moto) = moto().await else { return };
    bucket(moto.port, "no-lock", false).await;
    let lock = ObjectLock {
        mode: "GOVERNANCE".into(),
        days: 1,
    };
    let store = EvidenceStoreClient::connect(&location(moto.port, "no-lock", Some(lock))).unwrap();
    let err = store
        .create("objects/x.json", b"{}".to_vec())
        .await
        .unwrap_err();
    assert_misconfigured(
        &err,
        &Misconfiguration::NoObjectLock {
            bucket: "no-lock".into(),
        },
        "bucket no-lock has no Object Lock configuration but spec.s3.objectLock is set: create the bucket with Object Lock enabled or remove spec.s3.objectLock",
    );
    // Reads carry no retention and still work.
    assert_eq!(store.list("manifests").await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn access_denied_is_a_configuration_error() {
    let port = refusing_store(
        "AccessDenied",
        "User: arn:aws:iam::1:user/x is not authorized to perform: s3:PutObject",
    )
    .await;
    let store = EvidenceStoreClient::connect(&location(port, "evidence", None)).unwrap();
    let expected = Misconfiguration::AccessDenied {
        bucket: "evidence".into(),
        detail: "403 AccessDenied: User: arn:aws:iam::1:user/x is not authorized to perform: s3:PutObject"
            .into(),
    };
    let fix = "access to bucket evidence was denied";
    let err = store
        .create("objects/x.json", b"{}".to_vec())
        .await
        .unwrap_err();
    assert_misconfigured(&err, &expected, fix);
    let err = store.get("manifests/000000000001.json").await.unwrap_err();
    assert_misconfigured(&err, &expected, fix);
    let err = store.list("manifests").await.unwrap_err();
    assert_misconfigured(&err, &expected, fix);
    let err = store.versions("manifests").await.unwrap_err();
    assert_misconfigured(&err, &expected, fix);
}

/// Set in the child process [`no_credentials_at_all_says_where_to_put_them`] starts.
const NO_CREDENTIALS_CHILD: &str = "SOC2_TEST_NO_CREDENTIALS_CHILD";

/// With no credentials anywhere, object_store's ambient chain ends at instance metadata. The test runs itself again
/// in a child process with an empty environment (no AWS_* variables, so no keys, web identity or container
/// credentials) and the metadata endpoint on a closed loopback port, so nothing outside 127.0.0.1 is contacted.
#[tokio::test]
async fn no_credentials_at_all_says_where_to_put_them() {
    if std::env::var_os(NO_CREDENTIALS_CHILD).is_none() {
        let metadata = format!("http://127.0.0.1:{}", free_port());
        // The test's name in this binary: its module path without the crate (`s3::...`).
        let module = module_path!().split_once("::").map_or("", |(_, m)| m);
        let name = format!("{module}::no_credentials_at_all_says_where_to_put_them");
        let out = Command::new(std::env::current_exe().unwrap())
            .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
            .env_clear()
            .env(NO_CREDENTIALS_CHILD, &metadata)
            .env("AWS_METADATA_ENDPOINT", &metadata)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(text.contains("1 passed"), "{text}");
        return;
    }
    let metadata = std::env::var(NO_CREDENTIALS_CHILD).unwrap();
    // The store itself is a closed loopback port too: the request fails before it is sent.
    let mut location = location(free_port(), "evidence", None);
    if let StoreLocation::S3(s3) = &mut location {
        s3.credentials = None;
    }
    let store = EvidenceStoreClient::connect(&location).unwrap();
    let expected = Misconfiguration::NoCredentials {
        metadata_endpoint: metadata.clone(),
    };
    let fix = "no S3 credentials were found";
    let where_to = "set spec.s3.credentialsSecret (a Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) or provide ambient credentials (AWS_* environment variables, web identity / IRSA, or instance metadata)";
    let check = |err: StoreError| {
        assert!(
            matches!(&err, StoreError::Misconfigured { problem, .. } if *problem == expected),
            "{err:?}"
        );
        assert_eq!(err.category(), "credentials", "{err}");
        assert!(err.retry_slowly(), "{err}");
        let message = err.to_string();
        assert!(
            message.contains(fix) && message.contains(where_to),
            "{message}"
        );
    };
    check(
        store
            .create("objects/x.json", b"{}".to_vec())
            .await
            .unwrap_err(),
    );
    check(store.list("manifests").await.unwrap_err());
    check(store.versions("manifests").await.unwrap_err());
}

/// Defect 3: a delete marker on the head manifest (allowed even under Object Lock) hides it from listings. A writer
/// that starts fresh (an operator restart or fail-over: no head in memory) lists, finds the previous head, and
/// must not write the hidden sequence again; verify names the delete marker; removing the marker (restoring the
/// head) lets snapshots continue.
#[tokio::test]
async fn a_hidden_head_is_never_rewritten_and_verify_names_it() {
    let _serial = SERIAL.lock().await;
    let Some(moto) = moto().await else { return };
    bucket(moto.port, "locked-chain", true).await;
    let store = EvidenceStoreClient::connect(&location(moto.port, "locked-chain", None)).unwrap();
    let schedule = Schedule::parse(Some("1h"), None).unwrap();
    for t in [
        "2026-01-01T00:00:00Z",
        "2026-01-01T01:00:00Z",
        "2026-01-01T02:00:00Z",
    ] {
        assert!(matches!(
            snapshot(&store, t, &schedule, None).await.unwrap(),
            SnapshotOutcome::Written(_)
        ));
    }
    let head_key = "/locked-chain/cluster-a/manifests/000000000003.json";
    let (status, text) = http(moto.port, "DELETE", head_key, &[]).await.unwrap();
    assert_eq!(status, 204, "{text}");
    assert_eq!(
        chain_head(&store).await.unwrap().unwrap().manifest.sequence,
        2,
        "the listing no longer shows the head"
    );

    // A fresh writer (restart) would write sequence 3 again: refused, nothing written.
    let err = snapshot(&store, "2026-01-01T03:00:00Z", &schedule, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SnapshotError::ManifestKeyUsed {
                versions: 1,
                delete_markers: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.category(), "chain_regressed");
    assert!(err.to_string().contains("delete marker"), "{err}");
    assert_eq!(
        versions_of(&store, "manifests/000000000003.json").await,
        vec![("manifests/000000000003.json".to_string(), 1, 1, true)],
        "no new version was written"
    );

    let verified = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert!(
        verified
            .problems
            .iter()
            .any(|p| p.object.ends_with("manifests/000000000003.json")
                && p.reason.contains("hidden by a delete marker")),
        "{:?}",
        verified.problems
    );

    // Restoring the head (deleting the delete marker) lets the chain continue at sequence 4.
    let listing = http(
        moto.port,
        "GET",
        "/locked-chain?versions&prefix=cluster-a/manifests/000000000003.json",
        &[],
    )
    .await
    .unwrap()
    .1;
    let marker = listing
        .split("<DeleteMarker>")
        .nth(1)
        .and_then(|m| m.split("<VersionId>").nth(1))
        .and_then(|v| v.split("</VersionId>").next())
        .expect("the delete marker's version id")
        .to_string();
    let (status, text) = http(
        moto.port,
        "DELETE",
        &format!("{head_key}?versionId={marker}"),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(status, 204, "{text}");
    let next = snapshot(&store, "2026-01-01T03:00:00Z", &schedule, None)
        .await
        .unwrap();
    assert_eq!(next.head().manifest.sequence, 4);
    let verified = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert!(
        verified.is_intact(),
        "a restored head leaves an intact chain: {:?}",
        verified.problems
    );
}
