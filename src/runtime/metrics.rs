//! The operator's Prometheus metrics: one registry, its typed families, and the methods the controller calls.
//!
//! This module owns metric names, labels and the lifetime of series (the series of a deleted control, or of a
//! criterion removed from a control, are removed). It decides nothing about compliance and knows nothing about HTTP:
//! [`crate::runtime::admin`] serves [`Metrics::encode`].
//!
//! Every name is prefixed `soc2_`:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `soc2_reconciles_total` | counter | `control` |
//! | `soc2_reconcile_errors_total` | counter | `control`, `category` |
//! | `soc2_reconcile_duration_seconds` | histogram | `control` |
//! | `soc2_evaluation_duration_seconds` | histogram | `check`, `path` |
//! | `soc2_control_compliant` | gauge: 1 compliant, 0 not, -1 unknown or invalid | `control`, `criterion` |
//! | `soc2_control_findings` | gauge | `control`, `severity`, `result` |
//! | `soc2_status_writes_total` | counter | `control` |
//! | `soc2_events_total` | counter | `reason` |
//! | `soc2_leader` | gauge: 1 when this replica leads | |
//! | `soc2_writes_dropped_total` | counter: reconciles skipped because this replica is not the leader | |
//! | `soc2_webhook_decisions_total` | counter: admission decisions (dry-run requests excluded) | `control`, `decision` |
//! | `soc2_webhook_dry_run_decisions_total` | counter: the same for dry-run requests | `control`, `decision` |
//! | `soc2_webhook_requests_total` | counter: admission requests served (`webhook`: enforce, warn, access-review-decisions, access-review-decisions-mutate) | `webhook`, `result` |
//! | `soc2_webhook_duration_seconds` | histogram: time to decide one admission request | `webhook` |
//! | `soc2_evidence_snapshots_total` | counter: snapshot attempts, by result (`written`, `already_taken` or the error category) | `store`, `result` |
//! | `soc2_evidence_snapshot_duration_seconds` | histogram: one snapshot attempt | `store` |
//! | `soc2_evidence_chain_head_timestamp_seconds` | gauge: when the newest manifest of the store's chain was taken (Unix time); removed with the store | `store` |
//! | `soc2_watch_lists_total` | counter: lists of a watched kind, the first and every re-list after an error | `kind` |
//! | `soc2_watch_objects` | gauge: objects of a watched kind in the operator's cache | `kind` |
//! | `soc2_watch_streaming_lists` | gauge: 1 when the watches fill their caches by streaming lists, 0 when by pages | |
//! | `soc2_watch_errors_total` | counter: watch errors, by `reason` (expired: 410 Gone, unavailable, forbidden, other) | `kind`, `reason` |

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::api::{Criterion, FindingResult, Severity};
use crate::checks::Finding;
use crate::engine::evaluate::Compliance;
use crate::view::watch_retry::WatchFailure;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::watcher;

/// The `Content-Type` of [`Metrics::encode`]'s output (Prometheus text exposition format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Every finding result, in the order series are created.
const RESULTS: [FindingResult; 4] = [
    FindingResult::Fail,
    FindingResult::Unknown,
    FindingResult::Excepted,
    FindingResult::Notice,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControlLabels {
    control: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    control: String,
    category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EvaluationLabels {
    check: String,
    path: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CriterionLabels {
    control: String,
    criterion: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingsLabels {
    control: String,
    severity: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    control: String,
    decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    webhook: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookResultLabels {
    webhook: String,
    result: String,
}

/// Admission decisions of one control since this replica started (dry-run requests excluded), as recorded in
/// evidence: proof that enforcement operated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AdmissionCounts {
    /// Requests the control let through with nothing failing.
    pub allowed: u64,
    /// Requests let through with a warning.
    pub warned: u64,
    /// Requests denied.
    pub denied: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WatchErrorLabels {
    kind: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

/// Which gauge series a control currently has, so that stale ones can be removed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SnapshotLabels {
    store: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: String,
}

/// Snapshots write to remote storage: tens of milliseconds to a couple of minutes.
fn snapshot_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 15))
}

#[derive(Debug, Default)]
struct Exported {
    criteria: BTreeSet<String>,
    findings_severity: Option<String>,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Reconciles take from a few milliseconds (nothing to write) to seconds (waiting for a watch to sync).
fn reconcile_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// Evaluations are pure and in memory: sub-millisecond to a few seconds for very large clusters.
fn evaluation_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// Admission decisions are in memory: tens of microseconds to the API server's timeout (seconds).
fn webhook_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.00005, 2.0, 18))
}

/// The registry and every metric the operator exports. Shared as `Arc<Metrics>`; every method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ControlLabels, Counter>,
    reconcile_errors: Family<ErrorLabels, Counter>,
    reconcile_duration: HistogramFamily<ControlLabels>,
    evaluation_duration: HistogramFamily<EvaluationLabels>,
    compliant: Family<CriterionLabels, Gauge>,
    findings: Family<FindingsLabels, Gauge>,
    status_writes: Family<ControlLabels, Counter>,
    events: Family<ReasonLabels, Counter>,
    leader: Gauge,
    writes_dropped: Counter,
    webhook_decisions: Family<DecisionLabels, Counter>,
    webhook_dry_run_decisions: Family<DecisionLabels, Counter>,
    webhook_requests: Family<WebhookResultLabels, Counter>,
    webhook_duration: HistogramFamily<WebhookLabels>,
    admission_counts: Mutex<BTreeMap<String, AdmissionCounts>>,
    snapshots: Family<SnapshotLabels, Counter>,
    snapshot_duration: HistogramFamily<StoreLabels>,
    chain_head: Family<StoreLabels, Gauge<f64, AtomicU64>>,
    watch_lists: Family<KindLabels, Counter>,
    watch_objects: Family<KindLabels, Gauge>,
    streaming_lists: Gauge,
    watch_errors: Family<WatchErrorLabels, Counter>,
    exported: Mutex<BTreeMap<String, Exported>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered (and no series yet, except `soc2_leader` and
    /// `soc2_writes_dropped_total`, which have no labels).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("soc2");
        let reconciles = Family::<ControlLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles of a control by this replica as leader",
            reconciles.clone(),
        );
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by error category",
            reconcile_errors.clone(),
        );
        let reconcile_duration: HistogramFamily<ControlLabels> =
            Family::new_with_constructor(reconcile_histogram);
        registry.register_with_unit(
            "reconcile_duration",
            "Duration of a reconcile, from start to status and events written",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        let evaluation_duration: HistogramFamily<EvaluationLabels> =
            Family::new_with_constructor(evaluation_histogram);
        registry.register_with_unit(
            "evaluation_duration",
            "Duration of evaluating a check against the cached cluster state, by path (full, incremental: only the changed objects, unchanged)",
            Unit::Seconds,
            evaluation_duration.clone(),
        );
        let compliant = Family::<CriterionLabels, Gauge>::default();
        registry.register(
            "control_compliant",
            "Latest verdict per control and criterion: 1 compliant, 0 not compliant, -1 unknown or invalid spec",
            compliant.clone(),
        );
        let findings = Family::<FindingsLabels, Gauge>::default();
        registry.register(
            "control_findings",
            "Findings of the latest evaluation of a control, by the control's severity and the finding's result",
            findings.clone(),
        );
        let status_writes = Family::<ControlLabels, Counter>::default();
        registry.register(
            "status_writes",
            "Status writes (server-side apply of controls/status)",
            status_writes.clone(),
        );
        let events = Family::<ReasonLabels, Counter>::default();
        registry.register("events", "Events published, by reason", events.clone());
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 when this replica is the leader (writes status and events), 0 otherwise",
            leader.clone(),
        );
        let writes_dropped = Counter::default();
        registry.register(
            "writes_dropped",
            "Reconciles skipped because this replica is not the leader",
            writes_dropped.clone(),
        );
        let webhook_decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "webhook_decisions",
            "Admission decisions per control (allowed, warned, denied), dry-run requests excluded",
            webhook_decisions.clone(),
        );
        let webhook_dry_run_decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "webhook_dry_run_decisions",
            "Admission decisions per control on dry-run requests (never a change to the cluster)",
            webhook_dry_run_decisions.clone(),
        );
        let webhook_requests = Family::<WebhookResultLabels, Counter>::default();
        registry.register(
            "webhook_requests",
            "Admission requests served, by webhook (enforce, warn) and result (allowed, denied, invalid)",
            webhook_requests.clone(),
        );
        let webhook_duration: HistogramFamily<WebhookLabels> =
            Family::new_with_constructor(webhook_histogram);
        registry.register_with_unit(
            "webhook_duration",
            "Time to decide one admission request, from body received to response built",
            Unit::Seconds,
            webhook_duration.clone(),
        );
        let snapshots = Family::<SnapshotLabels, Counter>::default();
        registry.register(
            "evidence_snapshots",
            "Evidence snapshot attempts per EvidenceStore, by result (written, already_taken, or the error category)",
            snapshots.clone(),
        );
        let snapshot_duration: HistogramFamily<StoreLabels> =
            Family::new_with_constructor(snapshot_histogram);
        registry.register_with_unit(
            "evidence_snapshot_duration",
            "Duration of an evidence snapshot attempt, from evaluation to manifest written",
            Unit::Seconds,
            snapshot_duration.clone(),
        );
        let chain_head = Family::<StoreLabels, Gauge<f64, AtomicU64>>::default();
        registry.register_with_unit(
            "evidence_chain_head_timestamp",
            "When the newest manifest of the store's chain was taken (Unix time): its age is how stale the evidence is",
            Unit::Seconds,
            chain_head.clone(),
        );
        let watch_lists = Family::<KindLabels, Counter>::default();
        registry.register(
            "watch_lists",
            "Lists of a watched kind: the initial list and every re-list after a watch error (410 Gone re-lists)",
            watch_lists.clone(),
        );
        let watch_objects = Family::<KindLabels, Gauge>::default();
        registry.register(
            "watch_objects",
            "Objects of a watched kind held in the operator's cache",
            watch_objects.clone(),
        );
        let streaming_lists = Gauge::default();
        registry.register(
            "watch_streaming_lists",
            "1 when the watches fill their caches by streaming lists (sendInitialEvents), 0 when by paginated lists",
            streaming_lists.clone(),
        );
        let watch_errors = Family::<WatchErrorLabels, Counter>::default();
        registry.register(
            "watch_errors",
            "Watch errors by kind and reason (expired: 410 Gone, unavailable: API server unreachable, 429 or 5xx, forbidden, other); each is retried within 3 s",
            watch_errors.clone(),
        );
        Metrics {
            registry,
            watch_lists,
            watch_objects,
            streaming_lists,
            watch_errors,
            webhook_decisions,
            webhook_dry_run_decisions,
            webhook_requests,
            webhook_duration,
            admission_counts: Mutex::default(),
            snapshots,
            snapshot_duration,
            chain_head,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            evaluation_duration,
            compliant,
            findings,
            status_writes,
            events,
            leader,
            writes_dropped,
            exported: Mutex::default(),
        }
    }

    /// Records one evidence snapshot attempt for `store`: `result` is `written`, `already_taken` or an error category.
    pub fn observe_snapshot(&self, store: &str, elapsed: Duration, result: &str) {
        self.snapshots
            .get_or_create(&SnapshotLabels {
                store: store.to_string(),
                result: result.to_string(),
            })
            .inc();
        self.snapshot_duration
            .get_or_create(&StoreLabels {
                store: store.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Records the time the newest manifest of `store`'s chain was taken, after a snapshot attempt found or wrote it.
    pub fn set_chain_head(&self, store: &str, taken_at: Timestamp) {
        self.chain_head
            .get_or_create(&StoreLabels {
                store: store.to_string(),
            })
            .set(taken_at.as_millisecond() as f64 / 1000.0);
    }

    /// Records one reconcile of `control` as leader: its duration and, when it failed, the error's category.
    pub fn observe_reconcile(&self, control: &str, elapsed: Duration, error: Option<&str>) {
        let labels = ControlLabels {
            control: control.into(),
        };
        self.reconciles.get_or_create(&labels).inc();
        self.reconcile_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if let Some(category) = error {
            self.reconcile_errors
                .get_or_create(&ErrorLabels {
                    control: control.into(),
                    category: category.into(),
                })
                .inc();
        }
    }

    /// Records how long evaluating a `check` (its `spec.check` field name) took along `path` (`full`,
    /// `incremental` or `unchanged`, see [`crate::engine::incremental::Path::label`]).
    pub fn observe_evaluation(&self, check: &str, path: &str, elapsed: Duration) {
        self.evaluation_duration
            .get_or_create(&EvaluationLabels {
                check: check.into(),
                path: path.into(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Sets the verdict of `control` for each of its `criteria` (`None`: the spec is invalid, exported as -1 like
    /// Unknown). Series of criteria the control no longer lists are removed.
    pub fn set_compliance(
        &self,
        control: &str,
        criteria: &[Criterion],
        compliance: Option<Compliance>,
    ) {
        let value = match compliance {
            Some(Compliance::Compliant) => 1,
            Some(Compliance::NonCompliant) => 0,
            Some(Compliance::Unknown) | None => -1,
        };
        let new: BTreeSet<String> = criteria.iter().map(|c| c.0.clone()).collect();
        let mut exported = self.exported();
        let entry = exported.entry(control.to_string()).or_default();
        for stale in entry.criteria.difference(&new) {
            self.compliant.remove(&CriterionLabels {
                control: control.into(),
                criterion: stale.clone(),
            });
        }
        for criterion in &new {
            self.compliant
                .get_or_create(&CriterionLabels {
                    control: control.into(),
                    criterion: criterion.clone(),
                })
                .set(value);
        }
        entry.criteria = new;
    }

    /// Sets the finding counts of the latest evaluation of `control`, one series per result (zeros included), labelled
    /// with the control's `severity`. Series of a previous severity are removed.
    pub fn set_findings(&self, control: &str, severity: Severity, findings: &[Arc<Finding>]) {
        let severity = severity.to_string();
        let mut exported = self.exported();
        let entry = exported.entry(control.to_string()).or_default();
        if let Some(old) = entry.findings_severity.take()
            && old != severity
        {
            self.remove_findings(control, &old);
        }
        for result in RESULTS {
            let count = findings.iter().filter(|f| f.result == result).count();
            self.findings
                .get_or_create(&FindingsLabels {
                    control: control.into(),
                    severity: severity.clone(),
                    result: result.to_string(),
                })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        entry.findings_severity = Some(severity);
    }

    /// Removes the finding counts of `control` (its spec is invalid: there is no evaluation to count).
    pub fn clear_findings(&self, control: &str) {
        let mut exported = self.exported();
        if let Some(old) = exported
            .get_mut(control)
            .and_then(|e| e.findings_severity.take())
        {
            self.remove_findings(control, &old);
        }
    }

    fn remove_findings(&self, control: &str, severity: &str) {
        for result in RESULTS {
            self.findings.remove(&FindingsLabels {
                control: control.into(),
                severity: severity.into(),
                result: result.to_string(),
            });
        }
    }

    /// Removes the chain head series of a deleted EvidenceStore: its age would otherwise grow for ever and page
    /// whoever alerts on a stale chain. The snapshot counts and durations keep their totals.
    pub fn forget_store(&self, store: &str) {
        self.chain_head.remove(&StoreLabels {
            store: store.to_string(),
        });
    }

    /// Removes the gauge series of a deleted control (`soc2_control_compliant`, `soc2_control_findings`). Counters
    /// and histograms keep their totals.
    pub fn forget_control(&self, control: &str) {
        let mut exported = self.exported();
        if let Some(gone) = exported.remove(control) {
            self.remove_series(control, gone);
        }
    }

    /// Removes the gauge series of every control not in `controls` (after a re-list, deletions missed while the
    /// watch was down are not reported one by one).
    pub fn retain_controls(&self, controls: &BTreeSet<String>) {
        let mut exported = self.exported();
        let gone: Vec<String> = exported
            .keys()
            .filter(|c| !controls.contains(*c))
            .cloned()
            .collect();
        for control in gone {
            if let Some(series) = exported.remove(&control) {
                self.remove_series(&control, series);
            }
        }
    }

    /// Removes the gauge series of every control (this replica stopped leading: its verdicts are no longer current).
    pub fn forget_all_controls(&self) {
        self.retain_controls(&BTreeSet::new());
    }

    fn remove_series(&self, control: &str, series: Exported) {
        for criterion in series.criteria {
            self.compliant.remove(&CriterionLabels {
                control: control.into(),
                criterion,
            });
        }
        if let Some(severity) = series.findings_severity {
            self.remove_findings(control, &severity);
        }
    }

    /// Counts a status write of `control`.
    pub fn status_written(&self, control: &str) {
        self.status_writes
            .get_or_create(&ControlLabels {
                control: control.into(),
            })
            .inc();
    }

    /// Counts a published event with this `reason`.
    pub fn event_published(&self, reason: &str) {
        self.events
            .get_or_create(&ReasonLabels {
                reason: reason.into(),
            })
            .inc();
    }

    /// Counts a list (initial or re-list) of the watched `kind`.
    pub fn watch_listed(&self, kind: &str) {
        self.watch_lists
            .get_or_create(&KindLabels { kind: kind.into() })
            .inc();
    }

    /// Sets how many objects of `kind` the cache holds.
    pub fn set_watch_objects(&self, kind: &str, objects: usize) {
        self.watch_objects
            .get_or_create(&KindLabels { kind: kind.into() })
            .set(i64::try_from(objects).unwrap_or(i64::MAX));
    }

    /// Sets `soc2_watch_streaming_lists`.
    pub fn set_streaming_lists(&self, streaming: bool) {
        self.streaming_lists.set(i64::from(streaming));
    }

    /// Counts a watch error of `kind`.
    pub fn watch_failed(&self, kind: &str, failure: WatchFailure) {
        self.watch_errors
            .get_or_create(&WatchErrorLabels {
                kind: kind.into(),
                reason: failure.as_str().into(),
            })
            .inc();
    }

    /// Counts a watch event of `kind` (a list starting or an error); other events are not counted.
    pub fn observe_watch<K>(&self, kind: &str, event: &Result<watcher::Event<K>, watcher::Error>) {
        match event {
            Ok(watcher::Event::Init) => self.watch_listed(kind),
            Err(error) => self.watch_failed(kind, WatchFailure::of(error)),
            Ok(_) => {}
        }
    }

    /// Sets `soc2_leader`.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Counts a reconcile skipped because this replica is not the leader.
    pub fn write_dropped(&self) {
        self.writes_dropped.inc();
    }

    /// The value of `soc2_writes_dropped_total`.
    pub fn writes_dropped(&self) -> u64 {
        self.writes_dropped.get()
    }

    /// Records one control's admission decision (`decision`: allowed, warned or denied). Dry-run requests are
    /// counted apart: they change nothing, so they are no evidence of a change being stopped or let through.
    pub fn admission_decided(&self, control: &str, decision: &str, dry_run: bool) {
        let labels = DecisionLabels {
            control: control.into(),
            decision: decision.into(),
        };
        if dry_run {
            self.webhook_dry_run_decisions.get_or_create(&labels).inc();
            return;
        }
        self.webhook_decisions.get_or_create(&labels).inc();
        let mut counts = self
            .admission_counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let c = counts.entry(control.to_string()).or_default();
        match decision {
            "allowed" => c.allowed += 1,
            "warned" => c.warned += 1,
            _ => c.denied += 1,
        }
    }

    /// Records one admission request served by `webhook` (`enforce`, `warn`, `access-review-decisions` or
    /// `access-review-decisions-mutate`) with `result` and how long it took.
    pub fn admission_served(&self, webhook: &str, result: &str, elapsed: Duration) {
        self.webhook_requests
            .get_or_create(&WebhookResultLabels {
                webhook: webhook.into(),
                result: result.into(),
            })
            .inc();
        self.webhook_duration
            .get_or_create(&WebhookLabels {
                webhook: webhook.into(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Admission decisions per control since this replica started, dry runs excluded (for evidence snapshots).
    pub fn admission_counts(&self) -> BTreeMap<String, AdmissionCounts> {
        self.admission_counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Every metric in the Prometheus text exposition format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    fn exported(&self) -> MutexGuard<'_, BTreeMap<String, Exported>> {
        // The map only mirrors which series exist; a panic elsewhere while it was held leaves it usable.
        self.exported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::ResourceRef;

    fn criteria(ids: &[&str]) -> Vec<Criterion> {
        ids.iter().map(|c| Criterion((*c).into())).collect()
    }

    fn text(m: &Metrics) -> String {
        m.encode().expect("metrics encode")
    }

    /// The value of the sample `name{labels}` (labels exactly as encoded), if present.
    fn sample(m: &Metrics, series: &str) -> Option<f64> {
        text(m).lines().find_map(|l| {
            let (s, v) = l.rsplit_once(' ')?;
            (s == series).then(|| v.parse().expect("numeric sample"))
        })
    }

    #[test]
    fn compliance_is_one_series_per_criterion_with_the_verdict() {
        let m = Metrics::new();
        m.set_compliance(
            "mfa",
            &criteria(&["CC6.1", "CC6.2"]),
            Some(Compliance::Compliant),
        );
        m.set_compliance(
            "audit",
            &criteria(&["CC7.2"]),
            Some(Compliance::NonCompliant),
        );
        m.set_compliance("change", &criteria(&["CC8.1"]), Some(Compliance::Unknown));
        m.set_compliance("broken", &criteria(&["CC99.1"]), None);
        let out = text(&m);
        assert!(out.contains("# TYPE soc2_control_compliant gauge"), "{out}");
        assert_eq!(
            sample(
                &m,
                r#"soc2_control_compliant{control="mfa",criterion="CC6.1"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &m,
                r#"soc2_control_compliant{control="mfa",criterion="CC6.2"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &m,
                r#"soc2_control_compliant{control="audit",criterion="CC7.2"}"#
            ),
            Some(0.0)
        );
        assert_eq!(
            sample(
                &m,
                r#"soc2_control_compliant{control="change",criterion="CC8.1"}"#
            ),
            Some(-1.0)
        );
        assert_eq!(
            sample(
                &m,
                r#"soc2_control_compliant{control="broken",criterion="CC99.1"}"#
            ),
            Some(-1.0)
        );
    }

    #[test]
    fn removed_criteria_and_deleted_controls_lose_their_series() {
        let m = Metrics::new();
        m.set_compliance(
            "mfa",
            &criteria(&["CC6.1", "CC6.2", "CC6.3"]),
            Some(Compliance::NonCompliant),
        );
        m.set_compliance("other", &criteria(&["CC7.2"]), Some(Compliance::Compliant));
        m.set_compliance(
            "mfa",
            &criteria(&["CC6.1", "CC6.3"]),
            Some(Compliance::Compliant),
        );
        let out = text(&m);
        assert!(!out.contains(r#"criterion="CC6.2""#), "{out}");
        assert_eq!(
            sample(
                &m,
                r#"soc2_control_compliant{control="mfa",criterion="CC6.3"}"#
            ),
            Some(1.0)
        );

        m.set_findings("mfa", Severity::High, &[]);
        m.forget_control("mfa");
        let out = text(&m);
        assert!(!out.contains(r#"control="mfa""#), "{out}");
        assert!(out.contains(r#"control="other""#), "{out}");

        m.retain_controls(&BTreeSet::new());
        assert!(!text(&m).contains(r#"control="other""#));
    }

    #[test]
    fn findings_are_counted_per_result_under_the_current_severity() {
        let m = Metrics::new();
        let r = |n: &str| ResourceRef::aspect("v1", "Thing", n);
        let findings = vec![
            Finding::fail(r("a"), "rule", "a fails"),
            Finding::fail(r("b"), "rule", "b fails"),
            Finding::unknown(r("c"), "rule", "c unknown"),
        ]
        .into_iter()
        .map(Arc::new)
        .collect::<Vec<_>>();
        m.set_findings("mfa", Severity::High, &findings);
        let series = |sev: &str, result: &str| {
            format!(r#"soc2_control_findings{{control="mfa",severity="{sev}",result="{result}"}}"#)
        };
        assert_eq!(sample(&m, &series("High", "Fail")), Some(2.0));
        assert_eq!(sample(&m, &series("High", "Unknown")), Some(1.0));
        assert_eq!(sample(&m, &series("High", "Notice")), Some(0.0));

        m.set_findings("mfa", Severity::Low, &findings[..1]);
        assert_eq!(
            sample(&m, &series("High", "Fail")),
            None,
            "old severity removed"
        );
        assert_eq!(sample(&m, &series("Low", "Fail")), Some(1.0));

        m.clear_findings("mfa");
        assert!(!text(&m).contains("soc2_control_findings{"));
    }

    #[test]
    fn reconciles_errors_and_durations_are_recorded() {
        let m = Metrics::new();
        m.observe_reconcile("mfa", Duration::from_millis(20), None);
        m.observe_reconcile("mfa", Duration::from_millis(40), Some("conflict"));
        m.observe_evaluation("mfaAccess", "full", Duration::from_micros(300));
        m.status_written("mfa");
        m.event_published("ControlFailing");
        m.event_published("ControlFailing");
        assert_eq!(
            sample(&m, r#"soc2_reconciles_total{control="mfa"}"#),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &m,
                r#"soc2_reconcile_errors_total{control="mfa",category="conflict"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &m,
                r#"soc2_reconcile_duration_seconds_count{control="mfa"}"#
            ),
            Some(2.0)
        );
        let sum = sample(&m, r#"soc2_reconcile_duration_seconds_sum{control="mfa"}"#)
            .expect("histogram sum");
        assert!((sum - 0.06).abs() < 1e-9, "{sum}");
        assert_eq!(
            sample(
                &m,
                r#"soc2_evaluation_duration_seconds_bucket{check="mfaAccess",path="full",le="+Inf"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(&m, r#"soc2_status_writes_total{control="mfa"}"#),
            Some(1.0)
        );
        assert_eq!(
            sample(&m, r#"soc2_events_total{reason="ControlFailing"}"#),
            Some(2.0)
        );
    }

    #[test]
    fn watch_lists_and_errors_are_counted_by_kind_and_reason() {
        use k8s_openapi::api::core::v1::Pod;
        use kube::core::Status;
        let m = Metrics::new();
        let gone = Box::new(Status::failure("too old resource version", "Expired").with_code(410));
        let events: [Result<watcher::Event<Pod>, watcher::Error>; 5] = [
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitDone),
            Err(watcher::Error::WatchError(gone)),
            Ok(watcher::Event::Init),
            Ok(watcher::Event::Apply(Pod::default())),
        ];
        for event in &events {
            m.observe_watch("pods", event);
        }
        assert_eq!(
            sample(&m, r#"soc2_watch_lists_total{kind="pods"}"#),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &m,
                r#"soc2_watch_errors_total{kind="pods",reason="expired"}"#
            ),
            Some(1.0)
        );
    }

    #[test]
    fn a_deleted_store_loses_its_chain_head_series_only() {
        let m = Metrics::new();
        let at: Timestamp = "2026-12-07T10:00:00Z".parse().unwrap();
        m.set_chain_head("audit", at);
        m.set_chain_head("other", at);
        m.observe_snapshot("audit", Duration::from_millis(5), "written");
        let head = r#"soc2_evidence_chain_head_timestamp_seconds{store="audit"}"#;
        assert_eq!(sample(&m, head), Some(at.as_second() as f64));
        m.forget_store("audit");
        assert_eq!(sample(&m, head), None);
        assert!(
            sample(
                &m,
                r#"soc2_evidence_chain_head_timestamp_seconds{store="other"}"#
            )
            .is_some()
        );
        assert!(
            m.encode()
                .unwrap()
                .contains(r#"soc2_evidence_snapshots_total{store="audit",result="written"} 1"#),
            "counters keep their totals"
        );
    }

    #[test]
    fn leader_and_dropped_writes_are_exported_from_the_start() {
        let m = Metrics::new();
        assert_eq!(sample(&m, "soc2_leader"), Some(0.0));
        assert_eq!(sample(&m, "soc2_writes_dropped_total"), Some(0.0));
        m.set_leader(true);
        m.write_dropped();
        assert_eq!(sample(&m, "soc2_leader"), Some(1.0));
        assert_eq!(sample(&m, "soc2_writes_dropped_total"), Some(1.0));
        assert_eq!(m.writes_dropped(), 1);
        m.set_leader(false);
        assert_eq!(sample(&m, "soc2_leader"), Some(0.0));
    }

    #[test]
    fn admission_decisions_are_counted_per_control_and_dry_runs_apart() {
        let m = Metrics::new();
        m.admission_decided("change", "denied", false);
        m.admission_decided("change", "denied", false);
        m.admission_decided("change", "warned", false);
        m.admission_decided("change", "allowed", true);
        m.admission_served("enforce", "denied", Duration::from_micros(200));
        assert_eq!(
            sample(
                &m,
                r#"soc2_webhook_decisions_total{control="change",decision="denied"}"#
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &m,
                r#"soc2_webhook_dry_run_decisions_total{control="change",decision="allowed"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &m,
                r#"soc2_webhook_duration_seconds_count{webhook="enforce"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            m.admission_counts().get("change"),
            Some(&AdmissionCounts {
                allowed: 0,
                warned: 1,
                denied: 2
            })
        );
    }

    #[test]
    fn every_metric_is_prefixed_and_typed() {
        let m = Metrics::new();
        // Families without series are not exported: give each one.
        m.observe_reconcile("c", Duration::from_millis(1), Some("api"));
        m.observe_evaluation("logging", "incremental", Duration::from_millis(1));
        m.set_compliance("c", &criteria(&["CC7.2"]), None);
        m.set_findings("c", Severity::Medium, &[]);
        m.status_written("c");
        m.event_published("ControlFailing");
        m.observe_snapshot("audit", Duration::from_millis(5), "written");
        m.set_chain_head(
            "audit",
            "2026-12-07T10:00:00.5Z".parse().expect("timestamp"),
        );
        assert_eq!(
            sample(
                &m,
                r#"soc2_evidence_chain_head_timestamp_seconds{store="audit"}"#
            ),
            Some(1_796_637_600.5)
        );
        let out = text(&m);
        for (name, kind) in [
            ("soc2_reconciles_total", "counter"),
            ("soc2_reconcile_errors_total", "counter"),
            ("soc2_reconcile_duration_seconds", "histogram"),
            ("soc2_evaluation_duration_seconds", "histogram"),
            ("soc2_control_compliant", "gauge"),
            ("soc2_control_findings", "gauge"),
            ("soc2_status_writes_total", "counter"),
            ("soc2_events_total", "counter"),
            ("soc2_leader", "gauge"),
            ("soc2_writes_dropped_total", "counter"),
            ("soc2_evidence_snapshots_total", "counter"),
            ("soc2_evidence_snapshot_duration_seconds", "histogram"),
            ("soc2_evidence_chain_head_timestamp_seconds", "gauge"),
        ] {
            assert!(
                out.contains(&format!("# TYPE {name} {kind}\n")),
                "{name} {kind} missing from\n{out}"
            );
        }
    }
}
