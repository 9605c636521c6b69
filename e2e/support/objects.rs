//! Manifests the scenarios create. [`super::TestEnv::create`] and [`super::TestEnv::apply`] add the namespace and
//! the run labels.

use std::error::Error;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{TestEnv, note, wait::POLL};

/// Image of workloads whose pods never run here (there is no kubelet); never pulled.
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";

/// A Deployment with no replicas (no pods to schedule), `annotations` on the Deployment itself.
pub fn deployment(name: &str, annotations: &[(&str, &str)]) -> Value {
    let annotations: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name, "labels": { "app": name }, "annotations": annotations },
        "spec": {
            "replicas": 0,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "app", "image": PAUSE_IMAGE }] },
            },
        },
    })
}

/// A DaemonSet that tolerates every taint, so that every schedulable node counts for it.
pub fn daemon_set(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": { "name": name, "labels": { "app.kubernetes.io/name": name } },
        "spec": {
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": {
                    "tolerations": [{ "operator": "Exists" }],
                    "containers": [{ "name": name, "image": image }],
                },
            },
        },
    })
}

/// A NetworkPolicy manifest.
pub fn network_policy(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": { "name": name },
        "spec": spec,
    })
}

/// The NetworkPolicy that denies ingress to every pod of its namespace by default.
pub fn default_deny() -> Value {
    network_policy(
        "default-deny",
        json!({ "podSelector": {}, "policyTypes": ["Ingress"] }),
    )
}

/// `soc2ctl verify DIR` must accept the evidence chain in `dir` (exit 0); panics with its output otherwise.
pub fn assert_chain_verifies(dir: &std::path::Path, context: &str) {
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_soc2ctl"))
        .arg("verify")
        .arg(dir)
        .output()
        .expect("soc2ctl runs");
    assert_eq!(
        verify.status.code(),
        Some(0),
        "soc2ctl verify {context}: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// A valid Control spec around `check`, scoped to the test's namespace.
pub fn control_spec(env: &TestEnv, criteria: &[&str], title: &str, check: Value) -> Value {
    json!({
        "criteria": criteria,
        "category": "Security",
        "title": title,
        "owner": "soc2-e2e",
        "scope": { "namespaces": [env.namespace] },
        "check": check,
    })
}

impl TestEnv {
    /// Waits (at most `timeout`) until kube-controller-manager has processed every Deployment in the namespace
    /// (`status.observedGeneration == metadata.generation`), so that its own writes (the revision annotation) are
    /// done before a Control looks. Returns false, with a note, when it has not: the scenarios still hold then,
    /// only less settled.
    pub async fn settle_deployments(&self, timeout: Duration) -> Result<bool, Box<dyn Error>> {
        let api = self.api::<Deployment>();
        let deadline = Instant::now() + timeout;
        loop {
            let list = api.list(&Default::default()).await?;
            let settled = list.items.iter().all(|d| {
                d.metadata.generation.is_some()
                    && d.status.as_ref().and_then(|s| s.observed_generation)
                        == d.metadata.generation
            });
            if settled {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                note(&format!(
                    "Deployments in {} were not processed by kube-controller-manager within {timeout:?}; going on",
                    self.namespace
                ));
                return Ok(false);
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
