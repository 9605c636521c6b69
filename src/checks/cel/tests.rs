//! The CEL check over hand-built snapshots.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::DynamicObject;
use serde_json::json;

use super::*;
use crate::api::{CelCheck, CelMatch, CelValidation, CelVariable, FindingResult, KindMatch, Scope};

fn cm(
    ns: &str,
    name: &str,
    data: serde_json::Value,
    labels: serde_json::Value,
) -> Arc<DynamicObject> {
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "labels": labels},
            "data": data
        }))
        .unwrap(),
    )
}

fn configmap() -> Gvk {
    Gvk::new("", "v1", "ConfigMap")
}

fn view(objects: Vec<Arc<DynamicObject>>) -> ClusterSnapshot {
    let mut s = ClusterSnapshot {
        namespaces: vec![Arc::new(Namespace {
            metadata: ObjectMeta {
                name: Some("prod".into()),
                labels: Some([("env".to_string(), "prod".to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        })],
        ..Default::default()
    };
    s.dynamic.insert(configmap(), objects);
    s
}

fn validation(expression: &str) -> CelValidation {
    CelValidation {
        expression: expression.into(),
        message: None,
        message_expression: None,
        reason: None,
    }
}

fn spec(validations: Vec<CelValidation>) -> CelCheck {
    CelCheck {
        match_: CelMatch {
            kinds: vec![KindMatch {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
            }],
            namespaces: None,
            label_selector: None,
        },
        variables: None,
        validations,
        params: None,
    }
}

fn run(view: &ClusterSnapshot, spec: &CelCheck) -> CheckReport {
    check(view, &ScopeMatcher::new(None, view).unwrap(), spec)
}

fn results(r: &CheckReport) -> Vec<(String, FindingResult)> {
    r.findings
        .iter()
        .map(|f| (f.resource.name.clone(), f.result))
        .collect()
}

#[test]
fn each_object_is_validated_and_violations_fail_with_the_message() {
    let v = view(vec![
        cm("prod", "good", json!({"owner": "team-a"}), json!({})),
        cm("prod", "bad", json!({}), json!({})),
    ]);
    let mut s = spec(vec![CelValidation {
        message: Some("every ConfigMap names its owner".into()),
        reason: Some("owner-missing".into()),
        ..validation("has(object.data.owner)")
    }]);
    let r = run(&v, &s);
    assert_eq!(r.evaluated, 2);
    assert_eq!(results(&r), [("bad".to_string(), FindingResult::Fail)]);
    assert_eq!(r.findings[0].rule, "owner-missing");
    assert_eq!(r.findings[0].message, "every ConfigMap names its owner");
    assert_eq!(r.findings[0].resource.uid.as_deref(), Some("uid-bad"));

    // Without a message, the failed expression is quoted.
    s.validations[0].message = None;
    s.validations[0].reason = None;
    let r = run(&v, &s);
    assert_eq!(
        r.findings[0].message,
        "failed expression: has(object.data.owner)"
    );
    assert_eq!(r.findings[0].rule, "cel-validations[0]");
}

#[test]
fn message_expression_takes_precedence_and_falls_back_on_error() {
    let v = view(vec![cm("prod", "bad", json!({"size": "9"}), json!({}))]);
    let s = spec(vec![CelValidation {
        message: Some("static".into()),
        message_expression: Some(
            "'ConfigMap ' + object.metadata.name + ' has size ' + object.data.size".into(),
        ),
        ..validation("object.data.size == '1'")
    }]);
    let r = run(&v, &s);
    assert_eq!(r.findings[0].message, "ConfigMap bad has size 9");
    let s = spec(vec![CelValidation {
        message: Some("static".into()),
        message_expression: Some("object.data.missing".into()),
        ..validation("object.data.size == '1'")
    }]);
    assert_eq!(run(&v, &s).findings[0].message, "static");
}

#[test]
fn runtime_errors_are_unknown_for_that_object_only() {
    let v = view(vec![
        cm("prod", "has-it", json!({"replicas": "3"}), json!({})),
        cm("prod", "lacks-it", json!({}), json!({})),
    ]);
    let r = run(&v, &spec(vec![validation("object.data.replicas == '3'")]));
    assert_eq!(
        results(&r),
        [("lacks-it".to_string(), FindingResult::Unknown)]
    );
    let m = &r.findings[0].message;
    assert!(
        m.contains("spec.check.cel.validations[0].expression"),
        "{m}"
    );
    assert!(m.contains("No such key: replicas"), "{m}");
}

#[test]
fn a_non_bool_result_is_unknown() {
    let v = view(vec![cm("prod", "x", json!({"a": "b"}), json!({}))]);
    let r = run(&v, &spec(vec![validation("object.data.a")]));
    assert_eq!(r.findings[0].result, FindingResult::Unknown);
    assert!(
        r.findings[0]
            .message
            .contains("evaluated to a string, not a bool")
    );
}

#[test]
fn variables_are_lazy_ordered_and_visible() {
    let v = view(vec![cm("prod", "x", json!({"a": "1,2,3"}), json!({}))]);
    let mut s = spec(vec![
        validation("variables.count == 3"),
        validation("variables.first == '1'"),
    ]);
    s.variables = Some(vec![
        CelVariable {
            name: "parts".into(),
            expression: "object.data.a.split(',')".into(),
        },
        CelVariable {
            name: "count".into(),
            expression: "size(variables.parts)".into(),
        },
        CelVariable {
            name: "first".into(),
            expression: "variables.parts[0]".into(),
        },
        // Never used: its error must not surface.
        CelVariable {
            name: "broken".into(),
            expression: "object.data.nope".into(),
        },
    ]);
    let r = run(&v, &s);
    assert!(r.findings.is_empty(), "{:?}", r.findings);

    // A variable that fails makes the validations using it Unknown, naming the variable.
    s.validations = vec![validation("variables.broken == 'x'")];
    let r = run(&v, &s);
    assert_eq!(r.findings[0].result, FindingResult::Unknown);
    assert!(
        r.findings[0]
            .message
            .contains("spec.check.cel.variables[3].expression")
    );
}

#[test]
fn a_variable_cannot_read_a_later_one() {
    let mut s = spec(vec![validation("true")]);
    s.variables = Some(vec![
        CelVariable {
            name: "a".into(),
            expression: "variables.b".into(),
        },
        CelVariable {
            name: "b".into(),
            expression: "1".into(),
        },
    ]);
    let e = compile_check(&s).err().unwrap();
    assert_eq!(e.field, "spec.check.cel.variables[0].expression");
}

#[test]
fn namespace_object_and_params_are_visible() {
    let v = view(vec![cm("prod", "x", json!({"tier": "gold"}), json!({}))]);
    let mut s = spec(vec![validation(
        "namespaceObject.metadata.labels.env == 'prod' && object.data.tier in params.tiers",
    )]);
    s.params = Some(json!({"tiers": ["gold", "silver"]}));
    assert!(run(&v, &s).findings.is_empty());
    s.params = Some(json!({"tiers": ["bronze"]}));
    assert_eq!(run(&v, &s).findings[0].result, FindingResult::Fail);
    // An object whose namespace the view does not know sees null.
    let v = view(vec![cm("elsewhere", "y", json!({}), json!({}))]);
    let s = spec(vec![validation("namespaceObject == null")]);
    assert!(run(&v, &s).findings.is_empty());
}

#[test]
fn match_rules_and_scope_select_objects() {
    let v = view(vec![
        cm("prod", "a", json!({}), json!({"team": "x"})),
        cm("prod", "b", json!({}), json!({"team": "y"})),
        cm("dev", "c", json!({}), json!({"team": "x"})),
    ]);
    let mut s = spec(vec![validation("false")]);
    s.match_.label_selector = Some(LabelSelector {
        match_labels: Some([("team".to_string(), "x".to_string())].into()),
        ..Default::default()
    });
    let names = |r: &CheckReport| {
        r.findings
            .iter()
            .map(|f| f.resource.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&run(&v, &s)), ["a", "c"]);
    s.match_.namespaces = Some(vec!["dev".into()]);
    assert_eq!(names(&run(&v, &s)), ["c"]);
    s.match_.namespaces = None;
    let scope = Scope {
        exclude_namespaces: Some(vec!["dev".into()]),
        ..Default::default()
    };
    let r = check(&v, &ScopeMatcher::new(Some(&scope), &v).unwrap(), &s);
    assert_eq!(names(&r), ["a"]);
}

#[test]
fn namespaces_are_filtered_by_namespace_lists_and_scope_as_themselves() {
    let ns = |name: &str| -> Arc<DynamicObject> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": {"soc2.dev/data-classification": "personal"}},
            }))
            .unwrap(),
        )
    };
    let mut v = view(vec![]);
    v.dynamic.insert(
        Gvk::new("", "v1", "Namespace"),
        vec![ns("crm"), ns("kube-system"), ns("hr")],
    );
    let mut s = spec(vec![validation("false")]);
    s.match_.kinds = vec![KindMatch {
        api_version: "v1".into(),
        kind: "Namespace".into(),
    }];
    let names = |r: &CheckReport| {
        r.findings
            .iter()
            .map(|f| f.resource.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&run(&v, &s)), ["crm", "kube-system", "hr"]);
    let scope = Scope {
        exclude_namespaces: Some(vec!["kube-system".into()]),
        ..Default::default()
    };
    let r = check(&v, &ScopeMatcher::new(Some(&scope), &v).unwrap(), &s);
    assert_eq!(
        names(&r),
        ["crm", "hr"],
        "an excluded namespace is not judged"
    );
    s.match_.namespaces = Some(vec!["hr".into()]);
    assert_eq!(names(&run(&v, &s)), ["hr"]);
}

#[test]
fn an_unserved_kind_is_unknown_with_the_reason() {
    let mut v = view(vec![]);
    let rule = Gvk::new("monitoring.coreos.com", "v1", "PrometheusRule");
    v.dynamic_unavailable.insert(
        rule,
        "the CRD monitoring.coreos.com/v1 PrometheusRule is not installed".into(),
    );
    let mut s = spec(vec![validation("true")]);
    s.match_.kinds = vec![KindMatch {
        api_version: "monitoring.coreos.com/v1".into(),
        kind: "PrometheusRule".into(),
    }];
    let r = run(&v, &s);
    assert_eq!(r.findings[0].result, FindingResult::Unknown);
    assert!(r.findings[0].message.contains("is not installed"));
}

#[test]
fn cost_beyond_the_bound_is_unknown_and_says_so() {
    let big: Vec<serde_json::Value> = (0..200).map(|i| json!(i.to_string())).collect();
    let o: Arc<DynamicObject> = Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "huge", "namespace": "prod"},
            "data": {"list": big}
        }))
        .unwrap(),
    );
    let v = view(vec![o]);
    let s = spec(vec![validation(
        "object.data.list.all(a, object.data.list.all(b, object.data.list.all(c, a + b + c != '')))",
    )]);
    let started = Instant::now();
    let r = run(&v, &s);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(r.findings[0].result, FindingResult::Unknown);
    assert!(
        r.findings[0].message.contains("exceeds the limit"),
        "{}",
        r.findings[0].message
    );
    // The same expression over a small list is evaluated.
    let v = view(vec![cm(
        "prod",
        "small",
        json!({"list": ["1", "2"]}),
        json!({}),
    )]);
    let r = run(&v, &s);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[test]
fn objects_beyond_the_bound_are_reported_unknown() {
    let objects: Vec<_> = (0..13)
        .map(|i| cm("prod", &format!("c{i}"), json!({}), json!({})))
        .collect();
    let v = view(objects);
    let s = spec(vec![validation("true")]);
    let scope = ScopeMatcher::new(None, &v).unwrap();
    let r = check_within(&v, &scope, &s, 10, TIME_BUDGET);
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.findings[0].rule, "evaluation-bound-exceeded");
    assert!(
        r.findings[0].message.starts_with("3 of 13"),
        "{}",
        r.findings[0].message
    );
    assert!(r.findings[0].message.contains("at most 10"));
    // An exhausted time budget stops between objects, and says so.
    let r = check_within(&v, &scope, &s, 10, Duration::ZERO);
    assert!(
        r.findings[0].message.contains("time budget"),
        "{}",
        r.findings[0].message
    );
}

#[test]
fn unsupported_constructs_never_panic_the_operator() {
    // Structs are rejected at compile time; the evaluator's own panics are caught as errors.
    let s = spec(vec![validation("Foo{a: 1} == 1")]);
    let r = run(&view(vec![cm("prod", "x", json!({}), json!({}))]), &s);
    assert_eq!(r.findings[0].rule, "invalid-expression");
}
