//! The check kinds a control can run, and their parameters.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::platform_checks::{EncryptionAtRestCheck, JobHealthCheck, RbacLeastPrivilegeCheck};
use super::workload_checks::{
    ConfidentialityCheck, ImageProvenanceCheck, PodSecurityCheck, ServiceAccountHygieneCheck,
};

/// Declares the check kinds, one entry each: its doc comment (what `kubectl explain control.spec.check` shows), its
/// field in `spec.check` and parameters type, its [`CheckKind`] variant and field name. From the one list it makes
/// [`Check`] (one optional field per kind, with the CRD rule that exactly one is set), [`CheckKind`],
/// [`CheckKind::field`] and [`Check::kinds_set`], so that they cannot disagree. What a check does is declared beside
/// its code in `crate::checks`.
macro_rules! check_kinds {
    ($($(#[$doc:meta])* $field:ident: $params:ty => $kind:ident = $name:literal;)+) => {
        /// What the control tests. Exactly one check kind must be set.
        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
        #[serde(rename_all = "camelCase")]
        #[x_kube(
            cel,
            validation = Rule::new(concat!("[", check_kinds!(@has $($name),+), "].filter(x, x).size() == 1"))
                .message(concat!("exactly one check kind must be set: ", check_kinds!(@list $($name),+)))
        )]
        pub struct Check {
            $(
                $(#[$doc])*
                #[serde(skip_serializing_if = "Option::is_none")]
                pub $field: Option<$params>,
            )+
        }

        /// The check kind a valid [`Check`] selects.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum CheckKind {
            $(
                #[doc = concat!("`spec.check.", $name, "`")]
                $kind,
            )+
        }

        impl CheckKind {
            /// The field name in `spec.check`.
            pub fn field(self) -> &'static str {
                match self {
                    $(CheckKind::$kind => $name,)+
                }
            }
        }

        impl Check {
            /// The kinds that are set, in declaration order. A valid check has exactly one.
            pub fn kinds_set(&self) -> Vec<CheckKind> {
                let mut kinds = Vec::new();
                $(
                    if self.$field.is_some() {
                        kinds.push(CheckKind::$kind);
                    }
                )+
                kinds
            }
        }
    };
    // `has(self.a), has(self.b), ...`
    (@has $name:literal) => { concat!("has(self.", $name, ")") };
    (@has $name:literal, $($rest:literal),+) => {
        concat!("has(self.", $name, "), ", check_kinds!(@has $($rest),+))
    };
    // `a, b, ... or z`
    (@list $name:literal, $last:literal) => { concat!($name, " or ", $last) };
    (@list $name:literal, $($rest:literal),+) => { concat!($name, ", ", check_kinds!(@list $($rest),+)) };
}

check_kinds! {
    /// MFA-backed privileged access (CC6.1, CC6.2, CC6.3): privileged RBAC rights are reachable only through
    /// identity-provider groups that enforce MFA, through declared automation service accounts, or through declared
    /// break-glass subjects; no legacy long-lived service-account tokens; no static-token, basic or anonymous
    /// authentication on the kube-apiserver where its flags are visible.
    mfa_access: MfaAccessCheck => MfaAccess = "mfaAccess";

    /// Change approval (CC8.1): every in-scope workload carries approval evidence, either deployment by the declared
    /// GitOps field managers with no interactive change after the last GitOps apply, or change-ticket, approver and
    /// author annotations with approver different from author (separation of duties).
    change_approval: ChangeApprovalCheck => ChangeApproval = "changeApproval";

    /// Logging (CC7.2): kube-apiserver audit logging is enabled (or attested for managed control planes) and a log
    /// collector DaemonSet is ready on every schedulable node.
    logging: LoggingCheck => Logging = "logging";

    /// RBAC least privilege (CC6.1, CC6.3): no binding grants wildcard verbs or resources, cluster-wide Secret
    /// reads, escalate/bind/impersonate, nodes/proxy, or pods/exec in scope; no binding to a namespace's default
    /// ServiceAccount; standing cluster-admin bindings at most a declared number.
    rbac_least_privilege: RbacLeastPrivilegeCheck => RbacLeastPrivilege = "rbacLeastPrivilege";

    /// Encryption at rest (CC6.1, C1.1): the kube-apiserver encrypts Secrets in etcd (`--encryption-provider-config`),
    /// or, on a managed control plane, an attestation says the provider does.
    encryption_at_rest: EncryptionAtRestCheck => EncryptionAtRest = "encryptionAtRest";

    /// Job health (PI1.4, PI1.5): CronJobs ran on schedule and their last run succeeded; Jobs did not fail.
    job_health: JobHealthCheck => JobHealth = "jobHealth";

    /// Custom CEL control: every object of the matched kinds satisfies the validations (ValidatingAdmissionPolicy
    /// dialect, with `object`, `namespaceObject`, `params` and `variables`).
    cel: super::CelCheck => Cel = "cel";

    /// Monitoring presence (CC7.2, CC7.3): declared resources of any kind exist, optionally satisfying a CEL
    /// condition (a PrometheusRule with given alerts, an Alertmanager configuration).
    required_resources: super::RequiredResourcesCheck => RequiredResources = "requiredResources";

    /// Pod security (CC6.8): in-scope namespaces carry the Pod Security Admission `enforce` label at the declared
    /// level or stricter, and workload pod templates meet the Pod Security Standards of that level.
    pod_security: PodSecurityCheck => PodSecurity = "podSecurity";

    /// Image provenance (CC6.8, CC7.1): container images come from allowed registries, are pinned by digest where
    /// required, are never `latest` or untagged, and are pulled with `Always` unless pinned.
    image_provenance: ImageProvenanceCheck => ImageProvenance = "imageProvenance";

    /// Service-account hygiene (CC6.1): no ServiceAccount token mounted into workloads that do not declare a need
    /// for the Kubernetes API; no legacy long-lived token Secrets.
    service_account_hygiene: ServiceAccountHygieneCheck => ServiceAccountHygiene = "serviceAccountHygiene";

    /// Confidentiality (C1.1, C1.2): confidential namespaces deny ingress by default, no secret-like literals in
    /// container environments, and declared confidential Secrets referenced only by approved workloads.
    confidentiality: ConfidentialityCheck => Confidentiality = "confidentiality";

    /// Network isolation (CC6.6): every in-scope namespace has a default-deny ingress NetworkPolicy (optionally
    /// egress too) that no allow-all rule undoes, and no NetworkPolicy admits the whole internet (`0.0.0.0/0`,
    /// `::/0`) without an approval annotation.
    network_isolation: super::NetworkIsolationCheck => NetworkIsolation = "networkIsolation";

    /// Exposure (CC6.6): LoadBalancer and NodePort Services, external IPs, `hostNetwork` and `hostPort` exist only
    /// with an approval annotation recorded after review.
    exposure: super::ExposureCheck => Exposure = "exposure";

    /// Encryption in transit (CC6.7): every in-scope Ingress terminates TLS for every host it serves, and optionally
    /// forces HTTPS redirection.
    encryption_in_transit: super::EncryptionInTransitCheck => EncryptionInTransit = "encryptionInTransit";

    /// Availability (A1.2): Deployments and StatefulSets run redundant replicas protected by a
    /// PodDisruptionBudget that still allows node drains, with readiness probes and CPU/memory requests.
    availability: super::AvailabilityCheck => Availability = "availability";

    /// Backups (A1.2) and restore tests (A1.3): every in-scope namespace is covered by an unpaused Velero Schedule
    /// and by a Velero Backup that completed within the recovery point objective; optionally a Velero Restore
    /// completed within the declared restore-test period.
    backups: super::BackupsCheck => Backups = "backups";

    /// Periodic access reviews (CC6.2, CC6.3): every AccessReview operates (a cycle completed within its schedule),
    /// no cycle is past due with subjects undecided, every revoke decision is carried out within the grace period,
    /// and no subject holds privileged access that no review decided on.
    access_review: super::AccessReviewCheck => AccessReview = "accessReview";
}

/// A subject named in a (Cluster)RoleBinding.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubjectRef {
    /// `User`, `Group` or `ServiceAccount`.
    #[schemars(regex(pattern = r"^(User|Group|ServiceAccount)$"))]
    pub kind: String,
    /// The subject's name as it appears in the binding.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The ServiceAccount's namespace; ignored for users and groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Parameters of the MFA-backed privileged access check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MfaAccessCheck {
    /// Identity-provider groups (as the API server sees them, e.g. `oidc:platform-admins`) whose sign-in enforces MFA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_groups: Option<Vec<String>>,

    /// Group name prefixes whose groups all enforce MFA, e.g. `oidc:` when every OIDC group does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_group_prefixes: Option<Vec<String>>,

    /// Namespaces whose ServiceAccounts are declared automation and may hold privileged rights. Default: `[kube-system]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automation_namespaces: Option<Vec<String>>,

    /// Break-glass subjects: privileged access through them is reported (result `Notice`), not failed, so that every
    /// emergency path is visible to the auditor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<Vec<SubjectRef>>,

    /// ClusterRoles treated as privileged by name, whatever their rules. Default: `[cluster-admin, admin, edit]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged_cluster_roles: Option<Vec<String>>,

    /// Kubernetes control-plane component identities (users and groups authenticated by client certificates, not
    /// people) that may hold privileged rights. Default: `system:kube-controller-manager`, `system:kube-scheduler`,
    /// `system:kube-proxy`, `system:apiserver`, `system:nodes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_plane_identities: Option<Vec<String>>,

    /// Fail on legacy long-lived ServiceAccount token Secrets (type `kubernetes.io/service-account-token`). Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy_token_secrets: Option<bool>,

    /// Where a kube-apiserver static pod is visible in kube-system, fail on `--token-auth-file`, `--basic-auth-file`
    /// and anonymous authentication. Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_server_flags: Option<bool>,
}

/// Default automation namespaces for [`MfaAccessCheck`].
pub const DEFAULT_AUTOMATION_NAMESPACES: &[&str] = &["kube-system"];
/// Default privileged ClusterRoles for [`MfaAccessCheck`].
pub const DEFAULT_PRIVILEGED_CLUSTER_ROLES: &[&str] = &["cluster-admin", "admin", "edit"];
/// Default control-plane identities for [`MfaAccessCheck`].
pub const DEFAULT_CONTROL_PLANE_IDENTITIES: &[&str] = &[
    "system:kube-controller-manager",
    "system:kube-scheduler",
    "system:kube-proxy",
    "system:apiserver",
    "system:nodes",
];

fn or_defaults(value: &Option<Vec<String>>, defaults: &[&str]) -> Vec<String> {
    value
        .clone()
        .unwrap_or_else(|| defaults.iter().map(|s| (*s).to_string()).collect())
}

impl MfaAccessCheck {
    /// `automationNamespaces` with its default applied.
    pub fn effective_automation_namespaces(&self) -> Vec<String> {
        or_defaults(&self.automation_namespaces, DEFAULT_AUTOMATION_NAMESPACES)
    }
    /// `privilegedClusterRoles` with its default applied.
    pub fn effective_privileged_cluster_roles(&self) -> Vec<String> {
        or_defaults(
            &self.privileged_cluster_roles,
            DEFAULT_PRIVILEGED_CLUSTER_ROLES,
        )
    }
    /// `controlPlaneIdentities` with its default applied.
    pub fn effective_control_plane_identities(&self) -> Vec<String> {
        or_defaults(
            &self.control_plane_identities,
            DEFAULT_CONTROL_PLANE_IDENTITIES,
        )
    }
}

/// A workload kind the change approval check can cover.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum WorkloadKind {
    /// apps/v1 Deployment
    Deployment,
    /// apps/v1 StatefulSet
    StatefulSet,
    /// apps/v1 DaemonSet
    DaemonSet,
    /// batch/v1 CronJob
    CronJob,
    /// batch/v1 Job
    Job,
    /// core/v1 Pod (pods created directly, not by a workload controller)
    Pod,
}

/// Parameters of the change approval check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeApprovalCheck {
    /// Workload kinds in scope. Default: Deployment, StatefulSet, DaemonSet, CronJob.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<WorkloadKind>>,

    /// Field managers (from `metadata.managedFields`) of the GitOps tools whose applies carry approval through the
    /// repository's review process. Default: `argocd-controller`, `kustomize-controller`, `helm-controller`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gitops_managers: Option<Vec<String>>,

    /// Field managers of interactive, out-of-band changes. Default: `kubectl`, `kubectl-edit`, `kubectl-patch`,
    /// `kubectl-client-side-apply`, `kubectl-set`, `kubectl-scale`, `kubectl-rollout`, `kubectl-label`,
    /// `kubectl-annotate`, `kubectl-replace`, `kubectl-create`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interactive_managers: Option<Vec<String>>,
}

/// Default workload kinds for [`ChangeApprovalCheck`].
pub const DEFAULT_WORKLOAD_KINDS: &[WorkloadKind] = &[
    WorkloadKind::Deployment,
    WorkloadKind::StatefulSet,
    WorkloadKind::DaemonSet,
    WorkloadKind::CronJob,
];
/// Default GitOps managers for [`ChangeApprovalCheck`].
pub const DEFAULT_GITOPS_MANAGERS: &[&str] = &[
    "argocd-controller",
    "kustomize-controller",
    "helm-controller",
];
/// Default interactive managers for [`ChangeApprovalCheck`].
pub const DEFAULT_INTERACTIVE_MANAGERS: &[&str] = &[
    "kubectl",
    "kubectl-edit",
    "kubectl-patch",
    "kubectl-client-side-apply",
    "kubectl-set",
    "kubectl-scale",
    "kubectl-rollout",
    "kubectl-label",
    "kubectl-annotate",
    "kubectl-replace",
    "kubectl-create",
];

impl ChangeApprovalCheck {
    /// `kinds` with its default applied.
    pub fn effective_kinds(&self) -> Vec<WorkloadKind> {
        self.kinds
            .clone()
            .unwrap_or_else(|| DEFAULT_WORKLOAD_KINDS.to_vec())
    }
    /// `gitopsManagers` with its default applied.
    pub fn effective_gitops_managers(&self) -> Vec<String> {
        or_defaults(&self.gitops_managers, DEFAULT_GITOPS_MANAGERS)
    }
    /// `interactiveManagers` with its default applied.
    pub fn effective_interactive_managers(&self) -> Vec<String> {
        or_defaults(&self.interactive_managers, DEFAULT_INTERACTIVE_MANAGERS)
    }
}

/// An explicit, dated statement by a named person that a control operates where the cluster cannot show it
/// (for example audit logging on a managed control plane whose flags are invisible).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attestation {
    /// Who attests, e.g. `jane.doe@example.com (Head of Platform)`.
    #[schemars(length(min = 1))]
    pub attested_by: String,
    /// Where the supporting evidence lives, e.g. a ticket or the cloud provider's audit log setting.
    #[schemars(length(min = 1))]
    pub reference: String,
    /// The date of the attestation, `YYYY-MM-DD`. Attestations older than 365 days fail: re-attest yearly.
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub date: String,
}

/// Parameters of the logging check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoggingCheck {
    /// For managed control planes, where kube-apiserver flags are invisible: an attestation that API audit logging
    /// is enabled. Shown as `Attested` in status and evidence. Ignored when the flags are visible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_attestation: Option<Attestation>,

    /// Names recognising a log collector DaemonSet (matched against its name, its `app.kubernetes.io/name` and `app`
    /// labels, and its container images). Default: fluent-bit, vector, fluentd, opentelemetry-collector, promtail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collectors: Option<Vec<String>>,

    /// Select the log collector DaemonSets by label instead of by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<super::k8s_schema::LabelSelector>")]
    pub collector_selector: Option<LabelSelector>,

    /// Require a log collector DaemonSet. Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_collector: Option<bool>,
}

/// Default collector names for [`LoggingCheck`].
pub const DEFAULT_COLLECTORS: &[&str] = &[
    "fluent-bit",
    "vector",
    "fluentd",
    "opentelemetry-collector",
    "promtail",
];

impl LoggingCheck {
    /// `collectors` with its default applied.
    pub fn effective_collectors(&self) -> Vec<String> {
        or_defaults(&self.collectors, DEFAULT_COLLECTORS)
    }
}
