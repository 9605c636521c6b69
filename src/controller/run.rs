//! Wiring: preflight, the Control watch, cluster triggers, graceful shutdown.

use std::sync::Arc;

use futures::StreamExt;
use kube::api::ListParams;
use kube::runtime::{Controller, WatchStreamExt, predicates, reflector, watcher};
use kube::{Api, Client};
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::{Context, Error, affected_controls, error_policy, reconcile};
use crate::api::Control;
use crate::view::live::LiveView;

/// Runtime settings of the operator.
#[derive(Clone, Debug, Default)]
pub struct OperatorConfig {
    /// This replica's name in events (the pod name in a cluster).
    pub instance: Option<String>,
}

/// Checks that the Control CRD is served; says how to install it otherwise.
async fn preflight(client: &Client) -> Result<(), Error> {
    let controls: Api<Control> = Api::all(client.clone());
    match controls
        .list_metadata(&ListParams::default().limit(1))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(Error::CrdMissing),
        Err(e) => Err(Error::Kube(e)),
    }
}

/// Runs the controller until SIGTERM or Ctrl-C.
pub async fn run(client: Client, config: OperatorConfig) -> Result<(), Error> {
    preflight(&client).await?;
    let (view, changes) = LiveView::new(Some(client.clone()));
    let ctx = Arc::new(Context::new(client.clone(), view, config.instance));

    // Reconcile on spec changes only: our own status writes must not trigger another evaluation.
    let controls: Api<Control> = Api::all(client);
    let (reader, writer) = reflector::store();
    let control_stream = watcher(controls, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    let trigger_store = reader.clone();
    let triggers = UnboundedReceiverStream::new(changes)
        .flat_map(move |change| futures::stream::iter(affected_controls(&trigger_store, &change)));

    tracing::info!("soc2-operator started");
    Controller::for_stream(control_stream, reader)
        .reconcile_on(triggers)
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => tracing::debug!(control = %obj.name, "reconciled"),
                Err(error) => tracing::debug!(%error, "reconcile loop error"),
            }
        })
        .await;
    tracing::info!("soc2-operator stopped");
    Ok(())
}
