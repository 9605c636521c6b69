//! The chart as a platform team runs it: `helm install`, `helm upgrade`, `helm rollback` and `helm uninstall` of
//! `charts/soc2-operator` against the real API server, not `helm template`. What only a real release shows: the
//! objects the API server accepts (the namespace enforces the `restricted` Pod Security Standard, so the
//! ReplicaSet controller's Pods must pass it), the webhook certificate kept across upgrades and rollbacks (the
//! chart's `lookup` finds the Secret it generated, which `helm template` cannot), objects a value switches on and
//! off coming and going, and an uninstall leaving nothing behind but the CRDs (Helm never deletes `crds/`).
//!
//! No kubelet runs, so the operator's Pods stay Pending; the operator under test is the suite's own.

use std::error::Error;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::support::chart::helm;
use crate::support::{FIELD_MANAGER, TestEnv, TestResult, note, skip};

/// How long the ReplicaSet controller and the garbage collector get to act.
const SETTLE: Duration = Duration::from_secs(60);

/// One Helm release in the test's namespace; uninstalled when dropped if the test did not get that far.
struct Release<'a> {
    helm: &'a Path,
    name: String,
    namespace: String,
    installed: bool,
}

impl Release<'_> {
    /// Runs `helm ARGS --namespace NS` from the repository root and returns stdout; an error carries stderr.
    fn helm(&self, args: &[&str]) -> Result<String, Box<dyn Error>> {
        let output = Command::new(self.helm)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .args(["--namespace", &self.namespace])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.helm.display()))?;
        if !output.status.success() {
            return Err(format!(
                "helm {} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )
            .into());
        }
        Ok(String::from_utf8(output.stdout)?)
    }

    /// The release's revisions as `helm history` reports them: (revision, status), oldest first.
    fn history(&self) -> Result<Vec<(u64, String)>, Box<dyn Error>> {
        let text = self.helm(&["history", &self.name, "--output", "json"])?;
        let entries: Vec<Value> = serde_json::from_str(&text)
            .map_err(|e| format!("helm history printed no JSON list ({e}): {text}"))?;
        Ok(entries
            .iter()
            .map(|e| {
                (
                    e["revision"].as_u64().unwrap_or_default(),
                    e["status"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        if self.installed
            && let Err(e) = self.helm(&["uninstall", &self.name])
        {
            note(&format!("cleanup: {e}"));
        }
    }
}

/// The release's instance label as a selector.
fn instance(release: &str) -> ListParams {
    ListParams::default().labels(&format!("app.kubernetes.io/instance={release}"))
}

/// The `tls.crt` of the chart's webhook Secret.
async fn webhook_certificate(secrets: &Api<Secret>, name: &str) -> Result<String, Box<dyn Error>> {
    let secret = secrets
        .get(name)
        .await
        .map_err(|e| format!("the chart's webhook Secret {name}: {e}"))?;
    let cert = secret
        .data
        .as_ref()
        .and_then(|d| d.get("tls.crt"))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .filter(|c| c.contains("BEGIN CERTIFICATE"))
        .ok_or_else(|| format!("the chart's webhook Secret {name} holds no tls.crt"))?;
    Ok(cert)
}

/// Waits until the ReplicaSet controller has created a Pod of the release (admitted under `restricted`), failing
/// with the ReplicaSet's own message when Pod Security refused it.
async fn wait_for_admitted_pod(client: &Client, namespace: &str, release: &str) -> TestResult {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + SETTLE;
    loop {
        if !pods.list(&instance(release)).await?.items.is_empty() {
            return Ok(());
        }
        for set in sets.list(&instance(release)).await?.items {
            let refused = set
                .status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
                .find(|c| c.type_ == "ReplicaFailure" && c.status == "True");
            if let Some(c) = refused {
                return Err(format!(
                    "the chart's Pod was refused in a namespace enforcing the restricted Pod Security Standard: {}",
                    c.message.as_deref().unwrap_or("(no message)")
                )
                .into());
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no Pod of release {release} was created within {SETTLE:?} (is kube-controller-manager running?)"
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until nothing labelled with the release's instance is left of kind `K` in `api`.
async fn wait_gone<K>(api: &Api<K>, release: &str, what: &str) -> TestResult
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let deadline = Instant::now() + SETTLE;
    loop {
        let left = api.list_metadata(&instance(release)).await?.items;
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            let names: Vec<_> = left
                .iter()
                .filter_map(|o| o.metadata.name.clone())
                .collect();
            return Err(format!("helm uninstall left {what} {names:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn chart_installs_upgrades_rolls_back_and_uninstalls() -> TestResult {
    if skip() {
        return Ok(());
    }
    let Some(helm) = helm()? else {
        note("helm lifecycle skipped: no helm (set SOC2_E2E_HELM or run .ci/manifests once)");
        return Ok(());
    };
    let env = TestEnv::new("helm").await?;
    let client = env.client.clone();
    let namespace = env.namespace.clone();
    // The Pod Security Standard the chart's Pods are written to meet, enforced by the API server's admission.
    Api::<Namespace>::all(client.clone())
        .patch(
            &namespace,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": { "name": namespace, "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                }},
            })),
        )
        .await?;

    // The release name contains the chart's name, so every object is named after the release alone.
    let mut release = Release {
        helm: &helm,
        name: format!("soc2-operator-{}", env.suffix),
        namespace: namespace.clone(),
        installed: false,
    };
    let name = release.name.clone();
    let webhook_secret = format!("{name}-webhook-tls");
    let deployments: Api<Deployment> = env.api();
    let budgets: Api<PodDisruptionBudget> = env.api();
    let secrets: Api<Secret> = env.api();

    // Install: the defaults (two replicas, so leader election and a PodDisruptionBudget) and the webhook with the
    // chart's own certificate.
    release.helm(&[
        "install",
        &name,
        "charts/soc2-operator",
        "--set",
        "webhook.enabled=true",
        "--set",
        &format!("webhook.configurationName={name}"),
    ])?;
    release.installed = true;
    assert_eq!(
        release.history()?,
        vec![(1, "deployed".to_string())],
        "helm history after install"
    );
    let deployment = deployments.get(&name).await?;
    assert_eq!(
        deployment.spec.as_ref().and_then(|s| s.replicas),
        Some(2),
        "the chart's default replica count"
    );
    budgets
        .get(&name)
        .await
        .map_err(|e| format!("two replicas must come with a PodDisruptionBudget: {e}"))?;
    Api::<ServiceAccount>::namespaced(client.clone(), &namespace)
        .get(&name)
        .await?;
    Api::<Service>::namespaced(client.clone(), &namespace)
        .get(&name)
        .await?;
    let leases_role = format!("{name}-leader-election");
    let roles: Api<Role> = env.api();
    let role_names: Vec<String> = roles
        .list_metadata(&instance(&name))
        .await?
        .items
        .into_iter()
        .filter_map(|r| r.metadata.name)
        .collect();
    assert!(
        role_names.contains(&leases_role),
        "two replicas elect a leader: the chart must grant its Lease (Roles: {role_names:?})"
    );
    let cluster_roles = Api::<ClusterRole>::all(client.clone())
        .list_metadata(&instance(&name))
        .await?
        .items;
    assert!(
        cluster_roles
            .iter()
            .any(|r| r.metadata.name.as_deref() == Some(&format!("{name}-access-reviewer"))),
        "the reviewers' ClusterRole is installed"
    );
    let certificate = webhook_certificate(&secrets, &webhook_secret).await?;
    wait_for_admitted_pod(&client, &namespace, &name).await?;

    // Upgrade to one replica: leader election and the budget go, the certificate stays.
    release.helm(&[
        "upgrade",
        &name,
        "charts/soc2-operator",
        "--reuse-values",
        "--set",
        "replicaCount=1",
    ])?;
    let history = release.history()?;
    assert_eq!(
        history.last(),
        Some(&(2, "deployed".to_string())),
        "helm history after upgrade: {history:?}"
    );
    assert_eq!(
        deployments.get(&name).await?.spec.and_then(|s| s.replicas),
        Some(1)
    );
    assert!(
        budgets.get_opt(&name).await?.is_none(),
        "one replica cannot keep a PodDisruptionBudget of minAvailable 1: the upgrade must remove it"
    );
    assert!(
        roles.get_opt(&leases_role).await?.is_none(),
        "one replica elects no leader: the upgrade must remove the Lease Role"
    );
    assert_eq!(
        webhook_certificate(&secrets, &webhook_secret).await?,
        certificate,
        "helm upgrade replaced the webhook's serving certificate; the API server's caBundle would no longer match"
    );

    // Rollback to the first revision: two replicas and the budget again, the same certificate.
    release.helm(&["rollback", &name, "1"])?;
    let history = release.history()?;
    assert_eq!(
        history.last(),
        Some(&(3, "deployed".to_string())),
        "helm history after rollback: {history:?}"
    );
    assert_eq!(
        deployments.get(&name).await?.spec.and_then(|s| s.replicas),
        Some(2)
    );
    budgets
        .get(&name)
        .await
        .map_err(|e| format!("the rollback must restore the PodDisruptionBudget: {e}"))?;
    assert_eq!(
        webhook_certificate(&secrets, &webhook_secret).await?,
        certificate,
        "helm rollback replaced the webhook's serving certificate"
    );

    // Uninstall: nothing of the release is left, in its namespace, in kube-system or cluster-wide; the CRDs stay.
    release.helm(&["uninstall", &name])?;
    release.installed = false;
    wait_gone(&deployments, &name, "Deployments").await?;
    wait_gone(&secrets, &name, "Secrets").await?;
    wait_gone(&roles, &name, "Roles").await?;
    wait_gone(
        &Api::<Role>::namespaced(client.clone(), "kube-system"),
        &name,
        "Roles in kube-system",
    )
    .await?;
    wait_gone(
        &Api::<ClusterRole>::all(client.clone()),
        &name,
        "ClusterRoles",
    )
    .await?;
    wait_gone(
        &Api::<ClusterRoleBinding>::all(client.clone()),
        &name,
        "ClusterRoleBindings",
    )
    .await?;
    wait_gone(
        &Api::<ServiceAccount>::namespaced(client.clone(), &namespace),
        &name,
        "ServiceAccounts",
    )
    .await?;
    assert!(
        release.history().is_err(),
        "helm still lists the release after uninstall"
    );
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.get("controls.soc2.dev")
        .await
        .map_err(|e| format!("helm uninstall must leave the CRDs (and every Control): {e}"))?;
    Ok(())
}
