//! From a repository snapshot to the desired [`Model`], with diagnostics.
//!
//! `load` picks the front end by what the repository holds: a `site.yaml` means the YAML
//! front end (deployment packages). Loading fails (`Err`) only when the repository cannot
//! be read; mistakes in its contents are [`Diagnostic`]s next to whatever model could be
//! built, so callers can show every problem at once.

mod interpolate;
mod raw;
mod resolve;
mod yaml;

pub use interpolate::display as display_value;

use crate::diag::{Diagnostic, SourceMap};
use crate::model::Model;
use crate::source::Snapshot;

/// What loading produced: the model, the problems found, and the sources they point into.
pub struct Loaded {
    pub model: Model,
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
    pub revision: String,
}

/// Shared state of one load: where files come from and what has been found so far.
pub(crate) struct Loader<'a> {
    pub snapshot: &'a Snapshot,
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
}

/// Loads the desired state from a snapshot.
pub fn load(snapshot: &Snapshot) -> anyhow::Result<Loaded> {
    let mut loader = Loader { snapshot, diagnostics: Vec::new(), sources: SourceMap::default() };
    let model = if snapshot.read("site.yaml")?.is_some() {
        yaml::load(&mut loader)?
    } else {
        loader
            .diagnostics
            .push(Diagnostic::error(format!("{} has no site.yaml: nothing to deploy", snapshot.root.display())));
        Model::default()
    };
    Ok(Loaded { model, diagnostics: loader.diagnostics, sources: loader.sources, revision: snapshot.revision.clone() })
}
