//! One test's world: a client, a fresh namespace, the Controls it applied; all deleted when it is dropped.

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use soc2_operator::api::{Control, EvidenceStore};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use super::cluster::{Operator, ensure_started};
use super::{E2E_LABEL, FIELD_MANAGER, RUN_LABEL, note, random_suffix};

/// Finalizer the logging scenario uses to hold DaemonSets in deletion (see `logging.rs`); cleanup removes it.
pub const HOLD_FINALIZER: &str = "soc2.dev/e2e-hold";

/// Set to keep a test's namespace and Controls for debugging.
pub const KEEP_ENV: &str = "SOC2_E2E_KEEP";

/// One test's resources. Dropping it deletes them, also while the test panics.
pub struct TestEnv {
    /// A client of the cluster named by KUBECONFIG, bound to this test's runtime.
    pub client: Client,
    /// The short test name used in object names.
    pub test: String,
    /// The random suffix of this run, also the value of [`RUN_LABEL`].
    pub suffix: String,
    /// The test's namespace, `soc2-e2e-<test>-<suffix>`.
    pub namespace: String,
    operator: &'static Operator,
    controls: Mutex<Vec<String>>,
    evidence_stores: Mutex<Vec<String>>,
    // Released after the cleanup in `drop` (fields drop after it).
    _turn: Turn,
}

/// Tests share the cluster; a scenario that stops the API server has it to itself.
enum Turn {
    Shared(#[allow(dead_code)] OwnedRwLockReadGuard<()>),
    Exclusive(#[allow(dead_code)] OwnedRwLockWriteGuard<()>),
}

/// Held shared by every test, exclusively by [`TestEnv::exclusive`].
static CLUSTER: LazyLock<Arc<RwLock<()>>> = LazyLock::new(Arc::default);

impl TestEnv {
    /// Starts the operator if needed and creates the test's namespace.
    pub async fn new(test: &str) -> Result<Self, Box<dyn Error>> {
        let turn = Turn::Shared(CLUSTER.clone().read_owned().await);
        Self::start(test, turn).await
    }

    /// [`TestEnv::new`] for a scenario that disturbs the whole cluster (stops the API server): it waits until no
    /// other test runs, and no other test starts until it is dropped.
    pub async fn exclusive(test: &str) -> Result<Self, Box<dyn Error>> {
        let turn = Turn::Exclusive(CLUSTER.clone().write_owned().await);
        Self::start(test, turn).await
    }

    async fn start(test: &str, turn: Turn) -> Result<Self, Box<dyn Error>> {
        let operator = ensure_started().await?;
        let client = super::client().await?;
        let suffix = random_suffix();
        let namespace = format!("soc2-e2e-{test}-{suffix}");
        let env = TestEnv {
            client,
            test: test.to_string(),
            suffix,
            namespace,
            operator,
            controls: Mutex::new(Vec::new()),
            evidence_stores: Mutex::new(Vec::new()),
            _turn: turn,
        };
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": { "name": env.namespace, "labels": env.labels() },
        }))?;
        Api::<Namespace>::all(env.client.clone())
            .create(&env.post_params(), &ns)
            .await
            .map_err(|e| format!("creating namespace {}: {e}", env.namespace))?;
        Ok(env)
    }

    /// `soc2.dev/e2e: "true"` and the run label.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (E2E_LABEL.to_string(), "true".to_string()),
            (RUN_LABEL.to_string(), self.suffix.clone()),
        ])
    }

    /// The name of a Control of this test: `soc2-e2e-<test>-<part>-<suffix>`.
    pub fn control_name(&self, part: &str) -> String {
        format!("soc2-e2e-{}-{part}-{}", self.test, self.suffix)
    }

    /// The operator, for failure messages.
    pub fn operator(&self) -> &'static Operator {
        self.operator
    }

    /// Create options with the suite's field manager.
    pub fn post_params(&self) -> PostParams {
        PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        }
    }

    /// An API for `K` in the test's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Creates `manifest` (a JSON object) in the test's namespace, with the run labels added, as `manager`.
    pub async fn create<K>(&self, manager: &str, mut manifest: Value) -> Result<K, Box<dyn Error>>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        self.label(&mut manifest);
        let object: K = serde_json::from_value(manifest)?;
        let name = object.meta().name.clone().unwrap_or_default();
        let params = PostParams {
            field_manager: Some(manager.into()),
            ..Default::default()
        };
        Ok(self
            .api::<K>()
            .create(&params, &object)
            .await
            .map_err(|e| format!("creating {} {name}: {e}", K::kind(&())))?)
    }

    /// Server-side applies `manifest` (a JSON object with apiVersion and kind) in the test's namespace as `manager`,
    /// with the run labels added.
    pub async fn apply<K>(&self, manager: &str, mut manifest: Value) -> Result<K, Box<dyn Error>>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        self.label(&mut manifest);
        let name = manifest["metadata"]["name"]
            .as_str()
            .ok_or("manifest without metadata.name")?
            .to_string();
        Ok(self
            .api::<K>()
            .patch(
                &name,
                &PatchParams::apply(manager),
                &Patch::Apply(&manifest),
            )
            .await
            .map_err(|e| format!("applying {} {name} as {manager}: {e}", K::kind(&())))?)
    }

    fn label(&self, manifest: &mut Value) {
        manifest["metadata"]["namespace"] = json!(self.namespace);
        for (k, v) in self.labels() {
            manifest["metadata"]["labels"][k] = json!(v);
        }
    }

    /// Records cluster-scoped EvidenceStore `name` for cleanup (call it before creating the store): the operator
    /// would otherwise keep snapshotting it after the test, into a directory that is gone.
    pub fn track_evidence_store(&self, name: &str) {
        if let Ok(mut stores) = self.evidence_stores.lock()
            && !stores.iter().any(|s| s == name)
        {
            stores.push(name.to_string());
        }
    }

    /// Server-side applies the test's EvidenceStore `<namespace>-store`, writing to `dir` every `interval` and
    /// selecting the test's Controls; recorded for cleanup. Returns its name.
    pub async fn apply_evidence_store(
        &self,
        dir: &std::path::Path,
        interval: &str,
    ) -> Result<String, Box<dyn Error>> {
        let name = format!("{}-store", self.namespace);
        self.track_evidence_store(&name);
        let manifest = json!({
            "apiVersion": "soc2.dev/v1alpha1",
            "kind": "EvidenceStore",
            "metadata": { "name": name, "labels": self.labels() },
            "spec": {
                "filesystem": { "path": dir.display().to_string() },
                "schedule": { "interval": interval },
                "controlSelector": { "matchLabels": self.labels() },
            },
        });
        Api::<EvidenceStore>::all(self.client.clone())
            .patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER),
                &Patch::Apply(&manifest),
            )
            .await
            .map_err(|e| format!("applying EvidenceStore {name}: {e}"))?;
        Ok(name)
    }

    /// Server-side applies Control `name` with `spec`. The name is recorded for cleanup before the request, so that
    /// a Control the API server should have refused is deleted too.
    pub async fn apply_control(&self, name: &str, spec: Value) -> Result<Control, kube::Error> {
        if let Ok(mut controls) = self.controls.lock()
            && !controls.iter().any(|c| c == name)
        {
            controls.push(name.to_string());
        }
        let manifest = json!({
            "apiVersion": "soc2.dev/v1alpha1",
            "kind": "Control",
            "metadata": { "name": name, "labels": self.labels() },
            "spec": spec,
        });
        Api::<Control>::all(self.client.clone())
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&manifest),
            )
            .await
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let controls = self.controls.lock().map(|c| c.clone()).unwrap_or_default();
        let stores = self
            .evidence_stores
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        let namespace = self.namespace.clone();
        if std::env::var_os(KEEP_ENV).is_some() {
            note(&format!(
                "{KEEP_ENV} is set: keeping namespace {namespace}, Controls {controls:?} and EvidenceStores {stores:?}"
            ));
            return;
        }
        // The test's runtime may be shutting down (or panicking): clean up on a runtime of our own, with a
        // client of our own, on another thread, and wait for it.
        let worker = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                tokio::time::timeout(
                    Duration::from_secs(60),
                    cleanup(&namespace, &controls, &stores),
                )
                .await
                .map_err(|_| "cleanup timed out after 60 s".to_string())?
            })
        });
        match worker.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => note(&format!("cleanup of {} failed: {e}", self.namespace)),
            Err(_) => note(&format!("cleanup of {} panicked", self.namespace)),
        }
    }
}

/// Deletes each of `names` through `api`; one that is gone already is fine, other failures go to `errors`.
async fn delete_named<K>(api: &Api<K>, names: &[String], errors: &mut Vec<String>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    for name in names {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => errors.push(format!("deleting {} {name}: {e}", K::kind(&()))),
        }
    }
}

/// Deletes the EvidenceStores and Controls, releases DaemonSets held by [`HOLD_FINALIZER`], and deletes the
/// namespace (without waiting for the namespace controller to empty it).
async fn cleanup(namespace: &str, controls: &[String], stores: &[String]) -> Result<(), String> {
    let client = super::client().await.map_err(|e| e.to_string())?;
    let mut errors = Vec::new();
    delete_named(
        &Api::<EvidenceStore>::all(client.clone()),
        stores,
        &mut errors,
    )
    .await;
    delete_named(&Api::<Control>::all(client.clone()), controls, &mut errors).await;
    let daemon_sets: Api<DaemonSet> = Api::namespaced(client.clone(), namespace);
    match daemon_sets.list(&ListParams::default()).await {
        Ok(list) => {
            for ds in list.items {
                let finalizers = ds.metadata.finalizers.clone().unwrap_or_default();
                if !finalizers.iter().any(|f| f == HOLD_FINALIZER) {
                    continue;
                }
                let rest: Vec<&String> =
                    finalizers.iter().filter(|f| *f != HOLD_FINALIZER).collect();
                let name = ds.metadata.name.clone().unwrap_or_default();
                let patch = json!({ "metadata": { "finalizers": rest } });
                if let Err(e) = daemon_sets
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    errors.push(format!("releasing DaemonSet {namespace}/{name}: {e}"));
                }
            }
        }
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => errors.push(format!("listing DaemonSets in {namespace}: {e}")),
    }
    match Api::<Namespace>::all(client)
        .delete(namespace, &DeleteParams::background())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => errors.push(format!("deleting namespace {namespace}: {e}")),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}
