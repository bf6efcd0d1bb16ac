//! ordo: a GitOps reconciler for multi-node applications.
//!
//! The pipeline, one module per stage: `source` reads a revision of the repository, `load`
//! turns it into the desired [`model::Model`], `plan` orders it and diffs it against what
//! the `store` says was last applied, `exec` runs the plan on nodes, and `cli` is the only
//! place that prints. See ARCHITECTURE.md for the map and its invariants.

pub mod cli;
pub mod diag;
pub mod exec;
pub mod job;
pub mod lang;
pub mod load;
pub mod model;
pub mod plan;
pub mod source;
pub mod store;
