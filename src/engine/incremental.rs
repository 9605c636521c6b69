//! Incremental evaluation: after a change, re-run a control's check for the objects that changed, not the cluster.
//!
//! A control whose check judges objects one by one ([`crate::engine::evaluate::subject_kinds`]) keeps, between
//! reconciles, the objects it judged, its findings grouped by resource ([`FindingIndex`]) and the context they were
//! judged in (every other object it reads, the active exceptions). When the next snapshot differs from that only in
//! some judged objects, the check runs again on a snapshot holding just those objects and the context, and their groups
//! are replaced. When context objects that matter only to their own namespace changed too
//! ([`crate::engine::evaluate::namespace_local_context`]: a Namespace's labels, a PodDisruptionBudget, a
//! ServiceAccount), every judged object of those namespaces is judged again, and what the check says about those
//! context objects is replaced. Anything else (the spec, other context, the control's exceptions, an unreadable kind,
//! too many changes, a finding that breaks the one-by-one promise) makes a full evaluation, which primes the state
//! again. Both paths produce the same evaluation: `tests/engine/incremental.rs` compares them after random changes for
//! every control of the library.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use k8s_openapi::jiff::Timestamp;
use rustc_hash::FxHashMap;

use crate::api::ControlSpec;
use crate::checks::{Finding, Part};
use crate::engine::evaluate::{
    Evaluation, conclude, namespace_local_context, related, run_part, subject_kinds,
};
use crate::engine::finding_index::FindingIndex;
use crate::engine::validation::{SpecError, ValidatedControl};
use crate::view::{AnyObject, ClusterSnapshot, Gvk, ResourceKind, ResourceRef};

/// Above this share of its judged objects changed (1 in N), a control is evaluated whole: cheaper than twice the
/// check on a large part of the cluster.
const FULL_ABOVE_ONE_IN: usize = 8;
/// Changes up to this many objects are always applied incrementally.
const ALWAYS_INCREMENTAL: usize = 64;

/// How an evaluation was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Path {
    /// The check ran over everything the control reads, for the reason given.
    Full(&'static str),
    /// Nothing the control reads changed since the last evaluation.
    Unchanged,
    /// The check ran again for this many judged objects: those added, updated or deleted, and those of the
    /// namespaces whose context changed.
    Incremental(usize),
}

impl Path {
    /// The `path` label of `soc2_evaluation_duration_seconds`.
    pub fn label(&self) -> &'static str {
        match self {
            Path::Full(_) => "full",
            Path::Unchanged => "unchanged",
            Path::Incremental(_) => "incremental",
        }
    }
}

/// Everything remembered about one control between two reconciles.
struct State {
    name: String,
    spec: ControlSpec,
    subject_kinds: Vec<ResourceKind>,
    /// The judged objects by address; holding them keeps their addresses from being reused.
    subjects: FxHashMap<usize, Subject>,
    /// Counts updates, to find the judged objects an update did not see (deleted).
    epoch: u64,
    /// Every other object read, held for the same reason, and their addresses by kind.
    context: ClusterSnapshot,
    context_addresses: BTreeMap<ResourceKind, Vec<usize>>,
    dynamic_addresses: BTreeMap<Gvk, Vec<usize>>,
    /// The addresses of the exceptions naming the control, and the keys (namespace/name) of those active when
    /// the state was made. Exceptions for other controls are not this control's context.
    exception_addresses: Vec<usize>,
    active_exceptions: Vec<String>,
    /// Findings (before exceptions) about objects that are not judged one by one: the same whatever changes among
    /// the judged objects, so a re-run for some of them reports them again, and they are left as they are.
    base: BTreeSet<Finding>,
    /// The resources the check's [`Part::Together`] reported on last time, and how many subjects it counted.
    together_refs: BTreeSet<ResourceRef>,
    together_evaluated: usize,
    evaluated: usize,
    /// When the state was last brought up to date, and until when its time-dependent findings hold.
    evaluated_at: Timestamp,
    valid_until: Option<Timestamp>,
    index: FindingIndex,
}

/// Namespaces whose context changed: every judged object in them is judged again.
type Dirty = BTreeSet<String>;

/// A change of namespace-local context: the namespaces it touched, and the context's addresses after it.
struct ContextChange {
    namespaces: Dirty,
    addresses: BTreeMap<ResourceKind, Vec<usize>>,
}

/// A judged object, and the last update that saw it.
struct Subject {
    object: AnyObject,
    seen: u64,
    /// A hash of its namespace: finding a namespace's objects among all judged ones then reads no object (each
    /// read would be a cache miss, and at 100k objects they add up to milliseconds).
    namespace_hash: u64,
}

impl Subject {
    fn new(object: AnyObject, seen: u64) -> Subject {
        let namespace_hash = namespace_hash(object.home_namespace());
        Subject {
            object,
            seen,
            namespace_hash,
        }
    }
}

fn namespace_hash(namespace: Option<&str>) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(namespace)
}

/// One control's incremental evaluator.
#[derive(Default)]
pub struct IncrementalEvaluator {
    state: Option<State>,
}

impl IncrementalEvaluator {
    /// Evaluates `control` named `name` against `view` at `now`, re-running its check only for what changed since
    /// the previous call when that is enough, and says how.
    pub fn evaluate(
        &mut self,
        name: &str,
        control: &ValidatedControl<'_>,
        view: &ClusterSnapshot,
        now: Timestamp,
    ) -> Result<(Evaluation, Path), SpecError> {
        let subjects = subject_kinds(control);
        if subjects.is_empty() {
            self.state = None;
            return crate::engine::evaluate::evaluate(name, control, view, now)
                .map(|e| (e, Path::Full("the check judges the cluster as a whole")));
        }
        // An unreadable context kind is context like any other (its Unknown finding stays as it is); an unreadable
        // judged kind leaves nothing to judge one by one.
        if subjects.iter().any(|k| view.unavailable.contains_key(k)) {
            self.state = None;
            return crate::engine::evaluate::evaluate(name, control, view, now)
                .map(|e| (e, Path::Full("a kind the control judges is unavailable")));
        }
        let reason = match self.state.take() {
            None => "first evaluation",
            Some(state) => match state.reusable(name, control, view, now) {
                Err(reason) => reason,
                Ok(context_change) => {
                    let (state, path) = state.update(control, view, now, context_change)?;
                    match path {
                        Ok(path) => {
                            let evaluation = conclude(name, control, &state.index, state.evaluated);
                            self.state = Some(state);
                            return Ok((evaluation, path));
                        }
                        Err(reason) => reason,
                    }
                }
            },
        };
        let state = State::prime(name, control, view, now, subjects)?;
        let evaluation = conclude(name, control, &state.index, state.evaluated);
        self.state = Some(state);
        Ok((evaluation, Path::Full(reason)))
    }
}

impl State {
    /// A full evaluation, remembered.
    fn prime(
        name: &str,
        control: &ValidatedControl<'_>,
        view: &ClusterSnapshot,
        now: Timestamp,
        subject_kinds: Vec<ResourceKind>,
    ) -> Result<State, SpecError> {
        let report = run_part(control, view, now, Part::OneByOne)?;
        let together = run_part(control, view, now, Part::Together)?;
        let mut subjects = FxHashMap::default();
        let mut judged: HashSet<ResourceRef> = HashSet::new();
        for kind in &subject_kinds {
            for object in view.objects(*kind) {
                judged.insert(object.resource_ref());
                subjects.insert(object.address(), Subject::new(object, 0));
            }
        }
        let base: BTreeSet<Finding> = report
            .findings
            .iter()
            .filter(|f| !judged.contains(&f.resource))
            .cloned()
            .collect();
        let together_refs: BTreeSet<ResourceRef> = together
            .findings
            .iter()
            .map(|f| f.resource.clone())
            .collect();
        let mut findings = report.findings;
        findings.extend(together.findings);
        crate::engine::exceptions::apply(name, &mut findings, view, now);
        let (context_addresses, dynamic_addresses) = context_addresses(view, &subject_kinds);
        Ok(State {
            name: name.to_string(),
            spec: control.spec.clone(),
            context: view.with_only(&subject_kinds, &[]),
            subject_kinds,
            subjects,
            epoch: 0,
            context_addresses,
            dynamic_addresses,
            exception_addresses: exception_addresses(name, view),
            active_exceptions: active_exceptions(name, view, now),
            base,
            together_refs,
            together_evaluated: together.evaluated,
            evaluated: report.evaluated + together.evaluated,
            evaluated_at: now,
            valid_until: report.valid_until,
            index: FindingIndex::new(findings),
        })
    }

    /// `Err(reason)` when anything but the judged objects and namespace-local context differs from what the state
    /// was made from; `Ok(Some(namespaces))` when namespace-local context of those namespaces changed.
    fn reusable(
        &self,
        name: &str,
        control: &ValidatedControl<'_>,
        view: &ClusterSnapshot,
        now: Timestamp,
    ) -> Result<Option<ContextChange>, &'static str> {
        if self.name != name || self.spec != *control.spec {
            return Err("the control changed");
        }
        if self.subject_kinds != subject_kinds(control) {
            return Err("the control changed");
        }
        if self.context.exception_policy != view.exception_policy {
            return Err("the exception policy changed");
        }
        if self.context.unavailable != view.unavailable
            || self.context.dynamic_unavailable != view.dynamic_unavailable
        {
            return Err("a kind the control reads became readable or unreadable");
        }
        let (kinds, dynamic) = context_addresses(view, &self.subject_kinds);
        if dynamic != self.dynamic_addresses {
            return Err("an object the control reads as context changed");
        }
        if exception_addresses(name, view) != self.exception_addresses {
            return Err("an exception for the control changed");
        }
        if active_exceptions(name, view, now) != self.active_exceptions {
            return Err("the active exceptions changed");
        }
        if now < self.evaluated_at {
            return Err("the clock went back");
        }
        if self.valid_until.is_some_and(|until| now > until) {
            return Err("a finding that depends on time may have changed");
        }
        if kinds == self.context_addresses {
            return Ok(None);
        }
        let namespaces = self.changed_namespaces(control, view, &kinds)?;
        Ok(Some(ContextChange {
            namespaces,
            addresses: kinds,
        }))
    }

    /// The namespaces of the context objects that differ between `view` (whose context addresses are `kinds`) and
    /// the remembered context; `Err` when one of them is not namespace-local context.
    fn changed_namespaces(
        &self,
        control: &ValidatedControl<'_>,
        view: &ClusterSnapshot,
        kinds: &BTreeMap<ResourceKind, Vec<usize>>,
    ) -> Result<Dirty, &'static str> {
        let local = namespace_local_context(control);
        let mut dirty = Dirty::new();
        let all: BTreeSet<ResourceKind> = kinds
            .keys()
            .chain(self.context_addresses.keys())
            .copied()
            .collect();
        for kind in all {
            let new = kinds.get(&kind).map(Vec::as_slice).unwrap_or_default();
            let old = self
                .context_addresses
                .get(&kind)
                .map(Vec::as_slice)
                .unwrap_or_default();
            if new == old {
                continue;
            }
            if !local.contains(&kind) {
                return Err("an object the control reads as context changed");
            }
            // Added or updated objects are in the view, removed or replaced ones in the remembered context.
            for (snapshot, other) in [(view, old), (&self.context, new)] {
                for index in 0..snapshot.count(kind) {
                    let Some(address) = snapshot.address_at(kind, index) else {
                        continue;
                    };
                    if other.binary_search(&address).is_ok() {
                        continue;
                    }
                    let object = snapshot.object_at(kind, index);
                    match object.as_ref().and_then(AnyObject::home_namespace) {
                        Some(ns) => {
                            dirty.insert(ns.to_string());
                        }
                        None => return Err("an object the control reads as context changed"),
                    }
                }
            }
        }
        Ok(dirty)
    }

    /// Re-runs the check for the judged objects that changed. The inner `Err(reason)` asks for a full evaluation
    /// (the state is then stale and dropped).
    fn update(
        mut self,
        control: &ValidatedControl<'_>,
        view: &ClusterSnapshot,
        now: Timestamp,
        context_change: Option<ContextChange>,
    ) -> Result<(State, Result<Path, &'static str>), SpecError> {
        let (dirty, new_addresses) = match context_change {
            Some(c) => (Some(c.namespaces), Some(c.addresses)),
            None => (None, None),
        };
        self.evaluated_at = now;
        // Addresses only: the objects themselves are touched only when they changed.
        self.epoch = self.epoch.wrapping_add(1);
        let mut fresh: Vec<AnyObject> = Vec::new();
        let mut matched = 0usize;
        let mut current = 0usize;
        for kind in &self.subject_kinds {
            for index in 0..view.count(*kind) {
                current += 1;
                let Some(address) = view.address_at(*kind, index) else {
                    continue;
                };
                match self.subjects.get_mut(&address) {
                    Some(subject) => {
                        subject.seen = self.epoch;
                        matched += 1;
                    }
                    None => fresh.extend(view.object_at(*kind, index)),
                }
            }
        }
        let gone: Vec<usize> = if matched == self.subjects.len() {
            Vec::new()
        } else {
            self.subjects
                .iter()
                .filter(|(_, s)| s.seen != self.epoch)
                .map(|(a, _)| *a)
                .collect()
        };
        let changed = fresh.len() + gone.len();
        if changed == 0 && dirty.is_none() {
            return Ok((self, Ok(Path::Unchanged)));
        }
        // Unchanged objects in a namespace whose context changed are judged again, in both runs.
        let in_dirty = |ns: Option<&str>| {
            dirty
                .as_ref()
                .is_some_and(|d| ns.is_some_and(|n| d.contains(n)))
        };
        let epoch = self.epoch;
        let dirty_subjects: Vec<AnyObject> = match &dirty {
            Some(d) => {
                let hashes: Vec<u64> = d.iter().map(|n| namespace_hash(Some(n))).collect();
                self.subjects
                    .values()
                    .filter(|s| s.seen == epoch && hashes.contains(&s.namespace_hash))
                    .filter(|s| in_dirty(s.object.home_namespace()))
                    .map(|s| s.object.clone())
                    .collect()
            }
            None => Vec::new(),
        };
        let rejudging = changed + dirty_subjects.len();
        if rejudging > ALWAYS_INCREMENTAL
            && rejudging > current.max(self.subjects.len()) / FULL_ABOVE_ONE_IN
        {
            return Ok((self, Err("many judged objects changed")));
        }
        let mut old: Vec<AnyObject> = gone
            .iter()
            .map(|a| self.subjects[a].object.clone())
            .collect();
        // Unchanged objects judged together with a changed one are re-judged in both runs.
        let changed_objects: Vec<AnyObject> = old.iter().chain(&fresh).cloned().collect();
        let fresh_addresses: HashSet<usize> = fresh.iter().map(AnyObject::address).collect();
        let mut seen: HashSet<usize> = HashSet::new();
        let unchanged: Vec<AnyObject> = related(control, view, &changed_objects)
            .into_iter()
            .chain(dirty_subjects)
            .filter(|o| !fresh_addresses.contains(&o.address()) && seen.insert(o.address()))
            .collect();
        old.extend(unchanged.iter().cloned());
        let mut rejudged = fresh.clone();
        rejudged.extend(unchanged);
        // The old objects as they were judged: with the context remembered, not the view's.
        let old_view = self.context.with_only(&self.subject_kinds, &old);
        let new_view = view.with_only(&self.subject_kinds, &rejudged);
        let old_report = run_part(control, &old_view, now, Part::OneByOne)?;
        let new_report = run_part(control, &new_view, now, Part::OneByOne)?;
        let together = run_part(control, view, now, Part::Together)?;
        let old_refs: HashSet<ResourceRef> = old.iter().map(AnyObject::resource_ref).collect();
        let new_refs: HashSet<ResourceRef> = rejudged.iter().map(AnyObject::resource_ref).collect();
        if !self.only_about(&old_report.findings, &old_refs) {
            return Ok((
                self,
                Err("a finding about another object than the one judged"),
            ));
        }
        let together_refs: BTreeSet<ResourceRef> = together
            .findings
            .iter()
            .map(|f| f.resource.clone())
            .collect();
        let shared = |r: &ResourceRef| {
            old_refs.contains(r)
                || new_refs.contains(r)
                || self.base.iter().any(|b| b.resource == *r)
        };
        if together_refs.iter().chain(&self.together_refs).any(shared) {
            return Ok((
                self,
                Err("the check's findings about all objects share a resource with others"),
            ));
        }
        let Some(evaluated) = (self.evaluated + new_report.evaluated + together.evaluated)
            .checked_sub(old_report.evaluated + self.together_evaluated)
        else {
            return Ok((self, Err("the evaluated count no longer adds up")));
        };
        // What the check says about a context object of a changed namespace replaces what it said before.
        let about_dirty = |r: &ResourceRef| {
            in_dirty(if r.kind == "Namespace" && r.namespace.is_none() {
                Some(r.name.as_str())
            } else {
                r.namespace.as_deref()
            })
        };
        let mut findings: Vec<Finding> = Vec::new();
        let mut dirty_base: Vec<Finding> = Vec::new();
        for f in new_report.findings {
            if new_refs.contains(&f.resource) {
                findings.push(f);
            } else if about_dirty(&f.resource) {
                dirty_base.push(f);
            } else if !self.base.contains(&f) {
                return Ok((
                    self,
                    Err("a finding about another object than the one judged"),
                ));
            }
        }
        let mut cleared: Vec<ResourceRef> = Vec::new();
        if dirty.is_some() {
            self.base.retain(|f| {
                let stale = about_dirty(&f.resource);
                if stale {
                    cleared.push(f.resource.clone());
                }
                !stale
            });
            self.base.extend(dirty_base.iter().cloned());
            findings.extend(dirty_base);
        }
        crate::engine::exceptions::apply(&self.name, &mut findings, &new_view, now);
        let mut together_findings = together.findings;
        crate::engine::exceptions::apply(&self.name, &mut together_findings, view, now);
        let mut by_resource: BTreeMap<ResourceRef, Vec<Finding>> = BTreeMap::new();
        for f in findings.into_iter().chain(together_findings) {
            by_resource.entry(f.resource.clone()).or_default().push(f);
        }
        for r in old_refs.iter().chain(&self.together_refs).chain(&cleared) {
            self.index.replace(r, Vec::new());
        }
        for (r, findings) in by_resource {
            self.index.replace(&r, findings);
        }
        for a in &gone {
            self.subjects.remove(a);
        }
        for object in fresh {
            self.subjects
                .insert(object.address(), Subject::new(object, self.epoch));
        }
        self.evaluated = evaluated;
        if let Some(until) = new_report.valid_until {
            self.valid_until = Some(self.valid_until.map_or(until, |t| t.min(until)));
        }
        self.together_refs = together_refs;
        self.together_evaluated = together.evaluated;
        // Dynamic addresses were found equal: only the typed context moves on.
        if let Some(addresses) = new_addresses {
            self.context = view.with_only(&self.subject_kinds, &[]);
            self.context_addresses = addresses;
        }
        Ok((self, Ok(Path::Incremental(rejudging))))
    }

    /// True when every finding is about one of `judged` or is a base finding.
    fn only_about(&self, findings: &[Finding], judged: &HashSet<ResourceRef>) -> bool {
        findings
            .iter()
            .all(|f| judged.contains(&f.resource) || self.base.contains(f))
    }
}

/// The addresses of every object `view` holds but the judged kinds', by kind and by group/version/kind.
fn context_addresses(
    view: &ClusterSnapshot,
    judged: &[ResourceKind],
) -> (
    BTreeMap<ResourceKind, Vec<usize>>,
    BTreeMap<Gvk, Vec<usize>>,
) {
    let kinds = crate::view::ALL_KINDS
        .iter()
        .filter(|k| !judged.contains(k) && **k != ResourceKind::ControlException)
        .map(|k| (*k, view.addresses(*k)))
        .filter(|(_, a)| !a.is_empty())
        .collect();
    let dynamic = view
        .dynamic
        .iter()
        .map(|(gvk, objects)| {
            let mut a: Vec<usize> = objects
                .iter()
                .map(|o| std::sync::Arc::as_ptr(o) as usize)
                .collect();
            a.sort_unstable();
            (gvk.clone(), a)
        })
        .collect();
    (kinds, dynamic)
}

/// The addresses of the exceptions that name the control, whatever their state.
fn exception_addresses(name: &str, view: &ClusterSnapshot) -> Vec<usize> {
    let mut addresses: Vec<usize> = view
        .control_exceptions
        .iter()
        .filter(|e| e.spec.control == name)
        .map(|e| std::sync::Arc::as_ptr(e) as usize)
        .collect();
    addresses.sort_unstable();
    addresses
}

fn active_exceptions(name: &str, view: &ClusterSnapshot, now: Timestamp) -> Vec<String> {
    let mut keys: Vec<String> = crate::engine::exceptions::active_for(name, view, now)
        .into_iter()
        .map(crate::engine::exceptions::key)
        .collect();
    keys.sort();
    keys
}

/// The incremental evaluators of every control, by control name.
#[derive(Default)]
pub struct Evaluators {
    by_control: Mutex<HashMap<String, IncrementalEvaluator>>,
}

impl Evaluators {
    /// Evaluates `control` named `name` with its evaluator (see [`IncrementalEvaluator::evaluate`]). The
    /// controller never reconciles one control twice at once; two callers for the same name would each get a
    /// correct evaluation, one of them a full one.
    pub fn evaluate(
        &self,
        name: &str,
        control: &ValidatedControl<'_>,
        view: &ClusterSnapshot,
        now: Timestamp,
    ) -> Result<(Evaluation, Path), SpecError> {
        let mut evaluator = self.lock().remove(name).unwrap_or_default();
        let result = evaluator.evaluate(name, control, view, now);
        if result.is_ok() {
            self.lock().insert(name.to_string(), evaluator);
        }
        result
    }

    /// Drops what is remembered of `name` (the control was deleted, or its spec no longer validates).
    pub fn forget(&self, name: &str) {
        self.lock().remove(name);
    }

    /// Drops what is remembered of every control not in `names`.
    pub fn retain(&self, names: &std::collections::BTreeSet<String>) {
        self.lock().retain(|name, _| names.contains(name));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, IncrementalEvaluator>> {
        // The map stays consistent even if a holder panicked: entries are inserted or removed whole.
        self.by_control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
