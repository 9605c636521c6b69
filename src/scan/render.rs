//! Rendering a scan for people (a table) and for machines (JSON).

use std::fmt::Write;

use super::ScanReport;

/// A table of controls, then the findings of every control that is not compliant.
pub fn render_table(report: &ScanReport) -> String {
    let mut out = String::new();
    let rows: Vec<[String; 7]> = report
        .controls
        .iter()
        .map(|c| {
            let (criteria, evaluated, failed, unknown) = match &c.evaluation {
                Some(e) => (
                    e.criteria
                        .iter()
                        .map(|c| c.0.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    e.summary.evaluated.to_string(),
                    e.summary.failed.to_string(),
                    e.summary.unknown.to_string(),
                ),
                None => ("-".into(), "-".into(), "-".into(), "-".into()),
            };
            [
                c.name.clone(),
                criteria,
                c.mode.clone(),
                c.verdict.clone(),
                evaluated,
                failed,
                unknown,
            ]
        })
        .collect();
    let header = [
        "CONTROL",
        "CRITERIA",
        "MODE",
        "VERDICT",
        "EVALUATED",
        "FAILED",
        "UNKNOWN",
    ]
    .map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    for c in &report.controls {
        if let Some(error) = &c.error {
            let _ = write!(out, "\n{} is invalid: {error}\n", c.name);
        }
        let Some(e) = &c.evaluation else { continue };
        if e.findings.is_empty() {
            continue;
        }
        let _ = write!(out, "\n{} ({}):\n", c.name, c.title);
        for f in &e.findings {
            let _ = write!(
                out,
                "  {:<7} {}  [{}] {}",
                f.result.to_string().to_uppercase(),
                f.resource,
                f.rule,
                f.message
            );
            if let Some(x) = &f.exception {
                let _ = write!(
                    out,
                    " (ControlException {}, approved by {}, ticket {}, expires {})",
                    x.name, x.approved_by, x.ticket, x.expires_at
                );
            }
            let _ = writeln!(out);
        }
    }
    if !report.exceptions.is_empty() {
        let _ = writeln!(out, "\nControlExceptions:");
        for x in &report.exceptions {
            let _ = writeln!(
                out,
                "  {:<8} {} (control {})  [{}] {}",
                x.state.to_string().to_uppercase(),
                x.name,
                x.control,
                x.reason,
                x.message
            );
        }
    }
    let _ = write!(
        out,
        "\n{} controls: {} compliant, {} non-compliant, {} unknown, {} invalid; {} resources excepted ({} objects from {} files)\n",
        report.controls.len(),
        count(report, "Compliant"),
        count(report, "NonCompliant"),
        count(report, "Unknown"),
        count(report, "Invalid"),
        report
            .controls
            .iter()
            .filter_map(|c| c.evaluation.as_ref())
            .map(|e| e.summary.excepted)
            .sum::<u32>(),
        report.objects,
        report.files
    );
    out
}

fn count(report: &ScanReport, verdict: &str) -> usize {
    report
        .controls
        .iter()
        .filter(|c| c.verdict == verdict)
        .count()
}

/// The report as pretty JSON.
pub fn render_json(report: &ScanReport) -> serde_json::Result<String> {
    serde_json::to_string_pretty(report)
}
