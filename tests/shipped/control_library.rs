//! The shipped control library: every manifest is a valid, auditor-ready Control, `kubectl apply -k` applies all
//! of them, and docs/controls.md is generated from them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use soc2_operator::api::{Category, Control};
use soc2_operator::engine::validation::validate;
use soc2_operator::shipped::library::render_markdown;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifest_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("config/controls"))
        .expect("config/controls exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yaml")
                && p.file_name().is_some_and(|n| n != "kustomization.yaml")
        })
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> Control {
    let text = std::fs::read_to_string(path).expect("readable");
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn library() -> Vec<Control> {
    manifest_files().iter().map(|p| load(p)).collect()
}

#[test]
fn every_control_is_valid_and_auditor_ready() {
    let files = manifest_files();
    let mut names = BTreeSet::new();
    for path in &files {
        let control = load(path);
        let name = control.metadata.name.clone().expect("metadata.name");
        let file = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("file name");
        assert_eq!(
            name,
            file,
            "{}: the file is named after the control",
            path.display()
        );
        assert!(names.insert(name.clone()), "{name}: duplicate control name");
        let v = validate(&control.spec).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            v.mode.to_string(),
            "Audit",
            "{name}: shipped controls start in Audit mode"
        );
        for (field, text) in [
            ("description", &control.spec.description),
            ("testProcedure", &control.spec.test_procedure),
            ("remediation", &control.spec.remediation),
            ("owner", &control.spec.owner),
        ] {
            let text = text.as_deref().unwrap_or_default();
            assert!(
                text.trim().len() >= 10,
                "{name}: spec.{field} is missing or too short"
            );
        }
    }
    assert!(
        files.len() >= 20,
        "the library ships at least 20 controls, found {}",
        files.len()
    );
}

#[test]
fn the_library_covers_every_trust_services_category_the_product_claims() {
    let categories: BTreeSet<String> = library()
        .iter()
        .map(|c| c.spec.category.to_string())
        .collect();
    for wanted in [
        Category::Security,
        Category::Availability,
        Category::ProcessingIntegrity,
        Category::Confidentiality,
        Category::Privacy,
    ] {
        assert!(
            categories.contains(&wanted.to_string()),
            "no control in category {wanted}"
        );
    }
}

#[test]
fn the_kustomization_lists_every_manifest() {
    let text = std::fs::read_to_string(root().join("config/controls/kustomization.yaml"))
        .expect("config/controls/kustomization.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
    let listed: BTreeSet<String> = doc["resources"]
        .as_sequence()
        .expect("resources list")
        .iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect();
    let files: BTreeSet<String> = manifest_files()
        .iter()
        .map(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .expect("name")
                .to_string()
        })
        .collect();
    assert_eq!(
        listed, files,
        "config/controls/kustomization.yaml resources must list every manifest"
    );
}

#[test]
fn docs_controls_md_is_generated_from_the_manifests() {
    let rendered = render_markdown(&library());
    let path = root().join("docs/controls.md");
    if std::env::var_os("SOC2_BLESS").is_some() {
        std::fs::write(&path, &rendered).expect("write docs/controls.md");
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == rendered,
        "docs/controls.md drifted from config/controls/; regenerate it with SOC2_BLESS=1 cargo test --test shipped control_library"
    );
}
