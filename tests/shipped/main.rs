//! What the project ships: the CRDs follow the Rust types, the chart follows the crate version, the control library
//! is valid and documented, the Grafana dashboard reads metrics the operator exports, and the documentation's links
//! resolve.

#[allow(dead_code)] // Only the free-port helper of the shared harness is used here.
#[path = "../support/mod.rs"]
mod support;

mod chart_version;
mod control_library;
mod crds;
mod doc_commands;
mod docs_links;
mod grafana_dashboard;
