//! Parameters of the network and availability checks: network isolation and exposure (CC6.6), encryption in transit
//! (CC6.7) and workload availability (A1.2).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::WorkloadKind;

/// The annotation that records who approved an exposure (or an internet-facing NetworkPolicy) after review.
pub const EXPOSURE_APPROVED_BY: &str = "soc2.dev/exposure-approved-by";

fn strings(defaults: &[&str]) -> Vec<String> {
    defaults.iter().map(|s| (*s).to_string()).collect()
}

/// Parameters of the network isolation check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkIsolationCheck {
    /// Require a default-deny ingress NetworkPolicy in every in-scope namespace: `podSelector: {}`, policyTypes
    /// including `Ingress` (or unset), and no policy in the namespace with an ingress rule admitting everything
    /// (an empty rule `{}`). Default: true. Set false in a control that only flags internet-facing policies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_default_deny_ingress: Option<bool>,

    /// Also require a default-deny egress NetworkPolicy (`podSelector: {}`, policyTypes including `Egress`, no
    /// egress rule admitting everything) in every in-scope namespace. Default: false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_egress: Option<bool>,

    /// Fail in-scope NetworkPolicies whose ingress rules admit `0.0.0.0/0` or `::/0` (any prefix length 0) through
    /// an `ipBlock`, unless they carry every `approvalAnnotations` entry. Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag_internet_ingress: Option<bool>,

    /// Fail in-scope NetworkPolicies whose egress rules admit `0.0.0.0/0` or `::/0`, unless approved. Default: false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag_open_egress: Option<bool>,

    /// Annotations that must all be present and non-empty on a NetworkPolicy for an internet-facing rule to count
    /// as approved after review. Default: `[soc2.dev/exposure-approved-by]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub approval_annotations: Option<Vec<String>>,
}

impl NetworkIsolationCheck {
    /// `requireDefaultDenyIngress` with its default applied.
    pub fn effective_require_default_deny_ingress(&self) -> bool {
        self.require_default_deny_ingress.unwrap_or(true)
    }
    /// `requireEgress` with its default applied.
    pub fn effective_require_egress(&self) -> bool {
        self.require_egress.unwrap_or(false)
    }
    /// `flagInternetIngress` with its default applied.
    pub fn effective_flag_internet_ingress(&self) -> bool {
        self.flag_internet_ingress.unwrap_or(true)
    }
    /// `flagOpenEgress` with its default applied.
    pub fn effective_flag_open_egress(&self) -> bool {
        self.flag_open_egress.unwrap_or(false)
    }
    /// `approvalAnnotations` with its default applied.
    pub fn effective_approval_annotations(&self) -> Vec<String> {
        self.approval_annotations
            .clone()
            .unwrap_or_else(|| strings(&[EXPOSURE_APPROVED_BY]))
    }
}

/// A Service type that exposes workloads outside the cluster.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum ExposedServiceType {
    /// A cloud load balancer (and, unless `allocateLoadBalancerNodePorts: false`, a port on every node).
    LoadBalancer,
    /// A port on every node.
    NodePort,
}

impl ExposedServiceType {
    /// The value of `spec.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExposedServiceType::LoadBalancer => "LoadBalancer",
            ExposedServiceType::NodePort => "NodePort",
        }
    }
}

/// Parameters of the exposure check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExposureCheck {
    /// Service types that need approval. Default: `[LoadBalancer, NodePort]`. An empty list skips Services.
    /// ExternalName Services are never exposure (they only alias a DNS name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_types: Option<Vec<ExposedServiceType>>,

    /// Also treat Services of any type with `spec.externalIPs` as exposure needing approval. Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag_external_ips: Option<bool>,

    /// Check pod templates for `hostNetwork: true` and container `hostPort`s. Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_access: Option<bool>,

    /// Workload kinds whose pod templates are checked. Default: Deployment, StatefulSet, DaemonSet, CronJob, Job
    /// (not owned by a CronJob) and Pod (without a controller).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<WorkloadKind>>,

    /// Annotations that must all be present and non-empty (on the Service, or on the workload or its pod template)
    /// for an exposure to count as approved after review. Default: `[soc2.dev/exposure-approved-by]`; add
    /// `soc2.dev/change-ticket` to require a ticket reference as well.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub approval_annotations: Option<Vec<String>>,
}

/// Default Service types for [`ExposureCheck`].
pub const DEFAULT_EXPOSED_SERVICE_TYPES: &[ExposedServiceType] = &[
    ExposedServiceType::LoadBalancer,
    ExposedServiceType::NodePort,
];

impl ExposureCheck {
    /// `serviceTypes` with its default applied.
    pub fn effective_service_types(&self) -> Vec<ExposedServiceType> {
        self.service_types
            .clone()
            .unwrap_or_else(|| DEFAULT_EXPOSED_SERVICE_TYPES.to_vec())
    }
    /// `flagExternalIps` with its default applied.
    pub fn effective_flag_external_ips(&self) -> bool {
        self.flag_external_ips.unwrap_or(true)
    }
    /// True when Services are read at all.
    pub fn checks_services(&self) -> bool {
        !self.effective_service_types().is_empty() || self.effective_flag_external_ips()
    }
    /// `hostAccess` with its default applied.
    pub fn effective_host_access(&self) -> bool {
        self.host_access.unwrap_or(true)
    }
    /// `kinds` with its default applied.
    pub fn effective_kinds(&self) -> Vec<WorkloadKind> {
        self.kinds
            .clone()
            .unwrap_or_else(|| crate::view::workloads::ALL_POD_WORKLOADS.to_vec())
    }
    /// `approvalAnnotations` with its default applied.
    pub fn effective_approval_annotations(&self) -> Vec<String> {
        self.approval_annotations
            .clone()
            .unwrap_or_else(|| strings(&[EXPOSURE_APPROVED_BY]))
    }
}

/// Parameters of the encryption in transit check.
///
/// The fields below apply to networking.k8s.io/v1 Ingresses. Gateway API listeners will get their own section
/// (`gatewayApi`) beside them; existing fields keep their meaning.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionInTransitCheck {
    /// Also require every in-scope Ingress to force HTTP to HTTPS redirection with one of `sslRedirectAnnotations`
    /// set to `"true"`. Default: false (ingress-nginx redirects by default once TLS is configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_ssl_redirect: Option<bool>,

    /// Ingress annotations that force HTTPS redirection when set to `"true"`. Default:
    /// `[nginx.ingress.kubernetes.io/ssl-redirect, nginx.ingress.kubernetes.io/force-ssl-redirect]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub ssl_redirect_annotations: Option<Vec<String>>,

    /// Also judge Gateway API Gateways (`gateway.networking.k8s.io/v1`) when their CRD is installed: every listener
    /// must use HTTPS or TLS, and an HTTPS listener that terminates TLS must reference a certificate. Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_api: Option<bool>,
}

/// Default redirect annotations for [`EncryptionInTransitCheck`].
pub const DEFAULT_SSL_REDIRECT_ANNOTATIONS: &[&str] = &[
    "nginx.ingress.kubernetes.io/ssl-redirect",
    "nginx.ingress.kubernetes.io/force-ssl-redirect",
];

impl EncryptionInTransitCheck {
    /// `requireSslRedirect` with its default applied.
    pub fn effective_require_ssl_redirect(&self) -> bool {
        self.require_ssl_redirect.unwrap_or(false)
    }
    /// `gatewayApi` with its default applied.
    pub fn effective_gateway_api(&self) -> bool {
        self.gateway_api.unwrap_or(true)
    }
    /// `sslRedirectAnnotations` with its default applied.
    pub fn effective_ssl_redirect_annotations(&self) -> Vec<String> {
        self.ssl_redirect_annotations
            .clone()
            .unwrap_or_else(|| strings(DEFAULT_SSL_REDIRECT_ANNOTATIONS))
    }
}

/// A workload kind the availability check covers. DaemonSets run one pod per node and are not covered.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum ReplicatedWorkloadKind {
    /// apps/v1 Deployment
    Deployment,
    /// apps/v1 StatefulSet
    StatefulSet,
}

/// Parameters of the availability check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityCheck {
    /// Workload kinds in scope. Default: `[Deployment, StatefulSet]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<ReplicatedWorkloadKind>>,

    /// The fewest replicas a workload may run (`spec.replicas`; unset means 1). Default: 2. Set 1 in a control
    /// that does not judge redundancy. A workload scaled to 0 on purpose is reported as a Notice.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_replicas: Option<i32>,

    /// Require exactly one PodDisruptionBudget in the workload's namespace whose selector matches the pod template
    /// labels, and which still allows an eviction (so node drains neither lose every replica nor block).
    /// Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_pod_disruption_budget: Option<bool>,

    /// Require a readiness probe on every regular (non-init) container. Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_readiness_probe: Option<bool>,

    /// Require CPU and memory requests (or limits, which Kubernetes copies to requests) on every container, init
    /// containers included. Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_resource_requests: Option<bool>,
}

/// Default workload kinds for [`AvailabilityCheck`].
pub const DEFAULT_REPLICATED_KINDS: &[ReplicatedWorkloadKind] = &[
    ReplicatedWorkloadKind::Deployment,
    ReplicatedWorkloadKind::StatefulSet,
];
/// Default `minReplicas` for [`AvailabilityCheck`].
pub const DEFAULT_MIN_REPLICAS: i32 = 2;

impl AvailabilityCheck {
    /// `kinds` with its default applied.
    pub fn effective_kinds(&self) -> Vec<ReplicatedWorkloadKind> {
        self.kinds
            .clone()
            .unwrap_or_else(|| DEFAULT_REPLICATED_KINDS.to_vec())
    }
    /// `minReplicas` with its default applied (never below 1).
    pub fn effective_min_replicas(&self) -> i32 {
        self.min_replicas.unwrap_or(DEFAULT_MIN_REPLICAS).max(1)
    }
    /// `requirePodDisruptionBudget` with its default applied.
    pub fn effective_require_pod_disruption_budget(&self) -> bool {
        self.require_pod_disruption_budget.unwrap_or(true)
    }
    /// `requireReadinessProbe` with its default applied.
    pub fn effective_require_readiness_probe(&self) -> bool {
        self.require_readiness_probe.unwrap_or(true)
    }
    /// `requireResourceRequests` with its default applied.
    pub fn effective_require_resource_requests(&self) -> bool {
        self.require_resource_requests.unwrap_or(true)
    }
}
