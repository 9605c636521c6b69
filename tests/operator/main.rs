//! Controller integration: the real reconcile, run loop, leader election, webhook and PolicyReport code
//! driven against a scripted API server (`support::mock_api`), asserting the HTTP conversation, status and events;
//! and the operator binary's start.

#[allow(dead_code)] // Not every helper of the shared harness is used here.
#[path = "../support/mod.rs"]
mod support;

mod access_decisions;
mod access_reviews;
mod cel_controls;
mod dynamic_watch;
mod exceptions;
mod leader;
mod policy_report;
mod reconcile;
mod run;
mod start;
mod webhook;
