//! NIST's published OSCAL 1.1.1 schema (vendored, see `oscal/SOURCE.md`), compiled once for every test that
//! validates an export against it.

use std::sync::OnceLock;

use serde_json::Value;

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/evidence/oscal/oscal_complete_schema-1.1.1.json");
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        jsonschema::draft7::new(&schema).expect("the NIST schema compiles")
    })
}

/// The first ten ways `doc` is not valid OSCAL, each with where; empty when it is valid.
pub fn errors(doc: &Value) -> Vec<String> {
    validator()
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(10)
        .collect()
}
