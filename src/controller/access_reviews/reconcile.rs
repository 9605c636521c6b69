//! One pass over one AccessReview: open the cycle that is due, count its decisions, write what changed.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject};
use kube::api::{ListParams, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};

use super::AccessReviewContext;
use super::status::{
    change_counts, decision_status, privileged_since_review, progress, record,
    recorded_revocations, summarise,
};
use crate::access::cycle::{ReviewSettings, cycle_id, tick_of};
use crate::access::{CycleRef, diff, resolve, tally};
use crate::api::{
    AccessReview, AccessReviewDecision, AccessReviewStatus, CompletedCycle, CycleStatus,
    EvidenceStore, Revocation,
};
use crate::controller::cluster_scoped::{self, condition};
use crate::controller::evidence::connect_store;
use crate::evidence::EvidenceStoreClient;
use crate::evidence::access_review::{
    ACCESS_REVIEW_FORMAT_VERSION, Baseline, POPULATION_KIND, PopulationDocument,
};
use crate::view::{Reads, ResourceKind};

/// How often a review is looked at when nothing changes: revocations are noticed within this.
const RESYNC: Duration = Duration::from_secs(15);
/// How soon a standby or a failed pass looks again.
const RETRY: Duration = Duration::from_secs(5);

/// The reconcile loop's error; every failure a person can fix is written to the status instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A write to the API server failed.
    #[error("writing the status of AccessReview {name}: {source}")]
    Write {
        /// The review.
        name: String,
        /// The error.
        source: kube::Error,
    },
}

/// Retries a failed pass soon.
pub fn error_policy(
    _: Arc<DeserializeGuard<AccessReview>>,
    error: &Error,
    _: Arc<AccessReviewContext>,
) -> Action {
    tracing::warn!(%error, "access review pass failed; retrying");
    Action::requeue(RETRY)
}

/// The kinds a review reads.
fn reads() -> Reads {
    Reads::kinds(&[
        ResourceKind::ClusterRoleBinding,
        ResourceKind::RoleBinding,
        ResourceKind::ClusterRole,
        ResourceKind::Role,
        ResourceKind::Namespace,
    ])
}

/// One pass over a review as watched: one the types cannot read (a CRD older or newer than this operator) gets
/// `Ready=False` with the reason on its own status.
pub async fn reconcile_guarded(
    object: Arc<DeserializeGuard<AccessReview>>,
    ctx: Arc<AccessReviewContext>,
) -> Result<Action, Error> {
    match &object.0 {
        Ok(review) => reconcile(Arc::new(review.clone()), ctx).await,
        Err(_) if !ctx.leadership.is_leader() => Ok(Action::requeue(RETRY)),
        Err(invalid) => {
            let name = invalid.metadata.name.clone().unwrap_or_default();
            let message = format!(
                "the AccessReview cannot be read ({}): apply the CRDs of this operator's version (crds/)",
                invalid.error
            );
            tracing::warn!(review = %name, %message, "access review cannot be read");
            let status = serde_json::json!({
                "observedGeneration": invalid.metadata.generation,
                "conditions": [condition("Ready", &[], false, "Unreadable", &message, invalid.metadata.generation, Timestamp::now())],
            });
            // Untyped: the API server answers with the same object, which the type cannot read either.
            let api: Api<DynamicObject> =
                Api::all_with(ctx.client.clone(), &ApiResource::erase::<AccessReview>(&()));
            let patch = serde_json::json!({
                "apiVersion": AccessReview::api_version(&()),
                "kind": AccessReview::kind(&()),
                "status": status,
            });
            api.patch_status(
                &name,
                &PatchParams::apply(crate::OPERATOR_NAME).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map_err(|source| Error::Write { name, source })?;
            Ok(Action::await_change())
        }
    }
}

/// One pass over `review`.
pub async fn reconcile(
    review: Arc<AccessReview>,
    ctx: Arc<AccessReviewContext>,
) -> Result<Action, Error> {
    if !ctx.leadership.is_leader() {
        return Ok(Action::requeue(RETRY));
    }
    forget_deleted(&ctx);
    let name = review.name_any();
    // Whole seconds: the status's times have no fraction, so a time kept in it compares equal to the next pass's.
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH);
    let previous = review.status.clone().unwrap_or_default();
    let mut pass = Pass {
        ctx: &ctx,
        review: &review,
        name: name.clone(),
        previous: previous.clone(),
        now,
    };
    let settings = match ReviewSettings::new(&review.spec) {
        Ok(s) => s,
        Err(e) => return pass.not_ready("InvalidSpec", &e.to_string(), None).await,
    };
    let Some(namespace) = ctx.evidence_namespace.clone() else {
        return pass
            .not_ready(
                "EvidenceDisabled",
                "evidence is turned off (chart value evidence.enabled=false), and each cycle's population is kept \
                 in an evidence store: turn evidence on and create an EvidenceStore",
                None,
            )
            .await;
    };
    let reads = reads();
    ctx.view.ensure(&reads);
    ctx.view.wait_synced(&reads, ctx.sync_timeout).await;
    let view = ctx.view.snapshot(&reads);
    let rbac_error = [
        ResourceKind::ClusterRoleBinding,
        ResourceKind::RoleBinding,
        ResourceKind::ClusterRole,
        ResourceKind::Role,
    ]
    .into_iter()
    .find_map(|k| view.require(k).err());
    let scope = match settings.scope(&view) {
        Ok(s) => s,
        Err(e) => return pass.not_ready("InvalidSpec", &e.to_string(), None).await,
    };
    let current = rbac_error.is_none().then(|| resolve(&view, &scope));

    let mut cycle = previous.cycle.clone();
    let mut events: Vec<(EventType, &'static str, String)> = Vec::new();
    if let Some(tick) = settings.cycle_to_open(cycle.as_ref(), now) {
        let id = cycle_id(tick);
        let Some(population) = &current else {
            let why = rbac_error.unwrap_or_default();
            return pass
                .not_ready(
                    "RbacUnreadable",
                    &format!("cycle {id} cannot open: the operator cannot read RBAC ({why})"),
                    Some(RETRY * 6),
                )
                .await;
        };
        let (store_name, store) = match store_for(&ctx, &review, &namespace).await {
            Ok(s) => s,
            Err(why) => {
                return pass
                    .not_ready(
                        "NoEvidenceStore",
                        &format!("cycle {id} cannot open: {why}"),
                        Some(RETRY * 6),
                    )
                    .await;
            }
        };
        let (baseline, changes) = match &previous.last_completed_cycle {
            None => (None, Vec::new()),
            Some(done) => {
                let read = match store_named(&ctx, &done.evidence_store, &namespace).await {
                    Ok(s) => ctx
                        .populations
                        .read(&s, &done.population_digest)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                let baseline = |unreadable| Baseline {
                    cycle: done.id.clone(),
                    population_digest: done.population_digest.clone(),
                    unreadable,
                };
                match read {
                    Ok(doc) => (Some(baseline(None)), diff(&doc.population, population)),
                    Err(why) => (Some(baseline(Some(why))), Vec::new()),
                }
            }
        };
        let due = now
            .checked_add(settings.due_within)
            .unwrap_or(Timestamp::MAX);
        let document = PopulationDocument {
            format_version: ACCESS_REVIEW_FORMAT_VERSION,
            kind: POPULATION_KIND.into(),
            access_review: name.clone(),
            title: review.spec.title.clone(),
            cycle: id.clone(),
            opened: now.to_string(),
            due: due.to_string(),
            spec: serde_json::to_value(&review.spec).unwrap_or_default(),
            population: population.clone(),
            baseline: baseline.clone(),
            changes: changes.clone(),
        };
        let digest = match ctx.populations.write(&store, document).await {
            Ok(d) => d,
            Err(e) => {
                return pass
                    .not_ready(
                        "StoreUnavailable",
                        &format!("cycle {id} cannot open: {e}"),
                        Some(RETRY * 6),
                    )
                    .await;
            }
        };
        if let Some(old) = &cycle
            && old.completed.is_none()
        {
            events.push((
                EventType::Warning,
                "CycleNotCompleted",
                format!(
                    "cycle {} closed with {} of {} subjects undecided as cycle {id} opened",
                    old.id,
                    old.subjects.saturating_sub(old.decided),
                    old.subjects
                ),
            ));
        }
        let counts = change_counts(&changes);
        let compared = match &baseline {
            None => "the first cycle: no completed cycle to compare with".to_string(),
            Some(b) if b.unreadable.is_some() => format!(
                "changes since cycle {} not listed: its population cannot be read",
                b.cycle
            ),
            Some(b) => format!(
                "since cycle {}: {} new, {} with wider access, {} with less, {} removed",
                b.cycle, counts.new_subjects, counts.widened, counts.reduced, counts.removed
            ),
        };
        events.push((
            EventType::Normal,
            "CycleOpened",
            format!(
                "cycle {id} opened: {} to review by {due}; {compared}",
                subjects(population.subjects.len())
            ),
        ));
        cycle = Some(CycleStatus {
            id,
            opened: Time(now),
            due: Time(due),
            completed: None,
            population_digest: digest,
            evidence_store: store_name,
            subjects: 0,
            decided: 0,
            kept: 0,
            to_revoke: 0,
            revoked: 0,
            revocations_overdue: 0,
            overdue: false,
            undecided: Vec::new(),
            changes: counts,
            privileged_since_review: None,
        });
    }
    let Some(cycle) = cycle else {
        return pass
            .not_ready(
                "NoScheduleTick",
                "the schedule has no tick at or before now, so no cycle can open yet",
                Some(RESYNC),
            )
            .await;
    };
    let population = match store_named(&ctx, &cycle.evidence_store, &namespace).await {
        Ok(store) => ctx
            .populations
            .read(&store, &cycle.population_digest)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    let population = match population {
        Ok(p) => p,
        Err(why) => {
            // Keep the opened cycle in the status: the population is written, only reading it back failed.
            pass.previous.cycle = Some(cycle.clone());
            return pass
                .not_ready(
                    "PopulationUnreadable",
                    &format!("cycle {}'s population cannot be read: {why}", cycle.id),
                    Some(RETRY * 6),
                )
                .await;
        }
    };
    let decisions: Vec<Arc<AccessReviewDecision>> = ctx
        .decisions
        .state()
        .iter()
        .filter_map(|d| d.0.as_ref().ok())
        .filter(|d| d.spec.access_review == name && d.spec.cycle == cycle.id)
        .map(|d| Arc::new(d.clone()))
        .collect();
    let recorded = recorded_revocations(decisions.iter().filter_map(|d| d.status.as_ref()));
    let counted = tally(
        CycleRef {
            review: &name,
            id: &cycle.id,
            due: cycle.due.0,
            grace: settings.grace,
        },
        &population.population,
        &decisions,
        current.as_ref(),
        &recorded,
        now,
    );
    let was = previous.cycle.as_ref().filter(|c| c.id == cycle.id);
    let mut cycle = summarise(cycle, &counted);
    cycle.privileged_since_review = privileged_since_review(
        &population.population,
        &population.changes,
        &counted,
        current.as_ref(),
    );
    let mut last_completed = previous.last_completed_cycle.clone();
    if let Some(completed) = counted.completed
        && last_completed.as_ref().is_none_or(|c| c.id != cycle.id)
    {
        last_completed = Some(CompletedCycle {
            id: cycle.id.clone(),
            opened: cycle.opened.clone(),
            completed: Time(completed),
            population_digest: cycle.population_digest.clone(),
            evidence_store: cycle.evidence_store.clone(),
        });
        events.push((
            EventType::Normal,
            "CycleCompleted",
            format!(
                "cycle {}: all {} decided ({} kept, {} to revoke)",
                cycle.id,
                subjects(cycle.subjects as usize),
                cycle.kept,
                cycle.to_revoke
            ),
        ));
    }
    if cycle.overdue && !was.is_some_and(|c| c.overdue) {
        events.push((
            EventType::Warning,
            "CycleOverdue",
            format!(
                "cycle {} is past due ({}) with {} of {} subjects undecided: {}",
                cycle.id,
                cycle.due.0,
                cycle.subjects - cycle.decided,
                cycle.subjects,
                cycle.undecided.join(", ")
            ),
        ));
    }
    if cycle.revoked > was.map_or(0, |c| c.revoked) {
        let done: Vec<String> = counted
            .outcomes
            .iter()
            .filter(|o| o.carried_out.is_some())
            .map(|o| o.subject.to_string())
            .collect();
        events.push((
            EventType::Normal,
            "RevocationCarriedOut",
            format!(
                "cycle {}: {} of {} revocations carried out (no reviewed access left): {}",
                cycle.id,
                cycle.revoked,
                cycle.to_revoke,
                done.join(", ")
            ),
        ));
    }
    if cycle.revocations_overdue > was.map_or(0, |c| c.revocations_overdue) {
        let late: Vec<String> = counted
            .outcomes
            .iter()
            .filter(|o| o.revocation_overdue)
            .map(|o| o.subject.to_string())
            .collect();
        events.push((
            EventType::Warning,
            "RevocationOverdue",
            format!(
                "cycle {}: access decided revoked is still granted after the grace period: {}",
                cycle.id,
                late.join(", ")
            ),
        ));
    }
    let (reason, message) = progress(&cycle);
    let next_cycle = tick_of(&cycle.id)
        .and_then(|t| settings.next_cycle(t))
        .map(Time);
    let status = AccessReviewStatus {
        observed_generation: review.metadata.generation,
        conditions: vec![condition(
            "Ready",
            &previous.conditions,
            true,
            reason,
            &message,
            review.metadata.generation,
            now,
        )],
        cycle: Some(cycle.clone()),
        last_completed_cycle: last_completed,
        next_cycle: next_cycle.clone(),
    };
    write_decision_statuses(&ctx, &decisions, &counted, now).await;
    ctx.records.set(
        &name,
        &cycle.evidence_store,
        vec![record(
            &name,
            review.spec.title.as_deref(),
            &cycle,
            &counted,
        )],
    );
    if status != previous {
        write_status(&ctx, &name, &status).await?;
    }
    for (type_, reason, note) in events {
        publish(&ctx, &review, type_, reason, &note).await;
    }
    let mut wait = RESYNC;
    for at in [next_cycle.map(|t| t.0), Some(cycle.due.0)]
        .into_iter()
        .flatten()
    {
        if let Ok(d) = Duration::try_from(at.duration_since(now))
            && d > Duration::ZERO
        {
            wait = wait.min(d + Duration::from_millis(500));
        }
    }
    Ok(Action::requeue(wait))
}

/// A pass's fixed inputs, and the way out when the review cannot run.
struct Pass<'a> {
    ctx: &'a AccessReviewContext,
    review: &'a AccessReview,
    name: String,
    previous: AccessReviewStatus,
    now: Timestamp,
}

impl Pass<'_> {
    /// Writes `Ready=False` with `reason` and `message` (keeping the cycle in the status), publishes it once as a
    /// Warning event, and looks again after `retry` or when the review changes.
    async fn not_ready(
        &self,
        reason: &str,
        message: &str,
        retry: Option<Duration>,
    ) -> Result<Action, Error> {
        let generation = self.review.metadata.generation;
        let before = self.previous.conditions.iter().find(|c| c.type_ == "Ready");
        let repeated = before
            .is_some_and(|c| c.status == "False" && c.reason == reason && c.message == message);
        let status = AccessReviewStatus {
            observed_generation: generation,
            conditions: vec![condition(
                "Ready",
                &self.previous.conditions,
                false,
                reason,
                message,
                generation,
                self.now,
            )],
            ..self.previous.clone()
        };
        if self.review.status.as_ref() != Some(&status) {
            write_status(self.ctx, &self.name, &status).await?;
        }
        if !repeated {
            publish(self.ctx, self.review, EventType::Warning, reason, message).await;
        }
        Ok(retry.map_or_else(Action::await_change, Action::requeue))
    }
}

/// Drops the records of reviews that were deleted.
fn forget_deleted(ctx: &AccessReviewContext) {
    let names: Vec<String> = ctx.reviews.state().iter().map(|r| r.name_any()).collect();
    ctx.records
        .retain(|review| names.iter().any(|n| n == review));
}

/// The EvidenceStore that keeps new cycles: the one the spec names, or the only one.
async fn store_for(
    ctx: &AccessReviewContext,
    review: &AccessReview,
    namespace: &str,
) -> Result<(String, EvidenceStoreClient), String> {
    let name = match &review.spec.evidence_store {
        Some(name) => name.clone(),
        None => {
            let api: Api<EvidenceStore> = Api::all(ctx.client.clone());
            let list = api
                .list(&ListParams::default())
                .await
                .map_err(|e| format!("cannot list EvidenceStores: {e}"))?;
            match list.items.as_slice() {
                [only] => only.name_any(),
                [] => {
                    return Err(
                        "no EvidenceStore exists; create one (docs/evidence.md) to keep each cycle's population".into(),
                    );
                }
                several => {
                    return Err(format!(
                        "{} EvidenceStores exist; name the one that keeps the cycles in spec.evidenceStore",
                        several.len()
                    ));
                }
            }
        }
    };
    let client = store_named(ctx, &name, namespace).await?;
    Ok((name, client))
}

/// A client of the EvidenceStore `name`.
async fn store_named(
    ctx: &AccessReviewContext,
    name: &str,
    namespace: &str,
) -> Result<EvidenceStoreClient, String> {
    let api: Api<EvidenceStore> = Api::all(ctx.client.clone());
    let store = api
        .get(name)
        .await
        .map_err(|e| format!("cannot read EvidenceStore {name}: {e}"))?;
    connect_store(&ctx.client, namespace, &store.spec)
        .await
        .map_err(|e| format!("EvidenceStore {name}: {e}"))
}

/// Writes each decision's status when it changed.
async fn write_decision_statuses(
    ctx: &AccessReviewContext,
    decisions: &[Arc<AccessReviewDecision>],
    counted: &crate::access::Tally,
    now: Timestamp,
) {
    let api: Api<AccessReviewDecision> = Api::all(ctx.client.clone());
    for decision in decisions {
        let name = decision.name_any();
        let Some(review) = counted.decisions.iter().find(|r| r.name == name) else {
            continue;
        };
        let previous = decision.status.as_ref();
        let revocations: Vec<Revocation> = counted
            .outcomes
            .iter()
            .filter(|o| o.decision.as_ref().is_some_and(|d| d.decision == name))
            .filter_map(|o| {
                Some(Revocation {
                    subject: o.subject.clone(),
                    carried_out: Time(o.carried_out?),
                })
            })
            .collect();
        let status = decision_status(
            previous,
            review,
            revocations,
            decision.metadata.generation,
            now,
        );
        if previous == Some(&status) {
            continue;
        }
        let patch = serde_json::json!({
            "apiVersion": AccessReviewDecision::api_version(&()),
            "kind": AccessReviewDecision::kind(&()),
            "status": status,
        });
        if let Err(e) = api
            .patch_status(
                &name,
                &PatchParams::apply(crate::OPERATOR_NAME).force(),
                &Patch::Apply(&patch),
            )
            .await
        {
            tracing::warn!(decision = %name, error = %e, "could not write AccessReviewDecision status");
        }
    }
}

async fn write_status(
    ctx: &AccessReviewContext,
    name: &str,
    status: &AccessReviewStatus,
) -> Result<(), Error> {
    cluster_scoped::apply_status::<AccessReview>(
        &ctx.client,
        &ctx.leadership,
        &ctx.metrics,
        name,
        status,
    )
    .await
    .map(|_| ())
    .map_err(|source| Error::Write {
        name: name.into(),
        source,
    })
}

async fn publish(
    ctx: &AccessReviewContext,
    review: &AccessReview,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    cluster_scoped::publish(
        &ctx.recorder,
        &ctx.metrics,
        review,
        type_,
        (reason, "Review"),
        note,
    )
    .await;
}

/// "1 subject", "3 subjects".
fn subjects(n: usize) -> String {
    if n == 1 {
        "1 subject".into()
    } else {
        format!("{n} subjects")
    }
}
