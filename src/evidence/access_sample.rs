//! `soc2ctl access-review`: the population of one access review cycle with its decisions, one row per subject, as
//! CSV, HTML or JSON: the file an auditor draws a sample from. It is built on the cycles of the report's "Access
//! reviews" section ([`super::report::access_reviews`]), so the file and the report never disagree, and it carries
//! the chain's integrity with it: every CSV row says whether the evidence it comes from verified.
//!
//! Nothing here reads a store; it works on what [`super::verify`] loaded.

use std::fmt::Write;

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use super::report::access_reviews::{CycleReport, LatestCycle, cycle_report, verdict};
use super::report::html::{STYLE, esc};
use super::report::{ChainIntegrity, chain_integrity, seconds};
use super::verify::{LoadedSnapshot, VerifyOutcome};
use crate::access::{Grant, SubjectKey};

/// The snapshots taken in `[from, to]` (from the start of the chain without `from`), in chain order.
pub fn snapshots_in(
    verified: &VerifyOutcome,
    from: Option<Timestamp>,
    to: Timestamp,
) -> Vec<(Timestamp, &LoadedSnapshot)> {
    verified
        .snapshots
        .iter()
        .filter_map(|s| {
            s.manifest
                .taken_at
                .parse::<Timestamp>()
                .ok()
                .map(|t| (t, s))
        })
        .filter(|(t, _)| from.is_none_or(|f| *t >= f) && *t <= to)
        .collect()
}

/// One cycle in the list `soc2ctl access-review` prints without `--cycle`.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CycleListing {
    /// The cycle id.
    pub cycle: String,
    /// The AccessReview.
    pub access_review: String,
    /// Its state, as the report says it.
    pub state: String,
    /// Subjects in the population.
    pub subjects: u32,
    /// Subjects decided.
    pub decided: usize,
    /// The last snapshot that lists it.
    pub last_listed: String,
}

/// The cycles of `cycles` as a list to pick from.
pub fn listing(cycles: &[CycleReport]) -> Vec<CycleListing> {
    cycles
        .iter()
        .map(|c| CycleListing {
            cycle: c.cycle.clone(),
            access_review: c.access_review.clone(),
            state: c.state.clone(),
            subjects: c.subjects,
            decided: c.decided,
            last_listed: c.last_listed.clone(),
        })
        .collect()
}

/// The list as an aligned text table.
pub fn render_listing(list: &[CycleListing]) -> String {
    if list.is_empty() {
        return "no access review cycle is listed in the snapshots of the period\n".into();
    }
    let rows: Vec<[String; 6]> = list
        .iter()
        .map(|c| {
            [
                c.cycle.clone(),
                c.access_review.clone(),
                c.state.clone(),
                c.subjects.to_string(),
                c.decided.to_string(),
                c.last_listed.clone(),
            ]
        })
        .collect();
    let header = [
        "CYCLE",
        "REVIEW",
        "STATE",
        "SUBJECTS",
        "DECIDED",
        "LAST LISTED",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(text.join("  ").trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for r in &rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

/// Why `--review`/`--cycle` name no single cycle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// No cycle has that id (in that review).
    #[error(
        "no access review cycle {cycle:?}{in_review} in the evidence of the period; cycles found: {known}"
    )]
    Unknown {
        /// The id asked for.
        cycle: String,
        /// ` of review NAME` when `--review` was given.
        in_review: String,
        /// The cycles there are.
        known: String,
    },
    /// Several reviews have a cycle with that id.
    #[error("cycle {cycle:?} exists in several access reviews ({reviews}); pick one with --review")]
    Ambiguous {
        /// The id asked for.
        cycle: String,
        /// The reviews.
        reviews: String,
    },
}

/// The cycle `review` (optional) and `cycle` (an id, or `latest`: the most recent cycle id) name.
pub fn select<'a, 'b>(
    cycles: &'b [LatestCycle<'a>],
    review: Option<&str>,
    cycle: &str,
) -> Result<&'b LatestCycle<'a>, SelectError> {
    let in_review: Vec<&LatestCycle<'a>> = cycles
        .iter()
        .filter(|c| review.is_none_or(|r| c.entry.access_review == r))
        .collect();
    let id = if cycle == "latest" {
        in_review
            .iter()
            .map(|c| c.entry.cycle.as_str())
            .max()
            .unwrap_or("latest")
    } else {
        cycle
    };
    let matching: Vec<&LatestCycle<'a>> = in_review
        .into_iter()
        .filter(|c| c.entry.cycle == id)
        .collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(SelectError::Unknown {
            cycle: cycle.to_string(),
            in_review: review
                .map(|r| format!(" of review {r:?}"))
                .unwrap_or_default(),
            known: if cycles.is_empty() {
                "none".into()
            } else {
                cycles
                    .iter()
                    .map(|c| format!("{} ({})", c.entry.cycle, c.entry.access_review))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        }),
        several => Err(SelectError::Ambiguous {
            cycle: id.to_string(),
            reviews: several
                .iter()
                .map(|c| c.entry.access_review.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// One subject of the cycle's population and what became of it.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SampleRow {
    /// `User`, `Group` or `ServiceAccount`.
    pub subject_kind: String,
    /// A ServiceAccount's namespace.
    pub namespace: String,
    /// The subject's name.
    pub name: String,
    /// Why its access was privileged when the cycle opened.
    pub privileged: Vec<String>,
    /// Each grant: `binding -> role (where)`.
    pub grants: Vec<String>,
    /// How its access changed since the baseline cycle (`NewSubject`, `AccessWidened`, ...), empty when it did not.
    pub change_since_baseline: String,
    /// `Keep`, `Revoke`, or `undecided` (`unknown` when the record cannot be read).
    pub decision: String,
    /// The reviewer the decision names.
    pub reviewer: String,
    /// Who the API server authenticated as creating the decision.
    pub authenticated_user: String,
    /// Their uid.
    pub authenticated_uid: String,
    /// Their groups.
    pub authenticated_groups: Vec<String>,
    /// When the decision was admitted.
    pub decided_at: String,
    /// The reviewer's comment.
    pub comment: String,
    /// The AccessReviewDecision object.
    pub decision_object: String,
    /// For a revoked subject: since when none of its reviewed access is granted.
    pub carried_out_at: String,
    /// For a revoked subject still granted after the grace period: `yes`.
    pub revocation_overdue: String,
}

/// One cycle's sample file.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CycleSample {
    /// The evidence store.
    pub store: String,
    /// When the file was made.
    pub generated_at: String,
    /// `intact, signatures checked`, `intact, signatures NOT checked ...` or `TAMPERED: ...`.
    pub evidence: String,
    /// The chain as verified.
    pub chain: ChainIntegrity,
    /// The cycle, as the report's section shows it.
    pub cycle: CycleReport,
    /// One row per subject of the population.
    pub rows: Vec<SampleRow>,
}

fn grant_line(g: &Grant) -> String {
    let binding = match &g.binding.namespace {
        Some(ns) => format!("{} {ns}/{}", g.binding.kind, g.binding.name),
        None => format!("{} {}", g.binding.kind, g.binding.name),
    };
    format!(
        "{binding} -> {} {} ({}){}",
        g.role_kind,
        g.role_name,
        g.namespace.as_deref().unwrap_or("cluster-wide"),
        if g.role_missing {
            " [role missing]"
        } else {
            ""
        }
    )
}

/// What the evidence column says about the chain.
fn evidence_line(verified: &VerifyOutcome) -> String {
    match verified.problems.first() {
        Some(p) => format!(
            "TAMPERED: {} broken object(s); first: {p}",
            verified.problems.len()
        ),
        None if verified.signatures_checked => "intact, signatures checked".into(),
        None => "intact, signatures NOT checked against a trusted key".into(),
    }
}

/// The sample file of `latest`'s cycle.
pub fn sample(
    verified: &VerifyOutcome,
    latest: &LatestCycle<'_>,
    store: &str,
    period_end: Timestamp,
    now: Timestamp,
) -> CycleSample {
    let cycle = cycle_report(latest, period_end);
    let record = latest.record.map(|(r, _, _)| r);
    let outcome_of =
        |s: &SubjectKey| record.and_then(|r| r.tally.outcomes.iter().find(|o| &o.subject == s));
    let row = |subject: &SubjectKey, privileged: Vec<String>, grants: Vec<String>| {
        let outcome = outcome_of(subject);
        let decided = outcome.and_then(|o| o.decision.as_ref());
        SampleRow {
            subject_kind: subject.kind.as_str().into(),
            namespace: subject.namespace.clone().unwrap_or_default(),
            name: subject.name.clone(),
            privileged,
            grants,
            change_since_baseline: latest
                .population
                .and_then(|p| p.changes.iter().find(|c| &c.subject == subject))
                .map(|c| format!("{:?}", c.kind))
                .unwrap_or_default(),
            decision: match (record, decided) {
                (None, _) => "unknown (record unreadable)".into(),
                (Some(_), None) => "undecided".into(),
                (Some(_), Some(d)) => verdict(d.verdict).into(),
            },
            reviewer: decided.map(|d| d.reviewer.clone()).unwrap_or_default(),
            authenticated_user: decided
                .map(|d| d.authenticated.username.clone())
                .unwrap_or_default(),
            authenticated_uid: decided
                .and_then(|d| d.authenticated.uid.clone())
                .unwrap_or_default(),
            authenticated_groups: decided
                .map(|d| d.authenticated.groups.clone())
                .unwrap_or_default(),
            decided_at: decided
                .and_then(|d| d.decided_at)
                .map(seconds)
                .unwrap_or_default(),
            comment: decided.map(|d| d.comment.clone()).unwrap_or_default(),
            decision_object: decided.map(|d| d.decision.clone()).unwrap_or_default(),
            carried_out_at: outcome
                .and_then(|o| o.carried_out)
                .map(seconds)
                .unwrap_or_default(),
            revocation_overdue: if outcome.is_some_and(|o| o.revocation_overdue) {
                "yes".into()
            } else {
                String::new()
            },
        }
    };
    let rows = match (latest.population, record) {
        (Some(p), _) => p
            .population
            .subjects
            .iter()
            .map(|s| {
                row(
                    &s.subject,
                    s.privileged.clone(),
                    s.grants.iter().map(grant_line).collect(),
                )
            })
            .collect(),
        // Without the population the record still names every subject; the grants are what cannot be shown.
        (None, Some(r)) => r
            .tally
            .outcomes
            .iter()
            .map(|o| {
                row(
                    &o.subject,
                    o.privileged.clone(),
                    vec!["unknown: the population cannot be read".into()],
                )
            })
            .collect(),
        (None, None) => Vec::new(),
    };
    CycleSample {
        store: store.to_string(),
        generated_at: seconds(now),
        evidence: evidence_line(verified),
        chain: chain_integrity(verified),
        cycle,
        rows,
    }
}

/// The CSV header.
pub const CSV_HEADER: [&str; 20] = [
    "access_review",
    "cycle",
    "cycle_state",
    "subject_kind",
    "namespace",
    "name",
    "privileged",
    "grants",
    "change_since_baseline",
    "decision",
    "reviewer",
    "authenticated_user",
    "authenticated_uid",
    "authenticated_groups",
    "decided_at",
    "comment",
    "decision_object",
    "revocation_carried_out_at",
    "revocation_overdue",
    "evidence",
];

/// One CSV field (RFC 4180). A field a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, carriage
/// return first) is prefixed with `'`: comments are user input, and the file is opened in spreadsheets.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// CSV: a header, then one row per subject, lines ended by CRLF (RFC 4180). Lists within a field are joined by
/// `; `. Every row carries the cycle and the chain's integrity, so a row taken out of the file still says where it
/// comes from and whether that evidence verified.
pub fn render_csv(s: &CycleSample) -> String {
    let mut out = String::new();
    let mut line = |fields: &[&str]| {
        let cells: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    };
    line(&CSV_HEADER);
    for r in &s.rows {
        line(&[
            &s.cycle.access_review,
            &s.cycle.cycle,
            &s.cycle.state,
            &r.subject_kind,
            &r.namespace,
            &r.name,
            &r.privileged.join("; "),
            &r.grants.join("; "),
            &r.change_since_baseline,
            &r.decision,
            &r.reviewer,
            &r.authenticated_user,
            &r.authenticated_uid,
            &r.authenticated_groups.join("; "),
            &r.decided_at,
            &r.comment,
            &r.decision_object,
            &r.carried_out_at,
            &r.revocation_overdue,
            &s.evidence,
        ]);
    }
    out
}

/// A self-contained page (the report's style, no script): the evidence's integrity, the cycle as the report shows
/// it, then every subject.
pub fn render_html(s: &CycleSample) -> String {
    let mut b = String::new();
    let c = &s.cycle;
    let (cls, text) = if !s.chain.intact {
        ("bad", "bad-text")
    } else if s.chain.signatures_checked {
        ("ok", "ok-text")
    } else {
        ("warn", "warn-text")
    };
    let _ = write!(
        b,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>Access review {review} cycle {cycle}</title><style>{STYLE}</style></head><body>\
         <h1>Access review {review} cycle {cycle}</h1><p class=\"muted\">Population and decisions, from {store} · \
         generated {generated}</p><div class=\"box {cls}\" id=\"integrity\"><p><span class=\"{text}\">Evidence: \
         {evidence}</span></p><p class=\"mono\">head sequence {seq}, SHA-256 {digest}</p>",
        review = esc(&c.access_review),
        cycle = esc(&c.cycle),
        store = esc(&s.store),
        generated = esc(&s.generated_at),
        evidence = esc(&s.evidence),
        seq = s
            .chain
            .head_sequence
            .map(|n| n.to_string())
            .unwrap_or_else(|| "none".into()),
        digest = esc(s.chain.head_digest.as_deref().unwrap_or("none")),
    );
    for p in &s.chain.problems {
        let _ = write!(b, "<p class=\"bad-text\">{}</p>", esc(p));
    }
    b.push_str("</div>");
    super::report::html::cycle(&mut b, c);
    let _ = write!(
        b,
        "<h2 id=\"subjects\">Subjects ({})</h2><table class=\"subjects\"><tr><th>#</th><th>Subject</th>\
         <th>Privileged</th><th>Grants (binding -&gt; role (where))</th><th>Since baseline</th><th>Decision</th>\
         <th>Reviewer / authenticated as (groups)</th><th>Decided at</th><th>Comment</th><th>Revocation carried out\
         </th></tr>",
        s.rows.len()
    );
    for (i, r) in s.rows.iter().enumerate() {
        let subject = if r.namespace.is_empty() {
            format!("{} {}", r.subject_kind, r.name)
        } else {
            format!("{} {}/{}", r.subject_kind, r.namespace, r.name)
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td class=\"t\">{}\
             </td><td>{}</td><td class=\"{}\">{}</td></tr>",
            i + 1,
            esc(&subject),
            esc(&r.privileged.join("; ")),
            r.grants
                .iter()
                .map(|g| esc(g))
                .collect::<Vec<_>>()
                .join("<br>"),
            esc(&r.change_since_baseline),
            esc(&r.decision),
            esc(&r.reviewer),
            if r.authenticated_user.is_empty() {
                String::new()
            } else {
                format!(
                    " / {} ({})",
                    esc(&r.authenticated_user),
                    esc(&r.authenticated_groups.join(", "))
                )
            },
            esc(&r.decided_at),
            esc(&r.comment),
            if r.revocation_overdue.is_empty() {
                ""
            } else {
                "bad-text"
            },
            esc(&if r.revocation_overdue.is_empty() {
                r.carried_out_at.clone()
            } else {
                "NOT carried out: past the grace period".to_string()
            }),
        );
    }
    b.push_str("</table></body></html>\n");
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field(""), "");
    }
}
