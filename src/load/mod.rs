//! From a repository snapshot to the desired [`Model`], with diagnostics.
//!
//! `load` picks the front end by what the repository holds: a `site.yaml` means the YAML
//! front end (deployment packages); `environment.conf` or `.pp` files in `manifests/` mean a
//! Puppet control repository; `load_environment_graph` reads a Puppet Server environment
//! graph. Loading fails (`Err`) only when the repository cannot be read; mistakes in its
//! contents are [`Diagnostic`]s next to whatever model could be built, so callers can show
//! every problem at once.

pub mod env_graph;
mod interpolate;
mod inventory;
pub mod puppet;
mod raw;
mod resolve;
pub(crate) mod yaml;

use crate::diag::{Diagnostic, SourceMap};
use crate::model::{Model, Transport};
use crate::source::Snapshot;

/// What loading produced: the model, the problems found, and the sources they point into.
pub struct Loaded {
    pub model: Model,
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
    pub revision: String,
}

/// Asks a node for its facts (`facter --json` there); the edge that runs processes passes
/// it in, so loading itself stays free of process IO.
pub type FactGatherer = dyn Fn(&Transport) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> + Sync;

/// Settings of a load.
#[derive(Default, Clone, Copy)]
pub struct LoadOptions<'a> {
    /// How to gather facts for nodes whose inventory entry asks for it; without it, such
    /// nodes have only the inventory's facts.
    pub gather_facts: Option<&'a FactGatherer>,
}

/// Shared state of one load: where files come from and what has been found so far.
pub(crate) struct Loader<'a> {
    pub snapshot: &'a Snapshot,
    pub gather_facts: Option<&'a FactGatherer>,
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
}

impl<'a> Loader<'a> {
    fn new(snapshot: &'a Snapshot, options: LoadOptions<'a>) -> Loader<'a> {
        Loader { snapshot, gather_facts: options.gather_facts, diagnostics: Vec::new(), sources: SourceMap::default() }
    }

    fn finish(self, model: Model) -> Loaded {
        Loaded { model, diagnostics: self.diagnostics, sources: self.sources, revision: self.snapshot.revision.clone() }
    }
}

/// What to load: a repository, or an environment graph file beside an inventory.
pub struct Input {
    pub snapshot: Snapshot,
    /// An environment graph (`.json`) in the snapshot's directory to load instead of the
    /// repository's code.
    pub graph_file: Option<String>,
}

impl Input {
    /// The repository at `path` (or the environment graph `path` names, for a `.json`
    /// file), as it is on disk or at `rev`.
    pub fn open(path: &std::path::Path, rev: Option<&str>) -> anyhow::Result<Input> {
        if path.extension().is_some_and(|extension| extension == "json") {
            let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let file = path
                .file_name()
                .ok_or_else(|| anyhow::anyhow!("{} is not a file", path.display()))?
                .to_string_lossy()
                .into_owned();
            return Ok(Input { snapshot: Snapshot::open(dir, rev)?, graph_file: Some(file) });
        }
        Ok(Input { snapshot: Snapshot::open(path, rev)?, graph_file: None })
    }
}

/// Loads an input.
pub fn load_input(input: &Input, options: LoadOptions) -> anyhow::Result<Loaded> {
    match &input.graph_file {
        Some(file) => load_environment_graph(&input.snapshot, file, options),
        None => load(&input.snapshot, options),
    }
}

/// Loads the desired state from a snapshot.
pub fn load(snapshot: &Snapshot, options: LoadOptions) -> anyhow::Result<Loaded> {
    let started = std::time::Instant::now();
    let mut loader = Loader::new(snapshot, options);
    let mut model = if snapshot.read("site.yaml")?.is_some() {
        let loaded = yaml::load(&mut loader);
        not_utf8_as_diagnostic(&mut loader, loaded)?
    } else if puppet::is_control_repository(&loader)? {
        let loaded = puppet::load(&mut loader);
        not_utf8_as_diagnostic(&mut loader, loaded)?
    } else {
        loader.diagnostics.push(Diagnostic::error(format!(
            "{} has neither a site.yaml nor a Puppet control repository (environment.conf, manifests/*.pp): nothing to deploy",
            snapshot.root.display()
        )));
        Model::default()
    };
    model.policy = inventory::job_settings(&mut loader)?;
    tracing::debug!(
        revision = %snapshot.revision,
        components = model.components.len(),
        diagnostics = loader.diagnostics.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "loaded"
    );
    Ok(loader.finish(model))
}

/// A file of the repository that is not UTF-8 stops loading, as a syntax error does, with a
/// diagnostic at its first bad byte instead of an error without a place.
fn not_utf8_as_diagnostic(loader: &mut Loader, loaded: anyhow::Result<Model>) -> anyhow::Result<Model> {
    let err = match loaded {
        Ok(model) => return Ok(model),
        Err(err) => err,
    };
    let bad = err.downcast::<crate::source::NotUtf8>()?;
    loader.sources.add(&bad.file, &bad.text);
    let end = (bad.offset + 1).min(bad.text.len()).max(bad.offset);
    loader.diagnostics.push(
        Diagnostic::error(format!("{} is not valid UTF-8: invalid byte sequence", bad.file))
            .at(Some(crate::diag::Location { file: bad.file.clone(), range: bad.offset..end })),
    );
    Ok(Model::default())
}

/// Loads an environment graph (JSON, as Puppet Server 5 served it) from a file of the
/// snapshot; nodes come from the snapshot's `inventory.yaml` when there is one.
pub fn load_environment_graph(snapshot: &Snapshot, file: &str, options: LoadOptions) -> anyhow::Result<Loaded> {
    let mut loader = Loader::new(snapshot, options);
    let inventory = match inventory::load_inventory(&mut loader) {
        Ok(inventory) => inventory,
        Err(err) => {
            not_utf8_as_diagnostic(&mut loader, Err(err))?;
            return Ok(loader.finish(Model::default()));
        }
    };
    let text = match snapshot.read_text(file) {
        Ok(text) => text.ok_or_else(|| anyhow::anyhow!("{file} does not exist"))?,
        Err(err) => {
            let model = not_utf8_as_diagnostic(&mut loader, Err(err))?;
            return Ok(loader.finish(model));
        }
    };
    loader.sources.add(file, &text);
    let (model, diagnostics) =
        env_graph::import(file, &text, inventory.nodes.clone(), |name| inventory.default_node(name));
    loader.diagnostics.extend(diagnostics);
    Ok(loader.finish(model))
}
