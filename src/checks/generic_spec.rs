//! Spec rules of the generic check kinds (`cel`, `requiredResources`) that the CRD schema cannot express:
//! expressions compile, kinds are well-formed, selectors are valid. Called by their checks' [`super::Check::validate`].

use crate::api::{CelCheck, KindMatch, RequiredResourcesCheck};
use crate::engine::validation::SpecError;
use crate::view::scope_matcher::compile_selector;

fn kind_is_valid(field: String, api_version: &str, kind: &str) -> Result<(), SpecError> {
    let parts: Vec<&str> = api_version.split('/').collect();
    let well_formed = !api_version.is_empty()
        && parts.len() <= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && !p.contains(char::is_whitespace));
    if !well_formed {
        return Err(SpecError::InvalidKind {
            field,
            reason: format!(
                "apiVersion {api_version:?} is not GROUP/VERSION or VERSION, e.g. apps/v1, v1, monitoring.coreos.com/v1"
            ),
        });
    }
    if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(SpecError::InvalidKind {
            field,
            reason: format!("kind {kind:?} is not a Kubernetes kind name, e.g. Deployment"),
        });
    }
    Ok(())
}

/// Validates a `cel` check: at least one kind, each well-formed, a valid label selector, at least one validation,
/// and every expression compiles.
pub(super) fn validate_cel(cel: &CelCheck) -> Result<(), SpecError> {
    if cel.match_.kinds.is_empty() {
        return Err(SpecError::InvalidKind {
            field: "spec.check.cel.match.kinds".into(),
            reason: "at least one kind is required, e.g. {apiVersion: apps/v1, kind: Deployment}"
                .into(),
        });
    }
    for (i, KindMatch { api_version, kind }) in cel.match_.kinds.iter().enumerate() {
        kind_is_valid(
            format!("spec.check.cel.match.kinds[{i}]"),
            api_version,
            kind,
        )?;
    }
    if let Some(s) = &cel.match_.label_selector {
        compile_selector(s, "spec.check.cel.match.labelSelector")?;
    }
    if cel.validations.is_empty() {
        return Err(SpecError::InvalidKind {
            field: "spec.check.cel.validations".into(),
            reason: "at least one validation is required".into(),
        });
    }
    super::cel::compile_check(cel)?;
    Ok(())
}

/// Validates a `requiredResources` check: at least one resource, each kind well-formed, valid label selectors,
/// and every condition compiles.
pub(super) fn validate_required_resources(
    required: &RequiredResourcesCheck,
) -> Result<(), SpecError> {
    if required.resources.is_empty() {
        return Err(SpecError::InvalidKind {
            field: "spec.check.requiredResources.resources".into(),
            reason: "at least one required resource is needed".into(),
        });
    }
    for (i, r) in required.resources.iter().enumerate() {
        kind_is_valid(
            format!("spec.check.requiredResources.resources[{i}]"),
            &r.api_version,
            &r.kind,
        )?;
        if let Some(s) = &r.label_selector {
            compile_selector(
                s,
                &format!("spec.check.requiredResources.resources[{i}].labelSelector"),
            )?;
        }
        if let Some(c) = &r.condition {
            super::required_resources::compile_condition(i, c)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{CelMatch, CelValidation, Check, RequiredResource};

    /// Validates the generic check kinds present in `check`, as validation does for the one set.
    fn validate_generic(check: &Check) -> Result<(), SpecError> {
        if let Some(cel) = &check.cel {
            validate_cel(cel)?;
        }
        if let Some(required) = &check.required_resources {
            validate_required_resources(required)?;
        }
        Ok(())
    }

    fn cel(expression: &str) -> Check {
        Check {
            cel: Some(CelCheck {
                match_: CelMatch {
                    kinds: vec![KindMatch {
                        api_version: "apps/v1".into(),
                        kind: "Deployment".into(),
                    }],
                    ..Default::default()
                },
                variables: None,
                validations: vec![
                    CelValidation {
                        expression: "true".into(),
                        message: None,
                        message_expression: None,
                        reason: None,
                    },
                    CelValidation {
                        expression: expression.into(),
                        message: None,
                        message_expression: None,
                        reason: None,
                    },
                ],
                params: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn invalid_expressions_are_invalid_expression_errors_naming_the_field() {
        let err = validate_generic(&cel("object.spec.replicas >")).unwrap_err();
        assert_eq!(err.reason(), "InvalidExpression");
        let text = err.to_string();
        assert!(
            text.starts_with("spec.check.cel.validations[1].expression: syntax error"),
            "{text}"
        );
        assert!(text.contains("line 1, column"), "{text}");
        let err = validate_generic(&cel("object.x + 1 == 'a' + 2")).unwrap_err();
        assert!(err.to_string().contains("type error"), "{err}");
        assert!(validate_generic(&cel("object.spec.replicas >= 2")).is_ok());
    }

    #[test]
    fn kinds_must_be_well_formed() {
        let mut check = cel("true");
        check.cel.as_mut().unwrap().match_.kinds[0].api_version = "apps/v1/extra".into();
        let err = validate_generic(&check).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("spec.check.cel.match.kinds[0]:"),
            "{err}"
        );
        let check = Check {
            required_resources: Some(RequiredResourcesCheck {
                resources: vec![RequiredResource {
                    description: "d".into(),
                    api_version: "v1".into(),
                    kind: "Config Map".into(),
                    namespace: None,
                    name: None,
                    label_selector: None,
                    min_count: None,
                    condition: Some("object.a ==".into()),
                }],
            }),
            ..Default::default()
        };
        let err = validate_generic(&check).unwrap_err();
        assert!(err.to_string().contains("kind \"Config Map\""), "{err}");
    }

    #[test]
    fn required_resource_conditions_are_compiled() {
        let check = Check {
            required_resources: Some(RequiredResourcesCheck {
                resources: vec![RequiredResource {
                    description: "d".into(),
                    api_version: "v1".into(),
                    kind: "ConfigMap".into(),
                    namespace: None,
                    name: None,
                    label_selector: None,
                    min_count: None,
                    condition: Some("object.a ==".into()),
                }],
            }),
            ..Default::default()
        };
        let err = validate_generic(&check).unwrap_err();
        assert_eq!(err.reason(), "InvalidExpression");
        assert!(
            err.to_string()
                .starts_with("spec.check.requiredResources.resources[0].condition:")
        );
    }
}
