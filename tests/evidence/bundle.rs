//! Evidence bundles on a local directory: chain, signatures, every tamper case, gaps, reports, OSCAL, and that no
//! Secret value ever reaches a written byte.

use std::path::{Path, PathBuf};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use soc2_operator::api::Control;
use soc2_operator::evidence::collect::{OperationBaseline, control_documents};
use soc2_operator::evidence::schedule::{Schedule, snapshot_id};
use soc2_operator::evidence::snapshot::{SnapshotInput, SnapshotOutcome, write_snapshot};
use soc2_operator::evidence::{
    ClusterIdentity, EvaluationLedger, EvidenceStoreClient, SigningKey, StoreLocation,
    VerifyingKeys, report, verify_chain,
};
use soc2_operator::scan::load_paths;
use soc2_operator::view::ClusterSnapshot;

#[path = "auditor.rs"]
mod auditor;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn controls() -> Vec<Control> {
    load_paths(&[repo("config/samples")]).unwrap().controls
}

fn cluster() -> ClusterSnapshot {
    load_paths(&[repo("examples/cluster")]).unwrap().snapshot
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn identity() -> ClusterIdentity {
    ClusterIdentity {
        uid: "6a1d0f5e-0000-4000-8000-000000000004".into(),
        server_version: "v1.33.1".into(),
    }
}

async fn snapshot_at(
    store: &EvidenceStoreClient,
    tick: &str,
    view: &ClusterSnapshot,
    key: Option<&SigningKey>,
    schedule: Option<&Schedule>,
) -> SnapshotOutcome {
    let tick = ts(tick);
    let id = snapshot_id(tick);
    let documents = control_documents(
        &id,
        &controls(),
        tick,
        |_| view.clone(),
        None,
        &mut OperationBaseline::default(),
    )
    .unwrap();
    write_snapshot(
        store,
        SnapshotInput {
            source: "test".into(),
            cluster: identity(),
            tick,
            documents,
            schedule,
            gap_reason: Some("evidence store unavailable".into()),
            signing_key: key,
            access_reviews: Vec::new(),
        },
    )
    .await
    .unwrap()
}

/// What a writer hands `write_snapshot` for `tick`: the sample controls over `view`, unsigned, no schedule.
fn input_at(tick: &str, view: &ClusterSnapshot) -> SnapshotInput<'static> {
    let tick = ts(tick);
    SnapshotInput {
        source: "test".into(),
        cluster: identity(),
        tick,
        documents: control_documents(
            &snapshot_id(tick),
            &controls(),
            tick,
            |_| view.clone(),
            None,
            &mut OperationBaseline::default(),
        )
        .unwrap(),
        schedule: None,
        gap_reason: None,
        signing_key: None,
        access_reviews: Vec::new(),
    }
}

fn fs_store(dir: &Path) -> EvidenceStoreClient {
    EvidenceStoreClient::connect(&StoreLocation::Filesystem(dir.to_path_buf())).unwrap()
}

async fn three_snapshots(dir: &Path) -> EvidenceStoreClient {
    let store = fs_store(dir);
    let view = cluster();
    for t in [
        "2026-01-01T00:00:00Z",
        "2026-01-01T01:00:00Z",
        "2026-01-01T02:00:00Z",
    ] {
        assert!(matches!(
            snapshot_at(&store, t, &view, None, None).await,
            SnapshotOutcome::Written(_)
        ));
    }
    store
}

async fn problems(store: &EvidenceStoreClient) -> Vec<String> {
    verify_chain(store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap()
        .problems
        .iter()
        .map(|p| p.to_string())
        .collect()
}

fn manifest_json(dir: &Path, seq: u64) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(format!("manifests/{seq:012}.json"))).unwrap())
        .unwrap()
}

fn first_document(dir: &Path, seq: u64) -> PathBuf {
    let m = manifest_json(dir, seq);
    dir.join(m["documents"][0]["path"].as_str().unwrap())
}

#[tokio::test]
async fn an_untouched_chain_verifies_and_links_every_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let store = three_snapshots(dir.path()).await;
    let out = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert!(out.is_intact(), "{:?}", out.problems);
    assert_eq!(out.snapshots.len(), 3);
    assert_eq!(out.documents_checked, 3 * controls().len());
    let m2 = manifest_json(dir.path(), 2);
    let m1_bytes = std::fs::read(dir.path().join("manifests/000000000001.json")).unwrap();
    assert_eq!(
        m2["previous"]["digest"],
        soc2_operator::engine::canonical::sha256_hex(&m1_bytes)
    );
    assert_eq!(m2["windowStart"], "2026-01-01T00:00:00Z");
    assert_eq!(m2["cluster"]["uid"], identity().uid);
}

#[tokio::test]
async fn one_changed_byte_in_a_document_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = three_snapshots(dir.path()).await;
    let doc = first_document(dir.path(), 2);
    let mut bytes = std::fs::read(&doc).unwrap();
    let i = bytes.iter().position(|b| *b == b'N').unwrap();
    bytes[i] = b'M';
    std::fs::write(&doc, bytes).unwrap();
    let p = problems(&store).await;
    assert_eq!(p.len(), 1, "{p:?}");
    let name = doc.file_name().unwrap().to_str().unwrap();
    assert!(p[0].contains(name) && p[0].contains("was altered"), "{p:?}");
}

#[tokio::test]
async fn one_changed_byte_in_a_manifest_breaks_the_next_link() {
    let dir = tempfile::tempdir().unwrap();
    let store = three_snapshots(dir.path()).await;
    let path = dir.path().join("manifests/000000000002.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"source\":\"test\"", "\"source\":\"tost\"");
    std::fs::write(&path, text).unwrap();
    let p = problems(&store).await;
    assert!(
        p.iter()
            .any(|p| p.contains("000000000003.json") && p.contains("was altered")),
        "{p:?}"
    );
}

#[tokio::test]
async fn a_deleted_document_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = three_snapshots(dir.path()).await;
    let doc = first_document(dir.path(), 3);
    std::fs::remove_file(&doc).unwrap();
    let p = problems(&store).await;
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains(doc.file_name().unwrap().to_str().unwrap()) && p[0].contains("deleted"),
        "{p:?}"
    );
}

#[tokio::test]
async fn a_deleted_manifest_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = three_snapshots(dir.path()).await;
    std::fs::remove_file(dir.path().join("manifests/000000000002.json")).unwrap();
    let p = problems(&store).await;
    assert!(
        p[0].contains("000000000002.json") && p[0].contains("missing"),
        "{p:?}"
    );
}

#[tokio::test]
async fn a_reordered_chain_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = three_snapshots(dir.path()).await;
    let m = |s: u64| dir.path().join(format!("manifests/{s:012}.json"));
    let two = std::fs::read(m(2)).unwrap();
    std::fs::copy(m(3), m(2)).unwrap();
    std::fs::write(m(3), two).unwrap();
    let p = problems(&store).await;
    assert!(
        p[0].contains("000000000002.json") && p[0].contains("reordered"),
        "{p:?}"
    );
}

#[tokio::test]
async fn signatures_are_checked_against_trusted_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let key = SigningKey::from_seed(&[42u8; 32]).unwrap();
    let view = cluster();
    snapshot_at(&store, "2026-01-01T00:00:00Z", &view, Some(&key), None).await;
    snapshot_at(&store, "2026-01-01T01:00:00Z", &view, None, None).await;
    let mut keys = VerifyingKeys::default();
    keys.add(key.public_key_hex().as_bytes()).unwrap();
    let out = verify_chain(&store, &keys, |_, _| {}).await.unwrap();
    assert!(out.signatures_checked);
    assert_eq!(out.problems.len(), 1, "{:?}", out.problems);
    assert!(out.problems[0].object.ends_with("000000000002.json"));
    assert!(out.problems[0].reason.contains("not signed"));
}

#[tokio::test]
async fn a_tick_is_snapshotted_once_and_gaps_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let view = cluster();
    let hourly = Schedule::parse(Some("1h"), None).unwrap();
    let first = snapshot_at(&store, "2026-01-01T00:00:00Z", &view, None, Some(&hourly)).await;
    let again = snapshot_at(&store, "2026-01-01T00:00:00Z", &view, None, Some(&hourly)).await;
    assert_eq!(again, SnapshotOutcome::AlreadyTaken(first.head().clone()));
    // The store was down for 00:00 < t < 03:00: two ticks were missed.
    let later = snapshot_at(&store, "2026-01-01T03:00:00Z", &view, None, Some(&hourly)).await;
    let gap = later.head().manifest.gap.clone().expect("gap recorded");
    assert_eq!(gap.missed_ticks, 2);
    assert_eq!(gap.from, "2026-01-01T00:00:00Z");
    assert_eq!(
        later.head().manifest.previous.as_ref().unwrap().digest,
        first.head().digest
    );
    let out = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert!(out.is_intact());
    let r = report::build(
        &out,
        store.uri(),
        Some(ts("2026-01-01T00:00:00Z")),
        ts("2026-01-02T00:00:00Z"),
    );
    assert_eq!(r.missed_snapshots.len(), 1);
    assert!(
        r.missed_snapshots[0]
            .reason
            .contains("2 scheduled snapshot(s) not taken")
    );
    let md = report::render_markdown(&r);
    assert!(md.contains("## Missed snapshots") && md.contains("evidence store unavailable"));
}

#[tokio::test]
async fn failing_windows_show_time_to_remediate() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let failing = cluster();
    // With no objects at all, every control is Unknown or Compliant; the example cluster fails them.
    let empty = ClusterSnapshot {
        namespaces: failing.namespaces.clone(),
        control_plane_pods: failing.control_plane_pods.clone(),
        ..Default::default()
    };
    snapshot_at(&store, "2026-01-01T00:00:00Z", &failing, None, None).await;
    snapshot_at(&store, "2026-01-01T01:00:00Z", &failing, None, None).await;
    snapshot_at(&store, "2026-01-01T03:30:00Z", &empty, None, None).await;
    let out = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    let r = report::build(
        &out,
        store.uri(),
        Some(ts("2026-01-01T00:00:00Z")),
        ts("2026-01-02T00:00:00Z"),
    );
    let change = r
        .controls
        .iter()
        .find(|c| c.control == "change-approval")
        .unwrap();
    assert_eq!(change.samples, 3);
    assert_eq!(change.compliant_samples, 1, "{change:?}");
    let w = &change.failing_windows[0];
    assert_eq!(w.start, "2026-01-01T00:00:00Z");
    assert_eq!(w.end.as_deref(), Some("2026-01-01T03:30:00Z"));
    assert_eq!(w.time_to_remediate.as_deref(), Some("3h 30m"));
    // Type I: the last snapshot at or before the point in time.
    let t1 = report::build(&out, store.uri(), None, ts("2026-01-01T02:00:00Z"));
    assert_eq!((t1.kind.as_str(), t1.snapshots), ("Type I", 1));
    assert_eq!(t1.from, "2026-01-01T01:00:00Z");
}

#[tokio::test]
async fn the_ledger_records_evaluations_since_the_previous_snapshot() {
    let ledger = EvaluationLedger::default();
    let mut baseline = OperationBaseline::default();
    let view = cluster();
    let controls = controls();
    let name = controls[0].metadata.name.clone().unwrap();
    let t0 = ts("2026-01-01T00:00:00Z");
    let docs = control_documents(
        "a",
        &controls,
        t0,
        |_| view.clone(),
        Some(&ledger),
        &mut baseline,
    )
    .unwrap();
    assert!(
        !docs[0].operation.not_evaluated_in_window,
        "first snapshot has no window"
    );
    ledger.record(&name, ts("2026-01-01T00:10:00Z"));
    ledger.record(&name, ts("2026-01-01T00:20:00Z"));
    let t1 = ts("2026-01-01T01:00:00Z");
    let docs = control_documents(
        "b",
        &controls,
        t1,
        |_| view.clone(),
        Some(&ledger),
        &mut baseline,
    )
    .unwrap();
    let doc = docs.iter().find(|d| d.control == name).unwrap();
    assert_eq!(doc.operation.evaluations_since_previous, 2);
    assert_eq!(
        doc.operation.last_evaluated_at.as_deref(),
        Some("2026-01-01T00:20:00Z")
    );
    let other = docs.iter().find(|d| d.control != name).unwrap();
    assert!(other.operation.not_evaluated_in_window);
    let docs = control_documents(
        "c",
        &controls,
        ts("2026-01-01T02:00:00Z"),
        |_| view.clone(),
        Some(&ledger),
        &mut baseline,
    )
    .unwrap();
    let doc = docs.iter().find(|d| d.control == name).unwrap();
    assert_eq!(doc.operation.evaluations_since_previous, 0);
    assert!(doc.operation.not_evaluated_in_window);
}

/// Every byte under `dir`.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.extend(std::fs::read(&p).unwrap());
                out.push(b'\n');
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn no_secret_value_ever_reaches_evidence() {
    const TOKEN: &str = "sekrit-token-value-9f2c";
    const PASSWORD: &str = "hunter2-password-value-77ab";
    // Straight into the view, unredacted, as if a watch had let data through.
    let mut view = cluster();
    let mut data = std::collections::BTreeMap::new();
    data.insert("token".to_string(), ByteString(TOKEN.as_bytes().to_vec()));
    let mut string_data = std::collections::BTreeMap::new();
    string_data.insert("password".to_string(), PASSWORD.to_string());
    view.service_account_token_secrets
        .push(std::sync::Arc::new(Secret {
            metadata: ObjectMeta {
                name: Some("leaky".into()),
                namespace: Some("payments".into()),
                annotations: Some(
                    [(
                        "kubernetes.io/service-account.name".to_string(),
                        "ledger".to_string(),
                    )]
                    .into(),
                ),
                ..Default::default()
            },
            type_: Some("kubernetes.io/service-account-token".into()),
            data: Some(data),
            string_data: Some(string_data),
            ..Default::default()
        }));
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(&dir.path().join("live"));
    snapshot_at(&store, "2026-01-01T00:00:00Z", &view, None, None).await;

    // Through `soc2ctl scan --evidence`, from manifests holding Secrets with data and stringData.
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    for f in ["examples/cluster", "config/samples"] {
        for e in std::fs::read_dir(repo(f)).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(
                &p,
                manifests.join(format!(
                    "{}-{}",
                    f.replace('/', "_"),
                    p.file_name().unwrap().to_str().unwrap()
                )),
            )
            .unwrap();
        }
    }
    let b64 = |s: &str| {
        use std::fmt::Write;
        // A tiny base64 encoder keeps the test free of another dependency.
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let b = s.as_bytes();
        let mut o = String::new();
        for c in b.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    let _ = write!(o, "{}", A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    o.push('=');
                }
            }
        }
        o
    };
    std::fs::write(
        manifests.join("zz-secrets.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: planted, namespace: payments, annotations: {{kubernetes.io/service-account.name: ledger}}}}\ntype: kubernetes.io/service-account-token\ndata: {{token: {}}}\nstringData: {{password: {PASSWORD}}}\n",
            b64(TOKEN)
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_soc2ctl"))
        .arg("scan")
        .arg(&manifests)
        .arg("--evidence")
        .arg(dir.path().join("scan"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let example_values = [
        "ZXhhbXBsZS10b2tlbi1uZXZlci1pbi1ldmlkZW5jZQ==",
        "example-token-never-in-evidence",
        "do-not-print-me",
    ];
    for sub in ["live", "scan"] {
        let bytes = all_bytes(&dir.path().join(sub));
        assert!(bytes.len() > 1000, "{sub}: evidence was written");
        assert!(
            contains(&bytes, "leaky") || sub == "scan",
            "the Secret was seen (by name) in {sub}"
        );
        for v in [TOKEN, PASSWORD, &b64(TOKEN), &b64(PASSWORD)]
            .iter()
            .chain(example_values.iter())
        {
            assert!(
                !contains(&bytes, v),
                "{sub}: secret value {v:?} leaked into evidence"
            );
        }
    }
}

#[test]
fn soc2ctl_verify_exit_codes_distinguish_intact_tampered_and_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let ev = dir.path().join("ev");
    let scan = |signing: Option<&Path>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_soc2ctl"));
        c.arg("scan")
            .arg(repo("examples/cluster"))
            .arg("--controls")
            .arg(repo("config/samples"))
            .arg("--evidence")
            .arg(&ev);
        if let Some(k) = signing {
            c.arg("--signing-key").arg(k);
        }
        c.output().unwrap()
    };
    let seed = dir.path().join("seed");
    std::fs::write(&seed, "11".repeat(32)).unwrap();
    let public = dir.path().join("pub");
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_soc2ctl"))
        .arg("public-key")
        .arg(&seed)
        .output()
        .unwrap();
    assert_eq!(printed.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&printed.stdout).trim(),
        SigningKey::from_seed(&[0x11; 32]).unwrap().public_key_hex()
    );
    std::fs::write(&public, printed.stdout).unwrap();
    assert_eq!(scan(Some(&seed)).status.code(), Some(1));
    let verify = |extra: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_soc2ctl"))
            .arg("verify")
            .args(extra)
            .output()
            .unwrap()
    };
    let ok = verify(&[ev.as_os_str(), "--public-key".as_ref(), public.as_os_str()]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("checked against the trusted public key"),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    let html = dir.path().join("r.html");
    let report = std::process::Command::new(env!("CARGO_BIN_EXE_soc2ctl"))
        .args([
            "report".as_ref(),
            ev.as_os_str(),
            "--format".as_ref(),
            "html".as_ref(),
            "-o".as_ref(),
            html.as_os_str(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        report.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(text.contains("Type I") && !text.contains("http://") && !text.contains("<script"));

    let m = ev.join("manifests/000000000001.json");
    let tampered = std::fs::read_to_string(&m).unwrap().replacen(
        "NonCompliant",
        "Compliant\u{20}\u{20}\u{20}",
        1,
    );
    std::fs::write(&m, tampered).unwrap();
    let bad = verify(&[ev.as_os_str(), "--public-key".as_ref(), public.as_os_str()]);
    assert_eq!(bad.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert!(
        stdout.starts_with("TAMPERED") && stdout.contains("000000000001.json"),
        "{stdout}"
    );

    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let unreadable = verify(&[file.as_os_str()]);
    assert_eq!(
        unreadable.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&unreadable.stderr)
    );
    let usage = verify(&[]);
    assert_eq!(usage.status.code(), Some(2));
}

#[tokio::test]
async fn oscal_export_has_the_required_structure_and_treats_missing_data_as_not_satisfied() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let failing = cluster();
    let compliant_view = ClusterSnapshot {
        namespaces: failing.namespaces.clone(),
        control_plane_pods: failing.control_plane_pods.clone(),
        ..Default::default()
    };
    let hourly = Schedule::parse(Some("1h"), None).unwrap();
    // Satisfied needs signatures checked against a trusted key.
    let key = SigningKey::from_seed(&[5u8; 32]).unwrap();
    let mut trusted = VerifyingKeys::default();
    trusted.add(key.public_key_hex().as_bytes()).unwrap();
    let now = ts("2026-06-01T00:00:00Z");
    snapshot_at(
        &store,
        "2026-01-01T00:00:00Z",
        &compliant_view,
        Some(&key),
        Some(&hourly),
    )
    .await;
    snapshot_at(
        &store,
        "2026-01-01T01:00:00Z",
        &compliant_view,
        Some(&key),
        Some(&hourly),
    )
    .await;
    let out = verify_chain(&store, &trusted, |_, _| {}).await.unwrap();
    let export = |from: &str, to: &str| {
        soc2_operator::evidence::oscal::export(&report::build_at(
            &out,
            store.uri(),
            Some(ts(from)),
            ts(to),
            now,
        ))
    };
    let state = |doc: &serde_json::Value, criterion: &str| -> String {
        doc["assessment-results"]["results"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["target"]["target-id"] == criterion)
            .map(|f| f["target"]["status"]["state"].as_str().unwrap().to_string())
            .unwrap_or_else(|| "absent".into())
    };
    let doc = export("2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z");
    // Required by the OSCAL assessment-results model.
    let ar = &doc["assessment-results"];
    for k in ["uuid", "metadata", "import-ap", "results"] {
        assert!(!ar[k].is_null(), "assessment-results.{k}");
    }
    for k in ["title", "last-modified", "version", "oscal-version"] {
        assert!(ar["metadata"][k].is_string(), "metadata.{k}");
    }
    let result = &ar["results"][0];
    for k in ["uuid", "title", "description", "start", "reviewed-controls"] {
        assert!(!result[k].is_null(), "result.{k}");
    }
    let observations: Vec<&str> = result["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["uuid"].as_str().unwrap())
        .collect();
    for f in result["findings"].as_array().unwrap() {
        for k in ["uuid", "title", "description", "target"] {
            assert!(!f[k].is_null(), "finding.{k}");
        }
        for r in f["related-observations"].as_array().unwrap() {
            assert!(observations.contains(&r["observation-uuid"].as_str().unwrap()));
        }
    }
    // change-approval is compliant in every sample without workloads: CC8.1 satisfied.
    assert_eq!(state(&doc, "cc8.1"), "satisfied", "{doc:#}");
    // Stable: the same evidence exports to the same document.
    assert_eq!(doc, export("2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z"));

    // A missed snapshot in the window: nothing can be shown satisfied for that period.
    snapshot_at(
        &store,
        "2026-01-01T05:00:00Z",
        &compliant_view,
        Some(&key),
        Some(&hourly),
    )
    .await;
    let out = verify_chain(&store, &trusted, |_, _| {}).await.unwrap();
    let doc = soc2_operator::evidence::oscal::export(&report::build_at(
        &out,
        store.uri(),
        Some(ts("2026-01-01T00:00:00Z")),
        ts("2026-01-01T06:00:00Z"),
        now,
    ));
    assert_eq!(state(&doc, "cc8.1"), "not-satisfied");
    // No evidence at all in the window: every reviewed control is absent from findings, none satisfied.
    let empty = soc2_operator::evidence::oscal::export(&report::build(
        &out,
        store.uri(),
        Some(ts("2025-01-01T00:00:00Z")),
        ts("2025-01-02T00:00:00Z"),
    ));
    assert!(empty["assessment-results"]["results"][0]["findings"].is_null());
    assert!(!empty.to_string().contains("\"satisfied\""));
}

#[tokio::test]
async fn a_wrong_signature_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let trusted = SigningKey::from_seed(&[42u8; 32]).unwrap();
    let other = SigningKey::from_seed(&[7u8; 32]).unwrap();
    let view = cluster();
    snapshot_at(&store, "2026-01-01T00:00:00Z", &view, Some(&trusted), None).await;
    snapshot_at(&store, "2026-01-01T01:00:00Z", &view, Some(&other), None).await;
    snapshot_at(&store, "2026-01-01T02:00:00Z", &view, Some(&trusted), None).await;
    let mut keys = VerifyingKeys::default();
    keys.add(trusted.public_key_hex().as_bytes()).unwrap();
    let check = || async { verify_chain(&store, &keys, |_, _| {}).await.unwrap() };

    // Signed by a key the auditor does not trust.
    let out = check().await;
    assert_eq!(out.problems.len(), 1, "{:?}", out.problems);
    assert!(out.problems[0].object.ends_with("000000000002.json"));
    assert!(out.problems[0].reason.contains("not among the trusted"));

    // The head's signature value swapped for another manifest's (valid hex, right key id, wrong content): the
    // head has no successor whose link would break, so only the signature catches it.
    let path = |s: u64| dir.path().join(format!("manifests/{s:012}.json"));
    let mut head = manifest_json(dir.path(), 3);
    head["signature"]["value"] = manifest_json(dir.path(), 1)["signature"]["value"].clone();
    std::fs::write(path(3), serde_json::to_vec(&head).unwrap()).unwrap();
    let out = check().await;
    let last = out.problems.last().unwrap();
    assert!(last.object.ends_with("000000000003.json"), "{last}");
    assert!(last.reason.contains("does not match"), "{last}");

    // A signature that is not even 64 bytes.
    head["signature"]["value"] = "00ff".into();
    std::fs::write(path(3), serde_json::to_vec(&head).unwrap()).unwrap();
    let out = check().await;
    assert!(
        out.problems
            .last()
            .unwrap()
            .reason
            .contains("not 64 hex-encoded bytes"),
        "{:?}",
        out.problems
    );
}

#[tokio::test]
async fn a_removed_first_manifest_and_a_planted_manifest_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = three_snapshots(dir.path()).await;
    let path = |s: u64| dir.path().join(format!("manifests/{s:012}.json"));
    std::fs::remove_file(path(1)).unwrap();
    let p = problems(&store).await;
    assert!(
        p[0].contains("000000000001.json") && p[0].contains("missing"),
        "{p:?}"
    );

    // A manifest planted under another name is not silently skipped.
    let dir = tempfile::tempdir().unwrap();
    let store = three_snapshots(dir.path()).await;
    std::fs::copy(path(2), dir.path().join("manifests/2.json")).unwrap();
    let p = problems(&store).await;
    assert!(
        p[0].contains("manifests/2.json") && p[0].contains("not a manifest name"),
        "{p:?}"
    );
}

/// What a writer killed between its documents and its manifest leaves behind: the documents, and on a directory
/// store possibly a half-written staging file beside the manifest it never published.
#[tokio::test]
async fn a_writer_killed_before_its_manifest_leaves_no_snapshot_and_the_next_links_to_the_last_good_one()
 {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let view = cluster();
    let hourly = Schedule::parse(Some("1h"), None).unwrap();
    let first = snapshot_at(&store, "2026-01-01T00:00:00Z", &view, None, Some(&hourly)).await;

    // The 01:00 snapshot: documents written, then the process died.
    let orphans = input_at("2026-01-01T01:00:00Z", &view).documents;
    for doc in &orphans {
        let bytes = soc2_operator::engine::canonical::to_canonical_json(doc).unwrap();
        let sha = soc2_operator::engine::canonical::sha256_hex(&bytes);
        store
            .create(&format!("objects/{sha}.json"), bytes)
            .await
            .unwrap();
    }
    std::fs::write(
        dir.path().join("manifests/000000000002.json#1"),
        b"{\"formatVersion\":1,\"seq",
    )
    .unwrap();

    // Readers see one intact snapshot.
    let out = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert!(out.is_intact(), "{:?}", out.problems);
    assert_eq!(out.snapshots.len(), 1);
    let head = soc2_operator::evidence::snapshot::chain_head(&store)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head, first.head().clone());

    // The restarted writer's next tick links to the last good manifest and records the missed 01:00 tick.
    let next = snapshot_at(&store, "2026-01-01T02:00:00Z", &view, None, Some(&hourly)).await;
    let m = &next.head().manifest;
    assert!(matches!(next, SnapshotOutcome::Written(_)));
    assert_eq!(m.sequence, 2);
    assert_eq!(m.previous.as_ref().unwrap().digest, first.head().digest);
    assert_eq!(m.gap.as_ref().expect("gap recorded").missed_ticks, 1);
    let out = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert!(out.is_intact(), "{:?}", out.problems);
    assert_eq!(out.snapshots.len(), 2);
}

/// Writers racing on one store, each from the head it read: exactly one manifest per sequence, and the chain
/// stays linear (the losers get a conflict or find their tick taken; none overwrites or forks).
#[tokio::test]
async fn concurrent_writers_cannot_fork_the_chain() {
    use soc2_operator::evidence::snapshot::{SnapshotError, chain_head, write_snapshot_after};
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let view = cluster();
    snapshot_at(&store, "2026-01-01T00:00:00Z", &view, None, None).await;
    let stale = chain_head(&store).await.unwrap();

    // Two writers that both read sequence 1 as the head, for different ticks.
    let input = |tick: &str| input_at(tick, &view);
    let a = write_snapshot_after(&store, stale.clone(), input("2026-01-01T01:00:00Z"))
        .await
        .unwrap();
    assert!(matches!(a, SnapshotOutcome::Written(_)));
    let b = write_snapshot_after(&store, stale.clone(), input("2026-01-01T02:00:00Z")).await;
    assert!(
        matches!(b, Err(SnapshotError::Conflict { .. })),
        "a stale writer must not overwrite sequence 2: {b:?}"
    );
    // It re-reads the head and extends the chain instead.
    let b = write_snapshot(&store, input("2026-01-01T02:00:00Z"))
        .await
        .unwrap();
    assert_eq!(b.head().manifest.sequence, 3);
    assert_eq!(
        b.head().manifest.previous.as_ref().unwrap().digest,
        a.head().digest
    );

    // Eight writers at once, each listing then creating.
    let ticks: Vec<String> = (3..11)
        .map(|h| format!("2026-01-01T{h:02}:00:00Z"))
        .collect();
    let results = futures::future::join_all(ticks.iter().map(|t| {
        let store = store.clone();
        let input = input(t);
        async move { write_snapshot(&store, input).await }
    }))
    .await;
    let written = results
        .iter()
        .filter(|r| matches!(r, Ok(SnapshotOutcome::Written(_))))
        .count();
    assert!(written >= 1, "{results:?}");
    for r in &results {
        assert!(
            matches!(r, Ok(_) | Err(SnapshotError::Conflict { .. })),
            "{r:?}"
        );
    }
    let out = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert!(out.is_intact(), "{:?}", out.problems);
    assert_eq!(out.snapshots.len(), 3 + written);
}

/// An object store whose conditional create is weaker than S3's: it may ignore `If-None-Match` altogether, and it
/// can let a racing writer replace an object right after it was created (s3s-fs checks, then writes).
#[derive(Debug)]
struct WeakConditions {
    inner: object_store::memory::InMemory,
    ignore_if_none_match: bool,
    /// After the next successful create of this path, overwrite it with these bytes.
    replace_after_create: std::sync::Mutex<Option<(object_store::path::Path, Vec<u8>)>>,
}

impl std::fmt::Display for WeakConditions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WeakConditions")
    }
}

#[async_trait::async_trait]
impl object_store::ObjectStore for WeakConditions {
    async fn put_opts(
        &self,
        location: &object_store::path::Path,
        payload: object_store::PutPayload,
        mut opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        let create = matches!(opts.mode, object_store::PutMode::Create);
        if create && self.ignore_if_none_match {
            opts.mode = object_store::PutMode::Overwrite;
        }
        let result = self.inner.put_opts(location, payload, opts).await?;
        let replace = self
            .replace_after_create
            .lock()
            .unwrap()
            .take_if(|(p, _)| create && p == location);
        if let Some((path, bytes)) = replace {
            self.inner
                .put_opts(&path, bytes.into(), object_store::PutOptions::default())
                .await?;
        }
        Ok(result)
    }
    async fn put_multipart_opts(
        &self,
        location: &object_store::path::Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &object_store::path::Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<
            'static,
            object_store::Result<object_store::path::Path>,
        >,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::path::Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&object_store::path::Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &object_store::path::Path,
        to: &object_store::path::Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

fn weak_store(ignore_if_none_match: bool) -> (std::sync::Arc<WeakConditions>, EvidenceStoreClient) {
    let weak = std::sync::Arc::new(WeakConditions {
        inner: object_store::memory::InMemory::new(),
        ignore_if_none_match,
        replace_after_create: std::sync::Mutex::new(None),
    });
    let client = EvidenceStoreClient::from_object_store(weak.clone(), "memory://weak");
    (weak, client)
}

#[tokio::test]
async fn a_stale_writer_cannot_overwrite_the_chain_on_a_store_that_ignores_if_none_match() {
    use soc2_operator::evidence::snapshot::{SnapshotError, write_snapshot_after};
    let (_, store) = weak_store(true);
    let view = cluster();
    let first = snapshot_at(&store, "2026-01-01T00:00:00Z", &view, None, None).await;
    let second = snapshot_at(&store, "2026-01-01T01:00:00Z", &view, None, None).await;
    // A writer that still believes sequence 1 is the head.
    let stale = write_snapshot_after(
        &store,
        Some(first.head().clone()),
        input_at("2026-01-01T02:00:00Z", &view),
    )
    .await;
    assert!(
        matches!(stale, Err(SnapshotError::Conflict { .. })),
        "{stale:?}"
    );
    let head = soc2_operator::evidence::snapshot::chain_head(&store)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&head, second.head());
    let out = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert!(
        out.is_intact() && out.snapshots.len() == 2,
        "{:?}",
        out.problems
    );
}

#[tokio::test]
async fn a_writer_whose_manifest_is_replaced_in_a_race_learns_that_it_lost() {
    let (weak, store) = weak_store(false);
    let view = cluster();
    snapshot_at(&store, "2026-01-01T00:00:00Z", &view, None, None).await;
    // Another writer's manifest for sequence 2 (here: one taken on a copy of the store) lands right after ours.
    let (_, other) = weak_store(false);
    snapshot_at(&other, "2026-01-01T00:00:00Z", &view, None, None).await;
    let theirs = snapshot_at(&other, "2026-01-01T05:00:00Z", &view, None, None).await;
    let theirs_bytes = other.get(&theirs.head().path).await.unwrap();
    *weak.replace_after_create.lock().unwrap() = Some((
        object_store::path::Path::from("manifests/000000000002.json"),
        theirs_bytes,
    ));
    let ours = write_snapshot(&store, input_at("2026-01-01T01:00:00Z", &view)).await;
    match ours {
        Err(soc2_operator::evidence::snapshot::SnapshotError::Conflict {
            theirs, ours, ..
        }) => {
            assert_eq!(theirs, "20260101T050000Z");
            assert_eq!(ours, "20260101T010000Z");
        }
        other => panic!("the writer must learn it lost: {other:?}"),
    }
}

#[tokio::test]
async fn a_hand_edit_of_the_signed_head_that_keeps_its_content_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let key = SigningKey::from_seed(&[42u8; 32]).unwrap();
    let view = cluster();
    snapshot_at(&store, "2026-01-01T00:00:00Z", &view, Some(&key), None).await;
    snapshot_at(&store, "2026-01-01T01:00:00Z", &view, Some(&key), None).await;
    let mut keys = VerifyingKeys::default();
    keys.add(key.public_key_hex().as_bytes()).unwrap();
    let head = dir.path().join("manifests/000000000002.json");
    let original = std::fs::read(&head).unwrap();
    // A field the format does not have: the signature covers the parsed content, and no later manifest links to
    // the head's bytes.
    let mut json = manifest_json(dir.path(), 2);
    json["approvedBy"] = "auditor".into();
    for edited in [
        serde_json::to_vec(&json).unwrap(),
        serde_json::to_vec_pretty(&manifest_json(dir.path(), 2)).unwrap(),
    ] {
        std::fs::write(&head, &edited).unwrap();
        let out = verify_chain(&store, &keys, |_, _| {}).await.unwrap();
        assert_eq!(out.problems.len(), 1, "{:?}", out.problems);
        assert!(out.problems[0].object.ends_with("000000000002.json"));
        assert!(out.problems[0].reason.contains("edited by hand"));
    }
    std::fs::write(&head, original).unwrap();
    assert!(
        verify_chain(&store, &keys, |_, _| {})
            .await
            .unwrap()
            .is_intact()
    );
}
