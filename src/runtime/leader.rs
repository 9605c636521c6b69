//! Leader election on a `coordination.k8s.io/v1` Lease, and this replica's leadership as the controller reads it.
//!
//! Every replica watches the cluster and keeps its caches warm, so that a standby is ready and takes over fast; only
//! the leader evaluates and writes. [`Leadership`] is the flag reconcile checks (always true when leader election is
//! off) and the stream of "became leader" moments that re-reconciles every control. [`LeaderElection`] holds the
//! Lease through [`kube_lease_manager`] (server-side apply with one field manager per replica, so two replicas cannot
//! both acquire it) and releases it on shutdown. Nothing here knows about controls.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::Stream;
use kube::Client;
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseManagerError, LeaseParams};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::runtime::metrics::Metrics;

/// How long a Lease stays valid after its last renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long stopping waits for the Lease to be released before giving up (it then expires by itself).
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether this replica may write, readable without locking from every reconcile. Clones share the state.
#[derive(Clone, Debug)]
pub struct Leadership {
    leader: Arc<AtomicBool>,
    changes: Arc<watch::Sender<bool>>,
}

impl Leadership {
    fn with(leader: bool) -> Self {
        Leadership {
            leader: Arc::new(AtomicBool::new(leader)),
            changes: Arc::new(watch::Sender::new(leader)),
        }
    }

    /// Always the leader: leader election is off (a single replica, or `cargo run`).
    pub fn always() -> Self {
        Self::with(true)
    }

    /// Not the leader until [`Leadership::set`] says so (leader election is on).
    pub fn standby() -> Self {
        Self::with(false)
    }

    /// True when this replica may evaluate and write.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Acquire)
    }

    /// Records whether this replica leads; returns true when that changed.
    pub fn set(&self, leader: bool) -> bool {
        let was = self.leader.swap(leader, Ordering::AcqRel);
        self.changes.send_replace(leader);
        was != leader
    }

    /// Yields once each time this replica becomes the leader (not for the state it starts in), for
    /// `Controller::reconcile_all_on`.
    pub fn acquired(&self) -> impl Stream<Item = ()> + Send + 'static {
        let changes = self.changes.subscribe();
        futures::stream::unfold(changes, |mut changes| async move {
            loop {
                changes.changed().await.ok()?;
                if *changes.borrow_and_update() {
                    return Some(((), changes));
                }
            }
        })
    }
}

/// Where the Lease lives and who this replica is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// The Lease's namespace (the operator's own, from `POD_NAMESPACE`).
    pub namespace: String,
    /// The Lease's name.
    pub name: String,
    /// This replica's holder identity; unique among replicas (the pod name).
    pub identity: String,
    /// Validity after each renewal; the holder renews every third of it.
    pub duration: Duration,
}

impl LeaseConfig {
    /// A config for the Lease `namespace/name` held as `identity`, valid [`LEASE_DURATION`].
    pub fn new(namespace: &str, name: &str, identity: &str) -> Self {
        LeaseConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            duration: LEASE_DURATION,
        }
    }

    fn params(&self) -> LeaseParams {
        // The lease manager renews `grace` before expiry: with grace = two thirds, the holder renews every third of
        // the duration (every 5 s for 15 s), leaving two renewals' worth of slack before a standby may take over.
        let duration = self.duration.as_secs().max(3);
        let grace = duration - duration / 3;
        LeaseParams::new(self.identity.clone(), duration, grace).with_field_manager(format!(
            "{}-lease-{}",
            crate::OPERATOR_NAME,
            self.identity
        ))
    }
}

/// A holder identity for a replica that has no pod name: host name (when known) and process id.
pub fn fallback_identity() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| crate::OPERATOR_NAME.into());
    format!("{host}-{}", std::process::id())
}

/// The running election: acquires, renews and takes over the Lease, and mirrors the outcome into [`Leadership`] and
/// `soc2_leader`.
pub struct LeaderElection {
    stop: oneshot::Sender<()>,
    forwarder: JoinHandle<()>,
    manager: JoinHandle<Result<LeaseManager, LeaseManagerError>>,
    failed: Option<oneshot::Receiver<()>>,
    ended: Arc<AtomicBool>,
}

impl LeaderElection {
    /// Creates the Lease if it does not exist and starts competing for it. Fails when the Lease cannot be read or
    /// created (RBAC: `get`, `create`, `patch` on `coordination.k8s.io` leases in the namespace).
    pub async fn start(
        client: Client,
        config: &LeaseConfig,
        leadership: Leadership,
        metrics: Arc<Metrics>,
    ) -> Result<Self, LeaseManagerError> {
        let manager = LeaseManager::new(
            client,
            &config.name,
            &config.namespace,
            config.params(),
            LeaseCreateMode::AutoCreate,
        )
        .await?;
        let (mut lease, manager) = manager.watch().await;
        let (stop, mut stopped) = oneshot::channel::<()>();
        let (failed_tx, failed) = oneshot::channel::<()>();
        let ended = Arc::new(AtomicBool::new(false));
        let ended_flag = ended.clone();
        let identity = config.identity.clone();
        let lease_name = format!("{}/{}", config.namespace, config.name);
        tracing::info!(lease = %lease_name, %identity, "leader election started; standing by until the lease is acquired");
        let forwarder = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    changed = lease.changed() => {
                        if changed.is_err() {
                            tracing::error!(lease = %lease_name, "leader election ended unexpectedly; stepping down");
                            ended_flag.store(true, Ordering::Release);
                            let _ = failed_tx.send(());
                            break;
                        }
                        let leader = *lease.borrow_and_update();
                        if leadership.set(leader) {
                            metrics.set_leader(leader);
                            if leader {
                                tracing::info!(lease = %lease_name, %identity, "acquired the lease: this replica is the leader");
                            } else {
                                // Only the leader's verdicts are current; the new leader exports its own.
                                metrics.forget_all_controls();
                                tracing::warn!(lease = %lease_name, %identity, "lost the lease: standing by");
                            }
                        }
                    }
                }
            }
            // Step down before the lease is released (dropping `lease` makes the manager release it).
            leadership.set(false);
            metrics.set_leader(false);
            metrics.forget_all_controls();
        });
        Ok(LeaderElection {
            stop,
            forwarder,
            manager,
            failed: Some(failed),
            ended,
        })
    }

    /// Resolves if the election ends on its own (the lease manager task died): the replica has stepped down and can
    /// no longer become leader, so the operator should stop. Resolves at most once; later calls never resolve.
    pub fn failed(&mut self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let failed = self.failed.take();
        async move {
            let failed = match failed {
                Some(f) => f.await.is_ok(),
                None => false,
            };
            if !failed {
                std::future::pending::<()>().await;
            }
        }
    }

    /// True when the election ended on its own (see [`LeaderElection::failed`]).
    pub fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Steps down and releases the Lease. A standby takes a released Lease when it next reads it (kube-lease-manager
    /// re-reads when the last renewal it saw expires, so within one lease duration); a new replica takes it at once.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.forwarder.await;
        match tokio::time::timeout(RELEASE_TIMEOUT, self.manager).await {
            Ok(Ok(Ok(_))) => tracing::info!("lease released"),
            Ok(Ok(Err(error))) => {
                tracing::warn!(%error, "could not release the lease; it expires by itself")
            }
            Ok(Err(error)) => tracing::warn!(%error, "leader election task failed"),
            Err(_) => {
                tracing::warn!(timeout = ?RELEASE_TIMEOUT, "releasing the lease timed out; it expires by itself")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    #[test]
    fn always_leads_and_standby_does_not() {
        assert!(Leadership::always().is_leader());
        assert!(!Leadership::standby().is_leader());
    }

    #[test]
    fn clones_share_the_flag() {
        let a = Leadership::standby();
        let b = a.clone();
        assert!(a.set(true));
        assert!(b.is_leader());
        assert!(!b.set(true), "no change");
        assert!(b.set(false));
        assert!(!a.is_leader());
    }

    #[tokio::test]
    async fn acquired_yields_on_each_transition_to_leader() {
        let leadership = Leadership::standby();
        let mut acquired = Box::pin(leadership.acquired());
        leadership.set(false);
        leadership.set(true);
        tokio::time::timeout(Duration::from_secs(5), acquired.next())
            .await
            .expect("a transition to leader is reported")
            .expect("stream open");
        leadership.set(false);
        leadership.set(true);
        tokio::time::timeout(Duration::from_secs(5), acquired.next())
            .await
            .expect("a second transition is reported")
            .expect("stream open");
        // Losing leadership alone yields nothing.
        leadership.set(false);
        assert!(
            futures::poll!(acquired.next()).is_pending(),
            "stepping down is not an acquisition"
        );
    }

    #[test]
    fn renewal_happens_every_third_of_the_duration() {
        let c = LeaseConfig::new("ops", "soc2-operator", "pod-a");
        assert_eq!(c.duration, Duration::from_secs(15));
        let p = c.params();
        assert_eq!(
            format!("{p:?}"),
            format!(
                "{:?}",
                LeaseParams::new("pod-a", 15, 10).with_field_manager("soc2-operator-lease-pod-a")
            )
        );
    }
}
