//! The soc2-operator process: evaluates every Control continuously and records the result in its status.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use soc2_operator::controller::{self, OperatorConfig};
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
    /// Take evidence snapshots for every EvidenceStore (needs the EvidenceStore CRD). Secrets that EvidenceStores
    /// reference are read from the operator's namespace (--lease-namespace / POD_NAMESPACE).
    #[arg(long, env = "SOC2_EVIDENCE", value_parser = clap::builder::BoolishValueParser::new())]
    evidence: bool,
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
            evidence_namespace: self.evidence.then(|| self.lease_namespace.clone()),
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
        assert_eq!(c.evidence_namespace, None);
    }

    #[test]
    fn evidence_reads_secrets_from_the_operator_namespace() {
        let c = parse(&["--evidence", "--lease-namespace", "soc2-system"]);
        assert_eq!(c.evidence_namespace.as_deref(), Some("soc2-system"));
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
