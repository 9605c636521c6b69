//! The shipped network and availability controls (config/controls/) against the example cluster: every planted
//! violation is found, nothing else. The example files are copied so that examples added for other controls do
//! not change what this test proves.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const CONTROLS: &[&str] = &[
    "network-default-deny",
    "network-no-internet-ingress",
    "service-exposure-approval",
    "host-network-approval",
    "ingress-tls",
    "workload-redundancy",
    "readiness-and-resources",
];

const EXAMPLES: &[&str] = &[
    "namespaces.yaml",
    "workloads.yaml",
    "logging.yaml",
    "network-policies.yaml",
    "exposure.yaml",
    "ingresses.yaml",
    "availability.yaml",
];

type Key = (String, String, String, String, String);

fn scan() -> (Option<i32>, Value) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("temp dir");
    for f in EXAMPLES {
        std::fs::copy(root.join("examples/cluster").join(f), dir.path().join(f))
            .expect("copy example");
    }
    let mut args: Vec<String> = vec!["scan".into(), dir.path().display().to_string()];
    for c in CONTROLS {
        args.push("--controls".into());
        args.push(
            root.join(format!("config/controls/{c}.yaml"))
                .display()
                .to_string(),
        );
    }
    args.extend(["-o".into(), "json".into()]);
    let out = Command::new(env!("CARGO_BIN_EXE_soc2ctl"))
        .args(&args)
        .output()
        .expect("soc2ctl runs");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON output ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

fn findings(report: &Value) -> BTreeSet<Key> {
    let mut out = BTreeSet::new();
    for c in report["controls"].as_array().expect("controls") {
        for f in c["evaluation"]["findings"].as_array().into_iter().flatten() {
            let r = &f["resource"];
            let name = r["name"].as_str().unwrap_or_default();
            let who = match r["namespace"].as_str() {
                Some(ns) => format!("{ns}/{name}"),
                None => name.to_string(),
            };
            out.insert((
                c["name"].as_str().unwrap_or_default().into(),
                f["result"].as_str().unwrap_or_default().into(),
                r["kind"].as_str().unwrap_or_default().into(),
                who,
                f["rule"].as_str().unwrap_or_default().into(),
            ));
        }
    }
    out
}

fn k(c: &str, r: &str, kind: &str, who: &str, rule: &str) -> Key {
    (c.into(), r.into(), kind.into(), who.into(), rule.into())
}

#[test]
fn the_network_and_availability_controls_find_exactly_the_planted_violations() {
    let (code, report) = scan();
    assert_eq!(code, Some(1), "failing controls exit 1");
    let fail = "Fail";
    let redundancy = "workload-redundancy";
    let readiness = "readiness-and-resources";
    let mut expected: BTreeSet<Key> = [
        k(
            "network-default-deny",
            fail,
            "Namespace",
            "logging",
            "allow-all-ingress",
        ),
        k(
            "network-default-deny",
            fail,
            "Namespace",
            "sandbox",
            "no-default-deny-ingress",
        ),
        k(
            "network-no-internet-ingress",
            fail,
            "NetworkPolicy",
            "web/allow-public-https",
            "policy-admits-internet",
        ),
        k(
            "service-exposure-approval",
            fail,
            "Service",
            "web/frontend-public",
            "exposure-not-approved",
        ),
        k(
            "service-exposure-approval",
            fail,
            "Service",
            "web/partner-api",
            "exposure-not-approved",
        ),
        k(
            "host-network-approval",
            fail,
            "DaemonSet",
            "logging/node-exporter",
            "host-network-not-approved",
        ),
        k(
            "ingress-tls",
            fail,
            "Ingress",
            "web/admin",
            "ingress-without-tls",
        ),
        k(
            "ingress-tls",
            fail,
            "Ingress",
            "payments/portal",
            "host-without-tls",
        ),
        k(
            redundancy,
            fail,
            "Deployment",
            "web/search",
            "pdb-blocks-eviction",
        ),
        k(
            redundancy,
            fail,
            "Deployment",
            "payments/fraud-scorer",
            "insufficient-replicas",
        ),
        k(
            redundancy,
            fail,
            "StatefulSet",
            "payments/reports",
            "no-pod-disruption-budget",
        ),
        k(
            redundancy,
            "Notice",
            "Deployment",
            "payments/legacy-export",
            "scaled-to-zero",
        ),
        k(
            readiness,
            fail,
            "StatefulSet",
            "payments/reports",
            "missing-readiness-probe",
        ),
        k(
            readiness,
            fail,
            "Deployment",
            "web/recommender",
            "missing-resource-requests",
        ),
        k(
            readiness,
            "Notice",
            "Deployment",
            "payments/legacy-export",
            "scaled-to-zero",
        ),
    ]
    .into_iter()
    .collect();
    // The change-approval workloads of workloads.yaml run one replica without probes, requests or budget.
    for w in [
        ("Deployment", "web/frontend"),
        ("Deployment", "web/api"),
        ("Deployment", "payments/ledger"),
        ("StatefulSet", "payments/cache"),
    ] {
        expected.insert(k(redundancy, fail, w.0, w.1, "insufficient-replicas"));
        expected.insert(k(redundancy, fail, w.0, w.1, "no-pod-disruption-budget"));
        expected.insert(k(readiness, fail, w.0, w.1, "missing-readiness-probe"));
        expected.insert(k(readiness, fail, w.0, w.1, "missing-resource-requests"));
    }
    let actual = findings(&report);
    assert_eq!(
        actual,
        expected,
        "missing: {:#?}\nunexpected: {:#?}",
        expected.difference(&actual).collect::<Vec<_>>(),
        actual.difference(&expected).collect::<Vec<_>>()
    );
    let control = |name: &str| {
        report["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("control {name} in report"))
    };
    // payments, web, logging, sandbox; kube-system is out of scope.
    assert_eq!(
        control("network-default-deny")["evaluation"]["summary"]["evaluated"],
        4
    );
    // Eight NetworkPolicies outside kube-system.
    assert_eq!(
        control("network-no-internet-ingress")["evaluation"]["summary"]["evaluated"],
        8
    );
    assert_eq!(control("ingress-tls")["evaluation"]["summary"]["passed"], 2);
    for name in CONTROLS {
        assert_eq!(control(name)["verdict"], "NonCompliant", "{name}");
    }
}
