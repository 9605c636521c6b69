//! Publishing PolicyReports against a scripted API server.
//!
//! `policy_report::publish` runs with a client whose transport is a `tower_test` mock. A spawned task plays the API
//! server: it records every request (method, path, query, content type, JSON body) and answers it with the given
//! function. Once `publish` returns, the server waits a short grace period for stray requests, so "no other
//! request" is asserted on the recorded list. Every wait has a timeout.

use std::collections::BTreeSet;

use http::{Method, StatusCode};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use soc2_operator::api::{Control, Criterion, FindingResult, Summary};
use soc2_operator::checks::Finding;
use soc2_operator::controller::policy_report::{self, PolicyReportError, PolicyReports};
use soc2_operator::engine::evaluate::{Compliance, Evaluation};
use soc2_operator::view::ResourceRef;

use crate::support::fixtures::mfa_spec_high;
use crate::support::mock_api::{Recorded, status_with_details, with_server};

const CLUSTER_REPORT: &str = "/apis/wgpolicyk8s.io/v1alpha2/clusterpolicyreports/soc2-mfa";

fn namespaced_report(ns: &str) -> String {
    format!("/apis/wgpolicyk8s.io/v1alpha2/namespaces/{ns}/policyreports/soc2-mfa")
}

// ---------------------------------------------------------------------------------------------------------------
// The fake API server
// ---------------------------------------------------------------------------------------------------------------

/// What the API server answers when the resource type is not served (the CRD is not installed).
fn type_not_found() -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        status_with_details(
            404,
            "NotFound",
            "the server could not find the requested resource",
            json!({}),
        ),
    )
}

/// A well-behaved API server with the wg-policy CRDs installed: applies are echoed back as the stored object,
/// deletes succeed.
fn plausible(request: &Recorded) -> (StatusCode, Value) {
    match request.method {
        Method::PATCH => {
            let mut stored = request.body.clone();
            stored["metadata"]["resourceVersion"] = json!("1001");
            stored["metadata"]["uid"] = json!("0000-report");
            (StatusCode::OK, stored)
        }
        Method::DELETE => (
            StatusCode::OK,
            status_with_details(
                200,
                "",
                "",
                json!({"name": "soc2-mfa", "group": "wgpolicyk8s.io", "kind": "policyreports"}),
            ),
        ),
        _ => type_not_found(),
    }
}

async fn publish_with(
    reports: &PolicyReports,
    previous: &BTreeSet<String>,
    answer: impl FnMut(&Recorded) -> (StatusCode, Value) + Send + 'static,
) -> (Result<BTreeSet<String>, PolicyReportError>, Vec<Recorded>) {
    let reports = reports.clone();
    let previous = previous.clone();
    with_server(answer, "publish", move |client| async move {
        policy_report::publish(&client, &reports, &previous).await
    })
    .await
}

// ---------------------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------------------

fn control() -> Control {
    crate::support::fixtures::control("mfa", 1, mfa_spec_high())
}

fn resource(kind: &str, namespace: Option<&str>, name: &str) -> ResourceRef {
    ResourceRef {
        api_version: "rbac.authorization.k8s.io/v1".into(),
        kind: kind.into(),
        namespace: namespace.map(str::to_string),
        name: name.into(),
        uid: Some(format!("uid-{name}")),
    }
}

/// Findings: a cluster-scoped failure, one in `team-a` and one in `team-b`.
fn reports() -> PolicyReports {
    let findings = vec![
        Finding::fail(
            resource("ClusterRoleBinding", None, "alice"),
            "privileged-binding-to-user",
            "alice is cluster-admin",
        ),
        Finding::fail(
            resource("RoleBinding", Some("team-a"), "bob"),
            "privileged-binding-to-user",
            "bob is admin in team-a",
        ),
        Finding {
            resource: resource("RoleBinding", Some("team-b"), "carol"),
            result: FindingResult::Notice,
            rule: "break-glass".into(),
            message: "carol has break-glass access".into(),
            exception: None,
        },
    ];
    let evaluation = Evaluation {
        control: "mfa".into(),
        criteria: vec![Criterion("CC6.1".into()), Criterion("CC6.3".into())],
        check: "mfaAccess",
        compliance: Compliance::NonCompliant,
        summary: Summary {
            evaluated: 5,
            passed: 2,
            failed: 2,
            excepted: 0,
            unknown: 0,
        },
        findings: findings.into_iter().map(std::sync::Arc::new).collect(),
        digest: String::new(),
    };
    let now: Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
    policy_report::build(&control(), &evaluation, now)
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn assert_apply(r: &Recorded, path: &str, body: &Value) {
    assert_eq!(r.method, Method::PATCH, "{path}");
    assert_eq!(r.path, path);
    assert_eq!(
        r.query.get("fieldManager").map(String::as_str),
        Some("soc2-operator"),
        "{path}"
    );
    assert_eq!(
        r.query.get("force").map(String::as_str),
        Some("true"),
        "{path}"
    );
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/apply-patch+yaml"),
        "{path}"
    );
    assert_eq!(&r.body, body, "{path}");
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn applies_every_report_and_deletes_the_stale_one() {
    let reports = reports();
    let previous = set(&["team-b", "gone-clean"]);
    let (result, requests) = publish_with(&reports, &previous, plausible).await;
    assert_eq!(
        result.expect("publish succeeds"),
        set(&["team-a", "team-b"])
    );
    assert_eq!(requests.len(), 4, "{requests:#?}");

    assert_apply(&requests[0], CLUSTER_REPORT, &reports.cluster);
    assert_eq!(requests[0].body["kind"], "ClusterPolicyReport");
    assert_eq!(
        requests[0].body["results"][0]["resources"][0]["name"],
        "alice"
    );
    assert_eq!(requests[0].body["results"][1]["result"], "pass");

    assert_apply(
        &requests[1],
        &namespaced_report("team-a"),
        &reports.namespaced["team-a"],
    );
    assert_eq!(requests[1].body["metadata"]["namespace"], "team-a");
    assert_eq!(requests[1].body["results"][0]["severity"], "high");
    assert_eq!(
        requests[1].body["results"][0]["category"],
        "Security CC6.1,CC6.3"
    );
    assert_apply(
        &requests[2],
        &namespaced_report("team-b"),
        &reports.namespaced["team-b"],
    );
    assert_eq!(requests[2].body["results"][0]["result"], "warn");
    assert_eq!(requests[2].body["results"][0]["severity"], "info");

    assert_eq!(requests[3].method, Method::DELETE);
    assert_eq!(requests[3].path, namespaced_report("gone-clean"));
}

#[tokio::test]
async fn a_missing_crd_is_a_dedicated_error_and_stops_at_once() {
    let (result, requests) = publish_with(&reports(), &set(&["old"]), |_| type_not_found()).await;
    let error = result.expect_err("publish fails");
    assert!(
        matches!(
            error,
            PolicyReportError::CrdMissing {
                kind: "ClusterPolicyReport"
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("https://github.com/kubernetes-sigs/wg-policy-prototypes"),
        "{message}"
    );
    assert!(message.contains("--policy-reports"), "{message}");
    assert_eq!(error.category(), "policy-report-crd-missing");
    assert_eq!(
        requests.len(),
        1,
        "nothing after the first 404: {requests:#?}"
    );
    assert_eq!(requests[0].path, CLUSTER_REPORT);
}

#[tokio::test]
async fn a_missing_namespaced_crd_is_reported_too() {
    let (result, requests) = publish_with(&reports(), &BTreeSet::new(), |r| {
        if r.path == CLUSTER_REPORT {
            plausible(r)
        } else {
            type_not_found()
        }
    })
    .await;
    let error = result.expect_err("publish fails");
    assert!(
        matches!(
            error,
            PolicyReportError::CrdMissing {
                kind: "PolicyReport"
            }
        ),
        "{error:?}"
    );
    assert_eq!(requests.len(), 2, "{requests:#?}");
}

#[tokio::test]
async fn a_deleted_namespace_is_skipped_and_a_vanished_report_is_fine() {
    let team_a = namespaced_report("team-a");
    let (result, requests) = publish_with(&reports(), &set(&["already-deleted"]), move |r| {
        if r.path == team_a {
            (
                StatusCode::NOT_FOUND,
                status_with_details(
                    404,
                    "NotFound",
                    "namespaces \"team-a\" not found",
                    json!({"name": "team-a", "kind": "namespaces"}),
                ),
            )
        } else if r.method == Method::DELETE {
            (
                StatusCode::NOT_FOUND,
                status_with_details(
                    404,
                    "NotFound",
                    "policyreports.wgpolicyk8s.io \"soc2-mfa\" not found",
                    json!({"name": "soc2-mfa", "group": "wgpolicyk8s.io", "kind": "policyreports"}),
                ),
            )
        } else {
            plausible(r)
        }
    })
    .await;
    assert_eq!(result.expect("publish succeeds"), set(&["team-b"]));
    let paths: Vec<(Method, String)> = requests
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        paths,
        vec![
            (Method::PATCH, CLUSTER_REPORT.to_string()),
            (Method::PATCH, namespaced_report("team-a")),
            (Method::PATCH, namespaced_report("team-b")),
            (Method::DELETE, namespaced_report("already-deleted")),
        ]
    );
}

#[tokio::test]
async fn forbidden_says_which_permission_is_missing() {
    let (result, _) = publish_with(&reports(), &BTreeSet::new(), |_| {
        (
            StatusCode::FORBIDDEN,
            status_with_details(
                403,
                "Forbidden",
                "clusterpolicyreports.wgpolicyk8s.io \"soc2-mfa\" is forbidden",
                json!({}),
            ),
        )
    })
    .await;
    let error = result.expect_err("publish fails");
    assert!(
        matches!(error, PolicyReportError::Forbidden { verb: "apply", .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("clusterpolicyreports"),
        "{error}"
    );
    assert_eq!(error.category(), "forbidden");
}

#[tokio::test]
async fn existing_reports_are_found_by_label() {
    let (result, requests) = with_server(
        |r| {
            if r.method == Method::GET && r.path == "/apis/wgpolicyk8s.io/v1alpha2/policyreports" {
                let item = |ns: &str| {
                    json!({
                        "apiVersion": "meta.k8s.io/v1",
                        "kind": "PartialObjectMetadata",
                        "metadata": {"name": "soc2-mfa", "namespace": ns},
                    })
                };
                (
                    StatusCode::OK,
                    json!({
                        "apiVersion": "meta.k8s.io/v1",
                        "kind": "PartialObjectMetadataList",
                        "metadata": {"resourceVersion": "7"},
                        "items": [item("team-a"), item("team-c")],
                    }),
                )
            } else {
                type_not_found()
            }
        },
        "existing_namespaces",
        |client| async move { policy_report::existing_namespaces(&client, "mfa").await },
    )
    .await;
    assert_eq!(result.expect("list succeeds"), set(&["team-a", "team-c"]));
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].query.get("labelSelector").map(String::as_str),
        Some("soc2.dev/control=mfa,app.kubernetes.io/managed-by=soc2-operator")
    );
}
