//! What NetworkPolicies mean, in the API's own semantics: which directions a policy governs, which rules admit
//! everything, which CIDRs are the whole internet, and whether a namespace is isolated by default.
//!
//! Shared by the network isolation and confidentiality checks. NetworkPolicies are additive: a pod selected by any
//! policy for a direction is isolated in that direction, and admitted traffic is the union of every rule that
//! selects it. So a namespace is isolated by default when one policy selects every pod with no allow-all rule, and
//! no other policy adds an allow-all rule back.

use std::net::IpAddr;

use k8s_openapi::api::networking::v1::{IPBlock, NetworkPolicy, NetworkPolicyPeer};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::view::ClusterSnapshot;

/// The direction of traffic a policy governs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Traffic to the selected pods.
    Ingress,
    /// Traffic from the selected pods.
    Egress,
}

impl Direction {
    /// The `policyTypes` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        }
    }
    /// Lower-case word for messages.
    pub fn word(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// The peers and port count of one rule, whatever its direction.
struct RuleView<'a> {
    peers: &'a [NetworkPolicyPeer],
    ports: usize,
}

fn rules(policy: &NetworkPolicy, direction: Direction) -> Vec<RuleView<'_>> {
    let Some(spec) = policy.spec.as_ref() else {
        return Vec::new();
    };
    match direction {
        Direction::Ingress => spec
            .ingress
            .iter()
            .flatten()
            .map(|r| RuleView {
                peers: r.from.as_deref().unwrap_or_default(),
                ports: r.ports.as_ref().map_or(0, Vec::len),
            })
            .collect(),
        Direction::Egress => spec
            .egress
            .iter()
            .flatten()
            .map(|r| RuleView {
                peers: r.to.as_deref().unwrap_or_default(),
                ports: r.ports.as_ref().map_or(0, Vec::len),
            })
            .collect(),
    }
}

/// True when the policy governs `direction`. With `policyTypes` unset (or empty) the API defaults it to `Ingress`,
/// plus `Egress` when the policy has egress rules.
pub fn applies_to(policy: &NetworkPolicy, direction: Direction) -> bool {
    let Some(spec) = policy.spec.as_ref() else {
        return false;
    };
    match spec.policy_types.as_deref() {
        Some(types) if !types.is_empty() => types.iter().any(|t| t == direction.as_str()),
        _ => match direction {
            Direction::Ingress => true,
            Direction::Egress => spec.egress.as_ref().is_some_and(|e| !e.is_empty()),
        },
    }
}

/// True for a selector that selects every pod of the namespace: `{}` (no labels, no expressions).
pub fn selects_everything(selector: Option<&LabelSelector>) -> bool {
    selector.is_none_or(|s| {
        s.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
    })
}

/// True when the policy selects every pod of its namespace. The API requires `podSelector`; a missing one (a
/// malformed dump) is read as `{}`, as the API server would serialize an empty selector.
pub fn selects_every_pod(policy: &NetworkPolicy) -> bool {
    policy
        .spec
        .as_ref()
        .is_some_and(|s| selects_everything(s.pod_selector.as_ref()))
}

/// The number of the first rule (from 1) in `direction` with neither peers nor ports: it admits all traffic, from or
/// to anywhere, on every port.
pub fn allow_all_rule(policy: &NetworkPolicy, direction: Direction) -> Option<usize> {
    if !applies_to(policy, direction) {
        return None;
    }
    rules(policy, direction)
        .iter()
        .position(|r| r.peers.is_empty() && r.ports == 0)
        .map(|i| i + 1)
}

/// True when a CIDR covers the whole IPv4 or IPv6 address space: any address with prefix length 0
/// (`0.0.0.0/0`, `::/0`, `10.0.0.0/0`, ...).
pub fn is_whole_internet(cidr: &str) -> bool {
    let Some((address, prefix)) = cidr.trim().split_once('/') else {
        return false;
    };
    address.parse::<IpAddr>().is_ok() && prefix.parse::<u8>() == Ok(0)
}

/// The ipBlocks of the policy's `direction` rules that cover the whole internet, with their rule number (from 1)
/// and whether the rule is limited to some ports.
pub fn internet_blocks(
    policy: &NetworkPolicy,
    direction: Direction,
) -> Vec<(usize, &IPBlock, bool)> {
    if !applies_to(policy, direction) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, rule) in rules(policy, direction).iter().enumerate() {
        for peer in rule.peers {
            if let Some(block) = peer.ip_block.as_ref()
                && is_whole_internet(&block.cidr)
            {
                out.push((i + 1, block, rule.ports > 0));
            }
        }
    }
    out
}

/// How the policies of one namespace isolate it in one direction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Isolation {
    /// Policies that select every pod for the direction without an allow-all rule: default-deny policies
    /// (possibly with narrower allow rules).
    pub default_deny: Vec<String>,
    /// Policies with an allow-all rule for the direction, as (policy name, rule number, selects every pod).
    pub allow_all: Vec<(String, usize, bool)>,
    /// Policies that govern the direction but select only some pods.
    pub partial: Vec<String>,
}

impl Isolation {
    /// True when every pod is isolated by default and no rule admits everything.
    pub fn is_isolated(&self) -> bool {
        !self.default_deny.is_empty() && self.allow_all.is_empty()
    }
}

/// How the NetworkPolicies in `namespace` isolate it for `direction`, names sorted.
pub fn isolation(view: &ClusterSnapshot, namespace: &str, direction: Direction) -> Isolation {
    let policies: Vec<&NetworkPolicy> = view
        .network_policies
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
        .collect();
    isolation_of(&policies, direction)
}

/// How `policies`, all of one namespace, isolate it for `direction`, names sorted.
pub fn isolation_of(policies: &[&NetworkPolicy], direction: Direction) -> Isolation {
    let mut out = Isolation::default();
    for policy in policies.iter().filter(|p| applies_to(p, direction)) {
        let name = policy.metadata.name.clone().unwrap_or_default();
        let everything = selects_every_pod(policy);
        match allow_all_rule(policy, direction) {
            Some(rule) => out.allow_all.push((name, rule, everything)),
            None if everything => out.default_deny.push(name),
            None => out.partial.push(name),
        }
    }
    out.default_deny.sort();
    out.allow_all.sort();
    out.partial.sort();
    out
}

/// True when `namespace` denies ingress by default, as confidential data needs it: a NetworkPolicy selects every
/// pod (`podSelector: {}`) for Ingress (policyTypes including `Ingress`, or unset) without an allow-all rule, no
/// policy in the namespace admits all ingress traffic (an ingress rule with neither `from` nor `ports`) to any of
/// its pods, and no policy selecting every pod has an ingress rule admitting every source: no `from` (whatever its
/// ports), a peer `namespaceSelector: {}` without a narrowing `podSelector` (every pod of the cluster), or an
/// `ipBlock` covering the whole internet without `except`. Ports do not narrow who can reach every pod.
///
/// Callers must first check that NetworkPolicies are readable (`view.require(ResourceKind::NetworkPolicy)`): an
/// unreadable kind looks like a namespace without policies here.
pub fn namespace_default_denies_ingress(view: &ClusterSnapshot, namespace: &str) -> bool {
    isolation(view, namespace, Direction::Ingress).is_isolated()
        && !view.network_policies.iter().any(|p| {
            p.metadata.namespace.as_deref() == Some(namespace)
                && selects_every_pod(p)
                && applies_to(p, Direction::Ingress)
                && rules(p, Direction::Ingress)
                    .iter()
                    .any(|r| r.peers.is_empty() || r.peers.iter().any(admits_everyone))
        })
}

/// True for a peer that admits every source: every pod of every namespace (`namespaceSelector: {}` with no or an
/// empty `podSelector`), or an `ipBlock` covering the whole address space without exceptions.
fn admits_everyone(peer: &NetworkPolicyPeer) -> bool {
    if let Some(block) = &peer.ip_block {
        return is_whole_internet(&block.cidr)
            && block.except.as_ref().is_none_or(|e| e.is_empty());
    }
    peer.namespace_selector.as_ref().is_some_and(|ns| {
        selects_everything(Some(ns)) && selects_everything(peer.pod_selector.as_ref())
    })
}

/// The egress counterpart of [`namespace_default_denies_ingress`].
pub fn namespace_default_denies_egress(view: &ClusterSnapshot, namespace: &str) -> bool {
    isolation(view, namespace, Direction::Egress).is_isolated()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::networking::v1::{
        NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPort, NetworkPolicySpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelectorRequirement, ObjectMeta};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    use super::*;

    /// A policy named `name` in `ns` from its YAML `spec`.
    pub(crate) fn policy(ns: &str, name: &str, spec: &str) -> Arc<NetworkPolicy> {
        Arc::new(NetworkPolicy {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                ..Default::default()
            },
            spec: Some(serde_yaml::from_str(spec).expect("valid spec")),
        })
    }

    fn view(policies: Vec<Arc<NetworkPolicy>>) -> ClusterSnapshot {
        ClusterSnapshot {
            network_policies: policies,
            ..Default::default()
        }
    }

    fn denies(policies: Vec<Arc<NetworkPolicy>>) -> bool {
        namespace_default_denies_ingress(&view(policies), "web")
    }

    #[test]
    fn the_canonical_default_deny_isolates() {
        assert!(denies(vec![policy(
            "web",
            "deny",
            "{podSelector: {}, policyTypes: [Ingress]}"
        )]));
        // policyTypes unset defaults to Ingress.
        assert!(denies(vec![policy("web", "deny", "{podSelector: {}}")]));
        assert!(denies(vec![policy(
            "web",
            "deny",
            "{podSelector: {}, policyTypes: []}"
        )]));
        // An empty matchLabels / matchExpressions is still `{}`.
        assert!(denies(vec![policy(
            "web",
            "deny",
            "{podSelector: {matchLabels: {}, matchExpressions: []}, policyTypes: [Ingress, Egress]}"
        )]));
        // Egress rules with unset policyTypes: Ingress and Egress both apply, so ingress is denied.
        assert!(denies(vec![policy(
            "web",
            "deny",
            "{podSelector: {}, egress: [{to: [{podSelector: {}}]}]}"
        )]));
    }

    #[test]
    fn default_deny_with_narrow_allow_rules_isolates() {
        assert!(denies(vec![
            policy("web", "deny", "{podSelector: {}, policyTypes: [Ingress]}"),
            policy(
                "web",
                "allow-frontend",
                "{podSelector: {matchLabels: {app: api}}, ingress: [{from: [{podSelector: {matchLabels: {app: frontend}}}]}]}"
            ),
            policy(
                "web",
                "allow-https",
                "{podSelector: {matchLabels: {app: gw}}, ingress: [{ports: [{port: 443}]}]}"
            ),
        ]));
        // A podSelector-{} policy whose rules allow only some peers is also a default deny for everyone else.
        assert!(denies(vec![policy(
            "web",
            "same-namespace-only",
            "{podSelector: {}, ingress: [{from: [{podSelector: {}}]}]}"
        )]));
    }

    #[test]
    fn no_policy_or_only_partial_policies_do_not_isolate() {
        assert!(!denies(vec![]));
        assert!(!denies(vec![policy(
            "web",
            "api-only",
            "{podSelector: {matchLabels: {app: api}}, policyTypes: [Ingress]}"
        )]));
        assert!(!denies(vec![policy(
            "web",
            "exists",
            "{podSelector: {matchExpressions: [{key: app, operator: Exists}]}}"
        )]));
    }

    #[test]
    fn egress_only_policies_do_not_isolate_ingress() {
        assert!(!denies(vec![policy(
            "web",
            "deny-egress",
            "{podSelector: {}, policyTypes: [Egress]}"
        )]));
        // Ingress rules are ignored when policyTypes says Egress only.
        assert!(!denies(vec![policy(
            "web",
            "odd",
            "{podSelector: {}, policyTypes: [Egress], ingress: [{from: [{podSelector: {}}]}]}"
        )]));
    }

    #[test]
    fn allow_all_rules_are_not_isolation() {
        for spec in [
            "{podSelector: {}, ingress: [{}]}",
            "{podSelector: {}, policyTypes: [Ingress], ingress: [{from: [], ports: []}]}",
            "{podSelector: {}, ingress: [{from: [{podSelector: {}}]}, {}]}",
        ] {
            assert!(!denies(vec![policy("web", "allow-all", spec)]), "{spec}");
            // Even beside a default deny: policies are additive.
            assert!(
                !denies(vec![
                    policy("web", "deny", "{podSelector: {}}"),
                    policy("web", "allow-all", spec),
                ]),
                "{spec}"
            );
        }
        // An allow-all rule for some pods opens those pods to everything.
        let iso = isolation(
            &view(vec![
                policy("web", "deny", "{podSelector: {}}"),
                policy(
                    "web",
                    "open-gw",
                    "{podSelector: {matchLabels: {app: gw}}, ingress: [{}]}",
                ),
            ]),
            "web",
            Direction::Ingress,
        );
        assert!(!iso.is_isolated());
        assert_eq!(iso.allow_all, vec![("open-gw".to_string(), 1, false)]);
        assert_eq!(iso.default_deny, vec!["deny".to_string()]);
        // An allow-all egress rule does not open ingress.
        assert!(denies(vec![policy(
            "web",
            "deny-in-allow-out",
            "{podSelector: {}, policyTypes: [Ingress, Egress], egress: [{}]}"
        )]));
    }

    #[test]
    fn an_all_pods_rule_admitting_every_source_is_not_isolation_whatever_its_ports() {
        let deny = || policy("web", "deny", "{podSelector: {}, policyTypes: [Ingress]}");
        for spec in [
            "{podSelector: {}, ingress: [{from: [{namespaceSelector: {}}]}]}",
            "{podSelector: {}, ingress: [{from: [{namespaceSelector: {}, podSelector: {}}]}]}",
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0}}]}]}",
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: '::/0', except: []}}], ports: [{port: 443}]}]}",
            "{podSelector: {}, ingress: [{ports: [{port: 443}]}]}",
            "{podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {app: a}}}, {namespaceSelector: {}}]}]}",
        ] {
            assert!(!denies(vec![deny(), policy("web", "open", spec)]), "{spec}");
        }
        // The compliant twins: named peers, an internet range with exceptions, everyone in one namespace, or an
        // open rule on some pods only (a deliberate entry point behind the default deny).
        for spec in [
            "{podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: shop}}}]}]}",
            "{podSelector: {}, ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: gw}}}]}]}",
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]}]}",
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}}]}]}",
            "{podSelector: {}, ingress: [{from: [{podSelector: {}}]}]}",
            "{podSelector: {matchLabels: {app: gw}}, ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0}}]}]}",
            "{podSelector: {}, policyTypes: [Ingress, Egress], egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}]}]}",
        ] {
            assert!(
                denies(vec![deny(), policy("web", "narrow", spec)]),
                "{spec}"
            );
        }
    }

    #[test]
    fn policies_of_other_namespaces_do_not_count() {
        assert!(!denies(vec![policy("api", "deny", "{podSelector: {}}")]));
        assert!(denies(vec![
            policy("web", "deny", "{podSelector: {}}"),
            policy("api", "allow-all", "{podSelector: {}, ingress: [{}]}"),
        ]));
    }

    #[test]
    fn malformed_policies_never_panic_and_never_isolate() {
        let no_spec = Arc::new(NetworkPolicy {
            metadata: ObjectMeta {
                name: Some("empty".into()),
                namespace: Some("web".into()),
                ..Default::default()
            },
            spec: None,
        });
        assert!(!denies(vec![no_spec]));
        // No name, no namespace.
        let nameless = Arc::new(NetworkPolicy {
            metadata: ObjectMeta::default(),
            spec: Some(NetworkPolicySpec::default()),
        });
        assert!(!denies(vec![nameless]));
        // A podSelector missing from a dump reads as `{}`.
        let missing_selector = Arc::new(NetworkPolicy {
            metadata: ObjectMeta {
                name: Some("deny".into()),
                namespace: Some("web".into()),
                ..Default::default()
            },
            spec: Some(NetworkPolicySpec {
                pod_selector: None,
                policy_types: Some(vec!["Ingress".into()]),
                ..Default::default()
            }),
        });
        assert!(denies(vec![missing_selector]));
        // Unknown policy types govern nothing.
        assert!(!denies(vec![policy(
            "web",
            "odd",
            "{podSelector: {}, policyTypes: [Sideways]}"
        )]));
    }

    #[test]
    fn egress_isolation_follows_the_same_rules() {
        let egress = |policies| namespace_default_denies_egress(&view(policies), "web");
        assert!(egress(vec![policy(
            "web",
            "deny",
            "{podSelector: {}, policyTypes: [Egress]}"
        )]));
        assert!(egress(vec![policy(
            "web",
            "deny-but-dns",
            "{podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: 53, protocol: UDP}]}]}"
        )]));
        // Unset policyTypes without egress rules is ingress only.
        assert!(!egress(vec![policy("web", "deny", "{podSelector: {}}")]));
        assert!(!egress(vec![policy(
            "web",
            "allow-all",
            "{podSelector: {}, policyTypes: [Egress], egress: [{}]}"
        )]));
        assert!(!egress(vec![policy(
            "web",
            "partial",
            "{podSelector: {matchLabels: {a: b}}, policyTypes: [Egress]}"
        )]));
    }

    #[test]
    fn whole_internet_cidrs() {
        for cidr in [
            "0.0.0.0/0",
            "::/0",
            " 0.0.0.0/0 ",
            "10.0.0.0/0",
            "0:0:0:0:0:0:0:0/0",
            "::ffff:0.0.0.0/0",
        ] {
            assert!(is_whole_internet(cidr), "{cidr}");
        }
        for cidr in [
            "0.0.0.0/1",
            "10.0.0.0/8",
            "0.0.0.0",
            "::/128",
            "nonsense/0",
            "",
            "/0",
            "0.0.0.0/x",
            "0.0.0.0/-0",
        ] {
            assert!(!is_whole_internet(cidr), "{cidr}");
        }
    }

    #[test]
    fn internet_blocks_are_found_per_direction() {
        let p = policy(
            "web",
            "public",
            "{podSelector: {}, policyTypes: [Ingress, Egress], ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}}]}, {from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}], ports: [{port: 443}]}], egress: [{to: [{ipBlock: {cidr: '::/0'}}]}]}",
        );
        let ingress = internet_blocks(&p, Direction::Ingress);
        assert_eq!(ingress.len(), 1);
        assert_eq!(ingress[0].0, 2);
        assert_eq!(ingress[0].1.cidr, "0.0.0.0/0");
        assert!(ingress[0].2, "rule 2 is port-limited");
        let egress = internet_blocks(&p, Direction::Egress);
        assert_eq!((egress.len(), egress[0].0, egress[0].2), (1, 1, false));
        // Egress rules of an ingress-only policy are ignored, as the API ignores them.
        let ingress_only = policy(
            "web",
            "p",
            "{podSelector: {}, policyTypes: [Ingress], egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}]}]}",
        );
        assert!(internet_blocks(&ingress_only, Direction::Egress).is_empty());
    }

    #[test]
    fn typed_construction_matches_yaml() {
        // The same shape built with types, so the YAML helper is not what is being tested.
        let typed = Arc::new(NetworkPolicy {
            metadata: ObjectMeta {
                name: Some("deny".into()),
                namespace: Some("web".into()),
                ..Default::default()
            },
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(LabelSelector::default()),
                policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
                ingress: Some(vec![NetworkPolicyIngressRule {
                    from: None,
                    ports: Some(vec![NetworkPolicyPort {
                        port: Some(IntOrString::Int(8080)),
                        ..Default::default()
                    }]),
                }]),
                egress: Some(vec![NetworkPolicyEgressRule::default()]),
            }),
        });
        // Default deny as network isolation reads it (the open rule is limited to a port)...
        assert!(isolation(&view(vec![typed.clone()]), "web", Direction::Ingress).is_isolated());
        // ...but every source reaches every pod on that port, which a confidential namespace must not allow.
        assert!(!denies(vec![typed.clone()]));
        assert!(!namespace_default_denies_egress(&view(vec![typed]), "web"));
        let subset = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "app".into(),
                operator: "In".into(),
                values: Some(vec!["a".into()]),
            }]),
            ..Default::default()
        };
        assert!(!selects_everything(Some(&subset)));
        assert!(selects_everything(None));
    }
}
