//! The chart's RBAC is least privilege: as the chart's ServiceAccount (the identity the operator runs with in chart
//! mode), what the operator needs is allowed and what it must not do is forbidden. Writes are dry runs, which the
//! API server authorizes like real ones.

use std::fmt::Debug;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use soc2_operator::api::{Control, ControlException};

use crate::support::objects::control_spec;
use crate::support::{FIELD_MANAGER, TestEnv, TestResult, note, skip};

/// Asserts that the request was refused with 403 Forbidden.
fn forbidden<T: Debug>(what: &str, result: Result<T, kube::Error>) {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => {}
        Err(e) => panic!("{what}: expected 403 Forbidden for the chart's ServiceAccount, got {e}"),
        Ok(_) => panic!(
            "{what}: the chart's ServiceAccount was allowed to do it; the chart grants too much"
        ),
    }
}

/// Asserts that the request succeeded.
fn allowed<T: Debug>(what: &str, result: Result<T, kube::Error>) {
    if let Err(e) = result {
        panic!("{what}: the chart's ServiceAccount should be allowed to do it, got {e}");
    }
}

#[tokio::test]
async fn chart_service_account_is_least_privilege() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("rbac").await?;
    let Some(chart) = env.operator().chart() else {
        note(
            "rbac skipped: the operator does not run as the chart's ServiceAccount (helm not found or \
             SOC2_E2E_FROM_CHART=0)",
        );
        return Ok(());
    };
    let sa: Client = chart.client().await?;
    let one = ListParams::default().limit(1);
    let dry_run = PostParams {
        dry_run: true,
        field_manager: Some(FIELD_MANAGER.into()),
    };

    // As admin: a Secret in the test namespace and a Control, so that the refused requests name real objects.
    let secret = env
        .create::<Secret>(
            FIELD_MANAGER,
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": { "name": "e2e-rbac" },
                "stringData": { "password": "not-for-the-operator" },
            }),
        )
        .await?;
    let secret_name = secret.metadata.name.clone().unwrap_or_default();
    let control = env.control_name("spec");
    let spec = control_spec(
        &env,
        &["CC8.1"],
        "e2e: rbac",
        json!({ "changeApproval": {} }),
    );
    env.apply_control(&control, spec).await?;

    // Needed by the operator: allowed.
    allowed(
        "list controls",
        Api::<Control>::all(sa.clone()).list_metadata(&one).await,
    );
    allowed(
        "list pods in kube-system",
        Api::<Pod>::namespaced(sa.clone(), "kube-system")
            .list_metadata(&one)
            .await,
    );
    allowed(
        "list controlexceptions",
        Api::<ControlException>::all(sa.clone())
            .list_metadata(&one)
            .await,
    );
    // The operator records an exception's state; it must never be able to grant one.
    let waiver: ControlException = serde_json::from_value(json!({
        "metadata": { "name": "e2e-rbac-self-waiver", "namespace": env.namespace },
        "spec": {
            "control": control, "resources": [{ "kind": "Deployment", "name": "x" }],
            "justification": "j", "approvedBy": "soc2-operator", "ticket": "t",
            "expiresAt": "2030-01-01T00:00:00Z",
        },
    }))?;
    forbidden(
        "create a ControlException",
        Api::<ControlException>::namespaced(sa.clone(), &env.namespace)
            .create(&dry_run, &waiver)
            .await,
    );

    // Not needed: forbidden.
    let config_map: ConfigMap = serde_json::from_value(json!({
        "metadata": { "name": "e2e-rbac", "namespace": chart.namespace },
        "data": { "key": "value" },
    }))?;
    forbidden(
        &format!(
            "create a ConfigMap in the release namespace {}",
            chart.namespace
        ),
        Api::<ConfigMap>::namespaced(sa.clone(), &chart.namespace)
            .create(&dry_run, &config_map)
            .await,
    );
    let patch = json!({ "spec": { "title": "e2e: rewritten by the operator" } });
    let params = PatchParams {
        dry_run: true,
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    forbidden(
        &format!("patch the spec of Control {control}"),
        Api::<Control>::all(sa.clone())
            .patch(&control, &params, &Patch::Merge(&patch))
            .await,
    );
    forbidden(
        &format!("get Secret {}/{secret_name}", env.namespace),
        Api::<Secret>::namespaced(sa.clone(), &env.namespace)
            .get(&secret_name)
            .await,
    );
    // Pods are listed and watched for their specs; reading one by name (or its logs, exec) is never granted.
    forbidden(
        &format!("get a pod by name in {}", env.namespace),
        Api::<Pod>::namespaced(sa.clone(), &env.namespace)
            .get("e2e-rbac-no-such-pod")
            .await,
    );
    Ok(())
}
