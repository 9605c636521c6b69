//! MFA-backed privileged access (CC6.1-CC6.3): privileged rights only through MFA-enforced groups; direct user
//! bindings and legacy token Secrets fail; the token never reaches the Control's status or events.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use soc2_operator::api::FindingResult;
use tokio::time::Instant;

use crate::support::objects::control_spec;
use crate::support::wait::{
    POLL, TIMEOUT, condition_is, findings, findings_with, has_event, is_current, set,
};
use crate::support::{FIELD_MANAGER, RUN_LABEL, TestEnv, TestResult, note, skip};

/// How long kube-controller-manager gets to fill in the legacy token.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(20);

fn role_binding(
    name: &str,
    role_kind: &str,
    role: &str,
    subject_kind: &str,
    subject: &str,
) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": { "name": name },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": subject_kind, "name": subject }],
    })
}

/// The token kube-controller-manager wrote into Secret `name`, in its plain and its base64 (as served) form.
/// When no token appears in time (the controller-manager runs without a service-account signing key), a canary
/// value is written instead, so that the leak assertion is never vacuous.
async fn token_of(
    env: &TestEnv,
    name: &str,
) -> Result<(String, String), Box<dyn std::error::Error>> {
    let secrets = env.api::<Secret>();
    let deadline = Instant::now() + TOKEN_TIMEOUT;
    loop {
        let secret = secrets.get(name).await?;
        if let Some(token) = secret
            .data
            .as_ref()
            .and_then(|d| d.get("token"))
            .filter(|t| !t.0.is_empty())
        {
            let plain = String::from_utf8_lossy(&token.0).into_owned();
            let encoded = serde_json::to_value(token)?
                .as_str()
                .unwrap_or_default()
                .to_string();
            return Ok((plain, encoded));
        }
        if Instant::now() >= deadline {
            note(&format!(
                "kube-controller-manager did not fill in Secret {}/{name} within {TOKEN_TIMEOUT:?}; using a canary token",
                env.namespace
            ));
            let canary = format!("soc2-e2e-canary-token-{}", env.suffix);
            let patch = json!({ "stringData": { "token": canary } });
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            };
            secrets.patch(name, &params, &Patch::Merge(&patch)).await?;
            continue;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn privileged_access_only_through_mfa_groups() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("mfa").await?;
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
    // Privileged, through an MFA-enforced group: allowed.
    env.create::<RoleBinding>(
        FIELD_MANAGER,
        role_binding(
            "platform-admins",
            "Role",
            "secret-reader",
            "Group",
            "oidc:platform-admins",
        ),
    )
    .await?;
    // Privileged, directly to a user: violation.
    env.create::<RoleBinding>(
        FIELD_MANAGER,
        role_binding(
            "mallory",
            "Role",
            "secret-reader",
            "User",
            "mallory@example.com",
        ),
    )
    .await?;
    // Directly to a user, but not privileged: no finding.
    env.create::<RoleBinding>(
        FIELD_MANAGER,
        role_binding(
            "viewer",
            "ClusterRole",
            "view",
            "User",
            "viewer@example.com",
        ),
    )
    .await?;
    // A legacy long-lived token: violation.
    env.create::<ServiceAccount>(
        FIELD_MANAGER,
        json!({ "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": "legacy" } }),
    )
    .await?;
    env.create::<Secret>(
        FIELD_MANAGER,
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": "legacy-token",
                "annotations": { "kubernetes.io/service-account.name": "legacy" },
            },
        }),
    )
    .await?;
    let (token, token_base64) = token_of(&env, "legacy-token").await?;

    let name = env.control_name("mfa");
    let mut spec = control_spec(
        &env,
        &["CC6.1", "CC6.2", "CC6.3"],
        "e2e: privileged access requires MFA",
        json!({ "mfaAccess": { "mfaGroups": ["oidc:platform-admins"], "apiServerFlags": false } }),
    );
    // ClusterRoleBindings are cluster-scoped, so the namespace scope does not filter them: select this run's
    // objects by label, which the cluster's own bindings do not carry.
    spec["scope"]["objectSelector"] = json!({ "matchLabels": { RUN_LABEL: env.suffix } });
    env.apply_control(&name, spec).await?;

    let expected = set(&[
        ("RoleBinding", "mallory", "privileged-binding-to-user"),
        ("Secret", "legacy-token", "legacy-service-account-token"),
    ]);
    let control = env
        .wait_control(
            &name,
            &format!("Compliant=False with findings {expected:?}"),
            TIMEOUT,
            |c| {
                is_current(c)
                    && condition_is(c, "Compliant", "False", None)
                    && findings(c) == expected
            },
        )
        .await;
    env.check(
        &name,
        findings_with(&control, FindingResult::Fail) == expected,
        "both findings should be Fail",
    )
    .await;
    let summary = control
        .status
        .as_ref()
        .and_then(|s| s.summary)
        .unwrap_or_default();
    env.check(
        &name,
        summary.evaluated == 4 && summary.failed == 2 && summary.passed == 2,
        format!(
            "summary {summary:?}: expected 4 evaluated (3 bindings, 1 Secret), 2 passed, 2 failed"
        ),
    )
    .await;

    // The token value must appear nowhere the operator writes.
    let status = serde_json::to_string(&control.status)?;
    env.check(
        &name,
        !status.contains(&token) && !status.contains(&token_base64),
        "the legacy token's value appears in the Control's status",
    )
    .await;
    let events = env
        .wait_events(
            &name,
            "ControlFailing and ResourceFailing for the legacy token",
            TIMEOUT,
            |events| {
                has_event(events, "ControlFailing", None)
                    && has_event(events, "ResourceFailing", Some("legacy-token"))
            },
        )
        .await;
    let leaked = events
        .iter()
        .filter_map(|e| e.note.as_deref())
        .any(|n| n.contains(&token) || n.contains(&token_base64));
    env.check(
        &name,
        !leaked,
        "the legacy token's value appears in an Event about the Control",
    )
    .await;
    Ok(())
}
