//! Shared machinery of the end-to-end suite.
//!
//! - [`skip`]: every test starts with it; without `KUBECONFIG` the test prints why it is skipped and passes.
//! - [`cluster`]: once per test binary, installs the CRDs in `crds/` and starts the operator binary.
//! - [`chart`]: with helm, the setup installs the chart's rendered manifests instead, and the operator runs as the
//!   chart's ServiceAccount.
//! - [`env::TestEnv`]: one per test, owns a fresh namespace and the Controls the test applies, and deletes them
//!   when dropped, also when the test panics.
//! - [`wait`]: polling with timeouts; a timeout panics with the Control's status, its Events and the operator log.
//! - [`objects`]: the manifests the scenarios create.
//! - [`controlplane`]: stops and starts the apiserver of `e2e/controlplane/` and compacts its etcd.

pub mod chart;
pub mod cluster;
pub mod controlplane;
pub mod env;
pub mod identity;
pub mod objects;
pub mod reviewer;
pub mod wait;

use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub use env::TestEnv;

/// What every test returns.
pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Printed once per test when no cluster is configured.
pub const SKIP_MESSAGE: &str = "e2e skipped: KUBECONFIG is not set; point it at a disposable cluster to run the end-to-end suite";

/// Field manager of everything the suite writes that does not impersonate a tool.
pub const FIELD_MANAGER: &str = "soc2-e2e";

/// Label on every namespace the suite creates.
pub const E2E_LABEL: &str = "soc2.dev/e2e";

/// Label on every object of one test run, with the run's random suffix as value.
pub const RUN_LABEL: &str = "soc2.dev/e2e-run";

/// True when the suite must not run: `KUBECONFIG` is unset or empty. Prints [`SKIP_MESSAGE`] then.
///
/// The line is written to the process's stderr directly, not through `eprintln!`, so that the test harness does
/// not swallow it.
pub fn skip() -> bool {
    let configured = std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty());
    if !configured {
        let _ = writeln!(std::io::stderr().lock(), "{SKIP_MESSAGE}");
    }
    !configured
}

/// Eight hex characters, different for every call: clock, process id and a counter, hashed with a random key.
pub fn random_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{:08x}", hasher.finish() as u32)
}

/// Runs without a cluster: the clients the suite builds must come up (and fail only when they talk to a server).
#[tokio::test]
async fn clients_can_be_built_without_a_cluster() {
    let config = kube::Config::new(
        "https://127.0.0.1:1"
            .parse()
            .expect("a valid URL for an API server"),
    );
    if let Err(e) = client_from(config) {
        panic!("building a client for an HTTPS API server failed: {e}");
    }
}

/// A client of the cluster named by `KUBECONFIG`. Every client of the suite comes from here (or, for another
/// identity, from [`client_from`]): the build enables both rustls providers, so one must be chosen for the process
/// before the first client is built, or building it panics.
pub async fn client() -> Result<kube::Client, kube::Error> {
    soc2_operator::install_crypto_provider();
    kube::Client::try_default().await
}

/// A client for `config` (see [`client`]).
pub fn client_from(config: kube::Config) -> Result<kube::Client, kube::Error> {
    soc2_operator::install_crypto_provider();
    kube::Client::try_from(config)
}

/// Writes a note to stderr that shows even when the harness captures test output.
pub fn note(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "e2e: {message}");
}

/// The sum of the series of metric `name` (e.g. `soc2_watch_lists_total`) whose labels include every pair of
/// `labels`, in Prometheus text exposition `text`; 0 when there is none.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, series_labels) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let matches = metric == name
                && labels.iter().all(|(k, v)| {
                    series_labels
                        .split(',')
                        .any(|l| l == format!("{k}=\"{v}\""))
                });
            if matches {
                value.parse::<f64>().ok()
            } else {
                None
            }
        })
        .sum()
}

#[test]
fn metric_sums_the_series_that_carry_the_labels() {
    let text = "# HELP soc2_watch_errors Watch errors.\n\
        soc2_watch_errors_total{kind=\"pods\",reason=\"expired\"} 2\n\
        soc2_watch_errors_total{kind=\"pods\",reason=\"unavailable\"} 3\n\
        soc2_watch_errors_total{kind=\"podsx\",reason=\"expired\"} 7\n\
        soc2_leader 1\n";
    assert_eq!(
        metric(text, "soc2_watch_errors_total", &[("kind", "pods")]),
        5.0
    );
    assert_eq!(
        metric(
            text,
            "soc2_watch_errors_total",
            &[("kind", "pods"), ("reason", "expired")]
        ),
        2.0
    );
    assert_eq!(metric(text, "soc2_leader", &[]), 1.0);
    assert_eq!(metric(text, "soc2_missing", &[]), 0.0);
}
