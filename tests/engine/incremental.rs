//! Incremental evaluation equals full evaluation: every control of the shipped library, over a synthetic cluster,
//! after each of a few hundred random changes (updates that take another object's spec, labels or annotations;
//! additions; deletions; resyncs that only replace the object; changes to namespaces, PodDisruptionBudgets,
//! ServiceAccounts, NetworkPolicies, token Secrets, roles and exceptions), gives the same findings, counts, verdict
//! and digest both ways. And the incremental path is really taken: a change to one object a control judges one by
//! one, or to one object of its namespace-local context, is applied as such, never as a full re-evaluation; and a
//! change to an exception for another control leaves a control alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use soc2_operator::api::{Control, ControlException};
use soc2_operator::engine::evaluate::{evaluate, namespace_local_context, subject_kinds};
use soc2_operator::engine::incremental::{IncrementalEvaluator, Path};
use soc2_operator::engine::validation::validate;
use soc2_operator::view::{ClusterSnapshot, Gvk, ResourceKind};

use crate::library;
use crate::synthetic;

use synthetic::Rng;

fn library() -> Vec<Control> {
    library::controls_in("config/controls")
}

fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().expect("timestamp")
}

/// What one random change did, for the failure message.
#[derive(Debug, Clone)]
struct Change {
    kind: ResourceKind,
    what: String,
    single: bool,
}

/// Applies one random change to the objects of one kind (as JSON, so that any kind works alike).
fn change<K: Serialize + DeserializeOwned>(
    objects: &mut Vec<Arc<K>>,
    rng: &mut Rng,
    serial: u64,
) -> Option<(&'static str, bool)> {
    if objects.is_empty() {
        return None;
    }
    let i = rng.below(objects.len());
    let j = rng.below(objects.len());
    let mut target = serde_json::to_value(objects[i].as_ref()).expect("serializes");
    let donor = serde_json::to_value(objects[j].as_ref()).expect("serializes");
    let version = json!(format!("rv-{serial}"));
    let what = match rng.below(8) {
        0 => {
            objects.swap_remove(i);
            return Some(("delete", true));
        }
        1 => {
            let mut copy = donor;
            copy["metadata"]["name"] = json!(format!("copy-{serial}"));
            copy["metadata"]["uid"] = json!(format!("uid-copy-{serial}"));
            copy["metadata"]["resourceVersion"] = version;
            objects.push(Arc::new(serde_json::from_value(copy).expect("copy")));
            return Some(("add", true));
        }
        2 => "resync",
        3 => {
            for field in ["spec", "status", "rules", "subjects", "roleRef", "data"] {
                if let Some(v) = donor.get(field) {
                    target[field] = v.clone();
                }
            }
            "take another object's spec"
        }
        4 => {
            target["metadata"]["labels"] = donor["metadata"]["labels"].clone();
            "take another object's labels"
        }
        5 => {
            target["metadata"]["annotations"] = donor["metadata"]["annotations"].clone();
            "take another object's annotations"
        }
        6 => {
            let waived = serial.is_multiple_of(2);
            target["metadata"]["labels"][WAIVED] = json!(waived.to_string());
            if waived {
                "label the object as waived"
            } else {
                "label the object as not waived"
            }
        }
        _ => {
            let path = [
                "/spec/template/spec/containers",
                "/spec/jobTemplate/spec/template/spec/containers",
                "/spec/containers",
            ]
            .into_iter()
            .find(|p| target.pointer(p).is_some());
            if let Some(c) = path
                .and_then(|p| target.pointer_mut(p))
                .and_then(Value::as_array_mut)
                .and_then(|c| c.first_mut())
            {
                c["image"] = json!(format!("ghcr.io/acme/app:{serial}"));
                c["securityContext"] = json!({"privileged": serial.is_multiple_of(2)});
            }
            "change the first container"
        }
    };
    target["metadata"]["resourceVersion"] = version;
    objects[i] = Arc::new(serde_json::from_value(target).expect("changed object"));
    Some((what, true))
}

fn change_kind(
    view: &mut ClusterSnapshot,
    kind: ResourceKind,
    rng: &mut Rng,
    serial: u64,
) -> Option<(&'static str, bool)> {
    match kind {
        ResourceKind::Deployment => change(&mut view.deployments, rng, serial),
        ResourceKind::StatefulSet => change(&mut view.stateful_sets, rng, serial),
        ResourceKind::DaemonSet => change(&mut view.daemon_sets, rng, serial),
        ResourceKind::CronJob => change(&mut view.cron_jobs, rng, serial),
        ResourceKind::Job => change(&mut view.jobs, rng, serial),
        ResourceKind::Pod => change(&mut view.pods, rng, serial),
        ResourceKind::Service => change(&mut view.services, rng, serial),
        ResourceKind::Ingress => change(&mut view.ingresses, rng, serial),
        ResourceKind::RoleBinding => change(&mut view.role_bindings, rng, serial),
        ResourceKind::ClusterRoleBinding => change(&mut view.cluster_role_bindings, rng, serial),
        ResourceKind::Namespace => change(&mut view.namespaces, rng, serial),
        ResourceKind::PodDisruptionBudget => change(&mut view.pod_disruption_budgets, rng, serial),
        ResourceKind::ServiceAccount => change(&mut view.service_accounts, rng, serial),
        ResourceKind::NetworkPolicy => change(&mut view.network_policies, rng, serial),
        ResourceKind::ClusterRole => change(&mut view.cluster_roles, rng, serial),
        ResourceKind::Role => change(&mut view.roles, rng, serial),
        ResourceKind::ServiceAccountTokenSecret => {
            change(&mut view.service_account_token_secrets, rng, serial)
        }
        _ => None,
    }
}

/// The label the test's selector exceptions waive.
const WAIVED: &str = "example.com/soc2-waived";

/// Exceptions by selector (on [`WAIVED`]) and by name, so that the incremental path applies them to changed
/// objects; they expire on 2026-09-01.
fn exceptions() -> Vec<Arc<ControlException>> {
    let exception = |name: &str, control: &str, spec: Value| -> Arc<ControlException> {
        let mut spec_full = json!({
            "control": control,
            "justification": "legacy images are rebuilt in Q3, tracked by the platform team",
            "approvedBy": "ciso@example.com",
            "ticket": "SEC-42",
            "expiresAt": "2026-09-01T00:00:00Z",
        });
        for (k, v) in spec.as_object().expect("object") {
            spec_full[k] = v.clone();
        }
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "soc2.dev/v1alpha1",
                "kind": "ControlException",
                "metadata": {"name": name, "namespace": "soc2-system", "uid": format!("uid-{name}"),
                             "creationTimestamp": "2026-05-01T00:00:00Z"},
                "spec": spec_full,
            }))
            .expect("exception"),
        )
    };
    let mut all: Vec<Arc<ControlException>> = [
        "image-digest-pinning",
        "image-tag-and-pull-policy",
        "pod-security-restricted",
        "secrets-in-environment",
        "change-approval",
        "workload-redundancy",
        "service-account-token-automount",
        "host-network-approval",
        "ingress-tls",
        "mfa-backed-privileged-access",
    ]
    .iter()
    .map(|control| {
        exception(
            &format!("waived-{control}"),
            control,
            json!({"selector": {"matchLabels": {WAIVED: "true"}}}),
        )
    })
    .collect();
    all.push(exception(
        "privileged-agent",
        "pod-security-restricted",
        json!({"resources": [{"kind": "DaemonSet", "name": "node-agent-0"}]}),
    ));
    all
}

fn cluster_admin_binding(name: &str) -> Arc<ClusterRoleBinding> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "uid": format!("uid-{name}"), "resourceVersion": "1"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "User", "name": format!("{name}@example.com"),
                          "apiGroup": "rbac.authorization.k8s.io"}],
        }))
        .expect("binding"),
    )
}

#[test]
fn incremental_evaluation_equals_full_evaluation_after_random_changes() {
    let controls = library();
    let validated: Vec<_> = controls
        .iter()
        .map(|c| validate(&c.spec).expect("valid library control"))
        .collect();
    let names: Vec<String> = controls
        .iter()
        .map(|c| c.metadata.name.clone().expect("named"))
        .collect();
    let mut view = synthetic::cluster(1_500, 0x1c4e);
    view.control_exceptions = exceptions();
    let mut evaluators: Vec<IncrementalEvaluator> = controls
        .iter()
        .map(|_| IncrementalEvaluator::default())
        .collect();
    let subjects: Vec<Vec<ResourceKind>> = validated.iter().map(subject_kinds).collect();
    let local_context: Vec<Vec<ResourceKind>> =
        validated.iter().map(namespace_local_context).collect();
    // Mostly kinds controls judge one by one; now and then context that forces a full evaluation.
    let kinds = [
        ResourceKind::Deployment,
        ResourceKind::StatefulSet,
        ResourceKind::DaemonSet,
        ResourceKind::CronJob,
        ResourceKind::Job,
        ResourceKind::Pod,
        ResourceKind::Service,
        ResourceKind::Ingress,
        ResourceKind::RoleBinding,
        ResourceKind::ClusterRoleBinding,
        ResourceKind::Deployment,
        ResourceKind::Pod,
        ResourceKind::Namespace,
        ResourceKind::PodDisruptionBudget,
        ResourceKind::ServiceAccount,
        ResourceKind::NetworkPolicy,
        ResourceKind::ClusterRole,
        ResourceKind::Role,
        ResourceKind::Namespace,
        ResourceKind::ServiceAccountTokenSecret,
    ];
    let mut rng = Rng::new(0xdecaf);
    let mut paths: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    // Per control, how often a change to its namespace-local context was applied incrementally.
    let mut local_paths: BTreeMap<&str, usize> = BTreeMap::new();
    let mut excepted = 0;
    let mut previous: Option<Change> = None;
    for round in 0..240u64 {
        // The clock moves on: schedules fall due, runs become late.
        let at = now()
            .checked_add(k8s_openapi::jiff::SignedDuration::from_mins(
                7 * round as i64,
            ))
            .expect("time");
        for (i, c) in validated.iter().enumerate() {
            let (incremental, path) = evaluators[i]
                .evaluate(&names[i], c, &view, at)
                .expect("evaluates");
            let full = evaluate(&names[i], c, &view, at).expect("evaluates");
            assert_eq!(
                incremental, full,
                "{} after round {round} ({previous:?}), path {path:?}",
                names[i]
            );
            excepted += full.summary.excepted;
            // An exception for another control changed: not this control's context.
            if let Some(p) = &previous
                && p.kind == ResourceKind::ControlException
                && !subjects[i].is_empty()
                && p.what != names[i]
            {
                assert!(
                    !matches!(path, Path::Full(reason) if reason.contains("exception")),
                    "{} after an exception for {} changed took {path:?}",
                    names[i],
                    p.what
                );
            }
            let counts = paths.entry(names[i].as_str()).or_default();
            if let (Some(p), Path::Incremental(_)) = (&previous, &path)
                && p.single
                && local_context[i].contains(&p.kind)
            {
                *local_paths.entry(names[i].as_str()).or_default() += 1;
            }
            match path {
                Path::Incremental(_) => counts.0 += 1,
                Path::Full(_) => counts.1 += 1,
                Path::Unchanged => {}
            }
            // One judged object, or one object of namespace-local context, changed and nothing else: applied
            // incrementally, never whole (unless time or a namespace's many objects call for it).
            if let Some(p) = &previous
                && p.single
                && round > 0
                && (subjects[i].contains(&p.kind) || local_context[i].contains(&p.kind))
            {
                assert!(
                    matches!(
                        path,
                        Path::Incremental(_)
                            | Path::Full("a finding that depends on time may have changed")
                            | Path::Full("many judged objects changed")
                    ),
                    "{} after round {round} ({} of a {:?}) took {path:?}",
                    names[i],
                    p.what,
                    p.kind
                );
            }
        }
        let context_changed = round == 100 || round == 140;
        // For a while, context cannot be read: PodDisruptionBudgets (forbidden) and the Gateway API (not installed).
        let gateway = Gvk::new("gateway.networking.k8s.io", "v1", "Gateway");
        if round == 100 {
            view.unavailable
                .insert(ResourceKind::PodDisruptionBudget, "forbidden".into());
            view.dynamic_unavailable
                .insert(gateway, "the CRD is not installed".into());
        } else if round == 140 {
            view.unavailable.remove(&ResourceKind::PodDisruptionBudget);
            view.dynamic_unavailable.remove(&gateway);
        }
        // Now and then a CronJob runs: on time again, until its next run is due.
        if round % 11 == 3 && !view.cron_jobs.is_empty() {
            let i = rng.below(view.cron_jobs.len());
            let mut c = serde_json::to_value(view.cron_jobs[i].as_ref()).expect("serializes");
            c["status"]["lastScheduleTime"] = json!(at.to_string());
            c["metadata"]["resourceVersion"] = json!(format!("rv-run-{round}"));
            view.cron_jobs[i] = Arc::new(serde_json::from_value(c).expect("cron job"));
            previous = Some(Change {
                kind: ResourceKind::CronJob,
                what: "a CronJob ran".into(),
                single: !context_changed,
            });
            continue;
        }
        // Now and then a new cluster-admin binding, so that the count of them (judged over all bindings together)
        // changes with one binding.
        if round % 37 == 5 {
            view.cluster_role_bindings
                .push(cluster_admin_binding(&format!("break-glass-{round}")));
            previous = Some(Change {
                kind: ResourceKind::ClusterRoleBinding,
                what: "add a cluster-admin binding".into(),
                single: !context_changed,
            });
            continue;
        }
        // Now and then an exception is written again (a new version, same content).
        if round % 29 == 13 {
            let i = rng.below(view.control_exceptions.len());
            let again = Arc::new((*view.control_exceptions[i]).clone());
            let control = again.spec.control.clone();
            view.control_exceptions[i] = again;
            previous = Some(Change {
                kind: ResourceKind::ControlException,
                what: control,
                single: false,
            });
            continue;
        }
        let kind = kinds[rng.below(kinds.len())];
        previous = change_kind(&mut view, kind, &mut rng, round).map(|(what, single)| Change {
            kind,
            what: what.into(),
            single: single && !context_changed,
        });
    }
    // Exceptions change too: one expires (the clock moves past it), one is deleted.
    for (i, c) in validated.iter().enumerate() {
        let later: Timestamp = "2026-10-01T00:00:00Z".parse().expect("timestamp");
        let (incremental, _) = evaluators[i]
            .evaluate(&names[i], c, &view, later)
            .expect("evaluates");
        assert_eq!(
            incremental,
            evaluate(&names[i], c, &view, later).expect("evaluates")
        );
    }
    view.control_exceptions.pop();
    for (i, c) in validated.iter().enumerate() {
        let (incremental, _) = evaluators[i]
            .evaluate(&names[i], c, &view, now())
            .expect("evaluates");
        assert_eq!(
            incremental,
            evaluate(&names[i], c, &view, now()).expect("evaluates")
        );
    }
    assert!(excepted > 0, "the exceptions waived something");
    eprintln!("namespace-local context changes applied incrementally: {local_paths:?}");
    // Every control with namespace-local context applied a change to it incrementally at least once.
    for (i, name) in names.iter().enumerate() {
        if !local_context[i].is_empty() {
            assert!(
                local_paths.get(name.as_str()).copied().unwrap_or(0) > 0,
                "{name}: {local_paths:?}"
            );
        }
    }
    // Every control judged one by one took the incremental path at least once.
    for (i, name) in names.iter().enumerate() {
        if !subjects[i].is_empty() {
            assert!(
                paths[name.as_str()].0 > 0,
                "{name}: {:?}",
                paths[name.as_str()]
            );
        }
    }
}

#[test]
fn an_unchanged_view_is_not_evaluated_again_and_a_spec_change_is() {
    let controls = library();
    let control = controls
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("image-digest-pinning"))
        .expect("image-digest-pinning");
    let v = validate(&control.spec).expect("valid");
    let view = synthetic::cluster(1_000, 7);
    let mut evaluator = IncrementalEvaluator::default();
    let (first, path) = evaluator
        .evaluate("image-digest-pinning", &v, &view, now())
        .expect("evaluates");
    assert_eq!(path, Path::Full("first evaluation"));
    let (second, path) = evaluator
        .evaluate("image-digest-pinning", &v, &view, now())
        .expect("evaluates");
    assert_eq!(path, Path::Unchanged);
    assert_eq!(first, second);

    let mut spec = control.spec.clone();
    spec.title = "Images are pinned by digest (renamed)".into();
    let changed = validate(&spec).expect("valid");
    let (_, path) = evaluator
        .evaluate("image-digest-pinning", &changed, &view, now())
        .expect("evaluates");
    assert_eq!(path, Path::Full("the control changed"));
    // The same state under another name is not reused either.
    let (_, path) = evaluator
        .evaluate("renamed", &changed, &view, now())
        .expect("evaluates");
    assert_eq!(path, Path::Full("the control changed"));

    let mut unreadable = view.clone();
    unreadable
        .unavailable
        .insert(ResourceKind::Pod, "forbidden".into());
    let (e, path) = evaluator
        .evaluate("renamed", &changed, &unreadable, now())
        .expect("evaluates");
    assert_eq!(path, Path::Full("a kind the control judges is unavailable"));
    assert_eq!(
        e,
        evaluate("renamed", &changed, &unreadable, now()).expect("evaluates")
    );
}

/// Counts the heap bytes live on each thread, so that a test can weigh what it builds while other tests run.
mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct PerThread;

    thread_local! {
        static LIVE: Cell<isize> = const { Cell::new(0) };
    }

    fn count(bytes: isize) {
        // During a thread's teardown the counter may be gone; those bytes are no test's.
        let _ = LIVE.try_with(|live| live.set(live.get() + bytes));
    }

    /// Bytes allocated and not freed by this thread so far.
    pub fn live() -> isize {
        LIVE.with(Cell::get)
    }

    // SAFETY: every call is forwarded unchanged to `System`; only a thread-local counter is updated besides.
    unsafe impl GlobalAlloc for PerThread {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: same contract as the caller's.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                count(layout.size() as isize);
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as the caller's.
            unsafe { System.dealloc(ptr, layout) };
            count(-(layout.size() as isize));
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: same contract as the caller's.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                count(new_size as isize - layout.size() as isize);
            }
            p
        }
    }
}

#[global_allocator]
static HEAP: heap::PerThread = heap::PerThread;

/// The findings index keeps the findings and their grouping, not the buffers they were collected in: at 100k
/// objects the groups once held a third of the operator's heap in spare capacity (the `Vec<Finding>` each group
/// was built from, reused in place behind its eight-byte pointers).
#[test]
fn a_findings_index_weighs_little_more_than_its_findings() {
    use soc2_operator::checks::Finding;
    use soc2_operator::engine::finding_index::FindingIndex;
    use soc2_operator::view::ResourceRef;

    let before = heap::live();
    let mut findings = Vec::with_capacity(6_000);
    for i in 0..3_000 {
        let resource = ResourceRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some(format!("team-{:05}", i / 3)),
            name: format!("web-{i}"),
            uid: Some(format!("00000000-0000-4000-8000-{i:012}")),
        };
        for rule in ["privileged-container", "image-not-pinned-by-digest"] {
            findings.push(Finding::fail(
                resource.clone(),
                rule,
                format!("container app of Deployment team-{:05}/web-{i} breaks {rule}; change the manifest and apply it again", i / 3),
            ));
        }
    }
    let input = heap::live() - before;
    let index = FindingIndex::new(findings);
    let held = heap::live() - before;
    assert_eq!(index.len(), 6_000);
    // Each finding moves in with its strings and gains a reference count and a pointer; each resource a key and
    // an identity. Spare capacity of a few hundred bytes per group would push this past 2.
    let ratio = held as f64 / input as f64;
    assert!(
        ratio < 1.8,
        "the index holds {held} bytes for findings that took {input} ({ratio:.2}x)"
    );
    drop(index);
}
