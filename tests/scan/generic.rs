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

/// The JSON report of a scan that found something (exit code 1).
fn failing_report(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json report")
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
    let report = failing_report(&out);
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

const POD_CONTROL: &str = include_str!("../support/running-pods-pinned.yaml");

/// A pod its Deployment's ReplicaSet runs: the typed list keeps only its metadata.
const OWNED_POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: web-7d9f-x2x9q
  namespace: shop
  labels: {app: web, pod-template-hash: 7d9f}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-7d9f, uid: u1, controller: true}]
spec: {containers: [{name: web, image: nginx:1.27}]}
status: {phase: Running}
"#;

#[test]
fn cel_reads_pods_whole_whether_controls_come_from_the_flag_or_the_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let (inputs, controls) = (dir.path().join("inputs"), dir.path().join("controls"));
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::create_dir_all(&controls).unwrap();
    std::fs::write(inputs.join("pod.yaml"), OWNED_POD).unwrap();
    std::fs::write(controls.join("pods.yaml"), POD_CONTROL).unwrap();
    let expected = [(
        "running-pods-pinned".to_string(),
        "Fail".to_string(),
        "Pod shop/web-7d9f-x2x9q".to_string(),
        "running-unpinned".to_string(),
    )];
    let from_flag = soc2ctl(&[
        "scan",
        inputs.to_str().unwrap(),
        "--controls",
        controls.to_str().unwrap(),
        "--output",
        "json",
    ]);
    let from_inputs = soc2ctl(&[
        "scan",
        inputs.to_str().unwrap(),
        controls.to_str().unwrap(),
        "--output",
        "json",
    ]);
    for out in [from_flag, from_inputs] {
        assert_eq!(findings(&failing_report(&out)), expected);
    }
}

#[test]
fn whole_pods_are_kept_only_for_controls_that_read_them() {
    use soc2_operator::scan::{Loaded, load_paths_into, reads_of};
    use soc2_operator::view::Gvk;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pod.yaml"), OWNED_POD).unwrap();
    let pods = Gvk::new("", "v1", "Pod");
    let library =
        soc2_operator::scan::load_paths(&[
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/controls")
        ])
        .unwrap()
        .controls;
    let cel: soc2_operator::api::Control = serde_yaml::from_str(POD_CONTROL).unwrap();
    for (controls, whole) in [
        (library.clone(), false),
        ([library, vec![cel]].concat(), true),
    ] {
        let mut loaded = Loaded::default();
        loaded.keep_whole_only(&reads_of(&controls));
        load_paths_into(&[dir.path().to_path_buf()], &mut loaded).unwrap();
        assert_eq!(loaded.snapshot.pods.len(), 1);
        assert_eq!(
            loaded.snapshot.pods[0].spec, None,
            "judged through its workload"
        );
        assert_eq!(loaded.snapshot.dynamic.contains_key(&pods), whole);
    }
}

const WORKLOADS_CONTROL: &str = include_str!("../support/workloads-whole.yaml");

/// A Deployment and a CronJob whose readiness probes run every 5 s: what the typed lists keep of them says only that
/// they have one.
const PROBED_WORKLOADS: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.27, readinessProbe: {periodSeconds: 5}}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: shop}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec: {containers: [{name: job, image: nginx:1.27, readinessProbe: {periodSeconds: 10}}]}
"#;

#[test]
fn cel_reads_workloads_whole_and_they_are_kept_whole_only_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let (inputs, controls) = (dir.path().join("inputs"), dir.path().join("controls"));
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::create_dir_all(&controls).unwrap();
    std::fs::write(inputs.join("workloads.yaml"), PROBED_WORKLOADS).unwrap();
    std::fs::write(controls.join("workloads.yaml"), WORKLOADS_CONTROL).unwrap();
    let out = soc2ctl(&[
        "scan",
        inputs.to_str().unwrap(),
        "--controls",
        controls.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(
        findings(&failing_report(&out)),
        [(
            "workloads-probed".to_string(),
            "Fail".to_string(),
            "Deployment shop/web".to_string(),
            "readiness-period".to_string(),
        )]
    );

    use soc2_operator::scan::{Loaded, load_paths_into, reads_of};
    use soc2_operator::view::Gvk;
    let deployments = Gvk::new("apps", "v1", "Deployment");
    let cron_jobs = Gvk::new("batch", "v1", "CronJob");
    let cel: soc2_operator::api::Control = serde_yaml::from_str(WORKLOADS_CONTROL).unwrap();
    for (controls, whole) in [(vec![], false), (vec![cel], true)] {
        let mut loaded = Loaded::default();
        loaded.keep_whole_only(&reads_of(&controls));
        load_paths_into(std::slice::from_ref(&inputs), &mut loaded).unwrap();
        assert_eq!(loaded.snapshot.deployments.len(), 1);
        assert_eq!(loaded.snapshot.cron_jobs.len(), 1);
        assert_eq!(loaded.snapshot.dynamic.contains_key(&deployments), whole);
        assert_eq!(loaded.snapshot.dynamic.contains_key(&cron_jobs), whole);
    }
}
