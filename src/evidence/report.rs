//! Type I / Type II reports from a verified chain: per criterion and control, how often the control was
//! compliant, when it failed and how long remediation took, exceptions, and when it did not run.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::verify::{LoadedSnapshot, VerifyOutcome};

/// A window during which a control failed.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailingWindow {
    /// First failing sample.
    pub start: String,
    /// First compliant sample after it; `None` while still failing at the end of the window.
    pub end: Option<String>,
    /// Time to remediate (`end - start`), human readable.
    pub time_to_remediate: Option<String>,
    /// Worst failed resource count seen in the window.
    pub max_failed: u64,
}

/// A period when evidence is missing.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NotRunningPeriod {
    /// From.
    pub from: String,
    /// To.
    pub to: String,
    /// Why: missed snapshots, or the controller did not evaluate the control.
    pub reason: String,
}

/// An exception seen in the evidence.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionSeen {
    /// Its name.
    pub name: String,
    /// Who approved it.
    pub approver: Option<String>,
    /// When it expires.
    pub expires: Option<String>,
    /// First and last snapshot it was applied in.
    pub first_seen: String,
    /// Last snapshot.
    pub last_seen: String,
}

/// One control over the window.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ControlReport {
    /// Name.
    pub control: String,
    /// Title.
    pub title: String,
    /// Criteria.
    pub criteria: Vec<String>,
    /// Snapshots in the window with evidence for the control.
    pub samples: usize,
    /// Of which compliant.
    pub compliant_samples: usize,
    /// `compliant_samples / samples` (0 when there are no samples: missing evidence is not compliance).
    pub compliant_share: f64,
    /// The last verdict in the window.
    pub last_verdict: String,
    /// Failing windows.
    pub failing_windows: Vec<FailingWindow>,
    /// Exceptions applied.
    pub exceptions: Vec<ExceptionSeen>,
    /// Periods without evidence.
    pub not_running: Vec<NotRunningPeriod>,
}

/// One criterion over the window.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CriterionReport {
    /// E.g. `CC6.1`.
    pub criterion: String,
    /// Controls mapped to it.
    pub controls: Vec<String>,
    /// Samples across those controls.
    pub samples: usize,
    /// Compliant samples across those controls.
    pub compliant_samples: usize,
    /// Share.
    pub compliant_share: f64,
}

/// The report.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `Type I` (one point in time) or `Type II` (a window).
    pub kind: String,
    /// Window start.
    pub from: String,
    /// Window end.
    pub to: String,
    /// The evidence store.
    pub store: String,
    /// Cluster UID(s) seen.
    pub clusters: Vec<String>,
    /// Snapshots in the window.
    pub snapshots: usize,
    /// `intact`, or the number of broken objects and the first one.
    pub integrity: String,
    /// Whether signatures were checked.
    pub signatures_checked: bool,
    /// A paragraph an auditor can read.
    pub summary: String,
    /// Per criterion.
    pub criteria: Vec<CriterionReport>,
    /// Per control.
    pub controls: Vec<ControlReport>,
    /// Missed snapshots (apply to every control).
    pub missed_snapshots: Vec<NotRunningPeriod>,
}

fn share(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

fn duration_between(a: &str, b: &str) -> Option<String> {
    let a: Timestamp = a.parse().ok()?;
    let b: Timestamp = b.parse().ok()?;
    let secs = u64::try_from(b.as_second() - a.as_second()).ok()?;
    Some(humantime::format_duration(std::time::Duration::from_secs(secs)).to_string())
}

fn str_field(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| {
        v.get(*k)
            .or_else(|| v.pointer(&format!("/spec/{k}")))
            .and_then(Value::as_str)
            .map(str::to_string)
    })
}

/// Builds the report for snapshots taken in `[from, to]`. With `from == None` it is a Type I report on the last
/// snapshot at or before `to`.
pub fn build(
    verified: &VerifyOutcome,
    store: &str,
    from: Option<Timestamp>,
    to: Timestamp,
) -> Report {
    let taken = |s: &LoadedSnapshot| s.manifest.taken_at.parse::<Timestamp>().ok();
    let selected: Vec<&LoadedSnapshot> = match from {
        Some(from) => verified
            .snapshots
            .iter()
            .filter(|s| taken(s).is_some_and(|t| t >= from && t <= to))
            .collect(),
        None => verified
            .snapshots
            .iter()
            .rfind(|s| taken(s).is_some_and(|t| t <= to))
            .into_iter()
            .collect(),
    };

    let mut missed_snapshots = Vec::new();
    for s in &selected {
        if let Some(g) = &s.manifest.gap {
            missed_snapshots.push(NotRunningPeriod {
                from: g.from.clone(),
                to: g.to.clone(),
                reason: format!(
                    "{} scheduled snapshot(s) not taken{}",
                    g.missed_ticks,
                    g.reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            });
        }
    }

    let mut controls: BTreeMap<String, ControlReport> = BTreeMap::new();
    let mut open_failures: BTreeMap<String, FailingWindow> = BTreeMap::new();
    let mut exceptions: BTreeMap<(String, String), ExceptionSeen> = BTreeMap::new();
    let mut last_seen_at: BTreeMap<String, String> = BTreeMap::new();
    for s in &selected {
        let at = s.manifest.taken_at.clone();
        for doc in &s.documents {
            let c = controls
                .entry(doc.control.clone())
                .or_insert_with(|| ControlReport {
                    control: doc.control.clone(),
                    title: doc.title.clone(),
                    criteria: doc.criteria.clone(),
                    samples: 0,
                    compliant_samples: 0,
                    compliant_share: 0.0,
                    last_verdict: String::new(),
                    failing_windows: vec![],
                    exceptions: vec![],
                    not_running: vec![],
                });
            c.title = doc.title.clone();
            c.criteria = doc.criteria.clone();
            c.samples += 1;
            c.last_verdict = doc.verdict().to_string();
            if let Some(prev) = last_seen_at.get(&doc.control)
                && s.manifest.previous.as_ref().is_some()
                && *prev != s.manifest.window_start
            {
                c.not_running.push(NotRunningPeriod {
                    from: prev.clone(),
                    to: at.clone(),
                    reason: "the control is missing from the snapshots in between".into(),
                });
            }
            last_seen_at.insert(doc.control.clone(), at.clone());
            if doc.operation.not_evaluated_in_window && from.is_some() {
                c.not_running.push(NotRunningPeriod {
                    from: doc
                        .operation
                        .previous_snapshot_at
                        .clone()
                        .unwrap_or_else(|| s.manifest.window_start.clone()),
                    to: at.clone(),
                    reason: "the controller did not evaluate the control in this window".into(),
                });
            }
            if doc.verdict() == "Compliant" {
                c.compliant_samples += 1;
                if let Some(mut w) = open_failures.remove(&doc.control) {
                    w.time_to_remediate = duration_between(&w.start, &at);
                    w.end = Some(at.clone());
                    c.failing_windows.push(w);
                }
            } else {
                let w = open_failures
                    .entry(doc.control.clone())
                    .or_insert_with(|| FailingWindow {
                        start: at.clone(),
                        end: None,
                        time_to_remediate: None,
                        max_failed: 0,
                    });
                w.max_failed = w.max_failed.max(doc.failed());
            }
            for e in &doc.exceptions_applied {
                let name =
                    str_field(e, &["name", "exception"]).unwrap_or_else(|| "(unnamed)".into());
                let seen = exceptions
                    .entry((doc.control.clone(), name.clone()))
                    .or_insert_with(|| ExceptionSeen {
                        name,
                        approver: str_field(e, &["approver", "approvedBy"]),
                        expires: str_field(e, &["expires", "expiresAt", "expiry"]),
                        first_seen: at.clone(),
                        last_seen: at.clone(),
                    });
                seen.last_seen = at.clone();
            }
        }
    }
    for (control, w) in open_failures {
        if let Some(c) = controls.get_mut(&control) {
            c.failing_windows.push(w);
        }
    }
    for ((control, _), e) in exceptions {
        if let Some(c) = controls.get_mut(&control) {
            c.exceptions.push(e);
        }
    }
    for c in controls.values_mut() {
        c.compliant_share = share(c.compliant_samples, c.samples);
    }

    let mut criteria: BTreeMap<String, CriterionReport> = BTreeMap::new();
    for c in controls.values() {
        for k in &c.criteria {
            let r = criteria
                .entry(k.clone())
                .or_insert_with(|| CriterionReport {
                    criterion: k.clone(),
                    controls: vec![],
                    samples: 0,
                    compliant_samples: 0,
                    compliant_share: 0.0,
                });
            r.controls.push(c.control.clone());
            r.samples += c.samples;
            r.compliant_samples += c.compliant_samples;
        }
    }
    for r in criteria.values_mut() {
        r.compliant_share = share(r.compliant_samples, r.samples);
    }

    let integrity = match verified.problems.first() {
        None => "intact".to_string(),
        Some(p) => format!(
            "TAMPERED: {} broken object(s); first: {p}",
            verified.problems.len()
        ),
    };
    let mut clusters: Vec<String> = selected
        .iter()
        .map(|s| s.manifest.cluster.uid.clone())
        .collect();
    clusters.sort();
    clusters.dedup();
    let (kind, from_s) = match from {
        Some(f) => ("Type II", f.to_string()),
        None => (
            "Type I",
            selected
                .first()
                .map(|s| s.manifest.taken_at.clone())
                .unwrap_or_else(|| to.to_string()),
        ),
    };
    let fully = controls
        .values()
        .filter(|c| c.samples > 0 && c.compliant_samples == c.samples)
        .count();
    let failing: usize = controls.values().map(|c| c.failing_windows.len()).sum();
    let summary = if selected.is_empty() {
        "No evidence snapshot exists in this period: no control can be shown to have operated."
            .to_string()
    } else {
        format!(
            "{kind} report over {} snapshot(s) from {from_s} to {to}. Evidence integrity: {integrity}. \
             {fully} of {} control(s) were compliant in every sample; {failing} failing window(s) were observed; \
             {} exception(s) were applied; {} period(s) of missed snapshots.",
            selected.len(),
            controls.len(),
            controls.values().map(|c| c.exceptions.len()).sum::<usize>(),
            missed_snapshots.len(),
        )
    };
    Report {
        kind: kind.into(),
        from: from_s,
        to: to.to_string(),
        store: store.to_string(),
        clusters,
        snapshots: selected.len(),
        integrity,
        signatures_checked: verified.signatures_checked,
        summary,
        criteria: criteria.into_values().collect(),
        controls: controls.into_values().collect(),
        missed_snapshots,
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Markdown.
pub fn render_markdown(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "# SOC 2 {} evidence report\n", r.kind);
    let _ = writeln!(s, "- Period: {} to {}", r.from, r.to);
    let _ = writeln!(s, "- Evidence store: {}", r.store);
    let _ = writeln!(s, "- Cluster: {}", r.clusters.join(", "));
    let _ = writeln!(s, "- Snapshots: {}", r.snapshots);
    let _ = writeln!(s, "- Integrity: {}", r.integrity);
    let _ = writeln!(
        s,
        "- Signatures: {}\n",
        if r.signatures_checked {
            "checked"
        } else {
            "not checked (no --public-key given)"
        }
    );
    let _ = writeln!(s, "## Summary\n\n{}\n", r.summary);
    let _ = writeln!(
        s,
        "## Criteria\n\n| Criterion | Controls | Samples compliant |\n|---|---|---|"
    );
    for c in &r.criteria {
        let _ = writeln!(
            s,
            "| {} | {} | {} of {} ({}) |",
            c.criterion,
            c.controls.join(", "),
            c.compliant_samples,
            c.samples,
            pct(c.compliant_share)
        );
    }
    if !r.missed_snapshots.is_empty() {
        let _ = writeln!(
            s,
            "\n## Missed snapshots\n\n| From | To | Reason |\n|---|---|---|"
        );
        for p in &r.missed_snapshots {
            let _ = writeln!(s, "| {} | {} | {} |", p.from, p.to, p.reason);
        }
    }
    let _ = writeln!(s, "\n## Controls");
    for c in &r.controls {
        let _ = writeln!(s, "\n### {} — {}\n", c.control, c.title);
        let _ = writeln!(
            s,
            "Criteria {}; compliant in {} of {} samples ({}); last verdict {}.",
            c.criteria.join(", "),
            c.compliant_samples,
            c.samples,
            pct(c.compliant_share),
            c.last_verdict
        );
        for w in &c.failing_windows {
            let _ = writeln!(
                s,
                "- Failing from {} to {} ({}; up to {} failing resources)",
                w.start,
                w.end
                    .as_deref()
                    .unwrap_or("the end of the period (not remediated)"),
                w.time_to_remediate
                    .as_deref()
                    .map(|t| format!("remediated in {t}"))
                    .unwrap_or_else(|| "open".into()),
                w.max_failed
            );
        }
        for e in &c.exceptions {
            let _ = writeln!(
                s,
                "- Exception {} approved by {}, expires {} (applied {} to {})",
                e.name,
                e.approver.as_deref().unwrap_or("(not recorded)"),
                e.expires.as_deref().unwrap_or("(not recorded)"),
                e.first_seen,
                e.last_seen
            );
        }
        for p in &c.not_running {
            let _ = writeln!(s, "- Did not run from {} to {}: {}", p.from, p.to, p.reason);
        }
    }
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Self-contained HTML (inline CSS, no scripts, no network), printable.
pub fn render_html(r: &Report) -> String {
    use std::fmt::Write;
    let mut b = String::new();
    let _ = write!(
        b,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>SOC 2 {kind} evidence report</title><style>\
         body{{font-family:Georgia,serif;margin:2em;color:#111}}table{{border-collapse:collapse;margin:1em 0;width:100%}}\
         th,td{{border:1px solid #999;padding:.3em .6em;text-align:left;vertical-align:top}}th{{background:#eee}}\
         .bad{{color:#a00;font-weight:bold}}.ok{{color:#060}}section{{page-break-inside:avoid}}\
         @media print{{body{{margin:0}}}}</style></head><body>\
         <h1>SOC 2 {kind} evidence report</h1><table>\
         <tr><th>Period</th><td>{from} to {to}</td></tr><tr><th>Evidence store</th><td>{store}</td></tr>\
         <tr><th>Cluster</th><td>{clusters}</td></tr><tr><th>Snapshots</th><td>{n}</td></tr>\
         <tr><th>Integrity</th><td class=\"{icls}\">{integrity}</td></tr><tr><th>Signatures</th><td>{sig}</td></tr>\
         </table><h2>Summary</h2><p>{summary}</p>",
        kind = esc(&r.kind),
        from = esc(&r.from),
        to = esc(&r.to),
        store = esc(&r.store),
        clusters = esc(&r.clusters.join(", ")),
        n = r.snapshots,
        icls = if r.integrity == "intact" { "ok" } else { "bad" },
        integrity = esc(&r.integrity),
        sig = if r.signatures_checked {
            "checked"
        } else {
            "not checked"
        },
        summary = esc(&r.summary),
    );
    let _ = write!(
        b,
        "<h2>Criteria</h2><table><tr><th>Criterion</th><th>Controls</th><th>Samples compliant</th></tr>"
    );
    for c in &r.criteria {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td class=\"{}\">{} of {} ({})</td></tr>",
            esc(&c.criterion),
            esc(&c.controls.join(", ")),
            if c.samples > 0 && c.compliant_samples == c.samples {
                "ok"
            } else {
                "bad"
            },
            c.compliant_samples,
            c.samples,
            pct(c.compliant_share)
        );
    }
    b.push_str("</table>");
    if !r.missed_snapshots.is_empty() {
        b.push_str(
            "<h2>Missed snapshots</h2><table><tr><th>From</th><th>To</th><th>Reason</th></tr>",
        );
        for p in &r.missed_snapshots {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td class=\"bad\">{}</td></tr>",
                esc(&p.from),
                esc(&p.to),
                esc(&p.reason)
            );
        }
        b.push_str("</table>");
    }
    b.push_str("<h2>Controls</h2>");
    for c in &r.controls {
        let _ = write!(
            b,
            "<section><h3>{} — {}</h3><p>Criteria {}; compliant in {} of {} samples ({}); last verdict {}.</p>",
            esc(&c.control),
            esc(&c.title),
            esc(&c.criteria.join(", ")),
            c.compliant_samples,
            c.samples,
            pct(c.compliant_share),
            esc(&c.last_verdict)
        );
        if !c.failing_windows.is_empty() {
            b.push_str("<table><tr><th>Failing from</th><th>To</th><th>Time to remediate</th><th>Max failing resources</th></tr>");
            for w in &c.failing_windows {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&w.start),
                    esc(w.end.as_deref().unwrap_or("not remediated")),
                    esc(w.time_to_remediate.as_deref().unwrap_or("open")),
                    w.max_failed
                );
            }
            b.push_str("</table>");
        }
        if !c.exceptions.is_empty() {
            b.push_str("<table><tr><th>Exception</th><th>Approver</th><th>Expires</th><th>Applied</th></tr>");
            for e in &c.exceptions {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} to {}</td></tr>",
                    esc(&e.name),
                    esc(e.approver.as_deref().unwrap_or("not recorded")),
                    esc(e.expires.as_deref().unwrap_or("not recorded")),
                    esc(&e.first_seen),
                    esc(&e.last_seen)
                );
            }
            b.push_str("</table>");
        }
        if !c.not_running.is_empty() {
            b.push_str("<table><tr><th>Did not run from</th><th>To</th><th>Why</th></tr>");
            for p in &c.not_running {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td class=\"bad\">{}</td></tr>",
                    esc(&p.from),
                    esc(&p.to),
                    esc(&p.reason)
                );
            }
            b.push_str("</table>");
        }
        b.push_str("</section>");
    }
    b.push_str("</body></html>\n");
    b
}
