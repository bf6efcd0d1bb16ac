//! Webhooks from GitHub, Gitea (and Forgejo) and GitLab: verify, filter, hand over, answer
//! 202. Payloads are hints: what runs is decided from Git, never from their file lists.
//!
//! Each forge's module checks its authentication ([`github`]: HMAC-SHA256 in
//! `X-Hub-Signature-256`; [`gitea`]: the same HMAC as hex in `X-Gitea-Signature`;
//! [`gitlab`]: the secret itself in `X-Gitlab-Token`, compared in constant time), names each
//! delivery so a repeated one counts once, and reads its payload into a [`Hook`]. From
//! there all forges are alike: a push to an environment's branch wakes the controller; a
//! pull request's event goes to the controller's previews, which queue it and return.

mod gitea;
mod github;
mod gitlab;

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use crate::controller::{ForgeKind, PreviewAccepted, PullRequestEvent};
use crate::store::Trigger;

/// How many delivery ids are remembered. A redelivery older than that only wakes the
/// controller, which then finds nothing new in Git.
const DELIVERIES_KEPT: usize = 10_000;

/// Delivery ids seen lately.
#[derive(Default)]
pub struct Deliveries {
    seen: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl Deliveries {
    /// Remembers an id; `false` when it was seen before.
    fn first_time(&self, id: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (set, order) = &mut *seen;
        if !set.insert(id.to_string()) {
            return false;
        }
        order.push_back(id.to_string());
        if order.len() > DELIVERIES_KEPT
            && let Some(oldest) = order.pop_front()
        {
            set.remove(&oldest);
        }
        true
    }
}

/// What a delivery says, once read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hook {
    Ping,
    /// Something was pushed to a ref: a branch, or something else (`None`).
    Push {
        branch: Option<String>,
    },
    PullRequest(PullRequestEvent),
    /// Why the delivery is not used.
    Ignored(&'static str),
}

/// A header's value, when it is text.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn answer(forge: ForgeKind, status: StatusCode, result: &'static str, message: &str) -> Response {
    metrics::counter!("ordo_webhook_deliveries_total", "forge" => forge.as_str(), "result" => result).increment(1);
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// `POST /webhooks/github`.
pub async fn github(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    receive(&state, ForgeKind::GitHub, &headers, &body)
}

/// `POST /webhooks/gitea`, for Gitea and Forgejo.
pub async fn gitea(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    receive(&state, ForgeKind::Gitea, &headers, &body)
}

/// `POST /webhooks/gitlab`.
pub async fn gitlab(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    receive(&state, ForgeKind::GitLab, &headers, &body)
}

/// One delivery from any forge: authenticate, count once, read, hand over.
fn receive(state: &AppState, forge: ForgeKind, headers: &HeaderMap, body: &[u8]) -> Response {
    let config = &state.controller.config().server;
    let Some(secret) = &config.webhook_secret else {
        return answer(
            forge,
            StatusCode::NOT_FOUND,
            "disabled",
            "webhooks are off: set webhook_secret_env or webhook_secret_file",
        );
    };
    let secret = secret.expose().as_bytes();
    let (verified, what) = match forge {
        ForgeKind::GitHub => (github::verify(secret, headers, body), "the signature (X-Hub-Signature-256)"),
        ForgeKind::Gitea => (gitea::verify(secret, headers, body), "the signature (X-Gitea-Signature)"),
        ForgeKind::GitLab => (gitlab::verify(secret, headers), "the token (X-Gitlab-Token)"),
    };
    if !verified {
        return answer(forge, StatusCode::UNAUTHORIZED, "unauthorized", &format!("{what} does not match"));
    }
    let delivery = match forge {
        ForgeKind::GitHub => header(headers, "x-github-delivery"),
        ForgeKind::Gitea => header(headers, "x-gitea-delivery"),
        ForgeKind::GitLab => gitlab::delivery(headers),
    };
    if let Some(delivery) = delivery
        && !state.deliveries.first_time(&format!("{}:{delivery}", forge.as_str()))
    {
        return answer(forge, StatusCode::ACCEPTED, "duplicate", "this delivery was already received");
    }
    let payload: Value = match serde_json::from_slice(body) {
        Ok(payload @ Value::Object(_)) => payload,
        Ok(_) | Err(_) => return answer(forge, StatusCode::BAD_REQUEST, "malformed", "the body is not a JSON object"),
    };
    let hook = match forge {
        ForgeKind::GitHub => github::read(headers, &payload),
        ForgeKind::Gitea => gitea::read(headers, &payload),
        ForgeKind::GitLab => gitlab::read(headers, &payload),
    };
    match hook {
        Hook::Ping => answer(forge, StatusCode::ACCEPTED, "ping", "pong"),
        Hook::Push { branch } => match branch.and_then(|branch| state.controller.config().environment_of(&branch)) {
            Some(environment) => {
                tracing::info!(%environment, forge = forge.as_str(), "push webhook");
                state.controller.wake(Trigger::Push);
                answer(forge, StatusCode::ACCEPTED, "accepted", "the environment will be reconciled")
            }
            None => answer(forge, StatusCode::ACCEPTED, "ignored", "no environment follows this ref"),
        },
        Hook::PullRequest(event) => {
            let (number, action) = (event.number, event.action);
            match state.controller.preview(event) {
                PreviewAccepted::Queued => {
                    tracing::info!(pull = number, ?action, forge = forge.as_str(), "pull request webhook");
                    answer(forge, StatusCode::ACCEPTED, "accepted", "the pull request will be previewed")
                }
                PreviewAccepted::Ignored(why) => answer(forge, StatusCode::ACCEPTED, "ignored", why),
            }
        }
        Hook::Ignored(why) => answer(forge, StatusCode::ACCEPTED, "ignored", why),
    }
}

/// The branch a full ref names (`refs/heads/main` is `main`).
fn branch_of(reference: &Value) -> Option<String> {
    reference.as_str().and_then(|reference| reference.strip_prefix("refs/heads/")).map(str::to_string)
}

/// Whether `signature` (hex) is the HMAC-SHA256 of `body` with `secret`, checked in constant
/// time, as GitHub and Gitea sign deliveries.
fn hmac_matches(secret: &[u8], body: &[u8], signature: Option<&str>) -> bool {
    use hmac::{Hmac, Mac};
    let Some(signature) = signature.and_then(decode_hex) else { return false };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes a key of any size");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_count_once_and_old_ones_are_forgotten() {
        let deliveries = Deliveries::default();
        assert!(deliveries.first_time("a"));
        assert!(!deliveries.first_time("a"));
        for index in 0..DELIVERIES_KEPT {
            assert!(deliveries.first_time(&index.to_string()));
        }
        assert!(deliveries.first_time("a"), "the oldest id is forgotten");
        assert_eq!(decode_hex("0aff"), Some(vec![10, 255]));
        assert_eq!(decode_hex("0g"), None);
    }

    fn headers(name: &'static str, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, value.parse().unwrap());
        headers
    }

    /// What a pull request's delivery asks for: `ACTION NUMBER BASE`, or why it is ignored.
    fn read(forge: ForgeKind, payload: Value) -> String {
        let hook = match forge {
            ForgeKind::GitHub => github::read(&headers("x-github-event", "pull_request"), &payload),
            ForgeKind::Gitea => gitea::read(&headers("x-gitea-event", "pull_request"), &payload),
            ForgeKind::GitLab => gitlab::read(&headers("x-gitlab-event", "Merge Request Hook"), &payload),
        };
        match hook {
            Hook::PullRequest(event) => {
                assert_eq!(event.forge, forge);
                format!("{:?} {} {} {:?}", event.action, event.number, event.base_branch, event.repository)
            }
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn each_forge_says_what_happened_to_a_pull_request() {
        let github = |action: &str, changes: Value| {
            json!({"action": action, "number": 5, "changes": changes, "repository": {"full_name": "acme/site"},
                   "pull_request": {"number": 5, "title": "t", "base": {"ref": "main"}}})
        };
        assert_eq!(read(ForgeKind::GitHub, github("opened", json!({}))), r#"Opened 5 main ["acme/site"]"#);
        assert_eq!(read(ForgeKind::GitHub, github("synchronize", json!({}))), r#"Updated 5 main ["acme/site"]"#);
        let new_base = json!({"base": {"ref": {"from": "develop"}}});
        assert_eq!(read(ForgeKind::GitHub, github("edited", new_base)), r#"Updated 5 main ["acme/site"]"#);
        let new_title = json!({"title": {"from": "old"}});
        assert_eq!(
            read(ForgeKind::GitHub, github("edited", new_title)),
            r#"Ignored("this pull request action is not previewed")"#
        );
        assert_eq!(read(ForgeKind::GitHub, github("closed", json!({}))), r#"Closed 5 main ["acme/site"]"#);
        assert_eq!(read(ForgeKind::Gitea, github("synchronized", json!({}))), r#"Updated 5 main ["acme/site"]"#);
        let new_ref = json!({"ref": {"from": "develop"}});
        assert_eq!(read(ForgeKind::Gitea, github("edited", new_ref)), r#"Updated 5 main ["acme/site"]"#);
        assert_eq!(
            read(ForgeKind::Gitea, github("label_updated", json!({}))),
            r#"Ignored("this pull request action is not previewed")"#
        );
        let gitlab = |action: &str, oldrev: Option<&str>| {
            let mut payload = json!({"object_kind": "merge_request", "changes": {},
                "project": {"id": 15, "path_with_namespace": "acme/site"},
                "object_attributes": {"iid": 3, "action": action, "target_branch": "main", "title": "t"}});
            if let Some(oldrev) = oldrev {
                payload["object_attributes"]["oldrev"] = json!(oldrev);
            }
            payload
        };
        assert_eq!(read(ForgeKind::GitLab, gitlab("open", None)), r#"Opened 3 main ["acme/site", "15"]"#);
        assert_eq!(read(ForgeKind::GitLab, gitlab("update", Some("abc"))), r#"Updated 3 main ["acme/site", "15"]"#);
        assert_eq!(
            read(ForgeKind::GitLab, gitlab("update", None)),
            r#"Ignored("this merge request action is not previewed")"#
        );
        assert_eq!(read(ForgeKind::GitLab, gitlab("merge", None)), r#"Closed 3 main ["acme/site", "15"]"#);
        assert_eq!(
            read(ForgeKind::GitLab, gitlab("approved", None)),
            r#"Ignored("this merge request action is not previewed")"#
        );
    }
}
