//! Benchmarks of the evaluation engine against a synthetic cluster (see `support/synthetic.rs`).
//!
//! `cargo bench --bench engine` (add a filter such as `-- evaluate/logging` to run a subset).
//!
//! - `evaluate/all-samples/<n>`: validate + evaluate the three sample controls (`config/samples/`);
//! - `evaluate/<check>/<n>`: the same, one sample control (hence one check kind) at a time;
//! - `snapshot/live-view/<n>`: taking a snapshot of every kind the samples read from the reflector stores;
//! - `reevaluate/<check>/<n>`: what a reconcile of one control pays after a change today: a snapshot of the kinds
//!   the control reads plus a full evaluation of that control.

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use k8s_openapi::jiff::Timestamp;
use soc2_operator::api::Control;
use soc2_operator::evaluate::{evaluate, required_kinds};
use soc2_operator::validation::validate;
use soc2_operator::view::live::LiveView;
use soc2_operator::view::{Reads, ResourceKind};

#[path = "support/synthetic.rs"]
mod synthetic;

const SIZES: &[usize] = &[10_000, 100_000];
const SEED: u64 = 0x5eed_c0de;

/// The sample controls shipped in `config/samples/`, sorted by name.
fn sample_controls() -> Vec<Control> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("config/samples exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("readable sample");
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect()
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

criterion_group! {
    name = benches;
    // Ten samples, short windows: the whole run stays within a few minutes at 100k objects on 2 cores.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = engine
}
criterion_main!(benches);
