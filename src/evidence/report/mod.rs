//! Type I / Type II reports from a verified chain: per criterion and control, the share of covered time the control
//! was compliant, when it failed and on which resources, the exceptions that waived findings, when it did not run,
//! and which part of the period no evidence covers.
//!
//! Access review cycles (CC6.2, CC6.3) are their own section, built in [`access_reviews`].
//!
//! Rendering lives beside: [`markdown`] and [`html`]. Nothing here reads a store; [`build`] works on what
//! [`super::verify`] loaded.

pub mod access_reviews;
pub mod coverage;
pub mod html;
pub mod markdown;

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::document::{AppliedException, ControlDocument};
use super::schedule::Schedule;
use super::verify::{LoadedSnapshot, VerifyOutcome};
pub use access_reviews::CycleReport;
pub use coverage::{Coverage, NotCovered};
pub use html::render_html;
pub use markdown::render_markdown;

/// Failing resources a failing window names before it says "and N more".
pub const NAMED_RESOURCES: usize = 20;

/// `t` in RFC 3339 to the second: what reports show.
pub fn seconds(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

/// An RFC 3339 text to the second; text that does not parse is shown as it is.
fn seconds_of(s: &str) -> String {
    s.parse::<Timestamp>()
        .map(seconds)
        .unwrap_or_else(|_| s.to_string())
}

/// A window during which a control failed.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailingWindow {
    /// First failing sample.
    pub start: String,
    /// First compliant sample after it; `None` while still failing at the last sample.
    pub end: Option<String>,
    /// The last failing sample of the window: a window still open is known to fail up to here, not beyond.
    pub last_failing_sample: String,
    /// Time to remediate (`end - start`), human readable.
    pub time_to_remediate: Option<String>,
    /// Worst failed resource count seen in the window.
    pub max_failed: u64,
    /// Resources evaluated (the population), the largest seen in the window.
    pub population: u64,
    /// The failing resources, the first [`NAMED_RESOURCES`] in order of first failure.
    pub failing_resources: Vec<String>,
    /// Failing resources beyond those named.
    pub more_resources: usize,
}

/// A period when a control has no evidence of operation.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NotRunningPeriod {
    /// From (schedule tick, to the second).
    pub from: String,
    /// To.
    pub to: String,
    /// Why.
    pub reason: String,
}

/// An exception seen in the evidence.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionSeen {
    /// `namespace/name` of the ControlException.
    pub name: String,
    /// Who approved it.
    pub approved_by: String,
    /// The approval ticket.
    pub ticket: String,
    /// The risk acceptance as written.
    pub justification: String,
    /// When it expires.
    pub expires_at: String,
    /// First sample it was applied in.
    pub first_seen: String,
    /// Last sample it was applied in.
    pub last_seen: String,
    /// Samples it was applied in.
    pub samples: usize,
    /// The resources it waived findings on, the first [`NAMED_RESOURCES`].
    pub waived: Vec<String>,
    /// Resources waived beyond those named.
    pub more_waived: usize,
    /// Whether it expired inside the period.
    pub expired_in_period: bool,
    /// For an exception that expired in the period: what the first sample after the expiry showed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_expiry: Option<String>,
    /// Samples that applied the exception at or after its expiry (a controller fault or forged evidence): they
    /// are counted failing.
    pub applied_after_expiry: Vec<String>,
}

/// The state of a control in one sample, for timelines.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SampleState {
    /// Compliant with nothing waived.
    Compliant,
    /// Compliant because exceptions waived its failing findings.
    Excepted,
    /// Failing, undecided, or not evaluable.
    Failing,
    /// The control has no evidence in this sample.
    NotCovered,
}

/// One sample of one control.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SampleCell {
    /// When.
    pub at: String,
    /// The control's state.
    pub state: SampleState,
    /// The verdict as recorded (`Compliant`, `NonCompliant`, `Unknown`, `Invalid`, or `Missing`).
    pub verdict: String,
    /// Failing resources.
    pub failed: u64,
    /// Seconds of the period this sample covers for the control (0 for ad-hoc samples, missing documents and
    /// Type I reports).
    pub seconds: u64,
}

/// One control over the period.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ControlReport {
    /// Name.
    pub control: String,
    /// Title.
    pub title: String,
    /// Criteria.
    pub criteria: Vec<String>,
    /// How the control is tested, as its spec states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_procedure: Option<String>,
    /// Samples in the period with evidence for the control.
    pub samples: usize,
    /// Of which compliant (exceptions applied).
    pub compliant_samples: usize,
    /// Of which compliant only thanks to exceptions.
    pub excepted_samples: usize,
    /// Samples of the period in which the control has no document (not yet created, deleted, or outside the
    /// EvidenceStore's controlSelector): time the control cannot be shown to have operated.
    pub missing_samples: usize,
    /// Seconds of the period the control's samples cover.
    pub covered_seconds: u64,
    /// Of which it was compliant.
    pub compliant_seconds: u64,
    /// `compliant_seconds / covered_seconds`; `None` when no time is covered (a Type II share needs covered time).
    /// For a Type I report, the share of the one sample.
    pub compliant_share: Option<f64>,
    /// The last verdict in the period.
    pub last_verdict: String,
    /// One cell per sample of the period, in order.
    pub timeline: Vec<SampleCell>,
    /// Failing windows.
    pub failing_windows: Vec<FailingWindow>,
    /// Exceptions applied.
    pub exceptions: Vec<ExceptionSeen>,
    /// Periods without evidence the control operated.
    pub not_running: Vec<NotRunningPeriod>,
}

/// One criterion over the period.
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
    /// Covered seconds across those controls.
    pub covered_seconds: u64,
    /// Compliant seconds across those controls.
    pub compliant_seconds: u64,
    /// Share of covered time compliant (`None` without covered time).
    pub compliant_share: Option<f64>,
    /// Whether every sample of every control was compliant (with exceptions applied).
    pub every_sample_compliant: bool,
}

/// What verification said about the chain the report reads.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChainIntegrity {
    /// True when every hash, link and signature checked is intact.
    pub intact: bool,
    /// Broken objects.
    pub problems: Vec<String>,
    /// Manifests in the chain (all of it, not only the period).
    pub manifests: usize,
    /// The head's sequence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_sequence: Option<u64>,
    /// The head manifest's SHA-256: compare it with the head published elsewhere (EvidenceStore status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_digest: Option<String>,
    /// Signing key ids seen in the chain.
    pub key_ids: Vec<String>,
    /// Whether signatures were checked against keys the auditor trusts.
    pub signatures_checked: bool,
    /// Manifests without a signature.
    pub unsigned: usize,
}

/// The report.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `Type I` (one point in time) or `Type II` (a period).
    pub kind: String,
    /// Period start (Type I: the sample's time).
    pub from: String,
    /// Period end.
    pub to: String,
    /// When the report was made.
    pub generated_at: String,
    /// The evidence store.
    pub store: String,
    /// Cluster UID(s) seen.
    pub clusters: Vec<String>,
    /// Snapshots in the period.
    pub snapshots: usize,
    /// `intact`, or the number of broken objects and the first one.
    pub integrity: String,
    /// Whether signatures were checked.
    pub signatures_checked: bool,
    /// The chain as verified.
    pub chain: ChainIntegrity,
    /// What the evidence covers of the period.
    pub coverage: Coverage,
    /// A paragraph an auditor can read.
    pub summary: String,
    /// Per criterion.
    pub criteria: Vec<CriterionReport>,
    /// Per control.
    pub controls: Vec<ControlReport>,
    /// Missed snapshots the writer recorded (apply to every control).
    pub missed_snapshots: Vec<NotRunningPeriod>,
    /// Every access review cycle the period's snapshots list, as its latest record in the period shows it.
    pub access_reviews: Vec<CycleReport>,
}

fn share(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Seconds from `a` to `b` (RFC 3339 texts); `None` when either does not parse or `b` is before `a`.
pub(crate) fn seconds_between(a: &str, b: &str) -> Option<u64> {
    let a: Timestamp = a.parse().ok()?;
    let b: Timestamp = b.parse().ok()?;
    u64::try_from(b.as_second() - a.as_second()).ok()
}

fn duration_between(a: &str, b: &str) -> Option<String> {
    let secs = seconds_between(a, b)?;
    Some(humantime::format_duration(std::time::Duration::from_secs(secs)).to_string())
}

/// `Kind namespace/name` or `Kind name`.
fn resource_label(resource: &Value) -> String {
    let s = |k: &str| resource.get(k).and_then(Value::as_str).unwrap_or("");
    match resource.get("namespace").and_then(Value::as_str) {
        Some(ns) => format!("{} {ns}/{}", s("kind"), s("name")),
        None => format!("{} {}", s("kind"), s("name")),
    }
}

/// The resources `doc`'s evaluation records as failing.
fn failing_resources(doc: &ControlDocument) -> Vec<String> {
    let mut out: Vec<String> = doc
        .evaluation
        .get("findings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|f| f.get("result").and_then(Value::as_str) == Some("Fail"))
        .filter_map(|f| f.get("resource").map(resource_label))
        .collect();
    out.dedup();
    out
}

fn population(doc: &ControlDocument) -> u64 {
    doc.evaluation
        .pointer("/summary/evaluated")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

fn excepted(doc: &ControlDocument) -> u64 {
    doc.evaluation
        .pointer("/summary/excepted")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

fn state_of(doc: &ControlDocument) -> SampleState {
    match doc.verdict() {
        "Compliant" if excepted(doc) > 0 || !doc.exceptions_applied.is_empty() => {
            SampleState::Excepted
        }
        "Compliant" => SampleState::Compliant,
        _ => SampleState::Failing,
    }
}

/// Adds names to a bounded list, counting the rest.
fn add_named(named: &mut Vec<String>, more: &mut usize, names: impl IntoIterator<Item = String>) {
    for n in names {
        if named.contains(&n) {
            continue;
        }
        if named.len() < NAMED_RESOURCES {
            named.push(n);
        } else {
            *more += 1;
        }
    }
}

/// Builds the report as of now. See [`build_at`].
pub fn build(
    verified: &VerifyOutcome,
    store: &str,
    from: Option<Timestamp>,
    to: Timestamp,
) -> Report {
    build_at(verified, store, from, to, Timestamp::now())
}

/// Builds the report for snapshots taken in `[from, to]` as of `now`. With `from == None` it is a Type I report on
/// the last snapshot at or before `to`.
pub fn build_at(
    verified: &VerifyOutcome,
    store: &str,
    from: Option<Timestamp>,
    to: Timestamp,
    now: Timestamp,
) -> Report {
    let taken = |s: &LoadedSnapshot| s.manifest.taken_at.parse::<Timestamp>().ok();
    let to = match from {
        Some(_) => to,
        None => to.min(now),
    };
    let selected: Vec<(Timestamp, &LoadedSnapshot)> = match from {
        Some(from) => verified
            .snapshots
            .iter()
            .filter_map(|s| taken(s).map(|t| (t, s)))
            .filter(|(t, _)| *t >= from && *t <= to.min(now))
            .collect(),
        None => verified
            .snapshots
            .iter()
            .filter_map(|s| taken(s).map(|t| (t, s)))
            .rfind(|(t, _)| *t <= to)
            .into_iter()
            .collect(),
    };

    let samples: Vec<coverage::Sample> = selected
        .iter()
        .map(|(at, s)| coverage::Sample {
            at: *at,
            schedule: s
                .manifest
                .schedule
                .as_ref()
                .and_then(|r| Schedule::from_record(r).ok()),
            gap_reason: s.manifest.gap.as_ref().and_then(|g| g.reason.clone()),
        })
        .collect();
    let (coverage, segments) = match from {
        Some(from) => coverage::compute(&samples, from, to, now),
        None => {
            let at = samples.first().map(|s| s.at).unwrap_or(to);
            let (mut c, _) = coverage::compute(&samples, at, at, now);
            // A Type I statement is about the moment of its sample: nothing of a period to cover.
            c.not_covered.clear();
            (c, Vec::new())
        }
    };

    let missed_snapshots: Vec<NotRunningPeriod> = selected
        .iter()
        .filter_map(|(_, s)| s.manifest.gap.as_ref())
        .map(|g| NotRunningPeriod {
            from: seconds_of(&g.from),
            to: seconds_of(&g.to),
            reason: format!(
                "{} scheduled snapshot(s) not taken{}",
                g.missed_ticks,
                g.reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        })
        .collect();

    let controls = control_reports(&selected, &segments, from.is_some(), &coverage.period_end);
    let criteria = criterion_reports(&controls);
    let chain = chain_integrity(verified);
    let integrity = match verified.problems.first() {
        None => "intact".to_string(),
        Some(p) => format!(
            "TAMPERED: {} broken object(s); first: {p}",
            verified.problems.len()
        ),
    };
    let mut clusters: Vec<String> = selected
        .iter()
        .map(|(_, s)| s.manifest.cluster.uid.clone())
        .collect();
    clusters.sort();
    clusters.dedup();
    let kind = if from.is_some() { "Type II" } else { "Type I" };
    let access_reviews = access_reviews::section(verified, &selected, to.min(now));
    let mut summary = summary(kind, &selected, &coverage, &chain, &controls);
    if let Some(line) = access_reviews::summary(&access_reviews) {
        summary.push(' ');
        summary.push_str(&line);
    }
    Report {
        kind: kind.into(),
        from: coverage.period_start.clone(),
        to: coverage.period_end.clone(),
        generated_at: seconds(now),
        store: store.to_string(),
        clusters,
        snapshots: selected.len(),
        integrity,
        signatures_checked: verified.signatures_checked,
        chain,
        coverage,
        summary,
        criteria,
        controls,
        missed_snapshots,
        access_reviews,
    }
}

pub(crate) fn chain_integrity(verified: &VerifyOutcome) -> ChainIntegrity {
    ChainIntegrity {
        intact: verified.is_intact(),
        problems: verified.problems.iter().map(|p| p.to_string()).collect(),
        manifests: verified.snapshots.len(),
        head_sequence: verified.head().map(|h| h.manifest.sequence),
        head_digest: verified.head().map(|h| h.digest.clone()),
        key_ids: verified.key_ids.clone(),
        signatures_checked: verified.signatures_checked,
        unsigned: verified.unsigned,
    }
}

/// Per control: samples, covered and compliant time, failing windows, exceptions, periods not run.
fn control_reports(
    selected: &[(Timestamp, &LoadedSnapshot)],
    segments: &[coverage::Segment],
    type_two: bool,
    period_end: &str,
) -> Vec<ControlReport> {
    let mut names: Vec<&str> = selected
        .iter()
        .flat_map(|(_, s)| s.documents.iter().map(|d| d.control.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    let seconds_of_sample: BTreeMap<usize, u64> = segments
        .iter()
        .map(|seg| (seg.sample, seg.seconds()))
        .collect();
    names
        .into_iter()
        .map(|name| control_report(name, selected, &seconds_of_sample, type_two, period_end))
        .collect()
}

fn control_report(
    name: &str,
    selected: &[(Timestamp, &LoadedSnapshot)],
    seconds_of_sample: &BTreeMap<usize, u64>,
    type_two: bool,
    period_end: &str,
) -> ControlReport {
    let mut c = ControlReport {
        control: name.to_string(),
        title: String::new(),
        criteria: Vec::new(),
        test_procedure: None,
        samples: 0,
        compliant_samples: 0,
        excepted_samples: 0,
        missing_samples: 0,
        covered_seconds: 0,
        compliant_seconds: 0,
        compliant_share: None,
        last_verdict: String::new(),
        timeline: Vec::new(),
        failing_windows: Vec::new(),
        exceptions: Vec::new(),
        not_running: Vec::new(),
    };
    let mut open: Option<FailingWindow> = None;
    let mut exceptions: BTreeMap<String, (ExceptionSeen, Vec<String>)> = BTreeMap::new();
    let mut missing_since: Option<String> = None;
    let mut docs: Vec<(Timestamp, &ControlDocument)> = Vec::new();
    for (i, (at, s)) in selected.iter().enumerate() {
        let at_s = seconds(*at);
        let Some(doc) = s.documents.iter().find(|d| d.control == name) else {
            c.missing_samples += 1;
            missing_since.get_or_insert_with(|| at_s.clone());
            c.timeline.push(SampleCell {
                at: at_s,
                state: SampleState::NotCovered,
                verdict: "Missing".into(),
                failed: 0,
                seconds: 0,
            });
            continue;
        };
        if let Some(since) = missing_since.take()
            && type_two
        {
            c.not_running.push(missing(since, at_s.clone()));
        }
        // An exception applied at or after its expiry waived nothing it could: the sample fails.
        let expired_applied: Vec<&AppliedException> = doc
            .exceptions_applied
            .iter()
            .filter(|e| e.expires_at.parse::<Timestamp>().is_ok_and(|x| x <= *at))
            .collect();
        docs.push((*at, doc));
        c.title = doc.title.clone();
        c.criteria = doc.criteria.clone();
        c.test_procedure = doc
            .spec
            .get("testProcedure")
            .and_then(Value::as_str)
            .map(str::to_string);
        c.samples += 1;
        c.last_verdict = doc.verdict().to_string();
        let compliant = doc.verdict() == "Compliant" && expired_applied.is_empty();
        let state = if expired_applied.is_empty() {
            state_of(doc)
        } else {
            SampleState::Failing
        };
        let covered = seconds_of_sample.get(&i).copied().unwrap_or(0);
        c.timeline.push(SampleCell {
            at: at_s.clone(),
            state,
            verdict: if expired_applied.is_empty() {
                doc.verdict().to_string()
            } else {
                format!("{} with an expired exception applied", doc.verdict())
            },
            failed: doc.failed(),
            seconds: covered,
        });
        c.covered_seconds += covered;
        if type_two && doc.operation.not_evaluated_in_window {
            let every = doc
                .operation
                .interval_seconds
                .map(|s| {
                    format!(
                        ", which re-evaluates it every {},",
                        humantime::format_duration(std::time::Duration::from_secs(s))
                    )
                })
                .unwrap_or_default();
            c.not_running.push(NotRunningPeriod {
                from: doc
                    .operation
                    .previous_snapshot_at
                    .as_deref()
                    .map(seconds_of)
                    .unwrap_or_else(|| seconds_of(&s.manifest.window_start)),
                to: at_s.clone(),
                reason: format!(
                    "the controller{every} did not evaluate the control between these snapshots; only the \
                     snapshot's own evaluation at its end is evidence"
                ),
            });
        }
        if compliant {
            c.compliant_samples += 1;
            c.compliant_seconds += covered;
            if state == SampleState::Excepted {
                c.excepted_samples += 1;
            }
            if let Some(mut w) = open.take() {
                w.time_to_remediate = duration_between(&w.start, &at_s);
                w.end = Some(at_s.clone());
                c.failing_windows.push(w);
            }
        } else {
            let w = open.get_or_insert_with(|| FailingWindow {
                start: at_s.clone(),
                end: None,
                last_failing_sample: at_s.clone(),
                time_to_remediate: None,
                max_failed: 0,
                population: 0,
                failing_resources: Vec::new(),
                more_resources: 0,
            });
            w.last_failing_sample = at_s.clone();
            w.max_failed = w.max_failed.max(doc.failed());
            w.population = w.population.max(population(doc));
            add_named(
                &mut w.failing_resources,
                &mut w.more_resources,
                failing_resources(doc),
            );
        }
        for e in &doc.exceptions_applied {
            // A renewed exception keeps its name; each version (approver, ticket, expiry, justification) is its own
            // approval and is reported as such.
            let version = [
                e.name.as_str(),
                &e.approved_by,
                &e.ticket,
                &e.expires_at,
                &e.justification,
            ]
            .join("\u{1f}");
            let (seen, all_waived) = exceptions
                .entry(version)
                .or_insert_with(|| (exception_seen(e, &at_s), Vec::new()));
            seen.last_seen = at_s.clone();
            seen.samples += 1;
            if expired_applied.iter().any(|x| std::ptr::eq(*x, e)) {
                seen.applied_after_expiry.push(at_s.clone());
            }
            for w in &e.waived {
                let label = resource_label(&serde_json::to_value(&w.resource).unwrap_or_default());
                if !all_waived.contains(&label) {
                    all_waived.push(label);
                }
            }
        }
    }
    if let Some(w) = open {
        c.failing_windows.push(w);
    }
    if let Some(since) = missing_since
        && type_two
    {
        c.not_running.push(missing(since, period_end.to_string()));
    }
    let period_end = selected.last().map(|(t, _)| *t);
    for (_, (mut seen, waived)) in exceptions {
        let mut more = 0;
        add_named(&mut seen.waived, &mut more, waived.iter().cloned());
        seen.more_waived = more;
        if let (Ok(expiry), Some(end)) = (seen.expires_at.parse::<Timestamp>(), period_end)
            && type_two
            && expiry <= end
        {
            seen.expired_in_period = true;
            seen.after_expiry = Some(after_expiry(expiry, &waived, &docs));
        }
        if let Some(first) = seen.applied_after_expiry.first() {
            seen.after_expiry = Some(format!(
                "expired at {} but still applied in {} sample(s) from {first}: those samples are counted failing \
                 (the controller or the evidence is at fault)",
                seen.expires_at,
                seen.applied_after_expiry.len()
            ));
        }
        c.exceptions.push(seen);
    }
    c.compliant_share = if type_two {
        share(c.compliant_seconds, c.covered_seconds)
    } else {
        share(c.compliant_samples as u64, c.samples as u64)
    };
    c
}

/// The stretch in which a control has no document in the snapshots.
fn missing(from: String, to: String) -> NotRunningPeriod {
    NotRunningPeriod {
        from,
        to,
        reason:
            "the control is missing from the snapshots (not yet created, deleted, or outside the \
                 EvidenceStore's controlSelector): no evidence it operated"
                .into(),
    }
}

fn exception_seen(e: &AppliedException, at: &str) -> ExceptionSeen {
    ExceptionSeen {
        name: e.name.clone(),
        approved_by: e.approved_by.clone(),
        ticket: e.ticket.clone(),
        justification: e.justification.clone(),
        expires_at: seconds_of(&e.expires_at),
        first_seen: at.to_string(),
        last_seen: at.to_string(),
        samples: 0,
        waived: Vec::new(),
        more_waived: 0,
        expired_in_period: false,
        after_expiry: None,
        applied_after_expiry: Vec::new(),
    }
}

/// What the first sample at or after an exception's expiry showed for the resources it had waived.
fn after_expiry(
    expiry: Timestamp,
    waived: &[String],
    docs: &[(Timestamp, &ControlDocument)],
) -> String {
    let Some((at, doc)) = docs.iter().find(|(t, _)| *t >= expiry) else {
        return format!(
            "expired at {}; no sample of the control was taken after it in the period",
            seconds(expiry)
        );
    };
    let failing: Vec<String> = failing_resources(doc)
        .into_iter()
        .filter(|r| waived.contains(r))
        .collect();
    if failing.is_empty() {
        format!(
            "expired at {}; at the next sample ({}) none of the resources it had waived failed",
            seconds(expiry),
            seconds(*at)
        )
    } else {
        format!(
            "expired at {}; the waived findings failed again from the sample of {} ({} resource(s): {})",
            seconds(expiry),
            seconds(*at),
            failing.len(),
            failing
                .iter()
                .take(NAMED_RESOURCES)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn criterion_reports(controls: &[ControlReport]) -> Vec<CriterionReport> {
    let mut criteria: BTreeMap<String, CriterionReport> = BTreeMap::new();
    for c in controls {
        for k in &c.criteria {
            let r = criteria
                .entry(k.clone())
                .or_insert_with(|| CriterionReport {
                    criterion: k.clone(),
                    controls: vec![],
                    samples: 0,
                    compliant_samples: 0,
                    covered_seconds: 0,
                    compliant_seconds: 0,
                    compliant_share: None,
                    every_sample_compliant: true,
                });
            r.controls.push(c.control.clone());
            r.samples += c.samples;
            r.compliant_samples += c.compliant_samples;
            r.covered_seconds += c.covered_seconds;
            r.compliant_seconds += c.compliant_seconds;
            r.every_sample_compliant &=
                c.samples > 0 && c.compliant_samples == c.samples && c.missing_samples == 0;
        }
    }
    criteria
        .into_values()
        .map(|mut r| {
            r.compliant_share = if r.covered_seconds > 0 {
                share(r.compliant_seconds, r.covered_seconds)
            } else {
                None
            };
            r
        })
        .collect()
}

fn summary(
    kind: &str,
    selected: &[(Timestamp, &LoadedSnapshot)],
    coverage: &Coverage,
    chain: &ChainIntegrity,
    controls: &[ControlReport],
) -> String {
    if selected.is_empty() {
        return "No evidence snapshot exists in this period: no control can be shown to have operated."
            .to_string();
    }
    let integrity = if chain.intact {
        let signatures = if chain.signatures_checked {
            "signatures checked against trusted keys"
        } else {
            "signatures NOT checked against trusted keys (no --public-key): anyone with write access to the \
             store could have rewritten the chain"
        };
        format!(
            "intact up to head sequence {} ({signatures})",
            chain.head_sequence.unwrap_or(0)
        )
    } else {
        format!("TAMPERED ({} broken object(s))", chain.problems.len())
    };
    let exceptions: usize = controls.iter().map(|c| c.exceptions.len()).sum();
    let failing: usize = controls.iter().map(|c| c.failing_windows.len()).sum();
    let fully = controls
        .iter()
        .filter(|c| c.samples > 0 && c.compliant_samples == c.samples && c.missing_samples == 0)
        .count();
    if kind == "Type I" {
        return format!(
            "Type I report on the snapshot of {}. Evidence integrity: {integrity}. {fully} of {} control(s) \
             were compliant at that moment; {exceptions} exception(s) were applied.",
            coverage.first_sample.as_deref().unwrap_or("?"),
            controls.len()
        );
    }
    let covered = if coverage.ad_hoc {
        "The snapshots were taken ad hoc (soc2ctl scan), without a schedule: they support Type I statements at \
         the moments they were taken, never the operation of a control over the period."
            .to_string()
    } else {
        format!(
            "Samples cover {:.1}% of the period (first {}, last {}); {} interval(s) are not covered.",
            share(coverage.covered_seconds, coverage.period_seconds).unwrap_or(0.0) * 100.0,
            coverage.first_sample.as_deref().unwrap_or("?"),
            coverage.last_sample.as_deref().unwrap_or("?"),
            coverage.not_covered.len()
        )
    };
    format!(
        "Type II report over {} snapshot(s) from {} to {}. {covered} Evidence integrity: {integrity}. {fully} of \
         {} control(s) were compliant in every sample; {failing} failing window(s) were observed; {exceptions} \
         exception(s) were applied.",
        selected.len(),
        coverage.period_start,
        coverage.period_end,
        controls.len(),
    )
}

/// `x` as a percentage, or `n/a` without covered time.
pub fn pct(x: Option<f64>) -> String {
    match x {
        Some(x) => format!("{:.1}%", x * 100.0),
        None => "n/a (no covered time)".into(),
    }
}
