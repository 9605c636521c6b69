//! Where evidence is kept: a local directory or an S3-compatible bucket, behind one `object_store` code path.
//!
//! Every write is a conditional create: evidence is never overwritten, so a second writer for the same
//! manifest sequence gets [`StoreError::AlreadyExists`] instead of forking the chain.

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig,
};

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
        }
    }
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
                })
            }
            StoreLocation::S3(s3) => {
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
                if let Some(lock) = &s3.object_lock {
                    options = options.with_default_headers(lock_headers(lock)?);
                    // S3 requires an integrity checksum on PUTs with Object Lock retention.
                    builder = builder.with_checksum_algorithm(object_store::aws::Checksum::SHA256);
                }
                let store = builder
                    .with_client_options(options)
                    .build()
                    .map_err(backend)?;
                Ok(EvidenceStoreClient {
                    store: Arc::new(store),
                    prefix: s3.prefix.clone(),
                    uri,
                    local_root: None,
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
        }
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
        StoreError::Backend {
            uri: self.uri.clone(),
            source,
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
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StoreError::NotFound(self.object_uri(relative)));
            }
            Err(e) => return Err(self.backend(e)),
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
    fn rejects_unknown_lock_modes() {
        let err = lock_headers(&ObjectLock {
            mode: "forever".into(),
            days: 1,
        })
        .unwrap_err();
        assert!(err.to_string().contains("GOVERNANCE or COMPLIANCE"));
    }
}
