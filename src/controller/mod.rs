//! The GitOps controller: watches the repository, runs each environment's new commits
//! through the job engine, and reports every result back as commit statuses.
//!
//! ```text
//! triggers (push webhook | poll | watch of a local repository | CI run | start)
//!   -> sync: check the branch tips, fetch only what moved
//!   -> each environment's queue (one job running, one pending slot, newest commit wins)
//!   -> worker: snapshot the commit -> engine::prepare -> pending status -> engine::execute
//!   -> final status through the outbox
//! ```
//!
//! Triggers are hints: whatever wakes it, the controller decides what to run from Git
//! alone, so a lost webhook costs at most one poll interval. Every task it starts is owned
//! by one tracker and stops with the controller.
//!
//! Pull requests get previews ([`preview`]): their heads are loaded and planned, never run,
//! and the plan is posted on the pull request as a status and a sticky comment.

pub mod config;
mod drift;
mod preview;
mod queue;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{Config, ForgeKind};
pub use preview::{PreviewAccepted, PullAction, PullRequestEvent, plan_context};
pub use queue::Request;

use crate::engine::{self, Engine, JobEvent, JobRequest, Prepared};
use crate::load::{Input, LoadOptions};
use crate::plan::{Action, Filter, Plan};
use crate::report::outbox::Outbox;
use crate::report::{CommitStatus, Forge, Post, StatusState};
use crate::source::mirror::Mirror;
use crate::state_dir::StateDir;
use crate::store::{self, JobFinish, JobId, JobKind, JobRecord, JobState, NewJob, SharedStore, Trigger};
use config::ForgeConfig;
use queue::{EnvQueue, Offered};

/// How an environment is doing, in Flux's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    /// `ready`, `reconciling` or `stalled`.
    pub status: &'static str,
    pub reason: String,
}

/// An environment as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentView {
    pub name: String,
    pub branch: String,
    pub last_applied_revision: Option<String>,
    pub last_attempted_revision: Option<String>,
    pub condition: Condition,
    pub last_job: Option<JobRecord>,
    pub queue: QueueView,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueView {
    /// The commit running, and its job once recorded.
    pub running: Option<QueueItem>,
    pub pending: Option<QueueItem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueItem {
    pub revision: String,
    pub job: Option<JobId>,
}

/// A change the web pages and API streams follow.
#[derive(Debug, Clone)]
pub enum Update {
    /// Something happened in a job (it started, a node finished, it ended).
    Job { job: JobId, environment: String },
    /// A pull request's preview was made, or marked outdated.
    Preview { number: u64 },
}

/// Why a CI run was not accepted.
#[derive(Debug)]
pub enum RunError {
    UnknownEnvironment(String),
    UnknownRevision(String),
    Internal(anyhow::Error),
}

/// A running controller; cheap to clone, shared with the HTTP server.
#[derive(Clone)]
pub struct Controller(Arc<Inner>);

struct Inner {
    config: Config,
    engine: Engine,
    mirror: Mutex<Mirror>,
    outbox: Outbox,
    queues: Mutex<BTreeMap<String, Arc<EnvQueue>>>,
    /// Environments whose last revision could not be run, with why: until a new commit.
    stalled: Mutex<BTreeMap<String, String>>,
    wake: Notify,
    wake_trigger: Mutex<Option<Trigger>>,
    tracker: TaskTracker,
    /// Stops taking work.
    shutdown: CancellationToken,
    /// Cancels running jobs.
    abort: CancellationToken,
    updates: broadcast::Sender<Update>,
    ready: AtomicBool,
    /// Keeps the watch of a local repository's refs alive.
    watcher: Mutex<Option<crate::source::watch::RefWatch>>,
    previews: preview::Previews,
}

impl Controller {
    /// Opens the store and the repository's mirror, and starts the controller's tasks:
    /// the outbox, the poll timer, the watch of a local repository, the first reconcile.
    pub async fn start(config: Config, forge: Option<Arc<dyn Forge>>) -> anyhow::Result<Controller> {
        let state = StateDir::new(&config.state_dir)?;
        let store: SharedStore = Arc::new(Mutex::new(store::open(&state)?));
        // Jobs queued by an earlier controller are gone with its queues.
        store::lock(&store).interrupt_queued()?;
        let mirror_dir = state.root().join("git").join("mirror.git");
        let mirror = Mirror::open(&mirror_dir, &config.repository.url, config.repository.auth.clone())?;
        let forge: Arc<dyn Forge> = match forge {
            Some(forge) => forge,
            None => make_forge(&config, mirror.local_path().unwrap_or(mirror_dir))?,
        };
        let outbox = Outbox::new(Arc::clone(&store), forge);
        let engine =
            Engine { state, store, load_options: LoadOptions { gather_facts: Some(&crate::exec::facts::gather) } };
        let shutdown = CancellationToken::new();
        let inner = Arc::new(Inner {
            abort: CancellationToken::new(),
            config,
            engine,
            mirror: Mutex::new(mirror),
            outbox: outbox.clone(),
            queues: Mutex::new(BTreeMap::new()),
            stalled: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
            wake_trigger: Mutex::new(Some(Trigger::Poll)),
            tracker: TaskTracker::new(),
            shutdown: shutdown.clone(),
            updates: broadcast::channel(1024).0,
            ready: AtomicBool::new(false),
            watcher: Mutex::new(None),
            previews: preview::Previews::new(),
        });
        let controller = Controller(inner);
        let outbox_stop = controller.0.abort.clone();
        controller.0.tracker.spawn(outbox.run(outbox_stop));
        controller.watch_local_repository();
        let reconciler = controller.clone();
        controller.0.tracker.spawn(async move { reconciler.reconcile_loop().await });
        if let Some(interval) = controller.0.config.jobs.drift_interval {
            let drifter = controller.clone();
            controller.0.tracker.spawn(async move { drifter.drift_loop(interval).await });
        }
        Ok(controller)
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub fn store(&self) -> &SharedStore {
        &self.0.engine.store
    }

    /// Whether the first sync with the repository has happened.
    pub fn is_ready(&self) -> bool {
        self.0.ready.load(Ordering::Relaxed)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.0.updates.subscribe()
    }

    /// Asks for a sync with the repository soon. Wake-ups coalesce: a burst of them costs
    /// one sync, and one more if any came while it ran.
    pub fn wake(&self, trigger: Trigger) {
        let mut slot = self.0.wake_trigger.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // A push names its reason better than a poll does.
        if slot.is_none() || trigger != Trigger::Poll {
            *slot = Some(trigger);
        }
        drop(slot);
        self.0.wake.notify_one();
    }

    /// Queues a run of an environment at a revision (the branch's tip by default), even if
    /// nothing changed; returns the job's id.
    pub async fn request_run(&self, environment: &str, revision: Option<&str>) -> Result<JobId, RunError> {
        let Some(branch) = self.0.config.branch_of(environment) else {
            return Err(RunError::UnknownEnvironment(environment.to_string()));
        };
        let inner = Arc::clone(&self.0);
        let wanted = revision.map(str::to_string);
        let branch_for_fetch = branch.clone();
        let sha = tokio::task::spawn_blocking(move || -> anyhow::Result<Option<String>> {
            let mirror = inner.mirror.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let find = |mirror: &Mirror| match &wanted {
                Some(revision) => mirror.resolve(revision),
                None => mirror.tip(&branch_for_fetch),
            };
            if let Some(sha) = find(&mirror) {
                return Ok(Some(sha));
            }
            mirror.fetch(&[])?;
            Ok(find(&mirror))
        })
        .await
        .map_err(|err| RunError::Internal(err.into()))?
        .map_err(RunError::Internal)?;
        let Some(sha) = sha else {
            return Err(RunError::UnknownRevision(revision.unwrap_or(&branch).to_string()));
        };
        let queue = self.queue(environment, &branch);
        let job = store::lock(self.store())
            .queue_job(&NewJob {
                environment: environment.to_string(),
                revision: sha.clone(),
                kind: JobKind::Apply,
                trigger: Trigger::Ci,
            })
            .map_err(RunError::Internal)?;
        let offered = queue.offer(Request { sha: sha.clone(), trigger: Trigger::Ci, job: Some(job) });
        match offered {
            Offered::Joined { job: Some(existing) } if existing != job => {
                // The same commit was already queued for a run: this request is that job.
                self.finish_unrun(job, JobState::Superseded, &format!("the same run is job {existing}"));
                Ok(existing)
            }
            other => {
                self.after_offer(&queue, &sha, other);
                self.publish(job, environment);
                Ok(job)
            }
        }
    }

    /// Cancels a job that is queued or running; whether it was found.
    pub fn cancel_job(&self, job: JobId) -> bool {
        let queues: Vec<Arc<EnvQueue>> = self.queues().values().cloned().collect();
        for queue in queues {
            if queue.cancel(job) {
                return true;
            }
            if queue.take_pending_job(job).is_some() {
                self.finish_unrun(job, JobState::Cancelled, "cancelled before it ran");
                self.publish(job, &queue.environment);
                return true;
            }
        }
        // A job another process runs (`ordo apply`) hears of it through the store.
        matches!(
            store::lock(&self.0.engine.store).request_cancel(job),
            Ok(crate::store::CancelRequest::Requested { .. })
        )
    }

    /// Every environment, by name: the configured ones and those found by patterns.
    pub fn environments(&self) -> anyhow::Result<Vec<EnvironmentView>> {
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        for rule in &self.0.config.environments {
            if !rule.environment.contains('*') {
                names.insert(rule.environment.clone(), rule.branch.clone());
            }
        }
        for (name, queue) in self.queues().iter() {
            names.insert(name.clone(), queue.branch.clone());
        }
        let records = store::lock(self.store()).environments()?;
        for record in records {
            if let Some(branch) = self.0.config.branch_of(&record.name) {
                names.insert(record.name, branch);
            }
        }
        names.into_iter().map(|(name, branch)| self.view(&name, &branch)).collect()
    }

    pub fn environment(&self, name: &str) -> anyhow::Result<Option<EnvironmentView>> {
        match self.0.config.branch_of(name) {
            Some(branch) => Ok(Some(self.view(name, &branch)?)),
            None => Ok(None),
        }
    }

    /// Stops taking work, lets a running job finish for the configured grace period and
    /// then cancels it, waits for every task, and closes the connections to SSH nodes that
    /// runs kept open. Undelivered posts stay in the outbox.
    pub async fn shutdown(&self) {
        self.0.shutdown.cancel();
        self.0.watcher.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        self.0.tracker.close();
        let grace = self.0.config.jobs.shutdown_grace;
        let waited = tokio::time::timeout(grace, async {
            while self.queues().values().any(|queue| queue.snapshot().running.is_some()) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        if waited.is_err() {
            tracing::warn!(?grace, "cancelling the running jobs after the shutdown grace period");
        }
        self.0.abort.cancel();
        self.0.tracker.wait().await;
        // No run is left to use the connections to SSH nodes that runs kept open.
        crate::exec::close_kept_connections(&self.0.engine.state).await;
    }

    fn queues(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<EnvQueue>>> {
        self.0.queues.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The queue of an environment, with its worker started on first use.
    fn queue(&self, environment: &str, branch: &str) -> Arc<EnvQueue> {
        let mut queues = self.queues();
        if let Some(queue) = queues.get(environment) {
            return Arc::clone(queue);
        }
        let last_applied = store::lock(self.store())
            .environment(environment)
            .ok()
            .flatten()
            .and_then(|record| record.last_applied_revision)
            .and_then(|revision| commit_of(&revision));
        let queue = Arc::new(EnvQueue::new(environment.to_string(), branch.to_string(), last_applied));
        queues.insert(environment.to_string(), Arc::clone(&queue));
        let worker = self.clone();
        let worker_queue = Arc::clone(&queue);
        self.0.tracker.spawn(async move { worker.work(worker_queue).await });
        queue
    }

    fn view(&self, name: &str, branch: &str) -> anyhow::Result<EnvironmentView> {
        let (record, last_job) = {
            let store = store::lock(self.store());
            let record = store.environment(name)?;
            let last_job = store
                .jobs(&store::JobQuery { environment: Some(name.to_string()), before: None, limit: 1 })?
                .into_iter()
                .next();
            (record, last_job)
        };
        let queue = self.queues().get(name).map(|queue| queue.snapshot()).unwrap_or_default();
        let item = |sha: &str, job: Option<JobId>| QueueItem { revision: format!("{branch}@sha1:{sha}"), job };
        let condition = if let Some(running) = &queue.running {
            Condition { status: "reconciling", reason: format!("running {}", short(&running.sha)) }
        } else if let Some(pending) = &queue.pending {
            Condition { status: "reconciling", reason: format!("{} is queued", short(&pending.sha)) }
        } else if let Some(reason) = self.0.stalled.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
            Condition { status: "stalled", reason: reason.clone() }
        } else {
            match (&last_job, record.as_ref().and_then(|record| record.last_applied_revision.as_ref())) {
                (Some(job), _) if job.state == JobState::Success => {
                    Condition { status: "ready", reason: format!("applied {}", job.revision) }
                }
                (Some(job), _) if job.state.is_final() => Condition {
                    status: "stalled",
                    reason: format!("job {} {}: {}", job.id, job.state.as_str(), job.summary),
                },
                (_, Some(applied)) => Condition { status: "ready", reason: format!("applied {applied}") },
                _ => Condition { status: "reconciling", reason: "not reconciled yet".into() },
            }
        };
        Ok(EnvironmentView {
            name: name.to_string(),
            branch: branch.to_string(),
            last_applied_revision: record.as_ref().and_then(|record| record.last_applied_revision.clone()),
            last_attempted_revision: record.as_ref().and_then(|record| record.last_attempted_revision.clone()),
            condition,
            last_job,
            queue: QueueView {
                running: queue.running.map(|running| item(&running.sha, running.job)),
                pending: queue.pending.map(|pending| item(&pending.sha, pending.job)),
            },
        })
    }

    /// Syncs whenever woken or when the poll interval passes, until shut down.
    async fn reconcile_loop(self) {
        let interval = self.0.config.repository.poll_interval;
        loop {
            let trigger = self.0.wake_trigger.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
            if let Err(err) = self.sync(trigger.unwrap_or(Trigger::Poll)).await {
                tracing::error!(error = %format!("{err:#}"), "syncing with the repository failed");
            }
            self.0.ready.store(true, Ordering::Relaxed);
            tokio::select! {
                () = self.0.shutdown.cancelled() => return,
                () = self.0.wake.notified() => {}
                () = tokio::time::sleep(interval) => {
                    self.wake(Trigger::Poll);
                }
            }
        }
    }

    /// Checks the branch tips, fetches when one moved, and offers each environment its tip.
    async fn sync(&self, trigger: Trigger) -> anyhow::Result<()> {
        let inner = Arc::clone(&self.0);
        let tips = tokio::task::spawn_blocking(move || -> anyhow::Result<BTreeMap<String, String>> {
            let mirror = inner.mirror.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let tips = mirror.remote_tips()?;
            let watched = |branch: &String| inner.config.environment_of(branch).is_some();
            if tips.iter().any(|(branch, sha)| watched(branch) && mirror.tip(branch).as_ref() != Some(sha)) {
                mirror.fetch(&[])?;
            }
            Ok(tips)
        })
        .await
        .context("the sync task stopped")??;
        for (branch, sha) in tips {
            let Some(environment) = self.0.config.environment_of(&branch) else { continue };
            let queue = self.queue(&environment, &branch);
            let offered = queue.offer(Request { sha: sha.clone(), trigger, job: None });
            self.after_offer(&queue, &sha, offered);
        }
        Ok(())
    }

    /// Reports what offering a commit did: a queued commit is pending, a replaced one is
    /// superseded.
    fn after_offer(&self, queue: &EnvQueue, sha: &str, offered: Offered) {
        let Offered::Queued { superseded } = offered else { return };
        metrics::gauge!("ordo_queue_depth", "environment" => queue.environment.clone()).set(queue.depth() as f64);
        self.0.stalled.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&queue.environment);
        let context = format!("ordo/{}", queue.environment);
        self.post(CommitStatus::new(sha, &context, StatusState::Pending, "queued", None));
        if let Some(old) = superseded.filter(|old| old.sha != sha) {
            let description = format!("superseded by {}: not applied on its own", short(sha));
            self.post(CommitStatus::new(&old.sha, &context, StatusState::Error, &description, None));
            if let Some(job) = old.job {
                self.finish_unrun(job, JobState::Superseded, &format!("superseded by {}", short(sha)));
                self.publish(job, &queue.environment);
            }
        }
    }

    fn finish_unrun(&self, job: JobId, state: JobState, summary: &str) {
        let finish = JobFinish { state, summary: summary.to_string(), applied_revision: None, diagnostics: None };
        if let Err(err) = store::lock(self.store()).finish_job(job, &finish) {
            tracing::error!(job, error = %format!("{err:#}"), "recording a job that will not run failed");
        }
    }

    fn post(&self, status: CommitStatus) {
        self.push(Post::Status(status));
    }

    fn push(&self, post: Post) {
        if let Err(err) = self.0.outbox.push(&post) {
            tracing::error!(error = %format!("{err:#}"), "writing a post to the outbox failed");
        }
    }

    fn publish(&self, job: JobId, environment: &str) {
        // Nobody listening is fine.
        let _ = self.0.updates.send(Update::Job { job, environment: environment.to_string() });
    }

    fn link(&self, job: JobId) -> String {
        format!("{}/jobs/{job}", self.0.config.server.public_url)
    }

    /// Runs an environment's requests one at a time until shut down.
    async fn work(self, queue: Arc<EnvQueue>) {
        // A job's cancellation is a child of `abort`, which shutdown cancels after its grace.
        while let Some((request, cancel)) = queue.next(&self.0.shutdown, &self.0.abort).await {
            let result = self.run(&queue, &request, cancel).await;
            if let Err(err) = result {
                let message = format!("{err:#}");
                tracing::error!(environment = %queue.environment, sha = %request.sha, error = %message, "the job could not run");
                let context = format!("ordo/{}", queue.environment);
                self.post(CommitStatus::new(&request.sha, &context, StatusState::Error, &message, None));
                if let Some(job) = request.job {
                    self.finish_unrun(job, JobState::Failed, &format!("Error: {message}"));
                }
                self.0
                    .stalled
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(queue.environment.clone(), message);
            }
            queue.done();
            metrics::gauge!("ordo_queue_depth", "environment" => queue.environment.clone()).set(queue.depth() as f64);
        }
    }

    /// Runs one commit through the engine and reports it.
    async fn run(&self, queue: &EnvQueue, request: &Request, cancel: CancellationToken) -> anyhow::Result<()> {
        let environment = queue.environment.clone();
        let context = format!("ordo/{environment}");
        let inner = Arc::clone(&self.0);
        let (sha, branch) = (request.sha.clone(), queue.branch.clone());
        let input = tokio::task::spawn_blocking(move || -> anyhow::Result<Input> {
            let mirror = inner.mirror.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let snapshot = mirror.snapshot(&sha, &inner.config.repository.path, &branch)?;
            Ok(Input { snapshot, graph_file: None })
        })
        .await
        .context("the snapshot task stopped")??;
        let job_request = JobRequest {
            environment: environment.clone(),
            kind: JobKind::Apply,
            trigger: request.trigger,
            filter: Filter::default(),
            prune: self.0.config.jobs.prune,
            concurrency: self.0.config.jobs.concurrency,
            policy: self.0.config.jobs.policy,
            reapply: Default::default(),
            queued: request.job,
        };
        let engine = self.0.engine.clone();
        let prepared = tokio::task::spawn_blocking(move || engine::prepare(&engine, job_request, &input))
            .await
            .context("the planning task stopped")??;
        let ready = match prepared {
            Prepared::Invalid(invalid) => {
                let rendered = crate::diag::render(&invalid.diagnostics, &invalid.sources, false);
                let summary = invalid_summary(&invalid.diagnostics);
                let job = engine::record_invalid(&self.0.engine, &invalid, &rendered, &summary)?;
                queue.running_job(job);
                self.post(CommitStatus::new(
                    &request.sha,
                    &context,
                    StatusState::Failure,
                    &summary,
                    Some(self.link(job)),
                ));
                self.0
                    .stalled
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(environment.clone(), summary);
                metrics::counter!("ordo_jobs_total", "result" => "invalid").increment(1);
                self.publish(job, &environment);
                return Ok(());
            }
            Prepared::Ready(ready) => ready,
        };
        let plan = &ready.plan;
        let n_nodes: usize = plan.groups.iter().map(Vec::len).sum();
        let what = if ready.is_empty() {
            "no changes".to_string()
        } else {
            format!(
                "running {} in {}: {}",
                crate::text::plural(n_nodes, "node"),
                crate::text::plural(plan.groups.len(), "group"),
                change_counts(plan)
            )
        };
        let events: engine::JobEventSink = {
            let controller = self.clone();
            let (sha, context, environment) = (request.sha.clone(), context.clone(), environment.clone());
            Arc::new(move |event: JobEvent| match &event {
                JobEvent::Started { job, .. } => {
                    controller.post(CommitStatus::new(
                        &sha,
                        &context,
                        StatusState::Pending,
                        &what,
                        Some(controller.link(*job)),
                    ));
                    controller.publish(*job, &environment);
                }
                JobEvent::Run(crate::exec::Event::NodeFinished { outcome }) => {
                    let seconds = outcome.finished.saturating_sub(outcome.started).as_secs_f64();
                    metrics::histogram!("ordo_node_duration_seconds").record(seconds);
                }
                JobEvent::Run(_) | JobEvent::Finished { .. } => {}
            })
        };
        let updates = {
            let controller = self.clone();
            let environment = environment.clone();
            let events = Arc::clone(&events);
            // Every event also tells the pages and streams that the job changed.
            let job_id = Arc::new(std::sync::atomic::AtomicI64::new(0));
            Arc::new(move |event: JobEvent| {
                use std::sync::atomic::Ordering::Relaxed;
                let changed = match &event {
                    JobEvent::Started { job, .. } | JobEvent::Finished { job, .. } => {
                        job_id.store(*job, Relaxed);
                        true
                    }
                    JobEvent::Run(crate::exec::Event::NodeStarted { .. } | crate::exec::Event::NodeFinished { .. }) => {
                        true
                    }
                    JobEvent::Run(_) => false,
                };
                events(event);
                if changed {
                    controller.publish(job_id.load(Relaxed), &environment);
                }
            }) as engine::JobEventSink
        };
        let started = std::time::Instant::now();
        let outcome = engine::execute(&self.0.engine, *ready, updates, cancel).await?;
        queue.running_job(outcome.id);
        metrics::counter!("ordo_jobs_total", "result" => outcome.state.as_str()).increment(1);
        metrics::histogram!("ordo_job_duration_seconds").record(started.elapsed().as_secs_f64());
        let state = match outcome.state {
            JobState::Success => StatusState::Success,
            JobState::Failed => StatusState::Failure,
            _ => StatusState::Error,
        };
        self.post(CommitStatus::new(&request.sha, &context, state, &outcome.summary, Some(self.link(outcome.id))));
        if outcome.state != JobState::Success {
            let reason = format!("job {} {}: {}", outcome.id, outcome.state.as_str(), outcome.summary);
            self.0.stalled.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(environment.clone(), reason);
        }
        self.publish(outcome.id, &environment);
        Ok(())
    }

    /// Watches a local repository's refs, so a commit or push into it starts a job within
    /// moments; polling stays on as the backstop.
    fn watch_local_repository(&self) {
        let local = self.0.mirror.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).local_path();
        let Some(path) = local else { return };
        let controller = Arc::downgrade(&self.0);
        let watched = crate::source::watch::watch_refs(&path, move || {
            if let Some(inner) = controller.upgrade() {
                Controller(inner).wake(Trigger::Watch);
            }
        });
        match watched {
            Ok(watcher) => *self.0.watcher.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(watcher),
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "the repository's refs cannot be watched; polling only")
            }
        }
    }
}

fn make_forge(config: &Config, notes_repo: std::path::PathBuf) -> anyhow::Result<Arc<dyn Forge>> {
    use crate::report::{github::GitHub, gitlab::GitLab, notes::Notes};
    Ok(match &config.forge {
        ForgeConfig::Notes => Arc::new(Notes::new(notes_repo)),
        ForgeConfig::Hosted { kind, api_url, repository, token } => match kind {
            ForgeKind::GitHub => Arc::new(GitHub::new(api_url, repository, token.expose())?),
            ForgeKind::Gitea => Arc::new(GitHub::gitea(api_url, repository, token.expose())?),
            ForgeKind::GitLab => Arc::new(GitLab::new(api_url, repository, token.expose())?),
        },
    })
}

/// `3 to add, 1 to change, 0 to remove`: what a plan changes, a move counted as a change.
fn change_counts(plan: &Plan) -> String {
    format!(
        "{} to add, {} to change, {} to remove",
        plan.count(Action::Add),
        plan.count(Action::Change) + plan.count(Action::Move),
        plan.count(Action::Remove)
    )
}

/// `3 to add, 1 to change, 0 to remove on 4 nodes in 2 groups`: a preview's summary line.
fn change_line(plan: &Plan) -> String {
    let n_nodes: usize = plan.groups.iter().map(Vec::len).sum();
    format!(
        "{} on {} in {}",
        change_counts(plan),
        crate::text::plural(n_nodes, "node"),
        crate::text::plural(plan.groups.len(), "group")
    )
}

/// `Invalid: FIRST ERROR (and N more)`: why a revision cannot be planned, in one line.
fn invalid_summary(diagnostics: &[crate::diag::Diagnostic]) -> String {
    let mut errors = diagnostics.iter().filter(|diagnostic| diagnostic.is_error());
    let first = errors.next().map_or_else(|| "the revision does not validate".to_string(), |d| d.message.clone());
    let n_more = errors.count();
    format!("Invalid: {first}{}", if n_more > 0 { format!(" (and {n_more} more)") } else { String::new() })
}

/// The commit of a revision such as `main@sha1:abc...` (without `-dirty`).
pub fn commit_of(revision: &str) -> Option<String> {
    let sha = revision.rsplit_once("sha1:")?.1;
    (!sha.ends_with("-dirty") && !sha.is_empty()).then(|| sha.to_string())
}

/// The first seven characters of a commit, as people write it.
pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}
