//! What every reconcile shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

use crate::view::live::LiveView;

/// Shared state of the controller.
#[derive(Clone)]
pub struct Context {
    /// API client.
    pub client: Client,
    /// Publishes events (deduplicated into series by the recorder).
    pub recorder: Recorder,
    /// The cluster as the checks see it.
    pub view: Arc<LiveView>,
    /// How long a reconcile waits for a newly started watch to sync before evaluating with what it has.
    pub sync_timeout: Duration,
    /// Consecutive failures per control, for backoff.
    pub failures: Arc<Mutex<HashMap<String, u32>>>,
}

impl Context {
    /// A context for `client` and `view`; `instance` names this replica in events.
    pub fn new(client: Client, view: Arc<LiveView>, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: crate::OPERATOR_NAME.into(),
            instance,
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            view,
            sync_timeout: Duration::from_secs(20),
            failures: Arc::default(),
        }
    }
}
