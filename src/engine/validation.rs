//! Everything about a Control spec that the CRD schema cannot (or, on an outdated CRD, might not) enforce.
//! The same rules run in the operator (-> `Ready=False`) and in `soc2ctl scan` (-> exit code 2).

use std::time::Duration;

use crate::api::{CheckKind, ControlSpec, Mode, Severity};
use crate::checks::cel::CelError;
use crate::view::scope_matcher::{InvalidSelector, compile_selector};

/// Re-evaluation interval when `spec.interval` is unset.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);
/// The shortest accepted `spec.interval`: shorter would load the API server for no evidential gain.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);

/// Why a Control spec cannot be evaluated. Each message names the field and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// No check kind set.
    #[error(
        "spec.check: no check kind is set; set exactly one check kind (kubectl explain control.spec.check lists them)"
    )]
    NoCheck,
    /// More than one check kind set.
    #[error("spec.check: {0} are all set; set exactly one check kind per Control")]
    MultipleChecks(String),
    /// Empty criteria list.
    #[error("spec.criteria: at least one Trust Services Criteria id is required, e.g. [CC6.1]")]
    NoCriteria,
    /// An id that is not a Trust Services Criterion.
    #[error(
        "spec.criteria: {0:?} is not a Trust Services Criteria id (2017 TSC); use ids such as CC6.1, CC7.2, A1.2, PI1.3, C1.1, P4.2"
    )]
    UnknownCriterion(String),
    /// Empty title.
    #[error("spec.title: must not be empty; state the control as it appears in the control matrix")]
    EmptyTitle,
    /// Unparseable interval.
    #[error("spec.interval: {value:?} is not a duration ({reason}); use e.g. 30s, 10m or 1h")]
    InvalidInterval {
        /// The given value.
        value: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Interval below the minimum.
    #[error("spec.interval: {0:?} is shorter than the minimum of 10s")]
    IntervalTooShort(String),
    /// A check parameter that is not a duration.
    #[error("{field}: {value:?} is not a duration ({reason}); use e.g. 15m, 2h or 1h30m")]
    InvalidDuration {
        /// Where the value is.
        field: &'static str,
        /// The given value.
        value: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A label selector that cannot be evaluated.
    #[error(transparent)]
    InvalidSelector(#[from] InvalidSelector),
    /// A CEL expression that does not compile or cannot have the right type.
    #[error("{0}")]
    InvalidExpression(#[from] CelError),
    /// A kind named in a generic check that cannot be a Kubernetes kind.
    #[error("{field}: {reason}")]
    InvalidKind {
        /// Where, e.g. `spec.check.cel.match.kinds[0]`.
        field: String,
        /// Why.
        reason: String,
    },
    /// A check parameter with a value the check cannot use.
    #[error("{field}: {reason}")]
    InvalidParameter {
        /// The parameter's path, e.g. `spec.check.confidentiality.confidentialSecrets`.
        field: String,
        /// What is wrong and how to write it.
        reason: String,
    },
    /// The object passed the installed CRD's schema but does not match this operator's types.
    #[error(
        "the Control does not match this operator's schema: {0}. The installed CRD may be from another operator version: reinstall crds/ (kubectl apply -f crds/) and fix the value described here"
    )]
    Unreadable(String),
}

impl SpecError {
    /// An [`SpecError::InvalidParameter`] at `field`, saying `reason`.
    pub fn invalid_parameter(field: &str, reason: &str) -> SpecError {
        SpecError::InvalidParameter {
            field: field.to_string(),
            reason: reason.to_string(),
        }
    }

    /// The `Ready` condition reason for this error (stable, for alerting and events).
    pub fn reason(&self) -> &'static str {
        match self {
            SpecError::NoCheck | SpecError::MultipleChecks(_) => "InvalidCheck",
            SpecError::NoCriteria | SpecError::UnknownCriterion(_) => "InvalidCriteria",
            SpecError::EmptyTitle => "InvalidSpec",
            SpecError::InvalidInterval { .. } | SpecError::IntervalTooShort(_) => "InvalidInterval",
            SpecError::InvalidSelector(_) => "InvalidSelector",
            SpecError::InvalidDuration { .. } => "InvalidCheck",
            SpecError::InvalidParameter { .. } => "InvalidParameter",
            SpecError::InvalidExpression(_) => "InvalidExpression",
            SpecError::InvalidKind { .. } => "InvalidCheck",
            SpecError::Unreadable(_) => "MalformedObject",
        }
    }
}

/// A Control spec that passed validation, with its defaults resolved.
#[derive(Clone, Debug)]
pub struct ValidatedControl<'a> {
    /// The spec as written.
    pub spec: &'a ControlSpec,
    /// The one check kind set.
    pub kind: CheckKind,
    /// Re-evaluation interval.
    pub interval: Duration,
    /// Effective mode.
    pub mode: Mode,
    /// Effective severity.
    pub severity: Severity,
}

/// Validates `spec`.
pub fn validate(spec: &ControlSpec) -> Result<ValidatedControl<'_>, SpecError> {
    let kinds = spec.check.kinds_set();
    let kind = match kinds.as_slice() {
        [] => return Err(SpecError::NoCheck),
        [one] => *one,
        many => {
            return Err(SpecError::MultipleChecks(
                many.iter()
                    .map(|k| k.field())
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
    };
    if spec.criteria.is_empty() {
        return Err(SpecError::NoCriteria);
    }
    if let Some(bad) = spec.criteria.iter().find(|c| !c.is_known()) {
        return Err(SpecError::UnknownCriterion(bad.0.clone()));
    }
    if spec.title.trim().is_empty() {
        return Err(SpecError::EmptyTitle);
    }
    let interval = match &spec.interval {
        None => DEFAULT_INTERVAL,
        Some(value) => {
            let parsed =
                humantime::parse_duration(value).map_err(|e| SpecError::InvalidInterval {
                    value: value.clone(),
                    reason: e.to_string(),
                })?;
            if parsed < MIN_INTERVAL {
                return Err(SpecError::IntervalTooShort(value.clone()));
            }
            parsed
        }
    };
    if let Some(scope) = &spec.scope {
        if let Some(s) = &scope.namespace_selector {
            compile_selector(s, "spec.scope.namespaceSelector")?;
        }
        if let Some(s) = &scope.object_selector {
            compile_selector(s, "spec.scope.objectSelector")?;
        }
    }
    crate::checks::registered(kind).validate(&spec.check)?;
    Ok(ValidatedControl {
        spec,
        kind,
        interval,
        mode: spec.mode.unwrap_or_default(),
        severity: spec.severity.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Category, Check, Criterion, LoggingCheck, Scope};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    fn spec() -> ControlSpec {
        ControlSpec {
            criteria: vec![Criterion("CC7.2".into())],
            category: Category::Security,
            title: "Audit logging".into(),
            description: None,
            test_procedure: None,
            remediation: None,
            owner: None,
            severity: None,
            mode: None,
            scope: None,
            interval: None,
            check: Check {
                logging: Some(LoggingCheck::default()),
                ..Default::default()
            },
        }
    }

    #[test]
    fn defaults_are_resolved() {
        let s = spec();
        let v = validate(&s).unwrap();
        assert_eq!(v.kind, CheckKind::Logging);
        assert_eq!(v.interval, DEFAULT_INTERVAL);
        assert_eq!(v.mode, Mode::Audit);
        assert_eq!(v.severity, Severity::Medium);
    }

    #[test]
    fn check_kind_count_is_exactly_one() {
        let mut s = spec();
        s.check = Check::default();
        assert!(matches!(validate(&s), Err(SpecError::NoCheck)));
        s.check = Check {
            logging: Some(Default::default()),
            mfa_access: Some(Default::default()),
            ..Default::default()
        };
        let err = validate(&s).unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.check: mfaAccess, logging are all set; set exactly one check kind per Control"
        );
        assert_eq!(err.reason(), "InvalidCheck");
    }

    #[test]
    fn criteria_must_exist() {
        let mut s = spec();
        s.criteria = vec![];
        assert!(matches!(validate(&s), Err(SpecError::NoCriteria)));
        s.criteria = vec![Criterion("CC6.1".into()), Criterion("CC6.9".into())];
        let err = validate(&s).unwrap_err();
        assert!(err.to_string().contains("\"CC6.9\""), "{err}");
        assert_eq!(err.reason(), "InvalidCriteria");
    }

    #[test]
    fn intervals() {
        let mut s = spec();
        for (value, ok) in [
            ("30s", true),
            ("1h30m", true),
            ("10s", true),
            ("9s", false),
            ("0s", false),
            ("soon", false),
            ("", false),
        ] {
            s.interval = Some(value.into());
            assert_eq!(validate(&s).is_ok(), ok, "{value}");
        }
        s.interval = Some("5s".into());
        assert_eq!(validate(&s).unwrap_err().reason(), "InvalidInterval");
        s.interval = Some("2h".into());
        assert_eq!(validate(&s).unwrap().interval, Duration::from_secs(7200));
    }

    #[test]
    fn blank_title_is_rejected() {
        let mut s = spec();
        s.title = "   ".into();
        assert!(matches!(validate(&s), Err(SpecError::EmptyTitle)));
    }

    #[test]
    fn invalid_selectors_name_their_field() {
        let bad = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "a".into(),
                operator: "Sometimes".into(),
                values: None,
            }]),
            ..Default::default()
        };
        let mut s = spec();
        s.scope = Some(Scope {
            namespace_selector: Some(bad.clone()),
            ..Default::default()
        });
        let err = validate(&s).unwrap_err();
        assert!(
            err.to_string().starts_with("spec.scope.namespaceSelector:"),
            "{err}"
        );
        assert_eq!(err.reason(), "InvalidSelector");

        let mut s = spec();
        s.check.logging = Some(LoggingCheck {
            collector_selector: Some(bad),
            ..Default::default()
        });
        assert!(
            validate(&s)
                .unwrap_err()
                .to_string()
                .starts_with("spec.check.logging.collectorSelector:")
        );
    }

    #[test]
    fn confidentiality_parameters_are_validated() {
        let mut s = spec();
        s.check.logging = None;
        s.check.confidentiality = Some(crate::api::ConfidentialityCheck {
            confidential_secrets: Some(vec!["payments/cards".into(), "cards".into()]),
            ..Default::default()
        });
        let err = validate(&s).unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.check.confidentiality.confidentialSecrets: \"cards\" is not a Secret reference; write it as namespace/name, e.g. payments/card-vault"
        );
        assert_eq!(err.reason(), "InvalidParameter");
        s.check.confidentiality = Some(crate::api::ConfidentialityCheck {
            namespace_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "a".into(),
                    operator: "Sometimes".into(),
                    values: None,
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert!(
            validate(&s)
                .unwrap_err()
                .to_string()
                .starts_with("spec.check.confidentiality.namespaceSelector:")
        );
        s.check.confidentiality = Some(Default::default());
        assert_eq!(
            validate(&s).map(|v| v.kind).ok(),
            Some(CheckKind::Confidentiality)
        );
    }

    #[test]
    fn network_and_availability_parameters_are_validated() {
        use crate::api::{AvailabilityCheck, ExposureCheck, NetworkIsolationCheck};
        let with = |check: Check| {
            let mut s = spec();
            s.check = check;
            validate(&s)
                .map(|_| ())
                .map_err(|e| (e.reason(), e.to_string()))
        };
        let (reason, message) = with(Check {
            exposure: Some(ExposureCheck {
                approval_annotations: Some(vec![]),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(reason, "InvalidParameter");
        assert!(
            message.starts_with("spec.check.exposure.approvalAnnotations:"),
            "{message}"
        );
        let blank = with(Check {
            network_isolation: Some(NetworkIsolationCheck {
                approval_annotations: Some(vec![" ".into()]),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert!(blank.unwrap_err().1.contains("must not be blank"));
        let zero = with(Check {
            availability: Some(AvailabilityCheck {
                min_replicas: Some(0),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert!(
            zero.unwrap_err()
                .1
                .starts_with("spec.check.availability.minReplicas: 0 is below 1")
        );
        // Twins: valid values pass.
        assert!(
            with(Check {
                availability: Some(AvailabilityCheck {
                    min_replicas: Some(1),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .is_ok()
        );
        assert!(
            with(Check {
                exposure: Some(ExposureCheck {
                    approval_annotations: Some(vec!["soc2.dev/exposure-approved-by".into()]),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .is_ok()
        );
    }

    #[test]
    fn backup_durations_are_validated_with_their_field() {
        let with = |b: crate::api::BackupsCheck| {
            let mut s = spec();
            s.check = Check {
                backups: Some(b),
                ..Default::default()
            };
            validate(&s).map(|_| ()).map_err(|e| e.to_string())
        };
        assert!(with(Default::default()).is_ok());
        let ok = crate::api::BackupsCheck {
            rpo: Some("12h".into()),
            restore_test_period: Some("90d".into()),
            ..Default::default()
        };
        assert!(with(ok).is_ok());
        let err = with(crate::api::BackupsCheck {
            rpo: Some("daily".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            err.starts_with("spec.check.backups.rpo: \"daily\""),
            "{err}"
        );
        let err = with(crate::api::BackupsCheck {
            restore_test_period: Some("0s".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            err.starts_with("spec.check.backups.restoreTestPeriod: must be longer than zero"),
            "{err}"
        );
        let err = with(crate::api::BackupsCheck {
            backup_coverage: Some(false),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            err.starts_with("spec.check.backups.backupCoverage"),
            "{err}"
        );
    }
}
