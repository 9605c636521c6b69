//! The committed CRDs follow the Rust types, and the schema enforces what the API promises.

use kube::CustomResourceExt;
use soc2_operator::api::{Check, Control};

#[test]
fn committed_crds_match_the_rust_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    for (name, yaml) in soc2_operator::shipped::crds::files().expect("CRDs render") {
        let committed = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        assert!(
            committed == yaml,
            "crds/{name} is out of date with src/api: run `cargo run --bin crdgen -- --out-dir crds` and commit the result"
        );
    }
}

#[test]
fn crd_exposes_kubectl_affordances() {
    let crd = Control::crd();
    assert_eq!(crd.spec.scope, "Cluster");
    assert_eq!(
        crd.spec.names.categories.as_deref(),
        Some(&["soc2".to_string()][..])
    );
    assert!(
        crd.spec
            .names
            .short_names
            .as_ref()
            .unwrap()
            .contains(&"ctl".to_string())
    );
    let version = &crd.spec.versions[0];
    let columns: Vec<&str> = version
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    for column in ["Criteria", "Mode", "Compliant", "Failed"] {
        assert!(columns.contains(&column), "missing printer column {column}");
    }
    assert!(
        version.subresources.as_ref().unwrap().status.is_some(),
        "status subresource"
    );
    // No schema defaults: Argo CD would show server-defaulted fields as drift.
    let schema = serde_json::to_string(&version.schema).unwrap();
    assert!(
        !schema.contains("\"default\""),
        "the CRD schema must not declare defaults"
    );
}

#[test]
fn exactly_one_check_kind_is_enforced_by_the_schema_rule() {
    let ok = serde_json::json!({"logging": {}});
    assert!(Check::validate_cel(&ok, None).is_ok());
    for bad in [
        serde_json::json!({}),
        serde_json::json!({"logging": {}, "mfaAccess": {}}),
    ] {
        let err = Check::validate_cel(&bad, None).expect_err("rejected");
        assert!(
            format!("{err:?}").contains("exactly one check kind"),
            "{err:?}"
        );
    }
}

#[test]
fn control_exception_crd_is_namespaced_with_kubectl_affordances_and_required_fields() {
    use soc2_operator::api::{ControlException, ControlExceptionSpec};
    let crd = ControlException::crd();
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(
        crd.spec.names.short_names.as_deref(),
        Some(&["cex".to_string()][..])
    );
    assert_eq!(
        crd.spec.names.categories.as_deref(),
        Some(&["soc2".to_string()][..])
    );
    let version = &crd.spec.versions[0];
    let columns: Vec<&str> = version
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    for column in ["Control", "State", "Expires"] {
        assert!(columns.contains(&column), "missing printer column {column}");
    }
    assert!(version.subresources.as_ref().unwrap().status.is_some());
    let schema = serde_json::to_value(&version.schema).unwrap();
    let spec = &schema["openAPIV3Schema"]["properties"]["spec"];
    let required: Vec<&str> = spec["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in [
        "control",
        "justification",
        "approvedBy",
        "ticket",
        "expiresAt",
    ] {
        assert!(
            required.contains(&field),
            "{field} must be required: {required:?}"
        );
    }
    assert_eq!(spec["properties"]["approvedBy"]["minLength"], 1);
    assert_eq!(spec["properties"]["expiresAt"]["format"], "date-time");
    assert!(
        !serde_json::to_string(&schema)
            .unwrap()
            .contains("\"default\"")
    );

    // Something must be excepted.
    let base = serde_json::json!({
        "control": "c", "justification": "j", "approvedBy": "a", "ticket": "t",
        "expiresAt": "2027-01-01T00:00:00Z",
    });
    let err = ControlExceptionSpec::validate_cel(&base, None).expect_err("rejected");
    assert!(format!("{err:?}").contains("spec.resources"), "{err:?}");
    let mut named = base.clone();
    named["resources"] = serde_json::json!([{"kind": "Deployment", "name": "api"}]);
    assert!(ControlExceptionSpec::validate_cel(&named, None).is_ok());
}
