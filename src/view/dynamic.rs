//! Watches of objects read by group/version/kind (CRDs such as PrometheusRule or Velero Schedule, or built-in
//! kinds without a typed store), started on demand through API discovery.
//!
//! A GVK the API server does not serve (CRD not installed) or that the operator may not list is reported
//! unavailable with the reason, and discovery is retried, so a CRD installed later is picked up without a restart.
//! Nothing here decides compliance.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject, TypeMeta};
use kube::runtime::reflector::{Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::{mpsc, watch};

use super::live::{Change, WatchState, Watched};
use super::{Gvk, strip_dynamic, watch_retry};
use crate::runtime::metrics::Metrics;

/// How long to wait before asking discovery again for a GVK it did not serve.
const REDISCOVERY: Duration = Duration::from_secs(60);

/// One GVK's store and the state of its watch.
struct GvkStore {
    reader: Mutex<Option<Store<DynamicObject>>>,
    state: Arc<watch::Sender<WatchState>>,
}

impl GvkStore {
    fn new(state: WatchState) -> Arc<Self> {
        Arc::new(GvkStore {
            reader: Mutex::new(None),
            state: Arc::new(watch::Sender::new(state)),
        })
    }

    fn objects(&self) -> Vec<Arc<DynamicObject>> {
        self.reader
            .lock()
            .ok()
            .and_then(|r| r.as_ref().map(Store::state))
            .unwrap_or_default()
    }
}

/// Every dynamic store, keyed by GVK.
#[derive(Default)]
pub(super) struct DynamicStores {
    stores: Mutex<BTreeMap<Gvk, Arc<GvkStore>>>,
}

/// Why a GVK cannot be read, in words a platform engineer can act on.
fn discovery_failure(gvk: &Gvk, error: &kube::Error) -> String {
    match error {
        kube::Error::Discovery(_) => not_installed(gvk),
        kube::Error::Api(status) if status.code == 404 => not_installed(gvk),
        kube::Error::Api(status) if status.code == 403 => format!(
            "the operator may not discover {gvk}: {}; grant it get on the API group's discovery endpoint",
            status.message
        ),
        other => format!("API discovery of {gvk} failed: {other}"),
    }
}

/// Why a GVK the API server does not serve is unavailable, as the live view and offline scans report it.
pub(crate) fn not_installed(gvk: &Gvk) -> String {
    if gvk.group.is_empty() || !gvk.group.contains('.') {
        format!("the API server does not serve {gvk}")
    } else {
        format!("the CRD {gvk} is not installed")
    }
}

fn watch_failure(gvk: &Gvk, resource: &ApiResource, error: &watcher::Error) -> String {
    let text = error.to_string();
    if text.contains("403") || text.to_lowercase().contains("forbidden") {
        format!(
            "the operator may not list/watch {gvk}: {text}; grant list and watch on {}.{} (chart value extraWatchRules)",
            resource.plural,
            if resource.group.is_empty() {
                "core"
            } else {
                &resource.group
            }
        )
    } else {
        format!("the watch of {gvk} failed: {text}")
    }
}

impl DynamicStores {
    fn get(&self, gvk: &Gvk) -> Option<Arc<GvkStore>> {
        self.stores.lock().ok()?.get(gvk).cloned()
    }

    /// Starts the watch of `gvk` unless it runs (or was loaded) already.
    pub(super) fn start(
        &self,
        client: &Client,
        gvk: &Gvk,
        config: watcher::Config,
        changes: &mpsc::UnboundedSender<Change>,
        metrics: &Arc<Metrics>,
    ) {
        let Ok(mut stores) = self.stores.lock() else {
            return;
        };
        if stores.contains_key(gvk) {
            return;
        }
        let store = GvkStore::new(WatchState::Syncing);
        stores.insert(gvk.clone(), store.clone());
        drop(stores);
        let (client, gvk, changes, metrics) = (
            client.clone(),
            gvk.clone(),
            changes.clone(),
            metrics.clone(),
        );
        tokio::spawn(async move {
            let resource = loop {
                match kube::discovery::pinned_kind(&client, &(&gvk).into()).await {
                    Ok((resource, _)) => break resource,
                    Err(error) => {
                        let reason = discovery_failure(&gvk, &error);
                        tracing::info!(%gvk, %reason, "kind not available; asking discovery again later");
                        store.state.send_replace(WatchState::Failed(reason));
                        // Re-evaluate the controls that read it: they now say why it is unknown.
                        if changes
                            .send(Change {
                                kind: Watched::Gvk(gvk.clone()),
                                namespace: None,
                            })
                            .is_err()
                        {
                            return;
                        }
                        tokio::time::sleep(REDISCOVERY).await;
                    }
                }
            };
            let writer = Writer::new(resource.clone());
            let cached = writer.as_reader();
            let gauge = metrics.clone();
            let gauge_kind = gvk.to_string();
            if let Ok(mut reader) = store.reader.lock() {
                *reader = Some(writer.as_reader());
            }
            let api: Api<DynamicObject> = Api::all_with(client, &resource);
            let types = TypeMeta {
                api_version: resource.api_version.clone(),
                kind: resource.kind.clone(),
            };
            let kind = gvk.to_string();
            let listed = watcher(api, config).modify(move |o: &mut DynamicObject| {
                // List items of built-in kinds may come without apiVersion/kind; CEL reads them.
                if o.types.is_none() {
                    o.types = Some(types.clone());
                }
                strip_dynamic(o);
            });
            let stream = watch_retry::retried(listed, metrics, kind).reflect(writer);
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                if matches!(
                    event,
                    Ok(watcher::Event::Apply(_)
                        | watcher::Event::Delete(_)
                        | watcher::Event::InitDone)
                ) {
                    gauge.set_watch_objects(&gauge_kind, cached.len());
                }
                let namespace = match event {
                    Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o)) => {
                        Some(o.metadata.namespace.clone())
                    }
                    Ok(watcher::Event::InitDone) => {
                        store.state.send_replace(WatchState::Synced);
                        tracing::debug!(%gvk, "watch synced");
                        Some(None)
                    }
                    Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => None,
                    Err(error) => {
                        let reason = watch_failure(&gvk, &resource, &error);
                        tracing::warn!(%gvk, %reason, "watch error; retrying with backoff");
                        store.state.send_if_modified(|s| {
                            if *s == WatchState::Synced {
                                return false;
                            }
                            *s = WatchState::Failed(reason);
                            true
                        });
                        None
                    }
                };
                if let Some(namespace) = namespace
                    && changes
                        .send(Change {
                            kind: Watched::Gvk(gvk.clone()),
                            namespace,
                        })
                        .is_err()
                {
                    break;
                }
            }
        });
    }

    /// Loads `objects` as the complete, synced content of `gvk` (tests and tools without an API server).
    pub(super) fn load(&self, gvk: &Gvk, objects: &[Arc<DynamicObject>]) {
        let Ok(mut stores) = self.stores.lock() else {
            return;
        };
        if stores.contains_key(gvk) {
            return;
        }
        let mut writer = Writer::new(ApiResource::from_gvk(&gvk.into()));
        writer.apply_watcher_event(&watcher::Event::Init);
        for o in objects {
            let mut o = o.as_ref().clone();
            strip_dynamic(&mut o);
            writer.apply_watcher_event(&watcher::Event::InitApply(o));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let store = GvkStore::new(WatchState::Synced);
        if let Ok(mut reader) = store.reader.lock() {
            *reader = Some(writer.as_reader());
        }
        stores.insert(gvk.clone(), store);
    }

    /// Marks `gvk` unavailable for `reason` (tests and tools without an API server).
    pub(super) fn load_unavailable(&self, gvk: &Gvk, reason: &str) {
        if let Ok(mut stores) = self.stores.lock() {
            stores
                .entry(gvk.clone())
                .or_insert_with(|| GvkStore::new(WatchState::Failed(reason.to_string())));
        }
    }

    /// Returns once the watch of `gvk` has synced or failed.
    pub(super) async fn wait(&self, gvk: &Gvk) {
        let Some(store) = self.get(gvk) else {
            return;
        };
        let mut rx = store.state.subscribe();
        let _ = rx
            .wait_for(|s| matches!(s, WatchState::Synced | WatchState::Failed(_)))
            .await;
    }

    /// The objects of `gvk`, or why they cannot be read.
    pub(super) fn snapshot(&self, gvk: &Gvk) -> Result<Vec<Arc<DynamicObject>>, String> {
        let Some(store) = self.get(gvk) else {
            return Err(format!("{gvk} is not watched"));
        };
        let state = store.state.borrow().clone();
        match state {
            WatchState::Synced => Ok(store.objects()),
            WatchState::NotStarted => Err(format!("{gvk} is not watched")),
            WatchState::Syncing => Err(format!(
                "the watch of {gvk} has not completed its initial list yet"
            )),
            WatchState::Failed(reason) => Err(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gvk() -> Gvk {
        Gvk::new("monitoring.coreos.com", "v1", "PrometheusRule")
    }

    #[test]
    fn missing_crds_are_named() {
        let e = kube::Error::Discovery(kube::error::DiscoveryError::MissingKind("x".into()));
        assert_eq!(
            discovery_failure(&gvk(), &e),
            "the CRD monitoring.coreos.com/v1 PrometheusRule is not installed"
        );
        assert_eq!(
            discovery_failure(&Gvk::new("", "v2", "Widget"), &e),
            "the API server does not serve v2 Widget"
        );
    }

    #[test]
    fn loaded_objects_are_stripped_and_served() {
        let stores = DynamicStores::default();
        let o: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "r", "namespace": "mon", "managedFields": [{"manager": "kubectl"}]},
            "spec": {"groups": []}
        }))
        .unwrap();
        stores.load(&gvk(), &[Arc::new(o)]);
        let got = stores.snapshot(&gvk()).unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].metadata.managed_fields.is_none());
        assert!(
            stores
                .snapshot(&Gvk::new("", "v1", "ConfigMap"))
                .unwrap_err()
                .contains("not watched")
        );
    }
}
