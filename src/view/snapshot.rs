//! A point-in-time set of the cluster objects checks read.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};

use crate::api::ControlException;
use crate::exceptions::ExceptionPolicy;

/// The kinds of cluster object checks can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    /// core/v1 Namespace (always read: scopes select namespaces by label)
    Namespace,
    /// core/v1 Node
    Node,
    /// core/v1 Pod, in kube-system only (control-plane static pods)
    ControlPlanePod,
    /// core/v1 Secret of type `kubernetes.io/service-account-token`, without its data
    ServiceAccountTokenSecret,
    /// rbac/v1 Role
    Role,
    /// rbac/v1 ClusterRole
    ClusterRole,
    /// rbac/v1 RoleBinding
    RoleBinding,
    /// rbac/v1 ClusterRoleBinding
    ClusterRoleBinding,
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
    /// soc2.dev/v1alpha1 ControlException (read by every control: see [`crate::exceptions`])
    ControlException,
}

impl ResourceKind {
    /// The plural resource name, as RBAC and `kubectl get` spell it.
    pub fn plural(self) -> &'static str {
        match self {
            ResourceKind::Namespace => "namespaces",
            ResourceKind::Node => "nodes",
            ResourceKind::ControlPlanePod => "pods",
            ResourceKind::ServiceAccountTokenSecret => "secrets",
            ResourceKind::Role => "roles",
            ResourceKind::ClusterRole => "clusterroles",
            ResourceKind::RoleBinding => "rolebindings",
            ResourceKind::ClusterRoleBinding => "clusterrolebindings",
            ResourceKind::Deployment => "deployments",
            ResourceKind::StatefulSet => "statefulsets",
            ResourceKind::DaemonSet => "daemonsets",
            ResourceKind::CronJob => "cronjobs",
            ResourceKind::Job => "jobs",
            ResourceKind::ControlException => "controlexceptions",
        }
    }
}

/// The Secret type of legacy, long-lived ServiceAccount tokens.
pub const SERVICE_ACCOUNT_TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
/// The namespace whose pods include the control-plane static pods.
pub const CONTROL_PLANE_NAMESPACE: &str = "kube-system";

/// Cluster objects as checks see them. Kinds listed in `unavailable` could not be read (watch not yet synced,
/// forbidden, API missing); checks that need them report `Unknown` rather than passing silently.
#[derive(Clone, Debug, Default)]
pub struct ClusterSnapshot {
    /// Namespaces
    pub namespaces: Vec<Arc<Namespace>>,
    /// Nodes
    pub nodes: Vec<Arc<Node>>,
    /// Pods in kube-system
    pub control_plane_pods: Vec<Arc<Pod>>,
    /// ServiceAccount token Secrets, data removed
    pub service_account_token_secrets: Vec<Arc<Secret>>,
    /// Roles
    pub roles: Vec<Arc<Role>>,
    /// ClusterRoles
    pub cluster_roles: Vec<Arc<ClusterRole>>,
    /// RoleBindings
    pub role_bindings: Vec<Arc<RoleBinding>>,
    /// ClusterRoleBindings
    pub cluster_role_bindings: Vec<Arc<ClusterRoleBinding>>,
    /// Deployments
    pub deployments: Vec<Arc<Deployment>>,
    /// StatefulSets
    pub stateful_sets: Vec<Arc<StatefulSet>>,
    /// DaemonSets
    pub daemon_sets: Vec<Arc<DaemonSet>>,
    /// CronJobs
    pub cron_jobs: Vec<Arc<CronJob>>,
    /// Jobs
    pub jobs: Vec<Arc<Job>>,
    /// ControlExceptions, in every namespace
    pub control_exceptions: Vec<Arc<ControlException>>,
    /// How exceptions are judged: the cluster-wide namespace and the maximum lifetime.
    pub exception_policy: ExceptionPolicy,
    /// Kinds that could not be read, with the reason.
    pub unavailable: BTreeMap<ResourceKind, String>,
}

impl ClusterSnapshot {
    /// `Err(reason)` when the kind's objects are not known.
    pub fn require(&self, kind: ResourceKind) -> Result<(), String> {
        match self.unavailable.get(&kind) {
            Some(reason) => Err(reason.clone()),
            None => Ok(()),
        }
    }

    /// Strips everything sensitive from a Secret: only metadata and type are kept, so that token values never
    /// reach memory caches, status or evidence.
    pub fn redact_secret(mut secret: Secret) -> Secret {
        secret.data = None;
        secret.string_data = None;
        if let Some(annotations) = secret.metadata.annotations.as_mut() {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
        secret.metadata.managed_fields = None;
        secret
    }

    /// True for a Secret holding a legacy ServiceAccount token.
    pub fn is_service_account_token(secret: &Secret) -> bool {
        secret.type_.as_deref() == Some(SERVICE_ACCOUNT_TOKEN_TYPE)
    }
}
