//! Progress while a job runs: a line per group and per finished node, and on a terminal a
//! live status line below them that is redrawn as nodes start and finish.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::engine::{JobEvent, JobEventSink};
use crate::exec::{ComponentResult, Event, Phase};

#[derive(Default)]
struct State {
    group_label: String,
    n_nodes: usize,
    started: usize,
    finished: usize,
    failed: usize,
}

/// An event sink writing progress to stderr.
pub fn sink(live: bool, color: bool) -> JobEventSink {
    let state = Arc::new(Mutex::new(State::default()));
    Arc::new(move |event: JobEvent| {
        let JobEvent::Run(event) = event else {
            return;
        };
        let mut state = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut lines = Vec::new();
        match event {
            Event::GroupStarted { phase, index, n_groups, n_nodes } => {
                let what = match phase {
                    Phase::Apply => "Running",
                    Phase::Noop => "Checking (noop)",
                    Phase::Teardown => "Tearing down",
                };
                state.group_label = format!("group {}/{n_groups}", index + 1);
                state.n_nodes = n_nodes;
                state.started = 0;
                state.finished = 0;
                state.failed = 0;
                lines.push(format!("{what} node group {index} ({})", crate::text::plural(n_nodes, "node")));
            }
            Event::Waiting { capability } => {
                lines.push(format!("Waiting for {} to be available", crate::text::escape_controls(&capability)))
            }
            Event::CheckAttempt { capability, attempt, error: Some(error) } => lines.push(format!(
                "  {} not available yet (attempt {attempt}): {error}",
                crate::text::escape_controls(&capability)
            )),
            Event::CheckAttempt { error: None, .. } => return,
            Event::CheckFinished { capability, outcome, .. } => {
                let status =
                    if outcome.passed { paint("available", "32", color) } else { paint("unavailable", "31", color) };
                lines.push(format!(
                    "  {} {status} after {}",
                    crate::text::escape_controls(&capability),
                    crate::text::plural(outcome.attempts as usize, "attempt")
                ));
            }
            Event::NodeSkipped { outcome, blocked_by } => {
                state.finished += 1;
                lines.push(format!(
                    "  {} {}: it depends on node {blocked_by}, which failed",
                    paint("skipped", "33", color),
                    outcome.node
                ));
            }
            Event::NodeStarted { .. } => state.started += 1,
            Event::ComponentFinished { .. } => return,
            Event::NodeFinished { outcome } => {
                state.finished += 1;
                let failed = outcome.failed();
                state.failed += usize::from(failed);
                let seconds = outcome.finished.saturating_sub(outcome.started).as_secs_f64();
                let status = if failed { paint("failed", "31", color) } else { paint("ok", "32", color) };
                let detail: Vec<String> = outcome
                    .components
                    .iter()
                    .map(|component| match &component.result {
                        ComponentResult::Applied => format!("{} applied", component.component),
                        ComponentResult::InSync => format!("{} in sync", component.component),
                        ComponentResult::WouldChange => {
                            format!("{} would change", component.component)
                        }
                        ComponentResult::Removed => format!("{} removed", component.component),
                        ComponentResult::Failed { message } => {
                            format!("{} failed: {message}", component.component)
                        }
                        ComponentResult::Skipped => format!("{} skipped", component.component),
                        ComponentResult::Blocked { node } => {
                            format!("{} skipped (node {node} failed)", component.component)
                        }
                        ComponentResult::Cancelled => format!("{} cancelled", component.component),
                    })
                    .collect();
                // Names and messages come from the repository: escaped, so none adds a line.
                let detail = crate::text::escape_controls(&detail.join("; ")).into_owned();
                lines.push(format!("  {status} {} ({seconds:.2}s): {detail}", outcome.node));
            }
        }
        let mut stderr = std::io::stderr().lock();
        if live {
            let _ = write!(stderr, "\r\x1b[2K");
        }
        for line in lines {
            let _ = writeln!(stderr, "{line}");
        }
        if live && state.finished < state.n_nodes {
            let _ = write!(
                stderr,
                "[{}] {}/{} nodes done, {} running, {} failed",
                state.group_label,
                state.finished,
                state.n_nodes,
                state.started - state.finished,
                state.failed
            );
        }
        let _ = stderr.flush();
    })
}

fn paint(text: &str, code: &str, color: bool) -> String {
    if color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
}
