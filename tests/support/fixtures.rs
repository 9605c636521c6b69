//! Objects the scenarios share: Controls and the RBAC objects of a cluster.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde_json::{Value, json};
use soc2_operator::api::Control;

pub const CONTROL_UID: &str = "5d7c2c1e-0000-4000-8000-00000000c0de";
/// cluster-admin bound directly to User alice.
pub const ALICE_BINDING: &str = "alice-cluster-admin";
pub const ALICE_BINDING_UID: &str = "0b1f4a52-0000-4000-8000-0000000a11ce";

/// A Control named `name` at `generation` (uid [`CONTROL_UID`], resourceVersion 1000), without status.
pub fn control(name: &str, generation: i64, spec: Value) -> Control {
    let mut control: Control = serde_json::from_value(json!({
        "apiVersion": "soc2.dev/v1alpha1",
        "kind": "Control",
        "metadata": {
            "name": name,
            "uid": CONTROL_UID,
            "generation": generation,
            "resourceVersion": "1000",
        },
        "spec": spec,
    }))
    .expect("valid Control");
    control.status = None;
    control
}

/// Privileged access (CC6.1, CC6.3) requires the MFA-enforced group `oidc:platform-admins`.
pub fn mfa_spec() -> Value {
    json!({
        "criteria": ["CC6.1", "CC6.3"],
        "category": "Security",
        "title": "Privileged access requires MFA",
        "check": {"mfaAccess": {"mfaGroups": ["oidc:platform-admins"]}},
    })
}

/// [`mfa_spec`] with severity High.
pub fn mfa_spec_high() -> Value {
    let mut spec = mfa_spec();
    spec["severity"] = json!("High");
    spec
}

pub fn namespace(name: &str) -> Namespace {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "uid": format!("ns-{name}")},
    }))
    .expect("valid Namespace")
}

pub fn cluster_admin_role() -> ClusterRole {
    serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "cluster-admin", "uid": "c0000000-0000-4000-8000-00000000adad"},
        "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    }))
    .expect("valid ClusterRole")
}

pub fn cluster_admin_binding(
    name: &str,
    uid: &str,
    subject_kind: &str,
    subject: &str,
) -> ClusterRoleBinding {
    serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "uid": uid},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": subject_kind, "name": subject}],
    }))
    .expect("valid ClusterRoleBinding")
}

/// cluster-admin bound directly to User alice: the MFA control fails on it.
pub fn alice_binding() -> Arc<ClusterRoleBinding> {
    Arc::new(cluster_admin_binding(
        ALICE_BINDING,
        ALICE_BINDING_UID,
        "User",
        "alice",
    ))
}
