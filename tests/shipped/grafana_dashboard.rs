//! The Grafana dashboard shipped in the chart (`dashboards/`) and in `config/grafana/` is one valid dashboard whose
//! every query reads metrics the operator exports, and it shows what the chart promises: compliance per control and
//! per criterion, failing findings by severity, reconcile and webhook latency, evidence snapshots and chain head age.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use soc2_operator::api::{Criterion, Severity};
use soc2_operator::evaluate::Compliance;
use soc2_operator::metrics::Metrics;
use soc2_operator::view::watch_retry::WatchFailure;

const CHART_COPY: &str = "charts/soc2-operator/dashboards/soc2-operator.json";
const CONFIG_COPY: &str = "config/grafana/soc2-operator.json";

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn dashboard() -> Value {
    serde_json::from_str(&read(CONFIG_COPY)).unwrap_or_else(|e| panic!("{CONFIG_COPY}: {e}"))
}

/// Every metric name the operator's registry exports, with the sample names of histograms (`_bucket`, `_sum`,
/// `_count`). A family is exposed once it has a series, so one of each is made through the methods the operator
/// calls.
fn exported() -> BTreeSet<String> {
    let m = Metrics::new();
    let criteria = [Criterion("CC6.1".into())];
    let now = "2026-12-07T10:00:00Z".parse().expect("timestamp");
    m.observe_reconcile("c", Duration::from_millis(1), Some("api"));
    m.observe_evaluation("mfaAccess", "full", Duration::from_millis(1));
    m.set_compliance("c", &criteria, Some(Compliance::NonCompliant));
    m.set_findings("c", Severity::High, &[]);
    m.status_written("c");
    m.event_published("ControlFailing");
    m.set_leader(true);
    m.write_dropped();
    m.admission_decided("c", "denied", false);
    m.admission_decided("c", "allowed", true);
    m.admission_served("enforce", "allowed", Duration::from_millis(1));
    m.observe_snapshot("audit", Duration::from_millis(1), "written");
    m.set_chain_head("audit", now);
    m.watch_listed("pods");
    m.set_watch_objects("pods", 1);
    m.set_streaming_lists(true);
    m.watch_failed("pods", WatchFailure::Expired);
    let text = m.encode().expect("metrics encode");
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').expect("a TYPE line names a kind");
        names.insert(name.to_string());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// The metric names a PromQL expression reads: the project's `soc2_` names.
fn metrics_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while let Some(at) = expr[i..].find("soc2_") {
        let start = i + at;
        let before = start.checked_sub(1).map(|b| bytes[b]);
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if !before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
            names.push(expr[start..end].to_string());
        }
        i = end;
    }
    names
}

fn panels(d: &Value) -> Vec<&Value> {
    d["panels"].as_array().expect("panels").iter().collect()
}

#[test]
fn the_chart_and_config_ship_the_same_dashboard() {
    assert_eq!(
        read(CHART_COPY),
        read(CONFIG_COPY),
        "{CHART_COPY} and {CONFIG_COPY} differ: copy one over the other"
    );
    let template = read("charts/soc2-operator/templates/grafana-dashboard.yaml");
    assert!(
        template.contains(r#".Files.Get "dashboards/soc2-operator.json""#),
        "the chart's ConfigMap must embed dashboards/soc2-operator.json"
    );
    let values = read("charts/soc2-operator/values.yaml");
    assert!(
        values.contains("grafanaDashboard:\n  enabled: false"),
        "the dashboard is off by default"
    );
}

#[test]
fn the_dashboard_is_well_formed() {
    let d = dashboard();
    for field in ["title", "uid", "schemaVersion", "panels", "templating"] {
        assert!(!d[field].is_null(), "the dashboard has no {field}");
    }
    let variables: Vec<&str> = d["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(variables.contains(&"datasource"), "{variables:?}");
    let mut ids = BTreeSet::new();
    for panel in panels(&d) {
        let id = panel["id"].as_u64().expect("every panel has a numeric id");
        assert!(ids.insert(id), "panel id {id} is used twice");
        for key in ["h", "w", "x", "y"] {
            assert!(
                panel["gridPos"][key].is_u64(),
                "panel {id} has no gridPos.{key}"
            );
        }
        let x = panel["gridPos"]["x"].as_u64().unwrap_or(0);
        let w = panel["gridPos"]["w"].as_u64().unwrap_or(0);
        assert!(x + w <= 24, "panel {id} is wider than the 24-column grid");
        if panel["type"] == "row" {
            continue;
        }
        assert!(
            panel["title"].as_str().is_some_and(|t| !t.is_empty()),
            "panel {id}"
        );
        assert!(
            panel["description"].as_str().is_some_and(|t| !t.is_empty()),
            "panel {id} has no description: say what it shows and what to do about it"
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {id} has no query");
        for t in targets {
            assert_eq!(
                t["datasource"]["uid"], "${datasource}",
                "panel {id} must query the chosen data source"
            );
        }
    }
}

#[test]
fn every_query_reads_metrics_the_operator_exports() {
    let exported = exported();
    let mut used = BTreeSet::new();
    for panel in panels(&dashboard()) {
        for t in panel["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().expect("a PromQL expression");
            let names = metrics_in(expr);
            assert!(!names.is_empty(), "{expr} reads no soc2_ metric");
            for name in names {
                assert!(
                    exported.contains(&name),
                    "{expr} reads {name}, which the operator does not export"
                );
                used.insert(name);
            }
        }
    }
    for promised in [
        "soc2_control_compliant",
        "soc2_control_findings",
        "soc2_reconcile_duration_seconds_bucket",
        "soc2_webhook_duration_seconds_bucket",
        "soc2_evidence_snapshots_total",
        "soc2_evidence_chain_head_timestamp_seconds",
    ] {
        assert!(used.contains(promised), "no panel shows {promised}");
    }
}

#[test]
fn metric_names_are_read_whole() {
    assert_eq!(
        metrics_in(
            "histogram_quantile(0.99, sum by (le) (rate(soc2_a_bucket[5m]))) / my_soc2_c + soc2_d"
        ),
        ["soc2_a_bucket", "soc2_d"]
    );
}
