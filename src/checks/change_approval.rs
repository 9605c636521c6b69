//! Change approval (CC8.1): every in-scope workload carries evidence that its current state was approved.
//!
//! Two kinds of evidence are accepted. Deployment by a GitOps tool (its field manager in `managedFields`) means the
//! change went through the repository's review; an interactive manager (`kubectl edit`, `kubectl patch`, ...) that
//! wrote after the last GitOps apply is an out-of-band change. Or the workload carries change-ticket, approver and
//! author annotations, with approver and author different people (separation of duties).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Resource;

use super::{CheckReport, Finding, contains};
use crate::api::{ChangeApprovalCheck, WorkloadKind};
use crate::view::{ClusterSnapshot, ResourceKind, ResourceRef, ScopeMatcher};

/// Annotation naming the change ticket that approved the current state.
pub const TICKET_ANNOTATION: &str = "soc2.dev/change-ticket";
/// Annotation naming who approved the change.
pub const APPROVER_ANNOTATION: &str = "soc2.dev/approved-by";
/// Annotation naming who authored the change.
pub const AUTHOR_ANNOTATION: &str = "soc2.dev/author";

/// The snapshot kind holding a workload kind.
pub fn resource_kind(kind: WorkloadKind) -> ResourceKind {
    match kind {
        WorkloadKind::Deployment => ResourceKind::Deployment,
        WorkloadKind::StatefulSet => ResourceKind::StatefulSet,
        WorkloadKind::DaemonSet => ResourceKind::DaemonSet,
        WorkloadKind::CronJob => ResourceKind::CronJob,
        WorkloadKind::Job => ResourceKind::Job,
    }
}

/// Runs the check.
pub fn check(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &ChangeApprovalCheck,
) -> CheckReport {
    let mut report = CheckReport::default();
    let gitops = params.effective_gitops_managers();
    let interactive = params.effective_interactive_managers();
    for kind in params.effective_kinds() {
        let aspect = ResourceRef::aspect("v1", &format!("{kind:?}"), "(all)");
        if report.unknown_if_missing(view, resource_kind(kind), aspect) {
            continue;
        }
        let workloads: Vec<(ResourceRef, &ObjectMeta)> = match kind {
            WorkloadKind::Deployment => refs(&view.deployments),
            WorkloadKind::StatefulSet => refs(&view.stateful_sets),
            WorkloadKind::DaemonSet => refs(&view.daemon_sets),
            WorkloadKind::CronJob => refs(&view.cron_jobs),
            WorkloadKind::Job => refs(&view.jobs),
        };
        for (resource, meta) in workloads {
            if !scope.matches(meta) {
                continue;
            }
            report.evaluated += 1;
            if let Some(finding) = judge(resource, meta, &gitops, &interactive) {
                report.findings.push(finding);
            }
        }
    }
    report
}

fn refs<K: Resource<DynamicType = ()>>(
    objects: &[std::sync::Arc<K>],
) -> Vec<(ResourceRef, &ObjectMeta)> {
    objects
        .iter()
        .map(|o| (ResourceRef::of(o.as_ref()), o.meta()))
        .collect()
}

/// The state of the approval annotations.
enum Annotations {
    Approved,
    Absent,
    Incomplete(Vec<&'static str>),
    SameApproverAndAuthor(String),
}

fn annotations(meta: &ObjectMeta) -> Annotations {
    let get = |key: &str| {
        meta.annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };
    let (ticket, approver, author) = (
        get(TICKET_ANNOTATION),
        get(APPROVER_ANNOTATION),
        get(AUTHOR_ANNOTATION),
    );
    let missing: Vec<&'static str> = [
        (TICKET_ANNOTATION, ticket),
        (APPROVER_ANNOTATION, approver),
        (AUTHOR_ANNOTATION, author),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.is_none().then_some(k))
    .collect();
    match (approver, author) {
        _ if missing.len() == 3 => Annotations::Absent,
        _ if !missing.is_empty() => Annotations::Incomplete(missing),
        (Some(approver), Some(author)) if approver.eq_ignore_ascii_case(author) => {
            Annotations::SameApproverAndAuthor(approver.to_string())
        }
        _ => Annotations::Approved,
    }
}

fn time_of(entry: &ManagedFieldsEntry) -> Option<Timestamp> {
    entry.time.as_ref().map(|t| t.0)
}

fn fmt_time(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "an unrecorded time".to_string(), |t| t.to_string())
}

/// Decides one workload; `None` when it carries approval evidence.
fn judge(
    resource: ResourceRef,
    meta: &ObjectMeta,
    gitops: &[String],
    interactive: &[String],
) -> Option<Finding> {
    let annotations = annotations(meta);
    if matches!(annotations, Annotations::Approved) {
        return None;
    }
    let Some(entries) = meta.managed_fields.as_ref() else {
        return match annotations {
            Annotations::Absent => Some(Finding::unknown(
                resource,
                "managed-fields-unavailable",
                "metadata.managedFields is absent, so GitOps deployment cannot be shown, and the workload has no \
                 approval annotations. (kubectl get hides managedFields unless run with --show-managed-fields.)",
            )),
            other => Some(annotation_finding(resource, other, "")),
        };
    };
    // Status writes by controllers are not changes to the desired state.
    let writes: Vec<&ManagedFieldsEntry> = entries
        .iter()
        .filter(|e| e.subresource.as_deref() != Some("status"))
        .collect();
    let last_gitops = writes
        .iter()
        .filter(|e| e.manager.as_deref().is_some_and(|m| contains(gitops, m)))
        .map(|e| (e.manager.clone().unwrap_or_default(), time_of(e)))
        .max_by_key(|(_, t)| *t);
    let interactive_writes: Vec<(String, Option<Timestamp>)> = writes
        .iter()
        .filter(|e| {
            e.manager
                .as_deref()
                .is_some_and(|m| contains(interactive, m))
        })
        .map(|e| (e.manager.clone().unwrap_or_default(), time_of(e)))
        .collect();

    let Some((gitops_manager, gitops_time)) = last_gitops else {
        let writers: Vec<String> = writes
            .iter()
            .map(|e| {
                format!(
                    "{} at {}",
                    e.manager.as_deref().unwrap_or("(unnamed)"),
                    fmt_time(time_of(e))
                )
            })
            .collect();
        let seen = if writers.is_empty() {
            String::new()
        } else {
            format!(" Written by: {}.", writers.join("; "))
        };
        return Some(annotation_finding(
            resource,
            annotations,
            &format!(
                " It is not managed by a GitOps field manager ({}).{seen}",
                gitops.join(", ")
            ),
        ));
    };
    // A write in the same second as the GitOps apply cannot be shown to precede it: count it as after.
    let out_of_band: Vec<String> = interactive_writes
        .into_iter()
        .filter(|(_, t)| match (t, gitops_time) {
            (Some(t), Some(g)) => *t >= g,
            _ => true,
        })
        .map(|(m, t)| format!("{m} at {}", fmt_time(t)))
        .collect();
    if out_of_band.is_empty() {
        return None;
    }
    Some(Finding::fail(
        resource,
        "out-of-band-change",
        format!(
            "changed out of band by {} after the last GitOps apply by {gitops_manager} at {}, without approval annotations. \
             Revert the change through Git, or record {TICKET_ANNOTATION}, {APPROVER_ANNOTATION} and {AUTHOR_ANNOTATION}.",
            out_of_band.join(", "),
            fmt_time(gitops_time)
        ),
    ))
}

fn annotation_finding(resource: ResourceRef, annotations: Annotations, context: &str) -> Finding {
    match annotations {
        Annotations::SameApproverAndAuthor(who) => Finding::fail(
            resource,
            "separation-of-duties",
            format!(
                "{APPROVER_ANNOTATION} and {AUTHOR_ANNOTATION} are both {who}: a change must be approved by someone other than its author.{context}"
            ),
        ),
        Annotations::Incomplete(missing) => Finding::fail(
            resource,
            "incomplete-approval-annotations",
            format!(
                "approval annotations are incomplete: {} missing or empty.{context}",
                missing.join(", ")
            ),
        ),
        Annotations::Absent | Annotations::Approved => Finding::fail(
            resource,
            "no-approval-evidence",
            format!(
                "no approval evidence: no {TICKET_ANNOTATION}, {APPROVER_ANNOTATION} and {AUTHOR_ANNOTATION} annotations.{context} \
                 Deploy it through GitOps or record the approved change ticket."
            ),
        ),
    }
}
