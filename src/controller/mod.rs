//! The Control controller: watch controls and the cluster, evaluate, write status, emit events, publish
//! PolicyReports ([`policy_report`]).
//!
//! It owns when and what to write; it does not know how a check decides (see [`crate::checks`]).

pub mod access_review_store;
pub mod access_reviews;
mod cluster_scoped;
mod context;
mod error;
pub mod evidence;
mod exception_events;
mod exception_reconcile;
pub mod exception_status;
pub mod policy_report;
mod publish_reports;
mod reconcile;
mod run;
pub mod status;
pub mod transitions;
mod triggers;
mod written;

pub use access_review_store::AccessReviewStore;
pub use context::Context;
pub use error::Error;
pub use exception_reconcile::{error_policy_exception, reconcile_exception};
pub use reconcile::{error_policy, error_policy_guarded, reconcile, reconcile_guarded};
pub use run::{DEFAULT_ADMIN_ADDR, OperatorConfig, run, run_until};
pub use triggers::{affected_controls, affected_guarded_controls};
pub use written::WrittenStatuses;
