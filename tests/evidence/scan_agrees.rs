//! `soc2ctl scan --evidence`: the evidence snapshot an auditor reads says what the scan's table says, control by
//! control, for the whole library, CEL controls included.

use std::path::Path;

use soc2_operator::evidence::offline::write_scan_snapshot;
use soc2_operator::evidence::{EvidenceStoreClient, StoreLocation, VerifyingKeys, verify_chain};
use soc2_operator::scan::{self, load_paths};

#[tokio::test]
async fn the_evidence_of_a_scan_holds_the_evaluations_the_scan_printed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let loaded = load_paths(&[root.join("examples/cluster")]).unwrap();
    let controls = load_paths(&[root.join("config/controls")])
        .unwrap()
        .controls;
    let at = "2026-12-07T10:00:00Z".parse().unwrap();
    let printed = scan::scan(&loaded, &controls, at);

    let dir = tempfile::tempdir().unwrap();
    let store =
        EvidenceStoreClient::connect(&StoreLocation::Filesystem(dir.path().into())).unwrap();
    write_scan_snapshot(&store, &loaded.snapshot, &controls, at, None)
        .await
        .unwrap();
    let verified = verify_chain(&store, &VerifyingKeys::default(), |_, _| {})
        .await
        .unwrap();
    let documents = &verified.head().expect("one snapshot").documents;
    assert_eq!(documents.len(), printed.controls.len());
    // A CEL control reading a kind the typed lists hold (Namespaces) is among them: the case that once differed.
    assert!(
        printed
            .controls
            .iter()
            .any(|c| c.name == "personal-data-retention" && c.verdict == "NonCompliant"),
        "the library's CEL control must find the example cluster's violation"
    );
    for result in &printed.controls {
        let document = documents
            .iter()
            .find(|d| d.control == result.name)
            .unwrap_or_else(|| panic!("no evidence document for {}", result.name));
        let evaluation = result.evaluation.as_ref().expect("the library is valid");
        assert_eq!(
            document.evaluation,
            serde_json::to_value(evaluation).unwrap(),
            "{}: the evidence must hold the evaluation the scan printed",
            result.name
        );
    }
}
