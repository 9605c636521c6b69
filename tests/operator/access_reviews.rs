//! The access review controller against a scripted API server and hand-fed watches: a cycle opens with its
//! population in the evidence store, decisions are counted into the review's status and their own, a revocation is
//! seen carried out when the binding goes, and the cycle's population and record land in the chain, where
//! `verify` checks them and catches an edited population.

use std::sync::Arc;

use http::{Method, StatusCode};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::core::DeserializeGuard;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector;
use kube::runtime::watcher;
use serde_json::{Value, json};
use soc2_operator::api::{AccessReview, AccessReviewDecision, AccessReviewStatus, ListedSubjects};
use soc2_operator::controller::access_reviews::records::CycleRecords;
use soc2_operator::controller::access_reviews::{AccessReviewContext, reconcile};
use soc2_operator::evidence::access_review::PopulationDocument;
use soc2_operator::evidence::snapshot::{SnapshotInput, write_snapshot};
use soc2_operator::evidence::{
    ClusterIdentity, EvidenceStoreClient, StoreLocation, VerifyingKeys, verify_chain,
};
use soc2_operator::runtime::leader::Leadership;
use soc2_operator::view::ClusterSnapshot;
use soc2_operator::view::live::LiveView;

use crate::support::mock_api::{EVENTS, Recorded, status_failure, with_server};

const REVIEWS: &str = "/apis/soc2.dev/v1alpha1/accessreviews";
const DECISIONS: &str = "/apis/soc2.dev/v1alpha1/accessreviewdecisions";
const STORES: &str = "/apis/soc2.dev/v1alpha1/evidencestores";

fn review(status: Option<&AccessReviewStatus>) -> AccessReview {
    let mut review: AccessReview = serde_json::from_value(json!({
        "apiVersion": "soc2.dev/v1alpha1",
        "kind": "AccessReview",
        "metadata": {"name": "privileged", "uid": "ar-uid", "generation": 1},
        "spec": {
            "title": "Quarterly review of privileged access",
            "schedule": {"interval": "2160h"},
            "subjects": {"privilegedOnly": true},
            "reviewers": {"groups": ["oidc:security"]},
            "dueWithin": "336h",
            "revocationGracePeriod": "72h",
        },
    }))
    .unwrap();
    review.status = status.cloned();
    review
}

fn store_object(path: &str) -> Value {
    json!({
        "apiVersion": "soc2.dev/v1alpha1",
        "kind": "EvidenceStore",
        "metadata": {"name": "audit"},
        "spec": {"filesystem": {"path": path}, "schedule": {"interval": "1h"}},
    })
}

fn admin_binding(name: &str, user: &str) -> Arc<ClusterRoleBinding> {
    Arc::new(ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "cluster-admin".into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: user.into(),
            ..Default::default()
        }]),
    })
}

fn cluster(bindings: Vec<Arc<ClusterRoleBinding>>) -> ClusterSnapshot {
    ClusterSnapshot {
        cluster_roles: vec![Arc::new(ClusterRole {
            metadata: ObjectMeta {
                name: Some("cluster-admin".into()),
                ..Default::default()
            },
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec!["*".into()]),
                resources: Some(vec!["*".into()]),
                verbs: vec!["*".into()],
                ..Default::default()
            }]),
            ..Default::default()
        })],
        cluster_role_bindings: bindings,
        ..Default::default()
    }
}

fn decision(cycle: &str, items: Value, authenticated: Option<Value>) -> AccessReviewDecision {
    let mut spec = json!({
        "accessReview": "privileged",
        "cycle": cycle,
        "reviewer": "erin",
        "decisions": items,
    });
    if let Some(a) = authenticated {
        spec["authenticated"] = a;
    }
    serde_json::from_value(json!({
        "apiVersion": "soc2.dev/v1alpha1",
        "kind": "AccessReviewDecision",
        "metadata": {"name": "erin-q4", "uid": "d-uid", "generation": 1,
                     "creationTimestamp": Timestamp::now().to_string()},
        "spec": spec,
    }))
    .unwrap()
}

/// Answers like an API server; status patches are echoed.
fn answer(store_path: String) -> impl FnMut(&Recorded) -> (StatusCode, Value) {
    move |r| match (&r.method, r.path.as_str()) {
        (&Method::GET, STORES) => (
            StatusCode::OK,
            json!({"apiVersion": "soc2.dev/v1alpha1", "kind": "EvidenceStoreList", "metadata": {},
                   "items": [store_object(&store_path)]}),
        ),
        (&Method::GET, p) if p == format!("{STORES}/audit") => {
            (StatusCode::OK, store_object(&store_path))
        }
        (&Method::PATCH, p) if p == format!("{REVIEWS}/privileged/status") => {
            let mut obj = serde_json::to_value(review(None)).unwrap();
            obj["status"] = r.body["status"].clone();
            (StatusCode::OK, obj)
        }
        (&Method::PATCH, p) if p == format!("{DECISIONS}/erin-q4/status") => {
            let mut obj = serde_json::to_value(decision("x", json!([]), None)).unwrap();
            obj["status"] = r.body["status"].clone();
            (StatusCode::OK, obj)
        }
        (&Method::POST, EVENTS) => (StatusCode::CREATED, r.body.clone()),
        _ => (
            StatusCode::NOT_FOUND,
            status_failure(404, "NotFound", "not scripted"),
        ),
    }
}

struct Harness {
    view: Arc<LiveView>,
    reviews: reflector::store::Writer<DeserializeGuard<AccessReview>>,
    review_store: reflector::Store<DeserializeGuard<AccessReview>>,
    decisions: reflector::store::Writer<DeserializeGuard<AccessReviewDecision>>,
    decision_store: reflector::Store<DeserializeGuard<AccessReviewDecision>>,
    records: Arc<CycleRecords>,
    populations: soc2_operator::controller::access_reviews::populations::PopulationCache,
}

impl Harness {
    fn new(snapshot: &ClusterSnapshot) -> Self {
        let (view, _) = LiveView::new(None);
        view.load_snapshot(snapshot);
        let (review_store, reviews) = reflector::store();
        let (decision_store, decisions) = reflector::store();
        Harness {
            view,
            reviews,
            review_store,
            decisions,
            decision_store,
            records: Arc::default(),
            populations: Default::default(),
        }
    }

    /// Runs one pass over `review` with `decisions`; returns the status patches, decision status patches and
    /// event reasons it sent.
    async fn pass(
        &mut self,
        review: AccessReview,
        decisions: &[AccessReviewDecision],
        store_path: &str,
    ) -> (Vec<Value>, Vec<Value>, Vec<String>) {
        self.reviews
            .apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(review.clone()))));
        self.decisions.apply_watcher_event(&watcher::Event::Init);
        for d in decisions {
            self.decisions
                .apply_watcher_event(&watcher::Event::InitApply(DeserializeGuard(Ok(d.clone()))));
        }
        self.decisions
            .apply_watcher_event(&watcher::Event::InitDone);
        let view = self.view.clone();
        let reviews = self.review_store.clone();
        let decision_store = self.decision_store.clone();
        let records = self.records.clone();
        let populations = self.populations.clone();
        let ((), requests) = with_server(
            answer(store_path.to_string()),
            "the access review pass",
            |client| async move {
                let ctx = Arc::new(AccessReviewContext {
                    recorder: Recorder::new(
                        client.clone(),
                        Reporter {
                            controller: "soc2-operator".into(),
                            instance: Some("test".into()),
                        },
                    ),
                    client,
                    view,
                    leadership: Leadership::always(),
                    metrics: Arc::default(),
                    evidence_namespace: Some("soc2-system".into()),
                    reviews,
                    decisions: decision_store,
                    populations,
                    records,
                    sync_timeout: std::time::Duration::from_millis(5),
                });
                reconcile::reconcile(Arc::new(review), ctx)
                    .await
                    .expect("pass succeeds");
            },
        )
        .await;
        let of = |suffix: &str| -> Vec<Value> {
            requests
                .iter()
                .filter(|r| r.method == Method::PATCH && r.path.ends_with(suffix))
                .map(|r| r.body["status"].clone())
                .collect()
        };
        let events = requests
            .iter()
            .filter(|r| r.path == EVENTS)
            .map(|r| r.body["reason"].as_str().unwrap_or_default().to_string())
            .collect();
        (of("privileged/status"), of("erin-q4/status"), events)
    }
}

#[tokio::test]
async fn a_cycle_opens_counts_decisions_sees_the_revocation_and_lands_in_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence").display().to_string();
    let mut h = Harness::new(&cluster(vec![
        admin_binding("alice-admin", "alice"),
        admin_binding("bob-admin", "bob"),
    ]));

    // 1. The cycle opens: its population goes to the store, the status names it.
    let (statuses, _, events) = h.pass(review(None), &[], &path).await;
    assert_eq!(events, ["CycleOpened"]);
    let status: AccessReviewStatus =
        serde_json::from_value(statuses.last().unwrap().clone()).unwrap();
    let cycle = status.cycle.clone().expect("a cycle is open");
    assert_eq!(
        (cycle.subjects, cycle.decided, cycle.overdue),
        (2, 0, false)
    );
    assert_eq!(cycle.undecided, ["User alice", "User bob"]);
    assert_eq!(cycle.evidence_store, "audit");
    assert_eq!(
        cycle.privileged_since_review,
        Some(ListedSubjects::default()),
        "everyone privileged is in the cycle"
    );
    assert_eq!(status.conditions[0].reason, "CycleOpen");
    let bytes = std::fs::read(format!("{path}/objects/{}.json", cycle.population_digest)).unwrap();
    let population: PopulationDocument = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(population.population.subjects.len(), 2);
    assert_eq!(
        population.population.subjects[0].privileged,
        ["administrative rights"]
    );

    // A second pass with nothing new writes nothing and opens nothing.
    let (statuses, _, events) = h.pass(review(Some(&status)), &[], &path).await;
    assert!(
        statuses.is_empty() && events.is_empty(),
        "{} != {} {events:?}",
        serde_json::to_string(&statuses).unwrap(),
        serde_json::to_string(&status).unwrap()
    );

    // 2. A decision the webhook did not authenticate does not count; an authenticated one completes the cycle.
    let items = json!([
        {"subject": {"kind": "User", "name": "alice"}, "decision": "Keep", "comment": "on call SRE"},
        {"subject": {"kind": "User", "name": "bob"}, "decision": "Revoke", "comment": "left the team"},
    ]);
    let forged = decision(&cycle.id, items.clone(), None);
    let (statuses, decision_statuses, _) = h.pass(review(Some(&status)), &[forged], &path).await;
    assert!(
        statuses.is_empty(),
        "nothing counted, nothing to write: {statuses:?}"
    );
    assert_eq!(decision_statuses[0]["conditions"][0]["status"], "False");
    assert!(
        decision_statuses[0]["conditions"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not authenticated")
    );
    let signed = decision(
        &cycle.id,
        items,
        Some(json!({"username": "erin", "groups": ["oidc:security"]})),
    );
    let (statuses, decision_statuses, events) = h
        .pass(review(Some(&status)), std::slice::from_ref(&signed), &path)
        .await;
    assert_eq!(events, ["CycleCompleted"]);
    let status: AccessReviewStatus =
        serde_json::from_value(statuses.last().unwrap().clone()).unwrap();
    let done = status.cycle.clone().unwrap();
    assert_eq!(
        (done.decided, done.kept, done.to_revoke, done.revoked),
        (2, 1, 1, 0)
    );
    assert!(done.completed.is_some());
    assert_eq!(status.last_completed_cycle.as_ref().unwrap().id, cycle.id);
    assert_eq!(decision_statuses[0]["conditions"][0]["status"], "True");

    // 3. Bob's binding is deleted: the revocation is carried out, and the decision records when.
    // (A view is fed once, as a watch's first list; the next list is a new view.)
    let (view, _) = LiveView::new(None);
    view.load_snapshot(&cluster(vec![admin_binding("alice-admin", "alice")]));
    h.view = view;
    let (statuses, decision_statuses, _) = h
        .pass(review(Some(&status)), std::slice::from_ref(&signed), &path)
        .await;
    let status: AccessReviewStatus =
        serde_json::from_value(statuses.last().unwrap().clone()).unwrap();
    assert_eq!(status.cycle.as_ref().unwrap().revoked, 1);
    assert_eq!(
        decision_statuses[0]["revocations"][0]["subject"]["name"],
        "bob"
    );

    // 4. The snapshot loop lists the cycle; verify reads its population and record, and catches an edit.
    let records = h.records.for_store("audit");
    assert_eq!(records.len(), 1);
    let store =
        EvidenceStoreClient::connect(&StoreLocation::Filesystem(path.clone().into())).unwrap();
    write_snapshot(
        &store,
        SnapshotInput {
            source: "EvidenceStore/audit".into(),
            cluster: ClusterIdentity {
                uid: "ks-uid".into(),
                server_version: "v1.33.1".into(),
            },
            tick: Timestamp::now(),
            documents: Vec::new(),
            schedule: None,
            gap_reason: None,
            signing_key: None,
            access_reviews: records,
        },
    )
    .await
    .unwrap();
    let verified = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert!(verified.is_intact(), "{:?}", verified.problems);
    let head = verified.head().unwrap();
    assert_eq!(head.manifest.format_version, 3);
    assert_eq!(head.manifest.access_reviews[0].state, "Completed");
    let record = &head.access_reviews[0];
    assert_eq!(
        record.tally.outcomes[1]
            .decision
            .as_ref()
            .unwrap()
            .authenticated
            .username,
        "erin"
    );
    assert!(record.tally.outcomes[1].carried_out.is_some());
    assert!(verified.populations.contains_key(&cycle.population_digest));

    // The auditor's sample of the cycle the controller wrote: one row per subject with the authenticated signer.
    let sample = std::process::Command::new(env!("CARGO_BIN_EXE_soc2ctl"))
        .args(["access-review", &path, "--cycle", "latest", "-f", "csv"])
        .output()
        .expect("soc2ctl runs");
    let csv = String::from_utf8_lossy(&sample.stdout);
    assert_eq!(
        sample.status.code(),
        Some(0),
        "{csv}{}",
        String::from_utf8_lossy(&sample.stderr)
    );
    let bob = csv
        .lines()
        .find(|l| l.contains(",bob,"))
        .unwrap_or_else(|| panic!("no row for bob: {csv}"));
    assert!(
        bob.contains("Revoke") && bob.contains("erin") && bob.contains("left the team"),
        "{bob}"
    );

    let object = format!("{path}/objects/{}.json", cycle.population_digest);
    let edited = std::fs::read_to_string(&object)
        .unwrap()
        .replace("\"bob\"", "\"eve\"");
    std::fs::write(&object, edited).unwrap();
    let tampered = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    assert!(
        tampered
            .problems
            .iter()
            .any(|p| p.reason.contains("the population was altered")),
        "{:?}",
        tampered.problems
    );

    // 5. Carol is made an administrator after the cycle opened: the status lists her, and the accessReview check
    // reports her while she holds it.
    let now_cluster = cluster(vec![
        admin_binding("alice-admin", "alice"),
        admin_binding("carol-admin", "carol"),
    ]);
    let (view, _) = LiveView::new(None);
    view.load_snapshot(&now_cluster);
    h.view = view;
    let (statuses, _, _) = h
        .pass(review(Some(&status)), std::slice::from_ref(&signed), &path)
        .await;
    let status: AccessReviewStatus =
        serde_json::from_value(statuses.last().unwrap().clone()).unwrap();
    let listed = status
        .cycle
        .as_ref()
        .unwrap()
        .privileged_since_review
        .clone();
    assert_eq!(
        listed,
        Some(ListedSubjects {
            count: 1,
            subjects: vec!["User carol".into()]
        })
    );
    let judged = ClusterSnapshot {
        access_reviews: vec![Arc::new(review(Some(&status)))],
        access_review_decisions: vec![Arc::new(signed)],
        ..now_cluster
    };
    let scope = soc2_operator::view::ScopeMatcher::new(None, &judged).unwrap();
    let report = soc2_operator::checks::access_review::check(
        &judged,
        &scope,
        &Default::default(),
        Timestamp::now(),
    );
    let found: Vec<(String, &str)> = report
        .findings
        .iter()
        .map(|f| (f.resource.display_name(), f.rule.as_str()))
        .collect();
    assert_eq!(
        found,
        [("User carol".to_string(), "privileged-access-unreviewed")]
    );
}
