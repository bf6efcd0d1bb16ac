//! GitHub and GitHub Enterprise, through octocrab with a configurable API base URL.
//!
//! Statuses are `POST /repos/{owner}/{repo}/statuses/{sha}`. octocrab's own retries are
//! off: the outbox retries, with its backoff, and knows what was delivered.

use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use serde_json::json;

use super::{BoxFuture, DeliveryError, Forge, Post};

pub struct GitHub {
    client: Octocrab,
    owner: String,
    repo: String,
}

impl GitHub {
    /// A client of the API at `api_url` for `repository` (`owner/name`), authenticated with
    /// `token`. Needs a tokio runtime.
    pub fn new(api_url: &str, repository: &str, token: &str) -> anyhow::Result<GitHub> {
        let (owner, repo) = repository
            .split_once('/')
            .filter(|(owner, repo)| !owner.is_empty() && !repo.is_empty() && !repo.contains('/'))
            .ok_or_else(|| anyhow::anyhow!("repository {repository:?} is not OWNER/NAME"))?;
        let client = Octocrab::builder()
            .base_uri(api_url.trim_end_matches('/'))?
            .personal_token(token.to_string())
            .add_header(http::header::ACCEPT, "application/vnd.github+json".to_string())
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(std::time::Duration::from_secs(10)))
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .build()?;
        Ok(GitHub { client, owner: owner.to_string(), repo: repo.to_string() })
    }
}

impl Forge for GitHub {
    fn name(&self) -> &'static str {
        "github"
    }

    fn deliver<'a>(&'a self, post: &'a Post) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            match post {
                Post::Status(status) => {
                    let route = format!("/repos/{}/{}/statuses/{}", self.owner, self.repo, status.sha);
                    let mut body = json!({
                        "state": status.state.as_str(),
                        "context": status.context,
                        "description": status.description,
                    });
                    if let Some(url) = &status.target_url {
                        body["target_url"] = json!(url);
                    }
                    self.client.post::<_, serde_json::Value>(route, Some(&body)).await.map(drop).map_err(classify)
                }
            }
        })
    }
}

/// Whether an error is worth retrying: everything but a request GitHub refused as invalid.
fn classify(err: octocrab::Error) -> DeliveryError {
    match &err {
        octocrab::Error::GitHub { source, .. } => {
            let message = format!("GitHub answered {}: {}", source.status_code, source.message);
            match source.status_code.as_u16() {
                400 | 422 => DeliveryError::Rejected(message),
                _ => DeliveryError::Transient(message),
            }
        }
        other => DeliveryError::Transient(format!("GitHub could not be reached: {}", error_chain(other))),
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
