//! A running job's hold on its nodes, and its ear for cancel requests.
//!
//! Node locks live in the store with an owner (`HOST:PID`) and a lease: the job renews the
//! lease while it runs, so a process that died (even by `kill -9`) holds its nodes only
//! until the lease runs out; a holder on this host whose process is gone loses them at
//! once, and the next job in its environment releases them when it marks it interrupted.
//! The same watch polls the store for `ordo job cancel`, so a job is cancelled alike
//! whether it runs under `ordo apply` or in the controller.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::exec::Stop;
use crate::store::{self, JobId, NodeLockRecord, SharedStore};

/// How long a lock holds without renewal.
const LEASE: Duration = Duration::from_secs(60);

/// How often the lease is renewed.
const RENEW_EVERY: Duration = Duration::from_secs(15);

/// How often the store is asked whether the job was cancelled.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// This process, as lock owners and jobs name it: `HOST:PID`.
pub fn owner() -> String {
    format!("{}:{}", hostname(), std::process::id())
}

fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer it is given.
    let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if result != 0 {
        return "localhost".to_string();
    }
    let end = buffer.iter().position(|byte| *byte == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// Whether the process an owner names is gone: only a process on this host can be asked.
pub fn owner_is_gone(owner: &str) -> bool {
    let Some((host, pid)) = owner.rsplit_once(':') else { return false };
    let Ok(pid) = pid.parse::<i32>() else { return false };
    if host != hostname() || pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks that the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Takes the locks of a job's nodes, all at once, waiting up to `wait_secs` for other jobs
/// to release them.
pub async fn lock_nodes(
    store: &SharedStore,
    job: JobId,
    nodes: &[String],
    wait_secs: u64,
    cancel: &CancellationToken,
) -> Result<(), Stop> {
    let owner = owner();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(wait_secs);
    loop {
        let now = store::now_millis();
        let held = store::lock(store)
            .lock_nodes(job, &owner, nodes, now, now + LEASE.as_millis() as i64)
            .map_err(|err| Stop::Setup { message: format!("locking the nodes: {err:#}") })?;
        let Some(first) = held.first() else { return Ok(()) };
        // A holder whose process is gone cannot release its locks itself.
        let gone: Vec<&NodeLockRecord> = held.iter().filter(|lock| owner_is_gone(&lock.owner)).collect();
        if !gone.is_empty() {
            let mut store = store::lock(store);
            for lock in gone {
                store
                    .release_node_locks(lock.job)
                    .map_err(|err| Stop::Setup { message: format!("releasing a dead job's locks: {err:#}") })?;
            }
            continue;
        }
        if tokio::time::Instant::now() >= give_up {
            return Err(Stop::Setup {
                message: format!(
                    "node {} is being run by job {} ({}); its lease ends in {}s unless renewed",
                    first.node,
                    first.job,
                    first.owner,
                    (first.expires_at - now).max(0) / 1000
                ),
            });
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            () = cancel.cancelled() => return Err(Stop::Cancelled),
        }
    }
}

/// The watch of a running job: renews its leases and cancels it when asked to.
pub struct Watch {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    pub fn start(store: SharedStore, job: JobId, cancel: CancellationToken) -> Watch {
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut last_renewal = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    () = tokio::time::sleep(POLL_EVERY) => {}
                    () = stopped.cancelled() => return,
                }
                let store_for_call = store.clone();
                let renew = last_renewal.elapsed() >= RENEW_EVERY;
                // The store is a file: ask it on a blocking thread.
                let asked = tokio::task::spawn_blocking(move || {
                    let mut store = store::lock(&store_for_call);
                    if renew {
                        let _ = store.renew_node_locks(job, store::now_millis() + LEASE.as_millis() as i64);
                    }
                    store.cancel_requested(job).unwrap_or(false)
                })
                .await
                .unwrap_or(false);
                if renew {
                    last_renewal = tokio::time::Instant::now();
                }
                if asked && !cancel.is_cancelled() {
                    tracing::info!(job, "cancel requested");
                    cancel.cancel();
                }
            }
        });
        Watch { stop, task }
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}
