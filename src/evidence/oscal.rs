//! OSCAL assessment-results export (OSCAL 1.1): observations (one per control, from its samples) -> findings
//! (one per Trust Services Criterion) -> status. Missing data counts as not satisfied.

use serde_json::{Value, json};

use super::report::Report;
use crate::canonical::sha256_hex;

/// The OSCAL version the export declares.
pub const OSCAL_VERSION: &str = "1.1.2";

/// A stable, name-based UUID (version 5 layout over SHA-256), so exports of the same evidence are identical.
fn uuid(parts: &[&str]) -> String {
    let h = sha256_hex(parts.join("\u{1f}").as_bytes());
    let b = h.as_bytes();
    let s = |r: std::ops::Range<usize>| std::str::from_utf8(&b[r]).unwrap_or("0");
    let variant = ["8", "9", "a", "b"][usize::from(b[16] % 4)];
    format!(
        "{}-{}-5{}-{variant}{}-{}",
        s(0..8),
        s(8..12),
        s(13..16),
        s(17..20),
        s(20..32)
    )
}

/// OSCAL control ids are lowercase tokens: `CC6.1` -> `cc6.1`.
fn control_id(criterion: &str) -> String {
    criterion.to_ascii_lowercase()
}

/// The assessment-results document for `report`.
pub fn export(report: &Report) -> Value {
    let root = uuid(&[
        "assessment-results",
        &report.store,
        &report.from,
        &report.to,
    ]);
    let observations: Vec<Value> = report
        .controls
        .iter()
        .map(|c| {
            let mut description = format!(
                "Control {} ({}) was sampled {} time(s) between {} and {}; compliant in {}.",
                c.control, c.title, c.samples, report.from, report.to, c.compliant_samples
            );
            for w in &c.failing_windows {
                description.push_str(&format!(
                    " Failing from {} to {}.",
                    w.start,
                    w.end.as_deref().unwrap_or("the end of the period")
                ));
            }
            for p in &c.not_running {
                description.push_str(&format!(
                    " Did not run from {} to {}: {}.",
                    p.from, p.to, p.reason
                ));
            }
            json!({
                "uuid": uuid(&[&root, "observation", &c.control]),
                "title": format!("{}: {}", c.control, c.title),
                "description": description,
                "methods": ["TEST"],
                "types": ["control-objective"],
                "collected": report.to,
                "relevant-evidence": [{
                    "href": report.store,
                    "description": format!(
                        "soc2-operator evidence snapshots (integrity: {})", report.integrity
                    ),
                }],
            })
        })
        .collect();
    let findings: Vec<Value> = report
        .criteria
        .iter()
        .map(|k| {
            let complete = k.samples > 0
                && k.compliant_samples == k.samples
                && report.missed_snapshots.is_empty()
                && report.integrity == "intact";
            let state = if complete { "satisfied" } else { "not-satisfied" };
            let related: Vec<Value> = k
                .controls
                .iter()
                .map(|c| json!({"observation-uuid": uuid(&[&root, "observation", c])}))
                .collect();
            let mut f = json!({
                "uuid": uuid(&[&root, "finding", &k.criterion]),
                "title": format!("Trust Services Criterion {}", k.criterion),
                "description": format!(
                    "{} of {} sample(s) across control(s) {} were compliant; {} missed snapshot period(s); \
                     evidence integrity {}.",
                    k.compliant_samples,
                    k.samples,
                    k.controls.join(", "),
                    report.missed_snapshots.len(),
                    report.integrity
                ),
                "target": {
                    "type": "objective-id",
                    "target-id": control_id(&k.criterion),
                    "status": {"state": state},
                },
            });
            if !related.is_empty() {
                f["related-observations"] = Value::Array(related);
            }
            f
        })
        .collect();
    let control_selections: Vec<Value> = if report.criteria.is_empty() {
        vec![json!({"include-all": {}})]
    } else {
        vec![json!({
            "include-controls": report
                .criteria
                .iter()
                .map(|k| json!({"control-id": control_id(&k.criterion)}))
                .collect::<Vec<_>>()
        })]
    };
    let mut result = json!({
        "uuid": uuid(&[&root, "result"]),
        "title": format!("SOC 2 {} continuous control evidence", report.kind),
        "description": report.summary,
        "start": report.from,
        "end": report.to,
        "reviewed-controls": {"control-selections": control_selections},
    });
    if !observations.is_empty() {
        result["observations"] = Value::Array(observations);
    }
    if !findings.is_empty() {
        result["findings"] = Value::Array(findings);
    }
    json!({
        "assessment-results": {
            "uuid": root,
            "metadata": {
                "title": format!("SOC 2 {} assessment results from soc2-operator evidence", report.kind),
                "last-modified": report.to,
                "version": env!("CARGO_PKG_VERSION"),
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": {"href": report.store},
            "results": [result],
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_stable_and_well_formed() {
        let re = regex::Regex::new(
            "^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        )
        .unwrap();
        for i in 0..50 {
            let u = uuid(&["x", &i.to_string()]);
            assert!(re.is_match(&u), "{u}");
            assert_eq!(u, uuid(&["x", &i.to_string()]));
        }
    }
}
