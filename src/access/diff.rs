//! What changed in a population between two review cycles.

use serde::{Deserialize, Serialize};

use super::effective::{Grant, Population, SubjectAccess};
use crate::api::SubjectKey;

/// How one subject's access changed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// Not in the previous population.
    NewSubject,
    /// A binding grants it something new, or a role it holds grants more than before.
    AccessWidened,
    /// Some of its grants are gone, or a role it holds grants less; it keeps others.
    AccessReduced,
    /// In the previous population, not in this one: all its in-scope access was removed.
    AccessRemoved,
}

/// One subject's change since the previous cycle.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AccessChange {
    /// The subject.
    pub subject: SubjectKey,
    /// What kind of change.
    pub kind: ChangeKind,
    /// True when it holds privileged access now and did not before (new reasons count: read access to secrets
    /// where it had only wildcard verbs is a gain).
    pub gained_privilege: bool,
    /// What changed, in words a reviewer reads.
    pub details: Vec<String>,
}

/// The changes from `previous` to `current`, ordered by subject. Subjects whose access is the same are left out.
pub fn diff(previous: &Population, current: &Population) -> Vec<AccessChange> {
    let mut changes = Vec::new();
    for now in &current.subjects {
        match previous.get(&now.subject) {
            None => changes.push(AccessChange {
                subject: now.subject.clone(),
                kind: ChangeKind::NewSubject,
                gained_privilege: !now.privileged.is_empty(),
                details: now.grants.iter().map(describe).collect(),
            }),
            Some(before) => changes.extend(compare(before, now)),
        }
    }
    for before in &previous.subjects {
        if current.get(&before.subject).is_none() {
            changes.push(AccessChange {
                subject: before.subject.clone(),
                kind: ChangeKind::AccessRemoved,
                gained_privilege: false,
                details: before
                    .grants
                    .iter()
                    .map(|g| format!("no longer {}", describe(g)))
                    .collect(),
            });
        }
    }
    changes.sort_by(|a, b| a.subject.cmp(&b.subject));
    changes
}

fn compare(before: &SubjectAccess, now: &SubjectAccess) -> Option<AccessChange> {
    let mut widened = Vec::new();
    let mut reduced = Vec::new();
    for grant in &now.grants {
        match before.grants.iter().find(|g| g.key() == grant.key()) {
            None => widened.push(describe(grant)),
            Some(old) => {
                let added = grant
                    .rules
                    .iter()
                    .filter(|r| !old.rules.contains(r))
                    .count();
                let removed = old
                    .rules
                    .iter()
                    .filter(|r| !grant.rules.contains(r))
                    .count();
                if added > 0 {
                    widened.push(format!(
                        "{} now grants {added} more rule(s)",
                        role_of(grant)
                    ));
                }
                if removed > 0 {
                    reduced.push(format!("{} grants {removed} fewer rule(s)", role_of(grant)));
                }
            }
        }
    }
    for old in &before.grants {
        if !now.grants.iter().any(|g| g.key() == old.key()) {
            reduced.push(format!("no longer {}", describe(old)));
        }
    }
    let gained_privilege = now
        .privileged
        .iter()
        .any(|r| !before.privileged.contains(r));
    let kind = if !widened.is_empty() || gained_privilege {
        ChangeKind::AccessWidened
    } else if !reduced.is_empty() {
        ChangeKind::AccessReduced
    } else {
        return None;
    };
    if gained_privilege {
        let new: Vec<&str> = now
            .privileged
            .iter()
            .filter(|r| !before.privileged.contains(r))
            .map(String::as_str)
            .collect();
        widened.push(format!("newly privileged: {}", new.join(", ")));
    }
    widened.extend(reduced);
    Some(AccessChange {
        subject: now.subject.clone(),
        kind,
        gained_privilege,
        details: widened,
    })
}

fn role_of(grant: &Grant) -> String {
    format!("{} {}", grant.role_kind, grant.role_name)
}

/// `ClusterRole edit through RoleBinding apps/devs`, as a reviewer reads it.
fn describe(grant: &Grant) -> String {
    let binding = match &grant.binding.namespace {
        Some(ns) => format!("{} {}/{}", grant.binding.kind, ns, grant.binding.name),
        None => format!("{} {}", grant.binding.kind, grant.binding.name),
    };
    let mut text = format!("{} through {binding}", role_of(grant));
    if !grant.privileged.is_empty() {
        text.push_str(&format!(" (privileged: {})", grant.privileged.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::rbac::v1::PolicyRule;

    use super::*;
    use crate::access::BindingRef;

    fn rule(resource: &str, verb: &str) -> PolicyRule {
        PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec![resource.into()]),
            verbs: vec![verb.into()],
            ..Default::default()
        }
    }

    fn grant(binding: &str, role: &str, rules: Vec<PolicyRule>, privileged: &[&str]) -> Grant {
        Grant {
            binding: BindingRef {
                kind: "ClusterRoleBinding".into(),
                namespace: None,
                name: binding.into(),
            },
            role_kind: "ClusterRole".into(),
            role_name: role.into(),
            namespace: None,
            rules,
            privileged: privileged.iter().map(|s| s.to_string()).collect(),
            role_missing: false,
            aggregated: false,
        }
    }

    fn population(subjects: Vec<(&str, Vec<Grant>)>) -> Population {
        let mut subjects: Vec<SubjectAccess> = subjects
            .into_iter()
            .map(|(name, grants)| {
                let mut privileged: Vec<String> = Vec::new();
                for r in grants.iter().flat_map(|g| &g.privileged) {
                    if !privileged.contains(r) {
                        privileged.push(r.clone());
                    }
                }
                SubjectAccess {
                    subject: SubjectKey::user(name),
                    grants,
                    privileged,
                }
            })
            .collect();
        subjects.sort_by(|a, b| a.subject.cmp(&b.subject));
        Population { subjects }
    }

    fn kinds(changes: &[AccessChange]) -> Vec<(String, ChangeKind, bool)> {
        changes
            .iter()
            .map(|c| (c.subject.name.clone(), c.kind, c.gained_privilege))
            .collect()
    }

    #[test]
    fn the_same_population_has_no_changes() {
        let p = population(vec![(
            "alice",
            vec![grant("b", "view", vec![rule("pods", "get")], &[])],
        )]);
        assert!(diff(&p, &p).is_empty());
        assert!(diff(&Population::default(), &Population::default()).is_empty());
    }

    #[test]
    fn each_kind_of_change_is_named() {
        let before = population(vec![
            (
                "kept",
                vec![grant("b", "view", vec![rule("pods", "get")], &[])],
            ),
            (
                "widened",
                vec![grant("b", "view", vec![rule("pods", "get")], &[])],
            ),
            (
                "reduced",
                vec![
                    grant("b", "view", vec![rule("pods", "get")], &[]),
                    grant("c", "logs", vec![rule("pods/log", "get")], &[]),
                ],
            ),
            (
                "removed",
                vec![grant("b", "view", vec![rule("pods", "get")], &[])],
            ),
        ]);
        let after = population(vec![
            (
                "kept",
                vec![grant("b", "view", vec![rule("pods", "get")], &[])],
            ),
            (
                "widened",
                vec![
                    grant("b", "view", vec![rule("pods", "get")], &[]),
                    grant("d", "admin", vec![], &["administrative rights"]),
                ],
            ),
            (
                "reduced",
                vec![grant("b", "view", vec![rule("pods", "get")], &[])],
            ),
            (
                "new",
                vec![grant("b", "view", vec![rule("pods", "get")], &[])],
            ),
        ]);
        let changes = diff(&before, &after);
        assert_eq!(
            kinds(&changes),
            [
                ("new".to_string(), ChangeKind::NewSubject, false),
                ("reduced".to_string(), ChangeKind::AccessReduced, false),
                ("removed".to_string(), ChangeKind::AccessRemoved, false),
                ("widened".to_string(), ChangeKind::AccessWidened, true),
            ]
        );
        let widened = &changes[3].details;
        assert_eq!(
            widened,
            &[
                "ClusterRole admin through ClusterRoleBinding d (privileged: administrative rights)",
                "newly privileged: administrative rights"
            ]
        );
        assert_eq!(
            changes[1].details,
            ["no longer ClusterRole logs through ClusterRoleBinding c"]
        );
    }

    #[test]
    fn a_role_that_grants_more_widens_the_access_of_everyone_bound_to_it() {
        let before = population(vec![(
            "alice",
            vec![grant("b", "ops", vec![rule("pods", "get")], &[])],
        )]);
        let after = population(vec![(
            "alice",
            vec![grant(
                "b",
                "ops",
                vec![rule("pods", "get"), rule("secrets", "get")],
                &["read access to secrets"],
            )],
        )]);
        let changes = diff(&before, &after);
        assert_eq!(
            kinds(&changes),
            [("alice".to_string(), ChangeKind::AccessWidened, true)]
        );
        assert_eq!(
            changes[0].details,
            [
                "ClusterRole ops now grants 1 more rule(s)",
                "newly privileged: read access to secrets"
            ]
        );
        // And back: fewer rules is a reduction, not a gain.
        let changes = diff(&after, &before);
        assert_eq!(
            kinds(&changes),
            [("alice".to_string(), ChangeKind::AccessReduced, false)]
        );
    }

    #[test]
    fn a_new_privileged_subject_gained_privilege() {
        let after = population(vec![(
            "root",
            vec![grant(
                "b",
                "cluster-admin",
                vec![],
                &["administrative rights"],
            )],
        )]);
        let changes = diff(&Population::default(), &after);
        assert_eq!(
            kinds(&changes),
            [("root".to_string(), ChangeKind::NewSubject, true)]
        );
    }
}
