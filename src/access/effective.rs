//! Every subject's effective access, resolved from the RBAC objects of a snapshot.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::SelectorExt;
use serde::{Deserialize, Serialize};

use crate::api::{SubjectKey, SubjectKind};
use crate::checks::rbac_privilege::privileged_rule_reasons;
use crate::view::{ClusterSnapshot, ScopeMatcher};

/// The label Kubernetes puts on the roles and bindings it creates itself (`system:*`, `cluster-admin`, ...).
pub const BOOTSTRAP_LABEL: (&str, &str) = ("kubernetes.io/bootstrapping", "rbac-defaults");

/// The reason a role named in `privilegedClusterRoles` is privileged.
pub const ADMINISTRATIVE_RIGHTS: &str = "administrative rights";

/// Which subjects and which of their access a review covers.
#[derive(Clone, Debug)]
pub struct AccessScope {
    /// The kinds of subject reviewed.
    pub kinds: BTreeSet<SubjectKind>,
    /// Which bindings count: a RoleBinding by its namespace and labels, a ClusterRoleBinding by its labels only (it
    /// grants access in every namespace).
    pub bindings: ScopeMatcher,
    /// Only privileged access: subjects without any are left out, and only their privileged grants are listed.
    pub privileged_only: bool,
    /// ClusterRoles that are privileged by name (the MFA check's `privilegedClusterRoles`).
    pub privileged_cluster_roles: Vec<String>,
    /// Whether the bindings Kubernetes creates for its own components (labelled
    /// `kubernetes.io/bootstrapping: rbac-defaults`) are reviewed too.
    pub include_default_bindings: bool,
}

/// A binding, by kind, namespace and name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "camelCase")]
pub struct BindingRef {
    /// `ClusterRoleBinding` or `RoleBinding`.
    pub kind: String,
    /// The RoleBinding's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The binding's name.
    pub name: String,
}

/// What one binding grants one subject.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    /// The binding that names the subject.
    pub binding: BindingRef,
    /// The role it binds (`Role` or `ClusterRole` and its name).
    pub role_kind: String,
    /// The role's name.
    pub role_name: String,
    /// Where the access applies: the RoleBinding's namespace; unset for a ClusterRoleBinding (every namespace and
    /// cluster-scoped objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The rules the role grants, as the API server resolved them (an aggregated ClusterRole's rules are the union
    /// of the roles it selects).
    pub rules: Vec<PolicyRule>,
    /// Why the grant is privileged ("administrative rights", "wildcard verbs", "read access to secrets", ...);
    /// empty when it is not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub privileged: Vec<String>,
    /// The bound role does not exist: the binding grants nothing until a role of that name is created.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub role_missing: bool,
    /// The ClusterRole is aggregated from others.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub aggregated: bool,
}

impl Grant {
    /// The grant's identity across populations: which binding binds which role.
    pub fn key(&self) -> (&BindingRef, &str, &str) {
        (&self.binding, &self.role_kind, &self.role_name)
    }
}

/// One subject and everything it is granted.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccess {
    /// The subject.
    pub subject: SubjectKey,
    /// Its grants, ordered by binding.
    pub grants: Vec<Grant>,
    /// Why its access is privileged, over all its grants; empty when it is not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub privileged: Vec<String>,
}

/// Every subject in a review's scope with its access, ordered by subject.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Population {
    /// The subjects.
    pub subjects: Vec<SubjectAccess>,
}

impl Population {
    /// The subject's access, if it is in the population.
    pub fn get(&self, subject: &SubjectKey) -> Option<&SubjectAccess> {
        self.subjects
            .binary_search_by(|s| s.subject.cmp(subject))
            .ok()
            .map(|i| &self.subjects[i])
    }

    /// Subjects holding privileged access.
    pub fn privileged(&self) -> impl Iterator<Item = &SubjectAccess> {
        self.subjects.iter().filter(|s| !s.privileged.is_empty())
    }
}

/// Resolves every in-scope subject's effective access from the snapshot's Roles, ClusterRoles, RoleBindings and
/// ClusterRoleBindings.
pub fn resolve(view: &ClusterSnapshot, scope: &AccessScope) -> Population {
    let roles = Roles::new(view, &scope.privileged_cluster_roles);
    let mut by_subject: BTreeMap<SubjectKey, Vec<Grant>> = BTreeMap::new();
    let mut add =
        |meta: &ObjectMeta, kind: &str, subjects: Option<&Vec<Subject>>, role: &RoleRef| {
            if !scope.include_default_bindings && is_default(meta) {
                return;
            }
            if !scope.bindings.matches(meta) {
                return;
            }
            let namespace = meta.namespace.clone();
            let binding = BindingRef {
                kind: kind.to_string(),
                namespace: namespace.clone(),
                name: meta.name.clone().unwrap_or_default(),
            };
            let granted = roles.grant(binding, role, namespace.as_deref());
            if scope.privileged_only && granted.privileged.is_empty() {
                return;
            }
            // One entry per subject even when a binding names it twice (directly and as its service-account user).
            let mut named: BTreeSet<SubjectKey> = BTreeSet::new();
            for subject in subjects.into_iter().flatten() {
                if let Some(key) =
                    SubjectKey::from_binding_subject(subject, meta.namespace.as_deref())
                    && scope.kinds.contains(&key.kind)
                {
                    named.insert(key);
                }
            }
            for key in named {
                by_subject.entry(key).or_default().push(granted.clone());
            }
        };
    for b in &view.cluster_role_bindings {
        add(
            &b.metadata,
            "ClusterRoleBinding",
            b.subjects.as_ref(),
            &b.role_ref,
        );
    }
    for b in &view.role_bindings {
        add(&b.metadata, "RoleBinding", b.subjects.as_ref(), &b.role_ref);
    }
    let subjects = by_subject
        .into_iter()
        .map(|(subject, mut grants)| {
            grants.sort_by(|a, b| a.key().cmp(&b.key()));
            let mut privileged: Vec<String> = Vec::new();
            for reason in grants.iter().flat_map(|g| &g.privileged) {
                if !privileged.contains(reason) {
                    privileged.push(reason.clone());
                }
            }
            SubjectAccess {
                subject,
                grants,
                privileged,
            }
        })
        .collect();
    Population { subjects }
}

/// True for the roles and bindings Kubernetes creates for its own components.
fn is_default(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(BOOTSTRAP_LABEL.0))
        .is_some_and(|v| v == BOOTSTRAP_LABEL.1)
}

/// The snapshot's roles by name, with what each grants resolved once.
struct Roles<'a> {
    cluster_roles: HashMap<&'a str, &'a ClusterRole>,
    roles: HashMap<(&'a str, &'a str), &'a [PolicyRule]>,
    all_cluster_roles: &'a [std::sync::Arc<ClusterRole>],
    privileged_cluster_roles: &'a [String],
}

impl<'a> Roles<'a> {
    fn new(view: &'a ClusterSnapshot, privileged_cluster_roles: &'a [String]) -> Self {
        let cluster_roles = view
            .cluster_roles
            .iter()
            .filter_map(|r| Some((r.metadata.name.as_deref()?, r.as_ref())))
            .collect();
        let roles = view
            .roles
            .iter()
            .filter_map(|r| {
                Some((
                    (
                        r.metadata.namespace.as_deref()?,
                        r.metadata.name.as_deref()?,
                    ),
                    r.rules.as_deref().unwrap_or_default(),
                ))
            })
            .collect();
        Roles {
            cluster_roles,
            roles,
            all_cluster_roles: &view.cluster_roles,
            privileged_cluster_roles,
        }
    }

    fn grant(&self, binding: BindingRef, role: &RoleRef, namespace: Option<&str>) -> Grant {
        let (rules, role_missing, aggregated) = match role.kind.as_str() {
            "ClusterRole" => match self.cluster_roles.get(role.name.as_str()) {
                Some(cr) => {
                    let (rules, aggregated) = self.cluster_role_rules(cr);
                    (rules, false, aggregated)
                }
                None => (Vec::new(), true, false),
            },
            // A RoleBinding binds a Role of its own namespace; a ClusterRoleBinding cannot bind a Role.
            "Role" => match namespace.and_then(|ns| self.roles.get(&(ns, role.name.as_str()))) {
                Some(rules) => (rules.to_vec(), false, false),
                None => (Vec::new(), true, false),
            },
            _ => (Vec::new(), true, false),
        };
        let privileged = if role.kind == "ClusterRole"
            && !role_missing
            && self
                .privileged_cluster_roles
                .iter()
                .any(|r| r == &role.name)
        {
            vec![ADMINISTRATIVE_RIGHTS.to_string()]
        } else {
            privileged_rule_reasons(&rules)
        };
        Grant {
            binding,
            role_kind: role.kind.clone(),
            role_name: role.name.clone(),
            namespace: namespace.map(str::to_string),
            rules,
            privileged,
            role_missing,
            aggregated,
        }
    }

    /// A ClusterRole's rules and whether it is aggregated. The API server's aggregation controller writes an
    /// aggregated role's rules into it; until it has (or in a manifest that never went through an API server) the
    /// rules are the union of the ClusterRoles its selectors match.
    fn cluster_role_rules(&self, role: &ClusterRole) -> (Vec<PolicyRule>, bool) {
        let rules = role.rules.clone().unwrap_or_default();
        let Some(aggregation) = &role.aggregation_rule else {
            return (rules, false);
        };
        if !rules.is_empty() {
            return (rules, true);
        }
        let selectors: Vec<kube::core::Selector> = aggregation
            .cluster_role_selectors
            .iter()
            .flatten()
            .filter_map(|s| kube::core::Selector::try_from(s.clone()).ok())
            .collect();
        let mut union: Vec<PolicyRule> = Vec::new();
        let empty = BTreeMap::new();
        for other in self.all_cluster_roles {
            if other.metadata.name == role.metadata.name {
                continue;
            }
            let labels = other.metadata.labels.as_ref().unwrap_or(&empty);
            if selectors.iter().any(|s| s.matches(labels)) {
                for rule in other.rules.iter().flatten() {
                    if !union.contains(rule) {
                        union.push(rule.clone());
                    }
                }
            }
        }
        (union, true)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::api::rbac::v1::{AggregationRule, ClusterRoleBinding, Role, RoleBinding};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    use super::*;
    use crate::api::Scope;

    fn meta(namespace: Option<&str>, name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: namespace.map(Into::into),
            labels: (!labels.is_empty()).then(|| {
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            }),
            ..Default::default()
        }
    }

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        PolicyRule {
            api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
            resources: Some(resources.iter().map(|s| s.to_string()).collect()),
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn read_pods() -> PolicyRule {
        rule(&[""], &["pods"], &["get", "list"])
    }

    fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> Arc<ClusterRole> {
        Arc::new(ClusterRole {
            metadata: meta(None, name, &[]),
            rules: Some(rules),
            ..Default::default()
        })
    }

    fn role(namespace: &str, name: &str, rules: Vec<PolicyRule>) -> Arc<Role> {
        Arc::new(Role {
            metadata: meta(Some(namespace), name, &[]),
            rules: Some(rules),
        })
    }

    fn subject(kind: &str, name: &str, namespace: Option<&str>) -> Subject {
        Subject {
            kind: kind.into(),
            name: name.into(),
            namespace: namespace.map(Into::into),
            api_group: None,
        }
    }

    fn role_ref(kind: &str, name: &str) -> RoleRef {
        RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: kind.into(),
            name: name.into(),
        }
    }

    fn crb(name: &str, role: &str, subjects: Vec<Subject>) -> Arc<ClusterRoleBinding> {
        Arc::new(ClusterRoleBinding {
            metadata: meta(None, name, &[]),
            role_ref: role_ref("ClusterRole", role),
            subjects: Some(subjects),
        })
    }

    fn rb(namespace: &str, name: &str, role: RoleRef, subjects: Vec<Subject>) -> Arc<RoleBinding> {
        Arc::new(RoleBinding {
            metadata: meta(Some(namespace), name, &[]),
            role_ref: role,
            subjects: Some(subjects),
        })
    }

    fn everyone() -> AccessScope {
        scope(None, false)
    }

    fn scope(bindings: Option<Scope>, privileged_only: bool) -> AccessScope {
        AccessScope {
            kinds: [
                SubjectKind::User,
                SubjectKind::Group,
                SubjectKind::ServiceAccount,
            ]
            .into(),
            bindings: ScopeMatcher::new(bindings.as_ref(), &ClusterSnapshot::default()).unwrap(),
            privileged_only,
            privileged_cluster_roles: vec!["cluster-admin".into(), "admin".into(), "edit".into()],
            include_default_bindings: false,
        }
    }

    fn keys(population: &Population) -> Vec<String> {
        population
            .subjects
            .iter()
            .map(|s| s.subject.to_string())
            .collect()
    }

    #[test]
    fn a_subject_named_in_several_bindings_lists_each_grant_once() {
        let view = ClusterSnapshot {
            cluster_roles: vec![
                cluster_role("view", vec![read_pods()]),
                cluster_role("edit", vec![]),
            ],
            cluster_role_bindings: vec![crb(
                "viewers",
                "view",
                vec![subject("User", "alice", None)],
            )],
            role_bindings: vec![rb(
                "apps",
                "editors",
                role_ref("ClusterRole", "edit"),
                vec![
                    subject("User", "alice", None),
                    subject("User", "bob", None),
                    // The same user named twice in one binding is one grant.
                    subject("User", "alice", None),
                ],
            )],
            ..Default::default()
        };
        let population = resolve(&view, &everyone());
        assert_eq!(keys(&population), ["User alice", "User bob"]);
        let alice = population.get(&SubjectKey::user("alice")).unwrap();
        let grants: Vec<_> = alice
            .grants
            .iter()
            .map(|g| {
                (
                    g.binding.kind.as_str(),
                    g.role_name.as_str(),
                    g.namespace.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            grants,
            [
                ("ClusterRoleBinding", "view", None),
                ("RoleBinding", "edit", Some("apps"))
            ]
        );
        assert_eq!(alice.privileged, [ADMINISTRATIVE_RIGHTS]);
        assert_eq!(alice.grants[0].rules, [read_pods()]);
        assert!(alice.grants[0].privileged.is_empty());
    }

    #[test]
    fn groups_are_reviewed_as_named_and_not_expanded() {
        let view = ClusterSnapshot {
            cluster_roles: vec![cluster_role(
                "cluster-admin",
                vec![rule(&["*"], &["*"], &["*"])],
            )],
            cluster_role_bindings: vec![crb(
                "sre",
                "cluster-admin",
                vec![
                    subject("Group", "oidc:sre", None),
                    subject("Group", "system:serviceaccounts:ci", None),
                ],
            )],
            ..Default::default()
        };
        let population = resolve(&view, &everyone());
        assert_eq!(
            keys(&population),
            ["Group oidc:sre", "Group system:serviceaccounts:ci"]
        );
        assert_eq!(population.privileged().count(), 2);
    }

    #[test]
    fn service_accounts_bound_in_other_namespaces_keep_their_own_namespace() {
        let view = ClusterSnapshot {
            roles: vec![role(
                "prod",
                "deployer",
                vec![rule(&["apps"], &["deployments"], &["update"])],
            )],
            role_bindings: vec![rb(
                "prod",
                "ci-deploys",
                role_ref("Role", "deployer"),
                vec![
                    subject("ServiceAccount", "ci", Some("build")),
                    subject("ServiceAccount", "local", None),
                    subject("User", "system:serviceaccount:build:ci", None),
                ],
            )],
            ..Default::default()
        };
        let population = resolve(&view, &everyone());
        assert_eq!(
            keys(&population),
            ["ServiceAccount build/ci", "ServiceAccount prod/local"]
        );
        let ci = population
            .get(&SubjectKey::service_account("build", "ci"))
            .unwrap();
        assert_eq!(ci.grants.len(), 1, "named twice in one binding: one grant");
        assert_eq!(
            ci.grants[0].namespace.as_deref(),
            Some("prod"),
            "access applies in the binding's namespace"
        );
    }

    #[test]
    fn wildcards_and_sensitive_verbs_are_privileged_for_the_same_reasons_as_the_mfa_check() {
        let view = ClusterSnapshot {
            roles: vec![
                role("apps", "everything", vec![rule(&["apps"], &["*"], &["*"])]),
                role(
                    "apps",
                    "secrets",
                    vec![rule(&[""], &["secrets"], &["list"])],
                ),
                role("apps", "pods", vec![read_pods()]),
            ],
            role_bindings: vec![
                rb(
                    "apps",
                    "a",
                    role_ref("Role", "everything"),
                    vec![subject("User", "wild", None)],
                ),
                rb(
                    "apps",
                    "b",
                    role_ref("Role", "secrets"),
                    vec![subject("User", "reader", None)],
                ),
                rb(
                    "apps",
                    "c",
                    role_ref("Role", "pods"),
                    vec![subject("User", "plain", None)],
                ),
            ],
            ..Default::default()
        };
        let population = resolve(&view, &everyone());
        let reasons = |name: &str| {
            population
                .get(&SubjectKey::user(name))
                .unwrap()
                .privileged
                .clone()
        };
        assert_eq!(reasons("wild"), ["wildcard verbs", "wildcard resources"]);
        assert_eq!(reasons("reader"), ["read access to secrets"]);
        assert!(reasons("plain").is_empty());

        let privileged = resolve(&view, &scope(None, true));
        assert_eq!(
            keys(&privileged),
            ["User reader", "User wild"],
            "privilegedOnly leaves plain out"
        );
    }

    #[test]
    fn privileged_only_lists_only_the_privileged_grants() {
        let view = ClusterSnapshot {
            cluster_roles: vec![
                cluster_role("admin", vec![]),
                cluster_role("view", vec![read_pods()]),
            ],
            cluster_role_bindings: vec![crb("v", "view", vec![subject("User", "alice", None)])],
            role_bindings: vec![rb(
                "apps",
                "a",
                role_ref("ClusterRole", "admin"),
                vec![subject("User", "alice", None)],
            )],
            ..Default::default()
        };
        let alice = resolve(&view, &scope(None, true));
        let grants = &alice.get(&SubjectKey::user("alice")).unwrap().grants;
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].role_name, "admin");
    }

    #[test]
    fn aggregated_cluster_roles_use_the_rules_the_api_server_resolved() {
        let aggregation = Some(AggregationRule {
            cluster_role_selectors: Some(vec![LabelSelector {
                match_labels: Some(
                    [("aggregate-to-monitoring".to_string(), "true".to_string())].into(),
                ),
                ..Default::default()
            }]),
        });
        let part = Arc::new(ClusterRole {
            metadata: meta(
                None,
                "monitoring-secrets",
                &[("aggregate-to-monitoring", "true")],
            ),
            rules: Some(vec![rule(&[""], &["secrets"], &["get"])]),
            ..Default::default()
        });
        let resolved = Arc::new(ClusterRole {
            metadata: meta(None, "monitoring", &[]),
            aggregation_rule: aggregation.clone(),
            rules: Some(vec![read_pods()]),
        });
        let binding = crb(
            "mon",
            "monitoring",
            vec![subject("Group", "oidc:mon", None)],
        );
        let view = ClusterSnapshot {
            cluster_roles: vec![part.clone(), resolved],
            cluster_role_bindings: vec![binding.clone()],
            ..Default::default()
        };
        let grant = &resolve(&view, &everyone()).subjects[0].grants[0];
        assert_eq!(
            grant.rules,
            [read_pods()],
            "the API server's resolution is what grants access"
        );
        assert!(grant.aggregated);
        assert!(grant.privileged.is_empty());

        // Not resolved yet (a manifest on disk): the union of the selected roles.
        let unresolved = Arc::new(ClusterRole {
            metadata: meta(None, "monitoring", &[]),
            aggregation_rule: aggregation,
            rules: None,
        });
        let view = ClusterSnapshot {
            cluster_roles: vec![
                part,
                unresolved,
                cluster_role("unrelated", vec![rule(&["*"], &["*"], &["*"])]),
            ],
            cluster_role_bindings: vec![binding],
            ..Default::default()
        };
        let grant = &resolve(&view, &everyone()).subjects[0].grants[0];
        assert_eq!(grant.rules, [rule(&[""], &["secrets"], &["get"])]);
        assert_eq!(grant.privileged, ["read access to secrets"]);
    }

    #[test]
    fn a_missing_role_grants_nothing_but_the_binding_is_listed() {
        let view = ClusterSnapshot {
            cluster_role_bindings: vec![
                crb("gone", "deleted-role", vec![subject("User", "alice", None)]),
                // A ClusterRoleBinding cannot bind a Role: the API server rejects it, a manifest may not.
                Arc::new(ClusterRoleBinding {
                    metadata: meta(None, "odd", &[]),
                    role_ref: role_ref("Role", "pods"),
                    subjects: Some(vec![subject("User", "bob", None)]),
                }),
            ],
            roles: vec![role("apps", "pods", vec![read_pods()])],
            ..Default::default()
        };
        let population = resolve(&view, &everyone());
        for name in ["alice", "bob"] {
            let grant = &population.get(&SubjectKey::user(name)).unwrap().grants[0];
            assert!(grant.role_missing, "{name}");
            assert!(grant.rules.is_empty());
        }
        // A missing admin-named role is not "administrative rights": it grants nothing yet.
        let view = ClusterSnapshot {
            cluster_role_bindings: vec![crb(
                "x",
                "cluster-admin",
                vec![subject("User", "carol", None)],
            )],
            ..Default::default()
        };
        assert!(resolve(&view, &scope(None, true)).subjects.is_empty());
    }

    #[test]
    fn scope_filters_bindings_by_namespace_and_labels_and_kinds() {
        let view = ClusterSnapshot {
            namespaces: vec![Arc::new(Namespace {
                metadata: meta(None, "prod", &[("tier", "prod")]),
                ..Default::default()
            })],
            cluster_roles: vec![cluster_role("view", vec![read_pods()])],
            cluster_role_bindings: vec![crb(
                "everywhere",
                "view",
                vec![subject("User", "cluster-wide", None)],
            )],
            role_bindings: vec![
                rb(
                    "prod",
                    "p",
                    role_ref("ClusterRole", "view"),
                    vec![subject("User", "in-prod", None)],
                ),
                rb(
                    "dev",
                    "d",
                    role_ref("ClusterRole", "view"),
                    vec![
                        subject("User", "in-dev", None),
                        subject("ServiceAccount", "bot", None),
                    ],
                ),
            ],
            ..Default::default()
        };
        let in_prod = Scope {
            namespaces: Some(vec!["prod".into()]),
            ..Default::default()
        };
        let population = resolve(&view, &scope(Some(in_prod), false));
        assert_eq!(
            keys(&population),
            ["User cluster-wide", "User in-prod"],
            "cluster-wide access applies in every namespace"
        );
        let by_label = Scope {
            namespace_selector: Some(LabelSelector {
                match_labels: Some([("tier".to_string(), "prod".to_string())].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut access = everyone();
        // A namespace selector reads the labels of the namespaces the view knows.
        access.bindings = ScopeMatcher::new(Some(&by_label), &view).unwrap();
        assert_eq!(
            keys(&resolve(&view, &access)),
            ["User cluster-wide", "User in-prod"]
        );

        let mut service_accounts = everyone();
        service_accounts.kinds = [SubjectKind::ServiceAccount].into();
        assert_eq!(
            keys(&resolve(&view, &service_accounts)),
            ["ServiceAccount dev/bot"]
        );
    }

    #[test]
    fn kubernetes_default_bindings_are_left_out_unless_asked_for() {
        let mut default = crb(
            "cluster-admin",
            "cluster-admin",
            vec![subject("Group", "system:masters", None)],
        );
        Arc::make_mut(&mut default).metadata = meta(None, "cluster-admin", &[BOOTSTRAP_LABEL]);
        let view = ClusterSnapshot {
            cluster_roles: vec![cluster_role(
                "cluster-admin",
                vec![rule(&["*"], &["*"], &["*"])],
            )],
            cluster_role_bindings: vec![default],
            ..Default::default()
        };
        assert!(resolve(&view, &everyone()).subjects.is_empty());
        let mut with_defaults = everyone();
        with_defaults.include_default_bindings = true;
        assert_eq!(
            keys(&resolve(&view, &with_defaults)),
            ["Group system:masters"]
        );
    }

    #[test]
    fn malformed_bindings_grant_nothing_and_never_panic() {
        let view = ClusterSnapshot {
            cluster_role_bindings: vec![
                Arc::new(ClusterRoleBinding {
                    metadata: ObjectMeta::default(),
                    role_ref: role_ref("", ""),
                    subjects: None,
                }),
                Arc::new(ClusterRoleBinding {
                    metadata: meta(None, "weird", &[]),
                    role_ref: role_ref("Nonsense", "x"),
                    subjects: Some(vec![
                        subject("Robot", "r2", None),
                        subject("User", "", None),
                    ]),
                }),
            ],
            roles: vec![Arc::new(Role {
                metadata: ObjectMeta::default(),
                rules: None,
            })],
            cluster_roles: vec![Arc::new(ClusterRole::default())],
            role_bindings: vec![Arc::new(RoleBinding {
                metadata: meta(Some("apps"), "no-role", &[]),
                role_ref: role_ref("Role", ""),
                subjects: Some(vec![subject("User", "alice", None)]),
            })],
            ..Default::default()
        };
        let population = resolve(&view, &everyone());
        assert_eq!(keys(&population), ["User alice"]);
        assert!(population.subjects[0].grants[0].role_missing);
    }
}
