//! The report's "Access reviews" section (CC6.2, CC6.3): every access review cycle the period's snapshots list,
//! as the latest record in the period shows it, with the population it reviewed, each decision (who, authenticated
//! as whom, when, what), the revocations and when they took effect, and decisions that did not count.
//!
//! A cycle is never left out because part of its evidence cannot be read: it is listed and says what is missing.
//! Nothing here reads a store; it works on what [`crate::evidence::verify`] loaded. `soc2ctl access-review` builds
//! its sample file on [`latest_cycles`] too, so the report and the file agree.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use super::{seconds, seconds_of};
use crate::access::ChangeKind;
use crate::api::Verdict;
use crate::evidence::access_review::{AccessReviewEntry, CycleRecord, PopulationDocument};
use crate::evidence::verify::{LoadedSnapshot, VerifyOutcome};

/// A cycle completed on time.
pub const COMPLETED: &str = "Completed";
/// A cycle completed after its due date.
pub const COMPLETED_LATE: &str = "Completed late";
/// A cycle past due with subjects undecided at the last snapshot that lists it: never completed in the period.
pub const OVERDUE: &str = "Overdue";
/// A cycle not yet due and not yet completed.
pub const OPEN: &str = "Open";
/// A cycle whose record cannot be read in any snapshot of the period.
pub const UNREADABLE: &str = "Record unreadable";

/// One cycle as the latest snapshot of the period that lists it has it.
#[derive(Clone, Debug)]
pub struct LatestCycle<'a> {
    /// The manifest entry of that snapshot.
    pub entry: &'a AccessReviewEntry,
    /// That snapshot's time.
    pub at: Timestamp,
    /// That snapshot's sequence.
    pub sequence: u64,
    /// The newest readable record of the cycle in the period, with the time and sequence of its snapshot; `None`
    /// when no snapshot of the period has a readable record of it.
    pub record: Option<(&'a CycleRecord, Timestamp, u64)>,
    /// Its population, when it could be read and matched its digest.
    pub population: Option<&'a PopulationDocument>,
}

/// The cycles listed in `selected` (snapshots in chain order), by review then cycle.
pub fn latest_cycles<'a>(
    verified: &'a VerifyOutcome,
    selected: &[(Timestamp, &'a LoadedSnapshot)],
) -> Vec<LatestCycle<'a>> {
    let mut cycles: BTreeMap<(&str, &str), LatestCycle<'a>> = BTreeMap::new();
    for (at, snapshot) in selected {
        for entry in &snapshot.manifest.access_reviews {
            let record = snapshot
                .access_reviews
                .iter()
                .find(|r| r.access_review == entry.access_review && r.cycle == entry.cycle);
            let key = (entry.access_review.as_str(), entry.cycle.as_str());
            let earlier = cycles.remove(&key).and_then(|c| c.record);
            cycles.insert(
                key,
                LatestCycle {
                    entry,
                    at: *at,
                    sequence: snapshot.manifest.sequence,
                    record: record
                        .map(|r| (r, *at, snapshot.manifest.sequence))
                        .or(earlier),
                    population: verified.populations.get(&entry.population.sha256),
                },
            );
        }
    }
    cycles.into_values().collect()
}

/// An object of the store, as the manifest lists it.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceObject {
    /// Path under the store (`objects/<sha256>.json`).
    pub path: String,
    /// Its SHA-256.
    pub sha256: String,
}

/// One subject's change since the baseline cycle.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChangeLine {
    /// The subject (`User alice`, `ServiceAccount ns/name`).
    pub subject: String,
    /// `NewSubject`, `AccessWidened`, `AccessReduced` or `AccessRemoved`.
    pub kind: String,
    /// It holds privileged access now and did not before.
    pub gained_privilege: bool,
    /// What changed.
    pub details: Vec<String>,
}

/// Who was reviewed.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PopulationSummary {
    /// Subjects in scope when the cycle opened.
    pub subjects: usize,
    /// Of which holding privileged access.
    pub privileged: usize,
    /// The completed cycle the changes are measured against; `None` for a first cycle.
    pub baseline: Option<String>,
    /// Why the baseline's population could not be read (the changes are then not known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_unreadable: Option<String>,
    /// Subjects new since the baseline.
    pub new_subjects: usize,
    /// Subjects whose access widened.
    pub widened: usize,
    /// Subjects whose access was reduced.
    pub reduced: usize,
    /// Subjects whose access was removed.
    pub removed: usize,
    /// Every change.
    pub changes: Vec<ChangeLine>,
}

/// One decision that counts.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DecisionLine {
    /// The subject decided.
    pub subject: String,
    /// Why its access was privileged when the cycle opened.
    pub privileged: Vec<String>,
    /// `Keep` or `Revoke`.
    pub verdict: String,
    /// The reviewer the decision names.
    pub reviewer: String,
    /// Who the API server authenticated as creating it.
    pub authenticated_user: String,
    /// Their uid, when the authenticator set one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticated_uid: Option<String>,
    /// Their groups.
    pub authenticated_groups: Vec<String>,
    /// When it was admitted.
    pub decided_at: Option<String>,
    /// The reviewer's comment (user input).
    pub comment: String,
    /// The AccessReviewDecision object.
    pub decision: String,
}

/// A subject decided `Revoke`, and what became of its access.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RevocationLine {
    /// The subject.
    pub subject: String,
    /// When the revocation was decided.
    pub decided_at: Option<String>,
    /// Since when none of its reviewed access is granted; `None` while it is.
    pub carried_out: Option<String>,
    /// Still granted after the review's grace period.
    pub overdue: bool,
    /// In words.
    pub status: String,
}

/// A decision, or items of one, that did not count, and why.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IgnoredLine {
    /// The AccessReviewDecision object.
    pub decision: String,
    /// Why.
    pub reason: String,
}

/// One access review cycle over the period.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CycleReport {
    /// The AccessReview.
    pub access_review: String,
    /// Its title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The cycle id.
    pub cycle: String,
    /// [`COMPLETED`], [`COMPLETED_LATE`], [`OVERDUE`], [`OPEN`] or [`UNREADABLE`].
    pub state: String,
    /// When it opened.
    pub opened: Option<String>,
    /// When every subject had to be decided.
    pub due: Option<String>,
    /// When the last subject was decided.
    pub completed: Option<String>,
    /// How late: after the due date for a cycle completed late; past the due date at `asOf` for an overdue one.
    pub late_by: Option<String>,
    /// The time of the snapshot whose record is shown (the latest readable one in the period).
    pub as_of: Option<String>,
    /// The last snapshot of the period that lists the cycle.
    pub last_listed: String,
    /// Its sequence.
    pub last_listed_sequence: u64,
    /// What the reader must know that the state does not say: an unreadable record or population, a cycle still
    /// open past its due date at the end of what the evidence shows.
    pub notes: Vec<String>,
    /// The cycle record shown.
    pub record: EvidenceObject,
    /// The population document.
    pub population_object: EvidenceObject,
    /// The population, when it could be read.
    pub population: Option<PopulationSummary>,
    /// Subjects in the population, as the record counts them.
    pub subjects: u32,
    /// Subjects decided.
    pub decided: usize,
    /// Of which kept.
    pub kept: usize,
    /// Of which revoked.
    pub revoke: usize,
    /// Revocations carried out.
    pub carried_out: usize,
    /// Revocations not carried out within the grace period.
    pub revocations_overdue: usize,
    /// Subjects without a decision.
    pub undecided: Vec<String>,
    /// Every decision that counts, in population order.
    pub decisions: Vec<DecisionLine>,
    /// Every revocation.
    pub revocations: Vec<RevocationLine>,
    /// Decisions that did not count.
    pub ignored: Vec<IgnoredLine>,
}

impl CycleReport {
    /// Whether the cycle shows the review operating as designed: completed on time (or not yet due), every
    /// revocation carried out within its grace period, and all its evidence readable.
    pub fn in_order(&self) -> bool {
        (self.state == COMPLETED || self.state == OPEN)
            && self.revocations_overdue == 0
            && self.notes.is_empty()
    }
}

fn duration(from: Timestamp, to: Timestamp) -> Option<String> {
    let secs = u64::try_from(to.as_second() - from.as_second()).ok()?;
    Some(humantime::format_duration(std::time::Duration::from_secs(secs)).to_string())
}

fn change_kind(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::NewSubject => "NewSubject",
        ChangeKind::AccessWidened => "AccessWidened",
        ChangeKind::AccessReduced => "AccessReduced",
        ChangeKind::AccessRemoved => "AccessRemoved",
    }
}

/// `Keep` or `Revoke`.
pub fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Keep => "Keep",
        Verdict::Revoke => "Revoke",
    }
}

fn population_summary(doc: &PopulationDocument) -> PopulationSummary {
    let count = |k: ChangeKind| doc.changes.iter().filter(|c| c.kind == k).count();
    PopulationSummary {
        subjects: doc.population.subjects.len(),
        privileged: doc.population.privileged().count(),
        baseline: doc.baseline.as_ref().map(|b| b.cycle.clone()),
        baseline_unreadable: doc.baseline.as_ref().and_then(|b| b.unreadable.clone()),
        new_subjects: count(ChangeKind::NewSubject),
        widened: count(ChangeKind::AccessWidened),
        reduced: count(ChangeKind::AccessReduced),
        removed: count(ChangeKind::AccessRemoved),
        changes: doc
            .changes
            .iter()
            .map(|c| ChangeLine {
                subject: c.subject.to_string(),
                kind: change_kind(c.kind).into(),
                gained_privilege: c.gained_privilege,
                details: c.details.clone(),
            })
            .collect(),
    }
}

/// What `latest` says of its cycle; `period_end` is the end of the period the evidence covers (a cycle still open
/// past its due date there is not known to have been completed).
pub fn cycle_report(latest: &LatestCycle<'_>, period_end: Timestamp) -> CycleReport {
    let entry = latest.entry;
    let mut notes = Vec::new();
    let population = latest.population.map(population_summary);
    if population.is_none() {
        notes.push(format!(
            "the population {} (SHA-256 {}) is missing or does not match its digest: who was in scope cannot be \
             shown from this evidence (see the integrity problems)",
            entry.population.path, entry.population.sha256
        ));
    }
    let mut report = CycleReport {
        access_review: entry.access_review.clone(),
        title: latest.population.and_then(|p| p.title.clone()),
        cycle: entry.cycle.clone(),
        state: UNREADABLE.into(),
        opened: latest.population.map(|p| seconds_of(&p.opened)),
        due: latest.population.map(|p| seconds_of(&p.due)),
        completed: None,
        late_by: None,
        as_of: None,
        last_listed: seconds(latest.at),
        last_listed_sequence: latest.sequence,
        notes,
        record: EvidenceObject {
            path: entry.record.path.clone(),
            sha256: entry.record.sha256.clone(),
        },
        population_object: EvidenceObject {
            path: entry.population.path.clone(),
            sha256: entry.population.sha256.clone(),
        },
        population,
        subjects: 0,
        decided: 0,
        kept: 0,
        revoke: 0,
        carried_out: 0,
        revocations_overdue: 0,
        undecided: Vec::new(),
        decisions: Vec::new(),
        revocations: Vec::new(),
        ignored: Vec::new(),
    };
    let Some((record, at, sequence)) = latest.record else {
        report.notes.push(format!(
            "no snapshot of the period has a readable record of this cycle (the last one, {}, sequence {}, lists {} \
             as {}): its decisions cannot be shown (see the integrity problems)",
            seconds(latest.at),
            latest.sequence,
            entry.record.path,
            entry.state
        ));
        return report;
    };
    if sequence != latest.sequence {
        report.notes.push(format!(
            "the record listed by the last snapshot (sequence {}) cannot be read; shown as of snapshot {} \
             (sequence {sequence})",
            latest.sequence,
            seconds(at)
        ));
    }
    report.title = record.title.clone().or(report.title);
    report.opened = Some(seconds_of(&record.opened));
    report.due = Some(seconds_of(&record.due));
    report.as_of = Some(seconds(at));
    let tally = &record.tally;
    let due = record.due.parse::<Timestamp>().ok();
    report.completed = tally.completed.map(seconds);
    report.state = match (tally.completed, due) {
        (Some(done), Some(due)) if done > due => {
            report.late_by = duration(due, done);
            COMPLETED_LATE
        }
        (Some(_), _) => COMPLETED,
        (None, _) if tally.overdue => {
            report.late_by = due.and_then(|due| duration(due, at));
            OVERDUE
        }
        (None, _) => OPEN,
    }
    .into();
    if report.state == OPEN
        && let Some(due) = due
        && due < period_end
    {
        report.notes.push(format!(
            "still open at its last record ({}) although due {}: no later evidence shows it completed",
            seconds(at),
            seconds(due)
        ));
    }
    report.subjects = record.subjects;
    report.decided = tally.decided();
    report.kept = tally.count(Verdict::Keep);
    report.revoke = tally.count(Verdict::Revoke);
    report.carried_out = tally.revoked();
    report.revocations_overdue = tally.revocations_overdue();
    report.undecided = tally.undecided().map(|s| s.to_string()).collect();
    for o in &tally.outcomes {
        let Some(d) = &o.decision else { continue };
        let decided_at = d.decided_at.map(seconds);
        report.decisions.push(DecisionLine {
            subject: o.subject.to_string(),
            privileged: o.privileged.clone(),
            verdict: verdict(d.verdict).into(),
            reviewer: d.reviewer.clone(),
            authenticated_user: d.authenticated.username.clone(),
            authenticated_uid: d.authenticated.uid.clone(),
            authenticated_groups: d.authenticated.groups.clone(),
            decided_at: decided_at.clone(),
            comment: d.comment.clone(),
            decision: d.decision.clone(),
        });
        if d.verdict == Verdict::Revoke {
            let status = match (o.carried_out, o.revocation_overdue) {
                (Some(t), _) => match d.decided_at.and_then(|at| duration(at, t)) {
                    Some(after) => {
                        format!("carried out at {} ({after} after the decision)", seconds(t))
                    }
                    None => format!("carried out at {}", seconds(t)),
                },
                (None, true) => format!(
                    "NOT carried out: still granted after the grace period (as of {})",
                    seconds(at)
                ),
                (None, false) => format!(
                    "not carried out yet, within the grace period (as of {})",
                    seconds(at)
                ),
            };
            report.revocations.push(RevocationLine {
                subject: o.subject.to_string(),
                decided_at,
                carried_out: o.carried_out.map(seconds),
                overdue: o.revocation_overdue,
                status,
            });
        }
    }
    report.ignored = tally
        .decisions
        .iter()
        .flat_map(|d| {
            d.ignored.iter().map(|reason| IgnoredLine {
                decision: d.name.clone(),
                reason: reason.clone(),
            })
        })
        .collect();
    report
}

/// The section: one [`CycleReport`] per cycle listed in `selected`.
pub fn section(
    verified: &VerifyOutcome,
    selected: &[(Timestamp, &LoadedSnapshot)],
    period_end: Timestamp,
) -> Vec<CycleReport> {
    latest_cycles(verified, selected)
        .iter()
        .map(|c| cycle_report(c, period_end))
        .collect()
}

/// One line for the report's summary; `None` when the period lists no cycle.
pub fn summary(cycles: &[CycleReport]) -> Option<String> {
    if cycles.is_empty() {
        return None;
    }
    let n = |state: &str| cycles.iter().filter(|c| c.state == state).count();
    let revocations: usize = cycles.iter().map(|c| c.revocations_overdue).sum();
    Some(format!(
        "{} access review cycle(s): {} completed on time, {} completed late, {} overdue (never completed), {} \
         open, {} unreadable; {revocations} revocation(s) not carried out within the grace period.",
        cycles.len(),
        n(COMPLETED),
        n(COMPLETED_LATE),
        n(OVERDUE),
        n(OPEN),
        n(UNREADABLE)
    ))
}

/// One line about a cycle's state, as every renderer says it.
pub fn state_line(c: &CycleReport) -> String {
    let due = c.due.as_deref().unwrap_or("unknown");
    match c.state.as_str() {
        COMPLETED => format!(
            "Completed on time at {} (due {due})",
            c.completed.as_deref().unwrap_or("?")
        ),
        COMPLETED_LATE => format!(
            "Completed LATE at {}, {} after its due date {due}",
            c.completed.as_deref().unwrap_or("?"),
            c.late_by.as_deref().unwrap_or("?")
        ),
        OVERDUE => format!(
            "OVERDUE, never completed: due {due}, {} past due with {} subject(s) undecided at the last record ({})",
            c.late_by.as_deref().unwrap_or("?"),
            c.undecided.len(),
            c.as_of.as_deref().unwrap_or("?")
        ),
        OPEN => format!("Open, due {due}"),
        _ => "Record unreadable: the state of the cycle cannot be shown".into(),
    }
}
