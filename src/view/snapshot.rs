//! A point-in-time set of the cluster objects checks read.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::DynamicObject;

use super::gvk::Gvk;
use super::reads::Reads;
use super::stored;

use crate::api::{AccessReview, AccessReviewDecision, ControlException};
use crate::engine::exceptions::ExceptionPolicy;

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
    /// core/v1 Pod, every namespace
    Pod,
    /// core/v1 Service
    Service,
    /// core/v1 ServiceAccount
    ServiceAccount,
    /// networking.k8s.io/v1 NetworkPolicy
    NetworkPolicy,
    /// networking.k8s.io/v1 Ingress
    Ingress,
    /// policy/v1 PodDisruptionBudget
    PodDisruptionBudget,
    /// soc2.dev/v1alpha1 ControlException (read by every control: see [`crate::engine::exceptions`])
    ControlException,
    /// soc2.dev/v1alpha1 AccessReview (cluster-scoped)
    AccessReview,
    /// soc2.dev/v1alpha1 AccessReviewDecision (cluster-scoped)
    AccessReviewDecision,
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
            ResourceKind::Pod => "pods",
            ResourceKind::Service => "services",
            ResourceKind::ServiceAccount => "serviceaccounts",
            ResourceKind::NetworkPolicy => "networkpolicies",
            ResourceKind::Ingress => "ingresses",
            ResourceKind::PodDisruptionBudget => "poddisruptionbudgets",
            ResourceKind::ControlException => "controlexceptions",
            ResourceKind::AccessReview => "accessreviews",
            ResourceKind::AccessReviewDecision => "accessreviewdecisions",
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
    /// Deployments, as the stores keep them ([`stored`])
    pub deployments: Vec<Arc<stored::Deployment>>,
    /// StatefulSets, as the stores keep them
    pub stateful_sets: Vec<Arc<stored::StatefulSet>>,
    /// DaemonSets, as the stores keep them
    pub daemon_sets: Vec<Arc<stored::DaemonSet>>,
    /// CronJobs, as the stores keep them
    pub cron_jobs: Vec<Arc<stored::CronJob>>,
    /// Jobs, as the stores keep them
    pub jobs: Vec<Arc<stored::Job>>,
    /// Pods in every namespace, as the stores keep them
    pub pods: Vec<Arc<stored::Pod>>,
    /// Services
    pub services: Vec<Arc<Service>>,
    /// ServiceAccounts
    pub service_accounts: Vec<Arc<ServiceAccount>>,
    /// NetworkPolicies
    pub network_policies: Vec<Arc<NetworkPolicy>>,
    /// Ingresses
    pub ingresses: Vec<Arc<Ingress>>,
    /// PodDisruptionBudgets
    pub pod_disruption_budgets: Vec<Arc<PodDisruptionBudget>>,
    /// ControlExceptions, in every namespace
    pub control_exceptions: Vec<Arc<ControlException>>,
    /// AccessReviews
    pub access_reviews: Vec<Arc<AccessReview>>,
    /// AccessReviewDecisions
    pub access_review_decisions: Vec<Arc<AccessReviewDecision>>,
    /// How exceptions are judged: the cluster-wide namespace and the maximum lifetime.
    pub exception_policy: ExceptionPolicy,
    /// Kinds that could not be read, with the reason.
    pub unavailable: BTreeMap<ResourceKind, String>,
    /// Objects read by group/version/kind (CRDs, or built-in kinds a CEL or requiredResources check names),
    /// managedFields and Secret values removed. Read them with [`ClusterSnapshot::dynamic`].
    pub dynamic: BTreeMap<Gvk, Vec<Arc<DynamicObject>>>,
    /// Group/version/kinds that could not be read, with the reason (CRD not installed, watch forbidden, ...).
    pub dynamic_unavailable: BTreeMap<Gvk, String>,
}

impl ClusterSnapshot {
    /// `Err(reason)` when the kind's objects are not known.
    pub fn require(&self, kind: ResourceKind) -> Result<(), String> {
        match self.unavailable.get(&kind) {
            Some(reason) => Err(reason.clone()),
            None => Ok(()),
        }
    }

    /// The objects of `gvk`, or `Err(reason)` when they could not be read. A GVK the snapshot holds nothing
    /// about has no objects (offline scans read everything on disk; the live view lists every GVK it was asked
    /// for, as objects or as unavailable).
    pub fn dynamic(&self, gvk: &Gvk) -> Result<&[Arc<DynamicObject>], String> {
        if let Some(reason) = self.dynamic_unavailable.get(gvk) {
            return Err(reason.clone());
        }
        Ok(self.dynamic.get(gvk).map(Vec::as_slice).unwrap_or(&[]))
    }

    /// Serves `gvks` that have a typed store from that store, so that a kind read both ways is the same set of
    /// objects in the same state: typed objects are converted, the typed kind's unavailability is carried over.
    pub fn serve_typed_as_dynamic(&mut self, gvks: &[Gvk]) {
        for gvk in gvks {
            let Some(kind) = gvk.typed_kind() else {
                continue;
            };
            if let Err(reason) = self.require(kind) {
                self.dynamic_unavailable.insert(gvk.clone(), reason);
                continue;
            }
            let objects = match kind {
                ResourceKind::Namespace => to_dynamic(&self.namespaces),
                ResourceKind::Node => to_dynamic(&self.nodes),
                ResourceKind::Role => to_dynamic(&self.roles),
                ResourceKind::ClusterRole => to_dynamic(&self.cluster_roles),
                ResourceKind::RoleBinding => to_dynamic(&self.role_bindings),
                ResourceKind::ClusterRoleBinding => to_dynamic(&self.cluster_role_bindings),
                ResourceKind::Service => to_dynamic(&self.services),
                ResourceKind::ServiceAccount => to_dynamic(&self.service_accounts),
                ResourceKind::NetworkPolicy => to_dynamic(&self.network_policies),
                ResourceKind::Ingress => to_dynamic(&self.ingresses),
                ResourceKind::PodDisruptionBudget => to_dynamic(&self.pod_disruption_budgets),
                ResourceKind::ControlException => to_dynamic(&self.control_exceptions),
                ResourceKind::AccessReview => to_dynamic(&self.access_reviews),
                ResourceKind::AccessReviewDecision => to_dynamic(&self.access_review_decisions),
                // Partial typed stores (kube-system pods, token secrets) and trimmed ones (workloads, Pods: see
                // `Gvk::trimmed_kind`) are never served as a whole kind.
                ResourceKind::ControlPlanePod
                | ResourceKind::ServiceAccountTokenSecret
                | ResourceKind::Deployment
                | ResourceKind::StatefulSet
                | ResourceKind::DaemonSet
                | ResourceKind::CronJob
                | ResourceKind::Job
                | ResourceKind::Pod => continue,
            };
            match objects {
                Ok(objects) => {
                    self.dynamic.insert(gvk.clone(), objects);
                }
                Err(reason) => {
                    self.dynamic_unavailable.insert(gvk.clone(), reason);
                }
            }
        }
    }

    /// The view an offline evaluation of controls reading `reads` gets from manifests loaded from disk: kinds
    /// read by GVK that have typed lists are served from those lists and, in a cluster dump with its CRDs,
    /// kinds that are not installed are unavailable, as in the operator's live view. `soc2ctl scan` and the
    /// evidence snapshot it writes both evaluate this view, so the table a user reads and the bundle an auditor
    /// reads cannot disagree.
    pub fn offline_view(&self, reads: &Reads) -> ClusterSnapshot {
        let mut view = self.clone();
        view.serve_typed_as_dynamic(&reads.gvks);
        view.mark_uninstalled_crds(reads.dynamic_only());
        view
    }

    /// For offline scans: when the manifests include CustomResourceDefinitions (a dump of a cluster), a GVK of
    /// `gvks` from a non-built-in API group that no CRD there serves (nor an APIService, for aggregated APIs), and
    /// of which no object was read, is unavailable with the reason the live view gives ("the CRD ... is not
    /// installed"), so that a scan of a cluster dump reaches the operator's verdict (`Unknown`) rather than judging
    /// an empty list. Manifests without any CRD say nothing about what is installed and are left as they are.
    pub fn mark_uninstalled_crds<'a>(&mut self, gvks: impl IntoIterator<Item = &'a Gvk>) {
        let crd = Gvk::new("apiextensions.k8s.io", "v1", "CustomResourceDefinition");
        let Some(crds) = self.dynamic.get(&crd).filter(|c| !c.is_empty()) else {
            return;
        };
        let serves = |gvk: &Gvk| {
            crds.iter().any(|c| {
                let spec = c.data.get("spec");
                let at = |pointer: &str| {
                    spec.and_then(|s| s.pointer(pointer))
                        .and_then(|v| v.as_str())
                };
                at("/group") == Some(gvk.group.as_str())
                    && at("/names/kind") == Some(gvk.kind.as_str())
                    && spec
                        .and_then(|s| s.get("versions"))
                        .and_then(|v| v.as_array())
                        .is_some_and(|versions| {
                            versions.iter().any(|v| {
                                v.get("name").and_then(|n| n.as_str()) == Some(gvk.version.as_str())
                                    && v.get("served").and_then(|s| s.as_bool()) != Some(false)
                            })
                        })
            })
        };
        // Aggregated APIs (metrics.k8s.io, OpenShift's route.openshift.io, ...) have no CRD: an APIService serves
        // its group/version.
        let api_service = Gvk::new("apiregistration.k8s.io", "v1", "APIService");
        let aggregated = |gvk: &Gvk| {
            self.dynamic.get(&api_service).is_some_and(|services| {
                services.iter().any(|a| {
                    let at = |pointer: &str| a.data.pointer(pointer).and_then(|v| v.as_str());
                    at("/spec/group") == Some(gvk.group.as_str())
                        && at("/spec/version") == Some(gvk.version.as_str())
                })
            })
        };
        let missing: Vec<Gvk> = gvks
            .into_iter()
            .filter(|gvk| {
                !is_built_in_group(&gvk.group)
                    && !self.dynamic_unavailable.contains_key(*gvk)
                    && self.dynamic.get(*gvk).is_none_or(|o| o.is_empty())
                    && !serves(gvk)
                    && !aggregated(gvk)
            })
            .cloned()
            .collect();
        for gvk in missing {
            let reason = super::dynamic::not_installed(&gvk);
            self.dynamic_unavailable.insert(gvk, reason);
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

/// True for the API groups Kubernetes itself serves (no CRD defines them).
fn is_built_in_group(group: &str) -> bool {
    const BUILT_IN: &[&str] = &[
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "internal.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "storagemigration.k8s.io",
    ];
    !group.contains('.') || BUILT_IN.contains(&group)
}

/// Converts typed objects to dynamic ones (with `apiVersion` and `kind` set, managedFields removed).
fn to_dynamic<K>(objects: &[Arc<K>]) -> Result<Vec<Arc<DynamicObject>>, String>
where
    K: kube::Resource<DynamicType = ()> + serde::Serialize,
{
    objects
        .iter()
        .map(|o| {
            let mut value = serde_json::to_value(o.as_ref()).map_err(|e| e.to_string())?;
            if let Some(map) = value.as_object_mut() {
                map.insert("apiVersion".into(), K::api_version(&()).into());
                map.insert("kind".into(), K::kind(&()).into());
            }
            let mut d: DynamicObject = serde_json::from_value(value).map_err(|e| e.to_string())?;
            d.metadata.managed_fields = None;
            Ok(Arc::new(d))
        })
        .collect::<Result<_, String>>()
        .map_err(|e| format!("typed objects could not be converted: {e}"))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    #[test]
    fn typed_kinds_are_served_by_gvk_from_the_same_store() {
        let mut s = ClusterSnapshot {
            services: vec![Arc::new(Service {
                metadata: ObjectMeta {
                    name: Some("web".into()),
                    namespace: Some("prod".into()),
                    ..Default::default()
                },
                ..Default::default()
            })],
            // Trimmed: never served from the typed store.
            deployments: vec![Arc::new(stored::Deployment::default())],
            ..Default::default()
        };
        s.unavailable
            .insert(ResourceKind::Ingress, "forbidden".into());
        let service = Gvk::new("", "v1", "Service");
        let ingress = Gvk::new("networking.k8s.io", "v1", "Ingress");
        let deployment = Gvk::new("apps", "v1", "Deployment");
        s.serve_typed_as_dynamic(&[service.clone(), ingress.clone(), deployment.clone()]);
        let d = s.dynamic(&service).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].metadata.name.as_deref(), Some("web"));
        assert_eq!(Gvk::of(&d[0]), Some(service));
        assert!(!s.dynamic.contains_key(&deployment));
        assert_eq!(s.dynamic(&ingress).unwrap_err(), "forbidden");
    }

    fn dynamic(value: serde_json::Value) -> Arc<DynamicObject> {
        Arc::new(serde_json::from_value(value).unwrap())
    }

    fn crd(group: &str, kind: &str, version: &str) -> Arc<DynamicObject> {
        dynamic(serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{}s.{group}", kind.to_lowercase())},
            "spec": {"group": group, "names": {"kind": kind},
                     "versions": [{"name": version, "served": true}]},
        }))
    }

    #[test]
    fn a_dump_with_crds_marks_the_kinds_no_crd_serves_as_not_installed() {
        let schedule = Gvk::new("velero.io", "v1", "Schedule");
        let backup = Gvk::new("velero.io", "v1", "Backup");
        let rule = Gvk::new("monitoring.coreos.com", "v1", "PrometheusRule");
        let alertmanager = Gvk::new("monitoring.coreos.com", "v1", "Alertmanager");
        let gateway = Gvk::new("gateway.networking.k8s.io", "v1", "Gateway");
        let ingress_class = Gvk::new("networking.k8s.io", "v1", "IngressClass");
        let config_map = Gvk::new("", "v1", "ConfigMap");
        let all = [
            &schedule,
            &backup,
            &rule,
            &alertmanager,
            &gateway,
            &ingress_class,
            &config_map,
        ];

        // Without CRDs in the manifests nothing is known about what is installed.
        let mut plain = ClusterSnapshot::default();
        plain.mark_uninstalled_crds(all);
        assert!(plain.dynamic_unavailable.is_empty());

        let mut s = ClusterSnapshot::default();
        s.dynamic.insert(
            Gvk::new("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            vec![
                crd("velero.io", "Schedule", "v1"),
                crd("monitoring.coreos.com", "PrometheusRule", "v1"),
            ],
        );
        // An object read proves its kind is served even when its CRD is not in the dump.
        s.dynamic.insert(
            alertmanager.clone(),
            vec![dynamic(serde_json::json!({
                "apiVersion": "monitoring.coreos.com/v1", "kind": "Alertmanager",
                "metadata": {"name": "main", "namespace": "monitoring"},
            }))],
        );
        s.mark_uninstalled_crds(all);
        assert_eq!(
            s.dynamic(&backup).unwrap_err(),
            "the CRD velero.io/v1 Backup is not installed"
        );
        assert_eq!(
            s.dynamic(&gateway).unwrap_err(),
            "the CRD gateway.networking.k8s.io/v1 Gateway is not installed"
        );
        for served in [&schedule, &rule, &alertmanager, &ingress_class, &config_map] {
            assert!(s.dynamic(served).is_ok(), "{served}");
        }
    }

    #[test]
    fn an_api_service_serves_its_aggregated_group_version() {
        let pod_metrics = Gvk::new("metrics.k8s.io", "v1beta1", "PodMetrics");
        let routes = Gvk::new("route.openshift.io", "v1", "Route");
        let mut s = ClusterSnapshot::default();
        s.dynamic.insert(
            Gvk::new("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            vec![crd("velero.io", "Schedule", "v1")],
        );
        s.dynamic.insert(
            Gvk::new("apiregistration.k8s.io", "v1", "APIService"),
            vec![dynamic(serde_json::json!({
                "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                "metadata": {"name": "v1beta1.metrics.k8s.io"},
                "spec": {"group": "metrics.k8s.io", "version": "v1beta1"},
            }))],
        );
        s.mark_uninstalled_crds([&pod_metrics, &routes]);
        assert!(s.dynamic(&pod_metrics).unwrap().is_empty());
        assert_eq!(
            s.dynamic(&routes).unwrap_err(),
            "the CRD route.openshift.io/v1 Route is not installed"
        );
    }

    #[test]
    fn unavailable_gvks_say_why_and_unknown_ones_are_empty() {
        let mut s = ClusterSnapshot::default();
        let rule = Gvk::new("monitoring.coreos.com", "v1", "PrometheusRule");
        assert!(s.dynamic(&rule).unwrap().is_empty());
        s.dynamic_unavailable
            .insert(rule.clone(), "the CRD is not installed".into());
        assert_eq!(s.dynamic(&rule).unwrap_err(), "the CRD is not installed");
    }
}
