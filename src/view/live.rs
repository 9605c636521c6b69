//! The operator's view of the cluster: one reflector store per kind, watched only once a control needs it.
//!
//! Each watch applies events to its store and reports which kind (and namespace) changed on a channel; the
//! controller maps those changes to the controls they can affect. Nothing here decides compliance.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};

use super::dynamic::DynamicStores;
use super::initial_list::InitialList;
use super::projection::Project;
use super::stored::{CronJob, DaemonSet, Deployment, Job, StatefulSet};
use super::watch_retry;
use super::{
    CONTROL_PLANE_NAMESPACE, ClusterSnapshot, Gvk, Reads, ResourceKind, SERVICE_ACCOUNT_TOKEN_TYPE,
};
use crate::api::{AccessReview, AccessReviewDecision, ControlException};
use crate::engine::exceptions::ExceptionPolicy;
use crate::runtime::metrics::Metrics;

/// What a watch serves: a typed kind or a group/version/kind read dynamically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Watched {
    /// A typed store.
    Kind(ResourceKind),
    /// A dynamic store.
    Gvk(Gvk),
}

impl From<ResourceKind> for Watched {
    fn from(kind: ResourceKind) -> Self {
        Watched::Kind(kind)
    }
}

/// A change to a watched kind: an object was applied or deleted, or the kind's watch (re)synced or failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The kind that changed.
    pub kind: Watched,
    /// The changed object's namespace; `None` for cluster-scoped objects and for a resync.
    pub namespace: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum WatchState {
    NotStarted,
    Syncing,
    Synced,
    Failed(String),
}

/// Where a watch reports: the channel of changes and the metrics of lists and errors.
#[derive(Clone)]
struct Outlet {
    changes: mpsc::UnboundedSender<Change>,
    metrics: Arc<Metrics>,
}

/// One kind's store and the state of its watch.
struct KindStore<K: Resource<DynamicType = ()> + Clone + 'static> {
    reader: Store<K>,
    writer: Mutex<Option<Writer<K>>>,
    state: Arc<watch::Sender<WatchState>>,
}

impl<K> KindStore<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + Project
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    fn new() -> Self {
        let (reader, writer) = reflector::store();
        KindStore {
            reader,
            writer: Mutex::new(Some(writer)),
            state: Arc::new(watch::Sender::new(WatchState::NotStarted)),
        }
    }

    fn state(&self) -> WatchState {
        self.state.borrow().clone()
    }

    /// Starts the watch unless it runs already. Objects enter the store projected (see [`Project`]).
    fn start(&self, kind: ResourceKind, api: Api<K>, config: watcher::Config, outlet: Outlet) {
        let Outlet { changes, metrics } = outlet;
        let Some(writer) = self.writer.lock().ok().and_then(|mut w| w.take()) else {
            return;
        };
        self.state.send_replace(WatchState::Syncing);
        let state = self.state.clone();
        let reader = self.reader.clone();
        let gauge = metrics.clone();
        tokio::spawn(async move {
            let stream = watch_retry::retried(
                watcher(api, config).modify(K::project),
                metrics,
                kind.plural().to_string(),
            )
            .reflect(writer);
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                if matches!(
                    event,
                    Ok(watcher::Event::Apply(_)
                        | watcher::Event::Delete(_)
                        | watcher::Event::InitDone)
                ) {
                    gauge.set_watch_objects(kind.plural(), reader.len());
                }
                let change = match event {
                    Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o)) => Some(Change {
                        kind: kind.into(),
                        namespace: o.meta().namespace.clone(),
                    }),
                    Ok(watcher::Event::InitDone) => {
                        state.send_replace(WatchState::Synced);
                        tracing::debug!(kind = kind.plural(), "watch synced");
                        Some(Change {
                            kind: kind.into(),
                            namespace: None,
                        })
                    }
                    Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => None,
                    Err(error) => {
                        tracing::warn!(kind = kind.plural(), %error, "watch error; retrying with backoff");
                        // Keep serving the last synced state through transient errors; before the first sync,
                        // remember why the kind is unavailable so that checks can say so.
                        state.send_if_modified(|s| {
                            if *s == WatchState::Synced {
                                return false;
                            }
                            *s = WatchState::Failed(error.to_string());
                            true
                        });
                        None
                    }
                };
                if let Some(change) = change
                    && changes.send(change).is_err()
                {
                    break;
                }
            }
        });
    }

    /// Loads objects directly (tests and tools that have no API server): marks the kind synced.
    fn load(&self, objects: Vec<K>) {
        let Some(mut writer) = self.writer.lock().ok().and_then(|mut w| w.take()) else {
            return;
        };
        writer.apply_watcher_event(&watcher::Event::Init);
        for o in objects {
            writer.apply_watcher_event(&watcher::Event::InitApply(o));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        self.state.send_replace(WatchState::Synced);
    }

    /// Returns once the watch has synced or failed (a failed kind is reported unavailable, not waited for).
    async fn wait(&self) {
        let mut rx = self.state.subscribe();
        let _ = rx
            .wait_for(|s| matches!(s, WatchState::Synced | WatchState::Failed(_)))
            .await;
    }

    fn snapshot(
        &self,
        kind: ResourceKind,
        unavailable: &mut BTreeMap<ResourceKind, String>,
    ) -> Vec<Arc<K>> {
        match self.state() {
            WatchState::Synced => self.reader.state(),
            WatchState::NotStarted => {
                unavailable.insert(kind, "not watched".into());
                Vec::new()
            }
            WatchState::Syncing => {
                unavailable.insert(
                    kind,
                    "the watch has not completed its initial list yet".into(),
                );
                Vec::new()
            }
            WatchState::Failed(e) => {
                unavailable.insert(kind, format!("the watch failed: {e}"));
                Vec::new()
            }
        }
    }
}

/// Every store the checks can read.
pub struct LiveView {
    client: Option<Client>,
    changes: mpsc::UnboundedSender<Change>,
    metrics: Arc<Metrics>,
    namespaces: KindStore<Namespace>,
    nodes: KindStore<Node>,
    control_plane_pods: KindStore<Pod>,
    service_account_token_secrets: KindStore<Secret>,
    roles: KindStore<Role>,
    cluster_roles: KindStore<ClusterRole>,
    role_bindings: KindStore<RoleBinding>,
    cluster_role_bindings: KindStore<ClusterRoleBinding>,
    deployments: KindStore<Deployment>,
    stateful_sets: KindStore<StatefulSet>,
    daemon_sets: KindStore<DaemonSet>,
    cron_jobs: KindStore<CronJob>,
    jobs: KindStore<Job>,
    pods: KindStore<super::stored::Pod>,
    services: KindStore<Service>,
    service_accounts: KindStore<ServiceAccount>,
    network_policies: KindStore<NetworkPolicy>,
    ingresses: KindStore<Ingress>,
    pod_disruption_budgets: KindStore<PodDisruptionBudget>,
    dynamic: DynamicStores,
    control_exceptions: KindStore<ControlException>,
    access_reviews: KindStore<AccessReview>,
    access_review_decisions: KindStore<AccessReviewDecision>,
    exception_policy: ExceptionPolicy,
    initial_list: Mutex<InitialList>,
}

impl LiveView {
    /// A view whose watches run against `client` (pass `None` for a view fed only by [`LiveView::load_snapshot`]).
    /// Changes are reported on the returned receiver.
    pub fn new(client: Option<Client>) -> (Arc<Self>, mpsc::UnboundedReceiver<Change>) {
        Self::with_exception_policy(client, ExceptionPolicy::default(), Arc::default())
    }

    /// [`LiveView::new`], judging ControlExceptions by `policy` (the operator's namespace and maximum lifetime) and
    /// counting the watches' lists and errors in `metrics`.
    pub fn with_exception_policy(
        client: Option<Client>,
        policy: ExceptionPolicy,
        metrics: Arc<Metrics>,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<Change>) {
        let (changes, rx) = mpsc::unbounded_channel();
        let view = LiveView {
            client,
            changes,
            metrics,
            namespaces: KindStore::new(),
            nodes: KindStore::new(),
            control_plane_pods: KindStore::new(),
            service_account_token_secrets: KindStore::new(),
            roles: KindStore::new(),
            cluster_roles: KindStore::new(),
            role_bindings: KindStore::new(),
            cluster_role_bindings: KindStore::new(),
            deployments: KindStore::new(),
            stateful_sets: KindStore::new(),
            daemon_sets: KindStore::new(),
            cron_jobs: KindStore::new(),
            jobs: KindStore::new(),
            pods: KindStore::new(),
            services: KindStore::new(),
            service_accounts: KindStore::new(),
            network_policies: KindStore::new(),
            ingresses: KindStore::new(),
            pod_disruption_budgets: KindStore::new(),
            dynamic: DynamicStores::default(),
            control_exceptions: KindStore::new(),
            access_reviews: KindStore::new(),
            access_review_decisions: KindStore::new(),
            exception_policy: policy,
            initial_list: Mutex::new(InitialList::default()),
        };
        (Arc::new(view), rx)
    }

    /// Makes the watches started from now on fill their stores with `list` (see [`InitialList::detect`]).
    pub fn use_initial_list(&self, list: InitialList) {
        if let Ok(mut current) = self.initial_list.lock() {
            *current = list;
        }
    }

    fn initial_list(&self) -> InitialList {
        self.initial_list.lock().map(|l| *l).unwrap_or_default()
    }

    /// Starts the watches for what `reads` names that are not running yet.
    pub fn ensure(&self, reads: &Reads) {
        let Some(client) = self.client.clone() else {
            return;
        };
        let all = self.initial_list().config();
        for gvk in reads.dynamic_only() {
            self.dynamic
                .start(&client, gvk, all.clone(), &self.changes, &self.metrics);
        }
        for kind in &reads.kinds {
            let tx = Outlet {
                changes: self.changes.clone(),
                metrics: self.metrics.clone(),
            };
            let c = client.clone();
            // Every kind is watched cluster-wide with the view's initial list, except the two below.
            macro_rules! everywhere {
                ($store:expr) => {
                    $store.start(*kind, Api::all(c), all.clone(), tx)
                };
            }
            match kind {
                ResourceKind::Namespace => everywhere!(self.namespaces),
                ResourceKind::Node => everywhere!(self.nodes),
                ResourceKind::ControlPlanePod => self.control_plane_pods.start(
                    *kind,
                    Api::namespaced(c, CONTROL_PLANE_NAMESPACE),
                    all.clone(),
                    tx,
                ),
                ResourceKind::ServiceAccountTokenSecret => {
                    self.service_account_token_secrets.start(
                        *kind,
                        Api::all(c),
                        all.clone()
                            .fields(&format!("type={SERVICE_ACCOUNT_TOKEN_TYPE}")),
                        tx,
                    )
                }
                ResourceKind::Role => everywhere!(self.roles),
                ResourceKind::ClusterRole => everywhere!(self.cluster_roles),
                ResourceKind::RoleBinding => everywhere!(self.role_bindings),
                ResourceKind::ClusterRoleBinding => everywhere!(self.cluster_role_bindings),
                ResourceKind::Deployment => everywhere!(self.deployments),
                ResourceKind::StatefulSet => everywhere!(self.stateful_sets),
                ResourceKind::DaemonSet => everywhere!(self.daemon_sets),
                ResourceKind::CronJob => everywhere!(self.cron_jobs),
                ResourceKind::Job => everywhere!(self.jobs),
                ResourceKind::Pod => everywhere!(self.pods),
                ResourceKind::Service => everywhere!(self.services),
                ResourceKind::ServiceAccount => everywhere!(self.service_accounts),
                ResourceKind::NetworkPolicy => everywhere!(self.network_policies),
                ResourceKind::Ingress => everywhere!(self.ingresses),
                ResourceKind::PodDisruptionBudget => everywhere!(self.pod_disruption_budgets),
                ResourceKind::ControlException => everywhere!(self.control_exceptions),
                ResourceKind::AccessReview => everywhere!(self.access_reviews),
                ResourceKind::AccessReviewDecision => everywhere!(self.access_review_decisions),
            }
        }
    }

    /// Waits, up to `timeout` in all, until the stores for `reads` have completed their initial list (or failed).
    pub async fn wait_synced(&self, reads: &Reads, timeout: Duration) {
        let all = async {
            for gvk in reads.dynamic_only() {
                self.dynamic.wait(gvk).await;
            }
            for kind in &reads.kinds {
                match kind {
                    ResourceKind::Namespace => self.namespaces.wait().await,
                    ResourceKind::Node => self.nodes.wait().await,
                    ResourceKind::ControlPlanePod => self.control_plane_pods.wait().await,
                    ResourceKind::ServiceAccountTokenSecret => {
                        self.service_account_token_secrets.wait().await
                    }
                    ResourceKind::Role => self.roles.wait().await,
                    ResourceKind::ClusterRole => self.cluster_roles.wait().await,
                    ResourceKind::RoleBinding => self.role_bindings.wait().await,
                    ResourceKind::ClusterRoleBinding => self.cluster_role_bindings.wait().await,
                    ResourceKind::Deployment => self.deployments.wait().await,
                    ResourceKind::StatefulSet => self.stateful_sets.wait().await,
                    ResourceKind::DaemonSet => self.daemon_sets.wait().await,
                    ResourceKind::CronJob => self.cron_jobs.wait().await,
                    ResourceKind::Job => self.jobs.wait().await,
                    ResourceKind::Pod => self.pods.wait().await,
                    ResourceKind::Service => self.services.wait().await,
                    ResourceKind::ServiceAccount => self.service_accounts.wait().await,
                    ResourceKind::NetworkPolicy => self.network_policies.wait().await,
                    ResourceKind::Ingress => self.ingresses.wait().await,
                    ResourceKind::PodDisruptionBudget => self.pod_disruption_budgets.wait().await,
                    ResourceKind::ControlException => self.control_exceptions.wait().await,
                    ResourceKind::AccessReview => self.access_reviews.wait().await,
                    ResourceKind::AccessReviewDecision => self.access_review_decisions.wait().await,
                }
            }
        };
        let _ = tokio::time::timeout(timeout, all).await;
    }

    /// A snapshot of `reads`; kinds not synced are listed as unavailable with the reason. GVKs with a typed store
    /// are served from it (see [`ClusterSnapshot::serve_typed_as_dynamic`]).
    pub fn snapshot(&self, reads: &Reads) -> ClusterSnapshot {
        let mut s = ClusterSnapshot::default();
        for gvk in reads.dynamic_only() {
            match self.dynamic.snapshot(gvk) {
                Ok(objects) => {
                    s.dynamic.insert(gvk.clone(), objects);
                }
                Err(reason) => {
                    s.dynamic_unavailable.insert(gvk.clone(), reason);
                }
            }
        }
        let u = &mut s.unavailable;
        for kind in &reads.kinds {
            match kind {
                ResourceKind::Namespace => s.namespaces = self.namespaces.snapshot(*kind, u),
                ResourceKind::Node => s.nodes = self.nodes.snapshot(*kind, u),
                ResourceKind::ControlPlanePod => {
                    s.control_plane_pods = self.control_plane_pods.snapshot(*kind, u)
                }
                ResourceKind::ServiceAccountTokenSecret => {
                    s.service_account_token_secrets =
                        self.service_account_token_secrets.snapshot(*kind, u)
                }
                ResourceKind::Role => s.roles = self.roles.snapshot(*kind, u),
                ResourceKind::ClusterRole => {
                    s.cluster_roles = self.cluster_roles.snapshot(*kind, u)
                }
                ResourceKind::RoleBinding => {
                    s.role_bindings = self.role_bindings.snapshot(*kind, u)
                }
                ResourceKind::ClusterRoleBinding => {
                    s.cluster_role_bindings = self.cluster_role_bindings.snapshot(*kind, u)
                }
                ResourceKind::Deployment => s.deployments = self.deployments.snapshot(*kind, u),
                ResourceKind::StatefulSet => {
                    s.stateful_sets = self.stateful_sets.snapshot(*kind, u)
                }
                ResourceKind::DaemonSet => s.daemon_sets = self.daemon_sets.snapshot(*kind, u),
                ResourceKind::CronJob => s.cron_jobs = self.cron_jobs.snapshot(*kind, u),
                ResourceKind::Job => s.jobs = self.jobs.snapshot(*kind, u),
                ResourceKind::Pod => s.pods = self.pods.snapshot(*kind, u),
                ResourceKind::Service => s.services = self.services.snapshot(*kind, u),
                ResourceKind::ServiceAccount => {
                    s.service_accounts = self.service_accounts.snapshot(*kind, u)
                }
                ResourceKind::NetworkPolicy => {
                    s.network_policies = self.network_policies.snapshot(*kind, u)
                }
                ResourceKind::Ingress => s.ingresses = self.ingresses.snapshot(*kind, u),
                ResourceKind::PodDisruptionBudget => {
                    s.pod_disruption_budgets = self.pod_disruption_budgets.snapshot(*kind, u)
                }
                ResourceKind::ControlException => {
                    s.control_exceptions = self.control_exceptions.snapshot(*kind, u)
                }
                ResourceKind::AccessReview => {
                    s.access_reviews = self.access_reviews.snapshot(*kind, u)
                }
                ResourceKind::AccessReviewDecision => {
                    s.access_review_decisions = self.access_review_decisions.snapshot(*kind, u)
                }
            }
        }
        s.serve_typed_as_dynamic(&reads.gvks);
        s.exception_policy = self.exception_policy.clone();
        s
    }

    /// Feeds every kind from `snapshot` as if each watch had synced with exactly these objects.
    /// For tests and offline tools: kinds loaded this way are never watched.
    pub fn load_snapshot(&self, snapshot: &ClusterSnapshot) {
        // Projected as a watch would: what the stores hold is the same whichever way it was fed.
        fn owned<K: Clone + Project>(v: &[Arc<K>]) -> Vec<K> {
            v.iter()
                .map(|o| {
                    let mut o = o.as_ref().clone();
                    o.project();
                    o
                })
                .collect()
        }
        self.namespaces.load(owned(&snapshot.namespaces));
        self.nodes.load(owned(&snapshot.nodes));
        self.control_plane_pods
            .load(owned(&snapshot.control_plane_pods));
        self.service_account_token_secrets
            .load(owned(&snapshot.service_account_token_secrets));
        self.roles.load(owned(&snapshot.roles));
        self.cluster_roles.load(owned(&snapshot.cluster_roles));
        self.role_bindings.load(owned(&snapshot.role_bindings));
        self.cluster_role_bindings
            .load(owned(&snapshot.cluster_role_bindings));
        self.deployments.load(owned(&snapshot.deployments));
        self.stateful_sets.load(owned(&snapshot.stateful_sets));
        self.daemon_sets.load(owned(&snapshot.daemon_sets));
        self.cron_jobs.load(owned(&snapshot.cron_jobs));
        self.jobs.load(owned(&snapshot.jobs));
        self.pods.load(owned(&snapshot.pods));
        self.services.load(owned(&snapshot.services));
        self.service_accounts
            .load(owned(&snapshot.service_accounts));
        self.network_policies
            .load(owned(&snapshot.network_policies));
        self.ingresses.load(owned(&snapshot.ingresses));
        self.pod_disruption_budgets
            .load(owned(&snapshot.pod_disruption_budgets));
        for (gvk, objects) in &snapshot.dynamic {
            if gvk.typed_kind().is_none() {
                self.dynamic.load(gvk, objects);
            }
        }
        for (gvk, reason) in &snapshot.dynamic_unavailable {
            self.dynamic.load_unavailable(gvk, reason);
        }
        self.control_exceptions
            .load(owned(&snapshot.control_exceptions));
        self.access_reviews.load(owned(&snapshot.access_reviews));
        self.access_review_decisions
            .load(owned(&snapshot.access_review_decisions));
    }

    /// How this view judges ControlExceptions.
    pub fn exception_policy(&self) -> &ExceptionPolicy {
        &self.exception_policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrent_waiters_all_wake_when_the_kind_syncs() {
        let (view, _changes) = LiveView::new(None);
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let v = view.clone();
                tokio::spawn(async move {
                    v.wait_synced(
                        &Reads::kinds(&[ResourceKind::Deployment, ResourceKind::Namespace]),
                        Duration::from_secs(60),
                    )
                    .await
                })
            })
            .collect();
        tokio::task::yield_now().await;
        view.load_snapshot(&ClusterSnapshot::default());
        for w in waiters {
            tokio::time::timeout(Duration::from_secs(5), w)
                .await
                .expect("every waiter wakes at once")
                .expect("no panic");
        }
    }

    #[tokio::test]
    async fn kinds_not_synced_are_reported_unavailable_with_the_reason() {
        let (view, _changes) = LiveView::new(None);
        let s = view.snapshot(&Reads::kinds(&[ResourceKind::RoleBinding]));
        assert_eq!(
            s.unavailable
                .get(&ResourceKind::RoleBinding)
                .map(String::as_str),
            Some("not watched")
        );
        view.load_snapshot(&ClusterSnapshot::default());
        assert!(
            view.snapshot(&Reads::kinds(&[ResourceKind::RoleBinding]))
                .unavailable
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_failed_watch_is_not_waited_for() {
        let (view, _changes) = LiveView::new(None);
        view.role_bindings
            .state
            .send_replace(WatchState::Failed("forbidden".into()));
        tokio::time::timeout(
            Duration::from_secs(5),
            view.wait_synced(
                &Reads::kinds(&[ResourceKind::RoleBinding]),
                Duration::from_secs(60),
            ),
        )
        .await
        .expect("returns at once");
        let s = view.snapshot(&Reads::kinds(&[ResourceKind::RoleBinding]));
        assert!(s.unavailable[&ResourceKind::RoleBinding].contains("forbidden"));
    }

    #[tokio::test]
    async fn dynamic_kinds_are_served_by_gvk_and_typed_ones_from_their_stores() {
        let (view, _changes) = LiveView::new(None);
        let config_map = Gvk::new("", "v1", "ConfigMap");
        let rule = Gvk::new("monitoring.coreos.com", "v1", "PrometheusRule");
        let service = Gvk::new("", "v1", "Service");
        let mut s = ClusterSnapshot::default();
        let cm: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}
        }))
        .unwrap();
        s.dynamic.insert(config_map.clone(), vec![Arc::new(cm)]);
        s.dynamic_unavailable.insert(
            rule.clone(),
            "the CRD monitoring.coreos.com/v1 PrometheusRule is not installed".into(),
        );
        s.services = vec![Arc::new(Service {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("web".into()),
                namespace: Some("a".into()),
                ..Default::default()
            },
            ..Default::default()
        })];
        view.load_snapshot(&s);
        let reads = Reads::new(
            vec![ResourceKind::Namespace],
            vec![config_map.clone(), rule.clone(), service.clone()],
        );
        view.wait_synced(&reads, Duration::from_secs(5)).await;
        let got = view.snapshot(&reads);
        assert_eq!(got.dynamic(&config_map).unwrap().len(), 1);
        assert!(got.dynamic(&rule).unwrap_err().contains("not installed"));
        let d = got.dynamic(&service).unwrap();
        assert_eq!(d[0].metadata.name.as_deref(), Some("web"));
        assert_eq!(got.services.len(), 1, "the typed kind is read as well");
        // Pods and workloads read by GVK come whole from their own stores, never from the trimmed typed ones.
        let (view, _changes) = LiveView::new(None);
        let mut s = ClusterSnapshot::default();
        let mut gvks = Vec::new();
        for (api_version, kind, spec) in [
            (
                "v1",
                "Pod",
                serde_json::json!({"containers": [{"name": "app", "image": "app:1"}]}),
            ),
            (
                "apps/v1",
                "Deployment",
                serde_json::json!({"selector": {}, "template": {"spec":
                {"containers": [{"name": "app", "image": "app:1"}]}}}),
            ),
            (
                "batch/v1",
                "CronJob",
                serde_json::json!({"schedule": "@daily", "jobTemplate": {"spec":
                {"template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}}}),
            ),
        ] {
            let gvk = Gvk::from_api_version(api_version, kind);
            let whole: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
                "apiVersion": api_version, "kind": kind, "metadata": {"name": "web-1", "namespace": "a"},
                "spec": spec, "status": {"x": 1}
            }))
            .unwrap();
            s.dynamic.insert(gvk.clone(), vec![Arc::new(whole)]);
            gvks.push(gvk);
        }
        let named = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("web-1".into()),
            namespace: Some("a".into()),
            ..Default::default()
        };
        s.pods = vec![Arc::new(crate::view::stored::Pod {
            metadata: named.clone(),
            spec: None,
        })];
        s.deployments = vec![Arc::new(Deployment {
            metadata: named,
            spec: None,
        })];
        view.load_snapshot(&s);
        let got = view.snapshot(&Reads::new(vec![], gvks.clone()));
        for gvk in &gvks {
            let whole = &got.dynamic(gvk).unwrap()[0].data;
            assert_eq!(whole["status"]["x"], 1, "{gvk}");
            assert!(whole["spec"].to_string().contains("app:1"), "{gvk}");
        }
        assert!(
            got.pods.is_empty() && got.deployments.is_empty(),
            "a CEL read of Pods or workloads needs no typed watch"
        );
        // A GVK nobody loaded or watched is unavailable, not empty.
        let other = Gvk::new("", "v1", "LimitRange");
        let got = view.snapshot(&Reads::new(vec![], vec![other.clone()]));
        assert!(got.dynamic(&other).unwrap_err().contains("not watched"));
    }
}
