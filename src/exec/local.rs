//! The local transport: a node is a working directory under the state directory
//! (`nodes/NODE/`), and a component runs there as a child process: its package script, or
//! for Puppet components one `puppet apply` of all the node's Puppet components.
//!
//! A script gets its parameters twice: as environment variables named like the parameters
//! (`$db_host`), and as a JSON document on stdin with the component, node and facts. Output
//! (stdout and stderr, interleaved as written) is captured; the tail is kept, with secret
//! values masked. The node's timeout covers all its components; a process still running
//! then is killed with its whole process group.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::{ComponentOutcome, ComponentResult, ComponentWork, NodeWork, Phase, Runner, puppet};
use crate::load::display_value;

/// How much of a node's output is kept.
const OUTPUT_TAIL_BYTES: usize = 16 * 1024;

/// Runs a node's components in order, stopping at the first failure.
pub async fn run_node(work: &NodeWork, phase: Phase, state_dir: &Path) -> (Vec<ComponentOutcome>, String) {
    let node_dir = state_dir.join("nodes").join(&work.node.name);
    let fail_all = |message: String| {
        let outcomes = work
            .components
            .iter()
            .map(|component| ComponentOutcome {
                component: component.reference.clone(),
                result: ComponentResult::Failed { message: message.clone() },
            })
            .collect();
        (outcomes, message)
    };
    if let Err(err) = std::fs::create_dir_all(&node_dir) {
        return fail_all(format!("cannot create {}: {err}", node_dir.display()));
    }
    let _lock = match lock_node(state_dir, &work.node.name, Duration::from_secs(work.node.timeout_secs)).await {
        Ok(lock) => lock,
        Err(message) => return fail_all(message),
    };
    let deadline = Instant::now() + Duration::from_secs(work.node.timeout_secs);
    let mut output = Vec::new();
    let mut outcomes = Vec::with_capacity(work.components.len());
    let puppet_components: Vec<&ComponentWork> =
        work.components.iter().filter(|component| matches!(component.runner, Runner::Puppet { .. })).collect();
    // All Puppet components of a node converge in one catalog, run where the first one is.
    let mut puppet_results: Option<std::vec::IntoIter<ComponentResult>> = None;
    let mut failed = false;
    for component in &work.components {
        let result = match &component.runner {
            _ if failed => ComponentResult::Skipped,
            Runner::Script(script) => {
                run_script(work, component, script.as_deref(), phase, &node_dir, deadline, &mut output).await
            }
            Runner::Puppet { .. } => {
                if puppet_results.is_none() {
                    let results = puppet::run(work, &puppet_components, phase, &node_dir, deadline, &mut output).await;
                    puppet_results = Some(results.into_iter());
                }
                puppet_results.as_mut().and_then(Iterator::next).unwrap_or(ComponentResult::Skipped)
            }
        };
        failed |= result.is_failure();
        outcomes.push(ComponentOutcome { component: component.reference.clone(), result });
    }
    let mut text = String::from_utf8_lossy(tail(&output, OUTPUT_TAIL_BYTES)).into_owned();
    for component in &work.components {
        for secret in component.secrets.iter().filter(|secret| !secret.is_empty()) {
            text = text.replace(secret.as_str(), "(sensitive)");
        }
    }
    (outcomes, text)
}

async fn run_script(
    work: &NodeWork,
    component: &ComponentWork,
    script: Option<&Path>,
    phase: Phase,
    node_dir: &Path,
    deadline: Instant,
    output: &mut Vec<u8>,
) -> ComponentResult {
    let Some(script) = script else {
        return match phase {
            Phase::Apply => ComponentResult::Failed { message: "the component has no apply script".into() },
            Phase::Noop => ComponentResult::WouldChange,
            Phase::Teardown => ComponentResult::Removed,
        };
    };
    let action = match phase {
        Phase::Apply => "apply",
        Phase::Noop => "check",
        Phase::Teardown => "remove",
    };
    output.extend_from_slice(format!("==> {} {action}\n", component.reference).as_bytes());
    let mut command = std::process::Command::new(script);
    command
        .current_dir(node_dir)
        .env("ORDO_ACTION", action)
        .env("ORDO_NOOP", if phase == Phase::Noop { "true" } else { "false" })
        .env("ORDO_COMPONENT", &component.reference)
        .env("ORDO_TYPE", &component.type_name)
        .env("ORDO_TITLE", &component.title)
        .env("ORDO_APPLICATION", &component.application)
        .env("ORDO_NODE", &work.node.name)
        .env("ORDO_NODE_DIR", node_dir);
    if let Some(package_dir) = script.parent().and_then(package_root) {
        command.env("ORDO_PACKAGE_DIR", package_dir);
    }
    for (name, value) in &component.parameters {
        command.env(name, display_value(value));
    }
    let document = json!({
        "action": action,
        "noop": phase == Phase::Noop,
        "component": component.reference,
        "type": component.type_name,
        "title": component.title,
        "application": component.application,
        "node": work.node.name,
        "parameters": component.parameters,
        "facts": work.node.facts,
    });
    let result = match run_process(command, document.to_string().into_bytes(), deadline, output).await {
        Ok(status) => match (phase, status) {
            (Phase::Apply, Some(0)) => ComponentResult::Applied,
            (Phase::Noop, Some(0)) => ComponentResult::InSync,
            (Phase::Noop, Some(2)) => ComponentResult::WouldChange,
            (Phase::Teardown, Some(0)) => ComponentResult::Removed,
            (_, Some(code)) => ComponentResult::Failed { message: format!("{action} exited with code {code}") },
            (_, None) => ComponentResult::Failed { message: format!("{action} was killed by a signal") },
        },
        Err(ProcessError::TimedOut) => ComponentResult::Failed {
            message: format!("timed out after {}s (the node's timeout)", work.node.timeout_secs),
        },
        Err(ProcessError::Spawn(message)) => ComponentResult::Failed { message },
    };
    if let ComponentResult::Failed { message } = &result {
        output.extend_from_slice(format!("==> {} failed: {message}\n", component.reference).as_bytes());
    }
    result
}

/// Why a process gave no exit status.
pub(super) enum ProcessError {
    Spawn(String),
    TimedOut,
}

/// Runs a command in its own process group with `stdin` fed to it, appending its output
/// (stdout and stderr interleaved) to `output`; returns its exit code (`None` for a signal).
/// At the deadline the whole process group is killed.
pub(super) async fn run_process(
    mut command: std::process::Command,
    stdin: Vec<u8>,
    deadline: Instant,
    output: &mut Vec<u8>,
) -> Result<Option<i32>, ProcessError> {
    let (reader, writer) =
        std::io::pipe().map_err(|err| ProcessError::Spawn(format!("cannot create a pipe: {err}")))?;
    let stderr_writer =
        writer.try_clone().map_err(|err| ProcessError::Spawn(format!("cannot create a pipe: {err}")))?;
    command.stdin(Stdio::piped()).stdout(writer).stderr(stderr_writer).process_group(0);
    let program = command.get_program().to_string_lossy().into_owned();
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    let mut child = command.spawn().map_err(|err| ProcessError::Spawn(format!("cannot run {program}: {err}")))?;
    // The parent's copies of the pipe's write ends live in `command`; dropping it lets the
    // reader see end-of-file when the process (and anything it started) is done.
    drop(command);
    let reading = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 8192];
        while let Ok(n) = reader.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buffer.extend_from_slice(&chunk[..n]);
            if buffer.len() > 2 * OUTPUT_TAIL_BYTES {
                buffer.drain(..buffer.len() - OUTPUT_TAIL_BYTES);
            }
        }
        buffer
    });
    if let Some(mut pipe) = child.stdin.take() {
        // A process that ignores stdin may exit before reading it; that is fine.
        tokio::spawn(async move {
            let _ = pipe.write_all(&stdin).await;
            let _ = pipe.shutdown().await;
        });
    }
    let pid = child.id();
    let status = tokio::time::timeout_at(deadline, child.wait()).await;
    let timed_out = status.is_err();
    if timed_out && let Some(pid) = pid {
        kill_group(pid);
    }
    // Output left open by a background process must not hold the node up for long.
    let wait_for_output = if timed_out { Duration::from_secs(5) } else { Duration::from_secs(1) };
    if let Ok(Ok(captured)) = tokio::time::timeout(wait_for_output, reading).await {
        output.extend_from_slice(&captured);
    }
    match status {
        Ok(Ok(status)) => Ok(status.code()),
        Ok(Err(err)) => Err(ProcessError::Spawn(format!("waiting for {program}: {err}"))),
        Err(_) => Err(ProcessError::TimedOut),
    }
}

/// The materialized package directory a script lives in (`.../packages/NAME-TREEID/`).
fn package_root(mut dir: &Path) -> Option<&Path> {
    loop {
        let parent = dir.parent()?;
        if parent.file_name().is_some_and(|name| name == "packages") {
            return Some(dir);
        }
        dir = parent;
    }
}

fn kill_group(pid: u32) {
    // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}

fn tail(bytes: &[u8], limit: usize) -> &[u8] {
    if bytes.len() <= limit {
        return bytes;
    }
    let mut start = bytes.len() - limit;
    // Start the tail at a line boundary when one is near, so it reads cleanly.
    if let Some(newline) = bytes[start..].iter().position(|&byte| byte == b'\n')
        && newline < 200
    {
        start += newline + 1;
    }
    &bytes[start..]
}

/// Holds the node's lock file, so two jobs never run the same node at once.
struct NodeLock(#[allow(dead_code)] std::fs::File);

async fn lock_node(state_dir: &Path, node: &str, wait: Duration) -> Result<NodeLock, String> {
    let dir = state_dir.join("locks").join("nodes");
    std::fs::create_dir_all(&dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let path = dir.join(format!("{node}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|err| format!("cannot open {}: {err}", path.display()))?;
    let give_up = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(NodeLock(file)),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < give_up => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(format!("node {node} is being run by another job"));
            }
            Err(std::fs::TryLockError::Error(err)) => return Err(format!("cannot lock {}: {err}", path.display())),
        }
    }
}
