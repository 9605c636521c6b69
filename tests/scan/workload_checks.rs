//! The shipped workload controls (pod security, image provenance, service-account hygiene, confidentiality) scanned
//! by `soc2ctl` against their example cluster files: exactly the planted violations, none of the compliant twins.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use serde_json::Value;

const EXAMPLES: &[&str] = &[
    "examples/cluster/pod-security.yaml",
    "examples/cluster/image-provenance.yaml",
    "examples/cluster/service-accounts.yaml",
    "examples/cluster/confidentiality.yaml",
];

const CONTROLS: &[&str] = &[
    "pod-security-restricted",
    "pod-security-namespace-labels",
    "image-registries",
    "image-digest-pinning",
    "image-tag-and-pull-policy",
    "service-account-token-automount",
    "confidential-namespace-isolation",
    "secrets-in-environment",
];

fn scan(output: &str) -> Output {
    let mut args: Vec<String> = vec!["scan".into()];
    args.extend(EXAMPLES.iter().map(|s| s.to_string()));
    for c in CONTROLS {
        args.push("--controls".into());
        args.push(format!("config/controls/{c}.yaml"));
    }
    args.extend(["-o".into(), output.into()]);
    Command::new(env!("CARGO_BIN_EXE_soc2ctl"))
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("soc2ctl runs")
}

fn findings(report: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for c in report["controls"].as_array().expect("controls") {
        assert_eq!(c["verdict"], "NonCompliant", "{}", c["name"]);
        for f in c["evaluation"]["findings"].as_array().into_iter().flatten() {
            let r = &f["resource"];
            out.insert(format!(
                "{} {} {} {}/{} {}",
                c["name"].as_str().unwrap_or_default(),
                f["result"].as_str().unwrap_or_default(),
                r["kind"].as_str().unwrap_or_default(),
                r["namespace"].as_str().unwrap_or("-"),
                r["name"].as_str().unwrap_or_default(),
                f["rule"].as_str().unwrap_or_default(),
            ));
        }
    }
    out
}

#[test]
fn workload_controls_find_exactly_the_planted_violations() {
    let out = scan("json");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(
        report["controls"].as_array().map(Vec::len),
        Some(CONTROLS.len())
    );
    let expected: BTreeSet<String> = [
        "confidential-namespace-isolation Fail Namespace -/archive confidential-namespace-not-isolated",
        "image-digest-pinning Fail Pod shop/hub-nginx image-not-pinned-by-digest",
        "image-digest-pinning Fail Pod shop/latest-tool image-not-pinned-by-digest",
        "image-registries Fail Pod shop/hub-nginx image-registry-not-allowed",
        "image-tag-and-pull-policy Fail Pod shop/hub-nginx image-pull-policy-not-always",
        "image-tag-and-pull-policy Fail Pod shop/latest-tool image-latest-tag",
        "pod-security-namespace-labels Fail Namespace -/legacy-apps pod-security-label",
        "pod-security-restricted Fail Pod legacy-apps/root-app capabilities-not-dropped",
        "pod-security-restricted Fail Pod legacy-apps/root-app privilege-escalation-allowed",
        "pod-security-restricted Fail Pod legacy-apps/root-app run-as-non-root-not-set",
        "pod-security-restricted Fail Pod legacy-apps/root-app seccomp-profile-missing",
        "pod-security-restricted Fail Pod shop/batch-worker-7xk2p privileged-container",
        "pod-security-restricted Fail Pod shop/privileged-debug host-pid",
        "pod-security-restricted Fail Pod shop/privileged-debug privileged-container",
        "secrets-in-environment Fail Pod shop/checkout secret-literal-in-env",
        "service-account-token-automount Fail Pod shop/token-default-sa service-account-token-automount",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(findings(&report), expected);
}

#[test]
fn literal_secret_values_never_reach_the_output() {
    for format in ["json", "table"] {
        let out = scan(format);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            all.contains("STRIPE_API_KEY"),
            "{format}: the variable is named"
        );
        assert!(
            !all.contains("sk_live_example_do_not_use"),
            "{format} output leaks the literal value"
        );
    }
}
