//! Reporting results back where changes come from: commit statuses (and, for pull
//! requests, comments) on a forge, delivered through a durable outbox.
//!
//! [`Post`] is the forge-neutral model of what is said: a commit status, or a sticky
//! comment on a pull request. [`Forge`] is what a forge implements to say it ([`github`],
//! for Gitea too, [`gitlab`], [`notes`]); the three hosted forges share one HTTP client
//! ([`api`]) and one way of keeping a comment in place ([`sticky`]). [`outbox::Outbox`]
//! writes every post to the store first and delivers it with backoff, in order per target
//! and context, across restarts. Only this module knows forges.

pub mod api;
pub mod github;
pub mod gitlab;
pub mod notes;
pub mod outbox;
pub mod sticky;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

/// A future a forge returns; boxed, so the forge can be chosen at run time.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The longest description a commit status may carry (GitHub's limit).
pub const MAX_DESCRIPTION: usize = 140;

/// A commit status's state, as forges know them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    Pending,
    Success,
    Failure,
    Error,
}

impl StatusState {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        }
    }
}

/// A status on a commit, in one context (`ordo/production`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitStatus {
    pub sha: String,
    pub context: String,
    pub state: StatusState,
    pub description: String,
    pub target_url: Option<String>,
}

impl CommitStatus {
    /// A status with its description cut to what forges accept.
    pub fn new(sha: &str, context: &str, state: StatusState, description: &str, target_url: Option<String>) -> Self {
        CommitStatus {
            sha: sha.to_string(),
            context: context.to_string(),
            state,
            description: shorten(description, MAX_DESCRIPTION),
            target_url,
        }
    }
}

/// A comment kept on a pull request: one per pull request and key, found again by a hidden
/// marker and edited in place each time it is posted (see [`sticky`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullComment {
    /// The pull request's number (GitLab: the merge request's `iid`).
    pub number: u64,
    /// Which comment of the pull request this is (`ordo/production/plan`).
    pub key: String,
    /// Markdown; split over several comments when longer than a forge takes.
    pub body: String,
    /// The outdated form: the pull request is closed, and the comment says so above `body`,
    /// its last content, kept for reference.
    #[serde(default)]
    pub outdated: bool,
}

/// Something to say on a forge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Post {
    Status(CommitStatus),
    Comment(PullComment),
}

impl Post {
    /// What the post is about; posts about one target and context keep their order.
    pub fn target(&self) -> String {
        match self {
            Post::Status(status) => format!("commit:{}", status.sha),
            Post::Comment(comment) => format!("pull:{}", comment.number),
        }
    }

    pub fn context(&self) -> &str {
        match self {
            Post::Status(status) => &status.context,
            Post::Comment(comment) => &comment.key,
        }
    }
}

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// Worth trying again later: the forge is down, slow, or refused for now.
    Transient(String),
    /// The forge rejected the post itself; trying again would not change that.
    Rejected(String),
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliveryError::Transient(message) | DeliveryError::Rejected(message) => f.write_str(message),
        }
    }
}

/// A place posts are delivered to.
pub trait Forge: Send + Sync {
    /// A short name for logs and metrics (`github`, `gitea`, `gitlab`, `notes`).
    fn name(&self) -> &'static str;

    fn deliver<'a>(&'a self, post: &'a Post) -> BoxFuture<'a, Result<(), DeliveryError>>;
}

/// `text` cut to at most `limit` characters, with an ellipsis when it was longer.
pub fn shorten(text: &str, limit: usize) -> String {
    let text = text.lines().next().unwrap_or_default();
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut out: String = text.chars().take(limit.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_fit_the_forge() {
        let long = "x".repeat(200);
        let status = CommitStatus::new("abc", "ordo/production", StatusState::Failure, &long, None);
        assert_eq!(status.description.chars().count(), MAX_DESCRIPTION);
        assert!(status.description.ends_with('…'));
        assert_eq!(shorten("first line\nsecond", 140), "first line");
        let json = serde_json::to_string(&Post::Status(status.clone())).unwrap();
        assert!(json.starts_with(r#"{"kind":"status","sha":"abc","context":"ordo/production","state":"failure""#));
        assert_eq!(serde_json::from_str::<Post>(&json).unwrap(), Post::Status(status));
        let comment = Post::Comment(PullComment {
            number: 7,
            key: "ordo/production/plan".into(),
            body: "the plan".into(),
            outdated: false,
        });
        let json = serde_json::to_string(&comment).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"comment","number":7,"key":"ordo/production/plan","body":"the plan","outdated":false}"#
        );
        assert_eq!((comment.target().as_str(), comment.context()), ("pull:7", "ordo/production/plan"));
        assert_eq!(serde_json::from_str::<Post>(&json).unwrap(), comment);
    }
}
