//! soc2-operator: SOC 2 controls as Kubernetes resources, evaluated continuously.
//!
//! Data flows one way, and the modules follow it:
//!
//! ```text
//! cluster (watches) -> view -> checks (pure) -> engine -> controller (status, events, PolicyReports)
//!                                                      -> evidence (signed, chained snapshots)
//!                                                      -> webhook (admission verdict, same checks)
//! manifests on disk -> scan -> the same checks and engine
//! ```
//!
//! - [`api`]: the CRD types (no IO).
//! - [`access`]: who holds which access through RBAC and how it changed (what access reviews review); pure.
//! - [`view`]: what the operator knows of the cluster (snapshots, live watches, scope matching).
//! - [`checks`]: one file per check kind, each declaring what the rest must know of it beside its pure judge;
//!   [`checks::registered`] maps a check kind to it.
//! - [`engine`]: validation, evaluation (the one place that decides pass/fail), incremental evaluation, the findings
//!   index and ControlExceptions; pure, no IO.
//! - [`controller`], [`webhook`], [`evidence`], [`scan`]: what is done with evaluations.
//! - [`runtime`]: what a running operator process needs beside the flow: the admin port, metrics, leader election,
//!   logging.
//! - [`shipped`]: the files generated from the code and committed (CRDs, the control library page).
#![forbid(unsafe_code)]

pub mod access;
pub mod api;
pub mod checks;
pub mod controller;
pub mod engine;
pub mod evidence;
pub mod runtime;
pub mod scan;
pub mod shipped;
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
