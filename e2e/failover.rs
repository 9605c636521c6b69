//! Two operator replicas with leader election, as the chart runs them: the leader is killed with SIGKILL in the
//! middle of an evaluation (a burst of changes) and in the middle of an evidence snapshot (as soon as the snapshot's
//! first file appears; on the project's machines the manifest is written by then but not yet published in the
//! EvidenceStore's status). Each time the standby takes over within one Lease duration of the leader's last
//! renewal, the standby never wrote status while the leader lived, status ends up describing the cluster, the
//! snapshot is published by the new leader, and the evidence chain has exactly one manifest per tick and verifies.
//!
//! The suite's own operator is paused meanwhile (it would evaluate the same Controls without leader election), and
//! the scenario has the cluster to itself. In chart mode the replicas run as the chart's ServiceAccount on the
//! chart's Lease, proving its leader-election RBAC.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use serde_json::json;
use soc2_operator::api::EvidenceStore;
use soc2_operator::evidence::manifest::Manifest;
use tokio::time::Instant;

use crate::support::chart::LEASE_NAME;
use crate::support::cluster::Replica;
use crate::support::objects::{assert_chain_verifies, control_spec, default_deny, network_policy};
use crate::support::wait::{TIMEOUT, secs};
use crate::support::{FIELD_MANAGER, TestEnv, TestResult, metric, note, skip};

/// The Lease's duration (`soc2_operator::runtime::leader::LEASE_DURATION`): the leader renews every third of it, so a
/// standby may take over at most this long after the leader's last renewal, which came before the kill.
const LEASE_DURATION: Duration = soc2_operator::runtime::leader::LEASE_DURATION;
/// Polling the standby's metrics every 100 ms, and the standby's own request to take the Lease on a loaded
/// machine, add up to this to the measured takeover.
const POLL_SLACK: Duration = Duration::from_millis(1500);

/// Policies the leader is evaluating when it is killed.
const BURST: usize = 20;

async fn leads(replica: &Replica) -> bool {
    replica
        .metrics()
        .await
        .is_ok_and(|m| metric(&m, "soc2_leader", &[]) == 1.0)
}

/// Waits until `replica` leads; how long that took. Panics after `timeout` with its log.
async fn wait_leading(replica: &Replica, timeout: Duration) -> Duration {
    let start = Instant::now();
    while !leads(replica).await {
        if start.elapsed() > timeout {
            panic!(
                "replica {} did not become the leader within {}\n{}",
                replica.instance,
                secs(timeout),
                replica.describe()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

/// Waits until `replica`'s admin server answers (its watches are up) and checks that it stands by.
async fn wait_standing_by(replica: &Replica) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Ok(m) = replica.metrics().await {
            assert_eq!(
                metric(&m, "soc2_leader", &[]),
                0.0,
                "replica {} leads although another replica holds the Lease",
                replica.instance
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replica {} did not start\n{}",
            replica.instance,
            replica.describe()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// When the Lease, as the API server holds it now, expires: its last renewal plus its duration.
async fn lease_expiry(
    env: &TestEnv,
    namespace: &str,
    name: &str,
) -> Result<Timestamp, Box<dyn std::error::Error>> {
    let lease = Api::<Lease>::namespaced(env.client.clone(), namespace)
        .get(name)
        .await?;
    let spec = lease.spec.ok_or("the Lease has no spec")?;
    let renewed = spec
        .renew_time
        .or(spec.acquire_time)
        .ok_or("the Lease was never renewed")?
        .0;
    let duration = spec.lease_duration_seconds.unwrap_or(15);
    Ok(renewed + SignedDuration::from_secs(i64::from(duration)))
}

/// Asserts that `replica` took over no later than `expiry` (plus polling slack).
fn assert_took_over_by(replica: &Replica, expiry: Timestamp) {
    let late = Timestamp::now().duration_since(expiry);
    assert!(
        late <= SignedDuration::try_from(POLL_SLACK).unwrap_or_default(),
        "replica {} took over {late:#} after the Lease expired (the leader's last renewal plus {}): a standby must \
         take over within one Lease duration",
        replica.instance,
        secs(LEASE_DURATION)
    );
}

/// Status writes and skipped writes of a replica so far.
async fn writes(replica: &Replica) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let m = replica.metrics().await?;
    Ok((
        metric(&m, "soc2_status_writes_total", &[]),
        metric(&m, "soc2_writes_dropped_total", &[]),
    ))
}

/// Every file under `dir`, relative to it.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.push(rel.display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn the_standby_takes_over_when_the_leader_is_killed() -> TestResult {
    if skip() {
        return Ok(());
    }
    let env = TestEnv::exclusive("failover").await?;
    let operator = env.operator();
    let (lease_namespace, lease_name) = match operator.chart() {
        Some(chart) => (chart.namespace.clone(), LEASE_NAME.to_string()),
        None => (env.namespace.clone(), format!("soc2-e2e-{}", env.suffix)),
    };
    let _paused = operator.pause()?;
    let replica = |name: &str| {
        operator.replica(
            &format!("{name}-{}", env.suffix),
            &lease_namespace,
            &lease_name,
        )
    };

    let mut a = replica("a")?;
    let took = wait_leading(&a, TIMEOUT).await;
    note(&format!("replica a leads after {}", secs(took)));
    let mut b = replica("b")?;
    wait_standing_by(&b).await;

    let name = env.control_name("isolation");
    env.apply_control(
        &name,
        control_spec(
            &env,
            &["CC6.6"],
            "e2e: namespaces deny ingress by default",
            json!({ "networkIsolation": {} }),
        ),
    )
    .await?;
    let finding = (
        "Namespace",
        env.namespace.as_str(),
        "no-default-deny-ingress",
    );
    env.wait_findings(&name, "False", &[finding], TIMEOUT).await;

    // 1. Killed mid-evaluation: a burst of changes is being evaluated when the leader dies.
    env.apply::<NetworkPolicy>(FIELD_MANAGER, default_deny())
        .await?;
    for i in 0..BURST {
        env.apply::<NetworkPolicy>(
            FIELD_MANAGER,
            network_policy(
                &format!("allow-{i}"),
                json!({
                    "podSelector": { "matchLabels": { "app": format!("app-{i}") } },
                    "ingress": [{ "from": [{ "podSelector": {} }] }],
                }),
            ),
        )
        .await?;
    }
    let (standby_writes, standby_dropped) = writes(&b).await?;
    a.kill()?;
    let killed = Instant::now();
    assert_eq!(
        standby_writes, 0.0,
        "the standby wrote status while the leader lived"
    );
    note(&format!(
        "killed the leader a mid-evaluation; the standby b skipped {standby_dropped} writes so far"
    ));
    let takeover = wait_leading(&b, LEASE_DURATION + TIMEOUT).await;
    note(&format!(
        "replica b took over {} after the kill",
        secs(killed.elapsed())
    ));
    assert!(
        takeover <= LEASE_DURATION + POLL_SLACK,
        "the standby took over {} after the leader was killed, more than the Lease's {}",
        secs(takeover),
        secs(LEASE_DURATION)
    );
    let lease = Api::<Lease>::namespaced(env.client.clone(), &lease_namespace)
        .get(&lease_name)
        .await?;
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some(b.instance.as_str()),
        "the Lease names the new leader"
    );
    // The new leader re-evaluates: status describes the cluster after the whole burst.
    env.wait_findings(&name, "True", &[], TIMEOUT).await;

    // 2. Killed mid-snapshot: an EvidenceStore's first tick is snapshotted at once; the leader dies while it writes.
    let mut c = replica("c")?;
    wait_standing_by(&c).await;
    let dir = tempfile::tempdir()?;
    let store = env.apply_evidence_store(dir.path(), "1h").await?;
    let stores: Api<EvidenceStore> = Api::all(env.client.clone());
    // The first file of the snapshot appears: kill the leader then (or after 5 s at the latest).
    let deadline = Instant::now() + Duration::from_secs(5);
    while files(dir.path()).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (standby_writes, _) = writes(&c).await?;
    b.kill()?;
    let killed = Instant::now();
    let written = files(dir.path());
    note(&format!(
        "killed the leader b during its snapshot; written by then: {written:?}"
    ));
    assert_eq!(
        standby_writes, 0.0,
        "the standby c wrote status while b led"
    );
    let expiry = lease_expiry(&env, &lease_namespace, &lease_name).await?;
    wait_leading(&c, LEASE_DURATION + TIMEOUT).await;
    assert_took_over_by(&c, expiry);
    note(&format!(
        "replica c took over {} after the kill",
        secs(killed.elapsed())
    ));

    // The tick's snapshot exists exactly once, whoever finished it, is published in status (by c when b died
    // before publishing it), and the chain verifies.
    let deadline = Instant::now() + TIMEOUT * 2;
    let last = loop {
        let s = stores.get(&store).await?;
        if let Some(last) = s.status.and_then(|s| s.last_snapshot) {
            break last;
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot reported after the fail-over\n{}",
            c.describe()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let manifests: Vec<String> = files(dir.path())
        .into_iter()
        .filter(|f| f.starts_with("manifests/"))
        .collect();
    let mut ticks = Vec::new();
    for (i, file) in manifests.iter().enumerate() {
        let manifest: Manifest = serde_json::from_slice(&std::fs::read(dir.path().join(file))?)?;
        assert_eq!(
            manifest.sequence,
            i as u64 + 1,
            "manifests are numbered without holes: {manifests:?}"
        );
        ticks.push(manifest.snapshot_id);
    }
    let mut unique = ticks.clone();
    unique.dedup();
    assert_eq!(
        unique, ticks,
        "one manifest per tick (the chain is not forked): {manifests:?}"
    );
    assert_eq!(
        last.sequence,
        manifests.len() as u64,
        "{last:?} vs {manifests:?}"
    );
    assert_chain_verifies(dir.path(), "after the fail-over");
    assert!(c.is_running(), "replica c exited\n{}", c.describe());
    Ok(())
}
