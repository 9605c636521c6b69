//! The evidence snapshot loops: one task per EvidenceStore, snapshots on the leader only, once per schedule tick,
//! retried with backoff, reported in status (server-side apply) and by events on failure and recovery.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::core::DeserializeGuard;
use kube::core::SelectorExt;
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::task::JoinHandle;

use super::cluster_scoped;
use crate::api::{Control, EvidenceStore, EvidenceStoreSpec, EvidenceStoreStatus, LastSnapshot};
use crate::engine::evaluate::required_kinds;
use crate::engine::validation::validate;
use crate::evidence::collect::{OperationBaseline, control_documents_at};
use crate::evidence::schedule::{Schedule, snapshot_id};
use crate::evidence::snapshot::{
    ChainHead, SnapshotError, SnapshotInput, SnapshotOutcome, chain_head, write_snapshot_after,
};
use crate::evidence::store::{ObjectLock, S3Credentials, S3Location};
use crate::evidence::{
    ClusterIdentity, EvaluationLedger, EvidenceStoreClient, SigningKey, StoreLocation,
};
use crate::runtime::leader::Leadership;
use crate::runtime::metrics::Metrics;
use crate::view::Reads;
use crate::view::live::LiveView;
use crate::view::scope_matcher::compile_selector;
use crate::view::watch_retry;

/// First retry after a failed snapshot; doubled per failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// Longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How often a standby looks whether it has become the leader.
const STANDBY_POLL: Duration = Duration::from_secs(5);
/// Default key of the signing Secret.
const DEFAULT_SIGNING_KEY: &str = "ed25519.seed";

/// What the snapshot loops share.
#[derive(Clone)]
pub struct EvidenceContext {
    /// API client.
    pub client: Client,
    /// The cluster as checks see it.
    pub view: Arc<LiveView>,
    /// Evaluations by the controller.
    pub ledger: Arc<EvaluationLedger>,
    /// Only the leader snapshots.
    pub leadership: Leadership,
    /// Snapshot metrics.
    pub metrics: Arc<Metrics>,
    /// Events.
    pub recorder: Recorder,
    /// Namespace of the Secrets EvidenceStores reference (the operator's own).
    pub namespace: String,
    /// The Controls, as the controller's reflector holds them.
    pub controls: Store<DeserializeGuard<Control>>,
    /// How long a snapshot waits for newly started watches to sync before evaluating with what it has.
    pub sync_timeout: Duration,
    /// The access review cycles, as their controller last counted them: each snapshot lists those its store
    /// keeps.
    pub access_reviews: Arc<super::access_reviews::records::CycleRecords>,
}

/// Why a snapshot attempt failed.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("{0}")]
    Snapshot(#[from] crate::evidence::snapshot::SnapshotError),
    #[error("{0}")]
    Store(#[from] crate::evidence::StoreError),
    #[error("cannot read Secret {namespace}/{name}: {source}")]
    Secret {
        namespace: String,
        name: String,
        source: kube::Error,
    },
    #[error("Secret {namespace}/{name} has no key {key:?}")]
    SecretKey {
        namespace: String,
        name: String,
        key: String,
    },
    #[error("signing key in Secret {name}: {source}")]
    SigningKey {
        name: String,
        source: crate::evidence::signing::KeyError,
    },
    #[error("cannot read the cluster identity (kube-system namespace, /version): {0}")]
    Identity(kube::Error),
    #[error(
        "nothing was written: {why}. Restore the missing manifests (or the store) from where they were copied; if \
         the regression is understood and accepted, annotate this EvidenceStore with {ACCEPT_HEAD_ANNOTATION}={accept} \
         and the next snapshot links to the store's head and records the acceptance"
    )]
    ChainRegressed { why: String, accept: String },
}

impl AttemptError {
    fn category(&self) -> &'static str {
        match self {
            AttemptError::Snapshot(e) => e.category(),
            AttemptError::Store(e) => e.category(),
            AttemptError::Secret { .. } | AttemptError::SecretKey { .. } => "secret",
            AttemptError::SigningKey { .. } => "signing_key",
            AttemptError::Identity(_) => "cluster_identity",
            AttemptError::ChainRegressed { .. } => "chain_regressed",
        }
    }

    /// Errors only a person can fix (configuration, credentials, a regressed chain) are retried at the slowest
    /// pace: retrying them quickly changes nothing and fills the store's logs.
    fn retry_slowly(&self) -> bool {
        match self {
            AttemptError::Store(e) | AttemptError::Snapshot(SnapshotError::Store(e)) => {
                e.retry_slowly()
            }
            AttemptError::Identity(_) => false,
            AttemptError::Snapshot(e) => e.category() == "chain_regressed",
            AttemptError::Secret { .. }
            | AttemptError::SecretKey { .. }
            | AttemptError::SigningKey { .. }
            | AttemptError::ChainRegressed { .. } => true,
        }
    }

    /// The Ready condition's reason and the Warning event's.
    fn reason(&self) -> &'static str {
        if self.category() == "chain_regressed" {
            "ChainRegressed"
        } else {
            "SnapshotFailed"
        }
    }
}

/// Annotation by which a person accepts a chain whose head went back: its value is the SHA-256 of the store's
/// current head manifest (`none` for an empty store), as the ChainRegressed condition names it.
pub const ACCEPT_HEAD_ANNOTATION: &str = "soc2.dev/accept-chain-head";

/// Why the head found in the store is behind the head this EvidenceStore published, if it is.
fn regression(found: Option<&ChainHead>, published: &LastSnapshot) -> Option<String> {
    let found_sequence = found.map_or(0, |h| h.manifest.sequence);
    if found_sequence < published.sequence {
        return Some(format!(
            "the store's chain head is sequence {found_sequence} but this EvidenceStore published sequence {} \
             (SHA-256 {}): manifests after {found_sequence} were deleted or hidden",
            published.sequence, published.digest
        ));
    }
    match found {
        Some(h) if h.manifest.sequence == published.sequence && h.digest != published.digest => {
            Some(format!(
                "manifest {} in the store has SHA-256 {} but this EvidenceStore published {}: the chain head was \
             rewritten",
                published.sequence, h.digest, published.digest
            ))
        }
        _ => None,
    }
}

/// Checks what can be checked without the API: one backend, a valid schedule and selector.
pub fn validate_spec(spec: &EvidenceStoreSpec) -> Result<Schedule, String> {
    match (&spec.filesystem, &spec.s3) {
        (Some(_), None) | (None, Some(_)) => {}
        _ => return Err("set exactly one of spec.filesystem and spec.s3".into()),
    }
    if let Some(fs) = &spec.filesystem
        && !fs.path.starts_with('/')
    {
        return Err(format!(
            "spec.filesystem.path {:?} must be absolute",
            fs.path
        ));
    }
    if let Some(sel) = &spec.control_selector {
        compile_selector(sel, "spec.controlSelector").map_err(|e| e.to_string())?;
    }
    Schedule::parse(
        spec.schedule.interval.as_deref(),
        spec.schedule.cron.as_deref(),
    )
    .map_err(|e| e.to_string())
}

/// Watches EvidenceStores and keeps one snapshot task per store and generation, until the watch ends.
pub async fn run_evidence_stores(ctx: Arc<EvidenceContext>) {
    let api: Api<EvidenceStore> = Api::all(ctx.client.clone());
    let mut tasks: HashMap<String, (Option<i64>, JoinHandle<()>)> = HashMap::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut events = watch_retry::retried(
        watcher(api, watcher::Config::default()),
        ctx.metrics.clone(),
        "evidencestores".into(),
    )
    .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => seen.clear(),
            Ok(watcher::Event::InitApply(store) | watcher::Event::Apply(store)) => {
                let name = store.name_any();
                seen.insert(name.clone());
                let generation = store.metadata.generation;
                if tasks.get(&name).is_some_and(|(g, _)| *g == generation) {
                    continue;
                }
                if let Some((_, old)) = tasks.remove(&name) {
                    old.abort();
                }
                let task = tokio::spawn(run_store(ctx.clone(), store));
                tasks.insert(name, (generation, task));
            }
            Ok(watcher::Event::InitDone) => {
                tasks.retain(|name, (_, task)| {
                    let keep = seen.contains(name);
                    if !keep {
                        task.abort();
                        ctx.metrics.forget_store(name);
                    }
                    keep
                });
            }
            Ok(watcher::Event::Delete(store)) => {
                let name = store.name_any();
                if let Some((_, task)) = tasks.remove(&name) {
                    task.abort();
                }
                ctx.metrics.forget_store(&name);
            }
            Err(e) => tracing::warn!(error = %e, "EvidenceStore watch error; retrying"),
        }
    }
    for (_, (_, task)) in tasks {
        task.abort();
    }
}

/// State of one store's loop.
struct StoreState {
    name: String,
    store: Arc<EvidenceStore>,
    schedule: Schedule,
    baseline: OperationBaseline,
    last_tick: Option<Timestamp>,
    failures: u32,
    last_error: Option<String>,
    /// The category of the last failure, so that a new kind of failure is announced by its own event.
    last_category: Option<&'static str>,
    /// A regression a person accepted (by annotation): recorded in the next manifest's gap.
    accepted: Option<String>,
    ready: Option<Condition>,
    last_snapshot: Option<LastSnapshot>,
    /// The chain head after the last success, so the next snapshot need not list every manifest.
    head: Option<ChainHead>,
}

/// Snapshots `store` on its schedule until aborted (the supervisor replaces the task when the spec changes).
pub async fn run_store(ctx: Arc<EvidenceContext>, store: EvidenceStore) {
    let name = store.name_any();
    let status = store.status.clone().unwrap_or_default();
    let schedule = match validate_spec(&store.spec) {
        Ok(s) => s,
        Err(reason) => {
            tracing::warn!(store = %name, %reason, "EvidenceStore spec is invalid");
            // Wait to lead, then say so once; the task is replaced when the spec changes.
            while !ctx.leadership.is_leader() {
                tokio::time::sleep(STANDBY_POLL).await;
            }
            let cond = condition(
                None,
                false,
                "InvalidSpec",
                &reason,
                store.metadata.generation,
            );
            let new = EvidenceStoreStatus {
                observed_generation: store.metadata.generation,
                conditions: vec![cond],
                ..status
            };
            write_status(&ctx, &name, &new).await;
            publish(&ctx, &store, EventType::Warning, "InvalidSpec", &reason).await;
            return;
        }
    };
    let mut state = StoreState {
        name,
        ready: status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .cloned(),
        failures: status.consecutive_failures,
        last_snapshot: status.last_snapshot.clone(),
        store: Arc::new(store),
        schedule,
        baseline: OperationBaseline::default(),
        last_tick: None,
        last_error: None,
        last_category: None,
        accepted: None,
        head: None,
    };
    loop {
        let now = Timestamp::now();
        let Some(tick) = state.schedule.tick_at_or_before(now) else {
            tracing::warn!(store = %state.name, "schedule has no tick before now; retrying later");
            tokio::time::sleep(MAX_BACKOFF).await;
            continue;
        };
        if !ctx.leadership.is_leader() {
            tokio::time::sleep(STANDBY_POLL).await;
            continue;
        }
        if state.last_tick.is_none_or(|t| t < tick) {
            take_with_retries(&ctx, &mut state, tick).await;
        }
        let next = state
            .schedule
            .next_after(tick)
            .map(|n| n.duration_since(Timestamp::now()))
            .and_then(|d| d.try_into().ok())
            .unwrap_or(STANDBY_POLL);
        tokio::time::sleep(next.max(Duration::from_millis(100))).await;
    }
}

/// Snapshots `tick`, retrying with backoff until it succeeds, this replica stops leading, or the next tick is due
/// (which then snapshots and records the gap).
async fn take_with_retries(ctx: &EvidenceContext, state: &mut StoreState, tick: Timestamp) {
    let next_tick = state.schedule.next_after(tick);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = Instant::now();
        let mut baseline = state.baseline.clone();
        let result = attempt(ctx, state, tick, &mut baseline).await;
        match result {
            Ok((outcome, controls, findings)) => {
                let written = matches!(outcome, SnapshotOutcome::Written(_));
                ctx.metrics.observe_snapshot(
                    &state.name,
                    started.elapsed(),
                    if written { "written" } else { "already_taken" },
                );
                if written {
                    state.baseline = baseline;
                }
                if let Ok(taken_at) = outcome.head().manifest.taken_at.parse::<Timestamp>() {
                    ctx.metrics.set_chain_head(&state.name, taken_at);
                }
                state.head = Some(outcome.head().clone());
                succeeded(ctx, state, tick, &outcome, controls, findings).await;
                return;
            }
            Err(e) => {
                // After a failure the head is unknown (the write may have landed): list next time.
                state.head = None;
                ctx.metrics
                    .observe_snapshot(&state.name, started.elapsed(), e.category());
                failed(ctx, state, tick, &e).await;
                if e.retry_slowly() {
                    backoff = MAX_BACKOFF;
                }
            }
        }
        let now = Timestamp::now();
        if !ctx.leadership.is_leader() || next_tick.is_some_and(|n| n <= now) {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn secret_value(
    ctx: &EvidenceContext,
    name: &str,
    key: &str,
) -> Result<Vec<u8>, AttemptError> {
    secret_value_in(&ctx.client, &ctx.namespace, name, key).await
}

async fn secret_value_in(
    client: &Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<Vec<u8>, AttemptError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api.get(name).await.map_err(|source| AttemptError::Secret {
        namespace: namespace.to_string(),
        name: name.into(),
        source,
    })?;
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .ok_or_else(|| AttemptError::SecretKey {
            namespace: namespace.to_string(),
            name: name.into(),
            key: key.into(),
        })
}

async fn location(
    ctx: &EvidenceContext,
    spec: &EvidenceStoreSpec,
) -> Result<StoreLocation, AttemptError> {
    location_in(&ctx.client, &ctx.namespace, spec).await
}

/// A client of the store `spec` names, its credentials read from Secrets in `namespace`: for writers other than
/// the snapshot loop (access review cycles keep their populations in a store). The error says what to fix.
pub async fn connect_store(
    client: &Client,
    namespace: &str,
    spec: &EvidenceStoreSpec,
) -> Result<EvidenceStoreClient, String> {
    validate_spec(spec)?;
    let location = location_in(client, namespace, spec)
        .await
        .map_err(|e| e.to_string())?;
    EvidenceStoreClient::connect(&location).map_err(|e| e.to_string())
}

async fn location_in(
    client: &Client,
    namespace: &str,
    spec: &EvidenceStoreSpec,
) -> Result<StoreLocation, AttemptError> {
    if let Some(fs) = &spec.filesystem {
        return Ok(StoreLocation::Filesystem(fs.path.clone().into()));
    }
    let Some(s3) = &spec.s3 else {
        return unreachable_backend();
    };
    let credentials = match &s3.credentials_secret {
        None => None,
        Some(r) => {
            let text = |k: &'static str| async move {
                secret_value_in(client, namespace, &r.name, k)
                    .await
                    .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            };
            Some(S3Credentials {
                access_key_id: text("AWS_ACCESS_KEY_ID").await?,
                secret_access_key: text("AWS_SECRET_ACCESS_KEY").await?,
                session_token: text("AWS_SESSION_TOKEN").await.ok(),
            })
        }
    };
    Ok(StoreLocation::S3(S3Location {
        bucket: s3.bucket.clone(),
        prefix: s3
            .prefix
            .clone()
            .unwrap_or_default()
            .trim_matches('/')
            .into(),
        endpoint: s3.endpoint.clone(),
        region: s3.region.clone(),
        path_style: s3.path_style.unwrap_or(false),
        credentials,
        object_lock: s3.object_lock.as_ref().map(|l| ObjectLock {
            mode: l.mode.as_str().into(),
            days: l.days,
        }),
    }))
}

/// `validate_spec` guarantees a backend; this keeps the impossible case an error rather than a panic.
fn unreachable_backend() -> Result<StoreLocation, AttemptError> {
    Err(AttemptError::Store(crate::evidence::StoreError::Location(
        "set exactly one of spec.filesystem and spec.s3".into(),
    )))
}

async fn cluster_identity(client: &Client) -> Result<ClusterIdentity, AttemptError> {
    let ns: Api<Namespace> = Api::all(client.clone());
    let kube_system = ns
        .get(crate::view::CONTROL_PLANE_NAMESPACE)
        .await
        .map_err(AttemptError::Identity)?;
    let version = client
        .apiserver_version()
        .await
        .map_err(AttemptError::Identity)?;
    Ok(ClusterIdentity {
        uid: kube_system.metadata.uid.unwrap_or_default(),
        server_version: version.git_version,
    })
}

fn selected_controls(ctx: &EvidenceContext, spec: &EvidenceStoreSpec) -> Vec<Control> {
    let selector = spec
        .control_selector
        .as_ref()
        .and_then(|s| compile_selector(s, "spec.controlSelector").ok());
    let mut controls: Vec<Control> = ctx
        .controls
        .state()
        .iter()
        .filter_map(|g| g.0.as_ref().ok().cloned())
        .filter(|c| selector.as_ref().is_none_or(|s| s.matches(c.labels())))
        .collect();
    controls.sort_by_key(|c| c.name_any());
    controls
}

/// The store's chain head by listing, refused when it is behind the head this EvidenceStore published (read fresh
/// from the API server, so that a replica that just took over compares with what the previous leader published)
/// unless a person accepted it by annotation.
async fn listed_head(
    ctx: &EvidenceContext,
    state: &mut StoreState,
    client: &EvidenceStoreClient,
) -> Result<Option<ChainHead>, AttemptError> {
    let found = chain_head(client).await?;
    let api: Api<EvidenceStore> = Api::all(ctx.client.clone());
    let current = match api.get(&state.name).await {
        Ok(es) => Some(es),
        Err(e) => {
            tracing::warn!(store = %state.name, error = %e, "cannot read the EvidenceStore; comparing the chain head with the status read at start");
            None
        }
    };
    let published = current
        .as_ref()
        .and_then(|es| es.status.as_ref())
        .and_then(|s| s.last_snapshot.clone())
        .or_else(|| state.last_snapshot.clone());
    let Some(published) = published else {
        return Ok(found);
    };
    let Some(why) = regression(found.as_ref(), &published) else {
        return Ok(found);
    };
    let accept = found
        .as_ref()
        .map_or_else(|| "none".to_string(), |h| h.digest.clone());
    let accepted = current
        .as_ref()
        .and_then(|es| es.annotations().get(ACCEPT_HEAD_ANNOTATION))
        .is_some_and(|a| a.trim() == accept);
    if !accepted {
        return Err(AttemptError::ChainRegressed { why, accept });
    }
    tracing::warn!(store = %state.name, %why, "chain regression accepted by annotation");
    state.accepted = Some(format!(
        "a chain regression was accepted by the annotation {ACCEPT_HEAD_ANNOTATION}={accept}: {why}"
    ));
    // The published head is what the regression is measured against: the accepted head replaces it.
    state.last_snapshot = None;
    Ok(found)
}

async fn attempt(
    ctx: &EvidenceContext,
    state: &mut StoreState,
    tick: Timestamp,
    baseline: &mut OperationBaseline,
) -> Result<(SnapshotOutcome, u32, u64), AttemptError> {
    let spec = &state.store.spec;
    let client = EvidenceStoreClient::connect(&location(ctx, spec).await?)?;
    let signing_key = match &spec.signing_key {
        None => None,
        Some(r) => {
            let bytes = secret_value(
                ctx,
                &r.name,
                r.key.as_deref().unwrap_or(DEFAULT_SIGNING_KEY),
            )
            .await?;
            Some(
                SigningKey::from_seed(&bytes).map_err(|source| AttemptError::SigningKey {
                    name: r.name.clone(),
                    source,
                })?,
            )
        }
    };
    let cluster = cluster_identity(&ctx.client).await?;
    let controls = selected_controls(ctx, spec);
    let reads: Vec<Reads> = controls
        .iter()
        .filter_map(|c| validate(&c.spec).ok().map(|v| required_kinds(&v)))
        .collect();
    let kinds = Reads::union(&reads);
    ctx.view.ensure(&kinds);
    ctx.view.wait_synced(&kinds, ctx.sync_timeout).await;
    let id = snapshot_id(tick);
    let mut documents = control_documents_at(
        &id,
        &controls,
        tick,
        Timestamp::now(),
        |k| ctx.view.snapshot(k),
        Some(&ctx.ledger),
        baseline,
    )
    .map_err(crate::evidence::snapshot::SnapshotError::from)?;
    // Proof that enforcement operated: the webhook's decisions and whether it was in force, per control.
    let admissions = ctx.metrics.admission_counts();
    for (document, control) in documents.iter_mut().zip(&controls) {
        document.admission = crate::evidence::document::AdmissionRecord::of(
            control,
            admissions.get(&document.control),
        );
    }
    let findings = documents.iter().map(|d| d.failed()).sum();
    let count = u32::try_from(documents.len()).unwrap_or(u32::MAX);
    // A known head avoids listing every manifest; a conflict means another writer moved it: list and retry once.
    let head = match state.head.clone() {
        Some(h) => Some(h),
        None => listed_head(ctx, state, &client).await?,
    };
    let schedule = state.schedule.clone();
    let gap_reason = match (&state.accepted, &state.last_error) {
        (Some(a), Some(e)) => Some(format!("{a}; last error: {e}")),
        (Some(a), None) => Some(a.clone()),
        (None, e) => e.clone(),
    };
    let source = format!("EvidenceStore/{}", state.name);
    let access_reviews = ctx.access_reviews.for_store(&state.name);
    let input = |documents| SnapshotInput {
        source: source.clone(),
        cluster: cluster.clone(),
        tick,
        documents,
        schedule: Some(&schedule),
        gap_reason: gap_reason.clone(),
        signing_key: signing_key.as_ref(),
        access_reviews: access_reviews.clone(),
    };
    let outcome = match write_snapshot_after(&client, head, input(documents.clone())).await {
        Err(SnapshotError::Conflict { .. }) => {
            let head = listed_head(ctx, state, &client).await?;
            write_snapshot_after(&client, head, input(documents)).await?
        }
        other => other?,
    };
    // Another replica wrote this tick and died before publishing it (a fail-over mid-snapshot): the status will
    // describe that snapshot, so count its own documents rather than this replica's evaluation.
    if let SnapshotOutcome::AlreadyTaken(head) = &outcome
        && is_unpublished(state, head)
        && let Some((count, findings)) = counts_of(&client, head).await
    {
        return Ok((outcome, count, findings));
    }
    Ok((outcome, count, findings))
}

/// True when `head` is newer than the snapshot this replica knows as published.
fn is_unpublished(state: &StoreState, head: &ChainHead) -> bool {
    state
        .last_snapshot
        .as_ref()
        .is_none_or(|s| s.sequence < head.manifest.sequence)
}

/// The number of controls and failed findings in the snapshot `head` names, read from its documents; `None` when
/// one cannot be read (verify reports that; the status then counts this replica's own evaluation of the tick).
async fn counts_of(client: &EvidenceStoreClient, head: &ChainHead) -> Option<(u32, u64)> {
    let mut findings = 0;
    for entry in &head.manifest.documents {
        let bytes = match client.get(&entry.path).await {
            Ok(b) => b,
            Err(error) => {
                tracing::warn!(path = %entry.path, %error, "cannot read a document of the chain head");
                return None;
            }
        };
        match serde_json::from_slice::<crate::evidence::document::ControlDocument>(&bytes) {
            Ok(document) => findings += document.failed(),
            Err(error) => {
                tracing::warn!(path = %entry.path, %error, "a document of the chain head does not parse");
                return None;
            }
        }
    }
    Some((
        u32::try_from(head.manifest.documents.len()).unwrap_or(u32::MAX),
        findings,
    ))
}

fn time(t: Timestamp) -> Time {
    Time(t)
}

/// The store's `Ready` condition, keeping its transition time from `previous` while its status holds.
fn condition(
    previous: Option<&Condition>,
    ok: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Condition {
    cluster_scoped::condition(
        "Ready",
        previous.map(std::slice::from_ref).unwrap_or_default(),
        ok,
        reason,
        message,
        generation,
        Timestamp::now(),
    )
}

async fn succeeded(
    ctx: &EvidenceContext,
    state: &mut StoreState,
    tick: Timestamp,
    outcome: &SnapshotOutcome,
    controls: u32,
    findings: u64,
) {
    let head = outcome.head();
    let recovered = state.failures > 0;
    let uri = match location(ctx, &state.store.spec).await {
        Ok(l) => l.uri(),
        Err(_) => String::new(),
    };
    let published = |h: &ChainHead, at: Timestamp| LastSnapshot {
        uri: format!("{}/{}", uri.trim_end_matches('/'), h.path),
        digest: h.digest.clone(),
        id: h.manifest.snapshot_id.clone(),
        sequence: h.manifest.sequence,
        time: time(at),
        controls,
        findings,
    };
    match outcome {
        SnapshotOutcome::Written(h) => {
            state.last_snapshot = Some(published(h, tick));
            tracing::info!(store = %state.name, snapshot = %h.manifest.snapshot_id, sequence = h.manifest.sequence, "evidence snapshot written");
        }
        SnapshotOutcome::AlreadyTaken(h) if is_unpublished(state, h) => {
            // Written by a replica that stopped before it published it (SIGKILL between manifest and status).
            let at = h.manifest.taken_at.parse().unwrap_or(tick);
            state.last_snapshot = Some(published(h, at));
            tracing::info!(store = %state.name, snapshot = %h.manifest.snapshot_id, sequence = h.manifest.sequence, "snapshot for this tick taken by another replica; publishing it");
        }
        SnapshotOutcome::AlreadyTaken(_) => {
            tracing::info!(store = %state.name, snapshot = %head.manifest.snapshot_id, "snapshot for this tick already taken");
        }
    }
    state.last_tick = Some(tick);
    let message = format!(
        "snapshot {} (sequence {}) is the chain head",
        head.manifest.snapshot_id, head.manifest.sequence
    );
    let cond = condition(
        state.ready.as_ref(),
        true,
        "SnapshotWritten",
        &message,
        state.store.metadata.generation,
    );
    state.ready = Some(cond.clone());
    let failures = state.failures;
    state.failures = 0;
    state.last_error = None;
    state.last_category = None;
    if matches!(outcome, SnapshotOutcome::Written(_)) {
        state.accepted = None;
    }
    let status = EvidenceStoreStatus {
        observed_generation: state.store.metadata.generation,
        uri: Some(uri),
        conditions: vec![cond],
        last_snapshot: state.last_snapshot.clone(),
        chain_head: Some(head.digest.clone()),
        consecutive_failures: 0,
        next_snapshot: state.schedule.next_after(tick).map(time),
    };
    write_status(ctx, &state.name, &status).await;
    if recovered {
        let note =
            format!("evidence snapshots recovered after {failures} failed attempt(s); {message}");
        publish(
            ctx,
            &state.store,
            EventType::Normal,
            "SnapshotRecovered",
            &note,
        )
        .await;
    }
}

async fn failed(
    ctx: &EvidenceContext,
    state: &mut StoreState,
    tick: Timestamp,
    error: &AttemptError,
) {
    state.failures += 1;
    let retry = if error.retry_slowly() {
        format!(
            "retrying every {} until it is fixed",
            humantime::format_duration(MAX_BACKOFF)
        )
    } else {
        "retrying with backoff, the next snapshot links to the last good one".to_string()
    };
    let message = format!(
        "snapshot {} failed ({}): {error}; {retry}",
        snapshot_id(tick),
        error.category()
    );
    tracing::warn!(store = %state.name, failures = state.failures, "{message}");
    state.last_error = Some(error.to_string());
    let cond = condition(
        state.ready.as_ref(),
        false,
        error.reason(),
        &message,
        state.store.metadata.generation,
    );
    state.ready = Some(cond.clone());
    let status = EvidenceStoreStatus {
        observed_generation: state.store.metadata.generation,
        uri: location(ctx, &state.store.spec).await.ok().map(|l| l.uri()),
        conditions: vec![cond],
        last_snapshot: state.last_snapshot.clone(),
        chain_head: state.last_snapshot.as_ref().map(|s| s.digest.clone()),
        consecutive_failures: state.failures,
        next_snapshot: state.schedule.next_after(tick).map(time),
    };
    write_status(ctx, &state.name, &status).await;
    // One Warning per kind of failure: the first, and each time the cause changes (an outage that turns into a
    // regressed chain must not stay hidden behind the outage's event).
    if state.failures == 1 || state.last_category != Some(error.category()) {
        publish(
            ctx,
            &state.store,
            EventType::Warning,
            error.reason(),
            &message,
        )
        .await;
    }
    state.last_category = Some(error.category());
}

async fn write_status(ctx: &EvidenceContext, name: &str, status: &EvidenceStoreStatus) {
    let written = cluster_scoped::apply_status::<EvidenceStore>(
        &ctx.client,
        &ctx.leadership,
        &ctx.metrics,
        name,
        status,
    )
    .await;
    if let Err(e) = written {
        tracing::warn!(store = %name, error = %e, "could not write EvidenceStore status");
    }
}

async fn publish(
    ctx: &EvidenceContext,
    store: &EvidenceStore,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    cluster_scoped::publish(
        &ctx.recorder,
        &ctx.metrics,
        store,
        type_,
        (reason, "Snapshot"),
        note,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> EvidenceStoreSpec {
        serde_json::from_value(v).unwrap()
    }

    fn head(sequence: u64, digest: &str) -> ChainHead {
        let mut manifest: crate::evidence::Manifest = serde_json::from_value(serde_json::json!({
            "formatVersion": 2, "sequence": sequence, "snapshotId": "20260101T000000Z",
            "takenAt": "2026-01-01T00:00:00Z", "windowStart": "2026-01-01T00:00:00Z",
            "cluster": {"uid": "u", "serverVersion": "v"}, "operatorVersion": "0", "source": "t",
            "documents": [], "previous": null,
        }))
        .unwrap();
        manifest.sequence = sequence;
        ChainHead {
            path: crate::evidence::Manifest::path_for(sequence),
            manifest,
            digest: digest.into(),
        }
    }

    fn published(sequence: u64, digest: &str) -> LastSnapshot {
        LastSnapshot {
            uri: String::new(),
            digest: digest.into(),
            id: String::new(),
            sequence,
            time: time(Timestamp::UNIX_EPOCH),
            controls: 0,
            findings: 0,
        }
    }

    #[test]
    fn a_head_behind_or_different_from_the_published_one_is_a_regression() {
        let p = published(5, "aa");
        assert!(regression(Some(&head(5, "aa")), &p).is_none());
        assert!(
            regression(Some(&head(6, "bb")), &p).is_none(),
            "ahead is another writer"
        );
        let behind = regression(Some(&head(4, "cc")), &p).unwrap();
        assert!(
            behind.contains("sequence 4 but this EvidenceStore published sequence 5"),
            "{behind}"
        );
        let empty = regression(None, &p).unwrap();
        assert!(empty.contains("sequence 0"), "{empty}");
        let rewritten = regression(Some(&head(5, "dd")), &p).unwrap();
        assert!(rewritten.contains("rewritten"), "{rewritten}");
    }

    #[test]
    fn failures_only_a_person_can_fix_are_retried_slowly_and_named() {
        let regressed = AttemptError::ChainRegressed {
            why: "x".into(),
            accept: "none".into(),
        };
        assert!(regressed.retry_slowly());
        assert_eq!(regressed.reason(), "ChainRegressed");
        let key_used = AttemptError::Snapshot(SnapshotError::ManifestKeyUsed {
            path: "p".into(),
            versions: 1,
            delete_markers: 1,
        });
        assert!(key_used.retry_slowly());
        assert_eq!(key_used.reason(), "ChainRegressed");
        let secret = AttemptError::SecretKey {
            namespace: "n".into(),
            name: "s".into(),
            key: "k".into(),
        };
        assert!(secret.retry_slowly());
        assert_eq!(secret.reason(), "SnapshotFailed");
        let outage = AttemptError::Store(crate::evidence::StoreError::Backend {
            uri: "s3://b".into(),
            source: object_store::Error::Generic {
                store: "S3",
                source: "connection refused".into(),
            },
        });
        assert!(!outage.retry_slowly());
    }

    #[test]
    fn specs_are_validated_with_specific_messages() {
        let ok = spec(
            serde_json::json!({"filesystem": {"path": "/var/evidence"}, "schedule": {"interval": "1h"}}),
        );
        assert!(validate_spec(&ok).is_ok());
        let both = spec(
            serde_json::json!({"filesystem": {"path": "/x"}, "s3": {"bucket": "abc"}, "schedule": {"interval": "1h"}}),
        );
        assert!(validate_spec(&both).unwrap_err().contains("exactly one"));
        let relative =
            spec(serde_json::json!({"filesystem": {"path": "x"}, "schedule": {"interval": "1h"}}));
        assert!(validate_spec(&relative).unwrap_err().contains("absolute"));
        let cron = spec(serde_json::json!({"s3": {"bucket": "abc"}, "schedule": {"cron": "bad"}}));
        assert!(validate_spec(&cron).unwrap_err().contains("schedule.cron"));
        let sel = spec(
            serde_json::json!({"s3": {"bucket": "abc"}, "schedule": {"interval": "1h"},
            "controlSelector": {"matchExpressions": [{"key": "a", "operator": "Nope"}]}}),
        );
        assert!(
            validate_spec(&sel)
                .unwrap_err()
                .contains("spec.controlSelector")
        );
    }

    #[test]
    fn ready_transition_time_changes_only_on_a_transition() {
        let first = condition(None, false, "SnapshotFailed", "x", Some(1));
        let again = condition(Some(&first), false, "SnapshotFailed", "y", Some(1));
        assert_eq!(first.last_transition_time, again.last_transition_time);
    }
}
