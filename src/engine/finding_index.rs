//! A control's findings grouped by the resource they are about: counts, the sorted list and the digest, kept up to
//! date one resource at a time.
//!
//! Both evaluation paths build on it: a full evaluation groups every finding at once; an incremental one replaces
//! the groups of the objects that changed. The digest is a two-level hash (one SHA-256 per resource's findings,
//! then one over the control's header and those hashes in resource order) so that a change re-hashes one group
//! and 32 bytes per resource, not every finding; both paths therefore give the same digest for the same result.
//! A resource's findings are hashed as their JSON (fields in declaration order), written straight into the hash.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::api::{Criterion, FindingResult, Summary};
use crate::checks::Finding;
use crate::engine::canonical::to_canonical_json;
use crate::view::ResourceRef;

const RESULTS: [FindingResult; 4] = [
    FindingResult::Fail,
    FindingResult::Unknown,
    FindingResult::Excepted,
    FindingResult::Notice,
];

fn slot(result: FindingResult) -> usize {
    match result {
        FindingResult::Fail => 0,
        FindingResult::Unknown => 1,
        FindingResult::Excepted => 2,
        FindingResult::Notice => 3,
    }
}

/// One resource's findings, sorted by (result, rule, message, exception) and without duplicates.
#[derive(Clone, Debug)]
struct Group {
    findings: Box<[Arc<Finding>]>,
    digest: [u8; 32],
}

fn group_order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    (a.result, &a.rule, &a.message, &a.exception).cmp(&(
        b.result,
        &b.rule,
        &b.message,
        &b.exception,
    ))
}

impl Group {
    /// A group of findings already sorted by [`group_order`] and without duplicates.
    fn of_sorted(findings: Vec<Finding>) -> Group {
        let mut hasher = Sha256::new();
        // Written straight into the hash: JSON of plain data cannot fail to serialize, and hashing cannot fail to
        // write; an error would only make the digest less specific.
        let _ = serde_json::to_writer(&mut hasher, &findings);
        Group {
            // Into a fresh, exact slice: `collect` into a Vec would reuse the `Vec<Finding>`'s buffer in place, and
            // every group would keep a few hundred bytes per finding alive behind its eight-byte pointers (a third
            // of the heap at 100k objects).
            findings: findings
                .into_iter()
                .map(Arc::new)
                .collect::<Vec<_>>()
                .into_boxed_slice(),
            digest: hasher.finalize().into(),
        }
    }

    fn new(mut findings: Vec<Finding>) -> Group {
        findings.sort_by(group_order);
        findings.dedup();
        Group::of_sorted(findings)
    }
}

/// What a control's header says, hashed ahead of the findings.
#[derive(Serialize)]
struct Header<'a> {
    control: &'a str,
    criteria: &'a [Criterion],
    check: &'a str,
    compliance: crate::engine::evaluate::Compliance,
    summary: &'a Summary,
}

/// Findings by resource, with the worst result per resource identity kept current.
#[derive(Clone, Debug, Default)]
pub struct FindingIndex {
    groups: BTreeMap<ResourceRef, Group>,
    /// Findings per result, by resource identity ([`ResourceRef::identity`]): a resource counts once, by its worst.
    identities: FxHashMap<String, [usize; 4]>,
    /// Identities whose worst result is each of [`RESULTS`].
    worst: [usize; 4],
    /// Findings per result.
    counts: [usize; 4],
}

impl FindingIndex {
    /// Groups `findings` (in any order, duplicates allowed).
    pub fn new(mut findings: Vec<Finding>) -> FindingIndex {
        // One sort, then runs of one resource: no per-finding map key.
        findings.sort_by(|a, b| a.resource.cmp(&b.resource).then_with(|| group_order(a, b)));
        findings.dedup();
        let mut index = FindingIndex::default();
        let mut run: Vec<Finding> = Vec::new();
        for f in findings {
            if run.first().is_some_and(|r| r.resource != f.resource) {
                index.insert_sorted(std::mem::take(&mut run));
            }
            run.push(f);
        }
        if !run.is_empty() {
            index.insert_sorted(run);
        }
        index
    }

    fn insert_sorted(&mut self, findings: Vec<Finding>) {
        let resource = findings[0].resource.clone();
        self.add(resource, Group::of_sorted(findings));
    }

    /// Replaces the findings about `resource` by `findings` (which must all be about it); empty removes them.
    pub fn replace(&mut self, resource: &ResourceRef, findings: Vec<Finding>) {
        self.remove(resource);
        if !findings.is_empty() {
            self.insert(resource.clone(), findings);
        }
    }

    fn insert(&mut self, resource: ResourceRef, findings: Vec<Finding>) {
        self.add(resource, Group::new(findings));
    }

    fn add(&mut self, resource: ResourceRef, group: Group) {
        let counts = self.identities.entry(resource.identity()).or_default();
        let before = worst_of(counts);
        for f in &group.findings {
            counts[slot(f.result)] += 1;
            self.counts[slot(f.result)] += 1;
        }
        let after = worst_of(counts);
        move_worst(&mut self.worst, before, after);
        self.groups.insert(resource, group);
    }

    fn remove(&mut self, resource: &ResourceRef) {
        let Some(group) = self.groups.remove(resource) else {
            return;
        };
        let identity = resource.identity();
        let Some(counts) = self.identities.get_mut(&identity) else {
            return;
        };
        let before = worst_of(counts);
        for f in &group.findings {
            counts[slot(f.result)] -= 1;
            self.counts[slot(f.result)] -= 1;
        }
        let after = worst_of(counts);
        move_worst(&mut self.worst, before, after);
        if after.is_none() {
            self.identities.remove(&identity);
        }
    }

    /// How many findings there are.
    pub fn len(&self) -> usize {
        self.counts.iter().sum()
    }

    /// True when there is no finding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The findings about `resource`.
    pub fn about(&self, resource: &ResourceRef) -> &[Arc<Finding>] {
        self.groups
            .get(resource)
            .map(|g| &g.findings[..])
            .unwrap_or(&[])
    }

    /// The counts of a control that `evaluated` subjects (at least every resource with a finding).
    pub fn summary(&self, evaluated: usize) -> Summary {
        let [failed, unknown, excepted, _] = self.worst;
        let evaluated = evaluated.max(self.identities.len());
        Summary {
            evaluated: clamp(evaluated),
            passed: clamp(evaluated - failed - unknown - excepted),
            failed: clamp(failed),
            excepted: clamp(excepted),
            unknown: clamp(unknown),
        }
    }

    /// Every finding: failures first, then unknowns, excepted failures and notices; by resource within each.
    pub fn sorted(&self) -> Vec<Arc<Finding>> {
        let mut all = Vec::with_capacity(self.len());
        for (i, result) in RESULTS.iter().enumerate() {
            if self.counts[i] == 0 {
                continue;
            }
            for group in self.groups.values() {
                all.extend(
                    group
                        .findings
                        .iter()
                        .filter(|f| f.result == *result)
                        .cloned(),
                );
            }
        }
        all
    }

    /// Lowercase hex SHA-256 of the canonical JSON of the header, followed by each resource's findings hash in
    /// resource order.
    pub fn digest(
        &self,
        control: &str,
        criteria: &[Criterion],
        check: &str,
        compliance: crate::engine::evaluate::Compliance,
        summary: &Summary,
    ) -> String {
        let header = Header {
            control,
            criteria,
            check,
            compliance,
            summary,
        };
        let mut hasher = Sha256::new();
        // Serializing plain data cannot fail; the findings hashes still make the digest specific if it did.
        hasher.update(to_canonical_json(&header).unwrap_or_default());
        for group in self.groups.values() {
            hasher.update(group.digest);
        }
        hex::encode(hasher.finalize())
    }
}

fn worst_of(counts: &[usize; 4]) -> Option<usize> {
    counts.iter().position(|n| *n > 0)
}

fn move_worst(worst: &mut [usize; 4], before: Option<usize>, after: Option<usize>) {
    if before == after {
        return;
    }
    if let Some(b) = before {
        worst[b] -= 1;
    }
    if let Some(a) = after {
        worst[a] += 1;
    }
}

fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::evaluate::Compliance;

    fn r(name: &str) -> ResourceRef {
        ResourceRef::aspect("v1", "Pod", name)
    }

    fn digest(index: &FindingIndex) -> String {
        index.digest(
            "c",
            &[],
            "podSecurity",
            Compliance::NonCompliant,
            &index.summary(0),
        )
    }

    #[test]
    fn a_resource_counts_once_by_its_worst_finding() {
        let index = FindingIndex::new(vec![
            Finding::notice(r("a"), "n", "m"),
            Finding::fail(r("a"), "x", "m"),
            Finding::unknown(r("b"), "u", "m"),
            Finding::notice(r("c"), "n", "m"),
        ]);
        let s = index.summary(10);
        assert_eq!(
            (s.evaluated, s.passed, s.failed, s.unknown, s.excepted),
            (10, 8, 1, 1, 0)
        );
        // Evaluated is never below the resources with findings.
        assert_eq!(index.summary(0).evaluated, 3);
    }

    #[test]
    fn sorted_is_result_major_then_resource_and_drops_duplicates() {
        let index = FindingIndex::new(vec![
            Finding::notice(r("a"), "n", "m"),
            Finding::fail(r("b"), "x", "m"),
            Finding::fail(r("a"), "y", "m"),
            Finding::fail(r("a"), "y", "m"),
        ]);
        let order: Vec<(FindingResult, String)> = index
            .sorted()
            .iter()
            .map(|f| (f.result, f.resource.name.clone()))
            .collect();
        assert_eq!(
            order,
            [
                (FindingResult::Fail, "a".to_string()),
                (FindingResult::Fail, "b".into()),
                (FindingResult::Notice, "a".into())
            ]
        );
        assert_eq!(index.len(), 3);
    }

    #[test]
    fn replacing_a_group_equals_building_from_scratch() {
        let mut index = FindingIndex::new(vec![
            Finding::fail(r("a"), "x", "m"),
            Finding::fail(r("b"), "x", "m"),
        ]);
        index.replace(&r("a"), vec![Finding::unknown(r("a"), "u", "m")]);
        index.replace(&r("b"), vec![]);
        index.replace(&r("c"), vec![Finding::notice(r("c"), "n", "m")]);
        let fresh = FindingIndex::new(vec![
            Finding::notice(r("c"), "n", "m"),
            Finding::unknown(r("a"), "u", "m"),
        ]);
        assert_eq!(index.sorted(), fresh.sorted());
        assert_eq!(index.summary(3), fresh.summary(3));
        assert_eq!(digest(&index), digest(&fresh));
        assert_eq!(index.about(&r("b")).len(), 0);
        assert_eq!(index.about(&r("a")).len(), 1);
    }

    #[test]
    fn the_digest_changes_with_any_finding_and_not_with_order() {
        let a = FindingIndex::new(vec![
            Finding::fail(r("a"), "x", "m"),
            Finding::fail(r("b"), "x", "m"),
        ]);
        let b = FindingIndex::new(vec![
            Finding::fail(r("b"), "x", "m"),
            Finding::fail(r("a"), "x", "m"),
        ]);
        assert_eq!(digest(&a), digest(&b));
        let c = FindingIndex::new(vec![
            Finding::fail(r("a"), "x", "m"),
            Finding::fail(r("b"), "x", "other message"),
        ]);
        assert_ne!(digest(&a), digest(&c));
        // Moving a finding from one resource to another is a different result.
        let d = FindingIndex::new(vec![
            Finding::fail(r("a"), "x", "m"),
            Finding::fail(r("a"), "x", "m2"),
        ]);
        assert_ne!(digest(&a), digest(&d));
        assert_eq!(digest(&a).len(), 64);
    }
}
