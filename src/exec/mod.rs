//! Running work on nodes: groups in order, the nodes of a group concurrently (bounded),
//! each node's components in order.
//!
//! The runner knows nothing of Git, plans or the store: it receives [`Stage`]s of
//! [`NodeWork`] (code as data, parameters resolved with their secrecy) and reports every
//! step as an [`Event`] the moment it happens, so the caller can record each component's
//! result at once. Partial failure is data: when a node fails, the rest of its group
//! finishes, no later group starts, and the report says why. A cancelled run starts no more
//! nodes, stops the running ones' commands after a grace period, and reports what ran.
//!
//! How a node is reached is its [`transport`]; what a component runs is its kind
//! ([`script`], [`puppet`]).

mod check;
pub mod facts;
mod node;
pub mod output;
mod process;
pub mod puppet;
mod script;
pub mod transport;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use check::{CheckOutcome, wait_available};
pub use transport::Code;
pub use transport::ssh::close_kept_connections;

use crate::model::{AvailabilityCheck, MaxFailures, Node, OnFailure, Params, PuppetCode, Transport};
use crate::state_dir::StateDir;

/// What a stage does to its components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Converge with `apply`.
    Apply,
    /// Dry run with `check`.
    Noop,
    /// Tear down with `remove`.
    Teardown,
}

/// One component to run on a node.
#[derive(Debug, Clone)]
pub struct ComponentWork {
    pub reference: String,
    pub type_name: String,
    pub title: String,
    pub application: String,
    pub kind: WorkKind,
    /// Resolved parameters, each with its secrecy: secrets are masked in output.
    pub parameters: Params,
}

/// What runs a component, by kind.
#[derive(Debug, Clone)]
pub enum WorkKind {
    /// A script inside `code`, at `script`; `None` when there is none for this phase (no
    /// `check` or no `remove` script).
    Script { code: Code, script: Option<String> },
    /// A Puppet declaration, applied in one `puppet apply` with the node's other Puppet
    /// components and the main manifest of `code` (node definitions, top-scope code), against
    /// the module path `code`.
    Puppet { declaration: String, code: Arc<PuppetCode> },
}

/// Everything to run on one node.
#[derive(Debug, Clone)]
pub struct NodeWork {
    pub node: Node,
    pub components: Vec<ComponentWork>,
    /// The nodes this one waits for: when one of them fails under the `continue` policy,
    /// this node is skipped (and counts as failed for the groups after it). An apply names
    /// every node it depends on, directly or through others; a teardown, those it waits
    /// for directly.
    pub depends_on: Vec<String>,
}

/// A sequence of groups run with one phase.
#[derive(Debug, Clone)]
pub struct Stage {
    pub phase: Phase,
    pub groups: Vec<Vec<NodeWork>>,
    /// Availability checks to pass before each group starts (same length as `groups`).
    pub checks: Vec<Vec<Check>>,
}

/// An availability check of a capability, with the secrets its fields may hold.
#[derive(Debug, Clone)]
pub struct Check {
    pub capability: String,
    pub check: AvailabilityCheck,
    pub secrets: output::Masker,
    /// The node a command check runs on; this machine when `None`.
    pub node: Option<Node>,
}

/// How one component went.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Not run because `node`, which this node depends on, failed.
    Blocked {
        node: String,
    },
    /// Not run, or stopped, because the run was cancelled.
    Cancelled,
}

impl ComponentResult {
    pub fn is_failure(&self) -> bool {
        matches!(self, ComponentResult::Failed { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentOutcome {
    pub component: String,
    pub result: ComponentResult,
}

/// How one node went.
#[derive(Debug, Clone)]
pub struct NodeOutcome {
    pub node: String,
    pub phase: Phase,
    pub group_index: usize,
    pub components: Vec<ComponentOutcome>,
    /// The tail of the node's output, secrets masked.
    pub output: String,
    /// When the node started and finished, relative to the start of the run.
    pub started: Duration,
    pub finished: Duration,
}

impl NodeOutcome {
    pub fn failed(&self) -> bool {
        self.components.iter().any(|outcome| outcome.result.is_failure())
    }

    pub fn cancelled(&self) -> bool {
        !self.failed() && self.components.iter().any(|outcome| outcome.result == ComponentResult::Cancelled)
    }
}

/// Everything that happens during a run, as it happens.
#[derive(Debug, Clone)]
pub enum Event {
    GroupStarted {
        phase: Phase,
        index: usize,
        n_groups: usize,
        n_nodes: usize,
    },
    Waiting {
        capability: String,
    },
    /// One attempt of an availability check; `error` is what it saw when it failed.
    CheckAttempt {
        capability: String,
        attempt: u32,
        error: Option<String>,
    },
    /// An availability check ended, passed or not.
    CheckFinished {
        capability: String,
        phase: Phase,
        group_index: usize,
        outcome: CheckOutcome,
        started: Duration,
        finished: Duration,
    },
    NodeStarted {
        node: String,
        phase: Phase,
        group_index: usize,
        started: Duration,
    },
    /// A component finished; `outcomes` are the node's results so far, in order.
    ComponentFinished {
        node: String,
        phase: Phase,
        group_index: usize,
        outcomes: Vec<ComponentOutcome>,
    },
    NodeFinished {
        outcome: NodeOutcome,
    },
    /// A node was not run because a node it depends on failed (the `continue` policy).
    NodeSkipped {
        outcome: NodeOutcome,
        blocked_by: String,
    },
}

/// Receives events; called from worker tasks, so it must be thread-safe.
pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub concurrency: usize,
    pub state: StateDir,
    /// After a node fails: stop after its group, or go on with what does not depend on it.
    pub on_failure: OnFailure,
    /// How many failed nodes a group tolerates before it starts no more of its nodes.
    pub max_failures: Option<MaxFailures>,
}

/// Why a run stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// A node failed in a group; `remaining` later groups were not started.
    NodeFailed { group: usize, remaining: usize },
    /// More nodes failed in a group than `--max-failures` allows; the rest of the group and
    /// every later group were not started.
    TooManyFailures { group: usize, failures: usize, limit: MaxFailures },
    /// A capability's availability check never passed.
    Unavailable { capability: String, message: String },
    /// The run was cancelled.
    Cancelled,
    /// The code could not be put where the nodes run it.
    Setup { message: String },
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::NodeFailed { group, remaining: 0 } => write!(f, "a node failed in group {group}"),
            Stop::NodeFailed { group, remaining } => write!(
                f,
                "a node failed in group {group}; {} not started",
                crate::text::plural(*remaining, "later group")
            ),
            Stop::TooManyFailures { group, failures, limit } => write!(
                f,
                "{} failed in group {group}, more than --max-failures {limit} allows",
                crate::text::plural(*failures, "node")
            ),
            Stop::Unavailable { capability, message } => write!(f, "{capability} is not available: {message}"),
            Stop::Cancelled => write!(f, "cancelled"),
            Stop::Setup { message } => write!(f, "{message}"),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub outcomes: Vec<NodeOutcome>,
    /// Set when the run stopped early: why.
    pub stopped: Option<Stop>,
    /// Nodes planned to run that never started, because the run stopped first.
    pub not_started: Vec<String>,
    /// Nodes not run because a node they depend on failed, with that node.
    pub skipped: Vec<(String, String)>,
    pub duration: Duration,
    /// Groups that started, over all stages.
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
        self.stopped.is_none() && self.failed_nodes().is_empty() && self.skipped.is_empty()
    }
}

/// Runs the stages in order, reporting every step to `events`.
pub async fn run(stages: Vec<Stage>, options: &RunOptions, events: EventSink, cancel: CancellationToken) -> RunReport {
    let start = Instant::now();
    let mut report = RunReport::default();
    // Code for local nodes is written before anything runs (see `transport::local`).
    let local_code: Vec<Code> = stages
        .iter()
        .flat_map(|stage| stage.groups.iter().flatten())
        .filter(|work| work.node.transport == Transport::Local)
        .flat_map(|work| work.components.iter().map(ComponentWork::code))
        .collect();
    if let Err(err) = transport::install_local_code(&options.state, &local_code) {
        report.stopped = Some(Stop::Setup { message: format!("{err:#}") });
        report.not_started =
            stages.into_iter().flat_map(|stage| stage.groups).flatten().map(|work| work.node.name).collect();
        return report;
    }
    let semaphore = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut last_group_end: Option<Duration> = None;
    // Nodes that failed, or were skipped because of one, by the failed node to blame.
    let mut failed: HashMap<String, String> = HashMap::new();
    let mut stages = stages.into_iter();
    'stages: while let Some(stage) = stages.next() {
        // Under `stop`, a failure ended the run before here; under `continue`, teardowns
        // run but for those that wait for a failed node (see `NodeWork::depends_on`).
        if cancel.is_cancelled() {
            report.stopped = Some(Stop::Cancelled);
            report.not_started.extend(stage.groups.into_iter().flatten().map(|work| work.node.name));
            report.not_started.extend(stages.flat_map(|stage| stage.groups).flatten().map(|work| work.node.name));
            break;
        }
        let n_groups = stage.groups.len();
        let mut groups = stage.groups.into_iter().zip(stage.checks).enumerate();
        while let Some((index, (group, checks))) = groups.next() {
            let stop = if cancel.is_cancelled() {
                Some(Stop::Cancelled)
            } else {
                wait_for_checks(&checks, stage.phase, index, start, options, &events, &cancel).await
            };
            if let Some(stop) = stop {
                report.stopped = Some(stop);
                report.not_started.extend(group.iter().map(|work| work.node.name.clone()));
                report.not_started.extend(groups.flat_map(|(_, (group, _))| group).map(|work| work.node.name));
                report.not_started.extend(stages.flat_map(|stage| stage.groups).flatten().map(|work| work.node.name));
                break 'stages;
            }
            // Under `continue`, nodes that depend on a failed node are skipped, not run.
            let (group, blocked): (Vec<NodeWork>, Vec<(NodeWork, String)>) = {
                let mut runnable = Vec::new();
                let mut blocked = Vec::new();
                for work in group {
                    match work.depends_on.iter().find_map(|node| failed.get(node)) {
                        Some(cause) => {
                            let cause = cause.clone();
                            blocked.push((work, cause));
                        }
                        None => runnable.push(work),
                    }
                }
                (runnable, blocked)
            };
            tracing::debug!(phase = ?stage.phase, group = index, nodes = group.len(), "group started");
            events(Event::GroupStarted { phase: stage.phase, index, n_groups, n_nodes: group.len() + blocked.len() });
            for (work, cause) in blocked {
                let outcome = NodeOutcome {
                    node: work.node.name.clone(),
                    phase: stage.phase,
                    group_index: index,
                    components: work
                        .components
                        .iter()
                        .map(|component| ComponentOutcome {
                            component: component.reference.clone(),
                            result: ComponentResult::Blocked { node: cause.clone() },
                        })
                        .collect(),
                    output: format!("skipped: it depends on node {cause}, which failed\n"),
                    started: start.elapsed(),
                    finished: start.elapsed(),
                };
                events(Event::NodeSkipped { outcome, blocked_by: cause.clone() });
                report.skipped.push((work.node.name.clone(), cause.clone()));
                failed.insert(work.node.name, cause);
            }
            let group_size = group.len();
            let (outcomes, not_started, too_many) =
                run_group(group, stage.phase, index, start, &semaphore, options, &events, &cancel).await;
            report.not_started.extend(not_started);
            let first_start = outcomes.iter().map(|outcome| outcome.started).min();
            let group_end = outcomes.iter().map(|outcome| outcome.finished).max().unwrap_or_default();
            let group_failures = outcomes.iter().filter(|outcome| outcome.failed()).count();
            for outcome in outcomes.iter().filter(|outcome| outcome.failed()) {
                failed.insert(outcome.node.clone(), outcome.node.clone());
            }
            if let (Some(previous_end), Some(first_start)) = (last_group_end, first_start) {
                report.group_gaps.push(first_start.saturating_sub(previous_end));
            }
            last_group_end = Some(group_end);
            report.groups_run += 1;
            report.outcomes.extend(outcomes);
            let stop = if cancel.is_cancelled() {
                Some(Stop::Cancelled)
            } else if let Some(limit) = too_many {
                Some(Stop::TooManyFailures { group: index, failures: group_failures, limit })
            } else if group_failures > 0 && options.on_failure == OnFailure::Stop {
                Some(Stop::NodeFailed { group: index, remaining: n_groups - index - 1 })
            } else {
                None
            };
            tracing::debug!(group = index, nodes = group_size, failures = group_failures, "group finished");
            if let Some(stop) = stop {
                report.stopped = Some(stop);
                report.not_started.extend(groups.flat_map(|(_, (group, _))| group).map(|work| work.node.name));
                report.not_started.extend(stages.flat_map(|stage| stage.groups).flatten().map(|work| work.node.name));
                break 'stages;
            }
        }
    }
    report.duration = start.elapsed();
    report
}

/// Waits for a group's availability checks, reporting every attempt; the reason to stop
/// when one never passes.
async fn wait_for_checks(
    checks: &[Check],
    phase: Phase,
    group_index: usize,
    start: Instant,
    options: &RunOptions,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Option<Stop> {
    for check in checks {
        events(Event::Waiting { capability: check.capability.clone() });
        let started = start.elapsed();
        let waited = async {
            // A command check on a node runs over that node's transport, opened once.
            let transport = match &check.node {
                Some(node) => match transport::connect(node, &options.state) {
                    Ok(transport) => match transport.open(&[]).await {
                        Ok(()) => Some(transport),
                        Err(message) => return CheckOutcome { passed: false, attempts: 1, message },
                    },
                    Err(message) => return CheckOutcome { passed: false, attempts: 1, message },
                },
                None => None,
            };
            let outcome = wait_available(&check.check, transport.as_deref(), |attempt, error| {
                events(Event::CheckAttempt {
                    capability: check.capability.clone(),
                    attempt,
                    error: error.map(|error| check.secrets.mask(error)),
                });
            })
            .await;
            if let Some(transport) = transport {
                transport.close().await;
            }
            outcome
        };
        let mut outcome = tokio::select! {
            outcome = waited => outcome,
            () = cancel.cancelled() => return Some(Stop::Cancelled),
        };
        outcome.message = check.secrets.mask(&outcome.message);
        events(Event::CheckFinished {
            capability: check.capability.clone(),
            phase,
            group_index,
            outcome: outcome.clone(),
            started,
            finished: start.elapsed(),
        });
        if !outcome.passed {
            return Some(Stop::Unavailable { capability: check.capability.clone(), message: outcome.message });
        }
    }
    None
}

/// Runs one group's nodes concurrently; returns their outcomes in the order they ended, the
/// nodes that never started because the run was cancelled or the group halted first, and
/// the limit when more nodes failed than `--max-failures` allows.
#[allow(clippy::too_many_arguments)]
async fn run_group(
    group: Vec<NodeWork>,
    phase: Phase,
    index: usize,
    start: Instant,
    semaphore: &Arc<Semaphore>,
    options: &RunOptions,
    events: &EventSink,
    cancel: &CancellationToken,
) -> (Vec<NodeOutcome>, Vec<String>, Option<MaxFailures>) {
    let n_nodes = group.len();
    // Stops nodes of this group that have not started yet, when too many failed. A node
    // counts its failure before it gives up its turn, so the next one to start sees it.
    let halt = CancellationToken::new();
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    let mut node_of_task = BTreeMap::new();
    for work in group {
        let node_name = work.node.name.clone();
        let components: Vec<String> = work.components.iter().map(|c| c.reference.clone()).collect();
        let semaphore = Arc::clone(semaphore);
        let events = Arc::clone(events);
        let state = options.state.clone();
        let cancel = cancel.clone();
        let halt = halt.clone();
        let failures = Arc::clone(&failures);
        let max_failures = options.max_failures;
        let handle = tasks.spawn(async move {
            let permit = tokio::select! {
                permit = semaphore.acquire_owned() => permit.expect("the semaphore is never closed"),
                () = cancel.cancelled() => return None,
                () = halt.cancelled() => return None,
            };
            if halt.is_cancelled() {
                return None;
            }
            let started = start.elapsed();
            events(Event::NodeStarted { node: work.node.name.clone(), phase, group_index: index, started });
            let context = node::Context { phase, group_index: index, state: &state, events: &events, cancel: &cancel };
            let (components, output) = node::run(&work, &context).await;
            if components.iter().any(|outcome| outcome.result.is_failure()) {
                let failed = failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                if max_failures.is_some_and(|limit| limit.exceeded(failed, n_nodes)) {
                    halt.cancel();
                }
            }
            drop(permit);
            Some(NodeOutcome {
                node: work.node.name.clone(),
                phase,
                group_index: index,
                components,
                output,
                started,
                finished: start.elapsed(),
            })
        });
        node_of_task.insert(handle.id(), (node_name, components));
    }
    let mut outcomes = Vec::new();
    let mut not_started = Vec::new();
    let mut too_many = None;
    let mut failures = 0;
    while let Some(joined) = tasks.join_next_with_id().await {
        let outcome = match joined {
            Ok((_, Some(outcome))) => outcome,
            // Cancelled or halted while waiting for its turn: it never started.
            Ok((id, None)) => {
                not_started.extend(node_of_task.remove(&id).map(|(node, _)| node));
                continue;
            }
            // A bug in a node's run fails that node, not the whole job.
            Err(err) => {
                let (node, components) = node_of_task.remove(&err.id()).unwrap_or_default();
                let message = format!("internal error while running the node: {err}");
                NodeOutcome {
                    node,
                    phase,
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
        tracing::debug!(node = %outcome.node, group = index, failed = outcome.failed(), "node finished");
        failures += usize::from(outcome.failed());
        events(Event::NodeFinished { outcome: outcome.clone() });
        outcomes.push(outcome);
        if let Some(limit) = options.max_failures
            && limit.exceeded(failures, n_nodes)
        {
            too_many = Some(limit);
            halt.cancel();
        }
    }
    not_started.sort();
    (outcomes, not_started, too_many)
}

/// The instant `duration` from now; a duration too long for the clock gives a deadline
/// decades away instead of overflowing, since no input may make ordo panic.
pub(crate) fn deadline_after(duration: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(duration).or_else(|| now.checked_add(Duration::from_secs(30 * 365 * 24 * 3600))).unwrap_or(now)
}

impl ComponentWork {
    /// The code this component runs.
    pub fn code(&self) -> Code {
        match &self.kind {
            WorkKind::Script { code, .. } => code.clone(),
            WorkKind::Puppet { code, .. } => Code::Puppet(Arc::clone(code)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deadlines_beyond_the_clock_saturate() {
        let far = deadline_after(Duration::MAX);
        assert!(far > tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600));
        assert!(deadline_after(Duration::from_secs(1)) <= tokio::time::Instant::now() + Duration::from_secs(1));
    }
}
