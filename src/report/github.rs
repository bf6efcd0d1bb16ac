//! GitHub and GitHub Enterprise (`api_url`), with a token sent as `Authorization: Bearer`;
//! and Gitea and Forgejo, which keep GitHub's routes (`api_url` is `https://HOST/api/v1`),
//! with a token sent as `Authorization: token TOKEN`.
//!
//! Statuses are `POST /repos/{owner}/{repo}/statuses/{sha}` with GitHub's states. A pull
//! request's comments are its issue's comments: listed a hundred a page on GitHub and whole
//! on Gitea (`GET .../issues/{number}/comments`), created with `POST` there, edited with
//! `PATCH .../issues/comments/{id}` (octocrab's own `update_comment` sends a POST there,
//! which GitHub's description does not have) and deleted with `DELETE` on the same path.

use http::Method;
use serde_json::{Value, json};

use super::api::JsonApi;
use super::sticky::{self, CommentApi, ForgeComment};
use super::{BoxFuture, CommitStatus, DeliveryError, Forge, Post};

/// GitHub's page size for lists, at most 100.
const PAGE: usize = 100;

/// What sets GitHub's API and Gitea's apart for a client.
struct Dialect {
    /// The forge as errors name it.
    label: &'static str,
    /// The forge as logs and metrics name it.
    name: &'static str,
    accept: &'static str,
    /// The scheme of the `Authorization` header's token.
    scheme: &'static str,
    /// Whether comments are listed a page at a time (GitHub) or whole (Gitea).
    paged: bool,
}

const GITHUB: Dialect =
    Dialect { label: "GitHub", name: "github", accept: "application/vnd.github+json", scheme: "Bearer", paged: true };
const GITEA: Dialect =
    Dialect { label: "Gitea", name: "gitea", accept: "application/json", scheme: "token", paged: false };

/// A client of GitHub's API, or of Gitea's.
pub struct GitHub {
    api: JsonApi,
    /// `/repos/OWNER/NAME`.
    repo: String,
    dialect: &'static Dialect,
}

impl GitHub {
    /// A client of GitHub's API at `api_url` for `repository` (`owner/name`), authenticated
    /// with `token`. Needs a tokio runtime.
    pub fn new(api_url: &str, repository: &str, token: &str) -> anyhow::Result<GitHub> {
        GitHub::speaking(&GITHUB, api_url, repository, token)
    }

    /// A client of Gitea's (or Forgejo's) API at `api_url` for `repository`, authenticated
    /// with `token`. Needs a tokio runtime.
    pub fn gitea(api_url: &str, repository: &str, token: &str) -> anyhow::Result<GitHub> {
        GitHub::speaking(&GITEA, api_url, repository, token)
    }

    fn speaking(dialect: &'static Dialect, api_url: &str, repository: &str, token: &str) -> anyhow::Result<GitHub> {
        let (owner, repo) = split_repository(repository)?;
        let authorization = (http::header::AUTHORIZATION, format!("{} {token}", dialect.scheme));
        let api = JsonApi::new(dialect.label, api_url, dialect.accept, authorization)?;
        Ok(GitHub { api, repo: format!("/repos/{owner}/{repo}"), dialect })
    }
}

/// `owner/name` as its two parts.
pub(super) fn split_repository(repository: &str) -> anyhow::Result<(&str, &str)> {
    repository
        .split_once('/')
        .filter(|(owner, repo)| !owner.is_empty() && !repo.is_empty() && !repo.contains('/'))
        .ok_or_else(|| anyhow::anyhow!("repository {repository:?} is not OWNER/NAME"))
}

/// A status as GitHub takes it, and Gitea after it.
fn status_body(status: &CommitStatus) -> Value {
    let mut body = json!({
        "state": status.state.as_str(),
        "context": status.context,
        "description": status.description,
    });
    if let Some(url) = &status.target_url {
        body["target_url"] = json!(url);
    }
    body
}

// GitHub's routes for statuses and a pull request's comments, which Gitea keeps too; `repo`
// is `/repos/OWNER/NAME`.

async fn post_status(api: &JsonApi, repo: &str, status: &CommitStatus) -> Result<(), DeliveryError> {
    let route = format!("{repo}/statuses/{}", status.sha);
    api.send(Method::POST, &route, Some(&status_body(status))).await.map(drop)
}

async fn create_comment(api: &JsonApi, repo: &str, number: u64, body: &str) -> Result<(), DeliveryError> {
    let route = format!("{repo}/issues/{number}/comments");
    api.send(Method::POST, &route, Some(&json!({ "body": body }))).await.map(drop)
}

async fn update_comment(api: &JsonApi, repo: &str, id: u64, body: &str) -> Result<(), DeliveryError> {
    let route = format!("{repo}/issues/comments/{id}");
    api.send(Method::PATCH, &route, Some(&json!({ "body": body }))).await.map(drop)
}

async fn delete_comment(api: &JsonApi, repo: &str, id: u64) -> Result<(), DeliveryError> {
    let route = format!("{repo}/issues/comments/{id}");
    api.send(Method::DELETE, &route, None).await.map(drop)
}

/// The `{id, body}` of each comment in a list forges answer with.
pub(super) fn comments_of(answer: &Value) -> Vec<ForgeComment> {
    answer
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|comment| {
            Some(ForgeComment { id: comment["id"].as_u64()?, body: comment["body"].as_str()?.to_string() })
        })
        .collect()
}

impl CommentApi for GitHub {
    async fn list(&self, number: u64) -> Result<Vec<ForgeComment>, DeliveryError> {
        if !self.dialect.paged {
            let route = format!("{}/issues/{number}/comments", self.repo);
            return Ok(comments_of(&self.api.send(Method::GET, &route, None).await?));
        }
        let mut all = Vec::new();
        for page in 1.. {
            let route = format!("{}/issues/{number}/comments?per_page={PAGE}&page={page}", self.repo);
            let comments = comments_of(&self.api.send(Method::GET, &route, None).await?);
            let last = comments.len() < PAGE;
            all.extend(comments);
            if last {
                break;
            }
        }
        Ok(all)
    }

    async fn create(&self, number: u64, body: &str) -> Result<(), DeliveryError> {
        create_comment(&self.api, &self.repo, number, body).await
    }

    async fn update(&self, _number: u64, id: u64, body: &str) -> Result<(), DeliveryError> {
        update_comment(&self.api, &self.repo, id, body).await
    }

    async fn delete(&self, _number: u64, id: u64) -> Result<(), DeliveryError> {
        delete_comment(&self.api, &self.repo, id).await
    }
}

impl Forge for GitHub {
    fn name(&self) -> &'static str {
        self.dialect.name
    }

    fn deliver<'a>(&'a self, post: &'a Post) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            match post {
                Post::Status(status) => post_status(&self.api, &self.repo, status).await,
                Post::Comment(comment) => sticky::upsert(self, comment).await,
            }
        })
    }
}
