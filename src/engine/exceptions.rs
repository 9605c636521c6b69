//! ControlExceptions, decided purely: is an exception valid, has it expired, which findings does it cover.
//!
//! [`crate::engine::evaluate`] applies exceptions through [`apply`], so the controller, `soc2ctl scan` and the
//! admission webhook honour them identically. The controller writes each exception's status from [`assess`]. Nothing
//! here talks to the API server or reads the clock: `now` is an argument.
//!
//! Scoping: an exception in namespace N waives only findings about objects in N. An exception in the operator's
//! own namespace ([`ExceptionPolicy::cluster_namespace`]) is cluster-wide: it may waive any object, cluster-scoped
//! objects and control-plane aspects included. Only `Fail` findings are waived; `Unknown` stays unknown (missing
//! data is not a risk someone accepted) and `Notice` stays a notice.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Resource;
use kube::core::{Selector, SelectorExt};

use crate::api::{ControlException, ExceptedResource, ExceptionRef, ExceptionState, FindingResult};
use crate::checks::Finding;
use crate::view::{ClusterSnapshot, Gvk, ResourceRef};

/// The default maximum lifetime of an exception, in days (`--max-exception-days`).
pub const DEFAULT_MAX_EXCEPTION_DAYS: u32 = 365;
/// The namespace cluster-wide exceptions live in when none is configured: where the kustomize base installs the
/// operator.
pub const DEFAULT_OPERATOR_NAMESPACE: &str = "soc2-system";

/// The operator's rules for exceptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExceptionPolicy {
    /// The operator's own namespace: exceptions there are cluster-wide.
    pub cluster_namespace: String,
    /// The longest an exception may run, from its creation to `expiresAt`.
    pub max_lifetime_days: u32,
}

impl Default for ExceptionPolicy {
    fn default() -> Self {
        ExceptionPolicy {
            cluster_namespace: DEFAULT_OPERATOR_NAMESPACE.into(),
            max_lifetime_days: DEFAULT_MAX_EXCEPTION_DAYS,
        }
    }
}

/// Where an exception stands, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    /// Active, Expired or Invalid.
    pub state: ExceptionState,
    /// A stable PascalCase reason.
    pub reason: &'static str,
    /// What it means, and for Invalid what to fix.
    pub message: String,
}

impl Assessment {
    fn invalid(reason: &'static str, message: impl Into<String>) -> Self {
        Assessment {
            state: ExceptionState::Invalid,
            reason,
            message: message.into(),
        }
    }
}

/// `namespace/name` of an exception.
pub fn key(exception: &ControlException) -> String {
    format!(
        "{}/{}",
        exception.metadata.namespace.as_deref().unwrap_or(""),
        exception.metadata.name.as_deref().unwrap_or("")
    )
}

fn is_cluster_wide(exception: &ControlException, policy: &ExceptionPolicy) -> bool {
    exception.metadata.namespace.as_deref() == Some(policy.cluster_namespace.as_str())
}

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

fn selector_is_empty(s: &LabelSelector) -> bool {
    s.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
}

/// Decides an exception's state at `now`. `control_exists` is `Some(false)` when the named Control is known not to
/// exist (the controller looked it up); `None` when the caller evaluates that control itself.
///
/// Invalid outranks Expired: an exception that was never valid is reported as such even after its expiry.
pub fn assess(
    exception: &ControlException,
    control_exists: Option<bool>,
    policy: &ExceptionPolicy,
    now: Timestamp,
) -> Assessment {
    let spec = &exception.spec;
    let Some(namespace) = exception.metadata.namespace.as_deref() else {
        return Assessment::invalid(
            "MissingNamespace",
            "a ControlException is namespaced; give it metadata.namespace",
        );
    };
    if blank(&spec.control) {
        return Assessment::invalid("MissingControl", "spec.control must name a Control");
    }
    if blank(&spec.approved_by) {
        return Assessment::invalid(
            "MissingApprover",
            "spec.approvedBy is empty: an exception must name who accepted the risk",
        );
    }
    if blank(&spec.justification) {
        return Assessment::invalid(
            "MissingJustification",
            "spec.justification is empty: say why the risk is accepted and what compensates for it",
        );
    }
    if blank(&spec.ticket) {
        return Assessment::invalid(
            "MissingTicket",
            "spec.ticket is empty: reference the ticket that records the approval",
        );
    }
    let resources = spec.resources.as_deref().unwrap_or_default();
    if resources.is_empty() && spec.selector.is_none() {
        return Assessment::invalid(
            "NothingExcepted",
            "neither spec.resources nor spec.selector is set: name what is excepted",
        );
    }
    let cluster_wide = is_cluster_wide(exception, policy);
    for (i, r) in resources.iter().enumerate() {
        if blank(&r.kind) || blank(&r.name) {
            return Assessment::invalid(
                "InvalidResource",
                format!("spec.resources[{i}]: kind and name must be set"),
            );
        }
        if let Some(ns) = r.namespace.as_deref()
            && ns != namespace
            && !cluster_wide
        {
            return Assessment::invalid(
                "NamespaceNotAllowed",
                format!(
                    "spec.resources[{i}] is in namespace {ns}, but an exception in namespace {namespace} may only \
                     waive resources in {namespace}; create it in {ns}, or in {} for a cluster-wide exception",
                    policy.cluster_namespace
                ),
            );
        }
    }
    if let Some(selector) = &spec.selector {
        if selector_is_empty(selector) {
            return Assessment::invalid(
                "SelectorTooBroad",
                "spec.selector is empty and would waive every finding: give matchLabels or matchExpressions",
            );
        }
        if let Err(e) = Selector::try_from(selector.clone()) {
            return Assessment::invalid("InvalidSelector", format!("spec.selector: {e}"));
        }
    }
    let expires = spec.expires_at.0;
    let max = SignedDuration::from_hours(24 * i64::from(policy.max_lifetime_days));
    // Offline (manifests on disk) there may be no creation time: then the lifetime is judged from now, and an
    // expiry in the past is simply Expired.
    let creation = exception.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let (created, since) = (
        creation.unwrap_or(now),
        if creation.is_some() {
            "creation"
        } else {
            "now"
        },
    );
    if creation.is_some() && expires <= created {
        return Assessment::invalid(
            "ExpiredAtCreation",
            format!("spec.expiresAt {expires} is not after the exception's creation at {created}"),
        );
    }
    if expires.duration_since(created) > max {
        return Assessment::invalid(
            "LifetimeTooLong",
            format!(
                "spec.expiresAt {expires} is more than the maximum of {} days after {since} ({created}); \
                 shorten it and renew the exception when it ends",
                policy.max_lifetime_days
            ),
        );
    }
    if control_exists == Some(false) {
        return Assessment::invalid(
            "ControlNotFound",
            format!(
                "Control {} does not exist; the exception waives nothing",
                spec.control
            ),
        );
    }
    if now >= expires {
        return Assessment {
            state: ExceptionState::Expired,
            reason: "Expired",
            message: format!(
                "expired at {expires}; the findings of control {} it covered fail again",
                spec.control
            ),
        };
    }
    Assessment {
        state: ExceptionState::Active,
        reason: "Approved",
        message: format!(
            "approved by {} ({}); waives findings of control {} until {expires}",
            spec.approved_by, spec.ticket, spec.control
        ),
    }
}

/// The reference recorded on a finding the exception covers.
pub fn reference(exception: &ControlException) -> ExceptionRef {
    ExceptionRef {
        name: key(exception),
        approved_by: exception.spec.approved_by.clone(),
        ticket: exception.spec.ticket.clone(),
        expires_at: exception.spec.expires_at.0.to_string(),
    }
}

fn resource_matches(
    r: &ExceptedResource,
    own_namespace: &str,
    cluster_wide: bool,
    finding: &ResourceRef,
) -> bool {
    // Unset namespace: the exception's own for namespaced exceptions; cluster-scoped for cluster-wide ones.
    let namespace = r
        .namespace
        .as_deref()
        .or((!cluster_wide).then_some(own_namespace));
    r.kind == finding.kind
        && r.name == finding.name
        && r.api_version
            .as_deref()
            .is_none_or(|v| v == finding.api_version)
        && namespace == finding.namespace.as_deref()
}

/// True when `exception` (assumed Active) covers a finding about `resource`, whose labels are `labels` (`None` when
/// the object is not in the view or is a control-plane aspect).
pub fn covers(
    exception: &ControlException,
    policy: &ExceptionPolicy,
    resource: &ResourceRef,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    Matcher::new(exception).covers(policy, resource, || labels)
}

/// An active exception with its selector compiled once per evaluation.
struct Matcher<'a> {
    exception: &'a ControlException,
    selector: Option<Selector>,
}

impl<'a> Matcher<'a> {
    fn new(exception: &'a ControlException) -> Self {
        let selector = exception
            .spec
            .selector
            .as_ref()
            .filter(|s| !selector_is_empty(s))
            .and_then(|s| Selector::try_from(s.clone()).ok());
        Matcher {
            exception,
            selector,
        }
    }

    /// `labels` is called only when the selector decides.
    fn covers<'l>(
        &self,
        policy: &ExceptionPolicy,
        resource: &ResourceRef,
        labels: impl FnOnce() -> Option<&'l BTreeMap<String, String>>,
    ) -> bool {
        let Some(own) = self.exception.metadata.namespace.as_deref() else {
            return false;
        };
        let cluster_wide = is_cluster_wide(self.exception, policy);
        if !cluster_wide && resource.namespace.as_deref() != Some(own) {
            return false;
        }
        let by_name = self
            .exception
            .spec
            .resources
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|r| resource_matches(r, own, cluster_wide, resource));
        by_name
            || self.selector.as_ref().is_some_and(|sel| {
                let empty = BTreeMap::new();
                sel.matches(labels().unwrap_or(&empty))
            })
    }
}

/// The exceptions for `control` that are active at `now`, in `namespace/name` order (the first covering one is
/// recorded on a finding).
pub fn active_for<'a>(
    control: &str,
    view: &'a ClusterSnapshot,
    now: Timestamp,
) -> Vec<&'a ControlException> {
    let mut active: Vec<&ControlException> = view
        .control_exceptions
        .iter()
        .map(AsRef::as_ref)
        .filter(|e| e.spec.control == control)
        .filter(|e| assess(e, None, &view.exception_policy, now).state == ExceptionState::Active)
        .collect();
    active.sort_by_key(|e| key(e));
    active
}

/// Marks the `Fail` findings that an active exception for `control` covers as `Excepted`, naming the exception.
/// Cost follows the findings, not the cluster: labels are looked up (through an index built on first need) only
/// for findings a selector has to decide.
pub fn apply(control: &str, findings: &mut [Finding], view: &ClusterSnapshot, now: Timestamp) {
    let active: Vec<Matcher<'_>> = active_for(control, view, now)
        .into_iter()
        .map(Matcher::new)
        .collect();
    if active.is_empty() {
        return;
    }
    let mut index = LabelIndex::default();
    for finding in findings
        .iter_mut()
        .filter(|f| f.result == FindingResult::Fail)
    {
        let resource = &finding.resource;
        let covering = active.iter().find(|m| {
            m.covers(&view.exception_policy, resource, || {
                index.labels(view, resource)
            })
        });
        if let Some(m) = covering {
            finding.result = FindingResult::Excepted;
            finding.exception = Some(reference(m.exception));
        }
    }
}

/// The labels of one kind's objects by (namespace, name).
type KindLabels<'v> = BTreeMap<(Option<String>, String), &'v BTreeMap<String, String>>;

/// Labels by (apiVersion, kind, namespace, name), one kind at a time, built when a selector first needs that kind.
#[derive(Default)]
struct LabelIndex<'v> {
    by_kind: BTreeMap<(String, String), KindLabels<'v>>,
}

impl<'v> LabelIndex<'v> {
    fn labels(
        &mut self,
        view: &'v ClusterSnapshot,
        r: &ResourceRef,
    ) -> Option<&'v BTreeMap<String, String>> {
        let kind = self
            .by_kind
            .entry((r.api_version.clone(), r.kind.clone()))
            .or_insert_with(|| index_kind(view, &r.api_version, &r.kind));
        kind.get(&(r.namespace.clone(), r.name.clone())).copied()
    }
}

fn index_list<K: Resource>(list: &[std::sync::Arc<K>]) -> KindLabels<'_> {
    list.iter()
        .filter_map(|o| {
            let m = o.meta();
            Some(((m.namespace.clone(), m.name.clone()?), m.labels.as_ref()?))
        })
        .collect()
}

/// The labels of the objects of one kind: those read by GVK (CEL's findings are about them, and a kind
/// read both ways holds the same objects), else the typed list of that kind.
fn index_kind<'v>(view: &'v ClusterSnapshot, api_version: &str, kind: &str) -> KindLabels<'v> {
    if let Some(objects) = view.dynamic.get(&Gvk::from_api_version(api_version, kind)) {
        return index_list(objects);
    }
    match kind {
        "Namespace" => index_list(&view.namespaces),
        "Node" => index_list(&view.nodes),
        "Pod" if view.pods.is_empty() => index_list(&view.control_plane_pods),
        "Pod" => index_list(&view.pods),
        "Secret" => index_list(&view.service_account_token_secrets),
        "Role" => index_list(&view.roles),
        "ClusterRole" => index_list(&view.cluster_roles),
        "RoleBinding" => index_list(&view.role_bindings),
        "ClusterRoleBinding" => index_list(&view.cluster_role_bindings),
        "Deployment" => index_list(&view.deployments),
        "StatefulSet" => index_list(&view.stateful_sets),
        "DaemonSet" => index_list(&view.daemon_sets),
        "CronJob" => index_list(&view.cron_jobs),
        "Job" => index_list(&view.jobs),
        "Service" => index_list(&view.services),
        "ServiceAccount" => index_list(&view.service_accounts),
        "NetworkPolicy" => index_list(&view.network_policies),
        "Ingress" => index_list(&view.ingresses),
        "PodDisruptionBudget" => index_list(&view.pod_disruption_budgets),
        // Kinds the view does not hold (control-plane aspects, kinds added later): no labels, so only selectors
        // that match unlabelled objects select them.
        _ => BTreeMap::new(),
    }
}

/// The earliest moment an active exception for `control` expires: the controller re-evaluates then, so that the
/// findings fail again at that moment.
pub fn next_expiry(control: &str, view: &ClusterSnapshot, now: Timestamp) -> Option<Timestamp> {
    active_for(control, view, now)
        .into_iter()
        .map(|e| e.spec.expires_at.0)
        .min()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::view::stored::Deployment;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelectorRequirement, ObjectMeta, Time,
    };

    use super::*;
    use crate::api::ControlExceptionSpec;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const CREATED: &str = "2026-01-01T00:00:00Z";
    const EXPIRES: &str = "2026-06-01T00:00:00Z";

    fn exception(namespace: &str, resources: Vec<ExceptedResource>) -> ControlException {
        ControlException {
            metadata: ObjectMeta {
                name: Some("legacy".into()),
                namespace: Some(namespace.into()),
                creation_timestamp: Some(Time(at(CREATED))),
                ..Default::default()
            },
            spec: ControlExceptionSpec {
                control: "change-approval".into(),
                resources: Some(resources),
                selector: None,
                justification: "vendor appliance, patched quarterly".into(),
                approved_by: "ciso@example.com".into(),
                ticket: "SEC-42".into(),
                expires_at: Time(at(EXPIRES)),
            },
            status: None,
        }
    }

    fn deployment(ns: Option<&str>, name: &str) -> ExceptedResource {
        ExceptedResource {
            api_version: None,
            kind: "Deployment".into(),
            name: name.into(),
            namespace: ns.map(str::to_string),
        }
    }

    fn reference(ns: Option<&str>, kind: &str, name: &str) -> ResourceRef {
        ResourceRef {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            namespace: ns.map(str::to_string),
            name: name.into(),
            uid: None,
        }
    }

    fn policy() -> ExceptionPolicy {
        ExceptionPolicy::default()
    }

    fn now() -> Timestamp {
        at("2026-03-01T00:00:00Z")
    }

    fn reason(e: &ControlException) -> &'static str {
        assess(e, None, &policy(), now()).reason
    }

    #[test]
    fn a_complete_exception_is_active_and_says_who_approved_it() {
        let e = exception("web", vec![deployment(None, "api")]);
        let a = assess(&e, Some(true), &policy(), now());
        assert_eq!(a.state, ExceptionState::Active);
        assert_eq!(a.reason, "Approved");
        assert!(a.message.contains("ciso@example.com") && a.message.contains("SEC-42"));
    }

    #[test]
    fn blank_required_fields_are_invalid_with_a_precise_reason() {
        let base = exception("web", vec![deployment(None, "api")]);
        let mut e = base.clone();
        e.spec.approved_by = "  ".into();
        assert_eq!(reason(&e), "MissingApprover");
        let mut e = base.clone();
        e.spec.justification = String::new();
        assert_eq!(reason(&e), "MissingJustification");
        let mut e = base.clone();
        e.spec.ticket = String::new();
        assert_eq!(reason(&e), "MissingTicket");
        let mut e = base.clone();
        e.spec.control = String::new();
        assert_eq!(reason(&e), "MissingControl");
        let mut e = base.clone();
        e.spec.resources = Some(vec![]);
        assert_eq!(reason(&e), "NothingExcepted");
        let mut e = base.clone();
        e.spec.resources = Some(vec![deployment(None, "")]);
        assert_eq!(reason(&e), "InvalidResource");
        let mut e = base;
        e.metadata.namespace = None;
        assert_eq!(reason(&e), "MissingNamespace");
    }

    #[test]
    fn selectors_must_be_valid_and_not_empty() {
        let mut e = exception("web", vec![]);
        e.spec.selector = Some(LabelSelector::default());
        assert_eq!(reason(&e), "SelectorTooBroad");
        e.spec.selector = Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "Near".into(),
                values: None,
            }]),
            ..Default::default()
        });
        let a = assess(&e, None, &policy(), now());
        assert_eq!(a.reason, "InvalidSelector");
        assert!(a.message.starts_with("spec.selector"));
    }

    #[test]
    fn lifetime_is_checked_against_creation() {
        let mut e = exception("web", vec![deployment(None, "api")]);
        e.spec.expires_at = Time(at(CREATED));
        assert_eq!(reason(&e), "ExpiredAtCreation");
        e.spec.expires_at = Time(at("2025-12-01T00:00:00Z"));
        assert_eq!(reason(&e), "ExpiredAtCreation");
        // Exactly the maximum is allowed; one second more is not.
        e.spec.expires_at = Time(at("2027-01-01T00:00:00Z"));
        assert_eq!(
            assess(&e, None, &policy(), now()).state,
            ExceptionState::Active
        );
        e.spec.expires_at = Time(at("2027-01-01T00:00:01Z"));
        assert_eq!(reason(&e), "LifetimeTooLong");
        let short = ExceptionPolicy {
            max_lifetime_days: 30,
            ..policy()
        };
        e.spec.expires_at = Time(at("2026-02-01T00:00:00Z"));
        assert_eq!(assess(&e, None, &short, now()).reason, "LifetimeTooLong");
    }

    #[test]
    fn without_creation_time_the_lifetime_counts_from_now() {
        let mut e = exception("web", vec![deployment(None, "api")]);
        e.metadata.creation_timestamp = None;
        e.spec.expires_at = Time(at("2027-03-01T00:00:00Z"));
        assert_eq!(
            assess(&e, None, &policy(), now()).state,
            ExceptionState::Active
        );
        e.spec.expires_at = Time(at("2027-03-01T00:00:01Z"));
        assert_eq!(reason(&e), "LifetimeTooLong");
        e.spec.expires_at = Time(at("2026-02-01T00:00:00Z"));
        assert_eq!(
            reason(&e),
            "Expired",
            "no creation time: a past expiry is an expiry"
        );
    }

    #[test]
    fn expiry_is_exact_at_the_boundary() {
        let e = exception("web", vec![deployment(None, "api")]);
        let just_before = at("2026-05-31T23:59:59.999Z");
        assert_eq!(
            assess(&e, None, &policy(), just_before).state,
            ExceptionState::Active
        );
        let a = assess(&e, None, &policy(), at(EXPIRES));
        assert_eq!((a.state, a.reason), (ExceptionState::Expired, "Expired"));
        assert!(a.message.contains("fail again"));
    }

    #[test]
    fn a_missing_control_is_invalid_even_when_otherwise_valid() {
        let e = exception("web", vec![deployment(None, "api")]);
        let a = assess(&e, Some(false), &policy(), now());
        assert_eq!(
            (a.state, a.reason),
            (ExceptionState::Invalid, "ControlNotFound")
        );
        assert!(a.message.contains("change-approval"));
    }

    #[test]
    fn invalid_outranks_expired() {
        let mut e = exception("web", vec![deployment(None, "api")]);
        e.spec.approved_by = String::new();
        assert_eq!(
            assess(&e, None, &policy(), at("2030-01-01T00:00:00Z")).reason,
            "MissingApprover"
        );
    }

    #[test]
    fn namespaced_exceptions_waive_only_their_namespace() {
        let e = exception("web", vec![deployment(None, "api")]);
        assert!(covers(
            &e,
            &policy(),
            &reference(Some("web"), "Deployment", "api"),
            None
        ));
        assert!(!covers(
            &e,
            &policy(),
            &reference(Some("shop"), "Deployment", "api"),
            None
        ));
        assert!(!covers(
            &e,
            &policy(),
            &reference(None, "Deployment", "api"),
            None
        ));
        assert!(!covers(
            &e,
            &policy(),
            &reference(Some("web"), "StatefulSet", "api"),
            None
        ));
        assert!(!covers(
            &e,
            &policy(),
            &reference(Some("web"), "Deployment", "web"),
            None
        ));
        // Naming another namespace is invalid, never a silent waiver.
        let other = exception("web", vec![deployment(Some("shop"), "api")]);
        assert_eq!(reason(&other), "NamespaceNotAllowed");
        assert!(!covers(
            &other,
            &policy(),
            &reference(Some("shop"), "Deployment", "api"),
            None
        ));
        // Its own namespace may be spelled out.
        let explicit = exception("web", vec![deployment(Some("web"), "api")]);
        assert_eq!(reason(&explicit), "Approved");
    }

    #[test]
    fn cluster_wide_exceptions_waive_any_namespace_and_cluster_scoped_objects() {
        let e = exception(
            DEFAULT_OPERATOR_NAMESPACE,
            vec![
                deployment(Some("shop"), "api"),
                ExceptedResource {
                    api_version: Some("rbac.authorization.k8s.io/v1".into()),
                    kind: "ClusterRoleBinding".into(),
                    name: "ops-admin".into(),
                    namespace: None,
                },
                ExceptedResource {
                    api_version: None,
                    kind: "KubeAPIServer".into(),
                    name: "kube-apiserver".into(),
                    namespace: None,
                },
            ],
        );
        assert_eq!(reason(&e), "Approved");
        assert!(covers(
            &e,
            &policy(),
            &reference(Some("shop"), "Deployment", "api"),
            None
        ));
        assert!(!covers(
            &e,
            &policy(),
            &reference(Some("web"), "Deployment", "api"),
            None
        ));
        let crb = ResourceRef {
            api_version: "rbac.authorization.k8s.io/v1".into(),
            kind: "ClusterRoleBinding".into(),
            namespace: None,
            name: "ops-admin".into(),
            uid: Some("u".into()),
        };
        assert!(covers(&e, &policy(), &crb, None));
        let wrong_version = ResourceRef {
            api_version: "rbac.authorization.k8s.io/v2".into(),
            ..crb
        };
        assert!(
            !covers(&e, &policy(), &wrong_version, None),
            "apiVersion, when given, must match"
        );
        let aspect = ResourceRef::aspect("v1", "KubeAPIServer", "kube-apiserver");
        assert!(
            covers(&e, &policy(), &aspect, None),
            "control-plane aspects"
        );
        // The same exception outside the operator's namespace is not cluster-wide.
        let elsewhere = ExceptionPolicy {
            cluster_namespace: "compliance".into(),
            ..policy()
        };
        assert!(!covers(&e, &elsewhere, &aspect, None));
    }

    #[test]
    fn selectors_match_the_labels_of_the_findings_objects() {
        let mut e = exception("web", vec![]);
        e.spec.selector = Some(LabelSelector {
            match_labels: Some([("legacy".to_string(), "true".to_string())].into()),
            ..Default::default()
        });
        let labels: BTreeMap<String, String> = [("legacy".to_string(), "true".to_string())].into();
        let r = reference(Some("web"), "Deployment", "api");
        assert!(covers(&e, &policy(), &r, Some(&labels)));
        assert!(!covers(&e, &policy(), &r, None));
        assert!(
            !covers(
                &e,
                &policy(),
                &reference(Some("shop"), "Deployment", "api"),
                Some(&labels)
            ),
            "the selector is confined to the namespace too"
        );
    }

    fn view_with(exceptions: Vec<ControlException>) -> ClusterSnapshot {
        ClusterSnapshot {
            control_exceptions: exceptions.into_iter().map(Arc::new).collect(),
            deployments: vec![Arc::new(Deployment {
                metadata: ObjectMeta {
                    name: Some("api".into()),
                    namespace: Some("web".into()),
                    labels: Some([("legacy".to_string(), "true".to_string())].into()),
                    ..Default::default()
                },
                ..Default::default()
            })],
            ..Default::default()
        }
    }

    #[test]
    fn apply_marks_only_fail_findings_of_the_named_control() {
        let mut by_selector = exception("web", vec![]);
        by_selector.spec.selector = Some(LabelSelector {
            match_labels: Some([("legacy".to_string(), "true".to_string())].into()),
            ..Default::default()
        });
        let view = view_with(vec![by_selector]);
        let r = reference(Some("web"), "Deployment", "api");
        let mut findings = vec![
            Finding::fail(r.clone(), "out-of-band-change", "edited"),
            Finding::unknown(r.clone(), "data-unavailable", "unknown"),
            Finding::notice(r.clone(), "break-glass", "noted"),
            Finding::fail(reference(Some("web"), "Deployment", "other"), "x", "y"),
        ];
        apply("change-approval", &mut findings, &view, now());
        let results: Vec<FindingResult> = findings.iter().map(|f| f.result).collect();
        assert_eq!(
            results,
            [
                FindingResult::Excepted,
                FindingResult::Unknown,
                FindingResult::Notice,
                FindingResult::Fail
            ]
        );
        let x = findings[0].exception.as_ref().unwrap();
        assert_eq!(
            (x.name.as_str(), x.approved_by.as_str(), x.ticket.as_str()),
            ("web/legacy", "ciso@example.com", "SEC-42")
        );
        assert_eq!(x.expires_at, EXPIRES);

        let mut other_control = vec![Finding::fail(r, "r", "m")];
        apply("logging", &mut other_control, &view, now());
        assert_eq!(other_control[0].result, FindingResult::Fail);
    }

    #[test]
    fn expired_and_invalid_exceptions_waive_nothing() {
        let r = reference(Some("web"), "Deployment", "api");
        let mut invalid = exception("web", vec![deployment(None, "api")]);
        invalid.spec.approved_by = String::new();
        for (view, when) in [
            (
                view_with(vec![exception("web", vec![deployment(None, "api")])]),
                at(EXPIRES),
            ),
            (view_with(vec![invalid]), now()),
        ] {
            let mut findings = vec![Finding::fail(r.clone(), "r", "m")];
            apply("change-approval", &mut findings, &view, when);
            assert_eq!(findings[0].result, FindingResult::Fail);
            assert!(findings[0].exception.is_none());
        }
    }

    #[test]
    fn next_expiry_is_the_earliest_active_one() {
        let a = exception("web", vec![deployment(None, "api")]);
        let mut b = a.clone();
        b.metadata.name = Some("sooner".into());
        b.spec.expires_at = Time(at("2026-04-01T00:00:00Z"));
        let mut gone = a.clone();
        gone.metadata.name = Some("gone".into());
        gone.spec.expires_at = Time(at("2026-02-01T00:00:00Z"));
        let view = view_with(vec![a, b, gone]);
        assert_eq!(
            next_expiry("change-approval", &view, now()),
            Some(at("2026-04-01T00:00:00Z"))
        );
        assert_eq!(next_expiry("logging", &view, now()), None);
    }
}
