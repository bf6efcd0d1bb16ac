//! The embedded store: one SQLite file, `STATE/state.db`.
//!
//! It owns the schema and its migrations (`MIGRATIONS`, tracked in `PRAGMA user_version`),
//! refuses a file written by a newer ordo, and opens read-only for commands that only read.
//! The file uses SQLite's rollback journal, so reading it creates no file beside it.
//!
//! A new store is built under a temporary name and renamed into place, so `state.db` is
//! never an empty file ordo made: an empty or truncated one is refused, never taken for a
//! new store (which would forget every applied component). A journal left by a crash is
//! rolled back before reading, as SQLite does for a writer. The key of the secret digests
//! lives in `state.key` beside the store, and both files are readable by their owner only.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::records::*;
use super::{JobWrite, Store, now};
use crate::plan::{AppliedComponent, Inventory, Unchanged};
use crate::state_dir::StateDir;

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
    // 2: queued jobs with their trigger, plan and diagnostics; node results of nodes still
    // running; jobs listed per environment.
    "CREATE TABLE jobs_v2 (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         environment TEXT NOT NULL,
         revision TEXT NOT NULL,
         kind TEXT NOT NULL,
         trigger TEXT NOT NULL,
         state TEXT NOT NULL,
         queued_at TEXT NOT NULL,
         started_at TEXT,
         finished_at TEXT,
         summary TEXT NOT NULL DEFAULT '',
         plan TEXT,
         diagnostics TEXT
     );
     INSERT INTO jobs_v2 (id, environment, revision, kind, trigger, state, queued_at, started_at, finished_at, summary)
         SELECT id, environment, revision, kind, 'cli', state, started_at, started_at, finished_at, summary FROM jobs;
     DROP TABLE jobs;
     ALTER TABLE jobs_v2 RENAME TO jobs;
     CREATE INDEX jobs_by_environment ON jobs (environment, id);
     CREATE TABLE node_results_v2 (
         job_id INTEGER NOT NULL REFERENCES jobs (id),
         node TEXT NOT NULL,
         phase TEXT NOT NULL,
         group_index INTEGER NOT NULL,
         state TEXT NOT NULL,
         started_at TEXT NOT NULL,
         finished_at TEXT,
         duration_ms INTEGER NOT NULL,
         components TEXT NOT NULL,
         output TEXT NOT NULL,
         PRIMARY KEY (job_id, node, phase)
     );
     INSERT INTO node_results_v2 SELECT * FROM node_results;
     DROP TABLE node_results;
     ALTER TABLE node_results_v2 RENAME TO node_results;",
    // 3: the digest key leaves the store for `state.key` (written by `migrate` first).
    "DELETE FROM settings WHERE key = 'salt';",
    // 4: the outbox of posts to forges.
    "CREATE TABLE outbox (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         target TEXT NOT NULL,
         context TEXT NOT NULL,
         body TEXT NOT NULL,
         state TEXT NOT NULL DEFAULT 'pending',
         attempts INTEGER NOT NULL DEFAULT 0,
         next_attempt_at INTEGER NOT NULL DEFAULT 0,
         last_error TEXT,
         created_at TEXT NOT NULL,
         done_at TEXT
     );
     CREATE INDEX outbox_pending ON outbox (state, target, context, id);",
    // 5: the process running each job and cancel requests from others; node locks with
    // owners and leases; availability checks' results.
    "ALTER TABLE jobs ADD COLUMN owner TEXT;
     ALTER TABLE jobs ADD COLUMN cancel_requested_at TEXT;
     CREATE TABLE node_locks (
         node TEXT PRIMARY KEY,
         job_id INTEGER NOT NULL,
         owner TEXT NOT NULL,
         expires_at INTEGER NOT NULL
     );
     CREATE TABLE check_results (
         job_id INTEGER NOT NULL REFERENCES jobs (id),
         capability TEXT NOT NULL,
         phase TEXT NOT NULL,
         group_index INTEGER NOT NULL,
         passed INTEGER NOT NULL,
         attempts INTEGER NOT NULL,
         message TEXT NOT NULL,
         started_at TEXT NOT NULL,
         finished_at TEXT NOT NULL,
         PRIMARY KEY (job_id, capability, phase, group_index)
     );",
    // 6: the newest preview of each pull request and environment.
    "CREATE TABLE previews (
         number INTEGER NOT NULL,
         environment TEXT NOT NULL,
         base_branch TEXT NOT NULL,
         title TEXT NOT NULL,
         head_sha TEXT NOT NULL,
         base_sha TEXT,
         state TEXT NOT NULL,
         summary TEXT NOT NULL,
         markdown TEXT NOT NULL,
         plan TEXT,
         base_plan TEXT,
         diagnostics TEXT,
         created_at TEXT NOT NULL,
         updated_at TEXT NOT NULL,
         PRIMARY KEY (number, environment)
     );
     CREATE INDEX previews_by_update ON previews (updated_at);",
    // 7: each applied component's digest beside its record, so planning can tell an
    // unchanged component without reading its record.
    "ALTER TABLE applied_components ADD COLUMN digest TEXT;
     UPDATE applied_components SET digest = json_extract(record, '$.digest');",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const JOB_COLUMNS: &str =
    "id, environment, revision, kind, trigger, state, queued_at, started_at, finished_at, summary";

const PREVIEW_COLUMNS: &str =
    "number, environment, base_branch, title, head_sha, base_sha, state, summary, created_at, updated_at";

/// The embedded SQLite store.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// `state.key`, the key of the secret digests.
    key_file: PathBuf,
}

impl SqliteStore {
    /// Opens the store for writing, creating and migrating it as needed.
    pub fn open(state: &StateDir) -> anyhow::Result<SqliteStore> {
        state.create()?;
        let path = state.store_file();
        if std::fs::symlink_metadata(&path).is_err() {
            create(state)?;
        }
        check_header(&path)?;
        // Stores made before files were created private become private too.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("making {} private", path.display()))?;
        let conn = Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let mut store = SqliteStore { conn, path, key_file: state.key_file() };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing store without changing it; `None` when there is none yet.
    pub fn open_read_only(state: &StateDir) -> anyhow::Result<Option<SqliteStore>> {
        let path = state.store_file();
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        check_header(&path)?;
        recover_journal(&path)?;
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("opening {}", path.display()))?;
        let store = SqliteStore { conn, path, key_file: state.key_file() };
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
        if (1..3).contains(&version) {
            // Before version 3 the key was a setting; it moves to the key file unchanged,
            // so the digests already recorded still match.
            let salt: Option<String> = self
                .conn
                .query_row("SELECT value FROM settings WHERE key = 'salt'", [], |row| row.get(0))
                .optional()?;
            if let Some(salt) = salt
                && std::fs::symlink_metadata(&self.key_file).is_err()
            {
                write_private(&self.key_file, salt.as_bytes())?;
            }
            // Deleted rows otherwise stay readable in the file's free pages.
            self.conn.pragma_update(None, "secure_delete", true)?;
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(migration)
                .with_context(|| format!("migrating the state store to version {}", index + 1))?;
            tx.pragma_update(None, "user_version", index as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    fn write_batch(&self, id: JobId, environment: &str, writes: &[JobWrite]) -> anyhow::Result<()> {
        for write in writes {
            match write {
                JobWrite::Applied(record) => {
                    let mut statement = self.conn.prepare_cached(
                        "INSERT OR REPLACE INTO applied_components (environment, component, node, digest, record, job_id, applied_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?;
                    statement.execute(params![
                        environment,
                        record.reference,
                        record.node,
                        record.digest,
                        serde_json::to_string(record)?,
                        id,
                        now()
                    ])?;
                }
                JobWrite::Removed { component, node } => {
                    let mut statement = self.conn.prepare_cached(
                        "DELETE FROM applied_components WHERE environment = ?1 AND component = ?2 AND node = ?3",
                    )?;
                    statement.execute(params![environment, component, node])?;
                }
                JobWrite::NodeResult(result) => {
                    let mut statement = self.conn.prepare_cached(
                        "INSERT OR REPLACE INTO node_results
                             (job_id, node, phase, group_index, state, started_at, finished_at, duration_ms, components, output)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    )?;
                    statement.execute(params![
                        id,
                        result.node,
                        result.phase.as_str(),
                        result.group_index,
                        result.state.as_str(),
                        result.started_at,
                        result.finished_at,
                        result.duration_ms,
                        serde_json::to_string(&result.components)?,
                        result.output
                    ])?;
                }
                JobWrite::Check(check) => {
                    let mut statement = self.conn.prepare_cached(
                        "INSERT OR REPLACE INTO check_results
                             (job_id, capability, phase, group_index, passed, attempts, message, started_at, finished_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )?;
                    statement.execute(params![
                        id,
                        check.capability,
                        check.phase.as_str(),
                        check.group_index,
                        check.passed,
                        check.attempts,
                        check.message,
                        check.started_at,
                        check.finished_at
                    ])?;
                }
            }
        }
        Ok(())
    }
}

impl Store for SqliteStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn secret_key(&self) -> anyhow::Result<Vec<u8>> {
        match std::fs::read(&self.key_file) {
            Ok(key) if !key.is_empty() => Ok(key),
            Ok(_) => bail!("the store's key file {} is empty", self.key_file.display()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
                "the store's key file {} is missing, so secret parameters cannot be compared with what {} recorded; restore it from where the store came from",
                self.key_file.display(),
                self.path.display()
            ),
            Err(err) => Err(err).with_context(|| format!("reading {}", self.key_file.display())),
        }
    }

    fn environment(&self, name: &str) -> anyhow::Result<Option<EnvironmentRecord>> {
        Ok(self
            .conn
            .query_row(
                "SELECT name, last_attempted_revision, last_applied_revision FROM environments WHERE name = ?1",
                params![name],
                environment_from_row,
            )
            .optional()?)
    }

    fn environments(&self) -> anyhow::Result<Vec<EnvironmentRecord>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT name, last_attempted_revision, last_applied_revision FROM environments ORDER BY name",
        )?;
        let rows = statement.query_map([], environment_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn inventory_except(&self, environment: &str, unchanged: Option<&Unchanged>) -> anyhow::Result<Inventory> {
        let mut statement = self.conn.prepare_cached(
            "SELECT component, node, digest, record FROM applied_components WHERE environment = ?1 ORDER BY component, node",
        )?;
        let mut inventory = Inventory::default();
        inventory.revision = self.environment(environment)?.and_then(|record| record.last_applied_revision);
        let mut rows = statement.query(params![environment])?;
        while let Some(row) = rows.next()? {
            // A record's text is only fetched, and parsed, when its digest says it is needed.
            let component = row.get_ref(0)?.as_str()?;
            if let Some(unchanged) = unchanged
                && let Some(digest) = row.get_ref(2)?.as_str_or_null()?
                && let Some(index) = unchanged.find(component, row.get_ref(1)?.as_str()?, digest)
            {
                inventory.set_unchanged(index);
                continue;
            }
            let record: AppliedComponent =
                serde_json::from_str(row.get_ref(3)?.as_str()?).context("reading an applied component")?;
            inventory.components.insert((record.reference.clone(), record.node.clone()), record);
        }
        Ok(inventory)
    }

    fn queue_job(&mut self, job: &NewJob) -> anyhow::Result<JobId> {
        self.conn.execute(
            "INSERT INTO jobs (environment, revision, kind, trigger, state, queued_at) VALUES (?1, ?2, ?3, ?4, 'queued', ?5)",
            params![job.environment, job.revision, job.kind.as_str(), job.trigger.as_str(), now()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn start_job(&mut self, id: JobId, revision: &str, plan: Option<&str>) -> anyhow::Result<()> {
        let now = now();
        let tx = self.conn.transaction()?;
        let (environment, kind): (String, String) =
            tx.query_row("SELECT environment, kind FROM jobs WHERE id = ?1", params![id], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
        if JobKind::parse(&kind).is_some_and(JobKind::changes_nodes) {
            tx.execute(
                "INSERT INTO environments (name, last_attempted_revision, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET last_attempted_revision = ?2, updated_at = ?3",
                params![environment, revision, now],
            )?;
        }
        tx.execute(
            "UPDATE jobs SET state = 'running', revision = ?2, started_at = ?3, plan = ?4 WHERE id = ?1",
            params![id, revision, now, plan],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn record(&mut self, id: JobId, environment: &str, writes: &[JobWrite]) -> anyhow::Result<()> {
        self.conn.execute_batch("BEGIN")?;
        match self.write_batch(id, environment, writes) {
            Ok(()) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(())
            }
            Err(err) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(err)
            }
        }
    }

    fn finish_job(&mut self, id: JobId, finish: &JobFinish) -> anyhow::Result<()> {
        let now = now();
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE jobs SET state = ?2, summary = ?3, finished_at = ?4, diagnostics = COALESCE(?5, diagnostics)
             WHERE id = ?1",
            params![id, finish.state.as_str(), finish.summary, now, finish.diagnostics],
        )?;
        if let Some(revision) = &finish.applied_revision {
            let environment: String =
                tx.query_row("SELECT environment FROM jobs WHERE id = ?1", params![id], |row| row.get(0))?;
            tx.execute(
                "INSERT INTO environments (name, last_applied_revision, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET last_applied_revision = ?2, updated_at = ?3",
                params![environment, revision, now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn interrupt_jobs(&mut self, environment: &str) -> anyhow::Result<usize> {
        let now = now();
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM node_locks
             WHERE job_id IN (SELECT id FROM jobs WHERE environment = ?1 AND state = 'running')",
            params![environment],
        )?;
        tx.execute(
            "UPDATE node_results SET state = 'interrupted', finished_at = ?2
             WHERE state = 'running' AND job_id IN (SELECT id FROM jobs WHERE environment = ?1 AND state = 'running')",
            params![environment, now],
        )?;
        let n = tx.execute(
            "UPDATE jobs SET state = 'interrupted', finished_at = ?2,
                 summary = 'interrupted: the process running it stopped before it finished'
             WHERE environment = ?1 AND state = 'running'",
            params![environment, now],
        )?;
        tx.commit()?;
        Ok(n)
    }

    fn set_job_owner(&mut self, id: JobId, owner: &str) -> anyhow::Result<()> {
        self.conn.execute("UPDATE jobs SET owner = ?2 WHERE id = ?1", params![id, owner])?;
        Ok(())
    }

    fn request_cancel(&mut self, id: JobId) -> anyhow::Result<CancelRequest> {
        let tx = self.conn.transaction()?;
        let found: Option<(String, Option<String>)> = tx
            .query_row("SELECT state, owner FROM jobs WHERE id = ?1", params![id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let Some((state, owner)) = found else {
            return Ok(CancelRequest::NotFound);
        };
        let state = JobState::parse(&state).with_context(|| format!("job {id} has an unknown state {state}"))?;
        if state.is_final() {
            return Ok(CancelRequest::Finished(state));
        }
        tx.execute(
            "UPDATE jobs SET cancel_requested_at = COALESCE(cancel_requested_at, ?2) WHERE id = ?1",
            params![id, now()],
        )?;
        tx.commit()?;
        Ok(CancelRequest::Requested { owner })
    }

    fn cancel_requested(&self, id: JobId) -> anyhow::Result<bool> {
        let requested: Option<Option<String>> = self
            .conn
            .prepare_cached("SELECT cancel_requested_at FROM jobs WHERE id = ?1")?
            .query_row(params![id], |row| row.get(0))
            .optional()?;
        Ok(requested.flatten().is_some())
    }

    fn lock_nodes(
        &mut self,
        job: JobId,
        owner: &str,
        nodes: &[String],
        now: i64,
        expires_at: i64,
    ) -> anyhow::Result<Vec<NodeLockRecord>> {
        let tx = self.conn.transaction()?;
        let mut held = Vec::new();
        {
            let mut select =
                tx.prepare_cached("SELECT node, job_id, owner, expires_at FROM node_locks WHERE node = ?1")?;
            for node in nodes {
                if let Some(lock) = select.query_row(params![node], lock_from_row).optional()?
                    && lock.job != job
                    && lock.expires_at > now
                {
                    held.push(lock);
                }
            }
        }
        if !held.is_empty() {
            return Ok(held);
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO node_locks (node, job_id, owner, expires_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for node in nodes {
                insert.execute(params![node, job, owner, expires_at])?;
            }
        }
        tx.commit()?;
        Ok(Vec::new())
    }

    fn renew_node_locks(&mut self, job: JobId, expires_at: i64) -> anyhow::Result<()> {
        self.conn.execute("UPDATE node_locks SET expires_at = ?2 WHERE job_id = ?1", params![job, expires_at])?;
        Ok(())
    }

    fn release_node_locks(&mut self, job: JobId) -> anyhow::Result<()> {
        self.conn.execute("DELETE FROM node_locks WHERE job_id = ?1", params![job])?;
        Ok(())
    }

    fn node_locks(&self) -> anyhow::Result<Vec<NodeLockRecord>> {
        let mut statement =
            self.conn.prepare_cached("SELECT node, job_id, owner, expires_at FROM node_locks ORDER BY node")?;
        let rows = statement.query_map([], lock_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn interrupt_queued(&mut self) -> anyhow::Result<usize> {
        Ok(self.conn.execute(
            "UPDATE jobs SET state = 'interrupted', finished_at = ?1,
                 summary = 'interrupted: the process that queued it stopped before it ran'
             WHERE state = 'queued'",
            params![now()],
        )?)
    }

    fn jobs(&self, query: &JobQuery) -> anyhow::Result<Vec<JobRecord>> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs
             WHERE (?1 IS NULL OR environment = ?1) AND (?2 IS NULL OR id < ?2)
             ORDER BY id DESC LIMIT ?3"
        ))?;
        let rows = statement.query_map(params![query.environment, query.before, query.limit as i64], job_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn job(&self, id: JobId) -> anyhow::Result<Option<JobDetail>> {
        let Some((job, plan, diagnostics)) = self
            .conn
            .query_row(
                &format!("SELECT {JOB_COLUMNS}, plan, diagnostics FROM jobs WHERE id = ?1"),
                params![id],
                |row| Ok((job_from_row(row)?, row.get::<_, Option<String>>(10)?, row.get::<_, Option<String>>(11)?)),
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
                phase: parse_column(row, 1, NodePhase::parse)?,
                group_index: row.get(2)?,
                state: parse_column(row, 3, NodeState::parse)?,
                started_at: row.get(4)?,
                finished_at: row.get(5)?,
                duration_ms: row.get(6)?,
                components: serde_json::from_str(&row.get::<_, String>(7)?).unwrap_or_default(),
                output: row.get(8)?,
            })
        })?;
        let nodes = rows.collect::<Result<_, _>>()?;
        let mut statement = self.conn.prepare_cached(
            "SELECT capability, phase, group_index, passed, attempts, message, started_at, finished_at
             FROM check_results WHERE job_id = ?1 ORDER BY started_at, capability",
        )?;
        let rows = statement.query_map(params![id], |row| {
            Ok(CheckRecord {
                capability: row.get(0)?,
                phase: parse_column(row, 1, NodePhase::parse)?,
                group_index: row.get(2)?,
                passed: row.get(3)?,
                attempts: row.get(4)?,
                message: row.get(5)?,
                started_at: row.get(6)?,
                finished_at: row.get(7)?,
            })
        })?;
        let checks = rows.collect::<Result<_, _>>()?;
        let plan = plan.and_then(|text| serde_json::from_str(&text).ok());
        Ok(Some(JobDetail { job, nodes, checks, plan, diagnostics }))
    }

    fn save_preview(&mut self, detail: &PreviewDetail) -> anyhow::Result<()> {
        let preview = &detail.preview;
        let json = |value: &Option<serde_json::Value>| value.as_ref().map(serde_json::Value::to_string);
        self.conn.execute(
            "INSERT INTO previews (number, environment, base_branch, title, head_sha, base_sha, state, summary,
                                   markdown, plan, base_plan, diagnostics, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)
             ON CONFLICT (number, environment) DO UPDATE SET
                 base_branch = ?3, title = ?4, head_sha = ?5, base_sha = ?6, state = ?7, summary = ?8,
                 markdown = ?9, plan = ?10, base_plan = ?11, diagnostics = ?12, updated_at = ?13",
            params![
                preview.number as i64,
                preview.environment,
                preview.base_branch,
                preview.title,
                preview.head_sha,
                preview.base_sha,
                preview.state.as_str(),
                preview.summary,
                detail.markdown,
                json(&detail.plan),
                json(&detail.base_plan),
                detail.diagnostics,
                now()
            ],
        )?;
        Ok(())
    }

    fn preview(&self, number: u64, environment: &str) -> anyhow::Result<Option<PreviewDetail>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {PREVIEW_COLUMNS}, markdown, plan, base_plan, diagnostics FROM previews
                     WHERE number = ?1 AND environment = ?2"
                ),
                params![number as i64, environment],
                preview_detail_from_row,
            )
            .optional()?)
    }

    fn previews(&self, number: u64) -> anyhow::Result<Vec<PreviewDetail>> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {PREVIEW_COLUMNS}, markdown, plan, base_plan, diagnostics FROM previews
             WHERE number = ?1 ORDER BY environment"
        ))?;
        let rows = statement.query_map(params![number as i64], preview_detail_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn recent_previews(&self, limit: usize) -> anyhow::Result<Vec<PreviewRecord>> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {PREVIEW_COLUMNS} FROM previews ORDER BY updated_at DESC, number DESC, environment LIMIT ?1"
        ))?;
        let rows = statement.query_map(params![limit as i64], preview_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn outbox_push(&mut self, target: &str, context: &str, body: &str) -> anyhow::Result<PostId> {
        self.conn.execute(
            "INSERT INTO outbox (target, context, body, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![target, context, body, now()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn outbox_due(&self, now: i64, limit: usize) -> anyhow::Result<Vec<PostRecord>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT o.id, o.target, o.context, o.body, o.attempts FROM outbox o
             WHERE o.state = 'pending' AND o.next_attempt_at <= ?1
               AND o.id = (SELECT MIN(p.id) FROM outbox p
                           WHERE p.state = 'pending' AND p.target = o.target AND p.context = o.context)
             ORDER BY o.id LIMIT ?2",
        )?;
        let rows = statement.query_map(params![now, limit as i64], SqliteStore::post_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn outbox_next_due(&self) -> anyhow::Result<Option<i64>> {
        Ok(self.conn.query_row(
            "SELECT MIN(o.next_attempt_at) FROM outbox o
             WHERE o.state = 'pending'
               AND o.id = (SELECT MIN(p.id) FROM outbox p
                           WHERE p.state = 'pending' AND p.target = o.target AND p.context = o.context)",
            [],
            |row| row.get(0),
        )?)
    }

    fn outbox_last_delivered(&self, target: &str, context: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT body FROM outbox WHERE state = 'delivered' AND target = ?1 AND context = ?2
                 ORDER BY id DESC LIMIT 1",
                params![target, context],
                |row| row.get(0),
            )
            .optional()?)
    }

    fn outbox_done(&mut self, id: PostId, skipped: bool) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE outbox SET state = ?2, done_at = ?3 WHERE id = ?1",
            params![id, if skipped { "skipped" } else { "delivered" }, now()],
        )?;
        Ok(())
    }

    fn outbox_retry(&mut self, id: PostId, next_attempt: i64, error: &str) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
            params![id, next_attempt, error],
        )?;
        Ok(())
    }

    fn outbox_backlog(&self) -> anyhow::Result<usize> {
        let n: i64 =
            self.conn.query_row("SELECT COUNT(*) FROM outbox WHERE state = 'pending'", [], |row| row.get(0))?;
        Ok(n as usize)
    }
}

impl SqliteStore {
    fn post_from_row(row: &rusqlite::Row) -> rusqlite::Result<PostRecord> {
        Ok(PostRecord {
            id: row.get(0)?,
            target: row.get(1)?,
            context: row.get(2)?,
            body: row.get(3)?,
            attempts: row.get(4)?,
        })
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
        // ordo never leaves an empty store (it builds a new one aside and renames it), so
        // this one was truncated or replaced; starting over would forget every applied
        // component and run them all again.
        bail!(
            "state file {} is empty: it is not a store ordo made, and ordo will not start over on it and forget what was applied; restore it from a backup, or remove it to start with an empty store (every component then counts as not applied)",
            path.display()
        );
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

fn lock_from_row(row: &rusqlite::Row) -> rusqlite::Result<NodeLockRecord> {
    Ok(NodeLockRecord { node: row.get(0)?, job: row.get(1)?, owner: row.get(2)?, expires_at: row.get(3)? })
}

fn environment_from_row(row: &rusqlite::Row) -> rusqlite::Result<EnvironmentRecord> {
    Ok(EnvironmentRecord {
        name: row.get(0)?,
        last_attempted_revision: row.get(1)?,
        last_applied_revision: row.get(2)?,
    })
}

fn job_from_row(row: &rusqlite::Row) -> rusqlite::Result<JobRecord> {
    Ok(JobRecord {
        id: row.get(0)?,
        environment: row.get(1)?,
        revision: row.get(2)?,
        kind: parse_column(row, 3, JobKind::parse)?,
        trigger: parse_column(row, 4, Trigger::parse)?,
        state: parse_column(row, 5, JobState::parse)?,
        queued_at: row.get(6)?,
        started_at: row.get(7)?,
        finished_at: row.get(8)?,
        summary: row.get(9)?,
    })
}

fn preview_from_row(row: &rusqlite::Row) -> rusqlite::Result<PreviewRecord> {
    Ok(PreviewRecord {
        number: row.get::<_, i64>(0)? as u64,
        environment: row.get(1)?,
        base_branch: row.get(2)?,
        title: row.get(3)?,
        head_sha: row.get(4)?,
        base_sha: row.get(5)?,
        state: parse_column(row, 6, PreviewState::parse)?,
        summary: row.get(7)?,
        created_at: row.get(8)?,
        updated_at: row.get(9)?,
    })
}

fn preview_detail_from_row(row: &rusqlite::Row) -> rusqlite::Result<PreviewDetail> {
    let json = |index: usize| -> rusqlite::Result<Option<serde_json::Value>> {
        Ok(row.get::<_, Option<String>>(index)?.and_then(|text| serde_json::from_str(&text).ok()))
    };
    Ok(PreviewDetail {
        preview: preview_from_row(row)?,
        markdown: row.get(10)?,
        plan: json(11)?,
        base_plan: json(12)?,
        diagnostics: row.get(13)?,
    })
}

/// A text column holding one of an enum's names.
fn parse_column<T>(row: &rusqlite::Row, index: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("unknown value {text:?}").into(),
        )
    })
}

/// Makes a new store: a fresh key file, then the schema in a temporary file that is renamed
/// to `state.db` once complete, so a crash never leaves an empty or half-made store.
fn create(state: &StateDir) -> anyhow::Result<()> {
    let path = state.store_file();
    write_private(&state.key_file(), random_hex()?.as_bytes())?;
    let temporary = path.with_file_name(format!(".state.db.new-{}", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    let conn = Connection::open(&temporary).with_context(|| format!("opening {}", temporary.display()))?;
    let mut store = SqliteStore { conn, path: temporary.clone(), key_file: state.key_file() };
    store.configure()?;
    store.migrate()?;
    drop(store);
    std::fs::rename(&temporary, &path).with_context(|| format!("creating {}", path.display()))
}

/// Writes a file readable by its owner only, atomically.
fn write_private(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let temporary = path.with_file_name(format!(
        ".{}.new-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    file.write_all(content)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))
}

/// Rolls back a journal a crashed writer left (a "hot" journal): a read-only connection
/// cannot, and would report the store unreadable. Opening it for writing and reading once
/// lets SQLite restore the last committed state, as any writer would.
fn recover_journal(path: &Path) -> anyhow::Result<()> {
    let journal = path.with_file_name(format!("{}-journal", path.file_name().unwrap_or_default().to_string_lossy()));
    if !std::fs::metadata(&journal).is_ok_and(|meta| meta.len() > 0) {
        return Ok(());
    }
    let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    // A journal that a live writer holds is not hot; wait for that writer like any reader.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |row| row.get::<_, i64>(0))
        .with_context(|| format!("recovering {} from its journal", path.display()))?;
    Ok(())
}

fn random_hex() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut bytes))
        .context("reading /dev/urandom for the store's key")?;
    Ok(crate::text::hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> (tempfile::TempDir, StateDir) {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path()).unwrap();
        (dir, state)
    }

    #[test]
    fn newer_and_corrupt_files_are_refused() {
        let (_dir, state) = state();
        drop(SqliteStore::open(&state).unwrap());
        let conn = Connection::open(state.store_file()).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        drop(conn);
        let err = SqliteStore::open(&state).err().unwrap().to_string();
        assert!(err.contains("newer than this ordo understands"), "{err}");

        let (_corrupt_dir, corrupt) = self::state();
        std::fs::write(corrupt.store_file(), b"this is not a database, not at all").unwrap();
        let err = SqliteStore::open_read_only(&corrupt).err().unwrap().to_string();
        assert!(err.contains("is not a valid ordo state store"), "{err}");
    }

    #[test]
    fn the_outbox_delivers_in_order_per_target_and_context() {
        let (_dir, state) = state();
        let mut store = SqliteStore::open(&state).unwrap();
        let first = store.outbox_push("commit:a", "ordo/production", "pending").unwrap();
        let second = store.outbox_push("commit:a", "ordo/production", "success").unwrap();
        let other = store.outbox_push("commit:b", "ordo/production", "pending").unwrap();
        let due: Vec<PostId> = store.outbox_due(0, 10).unwrap().iter().map(|post| post.id).collect();
        assert_eq!(due, vec![first, other]);
        store.outbox_retry(first, 5_000, "500 Internal Server Error").unwrap();
        assert_eq!(store.outbox_due(1_000, 10).unwrap().iter().map(|post| post.id).collect::<Vec<_>>(), vec![other]);
        assert_eq!(store.outbox_next_due().unwrap(), Some(0));
        store.outbox_done(other, false).unwrap();
        assert_eq!(store.outbox_next_due().unwrap(), Some(5_000));
        let retried = store.outbox_due(5_000, 10).unwrap();
        assert_eq!((retried[0].id, retried[0].attempts), (first, 1));
        store.outbox_done(first, false).unwrap();
        assert_eq!(store.outbox_due(5_000, 10).unwrap()[0].id, second);
        assert_eq!(store.outbox_last_delivered("commit:a", "ordo/production").unwrap().as_deref(), Some("pending"));
        assert_eq!(store.outbox_backlog().unwrap(), 1);
    }

    #[test]
    fn a_preview_is_replaced_by_the_next_one_and_keeps_when_it_started() {
        let (_dir, state) = state();
        let mut store = SqliteStore::open(&state).unwrap();
        let mut detail = PreviewDetail {
            preview: PreviewRecord {
                number: 4,
                environment: "production".into(),
                base_branch: "main".into(),
                title: "A title".into(),
                head_sha: "aaa".into(),
                base_sha: None,
                state: PreviewState::Invalid,
                summary: "Invalid: unknown node".into(),
                created_at: String::new(),
                updated_at: String::new(),
            },
            markdown: "first".into(),
            plan: None,
            base_plan: None,
            diagnostics: Some("error: unknown node".into()),
        };
        store.save_preview(&detail).unwrap();
        let first = store.preview(4, "production").unwrap().unwrap();
        assert_eq!(
            (first.preview.state, first.diagnostics.as_deref()),
            (PreviewState::Invalid, Some("error: unknown node"))
        );
        detail.preview.head_sha = "bbb".into();
        detail.preview.state = PreviewState::Planned;
        detail.plan = Some(serde_json::json!({"groups": []}));
        detail.diagnostics = None;
        detail.markdown = "second".into();
        store.save_preview(&detail).unwrap();
        detail.preview.environment = "staging".into();
        store.save_preview(&detail).unwrap();
        let previews = store.previews(4).unwrap();
        assert_eq!(
            previews.iter().map(|p| p.preview.environment.as_str()).collect::<Vec<_>>(),
            ["production", "staging"]
        );
        let production = &previews[0];
        assert_eq!((production.preview.head_sha.as_str(), production.markdown.as_str()), ("bbb", "second"));
        assert_eq!(production.preview.created_at, first.preview.created_at);
        assert_eq!(production.plan, Some(serde_json::json!({"groups": []})));
        assert!(production.diagnostics.is_none());
        assert_eq!(store.recent_previews(10).unwrap().len(), 2);
        assert!(store.previews(5).unwrap().is_empty());
    }

    #[test]
    fn the_key_leaves_an_old_store_unchanged_for_the_key_file() {
        let (_dir, state) = state();
        // A version 2 store, as ordo wrote it then, kept its key as the `salt` setting.
        let conn = Connection::open(state.store_file()).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.execute("INSERT INTO settings (key, value) VALUES ('salt', 'old-salt-0123')", []).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        drop(conn);
        let store = SqliteStore::open(&state).unwrap();
        // The same key, so every recorded digest still matches; and no longer in the store.
        assert_eq!(store.secret_key().unwrap(), b"old-salt-0123");
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let left: i64 =
            store.conn.query_row("SELECT COUNT(*) FROM settings WHERE key = 'salt'", [], |row| row.get(0)).unwrap();
        assert_eq!(left, 0);
        drop(store);
        let bytes = std::fs::read(state.store_file()).unwrap();
        assert!(!bytes.windows(13).any(|window| window == b"old-salt-0123"), "the old key is still in the file");
        let mode = std::fs::metadata(state.key_file()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn planning_reads_only_the_records_of_what_changed_also_in_a_migrated_store() {
        use crate::model::tests::component;
        use crate::model::{Model, Param};
        use crate::plan::inventory::applied_component;

        let (_dir, state) = state();
        let mut store = SqliteStore::open(&state).unwrap();
        let salt = store.secret_key().unwrap();
        let mut model = Model {
            components: vec![component("A[a]", "n1"), component("B[b]", "n1"), component("C[c]", "n2")],
            ..Model::default()
        };
        let writes: Vec<JobWrite> = model
            .components
            .iter()
            .map(|component| JobWrite::Applied(Box::new(applied_component(component, Vec::new(), &salt))))
            .collect();
        store.record(1, "production", &writes).unwrap();
        // As a store of schema version 6 had them: records without a digest column, which
        // the migration fills from the records themselves.
        store.conn.execute_batch("ALTER TABLE applied_components DROP COLUMN digest; PRAGMA user_version = 6").unwrap();
        drop(store);
        drop(SqliteStore::open(&state).unwrap());

        // B changes a parameter, C moves to another node; A is as applied.
        model.components[1].parameters.insert("port".into(), Param { value: serde_json::json!(1), secret: false });
        model.components[2].node = "n3".into();
        let store = SqliteStore::open_read_only(&state).unwrap().unwrap();
        let inventory = store.inventory_except("production", Some(&Unchanged::new(&model, &salt))).unwrap();
        let unchanged: Vec<bool> = (0..3).map(|index| inventory.is_unchanged(index)).collect();
        assert_eq!(unchanged, vec![true, false, false]);
        let read: Vec<(String, String)> = inventory.components.keys().cloned().collect();
        assert_eq!(read, vec![("B[b]".into(), "n1".into()), ("C[c]".into(), "n2".into())]);
        // The whole inventory still has every record.
        assert_eq!(store.inventory("production").unwrap().components.len(), 3);
        assert!(!store.inventory("production").unwrap().is_unchanged(0));
    }

    #[test]
    fn a_job_goes_from_queued_to_finished_with_its_nodes() {
        let (_dir, state) = state();
        let mut store = SqliteStore::open(&state).unwrap();
        let new = NewJob {
            environment: "production".into(),
            revision: "main".into(),
            kind: JobKind::Apply,
            trigger: Trigger::Ci,
        };
        let id = store.queue_job(&new).unwrap();
        assert_eq!(store.job(id).unwrap().unwrap().job.state, JobState::Queued);
        store.start_job(id, "main@sha1:abc", Some(r#"{"groups":[]}"#)).unwrap();
        let node = NodeResultRecord {
            node: "db1".into(),
            phase: NodePhase::Apply,
            group_index: 0,
            state: NodeState::Running,
            started_at: now(),
            finished_at: None,
            duration_ms: 0,
            components: Vec::new(),
            output: String::new(),
        };
        store.record(id, "production", &[JobWrite::NodeResult(node)]).unwrap();
        assert_eq!(store.interrupt_jobs("production").unwrap(), 1);
        let detail = store.job(id).unwrap().unwrap();
        assert_eq!(detail.job.state, JobState::Interrupted);
        assert_eq!(detail.nodes[0].state, NodeState::Interrupted);
        assert_eq!(detail.plan, Some(serde_json::json!({"groups": []})));
        assert_eq!(
            store.environment("production").unwrap().unwrap().last_attempted_revision.as_deref(),
            Some("main@sha1:abc")
        );
        let page = store.jobs(&JobQuery { environment: Some("production".into()), before: None, limit: 10 }).unwrap();
        assert_eq!(page.iter().map(|job| job.id).collect::<Vec<_>>(), vec![id]);
        assert!(store.jobs(&JobQuery { before: Some(id), limit: 10, ..JobQuery::default() }).unwrap().is_empty());
    }

    #[test]
    fn node_locks_have_owners_and_leases_and_go_with_interrupted_jobs() {
        let (_dir, state) = state();
        let mut store = SqliteStore::open(&state).unwrap();
        let new = |environment: &str| NewJob {
            environment: environment.into(),
            revision: "main".into(),
            kind: JobKind::Apply,
            trigger: Trigger::Cli,
        };
        let (first, second) = (store.queue_job(&new("production")).unwrap(), store.queue_job(&new("staging")).unwrap());
        store.start_job(first, "main@sha1:abc", None).unwrap();
        let nodes = ["db1".to_string(), "web1".to_string()];
        assert_eq!(store.lock_nodes(first, "host:1", &nodes, 1_000, 61_000).unwrap(), Vec::new());
        // Another job must wait, all or nothing, while the lease holds.
        let held = store.lock_nodes(second, "host:2", &["web1".into(), "web2".into()], 2_000, 62_000).unwrap();
        assert_eq!(
            held,
            vec![NodeLockRecord { node: "web1".into(), job: first, owner: "host:1".into(), expires_at: 61_000 }]
        );
        assert_eq!(store.node_locks().unwrap().len(), 2);
        // Once the lease has run out, the locks can be taken over.
        assert_eq!(store.lock_nodes(second, "host:2", &["web1".into()], 61_001, 121_001).unwrap(), Vec::new());
        store.renew_node_locks(first, 200_000).unwrap();
        assert_eq!(
            store.node_locks().unwrap()[0],
            NodeLockRecord { node: "db1".into(), job: first, owner: "host:1".into(), expires_at: 200_000 }
        );
        // A job its process left running loses its locks when it is marked interrupted.
        store.interrupt_jobs("production").unwrap();
        assert_eq!(store.node_locks().unwrap().iter().map(|lock| lock.job).collect::<Vec<_>>(), vec![second]);
        // Cancel requests reach running jobs only.
        assert_eq!(store.request_cancel(first).unwrap(), CancelRequest::Finished(JobState::Interrupted));
        store.start_job(second, "main@sha1:abc", None).unwrap();
        store.set_job_owner(second, "host:2").unwrap();
        assert!(!store.cancel_requested(second).unwrap());
        assert_eq!(store.request_cancel(second).unwrap(), CancelRequest::Requested { owner: Some("host:2".into()) });
        assert!(store.cancel_requested(second).unwrap());
        assert_eq!(store.request_cancel(999).unwrap(), CancelRequest::NotFound);
    }
}
