//! The ValidatingWebhookConfiguration: built (purely) from the Enforce/Warn controls, applied by the leader with
//! server-side apply (field manager `soc2-operator`), and the record of which controls it covers.
//!
//! One webhook per mode, so that each has its own failure policy: `enforce.soc2.dev` (default `Fail`: an
//! unreachable operator blocks matching changes rather than letting violations through) and `warn.soc2.dev`
//! (default `Ignore`: warnings are never worth an outage). Rules name only the kinds the controls' checks decide;
//! the namespaceSelector is the widest that still covers every control's scope, and always excludes the
//! operator's own namespace and kube-system, so that the operator can never lock itself or the control plane out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    RuleWithOperations, ServiceReference, ValidatingWebhook, ValidatingWebhookConfiguration,
    WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::{Api, Client};
use tokio::sync::{mpsc, watch};

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
    /// The ValidatingWebhookConfiguration's name.
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
        "cannot apply ValidatingWebhookConfiguration {name}: {source}. The operator needs get/patch on \
         validatingwebhookconfigurations (see the chart's ClusterRole)"
    )]
    Apply {
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

/// The desired configuration for `controls`, trusting `ca_bundle` (PEM). Without any Enforce/Warn control that
/// can decide per object it has no webhooks (and so admits everything unconsulted).
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
        let client_config = match &settings.client {
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
        };
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
    ValidatingWebhookConfiguration {
        metadata: ObjectMeta {
            name: Some(settings.name.clone()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                crate::OPERATOR_NAME.to_string(),
            )])),
            ..Default::default()
        },
        webhooks: Some(webhooks),
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
    let name = configuration.metadata.name.clone().unwrap_or_default();
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let mut body = serde_json::to_value(configuration).unwrap_or_default();
    if let Some(o) = body.as_object_mut() {
        o.insert(
            "apiVersion".into(),
            "admissionregistration.k8s.io/v1".into(),
        );
        o.insert("kind".into(), "ValidatingWebhookConfiguration".into());
    }
    api.patch(
        &name,
        &PatchParams::apply(crate::OPERATOR_NAME).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(|source| RegistrationError::Apply { name, source })?;
    Ok(())
}

/// How often the leader compares the configuration with the controls (changes are cheap to detect: nothing is
/// written unless the desired configuration changed).
pub const SYNC_INTERVAL: Duration = Duration::from_secs(2);
/// After a failed apply, how long before trying again.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(10);

/// Keeps the configuration in sync while this replica leads, until `stop` resolves. When the set of covered
/// controls changes, sends on `changed` (the controller re-evaluates them, so that `AdmissionEnforced` follows).
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
    loop {
        if leadership.is_leader() {
            let current = controls();
            let want = desired(&settings, &current, &ca_bundle.borrow_and_update());
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
                        tokio::time::sleep(RETRY_INTERVAL).await;
                        continue;
                    }
                }
            }
        } else {
            // The leader owns the configuration; forget what was applied so that it is re-applied on takeover.
            applied = None;
        }
        tokio::select! {
            _ = tokio::time::sleep(SYNC_INTERVAL) => {}
            _ = ca_bundle.changed() => {}
        }
    }
}
