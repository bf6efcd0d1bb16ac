//! The embedded state store: one SQLite file under the state directory.
//!
//! It owns the on-disk schema and its migrations (tracked in `PRAGMA user_version`), and is
//! the only module that knows it. It holds environments with their last-attempted and
//! last-applied revisions, the inventory of applied components (digests, never secret
//! values), and jobs with their node results. Every write is its own transaction, so a
//! crash at any point leaves a state the next run can continue from.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::plan::{AppliedComponent, Inventory};

/// The store's file name inside the state directory.
pub const STATE_FILE: &str = "state.db";

/// Schema migrations; migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: environments, the inventory, jobs and node results.
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE environments (
         name TEXT PRIMARY KEY,
         last_attempted_revision TEXT,
         last_applied_revision TEXT,
         updated_at TEXT NOT NULL
     );
     CREATE TABLE applied_components (
         environment TEXT NOT NULL,
         component TEXT NOT NULL,
         node TEXT NOT NULL,
         record TEXT NOT NULL,
         job_id INTEGER,
         applied_at TEXT NOT NULL,
         PRIMARY KEY (environment, component, node)
     );
     CREATE TABLE jobs (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         environment TEXT NOT NULL,
         revision TEXT NOT NULL,
         kind TEXT NOT NULL,
         state TEXT NOT NULL,
         started_at TEXT NOT NULL,
         finished_at TEXT,
         summary TEXT NOT NULL DEFAULT ''
     );
     CREATE TABLE node_results (
         job_id INTEGER NOT NULL REFERENCES jobs (id),
         node TEXT NOT NULL,
         phase TEXT NOT NULL,
         group_index INTEGER NOT NULL,
         state TEXT NOT NULL,
         started_at TEXT NOT NULL,
         finished_at TEXT NOT NULL,
         duration_ms INTEGER NOT NULL,
         components TEXT NOT NULL,
         output TEXT NOT NULL,
         PRIMARY KEY (job_id, node, phase)
     );",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// An environment's revisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvironmentRecord {
    pub name: String,
    pub last_attempted_revision: Option<String>,
    pub last_applied_revision: Option<String>,
}

/// A job as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRecord {
    pub id: i64,
    pub environment: String,
    pub revision: String,
    pub kind: String,
    pub state: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub summary: String,
}

/// One node's result within a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeResultRecord {
    pub node: String,
    /// `apply`, `noop` or `teardown`.
    pub phase: String,
    pub group_index: i64,
    pub state: String,
    /// When the node started and finished, RFC 3339 with microseconds.
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: i64,
    /// Per component: reference, action, result.
    pub components: serde_json::Value,
    /// The tail of the node's output, secrets masked.
    pub output: String,
}

impl Store {
    /// Opens the store for writing, creating and migrating it as needed.
    pub fn open(state_dir: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(state_dir).with_context(|| format!("creating {}", state_dir.display()))?;
        let path = state_dir.join(STATE_FILE);
        check_header(&path)?;
        let conn = Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let mut store = Store { conn, path };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing store without changing it; `None` when there is none yet.
    pub fn open_read_only(state_dir: &Path) -> anyhow::Result<Option<Store>> {
        let path = state_dir.join(STATE_FILE);
        if !path.exists() {
            return Ok(None);
        }
        check_header(&path)?;
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("opening {}", path.display()))?;
        let store = Store { conn, path };
        let version = store.schema_version()?;
        store.check_version(version)?;
        if version < SCHEMA_VERSION {
            bail!(
                "state file {} has schema version {version}; run `ordo apply` once to migrate it to {SCHEMA_VERSION}",
                store.path.display()
            );
        }
        Ok(Some(store))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&self) -> anyhow::Result<()> {
        self.conn
            // A rollback journal: a reader then creates no files beside the store, so reading
            // it (as `plan` does) leaves the state directory exactly as it was; FULL sync makes
            // every committed record survive a crash or power loss.
            .execute_batch("PRAGMA journal_mode = DELETE; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;")
            .map_err(|err| self.corrupt(err))
    }

    fn corrupt(&self, err: rusqlite::Error) -> anyhow::Error {
        anyhow::anyhow!("state file {} is not a valid ordo state store: {err}", self.path.display())
    }

    fn schema_version(&self) -> anyhow::Result<i64> {
        self.conn.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(|err| self.corrupt(err))
    }

    fn check_version(&self, version: i64) -> anyhow::Result<()> {
        if version > SCHEMA_VERSION {
            bail!(
                "state file {} has schema version {version}, newer than this ordo understands ({SCHEMA_VERSION}); use a newer ordo",
                self.path.display()
            );
        }
        Ok(())
    }

    fn migrate(&mut self) -> anyhow::Result<()> {
        let version = self.schema_version()?;
        self.check_version(version)?;
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(migration)
                .with_context(|| format!("migrating the state store to version {}", index + 1))?;
            tx.pragma_update(None, "user_version", index as i64 + 1)?;
            tx.commit()?;
        }
        let has_salt: bool =
            self.conn.query_row("SELECT COUNT(*) FROM settings WHERE key = 'salt'", [], |row| row.get::<_, i64>(0))?
                > 0;
        if !has_salt {
            self.conn.execute("INSERT INTO settings (key, value) VALUES ('salt', ?1)", params![random_hex()?])?;
        }
        Ok(())
    }

    /// The salt for digests of secret values, unique to this store.
    pub fn salt(&self) -> anyhow::Result<Vec<u8>> {
        let salt: String =
            self.conn.query_row("SELECT value FROM settings WHERE key = 'salt'", [], |row| row.get(0))?;
        Ok(salt.into_bytes())
    }

    pub fn environment(&self, name: &str) -> anyhow::Result<Option<EnvironmentRecord>> {
        Ok(self
            .conn
            .query_row(
                "SELECT name, last_attempted_revision, last_applied_revision FROM environments WHERE name = ?1",
                params![name],
                |row| {
                    Ok(EnvironmentRecord {
                        name: row.get(0)?,
                        last_attempted_revision: row.get(1)?,
                        last_applied_revision: row.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// Everything applied in an environment.
    pub fn inventory(&self, environment: &str) -> anyhow::Result<Inventory> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT record FROM applied_components WHERE environment = ?1 ORDER BY component, node")?;
        let mut inventory = Inventory {
            revision: self.environment(environment)?.and_then(|record| record.last_applied_revision),
            ..Inventory::default()
        };
        let rows = statement.query_map(params![environment], |row| row.get::<_, String>(0))?;
        for row in rows {
            let record: AppliedComponent = serde_json::from_str(&row?).context("reading an applied component")?;
            inventory.components.insert((record.reference.clone(), record.node.clone()), record);
        }
        Ok(inventory)
    }

    /// Starts a job; for a real run, also records the revision as last attempted.
    pub fn start_job(&self, environment: &str, revision: &str, kind: &str) -> anyhow::Result<i64> {
        let now = now();
        if kind != "noop" {
            self.conn.execute(
                "INSERT INTO environments (name, last_attempted_revision, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET last_attempted_revision = ?2, updated_at = ?3",
                params![environment, revision, now],
            )?;
        }
        self.conn.execute(
            "INSERT INTO jobs (environment, revision, kind, state, started_at) VALUES (?1, ?2, ?3, 'running', ?4)",
            params![environment, revision, kind, now],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Marks jobs left running by a process that is gone; called with the environment lock held.
    pub fn mark_interrupted(&self, environment: &str) -> anyhow::Result<usize> {
        Ok(self.conn.execute(
            "UPDATE jobs SET state = 'interrupted', finished_at = ?2,
                 summary = 'interrupted: the process running it stopped before it finished'
             WHERE environment = ?1 AND state = 'running'",
            params![environment, now()],
        )?)
    }

    pub fn record_applied(&self, environment: &str, job_id: i64, record: &AppliedComponent) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO applied_components (environment, component, node, record, job_id, applied_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![environment, record.reference, record.node, serde_json::to_string(record)?, job_id, now()],
        )?;
        Ok(())
    }

    pub fn record_removed(&self, environment: &str, component: &str, node: &str) -> anyhow::Result<()> {
        self.conn.execute(
            "DELETE FROM applied_components WHERE environment = ?1 AND component = ?2 AND node = ?3",
            params![environment, component, node],
        )?;
        Ok(())
    }

    pub fn record_node_result(&self, job_id: i64, result: &NodeResultRecord) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO node_results
                 (job_id, node, phase, group_index, state, started_at, finished_at, duration_ms, components, output)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                job_id,
                result.node,
                result.phase,
                result.group_index,
                result.state,
                result.started_at,
                result.finished_at,
                result.duration_ms,
                result.components.to_string(),
                result.output
            ],
        )?;
        Ok(())
    }

    /// Finishes a job; `applied_revision` is set when the environment is now fully at it.
    pub fn finish_job(
        &self,
        job_id: i64,
        environment: &str,
        state: &str,
        summary: &str,
        applied_revision: Option<&str>,
    ) -> anyhow::Result<()> {
        let now = now();
        self.conn.execute(
            "UPDATE jobs SET state = ?2, summary = ?3, finished_at = ?4 WHERE id = ?1",
            params![job_id, state, summary, now],
        )?;
        if let Some(revision) = applied_revision {
            self.conn.execute(
                "INSERT INTO environments (name, last_applied_revision, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET last_applied_revision = ?2, updated_at = ?3",
                params![environment, revision, now],
            )?;
        }
        Ok(())
    }

    /// The most recent jobs, newest first.
    pub fn jobs(&self, limit: usize) -> anyhow::Result<Vec<JobRecord>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id, environment, revision, kind, state, started_at, finished_at, summary
             FROM jobs ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = statement.query_map(params![limit as i64], job_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One job and its node results, in run order.
    pub fn job(&self, id: i64) -> anyhow::Result<Option<(JobRecord, Vec<NodeResultRecord>)>> {
        let Some(job) = self
            .conn
            .query_row(
                "SELECT id, environment, revision, kind, state, started_at, finished_at, summary FROM jobs WHERE id = ?1",
                params![id],
                job_from_row,
            )
            .optional()?
        else {
            return Ok(None);
        };
        let mut statement = self.conn.prepare_cached(
            "SELECT node, phase, group_index, state, started_at, finished_at, duration_ms, components, output
             FROM node_results WHERE job_id = ?1 ORDER BY phase = 'teardown', group_index, node",
        )?;
        let rows = statement.query_map(params![id], |row| {
            Ok(NodeResultRecord {
                node: row.get(0)?,
                phase: row.get(1)?,
                group_index: row.get(2)?,
                state: row.get(3)?,
                started_at: row.get(4)?,
                finished_at: row.get(5)?,
                duration_ms: row.get(6)?,
                components: serde_json::from_str(&row.get::<_, String>(7)?).unwrap_or_default(),
                output: row.get(8)?,
            })
        })?;
        Ok(Some((job, rows.collect::<Result<_, _>>()?)))
    }

    /// Runs several writes as one transaction (for bulk recording).
    pub fn transaction<T>(&mut self, write: impl FnOnce(&Store) -> anyhow::Result<T>) -> anyhow::Result<T> {
        self.conn.execute_batch("BEGIN")?;
        match write(self) {
            Ok(value) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(value)
            }
            Err(err) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(err)
            }
        }
    }
}

/// Refuses a file that is not an SQLite database, or whose schema is newer than this build,
/// before SQLite opens it: opening creates journal files next to it, and a refused file
/// must be left exactly as it was.
fn check_header(path: &Path) -> anyhow::Result<()> {
    use std::io::Read;
    let mut header = Vec::with_capacity(100);
    match std::fs::File::open(path) {
        Ok(file) => {
            file.take(100).read_to_end(&mut header).with_context(|| format!("reading {}", path.display()))?;
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err).with_context(|| format!("opening {}", path.display())),
    }
    if header.is_empty() {
        return Ok(()); // A new, empty file: SQLite will initialise it.
    }
    if header.len() < 100 || !header.starts_with(b"SQLite format 3\0") {
        bail!("state file {} is not a valid ordo state store: it is not an SQLite database", path.display());
    }
    let version = i64::from(u32::from_be_bytes(header[60..64].try_into().expect("the slice has four bytes")));
    if version > SCHEMA_VERSION {
        bail!(
            "state file {} has schema version {version}, newer than this ordo understands ({SCHEMA_VERSION}); use a newer ordo",
            path.display()
        );
    }
    Ok(())
}

fn job_from_row(row: &rusqlite::Row) -> rusqlite::Result<JobRecord> {
    Ok(JobRecord {
        id: row.get(0)?,
        environment: row.get(1)?,
        revision: row.get(2)?,
        kind: row.get(3)?,
        state: row.get(4)?,
        started_at: row.get(5)?,
        finished_at: row.get(6)?,
        summary: row.get(7)?,
    })
}

fn random_hex() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut bytes))
        .context("reading /dev/urandom for the store's salt")?;
    Ok(crate::plan::inventory::hex(&bytes))
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
    }

    #[test]
    fn newer_and_corrupt_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(STATE_FILE)).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        drop(conn);
        let err = Store::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("newer than this ordo understands"), "{err}");

        let corrupt = tempfile::tempdir().unwrap();
        std::fs::write(corrupt.path().join(STATE_FILE), b"this is not a database, not at all").unwrap();
        let err = Store::open_read_only(corrupt.path()).err().unwrap().to_string();
        assert!(err.contains("is not a valid ordo state store"), "{err}");
    }
}
