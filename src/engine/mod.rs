//! The job engine: the one way a job runs, whoever asks for it.
//!
//! `ordo apply` and the controller both call it, as cargo's commands call `ops`:
//! [`prepare`] takes the environment's lock, loads the revision and plans it against the
//! store; the caller may show the plan, ask for confirmation or post a pending status; then
//! [`execute`] records the job, runs it (cancellable), records every result as it comes and
//! returns a typed [`JobOutcome`]. [`run_job`] does both for callers that need no pause.
//!
//! ```text
//! lock -> load -> plan -> (caller) -> record start -> write code -> run groups -> record end
//! ```

pub mod gc;
mod locks;
mod record;
mod stages;
mod teardown;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::diag::{Diagnostic, SourceMap, has_errors};
use crate::exec::{self, Phase, RunOptions, RunReport, Stop};
use crate::load::{self, Input, LoadOptions};
use crate::model::{FailurePolicy, Model};
use crate::plan::{self, Action, Filter, Inventory, Plan, PlanOptions, Unchanged};
use crate::state_dir::StateDir;
use crate::store::{self, JobFinish, JobId, JobKind, JobState, NewJob, SharedStore, Store, Trigger};
use crate::text::plural;

pub use locks::owner_is_gone;
pub use record::{component_record, node_phase};

/// What every job needs: where state lives, the store, and how to load.
#[derive(Clone)]
pub struct Engine {
    pub state: StateDir,
    pub store: SharedStore,
    pub load_options: LoadOptions<'static>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct JobRequest {
    pub environment: String,
    pub kind: JobKind,
    pub trigger: Trigger,
    /// Which part of the environment to run; the whole of it by default.
    pub filter: Filter,
    /// Tear down removed components after the apply groups.
    pub prune: bool,
    /// How many nodes of a group run at the same time.
    pub concurrency: usize,
    /// How to go on after a node fails; what it leaves unset comes from `ordo.yaml`.
    pub policy: FailurePolicy,
    /// Components to run even though they did not change (to correct drift).
    pub reapply: BTreeSet<String>,
    /// A job already recorded as queued, to run under its id.
    pub queued: Option<JobId>,
}

/// Everything a job reports while it runs.
#[derive(Debug, Clone)]
pub enum JobEvent {
    /// The job is recorded and about to run its plan.
    Started { job: JobId, revision: String },
    /// A step of the run.
    Run(exec::Event),
    /// The job ended.
    Finished { job: JobId, state: JobState, summary: String },
}

/// Receives job events; called from worker tasks, so it must be thread-safe.
pub type JobEventSink = Arc<dyn Fn(JobEvent) + Send + Sync>;

/// A revision loaded and planned, ready to run; it holds the environment's lock.
pub struct ReadyJob {
    _lock: EnvironmentLock,
    pub request: JobRequest,
    pub model: Arc<Model>,
    pub revision: String,
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
    pub plan: Plan,
    inventory: Inventory,
    secret_key: Vec<u8>,
    /// Full parameters of components to tear down, resolved from their applied revision.
    teardown_parameters: HashMap<(String, String), crate::model::Params>,
}

impl ReadyJob {
    /// Whether running would do nothing: no node to run and no teardown to do.
    pub fn is_empty(&self) -> bool {
        self.plan.groups.is_empty() && (self.plan.teardown_groups.is_empty() || !self.request.prune)
    }
}

/// A revision that cannot be run: it does not load, or its nodes cannot be ordered.
pub struct Invalid {
    _lock: EnvironmentLock,
    pub request: JobRequest,
    pub revision: String,
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
}

/// What [`prepare`] found.
pub enum Prepared {
    Ready(Box<ReadyJob>),
    Invalid(Box<Invalid>),
}

/// How a job ended.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    pub id: JobId,
    pub state: JobState,
    pub summary: String,
    pub report: RunReport,
}

/// Takes the environment's lock, loads the snapshot and plans it against what the store
/// says was last applied. Blocking: loading reads the repository and may run Facter.
pub fn prepare(engine: &Engine, request: JobRequest, input: &Input) -> anyhow::Result<Prepared> {
    if let Some(problem) = crate::model::environment_name_problem(&request.environment) {
        anyhow::bail!("invalid environment name \"{}\": {problem}", crate::text::excerpt(&request.environment));
    }
    // On the command line a second job fails at once; the controller's jobs wait their turn
    // (behind a drift check, or an `ordo apply` run by hand).
    let lock = if request.trigger == Trigger::Cli {
        lock_environment(&engine.state, &request.environment)?
    } else {
        lock_environment_waiting(&engine.state, &request.environment, LOCK_WAIT)?
    };
    let loaded = load::load_input(input, engine.load_options)?;
    if has_errors(&loaded.diagnostics) {
        return Ok(Prepared::Invalid(Box::new(Invalid {
            _lock: lock,
            request,
            revision: loaded.revision,
            diagnostics: loaded.diagnostics,
            sources: loaded.sources,
        })));
    }
    // The store is read while the model's ordering is computed on a second thread.
    let (ordering, stored) = std::thread::scope(|threads| {
        let ordering = threads.spawn(|| plan::Ordering::of(&loaded.model));
        let stored = stored_inventory(engine, &request.environment, &loaded.model);
        (ordering.join().expect("ordering a model does not panic"), stored)
    });
    let (inventory, secret_key) = stored?;
    let options = PlanOptions {
        environment: request.environment.clone(),
        revision: loaded.revision.clone(),
        base_revision: inventory.revision.clone(),
        salt: secret_key.clone(),
        filter: request.filter.clone(),
    };
    match plan::plan_ordered(&loaded.model, &inventory, &options, ordering) {
        Ok(mut plan) => {
            if request.kind == JobKind::Drift {
                check_everything(&mut plan, &request.filter, &loaded.model);
            } else if !request.reapply.is_empty() {
                run_also(&mut plan, &request.reapply);
            }
            let teardown_parameters = if request.prune && !plan.teardowns.is_empty() {
                teardown::resolve(&input.snapshot, &inventory, &plan, engine.load_options, &secret_key)
            } else {
                HashMap::new()
            };
            Ok(Prepared::Ready(Box::new(ReadyJob {
                _lock: lock,
                request,
                model: Arc::new(loaded.model),
                revision: loaded.revision,
                diagnostics: loaded.diagnostics,
                sources: loaded.sources,
                plan,
                inventory,
                secret_key,
                teardown_parameters,
            })))
        }
        Err(mut diagnostics) => {
            let mut all = loaded.diagnostics;
            all.append(&mut diagnostics);
            Ok(Prepared::Invalid(Box::new(Invalid {
                _lock: lock,
                request,
                revision: loaded.revision,
                diagnostics: all,
                sources: loaded.sources,
            })))
        }
    }
}

/// What planning `model` needs from the store, after marking the jobs a dead process left
/// running as interrupted: the inventory (records of what changed only) and the key of the
/// secret digests.
fn stored_inventory(engine: &Engine, environment: &str, model: &Model) -> anyhow::Result<(Inventory, Vec<u8>)> {
    let mut store = store::lock(&engine.store);
    // A job a dead process left running is over; its finished components are recorded.
    store.interrupt_jobs(environment)?;
    inventory_for(&**store, environment, model)
}

/// What planning `model` needs from a store: the environment's inventory, with whole records
/// only for what the model does not want exactly as applied, and the key of the secret
/// digests that tells the two apart.
pub fn inventory_for(store: &dyn Store, environment: &str, model: &Model) -> anyhow::Result<(Inventory, Vec<u8>)> {
    let key = store.secret_key()?;
    let inventory = store.inventory_except(environment, Some(&Unchanged::new(model, &key)))?;
    Ok((inventory, key))
}

/// Turns a plan into a drift check: every component of every (selected) node is asked, in
/// the order of the whole graph, whatever changed; nothing is torn down.
fn check_everything(plan: &mut Plan, filter: &Filter, model: &Model) {
    let selected = |component: &str| {
        let Some(component) = model.component(component) else { return false };
        filter.nodes.as_ref().is_none_or(|nodes| nodes.contains(&component.node))
            && filter.application.as_ref().is_none_or(|application| &component.application == application)
    };
    plan.runs = plan
        .nodes
        .iter()
        .map(|(node, components)| {
            (node.clone(), components.iter().filter(|component| selected(component)).cloned().collect::<Vec<_>>())
        })
        .filter(|(_, components)| !components.is_empty())
        .collect();
    keep_groups_of_runs(plan);
    plan.teardown_groups.clear();
    plan.teardowns.clear();
    plan.teardown_waits.clear();
}

/// The run order's groups, cut down to the nodes that still have something to run.
fn keep_groups_of_runs(plan: &mut Plan) {
    plan.groups = plan
        .all_groups
        .iter()
        .map(|group| group.iter().filter(|node| plan.runs.contains_key(*node)).cloned().collect::<Vec<_>>())
        .filter(|group| !group.is_empty())
        .collect();
}

/// Adds components to a plan's runs although they did not change, keeping the run order.
fn run_also(plan: &mut Plan, components: &BTreeSet<String>) {
    for (node, on_node) in &plan.nodes {
        let planned = plan.runs.get(node).cloned().unwrap_or_default();
        let runs: Vec<String> = on_node
            .iter()
            .filter(|component| components.contains(*component) || planned.contains(component))
            .cloned()
            .collect();
        if !runs.is_empty() {
            plan.runs.insert(node.clone(), runs);
        }
    }
    keep_groups_of_runs(plan);
}

/// Records a revision that cannot be run as a failed job, with its diagnostics rendered.
pub fn record_invalid(engine: &Engine, invalid: &Invalid, rendered: &str, summary: &str) -> anyhow::Result<JobId> {
    let mut store = store::lock(&engine.store);
    let id = match invalid.request.queued {
        Some(id) => id,
        None => store.queue_job(&new_job(&invalid.request, &invalid.revision))?,
    };
    store.start_job(id, &invalid.revision, None)?;
    store.finish_job(
        id,
        &JobFinish {
            state: JobState::Failed,
            summary: summary.to_string(),
            applied_revision: None,
            diagnostics: Some(rendered.to_string()),
        },
    )?;
    Ok(id)
}

/// Runs a prepared job and records it. A job with nothing to run is still recorded, as a
/// success with the summary `no changes`.
pub async fn execute(
    engine: &Engine,
    ready: ReadyJob,
    events: JobEventSink,
    cancel: CancellationToken,
) -> anyhow::Result<JobOutcome> {
    let request = &ready.request;
    let plan = &ready.plan;
    let phase = if request.kind.changes_nodes() { Phase::Apply } else { Phase::Noop };
    let stages =
        stages::stages(&ready.model, plan, &ready.inventory, &ready.teardown_parameters, phase, request.prune)?;
    // Refuse what cannot run before anything runs; teardowns of nodes gone from the
    // inventory still run locally.
    for stage in stages.iter().filter(|stage| stage.phase != Phase::Teardown) {
        for work in stage.groups.iter().flatten() {
            exec::transport::runnable(&work.node).map_err(anyhow::Error::msg)?;
        }
    }
    let id = {
        let mut store = store::lock(&engine.store);
        let id = match request.queued {
            Some(id) => id,
            None => store.queue_job(&new_job(request, &plan.revision))?,
        };
        store.start_job(id, &plan.revision, Some(&plan::render::json(plan)))?;
        store.set_job_owner(id, &locks::owner())?;
        id
    };
    tracing::info!(job = id, environment = %request.environment, revision = %plan.revision, kind = request.kind.as_str(), "job started");
    events(JobEvent::Started { job: id, revision: plan.revision.clone() });

    // `ordo job cancel` from anywhere reaches the job through the store; the watch also
    // keeps the job's node leases alive.
    let cancel = cancel.child_token();
    let watch = locks::Watch::start(Arc::clone(&engine.store), id, cancel.clone());
    let empty = ready.is_empty();
    let run = async {
        if empty {
            return Ok(RunReport::default());
        }
        let nodes: BTreeSet<String> =
            stages.iter().flat_map(|stage| stage.groups.iter().flatten()).map(|work| work.node.name.clone()).collect();
        let wait = stages
            .iter()
            .flat_map(|stage| stage.groups.iter().flatten())
            .map(|work| work.node.timeout_secs)
            .max()
            .unwrap_or(0);
        if let Err(message) =
            locks::lock_nodes(&engine.store, id, &nodes.into_iter().collect::<Vec<_>>(), wait, &cancel).await
        {
            return Ok(RunReport { stopped: Some(message), ..RunReport::default() });
        }
        run_and_record(engine, &ready, id, stages, &events, cancel.clone()).await
    };
    let report = run.await;
    watch.stop().await;
    let report = report?;
    let (state, summary) = conclude(&ready, &report);
    let pending_teardown = !request.prune && (plan.count(Action::Remove) > 0 || plan.count(Action::Move) > 0);
    let whole_environment = request.filter.nodes.is_none() && request.filter.application.is_none();
    let applied_revision =
        (state == JobState::Success && request.kind == JobKind::Apply && whole_environment && !pending_teardown)
            .then(|| plan.revision.clone());
    {
        let mut store = store::lock(&engine.store);
        store.release_node_locks(id)?;
        store.finish_job(id, &JobFinish { state, summary: summary.clone(), applied_revision, diagnostics: None })?;
        // After a successful job, copies nothing refers to any longer go.
        if state == JobState::Success && request.kind.changes_nodes() && !empty {
            match gc::collect(&engine.state, store.as_ref(), Some(id)) {
                Ok(Ok(collected)) => {
                    tracing::debug!(job = id, removed = collected.removed.len(), bytes = collected.bytes, "collected")
                }
                Ok(Err(busy)) => tracing::debug!(job = id, running = busy.job, "not collecting while a job runs"),
                Err(err) => tracing::warn!(job = id, error = %format!("{err:#}"), "collecting the state directory"),
            }
        }
    }
    tracing::info!(job = id, state = state.as_str(), summary = %summary, "job finished");
    events(JobEvent::Finished { job: id, state, summary: summary.clone() });
    Ok(JobOutcome { id, state, summary, report })
}

/// Prepares and executes in one go; `Err` carries an invalid revision.
pub async fn run_job(
    engine: &Engine,
    request: JobRequest,
    input: Input,
    events: JobEventSink,
    cancel: CancellationToken,
) -> anyhow::Result<Result<JobOutcome, Box<Invalid>>> {
    let engine_for_prepare = engine.clone();
    let prepared = tokio::task::spawn_blocking(move || prepare(&engine_for_prepare, request, &input))
        .await
        .context("preparing the job")??;
    match prepared {
        Prepared::Ready(ready) => Ok(Ok(execute(engine, *ready, events, cancel).await?)),
        Prepared::Invalid(invalid) => Ok(Err(invalid)),
    }
}

/// Runs the stages while a recorder on a blocking thread writes every event to the store.
async fn run_and_record(
    engine: &Engine,
    ready: &ReadyJob,
    id: JobId,
    stages: Vec<exec::Stage>,
    events: &JobEventSink,
    cancel: CancellationToken,
) -> anyhow::Result<RunReport> {
    let model = Arc::clone(&ready.model);
    let dependencies: HashMap<String, Vec<String>> = model
        .components
        .iter()
        .map(|component| component.reference.clone())
        .zip(plan::inventory::dependencies(&model))
        .collect();
    let recorder = record::Recorder {
        store: Arc::clone(&engine.store),
        job: id,
        environment: ready.request.environment.clone(),
        model,
        dependencies,
        secret_key: ready.secret_key.clone(),
        revision: ready.revision.clone(),
        records_applied: ready.request.kind == JobKind::Apply,
        run_started: std::time::SystemTime::now(),
    };
    let (sender, receiver) = std::sync::mpsc::channel::<exec::Event>();
    let recording = tokio::task::spawn_blocking(move || recorder.run(receiver));
    let sink: exec::EventSink = {
        let events = Arc::clone(events);
        Arc::new(move |event: exec::Event| {
            // The receiver lives until the run is over, unless recording failed.
            let _ = sender.send(event.clone());
            events(JobEvent::Run(event));
        })
    };
    let policy = ready.request.policy.or(ready.model.policy);
    let options = RunOptions {
        concurrency: ready.request.concurrency,
        state: engine.state.clone(),
        on_failure: policy.on_failure.unwrap_or_default(),
        max_failures: policy.max_failures,
    };
    // The run drops every copy of the sink when it returns, which ends the recorder.
    let report = exec::run(stages, &options, sink, cancel).await;
    recording.await.context("the recorder stopped")??;
    Ok(report)
}

/// The job's state and one-line summary.
fn conclude(ready: &ReadyJob, report: &RunReport) -> (JobState, String) {
    if ready.is_empty() {
        return (JobState::Success, "no changes".to_string());
    }
    let n_nodes = report.outcomes.iter().map(|outcome| outcome.node.as_str()).collect::<BTreeSet<_>>().len();
    let failed = report.failed_nodes();
    let seconds = report.duration.as_secs_f64();
    if report.succeeded() {
        let what = format!("{} in {} in {seconds:.2}s", plural(n_nodes, "node"), plural(report.groups_run, "group"));
        return match ready.request.kind {
            JobKind::Apply => (JobState::Success, format!("Success: {what}")),
            JobKind::Noop => (JobState::Success, format!("Noop: {what}")),
            JobKind::Drift => (JobState::Success, drift_summary(report, &what)),
        };
    }
    if report.stopped == Some(Stop::Cancelled) {
        return (
            JobState::Cancelled,
            format!(
                "Cancelled: {} ran, {} not started, in {seconds:.2}s",
                plural(n_nodes, "node"),
                plural(report.not_started.len(), "node")
            ),
        );
    }
    if !failed.is_empty() {
        let names: Vec<&str> = failed.iter().map(|outcome| outcome.node.as_str()).collect();
        let skipped = if report.skipped.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = report.skipped.iter().map(|(node, _)| node.as_str()).collect();
            format!("; {} skipped ({})", plural(names.len(), "dependent node"), names.join(", "))
        };
        return (
            JobState::Failed,
            format!(
                "Failed: {} of {n_nodes} nodes failed ({}){skipped} in {seconds:.2}s",
                failed.len(),
                names.join(", ")
            ),
        );
    }
    let why = report.stopped.as_ref().map_or_else(|| "stopped".to_string(), Stop::to_string);
    (JobState::Failed, format!("Failed: {why}"))
}

/// A drift job's summary: which components are no longer as applied.
fn drift_summary(report: &RunReport, what: &str) -> String {
    let components: Vec<&exec::ComponentOutcome> =
        report.outcomes.iter().flat_map(|outcome| outcome.components.iter()).collect();
    let drifted = components.iter().filter(|outcome| outcome.result == exec::ComponentResult::WouldChange).count();
    if drifted == 0 {
        format!("In sync: {} checked on {what}", plural(components.len(), "component"))
    } else {
        format!("Drifted: {drifted} of {} out of sync on {what}", plural(components.len(), "component"))
    }
}

fn new_job(request: &JobRequest, revision: &str) -> NewJob {
    NewJob {
        environment: request.environment.clone(),
        revision: revision.to_string(),
        kind: request.kind,
        trigger: request.trigger,
    }
}

/// Holds an environment's lock file for a job's lifetime.
pub struct EnvironmentLock(#[allow(dead_code)] std::fs::File);

/// How long a controller's job waits for its environment's lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Takes the environment's lock, waiting up to `wait` for the job holding it to end.
fn lock_environment_waiting(
    state: &StateDir,
    environment: &str,
    wait: std::time::Duration,
) -> anyhow::Result<EnvironmentLock> {
    let give_up = std::time::Instant::now() + wait;
    loop {
        match lock_environment(state, environment) {
            Ok(lock) => return Ok(lock),
            Err(_) if std::time::Instant::now() < give_up => std::thread::sleep(std::time::Duration::from_millis(100)),
            Err(err) => return Err(err),
        }
    }
}

/// Takes the environment's lock, or says who holds it.
pub fn lock_environment(state: &StateDir, environment: &str) -> anyhow::Result<EnvironmentLock> {
    let path = state.environment_lock(environment);
    let dir = path.parent().expect("a lock file is inside the locks directory");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(EnvironmentLock(file)),
        Err(std::fs::TryLockError::WouldBlock) => {
            anyhow::bail!("another job is running in environment {environment} (lock {})", path.display())
        }
        Err(std::fs::TryLockError::Error(err)) => Err(err).with_context(|| format!("locking {}", path.display())),
    }
}
