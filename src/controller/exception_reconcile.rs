//! One ControlException reconcile: look up its control -> assess -> count what it waives -> status (if changed).
//!
//! Only the leader writes. The Control reconcile decides pass/fail (through [`crate::engine::evaluate`]); this one only
//! records on the exception itself whether it is honoured, and why not.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use super::reconcile::{STANDBY_REQUEUE, backoff};
use super::{Context, Error, exception_status};
use crate::api::{Control, ControlException, ExceptionState};
use crate::engine::evaluate::{evaluate, required_kinds};
use crate::engine::exceptions::{self, Assessment};
use crate::engine::validation::validate;

/// How often an active exception's `matchedFindings` is refreshed, and how often an exception naming a missing
/// Control looks for it again.
pub const EXCEPTION_REFRESH: Duration = Duration::from_secs(300);

/// Reconciles one ControlException: writes its state, reason, message, condition and matched count.
pub async fn reconcile_exception(
    exception: Arc<ControlException>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    if !ctx.is_leader() {
        ctx.metrics.write_dropped();
        return Ok(Action::requeue(STANDBY_REQUEUE));
    }
    let name = exception.metadata.name.clone().ok_or(Error::MissingName)?;
    let namespace = exception.metadata.namespace.clone().unwrap_or_default();
    let now = Timestamp::now();
    let controls: Api<Control> = Api::all(ctx.client.clone());
    let control = controls.get_opt(&exception.spec.control).await?;
    let assessment = exceptions::assess(
        &exception,
        Some(control.is_some()),
        ctx.view.exception_policy(),
        now,
    );
    let matched = match (&control, assessment.state) {
        (Some(control), ExceptionState::Active) => {
            matched_findings(&ctx, control, &exception, now).await
        }
        _ => Some(0),
    };
    let previous = exception.status.as_ref();
    let new = exception_status::build(
        previous,
        &assessment,
        matched,
        exception.metadata.generation,
        now,
    );
    if exception_status::needs_write(previous, &new) {
        let api: Api<ControlException> = Api::namespaced(ctx.client.clone(), &namespace);
        let patch = serde_json::json!({
            "apiVersion": ControlException::api_version(&()),
            "kind": ControlException::kind(&()),
            "status": new,
        });
        api.patch_status(
            &name,
            &PatchParams::apply(crate::OPERATOR_NAME).force(),
            &Patch::Apply(&patch),
        )
        .await?;
        log(&namespace, &name, &assessment);
    }
    Ok(requeue(&exception, &assessment, now))
}

fn log(namespace: &str, name: &str, assessment: &Assessment) {
    match assessment.state {
        ExceptionState::Active => {
            tracing::info!(exception = %format!("{namespace}/{name}"), message = %assessment.message, "exception active")
        }
        ExceptionState::Expired | ExceptionState::Invalid => tracing::warn!(
            exception = %format!("{namespace}/{name}"),
            state = %assessment.state,
            reason = assessment.reason,
            message = %assessment.message,
            "exception waives nothing"
        ),
    }
}

/// How many failing findings of `control` this exception waives now. The exception is put into the snapshot
/// itself: the view's own watch may not have delivered this version yet.
async fn matched_findings(
    ctx: &Context,
    control: &Control,
    exception: &ControlException,
    now: Timestamp,
) -> Option<u32> {
    let name = control.metadata.name.clone()?;
    let validated = validate(&control.spec).ok()?;
    let kinds = required_kinds(&validated);
    ctx.view.ensure(&kinds);
    ctx.view.wait_synced(&kinds, ctx.sync_timeout).await;
    let mut snapshot = ctx.view.snapshot(&kinds);
    let key = exceptions::key(exception);
    snapshot
        .control_exceptions
        .retain(|e| exceptions::key(e) != key);
    snapshot
        .control_exceptions
        .push(Arc::new(exception.clone()));
    let evaluation = evaluate(&name, &validated, &snapshot, now).ok()?;
    let matched = evaluation
        .findings
        .iter()
        .filter(|f| f.exception.as_ref().is_some_and(|x| x.name == key))
        .count();
    Some(u32::try_from(matched).unwrap_or(u32::MAX))
}

/// Active: at the expiry (so that the state turns Expired at that moment), and at least every
/// [`EXCEPTION_REFRESH`] to keep `matchedFindings` current. A missing control is looked for again; other invalid
/// or expired exceptions wait for a spec change.
fn requeue(exception: &ControlException, assessment: &Assessment, now: Timestamp) -> Action {
    match (assessment.state, assessment.reason) {
        (ExceptionState::Active, _) => {
            let until = exception
                .spec
                .expires_at
                .0
                .duration_since(now)
                .unsigned_abs()
                + Duration::from_millis(500);
            Action::requeue(until.min(EXCEPTION_REFRESH))
        }
        (ExceptionState::Invalid, "ControlNotFound") => Action::requeue(EXCEPTION_REFRESH),
        _ => Action::await_change(),
    }
}

/// Requeue policy for errors: the same jittered exponential backoff as for controls.
pub fn error_policy_exception(
    exception: Arc<ControlException>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    backoff(
        &format!(
            "ControlException/{}/{}",
            exception.namespace().unwrap_or_default(),
            exception.name_any()
        ),
        error,
        &ctx,
    )
}
