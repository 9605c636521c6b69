//! The admission verdict: runs [`crate::engine::evaluate::evaluate`] (the audit's own code) for every control of one
//! mode that can decide on the admitted object, and keeps what concerns that object.

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;

use super::admissibility::admissibility;
use crate::api::{Control, FindingResult, Mode};
use crate::checks::Admissibility;
use crate::checks::Finding;
use crate::engine::evaluate::evaluate;
use crate::engine::validation::validate;
use crate::view::{ClusterSnapshot, ResourceKind, ResourceRef};

/// What one control decided about the admitted object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Nothing fails.
    Allowed,
    /// Something fails, or could not be decided, and the control is in Warn mode (or undecided in Enforce mode).
    Warned,
    /// Something fails and the control is in Enforce mode.
    Denied,
}

impl Outcome {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Warned => "warned",
            Outcome::Denied => "denied",
        }
    }
}

/// One control's part of a decision.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlDecision {
    /// The control's name.
    pub control: String,
    /// What it decided.
    pub outcome: Outcome,
}

/// The decision on one admission request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// The deny message, naming each control, its criteria, rule and message, and how to fix it; `None`: allowed.
    pub denial: Option<String>,
    /// Admission warnings shown to the client.
    pub warnings: Vec<String>,
    /// Per control that applied to the object.
    pub controls: Vec<ControlDecision>,
}

/// The admission mode a webhook endpoint serves.
pub fn serves(mode: Mode) -> bool {
    matches!(mode, Mode::Warn | Mode::Enforce)
}

fn about(f: &Finding, subject: &ResourceRef) -> bool {
    f.resource.kind == subject.kind
        && f.resource.namespace == subject.namespace
        && f.resource.name == subject.name
}

fn criteria_of(control: &Control) -> String {
    control
        .spec
        .criteria
        .iter()
        .map(|c| c.0.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decides admission of `subject` (an object of `kind`, alone in `snapshot`) for every control in `mode` whose
/// check decides per object on `kind`. Invalid controls are skipped: their status already says why.
pub fn decide(
    mode: Mode,
    controls: &[Arc<Control>],
    kind: ResourceKind,
    snapshot: &ClusterSnapshot,
    subject: &ResourceRef,
    now: Timestamp,
) -> Decision {
    let mut decision = Decision::default();
    let mut denials = Vec::new();
    for control in controls {
        let Some(name) = control.metadata.name.as_deref() else {
            continue;
        };
        let Ok(validated) = validate(&control.spec) else {
            continue;
        };
        if validated.mode != mode {
            continue;
        }
        match admissibility(&validated) {
            Admissibility::PerObject(kinds) if kinds.contains(&kind) => {}
            _ => continue,
        }
        let Ok(evaluation) = evaluate(name, &validated, snapshot, now) else {
            continue;
        };
        // Out of the control's scope: the control does not apply to this object.
        if evaluation.summary.evaluated == 0 {
            continue;
        }
        let failures: Vec<&Finding> = evaluation
            .findings
            .iter()
            .filter(|f| f.result == FindingResult::Fail && about(f, subject))
            .map(|f| f.as_ref())
            .collect();
        // Undecided is never a denial (missing data must not block changes), but the client is told.
        let unknowns: Vec<&Finding> = evaluation
            .findings
            .iter()
            .filter(|f| f.result == FindingResult::Unknown)
            .map(|f| f.as_ref())
            .collect();
        let criteria = criteria_of(control);
        for f in &unknowns {
            decision.warnings.push(format!(
                "soc2 control {name} ({criteria}) could not decide {subject}: {}: {}",
                f.rule, f.message
            ));
        }
        let outcome = match (failures.is_empty(), mode) {
            (true, _) if unknowns.is_empty() => Outcome::Allowed,
            (true, _) => Outcome::Warned,
            (false, Mode::Enforce) => Outcome::Denied,
            (false, _) => Outcome::Warned,
        };
        match outcome {
            Outcome::Denied => denials.push(denial(name, &criteria, &failures)),
            Outcome::Warned => {
                for f in &failures {
                    decision.warnings.push(format!(
                        "soc2 control {name} ({criteria}, Warn mode) fails {subject}: {}: {} \
                         (allowed now; it would be denied in Enforce mode)",
                        f.rule, f.message
                    ));
                }
            }
            Outcome::Allowed => {}
        }
        decision.controls.push(ControlDecision {
            control: name.to_string(),
            outcome,
        });
    }
    if !denials.is_empty() {
        decision.denial = Some(format!(
            "soc2-operator denied {subject}: {}",
            denials.join(" ")
        ));
    }
    decision
}

fn denial(name: &str, criteria: &str, failures: &[&Finding]) -> String {
    let rules = failures
        .iter()
        .map(|f| format!("[{}] {}", f.rule, f.message))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "control {name} ({criteria}) is in Enforce mode and fails: {rules} \
         Fix the object as described, or, if the change is approved otherwise, request a time-boxed \
         ControlException for control {name} covering this object (kubectl describe control {name})."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::admitted::admission_snapshot;
    use serde_json::json;

    fn control(name: &str, mode: &str, scope: serde_json::Value) -> Arc<Control> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "soc2.dev/v1alpha1", "kind": "Control",
                "metadata": {"name": name},
                "spec": {"criteria": ["CC8.1"], "category": "Security", "title": "approved changes",
                         "mode": mode, "scope": scope, "check": {"changeApproval": {}}},
            }))
            .unwrap(),
        )
    }

    fn deployment(annotations: serde_json::Value) -> serde_json::Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "team-a", "annotations": annotations,
                            "managedFields": [{"manager": "kubectl-create", "operation": "Update",
                                               "apiVersion": "apps/v1", "time": "2026-01-01T00:00:00Z"}]}})
    }

    fn run(mode: Mode, controls: &[Arc<Control>], object: serde_json::Value) -> Decision {
        let (s, subject) =
            admission_snapshot(ResourceKind::Deployment, object, None, Some(&[])).unwrap();
        decide(
            mode,
            controls,
            ResourceKind::Deployment,
            &s,
            &subject,
            Timestamp::now(),
        )
    }

    #[test]
    fn enforce_denies_with_control_criteria_rule_and_remedy() {
        let d = run(
            Mode::Enforce,
            &[control("approved", "Enforce", json!({}))],
            deployment(json!({})),
        );
        let m = d.denial.expect("denied");
        for part in [
            "Deployment team-a/web",
            "approved",
            "CC8.1",
            "[no-approval-evidence]",
            "ControlException",
        ] {
            assert!(m.contains(part), "{part} missing from {m}");
        }
        assert_eq!(d.controls[0].outcome, Outcome::Denied);
    }

    #[test]
    fn approved_objects_pass_and_other_modes_are_not_consulted() {
        let ok = deployment(
            json!({"soc2.dev/change-ticket": "CHG-1", "soc2.dev/approved-by": "ann",
                                   "soc2.dev/author": "bob"}),
        );
        let d = run(
            Mode::Enforce,
            &[control("approved", "Enforce", json!({}))],
            ok,
        );
        assert_eq!(d.denial, None);
        assert_eq!(d.controls[0].outcome, Outcome::Allowed);
        let d = run(
            Mode::Enforce,
            &[control("warn-only", "Warn", json!({}))],
            deployment(json!({})),
        );
        assert_eq!(d, Decision::default());
    }

    #[test]
    fn warn_mode_warns_and_out_of_scope_objects_are_not_judged() {
        let d = run(
            Mode::Warn,
            &[control("approved", "Warn", json!({}))],
            deployment(json!({})),
        );
        assert_eq!(d.denial, None);
        assert!(d.warnings[0].contains("no-approval-evidence"), "{d:?}");
        let d = run(
            Mode::Enforce,
            &[control(
                "approved",
                "Enforce",
                json!({"namespaces": ["team-b"]}),
            )],
            deployment(json!({})),
        );
        assert_eq!(d, Decision::default());
    }
}
