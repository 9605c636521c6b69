//! Which Events a status change deserves: the control's verdict changed, a resource started or stopped failing.
//! Pure: the controller publishes what this plans.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;

use super::status::{COMPLIANT, READY, compliant_status, finding_key, is_failing};
use crate::api::{ControlStatus, StatusFinding};

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

fn truncate(s: String) -> String {
    // events.k8s.io notes are limited to 1 kB.
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
            note: truncate(format!("Control {name} cannot be evaluated: {}", r.message)),
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
                note: truncate(format!("Control {name} ({criteria}) is operating effectively: {message}.")),
                related: None,
            }),
            Some("False") => events.push(PlannedEvent {
                warning: true,
                reason: "ControlFailing",
                note: truncate(format!("Control {name} ({criteria}) is not operating effectively: {} of {} resources fail.", summary.failed, summary.evaluated)),
                related: None,
            }),
            Some("Unknown") => events.push(PlannedEvent {
                warning: true,
                reason: "ControlUndetermined",
                note: truncate(format!("Control {name} ({criteria}) cannot be determined: {message}.")),
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
                note: truncate(format!(
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
            if !after.contains_key(key) {
                resource_events.push(PlannedEvent {
                    warning: false,
                    reason: "ResourceRemediated",
                    note: truncate(format!(
                        "{} no longer fails control {name} ({criteria}) rule {}",
                        who(f),
                        f.rule
                    )),
                    related: Some(reference(f)),
                });
            }
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
