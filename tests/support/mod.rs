//! Code shared by the integration tests: a scripted API server ([`mock_api`]), the objects the scenarios use
//! ([`fixtures`]) and a moto S3 server ([`moto`]).
//!
//! Each test binary that uses it declares it in its `main.rs` (`#[path = "../support/mod.rs"] mod support;`) and
//! allows `dead_code` there, since none uses all of it; its modules reach it as `crate::support`.

pub mod fixtures;
pub mod mock_api;
pub mod moto;
