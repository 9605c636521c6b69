//! Service-account hygiene (CC6.1): API credentials exist only where a workload needs them.
//!
//! A pod gets its ServiceAccount's token mounted unless the pod spec or the ServiceAccount sets
//! `automountServiceAccountToken: false` (the pod's setting wins when both are set). Most workloads never call the
//! Kubernetes API, and a mounted token is a credential an intruder in the container can use; a workload that needs
//! the API says why in an annotation. Legacy long-lived token Secrets are reported as the MFA-backed access check
//! reports them.

use super::mfa_access::legacy_tokens;
use super::workload_templates::in_scope;
use super::{CheckReport, Finding};
use crate::api::ServiceAccountHygieneCheck;
use crate::view::workloads::PodTemplate;
use crate::view::{ClusterSnapshot, ResourceKind, ScopeMatcher};

/// Runs the check.
pub fn check(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &ServiceAccountHygieneCheck,
) -> CheckReport {
    let mut report = CheckReport::default();
    if params.token_automount.unwrap_or(true) {
        let annotation = params.effective_api_access_annotation();
        for template in in_scope(view, scope, &params.effective_kinds(), &mut report) {
            report.evaluated += 1;
            if let Some(finding) = judge(view, &template, &annotation) {
                report.findings.push(finding);
            }
        }
    }
    if params.legacy_token_secrets.unwrap_or(true) {
        legacy_tokens(view, scope, &mut report);
    }
    report
}

/// Whether the pods of a template get a token, and why.
enum Mount {
    No,
    Yes(String),
    Undecided(String),
}

fn token_mount(view: &ClusterSnapshot, template: &PodTemplate<'_>, sa: &str) -> Mount {
    match template.spec.automount_service_account_token {
        Some(false) => return Mount::No,
        Some(true) => {
            return Mount::Yes("the pod spec sets automountServiceAccountToken: true".into());
        }
        None => {}
    }
    if let Err(reason) = view.require(ResourceKind::ServiceAccount) {
        return Mount::Undecided(format!(
            "the pod spec leaves automountServiceAccountToken unset and ServiceAccounts could not be read ({reason}), so whether ServiceAccount {sa} disables automount is unknown"
        ));
    }
    let namespace = template.meta.namespace.as_deref();
    let account = view.service_accounts.iter().find(|a| {
        a.metadata.name.as_deref() == Some(sa) && a.metadata.namespace.as_deref() == namespace
    });
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

fn judge(view: &ClusterSnapshot, template: &PodTemplate<'_>, annotation: &str) -> Option<Finding> {
    let spec = template.spec;
    #[allow(deprecated)]
    let sa = spec
        .service_account_name
        .as_deref()
        .or(spec.service_account.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or("default");
    let why = match token_mount(view, template, sa) {
        Mount::No => return None,
        Mount::Undecided(reason) => {
            return Some(Finding::unknown(
                template.resource.clone(),
                "service-account-token-automount",
                format!("Cannot tell whether the pods get an API token: {reason}."),
            ));
        }
        Mount::Yes(why) => why,
    };
    match template.annotation(annotation).map(str::trim) {
        Some(reason) if !reason.is_empty() => None,
        Some(_) => Some(Finding::fail(
            template.resource.clone(),
            "service-account-token-automount",
            format!(
                "The pods get ServiceAccount {sa}'s API token mounted ({why}) and the annotation {annotation} is empty: state why the workload needs the Kubernetes API in it, or set automountServiceAccountToken: false in the pod spec."
            ),
        )),
        None => Some(Finding::fail(
            template.resource.clone(),
            "service-account-token-automount",
            format!(
                "The pods get ServiceAccount {sa}'s API token mounted ({why}), but the workload does not declare a need for the Kubernetes API. Set automountServiceAccountToken: false in the pod spec, or annotate the workload with {annotation}: <why it needs the API>."
            ),
        )),
    }
}
