//! soc2-operator: SOC 2 controls as Kubernetes resources, evaluated continuously.
//!
//! Data flows one way:
//! cluster (watches) -> [`view`] -> [`checks`] (pure) -> [`evaluate`] -> [`controller`] (status, events)
//! and, offline, manifests on disk -> [`scan`] -> the same [`checks`] and [`evaluate`].
//! Beside the flow: [`metrics`] and the [`admin`] port that serves them, and [`leader`] election (only the leader
//! writes).
#![forbid(unsafe_code)]

pub mod admin;
pub mod api;
pub mod canonical;
pub mod checks;
pub mod controller;
pub mod crds;
pub mod evaluate;
pub mod evidence;
pub mod exceptions;
pub mod finding_index;
pub mod incremental;
pub mod leader;
pub mod library;
pub mod metrics;
pub mod policy_report;
pub mod scan;
pub mod telemetry;
pub mod validation;
pub mod view;
pub mod webhook;

/// The name this operator uses as field manager, event reporter and user agent.
pub const OPERATOR_NAME: &str = "soc2-operator";

/// Makes rustls's ring provider the process-wide default, unless one is installed already. Called before creating a
/// `kube::Client` and before building an S3 evidence store.
///
/// ring is the only provider compiled in (kube, the webhook's TLS, rcgen and object_store's signing all use it), but
/// object_store's reqwest client is built without a provider of its own and panics ("No rustls crypto provider is
/// configured") unless the process has a default; kube finds ring from rustls's crate features either way.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only when another thread installed one in between: that one serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
