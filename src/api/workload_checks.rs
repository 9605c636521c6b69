//! Parameters of the workload checks: pod security, image provenance, service-account hygiene, confidentiality.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::WorkloadKind;

/// Every workload kind that runs pods, bare pods included: the default `kinds` of the workload checks.
pub const ALL_WORKLOAD_KINDS: &[WorkloadKind] = &[
    WorkloadKind::Deployment,
    WorkloadKind::StatefulSet,
    WorkloadKind::DaemonSet,
    WorkloadKind::CronJob,
    WorkloadKind::Job,
    WorkloadKind::Pod,
];

fn kinds_or_all(kinds: &Option<Vec<WorkloadKind>>) -> Vec<WorkloadKind> {
    kinds.clone().unwrap_or_else(|| ALL_WORKLOAD_KINDS.to_vec())
}

fn strings_or(value: &Option<Vec<String>>, defaults: &[&str]) -> Vec<String> {
    value
        .clone()
        .unwrap_or_else(|| defaults.iter().map(|s| (*s).to_string()).collect())
}

fn selector_or(value: &Option<LabelSelector>, key: &str, val: &str) -> LabelSelector {
    value.clone().unwrap_or_else(|| LabelSelector {
        match_labels: Some(BTreeMap::from([(key.to_string(), val.to_string())])),
        match_expressions: None,
    })
}

/// A Kubernetes Pod Security Standards level a control can require.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurityLevel {
    /// Prevents known privilege escalations: no privileged containers, host namespaces, hostPath volumes or added
    /// capabilities outside the baseline set.
    Baseline,
    /// Baseline plus current hardening: non-root, no privilege escalation, RuntimeDefault seccomp, all capabilities
    /// dropped.
    #[default]
    Restricted,
}

impl PodSecurityLevel {
    /// The label value Pod Security Admission uses.
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurityLevel::Baseline => "baseline",
            PodSecurityLevel::Restricted => "restricted",
        }
    }
}

/// Parameters of the pod security check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityCheck {
    /// The Pod Security Standards level required: `baseline` or `restricted`. Default: `restricted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<PodSecurityLevel>,

    /// Require every in-scope namespace to carry the Pod Security Admission label
    /// `pod-security.kubernetes.io/enforce` at `level` or stricter. Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_namespace_labels: Option<bool>,

    /// Judge the pod templates of in-scope workloads against the Pod Security Standards of `level`. Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workloads: Option<bool>,

    /// Workload kinds whose pod templates are judged. Default: all (Deployment, StatefulSet, DaemonSet, CronJob,
    /// Job, Pod); pods and Jobs created by a controller are judged through it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<WorkloadKind>>,

    /// Linux capabilities containers may add. Default: `[NET_BIND_SERVICE]` at restricted; at baseline the
    /// baseline set (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP,
    /// SETGID, SETPCAP, SETUID, SYS_CHROOT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_capabilities: Option<Vec<String>>,
}

/// The capabilities the Pod Security Standards baseline level lets containers add.
pub const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];
/// The capabilities the Pod Security Standards restricted level lets containers add.
pub const RESTRICTED_CAPABILITIES: &[&str] = &["NET_BIND_SERVICE"];

impl PodSecurityCheck {
    /// `level` with its default applied.
    pub fn effective_level(&self) -> PodSecurityLevel {
        self.level.unwrap_or_default()
    }
    /// `kinds` with its default applied.
    pub fn effective_kinds(&self) -> Vec<WorkloadKind> {
        kinds_or_all(&self.kinds)
    }
    /// `allowedCapabilities` with the level's default applied.
    pub fn effective_allowed_capabilities(&self) -> Vec<String> {
        let defaults = match self.effective_level() {
            PodSecurityLevel::Baseline => BASELINE_CAPABILITIES,
            PodSecurityLevel::Restricted => RESTRICTED_CAPABILITIES,
        };
        strings_or(&self.allowed_capabilities, defaults)
    }
}

/// Parameters of the image provenance check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageProvenanceCheck {
    /// Registries (or repository prefixes) images may come from, e.g. `registry.example.com/` or `ghcr.io/acme/`,
    /// compared with the normalized reference: Docker Hub short names such as `nginx` read as
    /// `docker.io/library/nginx`. A prefix without a trailing `/` matches whole path components only. Default:
    /// any registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_registries: Option<Vec<String>>,

    /// Require every image to be pinned by digest (`@sha256:...`). Default: false (the shipped
    /// image-digest-pinning control sets it to true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_digest: Option<bool>,

    /// Fail images tagged `latest` or not tagged at all, unless pinned by digest. Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forbid_latest_tag: Option<bool>,

    /// Require `imagePullPolicy: Always` for images not pinned by digest, so that every start re-checks the
    /// registry's access control and gets the tag's current content. Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_pull_always: Option<bool>,

    /// Workload kinds whose pod templates are judged. Default: all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<WorkloadKind>>,
}

impl ImageProvenanceCheck {
    /// `kinds` with its default applied.
    pub fn effective_kinds(&self) -> Vec<WorkloadKind> {
        kinds_or_all(&self.kinds)
    }
}

/// Default annotation by which a workload declares that it needs the Kubernetes API.
pub const DEFAULT_API_ACCESS_ANNOTATION: &str = "soc2.dev/api-access";

/// Parameters of the service-account hygiene check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountHygieneCheck {
    /// Fail workloads whose pods get a ServiceAccount token mounted without declaring that they need the API.
    /// Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_automount: Option<bool>,

    /// The annotation (on the workload or its pod template) whose value states why the workload needs the
    /// Kubernetes API, e.g. `soc2.dev/api-access: "reads ConfigMaps for feature flags"`. Default:
    /// `soc2.dev/api-access`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_access_annotation: Option<String>,

    /// Fail on legacy long-lived ServiceAccount token Secrets (type `kubernetes.io/service-account-token`).
    /// Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy_token_secrets: Option<bool>,

    /// Workload kinds whose pod templates are judged. Default: all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<WorkloadKind>>,
}

impl ServiceAccountHygieneCheck {
    /// `kinds` with its default applied.
    pub fn effective_kinds(&self) -> Vec<WorkloadKind> {
        kinds_or_all(&self.kinds)
    }
    /// `apiAccessAnnotation` with its default applied.
    pub fn effective_api_access_annotation(&self) -> String {
        self.api_access_annotation
            .clone()
            .unwrap_or_else(|| DEFAULT_API_ACCESS_ANNOTATION.to_string())
    }
}

/// Default label key of confidential namespaces.
pub const DEFAULT_CLASSIFICATION_LABEL: &str = "soc2.dev/data-classification";
/// Default label key of workloads allowed to read confidential Secrets outside confidential namespaces.
pub const DEFAULT_CONFIDENTIAL_ACCESS_LABEL: &str = "soc2.dev/confidential-access";
/// Default secret-like environment variable name fragments.
pub const DEFAULT_SECRET_LIKE_NAMES: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "PRIVATE_KEY",
    "ACCESS_KEY",
    "CREDENTIAL",
    "_KEY$",
];
/// Default fragments of names that look secret-like but hold something else: a public half of a key pair, where a
/// secret is (`POSTGRES_PASSWORD_FILE`, `TOKEN_URL`, `TLS_SECRET_NAME`) or how long one lives (`TOKEN_TTL`).
pub const DEFAULT_NOT_SECRET_LIKE_NAMES: &[&str] = &[
    "PUBLIC",
    "PUBLISHABLE",
    "_FILE$",
    "_PATH$",
    "_DIR$",
    "_URL$",
    "_URI$",
    "_ENDPOINT$",
    "_NAME$",
    "_TTL$",
    "_TIMEOUT$",
    "_EXPIRY$",
];

/// Parameters of the confidentiality check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfidentialityCheck {
    /// Namespaces holding confidential information. Default:
    /// `{matchLabels: {soc2.dev/data-classification: confidential}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<super::k8s_schema::LabelSelector>")]
    pub namespace_selector: Option<LabelSelector>,

    /// Require every in-scope confidential namespace to deny ingress by default (a NetworkPolicy selecting all
    /// pods, covering Ingress, with no rule admitting every source). Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_isolation: Option<bool>,

    /// Fail in-scope workloads whose container environment sets a secret-like variable (see `secretLikeNames`)
    /// to a literal `value` instead of `valueFrom`. Default: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_literals: Option<bool>,

    /// Fragments of environment variable names that hold secrets, matched case-insensitively anywhere in the name;
    /// a fragment ending in `$` matches only at the end (`_KEY$`: ENCRYPTION_KEY, SIGNING_KEY, but not
    /// KEY_PREFIX). Default: PASSWORD, PASSWD, SECRET, TOKEN, API_KEY, APIKEY, PRIVATE_KEY, ACCESS_KEY, CREDENTIAL,
    /// _KEY$.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_like_names: Option<Vec<String>>,

    /// Fragments, matched like `secretLikeNames`, of names that are not secrets even though they look like one:
    /// they name where a secret is or describe it. A name matching any of them never fails. Default: PUBLIC,
    /// PUBLISHABLE, _FILE$, _PATH$, _DIR$, _URL$, _URI$, _ENDPOINT$, _NAME$, _TTL$, _TIMEOUT$, _EXPIRY$
    /// (`POSTGRES_PASSWORD_FILE`, `OAUTH_TOKEN_URL`, `TLS_SECRET_NAME`, `PUBLIC_KEY`). Set `[]` to judge every
    /// secret-like name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_secret_like_names: Option<Vec<String>>,

    /// Secrets holding confidential information, as `namespace/name`. A workload outside the confidential
    /// namespaces that references one (volume, projected volume, env or envFrom) fails unless it matches
    /// `confidentialAccessSelector`. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidential_secrets: Option<Vec<String>>,

    /// Workloads (by their own or their pod template's labels) approved to read confidential Secrets outside the
    /// confidential namespaces. Default: `{matchLabels: {soc2.dev/confidential-access: "true"}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<super::k8s_schema::LabelSelector>")]
    pub confidential_access_selector: Option<LabelSelector>,

    /// Workload kinds whose pod templates are judged. Default: all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<WorkloadKind>>,
}

impl ConfidentialityCheck {
    /// `namespaceSelector` with its default applied.
    pub fn effective_namespace_selector(&self) -> LabelSelector {
        selector_or(
            &self.namespace_selector,
            DEFAULT_CLASSIFICATION_LABEL,
            "confidential",
        )
    }
    /// `confidentialAccessSelector` with its default applied.
    pub fn effective_confidential_access_selector(&self) -> LabelSelector {
        selector_or(
            &self.confidential_access_selector,
            DEFAULT_CONFIDENTIAL_ACCESS_LABEL,
            "true",
        )
    }
    /// `secretLikeNames` with its default applied.
    pub fn effective_secret_like_names(&self) -> Vec<String> {
        strings_or(&self.secret_like_names, DEFAULT_SECRET_LIKE_NAMES)
    }
    /// `notSecretLikeNames` with its default applied.
    pub fn effective_not_secret_like_names(&self) -> Vec<String> {
        strings_or(&self.not_secret_like_names, DEFAULT_NOT_SECRET_LIKE_NAMES)
    }
    /// `kinds` with its default applied.
    pub fn effective_kinds(&self) -> Vec<WorkloadKind> {
        kinds_or_all(&self.kinds)
    }
    /// `confidentialSecrets` parsed into (namespace, name); `Err` names the first entry that is not `namespace/name`.
    pub fn parsed_confidential_secrets(&self) -> Result<Vec<(String, String)>, String> {
        self.confidential_secrets
            .iter()
            .flatten()
            .map(|entry| match entry.split_once('/') {
                Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                    Ok((ns.to_string(), name.to_string()))
                }
                _ => Err(entry.clone()),
            })
            .collect()
    }
}
