//! Enforce and Warn modes: a validating admission webhook that runs the audit's own checks on one object.
//!
//! - [`admissibility`]: which checks can decide on one object, and on which kinds (each check declares it; this
//!   narrows it to the kinds the webhook admits).
//! - [`admitted`]: the admission snapshot (the object and its Namespace) that [`crate::engine::evaluate::evaluate`]
//!   reads.
//! - [`decision`]: the verdict per control, deny message and warnings.
//! - [`handler`]: the AdmissionReview endpoints; [`server`]: HTTPS; [`tls`]: the serving certificate.
//! - [`configuration`]: the ValidatingWebhookConfiguration built from the Enforce/Warn controls (and the access
//!   review decision webhook), and the MutatingWebhookConfiguration, applied by the leader.
//! - [`access_decisions`]: authenticated sign-off of access reviews: records who created an AccessReviewDecision
//!   and admits it only from a declared reviewer, on the open cycle, never on their own access.
//!
//! It decides no control itself: a rule exists once, in [`crate::checks`]. The sign-off rules of access reviews
//! exist only at admission, so they live in [`access_decisions`].

pub mod access_decisions;
pub mod admissibility;
pub mod admitted;
pub mod configuration;
pub mod decision;
pub mod handler;
pub mod server;
pub mod tls;

use std::net::SocketAddr;

use crate::checks::Admissibility;
use crate::controller::status::AdmissionStatus;
use crate::engine::validation::ValidatedControl;
use admissibility::admissibility;
use configuration::Registration;

/// What admission does for the control `name`, for its `AdmissionEnforced` condition: audit-only when its check
/// cannot decide per object, serving once the applied webhook configuration covers it.
pub fn admission_status(
    name: &str,
    control: &ValidatedControl<'_>,
    registration: Option<&Registration>,
) -> AdmissionStatus {
    if let Admissibility::AuditOnly(why) = admissibility(control) {
        return AdmissionStatus::AuditOnly(why.to_string());
    }
    match registration.map(|r| r.covers(name)) {
        None => AdmissionStatus::NotServing(
            "the admission webhook is not enabled; start the operator with --webhook-addr (chart: webhook.enabled=true)"
                .into(),
        ),
        Some(None) => AdmissionStatus::NotServing(
            "the webhook configuration has not been applied yet (the leader applies it within seconds; check the operator's logs and its RBAC for validatingwebhookconfigurations)".into(),
        ),
        Some(Some(false)) => AdmissionStatus::NotServing(
            "the applied webhook configuration does not cover this control yet".into(),
        ),
        Some(Some(true)) => AdmissionStatus::Serving,
    }
}

/// How the operator runs its admission webhook (`--webhook-addr` and friends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Where the HTTPS server listens.
    pub addr: SocketAddr,
    /// Where the serving certificate comes from.
    pub certificate: tls::CertificateSource,
    /// What the ValidatingWebhookConfiguration says.
    pub settings: configuration::WebhookSettings,
}
