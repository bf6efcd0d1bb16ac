//! Child processes on this machine: each in its own process group, stdin fed, stdout and
//! stderr read into the node's [`Output`] as they are written, stopped at a deadline or on
//! cancellation with their whole group.
//!
//! Output is read until the process exits and then only for a short drain: a background
//! child that inherited stdout does not hold the node up, and what it wrote before is kept.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

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

/// A child process whose output is being read into an [`Output`].
struct Spawned {
    child: tokio::process::Child,
    /// Fires when the output pipe reached its end (the process and anything it started
    /// are done with it).
    done: tokio::sync::oneshot::Receiver<()>,
}

impl Spawned {
    /// Waits a moment for the last of the output after the process exited: output left
    /// open by a background process must not hold the node up.
    async fn drain(self) {
        let _ = tokio::time::timeout(DRAIN, self.done).await;
    }
}

/// Starts a command in its own process group, stdin piped, appending its output (stdout
/// and stderr interleaved) to `output` as it is written.
fn spawn(mut command: std::process::Command, output: &Arc<Mutex<Output>>) -> Result<Spawned, ProcessError> {
    let (reader, writer) =
        std::io::pipe().map_err(|err| ProcessError::Spawn(format!("cannot create a pipe: {err}")))?;
    let stderr_writer =
        writer.try_clone().map_err(|err| ProcessError::Spawn(format!("cannot create a pipe: {err}")))?;
    command.stdin(Stdio::piped()).stdout(writer).stderr(stderr_writer).process_group(0);
    let program = command.get_program().to_string_lossy().into_owned();
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    let child = command.spawn().map_err(|err| ProcessError::Spawn(format!("cannot run {program}: {err}")))?;
    // The parent's copies of the pipe's write ends live in `command`; dropping it lets the
    // reader see end-of-file when the process (and anything it started) is done.
    drop(command);
    let (done_sender, done) = tokio::sync::oneshot::channel::<()>();
    let sink = Arc::clone(output);
    // The reader appends as it reads, so whatever was written is kept even when a
    // background child holds the pipe open long after the process exited.
    std::thread::spawn(move || {
        let mut reader = reader;
        let mut chunk = [0u8; 8192];
        while let Ok(n) = reader.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(&chunk[..n]);
        }
        let _ = done_sender.send(());
    });
    Ok(Spawned { child, done })
}

/// Runs a command in its own process group with `stdin` fed to it, appending its output
/// (stdout and stderr interleaved) to `output`. At the deadline the whole group is killed;
/// on cancellation it gets SIGTERM, then SIGKILL after [`CANCEL_GRACE`].
pub async fn run(
    command: std::process::Command,
    stdin: Vec<u8>,
    deadline: Instant,
    cancel: &CancellationToken,
    output: &Arc<Mutex<Output>>,
) -> Result<Finished, ProcessError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut spawned = spawn(command, output)?;
    let child = &mut spawned.child;
    // A process that ignores stdin may exit before reading it; that is fine. The writer
    // ends with the process, since its pipe then breaks, and at the latest with this call.
    let _writer = child.stdin.take().map(|mut pipe| {
        AbortOnDropHandle::new(tokio::spawn(async move {
            let _ = pipe.write_all(&stdin).await;
            let _ = pipe.shutdown().await;
        }))
    });
    let group = child.id();
    let ended = tokio::select! {
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
    };
    spawned.drain().await;
    ended.map(|code| Finished { code, group })
}

/// Sends a signal to a process group.
pub fn kill_group(group: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory.
    unsafe {
        libc::kill(-(group as i32), signal);
    }
}
