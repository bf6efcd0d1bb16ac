//! Drift on a timer: every `drift_interval`, each environment's last-applied revision is
//! checked on its nodes (a `drift` job: every component's `check`, nothing corrected), the
//! count of components out of sync is a metric, and with `drift = "correct"` what drifted
//! is applied again.
//!
//! A drift job never holds up a deploy: it runs only while its environment's queue is idle,
//! and is cancelled as soon as a commit is queued, whose job waits for the environment's
//! lock meanwhile.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::{Controller, EnvironmentView, commit_of};
use crate::engine::{self, JobOutcome, JobRequest, Prepared};
use crate::exec::ComponentResult;
use crate::load::Input;
use crate::plan::Filter;
use crate::store::{JobKind, Trigger};

impl Controller {
    /// Checks every environment for drift once per `interval`, until shut down.
    pub(super) async fn drift_loop(self, interval: Duration) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = self.0.shutdown.cancelled() => return,
            }
            let environments = match self.environments() {
                Ok(environments) => environments,
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "listing environments for the drift check");
                    continue;
                }
            };
            for view in environments {
                if self.0.shutdown.is_cancelled() {
                    return;
                }
                if let Err(err) = self.check_drift(&view).await {
                    tracing::warn!(environment = %view.name, error = %format!("{err:#}"), "the drift check failed");
                }
            }
        }
    }

    /// One environment's drift check, and its correction when asked for.
    async fn check_drift(&self, view: &EnvironmentView) -> anyhow::Result<()> {
        let Some(sha) = view.last_applied_revision.as_deref().and_then(commit_of) else { return Ok(()) };
        let Some(outcome) = self.run_unqueued(view, &sha, JobKind::Drift, BTreeSet::new()).await? else {
            return Ok(());
        };
        let drifted: BTreeSet<String> = outcome
            .report
            .outcomes
            .iter()
            .flat_map(|node| &node.components)
            .filter(|component| component.result == ComponentResult::WouldChange)
            .map(|component| component.component.clone())
            .collect();
        tracing::info!(environment = %view.name, job = outcome.id, drifted = drifted.len(), "drift checked");
        metrics::gauge!("ordo_drifted_components", "environment" => view.name.clone()).set(drifted.len() as f64);
        let result = if drifted.is_empty() { "in_sync" } else { "drifted" };
        metrics::counter!("ordo_drift_checks_total", "environment" => view.name.clone(), "result" => result)
            .increment(1);
        if self.0.config.jobs.drift_correct && !drifted.is_empty() && outcome.state == crate::store::JobState::Success {
            self.run_unqueued(view, &sha, JobKind::Apply, drifted).await?;
        }
        Ok(())
    }

    /// Runs a job of the environment at `sha` beside its queue, while the queue is idle;
    /// `None` when the queue was busy or the revision could not be planned.
    async fn run_unqueued(
        &self,
        view: &EnvironmentView,
        sha: &str,
        kind: JobKind,
        reapply: BTreeSet<String>,
    ) -> anyhow::Result<Option<JobOutcome>> {
        let queue = self.queue(&view.name, &view.branch);
        if queue.depth() > 0 {
            return Ok(None);
        }
        let inner = Arc::clone(&self.0);
        let (sha_for_snapshot, branch) = (sha.to_string(), view.branch.clone());
        let input = tokio::task::spawn_blocking(move || -> anyhow::Result<Input> {
            let mirror = inner.mirror.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let snapshot = mirror.snapshot(&sha_for_snapshot, &inner.config.repository.path, &branch)?;
            Ok(Input { snapshot, graph_file: None })
        })
        .await
        .context("the snapshot task stopped")??;
        let request = JobRequest {
            environment: view.name.clone(),
            kind,
            trigger: Trigger::Schedule,
            filter: Filter::default(),
            prune: false,
            concurrency: self.0.config.jobs.concurrency,
            policy: self.0.config.jobs.policy,
            reapply,
            queued: None,
        };
        let engine = self.0.engine.clone();
        let prepared = tokio::task::spawn_blocking(move || engine::prepare(&engine, request, &input))
            .await
            .context("the planning task stopped")??;
        let Prepared::Ready(ready) = prepared else { return Ok(None) };
        // A commit queued meanwhile wins: this job stops, and that one takes the lock. The
        // watch ends with this call, however it ends.
        let cancel = self.0.abort.child_token();
        let _yielding = {
            let (queue, cancel) = (Arc::clone(&queue), cancel.clone());
            tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
                while queue.depth() == 0 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                cancel.cancel();
            }))
        };
        let updates: engine::JobEventSink = {
            let controller = self.clone();
            let environment = view.name.clone();
            Arc::new(move |event: engine::JobEvent| match event {
                engine::JobEvent::Started { job, .. } | engine::JobEvent::Finished { job, .. } => {
                    controller.publish(job, &environment)
                }
                engine::JobEvent::Run(_) => {}
            })
        };
        let outcome = engine::execute(&self.0.engine, *ready, updates, cancel).await?;
        Ok(Some(outcome))
    }
}
