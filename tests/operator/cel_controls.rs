//! Custom CEL and requiredResources controls through reconcile (scripted API server) and triggers.

use std::sync::Arc;

use http::Method;
use kube::api::DynamicObject;
use kube::runtime::controller::Action;
use kube::runtime::{reflector, watcher};
use serde_json::{Value, json};
use soc2_operator::api::Control;
use soc2_operator::controller::affected_controls;
use soc2_operator::view::live::{Change, Watched};
use soc2_operator::view::{ClusterSnapshot, Gvk, ResourceKind};

use crate::support::mock_api::{CONTROLS, EVENTS, mock_context, plausible_answer, reconcile_with};

fn cel_spec(expression: &str) -> Value {
    json!({
        "criteria": ["CC8.1"],
        "category": "Security",
        "title": "Every ConfigMap names its owner",
        "check": {"cel": {
            "match": {"kinds": [{"apiVersion": "v1", "kind": "ConfigMap"}]},
            "validations": [
                {"expression": "true"},
                {"expression": expression, "messageExpression": "'ConfigMap ' + object.metadata.name + ' has no owner label'"}
            ]
        }}
    })
}

fn control(name: &str, spec: Value) -> Control {
    crate::support::fixtures::control(name, 3, spec)
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
}

fn config_map(ns: &str, name: &str, labels: Value) -> Arc<DynamicObject> {
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "labels": labels}
        }))
        .expect("config map"),
    )
}

#[tokio::test]
async fn a_malformed_expression_makes_the_control_not_ready_with_invalid_expression() {
    let control = control(
        "owner-labels",
        cel_spec("has(object.metadata.labels.owner) &&"),
    );
    let (ctx, handle) = mock_context(None, |ctx| ctx);
    let echo = control.clone();
    let (result, requests) =
        reconcile_with(&control, &ctx, handle, move |r| plausible_answer(&echo, r)).await;
    assert_eq!(
        result.expect("not a reconcile error"),
        Action::await_change()
    );
    assert_eq!(requests.len(), 2, "{requests:#?}");

    assert_eq!(requests[0].method, Method::PATCH);
    assert_eq!(requests[0].path, format!("{CONTROLS}/owner-labels/status"));
    let status = &requests[0].body["status"];
    let ready = condition(status, "Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "InvalidExpression");
    let message = ready["message"].as_str().expect("message");
    assert!(
        message.starts_with("spec.check.cel.validations[1].expression: syntax error"),
        "{message}"
    );
    assert!(message.contains("line 1, column"), "{message}");
    assert!(status.get("findings").is_none(), "{status}");

    assert_eq!(requests[1].method, Method::POST);
    assert_eq!(requests[1].path, EVENTS);
    assert_eq!(requests[1].body["type"], "Warning");
    assert!(
        requests[1].body["note"]
            .as_str()
            .expect("note")
            .contains("validations[1]")
    );
}

#[tokio::test]
async fn a_type_error_is_an_invalid_expression_too() {
    let control = control("owner-labels", cel_spec("size(object.metadata.name) > '5'"));
    let (ctx, handle) = mock_context(None, |ctx| ctx);
    let echo = control.clone();
    let (_, requests) =
        reconcile_with(&control, &ctx, handle, move |r| plausible_answer(&echo, r)).await;
    let ready = condition(&requests[0].body["status"], "Ready");
    assert_eq!(ready["reason"], "InvalidExpression");
    let message = ready["message"].as_str().unwrap();
    assert!(
        message.contains("type error: no matching overload for '>' applied to (int, string)"),
        "{message}"
    );
}

#[tokio::test]
async fn a_cel_control_evaluates_dynamic_objects_and_reports_each_violation() {
    let mut snapshot = ClusterSnapshot::default();
    snapshot.dynamic.insert(
        Gvk::new("", "v1", "ConfigMap"),
        vec![
            config_map("prod", "owned", json!({"owner": "team-a"})),
            config_map("prod", "orphan", json!({})),
        ],
    );
    let control = control(
        "owner-labels",
        cel_spec("has(object.metadata.labels.owner)"),
    );
    let (ctx, handle) = mock_context(Some(&snapshot), |ctx| ctx);
    let echo = control.clone();
    let (result, requests) =
        reconcile_with(&control, &ctx, handle, move |r| plausible_answer(&echo, r)).await;
    result.expect("reconciles");
    let status = &requests[0].body["status"];
    assert_eq!(condition(status, "Ready")["status"], "True");
    assert_eq!(condition(status, "Compliant")["status"], "False");
    assert_eq!(status["summary"]["evaluated"], 2);
    assert_eq!(status["summary"]["failed"], 1);
    let findings = status["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["name"], "orphan");
    assert_eq!(findings[0]["kind"], "ConfigMap");
    assert_eq!(findings[0]["namespace"], "prod");
    assert_eq!(
        findings[0]["message"],
        "ConfigMap orphan has no owner label"
    );
}

#[tokio::test]
async fn required_resources_of_an_absent_crd_are_unknown() {
    let mut snapshot = ClusterSnapshot::default();
    snapshot.dynamic_unavailable.insert(
        Gvk::new("monitoring.coreos.com", "v1", "PrometheusRule"),
        "the CRD monitoring.coreos.com/v1 PrometheusRule is not installed".into(),
    );
    let spec = json!({
        "criteria": ["CC7.2"], "category": "Security", "title": "API error alerting",
        "check": {"requiredResources": {"resources": [{
            "description": "Alert on API server errors",
            "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "namespace": "monitoring"
        }]}}
    });
    let control = control("api-alerts", spec);
    let (ctx, handle) = mock_context(Some(&snapshot), |ctx| ctx);
    let echo = control.clone();
    let (_, requests) =
        reconcile_with(&control, &ctx, handle, move |r| plausible_answer(&echo, r)).await;
    let status = &requests[0].body["status"];
    assert_eq!(condition(status, "Compliant")["status"], "Unknown");
    let message = status["findings"][0]["message"].as_str().expect("message");
    assert!(message.contains("is not installed"), "{message}");
}

fn store(controls: Vec<Control>) -> reflector::Store<Control> {
    let (reader, mut writer) = reflector::store();
    for c in controls {
        writer.apply_watcher_event(&watcher::Event::Apply(c));
    }
    reader
}

fn affected(store: &reflector::Store<Control>, kind: Watched, ns: Option<&str>) -> Vec<String> {
    let mut names: Vec<String> = affected_controls(
        store,
        &Change {
            kind,
            namespace: ns.map(str::to_string),
        },
    )
    .into_iter()
    .map(|r| r.name)
    .collect();
    names.sort();
    names
}

#[test]
fn a_gvk_change_reevaluates_only_the_controls_reading_it() {
    let mut deployments = cel_spec("object.spec.replicas >= 2");
    deployments["check"]["cel"]["match"]["kinds"] =
        json!([{"apiVersion": "apps/v1", "kind": "Deployment"}]);
    deployments["scope"] = json!({"excludeNamespaces": ["dev"]});
    let s = store(vec![
        control("config-maps", cel_spec("true")),
        control("deployments", deployments),
        control("mfa", crate::support::fixtures::mfa_spec()),
    ]);
    let config_map = Watched::Gvk(Gvk::new("", "v1", "ConfigMap"));
    assert_eq!(
        affected(&s, config_map.clone(), Some("prod")),
        ["config-maps"]
    );
    assert!(
        affected(
            &s,
            Watched::Gvk(Gvk::new("", "v1", "Service")),
            Some("prod")
        )
        .is_empty()
    );
    // apps/v1 Deployment is read whole from a watch of its own (its typed store keeps only what the checks read):
    // that watch's changes trigger the CEL control, the typed store's do not.
    let deployment = Watched::Gvk(Gvk::new("apps", "v1", "Deployment"));
    assert_eq!(
        affected(&s, deployment.clone(), Some("prod")),
        ["deployments"]
    );
    assert!(affected(&s, deployment, Some("dev")).is_empty());
    assert!(affected(&s, ResourceKind::Deployment.into(), Some("prod")).is_empty());
    assert_eq!(
        affected(&s, ResourceKind::Namespace.into(), None),
        ["config-maps", "deployments", "mfa"]
    );
}
