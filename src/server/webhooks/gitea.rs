//! Gitea's (and Forgejo's) webhooks: `X-Gitea-Signature: HEX`, the HMAC-SHA256 of the raw
//! body with the webhook secret (Forgejo sends it too, beside its own `X-Forgejo-*`
//! headers); `X-Gitea-Delivery` names the delivery and `X-Gitea-Event` the event (`push`,
//! `pull_request`).
//!
//! A `pull_request` is previewed when `opened`, `reopened`, `synchronized` (new commits) or
//! `edited` with a new base (`changes.ref`); `closed` (merged or not) outdates its comments.
//! Its number is `number`, its base `pull_request.base.ref`, its title
//! `pull_request.title`, its repository `repository.full_name`.

use axum::http::HeaderMap;
use serde_json::Value;

use super::{Hook, branch_of, header, hmac_matches};
use crate::controller::ForgeKind;

pub(super) fn verify(secret: &[u8], headers: &HeaderMap, body: &[u8]) -> bool {
    hmac_matches(secret, body, header(headers, "x-gitea-signature"))
}

pub(super) fn read(headers: &HeaderMap, payload: &Value) -> Hook {
    match header(headers, "x-gitea-event").unwrap_or_default() {
        "push" => Hook::Push { branch: branch_of(&payload["ref"]) },
        "pull_request" => super::github::pull_request(payload, ForgeKind::Gitea, "synchronized", "ref"),
        _ => Hook::Ignored("this event is not used"),
    }
}
