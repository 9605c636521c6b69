//! Admission webhook under load on loopback: this binary re-runs itself as the server process (the real HTTPS
//! server, with every Control of the shipped library `config/controls/` switched to Enforce mode; `SOC2_BENCH_CONTROLS`
//! names another directory, e.g. `config/samples`), then, as the client, sends
//! AdmissionReviews at a fixed rate over keep-alive TLS connections and reports p50/p99 latency and the server's
//! CPU use.
//!
//! `cargo bench --bench webhook_load` (defaults: 500 requests/s for 10 s over 16 connections;
//! `SOC2_BENCH_RATE`, `SOC2_BENCH_SECONDS`, `SOC2_BENCH_CONNECTIONS` override). Latency is measured from each
//! request's scheduled send time, so a stalled server cannot hide queueing (no coordinated omission).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use soc2_operator::api::{Control, Mode};
use soc2_operator::runtime::metrics::Metrics;
use soc2_operator::webhook::handler::{AdmissionState, ENFORCE_PATH, router};
use soc2_operator::webhook::server::WebhookServer;
use soc2_operator::webhook::tls::{CertificateSource, ServingCertificate};

const SERVER_ENV: &str = "SOC2_WEBHOOK_BENCH_SERVER";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn library() -> Vec<Arc<Control>> {
    let mut controls = Vec::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        std::env::var("SOC2_BENCH_CONTROLS").unwrap_or_else(|_| "config/controls".to_string()),
    );
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable control manifest");
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value: serde_json::Value = serde::Deserialize::deserialize(doc).expect("yaml");
            if value["kind"] != "Control" {
                continue;
            }
            let mut control: Control = serde_json::from_value(value).expect("a valid Control");
            control.spec.mode = Some(Mode::Enforce);
            controls.push(Arc::new(control));
        }
    }
    controls
}

/// Server process: prints the port, then the CA bundle, then serves until stdin closes.
fn serve() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let controls = library();
        let certificate =
            ServingCertificate::start(CertificateSource::Generated(vec!["127.0.0.1".into()]))
                .expect("certificate");
        let state = AdmissionState {
            controls: Arc::new(move || controls.clone()),
            namespaces: Arc::new(|| Some(Vec::new())),
            exceptions: None,
            access_reviews: Arc::new(|| Some(Vec::new())),
            metrics: Arc::new(Metrics::new()),
        };
        let server = WebhookServer::start(
            "127.0.0.1:0".parse().expect("addr"),
            certificate.server_config(),
            router(state),
        )
        .await
        .expect("listen");
        let ca = certificate.ca_bundle.borrow().clone();
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", server.local_addr().port()).expect("stdout");
        write!(out, "{ca}").expect("stdout");
        writeln!(out, "END").expect("stdout");
        out.flush().expect("flush");
        drop(out);
        // The parent closes stdin when it is done.
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await
        .expect("stdin");
        server.stop().await;
    });
}

/// A pod spec every admissible control of the shipped library accepts (restricted pod security, a pinned image
/// from an allowed registry pulled Always, probes, requests), so only the approval annotations decide the verdict.
fn compliant_pod() -> serde_json::Value {
    json!({
        "automountServiceAccountToken": false,
        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "web",
            "image": "registry.example.com/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "imagePullPolicy": "Always",
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
        }],
    })
}

fn review(i: u64) -> Vec<u8> {
    let annotations = if i.is_multiple_of(2) {
        json!({"soc2.dev/change-ticket": "CHG-1", "soc2.dev/approved-by": "ann", "soc2.dev/author": "bob"})
    } else {
        json!({})
    };
    serde_json::to_vec(&json!({
        "kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": format!("req-{i}"),
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": format!("web-{i}"), "namespace": "team-a", "operation": "CREATE",
            "userInfo": {"username": "jane@example.com"},
            "object": {"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": format!("web-{i}"), "namespace": "team-a", "annotations": annotations,
                                    "managedFields": [{"manager": "kubectl-create", "operation": "Update",
                                                       "apiVersion": "apps/v1", "time": "2026-06-01T10:00:00Z"}]},
                       "spec": {"selector": {"matchLabels": {"app": "web"}},
                                "replicas": 3,
                                "template": {"metadata": {"labels": {"app": "web"}}, "spec": compliant_pod()}}},
            "dryRun": false
        }
    }))
    .expect("json")
}

/// utime + stime of `pid` in clock ticks (Linux /proc).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    if std::env::var_os(SERVER_ENV).is_some() {
        return serve();
    }
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: run a short smoke load then.
    let benching = std::env::args().any(|a| a == "--bench");
    let rate = env_or("SOC2_BENCH_RATE", 500);
    let seconds = env_or("SOC2_BENCH_SECONDS", if benching { 10 } else { 1 });
    let connections = env_or("SOC2_BENCH_CONNECTIONS", 16);

    let mut child = Command::new(std::env::current_exe().expect("self"))
        .env(SERVER_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("server process");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let port: u16 = lines
        .next()
        .expect("port line")
        .expect("readable")
        .parse()
        .expect("port");
    let mut ca = String::new();
    for line in lines.by_ref() {
        let line = line.expect("readable");
        if line == "END" {
            break;
        }
        ca.push_str(&line);
        ca.push('\n');
    }

    let pid = child.id();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (latencies, wall, ticks) = runtime.block_on(async move {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
            roots.add(cert.expect("CA PEM")).expect("CA");
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let total = rate * seconds;
        let interval = Duration::from_secs_f64(1.0 / rate as f64);
        let bodies: Arc<Vec<Bytes>> = Arc::new((0..64).map(|i| Bytes::from(review(i))).collect());
        let mut senders = Vec::new();
        for _ in 0..connections {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            tcp.set_nodelay(true).expect("nodelay");
            let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
            let tls = connector.connect(name, tcp).await.expect("TLS handshake");
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .expect("HTTP/1 handshake");
            tokio::spawn(conn);
            senders.push(sender);
        }
        let cpu_before = cpu_ticks(pid);
        let start = tokio::time::Instant::now() + Duration::from_millis(50);
        let mut tasks = Vec::new();
        for (c, mut sender) in senders.into_iter().enumerate() {
            let bodies = bodies.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                let mut i = c as u64;
                while i < total {
                    let due = start + interval * i as u32;
                    tokio::time::sleep_until(due).await;
                    let request = hyper::Request::post(ENFORCE_PATH)
                        .header("host", "127.0.0.1")
                        .header("content-type", "application/json")
                        .body(Full::new(bodies[(i % 64) as usize].clone()))
                        .expect("request");
                    let response = sender.send_request(request).await.expect("response");
                    assert_eq!(response.status(), 200);
                    let body = response
                        .into_body()
                        .collect()
                        .await
                        .expect("body")
                        .to_bytes();
                    let denied = body.windows(15).any(|w| w == b"\"allowed\":false");
                    assert_eq!(denied, i % 64 % 2 == 1, "the verdict follows the object");
                    out.push(Instant::now() - due.into_std());
                    i += connections;
                }
                out
            }));
        }
        let mut latencies = Vec::new();
        for t in tasks {
            latencies.extend(t.await.expect("worker"));
        }
        let wall = start.elapsed();
        let ticks = cpu_before.zip(cpu_ticks(pid)).map(|(a, b)| b - a);
        (latencies, wall, ticks)
    });
    drop(child.stdin.take());
    let _ = child.wait();

    let mut sorted = latencies;
    sorted.sort();
    let n = sorted.len();
    // Linux reports CPU time in USER_HZ ticks, 100 per second on every mainstream kernel build.
    let cpu = ticks.map_or_else(
        || "unknown".to_string(),
        |t| {
            format!(
                "{:.1}% of one core",
                t as f64 / 100.0 / wall.as_secs_f64() * 100.0
            )
        },
    );
    println!(
        "webhook_load: {n} requests at {rate}/s over {connections} TLS connections in {:.1} s: \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; server CPU {cpu}",
        wall.as_secs_f64(),
        percentile(&sorted, 0.50).as_secs_f64() * 1e3,
        percentile(&sorted, 0.99).as_secs_f64() * 1e3,
        sorted[n - 1].as_secs_f64() * 1e3,
    );
}
