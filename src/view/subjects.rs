//! Typed objects of any kind as one value, and the snapshot operations incremental evaluation needs: list one
//! kind's objects, compare two snapshots' objects by identity, and build a snapshot that holds only some of them.
//!
//! Objects are compared by the address of their `Arc`: a reflector store replaces an object's `Arc` on every
//! event for it, so an unchanged address is an unchanged object. Whoever compares addresses keeps the `Arc`s alive,
//! so an address is never reused for another object while it is remembered.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};

use super::stored::{self, CronJob, DaemonSet, Deployment, Job, StatefulSet};
use super::{ClusterSnapshot, ResourceKind, ResourceRef};
use crate::api::{AccessReview, AccessReviewDecision, ControlException};

macro_rules! typed_kinds {
    ($( $kind:ident => $field:ident : $ty:ty ),* $(,)?) => {
        /// Every typed kind.
        pub const ALL_KINDS: &[ResourceKind] = &[$( ResourceKind::$kind ),*];

        /// One typed object, of whichever kind.
        #[derive(Clone, Debug)]
        pub enum AnyObject {
            $(
                #[doc = concat!("A ", stringify!($ty), ".")]
                $kind(Arc<$ty>),
            )*
        }

        impl AnyObject {
            /// The kind the object was read as.
            pub fn kind(&self) -> ResourceKind {
                match self {
                    $( AnyObject::$kind(_) => ResourceKind::$kind, )*
                }
            }

            /// The address of the shared object: equal addresses are the same version of the same object.
            pub fn address(&self) -> usize {
                match self {
                    $( AnyObject::$kind(o) => Arc::as_ptr(o) as usize, )*
                }
            }

            /// The reference findings about this object carry.
            pub fn resource_ref(&self) -> ResourceRef {
                match self {
                    $( AnyObject::$kind(o) => ResourceRef::of(o.as_ref()), )*
                }
            }

            /// The namespace the object belongs to: its own for a namespaced object, its name for a Namespace,
            /// none for other cluster-scoped objects.
            pub fn home_namespace(&self) -> Option<&str> {
                if let AnyObject::Namespace(o) = self {
                    return o.metadata.name.as_deref();
                }
                match self {
                    $( AnyObject::$kind(o) => kube::Resource::meta(o.as_ref()).namespace.as_deref(), )*
                }
            }
        }

        impl ClusterSnapshot {
            /// The objects of `kind` in the snapshot.
            pub fn objects(&self, kind: ResourceKind) -> Vec<AnyObject> {
                match kind {
                    $( ResourceKind::$kind => self.$field.iter().cloned().map(AnyObject::$kind).collect(), )*
                }
            }

            /// How many objects of `kind` the snapshot holds.
            pub fn count(&self, kind: ResourceKind) -> usize {
                match kind {
                    $( ResourceKind::$kind => self.$field.len(), )*
                }
            }

            /// The address of the object of `kind` at `index` (in the snapshot's order), without touching the
            /// object itself.
            pub fn address_at(&self, kind: ResourceKind, index: usize) -> Option<usize> {
                match kind {
                    $( ResourceKind::$kind => self.$field.get(index).map(|o| Arc::as_ptr(o) as usize), )*
                }
            }

            /// The object of `kind` at `index` (in the snapshot's order).
            pub fn object_at(&self, kind: ResourceKind, index: usize) -> Option<AnyObject> {
                match kind {
                    $( ResourceKind::$kind => self.$field.get(index).cloned().map(AnyObject::$kind), )*
                }
            }

            /// The addresses of the objects of `kind`, sorted.
            pub fn addresses(&self, kind: ResourceKind) -> Vec<usize> {
                let mut addresses: Vec<usize> = match kind {
                    $( ResourceKind::$kind => self.$field.iter().map(|o| Arc::as_ptr(o) as usize).collect(), )*
                };
                addresses.sort_unstable();
                addresses
            }

            /// A snapshot with everything this one holds except the objects of `kinds`, which hold `objects`
            /// (of those kinds) instead. Dynamic objects, unavailability and the exception policy are kept.
            pub fn with_only(&self, kinds: &[ResourceKind], objects: &[AnyObject]) -> ClusterSnapshot {
                let mut s = ClusterSnapshot {
                    exception_policy: self.exception_policy.clone(),
                    unavailable: self.unavailable.clone(),
                    dynamic: self.dynamic.clone(),
                    dynamic_unavailable: self.dynamic_unavailable.clone(),
                    ..ClusterSnapshot::default()
                };
                $(
                    if !kinds.contains(&ResourceKind::$kind) {
                        s.$field = self.$field.clone();
                    }
                )*
                for object in objects {
                    match object {
                        $( AnyObject::$kind(o) => s.$field.push(o.clone()), )*
                    }
                }
                s
            }
        }
    };
}

typed_kinds! {
    Namespace => namespaces: Namespace,
    Node => nodes: Node,
    ControlPlanePod => control_plane_pods: Pod,
    ServiceAccountTokenSecret => service_account_token_secrets: Secret,
    Role => roles: Role,
    ClusterRole => cluster_roles: ClusterRole,
    RoleBinding => role_bindings: RoleBinding,
    ClusterRoleBinding => cluster_role_bindings: ClusterRoleBinding,
    Deployment => deployments: Deployment,
    StatefulSet => stateful_sets: StatefulSet,
    DaemonSet => daemon_sets: DaemonSet,
    CronJob => cron_jobs: CronJob,
    Job => jobs: Job,
    Pod => pods: stored::Pod,
    Service => services: Service,
    ServiceAccount => service_accounts: ServiceAccount,
    NetworkPolicy => network_policies: NetworkPolicy,
    Ingress => ingresses: Ingress,
    PodDisruptionBudget => pod_disruption_budgets: PodDisruptionBudget,
    ControlException => control_exceptions: ControlException,
    AccessReview => access_reviews: AccessReview,
    AccessReviewDecision => access_review_decisions: AccessReviewDecision,
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn deployment(name: &str) -> Arc<Deployment> {
        Arc::new(Deployment {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("shop".into()),
                uid: Some(format!("uid-{name}")),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    #[test]
    fn with_only_replaces_the_named_kinds_and_keeps_the_rest() {
        let ns = Arc::new(Namespace::default());
        let view = ClusterSnapshot {
            namespaces: vec![ns.clone()],
            deployments: vec![deployment("a"), deployment("b")],
            ..Default::default()
        };
        let c = deployment("c");
        let only = view.with_only(
            &[ResourceKind::Deployment],
            &[AnyObject::Deployment(c.clone())],
        );
        assert_eq!(only.deployments.len(), 1);
        assert!(Arc::ptr_eq(&only.deployments[0], &c));
        assert!(Arc::ptr_eq(&only.namespaces[0], &ns));
        let none = view.with_only(&[ResourceKind::Deployment], &[]);
        assert!(none.deployments.is_empty() && none.namespaces.len() == 1);
    }

    #[test]
    fn addresses_identify_versions_not_contents() {
        let a = deployment("a");
        let same_content = Arc::new((*a).clone());
        let view = ClusterSnapshot {
            deployments: vec![a.clone()],
            ..Default::default()
        };
        let objects = view.objects(ResourceKind::Deployment);
        assert_eq!(objects[0].address(), Arc::as_ptr(&a) as usize);
        assert_ne!(objects[0].address(), Arc::as_ptr(&same_content) as usize);
        assert_eq!(objects[0].kind(), ResourceKind::Deployment);
        assert_eq!(objects[0].resource_ref().name, "a");
        assert_eq!(view.addresses(ResourceKind::Deployment).len(), 1);
    }
}
