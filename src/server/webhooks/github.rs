//! GitHub's webhooks: `X-Hub-Signature-256: sha256=HEX`, the HMAC-SHA256 of the raw body
//! with the webhook secret; `X-GitHub-Delivery` names the delivery and `X-GitHub-Event` the
//! event (`ping`, `push`, `pull_request`).
//!
//! A `pull_request` is previewed when `opened`, `reopened`, `synchronize`d (new commits) or
//! `edited` with a new base (`changes.base`); `closed` (merged or not) outdates its
//! comments. Its number is `number`, its base `pull_request.base.ref`, its title
//! `pull_request.title`, its repository `repository.full_name`.

use axum::http::HeaderMap;
use serde_json::Value;

use super::{Hook, branch_of, header, hmac_matches};
use crate::controller::{ForgeKind, PullAction, PullRequestEvent};

pub(super) fn verify(secret: &[u8], headers: &HeaderMap, body: &[u8]) -> bool {
    let signature = header(headers, "x-hub-signature-256").and_then(|value| value.strip_prefix("sha256="));
    hmac_matches(secret, body, signature)
}

pub(super) fn read(headers: &HeaderMap, payload: &Value) -> Hook {
    match header(headers, "x-github-event").unwrap_or_default() {
        "ping" => Hook::Ping,
        "push" => Hook::Push { branch: branch_of(&payload["ref"]) },
        "pull_request" => pull_request(payload, ForgeKind::GitHub, "synchronize", "base"),
        _ => Hook::Ignored("this event is not used"),
    }
}

/// A pull request's event as GitHub shapes it, which Gitea keeps but for the names of the
/// action that says new commits came (`synchronized`) and of the change of base (`ref`).
pub(super) fn pull_request(payload: &Value, forge: ForgeKind, new_commits: &str, new_base: &str) -> Hook {
    let action = match payload["action"].as_str().unwrap_or_default() {
        "opened" | "reopened" => PullAction::Opened,
        action if action == new_commits => PullAction::Updated,
        "edited" if payload["changes"][new_base].is_object() => PullAction::Updated,
        "closed" => PullAction::Closed,
        _ => return Hook::Ignored("this pull request action is not previewed"),
    };
    let pull = &payload["pull_request"];
    let (Some(number), Some(base_branch)) =
        (payload["number"].as_u64().or_else(|| pull["number"].as_u64()), pull["base"]["ref"].as_str())
    else {
        return Hook::Ignored("the pull request has no number or base branch");
    };
    Hook::PullRequest(PullRequestEvent {
        number,
        action,
        base_branch: base_branch.to_string(),
        title: pull["title"].as_str().unwrap_or_default().to_string(),
        forge,
        repository: payload["repository"]["full_name"].as_str().map(str::to_string).into_iter().collect(),
    })
}
