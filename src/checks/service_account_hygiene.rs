//! Service-account hygiene (CC6.1): API credentials exist only where a workload needs them.
//!
//! A pod gets its ServiceAccount's token mounted unless the pod spec or the ServiceAccount sets
//! `automountServiceAccountToken: false` (the pod's setting wins when both are set). Most workloads never call the
//! Kubernetes API, and a mounted token is a credential an intruder in the container can use; a workload that needs
//! the API says why in an annotation. Legacy long-lived token Secrets are reported as the MFA-backed access check
//! reports them.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::jiff::Timestamp;

use super::mfa_access::legacy_tokens;
use super::workload_templates::in_scope;
use super::{Admissibility, Check, CheckReport, Finding};
use crate::api::{CheckKind, ServiceAccountHygieneCheck};
use crate::view::workloads::{PodTemplate, resource_kinds};
use crate::view::{ClusterSnapshot, Reads, ResourceKind, ScopeMatcher};

/// The service-account hygiene check (`spec.check.serviceAccountHygiene`).
pub struct ServiceAccountHygiene;

impl Check for ServiceAccountHygiene {
    const KIND: CheckKind = CheckKind::ServiceAccountHygiene;
    type Params = ServiceAccountHygieneCheck;

    fn params(check: &crate::api::Check) -> Option<&ServiceAccountHygieneCheck> {
        check.service_account_hygiene.as_ref()
    }

    fn reads(params: &ServiceAccountHygieneCheck) -> Reads {
        let mut kinds = Vec::new();
        if params.token_automount.unwrap_or(true) {
            kinds.push(ResourceKind::ServiceAccount);
            kinds.extend(Self::subject_kinds(params));
        }
        if params.legacy_token_secrets.unwrap_or(true) {
            kinds.push(ResourceKind::ServiceAccountTokenSecret);
        }
        Reads::kinds(&kinds)
    }

    /// The workload kinds, when token automounting is judged.
    fn subject_kinds(params: &ServiceAccountHygieneCheck) -> Vec<ResourceKind> {
        if params.token_automount.unwrap_or(true) {
            resource_kinds(params.effective_kinds())
        } else {
            Vec::new()
        }
    }

    fn namespace_local_context(_: &ServiceAccountHygieneCheck) -> Vec<ResourceKind> {
        vec![
            ResourceKind::Namespace,
            ResourceKind::ServiceAccount,
            ResourceKind::ServiceAccountTokenSecret,
        ]
    }

    fn admissibility(_: &ServiceAccountHygieneCheck) -> Admissibility {
        Admissibility::AuditOnly(
            "the serviceAccountHygiene check needs the workload's ServiceAccount, so one object at admission cannot decide it",
        )
    }

    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &ServiceAccountHygieneCheck,
        _: Timestamp,
    ) -> CheckReport {
        check(view, scope, params)
    }
}

/// Runs the check.
pub fn check(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &ServiceAccountHygieneCheck,
) -> CheckReport {
    let mut report = CheckReport::default();
    if params.token_automount.unwrap_or(true) {
        let annotation = params.effective_api_access_annotation();
        let templates = in_scope(view, scope, &params.effective_kinds(), &mut report);
        let accounts = AccountIndex::new(view, templates.len());
        for template in templates {
            report.evaluated += 1;
            if let Some(finding) = judge(&accounts, &template, &annotation) {
                report.findings.push(finding);
            }
        }
    }
    if params.legacy_token_secrets.unwrap_or(true) {
        legacy_tokens(view, scope, &mut report);
    }
    report
}

/// ServiceAccounts by (namespace, name), or why they are unknown; built once per run so that cost follows the number
/// of workloads, not workloads times accounts. For a few workloads (an incremental evaluation re-judging the ones
/// that changed) scanning the accounts is cheaper than indexing them all.
enum AccountIndex<'a> {
    Known(HashMap<(&'a str, &'a str), &'a ServiceAccount>),
    Few(&'a [std::sync::Arc<ServiceAccount>]),
    Unavailable(String),
}

/// Below one workload per this many accounts, accounts are scanned rather than indexed.
const SCAN_BELOW_ONE_IN: usize = 64;

impl<'a> AccountIndex<'a> {
    fn new(view: &'a ClusterSnapshot, workloads: usize) -> Self {
        match view.require(ResourceKind::ServiceAccount) {
            Err(reason) => AccountIndex::Unavailable(reason),
            Ok(()) if workloads < view.service_accounts.len() / SCAN_BELOW_ONE_IN => {
                AccountIndex::Few(&view.service_accounts)
            }
            Ok(()) => AccountIndex::Known(
                view.service_accounts
                    .iter()
                    .filter_map(|a| {
                        let m = &a.metadata;
                        Some(((m.namespace.as_deref()?, m.name.as_deref()?), a.as_ref()))
                    })
                    .collect(),
            ),
        }
    }
}

impl AccountIndex<'_> {
    /// The ServiceAccount `namespace/name`, or why accounts are unknown.
    fn get(&self, namespace: &str, name: &str) -> Result<Option<&ServiceAccount>, &str> {
        match self {
            AccountIndex::Unavailable(reason) => Err(reason),
            AccountIndex::Known(index) => Ok(index.get(&(namespace, name)).copied()),
            // The index keeps the last of duplicate keys; so does the scan.
            AccountIndex::Few(all) => Ok(all
                .iter()
                .rfind(|a| {
                    a.metadata.namespace.as_deref() == Some(namespace)
                        && a.metadata.name.as_deref() == Some(name)
                })
                .map(|a| a.as_ref())),
        }
    }
}

/// Whether the pods of a template get a token, and why.
enum Mount {
    No,
    Yes(String),
    Undecided(String),
}

fn token_mount(accounts: &AccountIndex<'_>, template: &PodTemplate<'_>, sa: &str) -> Mount {
    match template.spec.automount_service_account_token {
        Some(false) => return Mount::No,
        Some(true) => {
            return Mount::Yes("the pod spec sets automountServiceAccountToken: true".into());
        }
        None => {}
    }
    let namespace = template.meta.namespace.as_deref().unwrap_or_default();
    let account = match accounts.get(namespace, sa) {
        Err(reason) => {
            return Mount::Undecided(format!(
                "the pod spec leaves automountServiceAccountToken unset and ServiceAccounts could not be read ({reason}), so whether ServiceAccount {sa} disables automount is unknown"
            ));
        }
        Ok(account) => account,
    };
    match account.and_then(|a| a.automount_service_account_token) {
        Some(false) => Mount::No,
        Some(true) => Mount::Yes(format!(
            "ServiceAccount {sa} sets automountServiceAccountToken: true and the pod spec does not override it"
        )),
        None if account.is_none() => Mount::Yes(format!(
            "neither the pod spec nor ServiceAccount {sa} (not found in the namespace) disables automountServiceAccountToken"
        )),
        None => Mount::Yes(format!(
            "neither the pod spec nor ServiceAccount {sa} sets automountServiceAccountToken: false"
        )),
    }
}

fn judge(
    accounts: &AccountIndex<'_>,
    template: &PodTemplate<'_>,
    annotation: &str,
) -> Option<Finding> {
    let spec = template.spec;
    // `serviceAccount` is the deprecated alias the API server still honours when `serviceAccountName` is unset.
    let sa = spec
        .service_account_name
        .as_deref()
        .or(spec.service_account.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or("default");
    let why = match token_mount(accounts, template, sa) {
        Mount::No => return None,
        Mount::Undecided(reason) => {
            return Some(Finding::unknown(
                template.resource(),
                "service-account-token-automount",
                format!("Cannot tell whether the pods get an API token: {reason}."),
            ));
        }
        Mount::Yes(why) => why,
    };
    match template.annotation(annotation).map(str::trim) {
        Some(reason) if !reason.is_empty() => None,
        Some(_) => Some(Finding::fail(
            template.resource(),
            "service-account-token-automount",
            format!(
                "The pods get ServiceAccount {sa}'s API token mounted ({why}) and the annotation {annotation} is empty: state why the workload needs the Kubernetes API in it, or set automountServiceAccountToken: false in the pod spec."
            ),
        )),
        None => Some(Finding::fail(
            template.resource(),
            "service-account-token-automount",
            format!(
                "The pods get ServiceAccount {sa}'s API token mounted ({why}), but the workload does not declare a need for the Kubernetes API. Set automountServiceAccountToken: false in the pod spec, or annotate the workload with {annotation}: <why it needs the API>."
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
    use serde_json::{Value, json};

    use super::*;
    use crate::checks::FindingResult::{Fail, Unknown};
    use crate::checks::test_support::*;
    use crate::checks::workload_templates::fixtures::*;

    fn sa(ns: &str, name: &str, automount: Option<bool>) -> Arc<ServiceAccount> {
        let mut v = json!({"metadata": {"name": name, "namespace": ns}});
        if let Some(a) = automount {
            v["automountServiceAccountToken"] = json!(a);
        }
        Arc::new(serde_json::from_value(v).expect("sa"))
    }

    fn spec(extra: Value) -> Value {
        let mut s = json!({"containers": [{"name": "app", "image": "a"}]});
        merge(&mut s, extra);
        s
    }

    fn params() -> ServiceAccountHygieneCheck {
        ServiceAccountHygieneCheck {
            legacy_token_secrets: Some(false),
            ..Default::default()
        }
    }

    #[test]
    fn scanning_few_workloads_judges_as_the_index_does() {
        let indexed = view();
        let indexed_report = check(&indexed, &scope(&indexed), &params());
        // Enough unrelated accounts that each of these workloads alone is judged by scanning the accounts.
        let mut scanned = view();
        for i in 0..64 * 20 {
            scanned
                .service_accounts
                .insert(0, sa(&format!("team-{i}"), "quiet", Some(true)));
        }
        let mut findings = Vec::new();
        let mut evaluated = 0;
        for d in &indexed.deployments {
            let mut one = scanned.clone();
            one.deployments = vec![d.clone()];
            let r = check(&one, &scope(&one), &params());
            evaluated += r.evaluated;
            findings.extend(r.findings);
        }
        assert_eq!(evaluated, indexed_report.evaluated);
        assert_eq!(findings, indexed_report.findings);
        assert!(!findings.is_empty());
    }

    fn view() -> ClusterSnapshot {
        ClusterSnapshot {
            service_accounts: vec![
                sa("web", "default", None),
                sa("web", "quiet", Some(false)),
                sa("web", "loud", Some(true)),
                // Same name in another namespace must not be confused with web/quiet.
                sa("other", "quiet2", Some(false)),
            ],
            deployments: vec![
                deployment("web", "default-sa", spec(json!({})), json!({})),
                deployment(
                    "web",
                    "pod-off",
                    spec(json!({"automountServiceAccountToken": false})),
                    json!({}),
                ),
                deployment(
                    "web",
                    "sa-off",
                    spec(json!({"serviceAccountName": "quiet"})),
                    json!({}),
                ),
                deployment(
                    "web",
                    "pod-on-overrides-sa",
                    spec(
                        json!({"serviceAccountName": "quiet", "automountServiceAccountToken": true}),
                    ),
                    json!({}),
                ),
                deployment(
                    "web",
                    "sa-on",
                    spec(json!({"serviceAccountName": "loud"})),
                    json!({}),
                ),
                deployment(
                    "web",
                    "missing-sa",
                    spec(json!({"serviceAccountName": "quiet2"})),
                    json!({}),
                ),
                deployment(
                    "web",
                    "declared",
                    spec(json!({})),
                    json!({"annotations": {"soc2.dev/api-access": "watches ConfigMaps for feature flags"}}),
                ),
                deployment(
                    "web",
                    "declared-empty",
                    spec(json!({})),
                    json!({"annotations": {"soc2.dev/api-access": " "}}),
                ),
                deployment("kube-system", "coredns", spec(json!({})), json!({})),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn automount_follows_pod_spec_then_service_account() {
        let v = view();
        let report = check(&v, &scope(&v), &params());
        let rule = "service-account-token-automount";
        assert_report(
            &report,
            8,
            &[
                ("Deployment web/declared-empty", Fail, rule),
                ("Deployment web/default-sa", Fail, rule),
                ("Deployment web/missing-sa", Fail, rule),
                ("Deployment web/pod-on-overrides-sa", Fail, rule),
                ("Deployment web/sa-on", Fail, rule),
            ],
        );
        let missing = report
            .findings
            .iter()
            .find(|f| f.resource.name == "missing-sa")
            .expect("finding");
        assert!(missing.message.contains("not found"), "{}", missing.message);
    }

    #[test]
    fn a_custom_annotation_name() {
        let mut v = view();
        v.deployments = vec![deployment(
            "web",
            "operator",
            spec(json!({})),
            json!({"annotations": {"example.com/needs-api": "reconciles CRDs"}}),
        )];
        let p = ServiceAccountHygieneCheck {
            api_access_annotation: Some("example.com/needs-api".into()),
            ..params()
        };
        assert_report(&check(&v, &scope(&v), &p), 1, &[]);
    }

    #[test]
    fn unavailable_service_accounts_make_only_undecided_workloads_unknown() {
        let mut v = view();
        v.service_accounts.clear();
        v.unavailable
            .insert(ResourceKind::ServiceAccount, "forbidden".into());
        v.deployments.truncate(2);
        assert_report(
            &check(&v, &scope(&v), &params()),
            2,
            &[(
                "Deployment web/default-sa",
                Unknown,
                "service-account-token-automount",
            )],
        );
    }

    #[test]
    fn legacy_token_secrets_are_reported_like_mfa_access_does() {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "ci-token", "namespace": "web",
                          "annotations": {"kubernetes.io/service-account.name": "ci"}},
            "type": "kubernetes.io/service-account-token",
        }))
        .expect("secret");
        let v = ClusterSnapshot {
            service_account_token_secrets: vec![Arc::new(secret)],
            ..Default::default()
        };
        let p = ServiceAccountHygieneCheck {
            token_automount: Some(false),
            ..Default::default()
        };
        let report = check(&v, &scope(&v), &p);
        assert_report(
            &report,
            1,
            &[("Secret web/ci-token", Fail, "legacy-service-account-token")],
        );
        assert!(message(&report).contains("ServiceAccount ci"));
        let off = ServiceAccountHygieneCheck {
            legacy_token_secrets: Some(false),
            ..p
        };
        assert_report(&check(&v, &scope(&v), &off), 0, &[]);
    }
}
