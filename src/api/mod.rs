//! The `soc2.dev/v1alpha1` API: custom resource types only, no IO.
//!
//! Optional fields are `Option`s without schema defaults on purpose: a default written by the API server
//! would appear in the live object but not in Git, and Argo CD would show the control as OutOfSync.
//! Defaults are resolved in code (see the `effective_*` helpers on each check).

mod access_review;
mod access_review_decision;
mod backup_checks;
mod checks;
mod control;
mod control_exception;
mod criteria;
mod evidence_store;
mod generic;
mod k8s_schema;
mod network_checks;
mod platform_checks;
mod scope;
mod status;
mod subject_key;
mod workload_checks;

pub use access_review::{
    AccessReview, AccessReviewCheck, AccessReviewSpec, AccessReviewStatus, ChangeCounts,
    CompletedCycle, CycleStatus, DEFAULT_REVOCATION_GRACE_PERIOD, LISTED_SUBJECTS, ListedSubjects,
    ReviewSchedule, ReviewSubjects, Reviewers,
};
pub use access_review_decision::{
    AccessReviewDecision, AccessReviewDecisionSpec, AccessReviewDecisionStatus, AuthenticatedUser,
    Revocation, SubjectDecision, Verdict,
};
pub use backup_checks::BackupsCheck;
pub use checks::{
    Attestation, ChangeApprovalCheck, Check, CheckKind, DEFAULT_PRIVILEGED_CLUSTER_ROLES,
    LoggingCheck, MfaAccessCheck, SubjectRef, WorkloadKind,
};
pub use control::{Category, Control, ControlSpec, Mode, Severity};
pub use control_exception::{
    ControlException, ControlExceptionSpec, ControlExceptionStatus, ExceptedResource,
    ExceptionState,
};
pub use criteria::Criterion;
pub use evidence_store::{
    EvidenceStore, EvidenceStoreSpec, EvidenceStoreStatus, FilesystemBackend, LastSnapshot,
    ObjectLockMode, ObjectLockSpec, RetentionHints, S3Backend, SecretKeyRef, SecretNameRef,
    SnapshotSchedule,
};
pub use generic::{
    CelCheck, CelMatch, CelValidation, CelVariable, KindMatch, RequiredResource,
    RequiredResourcesCheck,
};
pub use network_checks::{
    AvailabilityCheck, EncryptionInTransitCheck, ExposedServiceType, ExposureCheck,
    NetworkIsolationCheck, ReplicatedWorkloadKind,
};
pub use platform_checks::{EncryptionAtRestCheck, JobHealthCheck, RbacLeastPrivilegeCheck};
pub use scope::Scope;
pub use status::{ControlStatus, ExceptionRef, FindingResult, StatusFinding, Summary};
pub use subject_key::{SubjectKey, SubjectKind};
pub use workload_checks::{
    ConfidentialityCheck, ImageProvenanceCheck, PodSecurityCheck, PodSecurityLevel,
    ServiceAccountHygieneCheck,
};

/// The API group of every soc2-operator resource.
pub const GROUP: &str = "soc2.dev";
