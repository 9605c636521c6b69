//! The Grafana dashboard shipped in the chart (`dashboards/`) and in `config/grafana/` is one valid dashboard whose
//! every query reads metrics the operator exports, and it shows what the chart promises: compliance per control and
//! per criterion, failing findings by severity, reconcile and webhook latency, evidence snapshots and chain head age.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use soc2_operator::api::{Criterion, Severity};
use soc2_operator::engine::evaluate::Compliance;
use soc2_operator::runtime::metrics::Metrics;
use soc2_operator::view::watch_retry::WatchFailure;

const CHART_COPY: &str = "charts/soc2-operator/dashboards/soc2-operator.json";
const CONFIG_COPY: &str = "config/grafana/soc2-operator.json";

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn dashboard() -> Value {
    serde_json::from_str(&read(CONFIG_COPY)).unwrap_or_else(|e| panic!("{CONFIG_COPY}: {e}"))
}

/// The operator's registry with one series in every family (a family is exposed once it has one), made through
/// the methods the operator calls.
fn populated() -> Metrics {
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
    m
}

/// Every metric name the operator's registry exports, with the sample names of histograms (`_bucket`, `_sum`,
/// `_count`).
fn exported() -> BTreeSet<String> {
    let text = populated().encode().expect("metrics encode");
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

/// Prometheus on 127.0.0.1, scraping `target` every second, stopped when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves `body` as the Prometheus text format to every request on a loopback port, from a thread.
fn serve_metrics(body: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
                soc2_operator::runtime::metrics::CONTENT_TYPE,
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
    });
    port
}

/// `GET path` on 127.0.0.1:`port`; the body.
fn get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default())
}

/// Percent-encodes a query parameter.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs an instant query; the JSON answer.
fn query(port: u16, expr: &str) -> Value {
    let body = get(port, &format!("/api/v1/query?query={}", encode(expr)))
        .unwrap_or_else(|e| panic!("query {expr}: {e}"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("query {expr}: {e}: {body}"))
}

fn start_prometheus(target: u16) -> Option<Prometheus> {
    let Some(binary) = which("prometheus") else {
        eprintln!(
            "skipped: prometheus is not installed (apt-get install prometheus); .ci/run installs it"
        );
        return None;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: soc2-operator\n    static_configs: [{{targets: [\"127.0.0.1:{target}\"]}}]\n"
        ),
    )
    .expect("config");
    let port = crate::support::moto::free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("prometheus starts");
    Some(Prometheus {
        child,
        port,
        _dir: dir,
    })
}

/// `name` on PATH, if it is there.
fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Every query of the dashboard is PromQL that Prometheus accepts, and the panels that show what every running
/// operator exports (compliance, findings, latency, snapshots, chain head age) return series from a scrape of the
/// operator's registry. Skipped with a message when Prometheus is not installed.
#[test]
fn every_query_runs_on_prometheus() {
    let target = serve_metrics(populated().encode().expect("metrics encode"));
    let Some(prometheus) = start_prometheus(target) else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    // Two scrapes at least, so that rates have two samples.
    loop {
        let ready = get(
            prometheus.port,
            "/api/v1/query?query=count_over_time(up%5B1m%5D)",
        )
        .ok()
        .and_then(|b| serde_json::from_str::<Value>(&b).ok())
        .and_then(|v| {
            v["data"]["result"][0]["value"][1]
                .as_str()
                .map(str::to_string)
        })
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n >= 2);
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape the metrics twice within 60 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    for panel in panels(&dashboard()) {
        let title = panel["title"].as_str().unwrap_or_default();
        for t in panel["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().expect("expr").replace("$control", ".*");
            let answer = query(prometheus.port, &expr);
            assert_eq!(
                answer["status"], "success",
                "panel {title:?}: Prometheus refused {expr}: {answer}"
            );
            let series = answer["data"]["result"].as_array().map_or(0, Vec::len);
            let always_there = [
                "soc2_control_compliant",
                "soc2_control_findings",
                "soc2_reconcile_duration_seconds",
                "soc2_evidence_snapshots_total",
                "soc2_evidence_chain_head_timestamp_seconds",
                "soc2_leader",
                "soc2_watch_objects",
            ];
            if always_there.iter().any(|m| expr.contains(m)) {
                assert!(
                    series > 0,
                    "panel {title:?}: {expr} returned no series: {answer}"
                );
            }
        }
    }
}
