//! Enforce and Warn at admission, against a real kube-apiserver calling the operator's webhook by URL
//! (`https://127.0.0.1:<port>`): a violating create is denied with the control, its criteria and the rule; a
//! compliant one passes; a server-side dry run gets the same verdict; Warn mode admits with a warning; and the
//! ValidatingWebhookConfiguration follows the controls (switching the control to Audit removes its webhook). With the
//! operator stopped, each webhook's failurePolicy holds: Enforce (Fail) refuses even a compliant change, Warn
//! (Ignore) lets changes through, and both work again once the operator is back.

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};
use soc2_operator::checks::change_approval::{
    APPROVER_ANNOTATION, AUTHOR_ANNOTATION, TICKET_ANNOTATION,
};
use tokio::time::Instant;

use crate::support::objects::{PAUSE_IMAGE, control_spec, deployment};
use crate::support::wait::{POLL, TIMEOUT, condition_is};
use crate::support::{TestEnv, TestResult, note, skip};

/// The interactive field manager `kubectl create` uses.
const KUBECTL: &str = "kubectl-create";

fn spec(env: &TestEnv, mode: &str, kinds: &[&str]) -> Value {
    let mut spec = control_spec(
        env,
        &["CC8.1"],
        "e2e: changes are approved before they land",
        json!({ "changeApproval": { "kinds": kinds } }),
    );
    spec["mode"] = json!(mode);
    spec
}

fn stateful_set(name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": { "name": name, "labels": { "app": name } },
        "spec": {
            "replicas": 0,
            "serviceName": name,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "app", "image": PAUSE_IMAGE }] },
            },
        },
    })
}

/// What the API server answered to a create sent as raw JSON: the HTTP status, its `Warning` headers and the body.
struct Answer {
    status: http::StatusCode,
    warnings: Vec<String>,
    body: String,
}

/// Creates `manifest` (the namespace is set to the test's) at `resource` (`deployments`, `statefulsets`) of
/// apps/v1 as [`KUBECTL`], optionally as a server-side dry run, and returns the raw answer, so that admission
/// warnings (response headers) can be read.
async fn create_raw(
    env: &TestEnv,
    resource: &str,
    mut manifest: Value,
    dry_run: bool,
) -> Result<Answer, Box<dyn std::error::Error>> {
    manifest["metadata"]["namespace"] = json!(env.namespace);
    let dry = if dry_run { "&dryRun=All" } else { "" };
    let request = http::Request::post(format!(
        "/apis/apps/v1/namespaces/{}/{resource}?fieldManager={KUBECTL}{dry}",
        env.namespace
    ))
    .header("content-type", "application/json")
    .body(serde_json::to_vec(&manifest)?.into())?;
    let response = env.client.send(request).await?;
    let status = response.status();
    let warnings = response
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let bytes = response.into_body().collect_bytes().await?;
    Ok(Answer {
        status,
        warnings,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// Waits until the API server consults both webhooks: the operator applied the configuration, but the API server
/// picks it up through its own informer, moments later. Probes with server-side dry runs (sideEffects: None, so
/// the webhooks are called and nothing is stored) until a violating Deployment is denied by `enforce.soc2.dev`
/// and a violating StatefulSet is admitted with a warning naming `warn_control`.
async fn wait_webhooks_consulted(
    env: &TestEnv,
    enforce_control: &str,
    warn_control: &str,
) -> TestResult {
    let started = Instant::now();
    let deadline = started + TIMEOUT;
    let mut round = 0u32;
    loop {
        round += 1;
        let denied = create_raw(
            env,
            "deployments",
            deployment(&format!("probe-{round}"), &[]),
            true,
        )
        .await?;
        let warned = create_raw(
            env,
            "statefulsets",
            stateful_set(&format!("probe-{round}")),
            true,
        )
        .await?;
        let enforcing = !denied.status.is_success()
            && denied.body.contains("enforce.soc2.dev")
            && denied.body.contains("denied the request")
            && denied.body.contains(enforce_control);
        let warning =
            warned.status.is_success() && warned.warnings.iter().any(|w| w.contains(warn_control));
        if enforcing && warning {
            if round > 1 {
                note(&format!(
                    "the API server consulted the webhooks {:.1} s after they were registered",
                    started.elapsed().as_secs_f64()
                ));
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            env.check(
                enforce_control,
                false,
                format!(
                    "the API server did not consult the registered webhooks within {TIMEOUT:?} (dry runs): \
                     Deployment -> HTTP {} {}; StatefulSet -> HTTP {} warnings {:?} {}",
                    denied.status, denied.body, warned.status, warned.warnings, warned.body
                ),
            )
            .await;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The webhook in the applied configuration named `name`, if any.
async fn webhook(env: &TestEnv, name: &str) -> Result<Option<Value>, Box<dyn std::error::Error>> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(env.client.clone());
    let Some(vwc) = api.get_opt(&env.operator().webhook_configuration).await? else {
        return Ok(None);
    };
    let v = serde_json::to_value(vwc)?;
    Ok(v["webhooks"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["name"] == name).cloned()))
}

/// An Enforce control on Deployments and a Warn control on StatefulSets of the test namespace, once the operator
/// has registered both with the API server.
async fn enforce_and_warn(env: &TestEnv) -> Result<(String, String), Box<dyn std::error::Error>> {
    let enforce = env.control_name("enforce");
    let warn = env.control_name("warn");
    env.apply_control(&enforce, spec(env, "Enforce", &["Deployment"]))
        .await?;
    env.apply_control(&warn, spec(env, "Warn", &["StatefulSet"]))
        .await?;
    for name in [&enforce, &warn] {
        env.wait_control(name, "AdmissionEnforced=True", TIMEOUT, |c| {
            condition_is(c, "AdmissionEnforced", "True", Some("WebhookRegistered"))
        })
        .await;
    }
    Ok((enforce, warn))
}

#[tokio::test]
async fn enforce_denies_warn_warns_and_the_configuration_follows_the_controls() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("whk").await?;
    let (enforce, warn) = enforce_and_warn(&env).await?;
    let registered = webhook(&env, "enforce.soc2.dev")
        .await?
        .ok_or("no enforce.soc2.dev webhook")?;
    env.check(
        &enforce,
        registered["clientConfig"]["url"]
            == json!(format!("{}/validate/enforce", env.operator().webhook_url))
            && registered["sideEffects"] == "None"
            && registered["namespaceSelector"]
                .to_string()
                .contains(&env.namespace),
        format!("the enforce webhook is registered by URL for the test namespace: {registered}"),
    )
    .await;

    wait_webhooks_consulted(&env, &enforce, &warn).await?;

    // A violating create is denied, naming the control, its criteria and the rule.
    let denied = env
        .create::<Deployment>(KUBECTL, deployment("unapproved", &[]))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    env.check(
        &enforce,
        denied.contains("denied")
            && denied.contains(&format!("control {enforce}"))
            && denied.contains("CC8.1")
            && denied.contains("no-approval-evidence")
            && denied.contains("ControlException"),
        format!("a violating create is denied with a useful message; got: {denied:?}"),
    )
    .await;

    // A server-side dry run gets the same verdict.
    let mut object: Deployment = serde_json::from_value(deployment("dry", &[]))?;
    object.metadata.namespace = Some(env.namespace.clone());
    let dry = env
        .api::<Deployment>()
        .create(
            &PostParams {
                dry_run: true,
                field_manager: Some(KUBECTL.into()),
            },
            &object,
        )
        .await;
    env.check(&enforce, dry.is_err(), "a dry-run create is denied too")
        .await;

    // A compliant create passes.
    let approved = env
        .create::<Deployment>(
            KUBECTL,
            deployment(
                "approved",
                &[
                    (TICKET_ANNOTATION, "CHG-1042"),
                    (APPROVER_ANNOTATION, "ann"),
                    (AUTHOR_ANNOTATION, "bob"),
                ],
            ),
        )
        .await;
    env.check(
        &enforce,
        approved.is_ok(),
        format!("a compliant create is admitted: {:?}", approved.err()),
    )
    .await;

    // Warn mode: admitted, with a warning naming the control (read from the raw response's Warning header).
    let (admitted, warned, answer) = create_stateful_set(&env, "warned", &warn).await?;
    env.check(
        &warn,
        admitted && warned,
        format!("Warn mode admits with a warning: {answer}"),
    )
    .await;

    // The configuration follows the controls: in Audit mode the control has no webhook, and the create passes.
    env.apply_control(&enforce, spec(&env, "Audit", &["Deployment"]))
        .await?;
    let deadline = Instant::now() + TIMEOUT;
    while webhook(&env, "enforce.soc2.dev").await?.is_some() {
        if Instant::now() >= deadline {
            env.check(
                &enforce,
                false,
                "the enforce webhook is removed once no control enforces",
            )
            .await;
        }
        tokio::time::sleep(POLL).await;
    }
    let after = env
        .create::<Deployment>(KUBECTL, deployment("after-audit", &[]))
        .await;
    env.check(
        &enforce,
        after.is_ok(),
        format!("audit mode admits again: {:?}", after.err()),
    )
    .await;
    Ok(())
}

/// Creates an approved (compliant) Deployment named `name`.
async fn create_approved(
    env: &TestEnv,
    name: &str,
) -> Result<Deployment, Box<dyn std::error::Error>> {
    env.create::<Deployment>(
        KUBECTL,
        deployment(
            name,
            &[
                (TICKET_ANNOTATION, "CHG-1042"),
                (APPROVER_ANNOTATION, "ann"),
                (AUTHOR_ANNOTATION, "bob"),
            ],
        ),
    )
    .await
}

#[tokio::test]
async fn with_the_operator_down_enforce_fails_closed_and_warn_fails_open() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::exclusive("whkdown").await?;
    let (enforce, warn) = enforce_and_warn(&env).await?;
    wait_webhooks_consulted(&env, &enforce, &warn).await?;
    for (name, policy) in [("enforce.soc2.dev", "Fail"), ("warn.soc2.dev", "Ignore")] {
        let registered = webhook(&env, name)
            .await?
            .ok_or(format!("no {name} webhook"))?;
        env.check(
            &enforce,
            registered["failurePolicy"] == policy,
            format!(
                "{name} is registered with failurePolicy {policy} (the defaults): {registered}"
            ),
        )
        .await;
    }

    let paused = env.operator().pause()?;
    // Enforce fails closed: nothing is admitted unchecked, not even a compliant Deployment.
    let refused = create_approved(&env, "while-down")
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    env.check(
        &enforce,
        refused.contains("failed calling webhook") && refused.contains("enforce.soc2.dev"),
        format!(
            "with the operator down, a create under an Enforce control is refused by failurePolicy Fail; got {refused:?}"
        ),
    )
    .await;
    // Warn fails open: even a violating StatefulSet is admitted, without a warning from a webhook that is down.
    let (admitted, warned, answer) = create_stateful_set(&env, "while-down", &warn).await?;
    env.check(
        &warn,
        admitted && !warned,
        format!("with the operator down, a create under a Warn control is admitted by failurePolicy Ignore: {answer}"),
    )
    .await;

    // Back: the operator registers its (regenerated) certificate, and a compliant create passes again.
    drop(paused);
    let deadline = Instant::now() + TIMEOUT;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match create_approved(&env, &format!("after-{attempt}")).await {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                note_first_refusal(attempt, &e.to_string());
                tokio::time::sleep(POLL).await;
            }
            Err(e) => {
                env.check(
                    &enforce,
                    false,
                    format!("a compliant create is still refused {TIMEOUT:?} after the operator came back: {e}"),
                )
                .await;
            }
        }
    }
    Ok(())
}

/// Creates StatefulSet `name`: whether it was admitted, whether a warning named control `warn`, and the answer.
async fn create_stateful_set(
    env: &TestEnv,
    name: &str,
    warn: &str,
) -> Result<(bool, bool, String), Box<dyn std::error::Error>> {
    let Answer {
        status,
        warnings,
        body,
    } = create_raw(env, "statefulsets", stateful_set(name), false).await?;
    Ok((
        status.is_success(),
        warnings.iter().any(|w| w.contains(warn)),
        format!("HTTP {status}, warnings {warnings:?}, body {body}"),
    ))
}

/// Notes the first refusal after the operator came back (the API server may still hold the old CA bundle).
fn note_first_refusal(attempt: u32, error: &str) {
    if attempt == 1 {
        note(&format!(
            "refused while the operator starts again (retrying): {error}"
        ));
    }
}
