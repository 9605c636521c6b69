//! soc2-operator: SOC 2 controls as Kubernetes resources, evaluated continuously.
//!
//! Data flows one way:
//! cluster (watches) -> [`view`] -> [`checks`] (pure) -> [`evaluate`] -> [`controller`] (status, events)
//! and, offline, manifests on disk -> [`scan`] -> the same [`checks`] and [`evaluate`].
#![forbid(unsafe_code)]

pub mod api;
pub mod canonical;
pub mod checks;
pub mod controller;
pub mod crds;
pub mod evaluate;
pub mod scan;
pub mod telemetry;
pub mod validation;
pub mod view;

/// The name this operator uses as field manager, event reporter and user agent.
pub const OPERATOR_NAME: &str = "soc2-operator";
