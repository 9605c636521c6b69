//! ControlExceptions against a scripted API server: the Control's status and events when an exception waives a
//! finding and when it expires, and the exception's own status (state, reason, condition, matched count).

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::runtime::controller::Action;
use serde_json::{Value, json};
use soc2_operator::api::{Control, ControlException, ControlStatus};
use soc2_operator::controller::{self, Error};
use soc2_operator::runtime::leader::Leadership;
use soc2_operator::view::ClusterSnapshot;

use crate::support::fixtures::{
    ALICE_BINDING, alice_binding, cluster_admin_binding, cluster_admin_role, mfa_spec, namespace,
};
use crate::support::mock_api::{
    CONTROLS, EVENTS, Recorded, mock_context, plausible_answer, reconcile_with, status_failure,
};

const CONTROL: &str = "mfa-privileged-access";
const EXCEPTIONS: &str = "/apis/soc2.dev/v1alpha1/namespaces/soc2-system/controlexceptions";

fn control() -> Control {
    crate::support::fixtures::control(CONTROL, 3, mfa_spec())
}

fn rfc3339(t: Timestamp) -> String {
    t.round(k8s_openapi::jiff::Unit::Second)
        .expect("rounds")
        .to_string()
}

/// A cluster-wide exception (in the operator's namespace) for alice's binding, created an hour ago.
fn exception(name: &str, expires: Timestamp, approved_by: &str) -> ControlException {
    serde_json::from_value(json!({
        "apiVersion": "soc2.dev/v1alpha1",
        "kind": "ControlException",
        "metadata": {
            "name": name,
            "namespace": "soc2-system",
            "uid": "ce000000-0000-4000-8000-000000000001",
            "generation": 2,
            "resourceVersion": "500",
            "creationTimestamp": rfc3339(Timestamp::now() - SignedDuration::from_hours(1)),
        },
        "spec": {
            "control": CONTROL,
            "resources": [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "name": ALICE_BINDING}],
            "justification": "alice is the vendor's on-call engineer until the IdP migration; access reviewed weekly",
            "approvedBy": approved_by,
            "ticket": "SEC-1234",
            "expiresAt": rfc3339(expires),
        },
    }))
    .expect("valid ControlException")
}

fn snapshot(exceptions: Vec<ControlException>) -> ClusterSnapshot {
    ClusterSnapshot {
        namespaces: vec![
            Arc::new(namespace("default")),
            Arc::new(namespace("kube-system")),
        ],
        cluster_roles: vec![Arc::new(cluster_admin_role())],
        cluster_role_bindings: vec![
            Arc::new(cluster_admin_binding(
                "platform-admins",
                "0b1f4a52-0000-4000-8000-00000000a0a0",
                "Group",
                "oidc:platform-admins",
            )),
            alice_binding(),
        ],
        control_exceptions: exceptions.into_iter().map(Arc::new).collect(),
        ..Default::default()
    }
}

async fn reconcile_control(
    control: &Control,
    snapshot: &ClusterSnapshot,
) -> (Result<Action, Error>, Vec<Recorded>) {
    let (ctx, handle) = mock_context(Some(snapshot), |ctx| ctx);
    let echo = control.clone();
    reconcile_with(control, &ctx, handle, move |r| plausible_answer(&echo, r)).await
}

fn requeue_after(action: &Action) -> Duration {
    let debug = format!("{action:?}");
    let inner = debug
        .split_once("Some(")
        .and_then(|(_, rest)| rest.rsplit_once(')'))
        .map(|(inner, _)| inner)
        .unwrap_or_else(|| panic!("no requeue in {debug}"));
    let at = inner
        .find(|c: char| c.is_ascii_alphabetic() || c == 'µ')
        .expect("unit");
    let (number, unit) = inner.split_at(at);
    let n: f64 = number.parse().expect("number");
    Duration::from_secs_f64(match unit {
        "s" => n,
        "ms" => n / 1e3,
        _ => panic!("unit {unit}"),
    })
}

fn status_apply<'a>(request: &'a Recorded, path: &str, kind: &str) -> &'a Value {
    assert_eq!(request.method, Method::PATCH, "{request:?}");
    assert_eq!(request.path, path);
    assert_eq!(
        request.query.get("fieldManager").map(String::as_str),
        Some("soc2-operator")
    );
    assert_eq!(request.query.get("force").map(String::as_str), Some("true"));
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(request.body["apiVersion"], "soc2.dev/v1alpha1");
    assert_eq!(request.body["kind"], kind);
    let keys: Vec<&String> = request.body.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["apiVersion", "kind", "status"]);
    &request.body["status"]
}

fn event_reasons(requests: &[Recorded]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.method == Method::POST && r.path == EVENTS)
        .map(|r| r.body["reason"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// An active exception: the finding stays listed as Excepted with the exception's approver and expiry, leaves the
/// failed count, and the control is requeued at the expiry rather than after its 10 minute interval.
#[tokio::test]
async fn an_active_exception_waives_the_finding_and_requeues_at_expiry() {
    let expires = Timestamp::now() + SignedDuration::from_secs(120);
    let s = snapshot(vec![exception("alice-vendor", expires, "ciso@example.com")]);
    let (result, requests) = reconcile_control(&control(), &s).await;
    let action = result.expect("reconcile succeeds");
    let wait = requeue_after(&action);
    assert!(
        wait <= Duration::from_secs(121) && wait >= Duration::from_secs(100),
        "requeued at the expiry: {action:?}"
    );

    let status = status_apply(
        &requests[0],
        &format!("{CONTROLS}/{CONTROL}/status"),
        "Control",
    );
    assert_eq!(
        status["summary"],
        json!({"evaluated": 2, "passed": 1, "failed": 0, "excepted": 1, "unknown": 0})
    );
    let compliant = status["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == "Compliant")
        .expect("Compliant");
    assert_eq!(compliant["status"], "True");
    assert_eq!(compliant["reason"], "CompliantWithExceptions");
    let f = &status["findings"][0];
    assert_eq!(f["name"], ALICE_BINDING);
    assert_eq!(f["result"], "Excepted");
    assert_eq!(
        f["exception"],
        json!({
            "name": "soc2-system/alice-vendor",
            "approvedBy": "ciso@example.com",
            "ticket": "SEC-1234",
            "expiresAt": rfc3339(expires),
        })
    );
    // Nothing fails: a compliant event, no ResourceFailing.
    assert_eq!(event_reasons(&requests), ["ControlCompliant"]);
    assert_eq!(requests.len(), 2, "{requests:#?}");
}

/// At the expiry the finding fails again at once, and an Event on the Control says which exception expired.
#[tokio::test]
async fn at_expiry_the_findings_fail_again_and_an_event_says_so() {
    let active = exception(
        "alice-vendor",
        Timestamp::now() + SignedDuration::from_hours(1),
        "ciso@example.com",
    );
    let (result, requests) = reconcile_control(&control(), &snapshot(vec![active])).await;
    result.expect("first reconcile");
    let mut previous: ControlStatus =
        serde_json::from_value(requests[0].body["status"].clone()).expect("status");

    // The same exception, now past its expiry (as recorded in the previous status).
    let expired_at = Timestamp::now() - SignedDuration::from_secs(1);
    let expired = exception("alice-vendor", expired_at, "ciso@example.com");
    for f in &mut previous.findings {
        if let Some(x) = f.exception.as_mut() {
            x.expires_at = rfc3339(expired_at);
        }
    }
    let mut control = control();
    control.status = Some(previous);
    let (result, requests) = reconcile_control(&control, &snapshot(vec![expired])).await;
    let action = result.expect("reconcile succeeds");
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(600)),
        "no active exception: back to the interval"
    );

    let status = status_apply(
        &requests[0],
        &format!("{CONTROLS}/{CONTROL}/status"),
        "Control",
    );
    assert_eq!(status["summary"]["failed"], 1);
    assert_eq!(status["summary"]["excepted"], 0);
    assert_eq!(status["findings"][0]["result"], "Fail");
    assert!(status["findings"][0].get("exception").is_none());
    assert_eq!(
        event_reasons(&requests),
        ["ControlFailing", "ResourceFailing", "ExceptionExpired"]
    );
    let expiry = requests.last().expect("event");
    assert_eq!(expiry.body["type"], "Warning");
    assert_eq!(expiry.body["regarding"]["kind"], "Control");
    assert_eq!(expiry.body["regarding"]["name"], CONTROL);
    let note = expiry.body["note"].as_str().expect("note");
    assert!(
        note.contains("ControlException soc2-system/alice-vendor")
            && note.contains("ciso@example.com")
            && note.contains(&format!("ClusterRoleBinding {ALICE_BINDING}"))
            && note.contains("fail again"),
        "{note}"
    );
}

/// What the API server answers an exception reconcile: the Control (or 404), and the patched exception.
fn exception_answer(
    control: Option<Control>,
    exception: ControlException,
) -> impl FnMut(&Recorded) -> (StatusCode, Value) + Send + 'static {
    move |r| {
        if r.method == Method::GET && r.path == format!("{CONTROLS}/{CONTROL}") {
            return match &control {
                Some(c) => (StatusCode::OK, serde_json::to_value(c).expect("control")),
                None => (
                    StatusCode::NOT_FOUND,
                    status_failure(
                        404,
                        "NotFound",
                        "controls.soc2.dev \"mfa-privileged-access\" not found",
                    ),
                ),
            };
        }
        let name = exception.metadata.name.clone().unwrap_or_default();
        if r.method == Method::PATCH && r.path == format!("{EXCEPTIONS}/{name}/status") {
            let mut patched = exception.clone();
            patched.status =
                Some(serde_json::from_value(r.body["status"].clone()).expect("status"));
            return (
                StatusCode::OK,
                serde_json::to_value(&patched).expect("exception"),
            );
        }
        (
            StatusCode::NOT_FOUND,
            status_failure(404, "NotFound", "unexpected request"),
        )
    }
}

async fn reconcile_exception(
    exception: &ControlException,
    control: Option<Control>,
    leader: bool,
) -> (Result<Action, Error>, Vec<Recorded>) {
    let s = snapshot(vec![]);
    let (ctx, handle) = mock_context(Some(&s), |ctx| {
        if leader {
            ctx
        } else {
            ctx.with_leadership(Leadership::standby())
        }
    });
    let server_side = exception_answer(control, exception.clone());
    let server = crate::support::mock_api::FakeServer::spawn(handle, server_side);
    let result = tokio::time::timeout(
        crate::support::mock_api::DEADLINE,
        controller::reconcile_exception(Arc::new(exception.clone()), ctx),
    )
    .await
    .expect("reconcile finishes");
    (result, server.finish().await)
}

#[tokio::test]
async fn an_active_exception_records_its_state_and_what_it_matched() {
    let expires = Timestamp::now() + SignedDuration::from_hours(2);
    let e = exception("alice-vendor", expires, "ciso@example.com");
    let (result, requests) = reconcile_exception(&e, Some(control()), true).await;
    let action = result.expect("reconcile succeeds");
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(requests[0].method, Method::GET);
    assert_eq!(requests[0].path, format!("{CONTROLS}/{CONTROL}"));
    let status = status_apply(
        &requests[1],
        &format!("{EXCEPTIONS}/alice-vendor/status"),
        "ControlException",
    );
    assert_eq!(status["state"], "Active");
    assert_eq!(status["reason"], "Approved");
    assert_eq!(status["matchedFindings"], 1, "alice's binding: {status}");
    assert_eq!(status["observedGeneration"], 2);
    let condition = &status["conditions"][0];
    assert_eq!(condition["type"], "Active");
    assert_eq!(condition["status"], "True");
    assert_eq!(condition["observedGeneration"], 2);
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(300)),
        "refreshed every five minutes until the expiry"
    );

    // The API server now holds that status: a second reconcile only reads the Control.
    let mut written = e.clone();
    written.status = Some(serde_json::from_value(status.clone()).expect("status"));
    let (result, requests) = reconcile_exception(&written, Some(control()), true).await;
    result.expect("reconcile succeeds");
    assert_eq!(
        requests.len(),
        1,
        "no write when nothing changed: {requests:#?}"
    );
}

#[tokio::test]
async fn invalid_and_expired_exceptions_say_why_they_waive_nothing() {
    let soon = Timestamp::now() + SignedDuration::from_hours(2);
    let cases = [
        (
            exception("no-control", soon, "ciso@example.com"),
            None,
            "Invalid",
            "ControlNotFound",
            Some(Duration::from_secs(300)),
        ),
        (
            exception("no-approver", soon, "  "),
            Some(control()),
            "Invalid",
            "MissingApprover",
            None,
        ),
        (
            exception(
                "too-long",
                Timestamp::now() + SignedDuration::from_hours(24 * 400),
                "ciso@example.com",
            ),
            Some(control()),
            "Invalid",
            "LifetimeTooLong",
            None,
        ),
        (
            exception(
                "ended",
                Timestamp::now() - SignedDuration::from_secs(5),
                "ciso@example.com",
            ),
            Some(control()),
            "Expired",
            "Expired",
            None,
        ),
    ];
    for (e, control, state, reason, requeue) in cases {
        let name = e.metadata.name.clone().expect("name");
        let (result, requests) = reconcile_exception(&e, control, true).await;
        let action = result.expect("reconcile succeeds");
        assert_eq!(requests.len(), 2, "{name}: {requests:#?}");
        let status = status_apply(
            &requests[1],
            &format!("{EXCEPTIONS}/{name}/status"),
            "ControlException",
        );
        assert_eq!(status["state"], state, "{name}: {status}");
        assert_eq!(status["reason"], reason, "{name}: {status}");
        assert_eq!(status["matchedFindings"], 0, "{name}");
        assert_eq!(status["conditions"][0]["status"], "False", "{name}");
        assert!(
            !status["message"].as_str().unwrap_or_default().is_empty(),
            "{name}"
        );
        match requeue {
            Some(d) => assert_eq!(action, Action::requeue(d), "{name}"),
            None => assert_eq!(action, Action::await_change(), "{name}"),
        }
    }
}

#[tokio::test]
async fn a_standby_writes_no_exception_status() {
    let e = exception(
        "alice-vendor",
        Timestamp::now() + SignedDuration::from_hours(2),
        "ciso@example.com",
    );
    let (result, requests) = reconcile_exception(&e, Some(control()), false).await;
    result.expect("reconcile succeeds");
    assert!(requests.is_empty(), "{requests:#?}");
}

/// An exception change re-evaluates controls even outside their namespace scope: a cluster-wide exception lives
/// in the operator's namespace, and the change does not say which control a deleted or retargeted exception named.
#[test]
fn exception_changes_re_evaluate_controls_regardless_of_their_scope() {
    use kube::runtime::{reflector, watcher};
    use soc2_operator::controller::affected_controls;
    use soc2_operator::view::ResourceKind;
    use soc2_operator::view::live::Change;

    let mut scoped = crate::support::fixtures::control(
        "scoped",
        1,
        json!({
            "criteria": ["CC8.1"],
            "category": "Security",
            "title": "Changes are approved",
            "scope": {"namespaces": ["shop"]},
            "check": {"changeApproval": {}},
        }),
    );
    scoped.status = None;
    let (store, mut writer) = reflector::store();
    for c in [control(), scoped] {
        writer.apply_watcher_event(&watcher::Event::Apply(c));
    }
    let change = Change {
        kind: ResourceKind::ControlException.into(),
        namespace: Some("soc2-system".into()),
    };
    let mut names: Vec<String> = affected_controls(&store, &change)
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort();
    assert_eq!(names, [CONTROL, "scoped"]);
}
