//! The operator's AccessReviews: one reflector store fed by one watch, for whoever needs the reviews (today the
//! admission webhook's sign-off rules: who may decide, which cycle is open). It reads; it never writes a review.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::task::JoinHandle;

use crate::api::AccessReview;
use crate::runtime::metrics::Metrics;
use crate::view::watch_retry;

/// The AccessReviews of the cluster, as the watch last listed them. Clones share the store.
///
/// `DeserializeGuard`: one review the Rust types cannot read (an older or newer CRD) must not stall the watch of the
/// others; it is left out of [`AccessReviewStore::reviews`].
#[derive(Clone)]
pub struct AccessReviewStore {
    store: Store<DeserializeGuard<AccessReview>>,
    synced: Arc<AtomicBool>,
}

impl AccessReviewStore {
    /// Starts watching every AccessReview (retried as every watch is, counted as kind `accessreviews`); returns the
    /// store and the task that fills it (abort it to stop).
    pub fn watch(client: &Client, metrics: &Arc<Metrics>) -> (Self, JoinHandle<()>) {
        let (store, writer) = reflector::store();
        let synced = Arc::new(AtomicBool::new(false));
        let seen = synced.clone();
        let api: Api<DeserializeGuard<AccessReview>> = Api::all(client.clone());
        let events = watch_retry::retried(
            watcher(api, watcher::Config::default()),
            metrics.clone(),
            "accessreviews".into(),
        )
        .reflect(writer);
        let task = tokio::spawn(async move {
            events
                .for_each(|event| {
                    match &event {
                        // The store swaps in a complete list at InitDone (also after a re-list): from then on it
                        // holds every review, if possibly a few seconds old.
                        Ok(watcher::Event::InitDone) => seen.store(true, Ordering::Release),
                        Ok(watcher::Event::Apply(r) | watcher::Event::InitApply(r)) => {
                            if let Err(error) = &r.0 {
                                tracing::warn!(%error, "an AccessReview cannot be read; it is ignored");
                            }
                        }
                        _ => {}
                    }
                    futures::future::ready(())
                })
                .await;
        });
        (AccessReviewStore { store, synced }, task)
    }

    /// Every readable AccessReview; `None` until the watch has listed them once.
    pub fn reviews(&self) -> Option<Vec<Arc<AccessReview>>> {
        if !self.synced.load(Ordering::Acquire) {
            return None;
        }
        Some(
            self.store
                .state()
                .iter()
                .filter_map(|r| r.0.as_ref().ok().cloned().map(Arc::new))
                .collect(),
        )
    }

    /// The reflector store itself (for a controller that wants to share it).
    pub fn store(&self) -> &Store<DeserializeGuard<AccessReview>> {
        &self.store
    }
}
