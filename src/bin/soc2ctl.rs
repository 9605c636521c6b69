//! soc2ctl: evaluate SOC 2 controls offline against manifests on disk.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use k8s_openapi::jiff::Timestamp;
use soc2_operator::exceptions::{self, ExceptionPolicy};
use soc2_operator::scan::{self, load_paths};

#[derive(Parser)]
#[command(
    name = "soc2ctl",
    version,
    about = "SOC 2 controls for Kubernetes, from the command line"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate controls against manifests on disk (a GitOps repo, a `kubectl get -o yaml` dump).
    ///
    /// Exit code: 0 every control compliant, 1 a control fails or cannot be determined, 2 usage or input error.
    Scan {
        /// Manifest files or directories (searched recursively for .yaml, .yml, .json).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Control manifests (files or directories). Default: the Controls found among PATHS.
        #[arg(long, short = 'c')]
        controls: Vec<PathBuf>,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
        output: Output,
        /// The operator's namespace: ControlExceptions there are cluster-wide (as in the operator's --namespace).
        #[arg(long, default_value = exceptions::DEFAULT_OPERATOR_NAMESPACE)]
        operator_namespace: String,
        /// The longest a ControlException may run from creation to expiry, in days (as in the operator).
        #[arg(long, default_value_t = exceptions::DEFAULT_MAX_EXCEPTION_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
        max_exception_days: u32,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
}

fn fail_input(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("soc2ctl: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Scan {
            paths,
            controls,
            output,
            operator_namespace,
            max_exception_days,
        } => {
            let mut loaded = match load_paths(&paths) {
                Ok(l) => l,
                Err(e) => return fail_input(e),
            };
            let controls = if controls.is_empty() {
                loaded.controls.clone()
            } else {
                match load_paths(&controls) {
                    Ok(c) => {
                        // Exceptions are kept beside the controls they waive as often as beside the workloads.
                        loaded
                            .snapshot
                            .control_exceptions
                            .extend(c.snapshot.control_exceptions);
                        c.controls
                    }
                    Err(e) => return fail_input(e),
                }
            };
            loaded.snapshot.exception_policy = ExceptionPolicy {
                cluster_namespace: operator_namespace,
                max_lifetime_days: max_exception_days,
            };
            if controls.is_empty() {
                return fail_input(
                    "no Control manifests found; pass --controls DIR (for example --controls config/samples/)",
                );
            }
            let report = scan::scan(&loaded, &controls, Timestamp::now());
            let rendered = match output {
                Output::Table => scan::render_table(&report),
                Output::Json => match scan::render_json(&report) {
                    Ok(json) => json + "\n",
                    Err(e) => return fail_input(format!("could not render JSON: {e}")),
                },
            };
            if std::io::stdout().write_all(rendered.as_bytes()).is_err() {
                return ExitCode::from(2);
            }
            ExitCode::from(report.exit_code() as u8)
        }
    }
}
