//! What every reconcile shares.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

use crate::runtime::leader::Leadership;
use crate::runtime::metrics::Metrics;
use crate::view::live::LiveView;

/// Per control, the namespaces that hold one of its PolicyReports.
pub type ReportedNamespaces = HashMap<String, BTreeSet<String>>;

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
    /// Where reconciles record what they did.
    pub metrics: Arc<Metrics>,
    /// Whether this replica may write; see [`Context::is_leader`].
    pub leadership: Leadership,
    /// When set, results are also published as wg-policy PolicyReports: per control, the namespaces that hold one
    /// (`None` until looked up after a start).
    pub policy_reports: Option<Arc<Mutex<ReportedNamespaces>>>,
    /// Which controls the admission webhook serves; `None` when the webhook is not enabled.
    pub webhook: Option<crate::webhook::configuration::Registration>,
    /// Evaluations per control, read by the evidence snapshot loops.
    pub ledger: Arc<crate::evidence::EvaluationLedger>,
    /// What each control's last evaluation judged, so that the next one re-runs its check only for what changed.
    pub evaluators: Arc<crate::engine::incremental::Evaluators>,
    /// The status this replica last wrote per Control, for as long as the watch cache has not caught up with it.
    pub written: Arc<super::WrittenStatuses>,
}

impl Context {
    /// A context for `client` and `view`; `instance` names this replica in events. It records into a registry of
    /// its own and always leads until [`Context::with_metrics`] and [`Context::with_leadership`] say otherwise.
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
            metrics: Arc::default(),
            leadership: Leadership::always(),
            policy_reports: None,
            webhook: None,
            ledger: Arc::default(),
            evaluators: Arc::default(),
            written: Arc::default(),
        }
    }

    /// Records into `metrics` (the registry the admin server serves).
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Writes only while `leadership` says this replica leads.
    #[must_use]
    pub fn with_leadership(mut self, leadership: Leadership) -> Self {
        self.leadership = leadership;
        self
    }

    /// Reports the admission webhook's registration in each Warn/Enforce control's `AdmissionEnforced` condition.
    #[must_use]
    pub fn with_webhook(
        mut self,
        registration: crate::webhook::configuration::Registration,
    ) -> Self {
        self.webhook = Some(registration);
        self
    }

    /// Also publishes every evaluation as wg-policy PolicyReports (`--policy-reports`).
    #[must_use]
    pub fn with_policy_reports(mut self) -> Self {
        self.policy_reports = Some(Arc::default());
        self
    }

    /// True when this replica may evaluate and write: always without leader election, else while it holds the
    /// Lease. One atomic load.
    pub fn is_leader(&self) -> bool {
        self.leadership.is_leader()
    }
}
