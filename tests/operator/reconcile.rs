//! Reconcile against a scripted API server (level 3 of TESTING.md).
//!
//! Each scenario runs `controller::reconcile` with a client whose transport is a `tower_test` mock. A spawned task
//! plays the API server (`crate::support::mock_api`): it records every request (method, path, query, content type, JSON
//! body) and answers it as a real apiserver would (the status PATCH is echoed back as a Control, an Event POST is
//! echoed back as the created Event). Once reconcile returns, the server waits a short grace period for stray
//! requests, so "no other request" and "no request at all" are asserted on the recorded list. Every wait has a
//! timeout: a request nobody answers fails the test instead of hanging it.
//!
//! The last tests feed a reflector store by hand and check which controls a cluster change affects.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::runtime::controller::Action;
use kube::runtime::{reflector, watcher};
use serde_json::{Value, json};
use soc2_operator::api::{Control, ControlStatus};
use soc2_operator::controller::{self, Error, affected_controls, error_policy};
use soc2_operator::view::live::Change;
use soc2_operator::view::stored::Deployment;
use soc2_operator::view::{ClusterSnapshot, ResourceKind};
use tokio::time::timeout;

use crate::support::fixtures::{
    ALICE_BINDING, ALICE_BINDING_UID, CONTROL_UID, alice_binding, cluster_admin_binding,
    cluster_admin_role, mfa_spec, namespace,
};
use crate::support::mock_api::{
    CONTROLS, DEADLINE, EVENTS, FakeServer, Recorded, mock_context, plausible_answer,
    reconcile_with, status_failure,
};

const GENERATION: i64 = 3;

// ---------------------------------------------------------------------------------------------------------------
// The fake API server
// ---------------------------------------------------------------------------------------------------------------

/// Reconciles `control` against a well-behaved API server.
async fn reconcile_ok(
    control: &Control,
    snapshot: Option<&ClusterSnapshot>,
) -> (Result<Action, Error>, Vec<Recorded>) {
    let (ctx, handle) = mock_context(snapshot, |ctx| ctx);
    let echo = control.clone();
    reconcile_with(control, &ctx, handle, move |r| plausible_answer(&echo, r)).await
}

// ---------------------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------------------

fn control_from(name: &str, spec: Value) -> Control {
    crate::support::fixtures::control(name, GENERATION, spec)
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

/// A cluster where cluster-admin is bound to the MFA-enforced group, and, when `with_alice`, directly to User alice.
fn rbac_snapshot(with_alice: bool) -> ClusterSnapshot {
    let mut bindings = vec![Arc::new(cluster_admin_binding(
        "platform-admins",
        "0b1f4a52-0000-4000-8000-00000000a0a0",
        "Group",
        "oidc:platform-admins",
    ))];
    if with_alice {
        bindings.push(alice_binding());
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

/// 2a. The next reconcile over the same cluster state (same controller, same watch caches) evaluates nothing again:
/// the evaluation takes the `unchanged` path, as `soc2_evaluation_duration_seconds` reports, and nothing is written.
#[tokio::test]
async fn a_reconcile_over_the_same_objects_evaluates_nothing_again() {
    let snapshot = rbac_snapshot(true);
    let metrics = Arc::new(soc2_operator::runtime::metrics::Metrics::new());
    let shared = metrics.clone();
    let (first, handle) = mock_context(Some(&snapshot), move |ctx| ctx.with_metrics(shared));
    let mut control = mfa_control();
    let echo = control.clone();
    let (result, requests) = reconcile_with(&control, &first, handle, move |r| {
        plausible_answer(&echo, r)
    })
    .await;
    result.expect("first reconcile succeeds");
    let patch = requests
        .iter()
        .find(|r| r.is_status_patch("mfa-privileged-access"))
        .expect("first reconcile writes status");
    control.status = Some(serde_json::from_value(patch.body["status"].clone()).expect("status"));

    let (view, evaluators, shared) = (
        first.view.clone(),
        first.evaluators.clone(),
        metrics.clone(),
    );
    let (second, handle) = mock_context(None, move |mut ctx| {
        ctx.view = view;
        ctx.evaluators = evaluators;
        ctx.with_metrics(shared)
    });
    let echo = control.clone();
    let (result, requests) = reconcile_with(&control, &second, handle, move |r| {
        plausible_answer(&echo, r)
    })
    .await;
    result.expect("second reconcile succeeds");
    assert!(
        requests.is_empty(),
        "expected no request, got {requests:#?}"
    );
    let exported = metrics.encode().expect("metrics encode");
    for path in ["full", "unchanged"] {
        let series = format!(
            r#"soc2_evaluation_duration_seconds_count{{check="mfaAccess",path="{path}"}} 1"#
        );
        assert!(exported.contains(&series), "{series} in {exported}");
    }
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
    let (ctx, handle) = mock_context(Some(&snapshot), |ctx| ctx);
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
    let server = FakeServer::spawn(handle, answer);
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

    let requests = server.finish().await;
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
        kind: kind.into(),
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

/// With `--policy-reports`, a status write is followed by the ClusterPolicyReport apply (after looking up which
/// namespaced reports an earlier run left); an unchanged result writes neither.
#[tokio::test]
async fn policy_reports_follow_status_writes() {
    let control = mfa_control();
    let snapshot = rbac_snapshot(true);
    let (ctx, handle) = mock_context(Some(&snapshot), |c| c.with_policy_reports());
    let echo = control.clone();
    let answer = move |r: &Recorded| {
        if !r.path.starts_with("/apis/wgpolicyk8s.io/") {
            return plausible_answer(&echo, r);
        }
        if r.method == http::Method::GET {
            let list = json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReportList", "metadata": {}, "items": []});
            return (http::StatusCode::OK, list);
        }
        (http::StatusCode::OK, r.body.clone())
    };
    let (result, requests) = reconcile_with(&control, &ctx, handle, answer.clone()).await;
    result.expect("reconcile succeeds");
    assert!(
        requests[0].is_status_patch("mfa-privileged-access"),
        "{requests:#?}"
    );
    let report = requests
        .iter()
        .find(|r| {
            r.method == http::Method::PATCH
                && r.path == "/apis/wgpolicyk8s.io/v1alpha2/clusterpolicyreports/soc2-mfa-privileged-access"
        })
        .unwrap_or_else(|| panic!("no ClusterPolicyReport apply in {requests:#?}"));
    assert_eq!(
        report.query.get("fieldManager").map(String::as_str),
        Some("soc2-operator")
    );
    let failing: Vec<&Value> = report.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["result"] == "fail")
        .collect();
    assert_eq!(failing.len(), 1, "{}", report.body);
    assert_eq!(failing[0]["resources"][0]["name"], ALICE_BINDING);

    // The same result again, with the status the first reconcile wrote: no status write, so no report either.
    let mut written = control.clone();
    written.status =
        Some(serde_json::from_value(requests[0].body["status"].clone()).expect("status"));
    let (ctx, handle) = mock_context(Some(&snapshot), |c| c.with_policy_reports());
    let (result, again) = reconcile_with(&written, &ctx, handle, answer).await;
    result.expect("reconcile succeeds");
    assert!(
        again.is_empty(),
        "nothing changed, nothing written: {again:#?}"
    );
}

/// A Control the API server accepted but the Rust types cannot read (an older or newer CRD) is reported on its own
/// status and never stalls the others: Ready=False MalformedObject, a Warning event, then wait for a change.
#[tokio::test]
async fn unreadable_control_gets_a_malformed_status_and_waits() {
    let unreadable: kube::core::DeserializeGuard<Control> = serde_json::from_value(json!({
        "apiVersion": "soc2.dev/v1alpha1",
        "kind": "Control",
        "metadata": {"name": "from-another-version", "uid": "5d7c2c1e-0000-4000-8000-0000000000bb", "generation": 3},
        "spec": {"criteria": "CC6.1", "category": "Security", "title": "t", "check": {"logging": {}}},
    }))
    .expect("a guard always deserializes");
    assert!(unreadable.0.is_err(), "criteria must be a list");
    let (ctx, handle) = mock_context(None, |c| c);
    let readable = mfa_control();
    let server = FakeServer::spawn(handle, move |r: &Recorded| {
        if r.path.ends_with("/from-another-version/status") {
            // As a real API server does: the patched object, with the spec the operator cannot read.
            let mut echoed = json!({"apiVersion": "soc2.dev/v1alpha1", "kind": "Control",
                "metadata": {"name": "from-another-version", "generation": 3},
                "spec": {"criteria": "CC6.1", "category": "Security", "title": "t", "check": {"logging": {}}}});
            echoed["status"] = r.body["status"].clone();
            return (http::StatusCode::OK, echoed);
        }
        plausible_answer(&readable, r)
    });
    let action = timeout(
        DEADLINE,
        controller::reconcile_guarded(Arc::new(unreadable), ctx),
    )
    .await
    .expect("reconcile finishes")
    .expect("reconcile succeeds");
    let requests = server.finish().await;
    assert_eq!(action, Action::await_change());
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let status = assert_status_apply(&requests[0], "from-another-version");
    assert_condition(&status, "Ready", "False", "MalformedObject");
    let ready = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert!(
        ready["message"].as_str().unwrap().contains("\"CC6.1\""),
        "the message quotes the bad value: {ready}"
    );
    assert_eq!(status["observedGeneration"], 3);
    assert!(requests[1].is_event_post());
    assert_eq!(requests[1].body["reason"], "InvalidSpec");
    assert_eq!(requests[1].body["type"], "Warning");
}

/// Reconciles the cached `control` over `snapshot` with the operator's memory of its writes, `written`.
async fn reconcile_remembering(
    control: &Control,
    snapshot: &ClusterSnapshot,
    written: &Arc<controller::WrittenStatuses>,
) -> Vec<Recorded> {
    let (ctx, handle) = mock_context(Some(snapshot), |mut ctx| {
        ctx.written = written.clone();
        ctx
    });
    let echo = control.clone();
    let (result, requests) =
        reconcile_with(control, &ctx, handle, move |r| plausible_answer(&echo, r)).await;
    result.expect("reconcile succeeds");
    requests
}

/// The watch cache may not yet hold the status this replica just wrote. A violation that comes back right after
/// a remediation was written must still be written, although the cached Control still shows it failing: found by
/// the scale harness at 100k objects, where a Control stayed Compliant after its violation came back.
#[tokio::test]
async fn a_result_that_returns_before_the_cache_sees_the_last_write_is_written() {
    let mut cached = mfa_control();
    cached.status = Some(status_after_first_reconcile(&cached, &rbac_snapshot(true)).await);
    let written = Arc::new(controller::WrittenStatuses::default());

    // Remediated: written (the fake API server answers at resourceVersion 1001; the cache stays at 1000).
    let requests = reconcile_remembering(&cached, &rbac_snapshot(false), &written).await;
    let status = assert_status_apply(&requests[0], "mfa-privileged-access");
    assert_condition(&status, "Compliant", "True", "Compliant");

    // The binding is back before the cache has seen that write: the cached Control still says failing, as the new
    // result does, but the status on the server says compliant and must be corrected, with a ControlFailing event.
    let requests = reconcile_remembering(&cached, &rbac_snapshot(true), &written).await;
    assert!(
        !requests.is_empty(),
        "the returned violation was not written"
    );
    let status = assert_status_apply(&requests[0], "mfa-privileged-access");
    assert_condition(&status, "Compliant", "False", "NonCompliant");
    assert!(
        requests
            .iter()
            .any(|r| r.is_event_post() && r.body["reason"] == "ControlFailing"),
        "{requests:#?}"
    );

    // Once the cache holds a write by someone else (another version), the cache counts again.
    let mut moved_on = cached.clone();
    moved_on.metadata.resource_version = Some("2000".into());
    assert_eq!(written.previous(&moved_on), moved_on.status);
}
