//! ordo: a GitOps reconciler for multi-node applications.
//!
//! The pipeline, one module per stage: `source` reads a revision of the repository, `load`
//! turns it into the desired [`model::Model`], `plan` orders it and diffs it against what
//! the `store` says was last applied, `exec` runs the plan on nodes, and `engine` ties them
//! into jobs for the command line (`cli`, the only place that prints) and the controller.
//! See ARCHITECTURE.md for the map and its invariants.

pub mod cli;
pub mod controller;
pub mod diag;
pub mod engine;
pub mod exec;
pub mod lang;
pub mod load;
pub mod model;
pub mod parallel;
pub mod plan;
pub mod report;
pub mod server;
pub mod source;
pub mod state_dir;
pub mod store;
pub mod text;
