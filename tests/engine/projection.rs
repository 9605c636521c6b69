//! What the stores keep of an object ([`Project`]) changes no verdict: every control of the shipped library, the
//! example CEL controls and change approval over every workload kind and Pods give the same evaluation (findings,
//! counts, verdict and digest) over a synthetic cluster as the API server lists it (managedFields with their field
//! trees, kubectl's last-applied copy on every object) and over the same cluster projected. Workloads and Pods are
//! held in the compact types of `view::stored` either way; CEL controls that read them (their probes, their
//! status: fields those types do not keep) read them whole, as watches of their own serve them.
//!
//! One difference is wanted: CEL's cost estimate counts the whole object, so kubectl's last-applied copy (a
//! second object as a string) pushed rules over the cost limit and left kubectl-applied objects Unknown. Projected,
//! a CEL control judges an object the same whether kubectl's client-side apply wrote it or not.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use serde::Serialize;
use serde_json::json;
use soc2_operator::api::Control;
use soc2_operator::engine::evaluate::{evaluate, required_kinds};
use soc2_operator::engine::validation::validate;
use soc2_operator::view::projection::LAST_APPLIED;
use soc2_operator::view::{ClusterSnapshot, Project};

use crate::library;
use crate::synthetic;

/// Gives every object what kubectl's client-side apply leaves: the last-applied copy.
fn applied_by_kubectl<K: Resource + Serialize + Clone>(objects: &mut [Arc<K>]) {
    for o in objects.iter_mut() {
        let copy = serde_json::to_string(o.as_ref()).expect("serializes");
        Arc::make_mut(o)
            .meta_mut()
            .annotations
            .get_or_insert_with(Default::default)
            .insert(LAST_APPLIED.to_string(), copy);
    }
}

/// Gives two objects in three, where they have none, a managedFields list as the API server writes it (the
/// writer at a time, with its field tree).
fn managed<K: Resource + Clone>(objects: &mut [Arc<K>], at: u64) {
    for (i, o) in objects.iter_mut().enumerate() {
        let meta = Arc::make_mut(o).meta_mut();
        if meta.managed_fields.is_none() && i % 3 != 0 {
            let manager = if i % 2 == 0 {
                "kubectl-client-side-apply"
            } else {
                "argocd-controller"
            };
            let time = format!(
                "2026-05-{:02}T10:{:02}:00Z",
                1 + (at + i as u64) % 28,
                i % 60
            );
            meta.managed_fields = Some(vec![ManagedFieldsEntry {
                manager: Some(manager.into()),
                operation: Some("Update".into()),
                api_version: Some("v1".into()),
                fields_type: Some("FieldsV1".into()),
                fields_v1: Some(FieldsV1(
                    json!({ "f:metadata": { "f:labels": { ".": {} } }, "f:spec": {} }),
                )),
                time: Some(Time(time.parse().expect("time"))),
                subresource: None,
            }]);
        }
    }
}

fn projected<K: Project + Clone>(objects: &mut [Arc<K>]) {
    for o in objects {
        Arc::make_mut(o).project();
    }
}

macro_rules! every_kind {
    ($snapshot:expr, $f:ident $(, $arg:expr)?) => {{
        let s = &mut $snapshot;
        $f(&mut s.namespaces $(, $arg)?);
        $f(&mut s.nodes $(, $arg)?);
        $f(&mut s.control_plane_pods $(, $arg)?);
        $f(&mut s.service_account_token_secrets $(, $arg)?);
        $f(&mut s.roles $(, $arg)?);
        $f(&mut s.cluster_roles $(, $arg)?);
        $f(&mut s.role_bindings $(, $arg)?);
        $f(&mut s.cluster_role_bindings $(, $arg)?);
        $f(&mut s.deployments $(, $arg)?);
        $f(&mut s.stateful_sets $(, $arg)?);
        $f(&mut s.daemon_sets $(, $arg)?);
        $f(&mut s.cron_jobs $(, $arg)?);
        $f(&mut s.jobs $(, $arg)?);
        $f(&mut s.pods $(, $arg)?);
        $f(&mut s.services $(, $arg)?);
        $f(&mut s.service_accounts $(, $arg)?);
        $f(&mut s.network_policies $(, $arg)?);
        $f(&mut s.ingresses $(, $arg)?);
        $f(&mut s.pod_disruption_budgets $(, $arg)?);
        $f(&mut s.control_exceptions $(, $arg)?);
    }};
}

fn controls() -> Vec<Control> {
    let mut controls = library::controls_in("config/controls");
    controls.extend(library::controls_in("examples/controls"));
    controls.push(
        serde_yaml::from_str(
            "apiVersion: soc2.dev/v1alpha1\nkind: Control\nmetadata: {name: change-approval-everywhere}\n\
             spec:\n  criteria: [CC8.1]\n  category: Security\n  title: every workload and Pod\n  owner: test\n\
             \x20 check:\n    changeApproval:\n      kinds: [Deployment, StatefulSet, DaemonSet, CronJob, Job, Pod]\n\
             \x20     gitopsManagers: [argocd-controller]\n",
        )
        .expect("control"),
    );
    // Pods and workloads read whole: their typed stores drop what no check reads (a workload's pods' spec, every
    // Pod's status, a container's probes beyond whether it has a readiness probe, ...).
    controls.push(
        serde_yaml::from_str(include_str!("../support/running-pods-pinned.yaml")).expect("control"),
    );
    controls.push(
        serde_yaml::from_str(include_str!("../support/workloads-whole.yaml")).expect("control"),
    );
    controls
}

#[test]
fn the_projected_cluster_gets_the_same_evaluation_as_the_listed_one() {
    let now: Timestamp = "2026-06-01T00:00:00Z".parse().expect("timestamp");
    let mut server_side: ClusterSnapshot = synthetic::cluster(2_000, 0x9a0e);
    // Workloads and Pods as a watch of their own serves them to controls that read them by GVK: whole, stripped as
    // dynamic objects are.
    let whole = synthetic::whole_objects(2_000, 0x9a0e);
    assert_eq!(
        whole.values().map(Vec::len).sum::<usize>(),
        server_side.deployments.len()
            + server_side.stateful_sets.len()
            + server_side.daemon_sets.len()
            + server_side.cron_jobs.len()
            + server_side.jobs.len()
            + server_side.pods.len()
            + server_side.control_plane_pods.len()
    );
    every_kind!(server_side, managed, 7);
    let mut listed = server_side.clone();
    every_kind!(listed, applied_by_kubectl);
    let mut kept = listed.clone();
    every_kind!(kept, projected);
    assert!(
        kept.pods.iter().filter(|p| p.spec.is_none()).count() > kept.pods.len() / 2,
        "most pods are run by workloads and lose their spec"
    );
    let kept_json = serde_json::to_string(&kept.deployments).expect("json");
    assert!(
        !kept_json.contains(LAST_APPLIED) && !kept_json.contains("fieldsV1"),
        "the projection left the last-applied copy or a field tree"
    );
    assert!(
        kept_json.contains("\"manager\":\"argocd-controller\""),
        "managers stay"
    );

    let controls = controls();
    assert!(controls.len() >= 28, "{} controls", controls.len());
    let mut failing = 0;
    for control in &controls {
        let name = control.metadata.name.clone().expect("named");
        let v = validate(&control.spec).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        // CEL and requiredResources read typed kinds by group/version/kind, as the live view serves them.
        let gvks = required_kinds(&v).gvks;
        for s in [&mut server_side, &mut listed, &mut kept] {
            s.serve_typed_as_dynamic(&gvks);
            for gvk in gvks.iter().filter(|g| g.trimmed_kind().is_some()) {
                s.dynamic
                    .insert(gvk.clone(), whole.get(gvk).cloned().unwrap_or_default());
            }
        }
        let after = evaluate(&name, &v, &kept, now).expect("evaluates");
        failing += usize::from(after.summary.failed > 0);
        let before = evaluate(&name, &v, &server_side, now).expect("evaluates");
        assert_eq!(
            before, after,
            "{name}: the projection changed the evaluation"
        );
        if after.check == "cel" {
            assert!(
                after
                    .findings
                    .iter()
                    .all(|f| f.rule != "cel-evaluation-error"),
                "{name}: a CEL rule failed on the projected cluster: {:?}",
                after
                    .findings
                    .iter()
                    .find(|f| f.rule == "cel-evaluation-error")
            );
        } else {
            let before = evaluate(&name, &v, &listed, now).expect("evaluates");
            assert_eq!(
                before, after,
                "{name}: the projection changed the evaluation of kubectl-applied objects"
            );
        }
    }
    // Not a comparison of empty results: most controls find something in the synthetic cluster, CEL on Pods
    // included.
    for name in ["running-pods-pinned", "workloads-probed"] {
        let control = controls
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name));
        let v = validate(&control.expect("control").spec).expect("valid");
        let whole = evaluate(name, &v, &kept, now).expect("evaluates");
        assert!(
            whole.summary.failed > 0 && whole.summary.passed > 0,
            "{name}: {:?}",
            whole.summary
        );
    }
    assert!(
        failing >= 20,
        "only {failing} controls fail the synthetic cluster"
    );
}
