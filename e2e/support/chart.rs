//! Installing the Helm chart's rendered manifests, and running the operator as the chart's ServiceAccount.
//!
//! The suite needs no kubelet, so the chart's Deployment can never be the operator under test. Instead the setup
//! renders the chart with `helm template`, server-side applies what it renders (CRD, ServiceAccount, RBAC, Service)
//! into a release namespace of this run, requests a token for the chart's ServiceAccount (TokenRequest API) and
//! writes a kubeconfig with it: the operator binary started with that kubeconfig can do exactly what the chart
//! grants, so a missing permission fails the scenarios (forbidden reads, 403 on status patches).
//!
//! Cleanup runs after the test binary exits: the watchdog (see `cluster.rs`) runs this binary again with only the
//! ignored test [`teardown`], which deletes what the plan file lists, and the Validating- and
//! MutatingWebhookConfiguration the operator created (with or without the chart). The CRD stays (other runs may use it).

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::discovery::{Scope, pinned_kind};
use kube::error::DiscoveryError;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{E2E_LABEL, FIELD_MANAGER, RUN_LABEL, identity, note, random_suffix};

/// `0` runs the operator with the caller's kubeconfig even when helm is available.
pub const FROM_CHART_ENV: &str = "SOC2_E2E_FROM_CHART";
/// Path of the helm binary; otherwise `helm` on PATH, otherwise the one `.ci/manifests` installs.
pub const HELM_ENV: &str = "SOC2_E2E_HELM";
/// Set by the watchdog for [`teardown`]: the path of the plan file.
pub const TEARDOWN_ENV: &str = "SOC2_E2E_TEARDOWN";
/// Name of the [`teardown`] test, as the harness filters it.
pub const TEARDOWN_TEST: &str = "support::chart::teardown";

/// Printed when no helm is found.
/// The Lease the chart's leader election uses (its `leaderElection.leaseName`).
pub const LEASE_NAME: &str = "soc2-operator";

const NO_HELM: &str = "helm not found (set SOC2_E2E_HELM or run .ci/manifests once); running the operator with your kubeconfig instead of the chart's ServiceAccount";
const ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(30);

/// The chart install of this run.
pub struct ChartInstall {
    /// The release namespace, `soc2-e2e-system-<suffix>`, created by the setup.
    pub namespace: String,
    /// The chart's ServiceAccount, the operator's identity.
    pub service_account: String,
    /// A kubeconfig for the caller's cluster with the ServiceAccount's token (deleted by [`teardown`]).
    pub kubeconfig: PathBuf,
    /// What [`teardown`] deletes (written next to the operator log).
    pub plan: PathBuf,
    /// The ValidatingWebhookConfiguration the chart's RBAC lets the operator manage (the release name).
    pub webhook_configuration: String,
}

/// One object the install applied, and [`teardown`] deletes.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Applied {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    name: String,
}

/// What [`teardown`] deletes: the operator's ValidatingWebhookConfiguration, the objects (in reverse), the release
/// namespace and the token's kubeconfig file. Without the chart, only the webhook configuration.
#[derive(Serialize, Deserialize, Debug)]
struct Plan {
    /// The release namespace; empty without the chart.
    namespace: String,
    kubeconfig: PathBuf,
    objects: Vec<Applied>,
    /// The ValidatingWebhookConfiguration the operator creates (not the install): a cluster-scoped leftover
    /// otherwise, with webhooks for namespaces that are gone.
    #[serde(default)]
    webhook_configuration: Option<String>,
}

/// Writes the plan of a run without the chart, so that [`teardown`] deletes the operator's
/// ValidatingWebhookConfiguration `name` once the operator has stopped. Returns the plan's path.
pub fn operator_plan(log_dir: &Path, suffix: &str, name: &str) -> Result<PathBuf, Box<dyn Error>> {
    let path = log_dir.join(format!("plan-{suffix}.json"));
    let plan = Plan {
        namespace: String::new(),
        kubeconfig: PathBuf::new(),
        objects: Vec::new(),
        webhook_configuration: Some(name.to_string()),
    };
    std::fs::write(&path, serde_json::to_vec_pretty(&plan)?)?;
    Ok(path)
}

/// The helm binary to render the chart with, or `None` (with the reason printed) to run without the chart.
pub fn helm() -> Result<Option<PathBuf>, Box<dyn Error>> {
    if std::env::var(FROM_CHART_ENV).is_ok_and(|v| v == "0") {
        note(&format!(
            "{FROM_CHART_ENV}=0: running the operator with your kubeconfig instead of the chart's ServiceAccount"
        ));
        return Ok(None);
    }
    if let Some(path) = std::env::var_os(HELM_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(format!("{HELM_ENV}={} is not a file", path.display()).into());
        }
        return Ok(Some(path));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("helm"))
        .find(|p| p.is_file());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Where .ci/manifests installs it (SOC2_TOOLS_DIR overrides .ci/.tools there too).
    let tools = std::env::var_os("SOC2_TOOLS_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| repo.join(".ci/.tools"), |d| repo.join(d));
    let ci = tools.join("layer/helm/helm");
    match on_path.or_else(|| ci.is_file().then_some(ci)) {
        Some(path) => Ok(Some(path)),
        None => {
            note(NO_HELM);
            Ok(None)
        }
    }
}

/// Renders the chart, applies it, and writes the ServiceAccount's kubeconfig.
/// When it fails half-way, deletes what it created.
pub async fn install(
    client: &Client,
    helm: &Path,
    log_dir: &Path,
) -> Result<ChartInstall, Box<dyn Error>> {
    let suffix = random_suffix();
    let plan = log_dir.join(format!("chart-{suffix}.json"));
    match try_install(client, helm, &suffix, plan.clone()).await {
        Ok(install) => Ok(install),
        Err(e) if plan.exists() => match delete_plan(client, &plan).await {
            Ok(()) => Err(e),
            Err(cleanup) => Err(format!("{e}\n(cleanup failed too: {cleanup})").into()),
        },
        Err(e) => Err(e),
    }
}

async fn try_install(
    client: &Client,
    helm: &Path,
    suffix: &str,
    plan: PathBuf,
) -> Result<ChartInstall, Box<dyn Error>> {
    // A release per run: the ClusterRole and the Roles in default and kube-system are named after the release, so
    // runs against the same cluster do not share (and delete) each other's RBAC.
    let release = format!("soc2-e2e-{suffix}");
    let namespace = format!("soc2-e2e-system-{suffix}");
    let kube_version = client.apiserver_version().await?.git_version;
    let rendered = render(helm, &release, &namespace, &kube_version)?;
    let documents = parse(&rendered)?;

    let mut applied = Vec::new();
    // Recorded before anything is created, so that a failed install is cleaned up too.
    let mut plan_value = Plan {
        namespace: namespace.clone(),
        kubeconfig: PathBuf::new(),
        objects: Vec::new(),
        webhook_configuration: Some(release.clone()),
    };
    std::fs::write(&plan, serde_json::to_vec_pretty(&plan_value)?)?;
    let ns: Namespace = serde_json::from_value(json!({
        "metadata": { "name": namespace, "labels": { E2E_LABEL: "true", RUN_LABEL: suffix } },
    }))?;
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            &ns,
        )
        .await
        .map_err(|e| format!("creating the release namespace {namespace}: {e}"))?;

    let mut service_account = None;
    for document in documents {
        let (api_version, kind) = (str_at(&document, "apiVersion")?, str_at(&document, "kind")?);
        let name = document["metadata"]["name"]
            .as_str()
            .ok_or("a rendered object has no name")?
            .to_string();
        // The Deployment's pods would never run without a kubelet, and on a cluster with nodes they would be a
        // second operator beside the binary under test: not applied. The binary runs with its ServiceAccount.
        if kind == "Deployment" {
            continue;
        }
        let Some((resource, scope)) = resolve(client, &api_version, &kind).await? else {
            note(&format!(
                "{kind} ({api_version}) is not served by this cluster; not applied"
            ));
            continue;
        };
        let object_ns = match scope {
            Scope::Namespaced => Some(
                document["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or(&namespace)
                    .to_string(),
            ),
            Scope::Cluster => None,
        };
        let api = dynamic_api(client, &resource, object_ns.as_deref());
        if kind != "CustomResourceDefinition" {
            applied.push(Applied {
                api_version: api_version.clone(),
                kind: kind.clone(),
                namespace: object_ns.clone(),
                name: name.clone(),
            });
            plan_value.objects = applied.clone();
            std::fs::write(&plan, serde_json::to_vec_pretty(&plan_value)?)?;
        }
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&document),
        )
        .await
        .map_err(|e| format!("applying {kind} {name} from the chart: {e}"))?;
        if kind == "CustomResourceDefinition" {
            let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
            tokio::time::timeout(
                ESTABLISHED_TIMEOUT,
                await_condition(crds, &name, conditions::is_crd_established()),
            )
            .await
            .map_err(|_| {
                format!("CRD {name} did not become Established within {ESTABLISHED_TIMEOUT:?}")
            })??;
        }
        if kind == "ServiceAccount" {
            service_account = Some(name);
        }
    }
    let service_account = service_account.ok_or("the chart rendered no ServiceAccount")?;

    let token = identity::token(client, &namespace, &service_account).await?;
    let kubeconfig = identity::write_kubeconfig(&token, &namespace)?;
    plan_value.kubeconfig = kubeconfig.clone();
    std::fs::write(&plan, serde_json::to_vec_pretty(&plan_value)?)?;
    let install = ChartInstall {
        namespace,
        service_account,
        kubeconfig,
        plan,
        webhook_configuration: release.clone(),
    };
    identity::wait_effective(&install).await?;
    note(&format!(
        "chart {release} installed in {namespace} ({} objects); the operator runs as system:serviceaccount:{namespace}:{service_account}",
        applied.len(),
        namespace = install.namespace,
        service_account = install.service_account,
    ));
    Ok(install)
}

/// `helm template` of `charts/soc2-operator`, one replica, CRDs included.
fn render(
    helm: &Path,
    release: &str,
    namespace: &str,
    kube_version: &str,
) -> Result<String, Box<dyn Error>> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(helm)
        .current_dir(repo)
        .args([
            "template",
            release,
            "charts/soc2-operator",
            "--namespace",
            namespace,
        ])
        // The webhook's RBAC, for the configuration named after the release (the operator registers by URL).
        .args([
            "--set",
            "webhook.enabled=true",
            "--set",
            &format!("webhook.configurationName={release}"),
        ])
        // Leader election's RBAC (the chart's Lease), which the fail-over scenario's replicas use; the operator
        // the suite runs itself turns election off.
        .args([
            "--set",
            "leaderElection.enabled=true",
            "--set",
            &format!("leaderElection.leaseName={LEASE_NAME}"),
        ])
        .args([
            "--set",
            "replicaCount=1",
            "--include-crds",
            "--kube-version",
            kube_version,
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", helm.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} template failed ({}): {}",
            helm.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// The objects of a multi-document YAML stream, as JSON; empty documents skipped.
fn parse(text: &str) -> Result<Vec<Value>, Box<dyn Error>> {
    let mut objects = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(document)?;
        if value.is_null() {
            continue;
        }
        let value = serde_json::to_value(value)?;
        if !value.is_object() {
            return Err(format!("a rendered document is not an object: {value}").into());
        }
        objects.push(value);
    }
    Ok(objects)
}

fn str_at(document: &Value, key: &str) -> Result<String, String> {
    document[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("a rendered object has no {key}"))
}

/// The resource and scope of `apiVersion`/`kind` by discovery; `None` when the cluster does not serve it.
async fn resolve(
    client: &Client,
    api_version: &str,
    kind: &str,
) -> Result<Option<(ApiResource, Scope)>, Box<dyn Error>> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    match pinned_kind(client, &GroupVersionKind::gvk(group, version, kind)).await {
        Ok((resource, caps)) => Ok(Some((resource, caps.scope))),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(kube::Error::Discovery(DiscoveryError::MissingKind(_))) => Ok(None),
        Err(e) => Err(format!("discovery of {kind} ({api_version}): {e}").into()),
    }
}

fn dynamic_api(
    client: &Client,
    resource: &ApiResource,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
        None => Api::all_with(client.clone(), resource),
    }
}

/// Deletes what the plan in [`TEARDOWN_ENV`] lists. Only the watchdog runs it (see `cluster.rs`); without the
/// variable it does nothing.
#[tokio::test]
#[ignore = "run by the e2e watchdog after the suite, to delete the chart install"]
async fn teardown() -> Result<(), Box<dyn Error>> {
    let Some(path) = std::env::var_os(TEARDOWN_ENV) else {
        return Ok(());
    };
    let client = super::client().await?;
    delete_plan(&client, Path::new(&path)).await?;
    Ok(())
}

/// Deletes the webhook configuration and the objects of the plan at `path` (in reverse), the release namespace, the
/// kubeconfig and the plan.
async fn delete_plan(client: &Client, path: &Path) -> Result<(), String> {
    let plan: Plan = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    if !plan.kubeconfig.as_os_str().is_empty() {
        let _ = std::fs::remove_file(&plan.kubeconfig);
    }
    let mut errors = Vec::new();
    if let Some(name) = &plan.webhook_configuration {
        match Api::<ValidatingWebhookConfiguration>::all(client.clone())
            .delete(name, &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => errors.push(format!(
                "deleting ValidatingWebhookConfiguration {name}: {e}"
            )),
        }
        // Its mutating twin (same name): it sends every AccessReviewDecision create to the stopped operator.
        match Api::<MutatingWebhookConfiguration>::all(client.clone())
            .delete(name, &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => errors.push(format!("deleting MutatingWebhookConfiguration {name}: {e}")),
        }
    }
    for object in plan.objects.iter().rev() {
        let result = match resolve(client, &object.api_version, &object.kind).await {
            Ok(Some((resource, _))) => dynamic_api(client, &resource, object.namespace.as_deref())
                .delete(&object.name, &DeleteParams::background())
                .await
                .map(|_| ())
                .or_else(|e| match e {
                    kube::Error::Api(s) if s.code == 404 => Ok(()),
                    e => Err(e.to_string()),
                }),
            Ok(None) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            errors.push(format!("deleting {} {}: {e}", object.kind, object.name));
        }
    }
    if !plan.namespace.is_empty() {
        match Api::<Namespace>::all(client.clone())
            .delete(&plan.namespace, &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => errors.push(format!("deleting namespace {}: {e}", plan.namespace)),
        }
    }
    if errors.is_empty() {
        let _ = std::fs::remove_file(path);
        note(&format!(
            "teardown: deleted webhook configuration {:?}, namespace {:?} and {} chart objects",
            plan.webhook_configuration.as_deref().unwrap_or("-"),
            plan.namespace,
            plan.objects.len()
        ));
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

#[test]
fn parse_reads_helm_output() {
    let text = "---\n# Source: a.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n---\n# Source: empty.yaml\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n";
    let objects = parse(text).expect("parses");
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["ServiceAccount", "Service"]);
}
