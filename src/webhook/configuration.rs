//! The ValidatingWebhookConfiguration: built (purely) from the Enforce/Warn controls, applied by the leader with
//! server-side apply (field manager `soc2-operator`), and the record of which controls it covers; and the
//! MutatingWebhookConfiguration of the same name, applied the same way.
//!
//! One webhook per mode, so that each has its own failure policy: `enforce.soc2.dev` (default `Fail`: an
//! unreachable operator blocks matching changes rather than letting violations through) and `warn.soc2.dev`
//! (default `Ignore`: warnings are never worth an outage). Rules name only the kinds the controls' checks decide;
//! the namespaceSelector is the widest that still covers every control's scope, and always excludes the
//! operator's own namespace and kube-system, so that the operator can never lock itself or the control plane out.
//!
//! Whatever the controls, both configurations carry the access review decision webhook
//! (`access-review-decisions.soc2.dev`, [`super::access_decisions`]): mutating on CREATE to record the
//! authenticated user, validating on CREATE and UPDATE to admit only authenticated sign-off. Its failure policy is
//! always `Fail`: a decision admitted while the operator is unreachable would carry no verified identity.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ServiceReference,
    ValidatingWebhook, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};

use super::access_decisions;
use super::admissibility::{admissibility, target};
use super::handler::{ControlSource, ENFORCE_PATH, WARN_PATH};
use crate::api::{Control, Mode};
use crate::checks::Admissibility;
use crate::engine::validation::validate;
use crate::runtime::leader::Leadership;
use crate::view::CONTROL_PLANE_NAMESPACE;

/// The label every namespace carries with its own name (set by the API server).
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// How the API server reaches the webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientTarget {
    /// A Service in the cluster (the chart's).
    Service {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// Its port.
        port: i32,
    },
    /// A base URL such as `https://127.0.0.1:8443` (operator outside the cluster); the path is appended.
    Url(String),
}

/// What the configuration is built from besides the controls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    /// The name of the ValidatingWebhookConfiguration and of the MutatingWebhookConfiguration.
    pub name: String,
    /// How the API server reaches the webhook.
    pub client: ClientTarget,
    /// The operator's namespace, never admitted.
    pub operator_namespace: String,
    /// `Fail` or `Ignore` for the Enforce webhook.
    pub enforce_failure_policy: String,
    /// `Fail` or `Ignore` for the Warn webhook.
    pub warn_failure_policy: String,
    /// How long the API server waits for an answer (1-30 s).
    pub timeout_seconds: i32,
}

/// Why the configuration cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// The API server refused the apply.
    #[error(
        "cannot apply {kind} {name}: {source}. The operator needs create, and get/patch on this name, on \
         {resource} (see the chart's ClusterRole)"
    )]
    Apply {
        /// ValidatingWebhookConfiguration or MutatingWebhookConfiguration.
        kind: String,
        /// Its resource (plural), as RBAC names it.
        resource: String,
        /// The configuration's name.
        name: String,
        /// The client error.
        source: kube::Error,
    },
}

/// Which controls the applied configuration covers: `None` until it was applied once. Clones share the state.
#[derive(Clone, Debug, Default)]
pub struct Registration(Arc<RwLock<Option<BTreeSet<String>>>>);

impl Registration {
    /// True when the configuration in the cluster sends this control's kinds to the webhook.
    pub fn covers(&self, control: &str) -> Option<bool> {
        self.0
            .read()
            .ok()
            .and_then(|r| r.as_ref().map(|set| set.contains(control)))
    }

    fn set(&self, controls: BTreeSet<String>) -> bool {
        match self.0.write() {
            Ok(mut r) => {
                let changed = r.as_ref() != Some(&controls);
                *r = Some(controls);
                changed
            }
            Err(_) => false,
        }
    }
}

/// Where one control's scope lets objects come from, as far as namespaces go.
#[derive(Clone, Debug, PartialEq)]
enum Reach {
    Everywhere,
    Named(BTreeSet<String>),
    Selected(LabelSelector),
}

fn reach(control: &Control) -> Reach {
    let Some(scope) = &control.spec.scope else {
        return Reach::Everywhere;
    };
    if let Some(names) = &scope.namespaces {
        return Reach::Named(names.iter().cloned().collect());
    }
    match &scope.namespace_selector {
        Some(s) => Reach::Selected(s.clone()),
        None => Reach::Everywhere,
    }
}

/// The narrowest namespaceSelector that still covers every reach: names are united; one selector shared by all
/// is kept; anything else (mixed, or any control reaching everywhere) selects every namespace. Namespaces every
/// control excludes, the operator's and kube-system are excluded.
fn namespace_selector(controls: &[&Control], operator_namespace: &str) -> LabelSelector {
    let reaches: Vec<Reach> = controls.iter().map(|c| reach(c)).collect();
    let mut selector = LabelSelector::default();
    let mut expressions = Vec::new();
    if !reaches.is_empty() {
        if let Some(names) = reaches
            .iter()
            .map(|r| match r {
                Reach::Named(n) => Some(n.clone()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
        {
            let all: BTreeSet<String> = names.into_iter().flatten().collect();
            expressions.push(LabelSelectorRequirement {
                key: NAMESPACE_NAME_LABEL.into(),
                operator: "In".into(),
                values: Some(all.into_iter().collect()),
            });
        } else if let Reach::Selected(first) = &reaches[0]
            && reaches.iter().all(|r| r == &reaches[0])
        {
            selector.match_labels = first.match_labels.clone();
            expressions.extend(first.match_expressions.clone().unwrap_or_default());
        }
    }
    let mut excluded: Option<BTreeSet<String>> = None;
    for c in controls {
        let ex: BTreeSet<String> = c
            .spec
            .scope
            .as_ref()
            .and_then(|s| s.exclude_namespaces.clone())
            .unwrap_or_default()
            .into_iter()
            .collect();
        excluded = Some(match excluded {
            None => ex,
            Some(prev) => prev.intersection(&ex).cloned().collect(),
        });
    }
    let mut excluded = excluded.unwrap_or_default();
    excluded.insert(operator_namespace.to_string());
    excluded.insert(CONTROL_PLANE_NAMESPACE.to_string());
    expressions.push(LabelSelectorRequirement {
        key: NAMESPACE_NAME_LABEL.into(),
        operator: "NotIn".into(),
        values: Some(excluded.into_iter().collect()),
    });
    selector.match_expressions = Some(expressions);
    selector
}

fn rules(controls: &[&Control]) -> Vec<RuleWithOperations> {
    // (group, version) -> resources
    let mut by_group: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for c in controls {
        let Ok(v) = validate(&c.spec) else { continue };
        if let Admissibility::PerObject(kinds) = admissibility(&v) {
            for t in kinds.into_iter().filter_map(target) {
                by_group
                    .entry((t.group, t.version))
                    .or_default()
                    .insert(t.resource);
            }
        }
    }
    by_group
        .into_iter()
        .map(|((group, version), resources)| RuleWithOperations {
            api_groups: Some(vec![group.into()]),
            api_versions: Some(vec![version.into()]),
            operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
            resources: Some(resources.into_iter().map(str::to_string).collect()),
            scope: Some("Namespaced".into()),
        })
        .collect()
}

/// The controls in `mode` whose checks decide per object (the ones a webhook serves), by name.
pub fn admission_controls(controls: &[Arc<Control>], mode: Mode) -> Vec<&Control> {
    controls
        .iter()
        .filter(|c| c.metadata.name.is_some())
        .filter(|c| match validate(&c.spec) {
            Ok(v) => v.mode == mode && matches!(admissibility(&v), Admissibility::PerObject(_)),
            Err(_) => false,
        })
        .map(|c| c.as_ref())
        .collect()
}

/// How the API server reaches the webhook at `path`, trusting `ca_bundle` (PEM).
fn client_config(settings: &WebhookSettings, ca_bundle: &str, path: &str) -> WebhookClientConfig {
    match &settings.client {
        ClientTarget::Service {
            namespace,
            name,
            port,
        } => WebhookClientConfig {
            ca_bundle: Some(ByteString(ca_bundle.as_bytes().to_vec())),
            service: Some(ServiceReference {
                namespace: namespace.clone(),
                name: name.clone(),
                path: Some(path.into()),
                port: Some(*port),
            }),
            url: None,
        },
        ClientTarget::Url(base) => WebhookClientConfig {
            ca_bundle: Some(ByteString(ca_bundle.as_bytes().to_vec())),
            service: None,
            url: Some(format!("{}{path}", base.trim_end_matches('/'))),
        },
    }
}

/// The rule that sends AccessReviewDecisions (cluster-scoped) to the decision webhook on `operations`.
fn decision_rule(operations: &[&str]) -> RuleWithOperations {
    RuleWithOperations {
        api_groups: Some(vec![access_decisions::GROUP.into()]),
        api_versions: Some(vec![access_decisions::VERSION.into()]),
        operations: Some(operations.iter().map(|o| o.to_string()).collect()),
        resources: Some(vec![access_decisions::RESOURCE.into()]),
        scope: Some("Cluster".into()),
    }
}

fn metadata(settings: &WebhookSettings) -> ObjectMeta {
    ObjectMeta {
        name: Some(settings.name.clone()),
        labels: Some(BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_string(),
            crate::OPERATOR_NAME.to_string(),
        )])),
        ..Default::default()
    }
}

/// The desired validating configuration for `controls`, trusting `ca_bundle` (PEM): a webhook per mode with an
/// Enforce/Warn control that can decide per object (none without such controls: their kinds are then admitted
/// unconsulted), and always the access review decision webhook (CREATE and UPDATE, failurePolicy `Fail`).
pub fn desired(
    settings: &WebhookSettings,
    controls: &[Arc<Control>],
    ca_bundle: &str,
) -> ValidatingWebhookConfiguration {
    let mut webhooks = Vec::new();
    for (mode, name, path, policy) in [
        (
            Mode::Enforce,
            "enforce.soc2.dev",
            ENFORCE_PATH,
            &settings.enforce_failure_policy,
        ),
        (
            Mode::Warn,
            "warn.soc2.dev",
            WARN_PATH,
            &settings.warn_failure_policy,
        ),
    ] {
        let selected = admission_controls(controls, mode);
        let rules = rules(&selected);
        if rules.is_empty() {
            continue;
        }
        let client_config = client_config(settings, ca_bundle, path);
        webhooks.push(ValidatingWebhook {
            name: name.into(),
            admission_review_versions: vec!["v1".into()],
            client_config,
            failure_policy: Some(policy.clone()),
            match_policy: Some("Equivalent".into()),
            namespace_selector: Some(namespace_selector(&selected, &settings.operator_namespace)),
            rules: Some(rules),
            side_effects: "None".into(),
            timeout_seconds: Some(settings.timeout_seconds),
            ..Default::default()
        });
    }
    // Fail: a decision admitted unchecked would carry no verified identity. Cluster-scoped: no namespaceSelector.
    webhooks.push(ValidatingWebhook {
        name: access_decisions::WEBHOOK_NAME.into(),
        admission_review_versions: vec!["v1".into()],
        client_config: client_config(settings, ca_bundle, access_decisions::VALIDATE_PATH),
        failure_policy: Some("Fail".into()),
        match_policy: Some("Equivalent".into()),
        rules: Some(vec![decision_rule(&["CREATE", "UPDATE"])]),
        side_effects: "None".into(),
        timeout_seconds: Some(settings.timeout_seconds),
        ..Default::default()
    });
    ValidatingWebhookConfiguration {
        metadata: metadata(settings),
        webhooks: Some(webhooks),
    }
}

/// The desired mutating configuration, trusting `ca_bundle` (PEM): the access review decision webhook, which
/// records the authenticated user in `spec.authenticated` on CREATE (failurePolicy `Fail`; re-invoked if a later
/// mutating webhook changes the object; the validating webhook denies any change made after that).
pub fn desired_mutating(
    settings: &WebhookSettings,
    ca_bundle: &str,
) -> MutatingWebhookConfiguration {
    MutatingWebhookConfiguration {
        metadata: metadata(settings),
        webhooks: Some(vec![MutatingWebhook {
            name: access_decisions::WEBHOOK_NAME.into(),
            admission_review_versions: vec!["v1".into()],
            client_config: client_config(settings, ca_bundle, access_decisions::MUTATE_PATH),
            failure_policy: Some("Fail".into()),
            match_policy: Some("Equivalent".into()),
            reinvocation_policy: Some("IfNeeded".into()),
            rules: Some(vec![decision_rule(&["CREATE"])]),
            side_effects: "None".into(),
            timeout_seconds: Some(settings.timeout_seconds),
            ..Default::default()
        }]),
    }
}

/// The names of the controls `configuration` serves (`desired` made it from `controls`).
pub fn covered(controls: &[Arc<Control>]) -> BTreeSet<String> {
    [Mode::Enforce, Mode::Warn]
        .into_iter()
        .flat_map(|m| admission_controls(controls, m))
        .filter_map(|c| c.metadata.name.clone())
        .collect()
}

/// Applies `configuration` by server-side apply, forcing ownership: the operator is its only writer.
pub async fn apply(
    client: &Client,
    configuration: &ValidatingWebhookConfiguration,
) -> Result<(), RegistrationError> {
    apply_named(client, configuration).await
}

/// Applies the mutating `configuration` as [`apply`] does.
pub async fn apply_mutating(
    client: &Client,
    configuration: &MutatingWebhookConfiguration,
) -> Result<(), RegistrationError> {
    apply_named(client, configuration).await
}

async fn apply_named<K>(client: &Client, configuration: &K) -> Result<(), RegistrationError>
where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + std::fmt::Debug,
{
    let name = configuration.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::all(client.clone());
    let mut body = serde_json::to_value(configuration).unwrap_or_default();
    if let Some(o) = body.as_object_mut() {
        o.insert("apiVersion".into(), K::api_version(&()).into());
        o.insert("kind".into(), K::kind(&()).into());
    }
    let kind = K::kind(&()).to_string();
    let resource = K::plural(&()).to_string();
    api.patch(
        &name,
        &PatchParams::apply(crate::OPERATOR_NAME).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(|source| RegistrationError::Apply {
        kind,
        resource,
        name,
        source,
    })?;
    Ok(())
}

/// How often the leader compares the configuration with the controls (changes are cheap to detect: nothing is
/// written unless the desired configuration changed).
pub const SYNC_INTERVAL: Duration = Duration::from_secs(2);
/// After a failed apply, how long before trying again.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(10);

/// Keeps both configurations in sync while this replica leads, the validating one first (without the mutating one
/// every decision is denied, never admitted unauthenticated). When the set of covered controls changes, sends on
/// `changed` (the controller re-evaluates them, so that `AdmissionEnforced` follows).
pub async fn keep_registered(
    client: Client,
    settings: WebhookSettings,
    controls: ControlSource,
    mut ca_bundle: watch::Receiver<String>,
    leadership: Leadership,
    registration: Registration,
    changed: mpsc::UnboundedSender<()>,
) {
    let mut applied: Option<ValidatingWebhookConfiguration> = None;
    let mut applied_mutating: Option<MutatingWebhookConfiguration> = None;
    loop {
        if leadership.is_leader() {
            let current = controls();
            let bundle = ca_bundle.borrow_and_update().clone();
            let want = desired(&settings, &current, &bundle);
            let want_mutating = desired_mutating(&settings, &bundle);
            let mut failed = false;
            if applied.as_ref() != Some(&want) {
                match apply(&client, &want).await {
                    Ok(()) => {
                        tracing::info!(name = %settings.name, webhooks = want.webhooks.as_ref().map_or(0, Vec::len), "webhook configuration applied");
                        applied = Some(want);
                        if registration.set(covered(&current)) {
                            let _ = changed.send(());
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "webhook configuration not applied; retrying");
                        failed = true;
                    }
                }
            }
            // After the validating one: a decision is then denied for want of spec.authenticated rather than
            // admitted unchecked. Its failure does not hold back the controls' webhooks.
            if !failed && applied_mutating.as_ref() != Some(&want_mutating) {
                match apply_mutating(&client, &want_mutating).await {
                    Ok(()) => {
                        tracing::info!(name = %settings.name, "mutating webhook configuration applied");
                        applied_mutating = Some(want_mutating);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "mutating webhook configuration not applied; retrying");
                        failed = true;
                    }
                }
            }
            if failed {
                tokio::time::sleep(RETRY_INTERVAL).await;
                continue;
            }
        } else {
            // The leader owns the configurations; forget what was applied so that they are re-applied on takeover.
            applied = None;
            applied_mutating = None;
        }
        tokio::select! {
            _ = tokio::time::sleep(SYNC_INTERVAL) => {}
            _ = ca_bundle.changed() => {}
        }
    }
}
