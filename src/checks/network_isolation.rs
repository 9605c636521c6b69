//! Network isolation (CC6.6): every in-scope namespace denies ingress (and optionally egress) by default, and no
//! NetworkPolicy opens pods to the whole internet without a recorded approval.
//!
//! Subjects are namespaces (is the namespace isolated?) and NetworkPolicies (does this policy admit the internet?).
//! Namespaces come from Namespace objects and, for partial dumps, from the namespaces of NetworkPolicies.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

use super::network_policy::{Direction, Isolation, internet_blocks, isolation_of};
use super::{Admissibility, Check, CheckReport, Finding};
use crate::api::{CheckKind, NetworkIsolationCheck};
use crate::engine::validation::SpecError;
use crate::view::{ClusterSnapshot, Reads, ResourceKind, ResourceRef, ScopeMatcher};

/// The network isolation check (`spec.check.networkIsolation`).
pub struct NetworkIsolation;

impl Check for NetworkIsolation {
    const KIND: CheckKind = CheckKind::NetworkIsolation;
    type Params = NetworkIsolationCheck;

    fn params(check: &crate::api::Check) -> Option<&NetworkIsolationCheck> {
        check.network_isolation.as_ref()
    }

    fn validate(params: &NetworkIsolationCheck) -> Result<(), SpecError> {
        validate_annotation_list(
            params.approval_annotations.as_ref(),
            "spec.check.networkIsolation.approvalAnnotations",
        )
    }

    fn reads(_: &NetworkIsolationCheck) -> Reads {
        Reads::kinds(&[ResourceKind::NetworkPolicy])
    }

    fn admissibility(_: &NetworkIsolationCheck) -> Admissibility {
        Admissibility::AuditOnly(
            "the networkIsolation check judges each namespace's set of NetworkPolicies, so one object at admission cannot decide it",
        )
    }

    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &NetworkIsolationCheck,
        _: Timestamp,
    ) -> CheckReport {
        check(view, scope, params)
    }
}

/// Runs the check.
pub fn check(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &NetworkIsolationCheck,
) -> CheckReport {
    let mut report = CheckReport::default();
    if report.unknown_if_missing(
        view,
        ResourceKind::NetworkPolicy,
        ResourceRef::aspect("networking.k8s.io/v1", "NetworkPolicy", "(all)"),
    ) {
        return report;
    }
    let directions: Vec<Direction> = [
        (
            params.effective_require_default_deny_ingress(),
            Direction::Ingress,
        ),
        (params.effective_require_egress(), Direction::Egress),
    ]
    .into_iter()
    .filter_map(|(on, d)| on.then_some(d))
    .collect();
    if !directions.is_empty() {
        // Grouped once: a cluster has many namespaces and many policies.
        let mut by_namespace: BTreeMap<&str, Vec<&NetworkPolicy>> = BTreeMap::new();
        for p in &view.network_policies {
            if let Some(ns) = p.metadata.namespace.as_deref() {
                by_namespace.entry(ns).or_default().push(p.as_ref());
            }
        }
        for (name, resource) in namespaces(view, scope) {
            report.evaluated += 1;
            let policies = by_namespace
                .get(name.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            for direction in &directions {
                if let Some(finding) =
                    judge_namespace(&resource, &isolation_of(policies, *direction), *direction)
                {
                    report.findings.push(finding);
                }
            }
        }
    }
    let flagged: Vec<Direction> = [
        (params.effective_flag_internet_ingress(), Direction::Ingress),
        (params.effective_flag_open_egress(), Direction::Egress),
    ]
    .into_iter()
    .filter_map(|(on, d)| on.then_some(d))
    .collect();
    if !flagged.is_empty() {
        let approval = params.effective_approval_annotations();
        for policy in view
            .network_policies
            .iter()
            .filter(|p| scope.matches(&p.metadata))
        {
            report.evaluated += 1;
            if is_approved(&policy.metadata, &approval) {
                continue;
            }
            for direction in &flagged {
                if let Some(finding) = judge_internet(policy, *direction, &approval) {
                    report.findings.push(finding);
                }
            }
        }
    }
    report
}

/// In-scope namespaces by name: Namespace objects, and namespaces only known from their NetworkPolicies.
fn namespaces(view: &ClusterSnapshot, scope: &ScopeMatcher) -> BTreeMap<String, ResourceRef> {
    let mut out = BTreeMap::new();
    let known: BTreeSet<&str> = view
        .namespaces
        .iter()
        .filter_map(|n| n.metadata.name.as_deref())
        .collect();
    for ns in &view.namespaces {
        let Some(name) = ns.metadata.name.clone() else {
            continue;
        };
        if scope.namespace_in_scope(&name) && scope.matches(&ns.metadata) {
            out.insert(name, ResourceRef::of(ns.as_ref()));
        }
    }
    for policy in &view.network_policies {
        let Some(name) = policy.metadata.namespace.clone() else {
            continue;
        };
        if out.contains_key(&name) || known.contains(name.as_str()) {
            continue;
        }
        let meta = ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        };
        if scope.namespace_in_scope(&name) && scope.matches(&meta) {
            out.insert(name.clone(), ResourceRef::aspect("v1", "Namespace", &name));
        }
    }
    out
}

/// Validates a list of approval annotations at `field`: an empty list would approve everything; a blank annotation
/// name can never be present.
pub(crate) fn validate_annotation_list(
    list: Option<&Vec<String>>,
    field: &str,
) -> Result<(), SpecError> {
    match list {
        Some(l) if l.is_empty() => Err(SpecError::invalid_parameter(
            field,
            "must list at least one annotation (an empty list would approve every object); omit the field for the default",
        )),
        Some(l) if l.iter().any(|a| a.trim().is_empty()) => Err(SpecError::invalid_parameter(
            field,
            "annotation names must not be blank",
        )),
        _ => Ok(()),
    }
}

/// True when every approval annotation is present and non-blank.
pub(crate) fn is_approved(meta: &ObjectMeta, annotations: &[String]) -> bool {
    annotations.iter().all(|key| {
        meta.annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .is_some_and(|v| !v.trim().is_empty())
    })
}

fn judge_namespace(
    resource: &ResourceRef,
    iso: &Isolation,
    direction: Direction,
) -> Option<Finding> {
    let word = direction.word();
    let types = direction.as_str();
    if !iso.allow_all.is_empty() {
        let list = iso
            .allow_all
            .iter()
            .map(|(name, rule, every)| {
                let pods = if *every {
                    "every pod"
                } else {
                    "the pods it selects"
                };
                format!("NetworkPolicy {name} ({word} rule {rule} admits all traffic to {pods})")
            })
            .collect::<Vec<_>>()
            .join("; ");
        let peer = if direction == Direction::Ingress {
            "from"
        } else {
            "to"
        };
        return Some(Finding::fail(
            resource.clone(),
            &format!("allow-all-{word}"),
            format!(
                "Namespace {} is not isolated for {word}: {list}. A rule with neither `{peer}` nor `ports` admits every \
                 source, port and protocol, which undoes the default deny. Replace it with rules naming the peers and \
                 ports the workload needs.",
                resource.name
            ),
        ));
    }
    if iso.default_deny.is_empty() {
        let partial = if iso.partial.is_empty() {
            format!("no NetworkPolicy governs its {word}")
        } else {
            format!(
                "its {word} policies ({}) select only some pods",
                iso.partial.join(", ")
            )
        };
        return Some(Finding::fail(
            resource.clone(),
            &format!("no-default-deny-{word}"),
            format!(
                "Namespace {} has no default-deny {word} NetworkPolicy: {partial}, so unselected pods accept {word} \
                 traffic from anywhere the network reaches. Add a NetworkPolicy with `podSelector: {{}}` and \
                 `policyTypes: [{types}]`, then allow the flows each workload needs.",
                resource.name
            ),
        ));
    }
    None
}

fn judge_internet(
    policy: &NetworkPolicy,
    direction: Direction,
    approval: &[String],
) -> Option<Finding> {
    let blocks = internet_blocks(policy, direction);
    if blocks.is_empty() {
        return None;
    }
    let detail = blocks
        .iter()
        .map(|(rule, block, limited)| {
            let except = block
                .except
                .as_ref()
                .filter(|e| !e.is_empty())
                .map(|e| format!(" except {}", e.join(", ")))
                .unwrap_or_default();
            let ports = if *limited {
                "on the rule's ports"
            } else {
                "on every port"
            };
            format!(
                "{word} rule {rule} admits {}{except} {ports}",
                block.cidr.trim(),
                word = direction.word()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let (rule, what) = match direction {
        Direction::Ingress => (
            "policy-admits-internet",
            "accept connections from the whole internet",
        ),
        Direction::Egress => (
            "policy-allows-open-egress",
            "reach any address on the internet",
        ),
    };
    Some(Finding::fail(
        ResourceRef::of(policy),
        rule,
        format!(
            "NetworkPolicy lets the pods it selects {what}: {detail}. Restrict the ipBlock to the address ranges that \
             need access or, if this exposure is intended, record its review by annotating the policy with {}.",
            approval
                .iter()
                .map(|a| format!("{a}=<reviewer>"))
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::Namespace;

    use super::*;
    use crate::api::Scope;
    use crate::checks::FindingResult::{Fail, Unknown};
    use crate::checks::network_policy::tests::policy;
    use crate::checks::test_support::*;

    fn ns(name: &str, labels: &[(&str, &str)]) -> Arc<Namespace> {
        Arc::new(Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    fn annotated(p: Arc<NetworkPolicy>, pairs: &[(&str, &str)]) -> Arc<NetworkPolicy> {
        let mut p = (*p).clone();
        p.metadata.annotations = Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        );
        Arc::new(p)
    }

    fn cluster(namespaces: &[&str], policies: Vec<Arc<NetworkPolicy>>) -> ClusterSnapshot {
        ClusterSnapshot {
            namespaces: namespaces.iter().map(|n| ns(n, &[])).collect(),
            network_policies: policies,
            ..Default::default()
        }
    }

    fn run_scoped(
        view: &ClusterSnapshot,
        scope: Option<Scope>,
        params: &NetworkIsolationCheck,
    ) -> CheckReport {
        let scope = ScopeMatcher::new(scope.as_ref(), view).unwrap();
        check(view, &scope, params)
    }

    fn run(view: &ClusterSnapshot, params: &NetworkIsolationCheck) -> CheckReport {
        run_scoped(view, None, params)
    }

    fn deny(ns: &str) -> Arc<NetworkPolicy> {
        policy(
            ns,
            "default-deny",
            "{podSelector: {}, policyTypes: [Ingress]}",
        )
    }

    fn deny_only() -> NetworkIsolationCheck {
        NetworkIsolationCheck {
            flag_internet_ingress: Some(false),
            ..Default::default()
        }
    }

    fn internet_only() -> NetworkIsolationCheck {
        NetworkIsolationCheck {
            require_default_deny_ingress: Some(false),
            ..Default::default()
        }
    }

    const PUBLIC: &str = "{podSelector: {matchLabels: {app: gw}}, ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0}}], ports: [{port: 443}]}]}";

    #[test]
    fn a_namespace_without_default_deny_fails_and_its_twin_passes() {
        let view = cluster(&["web", "api"], vec![deny("api")]);
        let report = run(&view, &deny_only());
        assert_report(
            &report,
            2,
            &[("Namespace web", Fail, "no-default-deny-ingress")],
        );
        assert!(
            message(&report).contains("policyTypes: [Ingress]"),
            "{}",
            message(&report)
        );
    }

    #[test]
    fn default_deny_plus_allow_rules_is_compliant() {
        let view = cluster(
            &["web"],
            vec![
                deny("web"),
                policy(
                    "web",
                    "allow-frontend",
                    "{podSelector: {matchLabels: {app: api}}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: web}}}]}]}",
                ),
            ],
        );
        assert_report(&run(&view, &NetworkIsolationCheck::default()), 3, &[]);
    }

    #[test]
    fn partial_policies_are_named() {
        let view = cluster(
            &["web"],
            vec![policy(
                "web",
                "api-only",
                "{podSelector: {matchLabels: {app: api}}}",
            )],
        );
        let report = run(&view, &deny_only());
        assert_report(
            &report,
            1,
            &[("Namespace web", Fail, "no-default-deny-ingress")],
        );
        assert!(message(&report).contains("(api-only) select only some pods"));
    }

    #[test]
    fn an_allow_all_policy_is_not_isolation() {
        let view = cluster(
            &["web"],
            vec![
                deny("web"),
                policy("web", "allow-all", "{podSelector: {}, ingress: [{}]}"),
            ],
        );
        let report = run(&view, &deny_only());
        assert_report(&report, 1, &[("Namespace web", Fail, "allow-all-ingress")]);
        assert!(
            message(&report).contains(
                "NetworkPolicy allow-all (ingress rule 1 admits all traffic to every pod)"
            )
        );
        // Alone, too.
        let view = cluster(
            &["web"],
            vec![policy(
                "web",
                "allow-all",
                "{podSelector: {}, ingress: [{}]}",
            )],
        );
        assert_report(
            &run(&view, &deny_only()),
            1,
            &[("Namespace web", Fail, "allow-all-ingress")],
        );
    }

    #[test]
    fn egress_is_judged_only_when_required() {
        let view = cluster(&["web"], vec![deny("web")]);
        assert_report(&run(&view, &deny_only()), 1, &[]);
        let egress = NetworkIsolationCheck {
            require_egress: Some(true),
            ..deny_only()
        };
        assert_report(
            &run(&view, &egress),
            1,
            &[("Namespace web", Fail, "no-default-deny-egress")],
        );
        let both = cluster(
            &["web"],
            vec![policy(
                "web",
                "deny-all",
                "{podSelector: {}, policyTypes: [Ingress, Egress]}",
            )],
        );
        assert_report(&run(&both, &egress), 1, &[]);
        let open = cluster(
            &["web"],
            vec![policy(
                "web",
                "deny-in",
                "{podSelector: {}, policyTypes: [Ingress, Egress], egress: [{}]}",
            )],
        );
        assert_report(
            &run(&open, &egress),
            1,
            &[("Namespace web", Fail, "allow-all-egress")],
        );
        // Egress only, without the ingress requirement.
        let egress_only = NetworkIsolationCheck {
            require_default_deny_ingress: Some(false),
            ..egress
        };
        assert_report(
            &run(&cluster(&["web"], vec![]), &egress_only),
            1,
            &[("Namespace web", Fail, "no-default-deny-egress")],
        );
    }

    #[test]
    fn internet_ingress_fails_unless_approved() {
        let view = cluster(
            &["web"],
            vec![deny("web"), policy("web", "public-gw", PUBLIC)],
        );
        let report = run(&view, &NetworkIsolationCheck::default());
        assert_report(
            &report,
            3,
            &[(
                "NetworkPolicy web/public-gw",
                Fail,
                "policy-admits-internet",
            )],
        );
        let m = message(&report);
        assert!(
            m.contains("ingress rule 1 admits 0.0.0.0/0 on the rule's ports"),
            "{m}"
        );
        assert!(
            m.contains("soc2.dev/exposure-approved-by=<reviewer>"),
            "{m}"
        );

        let approved = annotated(
            policy("web", "public-gw", PUBLIC),
            &[("soc2.dev/exposure-approved-by", "jane")],
        );
        assert_report(
            &run(
                &cluster(&["web"], vec![deny("web"), approved]),
                &NetworkIsolationCheck::default(),
            ),
            3,
            &[],
        );
        let blank = annotated(
            policy("web", "public-gw", PUBLIC),
            &[("soc2.dev/exposure-approved-by", " ")],
        );
        assert_report(
            &run(
                &cluster(&["web"], vec![deny("web"), blank]),
                &internet_only(),
            ),
            2,
            &[(
                "NetworkPolicy web/public-gw",
                Fail,
                "policy-admits-internet",
            )],
        );
    }

    #[test]
    fn ipv6_and_except_lists_still_admit_the_internet() {
        let v6 = policy(
            "web",
            "v6",
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: '::/0'}}]}]}",
        );
        let except = policy(
            "web",
            "except",
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]}]}",
        );
        let narrow = policy(
            "web",
            "office",
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 203.0.113.0/24}}]}]}",
        );
        let report = run(&cluster(&[], vec![v6, except, narrow]), &internet_only());
        assert_report(
            &report,
            3,
            &[
                ("NetworkPolicy web/except", Fail, "policy-admits-internet"),
                ("NetworkPolicy web/v6", Fail, "policy-admits-internet"),
            ],
        );
        assert!(report.findings.iter().any(|f| {
            f.message
                .contains("0.0.0.0/0 except 10.0.0.0/8 on every port")
        }));
    }

    #[test]
    fn open_egress_is_flagged_only_when_asked() {
        let open = policy(
            "web",
            "egress-anywhere",
            "{podSelector: {}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}]}]}",
        );
        let view = cluster(&[], vec![open.clone()]);
        assert_report(&run(&view, &internet_only()), 1, &[]);
        let params = NetworkIsolationCheck {
            flag_open_egress: Some(true),
            ..internet_only()
        };
        assert_report(
            &run(&view, &params),
            1,
            &[(
                "NetworkPolicy web/egress-anywhere",
                Fail,
                "policy-allows-open-egress",
            )],
        );
        let approved = annotated(open, &[("soc2.dev/exposure-approved-by", "jane")]);
        assert_report(&run(&cluster(&[], vec![approved]), &params), 1, &[]);
    }

    #[test]
    fn approval_annotations_are_configurable_and_all_required() {
        let params = NetworkIsolationCheck {
            approval_annotations: Some(vec![
                "soc2.dev/exposure-approved-by".into(),
                "soc2.dev/change-ticket".into(),
            ]),
            ..internet_only()
        };
        let half = annotated(
            policy("web", "p", PUBLIC),
            &[("soc2.dev/exposure-approved-by", "jane")],
        );
        let report = run(&cluster(&[], vec![half]), &params);
        assert_report(
            &report,
            1,
            &[("NetworkPolicy web/p", Fail, "policy-admits-internet")],
        );
        assert!(message(&report).contains("soc2.dev/change-ticket=<reviewer>"));
        let full = annotated(
            policy("web", "p", PUBLIC),
            &[
                ("soc2.dev/exposure-approved-by", "jane"),
                ("soc2.dev/change-ticket", "SEC-1"),
            ],
        );
        assert_report(&run(&cluster(&[], vec![full]), &params), 1, &[]);
    }

    #[test]
    fn out_of_scope_namespaces_and_policies_are_ignored() {
        let view = ClusterSnapshot {
            namespaces: vec![
                ns("web", &[("tier", "prod")]),
                ns("kube-system", &[]),
                ns("dev", &[]),
            ],
            network_policies: vec![
                policy("kube-system", "public", PUBLIC),
                policy("dev", "public", PUBLIC),
            ],
            ..Default::default()
        };
        let scope = Scope {
            exclude_namespaces: Some(vec!["kube-system".into()]),
            namespace_selector: Some(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
                    match_labels: Some([("tier".to_string(), "prod".to_string())].into()),
                    ..Default::default()
                },
            ),
            ..Default::default()
        };
        assert_report(
            &run_scoped(&view, Some(scope), &NetworkIsolationCheck::default()),
            1,
            &[("Namespace web", Fail, "no-default-deny-ingress")],
        );
    }

    #[test]
    fn namespaces_known_only_from_policies_are_judged() {
        let view = ClusterSnapshot {
            network_policies: vec![policy(
                "orphan",
                "api-only",
                "{podSelector: {matchLabels: {a: b}}}",
            )],
            ..Default::default()
        };
        assert_report(
            &run(&view, &deny_only()),
            1,
            &[("Namespace orphan", Fail, "no-default-deny-ingress")],
        );
    }

    #[test]
    fn unreadable_policies_are_unknown() {
        let mut view = cluster(&["web"], vec![]);
        view.unavailable
            .insert(ResourceKind::NetworkPolicy, "forbidden".into());
        let report = run(&view, &NetworkIsolationCheck::default());
        assert_report(
            &report,
            1,
            &[("NetworkPolicy (all)", Unknown, "data-unavailable")],
        );
        assert!(message(&report).contains("networkpolicies could not be read: forbidden"));
    }

    #[test]
    fn malformed_objects_never_panic() {
        let nameless_ns = Arc::new(Namespace::default());
        let no_spec = Arc::new(NetworkPolicy {
            metadata: ObjectMeta {
                name: Some("empty".into()),
                namespace: Some("web".into()),
                ..Default::default()
            },
            spec: None,
        });
        let cluster_scoped = Arc::new(NetworkPolicy {
            metadata: ObjectMeta::default(),
            spec: None,
        });
        let view = ClusterSnapshot {
            namespaces: vec![nameless_ns, ns("web", &[])],
            network_policies: vec![no_spec, cluster_scoped],
            ..Default::default()
        };
        assert_report(
            &run(&view, &NetworkIsolationCheck::default()),
            3,
            &[("Namespace web", Fail, "no-default-deny-ingress")],
        );
        // Everything off: nothing evaluated.
        let off = NetworkIsolationCheck {
            require_default_deny_ingress: Some(false),
            flag_internet_ingress: Some(false),
            ..Default::default()
        };
        assert_report(&run(&view, &off), 0, &[]);
    }
}
