//! Which RBAC rules and roles amount to privileged access.

use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef};

use crate::view::ClusterSnapshot;

/// Why a rule set is privileged, in words an auditor reads ("wildcard verbs", "read access to secrets", ...).
pub fn privileged_rule_reasons(rules: &[PolicyRule]) -> Vec<String> {
    let mut reasons = Vec::new();
    let mut push = |r: &str| {
        if !reasons.iter().any(|x| x == r) {
            reasons.push(r.to_string());
        }
    };
    for rule in rules {
        let verbs = &rule.verbs;
        let resources = rule.resources.as_deref().unwrap_or_default();
        let groups = rule.api_groups.as_deref().unwrap_or_default();
        // Rules that only name non-resource URLs (e.g. /healthz) grant nothing over cluster objects.
        if resources.is_empty() {
            continue;
        }
        let has = |list: &[String], v: &str| list.iter().any(|x| x == v);
        if has(verbs, "*") {
            push("wildcard verbs");
        }
        if has(resources, "*") {
            push("wildcard resources");
        }
        let core_group = groups.is_empty() || has(groups, "") || has(groups, "*");
        let secrets = has(resources, "secrets") || has(resources, "*");
        let reads = ["get", "list", "watch", "*"].iter().any(|v| has(verbs, v));
        if core_group && secrets && reads {
            push("read access to secrets");
        }
        for verb in ["escalate", "bind", "impersonate"] {
            if has(verbs, verb) {
                push(&format!("the {verb} verb"));
            }
        }
    }
    reasons
}

/// Why the role a binding refers to is privileged; empty when it is not (or does not exist: a binding to a
/// missing role grants nothing until the role appears, and the control is re-evaluated then).
pub fn role_ref_reasons(
    view: &ClusterSnapshot,
    role_ref: &RoleRef,
    binding_namespace: Option<&str>,
    privileged_cluster_roles: &[String],
) -> Vec<String> {
    match role_ref.kind.as_str() {
        "ClusterRole" => {
            if privileged_cluster_roles.iter().any(|r| r == &role_ref.name) {
                return vec!["administrative rights".to_string()];
            }
            view.cluster_roles
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(role_ref.name.as_str()))
                .map(|r| privileged_rule_reasons(r.rules.as_deref().unwrap_or_default()))
                .unwrap_or_default()
        }
        "Role" => view
            .roles
            .iter()
            .find(|r| {
                r.metadata.name.as_deref() == Some(role_ref.name.as_str())
                    && r.metadata.namespace.as_deref() == binding_namespace
            })
            .map(|r| privileged_rule_reasons(r.rules.as_deref().unwrap_or_default()))
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        PolicyRule {
            api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
            resources: Some(resources.iter().map(|s| s.to_string()).collect()),
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn each_privileged_pattern_is_named() {
        assert_eq!(
            privileged_rule_reasons(&[rule(&["apps"], &["deployments"], &["*"])]),
            ["wildcard verbs"]
        );
        assert_eq!(
            privileged_rule_reasons(&[rule(&["apps"], &["*"], &["get"])]),
            ["wildcard resources"]
        );
        assert_eq!(
            privileged_rule_reasons(&[rule(&[""], &["secrets"], &["list"])]),
            ["read access to secrets"]
        );
        assert_eq!(
            privileged_rule_reasons(&[rule(
                &["rbac.authorization.k8s.io"],
                &["clusterroles"],
                &["escalate"]
            )]),
            ["the escalate verb"]
        );
        assert_eq!(
            privileged_rule_reasons(&[rule(&["rbac.authorization.k8s.io"], &["roles"], &["bind"])]),
            ["the bind verb"]
        );
        assert_eq!(
            privileged_rule_reasons(&[rule(&[""], &["users", "groups"], &["impersonate"])]),
            ["the impersonate verb"]
        );
    }

    #[test]
    fn ordinary_rules_are_not_privileged() {
        assert!(
            privileged_rule_reasons(&[rule(
                &[""],
                &["pods", "configmaps"],
                &["get", "list", "watch"]
            )])
            .is_empty()
        );
        assert!(
            privileged_rule_reasons(&[rule(&[""], &["secrets"], &["create", "delete"])]).is_empty(),
            "write-only secrets is not read access"
        );
        assert!(
            privileged_rule_reasons(&[rule(&["example.com"], &["secrets"], &["get"])]).is_empty(),
            "secrets of another API group"
        );
        let non_resource = PolicyRule {
            non_resource_urls: Some(vec!["*".into()]),
            verbs: vec!["*".into()],
            ..Default::default()
        };
        assert!(privileged_rule_reasons(&[non_resource]).is_empty());
        assert!(privileged_rule_reasons(&[]).is_empty());
    }

    #[test]
    fn wildcard_resources_in_core_group_imply_secrets_read() {
        let reasons = privileged_rule_reasons(&[rule(&[""], &["*"], &["get"])]);
        assert_eq!(reasons, ["wildcard resources", "read access to secrets"]);
    }
}
