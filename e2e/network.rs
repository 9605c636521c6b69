//! Network isolation and exposure (CC6.6) against a real API server: a namespace without default deny fails until
//! one is applied, an internet-facing NetworkPolicy and an unapproved LoadBalancer fail until they are annotated
//! approved. Nothing here needs a running pod.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::support::objects::{control_spec, default_deny, network_policy};
use crate::support::wait::TIMEOUT;
use crate::support::{FIELD_MANAGER, TestEnv, TestResult, skip};

const APPROVED_BY: &str = "soc2.dev/exposure-approved-by";

async fn approve<K>(env: &TestEnv, name: &str) -> TestResult
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let patch = json!({ "metadata": { "annotations": { APPROVED_BY: "e2e-reviewer" } } });
    env.api::<K>()
        .patch(
            name,
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}

#[tokio::test]
async fn network_isolation_requires_default_deny_and_approved_internet_rules() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("netiso").await?;
    let name = env.control_name("isolation");
    let spec = control_spec(
        &env,
        &["CC6.6"],
        "e2e: namespaces deny ingress by default",
        json!({ "networkIsolation": {} }),
    );
    env.apply_control(&name, spec).await?;
    env.wait_findings(
        &name,
        "False",
        &[("Namespace", &env.namespace, "no-default-deny-ingress")],
        TIMEOUT,
    )
    .await;

    env.apply::<NetworkPolicy>(FIELD_MANAGER, default_deny())
        .await?;
    env.apply::<NetworkPolicy>(
        FIELD_MANAGER,
        network_policy(
            "public-https",
            json!({
                "podSelector": { "matchLabels": { "app": "gw" } },
                "ingress": [{ "from": [{ "ipBlock": { "cidr": "0.0.0.0/0" } }], "ports": [{ "port": 443 }] }],
            }),
        ),
    )
    .await?;
    env.wait_findings(
        &name,
        "False",
        &[("NetworkPolicy", "public-https", "policy-admits-internet")],
        TIMEOUT,
    )
    .await;

    approve::<NetworkPolicy>(&env, "public-https").await?;
    env.wait_findings(&name, "True", &[], TIMEOUT).await;
    Ok(())
}

#[tokio::test]
async fn exposure_requires_approval_for_load_balancers() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("expose").await?;
    for (svc, type_) in [("public", "LoadBalancer"), ("internal", "ClusterIP")] {
        env.apply::<Service>(
            FIELD_MANAGER,
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": { "name": svc },
                "spec": { "type": type_, "selector": { "app": svc }, "ports": [{ "port": 443 }] },
            }),
        )
        .await?;
    }
    let name = env.control_name("exposure");
    let spec = control_spec(
        &env,
        &["CC6.6"],
        "e2e: exposed Services are approved",
        json!({ "exposure": { "hostAccess": false } }),
    );
    env.apply_control(&name, spec).await?;
    env.wait_findings(
        &name,
        "False",
        &[("Service", "public", "exposure-not-approved")],
        TIMEOUT,
    )
    .await;

    approve::<Service>(&env, "public").await?;
    env.wait_findings(&name, "True", &[], TIMEOUT).await;
    Ok(())
}
