//! What an auditor reads of periodic access reviews (CC6.2, CC6.3): the report's "Access reviews" section in
//! Markdown, JSON and HTML, `soc2ctl access-review` (the sample file) in each format with its exit codes, the OSCAL
//! observations, and the commands of docs/evidence.md's "Access reviews for auditors" run as written.
//!
//! The fixture is a signed chain with three cycles, written as the operator writes them (populations as
//! content-addressed objects, records listed by every snapshot):
//! - `privileged` 20261001T000000Z: completed on time; bob revoked (carried out between the first and the second
//!   snapshot), an unauthenticated decision ignored, a `<script>` comment and a spreadsheet formula as comments;
//! - `privileged` 20261101T000000Z: overdue, never completed (carol, new since the baseline, undecided);
//! - `service-accounts` 20261001T000000Z: completed two days late (the same cycle id as the first).

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use soc2_operator::engine::canonical::{sha256_hex, to_canonical_json};
use soc2_operator::evidence::access_review::{CycleRecord, PopulationDocument};
use soc2_operator::evidence::manifest::document_path;
use soc2_operator::evidence::report::access_reviews::{COMPLETED, COMPLETED_LATE, OVERDUE};
use soc2_operator::evidence::report::{Report, build_at, render_html, render_markdown};
use soc2_operator::evidence::snapshot::{SnapshotInput, write_snapshot};
use soc2_operator::evidence::{
    ClusterIdentity, EvidenceStoreClient, SigningKey, StoreLocation, VerifyingKeys, oscal,
    verify_chain,
};

const SEED: [u8; 32] = [7; 32];
const SCRIPT: &str = "<script>alert('x')</script>";
const FORMULA: &str = "=HYPERLINK(\"http://evil.example\",\"ok\")";

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn admin(user: &str) -> Value {
    json!({
        "subject": {"kind": "User", "name": user},
        "grants": [{
            "binding": {"kind": "ClusterRoleBinding", "name": format!("{user}-admin")},
            "roleKind": "ClusterRole", "roleName": "cluster-admin", "rules": [],
            "privileged": ["administrative rights"],
        }],
        "privileged": ["administrative rights"],
    })
}

fn deployer() -> Value {
    json!({
        "subject": {"kind": "ServiceAccount", "namespace": "ci", "name": "deployer"},
        "grants": [{
            "binding": {"kind": "RoleBinding", "namespace": "ci", "name": "deployer-edit"},
            "roleKind": "ClusterRole", "roleName": "edit", "namespace": "ci", "rules": [],
        }],
    })
}

fn population(
    review: &str,
    cycle: &str,
    opened: &str,
    due: &str,
    subjects: Vec<Value>,
    extra: Value,
) -> PopulationDocument {
    let mut doc = json!({
        "formatVersion": 3, "kind": "AccessReviewPopulation", "accessReview": review,
        "title": format!("Review {review}"), "cycle": cycle, "opened": opened, "due": due,
        "spec": {}, "population": {"subjects": subjects},
    });
    doc.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::from_value(doc).unwrap()
}

fn decided(verdict: &str, reviewer: &str, at: &str, comment: &str, name: &str) -> Value {
    json!({
        "verdict": verdict, "comment": comment, "decision": name, "reviewer": reviewer,
        "authenticated": {"username": reviewer, "uid": format!("{reviewer}-uid"), "groups": ["oidc:security"]},
        "decidedAt": at,
    })
}

fn record(pop: &PopulationDocument, digest: &str, tally: Value) -> CycleRecord {
    serde_json::from_value(json!({
        "formatVersion": 3, "kind": "AccessReviewCycle", "accessReview": pop.access_review,
        "title": pop.title, "cycle": pop.cycle, "opened": pop.opened, "due": pop.due,
        "populationDigest": digest, "subjects": pop.population.subjects.len(), "tally": tally,
    }))
    .unwrap()
}

async fn put_population(store: &EvidenceStoreClient, doc: &PopulationDocument) -> String {
    let bytes = to_canonical_json(doc).unwrap();
    let digest = sha256_hex(&bytes);
    store.create(&document_path(&digest), bytes).await.unwrap();
    digest
}

/// The fixture chain in `dir/evidence`, signed; `dir/evidence.pub` holds its public key. Returns the store and
/// the digest of the first cycle's population.
async fn chain(dir: &Path) -> (EvidenceStoreClient, String) {
    let path = dir.join("evidence");
    std::fs::create_dir_all(&path).unwrap();
    let key = SigningKey::from_seed(&SEED).unwrap();
    std::fs::write(dir.join("evidence.pub"), key.public_key_hex()).unwrap();
    let store = EvidenceStoreClient::connect(&StoreLocation::Filesystem(path)).unwrap();

    let q4 = population(
        "privileged",
        "20261001T000000Z",
        "2026-10-01T00:00:00Z",
        "2026-10-15T00:00:00Z",
        vec![admin("alice"), admin("bob"), deployer()],
        json!({}),
    );
    let q4_digest = put_population(&store, &q4).await;
    let nov = population(
        "privileged",
        "20261101T000000Z",
        "2026-11-01T00:00:00Z",
        "2026-11-15T00:00:00Z",
        vec![admin("alice"), admin("carol"), deployer()],
        json!({
            "baseline": {"cycle": "20261001T000000Z", "populationDigest": q4_digest},
            "changes": [
                {"subject": {"kind": "User", "name": "bob"}, "kind": "AccessRemoved", "gainedPrivilege": false,
                 "details": ["no longer ClusterRoleBinding bob-admin -> ClusterRole cluster-admin"]},
                {"subject": {"kind": "User", "name": "carol"}, "kind": "NewSubject", "gainedPrivilege": true,
                 "details": ["ClusterRoleBinding carol-admin -> ClusterRole cluster-admin"]},
            ],
        }),
    );
    let nov_digest = put_population(&store, &nov).await;
    let sa = population(
        "service-accounts",
        "20261001T000000Z",
        "2026-10-01T00:00:00Z",
        "2026-10-08T00:00:00Z",
        vec![deployer()],
        json!({}),
    );
    let sa_digest = put_population(&store, &sa).await;

    let q4_decisions = json!([
        {"name": "mallory-q4", "counted": 0, "ignored": [
            "not authenticated: spec.authenticated does not name the reviewer \"mallory\", so the decision was not admitted by the operator's webhook"
        ]},
        {"name": "erin-q4", "counted": 3},
    ]);
    let q4_outcomes = |bob_carried_out: Option<&str>| {
        let mut bob = json!({
            "subject": {"kind": "User", "name": "bob"}, "privileged": ["administrative rights"],
            "decision": decided("Revoke", "erin", "2026-10-03T10:00:00Z", "left the team", "erin-q4"),
        });
        if let Some(t) = bob_carried_out {
            bob["carriedOut"] = json!(t);
        }
        json!([
            {"subject": {"kind": "User", "name": "alice"}, "privileged": ["administrative rights"],
             "decision": decided("Keep", "erin", "2026-10-03T10:00:00Z", &format!("on call SRE {SCRIPT}"), "erin-q4")},
            bob,
            {"subject": {"kind": "ServiceAccount", "namespace": "ci", "name": "deployer"},
             "decision": decided("Keep", "erin", "2026-10-03T10:00:00Z", FORMULA, "erin-q4")},
        ])
    };
    let q4_then = record(
        &q4,
        &q4_digest,
        json!({"outcomes": q4_outcomes(None), "decisions": q4_decisions,
               "completed": "2026-10-03T10:00:00Z", "overdue": false}),
    );
    let q4_now = record(
        &q4,
        &q4_digest,
        json!({"outcomes": q4_outcomes(Some("2026-10-04T08:00:00Z")), "decisions": q4_decisions,
               "completed": "2026-10-03T10:00:00Z", "overdue": false}),
    );
    let sa_outcome = |decision: Option<Value>| {
        let mut o =
            json!({"subject": {"kind": "ServiceAccount", "namespace": "ci", "name": "deployer"}});
        if let Some(d) = decision {
            o["decision"] = d;
        }
        json!([o])
    };
    let sa_open = record(
        &sa,
        &sa_digest,
        json!({"outcomes": sa_outcome(None), "decisions": [], "overdue": false}),
    );
    let sa_late = record(
        &sa,
        &sa_digest,
        json!({"outcomes": sa_outcome(Some(decided("Keep", "frank", "2026-10-10T00:00:00Z", "still deploys", "frank-sa"))),
               "decisions": [{"name": "frank-sa", "counted": 1}],
               "completed": "2026-10-10T00:00:00Z", "overdue": false}),
    );
    let nov_overdue = record(
        &nov,
        &nov_digest,
        json!({"outcomes": [
                  {"subject": {"kind": "User", "name": "alice"}, "privileged": ["administrative rights"],
                   "decision": decided("Keep", "erin", "2026-11-02T09:00:00Z", "still on call", "erin-nov")},
                  {"subject": {"kind": "User", "name": "carol"}, "privileged": ["administrative rights"]},
                  {"subject": {"kind": "ServiceAccount", "namespace": "ci", "name": "deployer"}},
               ],
               "decisions": [{"name": "erin-nov", "counted": 1}], "overdue": true}),
    );

    for (tick, records) in [
        ("2026-10-05T00:00:00Z", vec![q4_then, sa_open]),
        ("2026-10-12T00:00:00Z", vec![q4_now.clone(), sa_late]),
        ("2026-11-20T00:00:00Z", vec![nov_overdue]),
    ] {
        write_snapshot(
            &store,
            SnapshotInput {
                source: "EvidenceStore/audit".into(),
                cluster: ClusterIdentity {
                    uid: "ks-uid".into(),
                    server_version: "v1.33.1".into(),
                },
                tick: ts(tick),
                documents: Vec::new(),
                schedule: None,
                gap_reason: None,
                signing_key: Some(&key),
                access_reviews: records,
            },
        )
        .await
        .unwrap();
    }
    (store, q4_digest)
}

/// The report over the fixture's period as of 2026-12-07, from a chain that verifies (`intact`) or not.
async fn period_report(store: &EvidenceStoreClient, intact: bool) -> Report {
    let verified = verify_chain(store, &trusted(), |_, _| {}).await.unwrap();
    assert_eq!(verified.is_intact(), intact, "{:?}", verified.problems);
    build_at(
        &verified,
        store.uri(),
        Some(ts("2026-09-01T00:00:00Z")),
        ts("2026-11-30T23:59:59Z"),
        ts("2026-12-07T00:00:00Z"),
    )
}

fn trusted() -> VerifyingKeys {
    let mut keys = VerifyingKeys::default();
    keys.add(
        SigningKey::from_seed(&SEED)
            .unwrap()
            .public_key_hex()
            .as_bytes(),
    )
    .unwrap();
    keys
}

/// `access-review evidence --review privileged --cycle 20261001T000000Z`, then `extra`.
fn q4_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "access-review",
        "evidence",
        "--review",
        "privileged",
        "--cycle",
        "20261001T000000Z",
    ];
    args.extend_from_slice(extra);
    args
}

fn soc2ctl(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_soc2ctl"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_report_shows_each_cycle_as_its_latest_record_in_the_period() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = chain(dir.path()).await;
    let verified = verify_chain(&store, &trusted(), |_, _| {}).await.unwrap();
    assert!(verified.is_intact(), "{:?}", verified.problems);
    let r = build_at(
        &verified,
        store.uri(),
        Some(ts("2026-09-01T00:00:00Z")),
        ts("2026-11-30T23:59:59Z"),
        ts("2026-12-07T00:00:00Z"),
    );

    // JSON: every cycle, by review then cycle, in its state.
    let json = serde_json::to_value(&r).unwrap();
    let cycles = json["accessReviews"].as_array().unwrap();
    let states: Vec<(&str, &str, &str)> = cycles
        .iter()
        .map(|c| {
            (
                c["accessReview"].as_str().unwrap(),
                c["cycle"].as_str().unwrap(),
                c["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("privileged", "20261001T000000Z", COMPLETED),
            ("privileged", "20261101T000000Z", OVERDUE),
            ("service-accounts", "20261001T000000Z", COMPLETED_LATE),
        ]
    );
    let q4 = &cycles[0];
    assert_eq!(q4["population"]["subjects"], 3);
    assert_eq!(q4["population"]["privileged"], 2);
    assert_eq!(q4["asOf"], "2026-10-12T00:00:00Z", "the latest record");
    assert_eq!(q4["lastListedSequence"], 2);
    assert_eq!(q4["decisions"].as_array().unwrap().len(), 3);
    let alice = &q4["decisions"][0];
    assert_eq!(alice["authenticatedUser"], "erin");
    assert_eq!(alice["authenticatedGroups"], json!(["oidc:security"]));
    assert_eq!(alice["decidedAt"], "2026-10-03T10:00:00Z");
    assert_eq!(alice["verdict"], "Keep");
    assert_eq!(q4["revocations"][0]["subject"], "User bob");
    assert_eq!(q4["revocations"][0]["carriedOut"], "2026-10-04T08:00:00Z");
    assert!(
        q4["revocations"][0]["status"]
            .as_str()
            .unwrap()
            .contains("22h after the decision"),
        "{}",
        q4["revocations"][0]
    );
    assert_eq!(q4["ignored"][0]["decision"], "mallory-q4");
    assert!(
        q4["ignored"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("not authenticated")
    );
    let nov = &cycles[1];
    assert_eq!(nov["lateBy"], "5days");
    assert_eq!(
        nov["undecided"],
        json!(["User carol", "ServiceAccount ci/deployer"])
    );
    assert_eq!(nov["population"]["baseline"], "20261001T000000Z");
    assert_eq!(
        (
            &nov["population"]["newSubjects"],
            &nov["population"]["removed"]
        ),
        (&json!(1), &json!(1))
    );
    let late = &cycles[2];
    assert_eq!(late["completed"], "2026-10-10T00:00:00Z");
    assert_eq!(late["lateBy"], "2days");
    assert!(
        r.summary.contains(
            "3 access review cycle(s): 1 completed on time, 1 completed late, 1 overdue (never completed)"
        ),
        "{}",
        r.summary
    );

    // Markdown: an overdue cycle and a late one read differently.
    let md = render_markdown(&r);
    let section = &md[md.find("## Access reviews").expect("the section")..];
    assert!(section.contains("### privileged cycle 20261001T000000Z — Review privileged"));
    assert!(
        section.contains(
            "- State: Completed on time at 2026-10-03T10:00:00Z (due 2026-10-15T00:00:00Z)"
        )
    );
    assert!(section.contains(
        "- State: OVERDUE, never completed: due 2026-11-15T00:00:00Z, 5days past due with 2 subject(s) undecided"
    ));
    assert!(section.contains(
        "- State: Completed LATE at 2026-10-10T00:00:00Z, 2days after its due date 2026-10-08T00:00:00Z"
    ));
    assert!(section.contains(
        "- Population: 3 subject(s), 2 with privileged access; since no baseline (first cycle)"
    ));
    assert!(section.contains("  - NewSubject User carol (gained privilege)"));
    assert!(section.contains(
        "| User alice | Keep | erin | erin (oidc:security) | 2026-10-03T10:00:00Z | on call SRE \
         &lt;script&gt;alert('x')&lt;/script&gt; |"
    ));
    assert!(
        !section.contains("<script"),
        "Markdown renderers pass HTML through"
    );
    assert!(
        section
            .contains("- User bob: carried out at 2026-10-04T08:00:00Z (22h after the decision)")
    );
    assert!(section.contains("- mallory-q4: not authenticated"));

    // HTML: the section is there and every string from the evidence is escaped.
    let html = render_html(&r);
    let section = &html[html.find("id=\"access-reviews\"").expect("the section")..];
    assert_eq!(section.matches("<section class=\"cycle\"").count(), 3);
    assert!(section.contains("data-state=\"Overdue\""));
    assert!(section.contains("data-state=\"Completed late\""));
    assert!(
        !html.contains("<script"),
        "a comment reached the page as markup"
    );
    assert!(html.contains("on call SRE &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(section.contains("carried out at 2026-10-04T08:00:00Z"));

    // A Type I report on the first snapshot shows the revocation as it stood then.
    let first = build_at(
        &verified,
        store.uri(),
        None,
        ts("2026-10-06T00:00:00Z"),
        ts("2026-12-07T00:00:00Z"),
    );
    assert_eq!(first.access_reviews.len(), 2);
    assert!(first.access_reviews[0].revocations[0].carried_out.is_none());
    assert_eq!(first.access_reviews[1].state, "Open");
}

#[tokio::test]
async fn a_cycle_whose_population_is_unreadable_is_listed_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (store, q4_digest) = chain(dir.path()).await;
    std::fs::remove_file(dir.path().join("evidence").join(document_path(&q4_digest))).unwrap();
    let r = period_report(&store, false).await;
    let q4 = &r.access_reviews[0];
    assert_eq!(q4.cycle, "20261001T000000Z");
    assert!(q4.population.is_none());
    assert!(
        q4.notes[0].contains("is missing or does not match its digest"),
        "{:?}",
        q4.notes
    );
    assert!(!q4.in_order());
    assert!(render_markdown(&r).contains("- Population: UNREADABLE"));
    assert!(render_html(&r).contains("UNREADABLE: who was in scope cannot be shown"));
}

/// The last record of a cycle cannot be read: the cycle is shown as of the newest readable record, and says so.
#[tokio::test]
async fn an_unreadable_latest_record_falls_back_to_the_previous_one_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = chain(dir.path()).await;
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("evidence/manifests/000000000002.json")).unwrap(),
    )
    .unwrap();
    let record = manifest["accessReviews"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["accessReview"] == "privileged")
        .unwrap()["record"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_file(dir.path().join("evidence").join(record)).unwrap();
    let r = period_report(&store, false).await;
    let q4 = &r.access_reviews[0];
    assert_eq!(q4.state, COMPLETED);
    assert_eq!(q4.as_of.as_deref(), Some("2026-10-05T00:00:00Z"));
    assert_eq!(q4.last_listed_sequence, 2);
    assert!(
        q4.notes[0].contains("the record listed by the last snapshot (sequence 2) cannot be read"),
        "{:?}",
        q4.notes
    );
    assert!(
        q4.revocations[0].status.contains("within the grace period"),
        "{:?}",
        q4.revocations
    );
    assert!(!q4.in_order());
}

#[tokio::test]
async fn access_review_command_lists_cycles_and_writes_each_format() {
    let dir = tempfile::tempdir().unwrap();
    chain(dir.path()).await;
    let d = dir.path();
    let key = ["--public-key", "evidence.pub"];

    // Without --cycle: the cycles to pick from.
    let (code, out, err) = soc2ctl(d, &["access-review", "evidence", key[0], key[1]]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("CYCLE"), "{out}");
    assert!(
        lines.iter().any(|l| l.starts_with("20261101T000000Z")
            && l.contains("privileged")
            && l.contains("Overdue")),
        "{out}"
    );
    assert_eq!(lines.len(), 4, "{out}");
    let (code, out, _) = soc2ctl(d, &["access-review", "evidence", "-f", "json"]);
    assert_eq!(code, Some(0));
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[2]["accessReview"], "service-accounts");
    assert_eq!(list[2]["state"], "Completed late");
    assert_eq!(
        (list[1]["subjects"].as_u64(), list[1]["decided"].as_u64()),
        (Some(3), Some(1))
    );

    // Two reviews have cycle 20261001T000000Z: --review picks one.
    let (code, out, err) = soc2ctl(
        d,
        &["access-review", "evidence", "--cycle", "20261001T000000Z"],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(
        err.contains("exists in several access reviews (privileged, service-accounts); pick one with --review"),
        "{err}"
    );
    // An unknown cycle names the cycles there are.
    let (code, out, err) = soc2ctl(
        d,
        &["access-review", "evidence", "--cycle", "20250101T000000Z"],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(
        err.contains("no access review cycle \"20250101T000000Z\" in the evidence of the period; cycles found: \
                      20261001T000000Z (privileged), 20261101T000000Z (privileged)"),
        "{err}"
    );

    // CSV: one row per subject, decisions, revocations, the chain's integrity on every row.
    let (code, csv, err) = soc2ctl(d, &q4_args(&key));
    assert_eq!(code, Some(0), "{err}");
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(rows[0].starts_with(
        "access_review,cycle,cycle_state,subject_kind,namespace,name,privileged,grants,"
    ));
    assert_eq!(
        rows[2],
        "privileged,20261001T000000Z,Completed,User,,bob,administrative rights,ClusterRoleBinding bob-admin -> \
         ClusterRole cluster-admin (cluster-wide),,Revoke,erin,erin,erin-uid,oidc:security,2026-10-03T10:00:00Z,\
         left the team,erin-q4,2026-10-04T08:00:00Z,,\"intact, signatures checked\""
    );
    assert!(
        rows[3].starts_with(
            "privileged,20261001T000000Z,Completed,ServiceAccount,ci,deployer,,RoleBinding ci/deployer-edit -> \
             ClusterRole edit (ci),,Keep,"
        ),
        "{}",
        rows[3]
    );
    assert!(
        rows[3].contains(",\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"ok\"\")\","),
        "a formula in a comment is neutralised: {}",
        rows[3]
    );
    // `latest` of a review, and the overdue cycle's undecided subjects.
    let (code, csv, _) = soc2ctl(
        d,
        &[
            "access-review",
            "evidence",
            "--review",
            "privileged",
            "--cycle",
            "latest",
            "-f",
            "csv",
        ],
    );
    assert_eq!(code, Some(0));
    assert!(csv.contains("privileged,20261101T000000Z,Overdue,User,,carol,administrative rights,"));
    assert!(csv.contains(",NewSubject,undecided,"), "{csv}");
    assert!(csv.contains(",\"intact, signatures NOT checked against a trusted key\"\r\n"));

    // JSON and HTML of the same cycle.
    let (code, out, _) = soc2ctl(d, &q4_args(&["-f", "json"]));
    assert_eq!(code, Some(0));
    let sample: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sample["cycle"]["state"], "Completed");
    assert_eq!(sample["rows"].as_array().unwrap().len(), 3);
    assert_eq!(
        sample["rows"][0]["comment"],
        format!("on call SRE {SCRIPT}")
    );
    assert_eq!(sample["chain"]["intact"], true);
    let (code, html, _) = soc2ctl(d, &q4_args(&["-f", "html", "-o", "cycle.html"]));
    assert_eq!((code, html.as_str()), (Some(0), ""));
    let html = std::fs::read_to_string(d.join("cycle.html")).unwrap();
    assert!(
        !html.contains("<script"),
        "a comment reached the page as markup"
    );
    assert!(html.contains("on call SRE &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(html.matches("<tr><td>").count() >= 3);
    assert!(
        html.contains(
            "ClusterRoleBinding bob-admin -&gt; ClusterRole cluster-admin (cluster-wide)"
        )
    );
}

#[tokio::test]
async fn access_review_command_flags_a_broken_chain_as_report_does() {
    let dir = tempfile::tempdir().unwrap();
    let (_, q4_digest) = chain(dir.path()).await;
    let d = dir.path();
    let object = d.join("evidence").join(document_path(&q4_digest));
    let edited = std::fs::read_to_string(&object)
        .unwrap()
        .replace("\"bob\"", "\"eve\"");
    std::fs::write(&object, edited).unwrap();

    let (code, csv, err) = soc2ctl(d, &q4_args(&["--public-key", "evidence.pub"]));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("the evidence is TAMPERED"), "{err}");
    let (report_code, _, _) = soc2ctl(
        d,
        &[
            "report",
            "evidence",
            "--public-key",
            "evidence.pub",
            "-f",
            "json",
        ],
    );
    assert_eq!(report_code, code, "the same exit code as report");
    let rows: Vec<&str> = csv
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .skip(1)
        .collect();
    // The altered population is not used: the record still names every subject, without grants.
    assert_eq!(rows.len(), 3, "{csv}");
    for row in &rows {
        assert!(
            row.contains("unknown: the population cannot be read"),
            "{row}"
        );
        assert!(
            row.contains(",\"TAMPERED: 1 broken object(s); first: "),
            "{row}"
        );
    }
    let (code, html, _) = soc2ctl(d, &q4_args(&["-f", "html"]));
    assert_eq!(code, Some(1));
    assert!(html.contains("<div class=\"box bad\" id=\"integrity\">"));
    assert!(html.contains("the population was altered"));
    let (code, out, _) = soc2ctl(d, &["access-review", "evidence"]);
    assert_eq!(code, Some(1), "the list says the same: {out}");

    // An unreadable store and a missing directory: 2.
    let (code, _, err) = soc2ctl(d, &["access-review", "no-such-dir", "--cycle", "latest"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("does not exist"), "{err}");
}

#[tokio::test]
async fn each_cycle_is_an_oscal_observation_under_cc6_2_and_cc6_3() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = chain(dir.path()).await;
    let verified = verify_chain(&store, &trusted(), |_, _| {}).await.unwrap();
    let now = ts("2026-12-07T00:00:00Z");
    let all = build_at(
        &verified,
        store.uri(),
        Some(ts("2026-09-01T00:00:00Z")),
        ts("2026-11-30T23:59:59Z"),
        now,
    );
    let october = build_at(
        &verified,
        store.uri(),
        Some(ts("2026-10-11T00:00:00Z")),
        ts("2026-10-31T23:59:59Z"),
        now,
    );
    for r in [&all, &october] {
        let doc = oscal::export(r);
        let errors = crate::oscal_schema::errors(&doc);
        assert!(errors.is_empty(), "not valid OSCAL: {errors:#?}");
        let modified: Timestamp = doc["assessment-results"]["metadata"]["last-modified"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let result = &doc["assessment-results"]["results"][0];
        let observations: Vec<&Value> = result["observations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["title"].as_str().unwrap().starts_with("Access review "))
            .collect();
        assert_eq!(observations.len(), r.access_reviews.len());
        for o in &observations {
            let collected: Timestamp = o["collected"].as_str().unwrap().parse().unwrap();
            assert!(collected <= modified);
            let evidence = o["relevant-evidence"].as_array().unwrap();
            assert_eq!(evidence.len(), 2);
            for e in evidence {
                let href = e["href"].as_str().unwrap();
                assert!(
                    href.starts_with("file:///") && href.contains("/evidence/objects/"),
                    "{href}"
                );
                let sha = href.rsplit('/').next().unwrap().trim_end_matches(".json");
                assert!(e["description"].as_str().unwrap().contains(sha));
            }
        }
        for criterion in ["cc6.2", "cc6.3"] {
            let finding = result["findings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["target"]["target-id"] == criterion)
                .unwrap_or_else(|| panic!("a finding for {criterion}"));
            let related = finding["related-observations"].as_array().unwrap();
            for o in &observations {
                assert!(related.iter().any(|r| r["observation-uuid"] == o["uuid"]));
            }
            let expected = if r.access_reviews.iter().all(|c| c.in_order()) {
                "satisfied"
            } else {
                "not-satisfied"
            };
            assert_eq!(finding["target"]["status"]["state"], expected, "{finding}");
        }
    }
    let overdue = oscal::export(&all);
    let titles: Vec<&str> = overdue["assessment-results"]["results"][0]["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&"Access review privileged cycle 20261101T000000Z: Overdue"),
        "{titles:?}"
    );
    // October alone: the privileged cycle completed on time, the service accounts' one late: not satisfied.
    assert_eq!(october.access_reviews.len(), 2);
}

/// The commands of docs/evidence.md's "Access reviews for auditors", run as written (soc2ctl standing for the
/// built binary) in a directory holding the fixture chain as `evidence/` and its key as `evidence.pub`.
#[tokio::test]
async fn the_documented_access_review_commands_run_as_written() {
    let dir = tempfile::tempdir().unwrap();
    chain(dir.path()).await;
    let doc = std::fs::read_to_string(repo("docs/evidence.md")).unwrap();
    let section = &doc[doc
        .find("## Access reviews for auditors")
        .expect("docs/evidence.md has the section")..];
    let section = match section[3..].find("\n## ") {
        Some(end) => &section[..end + 3],
        None => section,
    };
    let mut commands = Vec::new();
    let mut in_block = false;
    for line in section.lines() {
        match line.trim() {
            "```sh" => in_block = true,
            "```" => in_block = false,
            l if in_block && l.starts_with("soc2ctl ") => commands.push(l.to_string()),
            _ => {}
        }
    }
    assert!(commands.len() >= 4, "{commands:?}");
    for command in &commands {
        let args = shell_words(command.strip_prefix("soc2ctl ").unwrap());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = soc2ctl(dir.path(), &args);
        assert_eq!(code, Some(0), "`{command}`: {err}\n{out}");
    }
    assert!(dir.path().join("sample.csv").exists());
    assert!(dir.path().join("cycle.html").exists());
}

/// Words of a command line as a shell splits them (no quoting is used in the documented commands).
fn shell_words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}
