//! Logging (CC7.2): a log collector DaemonSet that is not ready everywhere fails, a ready one passes, and on a
//! control plane whose kube-apiserver is not visible the audit attestation is reported as a Notice.

use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use k8s_openapi::jiff::tz::TimeZone;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;
use soc2_operator::api::{Control, FindingResult};
use soc2_operator::checks::apiserver_flags::api_server_flags;
use tokio::time::Instant;

use crate::support::env::HOLD_FINALIZER;
use crate::support::objects::{control_spec, daemon_set};
use crate::support::wait::{POLL, TIMEOUT, condition_is, findings, findings_with, is_current, set};
use crate::support::{FIELD_MANAGER, RUN_LABEL, TestEnv, TestResult, note, skip};

const FLUENT_BIT_IMAGE: &str = "cr.fluentbit.io/fluent/fluent-bit:3.2";
const VECTOR_IMAGE: &str = "docker.io/timberio/vector:0.43.1-distroless-libc";
const COLLECTORS: [&str; 2] = ["fluent-bit", "vector"];
/// How long to look for kube-controller-manager's DaemonSet controller taking up a new DaemonSet.
const DAEMONSET_CONTROLLER_PROBE: Duration = Duration::from_secs(5);

/// True when kube-controller-manager's DaemonSet controller writes the status of this run's DaemonSets (it sets
/// `status.observedGeneration` on its first sync, within moments of creation). It then waits until the controller
/// has processed both.
async fn daemon_set_controller_active(env: &TestEnv) -> Result<bool, Box<dyn std::error::Error>> {
    let api = env.api::<DaemonSet>();
    let run = ListParams::default().labels(&format!("{RUN_LABEL}={}", env.suffix));
    let synced = |d: &DaemonSet| {
        d.metadata.generation.is_some()
            && d.status.as_ref().and_then(|s| s.observed_generation) == d.metadata.generation
    };
    let mut deadline = Instant::now() + DAEMONSET_CONTROLLER_PROBE;
    let mut active = false;
    loop {
        let list = api.list(&run).await?;
        if list.items.iter().any(synced) {
            if !active {
                active = true;
                deadline = Instant::now() + TIMEOUT;
            }
            if list.items.iter().all(synced) {
                return Ok(true);
            }
        }
        if Instant::now() >= deadline {
            return Ok(active);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Keeps the DaemonSet controller from overwriting the status this test patches: it never updates the status of a
/// DaemonSet being deleted. A finalizer holds the DaemonSet in that state until cleanup removes it.
async fn hold_in_deletion(env: &TestEnv, name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let api = env.api::<DaemonSet>();
    let patch = json!({ "metadata": { "finalizers": [HOLD_FINALIZER] } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    api.delete(name, &DeleteParams::background()).await?;
    Ok(())
}

/// Sets the DaemonSet's rollout counts through the status subresource, as its controller would.
async fn set_status(
    env: &TestEnv,
    name: &str,
    desired: i32,
    ready: i32,
) -> Result<(), Box<dyn std::error::Error>> {
    let patch = json!({ "status": {
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": desired,
        "updatedNumberScheduled": desired,
        "numberMisscheduled": 0,
        "numberReady": ready,
        "numberAvailable": ready,
        "numberUnavailable": desired - ready,
    } });
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    env.api::<DaemonSet>()
        .patch_status(name, &params, &Patch::Merge(&patch))
        .await?;
    Ok(())
}

fn daemon_set_findings(control: &Control) -> std::collections::BTreeSet<(String, String, String)> {
    findings(control)
        .into_iter()
        .filter(|(kind, _, _)| kind == "DaemonSet")
        .collect()
}

#[tokio::test]
async fn log_collector_readiness_and_audit_attestation() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::new("log").await?;

    // The check requires readiness on every schedulable node when Node objects exist; the DaemonSets tolerate
    // every taint, so every node that is not cordoned counts.
    let nodes = Api::<Node>::all(env.client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let schedulable = nodes
        .iter()
        .filter(|n| {
            !n.spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false)
        })
        .count();
    let schedulable = i32::try_from(schedulable)?;
    let desired = schedulable.max(2);
    let api_server_visible = Api::<Pod>::namespaced(env.client.clone(), "kube-system")
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .any(|p| api_server_flags(p).is_some());

    env.create::<DaemonSet>(FIELD_MANAGER, daemon_set("fluent-bit", FLUENT_BIT_IMAGE))
        .await?;
    env.create::<DaemonSet>(FIELD_MANAGER, daemon_set("vector", VECTOR_IMAGE))
        .await?;
    // Let a running DaemonSet controller finish its first sync (its status write would otherwise race ours), then
    // hold the DaemonSets in deletion in any case: a controller that is slow to start, or syncs again later, then
    // leaves the patched status alone too.
    if daemon_set_controller_active(&env).await? {
        note(
            "kube-controller-manager's DaemonSet controller is active and has synced this run's DaemonSets",
        );
    }
    for name in COLLECTORS {
        hold_in_deletion(&env, name).await?;
    }
    set_status(&env, "fluent-bit", desired, 1).await?;
    set_status(&env, "vector", desired, desired).await?;

    let name = env.control_name("logging");
    let today = Timestamp::now().to_zoned(TimeZone::UTC).date().to_string();
    let check = json!({ "logging": { "auditAttestation": {
        "attestedBy": "soc2-e2e@example.com (end-to-end suite)",
        "reference": format!("soc2-e2e run {}", env.suffix),
        "date": today,
    } } });
    env.apply_control(
        &name,
        control_spec(&env, &["CC7.2"], "e2e: logs are collected", check),
    )
    .await?;

    // Nodes that exist but are all cordoned schedule no collector at all.
    let expected_daemon_sets = if !nodes.is_empty() && schedulable == 0 {
        set(&[
            ("DaemonSet", "fluent-bit", "collector-not-scheduled"),
            ("DaemonSet", "vector", "collector-not-scheduled"),
        ])
    } else {
        set(&[("DaemonSet", "fluent-bit", "collector-not-ready")])
    };
    let attested = set(&[("ControlPlane", "kube-apiserver", "audit-logging-attested")]);
    let mut expected = expected_daemon_sets.clone();
    if !api_server_visible {
        expected.extend(attested.iter().cloned());
    }
    let what = if api_server_visible {
        format!("Compliant=False with DaemonSet findings {expected_daemon_sets:?}")
    } else {
        format!("Compliant=False with findings {expected:?}")
    };
    let control = env
        .wait_control(&name, &what, TIMEOUT, |c| {
            is_current(c)
                && condition_is(c, "Compliant", "False", None)
                && if api_server_visible {
                    daemon_set_findings(c) == expected_daemon_sets
                } else {
                    findings(c) == expected
                }
        })
        .await;

    env.check(
        &name,
        findings_with(&control, FindingResult::Fail)
            .iter()
            .filter(|(kind, _, _)| kind == "DaemonSet")
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            == expected_daemon_sets,
        format!("the DaemonSet findings {expected_daemon_sets:?} should be Fail"),
    )
    .await;
    if api_server_visible {
        note(
            "a kube-apiserver pod is visible in kube-system: the attestation is ignored there, not asserted",
        );
    } else {
        env.check(
            &name,
            findings_with(&control, FindingResult::Notice) == attested,
            "the audit attestation should be reported as a Notice (audit-logging-attested)",
        )
        .await;
        let summary = control
            .status
            .as_ref()
            .and_then(|s| s.summary)
            .unwrap_or_default();
        let failed = u32::try_from(expected_daemon_sets.len())?;
        env.check(
            &name,
            summary.evaluated == 3 && summary.failed == failed,
            format!("summary {summary:?}: expected 3 evaluated (attestation, 2 DaemonSets), {failed} failed"),
        )
        .await;
    }
    Ok(())
}
