//! Pull-request previews: what a pull request would do to the environment its base branch
//! follows, posted on the pull request before anyone merges it.
//!
//! ```text
//! webhook: opened | new commits | reopened | closed
//!   -> the pull request's slot (one preview at a time per pull request, the newest event waiting)
//!   -> fetch the head where the forge keeps it (refs/pull/N/head, refs/merge-requests/N/head)
//!   -> load the head, and the commit it branched from, with no facts gathered
//!   -> plan the head against the environment's last-applied state, and against that commit
//!   -> record the preview; post the status ordo/ENV/plan and the sticky comment
//! ```
//!
//! A preview only reads: it takes no environment lock, gathers no facts, runs nothing from
//! the repository, and reads the store's inventory without writing it; its settings all come
//! from the controller's configuration, never from the pull request's files. What the head
//! holds is read as Git stores it, so a link in it is its text, never the file it names.
//!
//! The webhook says which pull request changed and what its base branch is; the commit
//! previewed is whatever the forge's ref holds when it is fetched, so a late event can only
//! preview the newest head. A closed pull request's comment is marked outdated and nothing
//! more is posted for it, until it is reopened.

mod comment;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use tokio::sync::Semaphore;

use super::config::{ForgeConfig, ForgeKind};
use super::{Controller, Inner, Update};
use crate::diag::has_errors;
use crate::load::{self, LoadOptions, Loaded};
use crate::plan::{self, Filter, Inventory, PlanOptions, render};
use crate::report::{CommitStatus, Post, PullComment, StatusState};
use crate::source::Snapshot;
use crate::store::{self, PreviewDetail, PreviewRecord, PreviewState};

/// The longest pull-request title kept, in characters.
const MAX_TITLE_CHARS: usize = 256;

/// What happened to a pull request, as a forge's webhook tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestEvent {
    /// The pull request's number (GitLab: the merge request's `iid`).
    pub number: u64,
    pub action: PullAction,
    /// The branch it would merge into.
    pub base_branch: String,
    pub title: String,
    /// The forge that sent it, which says where the head is kept.
    pub forge: ForgeKind,
    /// The names the forge gives the repository the pull request is in (`owner/name`; for
    /// GitLab also the project's id); empty when it did not say.
    pub repository: Vec<String>,
}

/// What a pull request's event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullAction {
    /// Opened or reopened: preview it.
    Opened,
    /// New commits, or a new base branch: preview it again, unless it is closed.
    Updated,
    /// Closed or merged: its comments are marked outdated.
    Closed,
}

/// What became of a pull request's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewAccepted {
    Queued,
    /// Why nothing will be done.
    Ignored(&'static str),
}

/// The status context and comment key of an environment's previews.
pub fn plan_context(environment: &str) -> String {
    format!("ordo/{environment}/plan")
}

/// The pull requests being previewed: for each, whether a worker runs, and the newest event
/// not yet taken.
pub(super) struct Previews {
    slots: Mutex<BTreeMap<u64, Option<PullRequestEvent>>>,
    /// Previews load and plan on blocking threads: at most one per core at a time.
    permits: Semaphore,
}

impl Previews {
    pub(super) fn new() -> Previews {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Previews { slots: Mutex::new(BTreeMap::new()), permits: Semaphore::new(cores) }
    }

    /// Keeps an event as its pull request's next; whether a worker must be started for it.
    fn offer(&self, mut event: PullRequestEvent) -> bool {
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match slots.get_mut(&event.number) {
            Some(pending) => {
                // A reopening still waiting is not undone by the push that follows it.
                if let Some(PullRequestEvent { action: PullAction::Opened, .. }) = pending
                    && event.action == PullAction::Updated
                {
                    event.action = PullAction::Opened;
                }
                *pending = Some(event);
                false
            }
            None => {
                slots.insert(event.number, Some(event));
                true
            }
        }
    }

    /// The pull request's next event; `None` ends its worker (under the same lock as
    /// `offer`, so no event is left without one).
    fn next(&self, number: u64) -> Option<PullRequestEvent> {
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let event = slots.get_mut(&number).and_then(Option::take);
        if event.is_none() {
            slots.remove(&number);
        }
        event
    }
}

/// A preview made: what to record and what to post.
struct Made {
    detail: PreviewDetail,
    status: CommitStatus,
}

impl Controller {
    /// Takes a pull request's event from a webhook: queues its preview (or, when it was
    /// closed, the marking of its comments as outdated) and returns at once.
    pub fn preview(&self, event: PullRequestEvent) -> PreviewAccepted {
        if self.0.shutdown.is_cancelled() {
            return PreviewAccepted::Ignored("the controller is stopping");
        }
        // Comments go to the configured forge, where another forge's numbers mean other
        // pull requests.
        if let ForgeConfig::Hosted { kind, repository, .. } = &self.0.config.forge {
            if *kind != event.forge {
                return PreviewAccepted::Ignored("pull requests are previewed from the configured forge only");
            }
            if !event.repository.is_empty()
                && !event.repository.iter().any(|name| name.eq_ignore_ascii_case(repository))
            {
                return PreviewAccepted::Ignored("the pull request is in another repository than the configured one");
            }
        }
        if event.action != PullAction::Closed && self.0.config.environment_of(&event.base_branch).is_none() {
            return PreviewAccepted::Ignored("no environment follows the pull request's base branch");
        }
        let number = event.number;
        if self.0.previews.offer(event) {
            let controller = self.clone();
            self.0.tracker.spawn(async move { controller.preview_worker(number).await });
        }
        PreviewAccepted::Queued
    }

    /// Handles a pull request's events one at a time, until none waits or the controller
    /// stops (an event still waiting then is dropped: the next push previews again).
    async fn preview_worker(self, number: u64) {
        while let Some(event) = self.0.previews.next(number) {
            if self.0.shutdown.is_cancelled() {
                return;
            }
            let Ok(_permit) = self.0.previews.permits.acquire().await else { return };
            let started = Instant::now();
            let result = match event.action {
                PullAction::Closed => self.outdate_previews(number, None).await,
                PullAction::Opened | PullAction::Updated => self.preview_head(event).await,
            };
            let outcome = match result {
                Ok(outcome) => outcome,
                Err(err) => {
                    tracing::error!(pull = number, error = %format!("{err:#}"), "the pull request could not be previewed");
                    "error"
                }
            };
            metrics::counter!("ordo_previews_total", "result" => outcome).increment(1);
            metrics::histogram!("ordo_preview_duration_seconds").record(started.elapsed().as_secs_f64());
            let _ = self.0.updates.send(Update::Preview { number });
        }
    }

    /// Previews a pull request's head; returns what came of it, for metrics.
    async fn preview_head(&self, event: PullRequestEvent) -> anyhow::Result<&'static str> {
        let number = event.number;
        let Some(environment) = self.0.config.environment_of(&event.base_branch) else {
            // Its base branch changed to one no environment follows.
            return self.outdate_previews(number, None).await;
        };
        // A pull request whose base moved to another environment's branch is outdated there.
        self.outdate_previews(number, Some(&environment)).await?;
        let previous = store::lock(self.store()).preview(number, &environment)?;
        if event.action == PullAction::Updated
            && previous.as_ref().is_some_and(|previous| previous.preview.state == PreviewState::Outdated)
        {
            tracing::debug!(pull = number, "the pull request is closed; its new commits are not previewed");
            return Ok("closed");
        }
        let inner = Arc::clone(&self.0);
        let (base_branch, title) = (event.base_branch.clone(), event.title.clone());
        let preview_environment = environment.clone();
        let made = tokio::task::spawn_blocking(move || make(&inner, &event, &preview_environment))
            .await
            .context("the preview task stopped")?;
        let made = match made {
            Ok(made) => made,
            Err(err) => {
                // Recorded, so the API and pages say why there is no newer preview; the last
                // comment stays as it was.
                let summary = format!("Error: {}", crate::text::excerpt(&format!("{err:#}")));
                let detail = match previous {
                    Some(mut previous) => {
                        previous.preview.state = PreviewState::Error;
                        previous.preview.summary = summary;
                        previous
                    }
                    None => PreviewDetail {
                        preview: PreviewRecord {
                            number,
                            environment,
                            base_branch,
                            title: title.chars().take(MAX_TITLE_CHARS).collect(),
                            head_sha: String::new(),
                            base_sha: None,
                            state: PreviewState::Error,
                            summary,
                            created_at: String::new(),
                            updated_at: String::new(),
                        },
                        markdown: String::new(),
                        plan: None,
                        base_plan: None,
                        diagnostics: None,
                    },
                };
                store::lock(self.store()).save_preview(&detail)?;
                return Err(err);
            }
        };
        let outcome = match made.detail.preview.state {
            PreviewState::Planned => "planned",
            _ => "invalid",
        };
        tracing::info!(
            pull = number,
            environment = %made.detail.preview.environment,
            head = %made.detail.preview.head_sha,
            summary = %made.detail.preview.summary,
            "previewed"
        );
        let store = Arc::clone(self.store());
        let comment = PullComment {
            number,
            key: plan_context(&made.detail.preview.environment),
            body: made.detail.markdown.clone(),
            outdated: false,
        };
        // Recorded before it is posted, so the link in the status finds it.
        tokio::task::spawn_blocking(move || store::lock(&store).save_preview(&made.detail))
            .await
            .context("the recording task stopped")??;
        self.push(Post::Status(made.status));
        self.push(Post::Comment(comment));
        Ok(outcome)
    }

    /// Marks a pull request's previews outdated (all, or all but `keep`'s) and posts their
    /// comments' outdated form; nothing else is posted for them.
    async fn outdate_previews(&self, number: u64, keep: Option<&str>) -> anyhow::Result<&'static str> {
        let previews = store::lock(self.store()).previews(number)?;
        for mut detail in previews {
            if detail.preview.state == PreviewState::Outdated || Some(detail.preview.environment.as_str()) == keep {
                continue;
            }
            detail.preview.state = PreviewState::Outdated;
            store::lock(self.store()).save_preview(&detail)?;
            tracing::info!(pull = number, environment = %detail.preview.environment, "preview outdated");
            self.push(Post::Comment(PullComment {
                number,
                key: plan_context(&detail.preview.environment),
                body: detail.markdown,
                outdated: true,
            }));
        }
        if keep.is_none() {
            // The head is no longer needed; it would otherwise keep its commits in the mirror.
            let mirror = self.0.mirror.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            mirror.delete_ref(&local_head_ref(number))?;
        }
        Ok("outdated")
    }
}

/// Where the mirror keeps a pull request's head while it is previewed.
fn local_head_ref(number: u64) -> String {
    format!("refs/ordo/pulls/{number}/head")
}

/// Fetches, loads and plans a pull request's head: blocking.
fn make(inner: &Inner, event: &PullRequestEvent, environment: &str) -> anyhow::Result<Made> {
    let number = event.number;
    let local = local_head_ref(number);
    let (head_sha, base_sha, head_snapshot, base_snapshot) = {
        let mirror = inner.mirror.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let remote = event.forge.pull_head_ref(number);
        mirror.fetch(&[format!("+{remote}:{local}")])?;
        let head = mirror
            .resolve(&local)
            .ok_or_else(|| anyhow::anyhow!("the pull request's head ({remote}) is not in the repository"))?;
        let base = mirror.tip(&event.base_branch).and_then(|tip| mirror.merge_base(&head, &tip));
        let path = &inner.config.repository.path;
        let head_snapshot = mirror.snapshot(&head, path, &format!("pull/{number}"))?;
        let base_snapshot = match &base {
            Some(base) => Some(mirror.snapshot(base, path, &event.base_branch)?),
            None => None,
        };
        (head, base, head_snapshot, base_snapshot)
    };
    // The base loads beside the head, on a second core when there is one.
    let (head, base) = std::thread::scope(|scope| {
        let base = base_snapshot.map(|snapshot| scope.spawn(move || load_snapshot(snapshot)));
        let head = load_snapshot(head_snapshot);
        (head, base.map(|handle| handle.join().unwrap_or_else(|_| Err(anyhow::anyhow!("loading the base panicked")))))
    });
    let head = head?;
    let (inventory, key) = {
        let store = store::lock(&inner.engine.store);
        crate::engine::inventory_for(&**store, environment, &head.model)?
    };
    let title: String = event.title.chars().take(MAX_TITLE_CHARS).collect();
    let link = format!("{}/previews/{number}", inner.config.server.public_url);
    let heading = comment::Heading { environment, number, title: &title, head_revision: &head.revision, link: &link };
    let record = |state: PreviewState, summary: String| PreviewRecord {
        number,
        environment: environment.to_string(),
        base_branch: event.base_branch.clone(),
        title: title.clone(),
        head_sha: head_sha.clone(),
        base_sha: base_sha.clone(),
        state,
        summary,
        created_at: String::new(),
        updated_at: String::new(),
    };
    let context = plan_context(environment);
    let options = PlanOptions {
        environment: environment.to_string(),
        revision: head.revision.clone(),
        base_revision: inventory.revision.clone(),
        salt: key.clone(),
        filter: Filter::default(),
    };
    let planned =
        if has_errors(&head.diagnostics) { Err(Vec::new()) } else { plan::plan(&head.model, &inventory, &options) };
    let plan = match planned {
        Ok(plan) => plan,
        Err(cycles) => {
            let mut diagnostics = head.diagnostics;
            diagnostics.extend(cycles);
            let summary = super::invalid_summary(&diagnostics);
            let rendered = crate::diag::render(&diagnostics, &head.sources, false);
            return Ok(Made {
                detail: PreviewDetail {
                    preview: record(PreviewState::Invalid, summary.clone()),
                    markdown: comment::invalid(&heading, &summary, &rendered),
                    plan: None,
                    base_plan: None,
                    diagnostics: Some(rendered),
                },
                status: CommitStatus::new(&head_sha, &context, StatusState::Failure, &summary, Some(link.clone())),
            });
        }
    };
    // The same key digests the base's secrets, so an unchanged secret compares equal.
    let base_plan = match &base {
        Some(Ok(base)) if !has_errors(&base.diagnostics) => {
            let options = PlanOptions { base_revision: Some(base.revision.clone()), ..options.clone() };
            plan::plan(&head.model, &Inventory::from_model(&base.model, &key), &options).ok()
        }
        _ => None,
    };
    let base_view = match (&base_plan, &base) {
        (Some(base_plan), _) => comment::Base::Planned(base_plan),
        (None, Some(Ok(base))) => comment::Base::Invalid { revision: &base.revision },
        (None, Some(Err(_))) => comment::Base::Invalid { revision: base_sha.as_deref().unwrap_or_default() },
        (None, None) => comment::Base::Unknown,
    };
    let warnings = (!head.diagnostics.is_empty()).then(|| crate::diag::render(&head.diagnostics, &head.sources, false));
    let summary = super::change_line(&plan);
    let markdown = comment::planned(&heading, &summary, &plan, &base_view, warnings.as_deref());
    let as_json = |plan: &plan::Plan| serde_json::from_str(&render::json(plan)).ok();
    Ok(Made {
        detail: PreviewDetail {
            preview: record(PreviewState::Planned, summary.clone()),
            markdown,
            plan: as_json(&plan),
            base_plan: base_plan.as_ref().and_then(as_json),
            diagnostics: warnings,
        },
        status: CommitStatus::new(&head_sha, &context, StatusState::Success, &summary, Some(link)),
    })
}

/// Loads a snapshot as a preview does: nothing gathered, nothing run.
fn load_snapshot(snapshot: Snapshot) -> anyhow::Result<Loaded> {
    load::load_input(&load::Input { snapshot, graph_file: None }, LoadOptions::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(number: u64, action: PullAction) -> PullRequestEvent {
        PullRequestEvent {
            number,
            action,
            base_branch: "main".into(),
            title: "t".into(),
            forge: ForgeKind::GitHub,
            repository: Vec::new(),
        }
    }

    #[test]
    fn a_pull_request_has_one_worker_and_its_newest_event_waits() {
        let previews = Previews::new();
        assert!(previews.offer(event(1, PullAction::Opened)));
        assert!(!previews.offer(event(1, PullAction::Updated)), "one worker per pull request");
        assert!(previews.offer(event(2, PullAction::Updated)), "another pull request has its own");
        // The reopening that waits is not undone by the push after it.
        assert_eq!(previews.next(1).map(|event| event.action), Some(PullAction::Opened));
        assert_eq!(previews.next(1), None);
        assert!(previews.offer(event(1, PullAction::Updated)), "the worker ended, a new one starts");
        assert!(!previews.offer(event(1, PullAction::Closed)));
        assert_eq!(previews.next(1).map(|event| event.action), Some(PullAction::Closed));
    }
}
