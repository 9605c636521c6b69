//! Approximate memory per cached object: a counting global allocator measures the heap the reflector stores of a
//! [`LiveView`] hold once loaded with the synthetic cluster (see `support/synthetic.rs`).
//!
//! `cargo bench --bench memory` prints, per size, the bytes held by the stores, per object and per kind, and what
//! the incremental evaluators of the whole shipped library hold on top.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use soc2_operator::view::live::LiveView;
use soc2_operator::view::{ClusterSnapshot, Project};

#[path = "support/library.rs"]
mod library;
#[path = "support/synthetic.rs"]
mod synthetic;

/// The system allocator, counting live and peak heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn add(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; only counters are updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            add(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Heap bytes of deep copies of `objects` (each in its own `Arc`, as a store holds them): as they come from the
/// API server, and as the stores keep them ([`Project`]).
fn deep_bytes<K: Clone + Project>(objects: &[Arc<K>]) -> (usize, usize) {
    let measure = |project: bool| {
        let before = live();
        let copies: Vec<Arc<K>> = objects
            .iter()
            .map(|o| {
                let mut o = o.as_ref().clone();
                if project {
                    o.project();
                }
                Arc::new(o)
            })
            .collect();
        let bytes = live() - before - copies.capacity() * std::mem::size_of::<Arc<K>>();
        drop(copies);
        bytes
    };
    (measure(false), measure(true))
}

fn per_kind(s: &ClusterSnapshot) -> Vec<(&'static str, usize, (usize, usize))> {
    vec![
        ("Namespace", s.namespaces.len(), deep_bytes(&s.namespaces)),
        ("Node", s.nodes.len(), deep_bytes(&s.nodes)),
        (
            "Pod (kube-system)",
            s.control_plane_pods.len(),
            deep_bytes(&s.control_plane_pods),
        ),
        (
            "Secret (SA token, redacted)",
            s.service_account_token_secrets.len(),
            deep_bytes(&s.service_account_token_secrets),
        ),
        (
            "ClusterRole",
            s.cluster_roles.len(),
            deep_bytes(&s.cluster_roles),
        ),
        ("Role", s.roles.len(), deep_bytes(&s.roles)),
        (
            "ClusterRoleBinding",
            s.cluster_role_bindings.len(),
            deep_bytes(&s.cluster_role_bindings),
        ),
        (
            "RoleBinding",
            s.role_bindings.len(),
            deep_bytes(&s.role_bindings),
        ),
        (
            "Deployment",
            s.deployments.len(),
            deep_bytes(&s.deployments),
        ),
        (
            "StatefulSet",
            s.stateful_sets.len(),
            deep_bytes(&s.stateful_sets),
        ),
        ("DaemonSet", s.daemon_sets.len(), deep_bytes(&s.daemon_sets)),
        ("CronJob", s.cron_jobs.len(), deep_bytes(&s.cron_jobs)),
        ("Job", s.jobs.len(), deep_bytes(&s.jobs)),
        ("Pod", s.pods.len(), deep_bytes(&s.pods)),
        ("Service", s.services.len(), deep_bytes(&s.services)),
        (
            "ServiceAccount",
            s.service_accounts.len(),
            deep_bytes(&s.service_accounts),
        ),
        (
            "NetworkPolicy",
            s.network_policies.len(),
            deep_bytes(&s.network_policies),
        ),
        ("Ingress", s.ingresses.len(), deep_bytes(&s.ingresses)),
        (
            "PodDisruptionBudget",
            s.pod_disruption_budgets.len(),
            deep_bytes(&s.pod_disruption_budgets),
        ),
    ]
}

fn main() {
    // `cargo bench` passes `--bench`; this binary takes no other arguments.
    for n in [10_000, 100_000] {
        let snapshot = synthetic::cluster(n, 0x5eed_c0de);
        let objects = synthetic::object_count(&snapshot);

        let before = live();
        PEAK.store(before, Ordering::Relaxed);
        let (view, changes) = LiveView::new(None);
        view.load_snapshot(&snapshot);
        let stores = live() - before;
        let peak = PEAK.load(Ordering::Relaxed) - before;

        let kinds = [
            soc2_operator::view::ResourceKind::Namespace,
            soc2_operator::view::ResourceKind::Node,
            soc2_operator::view::ResourceKind::ControlPlanePod,
            soc2_operator::view::ResourceKind::ServiceAccountTokenSecret,
            soc2_operator::view::ResourceKind::Role,
            soc2_operator::view::ResourceKind::ClusterRole,
            soc2_operator::view::ResourceKind::RoleBinding,
            soc2_operator::view::ResourceKind::ClusterRoleBinding,
            soc2_operator::view::ResourceKind::Deployment,
            soc2_operator::view::ResourceKind::StatefulSet,
            soc2_operator::view::ResourceKind::DaemonSet,
            soc2_operator::view::ResourceKind::CronJob,
            soc2_operator::view::ResourceKind::Job,
            soc2_operator::view::ResourceKind::Pod,
            soc2_operator::view::ResourceKind::Service,
            soc2_operator::view::ResourceKind::ServiceAccount,
            soc2_operator::view::ResourceKind::NetworkPolicy,
            soc2_operator::view::ResourceKind::Ingress,
            soc2_operator::view::ResourceKind::PodDisruptionBudget,
            soc2_operator::view::ResourceKind::ControlException,
        ];
        let before_snapshot = live();
        let taken = view.snapshot(&soc2_operator::view::Reads::kinds(&kinds));
        let snapshot_bytes = live() - before_snapshot;
        assert_eq!(synthetic::object_count(&taken), objects);
        drop(taken);

        println!("memory/{n}: {objects} objects");
        println!(
            "  reflector stores (LiveView::load_snapshot): {stores} bytes = {:.0} bytes/object; peak while loading {:.0} bytes/object",
            stores as f64 / objects as f64,
            peak as f64 / objects as f64,
        );
        println!(
            "  one snapshot of every kind (Vec<Arc<_>> only): {snapshot_bytes} bytes = {:.1} bytes/object",
            snapshot_bytes as f64 / objects as f64
        );
        println!(
            "  objects alone (deep copies, by kind): as listed / as the stores keep them (projected); workloads and \
             Pods as listed are already in their stored types (view::stored)"
        );
        let (mut total, mut kept) = (0, 0);
        for (kind, count, (bytes, projected)) in per_kind(&snapshot) {
            total += bytes;
            kept += projected;
            if count > 0 {
                println!(
                    "    {kind:<28} {count:>7} objects {:>8.0} / {:>8.0} bytes/object",
                    bytes as f64 / count as f64,
                    projected as f64 / count as f64
                );
            }
        }
        println!(
            "    {:<28} {objects:>7} objects {:>8.0} / {:>8.0} bytes/object",
            "all",
            total as f64 / objects as f64,
            kept as f64 / objects as f64
        );
        // What the operator remembers between reconciles for incremental evaluation: every library control
        // primed once (its judged objects, context and findings; the objects themselves are shared with the stores).
        let controls: Vec<(String, soc2_operator::api::Control)> =
            library::controls_in("config/controls")
                .into_iter()
                .map(|c| (c.metadata.name.clone().expect("named"), c))
                .collect();
        let now: k8s_openapi::jiff::Timestamp = "2026-06-01T00:00:00Z".parse().expect("timestamp");
        let before_evaluators = live();
        let mut evaluators = Vec::new();
        for (name, control) in &controls {
            let v =
                soc2_operator::engine::validation::validate(&control.spec).expect("valid control");
            let taken = view.snapshot(&soc2_operator::engine::evaluate::required_kinds(&v));
            let mut evaluator = soc2_operator::engine::incremental::IncrementalEvaluator::default();
            drop(
                evaluator
                    .evaluate(name, &v, &taken, now)
                    .expect("evaluates"),
            );
            drop(taken);
            evaluators.push(evaluator);
        }
        let evaluator_bytes = live() - before_evaluators;
        println!(
            "  incremental evaluators, {} library controls primed: {evaluator_bytes} bytes = {:.0} bytes/object",
            controls.len(),
            evaluator_bytes as f64 / objects as f64
        );
        drop(evaluators);
        drop(view);
        drop(changes);
    }
}
