//! Who holds which access through RBAC, and how it changed: what a periodic access review (CC6.2, CC6.3) puts in
//! front of its reviewers.
//!
//! [`effective`] resolves, from a snapshot of Roles, ClusterRoles and their bindings, every subject's effective
//! access: each binding that names it, the rules the bound role grants (an aggregated ClusterRole's rules as the API
//! server resolved them) and which of them are privileged, by the same definition as the MFA check
//! ([`crate::checks::rbac_privilege`]). [`diff`] compares two such populations: new subjects, widened or reduced
//! access, access removed. Pure functions, no IO: the access review controller and the `accessReview` check feed
//! them a [`crate::view::ClusterSnapshot`].

pub mod cycle;
pub mod diff;
pub mod effective;
pub mod tally;

pub use crate::api::{SubjectKey, SubjectKind};
pub use cycle::{ReviewSettings, cycle_id};
pub use diff::{AccessChange, ChangeKind, diff};
pub use effective::{AccessScope, BindingRef, Grant, Population, SubjectAccess, resolve};
pub use tally::{CycleRef, Tally, tally};
