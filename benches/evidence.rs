//! Evidence at Type II scale: verify a chain of 10,000 signed snapshots (goal: under 5 s) with and without the
//! trusted key, build the Type II report over it, and append one snapshot to it. Directory store; each snapshot
//! holds the three sample controls evaluated against the example cluster.

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use k8s_openapi::jiff::Timestamp;
use soc2_operator::evidence::collect::{OperationBaseline, control_documents};
use soc2_operator::evidence::schedule::{Schedule, snapshot_id};
use soc2_operator::evidence::snapshot::{ChainHead, SnapshotInput, write_snapshot_after};
use soc2_operator::evidence::{
    ClusterIdentity, ControlDocument, EvidenceStoreClient, SigningKey, StoreLocation,
    VerifyingKeys, report, verify_chain,
};
use soc2_operator::scan::load_paths;

const SNAPSHOTS: i64 = 10_000;

fn documents(tick: Timestamp) -> Vec<ControlDocument> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let controls = load_paths(&[root.join("config/samples")]).unwrap().controls;
    let view = load_paths(&[root.join("examples/cluster")])
        .unwrap()
        .snapshot;
    control_documents(
        &snapshot_id(tick),
        &controls,
        tick,
        |_| view.clone(),
        None,
        &mut OperationBaseline::default(),
    )
    .unwrap()
}

async fn append(
    store: &EvidenceStoreClient,
    head: Option<ChainHead>,
    template: &[ControlDocument],
    tick: Timestamp,
    schedule: &Schedule,
    key: &SigningKey,
) -> ChainHead {
    let id = snapshot_id(tick);
    let docs = template
        .iter()
        .cloned()
        .map(|mut d| {
            d.snapshot_id = id.clone();
            d.evaluated_at = tick.to_string();
            d
        })
        .collect();
    let input = SnapshotInput {
        source: "bench".into(),
        cluster: ClusterIdentity {
            uid: "bench".into(),
            server_version: "v1.33.1".into(),
        },
        tick,
        documents: docs,
        schedule: Some(schedule),
        gap_reason: None,
        signing_key: Some(key),
        access_reviews: Vec::new(),
    };
    write_snapshot_after(store, head, input)
        .await
        .unwrap()
        .head()
        .clone()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store =
        EvidenceStoreClient::connect(&StoreLocation::Filesystem(dir.path().to_path_buf())).unwrap();
    let hourly = Schedule::parse(Some("1h"), None).unwrap();
    // 2025-01-01: 10,000 hourly snapshots end in February 2026, in the past (verify names manifests from the future).
    let start = Timestamp::from_second(1_735_689_600).unwrap();
    let template = documents(start);
    let key = SigningKey::from_seed(&[7u8; 32]).unwrap();
    let mut trusted = VerifyingKeys::default();
    trusted.add(key.public_key_hex().as_bytes()).unwrap();
    let mut head = None;
    let mut tick = start;
    rt.block_on(async {
        for i in 0..SNAPSHOTS {
            tick = Timestamp::from_second(start.as_second() + i * 3600).unwrap();
            head = Some(append(&store, head.take(), &template, tick, &hourly, &key).await);
        }
    });

    let mut group = c.benchmark_group("evidence");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for (name, keys) in [
        ("verify 10k signed snapshots, trusted key", &trusted),
        (
            "verify 10k signed snapshots, no key",
            &VerifyingKeys::default(),
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let out = rt.block_on(verify_chain(&store, keys, |_, _| {})).unwrap();
                assert!(out.is_intact() && out.snapshots.len() == SNAPSHOTS as usize);
            })
        });
    }
    let verified = rt
        .block_on(verify_chain(&store, &trusted, |_, _| {}))
        .unwrap();
    let end = tick;
    group.bench_function("Type II report over 10k snapshots", |b| {
        b.iter(|| {
            let r = report::build_at(&verified, store.uri(), Some(start), end, end);
            assert_eq!(r.snapshots, SNAPSHOTS as usize);
            report::render_html(&r).len()
        })
    });
    group.bench_function("append a snapshot to a 10k chain", |b| {
        b.iter(|| {
            tick = Timestamp::from_second(tick.as_second() + 3600).unwrap();
            head = Some(rt.block_on(append(&store, head.take(), &template, tick, &hourly, &key)));
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
