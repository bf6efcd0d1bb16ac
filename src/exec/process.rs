//! Child processes on this machine: each in its own process group, stdin fed, stdout and
//! stderr read into the node's [`Output`] as they are written, stopped at a deadline or on
//! cancellation with their whole group.
//!
//! Output is read until the process exits and then only for a short drain: a background
//! child that inherited stdout does not hold the node up, and what it wrote before is kept.

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::output::Output;

/// How long output is still read after the process exited.
const DRAIN: Duration = Duration::from_millis(300);

/// How long a cancelled process gets between SIGTERM and SIGKILL.
pub const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// Why a process gave no exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessError {
    Spawn(String),
    TimedOut,
    Cancelled,
}

/// A process that ran: its exit code (`None` when a signal ended it) and its process group,
/// which background children it left may still be in.
pub struct Finished {
    pub code: Option<i32>,
    pub group: Option<u32>,
}

/// Runs a command in its own process group with `stdin` fed to it, appending its output
/// (stdout and stderr interleaved) to `output` as it is written. At the deadline the whole
/// group is killed; on cancellation it gets SIGTERM, then SIGKILL after [`CANCEL_GRACE`].
///
/// Feeding stdin and reading output happen in this call's own future, beside waiting for
/// the process: nothing outlives the call, and no thread is started per process.
pub async fn run(
    mut command: std::process::Command,
    stdin: Vec<u8>,
    deadline: Instant,
    cancel: &CancellationToken,
    output: &Arc<Mutex<Output>>,
) -> Result<Finished, ProcessError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let pipe_error = |err: std::io::Error| ProcessError::Spawn(format!("cannot create a pipe: {err}"));
    let (reader, writer) = std::io::pipe().map_err(pipe_error)?;
    let stderr_writer = writer.try_clone().map_err(pipe_error)?;
    command.stdin(Stdio::piped()).stdout(writer).stderr(stderr_writer).process_group(0);
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    let mut child = command.spawn().map_err(|err| ProcessError::Spawn(format!("cannot run {program}: {err}")))?;
    // The parent's copies of the pipe's write ends live in `command`; dropping it lets the
    // reader see end-of-file when the process (and anything it started) is done.
    drop(command);
    let reader = pipe::Receiver::from_owned_fd(OwnedFd::from(reader)).map_err(pipe_error)?;
    let group = child.id();
    let mut feeding = std::pin::pin!(feed(child.stdin.take(), stdin));
    let mut reading = std::pin::pin!(read_into(reader, output));
    let mut waiting = std::pin::pin!(wait(&mut child, group, &program, deadline, cancel));
    let (mut fed, mut read) = (false, false);
    let ended = loop {
        tokio::select! {
            ended = &mut waiting => break ended,
            () = &mut feeding, if !fed => fed = true,
            () = &mut reading, if !read => read = true,
        }
    };
    // Output left open by a background process must not hold the node up: after the
    // process ended, the rest is read for a moment only.
    if !read {
        let _ = tokio::time::timeout(DRAIN, reading).await;
    }
    ended.map(|code| Finished { code, group })
}

/// Writes `stdin` to the process and closes it. A process that ignores stdin may exit
/// before reading it; that is fine, the pipe then breaks.
async fn feed(pipe: Option<tokio::process::ChildStdin>, stdin: Vec<u8>) {
    if let Some(mut pipe) = pipe {
        let _ = pipe.write_all(&stdin).await;
        let _ = pipe.shutdown().await;
    }
}

/// Appends what the pipe delivers to `output` as it arrives, until end-of-file.
async fn read_into(mut reader: pipe::Receiver, output: &Mutex<Output>) {
    let mut chunk = [0u8; 8192];
    while let Ok(n) = reader.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        output.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(&chunk[..n]);
    }
}

/// Waits for the process to exit, killing its group at the deadline or on cancellation.
async fn wait(
    child: &mut tokio::process::Child,
    group: Option<u32>,
    program: &str,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Result<Option<i32>, ProcessError> {
    tokio::select! {
        status = tokio::time::timeout_at(deadline, child.wait()) => match status {
            Ok(Ok(status)) => Ok(status.code()),
            Ok(Err(err)) => Err(ProcessError::Spawn(format!("waiting for {program}: {err}"))),
            Err(_) => {
                if let Some(group) = group {
                    kill_group(group, libc::SIGKILL);
                }
                let _ = child.wait().await;
                Err(ProcessError::TimedOut)
            }
        },
        () = cancel.cancelled() => {
            if let Some(group) = group {
                kill_group(group, libc::SIGTERM);
            }
            if tokio::time::timeout(CANCEL_GRACE, child.wait()).await.is_err()
                && let Some(group) = group
            {
                kill_group(group, libc::SIGKILL);
                let _ = child.wait().await;
            }
            Err(ProcessError::Cancelled)
        }
    }
}

/// Sends a signal to a process group.
pub fn kill_group(group: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory.
    unsafe {
        libc::kill(-(group as i32), signal);
    }
}
