//! The `soc2.dev/v1alpha1` API: custom resource types only, no IO.
//!
//! Optional fields are `Option`s without schema defaults on purpose: a default written by the API server
//! would appear in the live object but not in Git, and Argo CD would show the control as OutOfSync.
//! Defaults are resolved in code (see the `effective_*` helpers on each check).

mod checks;
mod control;
mod criteria;
mod evidence_store;
mod scope;
mod status;

pub use checks::{
    Attestation, ChangeApprovalCheck, Check, CheckKind, LoggingCheck, MfaAccessCheck, SubjectRef,
    WorkloadKind,
};
pub use control::{Category, Control, ControlSpec, Mode, Severity};
pub use criteria::Criterion;
pub use evidence_store::{
    EvidenceStore, EvidenceStoreSpec, EvidenceStoreStatus, FilesystemBackend, LastSnapshot,
    ObjectLockMode, ObjectLockSpec, RetentionHints, S3Backend, SecretKeyRef, SecretNameRef,
    SnapshotSchedule,
};
pub use scope::Scope;
pub use status::{ControlStatus, FindingResult, StatusFinding, Summary};

/// The API group of every soc2-operator resource.
pub const GROUP: &str = "soc2.dev";
