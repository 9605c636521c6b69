//! Where evidence is kept: a local directory or an S3-compatible bucket, behind one `object_store` code path.
//!
//! Every write is a conditional create: evidence is never overwritten, so a second writer for the same
//! manifest sequence gets [`StoreError::AlreadyExists`] instead of forking the chain.
//!
//! Errors say what to fix: a missing bucket, a bucket without Object Lock, refused access and missing credentials
//! are [`StoreError::Misconfigured`] (see [`StoreError::retry_slowly`]), not outages.

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig,
};

use super::versions::{DEFAULT_PAGE_SIZE, ObjectVersions, S3Access};

/// Object Lock retention applied to every object written (S3 only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectLock {
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub mode: String,
    /// Days from the write.
    pub days: u32,
}

/// An S3-compatible bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct S3Location {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix (no leading or trailing slash).
    pub prefix: String,
    /// Endpoint URL for non-AWS stores (`http://127.0.0.1:9000`); `None` for AWS.
    pub endpoint: Option<String>,
    /// Region (`us-east-1` when unset).
    pub region: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), which most non-AWS stores need.
    pub path_style: bool,
    /// Static credentials; `None` uses the ambient chain (environment, web identity, instance metadata).
    pub credentials: Option<S3Credentials>,
    /// Retention on write.
    pub object_lock: Option<ObjectLock>,
}

/// Static S3 credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token, for temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Credentials(access key id {})", self.access_key_id)
    }
}

/// Where a store is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// A local directory.
    Filesystem(std::path::PathBuf),
    /// An S3-compatible bucket.
    S3(S3Location),
}

impl StoreLocation {
    /// Parses `s3://bucket/prefix` or a directory path. S3 settings other than bucket and prefix are filled
    /// in by the caller.
    pub fn parse(uri: &str) -> Result<Self, StoreError> {
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StoreError::Location(format!(
                    "{uri:?} names no bucket; write s3://BUCKET/PREFIX"
                )));
            }
            return Ok(StoreLocation::S3(S3Location {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
                ..S3Location::default()
            }));
        }
        if uri.contains("://") {
            return Err(StoreError::Location(format!(
                "{uri:?}: only s3:// URIs and local directories are supported"
            )));
        }
        Ok(StoreLocation::Filesystem(uri.into()))
    }

    /// The location as a URI, for status and messages.
    pub fn uri(&self) -> String {
        match self {
            StoreLocation::Filesystem(p) => format!("file://{}", p.display()),
            StoreLocation::S3(s) if s.prefix.is_empty() => format!("s3://{}", s.bucket),
            StoreLocation::S3(s) => format!("s3://{}/{}", s.bucket, s.prefix),
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The location is malformed.
    #[error("invalid evidence store location: {0}")]
    Location(String),
    /// The object exists already (a conditional create lost).
    #[error("{0} already exists in the evidence store")]
    AlreadyExists(String),
    /// The object is missing.
    #[error("{0} is missing from the evidence store")]
    NotFound(String),
    /// The store could not be reached or refused the request.
    #[error("evidence store {uri}: {source}")]
    Backend {
        /// Store URI.
        uri: String,
        /// The error.
        #[source]
        source: object_store::Error,
    },
    /// An object was written to a local directory but could not be flushed to disk.
    #[error(
        "evidence object {path} was written but could not be flushed to disk ({source}); it is not counted as stored: check that the evidence volume is writable and not full, the snapshot is retried"
    )]
    Flush {
        /// The object's file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The local directory could not be created.
    #[error("cannot create evidence directory {path}: {source}")]
    Directory {
        /// The directory.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The store refuses the request because of how the bucket, its policy or the credentials are set up: it will
    /// keep refusing until someone changes them.
    #[error("evidence store {uri}: {problem}")]
    Misconfigured {
        /// Store URI.
        uri: String,
        /// What is wrong and how to fix it.
        problem: Misconfiguration,
        /// The store's answer (boxed: it is rare and large).
        #[source]
        source: Box<object_store::Error>,
    },
}

/// A store set up so that every request fails the same way; each message says what to change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Misconfiguration {
    /// The bucket does not exist (404 `NoSuchBucket`).
    #[error(
        "bucket {bucket} does not exist: create it (with Object Lock enabled if spec.s3.objectLock is set) or fix spec.s3.bucket"
    )]
    NoSuchBucket {
        /// The bucket.
        bucket: String,
    },
    /// Writes carry Object Lock retention but the bucket was created without Object Lock (400 `InvalidRequest`).
    #[error(
        "bucket {bucket} has no Object Lock configuration but spec.s3.objectLock is set: create the bucket with Object Lock enabled or remove spec.s3.objectLock"
    )]
    NoObjectLock {
        /// The bucket.
        bucket: String,
    },
    /// The credentials are valid but not allowed to use the bucket (403 `AccessDenied`): an IAM or bucket policy.
    #[error(
        "access to bucket {bucket} was denied ({detail}): allow these credentials s3:ListBucket, s3:GetObject and s3:PutObject on the bucket (s3:PutObjectRetention with spec.s3.objectLock; s3:GetBucketVersioning and s3:ListBucketVersions for version checks), or set spec.s3.credentialsSecret to credentials that are allowed"
    )]
    AccessDenied {
        /// The bucket.
        bucket: String,
        /// S3's message.
        detail: String,
    },
    /// No credentials were configured and the last source of the ambient chain, instance metadata, gave none.
    #[error(
        "no S3 credentials were found (none configured, and instance metadata at {metadata_endpoint} provided none): set spec.s3.credentialsSecret (a Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) or provide ambient credentials (AWS_* environment variables, web identity / IRSA, or instance metadata); for soc2ctl, export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    NoCredentials {
        /// The instance metadata endpoint that was tried.
        metadata_endpoint: String,
    },
}

impl StoreError {
    /// A stable label for metrics and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            StoreError::Location(_) => "location",
            StoreError::AlreadyExists(_) => "conflict",
            StoreError::NotFound(_) => "not_found",
            StoreError::Backend { source, .. } => match source {
                object_store::Error::Unauthenticated { .. }
                | object_store::Error::PermissionDenied { .. } => "credentials",
                other if refused_credentials(other) => "credentials",
                _ => "unavailable",
            },
            StoreError::Directory { .. } => "directory",
            StoreError::Flush { .. } => "disk",
            StoreError::Misconfigured { problem, .. } => match problem {
                // Like a wrong secret key: the fix is other credentials.
                Misconfiguration::NoCredentials { .. } => "credentials",
                // The credentials work; the bucket or its policy must change.
                Misconfiguration::NoSuchBucket { .. }
                | Misconfiguration::NoObjectLock { .. }
                | Misconfiguration::AccessDenied { .. } => "configuration",
            },
        }
    }

    /// Whether the error lasts until someone changes the spec, the bucket, its policy or the credentials
    /// (categories `configuration`, `credentials` and `location`): a caller should retry it slowly (minutes, and on
    /// a spec or Secret change) rather than with the short backoff meant for outages.
    pub fn retry_slowly(&self) -> bool {
        matches!(
            self.category(),
            "configuration" | "credentials" | "location"
        )
    }
}

/// What is wrong with an S3 store, read from the error `object_store` (or a versions request) returned.
///
/// `object_store` keeps S3's XML error body only in its messages, so the code and message are read from the text of
/// the error chain.
fn misconfiguration(source: &object_store::Error, s3: &S3Access) -> Option<Misconfiguration> {
    let mut texts = Vec::new();
    let mut cause: Option<&dyn std::error::Error> = Some(source);
    while let Some(e) = cause {
        texts.push(e.to_string());
        cause = e.source();
    }
    // Only the ambient chain's last resort asks instance metadata, so a failure there means nothing else was found.
    let metadata = format!("{}/latest/", s3.metadata_endpoint.trim_end_matches('/'));
    if texts.iter().any(|t| t.contains(&metadata)) {
        return Some(Misconfiguration::NoCredentials {
            metadata_endpoint: s3.metadata_endpoint.clone(),
        });
    }
    let (code, message) = texts.iter().find_map(|t| s3_error_code(t))?;
    let bucket = s3.bucket.clone();
    let squashed: String = message
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    match code.as_str() {
        "NoSuchBucket" => Some(Misconfiguration::NoSuchBucket { bucket }),
        // AWS: "Bucket is missing Object Lock Configuration"; moto: "Bucket is missing ObjectLockConfiguration".
        "InvalidRequest" if squashed.contains("objectlockconfiguration") => {
            Some(Misconfiguration::NoObjectLock { bucket })
        }
        "AccessDenied" => Some(Misconfiguration::AccessDenied {
            bucket,
            detail: if message.is_empty() {
                "403 AccessDenied".into()
            } else {
                format!("403 AccessDenied: {message}")
            },
        }),
        _ => None,
    }
}

/// The `<Code>` and `<Message>` of an S3 XML error found in `text`.
fn s3_error_code(text: &str) -> Option<(String, String)> {
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].trim().to_string())
    };
    Some((element("Code")?, element("Message").unwrap_or_default()))
}

/// Whether the store answered 401 or 403. `object_store` maps those to `Unauthenticated`/`PermissionDenied` for
/// single objects, but a refused listing (the first request of every snapshot and every verify, and what a
/// signature-checking server answers to a wrong secret key) comes back as a `Generic` error that carries the
/// status only in its message.
fn refused_credentials(err: &object_store::Error) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = cause {
        let text = e.to_string();
        if text.contains("non-2xx status code: 401") || text.contains("non-2xx status code: 403") {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A connected evidence store.
#[derive(Clone, Debug)]
pub struct EvidenceStoreClient {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    uri: String,
    /// The directory of a local store, whose writes are flushed to disk ([`super::flush`]).
    local_root: Option<std::path::PathBuf>,
    /// An S3 store's client and addressing, for the requests `object_store` has no API for and for error messages.
    s3: Option<S3Access>,
}

impl EvidenceStoreClient {
    /// Connects to `location`. For S3 with Object Lock, the retention date is fixed when the client is built,
    /// so build one per snapshot.
    pub fn connect(location: &StoreLocation) -> Result<Self, StoreError> {
        let uri = location.uri();
        let backend = |source| StoreError::Backend {
            uri: uri.clone(),
            source,
        };
        match location {
            StoreLocation::Filesystem(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
                    path: dir.display().to_string(),
                    source,
                })?;
                let fs = LocalFileSystem::new_with_prefix(dir).map_err(backend)?;
                Ok(EvidenceStoreClient {
                    store: Arc::new(fs),
                    prefix: String::new(),
                    uri,
                    local_root: Some(dir.clone()),
                    s3: None,
                })
            }
            StoreLocation::S3(s3) => {
                // object_store's HTTP client takes its TLS provider from the process (see Cargo.toml).
                crate::install_crypto_provider();
                let mut options = ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(30));
                // from_env: the ambient chain (AWS_* variables, web identity, instance metadata) unless keys are given.
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(&s3.bucket)
                    .with_region(s3.region.as_deref().unwrap_or("us-east-1"))
                    // Our loop retries with its own backoff; fail fast here so an outage is reported promptly.
                    .with_retry(RetryConfig {
                        backoff: BackoffConfig::default(),
                        max_retries: 2,
                        retry_timeout: Duration::from_secs(10),
                    });
                // An endpoint from the environment (which from_env reads too) needs the same bucket addressing.
                let endpoint = s3.endpoint.clone().or_else(|| {
                    ["AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
                        .into_iter()
                        .find_map(|v| std::env::var(v).ok())
                        .filter(|e| !e.trim().is_empty())
                });
                match &endpoint {
                    Some(endpoint) => {
                        let (endpoint, virtual_hosted) =
                            bucket_endpoint(endpoint, &s3.bucket, s3.path_style)?;
                        options = options.with_allow_http(endpoint.starts_with("http://"));
                        builder = builder
                            .with_endpoint(endpoint)
                            .with_virtual_hosted_style_request(virtual_hosted);
                    }
                    None => {
                        builder = builder.with_virtual_hosted_style_request(!s3.path_style);
                    }
                }
                if let Some(c) = &s3.credentials {
                    builder = builder
                        .with_access_key_id(&c.access_key_id)
                        .with_secret_access_key(&c.secret_access_key);
                    if let Some(t) = &c.session_token {
                        builder = builder.with_token(t);
                    }
                }
                // Requests other than PUTs (listing versions) must not carry the retention headers.
                let http = S3Access::http_client(&options).map_err(backend)?;
                if let Some(lock) = &s3.object_lock {
                    options = options.with_default_headers(lock_headers(lock)?);
                    // S3 requires an integrity checksum on PUTs with Object Lock retention.
                    builder = builder.with_checksum_algorithm(object_store::aws::Checksum::SHA256);
                }
                let bucket_url = bucket_url(&builder, &s3.bucket);
                let region = builder
                    .get_config_value(&AmazonS3ConfigKey::Region)
                    .unwrap_or_else(|| "us-east-1".into());
                let metadata_endpoint = builder
                    .get_config_value(&AmazonS3ConfigKey::MetadataEndpoint)
                    .unwrap_or_else(|| DEFAULT_METADATA_ENDPOINT.into());
                let store = Arc::new(
                    builder
                        .with_client_options(options)
                        .build()
                        .map_err(backend)?,
                );
                Ok(EvidenceStoreClient {
                    store: store.clone(),
                    prefix: s3.prefix.clone(),
                    uri,
                    local_root: None,
                    s3: Some(S3Access {
                        s3: store,
                        http,
                        bucket: s3.bucket.clone(),
                        bucket_url,
                        region,
                        metadata_endpoint,
                        page_size: DEFAULT_PAGE_SIZE,
                    }),
                })
            }
        }
    }

    /// Wraps any `object_store` backend (tests use this to stand in for stores with weaker guarantees).
    pub fn from_object_store(store: Arc<dyn ObjectStore>, uri: impl Into<String>) -> Self {
        EvidenceStoreClient {
            store,
            prefix: String::new(),
            uri: uri.into(),
            local_root: None,
            s3: None,
        }
    }

    /// Asks for at most `page_size` (1 to 1000) versions per `ListObjectVersions` page; tests use small pages to
    /// cover pagination. No effect on stores other than S3.
    pub fn with_versions_page_size(mut self, page_size: usize) -> Self {
        if let Some(s3) = &mut self.s3 {
            s3.page_size = page_size.clamp(1, DEFAULT_PAGE_SIZE);
        }
        self
    }

    /// The store's URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The URI of an object.
    pub fn object_uri(&self, relative: &str) -> String {
        format!("{}/{}", self.uri.trim_end_matches('/'), relative)
    }

    fn path(&self, relative: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(relative)
        } else {
            Path::from(format!("{}/{relative}", self.prefix))
        }
    }

    fn backend(&self, source: object_store::Error) -> StoreError {
        let uri = self.uri.clone();
        match self
            .s3
            .as_ref()
            .and_then(|s3| misconfiguration(&source, s3))
        {
            Some(problem) => StoreError::Misconfigured {
                uri,
                problem,
                source: Box::new(source),
            },
            None => StoreError::Backend { uri, source },
        }
    }

    /// Creates `relative` with `bytes`; [`StoreError::AlreadyExists`] when it exists.
    pub async fn create(&self, relative: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let created = match self
            .store
            .put_opts(&self.path(relative), PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {
                Err(StoreError::AlreadyExists(self.object_uri(relative)))
            }
            Err(e) => return Err(self.backend(e)),
        };
        // An object that already exists may be one a crashed writer never flushed: flush it too.
        self.flush(relative).await?;
        created
    }

    /// Flushes a local store's object to disk; S3 acknowledges a PUT only once it is durable.
    async fn flush(&self, relative: &str) -> Result<(), StoreError> {
        let Some(root) = self.local_root.clone() else {
            return Ok(());
        };
        let relative = relative.to_string();
        let path = root.join(&relative).display().to_string();
        tokio::task::spawn_blocking(move || super::flush::flush(&root, &relative))
            .await
            .map_err(|e| StoreError::Flush {
                path: path.clone(),
                source: std::io::Error::other(e),
            })?
            .map_err(|source| StoreError::Flush { path, source })
    }

    /// Reads `relative`.
    pub async fn get(&self, relative: &str) -> Result<Vec<u8>, StoreError> {
        let result = match self.store.get(&self.path(relative)).await {
            Ok(r) => r,
            Err(e) => {
                return Err(match self.backend(e) {
                    // A missing bucket is a 404 too: only a missing object is NotFound.
                    StoreError::Backend {
                        source: object_store::Error::NotFound { .. },
                        ..
                    } => StoreError::NotFound(self.object_uri(relative)),
                    other => other,
                });
            }
        };
        Ok(result.bytes().await.map_err(|e| self.backend(e))?.to_vec())
    }

    /// Paths (relative to the prefix) of every object under `relative_dir`, sorted.
    pub async fn list(&self, relative_dir: &str) -> Result<Vec<String>, StoreError> {
        let dir = self.path(relative_dir);
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut paths: Vec<String> = self
            .store
            .list(Some(&dir))
            .map_ok(|meta| {
                let full = meta.location.to_string();
                full.strip_prefix(&strip).unwrap_or(&full).to_string()
            })
            .try_collect()
            .await
            .map_err(|e| self.backend(e))?;
        paths.sort();
        Ok(paths)
    }

    /// The versions a versioned S3 bucket keeps of `relative` (an object) or of every object under it (a
    /// directory; the whole store when empty), one entry per object sorted by path, relative to the store prefix.
    /// Objects whose only trace is a delete marker are listed too: that is what a plain [`list`](Self::list) hides.
    ///
    /// `Ok(None)` when the store keeps no versions: a local directory, a backend given to
    /// [`from_object_store`](Self::from_object_store), a bucket whose versioning was never enabled (an Object Lock
    /// bucket always has it), or a store that does not implement versioning (s3s-fs). On S3 this needs
    /// `s3:GetBucketVersioning` and `s3:ListBucketVersions`.
    pub async fn versions(
        &self,
        relative: &str,
    ) -> Result<Option<Vec<ObjectVersions>>, StoreError> {
        let Some(s3) = &self.s3 else {
            return Ok(None);
        };
        let key_prefix = self.path(relative).to_string();
        let Some(objects) = s3
            .versions(&key_prefix)
            .await
            .map_err(|e| self.backend(e))?
        else {
            return Ok(None);
        };
        let strip = format!("{}/", self.prefix);
        Ok(Some(
            objects
                .into_iter()
                .map(|(key, mut versions)| {
                    versions.path = match self.prefix.is_empty() {
                        true => key,
                        false => key.strip_prefix(&strip).unwrap_or(&key).to_string(),
                    };
                    versions
                })
                .collect(),
        ))
    }
}

/// `object_store`'s default instance metadata endpoint, the ambient credential chain's last resort.
const DEFAULT_METADATA_ENDPOINT: &str = "http://169.254.169.254";

/// The bucket's URL as `object_store` builds it from `builder`'s settings (its `S3Config::bucket_endpoint`, which it
/// does not expose), without a trailing slash.
fn bucket_url(builder: &AmazonS3Builder, bucket: &str) -> String {
    let endpoint = builder
        .get_config_value(&AmazonS3ConfigKey::S3Endpoint)
        .or_else(|| builder.get_config_value(&AmazonS3ConfigKey::Endpoint));
    let virtual_hosted = builder
        .get_config_value(&AmazonS3ConfigKey::VirtualHostedStyleRequest)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let region = builder
        .get_config_value(&AmazonS3ConfigKey::Region)
        .unwrap_or_else(|| "us-east-1".into());
    let url = match (endpoint, virtual_hosted) {
        (Some(endpoint), true) => endpoint,
        (Some(endpoint), false) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
        (None, true) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        (None, false) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
    };
    url.trim_end_matches('/').to_string()
}

/// The endpoint to hand `object_store` for `endpoint` (as configured: the service, without the bucket) and whether
/// requests are virtual-hosted.
///
/// `object_store` takes an explicit endpoint as the bucket's own URL when virtual-hosted requests are on, so without
/// this a virtual-hosted store (`pathStyle: false`, the default) would send every request to the service root with
/// no bucket at all. Virtual-hosted puts the bucket in the host (`https://BUCKET.s3.eu-central-1.amazonaws.com`),
/// unless the endpoint already starts with it. A host that is an IP address, `localhost` or an in-cluster Service
/// name cannot carry a bucket name, nor can a dotted bucket over HTTPS, so those are always addressed path-style.
fn bucket_endpoint(
    endpoint: &str,
    bucket: &str,
    path_style: bool,
) -> Result<(String, bool), StoreError> {
    let endpoint = endpoint.trim_end_matches('/');
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e| StoreError::Location(format!("S3 endpoint {endpoint:?}: {e}")))?;
    let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return Err(StoreError::Location(format!(
            "S3 endpoint {endpoint:?} must be a URL such as https://s3.eu-central-1.amazonaws.com"
        )));
    };
    let host_lower = host.to_ascii_lowercase();
    let ip_or_localhost = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok()
        || host_lower == "localhost";
    // In-cluster Service names (`minio`, `minio.storage.svc`, `...svc.cluster.local`) have no wildcard DNS for
    // bucket subdomains, and a dotted bucket name over HTTPS fails the service's one-label wildcard certificate.
    let no_bucket_subdomains = !host_lower.contains('.')
        || host_lower.ends_with(".svc")
        || host_lower.ends_with(".cluster.local")
        || (scheme.eq_ignore_ascii_case("https") && bucket.contains('.'));
    if path_style || ip_or_localhost || no_bucket_subdomains {
        return Ok((endpoint.to_string(), false));
    }
    if host
        .to_ascii_lowercase()
        .starts_with(&format!("{}.", bucket.to_ascii_lowercase()))
    {
        return Ok((endpoint.to_string(), true));
    }
    let port = uri.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = uri.path().trim_end_matches('/');
    Ok((format!("{scheme}://{bucket}.{host}{port}{path}"), true))
}

fn lock_headers(lock: &ObjectLock) -> Result<http::HeaderMap, StoreError> {
    use k8s_openapi::jiff::{Timestamp, ToSpan};
    let mode = lock.mode.to_ascii_uppercase();
    if mode != "GOVERNANCE" && mode != "COMPLIANCE" {
        return Err(StoreError::Location(format!(
            "objectLock.mode must be GOVERNANCE or COMPLIANCE, got {:?}",
            lock.mode
        )));
    }
    let until = Timestamp::now()
        .checked_add((i64::from(lock.days) * 24).hours())
        .map_err(|e| StoreError::Location(format!("objectLock.days {}: {e}", lock.days)))?;
    let mut headers = http::HeaderMap::new();
    let value = |s: String| {
        http::HeaderValue::from_str(&s)
            .map_err(|e| StoreError::Location(format!("objectLock header {s:?}: {e}")))
    };
    headers.insert("x-amz-object-lock-mode", value(mode)?);
    // With the SHA-256 checksum object_store adds, this satisfies S3's integrity requirement for locked PUTs.
    headers.insert("x-amz-sdk-checksum-algorithm", value("SHA256".into())?);
    headers.insert(
        "x-amz-object-lock-retain-until-date",
        value(until.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())?,
    );
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        assert_eq!(
            StoreLocation::parse("s3://bucket/a/b/").unwrap(),
            StoreLocation::S3(S3Location {
                bucket: "bucket".into(),
                prefix: "a/b".into(),
                ..S3Location::default()
            })
        );
        assert_eq!(
            StoreLocation::parse("/tmp/x").unwrap(),
            StoreLocation::Filesystem("/tmp/x".into())
        );
        assert!(StoreLocation::parse("s3:///x").is_err());
        assert!(StoreLocation::parse("gs://x").is_err());
    }

    #[tokio::test]
    async fn filesystem_create_is_conditional() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            EvidenceStoreClient::connect(&StoreLocation::Filesystem(dir.path().join("e"))).unwrap();
        store
            .create("manifests/a.json", b"one".to_vec())
            .await
            .unwrap();
        let err = store
            .create("manifests/a.json", b"two".to_vec())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::AlreadyExists(_)), "{err}");
        assert_eq!(store.get("manifests/a.json").await.unwrap(), b"one");
        assert_eq!(
            store.list("manifests").await.unwrap(),
            vec!["manifests/a.json"]
        );
        assert!(matches!(
            store.get("manifests/b.json").await.unwrap_err(),
            StoreError::NotFound(_)
        ));
    }

    #[test]
    fn virtual_hosted_endpoints_carry_the_bucket_in_the_host() {
        let e = |endpoint: &str, path_style: bool| {
            bucket_endpoint(endpoint, "evidence", path_style).unwrap()
        };
        assert_eq!(
            e("https://s3.eu-central-1.amazonaws.com", false),
            (
                "https://evidence.s3.eu-central-1.amazonaws.com".into(),
                true
            )
        );
        assert_eq!(
            e("https://minio.example.com:9000/", false),
            ("https://evidence.minio.example.com:9000".into(), true)
        );
        // Already the bucket's endpoint: kept.
        assert_eq!(
            e("https://evidence.s3.amazonaws.com", false),
            ("https://evidence.s3.amazonaws.com".into(), true)
        );
        // Path-style: the service endpoint, object_store appends the bucket.
        assert_eq!(
            e("http://minio.example.com:9000/", true),
            ("http://minio.example.com:9000".into(), false)
        );
        // An IP address or localhost cannot carry a bucket name: path-style whatever was asked.
        for endpoint in [
            "http://127.0.0.1:9000",
            "http://localhost:9000",
            "http://[::1]:9000",
        ] {
            assert_eq!(e(endpoint, false), (endpoint.into(), false));
        }
        // In-cluster Service names have no bucket subdomains: path-style.
        for endpoint in [
            "http://minio:9000",
            "http://minio.storage.svc:9000",
            "https://minio.storage.svc.cluster.local",
        ] {
            assert_eq!(e(endpoint, false), (endpoint.into(), false));
        }
        // A dotted bucket over HTTPS would not match the service's wildcard certificate.
        assert_eq!(
            bucket_endpoint("https://s3.amazonaws.com", "evidence.example.com", false).unwrap(),
            ("https://s3.amazonaws.com".into(), false)
        );
        assert!(bucket_endpoint("not a url", "evidence", false).is_err());
        assert!(bucket_endpoint("/just/a/path", "evidence", false).is_err());
    }

    #[test]
    fn the_store_addresses_the_bucket_both_ways() {
        // What object_store will request: the bucket must be in the URL either way.
        let url = |endpoint: &str, path_style: bool| {
            let location = StoreLocation::S3(S3Location {
                bucket: "evidence".into(),
                prefix: "p".into(),
                endpoint: Some(endpoint.into()),
                path_style,
                credentials: Some(S3Credentials {
                    access_key_id: "k".into(),
                    secret_access_key: "s".into(),
                    session_token: None,
                }),
                ..S3Location::default()
            });
            let client = EvidenceStoreClient::connect(&location).unwrap();
            format!("{:?}", client.store)
        };
        assert!(
            url("https://s3.eu-central-1.amazonaws.com", false)
                .contains("https://evidence.s3.eu-central-1.amazonaws.com"),
            "{}",
            url("https://s3.eu-central-1.amazonaws.com", false)
        );
        assert!(url("http://127.0.0.1:9000", true).contains("http://127.0.0.1:9000/evidence"));
        assert!(url("http://127.0.0.1:9000", false).contains("http://127.0.0.1:9000/evidence"));
    }

    #[test]
    fn versions_requests_go_to_the_bucket_url_object_store_uses() {
        // object_store does not expose its bucket URL; its Debug output shows it.
        for (endpoint, path_style) in [
            (None, false),
            (None, true),
            (Some("https://s3.eu-central-1.amazonaws.com"), false),
            (Some("http://minio.example.com:9000/"), true),
            (Some("http://127.0.0.1:9000"), false),
        ] {
            let location = StoreLocation::S3(S3Location {
                bucket: "evidence".into(),
                prefix: "p".into(),
                endpoint: endpoint.map(str::to_string),
                region: Some("eu-central-1".into()),
                path_style,
                credentials: Some(S3Credentials {
                    access_key_id: "k".into(),
                    secret_access_key: "s".into(),
                    session_token: None,
                }),
                ..S3Location::default()
            });
            let client = EvidenceStoreClient::connect(&location).unwrap();
            let s3 = client.s3.as_ref().unwrap();
            let debug = format!("{:?}", client.store);
            assert!(
                debug.contains(&format!("bucket_endpoint: \"{}\"", s3.bucket_url)),
                "{endpoint:?} path_style {path_style}: {} not in {debug}",
                s3.bucket_url
            );
            assert_eq!(s3.region, "eu-central-1");
        }
    }

    #[test]
    fn misconfigurations_are_read_from_s3_error_codes() {
        let access = |endpoint: &str| {
            let location = StoreLocation::S3(S3Location {
                bucket: "evidence".into(),
                endpoint: Some(endpoint.into()),
                credentials: Some(S3Credentials {
                    access_key_id: "k".into(),
                    secret_access_key: "s".into(),
                    session_token: None,
                }),
                ..S3Location::default()
            });
            EvidenceStoreClient::connect(&location).unwrap().s3.unwrap()
        };
        let s3 = access("http://127.0.0.1:9000");
        let error = |text: &str| object_store::Error::Generic {
            store: "S3",
            source: text.to_string().into(),
        };
        let aws_lock = error(
            "Server returned non-2xx status code: 400 Bad Request: <Error><Code>InvalidRequest</Code>\
             <Message>Bucket is missing Object Lock Configuration</Message></Error>",
        );
        assert_eq!(
            misconfiguration(&aws_lock, &s3),
            Some(Misconfiguration::NoObjectLock {
                bucket: "evidence".into()
            })
        );
        // Other InvalidRequests, other codes and plain outages are not misconfigurations.
        for text in [
            "<Error><Code>InvalidRequest</Code><Message>Missing required header</Message></Error>",
            "<Error><Code>SlowDown</Code></Error>",
            "<Error><Code>SignatureDoesNotMatch</Code></Error>",
            "Error performing GET http://127.0.0.1:9000/evidence - connection refused",
        ] {
            assert_eq!(misconfiguration(&error(text), &s3), None, "{text}");
        }
        assert_eq!(
            misconfiguration(&error("<Code>AccessDenied</Code>"), &s3),
            Some(Misconfiguration::AccessDenied {
                bucket: "evidence".into(),
                detail: "403 AccessDenied".into()
            })
        );
        let no_credentials = error(
            "Error performing PUT http://169.254.169.254/latest/api/token in 5s - HTTP error: error sending request",
        );
        assert_eq!(
            misconfiguration(&no_credentials, &s3),
            Some(Misconfiguration::NoCredentials {
                metadata_endpoint: "http://169.254.169.254".into()
            })
        );
        let err = StoreError::Misconfigured {
            uri: "s3://evidence".into(),
            problem: Misconfiguration::NoCredentials {
                metadata_endpoint: "http://169.254.169.254".into(),
            },
            source: Box::new(no_credentials),
        };
        assert_eq!(err.category(), "credentials");
        assert!(err.retry_slowly());
        assert!(
            err.to_string().starts_with(
                "evidence store s3://evidence: no S3 credentials were found (none configured, and instance metadata at http://169.254.169.254 provided none): set spec.s3.credentialsSecret"
            ),
            "{err}"
        );
        // An outage is retried quickly.
        let outage = StoreError::Backend {
            uri: "s3://evidence".into(),
            source: error("connection refused"),
        };
        assert_eq!(outage.category(), "unavailable");
        assert!(!outage.retry_slowly());
    }

    #[test]
    fn rejects_unknown_lock_modes() {
        let err = lock_headers(&ObjectLock {
            mode: "forever".into(),
            days: 1,
        })
        .unwrap_err();
        assert!(err.to_string().contains("GOVERNANCE or COMPLIANCE"));
    }
}
