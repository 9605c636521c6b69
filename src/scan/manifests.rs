//! Reading Kubernetes manifests from files and directories: multi-document YAML, JSON, `kind: List` and
//! `kubectl get -o yaml` dumps.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::Control;
use crate::view::{ClusterSnapshot, Gvk, Project, Reads};

/// Why manifests could not be read. Every variant names the file (and document) at fault.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A path that does not exist or cannot be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// A document that is not valid YAML/JSON.
    #[error("{path}: document {document}: not valid YAML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based document index within the file.
        document: usize,
        /// The parser's message, with line and column.
        message: String,
    },
    /// An object of a kind soc2ctl reads whose fields do not match the Kubernetes schema.
    #[error("{path}: document {document}: {kind} {name:?} is malformed: {message}")]
    Object {
        /// The file.
        path: PathBuf,
        /// 1-based document index within the file.
        document: usize,
        /// The object's kind.
        kind: String,
        /// The object's name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// Everything read from disk.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The cluster objects checks read.
    pub snapshot: ClusterSnapshot,
    /// Controls found among the manifests.
    pub controls: Vec<Control>,
    /// Files read.
    pub files: usize,
    /// Objects placed in the snapshot.
    pub objects: usize,
    /// Objects of kinds no built-in check reads (Services, ConfigMaps, CRDs, ...). They are kept by
    /// group/version/kind (`snapshot.dynamic`, Secret values removed) for CEL and requiredResources checks.
    pub ignored: usize,
    /// Of the GVKs whose typed list is trimmed ([`crate::view::Gvk::trimmed_kind`]: workloads, Pods), the ones also
    /// kept whole by GVK for the controls that read them so (CEL): `None` keeps every one. Set with
    /// [`Loaded::keep_whole_only`], before loading to never hold the others.
    pub keep_whole: Option<BTreeSet<Gvk>>,
}

impl Loaded {
    /// Keeps whole copies of trimmed kinds only for the GVKs `reads` names, dropping those already loaded for
    /// others: a scan whose controls read no Pod (or workload) by GVK holds each once, in its projected shape.
    pub fn keep_whole_only(&mut self, reads: &Reads) {
        let keep: BTreeSet<Gvk> = reads
            .gvks
            .iter()
            .filter(|g| g.trimmed_kind().is_some())
            .cloned()
            .collect();
        self.snapshot
            .dynamic
            .retain(|gvk, _| gvk.trimmed_kind().is_none() || keep.contains(gvk));
        self.keep_whole = Some(keep);
    }

    fn keeps_whole(&self, gvk: &Gvk) -> bool {
        gvk.trimmed_kind().is_none() || self.keep_whole.as_ref().is_none_or(|k| k.contains(gvk))
    }
}

/// Reads every `.yaml`, `.yml` and `.json` file under `paths` (files or directories, recursively, in name order).
pub fn load_paths(paths: &[PathBuf]) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    load_paths_into(paths, &mut loaded)?;
    Ok(loaded)
}

/// As [`load_paths`], adding to `loaded` (see [`Loaded::keep_whole_only`]).
pub fn load_paths_into(paths: &[PathBuf], loaded: &mut Loaded) -> Result<(), LoadError> {
    for path in paths {
        for file in manifest_files(path)? {
            let text = std::fs::read_to_string(&file).map_err(|source| LoadError::Io {
                path: file.clone(),
                source,
            })?;
            loaded.files += 1;
            load_text(&file, &text, loaded)?;
        }
    }
    Ok(())
}

fn manifest_files(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?
        .into_iter()
        .map(|e| e.path())
        .collect();
    entries.sort();
    let mut files = Vec::new();
    for entry in entries {
        let hidden = entry
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if entry.is_dir() {
            files.extend(manifest_files(&entry)?);
        } else if entry
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            files.push(entry);
        }
    }
    Ok(files)
}

/// Parses one file's documents into `loaded`.
pub fn load_text(path: &Path, text: &str, loaded: &mut Loaded) -> Result<(), LoadError> {
    for (i, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        let value: Value =
            serde::Deserialize::deserialize(document).map_err(|e| LoadError::Syntax {
                path: path.to_path_buf(),
                document: index,
                message: e.to_string(),
            })?;
        add_value(path, index, value, loaded)?;
    }
    Ok(())
}

fn add_value(
    path: &Path,
    document: usize,
    value: Value,
    loaded: &mut Loaded,
) -> Result<(), LoadError> {
    if value.is_null() {
        return Ok(()); // an empty document (`---` at the end of a file)
    }
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if kind == "List" || (kind.ends_with("List") && value.get("items").is_some_and(Value::is_array))
    {
        if let Some(Value::Array(items)) = value.get("items").cloned() {
            for item in items {
                add_value(path, document, item, loaded)?;
            }
        }
        return Ok(());
    }
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let malformed = |message: String| LoadError::Object {
        path: path.to_path_buf(),
        document,
        kind: kind.clone(),
        name: name.clone(),
        message,
    };
    if !value.is_object() {
        return Err(malformed(
            "a manifest must be a mapping with apiVersion and kind".into(),
        ));
    }
    fn parse<K: DeserializeOwned>(value: Value) -> Result<K, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }
    let gvk = crate::view::Gvk::from_api_version(&api_version, &kind);
    let is_control = api_version == "soc2.dev/v1alpha1" && kind == "Control";
    let untyped = gvk.typed_kind().is_none() && !kind.is_empty() && !api_version.is_empty();
    if untyped && !is_control && loaded.keeps_whole(&gvk) {
        // Generic checks may ask for any kind; typed kinds are served from their typed lists instead. A document
        // that is not an object (a kustomization without metadata) is left out, as before.
        if let Ok(mut object) = serde_json::from_value::<kube::api::DynamicObject>(value.clone()) {
            crate::view::strip_dynamic(&mut object);
            loaded
                .snapshot
                .dynamic
                .entry(gvk)
                .or_default()
                .push(Arc::new(object));
        }
    }
    let s = &mut loaded.snapshot;
    let placed = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => push(&mut s.namespaces, parse(value).map_err(malformed)?),
        ("v1", "Node") => push(&mut s.nodes, parse(value).map_err(malformed)?),
        ("v1", "Pod") => {
            let pod: k8s_openapi::api::core::v1::Pod = parse(value).map_err(malformed)?;
            if pod.metadata.namespace.as_deref() == Some(crate::view::CONTROL_PLANE_NAMESPACE) {
                push(&mut s.control_plane_pods, pod.clone());
            }
            push(&mut s.pods, crate::view::stored::Pod::from(pod))
        }
        ("v1", "Secret") => {
            // Never keep secret values: parse, then redact at once.
            let mut secret: k8s_openapi::api::core::v1::Secret = parse(value).map_err(malformed)?;
            secret.project();
            if ClusterSnapshot::is_service_account_token(&secret) {
                push(&mut s.service_account_token_secrets, secret)
            } else {
                false
            }
        }
        ("rbac.authorization.k8s.io/v1", "Role") => {
            push(&mut s.roles, parse(value).map_err(malformed)?)
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
            push(&mut s.cluster_roles, parse(value).map_err(malformed)?)
        }
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
            push(&mut s.role_bindings, parse(value).map_err(malformed)?)
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => push(
            &mut s.cluster_role_bindings,
            parse(value).map_err(malformed)?,
        ),
        ("apps/v1", "Deployment") => push(&mut s.deployments, parse(value).map_err(malformed)?),
        ("apps/v1", "StatefulSet") => push(&mut s.stateful_sets, parse(value).map_err(malformed)?),
        ("apps/v1", "DaemonSet") => push(&mut s.daemon_sets, parse(value).map_err(malformed)?),
        ("batch/v1", "CronJob") => push(&mut s.cron_jobs, parse(value).map_err(malformed)?),
        ("batch/v1", "Job") => push(&mut s.jobs, parse(value).map_err(malformed)?),
        ("v1", "Service") => push(&mut s.services, parse(value).map_err(malformed)?),
        ("v1", "ServiceAccount") => push(&mut s.service_accounts, parse(value).map_err(malformed)?),
        ("networking.k8s.io/v1", "NetworkPolicy") => {
            push(&mut s.network_policies, parse(value).map_err(malformed)?)
        }
        ("networking.k8s.io/v1", "Ingress") => {
            push(&mut s.ingresses, parse(value).map_err(malformed)?)
        }
        ("policy/v1", "PodDisruptionBudget") => push(
            &mut s.pod_disruption_budgets,
            parse(value).map_err(malformed)?,
        ),
        ("soc2.dev/v1alpha1", "ControlException") => {
            push(&mut s.control_exceptions, parse(value).map_err(malformed)?)
        }
        ("soc2.dev/v1alpha1", "AccessReview") => {
            push(&mut s.access_reviews, parse(value).map_err(malformed)?)
        }
        ("soc2.dev/v1alpha1", "AccessReviewDecision") => push(
            &mut s.access_review_decisions,
            parse(value).map_err(malformed)?,
        ),
        ("soc2.dev/v1alpha1", "Control") => {
            loaded.controls.push(parse(value).map_err(malformed)?);
            return Ok(());
        }
        _ => false,
    };
    if placed {
        loaded.objects += 1;
    } else {
        loaded.ignored += 1;
    }
    Ok(())
}

/// Keeps `object` as the operator's watches would (see [`Project`]).
fn push<K: Project>(list: &mut Vec<Arc<K>>, mut object: K) -> bool {
    object.project();
    list.push(Arc::new(object));
    true
}
