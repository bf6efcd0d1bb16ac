//! The command line: clap definitions and one small function per command.
//!
//! This is the only module that prints. Each command loads, plans or runs through the
//! library and renders the result; diagnostics go to stderr, the command's own output to
//! stdout. Exit codes: 0 success, 1 error (bad input, failed job), 2 changes present (only
//! with `plan --detailed-exitcode`).

mod progress;
mod render_diagnostics;

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::diag::has_errors;
use crate::job::{self, JobOptions};
use crate::load::{self, Loaded};
use crate::plan::render::{self, Style};
use crate::plan::{self, Filter, Inventory, Plan, PlanOptions};
use crate::source::Snapshot;
use crate::store::Store;

pub use render_diagnostics::render as render_diagnostics;

/// ordo: a GitOps reconciler for multi-node applications.
#[derive(Debug, Parser)]
#[command(name = "ordo", version, about, long_about = None)]
pub struct Cli {
    /// The state directory: the embedded store and local nodes' working directories.
    #[arg(long, global = true, env = "ORDO_STATE", default_value = ".ordo")]
    pub state: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and check a repository, or `.pp` files and directories of them; print every
    /// problem found.
    Validate {
        /// A repository directory, or `.pp` files and directories holding them.
        #[arg(default_value = ".")]
        paths: Vec<PathBuf>,
        /// Read the tree at this Git revision (repositories only).
        #[arg(long)]
        rev: Option<String>,
    },
    /// Show the applications, their components and nodes, and the node groups.
    Show {
        #[command(flatten)]
        source: SourceArgs,
        /// The environment named in `--format env-graph`.
        #[arg(long, env = "ORDO_ENV", default_value = "production")]
        env: String,
        /// Only this application instance, e.g. `Lamp[app1]`.
        #[arg(long)]
        app: Option<String>,
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
    },
    /// Print the component graph, clustered by node.
    Graph {
        #[command(flatten)]
        source: SourceArgs,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// Show what `apply` would do: changes per component, nodes by group.
    Plan {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        target: TargetArgs,
        /// Plan against this revision instead of the store's last-applied state.
        #[arg(long)]
        base: Option<String>,
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
        /// Exit 0 when there are no changes, 2 when there are, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Run the plan: groups in order, nodes of a group concurrently.
    Apply {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        target: TargetArgs,
        /// Run every component's check instead of applying it; record nothing as applied.
        #[arg(long)]
        noop: bool,
        /// How many nodes of a group run at the same time.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Tear down removed components after the apply groups, consumers first.
        #[arg(long)]
        prune: bool,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Jobs recorded in the store.
    #[command(subcommand)]
    Job(JobCommand),
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// The most recent jobs, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = RecordFormat::Text)]
        format: RecordFormat,
    },
    /// One job with its node results and output.
    Show {
        id: i64,
        #[arg(long, value_enum, default_value_t = RecordFormat::Text)]
        format: RecordFormat,
    },
}

#[derive(Debug, Args)]
pub struct SourceArgs {
    /// The repository directory (or a directory inside a Git repository).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Read the tree at this Git revision instead of the working tree.
    #[arg(long)]
    pub rev: Option<String>,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The environment whose last-applied state to plan against.
    #[arg(long, env = "ORDO_ENV", default_value = "production")]
    pub env: String,
    /// Only these nodes (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// Only this application instance, e.g. `Lamp[app1]`.
    #[arg(long)]
    pub app: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ShowFormat {
    Text,
    Json,
    /// Puppet Server 5's environment graph (`/puppet/v3/environment/ENV`).
    EnvGraph,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RecordFormat {
    Text,
    Json,
}

/// Colours only on a terminal, and never with `NO_COLOR` set.
fn color_for(stream_is_terminal: bool) -> bool {
    stream_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

fn stdout_style() -> Style {
    Style { color: color_for(std::io::stdout().is_terminal()) }
}

/// Logs go to stderr, filtered by `ORDO_LOG` (`info`, `debug`, `ordo::exec=debug`, ...);
/// without it ordo logs nothing, since its output says what happened.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORDO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color_for(std::io::stderr().is_terminal()))
        .try_init();
}

/// Runs the command line and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(mut cli: Cli) -> anyhow::Result<ExitCode> {
    // Scripts run in node directories, so every path handed to them must be absolute.
    cli.state = std::path::absolute(&cli.state).with_context(|| format!("resolving {}", cli.state.display()))?;
    match cli.command {
        Command::Validate { paths, rev } => match paths.as_slice() {
            [path] if is_repository(path) => validate(&SourceArgs { path: path.clone(), rev }),
            _ => validate_puppet_files(&paths),
        },
        Command::Show { source, env, app, format } => show(&source, &env, app, format),
        Command::Graph { source, format } => graph(&source, format),
        Command::Plan { source, target, base, format, detailed_exitcode } => {
            plan_command(&cli.state, &source, &target, base.as_deref(), format, detailed_exitcode)
        }
        Command::Apply { source, target, noop, concurrency, prune, yes } => {
            apply(&cli.state, &source, &target, noop, concurrency, prune, yes)
        }
        Command::Job(JobCommand::List { limit, format }) => job_list(&cli.state, limit, format),
        Command::Job(JobCommand::Show { id, format }) => job_show(&cli.state, id, format),
    }
}

fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Loading as the command line does it: facts gathered with Facter where asked for.
fn load_options() -> load::LoadOptions<'static> {
    load::LoadOptions { gather_facts: Some(&crate::exec::facts::gather) }
}

/// Loads the repository at a revision; prints diagnostics; `None` when there were errors.
fn load_checked(path: &Path, rev: Option<&str>) -> anyhow::Result<Option<Loaded>> {
    // A `.json` file is an environment graph; anything else is a repository directory.
    let loaded = if path.extension().is_some_and(|extension| extension == "json") {
        let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let file = path.file_name().context("an environment graph is a file")?.to_string_lossy();
        load::load_environment_graph(&Snapshot::open(dir, rev)?, &file, load_options())?
    } else {
        load::load(&Snapshot::open(path, rev)?, load_options())?
    };
    if !loaded.diagnostics.is_empty() {
        let color = color_for(std::io::stderr().is_terminal());
        eprint!("{}", render_diagnostics(&loaded.diagnostics, &loaded.sources, color));
    }
    if has_errors(&loaded.diagnostics) {
        let n_errors = loaded.diagnostics.iter().filter(|diagnostic| diagnostic.is_error()).count();
        eprintln!("error: {} found in {}", render::plural(n_errors, "problem"), path.display());
        return Ok(None);
    }
    Ok(Some(loaded))
}

/// Plans a model; prints cycle diagnostics and returns `None` when it cannot be ordered.
fn plan_checked(loaded: &Loaded, inventory: &Inventory, options: &PlanOptions) -> Option<Plan> {
    match plan::plan(&loaded.model, inventory, options) {
        Ok(plan) => Some(plan),
        Err(diagnostics) => {
            let color = color_for(std::io::stderr().is_terminal());
            eprint!("{}", render_diagnostics(&diagnostics, &loaded.sources, color));
            None
        }
    }
}

fn validate(source: &SourceArgs) -> anyhow::Result<ExitCode> {
    let Some(loaded) = load_checked(&source.path, source.rev.as_deref())? else {
        return Ok(ExitCode::from(1));
    };
    let options = PlanOptions { revision: loaded.revision.clone(), ..PlanOptions::default() };
    let Some(plan) = plan_checked(&loaded, &Inventory::default(), &options) else {
        return Ok(ExitCode::from(1));
    };
    let n_components: usize = plan.nodes.values().map(Vec::len).sum();
    write_stdout(&format!(
        "{} is valid: {}, {} on {} in {}\n",
        source.path.display(),
        render::plural(plan.applications.len(), "application"),
        render::plural(n_components, "component"),
        render::plural(plan.nodes.len(), "node"),
        render::plural(plan.all_groups.len(), "group"),
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Whether a directory is something `load` understands (a site or a control repository).
fn is_repository(path: &Path) -> bool {
    let graph = path.is_file() && path.extension().is_some_and(|extension| extension == "json");
    graph
        || (path.is_dir() && ["site.yaml", "environment.conf", "manifests"].iter().any(|name| path.join(name).exists()))
}

/// `validate` of `.pp` files and directories: a syntax check, like `puppet parser validate`,
/// that also knows the application-orchestration statements.
fn validate_puppet_files(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    for path in paths {
        collect_pp(path, &mut files)?;
    }
    let mut sources = crate::diag::SourceMap::default();
    let mut diagnostics = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let name = file.display().to_string();
        let parse = crate::lang::parse(&text);
        for error in parse.errors {
            diagnostics.push(
                crate::diag::Diagnostic::error(error.message)
                    .at(Some(crate::diag::Location { file: name.clone(), range: error.span.range() })),
            );
        }
        sources.add(&name, &text);
    }
    if !diagnostics.is_empty() {
        let color = color_for(std::io::stderr().is_terminal());
        eprint!("{}", render_diagnostics(&diagnostics, &sources, color));
        eprintln!(
            "error: {} in {} of {}",
            render::plural(diagnostics.len(), "syntax error"),
            render::plural(
                diagnostics.iter().filter_map(|d| d.location.as_ref().map(|l| &l.file)).collect::<BTreeSet<_>>().len(),
                "file"
            ),
            render::plural(files.len(), "file")
        );
        return Ok(ExitCode::from(1));
    }
    write_stdout(&format!("{} valid\n", render::plural(files.len(), "Puppet file")))?;
    Ok(ExitCode::SUCCESS)
}

fn collect_pp(path: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("listing {}", path.display()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir() || entry.extension().is_some_and(|extension| extension == "pp") {
                collect_pp(&entry, files)?;
            }
        }
    } else if path.exists() {
        files.push(path.to_path_buf());
    } else {
        anyhow::bail!("{} does not exist", path.display());
    }
    Ok(())
}

fn show(source: &SourceArgs, environment: &str, app: Option<String>, format: ShowFormat) -> anyhow::Result<ExitCode> {
    let Some(loaded) = load_checked(&source.path, source.rev.as_deref())? else {
        return Ok(ExitCode::from(1));
    };
    if let Some(app) = &app
        && !loaded.model.applications.iter().any(|application| &application.reference == app)
    {
        anyhow::bail!("no application instance {app}");
    }
    let options = PlanOptions {
        revision: loaded.revision.clone(),
        filter: Filter { nodes: None, application: app.clone() },
        ..PlanOptions::default()
    };
    let Some(mut plan) = plan_checked(&loaded, &Inventory::default(), &options) else {
        return Ok(ExitCode::from(1));
    };
    if let Some(app) = &app {
        restrict_to_application(&mut plan, app);
    }
    let text = match format {
        ShowFormat::Text => render::show_text(&plan, stdout_style()),
        ShowFormat::Json => render::show_json(&plan, &loaded.model),
        ShowFormat::EnvGraph => {
            let mut model = loaded.model.clone();
            if let Some(app) = &app {
                model.applications.retain(|application| &application.reference == app);
            }
            load::env_graph::export(&model, environment)
        }
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Narrows a whole-graph plan to one application for display (groups keep global order).
fn restrict_to_application(plan: &mut Plan, app: &str) {
    plan.applications.retain(|(reference, _)| reference == app);
    let members: BTreeSet<String> = plan.applications.iter().flat_map(|(_, components)| components.clone()).collect();
    for components in plan.nodes.values_mut() {
        components.retain(|component| members.contains(component));
    }
    plan.nodes.retain(|_, components| !components.is_empty());
    plan.edges.retain(|edge| members.contains(&edge.from) && members.contains(&edge.to));
    for group in &mut plan.all_groups {
        group.retain(|node| plan.nodes.contains_key(node));
    }
    plan.all_groups.retain(|group| !group.is_empty());
}

fn graph(source: &SourceArgs, format: GraphFormat) -> anyhow::Result<ExitCode> {
    let Some(loaded) = load_checked(&source.path, source.rev.as_deref())? else {
        return Ok(ExitCode::from(1));
    };
    let options = PlanOptions { revision: loaded.revision.clone(), ..PlanOptions::default() };
    let Some(plan) = plan_checked(&loaded, &Inventory::default(), &options) else {
        return Ok(ExitCode::from(1));
    };
    write_stdout(&match format {
        GraphFormat::Dot => render::dot(&plan),
        GraphFormat::Mermaid => render::mermaid(&plan),
    })?;
    Ok(ExitCode::SUCCESS)
}

fn filter(target: &TargetArgs) -> Filter {
    Filter {
        nodes: (!target.nodes.is_empty()).then(|| target.nodes.iter().cloned().collect()),
        application: target.app.clone(),
    }
}

/// The environment's inventory, the store's salt and the last-applied revision; empty when
/// there is no store yet.
fn stored_inventory(state_dir: &Path, environment: &str) -> anyhow::Result<(Inventory, Vec<u8>, Option<String>)> {
    match Store::open_read_only(state_dir)? {
        Some(store) => {
            let inventory = store.inventory(environment)?;
            let revision = inventory.revision.clone();
            Ok((inventory, store.salt()?, revision))
        }
        None => Ok((Inventory::default(), Vec::new(), None)),
    }
}

fn plan_command(
    state_dir: &Path,
    source: &SourceArgs,
    target: &TargetArgs,
    base: Option<&str>,
    format: PlanFormat,
    detailed_exitcode: bool,
) -> anyhow::Result<ExitCode> {
    // The store is read on a second thread while the repository loads.
    let (loaded, stored) = std::thread::scope(|threads| {
        let stored = base.is_none().then(|| threads.spawn(|| stored_inventory(state_dir, &target.env)));
        let loaded = load_checked(&source.path, source.rev.as_deref());
        (loaded, stored.map(|thread| thread.join().expect("reading the store does not panic")))
    });
    let Some(loaded) = loaded? else {
        return Ok(ExitCode::from(1));
    };
    let (inventory, salt, base_revision) = match base {
        Some(base) => {
            let Some(base_loaded) = load_checked(&source.path, Some(base))? else {
                eprintln!("error: the base revision {base} does not load");
                return Ok(ExitCode::from(1));
            };
            let salt = b"ordo-base-plan".to_vec();
            (Inventory::from_model(&base_loaded.model, &salt), salt, Some(base_loaded.revision))
        }
        None => stored.expect("the store is read when there is no base")?,
    };
    let options = PlanOptions {
        environment: target.env.clone(),
        revision: loaded.revision.clone(),
        base_revision,
        salt,
        filter: filter(target),
    };
    let Some(plan) = plan_checked(&loaded, &inventory, &options) else {
        return Ok(ExitCode::from(1));
    };
    write_stdout(&match format {
        PlanFormat::Text => render::text(&plan, stdout_style()),
        PlanFormat::Json => render::json(&plan),
        PlanFormat::Markdown => render::markdown(&plan),
    })?;
    let code = if detailed_exitcode && plan.has_changes() { ExitCode::from(2) } else { ExitCode::SUCCESS };
    // Freeing a large model just before exiting is wasted time.
    std::mem::forget((loaded, plan, inventory));
    Ok(code)
}

#[allow(clippy::too_many_arguments)]
fn apply(
    state_dir: &Path,
    source: &SourceArgs,
    target: &TargetArgs,
    noop: bool,
    concurrency: usize,
    prune: bool,
    yes: bool,
) -> anyhow::Result<ExitCode> {
    let Some(loaded) = load_checked(&source.path, source.rev.as_deref())? else {
        return Ok(ExitCode::from(1));
    };
    let _lock = job::lock_environment(state_dir, &target.env)?;
    let mut store = Store::open(state_dir)?;
    let inventory = store.inventory(&target.env)?;
    let options = PlanOptions {
        environment: target.env.clone(),
        revision: loaded.revision.clone(),
        base_revision: inventory.revision.clone(),
        salt: store.salt()?,
        filter: filter(target),
    };
    let Some(plan) = plan_checked(&loaded, &inventory, &options) else {
        return Ok(ExitCode::from(1));
    };
    let style = stdout_style();
    write_stdout(&render::text(&plan, style))?;
    if plan.groups.is_empty() && (plan.teardown_groups.is_empty() || !prune) {
        return Ok(ExitCode::SUCCESS);
    }
    if !yes && std::io::stdin().is_terminal() && !confirm("Apply this plan?")? {
        eprintln!("Nothing applied.");
        return Ok(ExitCode::from(1));
    }
    let live = std::io::stderr().is_terminal();
    let events = progress::sink(live, color_for(live));
    let job_options = JobOptions {
        noop,
        prune,
        concurrency,
        state_dir: state_dir.to_path_buf(),
        complete: target.nodes.is_empty() && target.app.is_none(),
    };
    let result = job::run(&mut store, &loaded.model, &plan, &inventory, &job_options, events)?;
    let mut out = String::new();
    for outcome in result.report.failed_nodes() {
        out.push_str(&format!("\n{} failed; output (tail):\n", outcome.node));
        for line in outcome.output.lines() {
            out.push_str(&format!("  | {line}\n"));
        }
    }
    if let Some(stopped) = &result.report.stopped {
        out.push_str(&format!("\nStopped: {stopped}\n"));
    }
    out.push_str(&format!("\nJob {}: {}\n", result.id, result.summary));
    write_stdout(&out)?;
    Ok(if result.state == "success" { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question} (y/n) ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).context("reading the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

fn open_store_for_reading(state_dir: &Path) -> anyhow::Result<Store> {
    Store::open_read_only(state_dir)?
        .with_context(|| format!("no state store in {} yet: run `ordo apply` first", state_dir.display()))
}

fn job_list(state_dir: &Path, limit: usize, format: RecordFormat) -> anyhow::Result<ExitCode> {
    let store = open_store_for_reading(state_dir)?;
    let jobs = store.jobs(limit)?;
    let text = match format {
        RecordFormat::Json => format!("{}\n", serde_json::to_string_pretty(&jobs)?),
        RecordFormat::Text => {
            let mut out = format!(
                "{:<5} {:<12} {:<7} {:<11} {:<24} {}\n",
                "ID", "ENVIRONMENT", "KIND", "STATE", "STARTED", "SUMMARY"
            );
            for job in &jobs {
                out.push_str(&format!(
                    "{:<5} {:<12} {:<7} {:<11} {:<24} {}\n",
                    job.id, job.environment, job.kind, job.state, job.started_at, job.summary
                ));
            }
            out
        }
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn job_show(state_dir: &Path, id: i64, format: RecordFormat) -> anyhow::Result<ExitCode> {
    let store = open_store_for_reading(state_dir)?;
    let (job, results) = store.job(id)?.with_context(|| format!("no job {id} in {}", state_dir.display()))?;
    let text = match format {
        RecordFormat::Json => {
            format!("{}\n", serde_json::to_string_pretty(&serde_json::json!({"job": job, "nodes": results}))?)
        }
        RecordFormat::Text => {
            let mut out = format!(
                "Job {}: {} in {}\n  Revision  {}\n  State     {}\n  Started   {}\n  Finished  {}\n  Summary   {}\n",
                job.id,
                job.kind,
                job.environment,
                job.revision,
                job.state,
                job.started_at,
                job.finished_at.as_deref().unwrap_or("-"),
                job.summary
            );
            for result in &results {
                out.push_str(&format!(
                    "\n{} [{} group {}] {} in {}ms\n",
                    result.node, result.phase, result.group_index, result.state, result.duration_ms
                ));
                for component in result.components.as_array().into_iter().flatten() {
                    let name = component["component"].as_str().unwrap_or_default();
                    let status = component["result"].as_str().unwrap_or_default();
                    let message =
                        component["message"].as_str().map(|message| format!(": {message}")).unwrap_or_default();
                    out.push_str(&format!("  {name} {status}{message}\n"));
                }
                for line in result.output.lines() {
                    out.push_str(&format!("  | {line}\n"));
                }
            }
            out
        }
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
