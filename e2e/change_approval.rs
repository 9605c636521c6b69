//! Change approval (CC8.1): out-of-band edits and self-approved changes fail, their remediation is seen within
//! seconds, and a control whose result did not change is not rewritten.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use soc2_operator::api::Control;
use soc2_operator::checks::change_approval::{
    APPROVER_ANNOTATION, AUTHOR_ANNOTATION, TICKET_ANNOTATION,
};
use tokio::time::Instant;

use crate::support::objects::{control_spec, deployment};
use crate::support::wait::{TIMEOUT, condition_is, findings, has_event, is_current, secs};
use crate::support::{FIELD_MANAGER, TestEnv, TestResult, note, skip};

/// The GitOps field manager the Controls declare.
const GITOPS: &str = "argocd-controller";
/// How long remediation may take to show before the test fails.
const REMEDIATION_LIMIT: Duration = Duration::from_secs(10);
/// How long remediation should take.
const REMEDIATION_GOAL: Duration = Duration::from_secs(5);

fn check() -> Value {
    json!({ "changeApproval": { "gitopsManagers": [GITOPS] } })
}

fn patch_as(manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(manager.into()),
        ..Default::default()
    }
}

/// Applies Control `name` and waits until its status, for the current spec, shows exactly `expected` findings
/// with the given Compliant status.
async fn apply_and_wait(
    env: &TestEnv,
    name: &str,
    compliant: &str,
    expected: &[(&str, &str, &str)],
) -> Result<Control, Box<dyn std::error::Error>> {
    let spec = control_spec(
        env,
        &["CC8.1"],
        "e2e: workload changes are approved",
        check(),
    );
    env.apply_control(name, spec).await?;
    Ok(env.wait_findings(name, compliant, expected, TIMEOUT).await)
}

#[tokio::test]
async fn change_approval_flags_out_of_band_and_self_approved_changes() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("chg").await?;
    let deployments = env.api::<Deployment>();

    // Deployed by GitOps only: passes.
    env.apply::<Deployment>(GITOPS, deployment("gitops-only", &[]))
        .await?;
    // Deployed by GitOps, then edited by hand: out-of-band change.
    env.apply::<Deployment>(GITOPS, deployment("hand-edited", &[]))
        .await?;
    let edit = json!({ "spec": { "template": { "metadata": {
        "annotations": { "e2e.soc2.dev/edited": "by hand" } } } } });
    deployments
        .patch(
            "hand-edited",
            &patch_as("kubectl-edit"),
            &Patch::Merge(&edit),
        )
        .await?;
    // Created by hand with a ticket, approved by someone else: passes.
    let ticketed = [
        (TICKET_ANNOTATION, "CHG-1"),
        (APPROVER_ANNOTATION, "alice"),
        (AUTHOR_ANNOTATION, "bob"),
    ];
    env.create::<Deployment>("kubectl-create", deployment("ticketed", &ticketed))
        .await?;
    // Approved by its own author: separation of duties.
    let self_approved = [
        (TICKET_ANNOTATION, "CHG-2"),
        (APPROVER_ANNOTATION, "bob"),
        (AUTHOR_ANNOTATION, "bob"),
    ];
    env.create::<Deployment>(
        "kubectl-create",
        deployment("self-approved", &self_approved),
    )
    .await?;
    env.settle_deployments(Duration::from_secs(15)).await?;

    let name = env.control_name("approval");
    let control = apply_and_wait(
        &env,
        &name,
        "False",
        &[
            ("Deployment", "hand-edited", "out-of-band-change"),
            ("Deployment", "self-approved", "separation-of-duties"),
        ],
    )
    .await?;
    let summary = control
        .status
        .as_ref()
        .and_then(|s| s.summary)
        .unwrap_or_default();
    env.check(
        &name,
        summary.evaluated == 4 && summary.passed == 2 && summary.failed == 2,
        format!("summary {summary:?}: expected 4 evaluated, 2 passed, 2 failed"),
    )
    .await;
    env.check(
        &name,
        condition_is(&control, "Ready", "True", Some("Evaluated"))
            && condition_is(&control, "Compliant", "False", Some("NonCompliant")),
        "expected Ready=True (Evaluated) and Compliant=False (NonCompliant)",
    )
    .await;
    env.wait_events(
        &name,
        "ControlFailing, and ResourceFailing for hand-edited and self-approved",
        TIMEOUT,
        |events| {
            has_event(events, "ControlFailing", None)
                && has_event(events, "ResourceFailing", Some("hand-edited"))
                && has_event(events, "ResourceFailing", Some("self-approved"))
        },
    )
    .await;

    // Remediate: revert the hand edit (by removing the workload) and have someone else approve the other.
    let fixed_at = Instant::now();
    deployments
        .delete("hand-edited", &DeleteParams::default())
        .await?;
    let approve = json!({ "metadata": { "annotations": { APPROVER_ANNOTATION: "carol" } } });
    deployments
        .patch(
            "self-approved",
            &patch_as("kubectl-annotate"),
            &Patch::Merge(&approve),
        )
        .await?;
    let control = env
        .wait_control(
            &name,
            &format!("Compliant=True within {REMEDIATION_LIMIT:?} of the remediation"),
            REMEDIATION_LIMIT,
            |c| {
                is_current(c)
                    && condition_is(c, "Compliant", "True", Some("Compliant"))
                    && findings(c).is_empty()
            },
        )
        .await;
    let took = fixed_at.elapsed();
    if took > REMEDIATION_GOAL {
        note(&format!(
            "remediation of {name} showed after {}, slower than the {} goal",
            secs(took),
            secs(REMEDIATION_GOAL)
        ));
    }
    let summary = control
        .status
        .as_ref()
        .and_then(|s| s.summary)
        .unwrap_or_default();
    env.check(
        &name,
        summary.evaluated == 3 && summary.failed == 0,
        format!("summary {summary:?} after remediation: expected 3 evaluated, 0 failed"),
    )
    .await;
    env.wait_events(
        &name,
        "ResourceRemediated for hand-edited and self-approved, and ControlCompliant",
        TIMEOUT,
        |events| {
            has_event(events, "ResourceRemediated", Some("hand-edited"))
                && has_event(events, "ResourceRemediated", Some("self-approved"))
                && has_event(events, "ControlCompliant", None)
        },
    )
    .await;
    Ok(())
}

#[tokio::test]
async fn no_status_write_when_nothing_changed() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("quiet").await?;
    env.apply::<Deployment>(GITOPS, deployment("gitops-only", &[]))
        .await?;
    let self_approved = [
        (TICKET_ANNOTATION, "CHG-3"),
        (APPROVER_ANNOTATION, "dave"),
        (AUTHOR_ANNOTATION, "dave"),
    ];
    env.create::<Deployment>(
        "kubectl-create",
        deployment("self-approved", &self_approved),
    )
    .await?;
    // The finding's message lists every writer of the workload, kube-controller-manager included: let it finish.
    env.settle_deployments(Duration::from_secs(15)).await?;

    let name = env.control_name("approval");
    apply_and_wait(
        &env,
        &name,
        "False",
        &[("Deployment", "self-approved", "separation-of-duties")],
    )
    .await?;
    // The reconcile that wrote this status has also published its events.
    env.wait_events(
        &name,
        "ResourceFailing for self-approved",
        TIMEOUT,
        |events| has_event(events, "ResourceFailing", Some("self-approved")),
    )
    .await;
    let controls: Api<Control> = Api::all(env.client.clone());
    let before = controls.get(&name).await?;

    // Touch the namespace: an object no check reads, and a GitOps re-sync that changes no verdict (a watched kind,
    // so the control is re-evaluated and must find nothing to write).
    env.create::<ConfigMap>(
        FIELD_MANAGER,
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "unrelated" },
                "data": { "touched": "yes" } }),
    )
    .await?;
    let mut resync = deployment("gitops-only", &[]);
    resync["metadata"]["labels"]["e2e.soc2.dev/synced"] = json!("again");
    env.apply::<Deployment>(GITOPS, resync).await?;

    // The one sleep of the suite: it asserts that nothing happens.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = controls.get(&name).await?;
    env.check(
        &name,
        after.metadata.resource_version == before.metadata.resource_version,
        format!(
            "Control {name} was written although its result did not change: resourceVersion {:?} -> {:?}\n\
             status before:\n{}",
            before.metadata.resource_version,
            after.metadata.resource_version,
            serde_yaml::to_string(&before.status).unwrap_or_default()
        ),
    )
    .await;
    Ok(())
}
