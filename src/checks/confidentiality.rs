//! Confidentiality (C1.1, C1.2): confidential information stays where it is classified.
//!
//! Three parts, each can be turned off on its own so that a control states one thing:
//! - network isolation: every in-scope namespace classified confidential denies ingress by default
//!   ([`namespace_default_denies_ingress`]);
//! - no secret-like literals: a container environment variable whose name looks like a secret (PASSWORD, TOKEN,
//!   ...) must come from `valueFrom` (a Secret), never a literal `value`, which anyone who can read the workload
//!   sees. The value itself never reaches a finding;
//! - confidential Secrets: Secrets are namespaced, so a pod can only reference Secrets of its own namespace. The
//!   check reads "no confidential Secret mounted into out-of-scope pods" as: a workload in a confidential
//!   namespace may reference that namespace's Secrets; a workload elsewhere that references (volume, projected
//!   volume, env, envFrom) a Secret declared confidential in `confidentialSecrets` fails unless it is labeled as
//!   approved for confidential access (`confidentialAccessSelector`).

use k8s_openapi::jiff::Timestamp;
use kube::core::{Selector, SelectorExt};

use super::network_policy::namespace_default_denies_ingress;
use super::workload_templates::{all_containers, in_scope, join_names};
use super::{Admissibility, Check, CheckReport, Finding};
use crate::api::{CheckKind, ConfidentialityCheck};
use crate::engine::validation::SpecError;
use crate::view::scope_matcher::compile_selector;
use crate::view::stored::{Container, PodSpec};
use crate::view::workloads::{PodTemplate, labels, resource_kinds, template_labels};
use crate::view::{ClusterSnapshot, Reads, ResourceKind, ResourceRef, ScopeMatcher};

/// The confidentiality check (`spec.check.confidentiality`).
pub struct Confidentiality;

impl Check for Confidentiality {
    const KIND: CheckKind = CheckKind::Confidentiality;
    type Params = ConfidentialityCheck;

    fn params(check: &crate::api::Check) -> Option<&ConfidentialityCheck> {
        check.confidentiality.as_ref()
    }

    fn validate(params: &ConfidentialityCheck) -> Result<(), SpecError> {
        if let Some(s) = &params.namespace_selector {
            compile_selector(s, "spec.check.confidentiality.namespaceSelector")?;
        }
        if let Some(s) = &params.confidential_access_selector {
            compile_selector(s, "spec.check.confidentiality.confidentialAccessSelector")?;
        }
        params.parsed_confidential_secrets()
            .map_err(|entry| SpecError::InvalidParameter {
                field: "spec.check.confidentiality.confidentialSecrets".into(),
                reason: format!("{entry:?} is not a Secret reference; write it as namespace/name, e.g. payments/card-vault"),
            })?;
        Ok(())
    }

    fn reads(params: &ConfidentialityCheck) -> Reads {
        let mut kinds = Vec::new();
        if params.network_isolation.unwrap_or(true) {
            kinds.push(ResourceKind::NetworkPolicy);
        }
        let secrets = params
            .confidential_secrets
            .as_ref()
            .is_some_and(|s| !s.is_empty());
        if params.env_literals.unwrap_or(true) || secrets {
            kinds.extend(Self::subject_kinds(params));
        }
        Reads::kinds(&kinds)
    }

    fn subject_kinds(params: &ConfidentialityCheck) -> Vec<ResourceKind> {
        resource_kinds(params.effective_kinds())
    }

    fn namespace_local_context(_: &ConfidentialityCheck) -> Vec<ResourceKind> {
        vec![ResourceKind::Namespace, ResourceKind::NetworkPolicy]
    }

    fn admissibility(params: &ConfidentialityCheck) -> Admissibility {
        if params.network_isolation.unwrap_or(true) {
            Admissibility::AuditOnly(
                "the confidentiality check's network-isolation part needs the namespace's NetworkPolicies, so one object at admission cannot decide it; set networkIsolation: false in a separate control to enforce the environment-literal rule",
            )
        } else {
            Admissibility::per_object(Self::subject_kinds(params))
        }
    }

    fn judge(
        view: &ClusterSnapshot,
        scope: &ScopeMatcher,
        params: &ConfidentialityCheck,
        _: Timestamp,
    ) -> CheckReport {
        check(view, scope, params)
    }
}

/// Runs the check.
pub fn check(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    params: &ConfidentialityCheck,
) -> CheckReport {
    let mut report = CheckReport::default();
    // Validation compiled both selectors and parsed the Secret list already; a failure here means an unvalidated
    // spec, reported rather than guessed around.
    let parsed = (
        compile_selector(
            &params.effective_namespace_selector(),
            "spec.check.confidentiality.namespaceSelector",
        ),
        compile_selector(
            &params.effective_confidential_access_selector(),
            "spec.check.confidentiality.confidentialAccessSelector",
        ),
        params.parsed_confidential_secrets(),
    );
    let (classified, access, secrets) = match parsed {
        (Ok(c), Ok(a), Ok(s)) => (c, a, s),
        (c, a, s) => {
            let reason = [
                c.err().map(|e| e.to_string()),
                a.err().map(|e| e.to_string()),
                s.err().map(|e| format!("spec.check.confidentiality.confidentialSecrets: {e:?} is not namespace/name")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
            report.evaluated += 1;
            report.findings.push(Finding::unknown(
                ResourceRef::aspect("soc2.dev/v1alpha1", "Control", "(parameters)"),
                "invalid-parameters",
                format!("The check cannot run: {reason}."),
            ));
            return report;
        }
    };
    let confidential: Vec<String> = view
        .namespaces
        .iter()
        .filter(|ns| classified.matches(&labels(&ns.metadata)))
        .filter_map(|ns| ns.metadata.name.clone())
        .collect();
    if params.network_isolation.unwrap_or(true) {
        isolation(view, scope, &confidential, &mut report);
    }
    let env_literals = params.env_literals.unwrap_or(true);
    if env_literals || !secrets.is_empty() {
        let names = SecretLikeNames {
            secret: fragments(params.effective_secret_like_names()),
            not_secret: fragments(params.effective_not_secret_like_names()),
        };
        for template in in_scope(view, scope, &params.effective_kinds(), &mut report) {
            report.evaluated += 1;
            if env_literals {
                secret_literals(&template, &names, &mut report);
            }
            if !secrets.is_empty() {
                confidential_secrets(&template, &confidential, &access, &secrets, &mut report);
            }
        }
    }
    report
}

fn isolation(
    view: &ClusterSnapshot,
    scope: &ScopeMatcher,
    confidential: &[String],
    report: &mut CheckReport,
) {
    let aspect = ResourceRef::aspect("networking.k8s.io/v1", "NetworkPolicy", "(all)");
    if report.unknown_if_missing(view, ResourceKind::NetworkPolicy, aspect) {
        return;
    }
    for ns in &view.namespaces {
        let Some(name) = ns.metadata.name.as_deref() else {
            continue;
        };
        if !confidential.iter().any(|c| c == name) || !scope.namespace_in_scope(name) {
            continue;
        }
        report.evaluated += 1;
        if !namespace_default_denies_ingress(view, name) {
            report.findings.push(Finding::fail(
                ResourceRef::of(ns.as_ref()),
                "confidential-namespace-not-isolated",
                format!(
                    "Namespace {name} is classified confidential but does not deny ingress by default: no NetworkPolicy selects every pod (podSelector: {{}}) for Ingress without a rule admitting every source. Apply a default-deny ingress NetworkPolicy in {name} and allow only the required callers."
                ),
            ));
        }
    }
}

/// Name fragments uppercased, with those that would match every name (empty, or only `$`) dropped.
fn fragments(names: Vec<String>) -> Vec<String> {
    names
        .iter()
        .map(|n| n.to_ascii_uppercase())
        .filter(|n| !n.trim_end_matches('$').is_empty())
        .collect()
}

/// Which environment variable names hold secrets: `secretLikeNames` minus `notSecretLikeNames`.
pub struct SecretLikeNames {
    /// Uppercased fragments of secret names.
    pub secret: Vec<String>,
    /// Uppercased fragments of names that look secret-like but are not.
    pub not_secret: Vec<String>,
}

impl SecretLikeNames {
    /// True when `name` matches a secret fragment and no not-secret fragment.
    pub fn matches(&self, name: &str) -> bool {
        let upper = name.to_ascii_uppercase();
        contains_fragment(&upper, &self.secret) && !contains_fragment(&upper, &self.not_secret)
    }
}

/// True when an (uppercased) name contains one of the (uppercased) fragments; a fragment ending in `$` must end the
/// name.
fn contains_fragment(upper: &str, fragments: &[String]) -> bool {
    fragments.iter().any(|f| match f.strip_suffix('$') {
        Some(suffix) => !suffix.is_empty() && upper.ends_with(suffix),
        None => !f.is_empty() && upper.contains(f.as_str()),
    })
}

/// True when a literal value could be a credential: not empty, and not made only of `$(VAR)` references, which the
/// kubelet expands from other variables (a value built from a `secretKeyRef` variable is no literal).
fn is_literal_credential(value: &str) -> bool {
    let mut rest = value.trim();
    if rest.is_empty() {
        return false;
    }
    while let Some(after) = rest.strip_prefix("$(") {
        match after.find(')') {
            Some(end) if end > 0 => rest = after[end + 1..].trim_start(),
            _ => return true,
        }
    }
    !rest.is_empty()
}

fn secret_literals(template: &PodTemplate<'_>, names: &SecretLikeNames, report: &mut CheckReport) {
    let mut offenders: Vec<String> = Vec::new();
    for (word, c) in all_containers(template) {
        for e in c.env.iter().flatten() {
            if e.value.as_deref().is_some_and(is_literal_credential) && names.matches(&e.name) {
                offenders.push(format!("{} in {word} {}", e.name, c.name));
            }
        }
    }
    if !offenders.is_empty() {
        report.findings.push(Finding::fail(
            template.resource(),
            "secret-literal-in-env",
            format!(
                "Secret-like environment variables are set to literal values, readable by anyone who can read the workload: {}. Move each value into a Secret and reference it with valueFrom.secretKeyRef (value not shown here).",
                join_names(&offenders)
            ),
        ));
    }
}

/// Every Secret name the pod spec references: volumes, projected volumes, env and envFrom (all containers).
pub fn referenced_secrets(spec: &PodSpec) -> Vec<String> {
    let mut names = Vec::new();
    for v in spec.volumes.iter().flatten() {
        if let Some(name) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            names.push(name);
        }
        for source in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(s) = &source.secret {
                names.push(s.name.clone());
            }
        }
    }
    let containers: Vec<&Container> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .collect();
    for c in containers {
        for e in c.env.iter().flatten() {
            if let Some(r) = e
                .value_from
                .as_ref()
                .and_then(|f| f.secret_key_ref.as_ref())
            {
                names.push(r.name.clone());
            }
        }
        for from in c.env_from.iter().flatten() {
            if let Some(r) = &from.secret_ref {
                names.push(r.name.clone());
            }
        }
    }
    names.retain(|n| !n.is_empty());
    names.sort();
    names.dedup();
    names
}

fn confidential_secrets(
    template: &PodTemplate<'_>,
    confidential_namespaces: &[String],
    access: &Selector,
    secrets: &[(String, String)],
    report: &mut CheckReport,
) {
    let Some(namespace) = template.meta.namespace.as_deref() else {
        return;
    };
    if confidential_namespaces.iter().any(|c| c == namespace) {
        return;
    }
    let approved = access.matches(&labels(template.meta))
        || template
            .template_meta
            .is_some_and(|m| access.matches(&template_labels(m)));
    if approved {
        return;
    }
    let hits: Vec<String> = referenced_secrets(template.spec)
        .into_iter()
        .filter(|name| secrets.iter().any(|(ns, n)| ns == namespace && n == name))
        .map(|name| format!("{namespace}/{name}"))
        .collect();
    if !hits.is_empty() {
        report.findings.push(Finding::fail(
            template.resource(),
            "confidential-secret-outside-confidential-namespace",
            format!(
                "References confidential Secret {} from namespace {namespace}, which is not classified confidential, without approval for confidential access. Move the workload into a confidential namespace, stop referencing the Secret, or label the workload as approved (confidentialAccessSelector) after review.",
                join_names(&hits)
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use k8s_openapi::api::networking::v1::NetworkPolicy;
    use serde_json::{Value, json};

    use super::*;
    use crate::checks::FindingResult::{Fail, Unknown};
    use crate::checks::test_support::*;
    use crate::checks::workload_templates::fixtures::*;

    fn deny_all(ns: &str) -> Arc<NetworkPolicy> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": "default-deny", "namespace": ns},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
            }))
            .expect("policy"),
        )
    }

    fn confidential() -> Value {
        json!({"soc2.dev/data-classification": "confidential"})
    }

    fn container_env(env: Value) -> Value {
        json!({"containers": [{"name": "app", "image": "a", "env": env}]})
    }

    #[test]
    fn confidential_namespaces_need_default_deny_ingress() {
        let view = ClusterSnapshot {
            namespaces: vec![
                namespace("vault", confidential()),
                namespace("ledger", confidential()),
                namespace("web", json!({})),
                namespace("kube-system", confidential()),
            ],
            network_policies: vec![deny_all("vault")],
            ..Default::default()
        };
        let params = ConfidentialityCheck {
            env_literals: Some(false),
            ..Default::default()
        };
        let report = check(&view, &scope(&view), &params);
        assert_report(
            &report,
            2,
            &[(
                "Namespace ledger",
                Fail,
                "confidential-namespace-not-isolated",
            )],
        );
        // A custom classification selector.
        let custom = ConfidentialityCheck {
            namespace_selector: Some(
                serde_json::from_value(json!({"matchLabels": {"tier": "pci"}})).expect("sel"),
            ),
            ..params.clone()
        };
        assert_report(&check(&view, &scope(&view), &custom), 0, &[]);
        // NetworkPolicies unreadable: Unknown, never a pass.
        let mut blind = view.clone();
        blind
            .unavailable
            .insert(ResourceKind::NetworkPolicy, "forbidden".into());
        assert_report(
            &check(&blind, &scope(&blind), &params),
            1,
            &[("NetworkPolicy (all)", Unknown, "data-unavailable")],
        );
    }

    fn default_names() -> SecretLikeNames {
        let params = ConfidentialityCheck::default();
        SecretLikeNames {
            secret: fragments(params.effective_secret_like_names()),
            not_secret: fragments(params.effective_not_secret_like_names()),
        }
    }

    #[test]
    fn key_names_are_secret_like_only_at_the_end() {
        let names = default_names();
        for name in [
            "ENCRYPTION_KEY",
            "signing_key",
            "STRIPE_KEY",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            assert!(names.matches(name), "{name}");
        }
        for name in ["KEY_PREFIX", "CACHE_KEYSPACE", "MONKEY", "LOG_LEVEL"] {
            assert!(!names.matches(name), "{name}");
        }
        // A fragment with nothing to match would match every name.
        let empty = SecretLikeNames {
            secret: fragments(vec!["$".into(), String::new()]),
            not_secret: Vec::new(),
        };
        assert!(!empty.matches("LOG_LEVEL"));
    }

    #[test]
    fn names_that_say_where_a_secret_is_are_not_secrets() {
        let names = default_names();
        for name in [
            "POSTGRES_PASSWORD_FILE",
            "vault_token_path",
            "SECRETS_DIR",
            "OAUTH_TOKEN_URL",
            "TOKEN_ENDPOINT",
            "TLS_SECRET_NAME",
            "JWT_PUBLIC_KEY",
            "STRIPE_PUBLISHABLE_KEY",
            "SESSION_TOKEN_TTL",
            "TOKEN_TIMEOUT",
            "PASSWORD_EXPIRY",
            "OIDC_ISSUER_URI",
        ] {
            assert!(!names.matches(name), "{name}");
        }
        // The fragment must end the name: a secret named after a file or path is still a secret.
        for name in ["FILE_ENCRYPTION_KEY", "PATH_TOKEN", "NAME_SERVICE_PASSWORD"] {
            assert!(names.matches(name), "{name}");
        }
        // `notSecretLikeNames: []` judges every secret-like name.
        let strict = SecretLikeNames {
            not_secret: Vec::new(),
            ..default_names()
        };
        assert!(strict.matches("JWT_PUBLIC_KEY"));
    }

    #[test]
    fn references_to_other_variables_are_not_literals() {
        for value in ["$(DB_PASSWORD)", " $(A)$(B) ", "$(A) $(B)"] {
            assert!(!is_literal_credential(value), "{value:?}");
        }
        assert!(!is_literal_credential(""));
        assert!(!is_literal_credential("   "));
        // Anything written beside a reference, an unterminated or empty reference, or a plain `$` is literal.
        for value in ["hunter2", "$(A)x", "pre$(A)", "$(A", "$()", "$", "$$(A)"] {
            assert!(is_literal_credential(value), "{value:?}");
        }
    }

    #[test]
    fn secret_like_literals_fail_without_showing_the_value() {
        let view = ClusterSnapshot {
            deployments: vec![
                deployment(
                    "web",
                    "leaky",
                    container_env(json!([
                        {"name": "DB_PASSWORD", "value": "hunter2"},
                        {"name": "stripe_api_key", "value": "sk_live_123"},
                        {"name": "LOG_LEVEL", "value": "debug"},
                    ])),
                    json!({}),
                ),
                deployment(
                    "web",
                    "tidy",
                    container_env(json!([
                        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                        {"name": "EMPTY_TOKEN", "value": ""},
                        {"name": "LOG_LEVEL", "value": "debug"},
                        {"name": "POSTGRES_PASSWORD_FILE", "value": "/run/secrets/db"},
                        {"name": "DSN_PASSWORD", "value": "$(DB_PASSWORD)"},
                    ])),
                    json!({}),
                ),
                deployment(
                    "kube-system",
                    "ignored",
                    container_env(json!([{"name": "TOKEN", "value": "x"}])),
                    json!({}),
                ),
            ],
            ..Default::default()
        };
        let params = ConfidentialityCheck {
            network_isolation: Some(false),
            ..Default::default()
        };
        let report = check(&view, &scope(&view), &params);
        assert_report(
            &report,
            2,
            &[("Deployment web/leaky", Fail, "secret-literal-in-env")],
        );
        let m = message(&report);
        assert!(
            m.contains("DB_PASSWORD in container app") && m.contains("stripe_api_key"),
            "{m}"
        );
        assert!(
            !m.contains("hunter2") && !m.contains("sk_live_123") && !m.contains("LOG_LEVEL"),
            "{m}"
        );
        let custom = ConfidentialityCheck {
            secret_like_names: Some(vec!["log_level".into()]),
            ..params
        };
        assert_report(
            &check(&view, &scope(&view), &custom),
            2,
            &[
                ("Deployment web/leaky", Fail, "secret-literal-in-env"),
                ("Deployment web/tidy", Fail, "secret-literal-in-env"),
            ],
        );
    }

    #[test]
    fn confidential_secrets_only_in_confidential_namespaces_or_approved_workloads() {
        let uses = |kind: &str| -> Value {
            match kind {
                "volume" => json!({"volumes": [{"name": "v", "secret": {"secretName": "cards"}}],
                                   "containers": [{"name": "app", "image": "a"}]}),
                "projected" => {
                    json!({"volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "cards"}}]}}],
                                      "containers": [{"name": "app", "image": "a"}]})
                }
                "env" => container_env(
                    json!([{"name": "CARD_KEY", "valueFrom": {"secretKeyRef": {"name": "cards", "key": "k"}}}]),
                ),
                _ => {
                    json!({"initContainers": [{"name": "init", "image": "a", "envFrom": [{"secretRef": {"name": "cards"}}]}],
                            "containers": [{"name": "app", "image": "a"}]})
                }
            }
        };
        let mut deployments = Vec::new();
        for kind in ["volume", "projected", "env", "envFrom"] {
            deployments.push(deployment(
                "web",
                &format!("by-{}", kind.to_lowercase()),
                uses(kind),
                json!({}),
            ));
        }
        deployments.push(deployment(
            "web",
            "approved",
            uses("volume"),
            json!({"labels": {"soc2.dev/confidential-access": "true"}}),
        ));
        deployments.push(deployment("vault", "inside", uses("volume"), json!({})));
        // Same Secret name in another namespace is another Secret.
        deployments.push(deployment("shop", "other-cards", uses("volume"), json!({})));
        let view = ClusterSnapshot {
            namespaces: vec![
                namespace("vault", confidential()),
                namespace("web", json!({})),
            ],
            deployments,
            network_policies: vec![deny_all("vault")],
            ..Default::default()
        };
        let params = ConfidentialityCheck {
            env_literals: Some(false),
            network_isolation: Some(false),
            confidential_secrets: Some(vec!["web/cards".into(), "vault/cards".into()]),
            ..Default::default()
        };
        let rule = "confidential-secret-outside-confidential-namespace";
        let report = check(&view, &scope(&view), &params);
        assert_report(
            &report,
            7,
            &[
                ("Deployment web/by-env", Fail, rule),
                ("Deployment web/by-envfrom", Fail, rule),
                ("Deployment web/by-projected", Fail, rule),
                ("Deployment web/by-volume", Fail, rule),
            ],
        );
        // Without declared Secrets the part is off and needs no workloads.
        let none = ConfidentialityCheck {
            confidential_secrets: None,
            ..params
        };
        assert_report(&check(&view, &scope(&view), &none), 0, &[]);
    }

    #[test]
    fn unvalidated_parameters_are_unknown_not_a_panic() {
        let view = ClusterSnapshot::default();
        let params = ConfidentialityCheck {
            confidential_secrets: Some(vec!["no-slash".into()]),
            ..Default::default()
        };
        let report = check(&view, &scope(&view), &params);
        assert_report(
            &report,
            1,
            &[("Control (parameters)", Unknown, "invalid-parameters")],
        );
        assert!(message(&report).contains("no-slash"));
    }
}
