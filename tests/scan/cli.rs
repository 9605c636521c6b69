//! `soc2ctl scan` as a user runs it: the real binary, real files, exit codes and output.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn soc2ctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_soc2ctl"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("soc2ctl runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write fixture");
}

/// (control, result, kind, namespace/name, rule) of every finding in a JSON report.
fn findings(report: &Value) -> BTreeSet<(String, String, String, String, String)> {
    let mut out = BTreeSet::new();
    for c in report["controls"].as_array().expect("controls") {
        for f in c["evaluation"]["findings"].as_array().into_iter().flatten() {
            let r = &f["resource"];
            let who = match r["namespace"].as_str() {
                Some(ns) => format!("{ns}/{}", r["name"].as_str().unwrap_or_default()),
                None => r["name"].as_str().unwrap_or_default().to_string(),
            };
            out.insert((
                c["name"].as_str().unwrap_or_default().to_string(),
                f["result"].as_str().unwrap_or_default().to_string(),
                r["kind"].as_str().unwrap_or_default().to_string(),
                who,
                f["rule"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out
}

fn t(c: &str, r: &str, k: &str, w: &str, rule: &str) -> (String, String, String, String, String) {
    (c.into(), r.into(), k.into(), w.into(), rule.into())
}

#[test]
fn examples_give_exactly_the_planted_findings() {
    let out = soc2ctl(&[
        "scan",
        "examples/cluster/",
        "--controls",
        "config/samples/",
        "-o",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failing control exits 1; stderr: {}",
        stderr(&out)
    );
    let report: Value = serde_json::from_str(&stdout(&out)).expect("JSON output");
    let expected: BTreeSet<_> = [
        t(
            "audit-logging-and-collection",
            "Fail",
            "DaemonSet",
            "logging/fluent-bit",
            "collector-not-ready",
        ),
        t(
            "change-approval",
            "Fail",
            "Deployment",
            "web/api",
            "out-of-band-change",
        ),
        t(
            "change-approval",
            "Fail",
            "StatefulSet",
            "payments/cache",
            "no-approval-evidence",
        ),
        t(
            "change-approval",
            "Fail",
            "CronJob",
            "payments/settlement",
            "separation-of-duties",
        ),
        t(
            "mfa-backed-privileged-access",
            "Fail",
            "ClusterRoleBinding",
            "alice-admin",
            "privileged-binding-to-user",
        ),
        t(
            "mfa-backed-privileged-access",
            "Fail",
            "ClusterRoleBinding",
            "ci-deployer",
            "privileged-binding-to-service-account",
        ),
        t(
            "mfa-backed-privileged-access",
            "Fail",
            "ClusterRoleBinding",
            "cluster-admin",
            "privileged-binding-to-system-masters",
        ),
        t(
            "mfa-backed-privileged-access",
            "Fail",
            "RoleBinding",
            "payments/contractors-secrets",
            "privileged-binding-to-non-mfa-group",
        ),
        t(
            "mfa-backed-privileged-access",
            "Fail",
            "Pod",
            "kube-system/kube-apiserver-cp-1",
            "static-token-file",
        ),
        t(
            "mfa-backed-privileged-access",
            "Fail",
            "Secret",
            "payments/ledger-token",
            "legacy-service-account-token",
        ),
        t(
            "mfa-backed-privileged-access",
            "Notice",
            "ClusterRoleBinding",
            "breakglass",
            "break-glass-access",
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(findings(&report), expected);

    let by_name = |n: &str| {
        report["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .cloned()
            .unwrap()
    };
    let mfa = by_name("mfa-backed-privileged-access");
    assert_eq!(mfa["verdict"], "NonCompliant");
    // 8 bindings + 1 token Secret + 1 kube-apiserver; 6 distinct resources fail.
    assert_eq!(mfa["evaluation"]["summary"]["evaluated"], 10);
    assert_eq!(mfa["evaluation"]["summary"]["failed"], 6);
    assert_eq!(mfa["evaluation"]["summary"]["passed"], 4);
    let digest = mfa["evidenceDigest"].as_str().unwrap();
    assert_eq!(digest.len(), 64);
    assert!(digest.chars().all(|c| c.is_ascii_hexdigit()));
    let change = by_name("change-approval");
    assert_eq!(
        change["evaluation"]["summary"]["evaluated"], 19,
        "5 workloads + 2 collector DaemonSets + 3 approved CronJobs (batch.yaml) + 6 availability.yaml workloads + 2 exposure.yaml DaemonSets + 1 pod-security.yaml Deployment"
    );
}

#[test]
fn table_output_lists_controls_and_findings() {
    let out = soc2ctl(&["scan", "examples/cluster/", "--controls", "config/samples/"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.starts_with("CONTROL"), "{text}");
    for needle in [
        "mfa-backed-privileged-access  CC6.1,CC6.2,CC6.3",
        "NonCompliant",
        "Deployment web/api  [out-of-band-change] changed out of band by kubectl-edit at 2026-11-21T22:13:40Z",
        "3 controls: 0 compliant, 3 non-compliant",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn secret_values_never_reach_the_output() {
    for format in ["table", "json"] {
        let out = soc2ctl(&[
            "scan",
            "examples/cluster/",
            "--controls",
            "config/samples/",
            "-o",
            format,
        ]);
        let all = stdout(&out) + &stderr(&out);
        for secret in [
            "ZXhhbXBsZS10b2tlbi1uZXZlci1pbi1ldmlkZW5jZQ==",
            "example-token-never-in-evidence",
            "do-not-print-me",
        ] {
            assert!(!all.contains(secret), "{format} output leaks {secret}");
        }
    }
}

#[test]
fn all_compliant_exits_zero_and_controls_can_come_from_the_inputs() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "all.yaml",
        r#"
apiVersion: soc2.dev/v1alpha1
kind: Control
metadata: {name: change-approval}
spec:
  criteria: [CC8.1]
  category: Security
  title: Changes are approved
  check: {changeApproval: {}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  managedFields:
  - {manager: argocd-controller, operation: Apply, apiVersion: apps/v1, time: "2026-01-01T00:00:00Z"}
spec:
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: nginx}]}}
"#,
    );
    let out = soc2ctl(&["scan", dir.path().to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("1 controls: 1 compliant"));
}

#[test]
fn reads_json_files_typed_lists_and_nested_directories() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("nested/deeper")).unwrap();
    write(
        &dir.path().join("nested/deeper"),
        "crbs.json",
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBindingList","items":[
            {"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"root"},
             "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},
             "subjects":[{"kind":"User","name":"root@example.com"}]}]}"#,
    );
    write(dir.path(), "ignored.txt", "not: [a manifest");
    let out = soc2ctl(&[
        "scan",
        dir.path().to_str().unwrap(),
        "--controls",
        "config/samples/mfa-backed-privileged-access.yaml",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let expected: BTreeSet<_> = [t(
        "mfa-backed-privileged-access",
        "Fail",
        "ClusterRoleBinding",
        "root",
        "privileged-binding-to-user",
    )]
    .into_iter()
    .collect();
    assert_eq!(findings(&report), expected);
}

#[test]
fn invalid_yaml_is_an_input_error_naming_file_and_document() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "broken.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\nkind: [unclosed\n",
    );
    let out = soc2ctl(&[
        "scan",
        dir.path().to_str().unwrap(),
        "--controls",
        "config/samples/",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("broken.yaml") && err.contains("document 2") && err.contains("not valid YAML"),
        "{err}"
    );
}

#[test]
fn malformed_object_is_an_input_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "bad.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec: not-a-spec\n",
    );
    let out = soc2ctl(&[
        "scan",
        dir.path().to_str().unwrap(),
        "--controls",
        "config/samples/",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("bad.yaml") && err.contains("Deployment \"web\" is malformed"),
        "{err}"
    );
}

#[test]
fn invalid_controls_are_reported_and_exit_two() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "controls.yaml",
        r#"
apiVersion: soc2.dev/v1alpha1
kind: Control
metadata: {name: bad-criteria}
spec: {criteria: [CC99.1], category: Security, title: t, check: {logging: {}}}
---
apiVersion: soc2.dev/v1alpha1
kind: Control
metadata: {name: two-checks}
spec: {criteria: [CC7.2], category: Security, title: t, check: {logging: {}, changeApproval: {}}}
---
apiVersion: soc2.dev/v1alpha1
kind: Control
metadata: {name: fast}
spec: {criteria: [CC7.2], category: Security, title: t, interval: 5s, check: {logging: {}}}
"#,
    );
    let out = soc2ctl(&[
        "scan",
        "examples/cluster/",
        "--controls",
        dir.path().to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let errors: Vec<(String, String)> = report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["error"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(errors.iter().all(|(_, e)| !e.is_empty()), "{errors:?}");
    assert!(
        errors[0].1.contains("spec.criteria") && errors[0].1.contains("CC99.1"),
        "{errors:?}"
    );
    assert!(
        errors[1].1.contains("spec.interval") && errors[1].1.contains("10s"),
        "{errors:?}"
    );
    assert!(
        errors[2].1.contains("spec.check") && errors[2].1.contains("exactly one"),
        "{errors:?}"
    );
}

#[test]
fn usage_errors_exit_two() {
    let missing = soc2ctl(&["scan", "does/not/exist", "--controls", "config/samples/"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("does/not/exist"),
        "{}",
        stderr(&missing)
    );

    let no_controls = soc2ctl(&["scan", "examples/cluster/"]);
    assert_eq!(no_controls.status.code(), Some(2));
    assert!(stderr(&no_controls).contains("--controls"));

    assert_eq!(soc2ctl(&["scan"]).status.code(), Some(2));
    assert_eq!(
        soc2ctl(&["scan", "examples/cluster/", "-o", "xml"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(soc2ctl(&["frobnicate"]).status.code(), Some(2));
}

/// A ControlException manifest (no creationTimestamp: as written in Git) expiring at `expires`.
fn exception_yaml(
    namespace: &str,
    name: &str,
    resource: &str,
    approved_by: &str,
    expires: &str,
) -> String {
    format!(
        r#"---
apiVersion: soc2.dev/v1alpha1
kind: ControlException
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  control: mfa-backed-privileged-access
  resources: [{resource}]
  justification: vendor access during the migration, reviewed weekly
  approvedBy: "{approved_by}"
  ticket: SEC-9
  expiresAt: "{expires}"
"#
    )
}

#[test]
fn scan_honours_active_exceptions_only_and_reports_every_exception() {
    use k8s_openapi::jiff::{SignedDuration, Timestamp};
    let in_a_month = (Timestamp::now() + SignedDuration::from_hours(24 * 30))
        .round(k8s_openapi::jiff::Unit::Second)
        .unwrap()
        .to_string();
    let yesterday = (Timestamp::now() - SignedDuration::from_hours(24))
        .round(k8s_openapi::jiff::Unit::Second)
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let crb = |n: &str| format!("{{kind: ClusterRoleBinding, name: {n}}}");
    let text = [
        // Cluster-wide (operator namespace): waives alice's binding.
        exception_yaml(
            "soc2-system",
            "alice",
            &crb("alice-admin"),
            "ciso@example.com",
            &in_a_month,
        ),
        // Expired: system:masters fails again.
        exception_yaml(
            "soc2-system",
            "masters",
            &crb("cluster-admin"),
            "ciso@example.com",
            &yesterday,
        ),
        // No approver: invalid, waives nothing.
        exception_yaml("soc2-system", "ci", &crb("ci-deployer"), "", &in_a_month),
        // Namespaced: may not waive a cluster-scoped binding.
        exception_yaml(
            "web",
            "sneaky",
            &crb("cluster-admin"),
            "lead@example.com",
            &in_a_month,
        ),
        // Namespaced, its own namespace: waives the RoleBinding in payments.
        exception_yaml(
            "payments",
            "contractors",
            "{kind: RoleBinding, name: contractors-secrets}",
            "cfo@example.com",
            &in_a_month,
        ),
    ]
    .concat();
    write(dir.path(), "exceptions.yaml", &text);
    let tmp = dir.path().to_str().unwrap();
    let out = soc2ctl(&[
        "scan",
        "examples/cluster/",
        tmp,
        "--controls",
        "config/samples/",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let mfa = report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "mfa-backed-privileged-access")
        .unwrap();
    let summary = &mfa["evaluation"]["summary"];
    assert_eq!(
        (
            summary["failed"].as_u64(),
            summary["excepted"].as_u64(),
            summary["evaluated"].as_u64()
        ),
        (Some(4), Some(2), Some(10)),
        "{summary}"
    );
    let result_of = |kind: &str, name: &str| {
        mfa["evaluation"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| {
                f["resource"]["kind"] == kind
                    && f["resource"]["name"] == name
                    && f["result"] != "Notice"
            })
            .unwrap_or_else(|| panic!("no finding for {kind} {name}"))
            .clone()
    };
    let alice = result_of("ClusterRoleBinding", "alice-admin");
    assert_eq!(alice["result"], "Excepted");
    assert_eq!(alice["exception"]["name"], "soc2-system/alice");
    assert_eq!(alice["exception"]["approvedBy"], "ciso@example.com");
    assert_eq!(alice["exception"]["expiresAt"], in_a_month);
    assert_eq!(
        result_of("RoleBinding", "contractors-secrets")["result"],
        "Excepted"
    );
    assert_eq!(
        result_of("ClusterRoleBinding", "cluster-admin")["result"],
        "Fail"
    );
    assert_eq!(
        result_of("ClusterRoleBinding", "ci-deployer")["result"],
        "Fail"
    );

    let states: BTreeSet<(String, String, String)> = report["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["name"].as_str().unwrap().to_string(),
                x["state"].as_str().unwrap().to_string(),
                x["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String, String)> = [
        ("payments/contractors", "Active", "Approved"),
        ("soc2-system/alice", "Active", "Approved"),
        ("soc2-system/ci", "Invalid", "MissingApprover"),
        ("soc2-system/masters", "Expired", "Expired"),
        ("web/sneaky", "Active", "Approved"),
    ]
    .into_iter()
    .map(|(a, b, c)| (a.into(), b.into(), c.into()))
    .collect();
    assert_eq!(states, expected);
    // web/sneaky is valid for its own namespace but cannot reach the cluster-scoped cluster-admin binding (still
    // Fail above); notices are never excepted.
    let breakglass = mfa["evaluation"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["resource"]["name"] == "breakglass")
        .unwrap();
    assert_eq!(breakglass["result"], "Notice");
    assert!(breakglass.get("exception").is_none());

    // The table shows the covering exception and every exception's state.
    let out = soc2ctl(&[
        "scan",
        "examples/cluster/",
        tmp,
        "--controls",
        "config/samples/",
    ]);
    let text = stdout(&out);
    for needle in [
        "EXCEPTED ClusterRoleBinding alice-admin",
        "(ControlException soc2-system/alice, approved by ciso@example.com, ticket SEC-9",
        "INVALID  soc2-system/ci (control mfa-backed-privileged-access)  [MissingApprover]",
        "2 resources excepted",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // A control missing from the scan makes its exceptions invalid.
    let out = soc2ctl(&[
        "scan",
        "examples/cluster/",
        tmp,
        "--controls",
        "config/samples/logging.yaml",
        "-o",
        "json",
    ]);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        report["exceptions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["reason"] == "ControlNotFound" || x["reason"] == "MissingApprover"),
        "{}",
        report["exceptions"]
    );
}

#[test]
fn shipped_example_exceptions_load_and_the_expired_one_waives_nothing() {
    let out = soc2ctl(&[
        "scan",
        "examples/cluster/",
        "examples/exceptions/",
        "--controls",
        "config/samples/",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let expired = report["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "payments/contractors-secret-access")
        .unwrap();
    assert_eq!(expired["state"], "Expired");
}
