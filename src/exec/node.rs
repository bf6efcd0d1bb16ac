//! One node's run: its transport, its components in order.
//!
//! The node's timeout covers all its components; after a failure the node's remaining
//! components are skipped, and after a cancellation they are not started. Every component's
//! result is reported the moment it is known. That no two jobs run a node at once is the
//! caller's to ensure (the engine's node locks).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::output::{Masker, Output};
use super::transport::{self, Code, Transport};
use super::{ComponentOutcome, ComponentResult, ComponentWork, Event, EventSink, NodeWork, Phase, WorkKind};
use super::{puppet, script};
use crate::state_dir::StateDir;

/// What a node's run needs from its run.
pub struct Context<'a> {
    pub phase: Phase,
    pub group_index: usize,
    pub state: &'a StateDir,
    pub events: &'a EventSink,
    pub cancel: &'a CancellationToken,
}

/// What a component kind needs to run a component on its node.
pub struct Step<'a> {
    pub work: &'a NodeWork,
    pub phase: Phase,
    pub transport: &'a dyn Transport,
    pub deadline: Instant,
    pub cancel: &'a CancellationToken,
    pub output: &'a Arc<Mutex<Output>>,
}

impl Step<'_> {
    pub fn write(&self, text: &str) {
        self.output.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push_str(text);
    }
}

/// Runs a node's components in order; returns their results and the node's output.
pub async fn run(work: &NodeWork, context: &Context<'_>) -> (Vec<ComponentOutcome>, String) {
    let masker = Masker::for_params(work.components.iter().map(|component| &component.parameters));
    let output = Arc::new(Mutex::new(Output::new(masker)));
    let finish = |outcomes: Vec<ComponentOutcome>| {
        let text = output.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).finish();
        (outcomes, text)
    };
    let fail_all = |message: String| {
        output.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push_str(&format!("{message}\n"));
        finish(all(work, ComponentResult::Failed { message }))
    };
    let timeout = Duration::from_secs(work.node.timeout_secs);
    let deadline = super::deadline_after(timeout);
    let transport = match transport::connect(&work.node, context.state) {
        Ok(transport) => transport,
        Err(message) => return fail_all(message),
    };
    let code: Vec<Code> = work.components.iter().map(ComponentWork::code).collect();
    let opened = tokio::select! {
        opened = tokio::time::timeout_at(deadline, transport.open(&code)) => {
            opened.unwrap_or_else(|_| Err(format!("node {} did not open within its timeout", work.node.name)))
        }
        () = context.cancel.cancelled() => {
            transport.close().await;
            return finish(all(work, ComponentResult::Cancelled));
        }
    };
    if let Err(message) = opened {
        transport.close().await;
        return fail_all(message);
    }
    let step = Step {
        work,
        phase: context.phase,
        transport: transport.as_ref(),
        deadline,
        cancel: context.cancel,
        output: &output,
    };
    let outcomes = run_components(&step, context).await;
    transport.close().await;
    finish(outcomes)
}

async fn run_components(step: &Step<'_>, context: &Context<'_>) -> Vec<ComponentOutcome> {
    let work = step.work;
    let puppet_components: Vec<&ComponentWork> =
        work.components.iter().filter(|component| matches!(component.kind, WorkKind::Puppet { .. })).collect();
    // All Puppet components of a node converge in one catalog, run where the first one is.
    let mut puppet_results: Option<std::vec::IntoIter<ComponentResult>> = None;
    let mut outcomes = Vec::with_capacity(work.components.len());
    let mut failed = false;
    for component in &work.components {
        let result = match &component.kind {
            _ if failed => ComponentResult::Skipped,
            _ if step.cancel.is_cancelled() => ComponentResult::Cancelled,
            WorkKind::Script { script, .. } => script::run(step, component, script.as_deref()).await,
            WorkKind::Puppet { .. } => {
                if puppet_results.is_none() {
                    puppet_results = Some(puppet::run(step, &puppet_components).await.into_iter());
                }
                puppet_results.as_mut().and_then(Iterator::next).unwrap_or(ComponentResult::Skipped)
            }
        };
        failed |= result.is_failure();
        let ran = !matches!(result, ComponentResult::Skipped | ComponentResult::Cancelled);
        outcomes.push(ComponentOutcome { component: component.reference.clone(), result });
        if ran {
            (context.events)(Event::ComponentFinished {
                node: work.node.name.clone(),
                phase: context.phase,
                group_index: context.group_index,
                outcomes: outcomes.clone(),
            });
        }
    }
    outcomes
}

fn all(work: &NodeWork, result: ComponentResult) -> Vec<ComponentOutcome> {
    work.components
        .iter()
        .map(|component| ComponentOutcome { component: component.reference.clone(), result: result.clone() })
        .collect()
}
