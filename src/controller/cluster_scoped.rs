//! Conditions, status writes and Events of the operator's resources other than Controls (EvidenceStores,
//! AccessReviews and their decisions; ControlExceptions share the conditions), made the same way by each loop.
//!
//! Only the leader writes: a standby's write would race the leader's and flip conditions back and forth, so it is
//! dropped and counted instead.

use std::fmt::Debug;

use k8s_openapi::ClusterResourceScope;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::transitions::truncate_note;
use crate::runtime::leader::Leadership;
use crate::runtime::metrics::Metrics;

/// Longest condition message kept: a condition is read in `kubectl describe`, the full text goes to the Event.
const MESSAGE_LIMIT: usize = 1000;

/// The condition `type_` (True when `ok`), keeping the `lastTransitionTime` of the one of that type in `previous`
/// while its status is unchanged.
pub fn condition(
    type_: &str,
    previous: &[Condition],
    ok: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let status = if ok { "True" } else { "False" };
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or(Time(now), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.chars().take(MESSAGE_LIMIT).collect(),
        observed_generation: generation,
        last_transition_time,
    }
}

/// Server-side applies `status` to the `K` named `name`, as the operator's field manager, when this replica leads.
/// Returns `false` (the write counted as dropped) when it does not.
pub async fn apply_status<K>(
    client: &Client,
    leadership: &Leadership,
    metrics: &Metrics,
    name: &str,
    status: &impl Serialize,
) -> Result<bool, kube::Error>
where
    K: Resource<DynamicType = (), Scope = ClusterResourceScope> + Clone + DeserializeOwned + Debug,
{
    if !leadership.is_leader() {
        metrics.write_dropped();
        return Ok(false);
    }
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    Api::<K>::all(client.clone())
        .patch_status(
            name,
            &PatchParams::apply(crate::OPERATOR_NAME).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(true)
}

/// Publishes an Event about `object` (its note cut to what the Events API accepts); a failure is logged, never
/// returned: an Event is a courtesy, the status is the record.
pub async fn publish<K>(
    recorder: &Recorder,
    metrics: &Metrics,
    object: &K,
    type_: EventType,
    (reason, action): (&str, &str),
    note: &str,
) where
    K: Resource<DynamicType = ()>,
{
    // Name and uid only: with a resourceVersion each Event would name another version of the object, and the
    // recorder would no longer count repeats of the same Event as one series.
    let reference = ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: object.meta().name.clone(),
        uid: object.meta().uid.clone(),
        ..Default::default()
    };
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(truncate_note(note.to_string())),
        action: action.into(),
        secondary: None,
    };
    match recorder.publish(&event, &reference).await {
        Ok(()) => metrics.event_published(reason),
        Err(e) => tracing::warn!(
            kind = %K::kind(&()),
            name = ?object.meta().name,
            error = %e,
            "could not publish event"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_transition_time_while_the_status_holds() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
        let t1: Timestamp = "2026-01-02T00:00:00Z".parse().expect("time");
        let first = condition("Ready", &[], false, "SnapshotFailed", "x", Some(1), t0);
        let again = condition(
            "Ready",
            std::slice::from_ref(&first),
            false,
            "Other",
            "y",
            Some(2),
            t1,
        );
        assert_eq!(again.last_transition_time, Time(t0));
        assert_eq!(
            (again.reason.as_str(), again.message.as_str()),
            ("Other", "y")
        );
        let flipped = condition("Ready", &[again], true, "SnapshotWritten", "z", Some(2), t1);
        assert_eq!(flipped.last_transition_time, Time(t1));
        assert_eq!(flipped.status, "True");
    }

    #[test]
    fn another_type_does_not_lend_its_transition_time() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
        let t1: Timestamp = "2026-01-02T00:00:00Z".parse().expect("time");
        let other = condition("Compliant", &[], true, "R", "m", None, t0);
        let ready = condition("Ready", &[other], true, "R", "m", None, t1);
        assert_eq!(ready.last_transition_time, Time(t1));
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let message = "é".repeat(MESSAGE_LIMIT + 5);
        let c = condition(
            "Ready",
            &[],
            false,
            "R",
            &message,
            None,
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(c.message.chars().count(), MESSAGE_LIMIT);
    }
}
