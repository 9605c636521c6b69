//! `config/argocd/health-control.lua` against Controls whose status comes from the operator's own status builder.

use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;
use soc2_operator::api::{Control, ControlSpec, ControlStatus, Criterion, Mode, Summary};
use soc2_operator::checks::Finding;
use soc2_operator::controller::status::{AdmissionStatus, COMPLIANT, evaluated, invalid};
use soc2_operator::engine::evaluate::{Compliance, Evaluation};
use soc2_operator::engine::validation::SpecError;
use soc2_operator::view::ResourceRef;

use crate::now;
use crate::script::{CONTROL, Variants};

const MFA: &[&str] = &["CC6.1", "CC6.3"];

/// A Control as a user writes it (the spec goes through serde, so optional fields added later need no change here).
fn control(criteria: &[&str], generation: i64, status: Option<ControlStatus>) -> Control {
    let spec: ControlSpec = serde_json::from_value(json!({
        "criteria": criteria,
        "category": "Security",
        "title": "Privileged access requires MFA",
        "check": {"mfaAccess": {}},
    }))
    .expect("a valid ControlSpec");
    let mut c = Control::new("mfa-backed-privileged-access", spec);
    c.metadata.generation = Some(generation);
    c.status = status;
    c
}

fn summary(evaluated: u32, failed: u32, unknown: u32) -> Summary {
    Summary {
        evaluated,
        passed: evaluated - failed - unknown,
        failed,
        excepted: 0,
        unknown,
    }
}

fn evaluation(
    criteria: &[&str],
    compliance: Compliance,
    summary: Summary,
    findings: Vec<Finding>,
) -> Evaluation {
    Evaluation {
        control: "mfa-backed-privileged-access".into(),
        criteria: criteria.iter().map(|c| Criterion(c.to_string())).collect(),
        check: "mfaAccess",
        compliance,
        summary,
        findings: findings.into_iter().map(std::sync::Arc::new).collect(),
        digest: "0".repeat(64),
    }
}

fn binding(name: &str) -> ResourceRef {
    ResourceRef::of(&ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..Default::default()
        },
        ..Default::default()
    })
}

fn role_binding(namespace: &str, name: &str) -> ResourceRef {
    ResourceRef::of(&RoleBinding {
        metadata: ObjectMeta {
            namespace: Some(namespace.into()),
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    })
}

const FIRST_FAILURE: &str = "ClusterRoleBinding dev-admins binds cluster-admin to User alice@example.com; bind a group that enforces MFA instead";

/// Three of twelve bindings fail; the operator's own status builder writes the status.
fn failing_status(generation: i64) -> ControlStatus {
    let findings = vec![
        Finding::fail(
            binding("dev-admins"),
            "privileged-binding-to-user",
            FIRST_FAILURE,
        ),
        Finding::fail(
            binding("ops"),
            "privileged-binding-to-undeclared-group",
            "ClusterRoleBinding ops binds admin to group ops, which is not declared MFA-enforced",
        ),
        Finding::fail(
            role_binding("payments", "ci"),
            "privileged-binding-to-foreign-service-account",
            "RoleBinding payments/ci binds edit to ServiceAccount ci/deployer outside automationNamespaces",
        ),
        Finding::notice(
            binding("break-glass"),
            "break-glass",
            "break-glass access for emergency@example.com",
        ),
    ];
    evaluated(
        None,
        &evaluation(MFA, Compliance::NonCompliant, summary(12, 3, 0), findings),
        Mode::Audit,
        &audit_only(),
        Some(generation),
        now(),
    )
}

/// What a check that cannot decide per object reports for admission.
fn audit_only() -> AdmissionStatus {
    AdmissionStatus::AuditOnly("the check needs the whole cluster".into())
}

fn compliant_status(generation: i64, evaluated_count: u32) -> ControlStatus {
    compliant_with_admission(generation, evaluated_count, Mode::Audit, &audit_only())
}

/// A compliant Warn or Enforce control, with what the webhook does for it.
fn compliant_with_admission(
    generation: i64,
    evaluated_count: u32,
    mode: Mode,
    admission: &AdmissionStatus,
) -> ControlStatus {
    evaluated(
        None,
        &evaluation(
            MFA,
            Compliance::Compliant,
            summary(evaluated_count, 0, 0),
            vec![],
        ),
        mode,
        admission,
        Some(generation),
        now(),
    )
}

fn condition_message(status: &ControlStatus, type_: &str) -> String {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("the status has a {type_} condition"))
        .message
        .clone()
}

#[test]
fn no_status_is_progressing() {
    let h = CONTROL.health(&control(MFA, 1, None));
    assert_eq!(h.status, "Progressing");
    assert_eq!(h.message, "waiting for the first evaluation");
}

#[test]
fn an_older_generation_is_progressing() {
    // The spec changed (generation 2) and the operator has not evaluated it yet: the status still says "compliant".
    let h = CONTROL.health(&control(MFA, 2, Some(compliant_status(1, 12))));
    assert_eq!(h.status, "Progressing");
    assert_eq!(h.message, "evaluating generation 2");
}

#[test]
fn a_status_without_ready_is_progressing() {
    let status = ControlStatus {
        observed_generation: Some(1),
        ..Default::default()
    };
    let h = CONTROL.health(&control(MFA, 1, Some(status)));
    assert_eq!(h.status, "Progressing", "{h:?}");
}

#[test]
fn an_invalid_spec_is_degraded_with_the_spec_error() {
    let status = invalid(
        None,
        &SpecError::NoCheck,
        Mode::Audit,
        &audit_only(),
        Some(3),
        now(),
    );
    let h = CONTROL.health(&control(MFA, 3, Some(status)));
    assert_eq!(h.status, "Degraded");
    assert_eq!(h.message, SpecError::NoCheck.to_string());
    assert!(h.message.starts_with("spec.check:"), "{}", h.message);
}

#[test]
fn compliant_is_healthy_with_the_condition_message() {
    let status = compliant_status(4, 12);
    let expected = condition_message(&status, COMPLIANT);
    let h = CONTROL.health(&control(MFA, 4, Some(status)));
    assert_eq!(h.status, "Healthy");
    assert_eq!(h.message, expected);
    assert!(h.message.contains("12"), "{}", h.message);
}

#[test]
fn nothing_in_scope_is_healthy() {
    let status = compliant_status(1, 0);
    let h = CONTROL.health(&control(MFA, 1, Some(status)));
    assert_eq!(h.status, "Healthy");
    assert!(h.message.contains("no resources in scope"), "{}", h.message);
}

/// `AdmissionEnforced` says what the webhook does with the mode, not whether the cluster complies.
#[test]
fn admission_does_not_change_health() {
    let admissions = [
        (audit_only(), "False"),
        (AdmissionStatus::Serving, "True"),
        (
            AdmissionStatus::NotServing("the webhook is not registered".into()),
            "False",
        ),
    ];
    for mode in [Mode::Warn, Mode::Enforce] {
        for (admission, enforced) in &admissions {
            let status = compliant_with_admission(1, 5, mode, admission);
            assert!(
                status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "AdmissionEnforced" && c.status == *enforced),
                "{mode}, {admission:?}: AdmissionEnforced={enforced}"
            );
            let h = CONTROL.health(&control(MFA, 1, Some(status)));
            assert_eq!(h.status, "Healthy", "{mode}, {admission:?}: {h:?}");
        }
    }
}

#[test]
fn non_compliant_is_degraded_with_counts_criteria_and_the_first_failure() {
    let h = CONTROL.health(&control(MFA, 1, Some(failing_status(1))));
    assert_eq!(h.status, "Degraded");
    assert_eq!(
        h.message,
        format!("3 of 12 resources fail CC6.1, CC6.3: {FIRST_FAILURE}")
    );
}

#[test]
fn non_compliant_without_summary_falls_back_to_the_condition_message() {
    let mut status = failing_status(1);
    status.summary = None;
    let condition = condition_message(&status, COMPLIANT);
    let h = CONTROL.health(&control(MFA, 1, Some(status)));
    assert_eq!(h.status, "Degraded");
    assert!(h.message.starts_with(&condition), "{}", h.message);
    assert!(h.message.contains("CC6.1, CC6.3"), "{}", h.message);
    assert!(h.message.ends_with(FIRST_FAILURE), "{}", h.message);
}

#[test]
fn undetermined_is_degraded_because_missing_evidence_is_a_finding() {
    let unknown =
        "the kube-apiserver flags are not visible (managed control plane); add an auditAttestation";
    let status = evaluated(
        None,
        &evaluation(
            &["CC7.2"],
            Compliance::Unknown,
            summary(4, 0, 1),
            vec![Finding::unknown(
                ResourceRef::aspect("v1", "ControlPlane", "kube-apiserver"),
                "audit-log-backend",
                unknown,
            )],
        ),
        Mode::Audit,
        &audit_only(),
        Some(1),
        now(),
    );
    let condition = condition_message(&status, COMPLIANT);
    let h = CONTROL.health(&control(&["CC7.2"], 1, Some(status)));
    assert_eq!(h.status, "Degraded");
    assert_eq!(h.message, format!("{condition}: {unknown}"));
}

/// Objects no API server would store, and some it would: the script answers each with a valid status, and never
/// through its safety net.
#[test]
fn malformed_objects_never_raise_a_lua_error() {
    let failing = Variants(serde_json::to_value(control(MFA, 1, Some(failing_status(1)))).unwrap());
    let compliant = "/status/conditions/1";
    assert_eq!(
        failing.0.pointer(&format!("{compliant}/type")),
        Some(&json!("Compliant"))
    );

    // (object, expected status when the case pins one down)
    let mut cases = failing.shared_cases("Degraded");
    cases.extend(failing.ready_cases("/status/conditions/0"));
    cases.extend([
        (failing.without("/status", "summary"), Some("Degraded")),
        (
            failing.with("/status/summary", json!("3 of 12")),
            Some("Degraded"),
        ),
        (
            failing.with(
                "/status/summary",
                json!({"failed": "three", "evaluated": {}}),
            ),
            Some("Degraded"),
        ),
        (
            failing.with("/status/summary", json!({"failed": "3", "evaluated": 12})),
            Some("Degraded"),
        ),
        (
            failing.with("/status/findings", json!("many")),
            Some("Degraded"),
        ),
        (
            failing.with(
                "/status/findings",
                json!([7, null, {"result": "Fail", "message": {"text": "x"}}]),
            ),
            Some("Degraded"),
        ),
        (failing.without("/status", "findings"), Some("Degraded")),
        (failing.with("/spec", json!("nonsense")), Some("Degraded")),
        (
            failing.with("/spec/criteria", json!("CC6.1")),
            Some("Degraded"),
        ),
        (
            failing.with("/spec/criteria", json!([1, null, {"id": "CC6.1"}, ""])),
            Some("Degraded"),
        ),
        (failing.without("/spec", "criteria"), Some("Degraded")),
        (
            failing.with(&format!("{compliant}/status"), json!(false)),
            Some("Unknown"),
        ),
        (
            failing.with(&format!("{compliant}/status"), json!("Maybe")),
            Some("Unknown"),
        ),
        (
            failing.with(&format!("{compliant}/message"), json!([])),
            Some("Degraded"),
        ),
        (
            failing.with(
                compliant,
                json!({"type": "Compliant", "status": "True", "message": null}),
            ),
            Some("Healthy"),
        ),
        (
            failing.with(compliant, json!({"type": "Compliant", "status": "Unknown"})),
            Some("Degraded"),
        ),
        (
            failing.with(compliant, json!("Compliant")),
            Some("Progressing"),
        ),
    ]);
    CONTROL.assert_cases(&cases);
}
