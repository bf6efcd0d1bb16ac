//! GitLab's webhooks. GitLab signs nothing: it sends the webhook's secret token itself in
//! `X-Gitlab-Token`, compared here in constant time. `Idempotency-Key` is the same across a
//! delivery's retries and names it (`X-Gitlab-Webhook-UUID`, one per request, when it is
//! missing); `X-Gitlab-Event` is the event (`Push Hook`, `Merge Request Hook`).
//!
//! A merge request is previewed on `open`, `reopen`, and an `update` that changed its code
//! (`object_attributes.oldrev` is present) or its target branch (`changes.target_branch`);
//! `close` and `merge` outdate its comments. Its number is `object_attributes.iid`, its
//! base `object_attributes.target_branch`, its title `object_attributes.title`, its project
//! `project.path_with_namespace` (or `project.id`).

use axum::http::HeaderMap;
use serde_json::Value;

use super::{Hook, branch_of, header};
use crate::controller::{ForgeKind, PullAction, PullRequestEvent};
use crate::server::auth::constant_time_eq;

pub(super) fn verify(secret: &[u8], headers: &HeaderMap) -> bool {
    header(headers, "x-gitlab-token").is_some_and(|token| constant_time_eq(token.as_bytes(), secret))
}

pub(super) fn delivery(headers: &HeaderMap) -> Option<&str> {
    header(headers, "idempotency-key").or_else(|| header(headers, "x-gitlab-webhook-uuid"))
}

pub(super) fn read(headers: &HeaderMap, payload: &Value) -> Hook {
    match header(headers, "x-gitlab-event").unwrap_or_default() {
        "Push Hook" => Hook::Push { branch: branch_of(&payload["ref"]) },
        "Merge Request Hook" => merge_request(payload),
        _ => Hook::Ignored("this event is not used"),
    }
}

fn merge_request(payload: &Value) -> Hook {
    let attributes = &payload["object_attributes"];
    let action = match attributes["action"].as_str().unwrap_or_default() {
        "open" | "reopen" => PullAction::Opened,
        "update" if attributes["oldrev"].is_string() || payload["changes"]["target_branch"].is_object() => {
            PullAction::Updated
        }
        "close" | "merge" => PullAction::Closed,
        _ => return Hook::Ignored("this merge request action is not previewed"),
    };
    let (Some(number), Some(base_branch)) = (attributes["iid"].as_u64(), attributes["target_branch"].as_str()) else {
        return Hook::Ignored("the merge request has no iid or target branch");
    };
    let project = &payload["project"];
    let repository =
        [project["path_with_namespace"].as_str().map(str::to_string), project["id"].as_u64().map(|id| id.to_string())];
    Hook::PullRequest(PullRequestEvent {
        number,
        action,
        base_branch: base_branch.to_string(),
        title: attributes["title"].as_str().unwrap_or_default().to_string(),
        forge: ForgeKind::GitLab,
        repository: repository.into_iter().flatten().collect(),
    })
}
