//! The one place that decides whether a control passes: control + view (with its ControlExceptions) -> [`Evaluation`].

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use crate::api::{Criterion, Summary};
use crate::checks::{self, CheckReport, Finding, Part};
use crate::engine::finding_index::FindingIndex;
use crate::engine::validation::{SpecError, ValidatedControl};
use crate::view::{ClusterSnapshot, Reads, ResourceKind, ResourceRef, ScopeMatcher};

/// The verdict on a control as a whole.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compliance {
    /// Nothing in scope fails and nothing is undecided.
    Compliant,
    /// At least one resource fails.
    NonCompliant,
    /// Nothing fails, but data needed to decide is missing.
    Unknown,
}

/// The outcome of evaluating one control against one snapshot.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// The control's name.
    pub control: String,
    /// The control's criteria.
    pub criteria: Vec<Criterion>,
    /// The check kind that ran (its `spec.check` field name).
    pub check: &'static str,
    /// The verdict.
    pub compliance: Compliance,
    /// Counts.
    pub summary: Summary,
    /// Findings, sorted: failures first, then unknowns, then excepted failures, then notices; by resource within
    /// each.
    pub findings: Vec<Arc<Finding>>,
    /// SHA-256 of the canonical JSON of everything above but the findings, then of each resource's findings (see
    /// [`crate::engine::finding_index`]).
    #[serde(skip)]
    pub digest: String,
}

/// The kinds of cluster object a control reads: what its check declares ([`Check::reads`]) and, for every control,
/// Namespaces (scopes select them by label) and ControlExceptions (they can waive findings of every control). The
/// one source of what a control reads: the live view watches it and triggers re-evaluate on its changes.
///
/// [`Check::reads`]: crate::checks::Check::reads
pub fn required_kinds(control: &ValidatedControl<'_>) -> Reads {
    let declared = checks::registered(control.kind).reads(&control.spec.check);
    let mut kinds = vec![ResourceKind::Namespace, ResourceKind::ControlException];
    kinds.extend(declared.kinds);
    Reads::new(kinds, declared.gvks)
}

/// The kinds whose objects the control's check judges one by one ([`Check::subject_kinds`], restricted to what it
/// reads): an incremental evaluation ([`crate::engine::incremental`]) re-runs the check for the changed objects of
/// these kinds only. Empty when the check judges the cluster as a whole: such a control is re-evaluated whole.
/// `tests/engine/incremental.rs` proves the promise for every kind listed here against full evaluations.
///
/// [`Check::subject_kinds`]: crate::checks::Check::subject_kinds
pub fn subject_kinds(control: &ValidatedControl<'_>) -> Vec<ResourceKind> {
    let mut kinds = checks::registered(control.kind).subject_kinds(&control.spec.check);
    // Only kinds the control reads; the context kinds are the others it reads.
    let reads = required_kinds(control);
    kinds.retain(|k| reads.contains(k));
    kinds.sort();
    kinds.dedup();
    kinds
}

/// The context kinds whose objects matter only to the judged objects of their own namespace
/// ([`Check::namespace_local_context`], less the subject kinds). When only such objects change, an incremental
/// evaluation judges again the objects of the namespaces they belong to (and what the check says about those context
/// objects) instead of the whole control. Empty when the check has no [`subject_kinds`].
/// `tests/engine/incremental.rs` proves the promise for every control of the library against full evaluations.
///
/// [`Check::namespace_local_context`]: crate::checks::Check::namespace_local_context
pub fn namespace_local_context(control: &ValidatedControl<'_>) -> Vec<ResourceKind> {
    let subjects = subject_kinds(control);
    if subjects.is_empty() {
        return Vec::new();
    }
    let mut kinds = checks::registered(control.kind).namespace_local_context(&control.spec.check);
    kinds.retain(|k| !subjects.contains(k));
    kinds
}

/// Evaluates `control` named `name` against `view` at time `now`.
pub fn evaluate(
    name: &str,
    control: &ValidatedControl<'_>,
    view: &ClusterSnapshot,
    now: Timestamp,
) -> Result<Evaluation, SpecError> {
    let report = run_check(control, view, now)?;
    let mut findings = report.findings;
    crate::engine::exceptions::apply(name, &mut findings, view, now);
    Ok(conclude(
        name,
        control,
        &FindingIndex::new(findings),
        report.evaluated,
    ))
}

/// The objects of `view` whose findings may change when `changed` (objects of the control's [`subject_kinds`])
/// change, besides those objects themselves ([`Check::related`]): for job health, the CronJob owning a changed Job
/// and the Jobs of a changed CronJob. Empty for checks that judge each object alone.
///
/// [`Check::related`]: crate::checks::Check::related
pub fn related(
    control: &ValidatedControl<'_>,
    view: &ClusterSnapshot,
    changed: &[crate::view::AnyObject],
) -> Vec<crate::view::AnyObject> {
    checks::registered(control.kind).related(view, changed)
}

/// Runs the control's check against `view`: what it evaluated and found, before exceptions are applied.
pub fn run_check(
    control: &ValidatedControl<'_>,
    view: &ClusterSnapshot,
    now: Timestamp,
) -> Result<CheckReport, SpecError> {
    run_part(control, view, now, Part::All)
}

/// Runs `part` of the control's check against `view`, before exceptions are applied.
pub fn run_part(
    control: &ValidatedControl<'_>,
    view: &ClusterSnapshot,
    now: Timestamp,
    part: Part,
) -> Result<CheckReport, SpecError> {
    let check = checks::registered(control.kind);
    if part == Part::Together && !check.judges_together() {
        return Ok(CheckReport::default());
    }
    let scope = ScopeMatcher::new(control.spec.scope.as_ref(), view)?;
    let selects_namespaces = control
        .spec
        .scope
        .as_ref()
        .is_some_and(|s| s.namespace_selector.is_some());
    let report = match view.require(ResourceKind::Namespace) {
        Err(_) if selects_namespaces && part == Part::Together => CheckReport::default(),
        // Without namespace labels the selector would silently drop every namespaced object.
        Err(reason) if selects_namespaces => CheckReport {
            valid_until: None,
            evaluated: 1,
            findings: vec![Finding::unknown(
                ResourceRef::aspect("v1", "Namespace", "(all)"),
                "data-unavailable",
                format!(
                    "namespaces could not be read ({reason}), so spec.scope.namespaceSelector cannot be applied"
                ),
            )],
        },
        _ => check.judge(view, &scope, &control.spec.check, now, part),
    };
    Ok(report)
}

/// The evaluation of `control` named `name` whose findings (exceptions applied) are `index`, its check having
/// evaluated `evaluated` subjects.
pub fn conclude(
    name: &str,
    control: &ValidatedControl<'_>,
    index: &FindingIndex,
    evaluated: usize,
) -> Evaluation {
    let summary = index.summary(evaluated);
    let compliance = if summary.failed > 0 {
        Compliance::NonCompliant
    } else if summary.unknown > 0 {
        Compliance::Unknown
    } else {
        Compliance::Compliant
    };
    let check = control.kind.field();
    let digest = index.digest(name, &control.spec.criteria, check, compliance, &summary);
    Evaluation {
        control: name.to_string(),
        criteria: control.spec.criteria.clone(),
        check,
        compliance,
        summary,
        findings: index.sorted(),
        digest,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::api::{Category, Check, ControlSpec, FindingResult, MfaAccessCheck};
    use crate::engine::validation::validate;

    fn spec(check: Check) -> ControlSpec {
        ControlSpec {
            criteria: vec![Criterion("CC6.1".into())],
            category: Category::Security,
            title: "t".into(),
            description: None,
            test_procedure: None,
            remediation: None,
            owner: None,
            severity: None,
            mode: None,
            scope: None,
            interval: None,
            check,
        }
    }

    fn mfa() -> ControlSpec {
        spec(Check {
            mfa_access: Some(MfaAccessCheck {
                api_server_flags: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn crb(name: &str, subjects: &[(&str, &str)]) -> Arc<ClusterRoleBinding> {
        Arc::new(ClusterRoleBinding {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: "cluster-admin".into(),
            },
            subjects: Some(
                subjects
                    .iter()
                    .map(|(k, n)| Subject {
                        kind: k.to_string(),
                        name: n.to_string(),
                        ..Default::default()
                    })
                    .collect(),
            ),
        })
    }

    fn now() -> Timestamp {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_resource_with_several_failures_counts_once() {
        let s = mfa();
        let v = validate(&s).unwrap();
        let view = ClusterSnapshot {
            cluster_role_bindings: vec![
                crb("two", &[("User", "a"), ("User", "b")]),
                crb("ok", &[("ServiceAccount", "x")]),
            ],
            ..Default::default()
        };
        let mut view = view;
        view.cluster_role_bindings[1] = Arc::new({
            let mut b = (*view.cluster_role_bindings[1]).clone();
            b.subjects.as_mut().unwrap()[0].namespace = Some("kube-system".into());
            b
        });
        let e = evaluate("c", &v, &view, now()).unwrap();
        assert_eq!(e.findings.len(), 2);
        assert_eq!(
            e.summary,
            Summary {
                evaluated: 2,
                passed: 1,
                failed: 1,
                excepted: 0,
                unknown: 0
            }
        );
        assert_eq!(e.compliance, Compliance::NonCompliant);
    }

    #[test]
    fn missing_data_is_unknown_never_a_pass() {
        let s = mfa();
        let v = validate(&s).unwrap();
        let mut view = ClusterSnapshot::default();
        view.unavailable
            .insert(ResourceKind::ClusterRoleBinding, "forbidden".into());
        let e = evaluate("c", &v, &view, now()).unwrap();
        assert_eq!(e.compliance, Compliance::Unknown);
        assert_eq!(e.summary.unknown, 1);
        assert!(e.findings[0].message.contains("forbidden"));
    }

    #[test]
    fn failures_outrank_unknowns() {
        let s = mfa();
        let v = validate(&s).unwrap();
        let mut view = ClusterSnapshot {
            cluster_role_bindings: vec![crb("bad", &[("User", "a")])],
            ..Default::default()
        };
        view.unavailable
            .insert(ResourceKind::ServiceAccountTokenSecret, "not synced".into());
        let e = evaluate("c", &v, &view, now()).unwrap();
        assert_eq!(e.compliance, Compliance::NonCompliant);
        assert_eq!((e.summary.failed, e.summary.unknown), (1, 1));
        assert_eq!(
            e.findings[0].result,
            FindingResult::Fail,
            "failures sort first"
        );
    }

    #[test]
    fn unreadable_namespaces_make_a_namespace_selector_unknown() {
        let mut s = mfa();
        s.scope = Some(crate::api::Scope {
            namespace_selector: Some(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
                    match_labels: Some([("env".to_string(), "prod".to_string())].into()),
                    ..Default::default()
                },
            ),
            ..Default::default()
        });
        let v = validate(&s).unwrap();
        let mut view = ClusterSnapshot::default();
        view.unavailable
            .insert(ResourceKind::Namespace, "forbidden".into());
        let e = evaluate("c", &v, &view, now()).unwrap();
        assert_eq!(e.compliance, Compliance::Unknown);
        assert!(e.findings[0].message.contains("namespaceSelector"));
        // Without a namespace selector the namespaces are not needed.
        let plain = mfa();
        let e = evaluate("c", &validate(&plain).unwrap(), &view, now()).unwrap();
        assert_eq!(e.compliance, Compliance::Compliant);
    }

    #[test]
    fn nothing_in_scope_is_compliant() {
        let s = mfa();
        let v = validate(&s).unwrap();
        let e = evaluate("c", &v, &ClusterSnapshot::default(), now()).unwrap();
        assert_eq!(e.compliance, Compliance::Compliant);
        assert_eq!(e.summary.evaluated, 0);
    }

    #[test]
    fn digest_depends_on_the_result_not_on_order_or_time() {
        let s = mfa();
        let v = validate(&s).unwrap();
        let a = ClusterSnapshot {
            cluster_role_bindings: vec![crb("x", &[("User", "a")]), crb("y", &[("User", "b")])],
            ..Default::default()
        };
        let b = ClusterSnapshot {
            cluster_role_bindings: vec![crb("y", &[("User", "b")]), crb("x", &[("User", "a")])],
            ..Default::default()
        };
        let later: Timestamp = "2026-07-01T00:00:00Z".parse().unwrap();
        let da = evaluate("c", &v, &a, now()).unwrap().digest;
        assert_eq!(da, evaluate("c", &v, &b, later).unwrap().digest);
        assert_eq!(da.len(), 64);
        let c = ClusterSnapshot {
            cluster_role_bindings: vec![crb("x", &[("User", "a")])],
            ..Default::default()
        };
        assert_ne!(da, evaluate("c", &v, &c, now()).unwrap().digest);
    }

    fn exception_for(control: &str, binding: &str, expires: &str) -> crate::api::ControlException {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "soc2.dev/v1alpha1",
            "kind": "ControlException",
            "metadata": {"name": format!("waive-{binding}"), "namespace": "soc2-system",
                         "creationTimestamp": "2026-05-01T00:00:00Z"},
            "spec": {
                "control": control,
                "resources": [{"kind": "ClusterRoleBinding", "name": binding}],
                "justification": "break-glass binding for the vendor, reviewed monthly",
                "approvedBy": "ciso",
                "ticket": "SEC-7",
                "expiresAt": expires,
            },
        }))
        .unwrap()
    }

    #[test]
    fn excepted_findings_leave_the_failed_count_and_change_the_digest() {
        let s = mfa();
        let v = validate(&s).unwrap();
        let mut view = ClusterSnapshot {
            cluster_role_bindings: vec![crb("x", &[("User", "a")]), crb("y", &[("User", "b")])],
            ..Default::default()
        };
        let before = evaluate("c", &v, &view, now()).unwrap();
        assert_eq!(before.summary.failed, 2);

        view.control_exceptions = vec![Arc::new(exception_for("c", "x", "2026-07-01T00:00:00Z"))];
        let after = evaluate("c", &v, &view, now()).unwrap();
        assert_eq!(
            after.summary,
            Summary {
                evaluated: 2,
                passed: 0,
                failed: 1,
                excepted: 1,
                unknown: 0
            }
        );
        assert_eq!(after.compliance, Compliance::NonCompliant);
        assert_ne!(
            before.digest, after.digest,
            "the exception is part of the evidence"
        );
        let excepted = after
            .findings
            .iter()
            .find(|f| f.result == FindingResult::Excepted)
            .expect("the excepted finding stays listed");
        assert_eq!(excepted.resource.name, "x");
        assert_eq!(
            excepted.exception.as_ref().unwrap().name,
            "soc2-system/waive-x"
        );
        assert_eq!(
            after.findings[0].result,
            FindingResult::Fail,
            "failures sort first"
        );

        // Both excepted: compliant, with the exceptions counted.
        view.control_exceptions
            .push(Arc::new(exception_for("c", "y", "2026-07-01T00:00:00Z")));
        let all = evaluate("c", &v, &view, now()).unwrap();
        assert_eq!((all.summary.failed, all.summary.excepted), (0, 2));
        assert_eq!(all.compliance, Compliance::Compliant);

        // At the expiry the findings fail again, and the digest is that of no exception at all.
        let expired = evaluate("c", &v, &view, "2026-07-01T00:00:00Z".parse().unwrap()).unwrap();
        assert_eq!((expired.summary.failed, expired.summary.excepted), (2, 0));
        assert_eq!(expired.digest, before.digest);

        // An exception for another control waives nothing here.
        view.control_exceptions = vec![Arc::new(exception_for(
            "other",
            "x",
            "2026-07-01T00:00:00Z",
        ))];
        assert_eq!(
            evaluate("c", &v, &view, now()).unwrap().digest,
            before.digest
        );
    }

    #[test]
    fn required_kinds_follow_parameters() {
        let s = spec(Check {
            mfa_access: Some(MfaAccessCheck {
                legacy_token_secrets: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        });
        let kinds = required_kinds(&validate(&s).unwrap());
        assert!(!kinds.contains(&ResourceKind::ServiceAccountTokenSecret));
        assert!(kinds.contains(&ResourceKind::ControlPlanePod));
        assert!(kinds.contains(&ResourceKind::Namespace));
        let s = spec(Check {
            change_approval: Some(Default::default()),
            ..Default::default()
        });
        let kinds = required_kinds(&validate(&s).unwrap());
        assert!(kinds.contains(&ResourceKind::CronJob) && !kinds.contains(&ResourceKind::Job));
    }

    #[test]
    fn workload_check_kinds_read_what_their_parameters_need() {
        use crate::api::{ConfidentialityCheck, PodSecurityCheck, ServiceAccountHygieneCheck};
        let kinds_of = |check: Check| required_kinds(&validate(&spec(check)).unwrap());
        let labels_only = kinds_of(Check {
            pod_security: Some(PodSecurityCheck {
                workloads: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(
            labels_only.kinds,
            [ResourceKind::Namespace, ResourceKind::ControlException]
        );
        let images = kinds_of(Check {
            image_provenance: Some(Default::default()),
            ..Default::default()
        });
        assert!(images.contains(&ResourceKind::Pod) && images.contains(&ResourceKind::Job));
        let sa = kinds_of(Check {
            service_account_hygiene: Some(ServiceAccountHygieneCheck::default()),
            ..Default::default()
        });
        assert!(sa.contains(&ResourceKind::ServiceAccount));
        assert!(sa.contains(&ResourceKind::ServiceAccountTokenSecret));
        let isolation = kinds_of(Check {
            confidentiality: Some(ConfidentialityCheck {
                env_literals: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(
            isolation.kinds,
            [
                ResourceKind::Namespace,
                ResourceKind::NetworkPolicy,
                ResourceKind::ControlException
            ]
        );
    }

    #[test]
    fn required_kinds_of_the_network_and_availability_checks() {
        use crate::api::{AvailabilityCheck, ExposureCheck};
        let kinds_of = |check: Check| required_kinds(&validate(&spec(check)).unwrap());
        let k = kinds_of(Check {
            network_isolation: Some(Default::default()),
            ..Default::default()
        });
        assert!(k.contains(&ResourceKind::NetworkPolicy));
        let k = kinds_of(Check {
            encryption_in_transit: Some(Default::default()),
            ..Default::default()
        });
        assert!(k.contains(&ResourceKind::Ingress));
        let k = kinds_of(Check {
            exposure: Some(ExposureCheck {
                host_access: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert!(k.contains(&ResourceKind::Service) && !k.contains(&ResourceKind::Pod));
        let k = kinds_of(Check {
            exposure: Some(ExposureCheck {
                service_types: Some(vec![]),
                flag_external_ips: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert!(!k.contains(&ResourceKind::Service) && k.contains(&ResourceKind::Pod));
        let k = kinds_of(Check {
            availability: Some(AvailabilityCheck {
                require_pod_disruption_budget: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert!(k.contains(&ResourceKind::StatefulSet) && !k.contains(&ResourceKind::DaemonSet));
        assert!(!k.contains(&ResourceKind::PodDisruptionBudget));
        let k = kinds_of(Check {
            availability: Some(Default::default()),
            ..Default::default()
        });
        assert!(k.contains(&ResourceKind::PodDisruptionBudget));
    }
}
