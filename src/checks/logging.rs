//! Logging (CC7.2): API audit logging is on, and a log collector runs on every schedulable node.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Taint, Toleration};
use k8s_openapi::jiff::{Timestamp, civil::Date, tz::TimeZone};

use super::apiserver_flags::visible_api_servers;
use super::{CheckReport, Finding};
use crate::api::{Attestation, LoggingCheck};
use crate::view::scope_matcher::compile_selector;
use crate::view::{ClusterSnapshot, ResourceKind, ResourceRef, ScopeMatcher};
use kube::core::SelectorExt;

/// Attestations older than this many days no longer count.
pub const ATTESTATION_MAX_AGE_DAYS: i64 = 365;

/// Runs the check. `now` dates attestations.
pub fn check(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &LoggingCheck,
    now: Timestamp,
) -> CheckReport {
    let mut report = CheckReport::default();
    audit_logging(view, params.audit_attestation.as_ref(), now, &mut report);
    if params.require_collector.unwrap_or(true) {
        log_collectors(view, scope, params, &mut report);
    }
    report
}

fn control_plane() -> ResourceRef {
    ResourceRef::aspect("v1", "ControlPlane", "kube-apiserver")
}

fn audit_logging(
    view: &ClusterSnapshot,
    attestation: Option<&Attestation>,
    now: Timestamp,
    report: &mut CheckReport,
) {
    if report.unknown_if_missing(view, ResourceKind::ControlPlanePod, control_plane()) {
        return;
    }
    let servers = visible_api_servers(view);
    for (pod, flags) in &servers {
        report.evaluated += 1;
        let resource = ResourceRef::of(*pod);
        if !flags.has_value("audit-log-path") && !flags.has_value("audit-webhook-config-file") {
            report.findings.push(Finding::fail(
                resource.clone(),
                "audit-log-disabled",
                "kube-apiserver has no audit backend: neither --audit-log-path nor --audit-webhook-config-file is set, \
                 so API activity is not recorded. Configure an audit log or webhook backend.",
            ));
        }
        if !flags.has_value("audit-policy-file") {
            report.findings.push(Finding::fail(
                resource,
                "audit-policy-missing",
                "kube-apiserver has no --audit-policy-file: without a policy no audit events are written. \
                 Add an audit policy that records at least Metadata for all requests.",
            ));
        }
    }
    if !servers.is_empty() {
        return;
    }
    report.evaluated += 1;
    let finding = match attestation {
        None => Finding::unknown(
            control_plane(),
            "audit-logging-not-visible",
            "No kube-apiserver static pod is visible in kube-system (a managed control plane?), so audit logging \
             cannot be verified from the cluster. Enable the provider's control-plane audit logs and record \
             spec.check.logging.auditAttestation (attestedBy, reference, date).",
        ),
        Some(a) => judge_attestation(a, now),
    };
    report.findings.push(finding);
}

fn judge_attestation(a: &Attestation, now: Timestamp) -> Finding {
    let today = now.to_zoned(TimeZone::UTC).date();
    match a.date.parse::<Date>() {
        Err(e) => Finding::fail(
            control_plane(),
            "attestation-invalid",
            format!(
                "spec.check.logging.auditAttestation.date {:?} is not a date (YYYY-MM-DD): {e}",
                a.date
            ),
        ),
        Ok(date) if date > today => Finding::fail(
            control_plane(),
            "attestation-invalid",
            format!(
                "spec.check.logging.auditAttestation.date {date} is in the future; attest to what is true today."
            ),
        ),
        Ok(date) if i64::from((today - date).get_days()) > ATTESTATION_MAX_AGE_DAYS => {
            Finding::fail(
                control_plane(),
                "attestation-expired",
                format!(
                    "API audit logging was attested by {} on {date} ({}), more than {ATTESTATION_MAX_AGE_DAYS} days ago. Re-attest.",
                    a.attested_by, a.reference
                ),
            )
        }
        Ok(date) => Finding::notice(
            control_plane(),
            "audit-logging-attested",
            format!(
                "Attested: API audit logging is enabled on the managed control plane, attested by {} on {date} (reference: {}). \
                 kube-apiserver flags are not visible in this cluster.",
                a.attested_by, a.reference
            ),
        ),
    }
}

fn log_collectors(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &LoggingCheck,
    report: &mut CheckReport,
) {
    let aspect = ResourceRef::aspect("apps/v1", "DaemonSet", "(log collector)");
    if report.unknown_if_missing(view, ResourceKind::DaemonSet, aspect.clone())
        || report.unknown_if_missing(
            view,
            ResourceKind::Node,
            ResourceRef::aspect("v1", "Node", "(all)"),
        )
    {
        return;
    }
    let selector = match params
        .collector_selector
        .as_ref()
        .map(|s| compile_selector(s, "spec.check.logging.collectorSelector"))
    {
        // validation rejects invalid selectors before a check runs; stay total anyway.
        Some(Err(e)) => {
            report.evaluated += 1;
            report
                .findings
                .push(Finding::unknown(aspect, "invalid-selector", e.to_string()));
            return;
        }
        Some(Ok(s)) => Some(s),
        None => None,
    };
    let names = params.effective_collectors();
    let collectors: Vec<&DaemonSet> = view
        .daemon_sets
        .iter()
        .map(|d| d.as_ref())
        .filter(|d| scope.matches(&d.metadata))
        .filter(|d| match &selector {
            Some(s) => s.matches(d.metadata.labels.as_ref().unwrap_or(&Default::default())),
            None => is_named_collector(d, &names),
        })
        .collect();
    if collectors.is_empty() {
        report.evaluated += 1;
        let how = if selector.is_some() {
            "matching spec.check.logging.collectorSelector".to_string()
        } else {
            format!("({})", names.join(", "))
        };
        report.findings.push(Finding::fail(
            aspect,
            "no-log-collector",
            format!("No log collector DaemonSet {how} is deployed in scope, so container and node logs are not collected centrally. Deploy one."),
        ));
        return;
    }
    for ds in collectors {
        report.evaluated += 1;
        if let Some(finding) = judge_collector(ds, &view.nodes) {
            report.findings.push(finding);
        }
    }
}

/// True when the DaemonSet's name, name labels or an image name a known collector.
pub fn is_named_collector(ds: &DaemonSet, names: &[String]) -> bool {
    let labels = ds.metadata.labels.as_ref();
    let label = |k: &str| {
        labels
            .and_then(|l| l.get(k))
            .map(String::as_str)
            .unwrap_or("")
    };
    let images = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| {
            p.containers
                .iter()
                .filter_map(|c| c.image.as_deref())
                .map(image_name)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let ds_name = ds.metadata.name.as_deref().unwrap_or("");
    names.iter().filter(|n| !n.is_empty()).any(|n| {
        let n = n.as_str();
        ds_name.contains(n)
            || label("app.kubernetes.io/name").contains(n)
            || label("app").contains(n)
            || images.iter().any(|i| i.starts_with(n))
    })
}

/// The last path segment of an image reference, without tag or digest: `grafana/promtail:2.9` -> `promtail`.
fn image_name(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split(':').next().unwrap_or(last)
}

/// Taints the DaemonSet controller tolerates on every daemon pod.
const DAEMON_TOLERATED: &[&str] = &[
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/unschedulable",
    "node.kubernetes.io/network-unavailable",
];

fn tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    if DAEMON_TOLERATED.contains(&taint.key.as_str()) {
        return true;
    }
    tolerations.iter().any(|t| {
        let effect_ok = t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect);
        let key = t.key.as_deref().unwrap_or("");
        match t.operator.as_deref().unwrap_or("Equal") {
            "Exists" => effect_ok && (key.is_empty() || key == taint.key),
            _ => {
                effect_ok
                    && key == taint.key
                    && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
            }
        }
    })
}

/// Nodes the DaemonSet should run on: not cordoned, every NoSchedule/NoExecute taint tolerated, nodeSelector met.
fn schedulable_nodes<'a>(ds: &DaemonSet, nodes: &'a [std::sync::Arc<Node>]) -> Vec<&'a Node> {
    let pod = ds.spec.as_ref().and_then(|s| s.template.spec.as_ref());
    let tolerations = pod.and_then(|p| p.tolerations.clone()).unwrap_or_default();
    let node_selector = pod
        .and_then(|p| p.node_selector.clone())
        .unwrap_or_default();
    nodes
        .iter()
        .map(|n| n.as_ref())
        .filter(|n| {
            let spec = n.spec.as_ref();
            let cordoned = spec.and_then(|s| s.unschedulable).unwrap_or(false);
            let taints = spec.and_then(|s| s.taints.as_deref()).unwrap_or_default();
            let labels = n.metadata.labels.clone().unwrap_or_default();
            !cordoned
                && taints
                    .iter()
                    .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
                    .all(|t| tolerates(&tolerations, t))
                && node_selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
        .collect()
}

fn judge_collector(ds: &DaemonSet, nodes: &[std::sync::Arc<Node>]) -> Option<Finding> {
    let resource = ResourceRef::of(ds);
    let Some(status) = ds.status.as_ref() else {
        return Some(Finding::unknown(
            resource,
            "collector-status-missing",
            "the log collector DaemonSet has no status yet; its rollout cannot be judged.",
        ));
    };
    let ready = status.number_ready.max(0);
    let scheduled = status.desired_number_scheduled.max(0);
    // Without Node objects (a partial dump) the DaemonSet's own count is the best available measure.
    let expected = if nodes.is_empty() {
        scheduled
    } else {
        schedulable_nodes(ds, nodes).len() as i32
    };
    if expected == 0 {
        return Some(Finding::fail(
            resource,
            "collector-not-scheduled",
            "the log collector DaemonSet is scheduled on no node, so no logs are collected. Check its nodeSelector and tolerations.",
        ));
    }
    if ready < expected || ready < scheduled {
        let target = expected.max(scheduled);
        return Some(Finding::fail(
            resource,
            "collector-not-ready",
            format!(
                "the log collector is ready on {ready} of {target} schedulable nodes ({scheduled} scheduled), so logs from the other nodes are not collected. Fix the failing collector pods."
            ),
        ));
    }
    None
}
