//! JSON over HTTP to a forge's REST API: the one client GitHub, Gitea and GitLab share.
//!
//! It is octocrab's HTTP stack (hyper, rustls, connect and read timeouts) used through its
//! raw requests, which are plain JSON over HTTPS to any API base URL; each forge adds its
//! own authentication header. octocrab's retries are off: the outbox retries, with its
//! backoff, and knows what was delivered. Answers are classified once, here: a request the
//! forge refused as invalid is rejected for good, anything else is worth trying again.

use http::header::{ACCEPT, HeaderName};
use http::{Method, StatusCode};
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use serde_json::Value;

use super::DeliveryError;

/// A client of one forge's API.
pub struct JsonApi {
    client: Octocrab,
    /// The forge's name, for messages (`GitHub`, `Gitea`, `GitLab`).
    forge: &'static str,
}

impl JsonApi {
    /// A client of the API at `api_url` that sends `auth` (a header and its value) and
    /// `accept` with every request. Needs a tokio runtime.
    pub fn new(
        forge: &'static str,
        api_url: &str,
        accept: &str,
        auth: (HeaderName, String),
    ) -> anyhow::Result<JsonApi> {
        let client = Octocrab::builder()
            .base_uri(api_url.trim_end_matches('/'))?
            .add_header(ACCEPT, accept.to_string())
            .add_header(auth.0, auth.1)
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(std::time::Duration::from_secs(10)))
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .build()?;
        Ok(JsonApi { client, forge })
    }

    /// Sends a request to `route` (a path under the API's base, query included) and returns
    /// the JSON answer (`null` for an empty one).
    pub async fn send(&self, method: Method, route: &str, body: Option<&Value>) -> Result<Value, DeliveryError> {
        let uri = route
            .parse::<http::Uri>()
            .map_err(|err| DeliveryError::Rejected(format!("{route} is not a path of the API: {err}")))?;
        let response = match method.as_str() {
            "GET" => self.client._get(uri).await,
            "POST" => self.client._post(uri, body).await,
            "PATCH" => self.client._patch(uri, body).await,
            "PUT" => self.client._put(uri, body).await,
            "DELETE" => self.client._delete(uri, body).await,
            other => return Err(DeliveryError::Rejected(format!("{other} is not used with forges"))),
        }
        .map_err(|err| {
            DeliveryError::Transient(format!("{} could not be reached: {}", self.forge, error_chain(&err)))
        })?;
        let status = response.status();
        let text = self.client.body_to_string(response).await.map_err(|err| {
            DeliveryError::Transient(format!("reading {}'s answer: {}", self.forge, error_chain(&err)))
        })?;
        // An answer that is not JSON (an empty 204, a proxy's HTML page) counts as none.
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(answer);
        }
        Err(self.classify(status, &answer))
    }

    /// Whether a refusal is worth trying again: everything but a request the forge refused
    /// as invalid (400, 422), which would be refused the same way each time.
    fn classify(&self, status: StatusCode, answer: &Value) -> DeliveryError {
        let message = answer["message"].as_str().or_else(|| answer["error"].as_str()).unwrap_or_default();
        let message = format!("{} answered {status}: {}", self.forge, crate::text::excerpt(message));
        match status.as_u16() {
            400 | 422 => DeliveryError::Rejected(message),
            _ => DeliveryError::Transient(message),
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
