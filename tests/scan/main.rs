//! `soc2ctl scan`: the command line, and the checks evaluated offline against manifests on disk.

mod cli;
mod generic;
mod network_controls;
mod workload_checks;
