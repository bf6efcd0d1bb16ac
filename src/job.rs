//! A job: one execution of a plan, from lock to record.
//!
//! This is the engine under `ordo apply` (and later the controller): it takes the
//! environment's lock, marks jobs a dead process left running as interrupted, turns the
//! plan into stages of node work (scripts written to disk first), runs them, and records
//! each node's outcome the moment it is known: components that succeeded become applied at
//! once, so a job that fails or is killed halfway leaves a state the next plan continues from.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::exec::{
    self, ComponentResult, ComponentWork, EventSink, NodeOutcome, NodeWork, Phase, RunReport, Runner, Stage,
};
use crate::model::{Implementation, Model, Node, PackageFile, PackageFiles, PuppetCode, Transport};
use crate::plan::inventory::{self, StoredValue, hex};
use crate::plan::{Action, Inventory, Plan};
use crate::store::{NodeResultRecord, Store};

/// Settings of one job.
#[derive(Debug, Clone)]
pub struct JobOptions {
    pub noop: bool,
    pub prune: bool,
    pub concurrency: usize,
    pub state_dir: PathBuf,
    /// Whether the plan covers the whole environment (no `--nodes` or `--app`), so that a
    /// success means the environment is at the plan's revision.
    pub complete: bool,
}

/// What a job did.
pub struct JobResult {
    pub id: i64,
    pub report: RunReport,
    pub state: &'static str,
    pub summary: String,
}

/// Holds the environment's lock file for the job's lifetime.
pub struct EnvironmentLock(#[allow(dead_code)] std::fs::File);

/// Takes the environment's lock, or says who holds it.
pub fn lock_environment(state_dir: &Path, environment: &str) -> anyhow::Result<EnvironmentLock> {
    let dir = state_dir.join("locks");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("env-{environment}.lock"));
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

/// Runs a plan as a job and records it. The caller holds the environment lock.
pub fn run(
    store: &mut Store,
    model: &Model,
    plan: &Plan,
    inventory: &Inventory,
    options: &JobOptions,
    events: EventSink,
) -> anyhow::Result<JobResult> {
    store.mark_interrupted(&plan.environment)?;
    let salt = store.salt()?;
    let kind = if options.noop { "noop" } else { "apply" };
    let stages = stages(model, plan, inventory, options)?;
    let job_id = store.start_job(&plan.environment, &plan.revision, kind)?;
    tracing::info!(job = job_id, environment = %plan.environment, revision = %plan.revision, kind, "job started");

    let dependencies: BTreeMap<&str, Vec<String>> = model
        .components
        .iter()
        .map(|component| component.reference.as_str())
        .zip(inventory::dependencies(model))
        .collect();
    // Node times are offsets from the run's start; this anchors them to the clock.
    let run_started = std::time::SystemTime::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let run_options = exec::RunOptions { concurrency: options.concurrency, state_dir: options.state_dir.clone() };
    // Outcomes are recorded on a thread of their own, a batch per transaction, so writing to
    // the store never holds up the next group; each is still recorded moments after it ends.
    let (sender, receiver) = std::sync::mpsc::channel::<NodeOutcome>();
    let recording = &mut *store;
    let (dependencies, salt) = (&dependencies, &salt);
    let report = std::thread::scope(|threads| -> anyhow::Result<RunReport> {
        let recorder = threads.spawn(move || -> anyhow::Result<()> {
            while let Ok(first) = receiver.recv() {
                let batch: Vec<NodeOutcome> = std::iter::once(first).chain(receiver.try_iter()).collect();
                recording.transaction(|store| {
                    for outcome in &batch {
                        record_outcome(store, job_id, model, plan, dependencies, run_started, salt, options, outcome)?;
                    }
                    Ok(())
                })?;
            }
            Ok(())
        });
        let report = runtime.block_on(exec::run(stages, &run_options, events, |outcome| {
            // The receiver lives until the sender is dropped, unless recording failed.
            let _ = sender.send(outcome.clone());
        }));
        drop(sender);
        recorder.join().map_err(|_| anyhow::anyhow!("the recorder thread panicked"))??;
        Ok(report)
    })
    .context("recording the job's results")?;
    // Leave stray stdin writers and output readers behind rather than wait for them.
    runtime.shutdown_timeout(Duration::from_millis(100));

    let n_nodes = report.outcomes.iter().map(|outcome| outcome.node.as_str()).collect::<BTreeSet<_>>().len();
    let failed = report.failed_nodes();
    let seconds = report.duration.as_secs_f64();
    let (state, summary) = if report.succeeded() {
        let verb = if options.noop { "Noop" } else { "Success" };
        (
            "success",
            format!(
                "{verb}: {} in {} in {seconds:.2}s",
                crate::plan::render::plural(n_nodes, "node"),
                crate::plan::render::plural(report.groups_run, "group")
            ),
        )
    } else if !failed.is_empty() {
        let names: Vec<&str> = failed.iter().map(|outcome| outcome.node.as_str()).collect();
        (
            "failed",
            format!("Failed: {} of {n_nodes} nodes failed ({}) in {seconds:.2}s", failed.len(), names.join(", ")),
        )
    } else {
        ("failed", format!("Failed: {}", report.stopped.as_deref().unwrap_or("stopped")))
    };
    let pending_teardown = !options.prune && (plan.count(Action::Remove) > 0 || plan.count(Action::Move) > 0);
    let applied_revision = (state == "success" && !options.noop && options.complete && !pending_teardown)
        .then_some(plan.revision.as_str());
    store.finish_job(job_id, &plan.environment, state, &summary, applied_revision)?;
    tracing::info!(job = job_id, state, summary = %summary, "job finished");
    Ok(JobResult { id: job_id, report, state, summary })
}

#[allow(clippy::too_many_arguments)]
fn record_outcome(
    store: &Store,
    job_id: i64,
    model: &Model,
    plan: &Plan,
    dependencies: &BTreeMap<&str, Vec<String>>,
    run_started: std::time::SystemTime,
    salt: &[u8],
    options: &JobOptions,
    outcome: &NodeOutcome,
) -> anyhow::Result<()> {
    let environment = &plan.environment;
    if !options.noop {
        for component in &outcome.components {
            match (&component.result, outcome.phase) {
                (ComponentResult::Applied, Phase::Apply) => {
                    let desired =
                        model.component(&component.component).context("an applied component is in the model")?;
                    let depends_on = dependencies.get(component.component.as_str()).cloned().unwrap_or_default();
                    store.record_applied(
                        environment,
                        job_id,
                        &inventory::applied_component(desired, depends_on, salt),
                    )?;
                    // Without --prune, a moved component stays recorded on the node it
                    // left too, so the next plan still shows its teardown there.
                }
                (ComponentResult::Removed, Phase::Teardown) => {
                    store.record_removed(environment, &component.component, &outcome.node)?;
                }
                _ => {}
            }
        }
    }
    store.record_node_result(
        job_id,
        &NodeResultRecord {
            node: outcome.node.clone(),
            phase: outcome.phase.as_str().to_string(),
            group_index: outcome.group_index as i64,
            state: if outcome.failed() { "failed".into() } else { "success".into() },
            started_at: crate::store::precise_timestamp(run_started + outcome.started),
            finished_at: crate::store::precise_timestamp(run_started + outcome.finished),
            duration_ms: outcome.finished.saturating_sub(outcome.started).as_millis() as i64,
            components: serde_json::to_value(&outcome.components)?,
            output: outcome.output.clone(),
        },
    )
}

/// The plan as stages of node work: apply (or noop) groups, then teardowns with --prune.
fn stages(model: &Model, plan: &Plan, inventory: &Inventory, options: &JobOptions) -> anyhow::Result<Vec<Stage>> {
    let scripts_dir = options.state_dir.join("scripts");
    let mut package_roots: BTreeMap<String, PathBuf> = BTreeMap::new();
    let phase = if options.noop { Phase::Noop } else { Phase::Apply };
    let mut apply_groups = Vec::new();
    let mut checks = Vec::new();
    for group in &plan.groups {
        let mut works = Vec::new();
        let mut group_checks = BTreeMap::new();
        for node_name in group {
            let node =
                model.nodes.get(node_name).with_context(|| format!("node {node_name} is not in the inventory"))?;
            if node.transport == Transport::Unknown {
                anyhow::bail!(
                    "node {node_name} is not in inventory.yaml; add it there (or set defaults.transport) to run it"
                );
            }
            if node.transport != Transport::Local {
                anyhow::bail!(
                    "node {node_name} uses transport {}, which this ordo cannot run yet; only `transport: local` nodes can be applied",
                    node.transport.name()
                );
            }
            let mut components = Vec::new();
            for reference in plan.runs.get(node_name).into_iter().flatten() {
                let component = model.component(reference).context("a planned component is in the model")?;
                let runner = match &component.implementation {
                    Implementation::Scripts(scripts) => {
                        let script = match phase {
                            Phase::Noop => scripts.check.as_ref(),
                            _ => Some(&scripts.apply),
                        };
                        let package_root = match package_roots.get(&scripts.package.code_id) {
                            Some(root) => root.clone(),
                            None => {
                                let root = materialize_package(&options.state_dir.join("packages"), &scripts.package)?;
                                package_roots.insert(scripts.package.code_id.clone(), root.clone());
                                root
                            }
                        };
                        Runner::Script(script.map(|script| package_root.join(&script.path)))
                    }
                    Implementation::Graph => anyhow::bail!(
                        "{} comes from an environment graph, which has no code to run; it can be shown and planned only",
                        component.reference
                    ),
                    Implementation::Puppet(puppet) => {
                        let root = match package_roots.get(&puppet.code.code_id) {
                            Some(root) => root.clone(),
                            None => {
                                let root = materialize_puppet_code(&options.state_dir.join("puppet"), &puppet.code)?;
                                package_roots.insert(puppet.code.code_id.clone(), root.clone());
                                root
                            }
                        };
                        let modulepath: Vec<String> =
                            puppet.code.modulepath.iter().map(|dir| root.join(dir).display().to_string()).collect();
                        Runner::Puppet {
                            declaration: crate::exec::puppet::declaration(
                                puppet,
                                &component.title,
                                &component.parameters,
                            ),
                            modulepath: modulepath.join(":"),
                            main_manifest: puppet.code.main_manifest.text.clone(),
                        }
                    }
                };
                let secrets = component
                    .parameters
                    .values()
                    .filter(|param| param.secret)
                    .map(|param| crate::load::display_value(&param.value))
                    .collect();
                components.push(ComponentWork {
                    reference: component.reference.clone(),
                    type_name: component.type_name.clone(),
                    title: component.title.clone(),
                    application: component.application.clone(),
                    runner,
                    parameters: component
                        .parameters
                        .iter()
                        .map(|(name, param)| (name.clone(), param.value.clone()))
                        .collect(),
                    secrets,
                });
                if phase == Phase::Apply {
                    for capability in &component.consumes {
                        if let Some(check) = model.capabilities.get(capability).and_then(|cap| cap.check.clone()) {
                            group_checks.insert(capability.clone(), check);
                        }
                    }
                }
            }
            works.push(NodeWork { node: node.clone(), components });
        }
        apply_groups.push(works);
        checks.push(group_checks.into_iter().collect());
    }
    let mut stages = vec![Stage { phase, groups: apply_groups, checks }];
    if options.prune && !options.noop && !plan.teardown_groups.is_empty() {
        let mut groups = Vec::new();
        for group in &plan.teardown_groups {
            let mut works = Vec::new();
            for node_name in group {
                // A node gone from the inventory is still torn down locally when it was local.
                let node = model.nodes.get(node_name).cloned().unwrap_or_else(|| Node {
                    name: node_name.clone(),
                    transport: Transport::Local,
                    labels: BTreeMap::new(),
                    facts: serde_json::Map::new(),
                    timeout_secs: 600,
                });
                let mut components = Vec::new();
                for reference in plan.teardowns.get(node_name).into_iter().flatten() {
                    let applied = inventory
                        .components
                        .get(&(reference.clone(), node_name.clone()))
                        .context("a teardown is in the inventory")?;
                    let script = applied
                        .remove_script
                        .as_ref()
                        .map(|content| write_script(&scripts_dir, content))
                        .transpose()?;
                    let (title, type_name) = crate::model::split_reference(reference)
                        .map(|(type_name, title)| (title.to_string(), type_name.to_string()))
                        .unwrap_or_default();
                    components.push(ComponentWork {
                        reference: reference.clone(),
                        type_name,
                        title,
                        application: applied.application.clone(),
                        runner: Runner::Script(script),
                        // Secret values were never stored, so a teardown sees only the others.
                        parameters: applied
                            .parameters
                            .iter()
                            .filter_map(|(name, value)| match value {
                                StoredValue::Value(value) => Some((name.clone(), value.clone())),
                                StoredValue::Sensitive(_) => None,
                            })
                            .collect::<BTreeMap<String, Value>>(),
                        secrets: Vec::new(),
                    });
                }
                works.push(NodeWork { node, components });
            }
            groups.push(works);
        }
        let checks = vec![Vec::new(); groups.len()];
        stages.push(Stage { phase: Phase::Teardown, groups, checks });
    }
    Ok(stages)
}

/// Writes a package's files under the state directory, in a directory named by its tree id,
/// and returns that directory. Scripts run from there, so they can use the files beside
/// them. Like scripts, packages are written before anything runs.
fn materialize_package(dir: &Path, package: &PackageFiles) -> anyhow::Result<PathBuf> {
    write_tree(&dir.join(format!("{}-{}", package.name, package.code_id)), &package.files)
}

/// Writes a lowered Puppet module path under the state directory, named by its digest.
fn materialize_puppet_code(dir: &Path, code: &PuppetCode) -> anyhow::Result<PathBuf> {
    write_tree(&dir.join(&code.code_id), &code.files)
}

/// Writes files into a new directory atomically (all or nothing); an existing one is kept,
/// since its name says what it holds.
fn write_tree(root: &Path, files: &[PackageFile]) -> anyhow::Result<PathBuf> {
    let root = root.to_path_buf();
    if root.exists() {
        return Ok(root);
    }
    let dir = root.parent().context("a tree is written inside a directory")?;
    let name = root.file_name().context("a tree has a name")?.to_string_lossy();
    let temporary = dir.join(format!(".tmp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&temporary);
    std::fs::create_dir_all(&temporary).with_context(|| format!("creating {}", temporary.display()))?;
    for file in files {
        let path = temporary.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, &file.content).with_context(|| format!("writing {}", path.display()))?;
        let mode = if file.executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::rename(&temporary, &root).with_context(|| format!("writing {}", root.display()))?;
    Ok(root)
}

/// Writes a script under the state directory, named by its content, and returns its path.
/// All scripts are written before any runs: a file still open for writing in this process
/// while another thread forks would make executing it fail ("text file busy").
fn write_script(dir: &Path, content: &[u8]) -> anyhow::Result<PathBuf> {
    let path = dir.join(hex(&Sha256::digest(content)));
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = dir.join(format!(".tmp-{}", std::process::id()));
    std::fs::write(&temporary, content).with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
