//! What a running operator process needs beside the data flow: the admin port ([`admin`]: probes and `/metrics`),
//! the metric families ([`metrics`]), leader election by Lease ([`leader`]: only the leader writes) and log setup
//! ([`telemetry`]).
//!
//! It must not know how controls are evaluated or what a check decides: the controller, the view and the webhook
//! record into it.

pub mod admin;
pub mod leader;
pub mod metrics;
pub mod telemetry;
