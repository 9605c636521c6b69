//! ControlExceptions: a valid exception waives one failing RoleBinding until it expires, then the finding fails
//! again and an Event says so; an exception that had expired when it was created waives nothing and is Invalid.

use std::time::Duration;

use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::jiff::{SignedDuration, Timestamp, Unit};
use kube::Api;
use serde_json::{Value, json};
use soc2_operator::api::{ControlException, ExceptionState, FindingResult};
use tokio::time::Instant;

use crate::support::objects::control_spec;
use crate::support::wait::{
    POLL, TIMEOUT, condition_is, findings_with, has_event, is_current, set,
};
use crate::support::{FIELD_MANAGER, RUN_LABEL, TestEnv, TestResult, skip};

/// How long the valid exception runs: long enough to observe it active, short enough for the test.
const LIFETIME: Duration = Duration::from_secs(40);

fn user_binding(name: &str, user: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": { "name": name },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secret-reader" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user }],
    })
}

fn exception(name: &str, control: &str, binding: &str, expires: Timestamp) -> Value {
    json!({
        "apiVersion": "soc2.dev/v1alpha1",
        "kind": "ControlException",
        "metadata": { "name": name },
        "spec": {
            "control": control,
            "resources": [{ "kind": "RoleBinding", "name": binding }],
            "justification": "e2e: vendor access during the migration, reviewed weekly",
            "approvedBy": "ciso@example.com",
            "ticket": "SEC-E2E",
            "expiresAt": expires.round(Unit::Second).map(|t| t.to_string()).unwrap_or_default(),
        },
    })
}

/// Polls ControlException `name` in the test's namespace until `ready` holds; panics after `timeout` with its
/// last state.
async fn wait_exception(
    env: &TestEnv,
    name: &str,
    what: &str,
    timeout: Duration,
    ready: impl Fn(&ControlException) -> bool,
) -> ControlException {
    let api: Api<ControlException> = env.api();
    let deadline = Instant::now() + timeout;
    loop {
        let last = match api.get_opt(name).await {
            Ok(Some(e)) if ready(&e) => return e,
            Ok(Some(e)) => format!("{:?}", e.status),
            Ok(None) => "not found".into(),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            panic!(
                "timed out after {timeout:?} waiting for ControlException {}/{name}: {what}; last: {last}\n{}",
                env.namespace,
                env.operator().describe()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn exceptions_waive_until_expiry_and_invalid_ones_never() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("exceptions").await?;
    env.create::<Role>(
        FIELD_MANAGER,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": { "name": "secret-reader" },
            "rules": [{ "apiGroups": [""], "resources": ["secrets"], "verbs": ["get"] }],
        }),
    )
    .await?;
    env.create::<RoleBinding>(FIELD_MANAGER, user_binding("vendor", "vendor@example.com"))
        .await?;
    env.create::<RoleBinding>(FIELD_MANAGER, user_binding("eve", "eve@example.com"))
        .await?;

    let name = env.control_name("mfa");
    let mut spec = control_spec(
        &env,
        &["CC6.1"],
        "e2e: privileged access requires MFA",
        json!({ "mfaAccess": { "mfaGroups": ["oidc:platform-admins"], "apiServerFlags": false, "legacyTokenSecrets": false } }),
    );
    // ClusterRoleBindings are cluster-scoped, so the namespace scope does not filter them (a real cluster binds
    // cluster-admin to system:masters, the chart binds the operator): select this run's objects by label.
    spec["scope"]["objectSelector"] = json!({ "matchLabels": { RUN_LABEL: env.suffix } });
    env.apply_control(&name, spec).await?;

    let expires = Timestamp::now() + SignedDuration::try_from(LIFETIME)?;
    env.create::<ControlException>(FIELD_MANAGER, exception("vendor", &name, "vendor", expires))
        .await?;
    // Expired before it was created: the API server accepts it (the schema cannot know the time), the operator
    // marks it Invalid and it waives nothing.
    env.create::<ControlException>(
        FIELD_MANAGER,
        exception(
            "eve-backdated",
            &name,
            "eve",
            Timestamp::now() - SignedDuration::from_hours(1),
        ),
    )
    .await?;

    let excepted = set(&[("RoleBinding", "vendor", "privileged-binding-to-user")]);
    let failing = set(&[("RoleBinding", "eve", "privileged-binding-to-user")]);
    let control = env
        .wait_control(&name, "vendor Excepted, eve Fail", TIMEOUT, |c| {
            is_current(c)
                && condition_is(c, "Compliant", "False", None)
                && findings_with(c, FindingResult::Excepted) == excepted
                && findings_with(c, FindingResult::Fail) == failing
        })
        .await;
    let status = control.status.clone().unwrap_or_default();
    let summary = status.summary.unwrap_or_default();
    env.check(
        &name,
        summary.failed == 1 && summary.excepted == 1,
        format!("summary {summary:?}: expected 1 failed, 1 excepted"),
    )
    .await;
    let reference = status
        .findings
        .iter()
        .find(|f| f.name == "vendor")
        .and_then(|f| f.exception.clone());
    env.check(
        &name,
        reference.as_ref().is_some_and(|x| {
            x.name == format!("{}/vendor", env.namespace) && x.approved_by == "ciso@example.com"
        }),
        format!("the vendor finding names its exception: {reference:?}"),
    )
    .await;

    wait_exception(&env, "vendor", "Active, matching 1 finding", TIMEOUT, |e| {
        e.status.as_ref().is_some_and(|s| {
            s.state == Some(ExceptionState::Active) && s.matched_findings == Some(1)
        })
    })
    .await;
    wait_exception(
        &env,
        "eve-backdated",
        "Invalid (ExpiredAtCreation)",
        TIMEOUT,
        |e| {
            e.status.as_ref().is_some_and(|s| {
                s.state == Some(ExceptionState::Invalid)
                    && s.reason.as_deref() == Some("ExpiredAtCreation")
            })
        },
    )
    .await;

    // At the expiry, the vendor binding fails again, without any change to the cluster.
    let both = set(&[
        ("RoleBinding", "vendor", "privileged-binding-to-user"),
        ("RoleBinding", "eve", "privileged-binding-to-user"),
    ]);
    let after = LIFETIME + TIMEOUT;
    env.wait_control(&name, "both bindings fail after the expiry", after, |c| {
        findings_with(c, FindingResult::Fail) == both
            && findings_with(c, FindingResult::Excepted).is_empty()
    })
    .await;
    env.wait_events(&name, "ExceptionExpired", TIMEOUT, |events| {
        has_event(events, "ExceptionExpired", None)
    })
    .await;
    wait_exception(&env, "vendor", "Expired", TIMEOUT, |e| {
        e.status
            .as_ref()
            .is_some_and(|s| s.state == Some(ExceptionState::Expired))
    })
    .await;
    Ok(())
}
