//! The webhook's serving certificate: read from a mounted `kubernetes.io/tls` Secret (cert-manager compatible:
//! `tls.crt`, `tls.key`, `ca.crt`) and reloaded when it changes, or generated with rcgen and rotated before expiry.
//! Either way the CA bundle the API server must trust is published, so the webhook configuration follows it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::watch;

/// Why a serving certificate cannot be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file of the mounted Secret cannot be read.
    #[error(
        "cannot read {path}: {source}. Mount a kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt) there"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file holds no usable PEM certificate or key.
    #[error("{what} in {path} is not valid PEM: {reason}")]
    Pem {
        /// tls.crt or tls.key.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        reason: String,
    },
    /// rcgen could not make a certificate.
    #[error("cannot generate the webhook's certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the key.
    #[error("the webhook's private key is not usable: {0}")]
    Key(rustls::Error),
}

/// Serves whichever certificate was loaded last; swapped in place on reload or rotation.
#[derive(Debug)]
pub struct CertResolver(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|k| k.clone())
    }
}

impl CertResolver {
    fn set(&self, key: Arc<CertifiedKey>) {
        if let Ok(mut k) = self.0.write() {
            *k = key;
        }
    }
}

fn certified(chain_pem: &[u8], key_pem: &[u8], path: &Path) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem {
            what: "tls.crt",
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            what: "tls.crt",
            path: path.to_path_buf(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Pem {
        what: "tls.key",
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let signer = any_supported_type(&key).map_err(TlsError::Key)?;
    Ok(CertifiedKey::new(chain, signer))
}

/// A generated CA and serving certificate, rotated at two thirds of their lifetime. A new CA is first added to the
/// bundle (old and new CA both trusted) and only served from on the next rotation check, so that the API server
/// trusts the new certificate before it is presented.
pub struct GeneratedAuthority {
    names: Vec<String>,
    validity: Duration,
    ca: (rcgen::Certificate, rcgen::KeyPair, rcgen::CertificateParams),
    issued_at: time::OffsetDateTime,
    previous_ca_pem: Option<(String, time::OffsetDateTime)>,
    next: Option<(rcgen::Certificate, rcgen::KeyPair, rcgen::CertificateParams)>,
    leaf: (String, String),
}

fn make_ca(
    now: time::OffsetDateTime,
    validity: Duration,
) -> Result<(rcgen::Certificate, rcgen::KeyPair, rcgen::CertificateParams), TlsError> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "soc2-operator webhook CA");
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + validity;
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert, key, params))
}

fn make_leaf(
    names: &[String],
    now: time::OffsetDateTime,
    validity: Duration,
    ca: &(rcgen::Certificate, rcgen::KeyPair, rcgen::CertificateParams),
) -> Result<(String, String), TlsError> {
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "soc2-operator webhook");
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + validity;
    let key = rcgen::KeyPair::generate()?;
    let issuer = rcgen::Issuer::from_params(&ca.2, &ca.1);
    let cert = params.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl GeneratedAuthority {
    /// A CA and a serving certificate for `names` (DNS names or IP addresses), valid for `validity`.
    pub fn new(
        names: Vec<String>,
        validity: Duration,
        now: time::OffsetDateTime,
    ) -> Result<Self, TlsError> {
        let ca = make_ca(now, validity)?;
        let leaf = make_leaf(&names, now, validity, &ca)?;
        Ok(GeneratedAuthority {
            names,
            validity,
            ca,
            issued_at: now,
            previous_ca_pem: None,
            next: None,
            leaf,
        })
    }

    /// The PEM bundle of every CA the API server must trust now.
    pub fn ca_bundle(&self) -> String {
        let mut out = self.ca.0.pem();
        if let Some((next, _, _)) = &self.next {
            out.push_str(&next.pem());
        }
        if let Some((old, _)) = &self.previous_ca_pem {
            out.push_str(old);
        }
        out
    }

    /// The serving certificate and key (PEM).
    pub fn leaf(&self) -> (&str, &str) {
        (&self.leaf.0, &self.leaf.1)
    }

    /// Rotates when due; true when the bundle or the serving certificate changed.
    pub fn rotate(&mut self, now: time::OffsetDateTime) -> Result<bool, TlsError> {
        if let Some((_, expiry)) = &self.previous_ca_pem
            && *expiry <= now
        {
            self.previous_ca_pem = None;
        }
        if let Some(next) = self.next.take() {
            // The bundle with the new CA was published on the previous check: serve from it now.
            let old = std::mem::replace(&mut self.ca, next);
            self.previous_ca_pem = Some((old.0.pem(), self.issued_at + self.validity));
            self.issued_at = now;
            self.leaf = make_leaf(&self.names, now, self.validity, &self.ca)?;
            return Ok(true);
        }
        if now - self.issued_at >= self.validity * 2 / 3 {
            self.next = Some(make_ca(now, self.validity)?);
            return Ok(true);
        }
        Ok(false)
    }
}

/// Where the serving certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateSource {
    /// A mounted kubernetes.io/tls Secret: `tls.crt`, `tls.key` and `ca.crt` (the caBundle; without it, `tls.crt`).
    Directory(PathBuf),
    /// Generated in memory for these DNS names / IP addresses. Each replica generates its own, so use it with one
    /// replica or with a URL-registered webhook; the chart mounts a Secret instead.
    Generated(Vec<String>),
}

/// The live serving certificate: the resolver rustls uses and the CA bundle the configuration publishes.
#[derive(Clone)]
pub struct ServingCertificate {
    /// Hands the current certificate to rustls.
    pub resolver: Arc<CertResolver>,
    /// The current caBundle (PEM).
    pub ca_bundle: watch::Receiver<String>,
}

/// How often the mounted files are re-read and the generated certificate checked for rotation.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(60);
/// Lifetime of generated certificates.
pub const GENERATED_VALIDITY: Duration = Duration::from_secs(90 * 24 * 3600);

fn read(path: PathBuf) -> Result<Vec<u8>, TlsError> {
    std::fs::read(&path).map_err(|source| TlsError::Read { path, source })
}

fn load_directory(dir: &Path) -> Result<(CertifiedKey, String), TlsError> {
    let crt = read(dir.join("tls.crt"))?;
    let key = read(dir.join("tls.key"))?;
    let ca = match std::fs::read(dir.join("ca.crt")) {
        Ok(ca) if !ca.is_empty() => ca,
        _ => crt.clone(),
    };
    let certified = certified(&crt, &key, &dir.join("tls.crt"))?;
    Ok((certified, String::from_utf8_lossy(&ca).into_owned()))
}

impl ServingCertificate {
    /// Loads or generates the certificate and keeps it current on a background task.
    pub fn start(source: CertificateSource) -> Result<Self, TlsError> {
        match source {
            CertificateSource::Directory(dir) => {
                let (key, ca) = load_directory(&dir)?;
                let resolver = Arc::new(CertResolver(RwLock::new(Arc::new(key))));
                let (tx, rx) = watch::channel(ca);
                let r = resolver.clone();
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(RELOAD_INTERVAL);
                    loop {
                        tick.tick().await;
                        // kubelet swaps the mounted Secret atomically; a half-written state fails to parse and
                        // the previous certificate is kept until the next look.
                        match load_directory(&dir) {
                            Ok((key, ca)) => {
                                r.set(Arc::new(key));
                                tx.send_if_modified(|old| {
                                    let changed = *old != ca;
                                    *old = ca;
                                    changed
                                });
                            }
                            Err(error) => {
                                tracing::warn!(%error, "webhook certificate not reloaded; serving the previous one")
                            }
                        }
                        if tx.is_closed() {
                            break;
                        }
                    }
                });
                Ok(ServingCertificate {
                    resolver,
                    ca_bundle: rx,
                })
            }
            CertificateSource::Generated(names) => {
                let mut authority = GeneratedAuthority::new(
                    names,
                    GENERATED_VALIDITY,
                    time::OffsetDateTime::now_utc(),
                )?;
                let (crt, key) = authority.leaf();
                let key = certified(crt.as_bytes(), key.as_bytes(), Path::new("(generated)"))?;
                let resolver = Arc::new(CertResolver(RwLock::new(Arc::new(key))));
                let (tx, rx) = watch::channel(authority.ca_bundle());
                let r = resolver.clone();
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(RELOAD_INTERVAL);
                    loop {
                        tick.tick().await;
                        match authority.rotate(time::OffsetDateTime::now_utc()) {
                            Ok(false) => {}
                            Ok(true) => {
                                let (crt, key) = authority.leaf();
                                match certified(
                                    crt.as_bytes(),
                                    key.as_bytes(),
                                    Path::new("(generated)"),
                                ) {
                                    Ok(k) => r.set(Arc::new(k)),
                                    Err(error) => {
                                        tracing::error!(%error, "rotated certificate unusable")
                                    }
                                }
                                tx.send_replace(authority.ca_bundle());
                                tracing::info!("webhook certificate rotated");
                            }
                            Err(error) => {
                                tracing::error!(%error, "webhook certificate rotation failed")
                            }
                        }
                        if tx.is_closed() {
                            break;
                        }
                    }
                });
                Ok(ServingCertificate {
                    resolver,
                    ca_bundle: rx,
                })
            }
        }
    }

    /// A rustls server configuration serving this certificate (HTTP/1.1 only).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.with_no_client_auth()
                .with_cert_resolver(self.resolver.clone())
        })
        // The ring provider supports the default protocol versions; this cannot fail.
        .unwrap_or_else(|_| {
            rustls::ServerConfig::builder()
                .with_no_client_auth()
                .with_cert_resolver(self.resolver.clone())
        });
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: i64) -> time::OffsetDateTime {
        time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000 + n)
    }

    #[test]
    fn generated_certificates_rotate_with_an_overlapping_bundle() {
        let validity = Duration::from_secs(90 * 24 * 3600);
        let mut a = GeneratedAuthority::new(
            vec!["127.0.0.1".into(), "svc.ns.svc".into()],
            validity,
            day(0),
        )
        .unwrap();
        let first_bundle = a.ca_bundle();
        let first_leaf = a.leaf().0.to_string();
        assert_eq!(first_bundle.matches("BEGIN CERTIFICATE").count(), 1);
        assert!(!a.rotate(day(30)).unwrap(), "not due yet");
        assert!(a.rotate(day(61)).unwrap(), "due at two thirds");
        assert_eq!(
            a.ca_bundle().matches("BEGIN CERTIFICATE").count(),
            2,
            "new CA trusted first"
        );
        assert_eq!(a.leaf().0, first_leaf, "still serving the old certificate");
        assert!(a.rotate(day(61)).unwrap());
        assert_ne!(a.leaf().0, first_leaf, "now serving from the new CA");
        assert!(
            a.ca_bundle().contains(first_bundle.trim()),
            "old CA kept until it expires"
        );
        assert!(!a.rotate(day(80)).unwrap());
        a.rotate(day(91)).unwrap();
        assert!(
            !a.ca_bundle().contains(first_bundle.trim()),
            "expired CA dropped"
        );
        certified(a.leaf().0.as_bytes(), a.leaf().1.as_bytes(), Path::new("t")).expect("usable");
    }

    #[test]
    fn a_directory_without_files_says_what_to_mount() {
        let dir = tempfile::tempdir().unwrap();
        let e = load_directory(dir.path()).expect_err("missing files");
        assert!(e.to_string().contains("kubernetes.io/tls"), "{e}");
        std::fs::write(dir.path().join("tls.crt"), "junk").unwrap();
        std::fs::write(dir.path().join("tls.key"), "junk").unwrap();
        let e = load_directory(dir.path()).expect_err("bad pem");
        assert!(e.to_string().contains("not valid PEM"), "{e}");
    }
}
