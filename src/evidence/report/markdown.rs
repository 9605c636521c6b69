//! The report as Markdown: the same content as the HTML report, without the timeline picture.

use std::fmt::Write;

use super::access_reviews::{CycleReport, state_line};
use super::{ControlReport, Report, pct};

fn signatures(r: &Report) -> &'static str {
    if r.chain.signatures_checked {
        "checked against the trusted public keys given"
    } else if r.chain.key_ids.is_empty() {
        "none: the manifests are not signed"
    } else {
        "NOT checked: no --public-key given; only hashes and links were checked, and anyone with write access \
         to the store could have rewritten the chain"
    }
}

/// Markdown.
pub fn render_markdown(r: &Report) -> String {
    let mut s = String::new();
    let ad_hoc = if r.kind == "Type II" && r.coverage.ad_hoc {
        ": ad-hoc snapshots only, no statement over the period"
    } else {
        ""
    };
    let _ = writeln!(s, "# SOC 2 {} evidence report{ad_hoc}\n", r.kind);
    let _ = writeln!(s, "- Period: {} to {}", r.from, r.to);
    if let Some(c) = &r.coverage.clamped {
        let _ = writeln!(s, "- Note: {c}");
    }
    let _ = writeln!(s, "- Generated: {}", r.generated_at);
    let _ = writeln!(s, "- Evidence store: {}", r.store);
    let _ = writeln!(s, "- Cluster: {}", r.clusters.join(", "));
    let _ = writeln!(s, "- Snapshots in the period: {}", r.snapshots);
    let _ = writeln!(s, "\n## Integrity\n");
    let _ = writeln!(
        s,
        "- Chain: {}",
        match (r.chain.intact, r.chain.manifests) {
            (true, 0) => "no evidence: the store holds no snapshot",
            (true, _) => "intact",
            (false, _) => &r.integrity,
        }
    );
    if let (Some(seq), Some(digest)) = (r.chain.head_sequence, &r.chain.head_digest) {
        let _ = writeln!(s, "- Head: sequence {seq}, SHA-256 {digest}");
    }
    let _ = writeln!(
        s,
        "- Signing keys: {}",
        if r.chain.key_ids.is_empty() {
            "none".to_string()
        } else {
            r.chain.key_ids.join(", ")
        }
    );
    let _ = writeln!(s, "- Signatures: {}", signatures(r));
    for p in &r.chain.problems {
        let _ = writeln!(s, "- Broken: {p}");
    }
    let _ = writeln!(s, "\n## Summary\n\n{}\n", r.summary);
    let c = &r.coverage;
    let _ = writeln!(s, "## Coverage\n");
    let _ = writeln!(
        s,
        "- Schedule: {}",
        c.schedule
            .as_deref()
            .unwrap_or("none (ad-hoc snapshots: Type I statements only)")
    );
    let _ = writeln!(
        s,
        "- First sample: {}; last sample: {}",
        c.first_sample.as_deref().unwrap_or("none"),
        c.last_sample.as_deref().unwrap_or("none")
    );
    for change in &c.schedule_changes {
        let _ = writeln!(s, "- Schedule: {change}");
    }
    if r.kind == "Type II" {
        let _ = writeln!(
            s,
            "- Covered: {} of {} seconds; a sample covers until the next scheduled snapshot (tolerance: {})",
            c.covered_seconds, c.period_seconds, c.tolerance
        );
        let _ = writeln!(s, "\n## Not covered\n");
        if c.not_covered.is_empty() {
            let _ = writeln!(s, "Every part of the period is covered by a sample.");
        } else {
            let _ = writeln!(s, "| From | To | Why |\n|---|---|---|");
            for n in &c.not_covered {
                let _ = writeln!(s, "| {} | {} | {} |", n.from, n.to, n.reason);
            }
        }
    }
    let _ = writeln!(
        s,
        "\n## Criteria\n\n| Criterion | Controls | Compliant (share of covered time) | Samples compliant |\n|---|---|---|---|"
    );
    for k in &r.criteria {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} of {} |",
            k.criterion,
            k.controls.join(", "),
            pct(k.compliant_share),
            k.compliant_samples,
            k.samples,
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
        control(&mut s, c);
    }
    access_reviews(&mut s, &r.access_reviews);
    s
}

/// Text from the evidence in the access review section, one line, no column break, and no markup a Markdown
/// renderer would pass through as HTML (comments are user input).
fn cell(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

fn access_reviews(s: &mut String, cycles: &[CycleReport]) {
    let _ = writeln!(s, "\n## Access reviews\n");
    if cycles.is_empty() {
        let _ = writeln!(
            s,
            "No access review cycle is listed in the snapshots of the period."
        );
        return;
    }
    for c in cycles {
        cycle(s, c);
    }
}

fn cycle(s: &mut String, c: &CycleReport) {
    let _ = writeln!(
        s,
        "\n### {} cycle {}{}\n",
        cell(&c.access_review),
        cell(&c.cycle),
        c.title
            .as_deref()
            .map(|t| format!(" — {}", cell(t)))
            .unwrap_or_default()
    );
    let _ = writeln!(s, "- State: {}", state_line(c));
    let _ = writeln!(
        s,
        "- Opened: {}; due: {}",
        c.opened.as_deref().unwrap_or("unknown"),
        c.due.as_deref().unwrap_or("unknown")
    );
    match &c.population {
        Some(p) => {
            let _ = writeln!(
                s,
                "- Population: {} subject(s), {} with privileged access; since {}: {} new, {} widened, {} \
                 reduced, {} removed",
                p.subjects,
                p.privileged,
                p.baseline
                    .as_deref()
                    .map(|b| format!("baseline cycle {b}"))
                    .unwrap_or_else(|| "no baseline (first cycle)".into()),
                p.new_subjects,
                p.widened,
                p.reduced,
                p.removed
            );
            if let Some(why) = &p.baseline_unreadable {
                let _ = writeln!(s, "- Baseline unreadable: {}", cell(why));
            }
            for ch in &p.changes {
                let _ = writeln!(
                    s,
                    "  - {} {}{}: {}",
                    ch.kind,
                    cell(&ch.subject),
                    if ch.gained_privilege {
                        " (gained privilege)"
                    } else {
                        ""
                    },
                    cell(&ch.details.join("; "))
                );
            }
        }
        None => {
            let _ = writeln!(s, "- Population: UNREADABLE");
        }
    }
    let _ = writeln!(
        s,
        "- Decisions: {} of {} subject(s) decided ({} keep, {} revoke); {} revocation(s) carried out, {} past \
                 the grace period",
        c.decided, c.subjects, c.kept, c.revoke, c.carried_out, c.revocations_overdue
    );
    if !c.undecided.is_empty() {
        let _ = writeln!(s, "- Undecided: {}", cell(&c.undecided.join(", ")));
    }
    let _ = writeln!(
        s,
        "- Evidence: record {} (SHA-256 {}) as of {}; population {} (SHA-256 {}); last listed in snapshot \
                 {} (sequence {})",
        c.record.path,
        c.record.sha256,
        c.as_of.as_deref().unwrap_or("none"),
        c.population_object.path,
        c.population_object.sha256,
        c.last_listed,
        c.last_listed_sequence
    );
    for n in &c.notes {
        let _ = writeln!(s, "- **Note:** {}", cell(n));
    }
    if !c.decisions.is_empty() {
        let _ = writeln!(
            s,
            "\n| Subject | Decision | Reviewer | Authenticated as (groups) | Decided at | Comment |\n\
             |---|---|---|---|---|---|"
        );
        for d in &c.decisions {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} ({}) | {} | {} |",
                cell(&d.subject),
                d.verdict,
                cell(&d.reviewer),
                cell(&d.authenticated_user),
                cell(&d.authenticated_groups.join(", ")),
                d.decided_at.as_deref().unwrap_or("unknown"),
                cell(&d.comment)
            );
        }
    }
    if !c.revocations.is_empty() {
        let _ = writeln!(s, "\nRevocations:\n");
        for v in &c.revocations {
            let _ = writeln!(s, "- {}: {}", cell(&v.subject), cell(&v.status));
        }
    }
    if !c.ignored.is_empty() {
        let _ = writeln!(s, "\nDecisions that did not count:\n");
        for i in &c.ignored {
            let _ = writeln!(s, "- {}: {}", cell(&i.decision), cell(&i.reason));
        }
    }
}

fn control(s: &mut String, c: &ControlReport) {
    let _ = writeln!(s, "\n### {} — {}\n", c.control, c.title);
    let _ = writeln!(
        s,
        "Criteria {}. Compliant for {} of covered time; {} of {} samples compliant ({} only through \
         exceptions); last verdict {}.",
        c.criteria.join(", "),
        pct(c.compliant_share),
        c.compliant_samples,
        c.samples,
        c.excepted_samples,
        c.last_verdict
    );
    if let Some(p) = &c.test_procedure {
        let _ = writeln!(s, "\n> Test procedure: {}", p.replace('\n', " "));
    }
    for w in &c.failing_windows {
        let end = match (&w.end, &w.time_to_remediate) {
            (Some(end), Some(t)) => format!("to {end} (remediated in {t})"),
            (Some(end), None) => format!("to {end}"),
            _ => format!(
                "still failing at the last sample ({})",
                w.last_failing_sample
            ),
        };
        let more = if w.more_resources > 0 {
            format!(" and {} more", w.more_resources)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "- Failing from {} {end}; up to {} of {} evaluated resources failing: {}{more}",
            w.start,
            w.max_failed,
            w.population,
            w.failing_resources.join(", ")
        );
    }
    for e in &c.exceptions {
        let more = if e.more_waived > 0 {
            format!(" and {} more", e.more_waived)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "- Exception {} approved by {} (ticket {}), expires {}; applied in {} sample(s) from {} to {}; \
             waived: {}{more}. Justification: {}",
            e.name,
            e.approved_by,
            e.ticket,
            e.expires_at,
            e.samples,
            e.first_seen,
            e.last_seen,
            e.waived.join(", "),
            if e.justification.is_empty() {
                "(not recorded)"
            } else {
                &e.justification
            }
        );
        if let Some(a) = &e.after_expiry {
            let _ = writeln!(s, "  - After expiry: {a}");
        }
    }
    for p in &c.not_running {
        let _ = writeln!(s, "- Did not run from {} to {}: {}", p.from, p.to, p.reason);
    }
}
