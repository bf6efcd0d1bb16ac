//! The queue of one environment: one job in flight and one pending slot holding the newest
//! commit, as kube-rs never reconciles one object twice at once.
//!
//! A wake-up during a run is never dropped: it fills the pending slot, which the worker
//! takes when the run ends. A pending commit replaced by a newer one is returned to the
//! caller as superseded, so it can be given a final status.

use std::sync::Mutex;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::{JobId, Trigger};

/// A commit to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub sha: String,
    pub trigger: Trigger,
    /// A job already recorded as queued (a CI run), answered with its id.
    pub job: Option<JobId>,
}

/// What the queue is doing.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub running: Option<Running>,
    pub pending: Option<Request>,
}

#[derive(Debug, Clone)]
pub struct Running {
    pub sha: String,
    /// The job's id once it is recorded.
    pub job: Option<JobId>,
}

/// How a request was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offered {
    /// It is pending now; `superseded` is the pending request it replaced, if any.
    Queued { superseded: Option<Request> },
    /// The same commit is already pending; the request joined it (under this job id, if any).
    Joined { job: Option<JobId> },
    /// The same commit is running or was the last one taken, and nothing asks to run it again.
    Unchanged,
}

#[derive(Default)]
struct State {
    running: Option<(Running, CancellationToken)>,
    pending: Option<Request>,
    /// The commit last queued or run: polls and pushes of the same commit do nothing more.
    last_sha: Option<String>,
}

/// One environment's queue.
pub struct EnvQueue {
    pub environment: String,
    pub branch: String,
    state: Mutex<State>,
    wake: Notify,
}

impl EnvQueue {
    pub fn new(environment: String, branch: String, last_sha: Option<String>) -> EnvQueue {
        EnvQueue { environment, branch, state: Mutex::new(State { last_sha, ..State::default() }), wake: Notify::new() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Offers a commit. Pushes and polls of the commit already taken do nothing; a CI run
    /// (a request with a job) always runs.
    pub fn offer(&self, request: Request) -> Offered {
        let mut state = self.state();
        if let Some(pending) = &mut state.pending
            && pending.sha == request.sha
        {
            if pending.job.is_none() {
                pending.job = request.job;
            }
            return Offered::Joined { job: pending.job };
        }
        if request.job.is_none() && state.last_sha.as_deref() == Some(request.sha.as_str()) {
            return Offered::Unchanged;
        }
        state.last_sha = Some(request.sha.clone());
        let superseded = state.pending.replace(request);
        drop(state);
        self.wake.notify_one();
        Offered::Queued { superseded }
    }

    /// Waits for a pending request and takes it, marking it running; `None` once `stop` is
    /// cancelled. The run's cancellation token is a child of `jobs`.
    pub async fn next(
        &self,
        stop: &CancellationToken,
        jobs: &CancellationToken,
    ) -> Option<(Request, CancellationToken)> {
        loop {
            {
                let mut state = self.state();
                if let Some(request) = state.pending.take() {
                    let token = jobs.child_token();
                    state.running = Some((Running { sha: request.sha.clone(), job: request.job }, token.clone()));
                    return Some((request, token));
                }
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = stop.cancelled() => return None,
            }
        }
    }

    /// Records the running job's id once it is known.
    pub fn running_job(&self, job: JobId) {
        if let Some((running, _)) = &mut self.state().running {
            running.job = Some(job);
        }
    }

    /// The run is over.
    pub fn done(&self) {
        self.state().running = None;
    }

    /// Cancels the running job if it is `job`; whether it was.
    pub fn cancel(&self, job: JobId) -> bool {
        match &self.state().running {
            Some((running, token)) if running.job == Some(job) => {
                token.cancel();
                true
            }
            _ => false,
        }
    }

    /// Takes the pending request if it is `job` (to cancel a job before it runs).
    pub fn take_pending_job(&self, job: JobId) -> Option<Request> {
        let mut state = self.state();
        if state.pending.as_ref().is_some_and(|pending| pending.job == Some(job)) {
            state.last_sha = state.running.as_ref().map(|(running, _)| running.sha.clone());
            return state.pending.take();
        }
        None
    }

    pub fn snapshot(&self) -> Snapshot {
        let state = self.state();
        Snapshot { running: state.running.as_ref().map(|(running, _)| running.clone()), pending: state.pending.clone() }
    }

    /// Jobs running or waiting.
    pub fn depth(&self) -> usize {
        let state = self.state();
        usize::from(state.running.is_some()) + usize::from(state.pending.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(sha: &str) -> Request {
        Request { sha: sha.into(), trigger: Trigger::Push, job: None }
    }

    #[tokio::test]
    async fn one_runs_one_waits_and_the_newest_wins() {
        let queue = EnvQueue::new("production".into(), "main".into(), Some("a".into()));
        assert_eq!(queue.offer(push("a")), Offered::Unchanged);
        assert_eq!(queue.offer(push("b")), Offered::Queued { superseded: None });
        let cancel = CancellationToken::new();
        let (running, _) = queue.next(&cancel, &cancel).await.unwrap();
        assert_eq!(running.sha, "b");
        assert_eq!(queue.offer(push("b")), Offered::Unchanged);
        assert_eq!(queue.offer(push("c")), Offered::Queued { superseded: None });
        assert_eq!(queue.offer(push("d")), Offered::Queued { superseded: Some(push("c")) });
        let ci = Request { sha: "d".into(), trigger: Trigger::Ci, job: Some(7) };
        assert_eq!(queue.offer(ci), Offered::Joined { job: Some(7) });
        assert_eq!(queue.depth(), 2);
        queue.done();
        let (next, _) = queue.next(&cancel, &cancel).await.unwrap();
        assert_eq!((next.sha.as_str(), next.job), ("d", Some(7)));
        // A CI run of the commit just run runs again.
        let again = Request { sha: "d".into(), trigger: Trigger::Ci, job: Some(8) };
        assert_eq!(queue.offer(again), Offered::Queued { superseded: None });
    }

    #[tokio::test]
    async fn a_waiting_worker_stops_on_cancel() {
        let queue = EnvQueue::new("production".into(), "main".into(), None);
        let cancel = CancellationToken::new();
        cancel.cancel();
        assert!(queue.next(&cancel, &cancel).await.is_none());
    }
}
