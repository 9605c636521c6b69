//! What the operator knows of the cluster: a snapshot of typed objects, fed by watches ([`live`]) or by
//! manifests on disk (`scan`). Checks read only this; they never talk to the API server.

pub mod dynamic;
mod gvk;
pub mod initial_list;
pub mod live;
pub mod projection;
mod reads;
mod resource_ref;
pub mod scope_matcher;
mod snapshot;
pub mod stored;
mod subjects;
pub mod watch_retry;
pub mod workloads;

pub use gvk::{Gvk, strip_dynamic};
pub use projection::Project;
pub use reads::Reads;
pub use resource_ref::ResourceRef;
pub use scope_matcher::ScopeMatcher;
pub use snapshot::{
    CONTROL_PLANE_NAMESPACE, ClusterSnapshot, ResourceKind, SERVICE_ACCOUNT_TOKEN_TYPE,
};
pub use subjects::{ALL_KINDS, AnyObject};
