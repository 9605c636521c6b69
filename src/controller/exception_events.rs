//! The Event a Control deserves when a ControlException covering some of its findings expires. Pure: the
//! controller publishes what this plans, beside the events of [`super::transitions`].

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;

use super::transitions::{PlannedEvent, truncate_note};
use crate::api::{ControlStatus, ExceptionRef, FindingResult, StatusFinding};

fn who(f: &StatusFinding) -> String {
    match &f.namespace {
        Some(ns) => format!("{} {ns}/{}", f.kind, f.name),
        None => format!("{} {}", f.kind, f.name),
    }
}

fn same_resource(a: &StatusFinding, b: &StatusFinding) -> bool {
    (&a.kind, &a.namespace, &a.name) == (&b.kind, &b.namespace, &b.name)
}

/// One Warning `ExceptionExpired` per exception that excepted findings in `previous`, has expired by `now`, and
/// excepts nothing in `new`; the note names the findings that fail again.
pub fn plan_expiries(
    control: &str,
    previous: Option<&ControlStatus>,
    new: &ControlStatus,
    now: Timestamp,
) -> Vec<PlannedEvent> {
    let Some(previous) = previous else {
        return Vec::new();
    };
    let mut expired: BTreeMap<&str, (&ExceptionRef, Vec<&StatusFinding>)> = BTreeMap::new();
    for f in &previous.findings {
        let (FindingResult::Excepted, Some(x)) = (f.result, &f.exception) else {
            continue;
        };
        let ended = x
            .expires_at
            .parse::<Timestamp>()
            .is_ok_and(|expiry| expiry <= now);
        let still_covering = new
            .findings
            .iter()
            .any(|n| n.exception.as_ref().is_some_and(|nx| nx.name == x.name));
        if ended && !still_covering {
            expired.entry(&x.name).or_insert((x, Vec::new())).1.push(f);
        }
    }
    expired
        .into_values()
        .map(|(x, covered)| {
            let failing: Vec<String> = covered
                .iter()
                .filter(|f| {
                    new.findings
                        .iter()
                        .any(|n| n.result == FindingResult::Fail && same_resource(n, f))
                })
                .map(|f| who(f))
                .collect();
            let mut note = format!(
                "ControlException {} (approved by {}, ticket {}) expired at {}; ",
                x.name, x.approved_by, x.ticket, x.expires_at
            );
            if failing.is_empty() {
                note.push_str(&format!(
                    "none of the findings it covered fails control {control} any more"
                ));
            } else {
                note.push_str(&format!(
                    "{} findings of control {control} fail again: {}",
                    failing.len(),
                    failing.join(", ")
                ));
            }
            PlannedEvent {
                warning: true,
                reason: "ExceptionExpired",
                note: truncate_note(note),
                related: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(name: &str, result: FindingResult, exception: Option<&str>) -> StatusFinding {
        StatusFinding {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("web".into()),
            name: name.into(),
            uid: None,
            result,
            rule: "r".into(),
            message: "m".into(),
            since: None,
            exception: exception.map(|expires| ExceptionRef {
                name: "web/legacy".into(),
                approved_by: "ciso".into(),
                ticket: "SEC-1".into(),
                expires_at: expires.into(),
            }),
        }
    }

    fn status(findings: Vec<StatusFinding>) -> ControlStatus {
        ControlStatus {
            findings,
            ..Default::default()
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn expiry_names_the_exception_and_the_findings_failing_again() {
        let before = status(vec![finding(
            "api",
            FindingResult::Excepted,
            Some("2026-06-01T00:00:00Z"),
        )]);
        let after = status(vec![finding("api", FindingResult::Fail, None)]);
        let events = plan_expiries("c", Some(&before), &after, at("2026-06-01T00:00:00Z"));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].reason, "ExceptionExpired");
        assert!(events[0].warning);
        assert!(
            events[0].note.contains("ControlException web/legacy")
                && events[0]
                    .note
                    .contains("1 findings of control c fail again: Deployment web/api"),
            "{}",
            events[0].note
        );
    }

    #[test]
    fn no_event_before_expiry_or_while_still_covering() {
        let before = status(vec![finding(
            "api",
            FindingResult::Excepted,
            Some("2026-06-01T00:00:00Z"),
        )]);
        let after = status(vec![finding("api", FindingResult::Fail, None)]);
        assert!(plan_expiries("c", Some(&before), &after, at("2026-05-31T23:59:59Z")).is_empty());
        // A deleted exception that had not expired is not announced as expired.
        let before_future = status(vec![finding(
            "api",
            FindingResult::Excepted,
            Some("2027-01-01T00:00:00Z"),
        )]);
        assert!(
            plan_expiries(
                "c",
                Some(&before_future),
                &after,
                at("2026-07-01T00:00:00Z")
            )
            .is_empty()
        );
        assert!(plan_expiries("c", None, &after, at("2026-07-01T00:00:00Z")).is_empty());
        let same = before.clone();
        assert!(plan_expiries("c", Some(&before), &same, at("2026-07-01T00:00:00Z")).is_empty());
    }

    #[test]
    fn expiry_after_remediation_says_nothing_fails() {
        let before = status(vec![finding(
            "api",
            FindingResult::Excepted,
            Some("2026-06-01T00:00:00Z"),
        )]);
        let events = plan_expiries(
            "c",
            Some(&before),
            &status(vec![]),
            at("2026-06-02T00:00:00Z"),
        );
        assert!(events[0].note.contains("none of the findings"));
    }
}
