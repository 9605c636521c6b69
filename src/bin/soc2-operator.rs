//! The soc2-operator process: evaluates every Control continuously and records the result in its status.

use std::process::ExitCode;

use clap::Parser;
use soc2_operator::controller::{self, OperatorConfig};
use soc2_operator::telemetry::{self, LogFormat};

#[derive(Parser)]
#[command(
    name = "soc2-operator",
    version,
    about = "Evaluates SOC 2 Controls continuously and records evidence"
)]
struct Args {
    /// Log format.
    #[arg(long, env = "SOC2_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log level or filter directive (RUST_LOG overrides it).
    #[arg(long, env = "SOC2_LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// This replica's name in events; set from the pod name in a cluster.
    #[arg(long, env = "POD_NAME")]
    instance: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    telemetry::init(args.log_format, &args.log_level);
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(error) => {
            tracing::error!(%error, "no Kubernetes configuration: set KUBECONFIG or run in a cluster");
            return ExitCode::FAILURE;
        }
    };
    match controller::run(
        client,
        OperatorConfig {
            instance: args.instance,
        },
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, category = error.category(), "soc2-operator cannot run");
            ExitCode::FAILURE
        }
    }
}
