//! The API server goes away and comes back while the operator runs: every watch recovers and status follows changes
//! within seconds, and a watch whose resourceVersion was compacted away (410 Gone) lists again and misses nothing.
//!
//! Both scenarios stop the apiserver of `e2e/controlplane/` (etcd and the controller-manager keep running) and have
//! the cluster to themselves while they do; against another cluster they are skipped with a message.

use std::time::Duration;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::controlplane::ControlPlane;
use crate::support::objects::{control_spec, default_deny};
use crate::support::wait::{TIMEOUT, is_current, secs};
use crate::support::{FIELD_MANAGER, TestEnv, TestResult, metric, note, skip};

/// How long the apiserver stays down in the restart scenario.
const OUTAGE: Duration = Duration::from_secs(10);
/// How soon after the apiserver is ready again a change must reach status.
const RECOVERY: Duration = Duration::from_secs(5);

fn isolation_spec(env: &TestEnv, title: &str) -> Value {
    control_spec(env, &["CC6.6"], title, json!({ "networkIsolation": {} }))
}

/// Waits until the Control reports the namespace without default deny (`isolated: false`) or no finding at all.
async fn wait_isolated(env: &TestEnv, name: &str, isolated: bool) {
    if isolated {
        env.wait_findings(name, "True", &[], TIMEOUT).await;
    } else {
        let finding = (
            "Namespace",
            env.namespace.as_str(),
            "no-default-deny-ingress",
        );
        env.wait_findings(name, "False", &[finding], TIMEOUT).await;
    }
}

/// Applies a NetworkPolicy, retrying for a few seconds: the first requests after the
/// apiserver came back may still meet a connection it closed.
async fn apply_policy(env: &TestEnv, manifest: Value) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match env
            .apply::<NetworkPolicy>(FIELD_MANAGER, manifest.clone())
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() < deadline => {
                note(&format!("applying the NetworkPolicy failed, retrying: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The watched kinds (those listed at least once) and their error counts, from the operator's metrics.
fn watch_errors(metrics: &str) -> Vec<(String, f64)> {
    let mut kinds: Vec<String> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("soc2_watch_lists_total{kind=\""))
        .filter_map(|l| l.split_once('"').map(|(kind, _)| kind.to_string()))
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
        .into_iter()
        .map(|kind| {
            let errors = metric(metrics, "soc2_watch_errors_total", &[("kind", &kind)]);
            (kind, errors)
        })
        .collect()
}

#[tokio::test]
async fn every_watch_recovers_when_the_apiserver_restarts() -> TestResult {
    if skip() {
        return Ok(());
    }
    let Some(plane) = ControlPlane::find("apiserver restart") else {
        return Ok(());
    };
    let env = TestEnv::exclusive("restart").await?;
    let name = env.control_name("isolation");
    env.apply_control(
        &name,
        isolation_spec(&env, "e2e: namespaces deny ingress by default"),
    )
    .await?;
    wait_isolated(&env, &name, false).await;
    let before = watch_errors(&env.operator().metrics().await?);

    plane.stop_apiserver()?;
    note(&format!("apiserver stopped for {}", secs(OUTAGE)));
    tokio::time::sleep(OUTAGE).await;
    plane.start_apiserver()?;
    let restarted = Instant::now();

    // A change to a watched kind, made once the apiserver answers again, reaches status within RECOVERY.
    apply_policy(&env, default_deny()).await?;
    wait_isolated(&env, &name, true).await;
    let latency = restarted.elapsed();
    note(&format!(
        "a NetworkPolicy applied after the restart reached status {} after the apiserver was ready",
        secs(latency)
    ));
    env.check(
        &name,
        latency <= RECOVERY,
        format!(
            "a NetworkPolicy applied after the restart reached status after {}, more than {}",
            secs(latency),
            secs(RECOVERY)
        ),
    )
    .await;

    // So does a change to the Control itself (the operator's own watch of Controls).
    let edited = Instant::now();
    let control = env
        .apply_control(
            &name,
            isolation_spec(&env, "e2e: every namespace denies ingress by default"),
        )
        .await?;
    let generation = control.metadata.generation;
    env.wait_control(&name, "status of the edited spec", TIMEOUT, |c| {
        is_current(c) && c.metadata.generation == generation
    })
    .await;
    env.check(
        &name,
        edited.elapsed() <= RECOVERY,
        format!(
            "a Control edited after the restart was evaluated after {}, more than {}",
            secs(edited.elapsed()),
            secs(RECOVERY)
        ),
    )
    .await;

    let operator = env.operator();
    assert!(
        operator.exit_status().is_none(),
        "the operator exited during the apiserver restart\n{}",
        operator.describe()
    );
    // Every watch the operator held saw the outage (so the changes above came through re-established watches).
    let after = watch_errors(&operator.metrics().await?);
    for (kind, errors) in &before {
        let now = after
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(0.0, |(_, e)| *e);
        assert!(
            now > *errors,
            "the watch of {kind} reported no error while the apiserver was down ({errors} before, {now} after)"
        );
    }
    assert!(
        before.iter().any(|(k, _)| k == "networkpolicies")
            && before.iter().any(|(k, _)| k == "controls"),
        "the operator's metrics list no watch of networkpolicies or controls: {before:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_expired_watch_lists_again_and_misses_no_change() -> TestResult {
    if skip() {
        return Ok(());
    }
    let Some(plane) = ControlPlane::find("watch expiry") else {
        return Ok(());
    };
    let env = TestEnv::exclusive("expiry").await?;
    let name = env.control_name("isolation");
    apply_policy(&env, default_deny()).await?;
    env.apply_control(
        &name,
        isolation_spec(&env, "e2e: namespaces deny ingress by default"),
    )
    .await?;
    wait_isolated(&env, &name, true).await;
    let metrics = env.operator().metrics().await?;
    let kind = [("kind", "networkpolicies")];
    let lists = metric(&metrics, "soc2_watch_lists_total", &kind);
    // Kubernetes 1.34 and later stream the initial list (WatchList on by default); the re-list after 410 below
    // is a streaming list too.
    assert_eq!(
        metric(&metrics, "soc2_watch_streaming_lists", &[]),
        1.0,
        "the operator does not use streaming lists against the project's control plane (Kubernetes 1.36)"
    );
    let cached = metric(&metrics, "soc2_watch_objects", &kind);
    assert!(
        cached >= 1.0,
        "the operator reports {cached} networkpolicies cached while one exists"
    );
    let expired = metric(
        &metrics,
        "soc2_watch_errors_total",
        &[("kind", "networkpolicies"), ("reason", "expired")],
    );

    // While the apiserver is down, the policy disappears from etcd and the history is compacted: no watch event
    // will ever tell the operator, and resuming its watch from the last resourceVersion it saw answers 410 Gone.
    plane.stop_apiserver()?;
    let key = format!("/registry/networkpolicies/{}/default-deny", env.namespace);
    let deleted = plane.etcd_delete(&key)?;
    assert_eq!(deleted, 1, "etcd had no key {key}");
    let revision = plane.etcd_compact()?;
    note(&format!(
        "deleted {key} in etcd and compacted up to revision {revision}"
    ));
    plane.start_apiserver()?;

    // Only a fresh list shows the policy gone: the control must fail again.
    wait_isolated(&env, &name, false).await;
    let metrics = env.operator().metrics().await?;
    let lists_after = metric(&metrics, "soc2_watch_lists_total", &kind);
    let cached_after = metric(&metrics, "soc2_watch_objects", &kind);
    let expired_after = metric(
        &metrics,
        "soc2_watch_errors_total",
        &[("kind", "networkpolicies"), ("reason", "expired")],
    );
    assert!(
        expired_after > expired,
        "the watch of networkpolicies reported no 410 Gone ({expired} before, {expired_after} after)"
    );
    assert!(
        lists_after > lists,
        "the watch of networkpolicies did not list again ({lists} lists before, {lists_after} after)"
    );
    // Other tests' namespaces may still be draining, so fewer rather than exactly one fewer.
    assert!(
        cached_after < cached,
        "the cache still counts {cached_after} networkpolicies after the re-list ({cached} before the deletion)"
    );
    let operator = env.operator();
    assert!(
        operator.exit_status().is_none(),
        "the operator exited during the watch expiry\n{}",
        operator.describe()
    );
    Ok(())
}
