//! The evaluation engine: incremental evaluation equals full evaluation, the caches' projection changes no
//! verdict, and what the findings index weighs.

#[allow(dead_code)]
#[path = "../../benches/support/library.rs"]
mod library;
#[allow(dead_code)]
#[path = "../../benches/support/synthetic.rs"]
mod synthetic;

mod incremental;
mod projection;
