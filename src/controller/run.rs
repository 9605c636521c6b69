//! Wiring: admin server, preflight, leader election, the Control watch, cluster triggers, graceful shutdown.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use kube::api::ListParams;
use kube::runtime::reflector::Store;
use kube::runtime::{Controller, WatchStreamExt, predicates, reflector, watcher};
use kube::{Api, Client, ResourceExt};
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::access_review_store::AccessReviewStore;
use super::reconcile::{error_policy_guarded, reconcile_guarded};
use super::triggers::affected_guarded_controls;
use super::{Context, Error};
use super::{error_policy_exception, reconcile_exception};
use crate::api::{Control, ControlException};
use crate::engine::exceptions::ExceptionPolicy;
use crate::runtime::admin::{AdminServer, AdminState, Readiness};
use crate::runtime::leader::{LeaderElection, Leadership, LeaseConfig};
use crate::runtime::metrics::Metrics;
use crate::view::initial_list::InitialList;
use crate::view::live::LiveView;
use crate::view::watch_retry;
use crate::view::{Reads, ResourceKind};
use crate::webhook::WebhookConfig;
use crate::webhook::access_decisions::AccessReviewSource;
use crate::webhook::configuration::{Registration, keep_registered};
use crate::webhook::handler::{
    AdmissionState, ControlSource, ExceptionSource, NamespaceSource, router,
};
use crate::webhook::server::WebhookServer;
use crate::webhook::tls::ServingCertificate;
use kube::core::DeserializeGuard;

/// How long stopping waits for open admin requests to finish.
const ADMIN_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The default admin address: every interface, port 8080.
pub const DEFAULT_ADMIN_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080);

/// Runtime settings of the operator.
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// This replica's name in events (the pod name in a cluster).
    pub instance: Option<String>,
    /// Where `/healthz`, `/readyz` and `/metrics` are served.
    pub admin_addr: SocketAddr,
    /// The Lease to compete for; `None` turns leader election off (this replica always writes).
    pub leader_election: Option<LeaseConfig>,
    /// Also publish results as wg-policy PolicyReports / ClusterPolicyReports.
    pub policy_reports: bool,
    /// How ControlExceptions are judged: the operator's namespace (cluster-wide exceptions) and maximum lifetime.
    pub exception_policy: ExceptionPolicy,
    /// Run the admission webhook (Warn and Enforce modes); `None` leaves every control audited only.
    pub webhook: Option<crate::webhook::WebhookConfig>,
    /// Take evidence snapshots for EvidenceStores, reading their Secrets from this namespace; `None` turns
    /// evidence off.
    pub evidence_namespace: Option<String>,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            instance: None,
            admin_addr: DEFAULT_ADMIN_ADDR,
            leader_election: None,
            policy_reports: false,
            exception_policy: ExceptionPolicy::default(),
            webhook: None,
            evidence_namespace: None,
        }
    }
}

/// Checks that the Control and ControlException CRDs are served; says how to install them otherwise.
async fn preflight(client: &Client) -> Result<(), Error> {
    let controls: Api<Control> = Api::all(client.clone());
    match controls
        .list_metadata(&ListParams::default().limit(1))
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Err(Error::CrdMissing),
        Err(e) => return Err(Error::Kube(e)),
    }
    // Without it no exception could be read or reported, and every control would wait on its watch.
    let exceptions: Api<ControlException> = Api::all(client.clone());
    match exceptions
        .list_metadata(&ListParams::default().limit(1))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(Error::ExceptionCrdMissing),
        Err(e) => Err(Error::Kube(e)),
    }
}

/// Follows the Control watch (the reflector has applied `event` already): marks the replica ready once the initial
/// list is complete, and drops the gauge series (and the remembered evaluation) of controls that are gone, one by one on deletion and all missing
/// ones after a re-list (deletions while the watch was down are not reported individually).
///
/// Readiness is taken from the event rather than `Store::wait_until_ready`: the controller already waits on that
/// store, and a second waiter is not reliably woken.
fn follow_controls<K>(
    metrics: &Metrics,
    evaluators: &crate::engine::incremental::Evaluators,
    written: &super::WrittenStatuses,
    readiness: &Readiness,
    controls: &Store<K>,
    event: &Result<watcher::Event<K>, watcher::Error>,
) where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    match event {
        Ok(watcher::Event::Delete(control)) => {
            metrics.forget_control(&control.name_any());
            evaluators.forget(&control.name_any());
            written.forget(&control.name_any());
        }
        Ok(watcher::Event::InitDone) => {
            let names: BTreeSet<String> = controls.state().iter().map(|c| c.name_any()).collect();
            metrics.retain_controls(&names);
            evaluators.retain(&names);
            if !readiness.is_synced() {
                readiness.mark_synced();
                tracing::info!(controls = names.len(), "controls synced; ready");
            }
        }
        _ => {}
    }
}

/// What stops the operator besides a signal.
type Stop = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

/// Runs the controller until SIGTERM or Ctrl-C (a second signal forces the stop), then stops reconciling, releases
/// the Lease and stops the admin server, in that order.
///
/// A boxed future rather than an `async fn`: the body of an `async fn` is compiled again in every crate that awaits
/// it, so the binary compiled the operator's whole state machine a second time (a fifth of a release build).
pub fn run(client: Client, config: OperatorConfig) -> BoxFuture<'static, Result<(), Error>> {
    Box::pin(run_with(
        client,
        config,
        true,
        Box::pin(std::future::pending()),
    ))
}

/// Like [`run`], but stops when `stop` resolves instead of on a signal (for tests and embedding).
pub fn run_until(
    client: Client,
    config: OperatorConfig,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
) -> BoxFuture<'static, Result<(), Error>> {
    Box::pin(run_with(client, config, false, Box::pin(stop)))
}

async fn run_with(
    client: Client,
    config: OperatorConfig,
    on_signal: bool,
    stop: Stop,
) -> Result<(), Error> {
    let shared = AdminState {
        metrics: Arc::new(Metrics::new()),
        readiness: Readiness::default(),
        leadership: match config.leader_election {
            Some(_) => Leadership::standby(),
            None => Leadership::always(),
        },
    };
    shared.metrics.set_leader(shared.leadership.is_leader());
    // Listen first, so that liveness answers while the preflight and the first list run.
    let admin = AdminServer::start(config.admin_addr, shared.clone())
        .await
        .map_err(|source| Error::AdminBind {
            addr: config.admin_addr,
            source,
        })?;
    let result = run_controller(client, config, on_signal, stop, shared).await;
    tokio::time::timeout(ADMIN_STOP_TIMEOUT, admin.stop())
        .await
        .unwrap_or_else(|_| tracing::warn!("the admin server did not stop in time"));
    tracing::info!("soc2-operator stopped");
    result
}

/// Preflight, leader election and the controller, until `stop` (or a signal); then steps down and releases the
/// Lease.
async fn run_controller(
    client: Client,
    config: OperatorConfig,
    on_signal: bool,
    stop: Stop,
    shared: AdminState,
) -> Result<(), Error> {
    let AdminState {
        metrics,
        readiness,
        leadership,
    } = shared;
    preflight(&client).await?;
    let mut election = match &config.leader_election {
        Some(lease) => Some(
            LeaderElection::start(client.clone(), lease, leadership.clone(), metrics.clone())
                .await?,
        ),
        None => None,
    };

    let (view, changes) = LiveView::with_exception_policy(
        Some(client.clone()),
        config.exception_policy.clone(),
        metrics.clone(),
    );
    let initial_list = InitialList::detect(&client).await;
    tracing::info!(
        initial_list = initial_list.as_str(),
        "the watches fill their caches by {} lists",
        initial_list.as_str()
    );
    metrics.set_streaming_lists(initial_list == InitialList::Streaming);
    view.use_initial_list(initial_list);
    let mut ctx = Context::new(client.clone(), view.clone(), config.instance.clone())
        .with_metrics(metrics.clone())
        .with_leadership(leadership.clone());
    if config.policy_reports {
        ctx = ctx.with_policy_reports();
    }

    let (reader, writer) = reflector::store();
    let (registration_changes, registrations) = tokio::sync::mpsc::unbounded_channel::<()>();
    let webhook = match &config.webhook {
        Some(wh) => {
            let registration = Registration::default();
            ctx = ctx.with_webhook(registration.clone());
            // AccessReviews: who may sign a decision and which cycle is open.
            let (access_reviews, watching_reviews) = AccessReviewStore::watch(&client, &metrics);
            let (server, registering) = start_webhook(
                wh,
                &client,
                &view,
                &reader,
                access_reviews,
                &metrics,
                &leadership,
                registration,
                registration_changes,
            )
            .await?;
            Some((server, registering, watching_reviews))
        }
        None => None,
    };
    let ctx = Arc::new(ctx);

    // Reconcile on spec changes only: our own status writes must not trigger another evaluation.
    // DeserializeGuard: one Control the Rust types cannot read (an older or newer CRD) must not stall the watch of
    // all the others; it is reported on its own status instead.
    let controls: Api<DeserializeGuard<Control>> = Api::all(client.clone());
    let followed = reader.clone();
    let control_metrics = metrics.clone();
    let evaluators = ctx.evaluators.clone();
    let written = ctx.written.clone();
    let control_stream = watch_retry::retried(
        watcher(controls, watcher::Config::default()),
        metrics.clone(),
        "controls".into(),
    )
    .reflect(writer)
    .inspect(move |event| {
        follow_controls(
            &control_metrics,
            &evaluators,
            &written,
            &readiness,
            &followed,
            event,
        )
    })
    .applied_objects()
    .predicate_filter(predicates::generation, Default::default());
    let trigger_store = reader.clone();
    let triggers = UnboundedReceiverStream::new(changes).flat_map(move |change| {
        futures::stream::iter(affected_guarded_controls(&trigger_store, &change))
    });

    let cycle_records = Arc::new(super::access_reviews::records::CycleRecords::default());
    let evidence = config.evidence_namespace.clone().map(|namespace| {
        tokio::spawn(super::evidence::run_evidence_stores(Arc::new(
            super::evidence::EvidenceContext {
                client: ctx.client.clone(),
                view: ctx.view.clone(),
                ledger: ctx.ledger.clone(),
                leadership: leadership.clone(),
                metrics: metrics.clone(),
                recorder: ctx.recorder.clone(),
                namespace,
                controls: reader.clone(),
                sync_timeout: ctx.sync_timeout,
                access_reviews: cycle_records.clone(),
            },
        )))
    });
    let access_reviews =
        start_access_reviews(&ctx, &leadership, &metrics, &config, cycle_records).await;

    let mut controller = Controller::for_stream(control_stream, reader)
        // The Controller backs off its whole queue after an error of any trigger stream, view changes included;
        // its default (client-go's, up to 30 s) would hold every evaluation that long after an API server restart.
        // The one stream that errs, the Controls watch, is retried already: another delay here would double it.
        .trigger_backoff(watch_retry::already_retried())
        .reconcile_on(triggers)
        // A new leader re-evaluates every control at once: the previous leader may have left work undone.
        .reconcile_all_on(leadership.acquired())
        // The webhook configuration changed which controls it covers: their AdmissionEnforced condition follows.
        .reconcile_all_on(UnboundedReceiverStream::new(registrations))
        .graceful_shutdown_on(stop);
    if on_signal {
        controller = controller.shutdown_on_signal();
    }
    if let Some(election) = election.as_mut() {
        controller = controller.graceful_shutdown_on(election.failed());
    }

    tracing::info!(
        admin = %config.admin_addr,
        leader_election = election.is_some(),
        "soc2-operator started"
    );
    // ControlException status has its own small controller; it stops with the Control controller.
    let exceptions = Controller::new(
        Api::<ControlException>::all(client),
        watcher::Config::default(),
    )
    .trigger_backoff(watch_retry::backoff())
    .run(reconcile_exception, error_policy_exception, ctx.clone())
    .for_each(|result| async move {
        match result {
            Ok((obj, _)) => tracing::debug!(exception = %obj.name, "reconciled"),
            Err(error) => tracing::debug!(%error, "exception reconcile loop error"),
        }
    });
    let controls = controller
        .run(reconcile_guarded, error_policy_guarded, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => tracing::debug!(control = %obj.name, "reconciled"),
                Err(error) => tracing::debug!(%error, "reconcile loop error"),
            }
        });
    futures::pin_mut!(controls, exceptions);
    if let futures::future::Either::Left(((), controls)) =
        futures::future::select(exceptions, controls).await
    {
        tracing::error!("the ControlException controller stopped; Controls are still reconciled");
        controls.await;
    }

    if let Some((server, registering, watching_reviews)) = webhook {
        registering.abort();
        watching_reviews.abort();
        server.stop().await;
    }
    if let Some(task) = evidence {
        task.abort();
    }
    if let Some(task) = access_reviews {
        task.abort();
    }
    // Reconciles have finished: step down and release the Lease, so that it is free for the next leader (a
    // standby takes it when it next looks, within one lease duration; a new replica at once).
    if let Some(election) = election {
        let ended = election.has_ended();
        election.stop().await;
        if ended {
            return Err(Error::LeaderElectionEnded);
        }
    }
    Ok(())
}

/// Starts the access review controller, unless the AccessReview CRDs are not installed (an upgrade that kept the
/// older CRDs): the rest of the operator runs without it, and the log says how to install them.
async fn start_access_reviews(
    ctx: &Context,
    leadership: &Leadership,
    metrics: &Arc<Metrics>,
    config: &OperatorConfig,
    records: Arc<super::access_reviews::records::CycleRecords>,
) -> Option<tokio::task::JoinHandle<()>> {
    let probe: Api<crate::api::AccessReview> = Api::all(ctx.client.clone());
    if let Err(e) = probe.list_metadata(&ListParams::default().limit(1)).await {
        tracing::warn!(
            error = %e,
            "access reviews are off: the accessreviews.soc2.dev CRD cannot be listed; apply crds/ (kubectl apply \
             --server-side -f crds/) and restart the operator"
        );
        return None;
    }
    let (reviews, review_writer) = reflector::store();
    let (decisions, decision_writer) = reflector::store();
    let access = Arc::new(super::access_reviews::AccessReviewContext {
        client: ctx.client.clone(),
        view: ctx.view.clone(),
        leadership: leadership.clone(),
        metrics: metrics.clone(),
        recorder: ctx.recorder.clone(),
        evidence_namespace: config.evidence_namespace.clone(),
        reviews,
        decisions,
        populations: Default::default(),
        records,
        sync_timeout: ctx.sync_timeout,
    });
    Some(tokio::spawn(super::access_reviews::run(
        access,
        review_writer,
        decision_writer,
        std::future::pending(),
    )))
}

/// Starts the admission webhook: certificate, HTTPS server, and the task that keeps the configuration in sync
/// (it writes only while this replica leads).
#[allow(clippy::too_many_arguments)]
async fn start_webhook(
    config: &WebhookConfig,
    client: &Client,
    view: &Arc<LiveView>,
    controls: &Store<DeserializeGuard<Control>>,
    access_reviews: AccessReviewStore,
    metrics: &Arc<Metrics>,
    leadership: &Leadership,
    registration: Registration,
    changed: tokio::sync::mpsc::UnboundedSender<()>,
) -> Result<(WebhookServer, tokio::task::JoinHandle<()>), Error> {
    // Namespace labels decide namespaceSelector scopes at admission.
    view.ensure(&Reads::kinds(&[
        ResourceKind::Namespace,
        ResourceKind::ControlException,
    ]));
    let store = controls.clone();
    let control_source: ControlSource = Arc::new(move || {
        store
            .state()
            .iter()
            .filter_map(|c| c.0.as_ref().ok().cloned().map(Arc::new))
            .collect()
    });
    let namespace_view = view.clone();
    let namespaces: NamespaceSource = Arc::new(move || {
        let s = namespace_view.snapshot(&Reads::kinds(&[ResourceKind::Namespace]));
        s.unavailable.is_empty().then_some(s.namespaces)
    });
    let certificate = ServingCertificate::start(config.certificate.clone())
        .map_err(|e| Error::Webhook(e.to_string()))?;
    let exception_view = view.clone();
    let exceptions: ExceptionSource = Arc::new(move || {
        let s = exception_view.snapshot(&Reads::kinds(&[ResourceKind::ControlException]));
        (s.control_exceptions, s.exception_policy)
    });
    let access_reviews: AccessReviewSource = Arc::new(move || access_reviews.reviews());
    let state = AdmissionState {
        controls: control_source.clone(),
        namespaces,
        exceptions: Some(exceptions),
        access_reviews,
        metrics: metrics.clone(),
    };
    let server = WebhookServer::start(config.addr, certificate.server_config(), router(state))
        .await
        .map_err(|e| {
            Error::Webhook(format!(
                "cannot listen on {} (--webhook-addr): {e}",
                config.addr
            ))
        })?;
    let registering = tokio::spawn(keep_registered(
        client.clone(),
        config.settings.clone(),
        control_source,
        certificate.ca_bundle.clone(),
        leadership.clone(),
        registration,
        changed,
    ));
    Ok((server, registering))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Criterion;
    use crate::engine::evaluate::Compliance;

    fn control(name: &str) -> Control {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "soc2.dev/v1alpha1",
            "kind": "Control",
            "metadata": {"name": name},
            "spec": {
                "criteria": ["CC8.1"],
                "category": "Security",
                "title": "Changes are approved",
                "check": {"changeApproval": {}},
            },
        }))
        .expect("valid Control")
    }

    fn has_verdict(metrics: &Metrics, name: &str) -> bool {
        metrics
            .encode()
            .expect("encode")
            .contains(&format!("control=\"{name}\""))
    }

    /// Applies `event` to the store as the reflector does, then lets `follow_controls` see it.
    fn deliver(
        writer: &mut reflector::store::Writer<Control>,
        store: &Store<Control>,
        metrics: &Metrics,
        readiness: &Readiness,
        event: watcher::Event<Control>,
    ) {
        writer.apply_watcher_event(&event);
        follow_controls(
            metrics,
            &crate::engine::incremental::Evaluators::default(),
            &super::super::WrittenStatuses::default(),
            readiness,
            store,
            &Ok(event),
        );
    }

    #[test]
    fn ready_after_the_initial_list_and_verdicts_of_deleted_controls_are_dropped() {
        let (store, mut writer) = reflector::store::<Control>();
        let metrics = Metrics::new();
        let readiness = Readiness::default();
        for name in ["kept", "deleted", "gone-while-down"] {
            metrics.set_compliance(
                name,
                &[Criterion("CC8.1".into())],
                Some(Compliance::Compliant),
            );
        }

        deliver(
            &mut writer,
            &store,
            &metrics,
            &readiness,
            watcher::Event::Init,
        );
        for name in ["kept", "deleted", "gone-while-down"] {
            deliver(
                &mut writer,
                &store,
                &metrics,
                &readiness,
                watcher::Event::InitApply(control(name)),
            );
        }
        assert!(!readiness.is_synced(), "not ready during the initial list");
        deliver(
            &mut writer,
            &store,
            &metrics,
            &readiness,
            watcher::Event::InitDone,
        );
        assert!(readiness.is_synced());

        deliver(
            &mut writer,
            &store,
            &metrics,
            &readiness,
            watcher::Event::Delete(control("deleted")),
        );
        assert!(!has_verdict(&metrics, "deleted"));
        assert!(has_verdict(&metrics, "kept"));

        // The watch restarts; "gone-while-down" was deleted meanwhile and is simply absent from the re-list.
        deliver(
            &mut writer,
            &store,
            &metrics,
            &readiness,
            watcher::Event::Init,
        );
        deliver(
            &mut writer,
            &store,
            &metrics,
            &readiness,
            watcher::Event::InitApply(control("kept")),
        );
        deliver(
            &mut writer,
            &store,
            &metrics,
            &readiness,
            watcher::Event::InitDone,
        );
        assert!(has_verdict(&metrics, "kept"));
        assert!(!has_verdict(&metrics, "gone-while-down"));
        assert!(
            readiness.is_synced(),
            "a re-list does not make the replica unready"
        );
    }
}
