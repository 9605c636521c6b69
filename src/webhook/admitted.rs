//! The admission snapshot: the one object under admission, as the checks see cluster state.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use kube::Resource;
use kube::api::DynamicObject;
use serde::de::DeserializeOwned;

use crate::view::{ClusterSnapshot, Gvk, Project, ResourceKind, ResourceRef, strip_dynamic};

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
    // CEL controls read objects by GVK: serve the admitted object that way too, whole for a kind whose typed store
    // is trimmed (as the live view's watch of that GVK holds it), from the typed object otherwise.
    let gvk = super::admissibility::target(kind).map(|t| Gvk::new(t.group, t.version, t.kind));
    let whole = match &gvk {
        Some(g) if g.trimmed_kind().is_some() => Some(whole_object(&object, request_namespace)),
        _ => None,
    };
    let subject = insert(&mut snapshot, kind, object, request_namespace)?;
    match (gvk, whole) {
        (Some(gvk), Some(whole)) => {
            snapshot.dynamic.insert(gvk, whole.into_iter().collect());
        }
        (Some(gvk), None) => snapshot.serve_typed_as_dynamic(&[gvk]),
        (None, _) => {}
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

/// The admitted object as a whole dynamic object, stripped as the live view strips what it watches by GVK; `None`
/// when it is not one (the typed decoding then reports why).
fn whole_object(
    object: &serde_json::Value,
    request_namespace: Option<&str>,
) -> Option<Arc<DynamicObject>> {
    let mut o: DynamicObject = serde_json::from_value(object.clone()).ok()?;
    strip_dynamic(&mut o);
    if o.metadata.namespace.is_none() {
        o.metadata.namespace = request_namespace.map(str::to_string);
    }
    Some(Arc::new(o))
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
        ResourceKind::AccessReview => {
            let (o, r) = decode(object, ns)?;
            s.access_reviews.push(o);
            r
        }
        ResourceKind::AccessReviewDecision => {
            let (o, r) = decode(object, ns)?;
            s.access_review_decisions.push(o);
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

    #[test]
    fn cel_reads_an_admitted_pod_whole_while_the_checks_read_its_projection() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "web-7d9f-abcde",
                "labels": {"pod-template-hash": "7d9f"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f",
                    "uid": "u", "controller": true}],
                "managedFields": [{"manager": "kube-controller-manager", "operation": "Update",
                    "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
            },
            "spec": {"containers": [{"name": "app", "image": "app:latest"}]},
            "status": {"phase": "Pending"}
        });
        let (s, r) = admission_snapshot(ResourceKind::Pod, pod, Some("team-a"), None).unwrap();
        assert_eq!(r.display_name(), "Pod team-a/web-7d9f-abcde");
        assert_eq!(s.pods[0].spec, None, "judged through its Deployment");
        let whole = s.dynamic(&Gvk::new("", "v1", "Pod")).unwrap();
        assert_eq!(whole.len(), 1);
        assert_eq!(
            whole[0].data["spec"]["containers"][0]["image"],
            "app:latest"
        );
        assert_eq!(whole[0].data["status"]["phase"], "Pending");
        assert_eq!(whole[0].metadata.namespace.as_deref(), Some("team-a"));
        let entries = whole[0].metadata.managed_fields.as_ref().unwrap();
        assert_eq!(
            entries[0].manager.as_deref(),
            Some("kube-controller-manager")
        );
        assert!(
            entries[0].fields_v1.is_none(),
            "reduced as the typed store reduces them"
        );
    }

    #[test]
    fn cel_reads_an_admitted_workload_whole_while_the_checks_read_what_they_keep() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"selector": {}, "strategy": {"type": "Recreate"}, "template": {"spec": {"containers": [
                {"name": "app", "image": "app:1", "livenessProbe": {"periodSeconds": 20}}]}}}});
        let (s, _) =
            admission_snapshot(ResourceKind::Deployment, deployment, Some("team-a"), None).unwrap();
        let kept = s.deployments[0].spec.as_ref().expect("spec");
        assert_eq!(
            kept.template.spec.as_ref().expect("pod spec").containers[0]
                .image
                .as_deref(),
            Some("app:1")
        );
        let served = s.dynamic(&Gvk::new("apps", "v1", "Deployment")).unwrap();
        assert_eq!(served.len(), 1);
        assert_eq!(served[0].data["spec"]["strategy"]["type"], "Recreate");
        assert_eq!(
            served[0].data["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["periodSeconds"],
            20
        );
        assert_eq!(served[0].metadata.namespace.as_deref(), Some("team-a"));
        let annotations = served[0].metadata.annotations.as_ref();
        assert!(
            annotations.is_none_or(|a| a.is_empty()),
            "stripped: {annotations:?}"
        );
    }

    #[test]
    fn cel_reads_other_admitted_kinds_from_the_typed_object() {
        let (s, _) = admission_snapshot(
            ResourceKind::Service,
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}}}),
            Some("team-a"),
            None,
        )
        .unwrap();
        let served = s.dynamic(&Gvk::new("", "v1", "Service")).unwrap();
        assert_eq!(served.len(), 1);
        let annotations = served[0].metadata.annotations.as_ref();
        assert!(
            annotations.is_none_or(|a| a.is_empty()),
            "projected: {annotations:?}"
        );
    }
}
