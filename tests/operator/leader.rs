//! Leader election against scripted API servers (level 3 of TESTING.md).
//!
//! - A replica that is not the leader reconciles without a single request and counts a dropped write; the same
//!   replica, once leader, evaluates and writes, and its metrics say so.
//! - Becoming leader re-reconciles every control (`Controller::reconcile_all_on` fed by `Leadership::acquired`).
//! - The Lease is acquired, renewed every third of its duration, taken over after it expired, left alone while
//!   another replica holds it, and released on stop, against a small stateful fake of the Lease API (GET, POST,
//!   server-side apply with field-manager conflicts, strategic merge patch).
//!
//! Every wait has a timeout; nothing sleeps for correctness. The renewal test runs on Tokio's paused clock, so
//! the lease manager's five-second wait passes at once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use http::{Method, StatusCode};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::runtime::controller::Action;
use kube::runtime::{Controller, reflector, watcher};
use serde_json::{Value, json};
use soc2_operator::api::Control;
use soc2_operator::controller::{Context, Error};
use soc2_operator::runtime::leader::{LeaderElection, Leadership, LeaseConfig};
use soc2_operator::runtime::metrics::Metrics;
use soc2_operator::view::ClusterSnapshot;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::timeout;

use crate::support::fixtures::{alice_binding, cluster_admin_role, mfa_spec_high, namespace};
use crate::support::mock_api::{
    ApiHandle, CONTROLS, DEADLINE, EVENTS, Recorded, json_response, mock_client, mock_context,
    plausible_answer, reconcile_with, recorded, status_failure,
};

const LEASE_NAMESPACE: &str = "ops";
const LEASE_NAME: &str = "soc2-operator";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases";
const CONTROL: &str = "mfa-privileged-access";

// ---------------------------------------------------------------------------------------------------------------
// Reconcile as standby and as leader
// ---------------------------------------------------------------------------------------------------------------

fn mfa_control() -> Control {
    crate::support::fixtures::control(CONTROL, 1, mfa_spec_high())
}

/// cluster-admin bound directly to User alice: the MFA control fails.
fn failing_snapshot() -> ClusterSnapshot {
    ClusterSnapshot {
        namespaces: vec![Arc::new(namespace("default"))],
        cluster_roles: vec![Arc::new(cluster_admin_role())],
        cluster_role_bindings: vec![alice_binding()],
        ..Default::default()
    }
}

/// A context sharing `leadership` and `metrics`, whose client talks to the returned handle.
fn context(leadership: &Leadership, metrics: &Arc<Metrics>) -> (Arc<Context>, ApiHandle) {
    mock_context(Some(&failing_snapshot()), |ctx| {
        ctx.with_metrics(metrics.clone())
            .with_leadership(leadership.clone())
    })
}

/// What a real API server answers: the patched Control for a status apply (or `status_code` if it is not 200),
/// the created Event for an event POST.
fn answer(control: &Control, request: &Recorded, status_code: StatusCode) -> (StatusCode, Value) {
    if status_code != StatusCode::OK && request.is_status_patch(CONTROL) {
        return (
            status_code,
            status_failure(
                status_code.as_u16(),
                "Conflict",
                "the object has been modified",
            ),
        );
    }
    plausible_answer(control, request)
}

/// Reconciles `control` while a fake API server answers; returns the result and every request made, including any
/// made within the grace period after reconcile returned.
async fn reconcile_recording(
    control: &Control,
    ctx: &Arc<Context>,
    handle: ApiHandle,
    status_code: StatusCode,
) -> (Result<Action, Error>, Vec<Recorded>) {
    let echo = control.clone();
    reconcile_with(control, ctx, handle, move |r| answer(&echo, r, status_code)).await
}

/// The value of the sample `series` (exactly as encoded), if present.
fn sample(metrics: &Metrics, series: &str) -> Option<f64> {
    metrics
        .encode()
        .expect("metrics encode")
        .lines()
        .find_map(|l| {
            let (s, v) = l.rsplit_once(' ')?;
            (s == series).then(|| v.parse().expect("numeric sample"))
        })
}

#[tokio::test]
async fn a_standby_makes_no_request_and_the_leader_writes() {
    let control = mfa_control();
    let leadership = Leadership::standby();
    let metrics = Arc::new(Metrics::new());

    let (ctx, handle) = context(&leadership, &metrics);
    let (result, requests) = reconcile_recording(&control, &ctx, handle, StatusCode::OK).await;
    assert_eq!(
        result.expect("a standby reconcile is not an error"),
        Action::requeue(Duration::from_secs(5)),
        "a standby looks again soon"
    );
    assert!(
        requests.is_empty(),
        "a standby must not make any request: {requests:#?}"
    );
    assert_eq!(metrics.writes_dropped(), 1);
    let text = metrics.encode().expect("metrics encode");
    for nothing in [
        "soc2_reconciles_total{",
        "soc2_evaluation_duration_seconds_count{",
        "soc2_control_compliant{",
        "soc2_status_writes_total{",
        "soc2_events_total{",
    ] {
        assert!(
            !text.contains(nothing),
            "a standby neither evaluates nor writes ({nothing}):\n{text}"
        );
    }

    // The same replica becomes leader: the control is evaluated and written, and metrics record it.
    leadership.set(true);
    let (ctx, handle) = context(&leadership, &metrics);
    let (result, requests) = reconcile_recording(&control, &ctx, handle, StatusCode::OK).await;
    assert_eq!(
        result.expect("reconcile succeeds"),
        Action::requeue(Duration::from_secs(600))
    );
    let summary: Vec<(Method, &str)> = requests
        .iter()
        .map(|r| (r.method.clone(), r.path.as_str()))
        .collect();
    let status_path = format!("{CONTROLS}/{CONTROL}/status");
    assert_eq!(
        summary,
        [
            (Method::PATCH, status_path.as_str()),
            (Method::POST, EVENTS),
            (Method::POST, EVENTS),
        ],
        "status, ControlFailing, ResourceFailing"
    );
    assert_eq!(metrics.writes_dropped(), 1, "the leader drops nothing");
    let m = |series: &str| sample(&metrics, series);
    assert_eq!(
        m(&format!(r#"soc2_reconciles_total{{control="{CONTROL}"}}"#)),
        Some(1.0)
    );
    assert_eq!(
        m(&format!(
            r#"soc2_reconcile_duration_seconds_count{{control="{CONTROL}"}}"#
        )),
        Some(1.0)
    );
    assert_eq!(
        m(r#"soc2_evaluation_duration_seconds_count{check="mfaAccess",path="full"}"#),
        Some(1.0)
    );
    for criterion in ["CC6.1", "CC6.3"] {
        assert_eq!(
            m(&format!(
                r#"soc2_control_compliant{{control="{CONTROL}",criterion="{criterion}"}}"#
            )),
            Some(0.0),
            "{criterion} is not met"
        );
    }
    assert_eq!(
        m(&format!(
            r#"soc2_control_findings{{control="{CONTROL}",severity="High",result="Fail"}}"#
        )),
        Some(1.0)
    );
    assert_eq!(
        m(&format!(
            r#"soc2_status_writes_total{{control="{CONTROL}"}}"#
        )),
        Some(1.0)
    );
    assert_eq!(
        m(r#"soc2_events_total{reason="ControlFailing"}"#),
        Some(1.0)
    );
    assert_eq!(
        m(r#"soc2_events_total{reason="ResourceFailing"}"#),
        Some(1.0)
    );
    assert!(
        !metrics
            .encode()
            .expect("encode")
            .contains("soc2_reconcile_errors_total{"),
        "no error"
    );
}

#[tokio::test]
async fn a_failed_write_is_counted_by_category() {
    let control = mfa_control();
    let metrics = Arc::new(Metrics::new());
    let (ctx, handle) = context(&Leadership::always(), &metrics);
    let (result, requests) =
        reconcile_recording(&control, &ctx, handle, StatusCode::CONFLICT).await;
    let error = result.expect_err("the status write fails");
    assert_eq!(error.category(), "conflict");
    assert_eq!(requests.len(), 1, "no event for an unwritten status");
    assert_eq!(
        sample(
            &metrics,
            &format!(r#"soc2_reconcile_errors_total{{control="{CONTROL}",category="conflict"}}"#)
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            &format!(r#"soc2_reconciles_total{{control="{CONTROL}"}}"#)
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            &format!(r#"soc2_status_writes_total{{control="{CONTROL}"}}"#)
        ),
        None,
        "a failed write is not a write"
    );
}

/// Becoming leader reconciles every control at once, through the same trigger `controller::run` installs.
#[tokio::test]
async fn becoming_leader_reconciles_every_control() {
    let (reader, mut writer) = reflector::store::<Control>();
    writer.apply_watcher_event(&watcher::Event::Init);
    for name in ["a", "b", "c"] {
        let mut c = mfa_control();
        c.metadata.name = Some(name.into());
        c.metadata.uid = Some(format!("uid-{name}"));
        writer.apply_watcher_event(&watcher::Event::InitApply(c));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);

    let leadership = Leadership::standby();
    let (reconciled_tx, mut reconciled) = mpsc::unbounded_channel::<String>();
    let (stop, stopped) = oneshot::channel::<()>();
    let controller = Controller::for_stream(futures::stream::pending(), reader)
        .reconcile_all_on(leadership.acquired())
        .graceful_shutdown_on(async move {
            let _ = stopped.await;
        })
        .run(
            move |control: Arc<Control>, _: Arc<()>| {
                let tx = reconciled_tx.clone();
                async move {
                    let _ = tx.send(control.metadata.name.clone().unwrap_or_default());
                    Ok::<_, kube::Error>(Action::await_change())
                }
            },
            |_, _, _| Action::await_change(),
            Arc::new(()),
        )
        .for_each(|_| async {});
    let running = tokio::spawn(controller);

    leadership.set(true);
    let mut names = BTreeSet::new();
    while names.len() < 3 {
        let name = timeout(DEADLINE, reconciled.recv())
            .await
            .expect("every control is reconciled after becoming leader")
            .expect("controller running");
        names.insert(name);
    }
    assert_eq!(names, BTreeSet::from(["a".into(), "b".into(), "c".into()]));

    let _ = stop.send(());
    timeout(DEADLINE, running)
        .await
        .expect("controller stops")
        .expect("controller task did not panic");
}

// ---------------------------------------------------------------------------------------------------------------
// A fake Lease API
// ---------------------------------------------------------------------------------------------------------------

/// The one Lease `ops/soc2-operator`, with the field manager that owns each spec field, as an API server keeps it.
#[derive(Debug, Default)]
struct LeaseStore {
    spec: Option<serde_json::Map<String, Value>>,
    owners: BTreeMap<String, String>,
    resource_version: u64,
    requests: Vec<Recorded>,
}

/// Shared by every client of the fake; `requests` counts answered requests for tests to wait on.
struct FakeLeaseApi {
    store: Mutex<LeaseStore>,
    requests: watch::Sender<usize>,
    /// Answer every request with this failure instead.
    fail_with: Option<(StatusCode, &'static str)>,
}

impl FakeLeaseApi {
    fn new(spec: Option<Value>, owner: &str) -> Arc<Self> {
        let spec = spec.map(|s| s.as_object().expect("spec is an object").clone());
        let owners = spec
            .iter()
            .flat_map(|s| s.keys())
            .map(|k| (k.clone(), owner.to_string()))
            .collect();
        Arc::new(FakeLeaseApi {
            store: Mutex::new(LeaseStore {
                spec,
                owners,
                resource_version: 1,
                requests: Vec::new(),
            }),
            requests: watch::Sender::new(0),
            fail_with: None,
        })
    }

    fn failing(status: StatusCode, reason: &'static str) -> Arc<Self> {
        Arc::new(FakeLeaseApi {
            store: Mutex::default(),
            requests: watch::Sender::new(0),
            fail_with: Some((status, reason)),
        })
    }

    /// A client whose requests this fake answers, for as long as the client lives.
    fn client(self: &Arc<Self>) -> kube::Client {
        let (client, mut handle) = mock_client();
        let fake = self.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let r = recorded(request).await;
                let (status, body) = fake.answer(r);
                send.send_response(json_response(status, &body));
                fake.requests.send_modify(|n| *n += 1);
            }
        });
        client
    }

    fn lease(store: &LeaseStore) -> Value {
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": LEASE_NAME,
                "namespace": LEASE_NAMESPACE,
                "uid": "1ea5e000-0000-4000-8000-000000000001",
                "resourceVersion": store.resource_version.to_string(),
            },
            "spec": store.spec.clone().unwrap_or_default(),
        })
    }

    fn answer(&self, r: Recorded) -> (StatusCode, Value) {
        let mut store = self.store.lock().expect("fake lock");
        store.requests.push(r.clone());
        if let Some((status, reason)) = self.fail_with {
            return (
                status,
                status_failure(status.as_u16(), reason, "leases is forbidden"),
            );
        }
        let item = format!("{LEASES}/{LEASE_NAME}");
        let not_found = (
            StatusCode::NOT_FOUND,
            status_failure(404, "NotFound", "leases \"soc2-operator\" not found"),
        );
        match (&r.method, r.path.as_str()) {
            (&Method::GET, p) if p == item => match store.spec {
                Some(_) => (StatusCode::OK, Self::lease(&store)),
                None => not_found,
            },
            (&Method::POST, LEASES) => {
                if store.spec.is_some() {
                    return (
                        StatusCode::CONFLICT,
                        status_failure(409, "AlreadyExists", "already exists"),
                    );
                }
                let spec = r.body["spec"].as_object().cloned().unwrap_or_default();
                store.spec = Some(spec);
                store.resource_version += 1;
                (StatusCode::CREATED, Self::lease(&store))
            }
            (&Method::PATCH, p) if p == item => {
                if store.spec.is_none() {
                    return not_found;
                }
                let manager = r.query.get("fieldManager").cloned().unwrap_or_default();
                let apply = r.content_type.as_deref() == Some("application/apply-patch+yaml");
                let patch = r.body["spec"].as_object().cloned().unwrap_or_default();
                let spec = store.spec.clone().unwrap_or_default();
                // Server-side apply without force: changing a field another manager owns is a conflict.
                if apply
                    && patch.iter().any(|(k, v)| {
                        !v.is_null()
                            && spec.get(k).is_some_and(|old| old != v)
                            && store.owners.get(k).is_some_and(|o| *o != manager)
                    })
                {
                    return (
                        StatusCode::CONFLICT,
                        status_failure(409, "Conflict", "Apply failed with 1 conflict"),
                    );
                }
                let mut spec = spec;
                for (k, v) in patch {
                    if v.is_null() {
                        spec.remove(&k);
                        store.owners.remove(&k);
                    } else {
                        spec.insert(k.clone(), v);
                        store.owners.insert(k, manager.clone());
                    }
                }
                store.spec = Some(spec);
                store.resource_version += 1;
                (StatusCode::OK, Self::lease(&store))
            }
            _ => not_found,
        }
    }

    fn spec(&self) -> serde_json::Map<String, Value> {
        self.store
            .lock()
            .expect("fake lock")
            .spec
            .clone()
            .unwrap_or_default()
    }

    fn holder(&self) -> Option<String> {
        self.spec()
            .get("holderIdentity")
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// Another replica writes itself in as holder (as after this one failed to renew in time).
    fn taken_over_by(&self, holder: &str) {
        let mut store = self.store.lock().expect("fake lock");
        let mut spec = store.spec.clone().unwrap_or_default();
        spec.insert("holderIdentity".into(), json!(holder));
        store.spec = Some(spec);
        store.owners.insert(
            "holderIdentity".into(),
            format!("soc2-operator-lease-{holder}"),
        );
        store.resource_version += 1;
    }

    fn requests(&self) -> Vec<Recorded> {
        self.store.lock().expect("fake lock").requests.clone()
    }

    /// Waits until at least `n` requests were answered.
    async fn answered(&self, n: usize) {
        let mut count = self.requests.subscribe();
        timeout(DEADLINE, count.wait_for(|c| *c >= n))
            .await
            .expect("the lease manager made the expected requests")
            .expect("fake running");
    }
}

fn micro_time(t: Timestamp) -> Value {
    serde_json::to_value(MicroTime(t)).expect("MicroTime serializes")
}

/// A Lease held by `holder`, last renewed `ago`.
fn held_by(holder: &str, ago: SignedDuration) -> Value {
    let renewed = Timestamp::now() - ago;
    json!({
        "holderIdentity": holder,
        "leaseDurationSeconds": 15,
        "acquireTime": micro_time(renewed),
        "renewTime": micro_time(renewed),
        "leaseTransitions": 3,
    })
}

fn config(identity: &str) -> LeaseConfig {
    LeaseConfig::new(LEASE_NAMESPACE, LEASE_NAME, identity)
}

/// Starts the election of replica `pod-a` against `fake`.
async fn start_election(
    fake: &Arc<FakeLeaseApi>,
    leadership: &Leadership,
    metrics: Arc<Metrics>,
) -> LeaderElection {
    LeaderElection::start(fake.client(), &config("pod-a"), leadership.clone(), metrics)
        .await
        .expect("the election starts")
}

/// Waits for the next transition to leader.
async fn became_leader(acquired: &mut (impl futures::Stream<Item = ()> + Unpin)) {
    timeout(DEADLINE, acquired.next())
        .await
        .expect("this replica becomes leader in time")
        .expect("leadership stream open");
}

#[tokio::test]
async fn a_free_lease_is_acquired_by_apply_and_released_on_stop() {
    let fake = FakeLeaseApi::new(None, "");
    let leadership = Leadership::standby();
    let metrics = Arc::new(Metrics::new());
    let mut acquired = Box::pin(leadership.acquired());

    let election = start_election(&fake, &leadership, metrics.clone()).await;
    became_leader(&mut acquired).await;
    assert!(leadership.is_leader());
    assert_eq!(sample(&metrics, "soc2_leader"), Some(1.0));
    assert_eq!(fake.holder().as_deref(), Some("pod-a"));

    let requests = fake.requests();
    assert_eq!(
        (requests[0].method.clone(), requests[0].path.as_str()),
        (Method::GET, format!("{LEASES}/{LEASE_NAME}").as_str()),
        "{requests:#?}"
    );
    assert_eq!(
        (requests[1].method.clone(), requests[1].path.as_str()),
        (Method::POST, LEASES),
        "a missing Lease is created"
    );
    let acquire = requests
        .iter()
        .find(|r| r.content_type.as_deref() == Some("application/apply-patch+yaml"))
        .expect("the Lease is acquired by server-side apply");
    assert_eq!(acquire.method, Method::PATCH);
    assert_eq!(
        acquire.query.get("fieldManager").map(String::as_str),
        Some("soc2-operator-lease-pod-a")
    );
    assert!(
        !acquire.query.contains_key("force"),
        "acquiring must not force: a conflict is how a race is lost"
    );
    assert_eq!(acquire.body["apiVersion"], "coordination.k8s.io/v1");
    assert_eq!(acquire.body["kind"], "Lease");
    assert_eq!(acquire.body["spec"]["holderIdentity"], "pod-a");
    assert_eq!(acquire.body["spec"]["leaseDurationSeconds"], 15);
    assert!(acquire.body["spec"]["renewTime"].is_string());

    timeout(DEADLINE, election.stop())
        .await
        .expect("stopping finishes");
    assert!(!leadership.is_leader(), "stepped down");
    assert_eq!(sample(&metrics, "soc2_leader"), Some(0.0));
    assert_eq!(fake.holder(), None, "the Lease is released on stop");
    assert!(
        !fake.spec().contains_key("renewTime"),
        "released: {:?}",
        fake.spec()
    );
}

#[tokio::test]
async fn a_lease_held_by_another_replica_is_left_alone() {
    let fake = FakeLeaseApi::new(
        Some(held_by("pod-b", SignedDuration::from_secs(1))),
        "soc2-operator-lease-pod-b",
    );
    let leadership = Leadership::standby();
    let metrics = Arc::new(Metrics::new());
    let election = start_election(&fake, &leadership, metrics.clone()).await;
    // Read at start, then read again by the election loop, which then waits for the Lease to expire.
    fake.answered(2).await;
    assert!(!leadership.is_leader());
    assert_eq!(sample(&metrics, "soc2_leader"), Some(0.0));
    assert!(
        fake.requests().iter().all(|r| r.method == Method::GET),
        "a standby only reads the Lease: {:#?}",
        fake.requests()
    );

    timeout(DEADLINE, election.stop())
        .await
        .expect("stopping finishes");
    assert_eq!(
        fake.holder().as_deref(),
        Some("pod-b"),
        "stopping a standby does not release another replica's Lease"
    );
    assert!(
        fake.requests().iter().all(|r| r.method == Method::GET),
        "{:#?}",
        fake.requests()
    );
}

#[tokio::test]
async fn an_expired_lease_is_taken_over() {
    let fake = FakeLeaseApi::new(
        Some(held_by("pod-b", SignedDuration::from_secs(60))),
        "soc2-operator-lease-pod-b",
    );
    let leadership = Leadership::standby();
    let mut acquired = Box::pin(leadership.acquired());
    let election = start_election(&fake, &leadership, Arc::new(Metrics::new())).await;
    became_leader(&mut acquired).await;
    assert_eq!(fake.holder().as_deref(), Some("pod-a"));
    assert_eq!(
        fake.spec().get("leaseTransitions"),
        Some(&json!(4)),
        "a takeover counts as a transition"
    );
    let renewed: Timestamp = fake.spec()["renewTime"]
        .as_str()
        .expect("renewTime")
        .parse()
        .expect("timestamp");
    assert!(
        Timestamp::now().duration_since(renewed).abs() < SignedDuration::from_secs(10),
        "the new holder renewed just now"
    );
    timeout(DEADLINE, election.stop())
        .await
        .expect("stopping finishes");
    assert_eq!(fake.holder(), None);
}

/// On Tokio's paused clock: the leader renews a third of the way through the lease duration, without changing
/// the holder.
#[tokio::test(start_paused = true)]
async fn the_leader_renews_every_third_of_the_duration() {
    let fake = FakeLeaseApi::new(None, "");
    let leadership = Leadership::standby();
    let mut acquired = Box::pin(leadership.acquired());
    let election = start_election(&fake, &leadership, Arc::new(Metrics::new())).await;
    became_leader(&mut acquired).await;
    let acquired_at = tokio::time::Instant::now();
    let before = fake.requests().len();

    // Wait for the next write after acquisition: the renewal.
    let renewal = loop {
        let n = fake.requests().len();
        fake.answered(n + 1).await;
        if let Some(r) = fake.requests()[before..]
            .iter()
            .find(|r| r.method == Method::PATCH)
        {
            break r.clone();
        }
    };
    let waited = acquired_at.elapsed();
    assert!(
        waited >= Duration::from_millis(4500) && waited <= Duration::from_millis(5500),
        "renewed after {waited:?}, expected about 15 s / 3"
    );
    assert_eq!(
        renewal.content_type.as_deref(),
        Some("application/strategic-merge-patch+json")
    );
    assert!(
        renewal.body["spec"]["renewTime"].is_string(),
        "{:?}",
        renewal.body
    );
    assert!(renewal.body["spec"].get("holderIdentity").is_none());
    assert!(leadership.is_leader(), "still the leader after renewing");
    assert_eq!(fake.holder().as_deref(), Some("pod-a"));
    assert!(fake.spec()["renewTime"].is_string());
    timeout(DEADLINE, election.stop())
        .await
        .expect("stopping finishes");
    assert_eq!(fake.holder(), None);
}

/// On Tokio's paused clock: when the next renewal finds another holder, this replica steps down and stops exporting
/// verdicts (the new leader exports its own).
#[tokio::test(start_paused = true)]
async fn losing_the_lease_steps_down_and_clears_verdicts() {
    let fake = FakeLeaseApi::new(None, "");
    let leadership = Leadership::standby();
    let metrics = Arc::new(Metrics::new());
    let mut acquired = Box::pin(leadership.acquired());
    let election = start_election(&fake, &leadership, metrics.clone()).await;
    became_leader(&mut acquired).await;
    metrics.set_compliance(
        CONTROL,
        &[soc2_operator::api::Criterion("CC6.1".into())],
        Some(soc2_operator::engine::evaluate::Compliance::Compliant),
    );
    let verdict = format!(r#"soc2_control_compliant{{control="{CONTROL}",criterion="CC6.1"}}"#);
    assert_eq!(sample(&metrics, &verdict), Some(1.0));

    fake.taken_over_by("pod-b");
    while leadership.is_leader() {
        let n = fake.requests().len();
        fake.answered(n + 1).await;
    }
    assert_eq!(sample(&metrics, "soc2_leader"), Some(0.0));
    assert_eq!(
        sample(&metrics, &verdict),
        None,
        "a replica that stopped leading exports no verdict"
    );
    timeout(DEADLINE, election.stop())
        .await
        .expect("stopping finishes");
    assert_eq!(
        fake.holder().as_deref(),
        Some("pod-b"),
        "a replica that lost the Lease does not release it"
    );
}

#[tokio::test]
async fn an_unreadable_lease_stops_the_start() {
    let fake = FakeLeaseApi::failing(StatusCode::FORBIDDEN, "Forbidden");
    let result = LeaderElection::start(
        fake.client(),
        &config("pod-a"),
        Leadership::standby(),
        Arc::new(Metrics::new()),
    )
    .await;
    let Err(error) = result else {
        panic!("starting must fail when the Lease cannot be read")
    };
    let error = Error::from(error);
    assert_eq!(error.category(), "leader-election");
    assert!(error.to_string().contains("leases"), "{error}");
}
