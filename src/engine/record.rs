//! Recording a running job: every event of the run becomes store writes, batched per
//! transaction on a thread of their own, so writing never holds up the next group and each
//! result is still on disk moments (at most [`GATHER`] and a commit) after it is known.
//!
//! A component that converged is recorded as applied the moment it finishes, and a node is
//! recorded as running when it starts: after a crash, the next plan contains exactly what
//! did not finish, and the next job marks the unfinished nodes interrupted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

use crate::exec::{ComponentOutcome, ComponentResult, Event, NodeOutcome, Phase};
use crate::model::Model;
use crate::plan::inventory;
use crate::store::{
    self, CheckRecord, ComponentRecord, ComponentState, JobId, JobWrite, NodePhase, NodeResultRecord, NodeState,
    SharedStore,
};

/// How long the recorder gathers events after the first before it writes them in one
/// transaction.
const GATHER: Duration = Duration::from_millis(20);

/// What the recorder needs to turn events into writes.
pub struct Recorder {
    pub store: SharedStore,
    pub job: JobId,
    pub environment: String,
    pub model: Arc<Model>,
    /// For each component (by reference), the components it depends on.
    pub dependencies: HashMap<String, Vec<String>>,
    pub secret_key: Vec<u8>,
    /// The revision being applied, recorded with each applied component.
    pub revision: String,
    /// Whether converged components become applied (not for noop jobs).
    pub records_applied: bool,
    /// The clock time of the run's start: event times are offsets from it.
    pub run_started: SystemTime,
}

impl Recorder {
    /// Records events from `receiver` until every sender is gone.
    pub fn run(&self, receiver: std::sync::mpsc::Receiver<Event>) -> anyhow::Result<()> {
        let mut started: HashMap<String, Duration> = HashMap::new();
        while let Ok(first) = receiver.recv() {
            let mut writes = Vec::new();
            self.writes(&first, &mut started, &mut writes)?;
            // What arrives within a moment shares the transaction: a commit costs the same
            // disk syncs however much it holds. The last events never wait, since the
            // channel then reports its senders gone at once.
            let gathered_by = Instant::now() + GATHER;
            while let Ok(event) = receiver.recv_timeout(gathered_by.saturating_duration_since(Instant::now())) {
                self.writes(&event, &mut started, &mut writes)?;
            }
            drop_superseded(&mut writes);
            if !writes.is_empty() {
                store::lock(&self.store).record(self.job, &self.environment, &writes)?;
            }
        }
        Ok(())
    }

    fn writes(
        &self,
        event: &Event,
        started: &mut HashMap<String, Duration>,
        writes: &mut Vec<JobWrite>,
    ) -> anyhow::Result<()> {
        match event {
            Event::NodeStarted { node, phase, group_index, started: at } => {
                started.insert(node.clone(), *at);
                writes.push(JobWrite::NodeResult(self.node_result(node, *phase, *group_index, *at, None, &[], "")));
            }
            Event::ComponentFinished { node, phase, group_index, outcomes } => {
                if let Some(last) = outcomes.last() {
                    writes.extend(self.component_write(node, *phase, last)?);
                }
                let at = started.get(node).copied().unwrap_or_default();
                writes.push(JobWrite::NodeResult(self.node_result(node, *phase, *group_index, at, None, outcomes, "")));
            }
            Event::NodeFinished { outcome } => writes.push(JobWrite::NodeResult(self.finished(outcome))),
            Event::NodeSkipped { outcome, .. } => writes.push(JobWrite::NodeResult(self.finished(outcome))),
            Event::CheckFinished { capability, phase, group_index, outcome, started, finished } => {
                writes.push(JobWrite::Check(CheckRecord {
                    capability: capability.clone(),
                    phase: node_phase(*phase),
                    group_index: *group_index as i64,
                    passed: outcome.passed,
                    attempts: i64::from(outcome.attempts),
                    message: outcome.message.clone(),
                    started_at: store::precise_timestamp(self.run_started + *started),
                    finished_at: store::precise_timestamp(self.run_started + *finished),
                }));
            }
            Event::GroupStarted { .. } | Event::Waiting { .. } | Event::CheckAttempt { .. } => {}
        }
        Ok(())
    }

    /// What one component's result changes in the inventory.
    fn component_write(
        &self,
        node: &str,
        phase: Phase,
        outcome: &ComponentOutcome,
    ) -> anyhow::Result<Option<JobWrite>> {
        if !self.records_applied {
            return Ok(None);
        }
        Ok(match (&outcome.result, phase) {
            (ComponentResult::Applied, Phase::Apply) => {
                let desired =
                    self.model.component(&outcome.component).context("an applied component is in the model")?;
                let depends_on = self.dependencies.get(&outcome.component).cloned().unwrap_or_default();
                // Without --prune, a moved component stays recorded on the node it left
                // too, so the next plan still shows its teardown there.
                let mut applied = inventory::applied_component(desired, depends_on, &self.secret_key);
                applied.revision = Some(self.revision.clone());
                Some(JobWrite::Applied(Box::new(applied)))
            }
            (ComponentResult::Removed, Phase::Teardown) => {
                Some(JobWrite::Removed { component: outcome.component.clone(), node: node.to_string() })
            }
            _ => None,
        })
    }

    fn finished(&self, outcome: &NodeOutcome) -> NodeResultRecord {
        self.node_result(
            &outcome.node,
            outcome.phase,
            outcome.group_index,
            outcome.started,
            Some(outcome.finished),
            &outcome.components,
            &outcome.output,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn node_result(
        &self,
        node: &str,
        phase: Phase,
        group_index: usize,
        started: Duration,
        finished: Option<Duration>,
        outcomes: &[ComponentOutcome],
        output: &str,
    ) -> NodeResultRecord {
        let state = match finished {
            None => NodeState::Running,
            Some(_) if outcomes.iter().any(|outcome| outcome.result.is_failure()) => NodeState::Failed,
            Some(_) if outcomes.iter().any(|outcome| matches!(outcome.result, ComponentResult::Blocked { .. })) => {
                NodeState::Skipped
            }
            Some(_) if outcomes.iter().any(|outcome| outcome.result == ComponentResult::Cancelled) => {
                NodeState::Cancelled
            }
            Some(_) => NodeState::Success,
        };
        NodeResultRecord {
            node: node.to_string(),
            phase: node_phase(phase),
            group_index: group_index as i64,
            state,
            started_at: store::precise_timestamp(self.run_started + started),
            finished_at: finished.map(|finished| store::precise_timestamp(self.run_started + finished)),
            duration_ms: finished.map_or(0, |finished| finished.saturating_sub(started).as_millis() as i64),
            components: outcomes.iter().map(component_record).collect(),
            output: output.to_string(),
        }
    }
}

/// Drops a node's results that a later one in the same batch replaces: each is the node's
/// whole result so far, and the store keeps only the last.
fn drop_superseded(writes: &mut Vec<JobWrite>) {
    let mut newest: std::collections::BTreeSet<(&str, NodePhase)> = std::collections::BTreeSet::new();
    let mut keep: Vec<bool> = writes
        .iter()
        .rev()
        .map(|write| match write {
            JobWrite::NodeResult(result) => newest.insert((result.node.as_str(), result.phase)),
            _ => true,
        })
        .collect();
    keep.reverse();
    let mut keep = keep.into_iter();
    writes.retain(|_| keep.next().unwrap_or(true));
}

pub fn node_phase(phase: Phase) -> NodePhase {
    match phase {
        Phase::Apply => NodePhase::Apply,
        Phase::Noop => NodePhase::Noop,
        Phase::Teardown => NodePhase::Teardown,
    }
}

pub fn component_record(outcome: &ComponentOutcome) -> ComponentRecord {
    let (result, message) = match &outcome.result {
        ComponentResult::Applied => (ComponentState::Applied, None),
        ComponentResult::InSync => (ComponentState::InSync, None),
        ComponentResult::WouldChange => (ComponentState::WouldChange, None),
        ComponentResult::Removed => (ComponentState::Removed, None),
        ComponentResult::Failed { message } => (ComponentState::Failed, Some(message.clone())),
        ComponentResult::Skipped => (ComponentState::Skipped, None),
        ComponentResult::Blocked { node } => {
            (ComponentState::Skipped, Some(format!("not run: it depends on node {node}, which failed")))
        }
        ComponentResult::Cancelled => (ComponentState::Cancelled, None),
    };
    ComponentRecord { component: outcome.component.clone(), result, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(node: &str, phase: NodePhase, state: NodeState) -> JobWrite {
        JobWrite::NodeResult(NodeResultRecord {
            node: node.into(),
            phase,
            group_index: 0,
            state,
            started_at: String::new(),
            finished_at: None,
            duration_ms: 0,
            components: Vec::new(),
            output: String::new(),
        })
    }

    #[test]
    fn only_the_last_result_of_a_node_in_a_batch_is_written() {
        let mut writes = vec![
            result("a", NodePhase::Apply, NodeState::Running),
            JobWrite::Removed { component: "X[1]".into(), node: "a".into() },
            result("b", NodePhase::Apply, NodeState::Running),
            result("a", NodePhase::Apply, NodeState::Success),
            result("a", NodePhase::Teardown, NodeState::Running),
        ];
        drop_superseded(&mut writes);
        let shown: Vec<String> = writes
            .iter()
            .map(|write| match write {
                JobWrite::NodeResult(result) => format!("{} {:?} {:?}", result.node, result.phase, result.state),
                JobWrite::Removed { component, .. } => format!("removed {component}"),
                _ => "other".into(),
            })
            .collect();
        assert_eq!(shown, ["removed X[1]", "b Apply Running", "a Apply Success", "a Teardown Running"]);
    }
}
