//! Reconcile against a scripted API server (level 3 of TESTING.md).
//!
//! Each scenario runs `controller::reconcile` with a client whose transport is a `tower_test` mock. A spawned task
//! plays the API server: it records every request (method, path, query, content type, JSON body) and answers it as
//! a real apiserver would (the status PATCH is echoed back as a Control, an Event POST is echoed back as the created
//! Event). Once reconcile returns, the server waits a short grace period for stray requests, so "no other request"
//! and "no request at all" are asserted on the recorded list. Every wait has a timeout: a request nobody answers
//! fails the test instead of hanging it.
//!
//! The last tests feed a reflector store by hand and check which controls a cluster change affects.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::{reflector, watcher};
use serde_json::{Value, json};
use soc2_operator::api::{Control, ControlStatus};
use soc2_operator::controller::{self, Context, Error, affected_controls, error_policy};
use soc2_operator::view::live::{Change, LiveView};
use soc2_operator::view::{ClusterSnapshot, ResourceKind};
use tokio::sync::oneshot;
use tokio::time::timeout;
use tower_test::mock::{self, Handle};

type ApiHandle = Handle<Request<Body>, Response<Body>>;

/// How long a reconcile (or the fake server) may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(10);
/// After reconcile returned, how long the fake server keeps listening for requests nobody should make.
const GRACE: Duration = Duration::from_millis(100);

const CONTROLS: &str = "/apis/soc2.dev/v1alpha1/controls";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/default/events";
const GENERATION: i64 = 3;
const CONTROL_UID: &str = "5d7c2c1e-0000-4000-8000-00000000c0de";
const ALICE_BINDING: &str = "alice-cluster-admin";
const ALICE_BINDING_UID: &str = "0b1f4a52-0000-4000-8000-0000000a11ce";

// ---------------------------------------------------------------------------------------------------------------
// The fake API server
// ---------------------------------------------------------------------------------------------------------------

/// One request as the API server saw it.
#[derive(Clone, Debug)]
struct Recorded {
    method: Method,
    path: String,
    query: BTreeMap<String, String>,
    content_type: Option<String>,
    body: Value,
}

impl Recorded {
    fn is_status_patch(&self, control: &str) -> bool {
        self.method == Method::PATCH && self.path == format!("{CONTROLS}/{control}/status")
    }

    fn is_event_post(&self) -> bool {
        self.method == Method::POST && self.path == EVENTS
    }
}

fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(
            serde_json::to_vec(body).expect("response serializes"),
        ))
        .expect("valid response")
}

fn status_failure(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

/// What a real API server would answer: the patched Control for a status apply, the created Event for a POST,
/// 404 otherwise.
fn plausible_answer(control: &Control, request: &Recorded) -> (StatusCode, Value) {
    let name = control.metadata.name.clone().unwrap_or_default();
    if request.is_status_patch(&name) {
        let mut patched = control.clone();
        patched.status = Some(
            serde_json::from_value(request.body["status"].clone())
                .expect("the status patch carries a valid ControlStatus"),
        );
        patched.metadata.resource_version = Some("1001".into());
        return (
            StatusCode::OK,
            serde_json::to_value(&patched).expect("control serializes"),
        );
    }
    if request.is_event_post() {
        let mut event = request.body.clone();
        event["metadata"]["uid"] = json!("e0e0e0e0-0000-4000-8000-000000000001");
        event["metadata"]["resourceVersion"] = json!("2002");
        return (StatusCode::CREATED, event);
    }
    (
        StatusCode::NOT_FOUND,
        status_failure(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
    )
}

/// Plays the API server until `done` fires and then for a further [`GRACE`] without requests.
async fn serve(
    mut handle: ApiHandle,
    mut answer: impl FnMut(&Recorded) -> (StatusCode, Value) + Send,
    mut done: oneshot::Receiver<()>,
) -> Vec<Recorded> {
    let mut seen = Vec::new();
    let mut reconcile_returned = false;
    loop {
        let next = if reconcile_returned {
            match timeout(GRACE, handle.next_request()).await {
                Ok(next) => next,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                next = handle.next_request() => next,
                _ = &mut done => {
                    reconcile_returned = true;
                    continue;
                }
            }
        };
        let Some((request, send)) = next else { break };
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.expect("request body readable");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("request body is JSON")
        };
        let recorded = Recorded {
            method: parts.method.clone(),
            path: parts.uri.path().to_string(),
            query: parse_query(parts.uri.query()),
            content_type: parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body,
        };
        let (status, body) = answer(&recorded);
        send.send_response(json_response(status, &body));
        seen.push(recorded);
    }
    seen
}

/// A context whose client talks to the returned handle; the view holds `snapshot` (or nothing: every kind
/// NotStarted, reported unavailable after `sync_timeout`).
fn context(snapshot: Option<&ClusterSnapshot>) -> (Arc<Context>, ApiHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let (view, _changes) = LiveView::new(None);
    if let Some(snapshot) = snapshot {
        view.load_snapshot(snapshot);
    }
    let mut ctx = Context::new(client, view, Some("test".into()));
    ctx.sync_timeout = Duration::from_millis(5);
    (Arc::new(ctx), handle)
}

/// Reconciles `control` while the fake server answers with `answer`; returns the result and every request made.
async fn reconcile_with(
    control: &Control,
    ctx: &Arc<Context>,
    handle: ApiHandle,
    answer: impl FnMut(&Recorded) -> (StatusCode, Value) + Send + 'static,
) -> (Result<Action, Error>, Vec<Recorded>) {
    let (done, done_rx) = oneshot::channel();
    let server = tokio::spawn(serve(handle, answer, done_rx));
    let result = timeout(
        DEADLINE,
        controller::reconcile(Arc::new(control.clone()), ctx.clone()),
    )
    .await
    .expect("reconcile did not finish in time (a request was never answered?)");
    let _ = done.send(());
    let requests = timeout(DEADLINE, server)
        .await
        .expect("fake API server did not stop")
        .expect("fake API server panicked");
    (result, requests)
}

/// Reconciles `control` against a well-behaved API server.
async fn reconcile_ok(
    control: &Control,
    snapshot: Option<&ClusterSnapshot>,
) -> (Result<Action, Error>, Vec<Recorded>) {
    let (ctx, handle) = context(snapshot);
    let echo = control.clone();
    reconcile_with(control, &ctx, handle, move |r| plausible_answer(&echo, r)).await
}

// ---------------------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------------------

fn control_from(name: &str, spec: Value) -> Control {
    let mut control: Control = serde_json::from_value(json!({
        "apiVersion": "soc2.dev/v1alpha1",
        "kind": "Control",
        "metadata": {
            "name": name,
            "uid": CONTROL_UID,
            "generation": GENERATION,
            "resourceVersion": "1000",
        },
        "spec": spec,
    }))
    .expect("valid Control");
    control.status = None;
    control
}

fn mfa_spec() -> Value {
    json!({
        "criteria": ["CC6.1", "CC6.3"],
        "category": "Security",
        "title": "Privileged access requires MFA",
        "check": {"mfaAccess": {"mfaGroups": ["oidc:platform-admins"]}},
    })
}

fn mfa_control() -> Control {
    control_from("mfa-privileged-access", mfa_spec())
}

fn change_approval_spec() -> Value {
    json!({
        "criteria": ["CC8.1"],
        "category": "Security",
        "title": "Changes to workloads are approved",
        "scope": {"excludeNamespaces": ["scratch"]},
        "check": {"changeApproval": {}},
    })
}

fn change_approval_control() -> Control {
    control_from("change-approval", change_approval_spec())
}

fn namespace(name: &str) -> Namespace {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "uid": format!("ns-{name}")},
    }))
    .expect("valid Namespace")
}

fn cluster_admin_role() -> ClusterRole {
    serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "cluster-admin", "uid": "c0000000-0000-4000-8000-00000000adad"},
        "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    }))
    .expect("valid ClusterRole")
}

fn cluster_admin_binding(
    name: &str,
    uid: &str,
    subject_kind: &str,
    subject: &str,
) -> ClusterRoleBinding {
    serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "uid": uid},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": subject_kind, "name": subject}],
    }))
    .expect("valid ClusterRoleBinding")
}

/// A cluster where cluster-admin is bound to the MFA-enforced group, and, when `with_alice`, directly to User alice.
fn rbac_snapshot(with_alice: bool) -> ClusterSnapshot {
    let mut bindings = vec![Arc::new(cluster_admin_binding(
        "platform-admins",
        "0b1f4a52-0000-4000-8000-00000000a0a0",
        "Group",
        "oidc:platform-admins",
    ))];
    if with_alice {
        bindings.push(Arc::new(cluster_admin_binding(
            ALICE_BINDING,
            ALICE_BINDING_UID,
            "User",
            "alice",
        )));
    }
    ClusterSnapshot {
        namespaces: vec![
            Arc::new(namespace("default")),
            Arc::new(namespace("kube-system")),
        ],
        cluster_roles: vec![Arc::new(cluster_admin_role())],
        cluster_role_bindings: bindings,
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------------------------------------------

/// Asserts the request is a forced server-side apply of the status subresource of `control` by soc2-operator and
/// returns the status it applies.
fn assert_status_apply(request: &Recorded, control: &str) -> Value {
    assert_eq!(request.method, Method::PATCH, "status write: {request:?}");
    assert_eq!(request.path, format!("{CONTROLS}/{control}/status"));
    assert_eq!(
        request.query.get("fieldManager").map(String::as_str),
        Some("soc2-operator"),
        "field manager: {:?}",
        request.query
    );
    assert_eq!(
        request.query.get("force").map(String::as_str),
        Some("true"),
        "force: {:?}",
        request.query
    );
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(request.body["apiVersion"], "soc2.dev/v1alpha1");
    assert_eq!(request.body["kind"], "Control");
    // A status apply must not touch spec or metadata.
    let keys: Vec<&String> = request.body.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["apiVersion", "kind", "status"], "apply body keys");
    let status = request.body["status"].clone();
    let _: ControlStatus = serde_json::from_value(status.clone()).expect("a valid ControlStatus");
    status
}

/// Asserts the request creates an events.k8s.io Event about `control` with this type and reason.
fn assert_event(request: &Recorded, control: &str, type_: &str, reason: &str) -> Value {
    assert_eq!(request.method, Method::POST, "event: {request:?}");
    assert_eq!(request.path, EVENTS);
    let body = &request.body;
    assert_eq!(body["apiVersion"], "events.k8s.io/v1");
    assert_eq!(body["kind"], "Event");
    assert_eq!(body["reason"], reason, "event: {body}");
    assert_eq!(body["type"], type_, "event {reason}");
    assert_eq!(body["action"], "Evaluate");
    assert_eq!(body["reportingController"], "soc2-operator");
    assert_eq!(body["reportingInstance"], "test");
    assert_eq!(body["regarding"]["apiVersion"], "soc2.dev/v1alpha1");
    assert_eq!(body["regarding"]["kind"], "Control");
    assert_eq!(body["regarding"]["name"], control);
    assert_eq!(body["regarding"]["uid"], CONTROL_UID);
    assert!(
        body["eventTime"].is_string(),
        "eventTime is required: {body}"
    );
    let note = body["note"].as_str().expect("note");
    assert!(!note.is_empty() && note.len() <= 1024, "note: {note}");
    body.clone()
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
}

fn assert_condition(status: &Value, type_: &str, value: &str, reason: &str) {
    let c = condition(status, type_);
    assert_eq!(c["status"], value, "{type_}: {c}");
    assert_eq!(c["reason"], reason, "{type_}: {c}");
    assert_eq!(c["observedGeneration"], GENERATION, "{type_}: {c}");
    assert!(c["lastTransitionTime"].is_string(), "{type_}: {c}");
}

fn timestamp(v: &Value) -> Timestamp {
    v.as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {v}"))
        .parse()
        .expect("RFC 3339 timestamp")
}

/// True when `t` lies within a minute of now (timestamps are written with second precision).
fn is_recent(t: Timestamp) -> bool {
    Timestamp::now().duration_since(t).abs() < SignedDuration::from_secs(60)
}

fn assert_digest(status: &Value) {
    let digest = status["evidenceDigest"].as_str().expect("evidenceDigest");
    assert_eq!(digest.len(), 64, "digest {digest}");
    assert!(
        digest
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
        "digest {digest}"
    );
}

/// The requeue delay of an action (`Action` does not expose it; its Debug form does).
fn requeue_after(action: &Action) -> Option<Duration> {
    let debug = format!("{action:?}");
    let inner = debug.split_once("Some(")?.1.rsplit_once(')')?.0;
    let (number, unit) = inner.split_at(inner.find(|c: char| c.is_ascii_alphabetic() || c == 'µ')?);
    let n: f64 = number.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "ms" => n / 1e3,
        "µs" => n / 1e6,
        "ns" => n / 1e9,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------------------------

/// 1. First reconcile of a failing MFA control: one status apply, then ControlFailing and ResourceFailing.
#[tokio::test]
async fn first_reconcile_of_failing_control_writes_status_and_warns() {
    let control = mfa_control();
    let snapshot = rbac_snapshot(true);
    let (result, requests) = reconcile_ok(&control, Some(&snapshot)).await;

    let action = result.expect("reconcile succeeds");
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(600)),
        "default interval"
    );
    assert_eq!(
        requests.len(),
        3,
        "exactly one status write and two events: {requests:#?}"
    );

    let status = assert_status_apply(&requests[0], "mfa-privileged-access");
    assert_condition(&status, "Ready", "True", "Evaluated");
    assert_condition(&status, "Compliant", "False", "NonCompliant");
    assert!(
        status["conditions"]
            .as_array()
            .expect("conditions")
            .iter()
            .all(|c| c["type"] != "AdmissionEnforced"),
        "Audit mode has no AdmissionEnforced condition: {status}"
    );
    assert_eq!(
        status["summary"],
        json!({"evaluated": 2, "passed": 1, "failed": 1, "excepted": 0, "unknown": 0})
    );
    assert_eq!(status["observedGeneration"], GENERATION);
    assert_eq!(status["mode"], "Audit");
    assert!(is_recent(timestamp(&status["lastEvaluated"])));
    assert_digest(&status);
    assert!(status.get("findingsTruncated").is_none());

    let findings = status["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f["apiVersion"], "rbac.authorization.k8s.io/v1");
    assert_eq!(f["kind"], "ClusterRoleBinding");
    assert_eq!(f["name"], ALICE_BINDING);
    assert_eq!(f["uid"], ALICE_BINDING_UID);
    assert!(f.get("namespace").is_none());
    assert_eq!(f["result"], "Fail");
    assert_eq!(f["rule"], "privileged-binding-to-user");
    assert!(
        f["message"]
            .as_str()
            .expect("message")
            .contains("User alice"),
        "{f}"
    );
    assert!(is_recent(timestamp(&f["since"])));

    let failing = assert_event(
        &requests[1],
        "mfa-privileged-access",
        "Warning",
        "ControlFailing",
    );
    assert!(failing.get("related").is_none(), "{failing}");
    let note = failing["note"].as_str().expect("note");
    assert!(
        note.contains("CC6.1, CC6.3") && note.contains("1 of 2"),
        "{note}"
    );

    let resource = assert_event(
        &requests[2],
        "mfa-privileged-access",
        "Warning",
        "ResourceFailing",
    );
    assert_eq!(
        resource["related"],
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "name": ALICE_BINDING,
            "uid": ALICE_BINDING_UID,
        })
    );
    assert!(
        resource["note"]
            .as_str()
            .expect("note")
            .contains(&format!("ClusterRoleBinding {ALICE_BINDING}")),
        "{resource}"
    );
}

/// The status the API server holds after a first reconcile of `control` against `snapshot`.
async fn status_after_first_reconcile(
    control: &Control,
    snapshot: &ClusterSnapshot,
) -> ControlStatus {
    let (result, requests) = reconcile_ok(control, Some(snapshot)).await;
    result.expect("first reconcile succeeds");
    let patch = requests
        .iter()
        .find(|r| r.is_status_patch(control.metadata.name.as_deref().unwrap_or_default()))
        .expect("first reconcile writes status");
    serde_json::from_value(patch.body["status"].clone()).expect("valid status")
}

/// 2. Nothing changed and the heartbeat is not due: no request at all.
#[tokio::test]
async fn unchanged_status_makes_no_request() {
    let snapshot = rbac_snapshot(true);
    let mut control = mfa_control();
    let status = status_after_first_reconcile(&control, &snapshot).await;
    assert!(is_recent(
        status.last_evaluated.clone().expect("lastEvaluated").0
    ));
    control.status = Some(status);

    let (result, requests) = reconcile_ok(&control, Some(&snapshot)).await;
    assert_eq!(
        result.expect("reconcile succeeds"),
        Action::requeue(Duration::from_secs(600))
    );
    assert!(
        requests.is_empty(),
        "expected no request, got {requests:#?}"
    );
}

/// 2b. Same result, but lastEvaluated is older than the interval: the heartbeat rewrites status, without events.
#[tokio::test]
async fn stale_heartbeat_rewrites_status_without_events() {
    let snapshot = rbac_snapshot(true);
    let mut control = mfa_control();
    let mut status = status_after_first_reconcile(&control, &snapshot).await;
    let old = Timestamp::now() - SignedDuration::from_secs(3600);
    status.last_evaluated = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(old));
    let previous = serde_json::to_value(&status).expect("status serializes");
    control.status = Some(status);

    let (result, requests) = reconcile_ok(&control, Some(&snapshot)).await;
    result.expect("reconcile succeeds");
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let new = assert_status_apply(&requests[0], "mfa-privileged-access");
    assert!(is_recent(timestamp(&new["lastEvaluated"])));
    let strip = |mut v: Value| {
        v.as_object_mut().expect("object").remove("lastEvaluated");
        v
    };
    assert_eq!(strip(new), strip(previous), "only lastEvaluated changes");
}

/// 3. The violation is gone: Compliant flips to True (new transition time), Ready keeps its transition time,
/// ControlCompliant and ResourceRemediated are published.
#[tokio::test]
async fn remediation_flips_compliant_and_announces_it() {
    let mut control = mfa_control();
    let mut previous = status_after_first_reconcile(&control, &rbac_snapshot(true)).await;
    let long_ago: Timestamp = "2025-01-02T03:04:05Z".parse().expect("timestamp");
    for c in &mut previous.conditions {
        c.last_transition_time = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(long_ago);
    }
    control.status = Some(previous);

    let (result, requests) = reconcile_ok(&control, Some(&rbac_snapshot(false))).await;
    result.expect("reconcile succeeds");
    assert_eq!(requests.len(), 3, "{requests:#?}");

    let status = assert_status_apply(&requests[0], "mfa-privileged-access");
    assert_condition(&status, "Ready", "True", "Evaluated");
    assert_condition(&status, "Compliant", "True", "Compliant");
    assert_eq!(
        timestamp(&condition(&status, "Ready")["lastTransitionTime"]),
        long_ago,
        "Ready did not change: its transition time is kept"
    );
    let compliant_since = timestamp(&condition(&status, "Compliant")["lastTransitionTime"]);
    assert_ne!(compliant_since, long_ago);
    assert!(is_recent(compliant_since));
    assert!(
        status.get("findings").is_none(),
        "no findings left: {status}"
    );
    assert_eq!(status["summary"]["failed"], 0);
    assert_eq!(status["summary"]["passed"], 1);
    assert_digest(&status);

    let compliant = assert_event(
        &requests[1],
        "mfa-privileged-access",
        "Normal",
        "ControlCompliant",
    );
    assert!(compliant.get("related").is_none());
    let remediated = assert_event(
        &requests[2],
        "mfa-privileged-access",
        "Normal",
        "ResourceRemediated",
    );
    assert_eq!(remediated["related"]["kind"], "ClusterRoleBinding");
    assert_eq!(remediated["related"]["name"], ALICE_BINDING);
    assert_eq!(remediated["related"]["uid"], ALICE_BINDING_UID);
    assert!(
        remediated["note"]
            .as_str()
            .expect("note")
            .contains("privileged-binding-to-user"),
        "{remediated}"
    );
}

/// 4. Invalid specs: Ready=False naming the field, one InvalidSpec warning, and no requeue until the spec changes.
async fn assert_invalid_spec(spec: Value, reason: &str, message_parts: &[&str]) {
    let control = control_from("broken", spec);
    // No snapshot: an invalid control must not read the cluster at all.
    let (result, requests) = reconcile_ok(&control, None).await;
    let action = result.expect("an invalid spec is not a reconcile error");
    assert_eq!(action, Action::await_change());
    assert_eq!(
        format!("{action:?}"),
        format!("{:?}", Action::await_change())
    );
    assert_eq!(requests.len(), 2, "{requests:#?}");

    let status = assert_status_apply(&requests[0], "broken");
    assert_condition(&status, "Ready", "False", reason);
    assert_condition(&status, "Compliant", "Unknown", "InvalidSpec");
    let message = condition(&status, "Ready")["message"]
        .as_str()
        .expect("message");
    for part in message_parts {
        assert!(message.contains(part), "{message:?} should name {part:?}");
    }
    assert!(status.get("summary").is_none(), "{status}");
    assert!(status.get("evidenceDigest").is_none(), "{status}");
    assert!(status.get("findings").is_none(), "{status}");
    assert_eq!(status["observedGeneration"], GENERATION);

    let event = assert_event(&requests[1], "broken", "Warning", "InvalidSpec");
    let note = event["note"].as_str().expect("note");
    assert!(note.contains(message_parts[0]), "{note}");

    // Reconciling the same invalid spec again (status now recorded) writes nothing and publishes nothing.
    let mut again = control.clone();
    again.status = Some(serde_json::from_value(status).expect("valid status"));
    let (result, requests) = reconcile_ok(&again, None).await;
    assert_eq!(result.expect("ok"), Action::await_change());
    assert!(requests.is_empty(), "{requests:#?}");
}

#[tokio::test]
async fn two_check_kinds_make_the_control_not_ready() {
    let mut spec = mfa_spec();
    spec["check"]["changeApproval"] = json!({});
    assert_invalid_spec(
        spec,
        "InvalidCheck",
        &["spec.check", "mfaAccess", "changeApproval"],
    )
    .await;
}

#[tokio::test]
async fn unknown_criterion_makes_the_control_not_ready() {
    let mut spec = mfa_spec();
    spec["criteria"] = json!(["CC99.1"]);
    assert_invalid_spec(spec, "InvalidCriteria", &["spec.criteria", "CC99.1"]).await;
}

/// 5. Enforce is recorded, and the AdmissionEnforced condition says it is audited only.
#[tokio::test]
async fn enforce_mode_is_reported_as_audit_only() {
    let mut spec = mfa_spec();
    spec["mode"] = json!("Enforce");
    let control = control_from("mfa-enforced", spec);
    let (result, requests) = reconcile_ok(&control, Some(&rbac_snapshot(false))).await;
    result.expect("reconcile succeeds");
    assert_eq!(
        requests.len(),
        2,
        "status and ControlCompliant: {requests:#?}"
    );

    let status = assert_status_apply(&requests[0], "mfa-enforced");
    assert_eq!(status["mode"], "Enforce");
    assert_condition(&status, "Ready", "True", "Evaluated");
    assert_condition(&status, "Compliant", "True", "Compliant");
    assert_condition(&status, "AdmissionEnforced", "False", "AuditOnly");
    let message = condition(&status, "AdmissionEnforced")["message"]
        .as_str()
        .expect("message");
    assert!(message.contains("Enforce"), "{message}");
    assert_event(&requests[1], "mfa-enforced", "Normal", "ControlCompliant");
}

/// 6. Kinds not available (never watched, not synced): Unknown, not compliant, and a quick requeue.
#[tokio::test]
async fn unavailable_kinds_give_unknown_and_a_quick_requeue() {
    let control = mfa_control();
    let (result, requests) = reconcile_ok(&control, None).await;

    let action = result.expect("reconcile succeeds");
    assert_eq!(action, Action::requeue(Duration::from_secs(15)));
    let after = requeue_after(&action).expect("requeue");
    assert!(after <= Duration::from_secs(15), "{after:?}");
    assert_eq!(requests.len(), 2, "{requests:#?}");

    let status = assert_status_apply(&requests[0], "mfa-privileged-access");
    assert_condition(&status, "Ready", "True", "Evaluated");
    assert_condition(&status, "Compliant", "Unknown", "InsufficientData");
    assert_eq!(status["summary"]["failed"], 0);
    assert!(
        status["summary"]["unknown"].as_u64().expect("unknown") >= 1,
        "{status}"
    );
    let findings = status["findings"].as_array().expect("findings");
    assert!(!findings.is_empty());
    for f in findings {
        assert_eq!(f["result"], "Unknown", "{f}");
        assert_eq!(f["rule"], "data-unavailable", "{f}");
        assert!(
            f["message"]
                .as_str()
                .expect("message")
                .contains("could not be read"),
            "{f}"
        );
    }
    let event = assert_event(
        &requests[1],
        "mfa-privileged-access",
        "Warning",
        "ControlUndetermined",
    );
    assert!(event.get("related").is_none());
}

/// 7. The API server fails the status write: reconcile errs (no event is published for an unwritten status),
/// error_policy backs off, and a later success resets the backoff.
#[tokio::test]
async fn failed_status_write_is_an_error_with_backoff() {
    let control = mfa_control();
    let snapshot = rbac_snapshot(true);
    let (ctx, handle) = context(Some(&snapshot));
    let echo = control.clone();
    let mut patches = 0;
    let answer = move |r: &Recorded| {
        if r.is_status_patch("mfa-privileged-access") {
            patches += 1;
            if patches == 1 {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    status_failure(500, "InternalError", "etcdserver: request timed out"),
                );
            }
        }
        plausible_answer(&echo, r)
    };
    let (done, done_rx) = oneshot::channel();
    let server = tokio::spawn(serve(handle, answer, done_rx));
    let control = Arc::new(control);

    let error = timeout(
        DEADLINE,
        controller::reconcile(control.clone(), ctx.clone()),
    )
    .await
    .expect("reconcile finishes")
    .expect_err("a failed status write fails the reconcile");
    match &error {
        Error::Kube(kube::Error::Api(s)) => assert_eq!(s.code, 500, "{s:?}"),
        other => panic!("expected an API error, got {other:?}"),
    }
    assert_eq!(error.category(), "api");

    let first =
        requeue_after(&error_policy(control.clone(), &error, ctx.clone())).expect("requeue");
    assert!(
        (Duration::from_secs(1)..Duration::from_secs(2)).contains(&first),
        "first retry after 1 s plus jitter: {first:?}"
    );
    let second =
        requeue_after(&error_policy(control.clone(), &error, ctx.clone())).expect("requeue");
    assert!(
        (Duration::from_secs(2)..Duration::from_secs(3)).contains(&second),
        "backoff doubles: {second:?}"
    );

    // The retry succeeds: status is written, events follow, and the failure count is reset.
    timeout(
        DEADLINE,
        controller::reconcile(control.clone(), ctx.clone()),
    )
    .await
    .expect("reconcile finishes")
    .expect("the retry succeeds");
    let after_reset =
        requeue_after(&error_policy(control.clone(), &error, ctx.clone())).expect("requeue");
    assert!(
        (Duration::from_secs(1)..Duration::from_secs(2)).contains(&after_reset),
        "a success resets the backoff: {after_reset:?}"
    );

    let _ = done.send(());
    let requests = timeout(DEADLINE, server)
        .await
        .expect("server stops")
        .expect("server did not panic");
    let kinds: Vec<String> = requests
        .iter()
        .map(|r| {
            if r.is_event_post() {
                format!("POST {}", r.body["reason"].as_str().unwrap_or_default())
            } else {
                format!("{} {}", r.method, r.path)
            }
        })
        .collect();
    let patch = format!("PATCH {CONTROLS}/mfa-privileged-access/status");
    assert_eq!(
        kinds,
        [
            patch.as_str(),
            patch.as_str(),
            "POST ControlFailing",
            "POST ResourceFailing"
        ],
        "no event after the failed write"
    );
    for r in requests.iter().filter(|r| r.method == Method::PATCH) {
        assert_status_apply(r, "mfa-privileged-access");
    }
}

/// 8. A Deployment deployed by Argo CD and then edited with kubectl: the finding names kubectl-edit.
#[tokio::test]
async fn kubectl_edit_after_argocd_is_an_out_of_band_change() {
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "d0d0d0d0-0000-4000-8000-0000000000eb",
            "generation": 7,
            "managedFields": [
                {
                    "manager": "argocd-controller",
                    "operation": "Apply",
                    "apiVersion": "apps/v1",
                    "time": "2026-03-01T10:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}},
                },
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "apps/v1",
                    "time": "2026-03-01T10:00:05Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:replicas": {}}},
                    "subresource": "status",
                },
                {
                    "manager": "kubectl-edit",
                    "operation": "Update",
                    "apiVersion": "apps/v1",
                    "time": "2026-03-02T09:30:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}},
                },
            ],
        },
        "spec": {
            "replicas": 5,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.example/web:1.4.2"}]},
            },
        },
    }))
    .expect("valid Deployment");
    let snapshot = ClusterSnapshot {
        namespaces: vec![Arc::new(namespace("shop"))],
        deployments: vec![Arc::new(deployment)],
        ..Default::default()
    };
    let control = change_approval_control();
    let (result, requests) = reconcile_ok(&control, Some(&snapshot)).await;
    result.expect("reconcile succeeds");
    assert_eq!(requests.len(), 3, "{requests:#?}");

    let status = assert_status_apply(&requests[0], "change-approval");
    assert_condition(&status, "Compliant", "False", "NonCompliant");
    assert_eq!(
        status["summary"],
        json!({"evaluated": 1, "passed": 0, "failed": 1, "excepted": 0, "unknown": 0})
    );
    let findings = status["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f["kind"], "Deployment");
    assert_eq!(f["namespace"], "shop");
    assert_eq!(f["name"], "web");
    assert_eq!(f["result"], "Fail");
    assert_eq!(f["rule"], "out-of-band-change");
    let message = f["message"].as_str().expect("message");
    assert!(message.contains("kubectl-edit"), "{message}");
    assert!(message.contains("argocd-controller"), "{message}");
    assert!(
        !message.contains("kube-controller-manager"),
        "status writes are not changes: {message}"
    );

    assert_event(&requests[1], "change-approval", "Warning", "ControlFailing");
    let resource = assert_event(
        &requests[2],
        "change-approval",
        "Warning",
        "ResourceFailing",
    );
    assert_eq!(resource["related"]["kind"], "Deployment");
    assert_eq!(resource["related"]["namespace"], "shop");
    assert_eq!(resource["related"]["name"], "web");
    assert!(
        resource["note"]
            .as_str()
            .expect("note")
            .contains("kubectl-edit"),
        "{resource}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Which controls a change affects
// ---------------------------------------------------------------------------------------------------------------

fn control_store(controls: Vec<Control>) -> reflector::Store<Control> {
    let (reader, mut writer) = reflector::store();
    for control in controls {
        writer.apply_watcher_event(&watcher::Event::Apply(control));
    }
    reader
}

fn affected(
    store: &reflector::Store<Control>,
    kind: ResourceKind,
    namespace: Option<&str>,
) -> Vec<String> {
    let change = Change {
        kind,
        namespace: namespace.map(str::to_string),
    };
    let mut names: Vec<String> = affected_controls(store, &change)
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort();
    names
}

#[test]
fn role_binding_change_affects_the_mfa_control_only() {
    let store = control_store(vec![mfa_control(), change_approval_control()]);
    assert_eq!(
        affected(&store, ResourceKind::RoleBinding, Some("team-a")),
        ["mfa-privileged-access"]
    );
    assert_eq!(
        affected(&store, ResourceKind::ClusterRoleBinding, None),
        ["mfa-privileged-access"]
    );
}

#[test]
fn deployment_change_in_an_excluded_namespace_affects_nothing() {
    let store = control_store(vec![mfa_control(), change_approval_control()]);
    assert!(affected(&store, ResourceKind::Deployment, Some("scratch")).is_empty());
    assert_eq!(
        affected(&store, ResourceKind::Deployment, Some("shop")),
        ["change-approval"]
    );
    // A resync of the kind (no namespace) concerns every control reading it.
    assert_eq!(
        affected(&store, ResourceKind::Deployment, None),
        ["change-approval"]
    );
}

#[test]
fn namespace_change_affects_every_control() {
    let store = control_store(vec![mfa_control(), change_approval_control()]);
    assert_eq!(
        affected(&store, ResourceKind::Namespace, None),
        ["change-approval", "mfa-privileged-access"]
    );
}

#[test]
fn invalid_controls_are_not_triggered_by_cluster_changes() {
    let mut spec = mfa_spec();
    spec["criteria"] = json!(["CC99.1"]);
    let store = control_store(vec![control_from("broken", spec)]);
    assert!(affected(&store, ResourceKind::Namespace, None).is_empty());
    assert!(affected(&store, ResourceKind::RoleBinding, Some("team-a")).is_empty());
}
