//! A subject as RBAC bindings name it: a user, a group or a ServiceAccount.

use std::fmt;

use k8s_openapi::api::rbac::v1::Subject;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kinds of subject a binding can name.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
pub enum SubjectKind {
    /// A user as the API server authenticates it (a name from a certificate, a token or an OIDC claim).
    User,
    /// A group as the API server authenticates it; reviewed as named, never expanded to its members (group
    /// membership lives in the identity provider, which has its own review).
    Group,
    /// A ServiceAccount.
    ServiceAccount,
}

impl SubjectKind {
    /// The kind as bindings spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::User => "User",
            SubjectKind::Group => "Group",
            SubjectKind::ServiceAccount => "ServiceAccount",
        }
    }
}

/// The prefix of a ServiceAccount's user name: `system:serviceaccount:<namespace>:<name>`.
const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";

/// One subject: its kind, name and (for a ServiceAccount) namespace. Ordered by kind, then namespace, then name,
/// so populations list the same way every time.
#[derive(
    Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct SubjectKey {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: SubjectKind,
    /// The ServiceAccount's namespace; unset for users and groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The name as the binding gives it.
    pub name: String,
}

impl SubjectKey {
    /// A user.
    pub fn user(name: &str) -> Self {
        SubjectKey {
            kind: SubjectKind::User,
            namespace: None,
            name: name.to_string(),
        }
    }

    /// A group.
    pub fn group(name: &str) -> Self {
        SubjectKey {
            kind: SubjectKind::Group,
            namespace: None,
            name: name.to_string(),
        }
    }

    /// A ServiceAccount.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        SubjectKey {
            kind: SubjectKind::ServiceAccount,
            namespace: Some(namespace.to_string()),
            name: name.to_string(),
        }
    }

    /// The subject a binding's entry names, as the API server's authorizer applies it; `None` for a kind RBAC does
    /// not know or an entry without a name (it grants nothing).
    ///
    /// A ServiceAccount entry of a RoleBinding without a namespace means the binding's own namespace, and a User
    /// entry named `system:serviceaccount:<namespace>:<name>` is that ServiceAccount (it is the name the API server
    /// authenticates the account as), so both are reviewed as the ServiceAccount.
    pub fn from_binding_subject(
        subject: &Subject,
        binding_namespace: Option<&str>,
    ) -> Option<Self> {
        if subject.name.is_empty() {
            return None;
        }
        match subject.kind.as_str() {
            "User" => Some(
                Self::service_account_user(&subject.name)
                    .unwrap_or_else(|| Self::user(&subject.name)),
            ),
            "Group" => Some(Self::group(&subject.name)),
            "ServiceAccount" => {
                let namespace = subject
                    .namespace
                    .as_deref()
                    .filter(|ns| !ns.is_empty())
                    .or(binding_namespace)?;
                Some(Self::service_account(namespace, &subject.name))
            }
            _ => None,
        }
    }

    /// The ServiceAccount a user name such as `system:serviceaccount:ci:deployer` authenticates as.
    pub fn service_account_user(user: &str) -> Option<Self> {
        let rest = user.strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)?;
        let (namespace, name) = rest.split_once(':')?;
        (!namespace.is_empty() && !name.is_empty() && !name.contains(':'))
            .then(|| Self::service_account(namespace, name))
    }

    /// True when a request authenticated as `username` with `groups` is this subject, or a member of it: the test
    /// for deciding on one's own access.
    pub fn is_requester(&self, username: &str, groups: &[String]) -> bool {
        match self.kind {
            SubjectKind::User => self.name == username,
            SubjectKind::Group => groups.iter().any(|g| g == &self.name),
            SubjectKind::ServiceAccount => {
                Self::service_account_user(username).as_ref() == Some(self)
            }
        }
    }
}

impl fmt::Display for SubjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind.as_str(), ns, self.name),
            None => write!(f, "{} {}", self.kind.as_str(), self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(kind: &str, name: &str, namespace: Option<&str>) -> Subject {
        Subject {
            kind: kind.into(),
            name: name.into(),
            namespace: namespace.map(Into::into),
            api_group: None,
        }
    }

    #[test]
    fn binding_entries_become_subjects_as_the_authorizer_applies_them() {
        assert_eq!(
            SubjectKey::from_binding_subject(&subject("User", "alice", None), None),
            Some(SubjectKey::user("alice"))
        );
        assert_eq!(
            SubjectKey::from_binding_subject(&subject("Group", "oidc:sre", None), Some("ns")),
            Some(SubjectKey::group("oidc:sre"))
        );
        assert_eq!(
            SubjectKey::from_binding_subject(
                &subject("ServiceAccount", "ci", Some("build")),
                Some("apps")
            ),
            Some(SubjectKey::service_account("build", "ci")),
            "a ServiceAccount of another namespace keeps its own namespace"
        );
        assert_eq!(
            SubjectKey::from_binding_subject(&subject("ServiceAccount", "ci", None), Some("apps")),
            Some(SubjectKey::service_account("apps", "ci")),
            "no namespace in a RoleBinding means the binding's"
        );
        assert_eq!(
            SubjectKey::from_binding_subject(&subject("ServiceAccount", "ci", Some("")), None),
            None,
            "a ClusterRoleBinding's ServiceAccount without a namespace names nobody"
        );
        assert_eq!(
            SubjectKey::from_binding_subject(
                &subject("User", "system:serviceaccount:ci:deployer", None),
                None
            ),
            Some(SubjectKey::service_account("ci", "deployer"))
        );
        assert_eq!(
            SubjectKey::from_binding_subject(&subject("Robot", "r2", None), None),
            None
        );
        assert_eq!(
            SubjectKey::from_binding_subject(&subject("User", "", None), None),
            None
        );
    }

    #[test]
    fn malformed_service_account_user_names_stay_users() {
        for name in [
            "system:serviceaccount:",
            "system:serviceaccount:ci",
            "system:serviceaccount::x",
            "system:serviceaccount:ci:",
            "system:serviceaccount:ci:a:b",
        ] {
            assert_eq!(SubjectKey::service_account_user(name), None, "{name}");
        }
    }

    #[test]
    fn a_requester_is_the_subject_or_a_member_of_it() {
        let groups = vec!["oidc:sre".to_string()];
        assert!(SubjectKey::user("alice").is_requester("alice", &groups));
        assert!(!SubjectKey::user("alice").is_requester("bob", &groups));
        assert!(SubjectKey::group("oidc:sre").is_requester("bob", &groups));
        assert!(!SubjectKey::group("oidc:dev").is_requester("bob", &groups));
        assert!(
            SubjectKey::service_account("ci", "deployer")
                .is_requester("system:serviceaccount:ci:deployer", &[])
        );
        assert!(!SubjectKey::service_account("ci", "deployer").is_requester("deployer", &[]));
    }

    #[test]
    fn display_reads_as_people_write_it() {
        assert_eq!(SubjectKey::user("alice").to_string(), "User alice");
        assert_eq!(
            SubjectKey::service_account("ci", "deployer").to_string(),
            "ServiceAccount ci/deployer"
        );
    }
}
