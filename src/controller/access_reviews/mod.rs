//! The access review controller: opens a cycle per schedule tick, keeps its population in the evidence store,
//! counts the reviewers' decisions into the AccessReview's status and the decisions' own, and hands each cycle's
//! record to the snapshot loops (leader only, like every write).
//!
//! - [`reconcile`]: one pass over one AccessReview.
//! - [`status`]: what the statuses say (pure).
//! - [`populations`]: populations in the store, read back by digest.
//! - [`records`]: the latest cycle records, for the snapshots.

pub mod populations;
pub mod reconcile;
pub mod records;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::core::DeserializeGuard;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Client};

use crate::api::{AccessReview, AccessReviewDecision};
use crate::runtime::leader::Leadership;
use crate::runtime::metrics::Metrics;
use crate::view::live::LiveView;
use crate::view::watch_retry;
use populations::PopulationCache;
use records::CycleRecords;

/// What the controller shares.
#[derive(Clone)]
pub struct AccessReviewContext {
    /// API client.
    pub client: Client,
    /// The cluster's RBAC, as the checks see it.
    pub view: Arc<LiveView>,
    /// Only the leader opens cycles and writes.
    pub leadership: Leadership,
    /// Metrics (watch restarts, events).
    pub metrics: Arc<Metrics>,
    /// Events.
    pub recorder: Recorder,
    /// The namespace of EvidenceStore Secrets; `None` when evidence is turned off (cycles cannot be kept then).
    pub evidence_namespace: Option<String>,
    /// The AccessReviews (guarded: one the types cannot read is reported on its own status, and the others go on).
    pub reviews: Store<DeserializeGuard<AccessReview>>,
    /// The decisions (guarded likewise; an unreadable decision counts for nothing).
    pub decisions: Store<DeserializeGuard<AccessReviewDecision>>,
    /// Populations read or written.
    pub populations: PopulationCache,
    /// The latest cycle records, for the snapshot loops.
    pub records: Arc<CycleRecords>,
    /// How long a pass waits for newly started RBAC watches.
    pub sync_timeout: Duration,
}

/// Runs the controller until `stop` resolves. `reviews` and `decisions` are filled here: pass the writers'
/// readers in the context.
pub async fn run(
    ctx: Arc<AccessReviewContext>,
    reviews: reflector::store::Writer<DeserializeGuard<AccessReview>>,
    decisions: reflector::store::Writer<DeserializeGuard<AccessReviewDecision>>,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let review_api: Api<DeserializeGuard<AccessReview>> = Api::all(ctx.client.clone());
    let decision_api: Api<DeserializeGuard<AccessReviewDecision>> = Api::all(ctx.client.clone());
    let review_stream = watch_retry::retried(
        watcher(review_api, watcher::Config::default()),
        ctx.metrics.clone(),
        "accessreviews".into(),
    )
    .reflect(reviews)
    .applied_objects();
    let decision_stream = watch_retry::retried(
        watcher(decision_api, watcher::Config::default()),
        ctx.metrics.clone(),
        "accessreviewdecisions".into(),
    )
    .reflect(decisions)
    .applied_objects();
    Controller::for_stream(review_stream, ctx.reviews.clone())
        .trigger_backoff(watch_retry::already_retried())
        .watches_stream(
            decision_stream,
            |d: DeserializeGuard<AccessReviewDecision>| {
                let review = &d.0.as_ref().ok()?.spec.access_review;
                Some(kube::runtime::reflector::ObjectRef::new(review))
            },
        )
        .reconcile_all_on(ctx.leadership.acquired())
        .graceful_shutdown_on(stop)
        .run(reconcile::reconcile_guarded, reconcile::error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "access review reconcile loop error");
            }
        })
        .await;
}
