//! The store's records: the serialisable forms of jobs, node results, environments,
//! pull-request previews and outgoing posts, as every backend keeps them and the API and `job show --format json`
//! print them. Their JSON is an interface; `tests::records_keep_their_json` pins it.

use serde::{Deserialize, Serialize};

/// A job's identifier, unique in its store.
pub type JobId = i64;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted, waiting for its environment's running job to finish.
    Queued,
    Running,
    Success,
    Failed,
    /// Stopped on request (a signal, `ordo job cancel`, the API); what ran is recorded.
    Cancelled,
    /// Left running by a process that stopped before it finished.
    Interrupted,
    /// Never run: a newer commit of its environment was queued after it.
    Superseded,
}

impl JobState {
    pub const ALL: [JobState; 7] = [
        JobState::Queued,
        JobState::Running,
        JobState::Success,
        JobState::Failed,
        JobState::Cancelled,
        JobState::Interrupted,
        JobState::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Success => "success",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
            JobState::Superseded => "superseded",
        }
    }

    pub fn parse(text: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|state| state.as_str() == text)
    }

    /// Whether the job will not change any more.
    pub fn is_final(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Converge the changed components.
    Apply,
    /// Ask the changed components whether they would change, without changing them.
    Noop,
    /// Ask every component whether it is still as applied, without changing anything.
    Drift,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Apply => "apply",
            JobKind::Noop => "noop",
            JobKind::Drift => "drift",
        }
    }

    pub fn parse(text: &str) -> Option<JobKind> {
        [JobKind::Apply, JobKind::Noop, JobKind::Drift].into_iter().find(|kind| kind.as_str() == text)
    }

    /// Whether the job changes nodes (and so what the store records as applied).
    pub fn changes_nodes(self) -> bool {
        self == JobKind::Apply
    }
}

/// What started a job. Recorded and shown; nothing decides on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `ordo apply` on the command line.
    Cli,
    /// A push webhook.
    Push,
    /// The CI endpoint.
    Ci,
    /// The controller's periodic poll, or its first reconcile at start.
    Poll,
    /// A change of a watched local repository's refs.
    Watch,
    /// The controller's drift timer (`drift_interval`).
    Schedule,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Cli => "cli",
            Trigger::Push => "push",
            Trigger::Ci => "ci",
            Trigger::Poll => "poll",
            Trigger::Watch => "watch",
            Trigger::Schedule => "schedule",
        }
    }

    pub fn parse(text: &str) -> Option<Trigger> {
        [Trigger::Cli, Trigger::Push, Trigger::Ci, Trigger::Poll, Trigger::Watch, Trigger::Schedule]
            .into_iter()
            .find(|trigger| trigger.as_str() == text)
    }
}

/// An environment's revisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvironmentRecord {
    pub name: String,
    pub last_attempted_revision: Option<String>,
    pub last_applied_revision: Option<String>,
}

/// A job to record before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub environment: String,
    /// The revision asked for: a commit, or the branch until the job resolves it.
    pub revision: String,
    pub kind: JobKind,
    pub trigger: Trigger,
}

/// A job as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRecord {
    pub id: JobId,
    pub environment: String,
    pub revision: String,
    pub kind: JobKind,
    pub trigger: Trigger,
    pub state: JobState,
    pub queued_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub summary: String,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFinish {
    pub state: JobState,
    pub summary: String,
    /// Set when the environment is now wholly at this revision.
    pub applied_revision: Option<String>,
    /// The problems that kept a revision from being planned, rendered as text.
    pub diagnostics: Option<String>,
}

/// What a stage did to a node's components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodePhase {
    Apply,
    Noop,
    Teardown,
}

impl NodePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            NodePhase::Apply => "apply",
            NodePhase::Noop => "noop",
            NodePhase::Teardown => "teardown",
        }
    }

    pub fn parse(text: &str) -> Option<NodePhase> {
        [NodePhase::Apply, NodePhase::Noop, NodePhase::Teardown].into_iter().find(|phase| phase.as_str() == text)
    }
}

/// Where a node's run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    Running,
    Success,
    Failed,
    /// Stopped by a cancellation before all its components ran.
    Cancelled,
    /// Its job's process stopped while it ran.
    Interrupted,
    /// Not run, because a node it depends on failed (the `continue` failure policy).
    Skipped,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Running => "running",
            NodeState::Success => "success",
            NodeState::Failed => "failed",
            NodeState::Cancelled => "cancelled",
            NodeState::Interrupted => "interrupted",
            NodeState::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Option<NodeState> {
        [
            NodeState::Running,
            NodeState::Success,
            NodeState::Failed,
            NodeState::Cancelled,
            NodeState::Interrupted,
            NodeState::Skipped,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// How one component went on its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentState {
    Applied,
    InSync,
    WouldChange,
    Removed,
    Failed,
    Skipped,
    Cancelled,
}

/// One component's result within a node's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentRecord {
    pub component: String,
    pub result: ComponentState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One node's result within a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeResultRecord {
    pub node: String,
    pub phase: NodePhase,
    pub group_index: i64,
    pub state: NodeState,
    /// When the node started and finished, RFC 3339 with microseconds.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: i64,
    pub components: Vec<ComponentRecord>,
    /// The tail of the node's output, secrets masked.
    pub output: String,
}

/// How an availability check went before a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// The capability checked (`Sql[app1]`).
    pub capability: String,
    pub phase: NodePhase,
    /// The group that waited for it.
    pub group_index: i64,
    pub passed: bool,
    pub attempts: i64,
    /// What the last attempt saw, when the check did not pass; secrets masked.
    pub message: String,
    pub started_at: String,
    pub finished_at: String,
}

/// A node held by a running job: whose it is, and until when, unless renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLockRecord {
    pub node: String,
    pub job: JobId,
    /// The process holding it, as `HOST:PID`.
    pub owner: String,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
}

/// What a request to cancel a job found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelRequest {
    /// The job is queued or running; its process (`HOST:PID`, when known) will stop it.
    Requested {
        owner: Option<String>,
    },
    /// The job has already ended in this state.
    Finished(JobState),
    NotFound,
}

/// A job with everything recorded about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobDetail {
    pub job: JobRecord,
    pub nodes: Vec<NodeResultRecord>,
    /// The availability checks waited for, in the order they ran.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckRecord>,
    /// The plan that was run, as `plan --format json` prints it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<serde_json::Value>,
    /// Why the revision could not be planned, as the command line prints it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<String>,
}

/// Which jobs to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobQuery {
    pub environment: Option<String>,
    /// Only jobs with a smaller id (the next page).
    pub before: Option<JobId>,
    pub limit: usize,
}

/// Where a pull request's preview of one environment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreviewState {
    /// The head loaded and planned; the plans are recorded.
    Planned,
    /// The head does not validate, or its nodes cannot be ordered; the diagnostics are
    /// recorded.
    Invalid,
    /// The head could not be planned at all (it could not be fetched, say); the summary says
    /// why.
    Error,
    /// The pull request is closed: its last preview is kept, and nothing more is posted.
    Outdated,
}

impl PreviewState {
    pub const ALL: [PreviewState; 4] =
        [PreviewState::Planned, PreviewState::Invalid, PreviewState::Error, PreviewState::Outdated];

    pub fn as_str(self) -> &'static str {
        match self {
            PreviewState::Planned => "planned",
            PreviewState::Invalid => "invalid",
            PreviewState::Error => "error",
            PreviewState::Outdated => "outdated",
        }
    }

    pub fn parse(text: &str) -> Option<PreviewState> {
        PreviewState::ALL.into_iter().find(|state| state.as_str() == text)
    }
}

/// The newest preview of a pull request for one environment (the environment its base
/// branch follows); a new push to the pull request replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewRecord {
    /// The pull request's number (GitLab: the merge request's `iid`).
    pub number: u64,
    pub environment: String,
    /// The branch the pull request would merge into.
    pub base_branch: String,
    /// The pull request's title as the forge sent it: repository text, to escape when shown.
    pub title: String,
    /// The commit previewed.
    pub head_sha: String,
    /// Where the pull request branched from its base branch, when known.
    pub base_sha: Option<String>,
    pub state: PreviewState,
    /// The status's description: `3 to add, 1 to change, 0 to remove on 4 nodes in 2 groups`.
    pub summary: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A preview with everything recorded about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewDetail {
    #[serde(flatten)]
    pub preview: PreviewRecord,
    /// The comment as posted (before any split into several).
    pub markdown: String,
    /// The head planned against the environment's last-applied state, as `plan --format
    /// json` prints it: what merging does to the environment now.
    pub plan: Option<serde_json::Value>,
    /// The head planned against its base commit: what the pull request itself changes.
    pub base_plan: Option<serde_json::Value>,
    /// Why the head could not be planned, as the command line prints it.
    pub diagnostics: Option<String>,
}

/// A post's identifier in the outbox.
pub type PostId = i64;

/// A post waiting in the outbox to be delivered to a forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRecord {
    pub id: PostId,
    /// What it is about, e.g. `commit:SHA` or `pull:N`; posts about one target and context
    /// are delivered in the order they were written.
    pub target: String,
    pub context: String,
    /// The post itself, as the reporting side wrote it.
    pub body: String,
    /// Failed deliveries so far.
    pub attempts: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_their_json() {
        let job = JobRecord {
            id: 7,
            environment: "production".into(),
            revision: "main@sha1:abc".into(),
            kind: JobKind::Apply,
            trigger: Trigger::Push,
            state: JobState::Success,
            queued_at: "2026-11-30T10:00:00.000Z".into(),
            started_at: Some("2026-11-30T10:00:00.100Z".into()),
            finished_at: Some("2026-11-30T10:00:01.000Z".into()),
            summary: "Success: 1 node in 1 group in 0.90s".into(),
        };
        let node = NodeResultRecord {
            node: "db1".into(),
            phase: NodePhase::Apply,
            group_index: 0,
            state: NodeState::Failed,
            started_at: "2026-11-30T10:00:00.200000Z".into(),
            finished_at: Some("2026-11-30T10:00:00.900000Z".into()),
            duration_ms: 700,
            components: vec![
                ComponentRecord { component: "Db[a]".into(), result: ComponentState::Applied, message: None },
                ComponentRecord {
                    component: "Db[b]".into(),
                    result: ComponentState::Failed,
                    message: Some("apply exited with code 1".into()),
                },
            ],
            output: "==> Db[a] apply\n".into(),
        };
        expect_test::expect![[r#"{"id":7,"environment":"production","revision":"main@sha1:abc","kind":"apply","trigger":"push","state":"success","queued_at":"2026-11-30T10:00:00.000Z","started_at":"2026-11-30T10:00:00.100Z","finished_at":"2026-11-30T10:00:01.000Z","summary":"Success: 1 node in 1 group in 0.90s"}"#]]
        .assert_eq(&serde_json::to_string(&job).unwrap());
        expect_test::expect![[r#"{"node":"db1","phase":"apply","group_index":0,"state":"failed","started_at":"2026-11-30T10:00:00.200000Z","finished_at":"2026-11-30T10:00:00.900000Z","duration_ms":700,"components":[{"component":"Db[a]","result":"applied"},{"component":"Db[b]","result":"failed","message":"apply exited with code 1"}],"output":"==> Db[a] apply\n"}"#]]
        .assert_eq(&serde_json::to_string(&node).unwrap());
        for state in JobState::ALL {
            assert_eq!(JobState::parse(state.as_str()), Some(state));
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
        let preview = PreviewDetail {
            preview: PreviewRecord {
                number: 12,
                environment: "production".into(),
                base_branch: "main".into(),
                title: "More web servers".into(),
                head_sha: "abc".into(),
                base_sha: Some("def".into()),
                state: PreviewState::Planned,
                summary: "0 to add, 1 to change, 0 to remove on 1 node in 1 group".into(),
                created_at: "2026-11-30T10:00:00.000Z".into(),
                updated_at: "2026-11-30T10:05:00.000Z".into(),
            },
            markdown: "### ordo".into(),
            plan: Some(serde_json::json!({"groups": [["web1"]]})),
            base_plan: None,
            diagnostics: None,
        };
        expect_test::expect![[r####"{"number":12,"environment":"production","base_branch":"main","title":"More web servers","head_sha":"abc","base_sha":"def","state":"planned","summary":"0 to add, 1 to change, 0 to remove on 1 node in 1 group","created_at":"2026-11-30T10:00:00.000Z","updated_at":"2026-11-30T10:05:00.000Z","markdown":"### ordo","plan":{"groups":[["web1"]]},"base_plan":null,"diagnostics":null}"####]]
        .assert_eq(&serde_json::to_string(&preview).unwrap());
        for state in PreviewState::ALL {
            assert_eq!(PreviewState::parse(state.as_str()), Some(state));
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
    }
}
