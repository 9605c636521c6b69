//! Decides whether an object is in a control's scope.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::core::{Selector, SelectorExt};

use super::ClusterSnapshot;
use crate::api::Scope;

/// A compiled [`Scope`] for one snapshot: namespace labels are resolved once.
#[derive(Clone, Debug)]
pub struct ScopeMatcher {
    include: Option<BTreeSet<String>>,
    exclude: BTreeSet<String>,
    namespace_selector: Option<Selector>,
    namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    object_selector: Option<Selector>,
}

/// A label selector in a scope that cannot be evaluated.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidSelector {
    /// Where the selector is, e.g. `spec.scope.namespaceSelector`.
    pub field: String,
    /// Why it is invalid.
    pub reason: String,
}

/// Compiles a Kubernetes label selector; `field` names it in the error.
pub fn compile_selector(
    selector: &LabelSelector,
    field: &str,
) -> Result<Selector, InvalidSelector> {
    Selector::try_from(selector.clone()).map_err(|e| InvalidSelector {
        field: field.to_string(),
        reason: e.to_string(),
    })
}

impl ScopeMatcher {
    /// Compiles `scope` (None matches everything) against the namespaces of `view`.
    pub fn new(scope: Option<&Scope>, view: &ClusterSnapshot) -> Result<Self, InvalidSelector> {
        let scope = scope.cloned().unwrap_or_default();
        let namespace_selector = scope
            .namespace_selector
            .as_ref()
            .map(|s| compile_selector(s, "spec.scope.namespaceSelector"))
            .transpose()?;
        let object_selector = scope
            .object_selector
            .as_ref()
            .map(|s| compile_selector(s, "spec.scope.objectSelector"))
            .transpose()?;
        // Only a namespace selector reads labels; copying every namespace's would cost more than most checks.
        let namespace_labels = if namespace_selector.is_some() {
            view.namespaces
                .iter()
                .filter_map(|ns| {
                    let name = ns.metadata.name.clone()?;
                    Some((name, ns.metadata.labels.clone().unwrap_or_default()))
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        Ok(ScopeMatcher {
            include: scope.namespaces.map(|v| v.into_iter().collect()),
            exclude: scope
                .exclude_namespaces
                .unwrap_or_default()
                .into_iter()
                .collect(),
            namespace_selector,
            namespace_labels,
            object_selector,
        })
    }

    /// True when a namespace of this name is in scope. A namespace selector needs the Namespace object: a namespace
    /// the view does not know has no labels, so it matches only selectors that select everything.
    pub fn namespace_in_scope(&self, namespace: &str) -> bool {
        if self.exclude.contains(namespace) {
            return false;
        }
        if let Some(include) = &self.include
            && !include.contains(namespace)
        {
            return false;
        }
        match &self.namespace_selector {
            None => true,
            Some(selector) => {
                let empty = BTreeMap::new();
                let labels = self.namespace_labels.get(namespace).unwrap_or(&empty);
                selector.matches(labels)
            }
        }
    }

    /// True when an object is in scope: its namespace (if namespaced) and its own labels.
    pub fn matches(&self, meta: &ObjectMeta) -> bool {
        if let Some(ns) = meta.namespace.as_deref()
            && !self.namespace_in_scope(ns)
        {
            return false;
        }
        match &self.object_selector {
            None => true,
            Some(selector) => {
                let empty = BTreeMap::new();
                selector.matches(meta.labels.as_ref().unwrap_or(&empty))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

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

    fn meta(ns: Option<&str>, labels: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            name: Some("x".into()),
            namespace: ns.map(str::to_string),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn view() -> ClusterSnapshot {
        ClusterSnapshot {
            namespaces: vec![
                ns("prod", &[("env", "prod")]),
                ns("dev", &[("env", "dev")]),
                ns("kube-system", &[]),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn empty_scope_matches_everything() {
        let m = ScopeMatcher::new(None, &view()).unwrap();
        assert!(m.matches(&meta(Some("prod"), &[])));
        assert!(m.matches(&meta(Some("unknown-ns"), &[])));
        assert!(m.matches(&meta(None, &[])));
    }

    #[test]
    fn include_and_exclude_lists() {
        let scope = Scope {
            namespaces: Some(vec!["prod".into(), "dev".into()]),
            exclude_namespaces: Some(vec!["dev".into()]),
            ..Default::default()
        };
        let m = ScopeMatcher::new(Some(&scope), &view()).unwrap();
        assert!(m.matches(&meta(Some("prod"), &[])));
        assert!(
            !m.matches(&meta(Some("dev"), &[])),
            "exclude wins over include"
        );
        assert!(!m.matches(&meta(Some("kube-system"), &[])));
        assert!(
            m.matches(&meta(None, &[])),
            "cluster-scoped objects ignore namespace filters"
        );
    }

    #[test]
    fn namespace_selector_uses_namespace_labels() {
        let scope = Scope {
            namespace_selector: Some(LabelSelector {
                match_labels: Some([("env".to_string(), "prod".to_string())].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let m = ScopeMatcher::new(Some(&scope), &view()).unwrap();
        assert!(m.matches(&meta(Some("prod"), &[])));
        assert!(!m.matches(&meta(Some("dev"), &[])));
        assert!(
            !m.matches(&meta(Some("missing"), &[])),
            "unknown namespaces have no labels"
        );
    }

    #[test]
    fn object_selector_with_expressions() {
        let scope = Scope {
            object_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["web".into(), "api".into()]),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let m = ScopeMatcher::new(Some(&scope), &view()).unwrap();
        assert!(m.matches(&meta(Some("prod"), &[("tier", "web")])));
        assert!(!m.matches(&meta(Some("prod"), &[("tier", "db")])));
        assert!(!m.matches(&meta(None, &[])));
    }

    #[test]
    fn invalid_selector_operator_is_an_error_naming_the_field() {
        let scope = Scope {
            object_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "Near".into(),
                    values: None,
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let err = ScopeMatcher::new(Some(&scope), &view()).unwrap_err();
        assert_eq!(err.field, "spec.scope.objectSelector");
    }
}
