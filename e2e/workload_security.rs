//! Workload security (CC6.8, CC6.1) against a real API server: the pod-security and service-account checks read
//! Deployment templates as the API server stores them (defaults applied), and remediation shows within seconds.
//! Deployments have no replicas, so no scenario needs a kubelet.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};

use crate::support::objects::{PAUSE_IMAGE, control_spec, deployment};
use crate::support::wait::TIMEOUT;
use crate::support::{FIELD_MANAGER, TestEnv, TestResult, skip};

/// How long remediation may take to show before the test fails.
const REMEDIATION_LIMIT: Duration = Duration::from_secs(10);

/// A Deployment whose pod template meets the restricted Pod Security Standard and mounts no API token.
fn hardened(name: &str) -> Value {
    let mut d = deployment(name, &[]);
    d["spec"]["template"]["spec"] = json!({
        "automountServiceAccountToken": false,
        "securityContext": { "runAsNonRoot": true, "seccompProfile": { "type": "RuntimeDefault" } },
        "containers": [{
            "name": "app",
            "image": PAUSE_IMAGE,
            "securityContext": { "allowPrivilegeEscalation": false, "capabilities": { "drop": ["ALL"] } },
        }],
    });
    d
}

/// A Deployment with a privileged container (the API server refuses privileged with
/// allowPrivilegeEscalation: false, so escalation is allowed too) and the default token automount.
fn privileged(name: &str) -> Value {
    let mut d = hardened(name);
    let spec = &mut d["spec"]["template"]["spec"];
    spec.as_object_mut()
        .map(|s| s.remove("automountServiceAccountToken"));
    spec["containers"][0]["securityContext"] =
        json!({ "privileged": true, "capabilities": { "drop": ["ALL"] } });
    d
}

#[tokio::test]
async fn pod_security_and_token_automount_follow_the_stored_templates() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("wls").await?;
    env.apply::<Deployment>(FIELD_MANAGER, hardened("hardened"))
        .await?;
    env.apply::<Deployment>(FIELD_MANAGER, privileged("privileged"))
        .await?;

    let pod_security = env.control_name("podsec");
    let check = json!({ "podSecurity": {
        "level": "restricted", "requireNamespaceLabels": false, "kinds": ["Deployment"] } });
    env.apply_control(
        &pod_security,
        control_spec(
            &env,
            &["CC6.8"],
            "e2e: workloads meet the restricted level",
            check,
        ),
    )
    .await?;
    let tokens = env.control_name("tokens");
    let check = json!({ "serviceAccountHygiene": { "legacyTokenSecrets": false, "kinds": ["Deployment"] } });
    env.apply_control(
        &tokens,
        control_spec(&env, &["CC6.1"], "e2e: API tokens only where needed", check),
    )
    .await?;

    env.wait_findings(
        &pod_security,
        "False",
        &[
            ("Deployment", "privileged", "privileged-container"),
            ("Deployment", "privileged", "privilege-escalation-allowed"),
        ],
        TIMEOUT,
    )
    .await;
    // The namespace's `default` ServiceAccount (created by kube-controller-manager) leaves automount on.
    env.wait_findings(
        &tokens,
        "False",
        &[(
            "Deployment",
            "privileged",
            "service-account-token-automount",
        )],
        TIMEOUT,
    )
    .await;

    // Remediate: the full manifest again (server-side apply drops fields the manager no longer sends), restricted,
    // with automount left on but the need for the API declared.
    let mut fix = hardened("privileged");
    if let Some(spec) = fix["spec"]["template"]["spec"].as_object_mut() {
        spec.remove("automountServiceAccountToken");
    }
    fix["metadata"]["annotations"]["soc2.dev/api-access"] = json!("e2e: reads its own ConfigMap");
    env.apply::<Deployment>(FIELD_MANAGER, fix).await?;
    env.wait_findings(&pod_security, "True", &[], REMEDIATION_LIMIT)
        .await;
    env.wait_findings(&tokens, "True", &[], REMEDIATION_LIMIT)
        .await;
    Ok(())
}
