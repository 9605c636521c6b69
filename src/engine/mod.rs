//! The engine: from a Control and a view of the cluster to an [`evaluate::Evaluation`], the one place that decides
//! whether a control passes.
//!
//! It owns spec validation ([`validation`]), evaluation ([`evaluate`]), incremental evaluation between reconciles
//! ([`incremental`]), the findings index and digests ([`finding_index`], [`canonical`]) and ControlExceptions
//! ([`exceptions`]). It knows a check only through [`crate::checks::registered`] and never names a check kind. It
//! must not do IO (no API server, no HTTP, no files) nor read the clock (`now` is an argument), and it must not know
//! about its callers: the controller, the webhook, `soc2ctl scan` and evidence.

pub mod canonical;
pub mod evaluate;
pub mod exceptions;
pub mod finding_index;
pub mod incremental;
pub mod validation;
