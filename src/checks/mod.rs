//! The checks: one file per check kind, each declaring everything the rest of the operator must know about it (a
//! [`Check`] impl beside its pure judge function), and [`registered`], the one table from a [`CheckKind`] to its
//! check.
//!
//! A check never talks to the API server, never reads the clock except through its arguments, and never decides
//! whether the control as a whole passes: that is [`crate::engine::evaluate`]'s job. The engine, incremental
//! evaluation, validation, the admission webhook and the docs read a check only through [`registered`]; none of
//! them names a check kind.
//!
//! Adding a check kind: its parameters type and `spec.check` field in [`crate::api`], one file here with its
//! `impl Check`, and one line in [`registered`].

pub mod access_review;
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

use std::marker::PhantomData;

use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use crate::api::FindingResult;
use crate::api::{self, CheckKind};
use crate::engine::validation::SpecError;
use crate::view::{AnyObject, ClusterSnapshot, Reads, ResourceKind, ResourceRef, ScopeMatcher};

/// Everything the operator must know about one check kind, declared in the check's own file: its parameters and
/// their validation, what it reads, what it judges one object at a time, whether it can decide at admission, and the
/// pure judge function. Read through [`registered`], never called by kind.
pub trait Check: 'static {
    /// The `spec.check` field that selects this check.
    const KIND: CheckKind;

    /// Its parameters: the API type under `spec.check.<field>`. A check selected with no parameters runs with the
    /// type's `Default`.
    type Params: Default + 'static;

    /// Its parameters in `spec.check`, when its field is set.
    fn params(check: &crate::api::Check) -> Option<&Self::Params>;

    /// The rules on the parameters that the CRD schema cannot express (selectors compile, durations parse, lists are
    /// not empty); each error names the field and says how to fix it.
    fn validate(params: &Self::Params) -> Result<(), SpecError> {
        let _ = params;
        Ok(())
    }

    /// The typed kinds and group/version/kinds it reads, given its parameters: the live view watches them, and a
    /// change of one of them re-evaluates the control. Namespaces and ControlExceptions are read for every control
    /// and need not be listed.
    fn reads(params: &Self::Params) -> Reads;

    /// The kinds whose objects it judges one by one: what it finds about one of them depends on that object and on
    /// the check's other reads (its context), never on the other objects of these kinds, and is about that object
    /// only (or about a few [`Check::related`] objects, re-judged with it); and the check either does not read the
    /// clock or says until when its findings hold ([`CheckReport::valid_until`]). Incremental evaluation re-judges
    /// only the changed objects of these kinds. Empty (the default) when it judges the cluster as a whole (counts,
    /// coverage, schedules): such a control is re-evaluated whole. Kinds it does not [`Check::reads`] are ignored.
    /// `tests/engine/incremental.rs` proves the promise for every kind listed against full evaluations.
    fn subject_kinds(params: &Self::Params) -> Vec<ResourceKind> {
        let _ = params;
        Vec::new()
    }

    /// The context kinds (read, not judged one by one) whose objects matter only to the judged objects of their own
    /// namespace: a Namespace (its labels select the scope, carry the Pod Security level or the classification), a
    /// workload's ServiceAccount, the PodDisruptionBudgets and NetworkPolicies that cover its pods. When only such
    /// objects change, incremental evaluation judges again the objects of their namespaces instead of the whole
    /// control. Empty (the default) for checks whose judged objects are cluster-scoped or that judge the cluster as a
    /// whole; ignored when [`Check::subject_kinds`] is empty.
    fn namespace_local_context(params: &Self::Params) -> Vec<ResourceKind> {
        let _ = params;
        Vec::new()
    }

    /// The objects of `view` whose findings may change when `changed` (objects of its subject kinds) change, besides
    /// those objects themselves. Empty (the default) for checks that judge each object alone.
    fn related(view: &ClusterSnapshot, changed: &[AnyObject]) -> Vec<AnyObject> {
        let _ = (view, changed);
        Vec::new()
    }

    /// False when the control's scope does not filter the objects it reads by group/version/kind (requiredResources
    /// entries name their namespaces themselves), so that a change of one of them in any namespace re-evaluates it.
    const SCOPED: bool = true;

    /// True when part of what it finds is about its subjects all together (a count against a declared maximum),
    /// judged by [`Check::judge_together`] and re-run whole by incremental evaluation ([`Part::Together`]).
    const JUDGES_TOGETHER: bool = false;

    /// Whether it can decide at admission, and on which kinds. A check can when its verdict on one object depends on
    /// that object alone (and on its Namespace, which the admission snapshot carries); one that needs other objects
    /// is audit-only, with the reason shown in the control's `AdmissionEnforced` condition.
    fn admissibility(params: &Self::Params) -> Admissibility;

    /// The pure judge: what it evaluated and found in `view` within `scope` at `now`, before exceptions.
    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &Self::Params,
        now: Timestamp,
    ) -> CheckReport;

    /// [`Part::OneByOne`]: the judge without its [`Check::judge_together`] part. The whole judge by default.
    fn judge_one_by_one(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &Self::Params,
        now: Timestamp,
    ) -> CheckReport {
        Self::judge(view, scope, params, now)
    }

    /// [`Part::Together`]: what it finds about its subjects all together; only called when
    /// [`Check::JUDGES_TOGETHER`].
    fn judge_together(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &Self::Params,
        now: Timestamp,
    ) -> CheckReport {
        let _ = (view, scope, params, now);
        CheckReport::default()
    }
}

/// The check of each kind: the one registry that evaluation, incremental evaluation, validation, the admission
/// webhook and the docs read. One line per check kind.
pub fn registered(kind: CheckKind) -> &'static dyn RegisteredCheck {
    match kind {
        CheckKind::MfaAccess => Entry::<mfa_access::MfaAccess>::REF,
        CheckKind::ChangeApproval => Entry::<change_approval::ChangeApproval>::REF,
        CheckKind::Logging => Entry::<logging::Logging>::REF,
        CheckKind::RbacLeastPrivilege => Entry::<rbac_least_privilege::RbacLeastPrivilege>::REF,
        CheckKind::EncryptionAtRest => Entry::<encryption_at_rest::EncryptionAtRest>::REF,
        CheckKind::JobHealth => Entry::<job_health::JobHealth>::REF,
        CheckKind::Cel => Entry::<cel::Cel>::REF,
        CheckKind::RequiredResources => Entry::<required_resources::RequiredResources>::REF,
        CheckKind::PodSecurity => Entry::<pod_security::PodSecurity>::REF,
        CheckKind::ImageProvenance => Entry::<image_provenance::ImageProvenance>::REF,
        CheckKind::ServiceAccountHygiene => {
            Entry::<service_account_hygiene::ServiceAccountHygiene>::REF
        }
        CheckKind::Confidentiality => Entry::<confidentiality::Confidentiality>::REF,
        CheckKind::NetworkIsolation => Entry::<network_isolation::NetworkIsolation>::REF,
        CheckKind::Exposure => Entry::<exposure::Exposure>::REF,
        CheckKind::EncryptionInTransit => Entry::<encryption_in_transit::EncryptionInTransit>::REF,
        CheckKind::Availability => Entry::<availability::Availability>::REF,
        CheckKind::Backups => Entry::<backups::Backups>::REF,
        CheckKind::AccessReview => Entry::<access_review::PeriodicAccessReview>::REF,
    }
}

/// Which part of a check to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The whole check.
    All,
    /// What it finds about each of its subject kinds' objects on its own (and about its context): the check
    /// without its [`Part::Together`] part.
    OneByOne,
    /// What it finds about its subjects all together, such as a count against a declared maximum; empty for most
    /// checks. All = OneByOne + Together.
    Together,
}

/// What a check can do at admission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admissibility {
    /// The check decides on one object of these kinds (never empty).
    PerObject(Vec<ResourceKind>),
    /// The check needs more than one object; the reason is shown in the control's `AdmissionEnforced` condition.
    AuditOnly(&'static str),
}

impl Admissibility {
    /// Per object on `kinds` (sorted, without duplicates), or audit-only when the parameters leave no kind.
    pub fn per_object(mut kinds: Vec<ResourceKind>) -> Admissibility {
        kinds.sort();
        kinds.dedup();
        if kinds.is_empty() {
            Admissibility::AuditOnly(
                "the check's parameters name no kind that admission can decide on",
            )
        } else {
            Admissibility::PerObject(kinds)
        }
    }
}

/// A registered check as its callers see it: [`Check`] read from a whole `spec.check`, behind a reference.
pub trait RegisteredCheck: Sync {
    /// [`Check::KIND`].
    fn kind(&self) -> CheckKind;
    /// [`Check::validate`] on the check's parameters in `check`.
    fn validate(&self, check: &api::Check) -> Result<(), SpecError>;
    /// [`Check::reads`].
    fn reads(&self, check: &api::Check) -> Reads;
    /// [`Check::subject_kinds`].
    fn subject_kinds(&self, check: &api::Check) -> Vec<ResourceKind>;
    /// [`Check::namespace_local_context`].
    fn namespace_local_context(&self, check: &api::Check) -> Vec<ResourceKind>;
    /// [`Check::related`].
    fn related(&self, view: &ClusterSnapshot, changed: &[AnyObject]) -> Vec<AnyObject>;
    /// [`Check::SCOPED`].
    fn scoped(&self) -> bool;
    /// [`Check::JUDGES_TOGETHER`].
    fn judges_together(&self) -> bool;
    /// [`Check::admissibility`].
    fn admissibility(&self, check: &api::Check) -> Admissibility;
    /// `part` of the judge ([`Check::judge`], [`Check::judge_one_by_one`] or [`Check::judge_together`]).
    fn judge(
        &self,
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        check: &api::Check,
        now: Timestamp,
        part: Part,
    ) -> CheckReport;
}

/// The registry's entry for `C`.
struct Entry<C>(PhantomData<fn() -> C>);

impl<C: Check> Entry<C> {
    const REF: &'static Entry<C> = &Entry(PhantomData);

    /// Calls `f` with the check's parameters in `check`, or with their default when its field is unset.
    fn with_params<R>(check: &api::Check, f: impl FnOnce(&C::Params) -> R) -> R {
        match C::params(check) {
            Some(params) => f(params),
            None => f(&C::Params::default()),
        }
    }
}

impl<C: Check> RegisteredCheck for Entry<C> {
    fn kind(&self) -> CheckKind {
        C::KIND
    }
    fn validate(&self, check: &api::Check) -> Result<(), SpecError> {
        C::params(check).map_or(Ok(()), C::validate)
    }
    fn reads(&self, check: &api::Check) -> Reads {
        Self::with_params(check, C::reads)
    }
    fn subject_kinds(&self, check: &api::Check) -> Vec<ResourceKind> {
        Self::with_params(check, C::subject_kinds)
    }
    fn namespace_local_context(&self, check: &api::Check) -> Vec<ResourceKind> {
        Self::with_params(check, C::namespace_local_context)
    }
    fn related(&self, view: &ClusterSnapshot, changed: &[AnyObject]) -> Vec<AnyObject> {
        C::related(view, changed)
    }
    fn scoped(&self) -> bool {
        C::SCOPED
    }
    fn judges_together(&self) -> bool {
        C::JUDGES_TOGETHER
    }
    fn admissibility(&self, check: &api::Check) -> Admissibility {
        Self::with_params(check, C::admissibility)
    }
    fn judge(
        &self,
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        check: &api::Check,
        now: Timestamp,
        part: Part,
    ) -> CheckReport {
        Self::with_params(check, |params| match part {
            Part::All => C::judge(view, scope, params, now),
            Part::OneByOne => C::judge_one_by_one(view, scope, params, now),
            Part::Together => C::judge_together(view, scope, params, now),
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Control;
    use crate::engine::validation::validate;

    /// Every control shipped or shown as an example (together they use every check kind) finds, through the
    /// registry, the check of its own kind, and that check finds its parameters.
    #[test]
    fn the_registry_maps_each_kind_to_its_own_check() {
        let mut kinds = std::collections::BTreeSet::new();
        for dir in ["config/controls", "config/samples", "examples/controls"] {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                let Ok(control) = serde_yaml::from_str::<Control>(&text) else {
                    continue; // a kustomization
                };
                let v = validate(&control.spec).unwrap();
                let check = registered(v.kind);
                assert_eq!(check.kind(), v.kind, "{}", path.display());
                check.validate(&control.spec.check).unwrap();
                kinds.insert(v.kind);
            }
        }
        assert!(
            kinds.len() > 10,
            "the library and examples use most check kinds"
        );
    }
}
