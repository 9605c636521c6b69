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
                    follow(&seen, &event);
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

    /// The reflector store itself (for a controller that wants to read it too).
    pub fn store(&self) -> &Store<DeserializeGuard<AccessReview>> {
        &self.store
    }
}

/// Follows the watch (the reflector has applied `event` already): synced from the first complete list on, and an
/// unreadable review said once per change.
fn follow(
    synced: &AtomicBool,
    event: &Result<watcher::Event<DeserializeGuard<AccessReview>>, watcher::Error>,
) {
    match event {
        // The store swaps in a complete list at InitDone (also after a re-list): from then on it holds every
        // review, if possibly a few seconds old.
        Ok(watcher::Event::InitDone) => synced.store(true, Ordering::Release),
        Ok(watcher::Event::Apply(r) | watcher::Event::InitApply(r)) => {
            if let Err(error) = &r.0 {
                tracing::warn!(%error, "an AccessReview cannot be read; it is ignored");
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(name: &str) -> DeserializeGuard<AccessReview> {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "soc2.dev/v1alpha1", "kind": "AccessReview",
            "metadata": {"name": name},
            "spec": {"schedule": {"interval": "2160h"}, "dueWithin": "336h",
                     "reviewers": {"users": ["alice"]}},
        }))
        .expect("guarded review")
    }

    #[test]
    fn no_reviews_until_the_first_list_is_complete_and_unreadable_ones_are_left_out() {
        let (store, mut writer) = reflector::store();
        let reviews = AccessReviewStore {
            store,
            synced: Arc::new(AtomicBool::new(false)),
        };
        let unreadable: DeserializeGuard<AccessReview> =
            serde_json::from_value(serde_json::json!({
                "apiVersion": "soc2.dev/v1alpha1", "kind": "AccessReview",
                "metadata": {"name": "broken"}, "spec": {"reviewers": "everyone"},
            }))
            .expect("the guard keeps the error");
        assert!(unreadable.0.is_err());
        for event in [
            watcher::Event::Init,
            watcher::Event::InitApply(review("privileged")),
            watcher::Event::InitApply(unreadable),
        ] {
            writer.apply_watcher_event(&event);
            follow(&reviews.synced, &Ok(event));
            assert!(
                reviews.reviews().is_none(),
                "not synced during the first list"
            );
        }
        let done = watcher::Event::InitDone;
        writer.apply_watcher_event(&done);
        follow(&reviews.synced, &Ok(done));
        let names: Vec<Option<String>> = reviews
            .reviews()
            .expect("synced")
            .iter()
            .map(|r| r.metadata.name.clone())
            .collect();
        assert_eq!(names, [Some("privileged".to_string())]);
    }
}
