//! Waiting on the cluster with timeouts, and saying what was seen when a wait times out.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Api;
use kube::api::ListParams;
use soc2_operator::api::{Control, FindingResult};
use tokio::time::Instant;

use super::TestEnv;

/// How often a wait polls.
pub const POLL: Duration = Duration::from_millis(250);
/// How long a wait lasts unless the scenario says otherwise.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// Where the operator publishes Events about cluster-scoped Controls.
pub const EVENTS_NAMESPACE: &str = "default";

/// The condition of `type_` in the Control's status.
pub fn condition<'a>(control: &'a Control, type_: &str) -> Option<&'a Condition> {
    control
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// `(status, reason)` of the condition of `type_`.
pub fn condition_is(control: &Control, type_: &str, status: &str, reason: Option<&str>) -> bool {
    condition(control, type_)
        .is_some_and(|c| c.status == status && reason.is_none_or(|r| c.reason == r))
}

/// True when the status describes the current spec.
pub fn is_current(control: &Control) -> bool {
    control.status.as_ref().and_then(|s| s.observed_generation) == control.metadata.generation
        && control.metadata.generation.is_some()
}

/// `(kind, name, rule)` of every finding in status, of any result.
pub fn findings(control: &Control) -> BTreeSet<(String, String, String)> {
    control
        .status
        .iter()
        .flat_map(|s| s.findings.iter())
        .map(|f| (f.kind.clone(), f.name.clone(), f.rule.clone()))
        .collect()
}

/// `(kind, name, rule)` of the findings with result `result`.
pub fn findings_with(
    control: &Control,
    result: FindingResult,
) -> BTreeSet<(String, String, String)> {
    control
        .status
        .iter()
        .flat_map(|s| s.findings.iter())
        .filter(|f| f.result == result)
        .map(|f| (f.kind.clone(), f.name.clone(), f.rule.clone()))
        .collect()
}

/// Builds the set a scenario expects from `(kind, name, rule)` literals.
pub fn set(items: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    items
        .iter()
        .map(|(k, n, r)| (k.to_string(), n.to_string(), r.to_string()))
        .collect()
}

/// True when an event of `reason` exists, about `related` when given (by name).
pub fn has_event(events: &[Event], reason: &str, related: Option<&str>) -> bool {
    events.iter().any(|e| {
        e.reason.as_deref() == Some(reason)
            && related.is_none_or(|name| {
                e.related
                    .as_ref()
                    .is_some_and(|r| r.name.as_deref() == Some(name))
            })
    })
}

impl TestEnv {
    /// Polls Control `name` every 250 ms until `ready` holds; panics after `timeout` with the Control's status, its
    /// events and the operator's log. `what` says what was awaited.
    pub async fn wait_control(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        ready: impl Fn(&Control) -> bool,
    ) -> Control {
        let api: Api<Control> = Api::all(self.client.clone());
        let deadline = Instant::now() + timeout;
        let mut last_error = None;
        loop {
            match api.get_opt(name).await {
                Ok(Some(control)) if ready(&control) => return control,
                Ok(_) => {}
                Err(e) => last_error = Some(e.to_string()),
            }
            if Instant::now() >= deadline {
                let mut message =
                    format!("timed out after {timeout:?} waiting for Control {name}: {what}");
                if let Some(e) = last_error {
                    let _ = write!(message, "\nlast API error: {e}");
                }
                panic!("{message}\n{}", self.report(name).await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until Control `name`'s status, for its current spec, says `Compliant=<compliant>` with exactly the
    /// `expected` `(kind, name, rule)` findings; panics after `timeout` as [`TestEnv::wait_control`] does.
    pub async fn wait_findings(
        &self,
        name: &str,
        compliant: &str,
        expected: &[(&str, &str, &str)],
        timeout: Duration,
    ) -> Control {
        let expected = set(expected);
        self.wait_control(
            name,
            &format!("Compliant={compliant} with findings {expected:?}"),
            timeout,
            |c| {
                is_current(c)
                    && condition_is(c, "Compliant", compliant, None)
                    && findings(c) == expected
            },
        )
        .await
    }

    /// The Events about Control `name` (events.k8s.io/v1, namespace default, `regarding.name=<name>`).
    pub async fn events(&self, name: &str) -> Result<Vec<Event>, kube::Error> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), EVENTS_NAMESPACE);
        let list = api
            .list(&ListParams::default().fields(&format!("regarding.name={name}")))
            .await?;
        // The field selector matches by name only: keep the events about this Control.
        Ok(list
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("Control"))
            .collect())
    }

    /// Polls the Events about Control `name` until `ready` holds; panics after `timeout` like
    /// [`TestEnv::wait_control`].
    pub async fn wait_events(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        ready: impl Fn(&[Event]) -> bool,
    ) -> Vec<Event> {
        let deadline = Instant::now() + timeout;
        let mut last_error = None;
        loop {
            match self.events(name).await {
                Ok(events) if ready(&events) => return events,
                Ok(_) => {}
                Err(e) => last_error = Some(e.to_string()),
            }
            if Instant::now() >= deadline {
                let mut message = format!(
                    "timed out after {timeout:?} waiting for Events of Control {name}: {what}"
                );
                if let Some(e) = last_error {
                    let _ = write!(message, "\nlast API error: {e}");
                }
                panic!("{message}\n{}", self.report(name).await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Everything that explains a Control's state: its spec and status as YAML, its Events, the operator's log.
    pub async fn report(&self, name: &str) -> String {
        let mut out = String::new();
        let api: Api<Control> = Api::all(self.client.clone());
        match api.get_opt(name).await {
            Ok(Some(control)) => {
                let _ = writeln!(
                    out,
                    "--- Control {name} (generation {:?}, resourceVersion {:?}) ---",
                    control.metadata.generation, control.metadata.resource_version
                );
                let shown = serde_json::json!({ "spec": control.spec, "status": control.status });
                let _ = write!(
                    out,
                    "{}",
                    serde_yaml::to_string(&shown)
                        .unwrap_or_else(|e| format!("(unserializable: {e})\n"))
                );
            }
            Ok(None) => {
                let _ = writeln!(out, "--- Control {name} does not exist ---");
            }
            Err(e) => {
                let _ = writeln!(out, "--- Control {name} could not be read: {e} ---");
            }
        }
        match self.events(name).await {
            Ok(events) => {
                let _ = writeln!(out, "--- {} Events about Control {name} ---", events.len());
                for e in events {
                    let related = e
                        .related
                        .as_ref()
                        .map(|r| {
                            format!(
                                " related={}/{}",
                                r.kind.as_deref().unwrap_or("?"),
                                r.name.as_deref().unwrap_or("?")
                            )
                        })
                        .unwrap_or_default();
                    let count = e.series.as_ref().map(|s| s.count).unwrap_or(1);
                    let _ = writeln!(
                        out,
                        "{} {}{related} x{count}: {}",
                        e.type_.as_deref().unwrap_or("?"),
                        e.reason.as_deref().unwrap_or("?"),
                        e.note.as_deref().unwrap_or("")
                    );
                }
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "--- Events about Control {name} could not be listed: {e} ---"
                );
            }
        }
        out.push_str(&self.operator().describe());
        out
    }

    /// Asserts `condition`, panicking with `message` and the Control's [`TestEnv::report`] otherwise.
    pub async fn check(&self, control: &str, condition: bool, message: impl std::fmt::Display) {
        if !condition {
            panic!("{message}\n{}", self.report(control).await);
        }
    }
}

/// Seconds as shown in notes.
pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}
