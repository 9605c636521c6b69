//! One reconcile: validate -> watch what the check needs -> evaluate -> status (if changed) -> events.
//!
//! Only the leader gets past the first step; a standby starts the watches a control needs (warm caches) and looks
//! again soon. What happened is recorded through `ctx.metrics`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};

use super::exception_events::plan_expiries;
use super::transitions::{PlannedEvent, plan};
use super::{Context, Error, status};
use crate::api::Mode;
use crate::api::{Control, ControlStatus};
use crate::engine::evaluate::required_kinds;
use crate::engine::validation::{SpecError, validate};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::core::{ApiResource, DeserializeGuard, DynamicObject, error_boundary::InvalidObject};

/// How soon a replica that is not the leader looks at a control again, so that it picks the work up soon after it
/// becomes leader (becoming leader also re-reconciles every control at once).
pub const STANDBY_REQUEUE: Duration = Duration::from_secs(5);

/// Reconciles one Control as the operator's watch delivers it: readable Controls go to [`reconcile`]; one the Rust
/// types cannot read gets `Ready=False` (reason `MalformedObject`) and a Warning event, and waits for a spec change.
pub async fn reconcile_guarded(
    object: Arc<DeserializeGuard<Control>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    match &object.0 {
        Ok(control) => reconcile(Arc::new(control.clone()), ctx).await,
        Err(invalid) if ctx.is_leader() => report_unreadable(invalid, &ctx).await,
        Err(_) => Ok(Action::requeue(STANDBY_REQUEUE)),
    }
}

/// [`error_policy`] for the guarded watch.
pub fn error_policy_guarded(
    object: Arc<DeserializeGuard<Control>>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    backoff(&object.name_any(), error, &ctx)
}

async fn report_unreadable(invalid: &InvalidObject, ctx: &Context) -> Result<Action, Error> {
    let name = invalid.metadata.name.clone().ok_or(Error::MissingName)?;
    let error = SpecError::Unreadable(invalid.error.clone());
    tracing::warn!(control = %name, %error, "control cannot be read");
    // The previous status cannot be read either; the write happens once per generation (status writes do not
    // trigger a reconcile), so transition times are those of the first report.
    let new = status::invalid(
        None,
        &error,
        Mode::default(),
        &status::AdmissionStatus::NotServing("the Control cannot be read".into()),
        invalid.metadata.generation,
        Timestamp::now(),
    );
    // Untyped: the API server answers with the same object, which the Control type cannot read either.
    let api: Api<DynamicObject> =
        Api::all_with(ctx.client.clone(), &ApiResource::erase::<Control>(&()));
    let patch = serde_json::json!({"apiVersion": Control::api_version(&()), "kind": Control::kind(&()), "status": new});
    api.patch_status(
        &name,
        &PatchParams::apply(crate::OPERATOR_NAME).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    ctx.metrics.status_written(&name);
    let reference = ObjectReference {
        api_version: Some(Control::api_version(&()).into_owned()),
        kind: Some(Control::kind(&()).into_owned()),
        name: Some(name.clone()),
        uid: invalid.metadata.uid.clone(),
        ..Default::default()
    };
    let event = Event {
        type_: EventType::Warning,
        reason: "InvalidSpec".into(),
        note: Some(super::transitions::truncate_note(format!(
            "Control {name} cannot be evaluated: {error}"
        ))),
        action: "Evaluate".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &reference).await {
        tracing::warn!(control = %name, error = %e, "could not publish event");
    }
    Ok(Action::await_change())
}

/// Reconciles one Control: as leader, evaluates it and writes what changed; otherwise only keeps its watches warm.
pub async fn reconcile(control: Arc<Control>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !ctx.is_leader() {
        return Ok(stand_by(&control, &ctx));
    }
    let started = Instant::now();
    let result = reconcile_as_leader(&control, &ctx).await;
    ctx.metrics.observe_reconcile(
        &control.name_any(),
        started.elapsed(),
        result.as_ref().err().map(Error::category),
    );
    result
}

/// A standby neither evaluates nor writes (no request through `ctx.client`); it starts the watches the control
/// needs so that its caches are warm when it takes over.
fn stand_by(control: &Control, ctx: &Context) -> Action {
    ctx.metrics.write_dropped();
    // Another replica writes now; should this one lead again, its cache will hold that replica's writes.
    ctx.written.forget(&control.name_any());
    if let Ok(validated) = validate(&control.spec) {
        ctx.view.ensure(&required_kinds(&validated));
    }
    tracing::trace!(control = %control.name_any(), "not the leader; reconcile skipped");
    Action::requeue(STANDBY_REQUEUE)
}

async fn reconcile_as_leader(control: &Control, ctx: &Context) -> Result<Action, Error> {
    let name = control.metadata.name.clone().ok_or(Error::MissingName)?;
    let now = Timestamp::now();
    let generation = control.metadata.generation;
    let previous = ctx.written.previous(control);
    let previous = previous.as_ref();
    let mode = control.spec.mode.unwrap_or_default();

    let validated = match validate(&control.spec) {
        Ok(v) => v,
        Err(error) => {
            tracing::info!(control = %name, %error, "control spec is invalid");
            ctx.metrics
                .set_compliance(&name, &control.spec.criteria, None);
            ctx.metrics.clear_findings(&name);
            ctx.evaluators.forget(&name);
            let new = status::invalid(
                previous,
                &error,
                mode,
                &invalid_admission(),
                generation,
                now,
            );
            write_if_changed(ctx, control, &name, previous, new, Duration::MAX, now).await?;
            reset_failures(ctx, &name);
            // Nothing to do until the spec changes: the controller re-runs on every spec change.
            return Ok(Action::await_change());
        }
    };

    let kinds = required_kinds(&validated);
    ctx.view.ensure(&kinds);
    ctx.view.wait_synced(&kinds, ctx.sync_timeout).await;
    let snapshot = ctx.view.snapshot(&kinds);
    let evaluating = Instant::now();
    let evaluated = ctx.evaluators.evaluate(&name, &validated, &snapshot, now);
    let path = evaluated.as_ref().map_or("full", |(_, path)| path.label());
    ctx.metrics
        .observe_evaluation(validated.kind.field(), path, evaluating.elapsed());
    let evaluation = match evaluated {
        Ok((e, path)) => {
            tracing::trace!(control = %name, ?path, "evaluation path");
            e
        }
        Err(error) => {
            ctx.metrics
                .set_compliance(&name, &control.spec.criteria, None);
            ctx.metrics.clear_findings(&name);
            let new = status::invalid(
                previous,
                &error,
                mode,
                &invalid_admission(),
                generation,
                now,
            );
            write_if_changed(ctx, control, &name, previous, new, Duration::MAX, now).await?;
            return Ok(Action::await_change());
        }
    };
    tracing::debug!(control = %name, compliance = ?evaluation.compliance, failed = evaluation.summary.failed, "evaluated");
    // Evidence snapshots count evaluations between them: proof that the control kept operating.
    ctx.ledger.record(&name, now);
    ctx.metrics
        .set_compliance(&name, &evaluation.criteria, Some(evaluation.compliance));
    ctx.metrics
        .set_findings(&name, validated.severity, &evaluation.findings);
    let admission = crate::webhook::admission_status(&name, &validated, ctx.webhook.as_ref());
    let new = status::evaluated(
        previous,
        &evaluation,
        validated.mode,
        &admission,
        generation,
        now,
    );
    let written =
        write_if_changed(ctx, control, &name, previous, new, validated.interval, now).await?;
    if written {
        // Reports follow status: published when the result changed or on the interval refresh, never more often.
        super::publish_reports::publish(ctx, control, &evaluation, now).await;
    }
    reset_failures(ctx, &name);
    // Kinds still syncing are reported Unknown; look again soon rather than after a full interval. Exceptions are
    // not among them: until they are read nothing is waived (the safe side), and their watch syncing re-evaluates
    // every control anyway.
    let requeue = if snapshot
        .unavailable
        .keys()
        .all(|k| *k == crate::view::ResourceKind::ControlException)
        && snapshot.dynamic_unavailable.is_empty()
    {
        validated.interval
    } else {
        validated.interval.min(Duration::from_secs(15))
    };
    Ok(Action::requeue(
        until_next_expiry(&name, &snapshot, now).map_or(requeue, |d| requeue.min(d)),
    ))
}

/// How long until the earliest active exception of control `name` expires, so that its findings fail again at that
/// moment rather than at the next interval. A little late rather than early: at the expiry itself the exception
/// no longer waives anything.
pub(super) fn until_next_expiry(
    name: &str,
    snapshot: &crate::view::ClusterSnapshot,
    now: Timestamp,
) -> Option<Duration> {
    let expiry = crate::engine::exceptions::next_expiry(name, snapshot, now)?;
    let wait = expiry.duration_since(now).unsigned_abs();
    Some(wait + Duration::from_millis(500))
}

fn invalid_admission() -> status::AdmissionStatus {
    status::AdmissionStatus::NotServing(
        "the spec is invalid, so the webhook skips the control until it is fixed".into(),
    )
}

async fn write_if_changed(
    ctx: &Context,
    control: &Control,
    name: &str,
    previous: Option<&ControlStatus>,
    new: ControlStatus,
    heartbeat: Duration,
    now: Timestamp,
) -> Result<bool, Error> {
    if !status::needs_write(previous, &new, heartbeat, now) {
        return Ok(false);
    }
    let api: Api<Control> = Api::all(ctx.client.clone());
    let patch = serde_json::json!({
        "apiVersion": Control::api_version(&()),
        "kind": Control::kind(&()),
        "status": new,
    });
    let applied = api
        .patch_status(
            name,
            &PatchParams::apply(crate::OPERATOR_NAME).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    ctx.written
        .record(control, applied.metadata.resource_version, new.clone());
    ctx.metrics.status_written(name);
    let criteria = control
        .spec
        .criteria
        .iter()
        .map(|c| c.0.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    for event in plan(name, &criteria, previous, &new) {
        publish(ctx, control, event).await;
    }
    for event in plan_expiries(name, previous, &new, now) {
        publish(ctx, control, event).await;
    }
    Ok(true)
}

async fn publish(ctx: &Context, control: &Control, planned: PlannedEvent) {
    let event = Event {
        type_: if planned.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: planned.reason.into(),
        note: Some(planned.note),
        action: "Evaluate".into(),
        secondary: planned.related,
    };
    // An event that cannot be published must not fail the reconcile: status is the record, events are a courtesy.
    match ctx.recorder.publish(&event, &control.object_ref(&())).await {
        Ok(()) => ctx.metrics.event_published(planned.reason),
        Err(error) => {
            tracing::warn!(control = %control.name_any(), reason = planned.reason, %error, "could not publish event")
        }
    }
}

fn reset_failures(ctx: &Context, name: &str) {
    if let Ok(mut f) = ctx.failures.lock() {
        f.remove(name);
    }
}

/// Requeue policy for errors: exponential backoff per control (1 s doubling to 5 min) with jitter, so that an API
/// outage does not turn into a synchronized retry storm.
pub fn error_policy(control: Arc<Control>, error: &Error, ctx: Arc<Context>) -> Action {
    backoff(&control.name_any(), error, &ctx)
}

pub(super) fn backoff(name: &str, error: &Error, ctx: &Context) -> Action {
    let attempts = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(name.to_string()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    let base = Duration::from_secs(1u64 << (attempts.saturating_sub(1)).min(9))
        .min(Duration::from_secs(300));
    let jitter_ms = u64::from(Timestamp::now().subsec_nanosecond().unsigned_abs() % 1000);
    let delay = base + Duration::from_millis(jitter_ms * base.as_millis().min(1000) as u64 / 1000);
    tracing::warn!(control = %name, category = error.category(), %error, attempts, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}
