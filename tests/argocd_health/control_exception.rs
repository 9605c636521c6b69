//! `config/argocd/health-controlexception.lua` against ControlExceptions whose status comes from the operator's own
//! assessment (`exceptions::assess`) and status builder (`controller::exception_status::build`), as the exception
//! reconcile combines them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use soc2_operator::api::{ControlException, ControlExceptionSpec};
use soc2_operator::controller::exception_status::build;
use soc2_operator::engine::exceptions::{ExceptionPolicy, assess};

use crate::script::{CONTROL_EXCEPTION, Variants};
use crate::{at, now};

/// A ControlException as a user writes it, with `approved_by` as given.
fn exception(approved_by: &str, generation: i64) -> ControlException {
    let spec: ControlExceptionSpec = serde_json::from_value(json!({
        "control": "mfa-backed-privileged-access",
        "resources": [{"kind": "ClusterRoleBinding", "name": "dev-admins"}],
        "justification": "break-glass binding for the on-call rotation; alerts on every use",
        "approvedBy": approved_by,
        "ticket": "SEC-1234",
        "expiresAt": "2026-06-01T00:00:00Z",
    }))
    .expect("a valid ControlExceptionSpec");
    let mut e = ControlException::new("dev-admins-break-glass", spec);
    e.metadata.namespace = Some("soc2-system".into());
    e.metadata.generation = Some(generation);
    e.metadata.creation_timestamp = Some(Time(at("2026-02-01T00:00:00Z")));
    e
}

/// The status the exception reconcile writes at `now`: the control exists, and the exception waived `matched`
/// failing findings (the reconcile counts them only for an Active exception, and writes 0 otherwise).
fn assessed(
    mut exception: ControlException,
    control_exists: bool,
    matched: Option<u32>,
    now: Timestamp,
) -> ControlException {
    let assessment = assess(
        &exception,
        Some(control_exists),
        &ExceptionPolicy::default(),
        now,
    );
    exception.status = Some(build(
        None,
        &assessment,
        matched,
        exception.metadata.generation,
        now,
    ));
    exception
}

fn status_message(exception: &ControlException) -> String {
    exception
        .status
        .as_ref()
        .and_then(|s| s.message.clone())
        .expect("the operator writes a message")
}

#[test]
fn no_status_is_progressing() {
    let h = CONTROL_EXCEPTION.health(&exception("alice@example.com", 1));
    assert_eq!(h.status, "Progressing");
    assert_eq!(
        h.message,
        "waiting for the operator to assess the exception"
    );
}

#[test]
fn an_older_generation_is_progressing() {
    // The spec changed (generation 2) and the operator has not assessed it yet: the status still says Active.
    let mut e = assessed(exception("alice@example.com", 1), true, Some(1), now());
    e.metadata.generation = Some(2);
    let h = CONTROL_EXCEPTION.health(&e);
    assert_eq!(h.status, "Progressing");
    assert_eq!(h.message, "assessing generation 2");
}

#[test]
fn active_is_healthy_with_the_approval_and_what_it_waives() {
    for (matched, waives) in [
        (Some(3), "; it waives 3 failing findings now"),
        (Some(1), "; it waives 1 failing finding now"),
        (Some(0), "; it waives no failing finding now"),
        // The control could not be evaluated: nothing counted, nothing said.
        (None, ""),
    ] {
        let e = assessed(exception("alice@example.com", 1), true, matched, now());
        let approval = status_message(&e);
        assert!(
            approval.contains("approved by alice@example.com (SEC-1234)"),
            "{approval}"
        );
        let h = CONTROL_EXCEPTION.health(&e);
        assert_eq!(h.status, "Healthy", "{matched:?}");
        assert_eq!(h.message, format!("{approval}{waives}"));
    }
}

#[test]
fn expired_is_degraded_because_the_findings_fail_again() {
    let e = assessed(
        exception("alice@example.com", 1),
        true,
        Some(0),
        at("2026-06-01T00:00:01Z"),
    );
    let expected = status_message(&e);
    let h = CONTROL_EXCEPTION.health(&e);
    assert_eq!(h.status, "Degraded");
    assert_eq!(h.message, expected);
    assert!(h.message.contains("fail again"), "{}", h.message);
}

#[test]
fn invalid_is_degraded_with_what_to_fix() {
    let cases = [
        (
            assessed(exception(" ", 1), true, Some(0), now()),
            "spec.approvedBy",
        ),
        (
            assessed(exception("alice@example.com", 1), false, Some(0), now()),
            "does not exist",
        ),
    ];
    for (e, names) in cases {
        let expected = status_message(&e);
        let h = CONTROL_EXCEPTION.health(&e);
        assert_eq!(h.status, "Degraded", "{expected}");
        assert_eq!(h.message, expected);
        assert!(h.message.contains(names), "{}", h.message);
    }
}

/// Objects no API server would store, and some it would: the script answers each with a valid status, and never
/// through its safety net.
#[test]
fn malformed_objects_never_raise_a_lua_error() {
    let active = Variants(
        serde_json::to_value(assessed(
            exception("alice@example.com", 1),
            true,
            Some(3),
            now(),
        ))
        .unwrap(),
    );
    let mut cases = active.shared_cases("Healthy");
    cases.extend([
        (
            active.with("/status/state", json!("Paused")),
            Some("Unknown"),
        ),
        (active.with("/status/state", json!(1)), Some("Unknown")),
        (
            active.with("/status/state", json!(["Active"])),
            Some("Unknown"),
        ),
        (
            active.with("/status/state", Value::Null),
            Some("Progressing"),
        ),
        (active.with("/status/message", json!({})), Some("Healthy")),
        (active.with("/status/message", json!("")), Some("Healthy")),
        (
            active.with("/status/matchedFindings", json!("3")),
            Some("Healthy"),
        ),
        (
            active.with("/status/matchedFindings", json!("lots")),
            Some("Healthy"),
        ),
        (
            active.with("/status/matchedFindings", json!([3])),
            Some("Healthy"),
        ),
        (
            active.with("/status/conditions", json!("Active")),
            Some("Healthy"),
        ),
        (active.with("/spec/control", json!(42)), Some("Healthy")),
        (active.without("/status", "message"), Some("Healthy")),
        (
            active.with(
                "/status",
                json!({"observedGeneration": 1, "state": "Expired", "message": 5}),
            ),
            Some("Degraded"),
        ),
        (
            active.with(
                "/status",
                json!({"observedGeneration": 1, "state": "Invalid"}),
            ),
            Some("Degraded"),
        ),
        (
            active.with(
                "/status",
                json!({"observedGeneration": 1, "state": "Invalid", "reason": "MissingTicket"}),
            ),
            Some("Degraded"),
        ),
    ]);
    CONTROL_EXCEPTION.assert_cases(&cases);
}
