//! The Control manifests of a directory of this crate (`config/controls`, `config/samples`), for benchmarks and
//! tests that run the shipped controls.

use soc2_operator::api::Control;

/// The Control manifests in `dir` (relative to the crate), sorted by file name; kustomization.yaml is not one.
pub fn controls_in(dir: &str) -> Vec<Control> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| p.file_name().is_some_and(|f| f != "kustomization.yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("readable manifest");
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect()
}
