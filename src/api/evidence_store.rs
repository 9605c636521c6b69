//! The `EvidenceStore` custom resource: where and when soc2-operator snapshots evidence.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A destination for signed, hash-chained evidence snapshots, and their schedule. Cluster-scoped: evidence is
/// about the whole cluster.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[allow(clippy::duplicated_attributes)]
#[kube(
    group = "soc2.dev",
    version = "v1alpha1",
    kind = "EvidenceStore",
    status = "EvidenceStoreStatus",
    shortname = "evs",
    category = "soc2",
    doc = "Where and when soc2-operator writes signed, hash-chained evidence snapshots.",
    printcolumn(name = "Backend", type_ = "string", json_path = ".status.uri"),
    printcolumn(
        name = "Last snapshot",
        type_ = "date",
        json_path = ".status.lastSnapshot.time"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Failures",
        type_ = "integer",
        json_path = ".status.consecutiveFailures"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceStoreSpec {
    /// A local directory (development, single node). Exactly one of `filesystem` and `s3`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<FilesystemBackend>,
    /// S3-compatible object storage. Exactly one of `filesystem` and `s3`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Backend>,
    /// When to snapshot.
    pub schedule: SnapshotSchedule,
    /// Which Controls to include (by label). Default: every Control.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<super::k8s_schema::LabelSelector>")]
    pub control_selector: Option<LabelSelector>,
    /// ed25519 key that signs every manifest: a Secret holding a 32-byte seed (raw or 64 hex characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<SecretKeyRef>,
    /// How long the evidence should be kept; informational for lifecycle rules (S3 Object Lock enforces it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionHints>,
}

/// A local directory.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilesystemBackend {
    /// Absolute path of the directory; created when missing.
    #[schemars(length(min = 1))]
    pub path: String,
}

/// An S3-compatible bucket.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Backend {
    /// Bucket name.
    #[schemars(length(min = 3, max = 63))]
    pub bucket: String,
    /// Key prefix, e.g. `prod-cluster/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Endpoint URL for non-AWS stores (MinIO, Ceph, R2...). Default: AWS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Region. Default `us-east-1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`); most non-AWS stores need this. Default false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_style: Option<bool>,
    /// A Secret in the operator's namespace with keys `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optionally
    /// `AWS_SESSION_TOKEN`. Default: the ambient credential chain (environment, IRSA web identity, instance role).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<SecretNameRef>,
    /// Object Lock retention set on every object written (the bucket must have Object Lock enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLockSpec>,
}

/// Object Lock retention.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectLockSpec {
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub mode: ObjectLockMode,
    /// Days each object is retained from its write.
    #[schemars(range(min = 1, max = 36500))]
    pub days: u32,
}

/// Object Lock mode.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ObjectLockMode {
    /// Users with special permission can shorten retention.
    Governance,
    /// Nobody can shorten retention or delete the object until it expires.
    Compliance,
}

impl ObjectLockMode {
    /// The S3 header value.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectLockMode::Governance => "GOVERNANCE",
            ObjectLockMode::Compliance => "COMPLIANCE",
        }
    }
}

/// When snapshots are taken: exactly one of `interval` and `cron`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotSchedule {
    /// Every interval (`1h`, `30m`; at least `1m`), aligned to the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// A cron expression in UTC, e.g. `0 * * * *`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
}

/// A Secret in the operator's namespace, by name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretNameRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A key of a Secret in the operator's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key within it. Default `ed25519.seed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Retention hints.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetentionHints {
    /// Days evidence should be kept (SOC 2 Type II windows are 3-12 months; keep at least 400 days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
}

/// The last snapshot written.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastSnapshot {
    /// URI of its manifest.
    pub uri: String,
    /// SHA-256 of the manifest (the chain head).
    pub digest: String,
    /// Snapshot id.
    pub id: String,
    /// Sequence in the chain.
    pub sequence: u64,
    /// The schedule tick it was taken for.
    #[schemars(with = "super::k8s_schema::Time")]
    pub time: Time,
    /// Controls in it.
    pub controls: u32,
    /// Failing findings across its controls.
    pub findings: u64,
}

/// What the operator last did with this store.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceStoreStatus {
    /// The `metadata.generation` this status describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The store's URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// `Ready`: the last snapshot attempt succeeded (False with the error otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<super::k8s_schema::Condition>")]
    pub conditions: Vec<Condition>,
    /// The last snapshot written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_snapshot: Option<LastSnapshot>,
    /// Digest of the chain head (the last manifest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_head: Option<String>,
    /// Failed attempts since the last success.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// The next scheduled snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<super::k8s_schema::Time>")]
    pub next_snapshot: Option<Time>,
}
