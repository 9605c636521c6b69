//! OSCAL assessment-results export (OSCAL 1.1): observations (one per control, from its samples) -> findings
//! (one per Trust Services Criterion) -> status; each approved exception is a risk with status
//! `deviation-approved`. Missing data, time not covered and tampered evidence count as not satisfied.
//!
//! Each access review cycle of the period is an observation too, linked to the findings of CC6.2 and CC6.3 (the
//! criteria a periodic access review evidences) and to its record and population by digest; a cycle completed
//! late, overdue, with a revocation past its grace period or with evidence that cannot be read makes them not
//! satisfied.

use serde_json::{Value, json};

use super::report::{CycleReport, Report, access_reviews};
use crate::engine::canonical::sha256_hex;

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

/// The criteria an access review cycle is evidence for.
pub const ACCESS_REVIEW_CRITERIA: [&str; 2] = ["CC6.2", "CC6.3"];

/// One observation per access review cycle.
fn cycle_observations(report: &Report, uuid_of: impl Fn(&CycleReport) -> String) -> Vec<Value> {
    report
        .access_reviews
        .iter()
        .map(|c| {
            let mut description = format!(
                "Access review {} cycle {} ({}): {}. {} of {} subject(s) decided ({} keep, {} revoke); {} \
                 revocation(s) carried out, {} not carried out within the grace period; {} decision item(s) did \
                 not count.",
                c.access_review,
                c.cycle,
                c.state,
                access_reviews::state_line(c),
                c.decided,
                c.subjects,
                c.kept,
                c.revoke,
                c.carried_out,
                c.revocations_overdue,
                c.ignored.len()
            );
            if let Some(p) = &c.population {
                description.push_str(&format!(
                    " Population: {} subject(s), {} with privileged access; {} new, {} widened, {} reduced, {} \
                 removed since {}.",
                    p.subjects,
                    p.privileged,
                    p.new_subjects,
                    p.widened,
                    p.reduced,
                    p.removed,
                    p.baseline
                        .as_deref()
                        .map(|b| format!("baseline cycle {b}"))
                        .unwrap_or_else(|| "no baseline (first cycle)".into())
                ));
            }
            for n in &c.notes {
                description.push_str(&format!(" Note: {n}."));
            }
            let object = |o: &access_reviews::EvidenceObject, what: &str| {
                json!({
                    "href": format!("{}/{}", report.store.trim_end_matches('/'), o.path),
                    "description": format!("{what} (SHA-256 {}; evidence integrity: {})", o.sha256, report.integrity),
                })
            };
            json!({
                "uuid": uuid_of(c),
                "title": format!("Access review {} cycle {}: {}", c.access_review, c.cycle, c.state),
                "description": description,
                "methods": ["EXAMINE"],
                "types": ["control-objective"],
                "collected": c.as_of.clone().unwrap_or_else(|| c.last_listed.clone()),
                "relevant-evidence": [
                    object(&c.record, "the cycle's record: every decision and revocation"),
                    object(&c.population_object, "the cycle's population: who had which access when it opened"),
                ],
            })
        })
        .collect()
}

/// OSCAL control ids are lowercase tokens: `CC6.1` -> `cc6.1`.
fn control_id(criterion: &str) -> String {
    criterion.to_ascii_lowercase()
}

/// Whether the report shows `criterion`'s controls operating as designed: intact evidence whose signatures were
/// checked against a key the auditor trusts (unsigned or unchecked evidence could have been rewritten by anyone
/// with write access), every sample compliant (exceptions applied) with no control missing, and, for Type II, the
/// whole period covered by scheduled samples.
fn satisfied(report: &Report, criterion: &super::report::CriterionReport) -> bool {
    let period = report.kind == "Type I" || report.coverage.complete();
    criterion.samples > 0
        && criterion.every_sample_compliant
        && period
        && report.chain.intact
        && report.chain.signatures_checked
}

/// The assessment-results document for `report`, exported at `report.generated_at`.
pub fn export(report: &Report) -> Value {
    let root = uuid(&[
        "assessment-results",
        &report.store,
        &report.from,
        &report.to,
    ]);
    let plan = uuid(&[&root, "assessment-plan"]);
    let observation_uuid = |control: &str| uuid(&[&root, "observation", control]);
    let risk_uuid = |control: &str, exception: &str| uuid(&[&root, "risk", control, exception]);
    let cycle_uuid = |c: &CycleReport| uuid(&[&root, "access-review", &c.access_review, &c.cycle]);
    let mut observations: Vec<Value> = report
        .controls
        .iter()
        .map(|c| {
            let mut description = format!(
                "Control {} ({}) was sampled {} time(s) between {} and {}; compliant in {} ({} through \
                 exceptions), compliant for {} of covered time.",
                c.control,
                c.title,
                c.samples,
                report.from,
                report.to,
                c.compliant_samples,
                c.excepted_samples,
                super::report::pct(c.compliant_share)
            );
            for w in &c.failing_windows {
                description.push_str(&format!(
                    " Failing from {} {} ({} of {} resources).",
                    w.start,
                    w.end
                        .as_deref()
                        .map(|e| format!("to {e}"))
                        .unwrap_or_else(|| format!("and still at the last sample ({})", w.last_failing_sample)),
                    w.max_failed,
                    w.population
                ));
            }
            for p in &c.not_running {
                description.push_str(&format!(
                    " Did not run from {} to {}: {}.",
                    p.from, p.to, p.reason
                ));
            }
            json!({
                "uuid": observation_uuid(&c.control),
                "title": format!("{}: {}", c.control, c.title),
                "description": description,
                "methods": ["TEST"],
                "types": ["control-objective"],
                "collected": c.timeline.last().map(|s| s.at.clone()).unwrap_or_else(|| report.generated_at.clone()),
                "relevant-evidence": [{
                    "href": report.store,
                    "description": format!(
                        "soc2-operator evidence snapshots (integrity: {}; head sequence {}, SHA-256 {})",
                        report.integrity,
                        report.chain.head_sequence.unwrap_or(0),
                        report.chain.head_digest.as_deref().unwrap_or("none")
                    ),
                }],
            })
        })
        .collect();
    observations.extend(cycle_observations(report, cycle_uuid));
    let risks: Vec<Value> = report
        .controls
        .iter()
        .flat_map(|c| {
            c.exceptions.iter().map(move |e| {
                let mut risk = json!({
                    "uuid": risk_uuid(&c.control, &e.name),
                    "title": format!("Approved exception {} to control {}", e.name, c.control),
                    "description": if e.justification.is_empty() {
                        "(justification not recorded)".to_string()
                    } else {
                        e.justification.clone()
                    },
                    "statement": format!(
                        "Approved by {} (ticket {}); waived findings on {}{} in {} sample(s) from {} to {}; expires {}.{}",
                        e.approved_by,
                        e.ticket,
                        e.waived.join(", "),
                        if e.more_waived > 0 { format!(" and {} more", e.more_waived) } else { String::new() },
                        e.samples,
                        e.first_seen,
                        e.last_seen,
                        e.expires_at,
                        e.after_expiry.as_deref().map(|a| format!(" {a}.")).unwrap_or_default()
                    ),
                    "status": "deviation-approved",
                    "related-observations": [{"observation-uuid": observation_uuid(&c.control)}],
                });
                if e.expires_at.parse::<k8s_openapi::jiff::Timestamp>().is_ok() {
                    risk["deadline"] = Value::String(e.expires_at.clone());
                }
                risk
            })
        })
        .collect();
    let cycles_in_order = report.access_reviews.iter().all(CycleReport::in_order)
        && report.chain.intact
        && report.chain.signatures_checked;
    let reviewed = |criterion: &str| {
        !report.access_reviews.is_empty() && ACCESS_REVIEW_CRITERIA.contains(&criterion)
    };
    let mut findings: Vec<Value> = report
        .criteria
        .iter()
        .map(|k| {
            let state = if satisfied(report, k) && (!reviewed(&k.criterion) || cycles_in_order) {
                "satisfied"
            } else {
                "not-satisfied"
            };
            let mut related: Vec<Value> = k
                .controls
                .iter()
                .map(|c| json!({"observation-uuid": observation_uuid(c)}))
                .collect();
            if reviewed(&k.criterion) {
                related.extend(
                    report
                        .access_reviews
                        .iter()
                        .map(|c| json!({"observation-uuid": cycle_uuid(c)})),
                );
            }
            let related_risks: Vec<Value> = report
                .controls
                .iter()
                .filter(|c| k.controls.contains(&c.control))
                .flat_map(|c| c.exceptions.iter().map(|e| json!({"risk-uuid": risk_uuid(&c.control, &e.name)})))
                .collect();
            let coverage = if report.kind == "Type I" {
                "a Type I statement at one point in time".to_string()
            } else if report.coverage.ad_hoc {
                "ad-hoc snapshots only, which cannot show operation over the period".to_string()
            } else {
                format!(
                    "{} of {} seconds of the period covered, {} interval(s) not covered",
                    report.coverage.covered_seconds,
                    report.coverage.period_seconds,
                    report.coverage.not_covered.len()
                )
            };
            let mut f = json!({
                "uuid": uuid(&[&root, "finding", &k.criterion]),
                "title": format!("Trust Services Criterion {}", k.criterion),
                "description": format!(
                    "{} of {} sample(s) across control(s) {} were compliant (exceptions applied); compliant for {} \
                     of covered time; {coverage}; evidence integrity {}.",
                    k.compliant_samples,
                    k.samples,
                    k.controls.join(", "),
                    super::report::pct(k.compliant_share),
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
            if !related_risks.is_empty() {
                f["related-risks"] = Value::Array(related_risks);
            }
            f
        })
        .collect();
    // A criterion no control maps but access review cycles evidence gets a finding of its own.
    let mut criteria: Vec<String> = report
        .criteria
        .iter()
        .map(|k| k.criterion.clone())
        .collect();
    for criterion in ACCESS_REVIEW_CRITERIA {
        if !reviewed(criterion) || criteria.iter().any(|k| k == criterion) {
            continue;
        }
        criteria.push(criterion.to_string());
        let n = |state: &str| {
            report
                .access_reviews
                .iter()
                .filter(|c| c.state == state)
                .count()
        };
        findings.push(json!({
            "uuid": uuid(&[&root, "finding", criterion]),
            "title": format!("Trust Services Criterion {criterion}"),
            "description": format!(
                "{} access review cycle(s): {} completed on time, {} completed late, {} overdue, {} open, {} \
                 unreadable; {} revocation(s) not carried out within the grace period; evidence integrity {}.",
                report.access_reviews.len(),
                n(access_reviews::COMPLETED),
                n(access_reviews::COMPLETED_LATE),
                n(access_reviews::OVERDUE),
                n(access_reviews::OPEN),
                n(access_reviews::UNREADABLE),
                report.access_reviews.iter().map(|c| c.revocations_overdue).sum::<usize>(),
                report.integrity
            ),
            "target": {
                "type": "objective-id",
                "target-id": control_id(criterion),
                "status": {"state": if cycles_in_order { "satisfied" } else { "not-satisfied" }},
            },
            "related-observations": report
                .access_reviews
                .iter()
                .map(|c| json!({"observation-uuid": cycle_uuid(c)}))
                .collect::<Vec<_>>(),
        }));
    }
    let control_selections: Vec<Value> = if criteria.is_empty() {
        vec![json!({"include-all": {}})]
    } else {
        vec![json!({
            "include-controls": criteria
                .iter()
                .map(|k| json!({"control-id": control_id(k)}))
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
    if !risks.is_empty() {
        result["risks"] = Value::Array(risks);
    }
    if !findings.is_empty() {
        result["findings"] = Value::Array(findings);
    }
    let procedures: Vec<String> = report
        .controls
        .iter()
        .map(|c| {
            format!(
                "{} ({}): {}",
                c.control,
                c.criteria.join(", "),
                c.test_procedure
                    .as_deref()
                    .unwrap_or("evaluated continuously by soc2-operator")
            )
        })
        .collect();
    json!({
        "assessment-results": {
            "uuid": root,
            "metadata": {
                "title": format!("SOC 2 {} assessment results from soc2-operator evidence", report.kind),
                "last-modified": report.generated_at,
                "version": env!("CARGO_PKG_VERSION"),
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": {"href": format!("#{plan}")},
            "results": [result],
            "back-matter": {
                "resources": [{
                    "uuid": plan,
                    "title": "Assessment plan: continuous testing of SOC 2 controls by soc2-operator",
                    "description": format!(
                        "Each control is evaluated by the operator against the live cluster on its interval and \
                         on every change, and snapshotted to the hash-chained evidence store {} on its schedule. \
                         Test procedures: {}",
                        report.store,
                        procedures.join(" | ")
                    ),
                }],
            },
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
