//! The soc2-operator process: evaluates every Control continuously and records the result in its status.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use soc2_operator::controller::{self, OperatorConfig};
use soc2_operator::exceptions::{self, ExceptionPolicy};
use soc2_operator::leader::{self, LeaseConfig};
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
    /// This replica's name in events and its identity in the leader Lease; set from the pod name in a cluster.
    #[arg(long, env = "POD_NAME")]
    instance: Option<String>,
    /// Address of the admin server: /healthz, /readyz, /metrics.
    #[arg(long, env = "SOC2_ADMIN_ADDR", default_value_t = controller::DEFAULT_ADMIN_ADDR)]
    admin_addr: SocketAddr,
    /// Elect a leader through a coordination.k8s.io Lease: every replica watches, only the leader writes.
    /// Off by default, so that a single local process needs no Lease.
    #[arg(long, env = "SOC2_LEADER_ELECTION", value_parser = clap::builder::BoolishValueParser::new())]
    leader_election: bool,
    /// Namespace of the leader Lease (the operator's own namespace in a cluster).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, env = "SOC2_LEASE_NAME", default_value = "soc2-operator")]
    lease_name: String,
    /// Also publish results as wg-policy PolicyReports/ClusterPolicyReports (needs their CRDs), for UIs such as
    /// Policy Reporter.
    #[arg(long, env = "SOC2_POLICY_REPORTS", value_parser = clap::builder::BoolishValueParser::new())]
    policy_reports: bool,
    /// The operator's own namespace: ControlExceptions there are cluster-wide and may waive any resource.
    #[arg(long, env = "POD_NAMESPACE", default_value = exceptions::DEFAULT_OPERATOR_NAMESPACE)]
    namespace: String,
    /// The longest a ControlException may run, from its creation to spec.expiresAt, in days; longer ones are
    /// Invalid.
    #[arg(long, env = "SOC2_MAX_EXCEPTION_DAYS", default_value_t = exceptions::DEFAULT_MAX_EXCEPTION_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    max_exception_days: u32,
}

impl Args {
    fn config(self) -> OperatorConfig {
        let leader_election = self.leader_election.then(|| {
            let identity = self
                .instance
                .clone()
                .unwrap_or_else(leader::fallback_identity);
            LeaseConfig::new(&self.lease_namespace, &self.lease_name, &identity)
        });
        OperatorConfig {
            instance: self.instance,
            admin_addr: self.admin_addr,
            leader_election,
            policy_reports: self.policy_reports,
            exception_policy: ExceptionPolicy {
                cluster_namespace: self.namespace,
                max_lifetime_days: self.max_exception_days,
            },
        }
    }
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
    match controller::run(client, args.config()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, category = error.category(), "soc2-operator cannot run");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> OperatorConfig {
        Args::try_parse_from(std::iter::once("soc2-operator").chain(args.iter().copied()))
            .expect("valid arguments")
            .config()
    }

    #[test]
    fn defaults_need_no_lease() {
        let c = parse(&[]);
        assert_eq!(c.admin_addr, "0.0.0.0:8080".parse().expect("address"));
        assert_eq!(c.leader_election, None);
        assert_eq!(c.exception_policy, ExceptionPolicy::default());
    }

    #[test]
    fn exception_policy_from_flags() {
        let c = parse(&["--namespace", "compliance", "--max-exception-days", "90"]);
        assert_eq!(c.exception_policy.cluster_namespace, "compliance");
        assert_eq!(c.exception_policy.max_lifetime_days, 90);
        assert!(
            Args::try_parse_from(["soc2-operator", "--max-exception-days", "0"]).is_err(),
            "a zero lifetime would make every exception invalid"
        );
    }

    #[test]
    fn leader_election_uses_the_pod_name_as_identity() {
        let c = parse(&[
            "--leader-election",
            "--instance",
            "soc2-operator-7f9c-abcde",
            "--lease-namespace",
            "soc2-system",
            "--admin-addr",
            "127.0.0.1:9090",
        ]);
        assert_eq!(c.admin_addr, "127.0.0.1:9090".parse().expect("address"));
        assert_eq!(
            c.leader_election,
            Some(LeaseConfig::new(
                "soc2-system",
                "soc2-operator",
                "soc2-operator-7f9c-abcde"
            ))
        );
    }
}
