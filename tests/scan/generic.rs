//! `soc2ctl scan` with CEL and requiredResources controls: objects of any kind are read from the manifests.

use std::process::{Command, Output};

use serde_json::Value;

fn soc2ctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_soc2ctl"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("soc2ctl runs")
}

fn findings(report: &Value) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for c in report["controls"].as_array().expect("controls") {
        for f in c["evaluation"]["findings"].as_array().into_iter().flatten() {
            out.push((
                c["name"].as_str().unwrap_or_default().to_string(),
                f["result"].as_str().unwrap_or_default().to_string(),
                format!(
                    "{} {}/{}",
                    f["resource"]["kind"].as_str().unwrap_or_default(),
                    f["resource"]["namespace"].as_str().unwrap_or_default(),
                    f["resource"]["name"].as_str().unwrap_or_default()
                ),
                f["rule"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn example_generic_controls_find_exactly_the_planted_violations() {
    let out = soc2ctl(&[
        "scan",
        "examples/cluster/",
        "--controls",
        "examples/controls/",
        "--output",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
    let s = |a: &str, b: &str, c: &str, d: &str| {
        (a.to_string(), b.to_string(), c.to_string(), d.to_string())
    };
    assert_eq!(
        findings(&report),
        [
            s(
                "approved-image-registries",
                "Fail",
                "StatefulSet payments/cache",
                "unapproved-registry"
            ),
            s(
                "monitoring-presence",
                "Fail",
                "Alertmanager monitoring/main",
                "required-resource-missing"
            ),
        ]
    );
    let registries = &report["controls"][0]["evaluation"];
    // The Deployments and StatefulSets of examples/cluster/ in in-scope namespaces (workloads.yaml: three and one;
    // availability.yaml: six), all from the approved registry but one.
    assert_eq!(registries["summary"]["evaluated"], 10);
    let message = registries["findings"][0]["message"]
        .as_str()
        .expect("message");
    assert!(message.contains("redis:7.4"), "{message}");
}

#[test]
fn a_malformed_expression_is_invalid_with_the_field_and_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("control.yaml"),
        r#"
apiVersion: soc2.dev/v1alpha1
kind: Control
metadata: {name: broken-cel}
spec:
  criteria: [CC8.1]
  category: Security
  title: Broken
  check:
    cel:
      match: {kinds: [{apiVersion: v1, kind: ConfigMap}]}
      validations:
        - expression: "object.data.x == "
"#,
    )
    .expect("write");
    let path = dir.path().to_str().expect("utf-8 path");
    let out = soc2ctl(&[
        "scan",
        "examples/cluster/",
        "--controls",
        path,
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
    let error = report["controls"][0]["error"].as_str().expect("error");
    assert!(
        error.starts_with("spec.check.cel.validations[0].expression: syntax error"),
        "{error}"
    );
    assert!(error.contains("line 1, column"), "{error}");
}

#[test]
fn secret_values_never_reach_expressions() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("objects.yaml"),
        r#"
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: app}
type: Opaque
data: {password: c2VjcmV0}
---
apiVersion: soc2.dev/v1alpha1
kind: Control
metadata: {name: secrets}
spec:
  criteria: [C1.1]
  category: Confidentiality
  title: Secrets
  check:
    cel:
      match: {kinds: [{apiVersion: v1, kind: Secret}]}
      validations:
        - expression: "!has(object.data) && object.type == 'Opaque'"
"#,
    )
    .expect("write");
    let path = dir.path().to_str().expect("utf-8 path");
    let out = soc2ctl(&["scan", path, "--output", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("c2VjcmV0"));
}
