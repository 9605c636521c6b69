//! What the project ships: the CRDs follow the Rust types, the chart follows the crate version, the control library
//! is valid and documented, the Grafana dashboard reads metrics the operator exports, and the documentation's links
//! resolve.

mod chart_version;
mod control_library;
mod crds;
mod docs_links;
mod grafana_dashboard;
