//! The snapshot loop of one EvidenceStore against a scripted API server: a snapshot is taken at once for the
//! current tick and reported by server-side apply of the status; a failing store turns Ready False and publishes
//! one SnapshotFailed Warning.

use std::sync::Arc;

use crate::support::fixtures::control;
use crate::support::mock_api::{EVENTS, Recorded, status_failure, with_server};
use http::{Method, StatusCode};
use kube::core::DeserializeGuard;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector;
use kube::runtime::watcher;
use serde_json::{Value, json};
use soc2_operator::api::{Control, EvidenceStore};
use soc2_operator::controller::evidence::{EvidenceContext, run_store};
use soc2_operator::evidence::{EvidenceStoreClient, StoreLocation, VerifyingKeys, verify_chain};
use soc2_operator::runtime::leader::Leadership;
use soc2_operator::view::live::LiveView;
use tokio::sync::mpsc;

const STATUS: &str = "/apis/soc2.dev/v1alpha1/evidencestores/audit/status";

fn store(path: &str) -> EvidenceStore {
    serde_json::from_value(json!({
        "apiVersion": "soc2.dev/v1alpha1",
        "kind": "EvidenceStore",
        "metadata": {"name": "audit", "uid": "es-uid", "generation": 3},
        "spec": {"filesystem": {"path": path}, "schedule": {"interval": "1h"}},
    }))
    .unwrap()
}

/// Answers like an API server; forwards every status patch and event to `seen`.
fn answer(seen: mpsc::UnboundedSender<Recorded>) -> impl FnMut(&Recorded) -> (StatusCode, Value) {
    move |r| {
        let reply = match (&r.method, r.path.as_str()) {
            (&Method::GET, "/api/v1/namespaces/kube-system") => (
                StatusCode::OK,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system", "uid": "ks-uid"}}),
            ),
            (&Method::GET, "/version") => (
                StatusCode::OK,
                json!({"major": "1", "minor": "33", "gitVersion": "v1.33.1", "gitCommit": "x", "gitTreeState": "clean",
                       "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"}),
            ),
            (&Method::PATCH, STATUS) => {
                let mut obj = serde_json::to_value(store("/x")).unwrap();
                obj["status"] = r.body["status"].clone();
                (StatusCode::OK, obj)
            }
            (&Method::POST, EVENTS) => (StatusCode::CREATED, r.body.clone()),
            _ => (
                StatusCode::NOT_FOUND,
                status_failure(404, "NotFound", "not scripted"),
            ),
        };
        if r.path == STATUS || r.path == EVENTS {
            let _ = seen.send(r.clone());
        }
        reply
    }
}

fn context(client: kube::Client) -> Arc<EvidenceContext> {
    let (view, _) = LiveView::new(None);
    let (reader, mut writer) = reflector::store::<DeserializeGuard<Control>>();
    let c = control(
        "change-approval",
        1,
        json!({"criteria": ["CC8.1"], "category": "Security", "title": "Changes are approved", "check": {"changeApproval": {}}}),
    );
    writer.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(c))));
    Arc::new(EvidenceContext {
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "soc2-operator".into(),
                instance: Some("test".into()),
            },
        ),
        client,
        view,
        ledger: Arc::default(),
        leadership: Leadership::always(),
        metrics: Arc::default(),
        namespace: "soc2-system".into(),
        controls: reader,
        sync_timeout: std::time::Duration::from_millis(5),
        access_reviews: Arc::default(),
    })
}

#[tokio::test]
async fn a_snapshot_is_taken_for_the_current_tick_and_reported_in_status() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let ((), requests) = with_server(answer(tx), "the snapshot loop", |client| {
        let ctx = context(client);
        let es = store(path.to_str().unwrap());
        async move {
            let task = tokio::spawn(run_store(ctx, es));
            let first = rx.recv().await.expect("a status patch");
            task.abort();
            assert_eq!(first.path, STATUS);
        }
    })
    .await;
    let patch = requests.iter().find(|r| r.path == STATUS).unwrap();
    assert_eq!(
        patch.query.get("fieldManager").map(String::as_str),
        Some("soc2-operator")
    );
    assert_eq!(patch.query.get("force").map(String::as_str), Some("true"));
    let status = &patch.body["status"];
    assert_eq!(patch.body["kind"], "EvidenceStore");
    assert_eq!(status["observedGeneration"], 3);
    assert_eq!(status["consecutiveFailures"], 0);
    assert_eq!(status["lastSnapshot"]["sequence"], 1);
    assert_eq!(status["lastSnapshot"]["controls"], 1);
    assert_eq!(status["conditions"][0]["type"], "Ready");
    assert_eq!(status["conditions"][0]["status"], "True");
    assert_eq!(status["conditions"][0]["reason"], "SnapshotWritten");
    assert!(
        !requests.iter().any(|r| r.path == EVENTS),
        "no event on a first success"
    );

    let client = EvidenceStoreClient::connect(&StoreLocation::Filesystem(path)).unwrap();
    let out = verify_chain(&client, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert!(out.is_intact());
    assert_eq!(out.snapshots.len(), 1);
    let m = &out.snapshots[0].manifest;
    assert_eq!(m.cluster.uid, "ks-uid");
    assert_eq!(m.cluster.server_version, "v1.33.1");
    assert_eq!(m.source, "EvidenceStore/audit");
    assert_eq!(status["chainHead"], status["lastSnapshot"]["digest"]);
    assert_eq!(out.snapshots[0].documents[0].control, "change-approval");
}

#[tokio::test]
async fn a_failing_store_turns_ready_false_and_warns_once() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the directory should be: the store cannot be created.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let path = blocker.join("evidence");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let ((), requests) = with_server(answer(tx), "the snapshot loop", |client| {
        let ctx = context(client);
        let es = store(path.to_str().unwrap());
        async move {
            let task = tokio::spawn(run_store(ctx, es));
            while let Some(r) = rx.recv().await {
                if r.path == EVENTS {
                    break;
                }
            }
            task.abort();
        }
    })
    .await;
    let patch = requests
        .iter()
        .find(|r| r.path == STATUS)
        .expect("status written");
    let status = &patch.body["status"];
    assert_eq!(status["consecutiveFailures"], 1);
    assert_eq!(status["conditions"][0]["status"], "False");
    assert_eq!(status["conditions"][0]["reason"], "SnapshotFailed");
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("cannot create evidence directory"),
        "{message}"
    );
    let events: Vec<&Recorded> = requests.iter().filter(|r| r.path == EVENTS).collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].body["reason"], "SnapshotFailed");
    assert_eq!(events[0].body["type"], "Warning");
    assert_eq!(events[0].body["regarding"]["kind"], "EvidenceStore");
}

/// Fail-over mid-snapshot: the previous leader wrote this tick's manifest and was killed before it published it in
/// status. The replica that takes over writes nothing (the tick is taken) but publishes that snapshot, counted from
/// its own documents, so that the status never shows a chain head without its snapshot.
#[tokio::test]
async fn a_snapshot_another_replica_wrote_but_never_published_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence");
    let client = EvidenceStoreClient::connect(&StoreLocation::Filesystem(path.clone())).unwrap();
    let c = control(
        "change-approval",
        1,
        json!({"criteria": ["CC8.1"], "category": "Security", "title": "Changes are approved", "check": {"changeApproval": {}}}),
    );
    let written = soc2_operator::evidence::offline::write_scan_snapshot(
        &client,
        &soc2_operator::view::ClusterSnapshot::default(),
        std::slice::from_ref(&c),
        k8s_openapi::jiff::Timestamp::now(),
        None,
    )
    .await
    .unwrap();
    let head = written.head().clone();

    let (tx, mut rx) = mpsc::unbounded_channel();
    let ((), requests) = with_server(answer(tx), "the snapshot loop", |client| {
        let ctx = context(client);
        let es = store(path.to_str().unwrap());
        async move {
            let task = tokio::spawn(run_store(ctx, es));
            rx.recv().await.expect("a status patch");
            task.abort();
        }
    })
    .await;
    let patch = requests.iter().find(|r| r.path == STATUS).unwrap();
    let status = &patch.body["status"];
    assert_eq!(status["conditions"][0]["reason"], "SnapshotWritten");
    assert_eq!(status["chainHead"], head.digest.as_str());
    assert_eq!(status["lastSnapshot"]["digest"], head.digest.as_str());
    assert_eq!(status["lastSnapshot"]["sequence"], 1);
    assert_eq!(
        status["lastSnapshot"]["id"],
        head.manifest.snapshot_id.as_str()
    );
    assert_eq!(status["lastSnapshot"]["controls"], 1);
    // Time in status has whole seconds (metav1.Time).
    let taken_at: k8s_openapi::jiff::Timestamp = head.manifest.taken_at.parse().unwrap();
    assert_eq!(
        status["lastSnapshot"]["time"]
            .as_str()
            .map(|t| t.parse::<k8s_openapi::jiff::Timestamp>().unwrap()),
        Some(k8s_openapi::jiff::Timestamp::from_second(taken_at.as_second()).unwrap()),
        "the time of the snapshot the other replica took, not this replica's tick"
    );
    let out = verify_chain(&client, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert_eq!(out.snapshots.len(), 1, "nothing more was written");
}

const OBJECT: &str = "/apis/soc2.dev/v1alpha1/evidencestores/audit";

/// Two snapshots already in `path`; returns the head's digest.
async fn two_snapshots(path: &std::path::Path) -> String {
    let client =
        EvidenceStoreClient::connect(&StoreLocation::Filesystem(path.to_path_buf())).unwrap();
    let c = control(
        "change-approval",
        1,
        json!({"criteria": ["CC8.1"], "category": "Security", "title": "Changes are approved", "check": {"changeApproval": {}}}),
    );
    let mut digest = String::new();
    for t in ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"] {
        let out = soc2_operator::evidence::offline::write_scan_snapshot(
            &client,
            &soc2_operator::view::ClusterSnapshot::default(),
            std::slice::from_ref(&c),
            t.parse().unwrap(),
            None,
        )
        .await
        .unwrap();
        digest = out.head().digest.clone();
    }
    digest
}

/// The EvidenceStore as the API server holds it after this store published sequence 3, with `annotations`.
fn published(path: &str, annotations: Value) -> Value {
    let mut obj = serde_json::to_value(store(path)).unwrap();
    obj["metadata"]["annotations"] = annotations;
    obj["status"] = json!({
        "chainHead": "ab".repeat(32),
        "lastSnapshot": {"uri": "file:///x/manifests/000000000003.json", "digest": "ab".repeat(32),
                         "id": "20260101T020000Z", "sequence": 3, "time": "2026-01-01T02:00:00Z",
                         "controls": 1, "findings": 0},
    });
    obj
}

/// Defect 3: after a restart (or fail-over) the loop finds the store's head behind the head the EvidenceStore
/// published: it writes nothing, turns Ready False with reason ChainRegressed and warns, until a person restores
/// the chain or accepts the store's head by annotation.
#[tokio::test]
async fn a_store_whose_head_went_back_is_not_written_until_a_person_acts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence");
    let head = two_snapshots(&path).await;
    let run = |object: Value, wait_for_event: bool| {
        let path = path.clone();
        async move {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let mut inner = answer(tx);
            let respond = move |r: &Recorded| {
                if r.method == Method::GET && r.path == OBJECT {
                    return (StatusCode::OK, object.clone());
                }
                inner(r)
            };
            let ((), requests) = with_server(respond, "the snapshot loop", |client| {
                let ctx = context(client);
                let es: EvidenceStore =
                    serde_json::from_value(published(path.to_str().unwrap(), json!({}))).unwrap();
                async move {
                    let task = tokio::spawn(run_store(ctx, es));
                    let (mut status, mut event) = (false, !wait_for_event);
                    while !(status && event) {
                        let r = rx.recv().await.expect("a status patch or an event");
                        status |= r.path == STATUS;
                        event |= r.path == EVENTS;
                    }
                    task.abort();
                }
            })
            .await;
            requests
        }
    };

    let requests = run(published(path.to_str().unwrap(), json!({})), true).await;
    let patch = requests
        .iter()
        .find(|r| r.path == STATUS)
        .expect("status written");
    let status = &patch.body["status"];
    assert_eq!(status["conditions"][0]["status"], "False");
    assert_eq!(status["conditions"][0]["reason"], "ChainRegressed");
    let message = status["conditions"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("sequence 2 but this EvidenceStore published sequence 3")
            && message.contains(&format!("soc2.dev/accept-chain-head={head}")),
        "{message}"
    );
    assert_eq!(
        status["chainHead"],
        "ab".repeat(32),
        "the published head stays published"
    );
    let client = EvidenceStoreClient::connect(&StoreLocation::Filesystem(path.clone())).unwrap();
    let out = verify_chain(&client, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert_eq!(out.snapshots.len(), 2, "nothing was written");

    // A person accepts the store's head: the next snapshot links to it and records why.
    let requests = run(
        published(
            path.to_str().unwrap(),
            json!({"soc2.dev/accept-chain-head": head}),
        ),
        false,
    )
    .await;
    let patch = requests.iter().find(|r| r.path == STATUS).unwrap();
    assert_eq!(
        patch.body["status"]["conditions"][0]["reason"],
        "SnapshotWritten"
    );
    let out = verify_chain(&client, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert!(out.is_intact(), "{:?}", out.problems);
    assert_eq!(out.snapshots.len(), 3);
    let reason = out.snapshots[2]
        .manifest
        .gap
        .as_ref()
        .and_then(|g| g.reason.clone())
        .unwrap_or_default();
    assert!(
        reason.contains("accepted"),
        "{:?}",
        out.snapshots[2].manifest
    );
}

/// Defect 3 on S3 with Object Lock: a delete marker hides the head manifest, then the operator restarts. It lists
/// the store, finds the previous head, sees it behind the head the EvidenceStore published, and writes nothing: no
/// new version of the hidden key, no manifest after it.
#[tokio::test]
async fn a_restart_against_an_s3_store_whose_head_was_hidden_writes_nothing() {
    use crate::support::moto::{SERIAL, bucket, http, moto};
    use soc2_operator::evidence::store::{S3Credentials, S3Location};

    let _serial = SERIAL.lock().await;
    let Some(moto) = moto().await else { return };
    bucket(moto.port, "evidence", true).await;
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let client = EvidenceStoreClient::connect(&StoreLocation::S3(S3Location {
        bucket: "evidence".into(),
        prefix: "prod".into(),
        endpoint: Some(endpoint.clone()),
        region: Some("us-east-1".into()),
        path_style: true,
        credentials: Some(S3Credentials {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
            session_token: None,
        }),
        object_lock: None,
    }))
    .unwrap();
    let c = control(
        "change-approval",
        1,
        json!({"criteria": ["CC8.1"], "category": "Security", "title": "Changes are approved", "check": {"changeApproval": {}}}),
    );
    let mut head = String::new();
    for t in [
        "2026-01-01T00:00:00Z",
        "2026-01-01T01:00:00Z",
        "2026-01-01T02:00:00Z",
    ] {
        let out = soc2_operator::evidence::offline::write_scan_snapshot(
            &client,
            &soc2_operator::view::ClusterSnapshot::default(),
            std::slice::from_ref(&c),
            t.parse().unwrap(),
            None,
        )
        .await
        .unwrap();
        head = out.head().digest.clone();
    }
    let (status, text) = http(
        moto.port,
        "DELETE",
        "/evidence/prod/manifests/000000000003.json",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(status, 204, "{text}");

    let mut object = published("/unused", json!({}));
    object["spec"] = json!({
        "s3": {"bucket": "evidence", "prefix": "prod", "endpoint": endpoint, "region": "us-east-1",
               "pathStyle": true, "credentialsSecret": {"name": "evidence-s3"}},
        "schedule": {"interval": "1h"},
    });
    object["status"]["chainHead"] = json!(head);
    object["status"]["lastSnapshot"]["digest"] = json!(head);
    let es: EvidenceStore = serde_json::from_value(object.clone()).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut inner = answer(tx);
    let respond = move |r: &Recorded| match (&r.method, r.path.as_str()) {
        (&Method::GET, OBJECT) => (StatusCode::OK, object.clone()),
        (&Method::GET, "/api/v1/namespaces/soc2-system/secrets/evidence-s3") => (
            StatusCode::OK,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "evidence-s3", "namespace": "soc2-system"},
                   "data": {"AWS_ACCESS_KEY_ID": "dGVzdGluZw==", "AWS_SECRET_ACCESS_KEY": "dGVzdGluZw=="}}),
        ),
        _ => inner(r),
    };
    let ((), requests) = with_server(respond, "the snapshot loop", |kube| {
        let ctx = context(kube);
        async move {
            let task = tokio::spawn(run_store(ctx, es));
            let (mut status, mut event) = (false, false);
            while !(status && event) {
                let r = rx.recv().await.expect("a status patch and an event");
                status |= r.path == STATUS;
                event |= r.path == EVENTS;
            }
            task.abort();
        }
    })
    .await;
    let patch = requests.iter().find(|r| r.path == STATUS).unwrap();
    let condition = &patch.body["status"]["conditions"][0];
    assert_eq!(condition["reason"], "ChainRegressed", "{condition}");
    assert!(
        condition["message"]
            .as_str()
            .unwrap()
            .contains("sequence 2 but this EvidenceStore published sequence 3"),
        "{condition}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.path == EVENTS && r.body["reason"] == "ChainRegressed")
    );
    let versions = client.versions("manifests").await.unwrap().unwrap();
    let summary: Vec<(String, usize, usize)> = versions
        .iter()
        .map(|v| (v.path.clone(), v.versions, v.delete_markers))
        .collect();
    assert_eq!(
        summary,
        [
            ("manifests/000000000001.json".to_string(), 1, 0),
            ("manifests/000000000002.json".to_string(), 1, 0),
            ("manifests/000000000003.json".to_string(), 1, 1),
        ],
        "nothing was written"
    );
}
