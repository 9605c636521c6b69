//! Assertions shared by the check unit tests.

use super::{CheckReport, FindingResult};

/// Every finding as (resource display name, result, rule), sorted; duplicates kept.
pub fn keys(report: &CheckReport) -> Vec<(String, FindingResult, String)> {
    let mut keys: Vec<_> = report
        .findings
        .iter()
        .map(|f| (f.resource.display_name(), f.result, f.rule.clone()))
        .collect();
    keys.sort();
    keys
}

/// Asserts the exact findings (as `keys` gives them) and the evaluated count.
pub fn assert_report(
    report: &CheckReport,
    evaluated: usize,
    items: &[(&str, FindingResult, &str)],
) {
    let mut expected: Vec<_> = items
        .iter()
        .map(|(n, r, rule)| (n.to_string(), *r, rule.to_string()))
        .collect();
    expected.sort();
    assert_eq!(keys(report), expected, "findings: {:#?}", report.findings);
    assert_eq!(report.evaluated, evaluated, "evaluated");
}

/// The single finding's message.
pub fn message(report: &CheckReport) -> &str {
    assert_eq!(report.findings.len(), 1, "{:#?}", report.findings);
    &report.findings[0].message
}
