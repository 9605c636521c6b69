//! Building `Control.status` from an evaluation, and deciding whether it must be written.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::api::{ControlStatus, FindingResult, Mode, StatusFinding};
use crate::engine::evaluate::{Compliance, Evaluation};
use crate::engine::validation::SpecError;

/// At most this many findings are written to status; the rest are counted in `findingsTruncated`.
pub const MAX_STATUS_FINDINGS: usize = 100;
/// Condition type: the control is valid and was evaluated.
pub const READY: &str = "Ready";
/// Condition type: the verdict.
pub const COMPLIANT: &str = "Compliant";
/// Condition type: whether Warn/Enforce act at admission.
pub const ADMISSION_ENFORCED: &str = "AdmissionEnforced";

fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time: Time(now),
    }
}

/// Keeps `lastTransitionTime` from the previous condition of the same type when its status did not change.
fn carry_transitions(previous: Option<&ControlStatus>, conditions: &mut [Condition]) {
    let Some(previous) = previous else { return };
    for c in conditions.iter_mut() {
        if let Some(old) = previous.conditions.iter().find(|o| o.type_ == c.type_)
            && old.status == c.status
        {
            c.last_transition_time = old.last_transition_time.clone();
        }
    }
}

/// What admission does for a Warn/Enforce control, as its `AdmissionEnforced` condition reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdmissionStatus {
    /// The check cannot decide on one object (the reason says why).
    AuditOnly(String),
    /// The webhook is registered for the control's kinds and serving.
    Serving,
    /// The webhook does not act for this control (the reason says why and what to do).
    NotServing(String),
}

fn admission_condition(
    mode: Mode,
    admission: &AdmissionStatus,
    generation: Option<i64>,
    now: Timestamp,
) -> Option<Condition> {
    if mode == Mode::Audit {
        return None;
    }
    let (status, reason, message) = match admission {
        AdmissionStatus::AuditOnly(why) => (
            "False",
            "AuditOnly",
            format!("mode {mode} is recorded, but {why}: the control is audited only"),
        ),
        AdmissionStatus::Serving => (
            "True",
            "WebhookRegistered",
            match mode {
                Mode::Enforce => "the admission webhook is registered and serving: creates and updates that fail the control are denied".to_string(),
                _ => "the admission webhook is registered and serving: creates and updates that fail the control are admitted with a warning".to_string(),
            },
        ),
        AdmissionStatus::NotServing(why) => (
            "False",
            "WebhookNotRegistered",
            format!("mode {mode} is not acted on at admission: {why}"),
        ),
    };
    Some(condition(
        ADMISSION_ENFORCED,
        status,
        reason,
        message,
        generation,
        now,
    ))
}

/// The status for a successful evaluation. Findings keep the `since` of the same finding in `previous`.
pub fn evaluated(
    previous: Option<&ControlStatus>,
    evaluation: &Evaluation,
    mode: Mode,
    admission: &AdmissionStatus,
    generation: Option<i64>,
    now: Timestamp,
) -> ControlStatus {
    let s = evaluation.summary;
    let (status, reason, message) = match evaluation.compliance {
        Compliance::Compliant if s.evaluated == 0 => (
            "True",
            "NoResourcesInScope",
            "no resources in scope; nothing fails".to_string(),
        ),
        Compliance::Compliant if s.excepted > 0 => (
            "True",
            "CompliantWithExceptions",
            format!(
                "{} of {} evaluated resources comply; {} fail but are covered by active ControlExceptions",
                s.passed, s.evaluated, s.excepted
            ),
        ),
        Compliance::Compliant => (
            "True",
            "Compliant",
            format!("all {} evaluated resources comply", s.evaluated),
        ),
        Compliance::NonCompliant => (
            "False",
            "NonCompliant",
            format!(
                "{} of {} evaluated resources fail the control",
                s.failed, s.evaluated
            ),
        ),
        Compliance::Unknown => (
            "Unknown",
            "InsufficientData",
            format!(
                "{} of {} evaluated resources could not be decided for lack of data; nothing fails",
                s.unknown, s.evaluated
            ),
        ),
    };
    let mut conditions = vec![
        condition(
            READY,
            "True",
            "Evaluated",
            format!("evaluated {} check", evaluation.check),
            generation,
            now,
        ),
        condition(COMPLIANT, status, reason, message, generation, now),
    ];
    conditions.extend(admission_condition(mode, admission, generation, now));
    carry_transitions(previous, &mut conditions);

    let since: BTreeMap<(String, String, String), Time> = previous
        .map(|p| {
            p.findings
                .iter()
                .filter_map(|f| Some((finding_key(f), f.since.clone()?)))
                .collect()
        })
        .unwrap_or_default();
    let findings: Vec<StatusFinding> = evaluation
        .findings
        .iter()
        .take(MAX_STATUS_FINDINGS)
        .map(|f| {
            let mut sf = StatusFinding {
                api_version: f.resource.api_version.clone(),
                kind: f.resource.kind.clone(),
                namespace: f.resource.namespace.clone(),
                name: f.resource.name.clone(),
                uid: f.resource.uid.clone(),
                result: f.result,
                rule: f.rule.clone(),
                message: f.message.clone(),
                since: None,
                exception: f.exception.clone(),
            };
            sf.since = Some(since.get(&finding_key(&sf)).cloned().unwrap_or(Time(now)));
            sf
        })
        .collect();
    let truncated = evaluation
        .findings
        .len()
        .saturating_sub(MAX_STATUS_FINDINGS);
    ControlStatus {
        observed_generation: generation,
        mode: Some(mode),
        conditions,
        summary: Some(evaluation.summary),
        findings,
        findings_truncated: (truncated > 0).then(|| u32::try_from(truncated).unwrap_or(u32::MAX)),
        last_evaluated: Some(Time(now)),
        evidence_digest: Some(evaluation.digest.clone()),
    }
}

/// The status for a spec that cannot be evaluated.
pub fn invalid(
    previous: Option<&ControlStatus>,
    error: &SpecError,
    mode: Mode,
    admission: &AdmissionStatus,
    generation: Option<i64>,
    now: Timestamp,
) -> ControlStatus {
    let mut conditions = vec![
        condition(
            READY,
            "False",
            error.reason(),
            error.to_string(),
            generation,
            now,
        ),
        condition(
            COMPLIANT,
            "Unknown",
            "InvalidSpec",
            "the control is not evaluated until its spec is fixed".into(),
            generation,
            now,
        ),
    ];
    conditions.extend(admission_condition(mode, admission, generation, now));
    carry_transitions(previous, &mut conditions);
    ControlStatus {
        observed_generation: generation,
        mode: Some(mode),
        conditions,
        summary: None,
        findings: Vec::new(),
        findings_truncated: None,
        last_evaluated: previous.and_then(|p| p.last_evaluated.clone()),
        evidence_digest: None,
    }
}

/// Identity of a finding across evaluations.
pub fn finding_key(f: &StatusFinding) -> (String, String, String) {
    let who = f.uid.clone().unwrap_or_else(|| {
        format!(
            "{}/{}/{}",
            f.kind,
            f.namespace.as_deref().unwrap_or(""),
            f.name
        )
    });
    (who, f.rule.clone(), format!("{:?}", f.result))
}

/// True when `new` differs from `previous` in anything but `lastEvaluated`, or when `lastEvaluated` is older than
/// `heartbeat` (so the status shows the control kept running, without a write on every watch event).
pub fn needs_write(
    previous: Option<&ControlStatus>,
    new: &ControlStatus,
    heartbeat: Duration,
    now: Timestamp,
) -> bool {
    let Some(previous) = previous else {
        return true;
    };
    let mut a = previous.clone();
    let mut b = new.clone();
    a.last_evaluated = None;
    b.last_evaluated = None;
    if a != b {
        return true;
    }
    match &previous.last_evaluated {
        None => new.last_evaluated.is_some(),
        Some(Time(t)) => {
            let age = now.duration_since(*t);
            age.is_negative() || age.unsigned_abs() >= heartbeat
        }
    }
}

/// The `Compliant` condition's status, if any.
pub fn compliant_status(status: &ControlStatus) -> Option<&str> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == COMPLIANT)
        .map(|c| c.status.as_str())
}

/// True for findings that make a resource fail.
pub fn is_failing(f: &StatusFinding) -> bool {
    f.result == FindingResult::Fail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Criterion, Summary};
    use crate::checks::Finding;
    use crate::view::ResourceRef;

    fn audit_only() -> AdmissionStatus {
        AdmissionStatus::AuditOnly("the check needs the whole cluster".into())
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn evaluation(fails: &[&str]) -> Evaluation {
        let findings: Vec<Finding> = fails
            .iter()
            .map(|n| {
                Finding::fail(
                    ResourceRef::aspect("v1", "Thing", n),
                    "rule",
                    format!("{n} is bad"),
                )
            })
            .collect();
        let failed = findings.len() as u32;
        Evaluation {
            control: "c".into(),
            criteria: vec![Criterion("CC6.1".into())],
            check: "mfaAccess",
            compliance: if failed > 0 {
                Compliance::NonCompliant
            } else {
                Compliance::Compliant
            },
            summary: Summary {
                evaluated: 5.max(failed),
                passed: 5u32.saturating_sub(failed),
                failed,
                excepted: 0,
                unknown: 0,
            },
            findings: findings.into_iter().map(std::sync::Arc::new).collect(),
            digest: format!("digest-{failed}"),
        }
    }

    fn cond<'a>(s: &'a ControlStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
    }

    #[test]
    fn transition_time_changes_only_on_a_real_transition() {
        let t0 = at("2026-01-01T00:00:00Z");
        let t1 = at("2026-01-01T00:05:00Z");
        let t2 = at("2026-01-01T00:10:00Z");
        let first = evaluated(
            None,
            &evaluation(&["a"]),
            Mode::Audit,
            &audit_only(),
            Some(1),
            t0,
        );
        let same = evaluated(
            Some(&first),
            &evaluation(&["a"]),
            Mode::Audit,
            &audit_only(),
            Some(1),
            t1,
        );
        assert_eq!(cond(&same, COMPLIANT).last_transition_time, Time(t0));
        let fixed = evaluated(
            Some(&same),
            &evaluation(&[]),
            Mode::Audit,
            &audit_only(),
            Some(1),
            t2,
        );
        assert_eq!(cond(&fixed, COMPLIANT).status, "True");
        assert_eq!(cond(&fixed, COMPLIANT).last_transition_time, Time(t2));
        assert_eq!(
            cond(&fixed, READY).last_transition_time,
            Time(t0),
            "Ready stayed True"
        );
    }

    #[test]
    fn since_is_kept_for_persisting_findings() {
        let t0 = at("2026-01-01T00:00:00Z");
        let t1 = at("2026-01-02T00:00:00Z");
        let first = evaluated(
            None,
            &evaluation(&["a"]),
            Mode::Audit,
            &audit_only(),
            Some(1),
            t0,
        );
        let second = evaluated(
            Some(&first),
            &evaluation(&["a", "b"]),
            Mode::Audit,
            &audit_only(),
            Some(1),
            t1,
        );
        let since = |n: &str| {
            second
                .findings
                .iter()
                .find(|f| f.name == n)
                .unwrap()
                .since
                .clone()
        };
        assert_eq!(since("a"), Some(Time(t0)));
        assert_eq!(since("b"), Some(Time(t1)));
    }

    #[test]
    fn findings_are_bounded() {
        let names: Vec<String> = (0..250).map(|i| format!("r{i:03}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut e = evaluation(&refs);
        e.summary = Summary {
            evaluated: 250,
            passed: 0,
            failed: 250,
            excepted: 0,
            unknown: 0,
        };
        let s = evaluated(
            None,
            &e,
            Mode::Audit,
            &audit_only(),
            None,
            at("2026-01-01T00:00:00Z"),
        );
        assert_eq!(s.findings.len(), MAX_STATUS_FINDINGS);
        assert_eq!(s.findings_truncated, Some(150));
        assert!(
            serde_json::to_vec(&s).unwrap().len() < 100_000,
            "status stays far below etcd's object limit"
        );
    }

    #[test]
    fn warn_and_enforce_say_they_are_audited_only() {
        let now = at("2026-01-01T00:00:00Z");
        assert!(
            evaluated(
                None,
                &evaluation(&[]),
                Mode::Audit,
                &audit_only(),
                None,
                now
            )
            .conditions
            .iter()
            .all(|c| c.type_ != ADMISSION_ENFORCED)
        );
        for mode in [Mode::Warn, Mode::Enforce] {
            let s = evaluated(None, &evaluation(&[]), mode, &audit_only(), None, now);
            let c = cond(&s, ADMISSION_ENFORCED);
            assert_eq!(
                (c.status.as_str(), c.reason.as_str()),
                ("False", "AuditOnly")
            );
            assert_eq!(s.mode, Some(mode));
            let serving = evaluated(
                None,
                &evaluation(&[]),
                mode,
                &AdmissionStatus::Serving,
                None,
                now,
            );
            let c = cond(&serving, ADMISSION_ENFORCED);
            assert_eq!(
                (c.status.as_str(), c.reason.as_str()),
                ("True", "WebhookRegistered")
            );
            let down = AdmissionStatus::NotServing("the webhook is not enabled".into());
            let s = evaluated(None, &evaluation(&[]), mode, &down, None, now);
            let c = cond(&s, ADMISSION_ENFORCED);
            assert_eq!(
                (c.status.as_str(), c.reason.as_str()),
                ("False", "WebhookNotRegistered")
            );
            assert!(c.message.contains("not enabled"), "{}", c.message);
        }
    }

    #[test]
    fn writes_only_on_change_or_heartbeat() {
        let t0 = at("2026-01-01T00:00:00Z");
        let first = evaluated(
            None,
            &evaluation(&["a"]),
            Mode::Audit,
            &audit_only(),
            Some(1),
            t0,
        );
        assert!(needs_write(None, &first, Duration::from_secs(600), t0));
        let t1 = at("2026-01-01T00:01:00Z");
        let again = evaluated(
            Some(&first),
            &evaluation(&["a"]),
            Mode::Audit,
            &audit_only(),
            Some(1),
            t1,
        );
        assert!(
            !needs_write(Some(&first), &again, Duration::from_secs(600), t1),
            "same result within the interval"
        );
        let t2 = at("2026-01-01T00:10:00Z");
        let later = evaluated(
            Some(&first),
            &evaluation(&["a"]),
            Mode::Audit,
            &audit_only(),
            Some(1),
            t2,
        );
        assert!(
            needs_write(Some(&first), &later, Duration::from_secs(600), t2),
            "heartbeat after one interval"
        );
        let changed = evaluated(
            Some(&first),
            &evaluation(&["a", "b"]),
            Mode::Audit,
            &audit_only(),
            Some(1),
            t1,
        );
        assert!(needs_write(
            Some(&first),
            &changed,
            Duration::from_secs(600),
            t1
        ));
        let new_generation = evaluated(
            Some(&first),
            &evaluation(&["a"]),
            Mode::Audit,
            &audit_only(),
            Some(2),
            t1,
        );
        assert!(needs_write(
            Some(&first),
            &new_generation,
            Duration::from_secs(600),
            t1
        ));
    }

    #[test]
    fn invalid_spec_status() {
        let now = at("2026-01-01T00:00:00Z");
        let s = invalid(
            None,
            &SpecError::NoCheck,
            Mode::Audit,
            &audit_only(),
            Some(3),
            now,
        );
        let r = cond(&s, READY);
        assert_eq!(
            (r.status.as_str(), r.reason.as_str()),
            ("False", "InvalidCheck")
        );
        assert!(r.message.starts_with("spec.check:"));
        assert_eq!(cond(&s, COMPLIANT).status, "Unknown");
        assert_eq!(s.observed_generation, Some(3));
        assert!(s.findings.is_empty() && s.summary.is_none());
    }
}
