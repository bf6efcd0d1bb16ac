//! Webhooks: verify, filter, wake, answer 202. Payloads are hints: what runs is decided from
//! Git, never from their file lists.
//!
//! GitHub signs the raw body with HMAC-SHA256 (`X-Hub-Signature-256: sha256=HEX`), checked
//! in constant time; each delivery (`X-GitHub-Delivery`) counts once.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::AppState;
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

fn answer(status: StatusCode, result: &'static str, message: &str) -> Response {
    metrics::counter!("ordo_webhook_deliveries_total", "forge" => "github", "result" => result).increment(1);
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// `POST /webhooks/github`.
pub async fn github(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let config = &state.controller.config().server;
    let Some(secret) = &config.webhook_secret else {
        return answer(
            StatusCode::NOT_FOUND,
            "disabled",
            "webhooks are off: set webhook_secret_env or webhook_secret_file",
        );
    };
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let verified = header("x-hub-signature-256")
        .and_then(|value| value.strip_prefix("sha256="))
        .and_then(decode_hex)
        .is_some_and(|signature| {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes a key of any size");
            mac.update(&body);
            mac.verify_slice(&signature).is_ok()
        });
    if !verified {
        return answer(StatusCode::UNAUTHORIZED, "unauthorized", "the signature (X-Hub-Signature-256) does not match");
    }
    if let Some(delivery) = header("x-github-delivery")
        && !state.deliveries.first_time(delivery)
    {
        return answer(StatusCode::ACCEPTED, "duplicate", "this delivery was already received");
    }
    let event = header("x-github-event").unwrap_or_default();
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(payload @ Value::Object(_)) => payload,
        Ok(_) | Err(_) => return answer(StatusCode::BAD_REQUEST, "malformed", "the body is not a JSON object"),
    };
    match event {
        "ping" => answer(StatusCode::ACCEPTED, "ping", "pong"),
        "push" => {
            let branch = payload["ref"].as_str().and_then(|reference| reference.strip_prefix("refs/heads/"));
            match branch.and_then(|branch| state.controller.config().environment_of(branch)) {
                Some(environment) => {
                    tracing::info!(%environment, "push webhook");
                    state.controller.wake(Trigger::Push);
                    answer(StatusCode::ACCEPTED, "accepted", "the environment will be reconciled")
                }
                None => answer(StatusCode::ACCEPTED, "ignored", "no environment follows this ref"),
            }
        }
        "pull_request" => answer(StatusCode::ACCEPTED, "accepted", "pull request received"),
        _ => answer(StatusCode::ACCEPTED, "ignored", "this event is not used"),
    }
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
}
