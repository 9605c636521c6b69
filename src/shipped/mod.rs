//! Files the repository ships that are generated from the code and committed: the CRDs ([`crds`], written by
//! `crdgen` to `crds/`) and the control library page ([`library`], `docs/controls.md`). `tests/shipped/` fails
//! when a committed copy drifts from what these produce.
//!
//! Rendering only: it must not evaluate anything or talk to a cluster.

pub mod crds;
pub mod library;
