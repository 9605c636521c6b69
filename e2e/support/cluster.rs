//! Once per test binary: install the CRDs and start the operator.
//!
//! With helm (see [`chart::helm`]), the CRDs and the chart's ServiceAccount and RBAC come from the chart's rendered
//! manifests and the operator runs as that ServiceAccount; without it, the CRDs come from `crds/` and the operator
//! runs with the caller's kubeconfig.

use std::error::Error;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::chart::{self, ChartInstall, TEARDOWN_ENV, TEARDOWN_TEST};
use super::env::KEEP_ENV;
use super::{FIELD_MANAGER, note, random_suffix};

/// How long a CRD may take to become Established, and the operator to say it started.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The line the operator logs once its controller runs.
const STARTED_LINE: &str = "soc2-operator started";

static OPERATOR: OnceCell<Operator> = OnceCell::const_new();

/// The operator process. Killed when dropped; since a `static` is never dropped, a watchdog process also kills it
/// when the test binary exits, however it exits.
pub struct Operator {
    child: Mutex<Child>,
    launch: Launch,
    /// Where the watchdog reads the PID to stop (the operator may be restarted by [`Operator::pause`]).
    pid_file: PathBuf,
    log: PathBuf,
    chart: Option<ChartInstall>,
    /// The admission webhook's base URL (`https://127.0.0.1:<port>`), registered by URL.
    pub webhook_url: String,
    /// The ValidatingWebhookConfiguration the operator manages.
    pub webhook_configuration: String,
    /// The admin server's address (`127.0.0.1:<port>`): /healthz, /readyz, /metrics.
    pub admin_addr: String,
    // Held open for the life of the test binary: the watchdog kills the operator when it reads end of file.
    _watchdog_stdin: Option<ChildStdin>,
    _watchdog: Option<Child>,
}

/// Installs the CRDs (and the chart, with helm) and starts the operator, the first time any test calls it; later
/// calls wait for the first.
pub async fn ensure_started() -> Result<&'static Operator, Box<dyn Error>> {
    OPERATOR
        .get_or_try_init(|| async {
            let client = super::client().await?;
            let dir = log_dir();
            std::fs::create_dir_all(&dir)?;
            let chart = match chart::helm()? {
                Some(helm) => Some(chart::install(&client, &helm, &dir).await?),
                None => {
                    install_crds(&client).await?;
                    None
                }
            };
            let operator = Operator::start(chart)?;
            operator.wait_started().await?;
            Ok(operator)
        })
        .await
}

/// Server-side applies every CRD in `crds/` and waits until each is Established.
async fn install_crds(client: &Client) -> Result<(), Box<dyn Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no CRD manifests in {}", dir.display()).into());
    }
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(document)?;
            if value.is_null() {
                continue;
            }
            let crd: CustomResourceDefinition = serde_yaml::from_value(value)
                .map_err(|e| format!("{} is not a CRD: {e}", file.display()))?;
            let name = crd
                .metadata
                .name
                .clone()
                .ok_or_else(|| format!("a CRD in {} has no name", file.display()))?;
            api.patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&crd),
            )
            .await
            .map_err(|e| format!("applying CRD {name}: {e}"))?;
            tokio::time::timeout(
                STARTUP_TIMEOUT,
                await_condition(api.clone(), &name, conditions::is_crd_established()),
            )
            .await
            .map_err(|_| {
                format!("CRD {name} did not become Established within {STARTUP_TIMEOUT:?}")
            })??;
        }
    }
    Ok(())
}

/// `target/e2e-logs`, next to the `target/tmp` Cargo gives integration tests.
fn log_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("e2e-logs")
}

impl Operator {
    fn start(chart: Option<ChartInstall>) -> Result<Operator, Box<dyn Error>> {
        let dir = log_dir();
        let suffix = random_suffix();
        let log = dir.join(format!("operator-{suffix}.log"));
        // A free loopback port for the webhook; the API server calls it by URL (there is no Service to a local
        // process), trusting the certificate the operator generates for 127.0.0.1.
        let webhook_port = free_port()?;
        let webhook_url = format!("https://127.0.0.1:{webhook_port}");
        // The admin server on a free port too: the restart scenarios read its metrics.
        let admin_addr = format!("127.0.0.1:{}", free_port()?);
        let webhook_configuration = chart.as_ref().map_or_else(
            || format!("soc2-e2e-{suffix}"),
            |c| c.webhook_configuration.clone(),
        );
        // What the watchdog's teardown deletes after the operator stopped; written before the operator starts.
        let plan = match &chart {
            Some(c) => c.plan.clone(),
            None => chart::operator_plan(&dir, &suffix, &webhook_configuration)?,
        };
        let mut launch = Launch::new(&log);
        launch
            .env("SOC2_ADMIN_ADDR", &admin_addr)
            .env("SOC2_LEADER_ELECTION", "false")
            .env("SOC2_WEBHOOK_ADDR", &format!("127.0.0.1:{webhook_port}"))
            .env("SOC2_WEBHOOK_URL", &webhook_url)
            .env("SOC2_WEBHOOK_CONFIGURATION", &webhook_configuration)
            .env("SOC2_EVIDENCE", "true")
            .env("POD_NAME", &format!("soc2-e2e-{}", std::process::id()));
        // Exactly what the chart grants: its ServiceAccount's token, and the release namespace as its own.
        if let Some(chart) = &chart {
            launch
                .env("KUBECONFIG", &chart.kubeconfig.display().to_string())
                .env("POD_NAMESPACE", &chart.namespace);
        }
        let child = launch
            .spawn()
            .map_err(|e| format!("cannot start the operator binary: {e}"))?;
        let pid_file = dir.join(format!("operator-{suffix}.pid"));
        std::fs::write(&pid_file, child.id().to_string())?;
        note(&format!(
            "operator started (pid {}), log: {}",
            child.id(),
            log.display()
        ));
        // After the operator, the watchdog deletes its webhook configuration and the chart install (unless asked to
        // keep them).
        let teardown = if std::env::var_os(KEEP_ENV).is_some() {
            note(&format!(
                "{KEEP_ENV} is set: the webhook configuration {webhook_configuration} (and the chart install, if any) will be kept"
            ));
            None
        } else {
            Some((plan.as_path(), dir.join(format!("teardown-{suffix}.log"))))
        };
        let (watchdog, watchdog_stdin) = match watchdog(&pid_file, teardown) {
            Ok(mut w) => {
                let stdin = w.stdin.take();
                (Some(w), stdin)
            }
            Err(e) => {
                note(&format!(
                    "no watchdog ({e}): kill the operator (pid {}) by hand if the tests are interrupted",
                    child.id()
                ));
                (None, None)
            }
        };
        Ok(Operator {
            child: Mutex::new(child),
            launch,
            pid_file,
            log,
            chart,
            webhook_url,
            webhook_configuration,
            admin_addr,
            _watchdog_stdin: watchdog_stdin,
            _watchdog: watchdog,
        })
    }

    /// Waits until the operator logs that it started; fails at once when it exits.
    async fn wait_started(&self) -> Result<(), Box<dyn Error>> {
        let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.exit_status() {
                return Err(format!(
                    "the operator exited with {status} before it started\n{}",
                    self.describe()
                )
                .into());
            }
            if std::fs::read_to_string(&self.log).is_ok_and(|l| l.contains(STARTED_LINE)) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                // Still running: go on, the tests' own waits will show what is wrong.
                note(&format!(
                    "the operator has not logged {STARTED_LINE:?} within {STARTUP_TIMEOUT:?}; continuing"
                ));
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The operator's metrics, in Prometheus text format.
    pub async fn metrics(&self) -> Result<String, Box<dyn Error>> {
        admin_metrics(&self.admin_addr).await
    }

    /// Stops the operator (SIGTERM, SIGKILL after 10 s) until the returned guard is dropped, which starts it again
    /// with the same settings: for scenarios that run operators of their own. Call it from a
    /// [`super::TestEnv::exclusive`] test only: no other test may run meanwhile.
    pub fn pause(&self) -> Result<Paused<'_>, Box<dyn Error>> {
        let mut child = self.child.lock().map_err(|_| "operator lock poisoned")?;
        stop(&mut child, Duration::from_secs(10))?;
        note(&format!("operator (pid {}) paused", child.id()));
        Ok(Paused { operator: self })
    }

    /// Operator processes of their own for a scenario: same binary, identity and evidence settings as the suite's
    /// operator, with leader election on the Lease `lease_name` in `lease_namespace` (in chart mode, the chart's
    /// Lease in the release namespace, the only one its RBAC grants), no webhook, and their own admin port and log.
    pub fn replica(
        &self,
        instance: &str,
        lease_namespace: &str,
        lease_name: &str,
    ) -> Result<Replica, Box<dyn Error>> {
        let log = log_dir().join(format!("replica-{instance}.log"));
        let admin_addr = format!("127.0.0.1:{}", free_port()?);
        let mut launch = self.launch.clone();
        launch.log = log.clone();
        launch
            .remove("SOC2_WEBHOOK_ADDR")
            .remove("SOC2_WEBHOOK_URL")
            .remove("SOC2_WEBHOOK_CONFIGURATION")
            .env("SOC2_ADMIN_ADDR", &admin_addr)
            .env("SOC2_LEADER_ELECTION", "true")
            .env("SOC2_LEASE_NAME", lease_name)
            .env("POD_NAMESPACE", lease_namespace)
            .env("POD_NAME", instance);
        let child = launch
            .spawn()
            .map_err(|e| format!("cannot start replica {instance}: {e}"))?;
        note(&format!(
            "replica {instance} started (pid {}), log: {}",
            child.id(),
            log.display()
        ));
        Ok(Replica {
            instance: instance.to_string(),
            child,
            log,
            admin_addr,
        })
    }

    /// The chart install the operator runs under, if any.
    pub fn chart(&self) -> Option<&ChartInstall> {
        self.chart.as_ref()
    }

    /// The exit status, once the operator has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.child.lock().ok()?.try_wait().ok().flatten()
    }

    /// Whether it still runs, where its log is, and the log's last lines: for failure messages.
    pub fn describe(&self) -> String {
        let state = match self.exit_status() {
            Some(status) => format!("EXITED with {status}"),
            None => "running".to_string(),
        };
        let lines: Vec<String> = File::open(&self.log)
            .map(|f| BufReader::new(f).lines().map_while(Result::ok).collect())
            .unwrap_or_default();
        let tail = &lines[lines.len().saturating_sub(40)..];
        let identity = match &self.chart {
            Some(c) => format!(
                "system:serviceaccount:{}:{} (the chart's RBAC)",
                c.namespace, c.service_account
            ),
            None => "your kubeconfig".to_string(),
        };
        format!(
            "operator: {state}, as {identity}; full log: {}\n--- last {} lines of the operator log ---\n{}",
            self.log.display(),
            tail.len(),
            tail.join("\n")
        )
    }
}

/// How the operator binary is started: its environment and log file. Kept so that it can be started again.
#[derive(Clone)]
struct Launch {
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl Launch {
    fn new(log: &Path) -> Self {
        let mut launch = Launch {
            env: Vec::new(),
            log: log.to_path_buf(),
        };
        launch.env("NO_COLOR", "1");
        if std::env::var_os("SOC2_LOG_LEVEL").is_none() {
            launch.env("SOC2_LOG_LEVEL", "info,soc2_operator=debug");
        }
        launch
    }

    fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.remove(key);
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    fn remove(&mut self, key: &str) -> &mut Self {
        self.env.retain(|(k, _)| k != key);
        self
    }

    /// Starts the binary, appending to the log.
    fn spawn(&self) -> std::io::Result<Child> {
        let file = File::options().create(true).append(true).open(&self.log)?;
        Command::new(env!("CARGO_BIN_EXE_soc2-operator"))
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .spawn()
    }
}

/// A free loopback port (free when asked; the process that binds it next is racing nobody in this suite).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// SIGTERM to `child`, SIGKILL if it has not exited after `grace`; waits for it.
fn stop(child: &mut Child, grace: Duration) -> Result<(), Box<dyn Error>> {
    if child.try_wait()?.is_some() {
        return Ok(());
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}

/// GET /metrics from an operator's admin server at `addr`.
async fn admin_metrics(addr: &str) -> Result<String, Box<dyn Error>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot reach the operator's admin server at {addr}: {e}"))?;
    // HTTP/1.0: the server closes the connection after the response, so reading to the end reads it all.
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or("the admin server's response has no header end")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "GET /metrics answered {}",
            head.lines().next().unwrap_or("")
        )
        .into());
    }
    Ok(body.to_string())
}

/// The suite's operator is stopped while this lives; dropping it starts the operator again.
pub struct Paused<'a> {
    operator: &'a Operator,
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        let Ok(mut child) = self.operator.child.lock() else {
            return;
        };
        match self.operator.launch.spawn() {
            Ok(new) => {
                let _ = std::fs::write(&self.operator.pid_file, new.id().to_string());
                note(&format!("operator started again (pid {})", new.id()));
                *child = new;
            }
            Err(e) => note(&format!(
                "the operator could not be started again: {e}; the tests after this one will fail"
            )),
        }
    }
}

/// An operator process of a scenario's own (see [`Operator::replica`]); SIGKILLed when dropped.
pub struct Replica {
    /// Its identity in the Lease and in events (`POD_NAME`).
    pub instance: String,
    child: Child,
    /// Its log file.
    pub log: PathBuf,
    admin_addr: String,
}

impl Replica {
    /// Its metrics, in Prometheus text format.
    pub async fn metrics(&self) -> Result<String, Box<dyn Error>> {
        admin_metrics(&self.admin_addr).await
    }

    /// SIGKILL: no graceful shutdown, no Lease released, as when a node dies.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(drop)
    }

    /// True while it runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its log's last lines, for failure messages.
    pub fn describe(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "replica {} (log {}), last lines:\n{}",
            self.instance,
            self.log.display(),
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A shell that sends SIGTERM to the PID in `pid_file` when its stdin reaches end of file, i.e. when this process exits, however it
/// exits (it ignores the terminal's Ctrl-C, which reaches the operator itself). With `teardown` (the plan and a log
/// file), it then waits up to 10 s for the operator to stop and runs this test binary again with only
/// [`chart::teardown`], which deletes the operator's webhook configuration and the chart install.
fn watchdog(pid_file: &Path, teardown: Option<(&Path, PathBuf)>) -> std::io::Result<Child> {
    let mut command = Command::new("sh");
    command.args([
        "-c",
        r#"trap '' INT; read -r line; pid=$(cat "$1"); kill -TERM "$pid" 2>/dev/null
if [ "$#" -gt 1 ]; then
  i=0; while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 10 ]; do sleep 1; i=$((i+1)); done
  shift; exec "$@"
fi"#,
        "soc2-e2e-watchdog",
    ]);
    command.arg(pid_file);
    command.stdin(Stdio::piped());
    match teardown {
        Some((plan, log)) => {
            let file = File::create(log)?;
            command
                .arg(std::env::current_exe()?)
                .args([TEARDOWN_TEST, "--exact", "--ignored", "--nocapture"])
                .env(TEARDOWN_ENV, plan)
                .stdout(file.try_clone()?)
                .stderr(file);
        }
        None => {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    command.spawn()
}
