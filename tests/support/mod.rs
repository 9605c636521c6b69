//! Code shared by the integration tests: a scripted API server ([`mock_api`]), the objects the scenarios use
//! ([`fixtures`]) and a moto S3 server ([`moto`]).
//!
//! Each test binary declares `mod support;`; binaries that use only part of it allow `dead_code` on that
//! declaration.

pub mod fixtures;
pub mod mock_api;
pub mod moto;
