//! Findings as wg-policy `PolicyReport`s (`wgpolicyk8s.io/v1alpha2`), the format Policy Reporter, Kyverno's UI and
//! other policy dashboards read.
//!
//! Per control, [`build`] (pure) makes one `ClusterPolicyReport` named `soc2-<control>` for cluster-scoped resources
//! and cluster aspects, plus one `PolicyReport` of the same name in every namespace that has findings. [`publish`]
//! server-side applies them and deletes the namespaced reports of namespaces that no longer have findings.
//!
//! Mapping of a finding to a result:
//!
//! | finding  | `result` | `severity`                          |
//! |----------|----------|-------------------------------------|
//! | Fail     | `fail`   | the control's (`Medium` when unset) |
//! | Unknown  | `error`  | the control's                       |
//! | Notice   | `warn`   | `info`                              |
//!
//! The cluster report also carries one `pass` result ("N resources comply") so that a compliant control shows up.
//! Every report holds at most [`MAX_RESULTS`] results, failures first; how many were left out is recorded in the
//! [`TRUNCATED_ANNOTATION`] annotation, while `summary` still counts them all.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::Timestamp;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::OPERATOR_NAME;
use crate::api::{Control, FindingResult, Severity};
use crate::checks::Finding;
use crate::engine::canonical::sha256_hex;
use crate::engine::evaluate::Evaluation;

/// The API group of PolicyReport and ClusterPolicyReport.
pub const GROUP: &str = "wgpolicyk8s.io";
/// The API version written.
pub const VERSION: &str = "v1alpha2";
/// `apiVersion` of every report.
pub const API_VERSION: &str = "wgpolicyk8s.io/v1alpha2";
/// Kind of the namespaced reports.
pub const POLICY_REPORT_KIND: &str = "PolicyReport";
/// Kind of the cluster report.
pub const CLUSTER_POLICY_REPORT_KIND: &str = "ClusterPolicyReport";
/// The `source` of every result.
pub const SOURCE: &str = OPERATOR_NAME;
/// At most this many results per report (failures first); keeps every report far below etcd's object size limit.
pub const MAX_RESULTS: usize = 500;
/// A result message longer than this many bytes is shortened.
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// Annotation holding how many results were left out of `results` (absent when none were).
pub const TRUNCATED_ANNOTATION: &str = "soc2.dev/truncated";
/// Label (and annotation, unshortened) naming the control a report belongs to.
pub const CONTROL_LABEL: &str = "soc2.dev/control";
/// The standard label naming the manager of an object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

const NAME_MAX: usize = 253;
const LABEL_VALUE_MAX: usize = 63;

/// The reports of one control, ready to apply.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyReports {
    /// The control's name.
    pub control: String,
    /// The ClusterPolicyReport: cluster-scoped resources, cluster aspects and the `pass` summary.
    pub cluster: Value,
    /// One PolicyReport per namespace with findings, by namespace.
    pub namespaced: BTreeMap<String, Value>,
}

impl PolicyReports {
    /// The namespaces that get a PolicyReport. After a successful [`publish`], keep this (or what `publish` returns)
    /// and pass it as `previous_namespaces` next time.
    pub fn namespaces(&self) -> BTreeSet<String> {
        self.namespaced.keys().cloned().collect()
    }
}

/// The name of every report of `control`: `soc2-<control>`, shortened with a hash suffix if beyond 253 characters.
pub fn report_name(control: &str) -> String {
    bounded(&format!("soc2-{control}"), NAME_MAX)
}

/// The value of the [`CONTROL_LABEL`] label: the control name, shortened with a hash suffix if beyond 63 characters.
pub fn control_label_value(control: &str) -> String {
    bounded(control, LABEL_VALUE_MAX)
}

/// A label selector matching every report of `control`.
pub fn label_selector(control: &str) -> String {
    format!(
        "{CONTROL_LABEL}={},{MANAGED_BY_LABEL}={OPERATOR_NAME}",
        control_label_value(control)
    )
}

/// The API resource of namespaced PolicyReports.
pub fn policy_report_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, VERSION, POLICY_REPORT_KIND),
        "policyreports",
    )
}

/// The API resource of ClusterPolicyReports.
pub fn cluster_policy_report_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, VERSION, CLUSTER_POLICY_REPORT_KIND),
        "clusterpolicyreports",
    )
}

/// `s` if at most `max` bytes long, else a prefix of it, a dash and 10 hex digits of its SHA-256.
fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let hash = &sha256_hex(s.as_bytes())[..10];
    let prefix = truncate_at_char(s, max - hash.len() - 1)
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{prefix}-{hash}")
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn shorten_message(message: &str) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message.to_string();
    }
    let marker = "... (shortened)";
    format!(
        "{}{marker}",
        truncate_at_char(message, MAX_MESSAGE_BYTES - marker.len())
    )
}

/// The wg-policy severity of a control severity.
pub fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
    }
}

/// The wg-policy result of a finding.
pub fn result(result: FindingResult) -> &'static str {
    match result {
        FindingResult::Fail => "fail",
        FindingResult::Unknown => "error",
        FindingResult::Notice => "warn",
        // wg-policy's word for a result that was deliberately not enforced.
        FindingResult::Excepted => "skip",
    }
}

/// Failures first, then errors, warnings, passes.
fn rank(result: &str) -> u8 {
    match result {
        "fail" => 0,
        "error" => 1,
        "warn" => 2,
        "pass" => 3,
        _ => 4,
    }
}

/// `{seconds, nanos}` as in `metav1.Timestamp`, nanos always in 0..1e9.
fn timestamp(now: Timestamp) -> Value {
    let mut seconds = now.as_second();
    let mut nanos = now.subsec_nanosecond();
    if nanos < 0 {
        seconds -= 1;
        nanos += 1_000_000_000;
    }
    json!({"seconds": seconds, "nanos": nanos})
}

/// What every result and report of one control shares.
struct Common {
    control: String,
    category: String,
    severity: &'static str,
    criteria: String,
    timestamp: Value,
    owner: Option<Value>,
}

impl Common {
    fn result(&self, f: &Finding) -> (u8, Value) {
        let outcome = result(f.result);
        let severity = match f.result {
            FindingResult::Notice => "info",
            FindingResult::Fail | FindingResult::Unknown | FindingResult::Excepted => self.severity,
        };
        let r = &f.resource;
        let mut resource = json!({
            "apiVersion": r.api_version,
            "kind": r.kind,
            "name": r.name,
        });
        if let Some(ns) = &r.namespace {
            resource["namespace"] = json!(ns);
        }
        if let Some(uid) = &r.uid {
            resource["uid"] = json!(uid);
        }
        let entry = json!({
            "source": SOURCE,
            "policy": self.control,
            "rule": f.rule,
            "category": self.category,
            "severity": severity,
            "result": outcome,
            "scored": outcome != "warn",
            "message": shorten_message(&f.message),
            "resources": [resource],
            "timestamp": self.timestamp,
            "properties": {"criteria": self.criteria},
        });
        (rank(outcome), entry)
    }

    fn pass(&self, passed: u32, evaluated: u32) -> (u8, Value) {
        let message = match (passed, evaluated) {
            (_, 0) => "no resources in scope; nothing fails".to_string(),
            (1, 1) => "1 resource complies".to_string(),
            (p, e) if p == e => format!("{p} resources comply"),
            (p, e) => format!("{p} of {e} evaluated resources comply"),
        };
        let entry = json!({
            "source": SOURCE,
            "policy": self.control,
            "rule": "compliant-resources",
            "category": self.category,
            "severity": self.severity,
            "result": "pass",
            "scored": true,
            "message": message,
            "timestamp": self.timestamp,
            "properties": {
                "criteria": self.criteria,
                "passed": passed.to_string(),
                "evaluated": evaluated.to_string(),
            },
        });
        (rank("pass"), entry)
    }

    fn report(&self, kind: &str, namespace: Option<&str>, mut results: Vec<(u8, Value)>) -> Value {
        // Stable: within a rank, the evaluation's order (by resource, rule, message) is kept.
        results.sort_by_key(|(rank, _)| *rank);
        let mut summary = json!({"pass": 0, "fail": 0, "warn": 0, "error": 0, "skip": 0});
        for (_, r) in &results {
            if let Some(key) = r["result"].as_str()
                && let Some(n) = summary[key].as_u64()
            {
                summary[key] = json!(n + 1);
            }
        }
        let truncated = results.len().saturating_sub(MAX_RESULTS);
        results.truncate(MAX_RESULTS);

        let mut annotations = serde_json::Map::new();
        annotations.insert(CONTROL_LABEL.into(), json!(self.control));
        if truncated > 0 {
            annotations.insert(TRUNCATED_ANNOTATION.into(), json!(truncated.to_string()));
        }
        let mut metadata = json!({
            "name": report_name(&self.control),
            "labels": {
                MANAGED_BY_LABEL: OPERATOR_NAME,
                CONTROL_LABEL: control_label_value(&self.control),
            },
            "annotations": annotations,
        });
        if let Some(ns) = namespace {
            metadata["namespace"] = json!(ns);
        }
        if let Some(owner) = &self.owner {
            metadata["ownerReferences"] = json!([owner]);
        }
        json!({
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": metadata,
            "summary": summary,
            "results": results.into_iter().map(|(_, r)| r).collect::<Vec<_>>(),
        })
    }
}

/// Builds the reports of `control` from its `evaluation` made at `now`.
///
/// Findings on namespaced resources go to the PolicyReport of their namespace, all others (cluster-scoped objects,
/// cluster aspects such as the kube-apiserver) to the ClusterPolicyReport, which also gets one `pass` result counting
/// the compliant resources when there are any, or when nothing is in scope. When the Control has a uid, the reports
/// are owned by it, so deleting the Control garbage-collects them.
pub fn build(control: &Control, evaluation: &Evaluation, now: Timestamp) -> PolicyReports {
    let name = control
        .metadata
        .name
        .clone()
        .unwrap_or_else(|| evaluation.control.clone());
    let criteria = control
        .spec
        .criteria
        .iter()
        .map(|c| c.0.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let owner = control.metadata.uid.as_ref().map(|uid| {
        json!({
            "apiVersion": "soc2.dev/v1alpha1",
            "kind": "Control",
            "name": name,
            "uid": uid,
            "controller": true,
        })
    });
    let common = Common {
        category: format!("{} {criteria}", control.spec.category),
        severity: severity(control.spec.severity.unwrap_or_default()),
        criteria,
        timestamp: timestamp(now),
        owner,
        control: name.clone(),
    };

    let mut cluster = Vec::new();
    let mut by_namespace: BTreeMap<String, Vec<(u8, Value)>> = BTreeMap::new();
    for finding in &evaluation.findings {
        let entry = common.result(finding);
        match finding.resource.namespace.as_deref() {
            Some(ns) if !ns.is_empty() => {
                by_namespace.entry(ns.to_string()).or_default().push(entry)
            }
            _ => cluster.push(entry),
        }
    }
    let summary = evaluation.summary;
    if summary.passed > 0 || summary.evaluated == 0 {
        cluster.push(common.pass(summary.passed, summary.evaluated));
    }

    PolicyReports {
        cluster: common.report(CLUSTER_POLICY_REPORT_KIND, None, cluster),
        namespaced: by_namespace
            .into_iter()
            .map(|(ns, results)| {
                let report = common.report(POLICY_REPORT_KIND, Some(&ns), results);
                (ns, report)
            })
            .collect(),
        control: name,
    }
}

/// What can go wrong while publishing reports.
#[derive(Debug, thiserror::Error)]
pub enum PolicyReportError {
    /// The API server does not serve the report kind: the wg-policy CRDs are not installed.
    #[error(
        "the {kind} API ({API_VERSION}) is not served by this cluster: install the wg-policy PolicyReport CRDs \
         (https://github.com/kubernetes-sigs/wg-policy-prototypes; Kyverno and Policy Reporter also ship them) \
         or disable --policy-reports"
    )]
    CrdMissing {
        /// `PolicyReport` or `ClusterPolicyReport`.
        kind: &'static str,
    },
    /// The operator's ServiceAccount may not write reports.
    #[error(
        "not allowed to {verb} {kind} {target}: grant the operator's ServiceAccount get, list, patch and delete on \
         wgpolicyk8s.io policyreports and clusterpolicyreports, or disable --policy-reports ({message})"
    )]
    Forbidden {
        /// The API verb refused.
        verb: &'static str,
        /// `PolicyReport` or `ClusterPolicyReport`.
        kind: &'static str,
        /// `name` or `namespace/name`.
        target: String,
        /// The API server's message.
        message: String,
    },
    /// Any other failure of a request.
    #[error("could not {verb} {kind} {target}: {source}")]
    Api {
        /// The API verb that failed.
        verb: &'static str,
        /// `PolicyReport` or `ClusterPolicyReport`.
        kind: &'static str,
        /// `name`, `namespace/name`, or the label selector of a list.
        target: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
}

impl PolicyReportError {
    /// A short, stable label for metrics and log fields.
    pub fn category(&self) -> &'static str {
        match self {
            PolicyReportError::CrdMissing { .. } => "policy-report-crd-missing",
            PolicyReportError::Forbidden { .. } => "forbidden",
            PolicyReportError::Api { .. } => "api",
        }
    }
}

fn classify(
    error: kube::Error,
    verb: &'static str,
    kind: &'static str,
    target: String,
) -> PolicyReportError {
    match &error {
        kube::Error::Api(s) if s.code == 404 || s.is_not_found() => {
            PolicyReportError::CrdMissing { kind }
        }
        kube::Error::Api(s) if s.code == 403 || s.is_forbidden() => PolicyReportError::Forbidden {
            verb,
            kind,
            target,
            message: s.message.clone(),
        },
        _ => PolicyReportError::Api {
            verb,
            kind,
            target,
            source: error,
        },
    }
}

/// True when a namespaced write failed because the namespace is gone or being deleted (its findings are moot).
fn namespace_gone(error: &kube::Error) -> bool {
    let kube::Error::Api(s) = error else {
        return false;
    };
    let Some(details) = &s.details else {
        return false;
    };
    ((s.code == 404 || s.is_not_found()) && details.kind == "namespaces")
        || details
            .causes
            .iter()
            .any(|c| c.reason == "NamespaceTerminating")
}

/// Server-side applies `reports` (field manager `soc2-operator`, forced) and deletes the PolicyReport of `control`
/// in every namespace of `previous_namespaces` that no longer has one.
///
/// The ClusterPolicyReport is applied first, so a cluster without the wg-policy CRDs fails fast with
/// [`PolicyReportError::CrdMissing`]. A namespace that is gone or terminating is skipped. Returns the namespaces
/// that now hold a report of the control: pass them as `previous_namespaces` next time. On error, pass
/// `previous_namespaces ∪ reports.namespaces()` next time so nothing stale is forgotten.
pub async fn publish(
    client: &Client,
    reports: &PolicyReports,
    previous_namespaces: &BTreeSet<String>,
) -> Result<BTreeSet<String>, PolicyReportError> {
    let name = report_name(&reports.control);
    let apply = PatchParams::apply(OPERATOR_NAME).force();

    let clusters: Api<DynamicObject> =
        Api::all_with(client.clone(), &cluster_policy_report_resource());
    clusters
        .patch(&name, &apply, &Patch::Apply(&reports.cluster))
        .await
        .map_err(|e| classify(e, "apply", CLUSTER_POLICY_REPORT_KIND, name.clone()))?;

    let resource = policy_report_resource();
    let mut published = BTreeSet::new();
    for (ns, report) in &reports.namespaced {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
        match api.patch(&name, &apply, &Patch::Apply(report)).await {
            Ok(_) => {
                published.insert(ns.clone());
            }
            Err(e) if namespace_gone(&e) => {
                tracing::debug!(control = %reports.control, namespace = %ns, "namespace gone; its PolicyReport is skipped");
            }
            Err(e) => {
                return Err(classify(
                    e,
                    "apply",
                    POLICY_REPORT_KIND,
                    format!("{ns}/{name}"),
                ));
            }
        }
    }

    for ns in previous_namespaces
        .iter()
        .filter(|ns| !reports.namespaced.contains_key(*ns))
    {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {
                tracing::debug!(control = %reports.control, namespace = %ns, "stale PolicyReport deleted");
            }
            // Already gone, with its namespace, or never created because the CRD is missing: nothing to delete.
            Err(kube::Error::Api(s)) if s.code == 404 || s.is_not_found() => {}
            Err(e) => {
                return Err(classify(
                    e,
                    "delete",
                    POLICY_REPORT_KIND,
                    format!("{ns}/{name}"),
                ));
            }
        }
    }
    Ok(published)
}

/// The namespaces that hold a PolicyReport of `control`, found by label across the cluster. Use it to seed
/// `previous_namespaces` of [`publish`] after the operator (re)started.
pub async fn existing_namespaces(
    client: &Client,
    control: &str,
) -> Result<BTreeSet<String>, PolicyReportError> {
    let selector = label_selector(control);
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &policy_report_resource());
    let list = api
        .list_metadata(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| classify(e, "list", POLICY_REPORT_KIND, selector.clone()))?;
    Ok(list.items.iter().filter_map(|o| o.namespace()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Criterion, Summary};
    use crate::engine::evaluate::Compliance;
    use crate::view::ResourceRef;

    fn control(severity: Option<Severity>) -> Control {
        serde_json::from_value(json!({
            "apiVersion": "soc2.dev/v1alpha1",
            "kind": "Control",
            "metadata": {"name": "mfa", "uid": "uid-control"},
            "spec": {
                "criteria": ["CC6.1", "CC6.3"],
                "category": "Security",
                "title": "t",
                "severity": severity,
                "check": {"mfaAccess": {}},
            },
        }))
        .expect("valid Control")
    }

    fn evaluation(findings: Vec<Finding>, summary: Summary) -> Evaluation {
        let compliance = if summary.failed > 0 {
            Compliance::NonCompliant
        } else if summary.unknown > 0 {
            Compliance::Unknown
        } else {
            Compliance::Compliant
        };
        Evaluation {
            control: "mfa".into(),
            criteria: vec![Criterion("CC6.1".into()), Criterion("CC6.3".into())],
            check: "mfaAccess",
            compliance,
            summary,
            findings: findings.into_iter().map(std::sync::Arc::new).collect(),
            digest: String::new(),
        }
    }

    fn summary(evaluated: u32, passed: u32, failed: u32, unknown: u32) -> Summary {
        Summary {
            evaluated,
            passed,
            failed,
            excepted: 0,
            unknown,
        }
    }

    fn crb(name: &str) -> ResourceRef {
        ResourceRef {
            api_version: "rbac.authorization.k8s.io/v1".into(),
            kind: "ClusterRoleBinding".into(),
            namespace: None,
            name: name.into(),
            uid: Some(format!("uid-{name}")),
        }
    }

    fn rb(ns: &str, name: &str) -> ResourceRef {
        ResourceRef {
            api_version: "rbac.authorization.k8s.io/v1".into(),
            kind: "RoleBinding".into(),
            namespace: Some(ns.into()),
            name: name.into(),
            uid: None,
        }
    }

    fn now() -> Timestamp {
        "2026-06-01T00:00:00.5Z".parse().unwrap()
    }

    #[test]
    fn a_failure_maps_to_a_full_result() {
        let e = evaluation(
            vec![Finding::fail(
                crb("alice"),
                "privileged-binding-to-user",
                "alice is cluster-admin",
            )],
            summary(1, 0, 1, 0),
        );
        let reports = build(&control(Some(Severity::High)), &e, now());
        assert!(reports.namespaced.is_empty());
        let r = &reports.cluster;
        assert_eq!(r["apiVersion"], "wgpolicyk8s.io/v1alpha2");
        assert_eq!(r["kind"], "ClusterPolicyReport");
        assert_eq!(r["metadata"]["name"], "soc2-mfa");
        assert!(r["metadata"].get("namespace").is_none());
        assert_eq!(
            r["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "soc2-operator"
        );
        assert_eq!(r["metadata"]["labels"]["soc2.dev/control"], "mfa");
        assert!(
            r["metadata"]["annotations"]
                .get(TRUNCATED_ANNOTATION)
                .is_none()
        );
        assert_eq!(
            r["metadata"]["ownerReferences"],
            json!([{"apiVersion": "soc2.dev/v1alpha1", "kind": "Control", "name": "mfa", "uid": "uid-control", "controller": true}])
        );
        assert_eq!(
            r["results"],
            json!([{
                "source": "soc2-operator",
                "policy": "mfa",
                "rule": "privileged-binding-to-user",
                "category": "Security CC6.1,CC6.3",
                "severity": "high",
                "result": "fail",
                "scored": true,
                "message": "alice is cluster-admin",
                "resources": [{
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "name": "alice",
                    "uid": "uid-alice",
                }],
                "timestamp": {"seconds": 1_780_272_000_i64, "nanos": 500_000_000},
                "properties": {"criteria": "CC6.1,CC6.3"},
            }])
        );
        assert_eq!(
            r["summary"],
            json!({"pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0})
        );
    }

    #[test]
    fn results_and_severities_map() {
        let f = |result| Finding {
            resource: crb("x"),
            result,
            rule: "r".into(),
            message: "m".into(),
            exception: None,
        };
        let cases = [
            (None, FindingResult::Fail, "fail", "medium"),
            (
                Some(Severity::Critical),
                FindingResult::Fail,
                "fail",
                "critical",
            ),
            (
                Some(Severity::High),
                FindingResult::Unknown,
                "error",
                "high",
            ),
            (Some(Severity::Low), FindingResult::Fail, "fail", "low"),
            (
                Some(Severity::Critical),
                FindingResult::Notice,
                "warn",
                "info",
            ),
        ];
        for (sev, finding, want_result, want_severity) in cases {
            let e = evaluation(vec![f(finding)], summary(1, 0, 0, 0));
            let r = &build(&control(sev), &e, now()).cluster["results"][0];
            assert_eq!(r["result"], want_result, "{sev:?} {finding:?}");
            assert_eq!(r["severity"], want_severity, "{sev:?} {finding:?}");
            assert_eq!(r["scored"], want_result != "warn");
        }
    }

    #[test]
    fn namespaced_findings_go_to_their_namespace() {
        let e = evaluation(
            vec![
                Finding::fail(crb("alice"), "r", "m"),
                Finding::fail(rb("team-a", "x"), "r", "a1"),
                Finding::unknown(rb("team-a", "y"), "r", "a2"),
                Finding::notice(rb("team-b", "z"), "r", "b1"),
            ],
            summary(6, 2, 2, 1),
        );
        let reports = build(&control(None), &e, now());
        assert_eq!(
            reports.namespaces(),
            BTreeSet::from(["team-a".to_string(), "team-b".to_string()])
        );
        let a = &reports.namespaced["team-a"];
        assert_eq!(a["kind"], "PolicyReport");
        assert_eq!(a["metadata"]["name"], "soc2-mfa");
        assert_eq!(a["metadata"]["namespace"], "team-a");
        assert_eq!(a["metadata"]["labels"]["soc2.dev/control"], "mfa");
        assert_eq!(a["results"].as_array().unwrap().len(), 2);
        assert_eq!(a["results"][0]["resources"][0]["namespace"], "team-a");
        assert_eq!(
            a["summary"],
            json!({"pass": 0, "fail": 1, "warn": 0, "error": 1, "skip": 0})
        );
        let b = &reports.namespaced["team-b"];
        assert_eq!(
            b["summary"],
            json!({"pass": 0, "fail": 0, "warn": 1, "error": 0, "skip": 0})
        );
        // The cluster report has the cluster-scoped failure and the pass summary, and no namespaced result.
        let c = &reports.cluster;
        assert_eq!(
            c["summary"],
            json!({"pass": 1, "fail": 1, "warn": 0, "error": 0, "skip": 0})
        );
        assert_eq!(c["results"][0]["resources"][0]["name"], "alice");
        assert_eq!(c["results"][1]["result"], "pass");
        assert_eq!(
            c["results"][1]["message"],
            "2 of 6 evaluated resources comply"
        );
    }

    #[test]
    fn a_compliant_control_shows_one_pass() {
        let reports = build(
            &control(None),
            &evaluation(vec![], summary(4, 4, 0, 0)),
            now(),
        );
        assert!(reports.namespaced.is_empty());
        let c = &reports.cluster;
        assert_eq!(
            c["summary"],
            json!({"pass": 1, "fail": 0, "warn": 0, "error": 0, "skip": 0})
        );
        let pass = &c["results"][0];
        assert_eq!(pass["result"], "pass");
        assert_eq!(pass["message"], "4 resources comply");
        assert_eq!(pass["policy"], "mfa");
        assert_eq!(pass["severity"], "medium");
        assert_eq!(pass["properties"]["passed"], "4");
        assert_eq!(pass["properties"]["evaluated"], "4");
        assert!(pass.get("resources").is_none());
        // Nothing in scope is compliant too, and says so.
        let empty = build(
            &control(None),
            &evaluation(vec![], summary(0, 0, 0, 0)),
            now(),
        );
        assert_eq!(
            empty.cluster["results"][0]["message"],
            "no resources in scope; nothing fails"
        );
        // A control where everything fails has no pass result.
        let failing = evaluation(vec![Finding::fail(crb("a"), "r", "m")], summary(1, 0, 1, 0));
        let reports = build(&control(None), &failing, now());
        assert_eq!(reports.cluster["summary"]["pass"], 0);
        assert_eq!(reports.cluster["results"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn reports_are_bounded_failures_first() {
        let mut findings: Vec<Finding> = (0..400)
            .map(|i| Finding::notice(crb(&format!("n{i:03}")), "r", "notice"))
            .collect();
        findings.extend((0..300).map(|i| Finding::fail(crb(&format!("f{i:03}")), "r", "fail")));
        let e = evaluation(findings, summary(800, 100, 300, 0));
        let reports = build(&control(None), &e, now());
        let c = &reports.cluster;
        let results = c["results"].as_array().unwrap();
        assert_eq!(results.len(), MAX_RESULTS);
        assert!(results[..300].iter().all(|r| r["result"] == "fail"));
        assert!(results[300..].iter().all(|r| r["result"] == "warn"));
        assert_eq!(
            results[0]["resources"][0]["name"], "f000",
            "evaluation order kept within a result"
        );
        // 400 notices + 300 failures + 1 pass = 701 results, 201 left out; the summary counts them all.
        assert_eq!(c["metadata"]["annotations"][TRUNCATED_ANNOTATION], "201");
        assert_eq!(
            c["summary"],
            json!({"pass": 1, "fail": 300, "warn": 400, "error": 0, "skip": 0})
        );
        let size = serde_json::to_vec(c).unwrap().len();
        assert!(size < 1_000_000, "report is {size} bytes");
    }

    #[test]
    fn long_messages_and_names_stay_valid() {
        let long = "é".repeat(2000);
        let e = evaluation(
            vec![Finding::fail(crb("a"), "r", long)],
            summary(1, 0, 1, 0),
        );
        let m = build(&control(None), &e, now()).cluster["results"][0]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(m.len() <= MAX_MESSAGE_BYTES && m.ends_with("(shortened)"));

        assert_eq!(report_name("mfa"), "soc2-mfa");
        let name = "a".repeat(253);
        let report = report_name(&name);
        assert_eq!(report.len(), 253);
        assert!(report.starts_with("soc2-aaa"));
        assert_ne!(report, report_name(&"a".repeat(252)));
        let label = control_label_value(&format!("{}.b", "a".repeat(61)));
        assert_eq!(label.len(), 63);
        assert!(label.chars().next_back().unwrap().is_ascii_alphanumeric());
        assert_eq!(control_label_value("mfa"), "mfa");
        assert_eq!(
            label_selector("mfa"),
            "soc2.dev/control=mfa,app.kubernetes.io/managed-by=soc2-operator"
        );
    }

    #[test]
    fn a_control_without_uid_has_no_owner() {
        let mut c = control(None);
        c.metadata.uid = None;
        let reports = build(&c, &evaluation(vec![], summary(0, 0, 0, 0)), now());
        assert!(reports.cluster["metadata"].get("ownerReferences").is_none());
    }

    #[test]
    fn timestamps_before_the_epoch_keep_nanos_positive() {
        let t: Timestamp = "1969-12-31T23:59:59.25Z".parse().unwrap();
        assert_eq!(timestamp(t), json!({"seconds": -1, "nanos": 250_000_000}));
    }
}
