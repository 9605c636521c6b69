//! The control plane of `e2e/controlplane/`, for the scenarios that stop its apiserver or compact its etcd.
//!
//! Found when `SOC2_E2E_CONTROLPLANE` names its run directory, or when `KUBECONFIG` is the kubeconfig `up.sh` wrote
//! (`e2e/controlplane/.run/kubeconfig`). Against any other cluster those scenarios are skipped with a message: they
//! cannot restart an API server they did not start.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::note;

/// Names the run directory of `up.sh` (its `SOC2_CP_RUN`) when it is not the default.
pub const CONTROLPLANE_ENV: &str = "SOC2_E2E_CONTROLPLANE";

/// The scripts directory and the run directory of a control plane started by `up.sh`.
pub struct ControlPlane {
    scripts: PathBuf,
    run: PathBuf,
}

impl ControlPlane {
    /// The control plane the suite runs against, or `None` (with a note naming `scenario`) when `KUBECONFIG` is
    /// another cluster.
    pub fn find(scenario: &str) -> Option<ControlPlane> {
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/controlplane");
        let run = match std::env::var_os(CONTROLPLANE_ENV) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => {
                let default = scripts.join(".run");
                let ours = default.join("kubeconfig").canonicalize().ok();
                let used = std::env::var_os("KUBECONFIG")
                    .and_then(|k| PathBuf::from(k).canonicalize().ok());
                if ours.is_none() || ours != used {
                    note(&format!(
                        "{scenario}: skipped, it stops and starts the API server and needs the control plane of \
                         e2e/controlplane (KUBECONFIG=e2e/controlplane/.run/kubeconfig, or {CONTROLPLANE_ENV} \
                         naming its run directory)"
                    ));
                    return None;
                }
                default
            }
        };
        Some(ControlPlane { scripts, run })
    }

    /// Runs `script` with `args`; its stdout, trimmed.
    fn script(&self, script: &str, args: &[&str]) -> Result<String, Box<dyn Error>> {
        let output = Command::new("bash")
            .arg(self.scripts.join(script))
            .args(args)
            .env("SOC2_CP_RUN", &self.run)
            .output()
            .map_err(|e| format!("cannot run {script}: {e}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!(
                "{script} {} failed ({}):\n{stderr}",
                args.join(" "),
                output.status
            )
            .into());
        }
        for line in stderr.lines() {
            note(line);
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// Stops the apiserver (etcd and the controller-manager keep running).
    pub fn stop_apiserver(&self) -> Result<(), Box<dyn Error>> {
        self.script("apiserver.sh", &["stop"]).map(drop)
    }

    /// Starts the apiserver again with the same flags and port; returns once `/readyz` is ok.
    pub fn start_apiserver(&self) -> Result<(), Box<dyn Error>> {
        self.script("apiserver.sh", &["start"]).map(drop)
    }

    /// Deletes `key` in etcd behind the apiserver's back; how many keys were deleted.
    pub fn etcd_delete(&self, key: &str) -> Result<u64, Box<dyn Error>> {
        Ok(self.script("etcd.sh", &["delete", key])?.parse()?)
    }

    /// Moves etcd's revision past everything a watcher has seen and compacts the history up to it: a watch that
    /// resumes from any earlier resourceVersion gets 410 Gone. The compacted revision.
    pub fn etcd_compact(&self) -> Result<u64, Box<dyn Error>> {
        Ok(self.script("etcd.sh", &["compact"])?.parse()?)
    }
}
