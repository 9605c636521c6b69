//! What an auditor signs an opinion on: exceptions in the evidence, coverage of the period, ad-hoc snapshots that
//! are never dropped, keyless verification that says what it did not prove, "did not run" windows on tick times,
//! and OSCAL that claims nothing it cannot show. One test per defect an independent review found.

use std::process::Command;
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use soc2_operator::api::ControlException;
use soc2_operator::evidence::collect::{OperationBaseline, control_documents_at};
use soc2_operator::evidence::manifest::Manifest;
use soc2_operator::evidence::offline::write_scan_snapshot;
use soc2_operator::evidence::report::{SampleState, build_at};
use soc2_operator::evidence::schedule::{Schedule, snapshot_id};
use soc2_operator::evidence::snapshot::{SnapshotError, SnapshotInput, write_snapshot};
use soc2_operator::evidence::{
    ControlDocument, EvaluationLedger, SigningKey, VerifyingKeys, oscal, report, verify_chain,
};

use super::{cluster, controls, fs_store, identity, repo, snapshot_at, ts};

fn soc2ctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_soc2ctl"))
        .args(args)
        .output()
        .unwrap()
}

fn document_of(dir: &std::path::Path, seq: u64, control: &str) -> ControlDocument {
    let m = super::manifest_json(dir, seq);
    let entry = m["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["control"] == control)
        .unwrap_or_else(|| panic!("no document for {control} in {m}"));
    serde_json::from_slice(&std::fs::read(dir.join(entry["path"].as_str().unwrap())).unwrap())
        .unwrap()
}

/// Defect 1: `scan` of the example cluster with its exceptions: the MFA document lists the exception with its
/// approval, justification and the finding it waived; the report and the OSCAL export show it.
#[test]
fn exceptions_reach_the_document_the_report_and_oscal() {
    let dir = tempfile::tempdir().unwrap();
    let ev = dir.path().join("ev");
    let scan = soc2ctl(&[
        "scan",
        repo("examples/cluster").to_str().unwrap(),
        repo("examples/exceptions").to_str().unwrap(),
        "--controls",
        repo("config/controls").to_str().unwrap(),
        "--evidence",
        ev.to_str().unwrap(),
    ]);
    assert_eq!(
        scan.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&scan.stderr)
    );
    let doc = document_of(&ev, 1, "mfa-backed-privileged-access");
    assert!(doc.evaluation["summary"]["excepted"].as_u64().unwrap() >= 1);
    let applied = doc
        .exceptions_applied
        .iter()
        .find(|e| e.ticket == "SEC-1234")
        .unwrap_or_else(|| panic!("{:?}", doc.exceptions_applied));
    assert_eq!(applied.name, "soc2-system/ci-deployer-cluster-edit");
    assert_eq!(applied.namespace, "soc2-system");
    assert_eq!(applied.approved_by, "ciso@example.com");
    assert!(applied.justification.contains("PLAT-881"));
    assert_eq!(applied.expires_at, "2027-06-30T00:00:00Z");
    assert!(
        applied
            .waived
            .iter()
            .any(|w| w.resource.kind == "ClusterRoleBinding" && w.resource.name == "ci-deployer"),
        "{:?}",
        applied.waived
    );

    let md = soc2ctl(&["report", ev.to_str().unwrap(), "--format", "md"]);
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.contains("1 exception(s) were applied"), "{md}");
    assert!(
        md.contains("Exception soc2-system/ci-deployer-cluster-edit approved by ciso@example.com (ticket SEC-1234)"),
        "{md}"
    );
    assert!(md.contains("ClusterRoleBinding ci-deployer"), "{md}");

    let export = soc2ctl(&["export", ev.to_str().unwrap()]);
    let oscal: Value = serde_json::from_slice(&export.stdout).unwrap();
    let risks = oscal["assessment-results"]["results"][0]["risks"]
        .as_array()
        .expect("risks");
    let risk = risks
        .iter()
        .find(|r| r["statement"].as_str().unwrap().contains("SEC-1234"))
        .expect("a risk for the exception");
    assert_eq!(risk["status"], "deviation-approved");
    assert_eq!(risk["deadline"], "2027-06-30T00:00:00Z");
    let risk_uuid = risk["uuid"].as_str().unwrap();
    let linked = oscal["assessment-results"]["results"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| {
            f["related-risks"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["risk-uuid"] == risk_uuid))
        });
    assert!(linked, "the risk is linked to its criterion's finding");
}

async fn verified(
    store: &soc2_operator::evidence::EvidenceStoreClient,
) -> soc2_operator::evidence::VerifyOutcome {
    verify_chain(store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap()
}

fn hourly() -> Schedule {
    Schedule::parse(Some("1h"), None).unwrap()
}

/// A payments exception expiring at midnight, sampled hourly around it: the report says it expired in the period
/// and that the waived binding failed again from the first sample after the expiry.
#[tokio::test]
async fn an_exception_that_expires_in_the_period_shows_when_its_findings_failed_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let mut view = cluster();
    let mut exception: ControlException = serde_yaml::from_str(
        &std::fs::read_to_string(repo("examples/exceptions/payments-contractors.yaml")).unwrap(),
    )
    .unwrap();
    exception.spec.expires_at.0 = ts("2026-10-01T00:00:00Z");
    view.control_exceptions.push(Arc::new(exception));
    let schedule = hourly();
    for t in [
        "2026-09-30T22:00:00Z",
        "2026-09-30T23:00:00Z",
        "2026-10-01T00:00:00Z",
        "2026-10-01T01:00:00Z",
    ] {
        snapshot_at(&store, t, &view, None, Some(&schedule)).await;
    }
    let verified = verified(&store).await;
    assert!(verified.is_intact(), "{:?}", verified.problems);
    let r = build_at(
        &verified,
        store.uri(),
        Some(ts("2026-09-30T22:00:00Z")),
        ts("2026-10-01T01:59:59Z"),
        ts("2026-12-01T00:00:00Z"),
    );
    let mfa = r
        .controls
        .iter()
        .find(|c| c.control == "mfa-backed-privileged-access")
        .unwrap();
    let e = mfa
        .exceptions
        .iter()
        .find(|e| e.ticket == "PAY-77")
        .unwrap_or_else(|| panic!("{:?}", mfa.exceptions));
    assert_eq!(e.samples, 2);
    assert_eq!(e.last_seen, "2026-09-30T23:00:00Z");
    assert!(e.expired_in_period);
    let after = e.after_expiry.as_deref().unwrap();
    assert!(
        after.contains("failed again from the sample of 2026-10-01T00:00:00Z")
            && after.contains("RoleBinding payments/contractors-secrets"),
        "{after}"
    );
    assert!(e.justification.contains("Q3 migration"));
}

/// Defect 2: five ad-hoc scans within seconds never certify a year.
#[tokio::test]
async fn ad_hoc_scans_support_no_statement_over_a_period() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let view = cluster();
    for ms in [0, 1_500, 3_000, 5_000, 8_000] {
        let at =
            Timestamp::from_millisecond(ts("2026-03-01T10:00:00Z").as_millisecond() + ms).unwrap();
        write_scan_snapshot(&store, &view, &controls(), at, None)
            .await
            .unwrap();
    }
    let verified = verified(&store).await;
    let r = build_at(
        &verified,
        store.uri(),
        Some(ts("2026-01-01T00:00:00Z")),
        ts("2026-12-31T23:59:59Z"),
        ts("2026-12-07T08:00:00Z"),
    );
    assert_eq!(r.snapshots, 5);
    assert!(r.coverage.ad_hoc);
    assert_eq!(r.coverage.covered_seconds, 0);
    assert_eq!(
        r.coverage.period_end, "2026-12-07T08:00:00Z",
        "a future end is cut at now"
    );
    assert!(r.coverage.clamped.is_some());
    assert_eq!(r.coverage.not_covered.len(), 1);
    assert!(r.summary.contains("ad hoc"), "{}", r.summary);
    assert!(r.controls.iter().all(|c| c.compliant_share.is_none()));
    let md = report::render_markdown(&r);
    assert!(md.contains("## Not covered"), "{md}");
    assert!(!md.contains("100.0%"), "{md}");
    let doc = oscal::export(&r);
    for f in doc["assessment-results"]["results"][0]["findings"]
        .as_array()
        .unwrap()
    {
        assert_eq!(f["target"]["status"]["state"], "not-satisfied", "{f}");
    }
}

/// Defect 2: time before the first sample, after the last and across missed ticks is listed and not counted;
/// a criterion is satisfied only when the whole period is covered.
#[tokio::test]
async fn a_scheduled_chain_lists_what_it_does_not_cover() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    // An empty cluster: the sample controls that judge objects have nothing failing there.
    let view = soc2_operator::view::ClusterSnapshot::default();
    let schedule = hourly();
    let key = SigningKey::from_seed(&[9u8; 32]).unwrap();
    for t in [
        "2026-01-01T01:00:00Z",
        "2026-01-01T02:00:00Z",
        "2026-01-01T05:00:00Z",
    ] {
        snapshot_at(&store, t, &view, Some(&key), Some(&schedule)).await;
    }
    let unchecked = verified(&store).await;
    let mut trusted = VerifyingKeys::default();
    trusted.add(key.public_key_hex().as_bytes()).unwrap();
    let verified = verify_chain(&store, &trusted, |_, _| {}).await.unwrap();
    let now = ts("2026-06-01T00:00:00Z");
    let r = build_at(
        &verified,
        store.uri(),
        Some(ts("2026-01-01T00:00:00Z")),
        ts("2026-01-01T23:59:59Z"),
        now,
    );
    let rows: Vec<(&str, &str)> = r
        .coverage
        .not_covered
        .iter()
        .map(|n| (n.from.as_str(), n.to.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"),
            ("2026-01-01T03:00:00Z", "2026-01-01T05:00:00Z"),
            ("2026-01-01T06:00:00Z", "2026-01-01T23:59:59Z"),
        ]
    );
    assert_eq!(r.coverage.covered_seconds, 3 * 3600);
    let html = report::render_html(&r);
    assert!(html.contains("<h2 id=\"not-covered\">Not covered</h2>"));
    let compliant: Vec<&str> = r
        .controls
        .iter()
        .filter(|c| c.samples == 3 && c.compliant_samples == 3)
        .map(|c| c.control.as_str())
        .collect();
    assert!(
        !compliant.is_empty(),
        "some sample control passes on an empty cluster"
    );
    for c in r
        .controls
        .iter()
        .filter(|c| compliant.contains(&c.control.as_str()))
    {
        assert_eq!(c.covered_seconds, 3 * 3600);
        assert_eq!(c.compliant_share, Some(1.0));
    }
    let state = |r: &report::Report| -> Vec<(String, Value)> {
        oscal::export(r)["assessment-results"]["results"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["title"].as_str().unwrap().to_string(),
                    f["target"]["status"]["state"].clone(),
                )
            })
            .collect()
    };
    assert!(
        state(&r).iter().all(|(_, s)| s == "not-satisfied"),
        "gaps: nothing is satisfied"
    );
    // Over the stretch the chain covers, the criteria whose controls passed every sample are satisfied.
    let covered = build_at(
        &verified,
        store.uri(),
        Some(ts("2026-01-01T01:00:00Z")),
        ts("2026-01-01T02:59:59Z"),
        now,
    );
    assert!(covered.coverage.complete(), "{:?}", covered.coverage);
    let satisfied: Vec<String> = state(&covered)
        .into_iter()
        .filter(|(_, s)| s == "satisfied")
        .map(|(t, _)| t)
        .collect();
    let expected: Vec<String> = covered
        .criteria
        .iter()
        .filter(|k| k.every_sample_compliant)
        .map(|k| format!("Trust Services Criterion {}", k.criterion))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(satisfied, expected);
    // Without the trusted key nothing is satisfied: anyone with write access could have rewritten the chain.
    let unchecked = build_at(
        &unchecked,
        store.uri(),
        Some(ts("2026-01-01T01:00:00Z")),
        ts("2026-01-01T02:59:59Z"),
        now,
    );
    assert!(state(&unchecked).iter().all(|(_, s)| s == "not-satisfied"));
}

/// Defect 4: two scans in the same second are two snapshots; a scan not later than the head is an error, never a
/// silent success.
#[tokio::test]
async fn same_second_scans_are_two_snapshots_and_a_clock_behind_the_head_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let view = cluster();
    let first = write_scan_snapshot(
        &store,
        &view,
        &controls(),
        ts("2026-12-07T07:54:32.100Z"),
        None,
    )
    .await
    .unwrap();
    let second = write_scan_snapshot(
        &store,
        &view,
        &controls(),
        ts("2026-12-07T07:54:32.700Z"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(first.head().manifest.sequence, 1);
    assert_eq!(second.head().manifest.sequence, 2);
    assert_ne!(
        first.head().manifest.snapshot_id,
        second.head().manifest.snapshot_id
    );
    assert_eq!(second.head().manifest.snapshot_id, "20261207T075432.700Z");
    let behind =
        write_scan_snapshot(&store, &view, &controls(), ts("2026-12-07T07:50:00Z"), None).await;
    match behind {
        Err(e @ SnapshotError::NotAfterHead { .. }) => {
            assert!(e.to_string().contains("nothing was written"), "{e}");
            assert!(e.to_string().contains("clock"), "{e}");
        }
        other => panic!("expected NotAfterHead, got {other:?}"),
    }
    let verified = verified(&store).await;
    assert!(verified.is_intact(), "{:?}", verified.problems);
    assert_eq!(verified.snapshots.len(), 2);
}

/// Defect 5: without trusted keys, a change of signing key, manifests that stop being signed and a rewrite that
/// kept stale signatures are problems; verify prints the head and the key ids and compares a published head.
#[tokio::test]
async fn keyless_verify_tells_the_truth() {
    let view = cluster();
    let a = SigningKey::from_seed(&[1u8; 32]).unwrap();
    let b = SigningKey::from_seed(&[2u8; 32]).unwrap();
    let problems = |dir: &std::path::Path| {
        let dir = dir.to_path_buf();
        async move { super::problems(&fs_store(&dir)).await }
    };

    let two_keys = tempfile::tempdir().unwrap();
    let store = fs_store(two_keys.path());
    snapshot_at(&store, "2026-01-01T00:00:00Z", &view, Some(&a), None).await;
    snapshot_at(&store, "2026-01-01T01:00:00Z", &view, Some(&b), None).await;
    let p = problems(two_keys.path()).await;
    assert!(
        p.iter().any(|p| p.contains("the signing key changed")),
        "{p:?}"
    );

    let unsigned_append = tempfile::tempdir().unwrap();
    let store = fs_store(unsigned_append.path());
    snapshot_at(&store, "2026-01-01T00:00:00Z", &view, Some(&a), None).await;
    snapshot_at(&store, "2026-01-01T01:00:00Z", &view, None, None).await;
    let p = problems(unsigned_append.path()).await;
    assert!(
        p.iter().any(|p| p.contains("stopped being signed")),
        "{p:?}"
    );

    // A consistent forgery of the head: content changed, canonical bytes, old signature kept.
    let stale = tempfile::tempdir().unwrap();
    let store = fs_store(stale.path());
    snapshot_at(&store, "2026-01-01T00:00:00Z", &view, Some(&a), None).await;
    snapshot_at(&store, "2026-01-01T01:00:00Z", &view, Some(&a), None).await;
    assert!(problems(stale.path()).await.is_empty());
    let path = stale.path().join("manifests/000000000002.json");
    let mut m: Manifest = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m.documents[0].verdict = "Compliant".into();
    m.source = "forged".into();
    std::fs::write(&path, m.to_bytes().unwrap()).unwrap();
    let p = problems(stale.path()).await;
    assert!(
        p.iter().any(|p| p.contains("changed after it was signed")),
        "{p:?}"
    );

    // The CLI: head, key ids, the keyless caveat, and a published head that a truncation no longer contains.
    let good = tempfile::tempdir().unwrap();
    let store = fs_store(good.path());
    for t in [
        "2026-01-01T00:00:00Z",
        "2026-01-01T01:00:00Z",
        "2026-01-01T02:00:00Z",
    ] {
        snapshot_at(&store, t, &view, Some(&a), None).await;
    }
    let head = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    let head = head.head().unwrap().clone();
    let dir = good.path().to_str().unwrap();
    let out = soc2ctl(&["verify", dir]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("head: sequence 3, SHA-256 {}", head.digest)),
        "{text}"
    );
    assert!(text.contains(&a.key_id()), "{text}");
    assert!(
        text.contains("only hashes and links were checked")
            && text
                .contains("anyone with write access to the store could have rewritten the chain"),
        "{text}"
    );
    let seq = head.manifest.sequence.to_string();
    let matched = soc2ctl(&[
        "verify",
        dir,
        "--expect-head",
        &head.digest,
        "--expect-sequence",
        &seq,
    ]);
    assert_eq!(matched.status.code(), Some(0));
    std::fs::remove_file(good.path().join("manifests/000000000003.json")).unwrap();
    let truncated = soc2ctl(&["verify", dir]);
    assert_eq!(
        truncated.status.code(),
        Some(0),
        "a truncated chain is intact on its own"
    );
    let by_sequence = soc2ctl(&["verify", dir, "--expect-sequence", &seq]);
    assert_eq!(by_sequence.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&by_sequence.stdout).contains("truncated"));
    let by_digest = soc2ctl(&["verify", dir, "--expect-head", &head.digest]);
    assert_eq!(by_digest.status.code(), Some(1));
    let usage = soc2ctl(&["verify", dir, "--expect-head", "nope"]);
    assert_eq!(usage.status.code(), Some(2));
}

/// Defect 6: windows are measured between ticks, to the second, never inverted, and not flagged when the snapshot
/// interval is shorter than the control's interval (the snapshot evaluated the control).
#[tokio::test]
async fn did_not_run_windows_are_measured_between_ticks() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let view = cluster();
    let controls = controls();
    let ledger = EvaluationLedger::default();
    let mut baseline = OperationBaseline::default();
    let schedule = Schedule::parse(Some("5m"), None).unwrap();
    // Snapshots every 5 minutes, each written 37.8 s after its tick; then an hour with no snapshot and no
    // evaluation by the controller (a stuck controller).
    for tick in [
        "2026-12-07T08:00:00Z",
        "2026-12-07T08:05:00Z",
        "2026-12-07T08:10:00Z",
        "2026-12-07T09:10:00Z",
    ] {
        let tick = ts(tick);
        let evaluated_at = Timestamp::from_millisecond(tick.as_millisecond() + 37_810).unwrap();
        let documents = control_documents_at(
            &snapshot_id(tick),
            &controls,
            tick,
            evaluated_at,
            |_| view.clone(),
            Some(&ledger),
            &mut baseline,
        )
        .unwrap();
        write_snapshot(
            &store,
            SnapshotInput {
                source: "test".into(),
                cluster: identity(),
                tick,
                documents,
                schedule: Some(&schedule),
                gap_reason: None,
                signing_key: None,
                access_reviews: Vec::new(),
            },
        )
        .await
        .unwrap();
    }
    let verified = verified(&store).await;
    let r = build_at(
        &verified,
        store.uri(),
        Some(ts("2026-12-07T08:00:00Z")),
        ts("2026-12-07T09:14:59Z"),
        ts("2026-12-07T10:00:00Z"),
    );
    for c in &r.controls {
        assert_eq!(
            c.not_running.len(),
            1,
            "{}: only the hour without evaluations: {:?}",
            c.control,
            c.not_running
        );
        let w = &c.not_running[0];
        assert_eq!(
            (w.from.as_str(), w.to.as_str()),
            ("2026-12-07T08:10:00Z", "2026-12-07T09:10:00Z")
        );
        assert!(w.reason.contains("every 10m"), "{}", w.reason);
        assert!(
            c.timeline
                .iter()
                .all(|s| s.state != SampleState::NotCovered)
        );
    }
    let md = report::render_markdown(&r);
    assert!(!md.contains(".810"), "timestamps to the second: {md}");
}

fn date_times(v: &Value, out: &mut Vec<(String, String)>, key: &str) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                date_times(v, out, k);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| date_times(v, out, key)),
        Value::String(s)
            if ["last-modified", "collected", "start", "end", "deadline"].contains(&key) =>
        {
            out.push((key.to_string(), s.clone()))
        }
        _ => {}
    }
}

/// Defect 7: nothing in the export is later than its own time; the sample time is `collected`; `import-ap`
/// resolves to a plan in back-matter; a relative store path becomes a file URI with an absolute path.
#[test]
fn oscal_times_plan_and_store_uris_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let ev = dir.path().join("rel");
    let scan = Command::new(env!("CARGO_BIN_EXE_soc2ctl"))
        .current_dir(dir.path())
        .args([
            "scan",
            repo("examples/cluster").to_str().unwrap(),
            "--controls",
            repo("config/samples").to_str().unwrap(),
            "--evidence",
            "rel",
        ])
        .output()
        .unwrap();
    assert_eq!(
        scan.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&scan.stderr)
    );
    let export = Command::new(env!("CARGO_BIN_EXE_soc2ctl"))
        .current_dir(dir.path())
        .args([
            "export",
            "rel",
            "--from",
            "2026-01-01",
            "--to",
            "2099-12-31",
        ])
        .output()
        .unwrap();
    assert_eq!(
        export.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let doc: Value = serde_json::from_slice(&export.stdout).unwrap();
    let ar = &doc["assessment-results"];
    let modified: Timestamp = ar["metadata"]["last-modified"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut times = Vec::new();
    date_times(ar, &mut times, "");
    assert!(!times.is_empty());
    for (key, t) in &times {
        let t: Timestamp = t.parse().unwrap();
        assert!(
            t <= modified,
            "{key} {t} is after the export time {modified}"
        );
    }
    let manifest = super::manifest_json(&ev, 1);
    let taken = manifest["takenAt"].as_str().unwrap();
    for o in ar["results"][0]["observations"].as_array().unwrap() {
        assert_eq!(
            o["collected"].as_str().unwrap(),
            format!("{}Z", &taken[..19])
        );
        let href = o["relevant-evidence"][0]["href"].as_str().unwrap();
        assert!(
            href.starts_with("file:///") && href.ends_with("/rel"),
            "{href}"
        );
    }
    let plan = ar["import-ap"]["href"].as_str().unwrap();
    let uuid = plan.strip_prefix('#').expect("a fragment into back-matter");
    assert!(
        ar["back-matter"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["uuid"] == uuid),
        "{plan}"
    );
}

/// The export validates against NIST's published OSCAL schema (vendored, see `oscal/SOURCE.md`), for a Type II
/// report with exceptions, failing windows and gaps, a Type I report, and an empty period.
#[tokio::test]
async fn oscal_exports_validate_against_the_nist_schema() {
    use crate::oscal_schema::errors;

    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let mut view = cluster();
    view.control_exceptions.extend(
        soc2_operator::scan::load_paths(&[repo("examples/exceptions")])
            .unwrap()
            .snapshot
            .control_exceptions,
    );
    let schedule = hourly();
    for t in [
        "2026-12-01T00:00:00Z",
        "2026-12-01T01:00:00Z",
        "2026-12-01T04:00:00Z",
    ] {
        snapshot_at(&store, t, &view, None, Some(&schedule)).await;
    }
    let verified = verified(&store).await;
    let now = ts("2026-12-07T00:00:00Z");
    let reports = [
        build_at(
            &verified,
            store.uri(),
            Some(ts("2026-11-30T00:00:00Z")),
            ts("2026-12-31T00:00:00Z"),
            now,
        ),
        build_at(
            &verified,
            store.uri(),
            None,
            ts("2026-12-01T02:00:00Z"),
            now,
        ),
        build_at(
            &verified,
            store.uri(),
            Some(ts("2026-01-01T00:00:00Z")),
            ts("2026-01-31T00:00:00Z"),
            now,
        ),
    ];
    assert!(
        reports[0].controls.iter().any(|c| !c.exceptions.is_empty()),
        "the Type II report carries exceptions"
    );
    for r in &reports {
        let errors = errors(&oscal::export(r));
        assert!(
            errors.is_empty(),
            "{} export is not valid OSCAL: {errors:#?}",
            r.kind
        );
    }
    // The validator itself: a document missing what the schema requires is refused.
    let mut broken = oscal::export(&reports[0]);
    broken["assessment-results"]["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("last-modified");
    assert!(!errors(&broken).is_empty());
    let mut broken = oscal::export(&reports[0]);
    broken["assessment-results"]["results"][0]["risks"][0]["unexpected"] = Value::from(1);
    assert!(
        !errors(&broken).is_empty(),
        "unknown properties are refused"
    );
    let mut broken = oscal::export(&reports[0]);
    broken["assessment-results"]["results"][0]["start"] = Value::from("yesterday");
    assert!(!errors(&broken).is_empty(), "date-times are checked");
}

/// Writes one scheduled snapshot of `documents` (already carrying the tick's snapshot id).
async fn write_documents(
    store: &soc2_operator::evidence::EvidenceStoreClient,
    tick: Timestamp,
    documents: Vec<ControlDocument>,
    schedule: &Schedule,
) {
    write_snapshot(
        store,
        SnapshotInput {
            source: "test".into(),
            cluster: identity(),
            tick,
            documents,
            schedule: Some(schedule),
            gap_reason: None,
            signing_key: None,
            access_reviews: Vec::new(),
        },
    )
    .await
    .unwrap();
}

fn documents_at(
    tick: Timestamp,
    view: &soc2_operator::view::ClusterSnapshot,
) -> Vec<ControlDocument> {
    soc2_operator::evidence::collect::control_documents(
        &snapshot_id(tick),
        &controls(),
        tick,
        |_| view.clone(),
        None,
        &mut OperationBaseline::default(),
    )
    .unwrap()
}

/// Review finding: a control that drops out of the snapshots (removed from the controlSelector once it began
/// failing, or deleted) is not compliant for the time it is missing, and its criteria are not satisfied.
#[tokio::test]
async fn a_control_missing_from_later_snapshots_is_reported_as_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let view = soc2_operator::view::ClusterSnapshot::default();
    let schedule = hourly();
    let first = documents_at(ts("2026-01-01T00:00:00Z"), &view);
    let dropped = first[0].control.clone();
    for (i, t) in [
        "2026-01-01T00:00:00Z",
        "2026-01-01T01:00:00Z",
        "2026-01-01T02:00:00Z",
    ]
    .into_iter()
    .enumerate()
    {
        let mut docs = documents_at(ts(t), &view);
        if i > 0 {
            docs.retain(|d| d.control != dropped);
        }
        write_documents(&store, ts(t), docs, &schedule).await;
    }
    let verified = verified(&store).await;
    let r = build_at(
        &verified,
        store.uri(),
        Some(ts("2026-01-01T00:00:00Z")),
        ts("2026-01-01T02:59:59Z"),
        ts("2026-06-01T00:00:00Z"),
    );
    let c = r.controls.iter().find(|c| c.control == dropped).unwrap();
    assert_eq!(c.missing_samples, 2);
    assert_eq!(c.not_running.len(), 1, "{:?}", c.not_running);
    assert_eq!(
        (c.not_running[0].from.as_str(), c.not_running[0].to.as_str()),
        ("2026-01-01T01:00:00Z", "2026-01-01T02:59:59Z")
    );
    assert!(
        c.not_running[0]
            .reason
            .contains("missing from the snapshots")
    );
    for k in r.criteria.iter().filter(|k| k.controls.contains(&dropped)) {
        assert!(!k.every_sample_compliant, "{}", k.criterion);
    }
}

/// Review findings: a renewed exception (same name, new approver, ticket and expiry) is reported as two approvals,
/// and an exception still applied after its expiry makes those samples fail instead of passing silently.
#[tokio::test]
async fn renewed_and_expired_but_applied_exceptions_are_reported_truthfully() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs_store(dir.path());
    let mut view = cluster();
    let exception: ControlException = serde_yaml::from_str(
        &std::fs::read_to_string(repo("examples/exceptions/payments-contractors.yaml")).unwrap(),
    )
    .unwrap();
    let mut active = exception.clone();
    active.spec.expires_at.0 = ts("2026-10-20T00:00:00Z");
    view.control_exceptions.push(Arc::new(active));
    let schedule = hourly();
    let ticks = [
        "2026-10-01T00:00:00Z",
        "2026-10-01T01:00:00Z",
        "2026-10-01T02:00:00Z",
        "2026-10-01T03:00:00Z",
    ];
    for (i, t) in ticks.into_iter().enumerate() {
        let mut docs = documents_at(ts(t), &view);
        for d in &mut docs {
            for e in &mut d.exceptions_applied {
                match i {
                    // Renewed at 01:00 with a new approver and ticket.
                    1 => {
                        e.approved_by = "cfo@example.com".into();
                        e.ticket = "PAY-99".into();
                    }
                    // Applied at 02:00 and 03:00 although it had expired at 01:30 (a controller fault).
                    2 | 3 => e.expires_at = "2026-10-01T01:30:00Z".into(),
                    _ => {}
                }
            }
        }
        write_documents(&store, ts(t), docs, &schedule).await;
    }
    let verified = verified(&store).await;
    let r = build_at(
        &verified,
        store.uri(),
        Some(ts("2026-10-01T00:00:00Z")),
        ts("2026-10-01T03:59:59Z"),
        ts("2026-12-01T00:00:00Z"),
    );
    let mfa = r
        .controls
        .iter()
        .find(|c| c.control == "mfa-backed-privileged-access")
        .unwrap();
    let versions: Vec<(&str, &str)> = mfa
        .exceptions
        .iter()
        .filter(|e| e.name == "payments/contractors-secret-access")
        .map(|e| (e.approved_by.as_str(), e.ticket.as_str()))
        .collect();
    assert_eq!(versions.len(), 3, "{:?}", mfa.exceptions);
    assert!(versions.contains(&("head-of-payments@example.com", "PAY-77")));
    assert!(versions.contains(&("cfo@example.com", "PAY-99")));
    let expired = mfa
        .exceptions
        .iter()
        .find(|e| !e.applied_after_expiry.is_empty())
        .expect("the exception applied after its expiry");
    assert_eq!(
        expired.applied_after_expiry,
        ["2026-10-01T02:00:00Z", "2026-10-01T03:00:00Z"]
    );
    assert!(
        expired
            .after_expiry
            .as_deref()
            .unwrap()
            .contains("counted failing"),
        "{:?}",
        expired.after_expiry
    );
    for cell in &mfa.timeline[2..] {
        assert_eq!(cell.state, SampleState::Failing, "{cell:?}");
        assert!(cell.verdict.contains("expired exception"), "{cell:?}");
    }
}

/// Review findings: read-only commands never create a store, an empty store is not "intact", a format 2 manifest
/// whose signature lost its public key is a forgery, a manifest from the future is named, and a sequence of 0 is
/// refused.
#[tokio::test]
async fn verify_refuses_what_it_cannot_vouch_for() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo");
    let out = soc2ctl(&["verify", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    assert!(!missing.exists(), "verify created the store");
    let report = soc2ctl(&["report", missing.to_str().unwrap(), "-f", "md"]);
    assert_eq!(report.status.code(), Some(2));
    assert!(!missing.exists());

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = soc2ctl(&["verify", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("EMPTY"));

    let chain = dir.path().join("chain");
    let store = fs_store(&chain);
    let key = SigningKey::from_seed(&[3u8; 32]).unwrap();
    let view = cluster();
    snapshot_at(&store, "2026-01-01T00:00:00Z", &view, Some(&key), None).await;
    snapshot_at(&store, "2026-01-01T01:00:00Z", &view, Some(&key), None).await;
    let head = chain.join("manifests/000000000002.json");
    let mut m: Manifest = serde_json::from_slice(&std::fs::read(&head).unwrap()).unwrap();
    m.documents[0].verdict = "Compliant".into();
    if let Some(sig) = m.signature.as_mut() {
        sig.public_key = None;
    }
    std::fs::write(&head, m.to_bytes().unwrap()).unwrap();
    let p = super::problems(&store).await;
    assert!(
        p.iter().any(|p| p.contains("must carry its public key")),
        "{p:?}"
    );

    let future = dir.path().join("future");
    let store = fs_store(&future);
    snapshot_at(&store, "2099-01-01T00:00:00Z", &view, None, None).await;
    let p = super::problems(&store).await;
    assert!(p.iter().any(|p| p.contains("in the future")), "{p:?}");

    let zero = soc2ctl(&["verify", chain.to_str().unwrap(), "--expect-sequence", "0"]);
    assert_eq!(zero.status.code(), Some(2));
}
