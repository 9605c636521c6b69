//! The report as one self-contained HTML page (inline CSS and SVG, no script, no network), for reading on screen
//! and on paper: an integrity box, the coverage of the period, and per control a timeline strip of its samples
//! above its failing windows, exceptions and periods it did not run.

use std::fmt::Write;

use super::access_reviews::{COMPLETED, CycleReport, OPEN, state_line};
use super::{ControlReport, Report, SampleState, pct};

/// `s` escaped for HTML text and attribute values: every string from the evidence goes through it (reviewers'
/// comments, names and reasons are user input).
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub(crate) const STYLE: &str = "\
:root{--ok:#1a7f37;--bad:#c62828;--exc:#b26a00;--none:#9e9e9e;--ink:#1f2328;--muted:#57606a;--line:#d0d7de}\
*{box-sizing:border-box}\
body{font-family:-apple-system,BlinkMacSystemFont,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif;\
font-size:16px;line-height:1.5;color:var(--ink);margin:0 auto;padding:2rem 1.5rem;max-width:72rem}\
h1{font-size:1.9rem;margin:0 0 .25rem}h2{font-size:1.35rem;margin:2rem 0 .5rem;border-bottom:1px solid var(--line)}\
h3{font-size:1.1rem;margin:0 0 .25rem}p{margin:.4rem 0}.muted{color:var(--muted)}\
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em;overflow-wrap:anywhere}\
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;table-layout:auto}\
th,td{border:1px solid var(--line);padding:.35rem .6rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}\
th{background:#f6f8fa;font-weight:600;white-space:nowrap}td.t{white-space:nowrap}\
.meta td:first-child{width:12rem;font-weight:600;background:#f6f8fa}\
.box{border:2px solid;border-radius:6px;padding:.75rem 1rem;margin:1rem 0}\
.box.ok{border-color:var(--ok);background:#f0fff4}.box.bad{border-color:var(--bad);background:#fff5f5}\
.box.warn{border-color:var(--exc);background:#fff8e6}.warn-text{color:var(--exc);font-weight:600}\
.box h2{border:0;margin:0 0 .25rem}.ok-text{color:var(--ok);font-weight:600}.bad-text{color:var(--bad);font-weight:600}\
section.control,section.cycle{border-top:1px solid var(--line);padding:1rem 0;break-inside:avoid-page}\
blockquote{margin:.5rem 0;padding:.25rem .75rem;border-left:4px solid var(--line);color:var(--muted)}\
.timeline{display:block;width:100%;height:22px;margin:.5rem 0}\
.legend{display:flex;flex-wrap:wrap;gap:1rem;margin:.5rem 0;font-size:.9rem}\
.legend span::before{content:\"\";display:inline-block;width:.9rem;height:.9rem;margin-right:.35rem;vertical-align:-2px}\
.legend .compliant::before{background:var(--ok)}.legend .excepted::before{background:var(--exc)}\
.legend .failing::before{background:var(--bad)}.legend .not-covered::before{background:var(--none)}\
rect.compliant{fill:var(--ok)}rect.excepted{fill:var(--exc)}rect.failing{fill:var(--bad)}rect.not-covered{fill:var(--none)}\
@media print{body{max-width:none;padding:0;font-size:11pt}*{-webkit-print-color-adjust:exact;print-color-adjust:exact}\
h2{break-after:avoid}table{break-inside:auto}tr{break-inside:avoid}}";

fn state_class(s: SampleState) -> &'static str {
    match s {
        SampleState::Compliant => "compliant",
        SampleState::Excepted => "excepted",
        SampleState::Failing => "failing",
        SampleState::NotCovered => "not-covered",
    }
}

fn state_label(s: SampleState) -> &'static str {
    match s {
        SampleState::Compliant => "compliant",
        SampleState::Excepted => "compliant through exceptions",
        SampleState::Failing => "failing",
        SampleState::NotCovered => "no evidence",
    }
}

/// The timeline strip: one cell per sample, as wide as the time it covers (a sample that covers no time, in an
/// ad-hoc chain or a Type I report, gets an equal share), consecutive samples in the same state drawn as one run
/// (each run says how many samples it holds), and a gap cell as wide as each interval the period does not cover.
fn timeline(b: &mut String, r: &Report, c: &ControlReport) {
    let gaps: Vec<(&str, &str, u64)> = r
        .coverage
        .not_covered
        .iter()
        .map(|n| {
            (
                n.from.as_str(),
                n.to.as_str(),
                super::seconds_between(&n.from, &n.to).unwrap_or(0),
            )
        })
        .collect();
    struct Run {
        state: SampleState,
        from: String,
        to: String,
        samples: usize,
        seconds: u64,
        gap: bool,
    }
    let gap_run = |gap: &(&str, &str, u64)| Run {
        state: SampleState::NotCovered,
        from: gap.0.into(),
        to: gap.1.into(),
        samples: 0,
        seconds: gap.2,
        gap: true,
    };
    let mut runs: Vec<Run> = Vec::new();
    let mut g = 0;
    for cell in &c.timeline {
        while g < gaps.len() && gaps[g].1 <= cell.at.as_str() {
            runs.push(gap_run(&gaps[g]));
            g += 1;
        }
        match runs.last_mut() {
            Some(last) if !last.gap && last.state == cell.state => {
                last.to = cell.at.clone();
                last.samples += 1;
                last.seconds += cell.seconds;
            }
            _ => runs.push(Run {
                state: cell.state,
                from: cell.at.clone(),
                to: cell.at.clone(),
                samples: 1,
                seconds: cell.seconds,
                gap: false,
            }),
        }
    }
    runs.extend(gaps[g..].iter().map(gap_run));
    let total: u64 = runs.iter().map(|r| r.seconds).sum();
    // Widths in thousandths of the strip: time to scale, but never so thin that a run disappears.
    let widths: Vec<u64> = if total == 0 {
        runs.iter()
            .map(|r| r.samples.max(1) as u64 * 1000)
            .collect()
    } else {
        runs.iter()
            .map(|r| (r.seconds * 1000 / total).max(3))
            .collect()
    };
    let units: u64 = widths.iter().sum::<u64>().max(1);
    let _ = write!(
        b,
        "<svg class=\"timeline\" role=\"img\" aria-label=\"Samples of {} over the period, drawn to scale\" \
         viewBox=\"0 0 {units} 1\" preserveAspectRatio=\"none\" data-control=\"{}\" data-samples=\"{}\">",
        esc(&c.control),
        esc(&c.control),
        c.timeline.len()
    );
    let mut x = 0;
    for (run, w) in runs.iter().zip(widths) {
        let what = if run.gap {
            "not covered by any sample".to_string()
        } else {
            format!("{} sample(s) {}", run.samples, state_label(run.state))
        };
        let _ = write!(
            b,
            "<rect class=\"{cls}\" x=\"{x}\" y=\"0\" width=\"{w}\" height=\"1\" data-state=\"{cls}\" \
             data-samples=\"{n}\" data-seconds=\"{secs}\" data-from=\"{from}\" data-to=\"{to}\"><title>{from} to \
             {to}: {what}</title></rect>",
            cls = if run.gap {
                "not-covered"
            } else {
                state_class(run.state)
            },
            n = run.samples,
            secs = run.seconds,
            from = esc(&run.from),
            to = esc(&run.to),
            what = esc(&what),
        );
        x += w;
    }
    b.push_str("</svg>");
}

/// A table of intervals (from, to, why); nothing when there are none.
fn intervals<'a>(
    b: &mut String,
    first: &str,
    rows: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
) {
    let mut rows = rows.peekable();
    if rows.peek().is_none() {
        return;
    }
    let _ = write!(
        b,
        "<table><tr><th>{}</th><th>To</th><th>Why</th></tr>",
        esc(first)
    );
    for (from, to, why) in rows {
        let _ = write!(
            b,
            "<tr><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"bad-text\">{}</td></tr>",
            esc(from),
            esc(to),
            esc(why)
        );
    }
    b.push_str("</table>");
}

fn legend(b: &mut String) {
    b.push_str(
        "<div class=\"legend\" aria-label=\"Legend\"><span class=\"compliant\">Compliant</span>\
         <span class=\"excepted\">Compliant through an approved exception</span><span class=\"failing\">Failing \
         (or undecided)</span><span class=\"not-covered\">Not covered by evidence</span></div>",
    );
}

fn integrity(b: &mut String, r: &Report) {
    let c = &r.chain;
    // Green only for what an auditor can rely on: an intact chain whose signatures were checked against a key the
    // auditor trusts. Intact but unchecked is amber: anyone with write access could have rewritten it consistently.
    let (cls, verdict) = if !c.intact {
        (
            "bad",
            "<span class=\"bad-text\">TAMPERED</span>: the chain does not verify",
        )
    } else if c.manifests == 0 {
        (
            "bad",
            "<span class=\"bad-text\">No evidence</span>: the store holds no snapshot",
        )
    } else if c.signatures_checked {
        (
            "ok",
            "<span class=\"ok-text\">Intact</span>: every document hash, chain link and signature verified against \
             the trusted keys",
        )
    } else {
        (
            "warn",
            "<span class=\"warn-text\">Intact as far as hashes and links show</span>: signatures were not checked \
             against a trusted key",
        )
    };
    let signatures = if c.signatures_checked {
        "<span class=\"ok-text\">checked</span> against the trusted public keys given".to_string()
    } else if c.key_ids.is_empty() {
        "<span class=\"bad-text\">none</span>: the manifests are not signed".to_string()
    } else {
        "<span class=\"bad-text\">not checked</span>: no trusted public key was given, so only hashes and links \
         were checked; anyone with write access to the store could have rewritten the chain"
            .to_string()
    };
    let _ = write!(
        b,
        "<div class=\"box {cls}\" id=\"integrity\"><h2>Evidence integrity</h2><p>{verdict}.</p><table class=\"meta\">\
         <tr><td>Head</td><td>sequence {seq}, SHA-256 <code>{digest}</code></td></tr>\
         <tr><td>Signing keys</td><td>{keys}</td></tr><tr><td>Signatures</td><td>{signatures}</td></tr>\
         <tr><td>Manifests</td><td>{n} in the chain, {unsigned} unsigned</td></tr></table>",
        seq = c
            .head_sequence
            .map(|s| s.to_string())
            .unwrap_or_else(|| "none".into()),
        digest = esc(c.head_digest.as_deref().unwrap_or("none")),
        keys = if c.key_ids.is_empty() {
            "none".to_string()
        } else {
            c.key_ids
                .iter()
                .map(|k| format!("<code>{}</code>", esc(k)))
                .collect::<Vec<_>>()
                .join("<br>")
        },
        n = c.manifests,
        unsigned = c.unsigned,
    );
    if !c.problems.is_empty() {
        b.push_str("<table><tr><th>Broken object</th></tr>");
        for p in &c.problems {
            let _ = write!(b, "<tr><td class=\"bad-text\">{}</td></tr>", esc(p));
        }
        b.push_str("</table>");
    }
    b.push_str(
        "<p class=\"muted\">Compare the head with the one published elsewhere (EvidenceStore status, a ticket): \
         <code>soc2ctl verify STORE --expect-head SHA256 --expect-sequence N</code>.</p></div>",
    );
}

fn coverage(b: &mut String, r: &Report) {
    let c = &r.coverage;
    let _ = write!(
        b,
        "<h2 id=\"coverage\">Coverage</h2><p id=\"coverage-line\">"
    );
    if r.kind == "Type I" {
        let _ = write!(
            b,
            "A Type I statement on the snapshot of {}.",
            esc(c.first_sample.as_deref().unwrap_or("none"))
        );
    } else if c.ad_hoc {
        let _ = write!(
            b,
            "<span class=\"bad-text\">Ad-hoc snapshots only</span>: taken without a schedule, they support Type I \
             statements at the moments they were taken, never the operation of a control over the period."
        );
    } else {
        let share = if c.period_seconds > 0 {
            c.covered_seconds as f64 * 100.0 / c.period_seconds as f64
        } else {
            0.0
        };
        let _ = write!(
            b,
            "Samples cover <strong>{share:.1}%</strong> of the period: first sample {}, last sample {}, schedule {}; \
             a sample covers until the next scheduled snapshot (tolerance: {}).",
            esc(c.first_sample.as_deref().unwrap_or("none")),
            esc(c.last_sample.as_deref().unwrap_or("none")),
            esc(c.schedule.as_deref().unwrap_or("none")),
            esc(&c.tolerance),
        );
    }
    b.push_str("</p>");
    if let Some(note) = &c.clamped {
        let _ = write!(b, "<p><strong>Note:</strong> {}.</p>", esc(note));
    }
    for change in &c.schedule_changes {
        let _ = write!(b, "<p><strong>Schedule:</strong> {}.</p>", esc(change));
    }
    if r.kind == "Type II" {
        b.push_str("<h2 id=\"not-covered\">Not covered</h2>");
        if c.not_covered.is_empty() {
            b.push_str("<p class=\"ok-text\">Every part of the period is covered by a sample.</p>");
        }
        intervals(
            b,
            "From",
            c.not_covered
                .iter()
                .map(|n| (n.from.as_str(), n.to.as_str(), n.reason.as_str())),
        );
    }
}

fn control(b: &mut String, r: &Report, c: &ControlReport) {
    let _ = write!(
        b,
        "<section class=\"control\" id=\"control-{id}\"><h3>{name} — {title}</h3><p class=\"muted\">Criteria {criteria}. \
         Compliant for <strong>{share}</strong> of covered time; {ok} of {n} samples compliant ({exc} only through \
         exceptions); last verdict {last}.</p>",
        id = esc(&c.control),
        name = esc(&c.control),
        title = esc(&c.title),
        criteria = esc(&c.criteria.join(", ")),
        share = esc(&pct(c.compliant_share)),
        ok = c.compliant_samples,
        n = c.samples,
        exc = c.excepted_samples,
        last = esc(&c.last_verdict),
    );
    timeline(b, r, c);
    if let Some(p) = &c.test_procedure {
        let _ = write!(
            b,
            "<blockquote><strong>Test procedure.</strong> {}</blockquote>",
            esc(p)
        );
    }
    if !c.failing_windows.is_empty() {
        b.push_str(
            "<table><tr><th>Failing from</th><th>To</th><th>Time to remediate</th><th>Failing resources \
             (of the population evaluated)</th></tr>",
        );
        for w in &c.failing_windows {
            let more = if w.more_resources > 0 {
                format!(" and {} more", w.more_resources)
            } else {
                String::new()
            };
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>up to {} of {} failing: {}{}</td></tr>",
                esc(&w.start),
                esc(&w.end.clone().unwrap_or_else(|| format!(
                    "still failing at the last sample ({})",
                    w.last_failing_sample
                ))),
                esc(w.time_to_remediate.as_deref().unwrap_or("not remediated")),
                w.max_failed,
                w.population,
                esc(&w.failing_resources.join(", ")),
                esc(&more),
            );
        }
        b.push_str("</table>");
    }
    if !c.exceptions.is_empty() {
        b.push_str(
            "<table><tr><th>Exception</th><th>Approved by / ticket</th><th>Expires</th><th>Applied</th>\
             <th>Waived</th><th>Justification</th></tr>",
        );
        for e in &c.exceptions {
            let more = if e.more_waived > 0 {
                format!(" and {} more", e.more_waived)
            } else {
                String::new()
            };
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{} / {}</td><td>{}{}</td><td>{} sample(s), {} to {}</td><td>{}{}</td><td>{}</td></tr>",
                esc(&e.name),
                esc(&e.approved_by),
                esc(&e.ticket),
                esc(&e.expires_at),
                e.after_expiry
                    .as_deref()
                    .map(|a| format!("<br><span class=\"bad-text\">{}</span>", esc(a)))
                    .unwrap_or_default(),
                e.samples,
                esc(&e.first_seen),
                esc(&e.last_seen),
                esc(&e.waived.join(", ")),
                esc(&more),
                esc(if e.justification.is_empty() {
                    "(not recorded)"
                } else {
                    &e.justification
                }),
            );
        }
        b.push_str("</table>");
    }
    intervals(
        b,
        "Did not run from",
        c.not_running
            .iter()
            .map(|p| (p.from.as_str(), p.to.as_str(), p.reason.as_str())),
    );
    b.push_str("</section>");
}

/// Self-contained HTML (inline CSS and SVG, no scripts, no network), printable.
pub fn render_html(r: &Report) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>SOC 2 {kind} evidence report</title><style>{STYLE}</style></head><body>\
         <h1>SOC 2 {kind} evidence report{ad_hoc}</h1><p class=\"muted\">Period {from} to {to} · generated {generated}</p>\
         <table class=\"meta\"><tr><td>Evidence store</td><td class=\"mono\">{store}</td></tr>\
         <tr><td>Cluster</td><td class=\"mono\">{clusters}</td></tr><tr><td>Snapshots in the period</td><td>{n}</td></tr>\
         </table>",
        kind = esc(&r.kind),
        ad_hoc = if r.kind == "Type II" && r.coverage.ad_hoc {
            ": ad-hoc snapshots only, no statement over the period"
        } else {
            ""
        },
        from = esc(&r.from),
        to = esc(&r.to),
        generated = esc(&r.generated_at),
        store = esc(&r.store),
        clusters = esc(&r.clusters.join(", ")),
        n = r.snapshots,
    );
    integrity(&mut b, r);
    let _ = write!(b, "<h2>Summary</h2><p>{}</p>", esc(&r.summary));
    coverage(&mut b, r);
    b.push_str(
        "<h2>Criteria</h2><table><tr><th>Criterion</th><th>Controls</th><th>Compliant (share of covered time)</th>\
         <th>Samples compliant</th></tr>",
    );
    for k in &r.criteria {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{} of {}</td></tr>",
            esc(&k.criterion),
            esc(&k.controls.join(", ")),
            if k.every_sample_compliant {
                "ok-text"
            } else {
                "bad-text"
            },
            esc(&pct(k.compliant_share)),
            k.compliant_samples,
            k.samples,
        );
    }
    b.push_str("</table>");
    if !r.missed_snapshots.is_empty() {
        b.push_str("<h2>Missed snapshots</h2>");
        intervals(
            &mut b,
            "From",
            r.missed_snapshots
                .iter()
                .map(|p| (p.from.as_str(), p.to.as_str(), p.reason.as_str())),
        );
    }
    b.push_str("<h2>Controls</h2>");
    legend(&mut b);
    for c in &r.controls {
        control(&mut b, r, c);
    }
    b.push_str("<h2 id=\"access-reviews\">Access reviews</h2>");
    if r.access_reviews.is_empty() {
        b.push_str("<p>No access review cycle is listed in the snapshots of the period.</p>");
    }
    for c in &r.access_reviews {
        cycle(&mut b, c);
    }
    b.push_str("</body></html>\n");
    b
}

/// One access review cycle: its state, population, decisions, revocations and the decisions that did not count.
pub(crate) fn cycle(b: &mut String, c: &CycleReport) {
    let state_class = if c.state == COMPLETED || c.state == OPEN {
        "ok-text"
    } else {
        "bad-text"
    };
    let _ = write!(
        b,
        "<section class=\"cycle\" id=\"cycle-{id}\" data-review=\"{review}\" data-cycle=\"{cycle}\" \
         data-state=\"{state}\"><h3>{review} cycle {cycle}{title}</h3><p><span class=\"{state_class}\">{line}</span>\
         </p><table class=\"meta\"><tr><td>Opened / due</td><td>{opened} / {due}</td></tr>",
        id = esc(&format!("{}-{}", c.access_review, c.cycle)),
        review = esc(&c.access_review),
        cycle = esc(&c.cycle),
        state = esc(&c.state),
        title = c
            .title
            .as_deref()
            .map(|t| format!(" — {}", esc(t)))
            .unwrap_or_default(),
        line = esc(&state_line(c)),
        opened = esc(c.opened.as_deref().unwrap_or("unknown")),
        due = esc(c.due.as_deref().unwrap_or("unknown")),
    );
    match &c.population {
        Some(p) => {
            let _ = write!(
                b,
                "<tr><td>Population</td><td>{} subject(s), {} with privileged access; since {}: {} new, {} \
                 widened, {} reduced, {} removed{}</td></tr>",
                p.subjects,
                p.privileged,
                esc(&p
                    .baseline
                    .as_deref()
                    .map(|b| format!("baseline cycle {b}"))
                    .unwrap_or_else(|| "no baseline (first cycle)".into())),
                p.new_subjects,
                p.widened,
                p.reduced,
                p.removed,
                p.baseline_unreadable
                    .as_deref()
                    .map(|w| format!(
                        "<br><span class=\"bad-text\">Baseline unreadable: {}</span>",
                        esc(w)
                    ))
                    .unwrap_or_default(),
            );
        }
        None => b.push_str(
            "<tr><td>Population</td><td class=\"bad-text\">UNREADABLE: who was in scope cannot be shown</td></tr>",
        ),
    }
    let _ = write!(
        b,
        "<tr><td>Decisions</td><td>{} of {} subject(s) decided ({} keep, {} revoke); {} revocation(s) carried \
         out, <span class=\"{}\">{} past the grace period</span>{}</td></tr>\
         <tr><td>Evidence</td><td class=\"mono\">record {} (SHA-256 {}) as of {}<br>population {} (SHA-256 {})<br>\
         last listed in snapshot {} (sequence {})</td></tr></table>",
        c.decided,
        c.subjects,
        c.kept,
        c.revoke,
        c.carried_out,
        if c.revocations_overdue > 0 {
            "bad-text"
        } else {
            "ok-text"
        },
        c.revocations_overdue,
        if c.undecided.is_empty() {
            String::new()
        } else {
            format!("<br>Undecided: {}", esc(&c.undecided.join(", ")))
        },
        esc(&c.record.path),
        esc(&c.record.sha256),
        esc(c.as_of.as_deref().unwrap_or("none")),
        esc(&c.population_object.path),
        esc(&c.population_object.sha256),
        esc(&c.last_listed),
        c.last_listed_sequence,
    );
    for n in &c.notes {
        let _ = write!(b, "<p class=\"bad-text\">{}</p>", esc(n));
    }
    if let Some(p) = c.population.as_ref().filter(|p| !p.changes.is_empty()) {
        b.push_str(
            "<table><tr><th>Changed since the baseline</th><th>Change</th><th>Details</th></tr>",
        );
        for ch in &p.changes {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}{}</td><td>{}</td></tr>",
                esc(&ch.subject),
                esc(&ch.kind),
                if ch.gained_privilege {
                    " <span class=\"bad-text\">(gained privilege)</span>"
                } else {
                    ""
                },
                esc(&ch.details.join("; ")),
            );
        }
        b.push_str("</table>");
    }
    if !c.decisions.is_empty() {
        b.push_str(
            "<table class=\"decisions\"><tr><th>Subject</th><th>Decision</th><th>Reviewer</th><th>Authenticated as \
             (groups)</th><th>Decided at</th><th>Comment</th></tr>",
        );
        for d in &c.decisions {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} ({})</td><td class=\"t\">{}</td><td>{}</td></tr>",
                esc(&d.subject),
                esc(&d.verdict),
                esc(&d.reviewer),
                esc(&d.authenticated_user),
                esc(&d.authenticated_groups.join(", ")),
                esc(d.decided_at.as_deref().unwrap_or("unknown")),
                esc(&d.comment),
            );
        }
        b.push_str("</table>");
    }
    if !c.revocations.is_empty() {
        b.push_str("<table><tr><th>Revoked</th><th>Decided at</th><th>Carried out</th></tr>");
        for v in &c.revocations {
            let _ = write!(
                b,
                "<tr><td>{}</td><td class=\"t\">{}</td><td class=\"{}\">{}</td></tr>",
                esc(&v.subject),
                esc(v.decided_at.as_deref().unwrap_or("unknown")),
                if v.carried_out.is_some() {
                    "ok-text"
                } else {
                    "bad-text"
                },
                esc(&v.status),
            );
        }
        b.push_str("</table>");
    }
    if !c.ignored.is_empty() {
        b.push_str("<table><tr><th>Did not count</th><th>Why</th></tr>");
        for i in &c.ignored {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(&i.decision),
                esc(&i.reason)
            );
        }
        b.push_str("</table>");
    }
    b.push_str("</section>");
}
