//! Monitoring presence (CC7.2, CC7.3): declared resources of any kind exist, in the declared number, optionally
//! satisfying a CEL condition. A kind the API server does not serve (CRD absent) is Unknown, never a pass or a
//! silent failure.

use std::collections::BTreeMap;

use cel::Value;
use k8s_openapi::jiff::Timestamp;
use kube::core::{Selector, SelectorExt};

use super::cel::{Expecting, compile, eval, functions};
use super::{Admissibility, Check, CheckReport, Finding};
use crate::api::{CheckKind, RequiredResource, RequiredResourcesCheck};
use crate::engine::validation::SpecError;
use crate::view::{ClusterSnapshot, Gvk, Reads, ResourceRef, ScopeMatcher};

/// The field of entry `i`'s condition.
pub fn condition_field(i: usize) -> String {
    format!("spec.check.requiredResources.resources[{i}].condition")
}

/// Compiles entry `i`'s condition, which sees `object` only.
pub fn compile_condition(
    i: usize,
    source: &str,
) -> Result<std::sync::Arc<compile::Compiled>, compile::CelError> {
    compile::compile(
        source,
        &condition_field(i),
        Expecting::Bool,
        &[],
        Some(&["object"]),
    )
}

fn subject(i: usize, r: &RequiredResource) -> ResourceRef {
    ResourceRef {
        api_version: r.api_version.clone(),
        kind: r.kind.clone(),
        namespace: r.namespace.clone(),
        name: r.name.clone().unwrap_or_else(|| format!("resources[{i}]")),
        uid: None,
    }
}

/// How the entry selects objects, in words.
fn criteria(r: &RequiredResource) -> String {
    let mut parts = vec![format!("{} {}", r.api_version, r.kind)];
    if let Some(n) = &r.name {
        parts.push(format!("named {n}"));
    }
    if let Some(ns) = &r.namespace {
        parts.push(format!("in namespace {ns}"));
    }
    if let Some(s) = &r.label_selector {
        let labels: Vec<String> = s
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !labels.is_empty() {
            parts.push(format!("labelled {}", labels.join(",")));
        }
        if s.match_expressions.as_ref().is_some_and(|e| !e.is_empty()) {
            parts.push("matching the label expressions".into());
        }
    }
    parts.join(" ")
}

/// The monitoring presence check (`spec.check.requiredResources`).
pub struct RequiredResources;

impl Check for RequiredResources {
    const KIND: CheckKind = CheckKind::RequiredResources;
    type Params = RequiredResourcesCheck;

    fn params(check: &crate::api::Check) -> Option<&RequiredResourcesCheck> {
        check.required_resources.as_ref()
    }

    fn validate(params: &RequiredResourcesCheck) -> Result<(), SpecError> {
        super::generic_spec::validate_required_resources(params)
    }

    fn reads(params: &RequiredResourcesCheck) -> Reads {
        Reads::new(
            Vec::new(),
            params
                .resources
                .iter()
                .map(|r| Gvk::from_api_version(&r.api_version, &r.kind))
                .collect(),
        )
    }

    /// Each entry names its namespace itself; the control's scope does not filter them.
    const SCOPED: bool = false;

    fn admissibility(_: &RequiredResourcesCheck) -> Admissibility {
        Admissibility::AuditOnly(
            "the requiredResources check judges whether objects exist, which a single create or update cannot decide",
        )
    }

    fn judge(
        view: &ClusterSnapshot,
        _: &ScopeMatcher,
        params: &RequiredResourcesCheck,
        _: Timestamp,
    ) -> CheckReport {
        check(view, params)
    }
}

/// Runs the check: one subject per declared entry.
pub fn check(view: &ClusterSnapshot, spec: &RequiredResourcesCheck) -> CheckReport {
    let mut report = CheckReport::default();
    let root = functions::root_context();
    for (i, r) in spec.resources.iter().enumerate() {
        report.evaluated += 1;
        let gvk = Gvk::from_api_version(&r.api_version, &r.kind);
        let who = subject(i, r);
        let objects = match view.dynamic(&gvk) {
            Ok(o) => o,
            Err(reason) => {
                report.findings.push(Finding::unknown(
                    who,
                    "data-unavailable",
                    format!(
                        "{}: cannot tell whether it exists: {gvk} could not be read: {reason}",
                        r.description
                    ),
                ));
                continue;
            }
        };
        let selector = match r.label_selector.clone().map(Selector::try_from).transpose() {
            Ok(s) => s,
            Err(e) => {
                report.findings.push(Finding::unknown(
                    who,
                    "invalid-selector",
                    format!("spec.check.requiredResources.resources[{i}].labelSelector: {e}"),
                ));
                continue;
            }
        };
        let candidates: Vec<_> = objects
            .iter()
            .filter(|o| r.namespace.is_none() || o.metadata.namespace == r.namespace)
            .filter(|o| r.name.is_none() || o.metadata.name == r.name)
            .filter(|o| {
                selector.as_ref().is_none_or(|s| {
                    s.matches(o.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()))
                })
            })
            .collect();
        let mut satisfied = 0usize;
        let mut unsatisfied = 0usize;
        let mut errors: Vec<String> = Vec::new();
        match &r.condition {
            None => satisfied = candidates.len(),
            Some(source) => {
                let compiled = match compile_condition(i, source) {
                    Ok(c) => c,
                    Err(e) => {
                        report.findings.push(Finding::unknown(
                            who,
                            "invalid-expression",
                            e.to_string(),
                        ));
                        continue;
                    }
                };
                for o in &candidates {
                    let outcome = serde_json::to_value(o.as_ref())
                        .map_err(|e| e.to_string())
                        .and_then(|json| {
                            let largest = eval::largest_collection(&json);
                            let activation = eval::Activation {
                                roots: vec![("object", eval::to_cel(&json)?)],
                                largest,
                            };
                            eval::evaluate(&root, &compiled, &activation, &BTreeMap::new(), 0)
                                .map_err(|e| match e {
                                    eval::EvalError::Runtime(m) => m,
                                    eval::EvalError::TooCostly(c) => format!(
                                        "estimated cost {c} exceeds the limit of {}",
                                        eval::MAX_COST_PER_OBJECT
                                    ),
                                })
                        });
                    match outcome {
                        Ok(Value::Bool(true)) => satisfied += 1,
                        Ok(Value::Bool(false)) => unsatisfied += 1,
                        Ok(other) => errors.push(format!(
                            "{}: evaluated to a {}, not a bool",
                            ResourceRef::from_dynamic(&gvk, o),
                            eval::type_name(&other)
                        )),
                        Err(e) => {
                            errors.push(format!("{}: {e}", ResourceRef::from_dynamic(&gvk, o)))
                        }
                    }
                }
            }
        }
        let need = r.effective_min_count() as usize;
        if satisfied >= need {
            continue;
        }
        let mut message = format!(
            "Required: {}. Found {satisfied} {} (at least {need} required)",
            r.description,
            criteria(r)
        );
        if r.condition.is_some() {
            message.push_str(&format!(
                " satisfying {}; {} of {} candidates did not satisfy it",
                condition_field(i),
                unsatisfied,
                candidates.len()
            ));
        }
        if errors.is_empty() {
            message.push_str(". Create it, or correct the entry if the resource lives elsewhere.");
            report
                .findings
                .push(Finding::fail(who, "required-resource-missing", message));
        } else {
            // A candidate that could not be evaluated might satisfy the entry: undecided, not failed.
            message.push_str(&format!(
                "; the condition could not be evaluated on: {}",
                errors.join("; ")
            ));
            report
                .findings
                .push(Finding::unknown(who, "cel-evaluation-error", message));
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use kube::api::DynamicObject;
    use serde_json::json;

    use super::*;
    use crate::api::FindingResult;

    fn rule(
        ns: &str,
        name: &str,
        alerts: &[&str],
        labels: serde_json::Value,
    ) -> Arc<DynamicObject> {
        let rules: Vec<_> = alerts
            .iter()
            .map(|a| json!({"alert": a, "expr": "up == 0"}))
            .collect();
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": {"groups": [{"name": "g", "rules": rules}]}
            }))
            .unwrap(),
        )
    }

    fn gvk() -> Gvk {
        Gvk::new("monitoring.coreos.com", "v1", "PrometheusRule")
    }

    fn view(objects: Vec<Arc<DynamicObject>>) -> ClusterSnapshot {
        let mut s = ClusterSnapshot::default();
        s.dynamic.insert(gvk(), objects);
        s
    }

    fn entry() -> RequiredResource {
        RequiredResource {
            description: "Alert on API server errors".into(),
            api_version: "monitoring.coreos.com/v1".into(),
            kind: "PrometheusRule".into(),
            namespace: Some("monitoring".into()),
            name: None,
            label_selector: None,
            min_count: None,
            condition: None,
        }
    }

    fn run(view: &ClusterSnapshot, entries: Vec<RequiredResource>) -> CheckReport {
        check(view, &RequiredResourcesCheck { resources: entries })
    }

    #[test]
    fn present_resources_pass() {
        let v = view(vec![rule(
            "monitoring",
            "api",
            &["KubeAPIErrorsHigh"],
            json!({}),
        )]);
        let r = run(&v, vec![entry()]);
        assert_eq!(r.evaluated, 1);
        assert!(r.findings.is_empty());
    }

    #[test]
    fn missing_resources_fail_naming_what_is_missing() {
        let v = view(vec![rule("other", "api", &[], json!({}))]);
        let r = run(&v, vec![entry()]);
        assert_eq!(r.findings[0].result, FindingResult::Fail);
        assert_eq!(r.findings[0].rule, "required-resource-missing");
        let m = &r.findings[0].message;
        assert!(m.contains("Alert on API server errors"), "{m}");
        assert!(
            m.contains("monitoring.coreos.com/v1 PrometheusRule in namespace monitoring"),
            "{m}"
        );
        assert!(m.contains("Found 0"), "{m}");
        assert_eq!(r.findings[0].resource.name, "resources[0]");
    }

    #[test]
    fn name_labels_and_min_count() {
        let v = view(vec![
            rule("monitoring", "a", &[], json!({"team": "sre"})),
            rule("monitoring", "b", &[], json!({"team": "sre"})),
            rule("monitoring", "c", &[], json!({"team": "dev"})),
        ]);
        let by_label = RequiredResource {
            label_selector: Some(LabelSelector {
                match_labels: Some([("team".to_string(), "sre".to_string())].into()),
                ..Default::default()
            }),
            min_count: Some(2),
            ..entry()
        };
        assert!(run(&v, vec![by_label.clone()]).findings.is_empty());
        let three = RequiredResource {
            min_count: Some(3),
            ..by_label
        };
        let r = run(&v, vec![three]);
        assert!(
            r.findings[0].message.contains("Found 2"),
            "{}",
            r.findings[0].message
        );
        assert!(r.findings[0].message.contains("at least 3"));
        assert!(r.findings[0].message.contains("labelled team=sre"));
        let named = RequiredResource {
            name: Some("z".into()),
            ..entry()
        };
        let r = run(&v, vec![named]);
        assert_eq!(r.findings[0].resource.name, "z");
        assert!(r.findings[0].message.contains("named z"));
    }

    #[test]
    fn conditions_select_matching_objects() {
        let v = view(vec![
            rule("monitoring", "a", &["NodeDown"], json!({})),
            rule("monitoring", "b", &["KubeAPIErrorsHigh"], json!({})),
        ]);
        let alert = |name: &str| RequiredResource {
            condition: Some(format!(
                "object.spec.groups.exists(g, g.rules.exists(r, has(r.alert) && r.alert == '{name}'))"
            )),
            ..entry()
        };
        assert!(
            run(&v, vec![alert("KubeAPIErrorsHigh")])
                .findings
                .is_empty()
        );
        let r = run(&v, vec![alert("EtcdDown")]);
        assert_eq!(r.findings[0].result, FindingResult::Fail);
        assert!(
            r.findings[0]
                .message
                .contains("2 of 2 candidates did not satisfy it")
        );
        assert!(r.findings[0].message.contains("resources[0].condition"));
    }

    #[test]
    fn a_condition_that_cannot_be_evaluated_is_unknown() {
        let v = view(vec![rule("monitoring", "a", &[], json!({}))]);
        let e = RequiredResource {
            condition: Some("object.spec.missing == 1".into()),
            ..entry()
        };
        let r = run(&v, vec![e]);
        assert_eq!(r.findings[0].result, FindingResult::Unknown);
        assert!(
            r.findings[0].message.contains("No such key: missing"),
            "{}",
            r.findings[0].message
        );
    }

    #[test]
    fn an_absent_crd_is_unknown_never_a_pass_or_fail() {
        let mut v = ClusterSnapshot::default();
        v.dynamic_unavailable.insert(
            gvk(),
            "the CRD monitoring.coreos.com/v1 PrometheusRule is not installed".into(),
        );
        let r = run(&v, vec![entry()]);
        assert_eq!(r.findings[0].result, FindingResult::Unknown);
        assert!(r.findings[0].message.contains("is not installed"));
        assert!(
            r.findings[0]
                .message
                .starts_with("Alert on API server errors")
        );
    }

    #[test]
    fn conditions_see_only_the_object() {
        let e = compile_condition(0, "params.x == 1").unwrap_err();
        assert_eq!(
            e.field,
            "spec.check.requiredResources.resources[0].condition"
        );
        assert!(e.message.contains("undeclared reference to 'params'"));
    }
}
