//! The state store: environments with their revisions, the inventory of applied components,
//! jobs with their node results, the previews of pull requests, and the outbox of posts to
//! forges.
//!
//! [`Store`] is the interface the engine, the controller and the command line use; a backend
//! implements it and is the only code that knows its on-disk schema. The embedded backend,
//! [`sqlite::SqliteStore`], keeps everything in one SQLite file under the state directory.
//! Every write is a transaction of its own (or one batch, for [`Store::record`]), so a crash
//! at any point leaves a state the next run can continue from.

pub mod records;
mod sqlite;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

pub use records::*;
pub use sqlite::{SCHEMA_VERSION, SqliteStore};

use crate::plan::{AppliedComponent, Inventory, Unchanged};
use crate::state_dir::StateDir;

/// One write of a running job, recorded with others in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum JobWrite {
    /// A component converged: it is now applied as recorded.
    Applied(Box<AppliedComponent>),
    /// A component was torn down from a node.
    Removed { component: String, node: String },
    /// A node's result so far: written when it starts, again as components finish, and
    /// a last time when it ends.
    NodeResult(NodeResultRecord),
    /// An availability check's attempts and result.
    Check(CheckRecord),
}

/// A state store backend.
pub trait Store: Send {
    /// Where the store is, for messages (`/var/lib/ordo/state.db`).
    fn location(&self) -> String;

    /// The key of the store's digests of secret values: the same for every job, so a
    /// secret that did not change digests the same.
    fn secret_key(&self) -> anyhow::Result<Vec<u8>>;

    fn environment(&self, name: &str) -> anyhow::Result<Option<EnvironmentRecord>>;

    /// Every environment that has a record, by name.
    fn environments(&self) -> anyhow::Result<Vec<EnvironmentRecord>>;

    /// Everything applied in an environment.
    fn inventory(&self, environment: &str) -> anyhow::Result<Inventory> {
        self.inventory_except(environment, None)
    }

    /// What is applied in an environment, for planning a model against: the components
    /// `unchanged` names (same node, same digest) are only listed in
    /// [`Inventory::unchanged`], without their records; every other record is read whole.
    fn inventory_except(&self, environment: &str, unchanged: Option<&Unchanged>) -> anyhow::Result<Inventory>;

    /// Records a job that has not started yet.
    fn queue_job(&mut self, job: &NewJob) -> anyhow::Result<JobId>;

    /// Starts a queued job at a revision, with the plan it runs (as `plan --format json`).
    /// A run that changes things also records the revision as the environment's last attempted.
    fn start_job(&mut self, id: JobId, revision: &str, plan: Option<&str>) -> anyhow::Result<()>;

    /// Writes a batch of a running job's results in one transaction.
    fn record(&mut self, id: JobId, environment: &str, writes: &[JobWrite]) -> anyhow::Result<()>;

    /// Ends a job.
    fn finish_job(&mut self, id: JobId, finish: &JobFinish) -> anyhow::Result<()>;

    /// Marks the jobs of an environment that a process left running as interrupted, with
    /// their running nodes, and releases their node locks; called with the environment's
    /// lock held.
    fn interrupt_jobs(&mut self, environment: &str) -> anyhow::Result<usize>;

    /// Records which process runs a job (`HOST:PID`), so others can tell it is alive.
    fn set_job_owner(&mut self, id: JobId, owner: &str) -> anyhow::Result<()>;

    /// Asks the process running a job to cancel it; it polls [`Store::cancel_requested`].
    fn request_cancel(&mut self, id: JobId) -> anyhow::Result<CancelRequest>;

    /// Whether someone asked to cancel a job.
    fn cancel_requested(&self, id: JobId) -> anyhow::Result<bool>;

    /// Takes the locks of `nodes` for a job until `expires_at` (milliseconds since the
    /// epoch), all or none: locks of other jobs still valid at `now` are returned and
    /// nothing is taken; expired ones are taken over.
    fn lock_nodes(
        &mut self,
        job: JobId,
        owner: &str,
        nodes: &[String],
        now: i64,
        expires_at: i64,
    ) -> anyhow::Result<Vec<NodeLockRecord>>;

    /// Extends the lease of a job's node locks.
    fn renew_node_locks(&mut self, job: JobId, expires_at: i64) -> anyhow::Result<()>;

    /// Releases every node lock of a job.
    fn release_node_locks(&mut self, job: JobId) -> anyhow::Result<()>;

    /// Every node lock, by node.
    fn node_locks(&self) -> anyhow::Result<Vec<NodeLockRecord>>;

    /// Marks every queued job as interrupted; called by a controller as it starts, before
    /// it queues anything itself.
    fn interrupt_queued(&mut self) -> anyhow::Result<usize>;

    /// Jobs, newest first.
    fn jobs(&self, query: &JobQuery) -> anyhow::Result<Vec<JobRecord>>;

    /// One job with its node results (in run order) and its plan.
    fn job(&self, id: JobId) -> anyhow::Result<Option<JobDetail>>;

    /// Records a pull request's preview of an environment, replacing the one before.
    fn save_preview(&mut self, preview: &PreviewDetail) -> anyhow::Result<()>;

    /// A pull request's preview of one environment.
    fn preview(&self, number: u64, environment: &str) -> anyhow::Result<Option<PreviewDetail>>;

    /// A pull request's previews, one per environment, by environment.
    fn previews(&self, number: u64) -> anyhow::Result<Vec<PreviewDetail>>;

    /// The previews updated last, newest first, without their comments and plans.
    fn recent_previews(&self, limit: usize) -> anyhow::Result<Vec<PreviewRecord>>;

    /// Adds a post to the outbox.
    fn outbox_push(&mut self, target: &str, context: &str, body: &str) -> anyhow::Result<PostId>;

    /// The posts due for delivery at `now` (milliseconds since the epoch): for each target
    /// and context, only the oldest undelivered one, so their order is kept.
    fn outbox_due(&self, now: i64, limit: usize) -> anyhow::Result<Vec<PostRecord>>;

    /// When the next undelivered post is due (milliseconds since the epoch), if any.
    fn outbox_next_due(&self) -> anyhow::Result<Option<i64>>;

    /// The body of the last post delivered for a target and context.
    fn outbox_last_delivered(&self, target: &str, context: &str) -> anyhow::Result<Option<String>>;

    /// Marks a post delivered, or skipped when it said nothing new.
    fn outbox_done(&mut self, id: PostId, skipped: bool) -> anyhow::Result<()>;

    /// Records a failed delivery and when to try again.
    fn outbox_retry(&mut self, id: PostId, next_attempt: i64, error: &str) -> anyhow::Result<()>;

    /// How many posts wait to be delivered.
    fn outbox_backlog(&self) -> anyhow::Result<usize>;
}

/// A store shared by the tasks of a process: the engine's recorder, the controller's
/// queues and its API each lock it for one call at a time.
pub type SharedStore = Arc<Mutex<Box<dyn Store>>>;

/// Locks a shared store; a panic while it was held does not make it unusable, since every
/// write is a transaction that either committed or did not.
pub fn lock(store: &SharedStore) -> MutexGuard<'_, Box<dyn Store>> {
    store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Opens the state directory's store for writing, creating and migrating it as needed.
pub fn open(state: &StateDir) -> anyhow::Result<Box<dyn Store>> {
    Ok(Box::new(SqliteStore::open(state)?))
}

/// Opens the state directory's store without changing it; `None` when there is none yet.
pub fn open_read_only(state: &StateDir) -> anyhow::Result<Option<Box<dyn Store>>> {
    Ok(SqliteStore::open_read_only(state)?.map(|store| Box::new(store) as Box<dyn Store>))
}

/// The current time in milliseconds since the epoch, as leases count it.
pub fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}

/// The current time as RFC 3339 UTC with milliseconds.
pub fn now() -> String {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    format_timestamp(elapsed.as_secs() as i64, elapsed.subsec_millis())
}

/// A time as RFC 3339 UTC with microseconds, for node runs measured to the microsecond.
pub fn precise_timestamp(time: SystemTime) -> String {
    let elapsed = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let text = format_timestamp(elapsed.as_secs() as i64, 0);
    format!("{}.{:06}Z", &text[..text.len() - 5], elapsed.subsec_micros())
}

/// Milliseconds since the epoch of a timestamp as [`now`] and [`precise_timestamp`] write
/// them (`2026-11-18T11:06:40.005Z`, `...40.000042Z`); `None` for anything else.
pub fn timestamp_millis(text: &str) -> Option<i64> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let mut date_parts = date.splitn(3, '-').map(|part| part.parse::<i64>().ok());
    let (year, month, day) = (date_parts.next()??, date_parts.next()??, date_parts.next()??);
    let (clock, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut clock_parts = clock.splitn(3, ':').map(|part| part.parse::<i64>().ok());
    let (hour, minute, second) = (clock_parts.next()??, clock_parts.next()??, clock_parts.next()??);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let millis: i64 = format!("{fraction:0<3}").get(..3)?.parse().ok()?;
    // Days since 1970-01-01 from the civil date (Howard Hinnant's algorithm).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000) + millis)
}

fn format_timestamp(seconds: i64, millis: u32) -> String {
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(format_timestamp(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_timestamp(1_795_000_000, 5), "2026-11-18T11:06:40.005Z");
        let time = UNIX_EPOCH + std::time::Duration::from_micros(1_795_000_000_000_042);
        assert_eq!(precise_timestamp(time), "2026-11-18T11:06:40.000042Z");
        assert_eq!(timestamp_millis("2026-11-18T11:06:40.005Z"), Some(1_795_000_000_005));
        assert_eq!(timestamp_millis("2026-11-18T11:06:40.000042Z"), Some(1_795_000_000_000));
        assert_eq!(timestamp_millis("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(timestamp_millis("yesterday"), None);
    }
}
