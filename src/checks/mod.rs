//! The checks: each a pure function from a [`ClusterSnapshot`] and its parameters to a [`CheckReport`].
//!
//! A check never talks to the API server, never reads the clock except through its arguments, and never decides
//! whether the control as a whole passes: that is [`crate::engine::evaluate`]'s job.

pub mod apiserver_flags;
pub mod attestation;
pub mod availability;
pub mod backups;
pub mod cel;
pub mod change_approval;
pub mod confidentiality;
pub mod encryption_at_rest;
pub mod encryption_in_transit;
pub mod exposure;
mod generic_spec;
pub mod image_provenance;
pub mod image_ref;
pub mod job_health;
pub mod logging;
pub mod mfa_access;
pub mod network_isolation;
pub mod network_policy;
pub mod pod_security;
pub mod rbac_least_privilege;
pub mod rbac_privilege;
pub mod required_resources;
pub mod service_account_hygiene;
#[cfg(test)]
mod test_support;
pub mod workload_templates;

use serde::{Deserialize, Serialize};

pub use generic_spec::validate_generic;

pub use crate::api::FindingResult;
use crate::view::{ClusterSnapshot, ResourceKind, ResourceRef};

/// One statement about one resource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The resource the finding is about.
    pub resource: ResourceRef,
    /// Fail, Unknown or Notice.
    pub result: FindingResult,
    /// A stable rule id, e.g. `privileged-binding-to-user`.
    pub rule: String,
    /// What is wrong, where, and what to do.
    pub message: String,
    /// For `Excepted` findings: the ControlException covering it (set by [`crate::engine::exceptions`] only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<crate::api::ExceptionRef>,
}

impl Finding {
    /// A failing finding.
    pub fn fail(resource: ResourceRef, rule: &str, message: impl Into<String>) -> Self {
        Finding {
            resource,
            result: FindingResult::Fail,
            rule: rule.into(),
            message: message.into(),
            exception: None,
        }
    }
    /// A finding the check could not decide.
    pub fn unknown(resource: ResourceRef, rule: &str, message: impl Into<String>) -> Self {
        Finding {
            resource,
            result: FindingResult::Unknown,
            rule: rule.into(),
            message: message.into(),
            exception: None,
        }
    }
    /// A finding reported for attention, not failing.
    pub fn notice(resource: ResourceRef, rule: &str, message: impl Into<String>) -> Self {
        Finding {
            resource,
            result: FindingResult::Notice,
            rule: rule.into(),
            message: message.into(),
            exception: None,
        }
    }
}

/// What a check saw: how many subjects it evaluated and what it found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckReport {
    /// Distinct resources (or cluster aspects) evaluated, whether they pass or not.
    pub evaluated: usize,
    /// Findings; a resource without a Fail or Unknown finding passes.
    pub findings: Vec<Finding>,
    /// For checks that read the clock: the last instant at which these findings still hold with nothing else
    /// changed (a run that is due becomes late after it). `None`: the findings do not change with time alone.
    pub valid_until: Option<k8s_openapi::jiff::Timestamp>,
}

impl CheckReport {
    /// Keeps the earlier of the report's horizon and `until`.
    pub fn holds_until(&mut self, until: k8s_openapi::jiff::Timestamp) {
        self.valid_until = Some(self.valid_until.map_or(until, |t| t.min(until)));
    }
}

impl CheckReport {
    /// Adds an Unknown finding for a kind the snapshot lacks; returns true when the kind is missing.
    pub(crate) fn unknown_if_missing(
        &mut self,
        view: &ClusterSnapshot,
        kind: ResourceKind,
        aspect: ResourceRef,
    ) -> bool {
        match view.require(kind) {
            Ok(()) => false,
            Err(reason) => {
                self.evaluated += 1;
                self.findings.push(Finding::unknown(
                    aspect,
                    "data-unavailable",
                    format!("{} could not be read: {reason}", kind.plural()),
                ));
                true
            }
        }
    }
}

/// True when `list` contains `name` exactly.
pub(crate) fn contains(list: &[String], name: &str) -> bool {
    list.iter().any(|s| s == name)
}
