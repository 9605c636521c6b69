//! Which Events a status change deserves: the control's verdict changed, a resource started or stopped failing.
//! Pure: the controller publishes what this plans.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;

use super::status::{COMPLIANT, READY, compliant_status, finding_key, is_failing};
use crate::api::{ControlStatus, FindingResult, StatusFinding};

/// Per reconcile, at most this many per-resource events; the rest are summarised in one event.
pub const MAX_RESOURCE_EVENTS: usize = 10;

/// An event to publish about a Control.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedEvent {
    /// Warning or Normal.
    pub warning: bool,
    /// PascalCase reason.
    pub reason: &'static str,
    /// The human-readable note.
    pub note: String,
    /// The resource concerned, when the event is about one.
    pub related: Option<ObjectReference>,
}

fn reference(f: &StatusFinding) -> ObjectReference {
    ObjectReference {
        api_version: Some(f.api_version.clone()),
        kind: Some(f.kind.clone()),
        namespace: f.namespace.clone(),
        name: Some(f.name.clone()),
        uid: f.uid.clone(),
        ..Default::default()
    }
}

fn who(f: &StatusFinding) -> String {
    match &f.namespace {
        Some(ns) => format!("{} {ns}/{}", f.kind, f.name),
        None => format!("{} {}", f.kind, f.name),
    }
}

/// An Event note as the API server accepts it: events.k8s.io/v1 refuses notes above 1 kB (1024 bytes, not
/// characters), so longer ones are cut at a character boundary to at most 1000 bytes, ending in `...`.
pub fn truncate_note(s: String) -> String {
    if s.len() <= 1000 {
        return s;
    }
    let mut end = 997;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Plans the events for the change from `previous` to `new` of control `name` (criteria listed in `criteria`).
pub fn plan(
    name: &str,
    criteria: &str,
    previous: Option<&ControlStatus>,
    new: &ControlStatus,
) -> Vec<PlannedEvent> {
    let mut events = Vec::new();
    let ready = |s: &ControlStatus| s.conditions.iter().find(|c| c.type_ == READY).cloned();
    let new_ready = ready(new);
    let old_ready = previous.and_then(ready);
    if let Some(r) = &new_ready
        && r.status == "False"
        && old_ready
            .as_ref()
            .is_none_or(|o| o.status != "False" || o.message != r.message)
    {
        events.push(PlannedEvent {
            warning: true,
            reason: "InvalidSpec",
            note: truncate_note(format!("Control {name} cannot be evaluated: {}", r.message)),
            related: None,
        });
        return events;
    }

    let old_verdict = previous.and_then(compliant_status);
    let new_verdict = compliant_status(new);
    if new_verdict != old_verdict {
        let summary = new.summary.unwrap_or_default();
        let message = new
            .conditions
            .iter()
            .find(|c| c.type_ == COMPLIANT)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        match new_verdict {
            Some("True") => events.push(PlannedEvent {
                warning: false,
                reason: "ControlCompliant",
                note: truncate_note(format!("Control {name} ({criteria}) is operating effectively: {message}.")),
                related: None,
            }),
            Some("False") => events.push(PlannedEvent {
                warning: true,
                reason: "ControlFailing",
                note: truncate_note(format!("Control {name} ({criteria}) is not operating effectively: {} of {} resources fail.", summary.failed, summary.evaluated)),
                related: None,
            }),
            Some("Unknown") => events.push(PlannedEvent {
                warning: true,
                reason: "ControlUndetermined",
                note: truncate_note(format!("Control {name} ({criteria}) cannot be determined: {message}.")),
                related: None,
            }),
            _ => {}
        }
    }

    let failing = |s: Option<&ControlStatus>| -> BTreeMap<(String, String, String), StatusFinding> {
        s.map(|s| {
            s.findings
                .iter()
                .filter(|f| is_failing(f))
                .map(|f| (finding_key(f), f.clone()))
                .collect()
        })
        .unwrap_or_default()
    };
    let before = failing(previous);
    let after = failing(Some(new));
    let mut resource_events: Vec<PlannedEvent> = Vec::new();
    for (key, f) in &after {
        if !before.contains_key(key) {
            resource_events.push(PlannedEvent {
                warning: true,
                reason: "ResourceFailing",
                note: truncate_note(format!(
                    "{} fails control {name} ({criteria}): {}",
                    who(f),
                    f.message
                )),
                related: Some(reference(f)),
            });
        }
    }
    // A finding that left status only because status is truncated did not stop failing: only count it when
    // the status is complete.
    if new.findings_truncated.is_none() {
        for (key, f) in &before {
            if after.contains_key(key) {
                continue;
            }
            // Waived rather than fixed: say so, naming the exception, instead of claiming remediation.
            let waived = new.findings.iter().find(|n| {
                n.result == FindingResult::Excepted
                    && (&n.kind, &n.namespace, &n.name, &n.rule)
                        == (&f.kind, &f.namespace, &f.name, &f.rule)
            });
            if let Some(x) = waived.and_then(|n| n.exception.as_ref()) {
                resource_events.push(PlannedEvent {
                    warning: false,
                    reason: "ResourceExcepted",
                    note: truncate_note(format!(
                        "{} still fails control {name} ({criteria}) rule {}, but ControlException {} (approved by {}, ticket {}) waives it until {}",
                        who(f),
                        f.rule,
                        x.name,
                        x.approved_by,
                        x.ticket,
                        x.expires_at
                    )),
                    related: Some(reference(f)),
                });
                continue;
            }
            resource_events.push(PlannedEvent {
                warning: false,
                reason: "ResourceRemediated",
                note: truncate_note(format!(
                    "{} no longer fails control {name} ({criteria}) rule {}",
                    who(f),
                    f.rule
                )),
                related: Some(reference(f)),
            });
        }
    }
    let extra = resource_events.len().saturating_sub(MAX_RESOURCE_EVENTS);
    resource_events.truncate(MAX_RESOURCE_EVENTS);
    events.extend(resource_events);
    if extra > 0 {
        events.push(PlannedEvent {
            warning: true,
            reason: "ManyResourcesChanged",
            note: format!("{extra} more resources started or stopped failing control {name}; see its status or evidence"),
            related: None,
        });
    }
    events
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use k8s_openapi::jiff::Timestamp;

    use super::*;
    use crate::api::{FindingResult, Summary};

    fn finding(name: &str, result: FindingResult) -> StatusFinding {
        StatusFinding {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("web".into()),
            name: name.into(),
            uid: Some(format!("uid-{name}")),
            result,
            rule: "out-of-band-change".into(),
            message: format!("{name} was edited"),
            since: None,
            exception: None,
        }
    }

    fn status(compliant: &str, findings: Vec<StatusFinding>) -> ControlStatus {
        let c = |t: &str, s: &str| Condition {
            type_: t.into(),
            status: s.into(),
            reason: "R".into(),
            message: "m".into(),
            observed_generation: None,
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
        };
        ControlStatus {
            conditions: vec![c(READY, "True"), c(COMPLIANT, compliant)],
            summary: Some({
                let failed = findings
                    .iter()
                    .filter(|f| f.result == FindingResult::Fail)
                    .count() as u32;
                Summary {
                    evaluated: 3.max(failed),
                    passed: 3u32.saturating_sub(failed),
                    failed,
                    excepted: 0,
                    unknown: 0,
                }
            }),
            findings,
            ..Default::default()
        }
    }

    fn reasons(events: &[PlannedEvent]) -> Vec<&'static str> {
        events.iter().map(|e| e.reason).collect()
    }

    #[test]
    fn first_failure_announces_control_and_resources() {
        let new = status(
            "False",
            vec![
                finding("api", FindingResult::Fail),
                finding("x", FindingResult::Notice),
            ],
        );
        let events = plan("change-approval", "CC8.1", None, &new);
        assert_eq!(reasons(&events), ["ControlFailing", "ResourceFailing"]);
        assert!(
            events[0].warning
                && events[0].note.contains("CC8.1")
                && events[0].note.contains("1 of 3")
        );
        assert_eq!(
            events[1].related.as_ref().unwrap().name.as_deref(),
            Some("api")
        );
        assert!(
            events[1]
                .note
                .contains("Deployment web/api fails control change-approval")
        );
    }

    #[test]
    fn nothing_changed_means_no_events() {
        let s = status("False", vec![finding("api", FindingResult::Fail)]);
        assert!(plan("c", "CC8.1", Some(&s), &s).is_empty());
    }

    #[test]
    fn remediation_is_announced() {
        let before = status("False", vec![finding("api", FindingResult::Fail)]);
        let after = status("True", vec![]);
        let events = plan("c", "CC8.1", Some(&before), &after);
        assert_eq!(reasons(&events), ["ControlCompliant", "ResourceRemediated"]);
        assert!(events.iter().all(|e| !e.warning));
    }

    #[test]
    fn an_exception_is_announced_as_a_waiver_not_a_remediation() {
        let before = status("False", vec![finding("api", FindingResult::Fail)]);
        let mut waived = finding("api", FindingResult::Excepted);
        waived.exception = Some(crate::api::ExceptionRef {
            name: "web/legacy".into(),
            approved_by: "ciso".into(),
            ticket: "SEC-1".into(),
            expires_at: "2027-01-01T00:00:00Z".into(),
        });
        let after = status("True", vec![waived]);
        let events = plan("c", "CC8.1", Some(&before), &after);
        assert_eq!(reasons(&events), ["ControlCompliant", "ResourceExcepted"]);
        assert!(
            events[1].note.contains("ControlException web/legacy")
                && events[1].note.contains("until 2027-01-01T00:00:00Z"),
            "{}",
            events[1].note
        );
    }

    #[test]
    fn truncated_status_does_not_claim_remediation() {
        let before = status(
            "False",
            vec![
                finding("a", FindingResult::Fail),
                finding("b", FindingResult::Fail),
            ],
        );
        let mut after = status("False", vec![finding("a", FindingResult::Fail)]);
        after.findings_truncated = Some(5);
        assert!(plan("c", "CC8.1", Some(&before), &after).is_empty());
    }

    #[test]
    fn resource_events_are_capped_with_a_summary() {
        let many: Vec<StatusFinding> = (0..25)
            .map(|i| finding(&format!("d{i}"), FindingResult::Fail))
            .collect();
        let events = plan(
            "c",
            "CC8.1",
            Some(&status("False", vec![])),
            &status("False", many),
        );
        assert_eq!(events.len(), MAX_RESOURCE_EVENTS + 1);
        assert_eq!(events.last().unwrap().reason, "ManyResourcesChanged");
        assert!(events.last().unwrap().note.starts_with("15 more"));
    }

    #[test]
    fn invalid_spec_is_announced_once_per_message() {
        let mut bad = status("Unknown", vec![]);
        bad.conditions[0].status = "False".into();
        bad.conditions[0].message = "spec.check: no check kind is set".into();
        let events = plan("c", "CC8.1", Some(&status("True", vec![])), &bad);
        assert_eq!(reasons(&events), ["InvalidSpec"]);
        assert!(plan("c", "CC8.1", Some(&bad), &bad).is_empty());
    }

    #[test]
    fn long_notes_are_cut_at_a_char_boundary() {
        let mut f = finding("api", FindingResult::Fail);
        f.message = "é".repeat(800);
        let events = plan(
            "c",
            "CC8.1",
            Some(&status("False", vec![])),
            &status("False", vec![f]),
        );
        assert!(events[0].note.len() <= 1000 && events[0].note.ends_with("..."));
    }

    #[test]
    fn notes_are_limited_in_bytes_as_the_api_server_counts() {
        // 1000 characters of two bytes each: 2000 bytes, which events.k8s.io/v1 refuses (1 kB).
        let cut = truncate_note("é".repeat(1000));
        assert!(cut.len() <= 1000, "{} bytes", cut.len());
        assert!(cut.ends_with("...") && cut.starts_with("éé"));
        let short = "ok".to_string();
        assert_eq!(truncate_note(short.clone()), short);
    }
}
