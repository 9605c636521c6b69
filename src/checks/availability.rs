//! Availability (A1.2): replicated workloads survive the loss of a pod or a node drain, and the scheduler and load
//! balancers know what they need.
//!
//! Per Deployment or StatefulSet: `replicas >= minReplicas`; exactly one PodDisruptionBudget in its namespace
//! selects its pods and still allows an eviction (a budget that allows none blocks node drains and upgrades);
//! every regular container has a readiness probe; every container has CPU and memory requests. A workload scaled
//! to 0 on purpose runs nothing and is reported as a Notice; it is judged in full once scaled up.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::core::{Selector, SelectorExt};

use super::{Admissibility, Check, CheckReport, Finding};
use crate::api::{AvailabilityCheck, CheckKind, ReplicatedWorkloadKind};
use crate::engine::validation::SpecError;
use crate::view::scope_matcher::compile_selector;
use crate::view::stored::{Container, PodTemplateSpec};
use crate::view::workloads::template_labels;
use crate::view::{ClusterSnapshot, Reads, ResourceKind, ResourceRef, ScopeMatcher};

/// The snapshot kind that holds a workload kind.
pub fn resource_kind(kind: ReplicatedWorkloadKind) -> ResourceKind {
    match kind {
        ReplicatedWorkloadKind::Deployment => ResourceKind::Deployment,
        ReplicatedWorkloadKind::StatefulSet => ResourceKind::StatefulSet,
    }
}

/// One workload as the check reads it.
struct Workload<'a> {
    /// `Deployment` or `StatefulSet`.
    kind: &'static str,
    meta: &'a ObjectMeta,
    replicas: Option<i32>,
    template: Option<&'a PodTemplateSpec>,
}

fn workloads(view: &ClusterSnapshot, kind: ReplicatedWorkloadKind) -> Vec<Workload<'_>> {
    match kind {
        ReplicatedWorkloadKind::Deployment => view
            .deployments
            .iter()
            .map(|d| Workload {
                kind: "Deployment",
                meta: &d.metadata,
                replicas: d.spec.as_ref().map(|s| s.replicas.unwrap_or(1)),
                template: d.spec.as_ref().map(|s| &s.template),
            })
            .collect(),
        ReplicatedWorkloadKind::StatefulSet => view
            .stateful_sets
            .iter()
            .map(|d| Workload {
                kind: "StatefulSet",
                meta: &d.metadata,
                replicas: d.spec.as_ref().map(|s| s.replicas.unwrap_or(1)),
                template: d.spec.as_ref().map(|s| &s.template),
            })
            .collect(),
    }
}

impl Workload<'_> {
    /// The workload a finding is about; built on demand, as most workloads pass.
    fn resource(&self) -> ResourceRef {
        ResourceRef {
            api_version: "apps/v1".to_string(),
            kind: self.kind.to_string(),
            namespace: self.meta.namespace.clone(),
            name: self.meta.name.clone().unwrap_or_default(),
            uid: self.meta.uid.clone(),
        }
    }
}

/// The kinds the check judges, each object on its own: the replicated workload kinds it is configured for.
pub fn judged_kinds(params: &AvailabilityCheck) -> Vec<ResourceKind> {
    params
        .effective_kinds()
        .into_iter()
        .map(resource_kind)
        .collect()
}

/// The availability check (`spec.check.availability`).
pub struct Availability;

impl Check for Availability {
    const KIND: CheckKind = CheckKind::Availability;
    type Params = AvailabilityCheck;

    fn params(check: &crate::api::Check) -> Option<&AvailabilityCheck> {
        check.availability.as_ref()
    }

    fn validate(params: &AvailabilityCheck) -> Result<(), SpecError> {
        if let Some(n) = params.min_replicas
            && n < 1
        {
            return Err(SpecError::InvalidParameter {
                field: "spec.check.availability.minReplicas".into(),
                reason: format!(
                    "{n} is below 1; use 1 to skip the redundancy requirement, or 2 and more"
                ),
            });
        }
        Ok(())
    }

    fn reads(params: &AvailabilityCheck) -> Reads {
        let mut kinds = judged_kinds(params);
        if params.effective_require_pod_disruption_budget() {
            kinds.push(ResourceKind::PodDisruptionBudget);
        }
        Reads::kinds(&kinds)
    }

    fn subject_kinds(params: &AvailabilityCheck) -> Vec<ResourceKind> {
        judged_kinds(params)
    }

    fn namespace_local_context(_: &AvailabilityCheck) -> Vec<ResourceKind> {
        vec![ResourceKind::Namespace, ResourceKind::PodDisruptionBudget]
    }

    fn admissibility(_: &AvailabilityCheck) -> Admissibility {
        Admissibility::AuditOnly(
            "the availability check needs the workload's PodDisruptionBudget, so one object at admission cannot decide it",
        )
    }

    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &AvailabilityCheck,
        _: Timestamp,
    ) -> CheckReport {
        check(view, scope, params)
    }
}

/// Runs the check.
pub fn check(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &AvailabilityCheck,
) -> CheckReport {
    let mut report = CheckReport::default();
    let mut judged = Vec::new();
    for kind in params.effective_kinds() {
        let aspect = ResourceRef::aspect("apps/v1", &format!("{kind:?}"), "(all)");
        if report.unknown_if_missing(view, resource_kind(kind), aspect) {
            continue;
        }
        judged.extend(
            workloads(view, kind)
                .into_iter()
                .filter(|w| scope.matches(w.meta)),
        );
    }
    let pdbs = params.effective_require_pod_disruption_budget().then(|| {
        view.require(ResourceKind::PodDisruptionBudget)
            .map(|()| budgets(view, &judged))
    });
    for w in &judged {
        report.evaluated += 1;
        judge(w, params, pdbs.as_ref(), &mut report.findings);
    }
    report
}

fn judge(
    w: &Workload<'_>,
    params: &AvailabilityCheck,
    pdbs: Option<&Result<Budgets<'_>, String>>,
    findings: &mut Vec<Finding>,
) {
    let (Some(replicas), Some(template)) = (w.replicas, w.template) else {
        findings.push(Finding::unknown(
            w.resource(),
            "spec-missing",
            format!(
                "{} has no spec, so its replicas and pod template cannot be judged.",
                w.kind
            ),
        ));
        return;
    };
    if replicas == 0 {
        findings.push(Finding::notice(
            w.resource(),
            "scaled-to-zero",
            format!(
                "{} is scaled to 0 replicas and runs no pods, so it serves nothing that could become unavailable. It \
                 is judged in full (replicas, PodDisruptionBudget, probes, requests) once scaled up.",
                w.kind
            ),
        ));
        return;
    }
    let min = params.effective_min_replicas();
    if replicas < min {
        findings.push(Finding::fail(
            w.resource(),
            "insufficient-replicas",
            format!(
                "{} runs {replicas} replica{}, fewer than the required {min}, so the loss of one pod or node makes it \
                 unavailable. Set spec.replicas to at least {min}.",
                w.kind,
                if replicas == 1 { "" } else { "s" }
            ),
        ));
    }
    match pdbs {
        None => {}
        Some(Err(reason)) => findings.push(Finding::unknown(
            w.resource(),
            "pdb-data-unavailable",
            format!(
                "poddisruptionbudgets could not be read ({reason}), so the workload's disruption budget cannot be \
                 judged."
            ),
        )),
        Some(Ok(budgets)) => findings.extend(judge_budget(budgets, w, template, replicas)),
    }
    let spec = template.spec.as_ref();
    if params.effective_require_readiness_probe() {
        let missing: Vec<&str> = spec
            .map(|s| s.containers.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|c| !c.has_readiness_probe)
            .map(|c| c.name.as_str())
            .collect();
        if !missing.is_empty() {
            findings.push(Finding::fail(
                w.resource(),
                "missing-readiness-probe",
                format!(
                    "container{} {} ha{} no readiness probe, so traffic is sent to pods before they can serve it and \
                     rollouts cannot tell a broken version from a working one. Add a readinessProbe.",
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(", "),
                    if missing.len() == 1 { "s" } else { "ve" }
                ),
            ));
        }
    }
    if params.effective_require_resource_requests() {
        let all = spec
            .map(|s| {
                s.init_containers
                    .iter()
                    .flatten()
                    .map(|c| ("init container", c))
                    .chain(s.containers.iter().map(|c| ("container", c)))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let missing: Vec<String> = all
            .iter()
            .filter_map(|(word, c)| {
                let lacking: Vec<&str> = ["cpu", "memory"]
                    .into_iter()
                    .filter(|r| !has_request(c, r))
                    .collect();
                (!lacking.is_empty()).then(|| format!("{word} {} ({})", c.name, lacking.join(", ")))
            })
            .collect();
        if !missing.is_empty() {
            findings.push(Finding::fail(
                w.resource(),
                "missing-resource-requests",
                format!(
                    "no CPU/memory request on {}: the scheduler cannot reserve capacity for these pods, so they can be \
                     starved or evicted first under node pressure. Set resources.requests.cpu and \
                     resources.requests.memory.",
                    missing.join("; ")
                ),
            ));
        }
    }
}

/// True when the container requests `resource`, directly or through a limit (Kubernetes copies limits into unset
/// requests when it creates the pod). A zero quantity reserves nothing and does not count.
fn has_request(c: &Container, resource: &str) -> bool {
    let r = c.resources.as_ref();
    let requested = r
        .and_then(|r| r.requests.as_ref())
        .and_then(|m| m.get(resource));
    let limited = r
        .and_then(|r| r.limits.as_ref())
        .and_then(|m| m.get(resource));
    requested.or(limited).is_some_and(|q| !is_zero(&q.0))
}

fn is_zero(quantity: &str) -> bool {
    let number: String = quantity
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '+' || *c == '-')
        .collect();
    number.parse::<f64>().is_ok_and(|n| n == 0.0)
}

/// Resolves an int-or-percent against `replicas`, rounding up as the disruption controller does.
fn resolve(value: &IntOrString, replicas: i32) -> Option<i64> {
    match value {
        IntOrString::Int(n) => Some(i64::from(*n)),
        IntOrString::String(s) => {
            let pct: i64 = s.trim().strip_suffix('%')?.trim().parse().ok()?;
            let scaled = pct * i64::from(replicas);
            Some(scaled.div_euclid(100) + i64::from(scaled.rem_euclid(100) != 0))
        }
    }
}

fn show(value: &IntOrString) -> String {
    match value {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// PodDisruptionBudgets by namespace, selectors compiled once. policy/v1: a null selector selects nothing (left
/// out), `{}` selects every pod of the namespace; an invalid selector (refused by the API) selects nothing.
type Budgets<'a> = BTreeMap<&'a str, Vec<(&'a PodDisruptionBudget, Selector)>>;

/// Below one workload per this many budgets, only the budgets of the workloads' namespaces are compiled (an
/// incremental evaluation re-judging the workloads that changed); budgets are only ever looked up by namespace.
const ONLY_NAMESPACES_BELOW_ONE_IN: usize = 16;

fn budgets<'a>(view: &'a ClusterSnapshot, judged: &[Workload<'_>]) -> Budgets<'a> {
    let wanted: Option<BTreeSet<&str>> = (judged.len()
        < view.pod_disruption_budgets.len() / ONLY_NAMESPACES_BELOW_ONE_IN)
        .then(|| {
            judged
                .iter()
                .filter_map(|w| w.meta.namespace.as_deref())
                .collect()
        });
    let mut out: Budgets<'_> = BTreeMap::new();
    for p in &view.pod_disruption_budgets {
        let (Some(ns), Some(selector)) = (
            p.metadata.namespace.as_deref(),
            p.spec.as_ref().and_then(|s| s.selector.as_ref()),
        ) else {
            continue;
        };
        if wanted.as_ref().is_some_and(|w| !w.contains(ns)) {
            continue;
        }
        if let Ok(selector) = compile_selector(selector, "spec.selector") {
            out.entry(ns).or_default().push((p.as_ref(), selector));
        }
    }
    out
}

fn judge_budget(
    budgets: &Budgets<'_>,
    w: &Workload<'_>,
    template: &PodTemplateSpec,
    replicas: i32,
) -> Vec<Finding> {
    let labels = template
        .metadata
        .as_ref()
        .map(template_labels)
        .unwrap_or_default();
    let matching: Vec<&PodDisruptionBudget> = w
        .meta
        .namespace
        .as_deref()
        .and_then(|ns| budgets.get(ns))
        .into_iter()
        .flatten()
        .filter(|(_, selector)| selector.matches(&labels))
        .map(|(p, _)| *p)
        .collect();
    let kind = w.kind;
    let budget = match matching.as_slice() {
        [] => {
            return vec![Finding::fail(
                w.resource(),
                "no-pod-disruption-budget",
                format!(
                    "no PodDisruptionBudget in namespace {} selects this {kind}'s pods, so a node drain or cluster \
                     upgrade may evict every replica at once. Add a PodDisruptionBudget selecting its pod labels with \
                     maxUnavailable: 1.",
                    w.meta.namespace.as_deref().unwrap_or("")
                ),
            )];
        }
        [one] => *one,
        many => {
            let names: Vec<&str> = many
                .iter()
                .map(|p| p.metadata.name.as_deref().unwrap_or(""))
                .collect();
            return vec![Finding::fail(
                w.resource(),
                "multiple-pod-disruption-budgets",
                format!(
                    "PodDisruptionBudgets {} all select this {kind}'s pods; the eviction API refuses to evict a pod \
                     covered by more than one budget, so node drains block. Keep exactly one.",
                    names.join(", ")
                ),
            )];
        }
    };
    let name = budget.metadata.name.as_deref().unwrap_or("");
    let spec = budget.spec.as_ref();
    let (max_unavailable, min_available) = (
        spec.and_then(|s| s.max_unavailable.as_ref()),
        spec.and_then(|s| s.min_available.as_ref()),
    );
    let blocks = |field: &str, value: &IntOrString, resolved: i64| {
        Finding::fail(
            w.resource(),
            "pdb-blocks-eviction",
            format!(
                "PodDisruptionBudget {name} sets {field}: {} ({resolved} of {replicas} replicas), which allows no \
                 eviction: node drains and upgrades block until someone deletes the budget. Use maxUnavailable: 1 or \
                 a minAvailable below the replica count.",
                show(value)
            ),
        )
    };
    let unreadable = |field: &str, value: &IntOrString| {
        Finding::unknown(
            w.resource(),
            "pdb-unreadable",
            format!(
                "PodDisruptionBudget {name} sets {field}: {:?}, which is neither an integer nor a percentage, so the \
                 budget cannot be judged.",
                show(value)
            ),
        )
    };
    match (max_unavailable, min_available) {
        (Some(v), _) => match resolve(v, replicas) {
            None => vec![unreadable("maxUnavailable", v)],
            Some(n) if n <= 0 => vec![blocks("maxUnavailable", v, n)],
            Some(_) => vec![],
        },
        (None, Some(v)) => match resolve(v, replicas) {
            None => vec![unreadable("minAvailable", v)],
            Some(n) if n >= i64::from(replicas) => vec![blocks("minAvailable", v, n)],
            Some(_) => vec![],
        },
        (None, None) => vec![Finding::fail(
            w.resource(),
            "pdb-without-budget",
            format!(
                "PodDisruptionBudget {name} sets neither minAvailable nor maxUnavailable, so it protects no replica \
                 during node drains. Set maxUnavailable: 1."
            ),
        )],
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::view::stored::{Deployment, StatefulSet};

    use super::*;
    use crate::api::Scope;
    use crate::checks::FindingResult::{Fail, Notice, Unknown};
    use crate::checks::test_support::*;

    fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> Arc<T> {
        Arc::new(serde_yaml::from_str(text).expect("valid object"))
    }

    const GOOD_CONTAINER: &str = "{name: app, readinessProbe: {httpGet: {path: /ready, port: 8080}}, resources: {requests: {cpu: 100m, memory: 128Mi}}}";

    fn deployment(name: &str, replicas: Option<i32>, containers: &str) -> Arc<Deployment> {
        let replicas = replicas
            .map(|r| format!("replicas: {r}, "))
            .unwrap_or_default();
        yaml(&format!(
            "metadata: {{name: {name}, namespace: web}}\nspec: {{{replicas}selector: {{matchLabels: {{app: {name}}}}}, template: {{metadata: {{labels: {{app: {name}, tier: web}}}}, spec: {{containers: [{containers}]}}}}}}"
        ))
    }

    fn good(name: &str, replicas: i32) -> Arc<Deployment> {
        deployment(name, Some(replicas), GOOD_CONTAINER)
    }

    fn pdb(name: &str, selector: &str, budget: &str) -> Arc<PodDisruptionBudget> {
        yaml(&format!(
            "metadata: {{name: {name}, namespace: web}}\nspec: {{selector: {selector}, {budget}}}"
        ))
    }

    fn pdb_for(app: &str, budget: &str) -> Arc<PodDisruptionBudget> {
        pdb(
            &format!("{app}-pdb"),
            &format!("{{matchLabels: {{app: {app}}}}}"),
            budget,
        )
    }

    fn view(
        deployments: Vec<Arc<Deployment>>,
        pdbs: Vec<Arc<PodDisruptionBudget>>,
    ) -> ClusterSnapshot {
        ClusterSnapshot {
            deployments,
            pod_disruption_budgets: pdbs,
            ..Default::default()
        }
    }

    fn run_scoped(
        view: &ClusterSnapshot,
        scope: Option<Scope>,
        params: &AvailabilityCheck,
    ) -> CheckReport {
        let scope = ScopeMatcher::new(scope.as_ref(), view).unwrap();
        check(view, &scope, params)
    }

    fn run(view: &ClusterSnapshot) -> CheckReport {
        run_scoped(view, None, &AvailabilityCheck::default())
    }

    #[test]
    fn one_workload_among_many_budgets_is_judged_as_among_all() {
        // Budgets in other namespaces, enough that one workload compiles only its own namespace's budgets.
        let mut budgets: Vec<Arc<PodDisruptionBudget>> = (0..16 * 4)
            .map(|i| {
                yaml(&format!(
                    "metadata: {{name: p{i}, namespace: other-{i}}}\nspec: {{selector: {{matchLabels: {{app: api}}}}, maxUnavailable: 1}}"
                ))
            })
            .collect();
        budgets.push(pdb_for("api", "maxUnavailable: 0"));
        let workloads = vec![good("api", 3), good("web", 3)];
        let all = run(&view(workloads.clone(), budgets.clone()));
        let mut one_by_one = CheckReport::default();
        for w in workloads {
            let r = run(&view(vec![w], budgets.clone()));
            one_by_one.evaluated += r.evaluated;
            one_by_one.findings.extend(r.findings);
        }
        assert_eq!(one_by_one, all);
        assert_eq!(all.findings.len(), 2, "{:?}", all.findings);
    }

    #[test]
    fn a_redundant_protected_probed_workload_passes() {
        assert_report(
            &run(&view(
                vec![good("api", 3)],
                vec![pdb_for("api", "maxUnavailable: 1")],
            )),
            1,
            &[],
        );
    }

    #[test]
    fn too_few_replicas_fail_and_unset_means_one() {
        let v = view(
            vec![
                good("one", 1),
                deployment("unset", None, GOOD_CONTAINER),
                good("two", 2),
            ],
            vec![
                pdb_for("one", "maxUnavailable: 1"),
                pdb_for("unset", "maxUnavailable: 1"),
                pdb_for("two", "maxUnavailable: 1"),
            ],
        );
        let report = run(&v);
        assert_report(
            &report,
            3,
            &[
                ("Deployment web/one", Fail, "insufficient-replicas"),
                ("Deployment web/unset", Fail, "insufficient-replicas"),
            ],
        );
        assert!(
            report.findings[0]
                .message
                .contains("runs 1 replica, fewer than the required 2")
        );
        let three = AvailabilityCheck {
            min_replicas: Some(3),
            ..Default::default()
        };
        assert_report(
            &run_scoped(&v, None, &three),
            3,
            &[
                ("Deployment web/one", Fail, "insufficient-replicas"),
                ("Deployment web/two", Fail, "insufficient-replicas"),
                ("Deployment web/unset", Fail, "insufficient-replicas"),
            ],
        );
    }

    #[test]
    fn scaled_to_zero_is_a_notice_only() {
        let report = run(&view(
            vec![deployment("parked", Some(0), "{name: app}")],
            vec![],
        ));
        assert_report(
            &report,
            1,
            &[("Deployment web/parked", Notice, "scaled-to-zero")],
        );
    }

    #[test]
    fn a_missing_budget_fails() {
        let other = pdb("other", "{matchLabels: {app: other}}", "maxUnavailable: 1");
        let report = run(&view(vec![good("api", 2)], vec![other]));
        assert_report(
            &report,
            1,
            &[("Deployment web/api", Fail, "no-pod-disruption-budget")],
        );
        // Same labels, other namespace.
        let elsewhere: Arc<PodDisruptionBudget> = yaml(
            "metadata: {name: api, namespace: payments}\nspec: {selector: {matchLabels: {app: api}}, maxUnavailable: 1}",
        );
        assert_report(
            &run(&view(vec![good("api", 2)], vec![elsewhere])),
            1,
            &[("Deployment web/api", Fail, "no-pod-disruption-budget")],
        );
        // A null selector selects nothing; `{}` selects everything.
        let null: Arc<PodDisruptionBudget> =
            yaml("metadata: {name: null-sel, namespace: web}\nspec: {maxUnavailable: 1}");
        assert_report(
            &run(&view(vec![good("api", 2)], vec![null])),
            1,
            &[("Deployment web/api", Fail, "no-pod-disruption-budget")],
        );
        assert_report(
            &run(&view(
                vec![good("api", 2)],
                vec![pdb("all", "{}", "maxUnavailable: 1")],
            )),
            1,
            &[],
        );
        // Expressions are honoured.
        let expr = pdb(
            "web-tier",
            "{matchExpressions: [{key: tier, operator: In, values: [web]}]}",
            "minAvailable: 1",
        );
        assert_report(&run(&view(vec![good("api", 2)], vec![expr])), 1, &[]);
    }

    #[test]
    fn two_budgets_block_evictions() {
        let report = run(&view(
            vec![good("api", 3)],
            vec![
                pdb_for("api", "maxUnavailable: 1"),
                pdb("tier", "{matchLabels: {tier: web}}", "maxUnavailable: 1"),
            ],
        ));
        assert_report(
            &report,
            1,
            &[(
                "Deployment web/api",
                Fail,
                "multiple-pod-disruption-budgets",
            )],
        );
        assert!(message(&report).contains("api-pdb, tier"));
    }

    #[test]
    fn budgets_that_allow_no_eviction_fail_and_their_twins_pass() {
        // (replicas, budget, passes)
        let cases = [
            (3, "maxUnavailable: 1", true),
            (3, "maxUnavailable: 0", false),
            (3, "maxUnavailable: '0%'", false),
            (3, "maxUnavailable: '10%'", true), // ceil(0.3) = 1
            (3, "maxUnavailable: '34%'", true),
            (2, "minAvailable: 1", true),
            (2, "minAvailable: 2", false),
            (2, "minAvailable: 3", false),
            (2, "minAvailable: '100%'", false),
            (2, "minAvailable: '50%'", true),  // 1 of 2
            (3, "minAvailable: '50%'", true),  // ceil(1.5) = 2 of 3
            (3, "minAvailable: '67%'", false), // ceil(2.01) = 3 of 3
            (4, "minAvailable: '51%'", true),  // ceil(2.04) = 3 of 4
            (2, "minAvailable: 0", true),
            (2, "minAvailable: 1, maxUnavailable: 0", false), // maxUnavailable decides, as in the controller
        ];
        for (replicas, budget, passes) in cases {
            let report = run(&view(
                vec![good("api", replicas)],
                vec![pdb_for("api", budget)],
            ));
            if passes {
                assert_report(&report, 1, &[]);
            } else {
                assert_report(
                    &report,
                    1,
                    &[("Deployment web/api", Fail, "pdb-blocks-eviction")],
                );
            }
        }
        let report = run(&view(
            vec![good("api", 2)],
            vec![pdb_for("api", "minAvailable: '100%'")],
        ));
        assert!(
            message(&report).contains("minAvailable: 100% (2 of 2 replicas)"),
            "{}",
            message(&report)
        );
    }

    #[test]
    fn odd_budgets_are_reported() {
        let report = run(&view(
            vec![good("api", 2)],
            vec![pdb_for("api", "unhealthyPodEvictionPolicy: AlwaysAllow")],
        ));
        assert_report(
            &report,
            1,
            &[("Deployment web/api", Fail, "pdb-without-budget")],
        );
        let report = run(&view(
            vec![good("api", 2)],
            vec![pdb_for("api", "maxUnavailable: half")],
        ));
        assert_report(
            &report,
            1,
            &[("Deployment web/api", Unknown, "pdb-unreadable")],
        );
    }

    #[test]
    fn unreadable_budgets_are_unknown_for_that_part_only() {
        let mut v = view(vec![good("api", 2), good("single", 1)], vec![]);
        v.unavailable
            .insert(ResourceKind::PodDisruptionBudget, "forbidden".into());
        assert_report(
            &run(&v),
            2,
            &[
                ("Deployment web/api", Unknown, "pdb-data-unavailable"),
                ("Deployment web/single", Fail, "insufficient-replicas"),
                ("Deployment web/single", Unknown, "pdb-data-unavailable"),
            ],
        );
        // Not required: not read.
        let no_pdb = AvailabilityCheck {
            require_pod_disruption_budget: Some(false),
            ..Default::default()
        };
        assert_report(
            &run_scoped(&v, None, &no_pdb),
            2,
            &[("Deployment web/single", Fail, "insufficient-replicas")],
        );
    }

    #[test]
    fn readiness_probes_on_every_regular_container() {
        let containers = format!(
            "{GOOD_CONTAINER}, {{name: sidecar, resources: {{requests: {{cpu: 10m, memory: 16Mi}}}}}}"
        );
        let d: Arc<Deployment> = yaml(&format!(
            "metadata: {{name: api, namespace: web}}\nspec: {{replicas: 2, selector: {{}}, template: {{metadata: {{labels: {{app: api}}}}, spec: {{initContainers: [{{name: migrate, resources: {{requests: {{cpu: 10m, memory: 16Mi}}}}}}], containers: [{containers}]}}}}}}"
        ));
        let v = view(vec![d], vec![pdb_for("api", "maxUnavailable: 1")]);
        let report = run(&v);
        assert_report(
            &report,
            1,
            &[("Deployment web/api", Fail, "missing-readiness-probe")],
        );
        assert!(
            message(&report).contains("container sidecar has no readiness probe"),
            "{}",
            message(&report)
        );
        let off = AvailabilityCheck {
            require_readiness_probe: Some(false),
            ..Default::default()
        };
        assert_report(&run_scoped(&v, None, &off), 1, &[]);
    }

    #[test]
    fn requests_on_every_container_limits_count() {
        let d: Arc<Deployment> = yaml(
            "metadata: {name: api, namespace: web}\nspec: {replicas: 2, selector: {}, template: {metadata: {labels: {app: api}}, spec: {initContainers: [{name: init}], containers: [{name: a, readinessProbe: {tcpSocket: {port: 1}}, resources: {limits: {cpu: '1', memory: 1Gi}}}, {name: b, readinessProbe: {tcpSocket: {port: 1}}, resources: {requests: {cpu: '0', memory: 64Mi}}}, {name: c, readinessProbe: {tcpSocket: {port: 1}}, resources: {requests: {memory: 64Mi}}}]}}}",
        );
        let v = view(vec![d], vec![pdb_for("api", "maxUnavailable: 1")]);
        let report = run(&v);
        assert_report(
            &report,
            1,
            &[("Deployment web/api", Fail, "missing-resource-requests")],
        );
        let m = message(&report);
        assert!(
            m.contains("init container init (cpu, memory); container b (cpu); container c (cpu)"),
            "{m}"
        );
        let off = AvailabilityCheck {
            require_resource_requests: Some(false),
            ..Default::default()
        };
        assert_report(&run_scoped(&v, None, &off), 1, &[]);
        assert!(
            is_zero("0") && is_zero("0m") && is_zero("0.0Gi") && !is_zero("1m") && !is_zero("x")
        );
    }

    #[test]
    fn stateful_sets_are_covered_and_kinds_configurable() {
        let sts: Arc<StatefulSet> = yaml(&format!(
            "metadata: {{name: db, namespace: web}}\nspec: {{replicas: 1, serviceName: db, selector: {{}}, template: {{metadata: {{labels: {{app: db}}}}, spec: {{containers: [{GOOD_CONTAINER}]}}}}}}"
        ));
        let v = ClusterSnapshot {
            stateful_sets: vec![sts],
            deployments: vec![good("api", 1)],
            pod_disruption_budgets: vec![
                pdb_for("db", "maxUnavailable: 1"),
                pdb_for("api", "maxUnavailable: 1"),
            ],
            ..Default::default()
        };
        assert_report(
            &run(&v),
            2,
            &[
                ("Deployment web/api", Fail, "insufficient-replicas"),
                ("StatefulSet web/db", Fail, "insufficient-replicas"),
            ],
        );
        let sts_only = AvailabilityCheck {
            kinds: Some(vec![ReplicatedWorkloadKind::StatefulSet]),
            ..Default::default()
        };
        assert_report(
            &run_scoped(&v, None, &sts_only),
            1,
            &[("StatefulSet web/db", Fail, "insufficient-replicas")],
        );
    }

    #[test]
    fn out_of_scope_workloads_are_ignored() {
        let v = view(vec![good("api", 1)], vec![]);
        let scope = Scope {
            exclude_namespaces: Some(vec!["web".into()]),
            ..Default::default()
        };
        assert_report(
            &run_scoped(&v, Some(scope), &AvailabilityCheck::default()),
            0,
            &[],
        );
    }

    #[test]
    fn unreadable_workloads_and_malformed_objects() {
        let mut v = ClusterSnapshot::default();
        v.unavailable
            .insert(ResourceKind::StatefulSet, "not synced".into());
        assert_report(
            &run(&v),
            1,
            &[("StatefulSet (all)", Unknown, "data-unavailable")],
        );

        let no_spec: Arc<Deployment> = yaml("metadata: {name: bare, namespace: web}");
        let no_template_spec: Arc<Deployment> = yaml(
            "metadata: {name: hollow, namespace: web}\nspec: {replicas: 2, selector: {}, template: {}}",
        );
        let broken_pdb: Arc<PodDisruptionBudget> = yaml("metadata: {name: broken, namespace: web}");
        let bad_selector = pdb(
            "bad",
            "{matchExpressions: [{key: app, operator: Near}]}",
            "maxUnavailable: 1",
        );
        let report = run(&view(
            vec![no_spec, no_template_spec],
            vec![broken_pdb, bad_selector],
        ));
        assert_report(
            &report,
            2,
            &[
                ("Deployment web/bare", Unknown, "spec-missing"),
                ("Deployment web/hollow", Fail, "no-pod-disruption-budget"),
            ],
        );
        assert_eq!(resolve(&IntOrString::String("abc%".into()), 3), None);
        assert_eq!(resolve(&IntOrString::String("50".into()), 3), None);
        assert_eq!(resolve(&IntOrString::String(" 50% ".into()), 3), Some(2));
    }
}
