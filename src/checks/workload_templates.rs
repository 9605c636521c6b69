//! The in-scope pod templates the workload checks (pod security, image provenance, service-account hygiene,
//! confidentiality) judge, with `Unknown` reported for workload kinds the view lacks.

use super::CheckReport;
use crate::api::WorkloadKind;
use crate::view::stored::Container;
use crate::view::workloads::{PodTemplate, pod_templates, resource_kind};
use crate::view::{ClusterSnapshot, ResourceRef, ScopeMatcher};

/// The apiVersion of a workload kind.
pub fn api_version(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Deployment | WorkloadKind::StatefulSet | WorkloadKind::DaemonSet => "apps/v1",
        WorkloadKind::CronJob | WorkloadKind::Job => "batch/v1",
        WorkloadKind::Pod => "v1",
    }
}

/// The pod templates of `kinds` that `scope` selects (by the workload's namespace and labels). A kind the view
/// lacks adds one `Unknown` finding to `report` and contributes nothing.
pub fn in_scope<'a>(
    view: &'a ClusterSnapshot,
    scope: &ScopeMatcher,
    kinds: &[WorkloadKind],
    report: &mut CheckReport,
) -> Vec<PodTemplate<'a>> {
    let mut available = Vec::new();
    for kind in kinds {
        let aspect = ResourceRef::aspect(api_version(*kind), &format!("{kind:?}"), "(all)");
        if !report.unknown_if_missing(view, resource_kind(*kind), aspect)
            && !available.contains(kind)
        {
            available.push(*kind);
        }
    }
    pod_templates(view, &available)
        .into_iter()
        .filter(|t| scope.matches(t.meta))
        .collect()
}

/// Init, regular and ephemeral containers (`kubectl debug` adds the latter to running pods), as (container kind
/// word, container). Ephemeral containers hold the fields the checks read of them: name, image, pull policy,
/// securityContext, env and envFrom (see [`crate::view::stored::Container`]).
pub fn all_containers<'a>(template: &PodTemplate<'a>) -> Vec<(&'static str, &'a Container)> {
    let spec = template.spec;
    let mut all: Vec<(&'static str, &'a Container)> = Vec::new();
    for c in spec.init_containers.iter().flatten() {
        all.push(("init container", c));
    }
    for c in &spec.containers {
        all.push(("container", c));
    }
    for e in spec.ephemeral_containers.iter().flatten() {
        all.push(("ephemeral container", e));
    }
    all
}

/// The label of the workload or, failing that, of its pod template.
pub fn label<'a>(template: &PodTemplate<'a>, key: &str) -> Option<&'a str> {
    let own = template.meta.labels.as_ref().and_then(|l| l.get(key));
    let pods = || {
        template
            .template_meta
            .and_then(|m| m.labels.as_ref()?.get(key))
    };
    own.or_else(pods).map(String::as_str)
}

/// `names` joined as `a, b and c`, for messages.
pub fn join_names(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Object builders shared by the workload checks' unit tests.
#[cfg(test)]
pub mod fixtures {
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::Namespace;
    use serde_json::{Value, json};

    use crate::api::Scope;
    use crate::view::stored::{Deployment, Pod};
    use crate::view::{ClusterSnapshot, ScopeMatcher};

    /// A Deployment `ns/name` with the given pod spec, workload labels and annotations.
    pub fn deployment(ns: &str, name: &str, pod_spec: Value, meta_extra: Value) -> Arc<Deployment> {
        let mut metadata =
            json!({"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}")});
        merge(&mut metadata, meta_extra);
        Arc::new(
            serde_json::from_value(json!({
                "metadata": metadata,
                "spec": {"selector": {}, "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}},
            }))
            .expect("deployment fixture"),
        )
    }

    /// A bare Pod `ns/name`.
    pub fn pod(ns: &str, name: &str, pod_spec: Value) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": ns},
                "spec": pod_spec,
            }))
            .expect("pod fixture"),
        )
    }

    /// A Namespace with labels.
    pub fn namespace(name: &str, labels: Value) -> Arc<Namespace> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
                .expect("namespace fixture"),
        )
    }

    /// Merges the keys of `extra` (an object) into `target`.
    pub fn merge(target: &mut Value, extra: Value) {
        if let (Some(t), Value::Object(e)) = (target.as_object_mut(), extra) {
            t.extend(e);
        }
    }

    /// A scope excluding `kube-system`.
    pub fn scope(view: &ClusterSnapshot) -> ScopeMatcher {
        ScopeMatcher::new(
            Some(&Scope {
                exclude_namespaces: Some(vec!["kube-system".into()]),
                ..Default::default()
            }),
            view,
        )
        .expect("scope")
    }
}
