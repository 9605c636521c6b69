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
use crate::view::{ClusterSnapshot, ResourceRef, ScopeMatcher};

/// Annotation naming the change ticket that approved the current state.
pub const TICKET_ANNOTATION: &str = "soc2.dev/change-ticket";
/// Annotation naming who approved the change.
pub const APPROVER_ANNOTATION: &str = "soc2.dev/approved-by";
/// Annotation naming who authored the change.
pub const AUTHOR_ANNOTATION: &str = "soc2.dev/author";

use super::Admissibility;
use super::Check;
use crate::api::CheckKind;
use crate::view::Reads;
use crate::view::ResourceKind;
pub use crate::view::workloads::resource_kind;

/// The apiVersion of a workload kind.
fn api_version(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Deployment | WorkloadKind::StatefulSet | WorkloadKind::DaemonSet => "apps/v1",
        WorkloadKind::CronJob | WorkloadKind::Job => "batch/v1",
        WorkloadKind::Pod => "v1",
    }
}

/// The kinds the check judges, each object on its own: the workload kinds it is configured for.
pub fn judged_kinds(params: &ChangeApprovalCheck) -> Vec<crate::view::ResourceKind> {
    params
        .effective_kinds()
        .into_iter()
        .map(resource_kind)
        .collect()
}

/// The change approval check (`spec.check.changeApproval`).
pub struct ChangeApproval;

impl Check for ChangeApproval {
    const KIND: CheckKind = CheckKind::ChangeApproval;
    type Params = ChangeApprovalCheck;

    fn params(check: &crate::api::Check) -> Option<&ChangeApprovalCheck> {
        check.change_approval.as_ref()
    }

    fn reads(params: &ChangeApprovalCheck) -> Reads {
        Reads::kinds(&judged_kinds(params))
    }

    fn subject_kinds(params: &ChangeApprovalCheck) -> Vec<ResourceKind> {
        judged_kinds(params)
    }

    fn namespace_local_context(_: &ChangeApprovalCheck) -> Vec<ResourceKind> {
        vec![ResourceKind::Namespace]
    }

    fn admissibility(params: &ChangeApprovalCheck) -> Admissibility {
        Admissibility::PerObject(judged_kinds(params))
    }

    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &ChangeApprovalCheck,
        _: Timestamp,
    ) -> CheckReport {
        check(view, scope, params)
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
        let aspect = ResourceRef::aspect(api_version(kind), &format!("{kind:?}"), "(all)");
        if report.unknown_if_missing(view, resource_kind(kind), aspect) {
            continue;
        }
        match kind {
            WorkloadKind::Deployment => {
                judge_all(&view.deployments, scope, &gitops, &interactive, &mut report)
            }
            WorkloadKind::StatefulSet => judge_all(
                &view.stateful_sets,
                scope,
                &gitops,
                &interactive,
                &mut report,
            ),
            WorkloadKind::DaemonSet => {
                judge_all(&view.daemon_sets, scope, &gitops, &interactive, &mut report)
            }
            WorkloadKind::CronJob => {
                judge_all(&view.cron_jobs, scope, &gitops, &interactive, &mut report)
            }
            WorkloadKind::Job => judge_all(&view.jobs, scope, &gitops, &interactive, &mut report),
            WorkloadKind::Pod => judge_all(&view.pods, scope, &gitops, &interactive, &mut report),
        }
    }
    report
}

/// Judges the in-scope `objects` of one kind. The finding's ResourceRef is built only for a finding: most
/// workloads pass.
fn judge_all<K: Resource<DynamicType = ()>>(
    objects: &[std::sync::Arc<K>],
    scope: &ScopeMatcher,
    gitops: &[String],
    interactive: &[String],
    report: &mut CheckReport,
) {
    for o in objects {
        let meta = o.meta();
        if !scope.matches(meta) {
            continue;
        }
        report.evaluated += 1;
        if let Some(finding) = judge(|| ResourceRef::of(o.as_ref()), meta, gitops, interactive) {
            report.findings.push(finding);
        }
    }
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
        (Some(approver), Some(author)) if same_person(approver, author) => {
            Annotations::SameApproverAndAuthor(approver.to_string())
        }
        _ => Annotations::Approved,
    }
}

/// Case-insensitive comparison of two names, beyond ASCII: `Jörg` and `JÖRG` are the same person. Upper- then
/// lower-casing each character approximates Unicode case folding (`ς`, `σ` and `Σ` agree, so do `ß` and `SS`).
fn same_person(a: &str, b: &str) -> bool {
    let fold = |s: &str| {
        s.chars()
            .flat_map(char::to_uppercase)
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    a.eq_ignore_ascii_case(b) || fold(a) == fold(b)
}

fn time_of(entry: &ManagedFieldsEntry) -> Option<Timestamp> {
    entry.time.as_ref().map(|t| t.0)
}

fn fmt_time(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "an unrecorded time".to_string(), |t| t.to_string())
}

/// Decides one workload; `None` when it carries approval evidence.
fn judge(
    resource: impl FnOnce() -> ResourceRef,
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
                resource(),
                "managed-fields-unavailable",
                "metadata.managedFields is absent, so GitOps deployment cannot be shown, and the workload has no \
                 approval annotations. (kubectl get hides managedFields unless run with --show-managed-fields.)",
            )),
            other => Some(annotation_finding(resource(), other, "")),
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
        // Times only for interactive writes: controllers (kube-controller-manager updating the revision
        // annotation, say) write often, and their times would change the finding, and the evidence digest,
        // without any change in what is approved.
        let mut writers: Vec<String> = writes
            .iter()
            .map(|e| {
                let manager = e
                    .manager
                    .as_deref()
                    .filter(|m| !m.is_empty())
                    .unwrap_or("(unnamed)");
                if contains(interactive, manager) {
                    format!("{manager} at {}", fmt_time(time_of(e)))
                } else {
                    manager.to_string()
                }
            })
            .collect();
        writers.sort();
        writers.dedup();
        let seen = if writers.is_empty() {
            String::new()
        } else {
            format!(" Written by: {}.", writers.join("; "))
        };
        return Some(annotation_finding(
            resource(),
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
        resource(),
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

#[cfg(test)]
mod tests {
    use crate::checks::test_support::*;
    use crate::view::ResourceKind;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use crate::view::stored::{CronJob, DaemonSet, Deployment, Job, StatefulSet};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::api::Scope;
    use crate::checks::FindingResult::{self, Fail, Unknown};

    // ---- object builders -------------------------------------------------------------------------------------

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// A managedFields entry by `manager` at `time` (RFC 3339) on `subresource`.
    fn entry(manager: &str, time: Option<&str>, subresource: Option<&str>) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            api_version: Some("apps/v1".into()),
            fields_type: Some("FieldsV1".into()),
            manager: Some(manager.into()),
            operation: Some("Update".into()),
            subresource: subresource.map(str::to_string),
            time: time.map(|t| Time(ts(t))),
            ..Default::default()
        }
    }

    fn write(manager: &str, time: &str) -> ManagedFieldsEntry {
        entry(manager, Some(time), None)
    }

    fn argocd(time: &str) -> ManagedFieldsEntry {
        write("argocd-controller", time)
    }

    const T0: &str = "2026-05-01T12:00:00Z";
    const BEFORE: &str = "2026-05-01T11:59:59Z";
    const AFTER: &str = "2026-05-01T12:00:01Z";

    /// Metadata of a workload in `team-a`.
    fn wmeta(
        name: &str,
        annotations: &[(&str, &str)],
        managed_fields: Option<Vec<ManagedFieldsEntry>>,
    ) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("team-a".into()),
            uid: None,
            annotations: (!annotations.is_empty()).then(|| {
                annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>()
            }),
            managed_fields,
            ..Default::default()
        }
    }

    fn gitops_meta(name: &str) -> ObjectMeta {
        wmeta(name, &[], Some(vec![argocd(T0)]))
    }

    fn approved(ticket: &str, approver: &str, author: &str) -> [(&'static str, String); 3] {
        [
            (TICKET_ANNOTATION, ticket.to_string()),
            (APPROVER_ANNOTATION, approver.to_string()),
            (AUTHOR_ANNOTATION, author.to_string()),
        ]
    }

    fn with_annotations(name: &str, annotations: &[(&'static str, String)]) -> ObjectMeta {
        let pairs: Vec<(&str, &str)> = annotations.iter().map(|(k, v)| (*k, v.as_str())).collect();
        wmeta(name, &pairs, None)
    }

    fn deployment(metadata: ObjectMeta) -> Arc<Deployment> {
        Arc::new(Deployment {
            metadata,
            ..Default::default()
        })
    }

    fn stateful_set(metadata: ObjectMeta) -> Arc<StatefulSet> {
        Arc::new(StatefulSet {
            metadata,
            ..Default::default()
        })
    }

    fn daemon_set(metadata: ObjectMeta) -> Arc<DaemonSet> {
        Arc::new(DaemonSet {
            metadata,
            ..Default::default()
        })
    }

    fn cron_job(metadata: ObjectMeta) -> Arc<CronJob> {
        Arc::new(CronJob {
            metadata,
            ..Default::default()
        })
    }

    fn job(metadata: ObjectMeta) -> Arc<Job> {
        Arc::new(Job {
            metadata,
            ..Default::default()
        })
    }

    fn deployments(metas: Vec<ObjectMeta>) -> ClusterSnapshot {
        ClusterSnapshot {
            deployments: metas.into_iter().map(deployment).collect(),
            ..Default::default()
        }
    }

    /// One workload of each default kind (and a Job), all with `metadata` renamed per kind.
    fn every_kind(metadata: &ObjectMeta) -> ClusterSnapshot {
        let named = |name: &str| ObjectMeta {
            name: Some(name.into()),
            ..metadata.clone()
        };
        ClusterSnapshot {
            deployments: vec![deployment(named("deploy"))],
            stateful_sets: vec![stateful_set(named("sts"))],
            daemon_sets: vec![daemon_set(named("ds"))],
            cron_jobs: vec![cron_job(named("cron"))],
            jobs: vec![job(named("job"))],
            ..Default::default()
        }
    }

    // ---- running and asserting -------------------------------------------------------------------------------

    fn run(view: &ClusterSnapshot, params: &ChangeApprovalCheck) -> CheckReport {
        check(view, &ScopeMatcher::new(None, view).unwrap(), params)
    }

    fn run_default(view: &ClusterSnapshot) -> CheckReport {
        run(view, &ChangeApprovalCheck::default())
    }

    // ---- GitOps evidence -------------------------------------------------------------------------------------

    #[test]
    fn gitops_managed_workloads_of_every_default_kind_pass() {
        let view = every_kind(&gitops_meta("x"));
        assert_report(&run_default(&view), 4, &[]);
    }

    #[test]
    fn every_default_gitops_manager_counts() {
        let view = deployments(vec![
            wmeta("argo", &[], Some(vec![write("argocd-controller", T0)])),
            wmeta("flux", &[], Some(vec![write("kustomize-controller", T0)])),
            wmeta("helm", &[], Some(vec![write("helm-controller", T0)])),
        ]);
        assert_report(&run_default(&view), 3, &[]);
    }

    #[test]
    fn interactive_write_after_the_gitops_apply_fails_for_every_default_kind() {
        let view = every_kind(&wmeta(
            "x",
            &[],
            Some(vec![argocd(T0), write("kubectl-edit", AFTER)]),
        ));
        let report = run_default(&view);
        assert_report(
            &report,
            4,
            &[
                ("Deployment team-a/deploy", Fail, "out-of-band-change"),
                ("StatefulSet team-a/sts", Fail, "out-of-band-change"),
                ("DaemonSet team-a/ds", Fail, "out-of-band-change"),
                ("CronJob team-a/cron", Fail, "out-of-band-change"),
            ],
        );
        for f in &report.findings {
            assert!(
                f.message.contains("kubectl-edit at 2026-05-01T12:00:01Z"),
                "{}",
                f.message
            );
            assert!(
                f.message
                    .contains("argocd-controller at 2026-05-01T12:00:00Z"),
                "{}",
                f.message
            );
        }
        let by_kind: BTreeMap<&str, &str> = report
            .findings
            .iter()
            .map(|f| (f.resource.kind.as_str(), f.resource.api_version.as_str()))
            .collect();
        assert_eq!(
            by_kind,
            BTreeMap::from([
                ("CronJob", "batch/v1"),
                ("DaemonSet", "apps/v1"),
                ("Deployment", "apps/v1"),
                ("StatefulSet", "apps/v1"),
            ])
        );
    }

    #[test]
    fn interactive_write_in_the_same_second_as_the_gitops_apply_fails() {
        let view = deployments(vec![wmeta(
            "web",
            &[],
            Some(vec![argocd(T0), write("kubectl-patch", T0)]),
        )]);
        let report = run_default(&view);
        assert_report(
            &report,
            1,
            &[("Deployment team-a/web", Fail, "out-of-band-change")],
        );
        assert!(message(&report).contains("kubectl-patch at 2026-05-01T12:00:00Z"));
    }

    #[test]
    fn interactive_write_strictly_before_the_gitops_apply_passes() {
        let view = every_kind(&wmeta(
            "x",
            &[],
            Some(vec![write("kubectl-edit", BEFORE), argocd(T0)]),
        ));
        assert_report(&run_default(&view), 4, &[]);
    }

    #[test]
    fn only_the_last_gitops_apply_counts() {
        let view = deployments(vec![
            wmeta(
                "fixed-by-resync",
                &[],
                Some(vec![
                    argocd("2026-05-01T10:00:00Z"),
                    write("kubectl-scale", "2026-05-01T11:00:00Z"),
                    argocd("2026-05-01T12:00:00Z"),
                ]),
            ),
            wmeta(
                "drifted",
                &[],
                Some(vec![
                    // Entry order does not matter, times do.
                    write("kubectl-set", "2026-05-01T13:00:00Z"),
                    argocd("2026-05-01T12:00:00Z"),
                    write("helm-controller", "2026-05-01T09:00:00Z"),
                ]),
            ),
        ]);
        let report = run_default(&view);
        assert_report(
            &report,
            2,
            &[("Deployment team-a/drifted", Fail, "out-of-band-change")],
        );
        assert!(message(&report).contains("argocd-controller at 2026-05-01T12:00:00Z"));
    }

    #[test]
    fn every_out_of_band_writer_is_named() {
        let view = deployments(vec![wmeta(
            "web",
            &[],
            Some(vec![
                write("kubectl-edit", BEFORE),
                argocd(T0),
                write("kubectl-label", AFTER),
                write("kubectl-annotate", "2026-05-02T00:00:00Z"),
            ]),
        )]);
        let report = run_default(&view);
        let m = message(&report);
        assert!(m.contains("kubectl-label at 2026-05-01T12:00:01Z"), "{m}");
        assert!(
            m.contains("kubectl-annotate at 2026-05-02T00:00:00Z"),
            "{m}"
        );
        assert!(!m.contains("kubectl-edit"), "{m}");
    }

    #[test]
    fn status_subresource_writes_are_ignored() {
        let view = deployments(vec![wmeta(
            "web",
            &[],
            Some(vec![
                argocd(T0),
                entry("kubectl-edit", Some(AFTER), Some("status")),
                entry("kube-controller-manager", Some(AFTER), Some("status")),
            ]),
        )]);
        assert_report(&run_default(&view), 1, &[]);
    }

    #[test]
    fn a_gitops_status_write_is_not_gitops_evidence() {
        let view = deployments(vec![wmeta(
            "web",
            &[],
            Some(vec![
                entry("argocd-controller", Some(T0), Some("status")),
                write("kubectl-create", BEFORE),
            ]),
        )]);
        let report = run_default(&view);
        assert_report(
            &report,
            1,
            &[("Deployment team-a/web", Fail, "no-approval-evidence")],
        );
        assert!(message(&report).contains("Written by: kubectl-create at 2026-05-01T11:59:59Z."));
    }

    #[test]
    fn interactive_writes_to_other_subresources_count() {
        // kubectl scale writes through the scale subresource: still a change to the desired state.
        let view = deployments(vec![wmeta(
            "web",
            &[],
            Some(vec![
                argocd(T0),
                entry("kubectl-scale", Some(AFTER), Some("scale")),
            ]),
        )]);
        assert_report(
            &run_default(&view),
            1,
            &[("Deployment team-a/web", Fail, "out-of-band-change")],
        );
    }

    #[test]
    fn missing_write_times_are_counted_as_after_the_gitops_apply() {
        let view = deployments(vec![
            wmeta(
                "untimed-edit",
                &[],
                Some(vec![argocd(T0), entry("kubectl-edit", None, None)]),
            ),
            wmeta(
                "untimed-apply",
                &[],
                Some(vec![
                    entry("argocd-controller", None, None),
                    write("kubectl-edit", BEFORE),
                ]),
            ),
            wmeta(
                "untimed-apply-no-edit",
                &[],
                Some(vec![entry("argocd-controller", None, None)]),
            ),
        ]);
        let report = run_default(&view);
        assert_report(
            &report,
            3,
            &[
                ("Deployment team-a/untimed-edit", Fail, "out-of-band-change"),
                (
                    "Deployment team-a/untimed-apply",
                    Fail,
                    "out-of-band-change",
                ),
            ],
        );
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.message.contains("kubectl-edit at an unrecorded time"))
        );
        assert!(report.findings.iter().any(|f| {
            f.message
                .contains("argocd-controller at an unrecorded time")
        }));
    }

    #[test]
    fn non_interactive_writers_after_the_gitops_apply_are_not_out_of_band() {
        let view = deployments(vec![wmeta(
            "web",
            &[],
            Some(vec![
                argocd(T0),
                write("kube-controller-manager", AFTER),
                write("Mozilla", AFTER),
                write("kubectl-edit-but-not-quite", AFTER),
                write("KUBECTL-EDIT", AFTER),
            ]),
        )]);
        assert_report(&run_default(&view), 1, &[]);
    }

    #[test]
    fn gitops_and_interactive_managers_can_be_overridden() {
        let params = ChangeApprovalCheck {
            gitops_managers: Some(vec!["flux-apply".into()]),
            interactive_managers: Some(vec!["my-cli".into()]),
            ..Default::default()
        };
        let view = deployments(vec![
            wmeta(
                "flux-ok",
                &[],
                Some(vec![write("flux-apply", T0), write("kubectl-edit", AFTER)]),
            ),
            wmeta(
                "flux-drift",
                &[],
                Some(vec![write("flux-apply", T0), write("my-cli", AFTER)]),
            ),
            wmeta("argo-now-unknown", &[], Some(vec![argocd(T0)])),
        ]);
        let report = run(&view, &params);
        assert_report(
            &report,
            3,
            &[
                ("Deployment team-a/flux-drift", Fail, "out-of-band-change"),
                (
                    "Deployment team-a/argo-now-unknown",
                    Fail,
                    "no-approval-evidence",
                ),
            ],
        );
        let unknown = report
            .findings
            .iter()
            .find(|f| f.resource.name == "argo-now-unknown")
            .unwrap();
        assert!(
            unknown.message.contains("(flux-apply)"),
            "{}",
            unknown.message
        );
    }

    // ---- annotation evidence ---------------------------------------------------------------------------------

    #[test]
    fn complete_annotations_with_different_approver_pass_without_gitops() {
        let good = approved("CHG-1234", "bob@example.com", "alice@example.com");
        let mut view = every_kind(&with_annotations("x", &good));
        // With interactive writes too: the ticket covers them.
        view.deployments.push(deployment(ObjectMeta {
            managed_fields: Some(vec![write("kubectl-edit", AFTER)]),
            ..with_annotations("edited", &good)
        }));
        // And after a GitOps apply.
        view.deployments.push(deployment(ObjectMeta {
            managed_fields: Some(vec![argocd(T0), write("kubectl-edit", AFTER)]),
            ..with_annotations("edited-after-gitops", &good)
        }));
        assert_report(&run_default(&view), 6, &[]);
    }

    #[test]
    fn approver_equal_to_author_violates_separation_of_duties() {
        let cases = [
            ("same", "alice", "alice"),
            ("case", "Alice@Example.com", "alice@example.com"),
            ("trimmed", "  alice \t", "alice"),
            ("newline", "alice\n", "ALICE"),
            ("unicode-case", "JÖRG", "jörg"),
            ("greek", "ΟΔΥΣΣΕΥΣ", "οδυσσευσ"),
            ("final-sigma", "ΟΔΥΣΣΕΥΣ", "οδυσσευς"),
            ("sharp-s", "Strauß", "STRAUSS"),
        ];
        let view = deployments(
            cases
                .iter()
                .map(|(name, approver, author)| {
                    with_annotations(name, &approved("CHG-1", approver, author))
                })
                .collect(),
        );
        let report = run_default(&view);
        let expected: Vec<(String, FindingResult, &str)> = cases
            .iter()
            .map(|(name, _, _)| {
                (
                    format!("Deployment team-a/{name}"),
                    Fail,
                    "separation-of-duties",
                )
            })
            .collect();
        let expected: Vec<(&str, FindingResult, &str)> = expected
            .iter()
            .map(|(n, r, rule)| (n.as_str(), *r, *rule))
            .collect();
        assert_report(&report, cases.len(), &expected);
        let same = report
            .findings
            .iter()
            .find(|f| f.resource.name == "trimmed")
            .unwrap();
        assert!(same.message.contains("are both alice:"), "{}", same.message);
    }

    #[test]
    fn separation_of_duties_twin_with_different_people_passes() {
        let view = deployments(vec![
            with_annotations("x", &approved("CHG-1", "bob", "alice")),
            with_annotations("prefix", &approved("CHG-1", "alice", "alice2")),
            with_annotations("unicode", &approved("CHG-1", "Jörg", "Jorg")),
        ]);
        assert_report(&run_default(&view), 3, &[]);
    }

    #[test]
    fn separation_of_duties_fails_even_with_managed_fields_but_no_gitops() {
        let view = deployments(vec![ObjectMeta {
            managed_fields: Some(vec![write("kubectl-create", T0)]),
            ..with_annotations("x", &approved("CHG-1", "alice", "ALICE"))
        }]);
        let report = run_default(&view);
        assert_report(
            &report,
            1,
            &[("Deployment team-a/x", Fail, "separation-of-duties")],
        );
        assert!(message(&report).contains("Written by: kubectl-create"));
    }

    #[test]
    fn partial_or_empty_annotations_are_incomplete() {
        let view = deployments(vec![
            wmeta("ticket-only", &[(TICKET_ANNOTATION, "CHG-1")], None),
            wmeta(
                "no-author",
                &[(TICKET_ANNOTATION, "CHG-1"), (APPROVER_ANNOTATION, "bob")],
                None,
            ),
            wmeta(
                "empty-approver",
                &[
                    (TICKET_ANNOTATION, "CHG-1"),
                    (APPROVER_ANNOTATION, ""),
                    (AUTHOR_ANNOTATION, "alice"),
                ],
                None,
            ),
            wmeta(
                "blank-ticket",
                &[
                    (TICKET_ANNOTATION, " \t\n"),
                    (APPROVER_ANNOTATION, "bob"),
                    (AUTHOR_ANNOTATION, "alice"),
                ],
                None,
            ),
            wmeta(
                "author-only",
                &[(AUTHOR_ANNOTATION, "alice")],
                Some(vec![write("kubectl", T0)]),
            ),
        ]);
        let report = run_default(&view);
        assert_report(
            &report,
            5,
            &[
                (
                    "Deployment team-a/ticket-only",
                    Fail,
                    "incomplete-approval-annotations",
                ),
                (
                    "Deployment team-a/no-author",
                    Fail,
                    "incomplete-approval-annotations",
                ),
                (
                    "Deployment team-a/empty-approver",
                    Fail,
                    "incomplete-approval-annotations",
                ),
                (
                    "Deployment team-a/blank-ticket",
                    Fail,
                    "incomplete-approval-annotations",
                ),
                (
                    "Deployment team-a/author-only",
                    Fail,
                    "incomplete-approval-annotations",
                ),
            ],
        );
        let msg = |name: &str| {
            report
                .findings
                .iter()
                .find(|f| f.resource.name == name)
                .unwrap()
                .message
                .clone()
        };
        assert!(msg("ticket-only").contains("soc2.dev/approved-by, soc2.dev/author missing"));
        assert!(msg("no-author").contains(": soc2.dev/author missing"));
        assert!(msg("empty-approver").contains(": soc2.dev/approved-by missing"));
        assert!(msg("blank-ticket").contains(": soc2.dev/change-ticket missing"));
    }

    #[test]
    fn all_annotations_empty_is_the_same_as_none() {
        let view = deployments(vec![wmeta(
            "blank",
            &[
                (TICKET_ANNOTATION, ""),
                (APPROVER_ANNOTATION, " "),
                (AUTHOR_ANNOTATION, ""),
            ],
            Some(vec![write("kubectl-apply-ish", T0)]),
        )]);
        assert_report(
            &run_default(&view),
            1,
            &[("Deployment team-a/blank", Fail, "no-approval-evidence")],
        );
        let unknown = deployments(vec![wmeta(
            "blank",
            &[
                (TICKET_ANNOTATION, ""),
                (APPROVER_ANNOTATION, ""),
                (AUTHOR_ANNOTATION, ""),
            ],
            None,
        )]);
        assert_report(
            &run_default(&unknown),
            1,
            &[(
                "Deployment team-a/blank",
                Unknown,
                "managed-fields-unavailable",
            )],
        );
    }

    #[test]
    fn annotation_keys_are_exact() {
        let view = deployments(vec![wmeta(
            "near-miss",
            &[
                ("soc2.dev/change-ticket ", "CHG-1"),
                ("SOC2.dev/approved-by", "bob"),
                ("soc2.dev/Author", "alice"),
                ("example.com/change-ticket", "CHG-1"),
            ],
            Some(vec![]),
        )]);
        assert_report(
            &run_default(&view),
            1,
            &[("Deployment team-a/near-miss", Fail, "no-approval-evidence")],
        );
    }

    #[test]
    fn gitops_evidence_suffices_whatever_the_annotations_say() {
        let view = deployments(vec![
            ObjectMeta {
                managed_fields: Some(vec![argocd(T0)]),
                ..wmeta("partial", &[(TICKET_ANNOTATION, "CHG-1")], None)
            },
            ObjectMeta {
                managed_fields: Some(vec![argocd(T0)]),
                ..with_annotations("same", &approved("CHG-1", "alice", "alice"))
            },
        ]);
        assert_report(&run_default(&view), 2, &[]);
    }

    #[test]
    fn out_of_band_change_with_partial_annotations_is_out_of_band() {
        let view = deployments(vec![ObjectMeta {
            managed_fields: Some(vec![argocd(T0), write("kubectl-edit", AFTER)]),
            ..wmeta(
                "partial",
                &[(TICKET_ANNOTATION, "CHG-1"), (AUTHOR_ANNOTATION, "alice")],
                None,
            )
        }]);
        assert_report(
            &run_default(&view),
            1,
            &[("Deployment team-a/partial", Fail, "out-of-band-change")],
        );
    }

    #[test]
    fn no_evidence_at_all_fails_and_names_the_writers() {
        let view = deployments(vec![
            wmeta(
                "hand-made",
                &[],
                Some(vec![
                    write("kubectl-client-side-apply", T0),
                    entry("kube-controller-manager", Some(AFTER), Some("status")),
                ]),
            ),
            wmeta("empty-managed-fields", &[], Some(vec![])),
            wmeta(
                "unnamed-manager",
                &[],
                Some(vec![ManagedFieldsEntry {
                    manager: None,
                    time: Some(Time(ts(T0))),
                    ..Default::default()
                }]),
            ),
        ]);
        let report = run_default(&view);
        assert_report(
            &report,
            3,
            &[
                ("Deployment team-a/hand-made", Fail, "no-approval-evidence"),
                (
                    "Deployment team-a/empty-managed-fields",
                    Fail,
                    "no-approval-evidence",
                ),
                (
                    "Deployment team-a/unnamed-manager",
                    Fail,
                    "no-approval-evidence",
                ),
            ],
        );
        let msg = |name: &str| {
            report
                .findings
                .iter()
                .find(|f| f.resource.name == name)
                .unwrap()
                .message
                .clone()
        };
        let hand_made = msg("hand-made");
        assert!(
            hand_made.contains("Written by: kubectl-client-side-apply at 2026-05-01T12:00:00Z."),
            "{hand_made}"
        );
        assert!(
            !hand_made.contains("kube-controller-manager"),
            "status writes are not listed: {hand_made}"
        );
        assert!(
            hand_made.contains("argocd-controller, kustomize-controller, helm-controller"),
            "{hand_made}"
        );
        assert!(!msg("empty-managed-fields").contains("Written by"));
        assert!(msg("unnamed-manager").contains("Written by: (unnamed)"));
    }

    #[test]
    fn absent_managed_fields_without_annotations_is_unknown() {
        let view = every_kind(&wmeta("x", &[], None));
        let report = run_default(&view);
        assert_report(
            &report,
            4,
            &[
                (
                    "Deployment team-a/deploy",
                    Unknown,
                    "managed-fields-unavailable",
                ),
                (
                    "StatefulSet team-a/sts",
                    Unknown,
                    "managed-fields-unavailable",
                ),
                ("DaemonSet team-a/ds", Unknown, "managed-fields-unavailable"),
                ("CronJob team-a/cron", Unknown, "managed-fields-unavailable"),
            ],
        );
        assert!(report.findings[0].message.contains("--show-managed-fields"));
    }

    #[test]
    fn absent_managed_fields_with_bad_annotations_still_fails() {
        let view = deployments(vec![
            wmeta("partial", &[(APPROVER_ANNOTATION, "bob")], None),
            with_annotations("same", &approved("CHG-1", "bob", "Bob")),
        ]);
        let report = run_default(&view);
        assert_report(
            &report,
            2,
            &[
                (
                    "Deployment team-a/partial",
                    Fail,
                    "incomplete-approval-annotations",
                ),
                ("Deployment team-a/same", Fail, "separation-of-duties"),
            ],
        );
        assert!(
            report
                .findings
                .iter()
                .all(|f| !f.message.contains("GitOps"))
        );
    }

    // ---- kinds, scope, missing data ------------------------------------------------------------------------

    #[test]
    fn jobs_are_not_evaluated_by_default() {
        let view = ClusterSnapshot {
            jobs: vec![job(wmeta("migrate", &[], None))],
            ..Default::default()
        };
        assert_report(&run_default(&view), 0, &[]);
    }

    #[test]
    fn kinds_restrict_what_is_evaluated() {
        let view = every_kind(&wmeta("x", &[], Some(vec![write("kubectl-create", T0)])));
        let jobs_only = ChangeApprovalCheck {
            kinds: Some(vec![WorkloadKind::Job]),
            ..Default::default()
        };
        assert_report(
            &run(&view, &jobs_only),
            1,
            &[("Job team-a/job", Fail, "no-approval-evidence")],
        );
        let two = ChangeApprovalCheck {
            kinds: Some(vec![WorkloadKind::StatefulSet, WorkloadKind::CronJob]),
            ..Default::default()
        };
        assert_report(
            &run(&view, &two),
            2,
            &[
                ("StatefulSet team-a/sts", Fail, "no-approval-evidence"),
                ("CronJob team-a/cron", Fail, "no-approval-evidence"),
            ],
        );
        let none = ChangeApprovalCheck {
            kinds: Some(vec![]),
            ..Default::default()
        };
        assert_report(&run(&view, &none), 0, &[]);
        let all = ChangeApprovalCheck {
            kinds: Some(vec![
                WorkloadKind::Deployment,
                WorkloadKind::StatefulSet,
                WorkloadKind::DaemonSet,
                WorkloadKind::CronJob,
                WorkloadKind::Job,
            ]),
            ..Default::default()
        };
        assert_eq!(run(&view, &all).evaluated, 5);
    }

    #[test]
    fn a_kind_listed_twice_is_evaluated_twice() {
        let view = deployments(vec![wmeta("web", &[], Some(vec![write("kubectl", T0)]))]);
        let twice = ChangeApprovalCheck {
            kinds: Some(vec![WorkloadKind::Deployment, WorkloadKind::Deployment]),
            ..Default::default()
        };
        assert_report(
            &run(&view, &twice),
            2,
            &[
                ("Deployment team-a/web", Fail, "no-approval-evidence"),
                ("Deployment team-a/web", Fail, "no-approval-evidence"),
            ],
        );
    }

    #[test]
    fn unavailable_kinds_are_unknown_and_the_others_still_judged() {
        let mut view = every_kind(&gitops_meta("x"));
        view.unavailable
            .insert(ResourceKind::Deployment, "forbidden".into());
        view.unavailable
            .insert(ResourceKind::CronJob, "not synced".into());
        // Jobs are not in the default kinds: their absence is not reported.
        view.unavailable
            .insert(ResourceKind::Job, "forbidden".into());
        let report = run_default(&view);
        assert_report(
            &report,
            4,
            &[
                ("Deployment (all)", Unknown, "data-unavailable"),
                ("CronJob (all)", Unknown, "data-unavailable"),
            ],
        );
        let deploy = report
            .findings
            .iter()
            .find(|f| f.resource.kind == "Deployment")
            .unwrap();
        assert_eq!(deploy.resource.api_version, "apps/v1");
        assert!(
            deploy
                .message
                .contains("deployments could not be read: forbidden")
        );
        let cron = report
            .findings
            .iter()
            .find(|f| f.resource.kind == "CronJob")
            .unwrap();
        assert_eq!(cron.resource.api_version, "batch/v1");
    }

    #[test]
    fn scope_exclusion_removes_workloads() {
        let mut bad = wmeta("bad", &[], Some(vec![write("kubectl", T0)]));
        bad.namespace = Some("sandbox".into());
        let view = deployments(vec![
            bad,
            wmeta("unapproved", &[], Some(vec![write("kubectl", T0)])),
        ]);
        let scope = Scope {
            exclude_namespaces: Some(vec!["sandbox".into()]),
            ..Default::default()
        };
        let report = check(
            &view,
            &ScopeMatcher::new(Some(&scope), &view).unwrap(),
            &ChangeApprovalCheck::default(),
        );
        assert_report(
            &report,
            1,
            &[("Deployment team-a/unapproved", Fail, "no-approval-evidence")],
        );
    }

    #[test]
    fn an_empty_cluster_evaluates_nothing() {
        assert_report(&run_default(&ClusterSnapshot::default()), 0, &[]);
    }

    // ---- malformed and adversarial ---------------------------------------------------------------------------

    #[test]
    fn workloads_without_names_or_namespaces_are_judged() {
        let view = ClusterSnapshot {
            deployments: vec![deployment(ObjectMeta {
                managed_fields: Some(vec![write("kubectl-edit", T0)]),
                ..Default::default()
            })],
            stateful_sets: vec![stateful_set(ObjectMeta::default())],
            daemon_sets: vec![daemon_set(ObjectMeta {
                managed_fields: Some(vec![argocd(T0)]),
                ..Default::default()
            })],
            ..Default::default()
        };
        assert_report(
            &run_default(&view),
            3,
            &[
                ("Deployment ", Fail, "no-approval-evidence"),
                ("StatefulSet ", Unknown, "managed-fields-unavailable"),
            ],
        );
    }

    #[test]
    fn managed_fields_entries_with_empty_managers_are_neither_gitops_nor_interactive() {
        let view = deployments(vec![
            wmeta(
                "empty-manager",
                &[],
                Some(vec![argocd(T0), write("", AFTER)]),
            ),
            wmeta("only-empty", &[], Some(vec![write("", T0)])),
        ]);
        let report = run_default(&view);
        assert_report(
            &report,
            2,
            &[("Deployment team-a/only-empty", Fail, "no-approval-evidence")],
        );
        assert!(message(&report).contains(" Written by: "));
    }

    #[test]
    fn very_long_values_are_handled() {
        let long_name = "d".repeat(10_000);
        let long_person = "p".repeat(100_000);
        let view = deployments(vec![
            with_annotations(
                &long_name,
                &approved(
                    &"t".repeat(50_000),
                    &long_person,
                    &long_person.to_uppercase(),
                ),
            ),
            with_annotations(
                "long-ok",
                &approved("CHG-1", &long_person, &format!("{long_person}q")),
            ),
        ]);
        let report = run_default(&view);
        assert_eq!(report.evaluated, 2);
        assert_eq!(report.findings.len(), 1);
        assert_eq!(report.findings[0].resource.name, long_name);
        assert_eq!(report.findings[0].rule, "separation-of-duties");
    }

    #[test]
    fn unicode_names_and_annotations_are_handled() {
        let view = deployments(vec![
            with_annotations("ウェブ", &approved("変更-42", "山田太郎", "佐藤花子")),
            with_annotations("ünïcödé", &approved("🎫-1", "Ǆemal", "ǆemal")),
            wmeta(
                "😀",
                &[],
                Some(vec![argocd(T0), write("kubectl-edit", AFTER)]),
            ),
        ]);
        let report = run_default(&view);
        assert_report(
            &report,
            3,
            &[
                ("Deployment team-a/ünïcödé", Fail, "separation-of-duties"),
                ("Deployment team-a/😀", Fail, "out-of-band-change"),
            ],
        );
    }

    #[test]
    fn duplicate_managed_fields_entries_are_harmless() {
        let view = deployments(vec![
            wmeta(
                "dup-gitops",
                &[],
                Some(vec![argocd(T0), argocd(T0), argocd(T0)]),
            ),
            wmeta(
                "dup-edits",
                &[],
                Some(vec![
                    argocd(T0),
                    write("kubectl-edit", AFTER),
                    write("kubectl-edit", AFTER),
                ]),
            ),
        ]);
        let report = run_default(&view);
        assert_report(
            &report,
            2,
            &[("Deployment team-a/dup-edits", Fail, "out-of-band-change")],
        );
        assert!(message(&report).contains(
            "kubectl-edit at 2026-05-01T12:00:01Z, kubectl-edit at 2026-05-01T12:00:01Z"
        ));
    }

    #[test]
    fn duplicate_workloads_are_each_evaluated() {
        let view = deployments(vec![gitops_meta("twin"), wmeta("twin", &[], None)]);
        assert_report(
            &run_default(&view),
            2,
            &[(
                "Deployment team-a/twin",
                Unknown,
                "managed-fields-unavailable",
            )],
        );
    }
}
