//! NetworkPolicy predicates shared by the checks that need to know whether a namespace is isolated
//! (confidentiality, network isolation).

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::view::ClusterSnapshot;

/// True when `namespace` denies ingress by default: at least one NetworkPolicy in it selects every pod
/// (`podSelector: {}`) and covers Ingress (listed in `policyTypes`, or `policyTypes` unset, which always implies
/// Ingress), and no such all-pods policy has a rule admitting every source. Policies are additive, so an
/// all-pods policy that admits everyone undoes the isolation even next to a deny-all policy; policies selecting
/// only some pods open exceptions for those pods and do not count either way.
pub fn namespace_default_denies_ingress(view: &ClusterSnapshot, namespace: &str) -> bool {
    let all_pods_ingress: Vec<&NetworkPolicy> = view
        .network_policies
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
        .filter(|p| selects_all_pods(p) && covers_ingress(p))
        .collect();
    !all_pods_ingress.is_empty()
        && !all_pods_ingress
            .iter()
            .any(|p| ingress_rules(p).iter().any(admits_all_sources))
}

fn ingress_rules(policy: &NetworkPolicy) -> &[NetworkPolicyIngressRule] {
    policy
        .spec
        .as_ref()
        .and_then(|s| s.ingress.as_deref())
        .unwrap_or_default()
}

/// True for an empty selector (`{}`), which selects everything.
pub fn is_empty_selector(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|e| e.is_empty())
}

/// True when the policy applies to every pod of its namespace. A policy without spec selects nothing useful and
/// is not counted.
pub fn selects_all_pods(policy: &NetworkPolicy) -> bool {
    policy
        .spec
        .as_ref()
        .is_some_and(|s| s.pod_selector.as_ref().is_none_or(is_empty_selector))
}

/// True when the policy restricts ingress: `Ingress` in `policyTypes`, or `policyTypes` unset (the API server
/// then always includes Ingress).
pub fn covers_ingress(policy: &NetworkPolicy) -> bool {
    match policy.spec.as_ref().and_then(|s| s.policy_types.as_ref()) {
        None => policy.spec.is_some(),
        Some(types) => types.iter().any(|t| t == "Ingress"),
    }
}

/// True when an ingress rule admits traffic from every source: no `from` (or an empty list), a peer selecting
/// every pod in every namespace (`namespaceSelector: {}` without a narrowing `podSelector`), or an `ipBlock` of
/// `0.0.0.0/0` or `::/0` without exceptions. Ports do not narrow the sources, so a rule admitting everyone on
/// some ports still counts as admitting all.
pub fn admits_all_sources(rule: &NetworkPolicyIngressRule) -> bool {
    match rule.from.as_deref() {
        None | Some([]) => true,
        Some(peers) => peers.iter().any(peer_is_everyone),
    }
}

fn peer_is_everyone(peer: &NetworkPolicyPeer) -> bool {
    if let Some(block) = &peer.ip_block {
        let open = matches!(block.cidr.trim(), "0.0.0.0/0" | "::/0");
        return open && block.except.as_ref().is_none_or(|e| e.is_empty());
    }
    match (&peer.namespace_selector, &peer.pod_selector) {
        (Some(ns), pods) => is_empty_selector(ns) && pods.as_ref().is_none_or(is_empty_selector),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use k8s_openapi::api::networking::v1::{IPBlock, NetworkPolicySpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn policy(
        ns: &str,
        pod_selector: Option<LabelSelector>,
        types: Option<&[&str]>,
        ingress: Option<Vec<NetworkPolicyIngressRule>>,
    ) -> Arc<NetworkPolicy> {
        Arc::new(NetworkPolicy {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some(ns.into()),
                ..Default::default()
            },
            spec: Some(NetworkPolicySpec {
                pod_selector,
                policy_types: types.map(|t| t.iter().map(|s| s.to_string()).collect()),
                ingress,
                ..Default::default()
            }),
        })
    }

    fn labels(k: &str, v: &str) -> LabelSelector {
        LabelSelector {
            match_labels: Some(BTreeMap::from([(k.into(), v.into())])),
            ..Default::default()
        }
    }

    fn view(policies: Vec<Arc<NetworkPolicy>>) -> ClusterSnapshot {
        ClusterSnapshot {
            network_policies: policies,
            ..Default::default()
        }
    }

    fn from(peers: Vec<NetworkPolicyPeer>) -> NetworkPolicyIngressRule {
        NetworkPolicyIngressRule {
            from: Some(peers),
            ports: None,
        }
    }

    #[test]
    fn deny_all_ingress_isolates_only_its_namespace() {
        let v = view(vec![policy(
            "pay",
            Some(LabelSelector::default()),
            Some(&["Ingress"]),
            None,
        )]);
        assert!(namespace_default_denies_ingress(&v, "pay"));
        assert!(!namespace_default_denies_ingress(&v, "web"));
    }

    #[test]
    fn unset_policy_types_and_unset_selector_mean_ingress_for_all_pods() {
        let v = view(vec![policy("pay", None, None, None)]);
        assert!(namespace_default_denies_ingress(&v, "pay"));
    }

    #[test]
    fn egress_only_or_partial_selector_is_not_ingress_isolation() {
        let v = view(vec![
            policy(
                "pay",
                Some(LabelSelector::default()),
                Some(&["Egress"]),
                None,
            ),
            policy("pay", Some(labels("app", "db")), Some(&["Ingress"]), None),
        ]);
        assert!(!namespace_default_denies_ingress(&v, "pay"));
        let no_spec = Arc::new(NetworkPolicy {
            metadata: ObjectMeta {
                namespace: Some("pay".into()),
                ..Default::default()
            },
            spec: None,
        });
        assert!(!namespace_default_denies_ingress(
            &view(vec![no_spec]),
            "pay"
        ));
    }

    #[test]
    fn allow_all_rules_undo_isolation() {
        let deny = policy(
            "pay",
            Some(LabelSelector::default()),
            Some(&["Ingress"]),
            None,
        );
        let allow_rules = [
            NetworkPolicyIngressRule::default(),
            from(vec![]),
            from(vec![NetworkPolicyPeer {
                namespace_selector: Some(LabelSelector::default()),
                ..Default::default()
            }]),
            from(vec![NetworkPolicyPeer {
                ip_block: Some(IPBlock {
                    cidr: "0.0.0.0/0".into(),
                    except: None,
                }),
                ..Default::default()
            }]),
            from(vec![NetworkPolicyPeer {
                ip_block: Some(IPBlock {
                    cidr: "::/0".into(),
                    except: Some(vec![]),
                }),
                ..Default::default()
            }]),
        ];
        for rule in allow_rules {
            let allow = policy(
                "pay",
                Some(LabelSelector::default()),
                Some(&["Ingress"]),
                Some(vec![rule.clone()]),
            );
            assert!(
                !namespace_default_denies_ingress(&view(vec![deny.clone(), allow]), "pay"),
                "{rule:?}"
            );
        }
    }

    #[test]
    fn narrow_rules_keep_isolation() {
        let narrow_rules = [
            from(vec![NetworkPolicyPeer {
                pod_selector: Some(labels("app", "frontend")),
                ..Default::default()
            }]),
            from(vec![NetworkPolicyPeer {
                namespace_selector: Some(LabelSelector::default()),
                pod_selector: Some(labels("app", "prometheus")),
                ..Default::default()
            }]),
            from(vec![NetworkPolicyPeer {
                ip_block: Some(IPBlock {
                    cidr: "10.0.0.0/8".into(),
                    except: None,
                }),
                ..Default::default()
            }]),
            from(vec![NetworkPolicyPeer {
                ip_block: Some(IPBlock {
                    cidr: "0.0.0.0/0".into(),
                    except: Some(vec!["10.0.0.0/8".into()]),
                }),
                ..Default::default()
            }]),
        ];
        for rule in narrow_rules {
            let p = policy(
                "pay",
                Some(LabelSelector::default()),
                None,
                Some(vec![rule.clone()]),
            );
            assert!(
                namespace_default_denies_ingress(&view(vec![p]), "pay"),
                "{rule:?}"
            );
        }
        // An allow-all rule on some pods only opens those pods; the namespace stays isolated by default.
        let v = view(vec![
            policy(
                "pay",
                Some(LabelSelector::default()),
                Some(&["Ingress"]),
                None,
            ),
            policy(
                "pay",
                Some(labels("app", "web")),
                Some(&["Ingress"]),
                Some(vec![NetworkPolicyIngressRule::default()]),
            ),
        ]);
        assert!(namespace_default_denies_ingress(&v, "pay"));
    }
}
