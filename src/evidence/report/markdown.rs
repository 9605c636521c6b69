//! The report as Markdown: the same content as the HTML report, without the timeline picture.

use std::fmt::Write;

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
    s
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
