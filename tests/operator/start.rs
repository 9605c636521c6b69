//! The operator binary gets as far as talking to an API server: given a kubeconfig for an HTTPS server that is not
//! there, it must fail with an error saying so (exit code 1), not panic while building its client.
//!
//! This is the path every real start takes (`kube::Client::try_default` builds a rustls configuration) and that no
//! test against a scripted API server (plain `tower` services, no TLS) reaches. It regressed once: the build then
//! enabled both rustls providers (ring for kube, aws-lc-rs through object_store's HTTP client), rustls could not pick
//! a process default by itself, and the binary panicked on start against any cluster. Only ring is compiled now, but
//! object_store's client needs the process default installed (`install_crypto_provider`), so the test stays.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the binary may take to give up on a server that refuses connections.
const DEADLINE: Duration = Duration::from_secs(60);

/// A kubeconfig for `https://127.0.0.1:<port>` with a token, written to `dir`.
fn kubeconfig(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("kubeconfig.yaml");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: nowhere\n  cluster:\n    server: https://127.0.0.1:{port}\n    \
         insecure-skip-tls-verify: true\nusers:\n- name: someone\n  user:\n    token: not-a-real-token\ncontexts:\n- name: \
         nowhere\n  context:\n    cluster: nowhere\n    user: someone\ncurrent-context: nowhere\n"
    );
    std::fs::write(&path, text).expect("write the kubeconfig");
    path
}

#[test]
fn the_operator_builds_its_client_and_reports_an_unreachable_api_server() {
    let dir = tempfile::tempdir().expect("temporary directory");
    // A loopback port nothing listens on: bound, read, released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_soc2-operator"))
        .env_clear()
        .env("KUBECONFIG", kubeconfig(dir.path(), port))
        .env("HOME", dir.path())
        .env("NO_COLOR", "1")
        .env("SOC2_ADMIN_ADDR", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the operator binary");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the operator") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the operator kept running for {DEADLINE:?} although no API server answers");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut output = String::new();
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read>),
    ]
    .into_iter()
    .flatten()
    {
        let mut stream = stream;
        stream.read_to_string(&mut output).expect("read the output");
    }
    assert!(
        !output.contains("panicked") && !output.contains("CryptoProvider"),
        "the operator panicked instead of reaching the API server:\n{output}"
    );
    assert_eq!(
        status.code(),
        Some(1),
        "an unreachable API server is an ordinary failure (exit code 1):\n{output}"
    );
    assert!(
        output.contains("soc2-operator cannot run"),
        "the operator says why it stopped:\n{output}"
    );
}
