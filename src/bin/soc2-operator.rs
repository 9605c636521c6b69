//! The soc2-operator process: evaluates every Control continuously and records the result in its status.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use soc2_operator::controller::{self, OperatorConfig};
use soc2_operator::engine::exceptions::{self, ExceptionPolicy};
use soc2_operator::runtime::leader::{self, LeaseConfig};
use soc2_operator::runtime::telemetry::{self, LogFormat};
use soc2_operator::webhook::WebhookConfig;
use soc2_operator::webhook::configuration::{ClientTarget, WebhookSettings};
use soc2_operator::webhook::tls::CertificateSource;

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
    /// Serve the admission webhook (Warn and Enforce modes) over HTTPS on this address, e.g. 0.0.0.0:8443.
    /// Unset: no webhook; Warn/Enforce controls are audited only and their AdmissionEnforced condition says so.
    #[arg(long, env = "SOC2_WEBHOOK_ADDR")]
    webhook_addr: Option<SocketAddr>,
    /// Directory of a mounted kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt; cert-manager writes this
    /// format), re-read every minute. Unset: a CA and certificate are generated in memory and rotated (one
    /// replica, or a webhook registered by URL).
    #[arg(long, env = "SOC2_WEBHOOK_CERT_DIR")]
    webhook_cert_dir: Option<PathBuf>,
    /// Register the webhook by URL instead of by Service (operator outside the cluster), e.g.
    /// https://127.0.0.1:8443; the path is appended.
    #[arg(long, env = "SOC2_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// The Service in front of the webhook (in the operator's namespace, --lease-namespace).
    #[arg(
        long,
        env = "SOC2_WEBHOOK_SERVICE",
        default_value = "soc2-operator-webhook"
    )]
    webhook_service: String,
    /// The Service's port.
    #[arg(long, env = "SOC2_WEBHOOK_SERVICE_PORT", default_value_t = 443)]
    webhook_service_port: i32,
    /// Name of the ValidatingWebhookConfiguration the operator manages.
    #[arg(
        long,
        env = "SOC2_WEBHOOK_CONFIGURATION",
        default_value = "soc2-operator"
    )]
    webhook_configuration: String,
    /// failurePolicy of the Enforce webhook: Fail (default: changes are refused while the webhook is down) or
    /// Ignore (changes go through unchecked while it is down).
    #[arg(long, env = "SOC2_WEBHOOK_FAILURE_POLICY", default_value = "Fail",
          value_parser = clap::builder::PossibleValuesParser::new(["Fail", "Ignore"]))]
    webhook_failure_policy: String,
    /// failurePolicy of the Warn webhook (default Ignore: a warning is never worth an outage).
    #[arg(long, env = "SOC2_WEBHOOK_WARN_FAILURE_POLICY", default_value = "Ignore",
          value_parser = clap::builder::PossibleValuesParser::new(["Fail", "Ignore"]))]
    webhook_warn_failure_policy: String,
    /// How long the API server waits for the webhook (1-30 seconds).
    #[arg(long, env = "SOC2_WEBHOOK_TIMEOUT_SECONDS", default_value_t = 5,
          value_parser = clap::value_parser!(i32).range(1..=30))]
    webhook_timeout_seconds: i32,
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
        let webhook = self.webhook_addr.map(|addr| {
            let service_names = vec![
                format!("{}.{}.svc", self.webhook_service, self.lease_namespace),
                format!(
                    "{}.{}.svc.cluster.local",
                    self.webhook_service, self.lease_namespace
                ),
                "localhost".to_string(),
                "127.0.0.1".to_string(),
            ];
            WebhookConfig {
                addr,
                certificate: match &self.webhook_cert_dir {
                    Some(dir) => CertificateSource::Directory(dir.clone()),
                    None => CertificateSource::Generated(service_names),
                },
                settings: WebhookSettings {
                    name: self.webhook_configuration.clone(),
                    client: match &self.webhook_url {
                        Some(url) => ClientTarget::Url(url.clone()),
                        None => ClientTarget::Service {
                            namespace: self.lease_namespace.clone(),
                            name: self.webhook_service.clone(),
                            port: self.webhook_service_port,
                        },
                    },
                    operator_namespace: self.lease_namespace.clone(),
                    enforce_failure_policy: self.webhook_failure_policy.clone(),
                    warn_failure_policy: self.webhook_warn_failure_policy.clone(),
                    timeout_seconds: self.webhook_timeout_seconds,
                },
            }
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
            webhook,
            evidence_namespace: self.evidence.then(|| self.lease_namespace.clone()),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    telemetry::init(args.log_format, &args.log_level);
    soc2_operator::install_crypto_provider();
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
        assert_eq!(c.webhook, None, "no webhook unless asked for");
    }

    #[test]
    fn webhook_by_url_with_generated_certificates() {
        let c = parse(&[
            "--webhook-addr",
            "127.0.0.1:8443",
            "--webhook-url",
            "https://127.0.0.1:8443",
            "--lease-namespace",
            "soc2-system",
        ]);
        let w = c.webhook.expect("webhook configured");
        assert_eq!(
            w.settings.client,
            ClientTarget::Url("https://127.0.0.1:8443".into())
        );
        assert_eq!(w.settings.enforce_failure_policy, "Fail");
        assert_eq!(w.settings.warn_failure_policy, "Ignore");
        assert_eq!(w.settings.operator_namespace, "soc2-system");
        assert!(
            matches!(w.certificate, CertificateSource::Generated(ref n) if n.contains(&"127.0.0.1".to_string()))
        );
        assert!(
            Args::try_parse_from(["soc2-operator", "--webhook-failure-policy", "Maybe"]).is_err()
        );
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
