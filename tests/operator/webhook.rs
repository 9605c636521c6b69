//! The admission webhook in-process: every decision path of the AdmissionReview handler through
//! `tower::ServiceExt::oneshot` with real AdmissionReview v1 JSON, the ValidatingWebhookConfiguration builder, its
//! server-side apply against the scripted API server, the TLS server on loopback, and the `AdmissionEnforced`
//! condition of a reconciled control.

use std::sync::Arc;

use crate::support::mock_api::with_server;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use soc2_operator::api::Control;
use soc2_operator::runtime::metrics::{AdmissionCounts, Metrics};
use soc2_operator::webhook::configuration::{
    ClientTarget, WebhookSettings, apply, covered, desired,
};
use soc2_operator::webhook::handler::{
    AdmissionState, ENFORCE_PATH, MAX_BODY_BYTES, WARN_PATH, router,
};
use tower::ServiceExt;

fn control(name: &str, mode: &str, scope: Value) -> Arc<Control> {
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "soc2.dev/v1alpha1", "kind": "Control",
            "metadata": {"name": name},
            "spec": {"criteria": ["CC8.1"], "category": "Security", "title": "Changes are approved",
                     "mode": mode, "scope": scope, "check": {"changeApproval": {}}},
        }))
        .expect("valid Control"),
    )
}

fn audit_only_control(name: &str, mode: &str) -> Arc<Control> {
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "soc2.dev/v1alpha1", "kind": "Control",
            "metadata": {"name": name},
            "spec": {"criteria": ["CC6.1"], "category": "Security", "title": "MFA",
                     "mode": mode, "check": {"mfaAccess": {}}},
        }))
        .expect("valid Control"),
    )
}

fn namespace(name: &str, labels: Value) -> Arc<k8s_openapi::api::core::v1::Namespace> {
    Arc::new(
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
            .expect("namespace"),
    )
}

pub(crate) fn state(controls: Vec<Arc<Control>>) -> (AdmissionState, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let state = AdmissionState {
        controls: Arc::new(move || controls.clone()),
        namespaces: Arc::new(|| {
            Some(vec![
                namespace("team-a", json!({"soc2.dev/in-scope": "true"})),
                namespace("sandbox", json!({})),
            ])
        }),
        exceptions: None,
        access_reviews: Arc::new(|| Some(Vec::new())),
        metrics: metrics.clone(),
    };
    (state, metrics)
}

/// An AdmissionReview v1 as kube-apiserver sends it for `kubectl create deployment` in `namespace`.
fn review(namespace: &str, annotations: Value, dry_run: bool) -> Value {
    json!({
        "kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": "web", "namespace": namespace, "operation": "CREATE",
            "userInfo": {"username": "jane@example.com", "groups": ["system:authenticated"]},
            "object": {
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": namespace, "uid": "0c9a8d74-9cb7-44dd-b98e-09fd62def2f4",
                             "annotations": annotations,
                             "managedFields": [{"manager": "kubectl-create", "operation": "Update",
                                                "apiVersion": "apps/v1", "time": "2026-06-01T10:00:00Z",
                                                "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]},
                "spec": {"selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}
            },
            "oldObject": null, "dryRun": dry_run,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

fn approved() -> Value {
    json!({"soc2.dev/change-ticket": "CHG-1042", "soc2.dev/approved-by": "ann", "soc2.dev/author": "bob"})
}

pub(crate) async fn post(
    state: AdmissionState,
    path: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request");
    let response = router(state).oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, bytes.to_vec())
}

/// Posts `review` and returns the AdmissionReview's response.
pub(crate) async fn admit(state: AdmissionState, path: &str, review: &Value) -> Value {
    let (status, body) = post(state, path, serde_json::to_vec(review).expect("json")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let answer: Value = serde_json::from_slice(&body).expect("AdmissionReview JSON");
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(
        answer["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002",
        "uid copied from the request"
    );
    answer["response"].clone()
}

#[tokio::test]
async fn a_violating_create_is_denied_with_control_criteria_rule_and_remedy() {
    let (state, metrics) = state(vec![control("change-approval", "Enforce", json!({}))]);
    let r = admit(state, ENFORCE_PATH, &review("team-a", json!({}), false)).await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    let message = r["status"]["message"].as_str().expect("message");
    for part in [
        "Deployment team-a/web",
        "control change-approval",
        "CC8.1",
        "[no-approval-evidence]",
        "soc2.dev/change-ticket",
        "ControlException",
    ] {
        assert!(message.contains(part), "{part:?} missing from {message}");
    }
    assert_eq!(
        metrics.admission_counts()["change-approval"],
        AdmissionCounts {
            allowed: 0,
            warned: 0,
            denied: 1
        }
    );
    let text = metrics.encode().expect("metrics");
    assert!(
        text.contains(r#"soc2_webhook_requests_total{webhook="enforce",result="denied"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_valid_control_exception_admits_the_object_it_waives_and_only_that_one() {
    use k8s_openapi::jiff::{SignedDuration, Timestamp};
    use soc2_operator::api::ControlException;
    use soc2_operator::engine::exceptions::ExceptionPolicy;
    let now = Timestamp::now();
    let at = |hours: i64| {
        now.checked_add(SignedDuration::from_hours(hours))
            .expect("time")
            .to_string()
    };
    let exception = |namespace: &str, expires: String| -> Arc<ControlException> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "soc2.dev/v1alpha1", "kind": "ControlException",
                "metadata": {"name": "web-hotfix", "namespace": namespace, "creationTimestamp": at(-24)},
                "spec": {"control": "change-approval",
                         "resources": [{"kind": "Deployment", "name": "web"}],
                         "justification": "Emergency fix deployed by hand during incident INC-9; GitOps catches up",
                         "approvedBy": "cto@example.com", "ticket": "INC-9", "expiresAt": expires},
            }))
            .expect("exception"),
        )
    };
    let with = |exceptions: Vec<Arc<ControlException>>| {
        let (mut state, _) = state(vec![control("change-approval", "Enforce", json!({}))]);
        state.exceptions = Some(Arc::new(move || {
            (exceptions.clone(), ExceptionPolicy::default())
        }));
        state
    };
    // Active, in the object's namespace: the audit waives the finding, so admission allows the object.
    let r = admit(
        with(vec![exception("team-a", at(24 * 30))]),
        ENFORCE_PATH,
        &review("team-a", json!({}), false),
    )
    .await;
    assert_eq!(r["allowed"], true, "{r}");
    // Expired, or in another namespace (which may not waive team-a objects): denied as without it.
    for exceptions in [
        vec![exception("team-a", at(-1))],
        vec![exception("sandbox", at(24 * 30))],
    ] {
        let r = admit(
            with(exceptions),
            ENFORCE_PATH,
            &review("team-a", json!({}), false),
        )
        .await;
        assert_eq!(r["allowed"], false, "{r}");
    }
}

#[tokio::test]
async fn a_compliant_create_is_allowed_and_counted() {
    let (state, metrics) = state(vec![control("change-approval", "Enforce", json!({}))]);
    let r = admit(state, ENFORCE_PATH, &review("team-a", approved(), false)).await;
    assert_eq!(r["allowed"], true);
    assert!(r.get("warnings").is_none(), "{r}");
    assert_eq!(metrics.admission_counts()["change-approval"].allowed, 1);
}

#[tokio::test]
async fn warn_mode_admits_with_a_warning_and_the_enforce_endpoint_ignores_it() {
    let controls = vec![control("change-approval", "Warn", json!({}))];
    let (s, metrics) = state(controls.clone());
    let r = admit(s, WARN_PATH, &review("team-a", json!({}), false)).await;
    assert_eq!(r["allowed"], true);
    let warnings = r["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1);
    let w = warnings[0].as_str().expect("string");
    assert!(
        w.contains("change-approval") && w.contains("no-approval-evidence") && w.contains("Warn"),
        "{w}"
    );
    assert_eq!(metrics.admission_counts()["change-approval"].warned, 1);

    let (s, metrics) = state(controls);
    let r = admit(s, ENFORCE_PATH, &review("team-a", json!({}), false)).await;
    assert_eq!(r["allowed"], true);
    assert!(
        metrics.admission_counts().is_empty(),
        "not an Enforce control"
    );
}

#[tokio::test]
async fn dry_run_is_decided_but_not_counted_as_a_change() {
    let (state, metrics) = state(vec![control("change-approval", "Enforce", json!({}))]);
    let r = admit(state, ENFORCE_PATH, &review("team-a", json!({}), true)).await;
    assert_eq!(
        r["allowed"], false,
        "a server-side dry run sees the real verdict"
    );
    assert!(metrics.admission_counts().is_empty());
    let text = metrics.encode().expect("metrics");
    assert!(
        text.contains(
            r#"soc2_webhook_dry_run_decisions_total{control="change-approval",decision="denied"} 1"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn objects_out_of_scope_are_admitted_without_judgement() {
    let controls = vec![
        control(
            "selected",
            "Enforce",
            json!({"namespaceSelector": {"matchLabels": {"soc2.dev/in-scope": "true"}}}),
        ),
        control("listed", "Enforce", json!({"namespaces": ["team-a"]})),
    ];
    let (s, metrics) = state(controls.clone());
    let r = admit(s, ENFORCE_PATH, &review("sandbox", json!({}), false)).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert!(metrics.admission_counts().is_empty());
    // The same object in a selected namespace is denied by both, through the Namespace's labels.
    let (s, _) = state(controls);
    let r = admit(s, ENFORCE_PATH, &review("team-a", json!({}), false)).await;
    let message = r["status"]["message"].as_str().expect("message");
    assert!(
        message.contains("control selected") && message.contains("control listed"),
        "{message}"
    );
}

#[tokio::test]
async fn audit_only_checks_never_decide_admission() {
    let (s, metrics) = state(vec![audit_only_control("mfa", "Enforce")]);
    let r = admit(s, ENFORCE_PATH, &review("team-a", json!({}), false)).await;
    assert_eq!(r["allowed"], true);
    assert!(metrics.admission_counts().is_empty());
}

#[tokio::test]
async fn malformed_bodies_get_400_with_the_reason() {
    for (body, expect) in [
        (
            b"{not json".to_vec(),
            "not an admission.k8s.io/v1 AdmissionReview",
        ),
        (
            br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}"#.to_vec(),
            "has no request",
        ),
        (
            br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":5}}"#
                .to_vec(),
            "not an admission.k8s.io/v1 AdmissionReview",
        ),
    ] {
        let (s, metrics) = state(vec![control("c", "Enforce", json!({}))]);
        let (status, text) = post(s, ENFORCE_PATH, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let text = String::from_utf8_lossy(&text);
        assert!(text.contains(expect), "{text}");
        assert!(
            metrics
                .encode()
                .expect("metrics")
                .contains(r#"result="invalid"} 1"#)
        );
    }
}

#[tokio::test]
async fn an_object_that_does_not_match_its_kind_is_refused_in_the_review() {
    let mut r = review("team-a", json!({}), false);
    r["request"]["object"]["spec"] = json!({"replicas": "three"});
    let (s, _) = state(vec![control("c", "Enforce", json!({}))]);
    let answer = admit(s, ENFORCE_PATH, &r).await;
    assert_eq!(answer["allowed"], false);
    assert_eq!(answer["status"]["code"], 400);
    assert!(
        answer["status"]["message"]
            .as_str()
            .expect("message")
            .contains("not a valid Deployment"),
        "{answer}"
    );
}

#[tokio::test]
async fn oversize_bodies_are_rejected() {
    let (s, _) = state(vec![control("c", "Enforce", json!({}))]);
    let mut r = review("team-a", json!({}), false);
    r["request"]["object"]["metadata"]["annotations"] =
        json!({"padding": "x".repeat(MAX_BODY_BYTES)});
    let (status, _) = post(s, ENFORCE_PATH, serde_json::to_vec(&r).expect("json")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn deletes_and_unhandled_kinds_are_allowed_unexamined() {
    let (s, metrics) = state(vec![control("c", "Enforce", json!({}))]);
    let mut r = review("team-a", json!({}), false);
    r["request"]["operation"] = json!("DELETE");
    r["request"]["oldObject"] = r["request"]["object"].clone();
    r["request"]["object"] = Value::Null;
    assert_eq!(admit(s, ENFORCE_PATH, &r).await["allowed"], true);
    let (s, _) = state(vec![control("c", "Enforce", json!({}))]);
    let mut r = review("team-a", json!({}), false);
    r["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "ConfigMap"});
    assert_eq!(admit(s, ENFORCE_PATH, &r).await["allowed"], true);
    assert!(metrics.admission_counts().is_empty());
}

// ---- the ValidatingWebhookConfiguration --------------------------------------------------------------------

pub(crate) fn settings(client: ClientTarget) -> WebhookSettings {
    WebhookSettings {
        name: "soc2-operator".into(),
        client,
        operator_namespace: "soc2-system".into(),
        enforce_failure_policy: "Fail".into(),
        warn_failure_policy: "Ignore".into(),
        timeout_seconds: 5,
    }
}

#[test]
fn the_configuration_follows_the_enforce_and_warn_controls() {
    let mut restricted = (*control(
        "approved",
        "Enforce",
        json!({"namespaces": ["team-a", "team-b"], "excludeNamespaces": ["team-b"]}),
    ))
    .clone();
    restricted.spec.check.change_approval =
        Some(serde_json::from_value(json!({"kinds": ["Deployment", "Job"]})).expect("params"));
    let controls = vec![
        Arc::new(restricted),
        control(
            "warned",
            "Warn",
            json!({"namespaceSelector": {"matchLabels": {"tier": "prod"}}}),
        ),
        control("audited", "Audit", json!({})),
        audit_only_control("mfa", "Enforce"),
    ];
    let vwc = desired(
        &settings(ClientTarget::Service {
            namespace: "soc2-system".into(),
            name: "soc2-operator-webhook".into(),
            port: 443,
        }),
        &controls,
        "PEM",
    );
    let v = serde_json::to_value(&vwc).expect("json");
    let webhooks = v["webhooks"].as_array().expect("webhooks");
    assert_eq!(
        webhooks.len(),
        3,
        "enforce, warn and the access review decisions"
    );
    assert_eq!(webhooks[2]["name"], "access-review-decisions.soc2.dev");
    let enforce = &webhooks[0];
    assert_eq!(enforce["name"], "enforce.soc2.dev");
    assert_eq!(enforce["failurePolicy"], "Fail");
    assert_eq!(enforce["sideEffects"], "None");
    assert_eq!(enforce["timeoutSeconds"], 5);
    assert_eq!(enforce["admissionReviewVersions"], json!(["v1"]));
    assert_eq!(
        enforce["clientConfig"]["service"],
        json!({"namespace": "soc2-system", "name": "soc2-operator-webhook", "path": ENFORCE_PATH, "port": 443})
    );
    assert_eq!(
        enforce["clientConfig"]["caBundle"], "UEVN",
        "base64 of the PEM"
    );
    assert_eq!(
        enforce["rules"],
        json!([
            {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
             "resources": ["deployments"], "scope": "Namespaced"},
            {"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
             "resources": ["jobs"], "scope": "Namespaced"},
        ])
    );
    assert_eq!(
        enforce["namespaceSelector"],
        json!({"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a", "team-b"]},
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
             "values": ["kube-system", "soc2-system", "team-b"]},
        ]})
    );
    let warn = &webhooks[1];
    assert_eq!(warn["name"], "warn.soc2.dev");
    assert_eq!(warn["failurePolicy"], "Ignore");
    assert_eq!(warn["clientConfig"]["service"]["path"], WARN_PATH);
    assert_eq!(
        warn["rules"][0]["resources"],
        json!(["daemonsets", "deployments", "statefulsets"])
    );
    assert_eq!(warn["rules"][1]["resources"], json!(["cronjobs"]));
    assert_eq!(
        warn["namespaceSelector"],
        json!({"matchLabels": {"tier": "prod"}, "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "soc2-system"]},
        ]})
    );
    assert_eq!(
        covered(&controls).into_iter().collect::<Vec<_>>(),
        ["approved", "warned"]
    );
}

#[test]
fn mixed_scopes_select_every_namespace_but_the_protected_ones_and_urls_carry_the_path() {
    let controls = vec![
        control("a", "Enforce", json!({"namespaces": ["team-a"]})),
        control(
            "b",
            "Enforce",
            json!({"namespaceSelector": {"matchLabels": {"x": "y"}}}),
        ),
    ];
    let vwc = desired(
        &settings(ClientTarget::Url("https://127.0.0.1:8443/".into())),
        &controls,
        "PEM",
    );
    let v = serde_json::to_value(&vwc).expect("json");
    let w = &v["webhooks"][0];
    assert_eq!(
        w["clientConfig"]["url"],
        "https://127.0.0.1:8443/validate/enforce"
    );
    assert!(w["clientConfig"].get("service").is_none());
    assert_eq!(
        w["namespaceSelector"],
        json!({"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "soc2-system"]},
        ]})
    );
    let none = desired(&settings(ClientTarget::Url("https://x".into())), &[], "PEM");
    let names: Vec<&str> = none
        .webhooks
        .iter()
        .flatten()
        .map(|w| w.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["access-review-decisions.soc2.dev"],
        "no controls: no control webhooks, and the decisions' webhook all the same"
    );
}

#[tokio::test]
async fn the_configuration_is_server_side_applied_by_the_operator() {
    let controls = vec![control("approved", "Enforce", json!({}))];
    let vwc = desired(
        &settings(ClientTarget::Url("https://127.0.0.1:8443".into())),
        &controls,
        "PEM",
    );
    let answer_body = serde_json::to_value(&vwc).expect("json");
    let (result, requests) = with_server(
        move |_| {
            (StatusCode::OK, {
                let mut b = answer_body.clone();
                b["apiVersion"] = json!("admissionregistration.k8s.io/v1");
                b["kind"] = json!("ValidatingWebhookConfiguration");
                b
            })
        },
        "apply",
        |client| async move { apply(&client, &vwc).await },
    )
    .await;
    result.expect("applied");
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, Method::PATCH);
    assert_eq!(
        r.path,
        "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/soc2-operator"
    );
    assert_eq!(
        r.query.get("fieldManager").map(String::as_str),
        Some("soc2-operator")
    );
    assert_eq!(r.query.get("force").map(String::as_str), Some("true"));
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(r.body["kind"], "ValidatingWebhookConfiguration");
    assert_eq!(r.body["webhooks"][0]["name"], "enforce.soc2.dev");

    let forbidden = desired(
        &settings(ClientTarget::Url("https://127.0.0.1:8443".into())),
        &controls,
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
        |client| async move { apply(&client, &forbidden).await },
    )
    .await;
    let e = result.expect_err("forbidden");
    assert!(
        e.to_string().contains("validatingwebhookconfigurations"),
        "{e}"
    );
}

#[tokio::test]
async fn the_https_server_answers_with_a_certificate_the_ca_bundle_trusts() {
    use rustls::pki_types::pem::PemObject;
    use soc2_operator::webhook::server::WebhookServer;
    use soc2_operator::webhook::tls::{CertificateSource, ServingCertificate};

    let certificate =
        ServingCertificate::start(CertificateSource::Generated(vec!["127.0.0.1".into()]))
            .expect("generated certificate");
    let (s, metrics) = state(vec![control("change-approval", "Enforce", json!({}))]);
    let server = WebhookServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        certificate.server_config(),
        router(s),
    )
    .await
    .expect("listens on loopback");

    let mut roots = rustls::RootCertStore::empty();
    let bundle = certificate.ca_bundle.borrow().clone();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(bundle.as_bytes()) {
        roots.add(cert.expect("PEM")).expect("CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
            tcp,
        )
        .await
        .expect("the certificate is valid for 127.0.0.1 under the published caBundle");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .expect("HTTP/1.1");
    tokio::spawn(conn);
    let body = serde_json::to_vec(&review("team-a", json!({}), false)).expect("json");
    let response = sender
        .send_request(
            Request::post(ENFORCE_PATH)
                .header("host", "127.0.0.1")
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(axum::body::Bytes::from(body)))
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let answer: Value = serde_json::from_slice(&bytes).expect("AdmissionReview");
    assert_eq!(answer["response"]["allowed"], false);
    assert_eq!(metrics.admission_counts()["change-approval"].denied, 1);
    server.stop().await;
}
