//! Benchmarks of the evaluation engine against a synthetic cluster (see `support/synthetic.rs`).
//!
//! `cargo bench --bench engine` (add a filter such as `-- evaluate/logging` to run a subset).
//!
//! - `evaluate/all-samples/<n>`: validate + evaluate the three sample controls (`config/samples/`);
//! - `evaluate/<check>/<n>`: the same, one sample control (hence one check kind) at a time;
//! - `snapshot/live-view/<n>`: taking a snapshot of every kind the samples read from the reflector stores;
//! - `reevaluate/<check>/<n>`: what a reconcile of one control pays after a change today: a snapshot of the kinds
//!   the control reads plus a full evaluation of that control.
//! - `library/evaluate-all/<n>`: validate + evaluate every control of the shipped library (`config/controls/`);
//! - `library-reconcile/<control>/<n>`: what the reconcile of one library control costs when it is evaluated whole:
//!   `LiveView::snapshot` of its reads plus `evaluate` (a first evaluation, or a change to its context).
//! - `library-incremental/<control>/<n>`: what the operator's reconcile of one library control costs after one
//!   object it reads changed: `LiveView::snapshot` of its reads, the change swapped in (an updated version of one
//!   object, alternating between two versions so that every iteration is a change), and the control's
//!   `IncrementalEvaluator` (a full evaluation for the controls that judge the cluster as a whole).
//! - `library-context/<control>/<Kind>/<n>`: the same after one object of the control's namespace-local context
//!   changed (`evaluate::namespace_local_context`): an application Namespace, a PodDisruptionBudget, a
//!   ServiceAccount, a NetworkPolicy, a token Secret; every judged object of that namespace is judged again.

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use k8s_openapi::jiff::Timestamp;
use soc2_operator::api::Control;
use soc2_operator::engine::evaluate::{
    evaluate, namespace_local_context, required_kinds, subject_kinds,
};
use soc2_operator::engine::incremental::IncrementalEvaluator;
use soc2_operator::engine::validation::validate;
use soc2_operator::view::live::LiveView;
use soc2_operator::view::{ClusterSnapshot, Reads, ResourceKind};

#[path = "support/library.rs"]
mod library;
#[path = "support/synthetic.rs"]
mod synthetic;

use library::controls_in;

const SIZES: &[usize] = &[10_000, 100_000];
const SEED: u64 = 0x5eed_c0de;

/// The sample controls shipped in `config/samples/`, sorted by name.
fn sample_controls() -> Vec<Control> {
    controls_in("config/samples")
}

fn name(control: &Control) -> &str {
    control.metadata.name.as_deref().unwrap_or("control")
}

fn engine(c: &mut Criterion) {
    let controls = sample_controls();
    assert_eq!(controls.len(), 3, "three sample controls");
    let now: Timestamp = "2026-06-01T00:00:00Z".parse().expect("timestamp");
    // Every kind the samples read: what the operator watches with the samples applied.
    let mut kinds: Vec<ResourceKind> = controls
        .iter()
        .flat_map(|c| required_kinds(&validate(&c.spec).expect("valid sample")).kinds)
        .collect();
    kinds.sort();
    kinds.dedup();
    let reads = Reads::kinds(&kinds);

    for &n in SIZES {
        let snapshot = synthetic::cluster(n, SEED);
        let objects = synthetic::object_count(&snapshot) as u64;
        for c in &controls {
            let v = validate(&c.spec).expect("valid sample");
            let e = evaluate(name(c), &v, &snapshot, now).expect("evaluates");
            eprintln!(
                "n={n} objects={objects} {}: evaluated={} failed={} findings={}",
                v.kind.field(),
                e.summary.evaluated,
                e.summary.failed,
                e.findings.len()
            );
        }

        let mut group = c.benchmark_group("evaluate");
        group
            .sampling_mode(SamplingMode::Flat)
            .throughput(Throughput::Elements(objects));
        group.bench_function(BenchmarkId::new("all-samples", n), |b| {
            b.iter(|| {
                for c in &controls {
                    let v = validate(&c.spec).expect("valid sample");
                    black_box(evaluate(name(c), &v, &snapshot, now).expect("evaluates"));
                }
            })
        });
        for c in &controls {
            let check = validate(&c.spec).expect("valid sample").kind.field();
            group.bench_function(BenchmarkId::new(check, n), |b| {
                b.iter(|| {
                    let v = validate(&c.spec).expect("valid sample");
                    black_box(evaluate(name(c), &v, &snapshot, now).expect("evaluates"))
                })
            });
        }
        group.finish();

        let (view, _changes) = LiveView::new(None);
        view.load_snapshot(&snapshot);
        drop(snapshot);

        let mut group = c.benchmark_group("snapshot");
        group
            .sampling_mode(SamplingMode::Flat)
            .throughput(Throughput::Elements(objects));
        group.bench_function(BenchmarkId::new("live-view", n), |b| {
            b.iter(|| black_box(view.snapshot(black_box(&reads))))
        });
        group.finish();

        let mut group = c.benchmark_group("reevaluate");
        group
            .sampling_mode(SamplingMode::Flat)
            .throughput(Throughput::Elements(objects));
        for c in &controls {
            let check = validate(&c.spec).expect("valid sample").kind.field();
            group.bench_function(BenchmarkId::new(check, n), |b| {
                b.iter(|| {
                    let v = validate(&c.spec).expect("valid sample");
                    let snapshot = view.snapshot(&required_kinds(&v));
                    black_box(evaluate(name(c), &v, &snapshot, now).expect("evaluates"))
                })
            });
        }
        group.finish();
    }
}

/// The shipped library over the synthetic cluster: everything at once, then one control's reconcile at a time.
fn library(c: &mut Criterion) {
    let controls = controls_in("config/controls");
    assert!(controls.len() >= 20, "the shipped library has 20+ controls");
    let now: Timestamp = "2026-06-01T00:00:00Z".parse().expect("timestamp");
    for &n in SIZES {
        let snapshot = synthetic::cluster(n, SEED);
        let objects = synthetic::object_count(&snapshot) as u64;
        let mut failing = 0;
        for c in &controls {
            let v = validate(&c.spec).unwrap_or_else(|e| panic!("{}: {e}", name(c)));
            let e = evaluate(name(c), &v, &snapshot, now).expect("evaluates");
            failing += usize::from(e.summary.failed > 0);
            eprintln!(
                "n={n} objects={objects} {}: evaluated={} failed={} findings={}",
                name(c),
                e.summary.evaluated,
                e.summary.failed,
                e.findings.len()
            );
        }
        eprintln!("n={n}: {failing} of {} controls fail", controls.len());

        let mut group = c.benchmark_group("library");
        group
            .sampling_mode(SamplingMode::Flat)
            .throughput(Throughput::Elements(objects));
        group.bench_function(BenchmarkId::new("evaluate-all", n), |b| {
            b.iter(|| {
                for c in &controls {
                    let v = validate(&c.spec).expect("valid control");
                    black_box(evaluate(name(c), &v, &snapshot, now).expect("evaluates"));
                }
            })
        });
        group.finish();

        if n != *SIZES.last().expect("sizes") {
            continue;
        }
        let (view, _changes) = LiveView::new(None);
        view.load_snapshot(&snapshot);
        drop(snapshot);
        let mut group = c.benchmark_group("library-reconcile");
        group.sampling_mode(SamplingMode::Flat);
        for c in &controls {
            group.bench_function(BenchmarkId::new(name(c), n), |b| {
                b.iter(|| {
                    let v = validate(&c.spec).expect("valid control");
                    let snapshot = view.snapshot(&required_kinds(&v));
                    black_box(evaluate(name(c), &v, &snapshot, now).expect("evaluates"))
                })
            });
        }
        group.finish();

        let mut group = c.benchmark_group("library-incremental");
        group.sampling_mode(SamplingMode::Flat);
        for c in &controls {
            let v = validate(&c.spec).expect("valid control");
            let reads = required_kinds(&v);
            // The object that changes: one the control judges one by one, else any object it reads.
            let kind = subject_kinds(&v).first().copied().or_else(|| {
                reads.kinds.iter().copied().find(|k| {
                    !matches!(k, ResourceKind::Namespace | ResourceKind::ControlException)
                })
            });
            if let Some(kind) = kind {
                bench_change(&mut group, &view, c, kind, name(c).to_string(), n, now);
            }
        }
        group.finish();

        let mut group = c.benchmark_group("library-context");
        group.sampling_mode(SamplingMode::Flat);
        for c in &controls {
            let v = validate(&c.spec).expect("valid control");
            for kind in namespace_local_context(&v) {
                let id = format!("{}/{kind:?}", name(c));
                bench_change(&mut group, &view, c, kind, id, n, now);
            }
        }
        group.finish();
    }
}

/// Benchmarks the reconcile of `control` after one object of `kind` changed: a snapshot of its reads with the
/// change swapped in, and its primed `IncrementalEvaluator`. Prints the path the first change takes.
fn bench_change(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    view: &LiveView,
    control: &Control,
    kind: ResourceKind,
    id: String,
    n: usize,
    now: Timestamp,
) {
    let v = validate(&control.spec).expect("valid control");
    let reads = required_kinds(&v);
    let snapshot = view.snapshot(&reads);
    let Some(versions) = Versions::of(&snapshot, kind) else {
        return;
    };
    let mut evaluator = IncrementalEvaluator::default();
    evaluator
        .evaluate(name(control), &v, &snapshot, now)
        .expect("evaluates");
    drop(snapshot);
    let mut probe = view.snapshot(&reads);
    versions.swap_in(&mut probe, 1);
    let (_, path) = evaluator
        .evaluate(name(control), &v, &probe, now)
        .expect("evaluates");
    eprintln!(
        "{}: a change to one {kind:?} is evaluated as {path:?}",
        name(control)
    );
    drop(probe);
    let mut turn = 1usize;
    group.bench_function(BenchmarkId::new(id, n), |b| {
        b.iter(|| {
            let v = validate(&control.spec).expect("valid control");
            let mut snapshot = view.snapshot(&required_kinds(&v));
            turn += 1;
            versions.swap_in(&mut snapshot, turn);
            black_box(
                evaluator
                    .evaluate(name(control), &v, &snapshot, now)
                    .expect("evaluates"),
            )
        })
    });
}

/// Two updated versions of one object: swapped into a snapshot in turn, each is a change from the one before.
struct Versions {
    uid: String,
    versions: [AnyVersion; 2],
}

#[derive(Clone)]
enum AnyVersion {
    Deployment(std::sync::Arc<soc2_operator::view::stored::Deployment>),
    RoleBinding(std::sync::Arc<k8s_openapi::api::rbac::v1::RoleBinding>),
    Service(std::sync::Arc<k8s_openapi::api::core::v1::Service>),
    Ingress(std::sync::Arc<k8s_openapi::api::networking::v1::Ingress>),
    ClusterRoleBinding(std::sync::Arc<k8s_openapi::api::rbac::v1::ClusterRoleBinding>),
    CronJob(std::sync::Arc<soc2_operator::view::stored::CronJob>),
    Job(std::sync::Arc<soc2_operator::view::stored::Job>),
    NetworkPolicy(std::sync::Arc<k8s_openapi::api::networking::v1::NetworkPolicy>),
    Pod(std::sync::Arc<soc2_operator::view::stored::Pod>),
    Namespace(std::sync::Arc<k8s_openapi::api::core::v1::Namespace>),
    PodDisruptionBudget(std::sync::Arc<k8s_openapi::api::policy::v1::PodDisruptionBudget>),
    ServiceAccount(std::sync::Arc<k8s_openapi::api::core::v1::ServiceAccount>),
    Secret(std::sync::Arc<k8s_openapi::api::core::v1::Secret>),
}

fn updated<K: kube::Resource + Clone>(
    objects: &[std::sync::Arc<K>],
) -> Option<(String, [std::sync::Arc<K>; 2])> {
    updated_where(objects, |_| true)
}

/// Like [`updated`], for the first object that `pick` accepts.
fn updated_where<K: kube::Resource + Clone>(
    objects: &[std::sync::Arc<K>],
    pick: impl Fn(&K) -> bool,
) -> Option<(String, [std::sync::Arc<K>; 2])> {
    let first = objects.iter().find(|o| pick(o))?;
    let uid = first.meta().uid.clone()?;
    let version = |v: &str| {
        let mut o = first.as_ref().clone();
        o.meta_mut().resource_version = Some(v.into());
        o.meta_mut()
            .annotations
            .get_or_insert_default()
            .insert("bench.soc2.dev/turn".into(), v.into());
        std::sync::Arc::new(o)
    };
    Some((uid, [version("bench-a"), version("bench-b")]))
}

fn replace<K: kube::Resource>(
    objects: &mut [std::sync::Arc<K>],
    uid: &str,
    by: &std::sync::Arc<K>,
) {
    if let Some(slot) = objects
        .iter_mut()
        .find(|o| o.meta().uid.as_deref() == Some(uid))
    {
        *slot = by.clone();
    }
}

impl Versions {
    fn of(s: &ClusterSnapshot, kind: ResourceKind) -> Option<Versions> {
        macro_rules! pick {
            ($field:ident, $variant:ident) => {{
                let (uid, [a, b]) = updated(&s.$field)?;
                (uid, [AnyVersion::$variant(a), AnyVersion::$variant(b)])
            }};
        }
        let (uid, versions) = match kind {
            ResourceKind::Deployment => pick!(deployments, Deployment),
            ResourceKind::RoleBinding => pick!(role_bindings, RoleBinding),
            ResourceKind::Service => pick!(services, Service),
            ResourceKind::Ingress => pick!(ingresses, Ingress),
            ResourceKind::ClusterRoleBinding => pick!(cluster_role_bindings, ClusterRoleBinding),
            ResourceKind::CronJob => pick!(cron_jobs, CronJob),
            ResourceKind::Job => pick!(jobs, Job),
            ResourceKind::NetworkPolicy => pick!(network_policies, NetworkPolicy),
            ResourceKind::Pod => pick!(pods, Pod),
            ResourceKind::PodDisruptionBudget => pick!(pod_disruption_budgets, PodDisruptionBudget),
            ResourceKind::ServiceAccount => pick!(service_accounts, ServiceAccount),
            ResourceKind::ServiceAccountTokenSecret => pick!(service_account_token_secrets, Secret),
            ResourceKind::Namespace => {
                // An application namespace: the one of the first Deployment.
                let home = s.deployments.first()?.metadata.namespace.clone();
                let (uid, [a, b]) = updated_where(&s.namespaces, |n| n.metadata.name == home)?;
                (uid, [AnyVersion::Namespace(a), AnyVersion::Namespace(b)])
            }
            _ => return None,
        };
        Some(Versions { uid, versions })
    }

    fn swap_in(&self, s: &mut ClusterSnapshot, turn: usize) {
        let uid = self.uid.as_str();
        match &self.versions[turn % 2] {
            AnyVersion::Deployment(o) => replace(&mut s.deployments, uid, o),
            AnyVersion::RoleBinding(o) => replace(&mut s.role_bindings, uid, o),
            AnyVersion::Service(o) => replace(&mut s.services, uid, o),
            AnyVersion::Ingress(o) => replace(&mut s.ingresses, uid, o),
            AnyVersion::ClusterRoleBinding(o) => replace(&mut s.cluster_role_bindings, uid, o),
            AnyVersion::CronJob(o) => replace(&mut s.cron_jobs, uid, o),
            AnyVersion::Job(o) => replace(&mut s.jobs, uid, o),
            AnyVersion::NetworkPolicy(o) => replace(&mut s.network_policies, uid, o),
            AnyVersion::Pod(o) => replace(&mut s.pods, uid, o),
            AnyVersion::Namespace(o) => replace(&mut s.namespaces, uid, o),
            AnyVersion::PodDisruptionBudget(o) => replace(&mut s.pod_disruption_budgets, uid, o),
            AnyVersion::ServiceAccount(o) => replace(&mut s.service_accounts, uid, o),
            AnyVersion::Secret(o) => replace(&mut s.service_account_token_secrets, uid, o),
        }
    }
}

criterion_group! {
    name = benches;
    // Ten samples, short windows: the whole run stays within a few minutes at 100k objects on 2 cores.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = engine, library
}
criterion_main!(benches);
