//! What the project ships: the CRDs follow the Rust types, the chart follows the crate version, the control library
//! is valid and documented, and the Grafana dashboard reads metrics the operator exports.

mod chart_version;
mod control_library;
mod crds;
mod grafana_dashboard;
