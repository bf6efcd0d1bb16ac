//! The command line: clap definitions and one small function per command.
//!
//! This is the only module that prints. Each command loads, plans or runs through the
//! library and renders the result; diagnostics go to stderr, the command's own output to
//! stdout. `apply` is a thin caller of the job engine. Exit codes: 0 success, 1 error (bad
//! input, failed job), 2 changes present (only with `plan --detailed-exitcode`), 64 a usage
//! error, 130 and 143 a job cancelled by SIGINT or SIGTERM. A closed stdout or stderr ends
//! output quietly: nothing here panics on a write.

mod progress;

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::diag::has_errors;
use crate::engine::{self, Engine, JobRequest, Prepared};
use crate::load::{self, Input, Loaded};
use crate::model::Model;
use crate::plan::render::{self, Style};
use crate::plan::{self, Filter, Inventory, Plan, PlanOptions};
use crate::state_dir::StateDir;
use crate::store::{self, JobDetail, JobKind, JobQuery, JobState, Store, Trigger};
use crate::text::{escape_controls, plural};

pub use crate::diag::render as render_diagnostics;

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
        #[arg(long, env = "ORDO_ENV", default_value = "production", value_parser = environment_name)]
        env: String,
        /// Only this application instance, e.g. `Lamp[app1]`.
        #[arg(long)]
        app: Option<String>,
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
    },
    /// Print the graph: components clustered by node (dot, mermaid), or a picture of the
    /// node graph by group (svg).
    Graph {
        #[command(flatten)]
        source: SourceArgs,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        /// How the svg picture's groups run: left to right, or top to bottom.
        #[arg(long, value_enum, default_value_t = Direction::Lr)]
        direction: Direction,
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
        #[command(flatten)]
        policy: PolicyArgs,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Ask every component whether it is still as applied, correcting nothing; exit 2 when
    /// something drifted.
    Drift {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        target: TargetArgs,
        /// How many nodes of a group run at the same time.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Remove package copies, module paths and teardown scripts nothing refers to any longer.
    Gc,
    /// Jobs recorded in the store.
    #[command(subcommand)]
    Job(JobCommand),
    /// Run the GitOps controller: watch the repository, run what changes, report statuses.
    Serve {
        /// The controller's configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// How logs are written to stderr.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    /// One JSON object per line.
    Json,
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
    /// Cancel a queued or running job, whichever process runs it, and wait for it to stop.
    Cancel {
        id: i64,
        /// How long to wait for the job to stop, in seconds.
        #[arg(long, default_value_t = 60)]
        wait: u64,
    },
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// After a node fails: `stop` (finish the group, start nothing after it) or `continue`
    /// (run every node that does not depend on a failed one); default from `ordo.yaml`,
    /// else `stop`.
    #[arg(long, value_parser = parse_on_failure)]
    pub on_failure: Option<crate::model::OnFailure>,
    /// How many failed nodes a group tolerates (`N`, or `P%` of the group) before it starts
    /// no more of its nodes and the job stops.
    #[arg(long, value_parser = parse_max_failures)]
    pub max_failures: Option<crate::model::MaxFailures>,
}

fn parse_on_failure(text: &str) -> Result<crate::model::OnFailure, String> {
    crate::model::OnFailure::parse(text).ok_or_else(|| "expected `stop` or `continue`".to_string())
}

fn parse_max_failures(text: &str) -> Result<crate::model::MaxFailures, String> {
    crate::model::MaxFailures::parse(text)
        .ok_or_else(|| "expected a number of nodes or a percentage such as 10%".into())
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
    #[arg(long, env = "ORDO_ENV", default_value = "production", value_parser = environment_name)]
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
    /// A standalone SVG picture of the node graph, laid out by group.
    Svg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Direction {
    /// Left to right.
    Lr,
    /// Top to bottom.
    Tb,
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

/// An environment name as `--env` and `ORDO_ENV` give it; a bad one is a usage error.
fn environment_name(name: &str) -> Result<String, String> {
    match crate::model::environment_name_problem(name) {
        None => Ok(name.to_string()),
        Some(problem) => Err(format!(
            "{problem}; an environment name is like a DNS name: labels of letters, digits, `-` and `_`, joined by dots"
        )),
    }
}

/// Writes to stderr, ignoring failure: a closed stderr must not turn a message into a panic
/// (as `eprint!` would), and there is nowhere else to report it.
fn stderr(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

/// Colours only on a terminal, and never with `NO_COLOR` set.
fn color_for(stream_is_terminal: bool) -> bool {
    stream_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

fn stdout_style() -> Style {
    Style { color: color_for(std::io::stdout().is_terminal()) }
}

/// Logs go to stderr, filtered by `ORDO_LOG` (`info`, `debug`, `ordo::exec=debug`, ...).
/// Without it the commands log nothing, since their output says what happened, and the
/// controller logs at `info`.
fn init_logging(command: &Command) {
    let (default, json) = match command {
        Command::Serve { log_format, .. } => ("info", *log_format == LogFormat::Json),
        _ => ("off", false),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORDO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.with_ansi(color_for(std::io::stderr().is_terminal())).try_init()
    };
}

/// The exit code of a usage error (sysexits' `EX_USAGE`): never 2, which
/// `plan --detailed-exitcode` uses for "changes".
const EXIT_USAGE: u8 = 64;

/// Runs the command line and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { ExitCode::from(EXIT_USAGE) } else { ExitCode::SUCCESS };
        }
    };
    init_logging(&cli.command);
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            stderr(&format!("error: {err:#}\n"));
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let state = StateDir::new(&cli.state)?;
    match cli.command {
        Command::Validate { paths, rev } => match paths.as_slice() {
            [path] if is_repository(path) => validate(&SourceArgs { path: path.clone(), rev }),
            _ => validate_puppet_files(&paths),
        },
        Command::Show { source, env, app, format } => show(&source, &env, app, format),
        Command::Graph { source, format, direction } => graph(&source, format, direction),
        Command::Plan { source, target, base, format, detailed_exitcode } => {
            plan_command(&state, &source, &target, base.as_deref(), format, detailed_exitcode)
        }
        Command::Apply { source, target, noop, concurrency, prune, policy, yes } => {
            let kind = if noop { JobKind::Noop } else { JobKind::Apply };
            let policy =
                crate::model::FailurePolicy { on_failure: policy.on_failure, max_failures: policy.max_failures };
            apply(&state, &source, &target, kind, concurrency, prune, policy, yes)
        }
        Command::Drift { source, target, concurrency } => {
            apply(&state, &source, &target, JobKind::Drift, concurrency, false, Default::default(), true)
        }
        Command::Gc => gc(&state),
        Command::Job(JobCommand::List { limit, format }) => job_list(&state, limit, format),
        Command::Job(JobCommand::Show { id, format }) => job_show(&state, id, format),
        Command::Job(JobCommand::Cancel { id, wait }) => job_cancel(&state, id, wait),
        Command::Serve { config, .. } => serve(&config),
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
    let loaded = load::load_input(&Input::open(path, rev)?, load_options())?;
    if report_diagnostics(&loaded.diagnostics, &loaded.sources, path) {
        return Ok(None);
    }
    Ok(Some(loaded))
}

/// Prints diagnostics to stderr; whether there were errors among them.
fn report_diagnostics(diagnostics: &[crate::diag::Diagnostic], sources: &crate::diag::SourceMap, path: &Path) -> bool {
    if !diagnostics.is_empty() {
        let color = color_for(std::io::stderr().is_terminal());
        stderr(&render_diagnostics(diagnostics, sources, color));
    }
    if has_errors(diagnostics) {
        let n_errors = diagnostics.iter().filter(|diagnostic| diagnostic.is_error()).count();
        stderr(&format!("error: {} found in {}\n", plural(n_errors, "problem"), path.display()));
        return true;
    }
    false
}

/// The plan's shape (no changes), or `None` after printing the diagnostics of a node cycle.
fn shape_checked(path: &Path, loaded: &Loaded, options: &PlanOptions) -> Option<Plan> {
    report_cycles(path, loaded, plan::shape(&loaded.model, options))
}

/// The plan, or `None` after printing the diagnostics of a node cycle.
fn report_cycles(path: &Path, loaded: &Loaded, planned: Result<Plan, Vec<crate::diag::Diagnostic>>) -> Option<Plan> {
    match planned {
        Ok(plan) => Some(plan),
        Err(diagnostics) => {
            report_diagnostics(&diagnostics, &loaded.sources, path);
            None
        }
    }
}

fn validate(source: &SourceArgs) -> anyhow::Result<ExitCode> {
    let Some(loaded) = load_checked(&source.path, source.rev.as_deref())? else {
        return Ok(ExitCode::from(1));
    };
    let options = PlanOptions { revision: loaded.revision.clone(), ..PlanOptions::default() };
    let Some(plan) = shape_checked(&source.path, &loaded, &options) else {
        return Ok(ExitCode::from(1));
    };
    let n_components: usize = plan.nodes.values().map(Vec::len).sum();
    write_stdout(&format!(
        "{} is valid: {}, {} on {} in {}\n",
        source.path.display(),
        plural(plan.applications.len(), "application"),
        plural(n_components, "component"),
        plural(plan.nodes.len(), "node"),
        plural(plan.all_groups.len(), "group"),
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
    for (file, parsed) in files.iter().zip(parse_files(&files)) {
        let (text, errors) = parsed?;
        // Only a file with errors needs its text kept, for the excerpts of its diagnostics.
        if errors.is_empty() {
            continue;
        }
        let name = file.display().to_string();
        for error in errors {
            diagnostics.push(
                crate::diag::Diagnostic::error(error.message)
                    .at(Some(crate::diag::Location { file: name.clone(), range: error.span.range() })),
            );
        }
        sources.add(&name, &text);
    }
    if !diagnostics.is_empty() {
        let color = color_for(std::io::stderr().is_terminal());
        stderr(&render_diagnostics(&diagnostics, &sources, color));
        stderr(&format!(
            "error: {} in {} of {}\n",
            plural(diagnostics.len(), "syntax error"),
            plural(
                diagnostics.iter().filter_map(|d| d.location.as_ref().map(|l| &l.file)).collect::<BTreeSet<_>>().len(),
                "file"
            ),
            plural(files.len(), "file")
        ));
        return Ok(ExitCode::from(1));
    }
    write_stdout(&format!("{} valid\n", plural(files.len(), "Puppet file")))?;
    Ok(ExitCode::SUCCESS)
}

/// Reads and parses each file, on as many threads as there are cores (files are independent),
/// and returns each file's text and syntax errors in the order of `files`.
#[allow(clippy::type_complexity)]
fn parse_files(files: &[PathBuf]) -> Vec<anyhow::Result<(String, Vec<crate::lang::SyntaxError>)>> {
    let parse_one = |file: &PathBuf| {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let errors = crate::lang::parse(&text).errors;
        Ok((text, errors))
    };
    let n_threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(files.len() / 64 + 1);
    if n_threads <= 1 {
        return files.iter().map(parse_one).collect();
    }
    // Files are dealt out in turn, so each thread gets a fair share of large and small ones.
    let per_thread: Vec<Vec<_>> = std::thread::scope(|threads| {
        let handles: Vec<_> = (0..n_threads)
            .map(|thread_idx| {
                threads
                    .spawn(move || files.iter().skip(thread_idx).step_by(n_threads).map(parse_one).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("a parse never panics")).collect()
    });
    let mut per_thread: Vec<_> = per_thread.into_iter().map(Vec::into_iter).collect();
    (0..files.len()).map(|idx| per_thread[idx % n_threads].next().expect("every file was parsed")).collect()
}

fn collect_pp(path: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.is_dir() {
        collect_pp_in(path, files)
    } else if path.exists() {
        files.push(path.to_path_buf());
        Ok(())
    } else {
        anyhow::bail!("{} does not exist", path.display());
    }
}

/// The `.pp` files under a directory, in path order. Each entry's type comes with the
/// directory listing, so walking a tree costs no call per file beyond the listing.
fn collect_pp_in(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        // Links inside the directories walked are not followed: only what is there is read.
        let Ok(file_type) = entry.file_type() else { continue };
        let path = entry.path();
        if file_type.is_dir() {
            entries.push((path, true));
        } else if file_type.is_file() && path.extension().is_some_and(|extension| extension == "pp") {
            entries.push((path, false));
        }
    }
    entries.sort();
    for (path, is_dir) in entries {
        if is_dir {
            collect_pp_in(&path, files)?;
        } else {
            files.push(path);
        }
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
    let Some(mut plan) = shape_checked(&source.path, &loaded, &options) else {
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

fn graph(source: &SourceArgs, format: GraphFormat, direction: Direction) -> anyhow::Result<ExitCode> {
    let Some(loaded) = load_checked(&source.path, source.rev.as_deref())? else {
        return Ok(ExitCode::from(1));
    };
    let text_format = match format {
        GraphFormat::Dot => render::dot,
        GraphFormat::Mermaid => render::mermaid,
        GraphFormat::Svg => {
            // The picture is drawn even when the nodes cannot be ordered: the cycle shows in red.
            let options = plan::picture::SvgOptions { top_to_bottom: direction == Direction::Tb, ..Default::default() };
            write_stdout(&plan::picture::svg(&plan::picture::of_model(&loaded.model), &options))?;
            let options = PlanOptions { revision: loaded.revision.clone(), ..PlanOptions::default() };
            return Ok(match shape_checked(&source.path, &loaded, &options) {
                Some(_) => ExitCode::SUCCESS,
                None => ExitCode::from(1),
            });
        }
    };
    let options = PlanOptions { revision: loaded.revision.clone(), ..PlanOptions::default() };
    let Some(plan) = shape_checked(&source.path, &loaded, &options) else {
        return Ok(ExitCode::from(1));
    };
    write_stdout(&text_format(&plan))?;
    Ok(ExitCode::SUCCESS)
}

fn filter(target: &TargetArgs) -> Filter {
    Filter {
        nodes: (!target.nodes.is_empty()).then(|| target.nodes.iter().cloned().collect()),
        application: target.app.clone(),
    }
}

/// What `plan` plans against: an inventory, the salt of its secret digests, and the revision
/// it stands for.
type PlannedAgainst = (Inventory, Vec<u8>, Option<String>);

/// The environment's inventory for planning `model`, the store's salt and the last-applied
/// revision; empty when there is no store yet.
fn stored_inventory(store: Option<Box<dyn Store>>, environment: &str, model: &Model) -> anyhow::Result<PlannedAgainst> {
    match store {
        Some(store) => {
            let (inventory, salt) = engine::inventory_for(&*store, environment, model)?;
            let revision = inventory.revision.clone();
            Ok((inventory, salt, revision))
        }
        None => Ok((Inventory::default(), Vec::new(), None)),
    }
}

/// The inventory a successful apply of the base revision would leave, its salt and its
/// revision; `None` after printing why the base does not load.
fn base_inventory(source: &SourceArgs, base: &str) -> anyhow::Result<Option<PlannedAgainst>> {
    let Some(base_loaded) = load_checked(&source.path, Some(base))? else {
        stderr(&format!("error: the base revision {base} does not load\n"));
        return Ok(None);
    };
    let salt = b"ordo-base-plan".to_vec();
    Ok(Some((Inventory::from_model(&base_loaded.model, &salt), salt, Some(base_loaded.revision))))
}

fn plan_command(
    state: &StateDir,
    source: &SourceArgs,
    target: &TargetArgs,
    base: Option<&str>,
    format: PlanFormat,
    detailed_exitcode: bool,
) -> anyhow::Result<ExitCode> {
    // The store is opened first, so a store this ordo cannot read is reported before a long
    // load; its records are read once the model can tell which of them planning needs.
    let store = if base.is_none() { store::open_read_only(state)? } else { None };
    let Some(loaded) = load_checked(&source.path, source.rev.as_deref())? else {
        return Ok(ExitCode::from(1));
    };
    // What the model is planned against is read (the store) or loaded (the base revision)
    // while the model's ordering is computed on a second thread.
    let (ordering, against) = std::thread::scope(|threads| {
        let ordering = threads.spawn(|| plan::Ordering::of(&loaded.model));
        let against = match base {
            Some(base) => base_inventory(source, base),
            None => stored_inventory(store, &target.env, &loaded.model).map(Some),
        };
        (ordering.join().expect("ordering a model does not panic"), against)
    });
    let Some((inventory, salt, base_revision)) = against? else {
        return Ok(ExitCode::from(1));
    };
    let options = PlanOptions {
        environment: target.env.clone(),
        revision: loaded.revision.clone(),
        base_revision,
        salt,
        filter: filter(target),
    };
    let planned = plan::plan_ordered(&loaded.model, &inventory, &options, ordering);
    let Some(plan) = report_cycles(&source.path, &loaded, planned) else {
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
    state: &StateDir,
    source: &SourceArgs,
    target: &TargetArgs,
    kind: JobKind,
    concurrency: usize,
    prune: bool,
    policy: crate::model::FailurePolicy,
    yes: bool,
) -> anyhow::Result<ExitCode> {
    let engine = Engine {
        state: state.clone(),
        store: std::sync::Arc::new(std::sync::Mutex::new(store::open(state)?)),
        load_options: load_options(),
    };
    let request = JobRequest {
        environment: target.env.clone(),
        kind,
        trigger: Trigger::Cli,
        filter: filter(target),
        prune,
        concurrency,
        policy,
        reapply: Default::default(),
        queued: None,
    };
    let input = Input::open(&source.path, source.rev.as_deref())?;
    let ready = match engine::prepare(&engine, request, &input)? {
        Prepared::Invalid(invalid) => {
            report_diagnostics(&invalid.diagnostics, &invalid.sources, &source.path);
            return Ok(ExitCode::from(1));
        }
        Prepared::Ready(ready) => ready,
    };
    report_diagnostics(&ready.diagnostics, &ready.sources, &source.path);
    if kind == JobKind::Drift {
        let n_components: usize = ready.plan.runs.values().map(Vec::len).sum();
        write_stdout(&format!(
            "Checking {} on {} for drift\n",
            plural(n_components, "component"),
            plural(ready.plan.runs.len(), "node")
        ))?;
    } else {
        write_stdout(&render::text(&ready.plan, stdout_style()))?;
    }
    if ready.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if !yes && std::io::stdin().is_terminal() && !confirm("Apply this plan?")? {
        stderr("Nothing applied.\n");
        return Ok(ExitCode::from(1));
    }
    let live = std::io::stderr().is_terminal();
    let events = progress::sink(live, color_for(live));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (outcome, signal) = runtime.block_on(async {
        let cancel = tokio_util::sync::CancellationToken::new();
        let signals = tokio::spawn(cancel_on_signal(cancel.clone()));
        let outcome = engine::execute(&engine, *ready, events, cancel).await;
        signals.abort();
        let signal = signals.await.ok().flatten();
        (outcome, signal)
    });
    let outcome = outcome?;
    // Leave stray stdin writers behind rather than wait for them.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    let mut out = String::new();
    if kind == JobKind::Drift {
        out.push_str(&drift_report(&outcome.report));
    }
    for node in outcome.report.failed_nodes() {
        out.push_str(&format!("\n{} failed; output (tail):\n", node.node));
        for line in node.output.lines() {
            out.push_str(&format!("  | {}\n", output_line(line)));
        }
    }
    if let Some(stopped) = &outcome.report.stopped {
        out.push_str(&format!("\nStopped: {stopped}\n"));
    }
    out.push_str(&format!("\nJob {}: {}\n", outcome.id, outcome.summary));
    write_stdout(&out)?;
    let drifted = outcome
        .report
        .outcomes
        .iter()
        .flat_map(|node| &node.components)
        .any(|component| component.result == crate::exec::ComponentResult::WouldChange);
    Ok(match (outcome.state, signal) {
        (JobState::Success, _) if kind == JobKind::Drift && drifted => ExitCode::from(2),
        (JobState::Success, _) => ExitCode::SUCCESS,
        (JobState::Cancelled, Some(signal)) => ExitCode::from(128 + signal as u8),
        _ => ExitCode::from(1),
    })
}

/// A line of a node's output as shown: control characters escaped (tabs kept), so what a
/// script prints cannot move the cursor, recolour or clear the reader's terminal.
fn output_line(line: &str) -> String {
    line.split('\t').map(escape_controls).collect::<Vec<_>>().join("\t")
}

/// Per node and component, whether it is in sync; drifted ones first.
fn drift_report(report: &crate::exec::RunReport) -> String {
    let mut outcomes: Vec<&crate::exec::NodeOutcome> = report.outcomes.iter().collect();
    outcomes.sort_by(|a, b| a.node.cmp(&b.node));
    let mut out = String::from("\n");
    for outcome in outcomes {
        out.push_str(&format!("{}\n", outcome.node));
        for component in &outcome.components {
            let status = match &component.result {
                crate::exec::ComponentResult::InSync => "in sync".to_string(),
                crate::exec::ComponentResult::WouldChange => "drifted".to_string(),
                crate::exec::ComponentResult::Failed { message } => format!("check failed: {message}"),
                other => format!("{other:?}").to_lowercase(),
            };
            out.push_str(&format!("  {} {status}\n", component.component));
        }
    }
    out
}

/// `ordo gc`: removes what the store no longer refers to.
fn gc(state: &StateDir) -> anyhow::Result<ExitCode> {
    let Some(store) = store::open_read_only(state)? else {
        write_stdout(&format!("Nothing to collect: no state store in {}\n", state.root().display()))?;
        return Ok(ExitCode::SUCCESS);
    };
    match engine::gc::collect(state, store.as_ref(), None)? {
        Ok(collected) => {
            let mut out = String::new();
            for path in &collected.removed {
                out.push_str(&format!("removed {path}\n"));
            }
            out.push_str(&format!(
                "Removed {} ({} KiB); kept {} the last-applied state needs\n",
                plural(collected.removed.len(), "item"),
                collected.bytes.div_ceil(1024),
                plural(collected.kept, "item")
            ));
            write_stdout(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(busy) => anyhow::bail!("job {} is running; collect when it has ended", busy.job),
    }
}

/// `ordo job cancel`: asks whichever process runs the job to cancel it, through the store,
/// and waits for the job to end.
fn job_cancel(state: &StateDir, id: i64, wait: u64) -> anyhow::Result<ExitCode> {
    open_store_for_reading(state)?;
    let request = store::open(state)?.request_cancel(id)?;
    match request {
        store::CancelRequest::NotFound => anyhow::bail!("no job {id} in {}", state.root().display()),
        store::CancelRequest::Finished(finished) => {
            write_stdout(&format!("Job {id} has already ended: {}\n", finished.as_str()))?;
            return Ok(ExitCode::SUCCESS);
        }
        store::CancelRequest::Requested { owner } => {
            if let Some(owner) = owner.as_deref().filter(|owner| engine::owner_is_gone(owner)) {
                write_stdout(&format!(
                    "Job {id}'s process ({owner}) is gone; the next job in its environment marks it interrupted\n"
                ))?;
                return Ok(ExitCode::from(1));
            }
            eprintln!("Cancel requested for job {id}; waiting for it to stop");
        }
    }
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(wait);
    loop {
        let job = open_store_for_reading(state)?.job(id)?.map(|detail| detail.job);
        if let Some(job) = job.filter(|job| job.state.is_final()) {
            write_stdout(&format!("Job {id}: {} ({})\n", job.state.as_str(), job.summary))?;
            return Ok(ExitCode::SUCCESS);
        }
        if std::time::Instant::now() >= give_up {
            anyhow::bail!("job {id} has not stopped within {wait}s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `ordo serve`: the controller and its HTTP server, until SIGINT or SIGTERM.
fn serve(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = match crate::controller::config::load(config_path, &|name| std::env::var(name).ok())? {
        Ok(config) => config,
        Err(invalid) => {
            report_diagnostics(&invalid.diagnostics, &invalid.sources, config_path);
            return Ok(ExitCode::from(1));
        }
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async {
        let listen = config.server.listen;
        let controller = crate::controller::Controller::start(config, None).await?;
        let stop_http = tokio_util::sync::CancellationToken::new();
        let mut server = tokio::spawn(crate::server::serve(controller.clone(), listen, stop_http.clone()));
        let stopped_by = tokio::select! {
            signal = wait_for_signal() => signal,
            result = &mut server => {
                controller.shutdown().await;
                return result.context("the HTTP server stopped")?.map(|()| ExitCode::from(1));
            }
        };
        tracing::info!(signal = stopped_by, "shutting down");
        stop_http.cancel();
        controller.shutdown().await;
        server.await.context("the HTTP server stopped")??;
        Ok(ExitCode::SUCCESS)
    })
}

async fn wait_for_signal() -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => libc::SIGINT,
        _ = terminate.recv() => libc::SIGTERM,
    }
}

/// Cancels the job at the first SIGINT or SIGTERM; returns which signal came.
async fn cancel_on_signal(cancel: tokio_util::sync::CancellationToken) -> Option<i32> {
    let signal = wait_for_signal().await;
    stderr("Cancelling: no more nodes start; running scripts get SIGTERM, then SIGKILL\n");
    cancel.cancel();
    Some(signal)
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    stderr(&format!("{question} (y/n) "));
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).context("reading the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

fn open_store_for_reading(state: &StateDir) -> anyhow::Result<Box<dyn Store>> {
    store::open_read_only(state)?
        .with_context(|| format!("no state store in {} yet: run `ordo apply` first", state.root().display()))
}

fn job_list(state: &StateDir, limit: usize, format: RecordFormat) -> anyhow::Result<ExitCode> {
    let store = open_store_for_reading(state)?;
    let jobs = store.jobs(&JobQuery { limit, ..JobQuery::default() })?;
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
                    job.id,
                    job.environment,
                    job.kind.as_str(),
                    job.state.as_str(),
                    job.started_at.as_deref().unwrap_or(&job.queued_at),
                    job.summary
                ));
            }
            out
        }
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn job_show(state: &StateDir, id: i64, format: RecordFormat) -> anyhow::Result<ExitCode> {
    let store = open_store_for_reading(state)?;
    let detail = store.job(id)?.with_context(|| format!("no job {id} in {}", state.root().display()))?;
    let JobDetail { job, nodes: results, .. } = &detail;
    let text = match format {
        RecordFormat::Json => format!("{}\n", serde_json::to_string_pretty(&detail)?),
        RecordFormat::Text => {
            let mut out = format!(
                "Job {}: {} in {}\n  Revision  {}\n  State     {}\n  Started   {}\n  Finished  {}\n  Summary   {}\n",
                job.id,
                job.kind.as_str(),
                job.environment,
                job.revision,
                job.state.as_str(),
                job.started_at.as_deref().unwrap_or("-"),
                job.finished_at.as_deref().unwrap_or("-"),
                job.summary
            );
            if let Some(diagnostics) = &detail.diagnostics {
                out.push('\n');
                out.push_str(diagnostics);
            }
            for result in results {
                out.push_str(&format!(
                    "\n{} [{} group {}] {} in {}ms\n",
                    result.node,
                    result.phase.as_str(),
                    result.group_index,
                    result.state.as_str(),
                    result.duration_ms
                ));
                for component in &result.components {
                    let status = serde_json::to_value(component.result)?;
                    let message = component.message.as_ref().map(|message| format!(": {message}")).unwrap_or_default();
                    // A title could hold a newline or an escape: shown escaped, like in plans.
                    out.push_str(&format!(
                        "  {} {}{}\n",
                        escape_controls(&component.component),
                        status.as_str().unwrap_or_default(),
                        escape_controls(&message)
                    ));
                }
                for line in result.output.lines() {
                    out.push_str(&format!("  | {}\n", output_line(line)));
                }
            }
            out
        }
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
