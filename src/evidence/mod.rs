//! Evidence: signed, hash-chained snapshots of every control's evaluation, written to object storage.
//!
//! This module owns the bundle format ([`document`], [`manifest`]), signing ([`signing`]), the stores
//! ([`store`]: a local directory or S3-compatible storage through one `object_store` code path; [`versions`]: what
//! a versioned bucket keeps beside the newest objects), taking a snapshot ([`snapshot`]), and what auditors run on
//! it ([`verify`], [`report`], [`oscal`], and [`access_sample`]: one access review cycle's population and decisions
//! for sampling). It must not know about the Kubernetes API: the operator loop
//! (`crate::controller::evidence`) feeds it evaluations.
//!
//! Layout under a store's prefix:
//! ```text
//! objects/<sha256>.json        one canonical JSON document per control per snapshot (content-addressed)
//! manifests/<sequence>.json    one manifest per snapshot, created conditionally: the chain
//! ```

pub mod access_review;
pub mod access_sample;
pub mod cli;
pub mod collect;
pub mod document;
pub mod flush;
pub mod ledger;
pub mod manifest;
pub mod offline;
pub mod oscal;
pub mod report;
pub mod schedule;
pub mod signing;
pub mod snapshot;
pub mod store;
pub mod verify;
pub mod versions;

pub use document::{ClusterIdentity, ControlDocument, OperationRecord};
pub use ledger::EvaluationLedger;
pub use manifest::{DocumentEntry, Manifest, SnapshotGap};
pub use signing::{SigningKey, VerifyingKeys};
pub use snapshot::{SnapshotInput, SnapshotOutcome, write_snapshot};
pub use store::{EvidenceStoreClient, StoreError, StoreLocation};
pub use verify::{VerifyOutcome, VerifyProblem, verify_chain};
