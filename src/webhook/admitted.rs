//! The admission snapshot: the one object under admission, as the checks see cluster state.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::Resource;
use serde::de::DeserializeOwned;

use crate::view::{ClusterSnapshot, Project, ResourceKind, ResourceRef};

/// Why an admitted object cannot be put into a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum AdmittedError {
    /// The object does not match its kind's schema.
    #[error("request.object is not a valid {kind}: {reason}")]
    Malformed {
        /// The kind named by the request.
        kind: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
}

/// Builds the snapshot that admission evaluates: the admitted `object` of `kind` (its namespace set from the
/// request when the object omits it) and the Namespace object it lives in, taken from the live view
/// (`namespaces`, `None` when the Namespace watch has not synced: scopes that select namespaces are then Unknown,
/// exactly as in the audit).
///
/// This is the only place admission state is assembled: data the evaluation also needs (ControlExceptions, say)
/// is copied in here. Returns the snapshot and the reference findings about the object carry.
pub fn admission_snapshot(
    kind: ResourceKind,
    object: serde_json::Value,
    request_namespace: Option<&str>,
    namespaces: Option<&[Arc<Namespace>]>,
) -> Result<(ClusterSnapshot, ResourceRef), AdmittedError> {
    let mut snapshot = ClusterSnapshot::default();
    let subject = insert(&mut snapshot, kind, object, request_namespace)?;
    // CEL controls read objects by GVK: serve the admitted object that way too.
    if let Some(t) = super::admissibility::target(kind) {
        snapshot.serve_typed_as_dynamic(&[crate::view::Gvk::new(t.group, t.version, t.kind)]);
    }
    match namespaces {
        Some(all) => {
            snapshot.namespaces = all
                .iter()
                .filter(|n| n.metadata.name.as_deref() == subject.namespace.as_deref())
                .cloned()
                .collect();
        }
        None => {
            snapshot.unavailable.insert(
                ResourceKind::Namespace,
                "the operator's Namespace watch has not synced yet".into(),
            );
        }
    }
    Ok((snapshot, subject))
}

fn decode<K>(
    object: serde_json::Value,
    request_namespace: Option<&str>,
) -> Result<(Arc<K>, ResourceRef), AdmittedError>
where
    K: Resource<DynamicType = ()> + DeserializeOwned + Project,
{
    let mut o: K = serde_json::from_value(object).map_err(|e| AdmittedError::Malformed {
        kind: kind_name::<K>(),
        reason: e.to_string(),
    })?;
    // Judged in the shape the audit judges it in.
    o.project();
    if o.meta().namespace.is_none() {
        o.meta_mut().namespace = request_namespace.map(str::to_string);
    }
    let r = ResourceRef::of(&o);
    Ok((Arc::new(o), r))
}

fn kind_name<K: Resource<DynamicType = ()>>() -> &'static str {
    // Static kinds of k8s-openapi types are borrowed strings.
    match K::kind(&()) {
        std::borrow::Cow::Borrowed(s) => s,
        std::borrow::Cow::Owned(_) => "object",
    }
}

/// Puts one admitted object into the snapshot field its kind is read from.
fn insert(
    s: &mut ClusterSnapshot,
    kind: ResourceKind,
    object: serde_json::Value,
    ns: Option<&str>,
) -> Result<ResourceRef, AdmittedError> {
    let r = match kind {
        ResourceKind::Deployment => {
            let (o, r) = decode(object, ns)?;
            s.deployments.push(o);
            r
        }
        ResourceKind::StatefulSet => {
            let (o, r) = decode(object, ns)?;
            s.stateful_sets.push(o);
            r
        }
        ResourceKind::DaemonSet => {
            let (o, r) = decode(object, ns)?;
            s.daemon_sets.push(o);
            r
        }
        ResourceKind::CronJob => {
            let (o, r) = decode(object, ns)?;
            s.cron_jobs.push(o);
            r
        }
        ResourceKind::Job => {
            let (o, r) = decode(object, ns)?;
            s.jobs.push(o);
            r
        }
        ResourceKind::Namespace => {
            let (o, r) = decode(object, ns)?;
            s.namespaces.push(o);
            r
        }
        ResourceKind::Node => {
            let (o, r) = decode(object, ns)?;
            s.nodes.push(o);
            r
        }
        ResourceKind::ControlPlanePod => {
            let (o, r) = decode(object, ns)?;
            s.control_plane_pods.push(o);
            r
        }
        ResourceKind::ServiceAccountTokenSecret => {
            let (o, r) = decode::<k8s_openapi::api::core::v1::Secret>(object, ns)?;
            s.service_account_token_secrets
                .push(Arc::new(ClusterSnapshot::redact_secret((*o).clone())));
            r
        }
        ResourceKind::Role => {
            let (o, r) = decode(object, ns)?;
            s.roles.push(o);
            r
        }
        ResourceKind::ClusterRole => {
            let (o, r) = decode(object, ns)?;
            s.cluster_roles.push(o);
            r
        }
        ResourceKind::RoleBinding => {
            let (o, r) = decode(object, ns)?;
            s.role_bindings.push(o);
            r
        }
        ResourceKind::ClusterRoleBinding => {
            let (o, r) = decode(object, ns)?;
            s.cluster_role_bindings.push(o);
            r
        }
        ResourceKind::Pod => {
            let (o, r) = decode(object, ns)?;
            s.pods.push(o);
            r
        }
        ResourceKind::Service => {
            let (o, r) = decode(object, ns)?;
            s.services.push(o);
            r
        }
        ResourceKind::ServiceAccount => {
            let (o, r) = decode(object, ns)?;
            s.service_accounts.push(o);
            r
        }
        ResourceKind::NetworkPolicy => {
            let (o, r) = decode(object, ns)?;
            s.network_policies.push(o);
            r
        }
        ResourceKind::Ingress => {
            let (o, r) = decode(object, ns)?;
            s.ingresses.push(o);
            r
        }
        ResourceKind::PodDisruptionBudget => {
            let (o, r) = decode(object, ns)?;
            s.pod_disruption_budgets.push(o);
            r
        }
        ResourceKind::ControlException => {
            let (o, r) = decode(object, ns)?;
            s.control_exceptions.push(o);
            r
        }
    };
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_object_gets_the_request_namespace_and_its_namespace_object() {
        let ns = |name: &str| {
            Arc::new(Namespace {
                metadata: kube::api::ObjectMeta {
                    name: Some(name.into()),
                    ..Default::default()
                },
                ..Default::default()
            })
        };
        let all = vec![ns("team-a"), ns("team-b")];
        let (s, r) = admission_snapshot(
            ResourceKind::Deployment,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}),
            Some("team-a"),
            Some(&all),
        )
        .unwrap();
        assert_eq!(r.display_name(), "Deployment team-a/web");
        assert_eq!(s.deployments.len(), 1);
        assert_eq!(s.namespaces.len(), 1);
        assert_eq!(s.namespaces[0].metadata.name.as_deref(), Some("team-a"));
        assert!(s.unavailable.is_empty());
    }

    #[test]
    fn an_unsynced_namespace_watch_is_reported_and_a_malformed_object_rejected() {
        let (s, _) = admission_snapshot(
            ResourceKind::Job,
            json!({"metadata": {"name": "j", "namespace": "x"}}),
            None,
            None,
        )
        .unwrap();
        assert!(s.require(ResourceKind::Namespace).is_err());
        let e = admission_snapshot(
            ResourceKind::Deployment,
            json!({"metadata": {"name": 7}}),
            None,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a valid Deployment"), "{e}");
    }
}
