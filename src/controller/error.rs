//! Errors of the controller, each with a stable category for metrics and logs.

/// What can go wrong while reconciling a control. Invalid specs are not errors: they become `Ready=False`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    /// Status could not be serialized (a bug).
    #[error("could not serialize control status: {0}")]
    Serialize(#[from] serde_json::Error),
    /// A Control without a name (cannot happen for objects from the API server).
    #[error("control has no metadata.name")]
    MissingName,
    /// The ControlException CRD is not installed (typically after a Helm upgrade: Helm does not install new CRDs).
    #[error(
        "the ControlException CRD (controlexceptions.soc2.dev) is not installed; apply the CRDs of this version with `kubectl apply --server-side -f crds/` and restart the operator"
    )]
    ExceptionCrdMissing,
    /// The Control CRD is not installed.
    #[error(
        "the Control CRD (controls.soc2.dev) is not installed; install it with `kubectl apply -f crds/` (or the Helm chart) and restart the operator"
    )]
    CrdMissing,
    /// The admin server (probes and metrics) could not listen on its address.
    #[error("cannot listen on the admin address {addr} (--admin-addr): {source}")]
    AdminBind {
        /// The address from `--admin-addr`.
        addr: std::net::SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// The admission webhook could not start (certificate or listener).
    #[error("the admission webhook cannot start: {0}")]
    Webhook(String),
    /// The Lease could not be read or created at start.
    #[error(
        "leader election cannot start: {0}; the operator needs get, create and patch on coordination.k8s.io leases in the lease namespace"
    )]
    LeaderElection(#[from] kube_lease_manager::LeaseManagerError),
    /// The leader election task ended while the operator was running; this replica stepped down.
    #[error(
        "leader election stopped unexpectedly; the operator stopped so that it can be restarted"
    )]
    LeaderElectionEnded,
}

impl Error {
    /// A short, stable label for metrics and log fields.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            Error::Kube(kube::Error::Api(s)) if s.code == 403 => "forbidden",
            Error::Kube(_) => "api",
            Error::Serialize(_) => "serialize",
            Error::MissingName => "invalid-object",
            Error::CrdMissing | Error::ExceptionCrdMissing => "crd-missing",
            Error::AdminBind { .. } => "admin-bind",
            Error::Webhook(_) => "webhook",
            Error::LeaderElection(_) | Error::LeaderElectionEnded => "leader-election",
        }
    }
}
