//! Object versions in a versioned S3 bucket: how many versions and delete markers each evidence object has.
//!
//! A delete marker on the newest manifest hides it from a plain listing, so a writer that trusts the listing would
//! write that sequence number again and fork the chain; the versions show what the listing hides. `object_store` has
//! no versions API, so this module sends `GetBucketVersioning` and `ListObjectVersions` itself, signed by
//! `object_store`'s own SigV4 signer ([`AwsAuthorizer`]) with the credentials of the same [`AmazonS3`] client, over an
//! HTTP client built from the same [`ClientOptions`]. It owns those two requests and the XML they answer; it does not
//! decide what a delete marker means for the chain.

use std::collections::BTreeMap;
use std::sync::Arc;

use object_store::ClientOptions;
use object_store::aws::{AmazonS3, AwsAuthorizer};
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpRequestBody, ReqwestConnector,
};
use serde::Deserialize;

/// `ListObjectVersions` page size: S3's maximum.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 1000;

/// The versions a versioned bucket keeps of one object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectVersions {
    /// The object's path relative to the store prefix (`manifests/000000000002.json`).
    pub path: String,
    /// Versions holding data: more than one means the object was overwritten.
    pub versions: usize,
    /// Delete markers: each one is a DELETE without a version id.
    pub delete_markers: usize,
    /// The newest version is a delete marker: plain reads and listings no longer see the object, although its
    /// data versions are still in the bucket.
    pub latest_is_delete_marker: bool,
}

/// What the S3 client needs for requests `object_store` has no API for.
#[derive(Clone, Debug)]
pub(crate) struct S3Access {
    /// The client `object_store` writes through; its credential provider signs our requests too.
    pub s3: Arc<AmazonS3>,
    /// An HTTP client built from the same options (timeouts, TLS, plain HTTP allowed or not), without the
    /// Object Lock default headers, which belong on PUTs only.
    pub http: HttpClient,
    /// The bucket name, for messages.
    pub bucket: String,
    /// The bucket's URL exactly as `object_store` addresses it (path-style or virtual-hosted), without a slash at
    /// the end.
    pub bucket_url: String,
    /// The signing region.
    pub region: String,
    /// The instance metadata endpoint the ambient credential chain falls back to.
    pub metadata_endpoint: String,
    /// `ListObjectVersions` page size (`max-keys`).
    pub page_size: usize,
}

/// Why a versions request failed; wrapped in `object_store::Error::Generic` so that its errors are classified
/// the same way whichever request failed. The status message follows `object_store`'s wording.
#[derive(Debug, thiserror::Error)]
pub(crate) enum VersionsRequestError {
    /// The request could not be built (a malformed bucket URL).
    #[error("cannot build the request GET {url}: {source}")]
    Build {
        /// The URL.
        url: String,
        /// The error.
        source: http::Error,
    },
    /// The request could not be signed.
    #[error("cannot sign the request GET {url}: {source}")]
    Sign {
        /// The URL.
        url: String,
        /// The error.
        source: object_store::Error,
    },
    /// The request did not complete.
    #[error("Error performing GET {url}: {source}")]
    Http {
        /// The URL.
        url: String,
        /// The error.
        source: HttpError,
    },
    /// The store answered with an error status.
    #[error("Error performing GET {url}: Server returned non-2xx status code: {status}: {body}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: http::StatusCode,
        /// The response body (S3's XML error).
        body: String,
    },
    /// The answer is not the XML S3 documents.
    #[error("GET {url} answered XML that is not a {document}: {source}")]
    Xml {
        /// The URL.
        url: String,
        /// The expected document.
        document: &'static str,
        /// The error.
        source: quick_xml::DeError,
    },
}

impl From<VersionsRequestError> for object_store::Error {
    fn from(e: VersionsRequestError) -> Self {
        object_store::Error::Generic {
            store: "S3",
            source: Box::new(e),
        }
    }
}

/// `GetBucketVersioning`: AWS names the root `VersioningConfiguration`, moto `GetBucketVersioningResponse`; the root
/// name is not checked.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersioningConfiguration {
    #[serde(default)]
    status: Option<String>,
}

/// One page of `ListObjectVersions`; `Version` and `DeleteMarker` elements interleave.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListVersionsResult {
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_key_marker: Option<String>,
    #[serde(default)]
    next_version_id_marker: Option<String>,
    #[serde(default, rename = "Version")]
    versions: Vec<VersionEntry>,
    #[serde(default, rename = "DeleteMarker")]
    delete_markers: Vec<VersionEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersionEntry {
    key: String,
    #[serde(default)]
    is_latest: bool,
}

impl S3Access {
    /// An HTTP client like `object_store`'s own for `options`.
    pub fn http_client(options: &ClientOptions) -> Result<HttpClient, object_store::Error> {
        ReqwestConnector::default().connect(options)
    }

    /// Versions of every object whose key is `key_prefix` or lies under `key_prefix/` (every object when it is
    /// empty), keyed by full key; `None` when versioning was never enabled on the bucket or the store does not
    /// implement it (501 `NotImplemented`, as s3s-fs answers).
    pub async fn versions(
        &self,
        key_prefix: &str,
    ) -> Result<Option<BTreeMap<String, ObjectVersions>>, object_store::Error> {
        let versioning: VersioningConfiguration =
            match self.get("?versioning", "VersioningConfiguration").await {
                Err(e) if not_implemented(&e) => return Ok(None),
                other => other?,
            };
        // No status: versioning was never enabled, each key has one (`null`) version and a DELETE removes it.
        // Suspended still keeps the versions written while it was enabled.
        if versioning.status.is_none() {
            return Ok(None);
        }
        let mut objects: BTreeMap<String, ObjectVersions> = BTreeMap::new();
        let mut marker: Option<(String, String)> = None;
        loop {
            let mut query = format!(
                "?versions&max-keys={}&prefix={}",
                self.page_size,
                encode(key_prefix)
            );
            if let Some((key, version)) = &marker {
                query.push_str(&format!(
                    "&key-marker={}&version-id-marker={}",
                    encode(key),
                    encode(version)
                ));
            }
            let page: ListVersionsResult = self.get(&query, "ListVersionsResult").await?;
            let within = |key: &str| {
                key_prefix.is_empty()
                    || key == key_prefix
                    || key
                        .strip_prefix(key_prefix)
                        .is_some_and(|rest| rest.starts_with('/'))
            };
            for (entry, delete_marker) in page
                .versions
                .iter()
                .map(|v| (v, false))
                .chain(page.delete_markers.iter().map(|d| (d, true)))
            {
                if !within(&entry.key) {
                    continue;
                }
                let object = objects.entry(entry.key.clone()).or_default();
                if delete_marker {
                    object.delete_markers += 1;
                    object.latest_is_delete_marker |= entry.is_latest;
                } else {
                    object.versions += 1;
                }
            }
            match (page.is_truncated, page.next_key_marker) {
                (true, Some(key)) => {
                    let next = (key, page.next_version_id_marker.unwrap_or_default());
                    // A store that answers the same marker twice would otherwise be asked forever.
                    if marker.as_ref() == Some(&next) {
                        break;
                    }
                    marker = Some(next);
                }
                _ => break,
            }
        }
        Ok(Some(objects))
    }

    /// A signed GET of the bucket with `query`, its XML answer read as `T`.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        query: &str,
        document: &'static str,
    ) -> Result<T, object_store::Error> {
        // Path-style `https://host/bucket?versions`; virtual-hosted `https://bucket.host/?versions`.
        let path_style = self
            .bucket_url
            .split_once("://")
            .is_some_and(|(_, rest)| rest.contains('/'));
        let url = match path_style {
            true => format!("{}{query}", self.bucket_url),
            false => format!("{}/{query}", self.bucket_url),
        };
        let mut request: HttpRequest = http::Request::builder()
            .method(http::Method::GET)
            .uri(&url)
            .body(HttpRequestBody::empty())
            .map_err(|source| VersionsRequestError::Build {
                url: url.clone(),
                source,
            })?;
        let credential = self.s3.credentials().get_credential().await?;
        AwsAuthorizer::new(&credential, "s3", &self.region)
            .try_authorize(&mut request, None)
            .map_err(|source| VersionsRequestError::Sign {
                url: url.clone(),
                source,
            })?;
        let response =
            self.http
                .execute(request)
                .await
                .map_err(|source| VersionsRequestError::Http {
                    url: url.clone(),
                    source,
                })?;
        let status = response.status();
        let body =
            response
                .into_body()
                .bytes()
                .await
                .map_err(|source| VersionsRequestError::Http {
                    url: url.clone(),
                    source,
                })?;
        let text = String::from_utf8_lossy(&body);
        if !status.is_success() {
            return Err(VersionsRequestError::Status {
                url,
                status,
                body: text.into_owned(),
            }
            .into());
        }
        quick_xml::de::from_str(&text).map_err(|source| {
            VersionsRequestError::Xml {
                url,
                document,
                source,
            }
            .into()
        })
    }
}

/// Whether the store answered 501: it has no versioning at all.
fn not_implemented(e: &object_store::Error) -> bool {
    let object_store::Error::Generic { source, .. } = e else {
        return false;
    };
    matches!(
        source.downcast_ref::<VersionsRequestError>(),
        Some(VersionsRequestError::Status { status, .. }) if *status == http::StatusCode::NOT_IMPLEMENTED
    )
}

/// Percent-encodes a query value the way SigV4 canonicalizes it (everything but `A-Za-z0-9-_.~`).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_interleaved_versions_and_delete_markers() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix>
<KeyMarker/><VersionIdMarker/><NextKeyMarker>p/b</NextKeyMarker><NextVersionIdMarker>v3</NextVersionIdMarker>
<MaxKeys>3</MaxKeys><IsTruncated>true</IsTruncated>
<DeleteMarker><Key>p/a</Key><VersionId>v9</VersionId><IsLatest>true</IsLatest></DeleteMarker>
<Version><Key>p/a</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest><Size>3</Size></Version>
<Version><Key>p/b</Key><VersionId>v3</VersionId><IsLatest>true</IsLatest></Version>
</ListVersionsResult>"#;
        let page: ListVersionsResult = quick_xml::de::from_str(xml).unwrap();
        assert!(page.is_truncated);
        assert_eq!(page.next_key_marker.as_deref(), Some("p/b"));
        assert_eq!(page.next_version_id_marker.as_deref(), Some("v3"));
        assert_eq!(page.versions.len(), 2);
        assert_eq!(page.delete_markers.len(), 1);
        assert!(page.delete_markers[0].is_latest);

        let empty: ListVersionsResult = quick_xml::de::from_str(
            r#"<ListVersionsResult><IsTruncated>false</IsTruncated><KeyMarker/></ListVersionsResult>"#,
        )
        .unwrap();
        assert!(!empty.is_truncated && empty.versions.is_empty());
    }

    #[test]
    fn reads_versioning_status() {
        let never: VersioningConfiguration = quick_xml::de::from_str(
            r#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#,
        )
        .unwrap();
        assert_eq!(never.status, None);
        let on: VersioningConfiguration = quick_xml::de::from_str(
            r#"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"#,
        )
        .unwrap();
        assert_eq!(on.status.as_deref(), Some("Enabled"));
    }

    #[test]
    fn encodes_query_values_strictly() {
        assert_eq!(encode("a/b c+d~e_f.g-h"), "a%2Fb%20c%2Bd~e_f.g-h");
    }
}
