//! Publishing evaluations as wg-policy PolicyReports (`--policy-reports`), so that existing report UIs such as
//! Policy Reporter show SOC 2 results. Status stays the record: a failure here is logged, never fails a reconcile.

use k8s_openapi::jiff::Timestamp;

use super::Context;
use crate::api::Control;
use crate::controller::policy_report;
use crate::engine::evaluate::Evaluation;

/// Builds and applies the reports of `control`, deleting namespaced reports that no longer have findings.
pub(super) async fn publish(
    ctx: &Context,
    control: &Control,
    evaluation: &Evaluation,
    now: Timestamp,
) {
    let Some(state) = &ctx.policy_reports else {
        return;
    };
    let reports = policy_report::build(control, evaluation, now);
    let known = state
        .lock()
        .ok()
        .and_then(|m| m.get(&reports.control).cloned());
    let previous = match known {
        Some(p) => p,
        // After a start: find what an earlier run left behind.
        None => match policy_report::existing_namespaces(&ctx.client, &reports.control).await {
            Ok(p) => p,
            Err(error) => {
                tracing::warn!(control = %reports.control, %error, category = error.category(), "could not list PolicyReports");
                reports.namespaces()
            }
        },
    };
    let held = match policy_report::publish(&ctx.client, &reports, &previous).await {
        Ok(held) => held,
        Err(error) => {
            tracing::warn!(control = %reports.control, %error, category = error.category(), "could not publish PolicyReports");
            // Remember everything that may exist so that a later success cleans it up.
            previous.union(&reports.namespaces()).cloned().collect()
        }
    };
    if let Ok(mut m) = state.lock() {
        m.insert(reports.control.clone(), held);
    }
}
