//! `soc2ctl scan`: the same controls and checks as the operator, against manifests on disk.

mod manifests;
mod render;

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

pub use manifests::{LoadError, Loaded, load_paths, load_paths_into};
pub use render::{render_json, render_table};

use crate::api::{Control, ExceptionState};
use crate::engine::evaluate::{Compliance, Evaluation, evaluate, required_kinds};
use crate::engine::validation::validate;
use crate::view::Reads;

/// The result for one control.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ControlResult {
    /// Control name.
    pub name: String,
    /// Control title.
    pub title: String,
    /// Effective mode.
    pub mode: String,
    /// Effective severity.
    pub severity: String,
    /// `Compliant`, `NonCompliant`, `Unknown` or `Invalid`.
    pub verdict: String,
    /// Why the control is invalid, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The evaluation, for valid controls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Evaluation>,
    /// SHA-256 of the canonical evaluation (as in `status.evidenceDigest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_digest: Option<String>,
}

/// The outcome of a scan.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ScanReport {
    /// When the scan ran.
    pub scanned_at: String,
    /// Manifest files read.
    pub files: usize,
    /// Objects the checks can read that were found.
    pub objects: usize,
    /// Per-control results, in name order.
    pub controls: Vec<ControlResult>,
    /// Every ControlException found, with its state, in `namespace/name` order.
    pub exceptions: Vec<ExceptionResult>,
}

/// A ControlException as the scan judged it.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionResult {
    /// `namespace/name`.
    pub name: String,
    /// The control it names.
    pub control: String,
    /// Active, Expired or Invalid.
    pub state: ExceptionState,
    /// Why.
    pub reason: String,
    /// What it means.
    pub message: String,
}

impl ScanReport {
    /// 0 when every control is compliant, 1 when one fails or is undetermined, 2 when one is invalid.
    pub fn exit_code(&self) -> i32 {
        if self.controls.iter().any(|c| c.verdict == "Invalid") {
            2
        } else if self.controls.iter().all(|c| c.verdict == "Compliant") {
            0
        } else {
            1
        }
    }
}

/// What `controls` read together (invalid controls read nothing).
pub fn reads_of(controls: &[Control]) -> Reads {
    let reads: Vec<Reads> = controls
        .iter()
        .filter_map(|c| validate(&c.spec).ok().map(|v| required_kinds(&v)))
        .collect();
    Reads::union(&reads)
}

/// Evaluates `controls` against the objects loaded from disk.
pub fn scan(loaded: &Loaded, controls: &[Control], now: Timestamp) -> ScanReport {
    // The view every control reads, the same one the scan's evidence snapshot evaluates.
    let snapshot = loaded.snapshot.offline_view(&reads_of(controls));
    let mut results: Vec<ControlResult> = controls
        .iter()
        .map(|control| {
            let name = control.metadata.name.clone().unwrap_or_default();
            let base = ControlResult {
                name: name.clone(),
                title: control.spec.title.clone(),
                mode: control.spec.mode.unwrap_or_default().to_string(),
                severity: control.spec.severity.unwrap_or_default().to_string(),
                verdict: "Invalid".into(),
                error: None,
                evaluation: None,
                evidence_digest: None,
            };
            match validate(&control.spec).and_then(|v| evaluate(&name, &v, &snapshot, now)) {
                Err(e) => ControlResult {
                    error: Some(e.to_string()),
                    ..base
                },
                Ok(evaluation) => ControlResult {
                    verdict: match evaluation.compliance {
                        Compliance::Compliant => "Compliant",
                        Compliance::NonCompliant => "NonCompliant",
                        Compliance::Unknown => "Unknown",
                    }
                    .into(),
                    evidence_digest: Some(evaluation.digest.clone()),
                    evaluation: Some(evaluation),
                    ..base
                },
            }
        })
        .collect();
    results.sort_by(|a, b| a.name.cmp(&b.name));
    let mut exceptions: Vec<ExceptionResult> = loaded
        .snapshot
        .control_exceptions
        .iter()
        .map(|e| {
            let exists = controls
                .iter()
                .any(|c| c.metadata.name.as_deref() == Some(e.spec.control.as_str()));
            let a = crate::engine::exceptions::assess(
                e,
                Some(exists),
                &loaded.snapshot.exception_policy,
                now,
            );
            ExceptionResult {
                name: crate::engine::exceptions::key(e),
                control: e.spec.control.clone(),
                state: a.state,
                reason: a.reason.into(),
                message: a.message,
            }
        })
        .collect();
    exceptions.sort_by(|a, b| a.name.cmp(&b.name));
    exceptions.dedup_by(|a, b| a.name == b.name);
    ScanReport {
        scanned_at: now.to_string(),
        files: loaded.files,
        objects: loaded.objects,
        controls: results,
        exceptions,
    }
}
