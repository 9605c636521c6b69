//! Dynamic watches against a scripted API server: discovery, a missing CRD, a forbidden list, a synced store.

use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use soc2_operator::view::live::LiveView;
use soc2_operator::view::{Gvk, Reads};

use crate::support::mock_api::{status_failure, with_server};

const DISCOVERY: &str = "/apis/monitoring.coreos.com/v1";
const RULES: &str = "/apis/monitoring.coreos.com/v1/prometheusrules";

fn rule() -> Gvk {
    Gvk::new("monitoring.coreos.com", "v1", "PrometheusRule")
}

fn resource_list() -> serde_json::Value {
    json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "monitoring.coreos.com/v1",
        "resources": [{"name": "prometheusrules", "singularName": "prometheusrule", "namespaced": true,
                       "kind": "PrometheusRule", "verbs": ["get", "list", "watch"]}]
    })
}

async fn snapshot_of(client: kube::Client) -> Result<usize, String> {
    let (view, _changes) = LiveView::new(Some(client));
    let reads = Reads::new(vec![], vec![rule()]);
    view.ensure(&reads);
    view.wait_synced(&reads, Duration::from_secs(5)).await;
    let s = view.snapshot(&reads);
    s.dynamic(&rule()).map(|objects| {
        assert!(
            objects.iter().all(|o| o.metadata.managed_fields.is_none()),
            "managedFields are stripped"
        );
        objects.len()
    })
}

#[tokio::test]
async fn an_absent_crd_is_unavailable_with_the_reason() {
    let (result, requests) = with_server(
        |_| {
            (
                StatusCode::NOT_FOUND,
                status_failure(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ),
            )
        },
        "snapshot",
        snapshot_of,
    )
    .await;
    assert_eq!(
        result.unwrap_err(),
        "the CRD monitoring.coreos.com/v1 PrometheusRule is not installed"
    );
    assert_eq!(requests[0].path, DISCOVERY);
    assert!(
        requests.iter().all(|r| r.path == DISCOVERY),
        "no list without discovery"
    );
}

#[tokio::test]
async fn a_forbidden_list_is_unavailable_and_names_the_grant() {
    let (result, requests) = with_server(
        |r| {
            if r.path == DISCOVERY {
                (StatusCode::OK, resource_list())
            } else {
                (
                    StatusCode::FORBIDDEN,
                    status_failure(403, "Forbidden", "prometheusrules.monitoring.coreos.com is forbidden: User \"system:serviceaccount:soc2:soc2-operator\" cannot list resource \"prometheusrules\""),
                )
            }
        },
        "snapshot",
        snapshot_of,
    )
    .await;
    let reason = result.unwrap_err();
    assert!(
        reason.contains("may not list/watch monitoring.coreos.com/v1 PrometheusRule"),
        "{reason}"
    );
    assert!(
        reason.contains("prometheusrules.monitoring.coreos.com (chart value extraWatchRules)"),
        "{reason}"
    );
    assert!(requests.iter().any(|r| r.path == RULES));
}

#[tokio::test]
async fn a_synced_watch_serves_the_objects() {
    let (result, requests) = with_server(
        |r| {
            if r.path == DISCOVERY {
                (StatusCode::OK, resource_list())
            } else if r.query.get("watch").map(String::as_str) == Some("true") {
                // End the watch: the store keeps serving the synced list through errors.
                (StatusCode::INTERNAL_SERVER_ERROR, status_failure(500, "InternalError", "try later"))
            } else {
                (
                    StatusCode::OK,
                    json!({
                        "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRuleList",
                        "metadata": {"resourceVersion": "7"},
                        "items": [{
                            "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
                            "metadata": {"name": "api", "namespace": "monitoring", "resourceVersion": "7",
                                         "managedFields": [{"manager": "helm", "operation": "Apply"}]},
                            "spec": {"groups": []}
                        }]
                    }),
                )
            }
        },
        "snapshot",
        snapshot_of,
    )
    .await;
    assert_eq!(result, Ok(1));
    let list = requests
        .iter()
        .find(|r| r.path == RULES)
        .expect("a list request");
    assert_ne!(list.query.get("watch").map(String::as_str), Some("true"));
}
