//! Authenticated sign-off of access reviews at admission, in-process: the mutating and validating
//! AccessReviewDecision endpoints through `oneshot` with AdmissionReview v1 JSON as kube-apiserver sends it, and both
//! webhook configurations carrying the decision webhook.

use std::sync::Arc;

use http::{Method, StatusCode};
use k8s_openapi::ByteString;
use serde_json::{Value, json};
use soc2_operator::api::AccessReview;
use soc2_operator::webhook::access_decisions::{MUTATE_PATH, VALIDATE_PATH, WEBHOOK_NAME};
use soc2_operator::webhook::configuration::{
    ClientTarget, apply_mutating, desired, desired_mutating,
};
use soc2_operator::webhook::handler::AdmissionState;

use super::webhook::{admit, post, settings, state};
use crate::support::mock_api::with_server;

const CYCLE: &str = "20261001T090000Z";

fn review() -> Arc<AccessReview> {
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "soc2.dev/v1alpha1", "kind": "AccessReview",
            "metadata": {"name": "privileged"},
            "spec": {"schedule": {"interval": "2160h"}, "dueWithin": "336h",
                     "reviewers": {"users": ["alice@example.com"], "groups": ["oidc:security"]}},
            "status": {"cycle": {
                "id": CYCLE, "opened": "2026-10-01T09:00:00Z", "due": "2026-10-15T09:00:00Z",
                "populationDigest": "ab", "evidenceStore": "audit", "subjects": 3, "decided": 0,
                "kept": 0, "toRevoke": 0, "revoked": 0, "overdue": false}},
        }))
        .expect("AccessReview"),
    )
}

/// The webhook state with one AccessReview (`None`: its watch has not synced).
fn decision_state(reviews: Option<Vec<Arc<AccessReview>>>) -> AdmissionState {
    let (mut s, _) = state(vec![]);
    s.access_reviews = Arc::new(move || reviews.clone());
    s
}

fn user_info(name: &str) -> Value {
    json!({"username": name, "uid": format!("uid-{name}"),
           "groups": ["system:authenticated", "oidc:security"]})
}

/// An AccessReviewDecision by `reviewer` keeping `subject`'s access; `authenticated` as given.
fn decision(reviewer: &str, subject: &str, authenticated: Value) -> Value {
    json!({
        "apiVersion": "soc2.dev/v1alpha1", "kind": "AccessReviewDecision",
        "metadata": {"name": "alice-q4", "uid": "5c3f9c56-6c1e-4b57-9d8c-1f0d2c8a2f11",
                     "creationTimestamp": "2026-10-02T10:00:00Z"},
        "spec": {"accessReview": "privileged", "cycle": CYCLE, "reviewer": reviewer,
                 "decisions": [{"subject": {"kind": "User", "name": subject}, "decision": "Keep",
                                "comment": "on-call SRE, needs it"}],
                 "authenticated": authenticated},
    })
}

/// An AdmissionReview v1 as kube-apiserver sends it for `kubectl create -f decision.yaml` by `user`.
fn decision_review(operation: &str, user: Value, object: Value, old_object: Value) -> Value {
    json!({
        "kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "soc2.dev", "version": "v1alpha1", "kind": "AccessReviewDecision"},
            "resource": {"group": "soc2.dev", "version": "v1alpha1", "resource": "accessreviewdecisions"},
            "requestKind": {"group": "soc2.dev", "version": "v1alpha1", "kind": "AccessReviewDecision"},
            "requestResource": {"group": "soc2.dev", "version": "v1alpha1", "resource": "accessreviewdecisions"},
            "name": "alice-q4", "operation": operation,
            "userInfo": user,
            "object": object, "oldObject": old_object, "dryRun": false,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

/// Applies the `add` operations of a JSON patch (all the mutating webhook sends) to `object`.
fn apply_patch(object: &mut Value, patch: &Value) {
    for op in patch.as_array().expect("a JSON patch is an array") {
        assert_eq!(op["op"], "add", "{op}");
        let path = op["path"].as_str().expect("path");
        let (parent, key) = path.rsplit_once('/').expect("a member path");
        object
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .expect("the parent exists")
            .insert(key.to_string(), op["value"].clone());
    }
}

#[tokio::test]
async fn the_mutating_webhook_records_who_the_api_server_authenticated() {
    let alice = user_info("alice@example.com");
    // The requester claims to be someone else, with more groups.
    let forged = json!({"username": "alice@example.com", "groups": ["system:masters"]});
    let mut object = decision("alice@example.com", "bob", forged);
    let r = admit(
        decision_state(Some(vec![review()])),
        MUTATE_PATH,
        &decision_review("CREATE", alice.clone(), object.clone(), Value::Null),
    )
    .await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["patchType"], "JSONPatch");
    let patch: ByteString = serde_json::from_value(r["patch"].clone()).expect("base64 patch");
    let patch: Value = serde_json::from_slice(&patch.0).expect("JSON patch");
    apply_patch(&mut object, &patch);
    assert_eq!(object["spec"]["authenticated"], alice, "userInfo, exactly");

    // The patched object passes the validating webhook; the forged one does not.
    let r = admit(
        decision_state(Some(vec![review()])),
        VALIDATE_PATH,
        &decision_review("CREATE", alice.clone(), object, Value::Null),
    )
    .await;
    assert_eq!(r["allowed"], true, "{r}");
    let forged = decision(
        "alice@example.com",
        "bob",
        json!({"username": "alice@example.com", "groups": ["system:masters"]}),
    );
    let r = admit(
        decision_state(Some(vec![review()])),
        VALIDATE_PATH,
        &decision_review("CREATE", alice, forged, Value::Null),
    )
    .await;
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"]
            .as_str()
            .expect("message")
            .contains("system:masters"),
        "{r}"
    );
}

#[tokio::test]
async fn updates_are_not_mutated() {
    let alice = user_info("alice@example.com");
    let object = decision("alice@example.com", "bob", alice.clone());
    let r = admit(
        decision_state(Some(vec![review()])),
        MUTATE_PATH,
        &decision_review("UPDATE", alice, object.clone(), object),
    )
    .await;
    assert_eq!(r["allowed"], true);
    assert!(r.get("patch").is_none(), "{r}");
}

#[tokio::test]
async fn a_decision_signed_for_someone_else_is_denied_with_the_reason() {
    let (mut s, metrics) = state(vec![]);
    s.access_reviews = Arc::new(|| Some(vec![review()]));
    let mallory = user_info("mallory@example.com");
    let object = decision("alice@example.com", "bob", mallory.clone());
    let r = admit(
        s,
        VALIDATE_PATH,
        &decision_review("CREATE", mallory, object, Value::Null),
    )
    .await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    let message = r["status"]["message"].as_str().expect("message");
    assert!(
        message.starts_with("soc2-operator denied AccessReviewDecision alice-q4: ")
            && message.contains("spec.reviewer is \"alice@example.com\""),
        "{message}"
    );
    let text = metrics.encode().expect("metrics");
    assert!(
        text.contains(
            r#"soc2_webhook_requests_total{webhook="access-review-decisions",result="denied"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn self_review_is_denied_even_in_a_dry_run() {
    let alice = user_info("alice@example.com");
    let object = decision("alice@example.com", "alice@example.com", alice.clone());
    let mut request = decision_review("CREATE", alice, object, Value::Null);
    request["request"]["dryRun"] = json!(true);
    let r = admit(
        decision_state(Some(vec![review()])),
        VALIDATE_PATH,
        &request,
    )
    .await;
    assert_eq!(r["allowed"], false);
    let message = r["status"]["message"].as_str().expect("message");
    assert!(
        message.contains("may not decide on their own access")
            && message.contains("User alice@example.com"),
        "{message}"
    );
}

#[tokio::test]
async fn before_the_reviews_are_read_a_decision_is_refused_with_retry() {
    let alice = user_info("alice@example.com");
    let object = decision("alice@example.com", "bob", alice.clone());
    let r = admit(
        decision_state(None),
        VALIDATE_PATH,
        &decision_review("CREATE", alice, object, Value::Null),
    )
    .await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 503);
    assert!(
        r["status"]["message"]
            .as_str()
            .expect("message")
            .contains("retry in a few seconds"),
        "{r}"
    );
}

#[tokio::test]
async fn an_admitted_decision_cannot_change_but_its_labels_can_and_it_can_be_deleted() {
    let alice = user_info("alice@example.com");
    let old = decision("alice@example.com", "bob", alice.clone());
    let mut revoked = old.clone();
    revoked["spec"]["decisions"][0]["decision"] = json!("Revoke");
    let r = admit(
        decision_state(None),
        VALIDATE_PATH,
        &decision_review("UPDATE", alice.clone(), revoked, old.clone()),
    )
    .await;
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"]
            .as_str()
            .expect("message")
            .contains("Create a new AccessReviewDecision"),
        "{r}"
    );
    let mut labelled = old.clone();
    labelled["metadata"]["labels"] = json!({"quarter": "2026-q4"});
    let r = admit(
        decision_state(None),
        VALIDATE_PATH,
        &decision_review("UPDATE", alice.clone(), labelled, old.clone()),
    )
    .await;
    assert_eq!(r["allowed"], true, "{r}");
    let r = admit(
        decision_state(None),
        VALIDATE_PATH,
        &decision_review("DELETE", alice, Value::Null, old),
    )
    .await;
    assert_eq!(r["allowed"], true, "{r}");
}

#[tokio::test]
async fn a_malformed_decision_is_refused_and_a_body_that_is_not_a_review_gets_400() {
    let alice = user_info("alice@example.com");
    let mut object = decision("alice@example.com", "bob", alice.clone());
    object["spec"]["decisions"] = json!("keep everyone");
    let r = admit(
        decision_state(Some(vec![review()])),
        VALIDATE_PATH,
        &decision_review("CREATE", alice, object, Value::Null),
    )
    .await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 400);
    for path in [MUTATE_PATH, VALIDATE_PATH] {
        let (status, text) = post(decision_state(None), path, b"{not json".to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(
            String::from_utf8_lossy(&text).contains("not an admission.k8s.io/v1 AdmissionReview")
        );
    }
}

// ---- the webhook configurations ----------------------------------------------------------------------------

#[test]
fn both_configurations_carry_the_decision_webhook_whatever_the_controls() {
    let s = settings(ClientTarget::Service {
        namespace: "soc2-system".into(),
        name: "soc2-operator-webhook".into(),
        port: 443,
    });
    let validating = serde_json::to_value(desired(&s, &[], "PEM")).expect("json");
    assert_eq!(
        validating["webhooks"],
        json!([{
            "name": WEBHOOK_NAME,
            "admissionReviewVersions": ["v1"],
            "clientConfig": {"caBundle": "UEVN", "service": {"namespace": "soc2-system",
                             "name": "soc2-operator-webhook", "path": VALIDATE_PATH, "port": 443}},
            "failurePolicy": "Fail",
            "matchPolicy": "Equivalent",
            "rules": [{"apiGroups": ["soc2.dev"], "apiVersions": ["v1alpha1"], "operations": ["CREATE", "UPDATE"],
                       "resources": ["accessreviewdecisions"], "scope": "Cluster"}],
            "sideEffects": "None",
            "timeoutSeconds": 5,
        }])
    );
    let mutating = serde_json::to_value(desired_mutating(&s, "PEM")).expect("json");
    assert_eq!(mutating["metadata"]["name"], "soc2-operator");
    assert_eq!(
        mutating["webhooks"],
        json!([{
            "name": WEBHOOK_NAME,
            "admissionReviewVersions": ["v1"],
            "clientConfig": {"caBundle": "UEVN", "service": {"namespace": "soc2-system",
                             "name": "soc2-operator-webhook", "path": MUTATE_PATH, "port": 443}},
            "failurePolicy": "Fail",
            "matchPolicy": "Equivalent",
            "reinvocationPolicy": "IfNeeded",
            "rules": [{"apiGroups": ["soc2.dev"], "apiVersions": ["v1alpha1"], "operations": ["CREATE"],
                       "resources": ["accessreviewdecisions"], "scope": "Cluster"}],
            "sideEffects": "None",
            "timeoutSeconds": 5,
        }])
    );
    let by_url = desired_mutating(
        &settings(ClientTarget::Url("https://127.0.0.1:8443/".into())),
        "PEM",
    );
    let by_url = serde_json::to_value(by_url).expect("json");
    assert_eq!(
        by_url["webhooks"][0]["clientConfig"]["url"],
        "https://127.0.0.1:8443/mutate/access-review-decisions"
    );
}

#[tokio::test]
async fn the_mutating_configuration_is_server_side_applied_by_the_operator() {
    let mwc = desired_mutating(
        &settings(ClientTarget::Url("https://127.0.0.1:8443".into())),
        "PEM",
    );
    let mut answer = serde_json::to_value(&mwc).expect("json");
    answer["apiVersion"] = json!("admissionregistration.k8s.io/v1");
    answer["kind"] = json!("MutatingWebhookConfiguration");
    let (result, requests) = with_server(
        move |_| (StatusCode::OK, answer.clone()),
        "apply",
        |client| async move { apply_mutating(&client, &mwc).await },
    )
    .await;
    result.expect("applied");
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, Method::PATCH);
    assert_eq!(
        r.path,
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/soc2-operator"
    );
    assert_eq!(
        r.query.get("fieldManager").map(String::as_str),
        Some("soc2-operator")
    );
    assert_eq!(r.query.get("force").map(String::as_str), Some("true"));
    assert_eq!(r.body["kind"], "MutatingWebhookConfiguration");
    assert_eq!(r.body["webhooks"][0]["name"], WEBHOOK_NAME);

    let forbidden = desired_mutating(
        &settings(ClientTarget::Url("https://127.0.0.1:8443".into())),
        "PEM",
    );
    let (result, _) = with_server(
        |_| {
            (
                StatusCode::FORBIDDEN,
                crate::support::mock_api::status_failure(403, "Forbidden", "cannot patch"),
            )
        },
        "apply",
        |client| async move { apply_mutating(&client, &forbidden).await },
    )
    .await;
    let e = result.expect_err("forbidden").to_string();
    assert!(
        e.contains("MutatingWebhookConfiguration soc2-operator")
            && e.contains("mutatingwebhookconfigurations"),
        "{e}"
    );
}
