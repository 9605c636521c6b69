//! The chart ships the operator it was built with: its appVersion (the default image tag) and version follow the
//! crate version.

#[test]
fn chart_versions_follow_the_crate_version() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/soc2-operator/Chart.yaml");
    let chart: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&path).expect("Chart.yaml")).expect("YAML");
    let crate_version = env!("CARGO_PKG_VERSION");
    for key in ["appVersion", "version"] {
        assert_eq!(
            chart[key].as_str(),
            Some(crate_version),
            "charts/soc2-operator/Chart.yaml {key} must equal the crate version {crate_version} (bump both together)"
        );
    }
}
