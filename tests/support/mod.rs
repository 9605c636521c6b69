//! Code shared by the integration tests: a scripted API server ([`mock_api`]) and the objects the scenarios use
//! ([`fixtures`]).
//!
//! Each test binary declares `mod support;`; binaries that use only part of it allow `dead_code` on that
//! declaration.

pub mod fixtures;
pub mod mock_api;
