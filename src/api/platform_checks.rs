//! Parameters of the platform-level checks: RBAC least privilege, encryption at rest, job health (processing
//! integrity).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::checks::{Attestation, WorkloadKind};

/// Parameters of the RBAC least-privilege check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RbacLeastPrivilegeCheck {
    /// The most ClusterRoleBindings of the `cluster-admin` ClusterRole (Kubernetes' bootstrap binding excluded) the
    /// cluster may have: standing administrative access should be a short, reviewed list. Default: 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_cluster_admin_bindings: Option<u32>,

    /// Flag bindings that allow `pods/exec` and `pods/attach` (interactive access to running workloads) in the
    /// control's scope. Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag_pod_exec: Option<bool>,

    /// Namespaces whose ServiceAccounts are platform automation (controllers, operators) and are not judged.
    /// Default: `[kube-system]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exempt_service_account_namespaces: Option<Vec<String>>,

    /// Skip the bindings Kubernetes creates and reconciles itself (label `kubernetes.io/bootstrapping:
    /// rbac-defaults`, or a name starting with `system:`). Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_bootstrap_bindings: Option<bool>,
}

impl RbacLeastPrivilegeCheck {
    /// `max_cluster_admin_bindings` with its default.
    pub fn effective_max_cluster_admin_bindings(&self) -> u32 {
        self.max_cluster_admin_bindings.unwrap_or(2)
    }

    /// `exempt_service_account_namespaces` with its default.
    pub fn effective_exempt_namespaces(&self) -> Vec<String> {
        self.exempt_service_account_namespaces
            .clone()
            .unwrap_or_else(|| vec!["kube-system".to_string()])
    }
}

/// Parameters of the encryption-at-rest check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionAtRestCheck {
    /// For managed control planes, where kube-apiserver flags are invisible: an attestation that Secrets (and any
    /// other declared resources) are encrypted at rest, e.g. EKS envelope encryption with a KMS key. Ignored when
    /// the flags are visible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Attestation>,
}

/// Parameters of the job-health check (processing integrity).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobHealthCheck {
    /// The kinds judged: `CronJob` (last run failed, schedule missed) and `Job` (failed; Jobs a CronJob owns are
    /// judged through the CronJob). Default: both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<WorkloadKind>>,

    /// How late a scheduled run may start before it counts as missed, as a duration such as `15m`, `2h` or `1h30m`. The
    /// CronJob's own `startingDeadlineSeconds` wins when it is longer. Default: `1h`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(s|m|h))+$"))]
    pub missed_schedule_grace: Option<String>,
}

impl JobHealthCheck {
    /// `kinds` with its default.
    pub fn effective_kinds(&self) -> Vec<WorkloadKind> {
        self.kinds
            .clone()
            .unwrap_or_else(|| vec![WorkloadKind::CronJob, WorkloadKind::Job])
    }
}
