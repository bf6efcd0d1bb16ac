//! Running work on nodes: groups in order, the nodes of a group concurrently (bounded),
//! each node's components in order.
//!
//! The runner knows nothing of Git, plans or the store: it receives [`Stage`]s of
//! [`NodeWork`] (scripts already on disk, parameters resolved) and reports [`NodeOutcome`]s
//! as they finish through a callback, so the caller can record each one at once. Partial
//! failure is data: when a node fails, the rest of its group finishes, no later group
//! starts, and the report says so.

mod check;
pub mod facts;
mod local;
pub mod puppet;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub use check::wait_available;

use crate::model::{AvailabilityCheck, Node};

/// What a stage does to its components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Converge with `apply`.
    Apply,
    /// Dry run with `check`.
    Noop,
    /// Tear down with `remove`.
    Teardown,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Apply => "apply",
            Phase::Noop => "noop",
            Phase::Teardown => "teardown",
        }
    }
}

/// One component to run on a node.
#[derive(Debug, Clone)]
pub struct ComponentWork {
    pub reference: String,
    pub type_name: String,
    pub title: String,
    pub application: String,
    pub runner: Runner,
    pub parameters: BTreeMap<String, Value>,
    /// Values that must be masked in captured output.
    pub secrets: Vec<String>,
}

/// How a component is run on its node.
#[derive(Debug, Clone)]
pub enum Runner {
    /// A package script, already written to disk; `None` when the package has none for this
    /// action (no `check` or no `remove` script).
    Script(Option<PathBuf>),
    /// A Puppet declaration, applied in one `puppet apply` with the node's other Puppet
    /// components and the main manifest (node definitions, top-scope code), against a module
    /// path already written to disk.
    Puppet { declaration: String, modulepath: String, main_manifest: String },
}

/// Everything to run on one node.
#[derive(Debug, Clone)]
pub struct NodeWork {
    pub node: Node,
    pub components: Vec<ComponentWork>,
}

/// A sequence of groups run with one phase.
#[derive(Debug, Clone)]
pub struct Stage {
    pub phase: Phase,
    pub groups: Vec<Vec<NodeWork>>,
    /// Availability checks to pass before each group starts (same length as `groups`).
    pub checks: Vec<Vec<(String, AvailabilityCheck)>>,
}

/// How one component went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum ComponentResult {
    /// `apply` exited 0.
    Applied,
    /// `check` exited 0.
    InSync,
    /// `check` exited 2, or there is no `check` script to ask.
    WouldChange,
    /// `remove` exited 0, or there was no `remove` script.
    Removed,
    Failed {
        message: String,
    },
    /// Not run because an earlier component on the node failed.
    Skipped,
}

impl ComponentResult {
    pub fn is_failure(&self) -> bool {
        matches!(self, ComponentResult::Failed { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentOutcome {
    pub component: String,
    #[serde(flatten)]
    pub result: ComponentResult,
}

/// How one node went.
#[derive(Debug, Clone, Serialize)]
pub struct NodeOutcome {
    pub node: String,
    pub phase: Phase,
    pub group_index: usize,
    pub components: Vec<ComponentOutcome>,
    /// The tail of the node's output, secrets masked.
    pub output: String,
    /// When the node started and finished, relative to the start of the run.
    #[serde(skip)]
    pub started: Duration,
    #[serde(skip)]
    pub finished: Duration,
}

impl NodeOutcome {
    pub fn failed(&self) -> bool {
        self.components.iter().any(|outcome| outcome.result.is_failure())
    }
}

/// Progress, for a live display.
#[derive(Debug, Clone)]
pub enum Event {
    GroupStarted { phase: Phase, index: usize, n_groups: usize, n_nodes: usize },
    Waiting { capability: String },
    NodeStarted { node: String },
    NodeFinished { outcome: NodeOutcome },
}

/// Receives progress events; called from worker tasks, so it must be thread-safe.
pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub concurrency: usize,
    pub state_dir: PathBuf,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub outcomes: Vec<NodeOutcome>,
    /// Set when the run stopped early: why.
    pub stopped: Option<String>,
    pub duration: Duration,
    /// Groups that ran, per stage.
    pub groups_run: usize,
    /// Per group boundary: from the last node of one group finishing to the first node of
    /// the next group starting.
    pub group_gaps: Vec<Duration>,
}

impl RunReport {
    pub fn failed_nodes(&self) -> Vec<&NodeOutcome> {
        self.outcomes.iter().filter(|outcome| outcome.failed()).collect()
    }

    pub fn succeeded(&self) -> bool {
        self.stopped.is_none() && self.failed_nodes().is_empty()
    }
}

/// Runs the stages in order; `on_outcome` sees each node's outcome as soon as it is known.
pub async fn run(
    stages: Vec<Stage>,
    options: &RunOptions,
    events: EventSink,
    mut on_outcome: impl FnMut(&NodeOutcome),
) -> RunReport {
    let start = Instant::now();
    let semaphore = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut report = RunReport::default();
    let mut last_group_end: Option<Duration> = None;
    'stages: for stage in stages {
        let n_groups = stage.groups.len();
        for (index, (group, checks)) in stage.groups.into_iter().zip(stage.checks).enumerate() {
            for (capability, check) in &checks {
                events(Event::Waiting { capability: capability.clone() });
                if let Err(message) = wait_available(check).await {
                    report.stopped = Some(format!("{capability} is not available: {message}"));
                    break 'stages;
                }
            }
            tracing::debug!(phase = stage.phase.as_str(), group = index, nodes = group.len(), "group started");
            events(Event::GroupStarted { phase: stage.phase, index, n_groups, n_nodes: group.len() });
            let mut tasks = JoinSet::new();
            let mut node_of_task = BTreeMap::new();
            for work in group {
                let node_name = work.node.name.clone();
                let components: Vec<String> = work.components.iter().map(|c| c.reference.clone()).collect();
                let semaphore = Arc::clone(&semaphore);
                let events = Arc::clone(&events);
                let state_dir = options.state_dir.clone();
                let phase = stage.phase;
                let handle = tasks.spawn(async move {
                    let _permit = semaphore.acquire_owned().await.expect("the semaphore is never closed");
                    let started = start.elapsed();
                    events(Event::NodeStarted { node: work.node.name.clone() });
                    let (components, output) = local::run_node(&work, phase, &state_dir).await;
                    NodeOutcome {
                        node: work.node.name.clone(),
                        phase,
                        group_index: index,
                        components,
                        output,
                        started,
                        finished: start.elapsed(),
                    }
                });
                node_of_task.insert(handle.id(), (node_name, components));
            }
            let mut group_failed = false;
            let mut first_start: Option<Duration> = None;
            let mut group_end = Duration::ZERO;
            while let Some(joined) = tasks.join_next_with_id().await {
                let outcome = match joined {
                    Ok((_, outcome)) => outcome,
                    // A bug in a node's run fails that node, not the whole job.
                    Err(err) => {
                        let (node, components) = node_of_task.remove(&err.id()).unwrap_or_default();
                        let message = format!("internal error while running the node: {err}");
                        NodeOutcome {
                            node,
                            phase: stage.phase,
                            group_index: index,
                            components: components
                                .into_iter()
                                .map(|component| ComponentOutcome {
                                    component,
                                    result: ComponentResult::Failed { message: message.clone() },
                                })
                                .collect(),
                            output: message,
                            started: start.elapsed(),
                            finished: start.elapsed(),
                        }
                    }
                };
                first_start = Some(first_start.map_or(outcome.started, |first| first.min(outcome.started)));
                group_end = group_end.max(outcome.finished);
                group_failed |= outcome.failed();
                tracing::debug!(node = %outcome.node, group = index, failed = outcome.failed(), "node finished");
                on_outcome(&outcome);
                events(Event::NodeFinished { outcome: outcome.clone() });
                report.outcomes.push(outcome);
            }
            if let (Some(previous_end), Some(first_start)) = (last_group_end, first_start) {
                report.group_gaps.push(first_start.saturating_sub(previous_end));
            }
            last_group_end = Some(group_end);
            report.groups_run += 1;
            if group_failed {
                let remaining = n_groups - index - 1;
                report.stopped = Some(if remaining > 0 {
                    format!(
                        "a node failed in group {index}; {} not started",
                        crate::plan::render::plural(remaining, "later group")
                    )
                } else {
                    format!("a node failed in group {index}")
                });
                break 'stages;
            }
        }
    }
    report.duration = start.elapsed();
    report
}
