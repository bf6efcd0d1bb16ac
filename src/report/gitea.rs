//! Gitea and Forgejo (which keeps Gitea's API), at `api_url` (`https://HOST/api/v1`), with a
//! token sent as `Authorization: token TOKEN`.
//!
//! Statuses are `POST /repos/{owner}/{repo}/statuses/{sha}` with GitHub's states. A pull
//! request's comments are its issue's: listed whole with `GET
//! .../issues/{index}/comments`, created with `POST` there, edited with `PATCH
//! .../issues/comments/{id}` and deleted with `DELETE` on the same path.

use http::Method;

use super::api::JsonApi;
use super::github::{comments_of, create_comment, delete_comment, post_status, split_repository, update_comment};
use super::sticky::{self, CommentApi, ForgeComment};
use super::{BoxFuture, DeliveryError, Forge, Post};

pub struct Gitea {
    api: JsonApi,
    /// `/repos/OWNER/NAME`.
    repo: String,
}

impl Gitea {
    /// A client of the API at `api_url` for `repository` (`owner/name`), authenticated with
    /// `token`. Needs a tokio runtime.
    pub fn new(api_url: &str, repository: &str, token: &str) -> anyhow::Result<Gitea> {
        let (owner, repo) = split_repository(repository)?;
        let api = JsonApi::new(
            "Gitea",
            api_url,
            "application/json",
            (http::header::AUTHORIZATION, format!("token {token}")),
        )?;
        Ok(Gitea { api, repo: format!("/repos/{owner}/{repo}") })
    }
}

impl CommentApi for Gitea {
    async fn list(&self, number: u64) -> Result<Vec<ForgeComment>, DeliveryError> {
        let route = format!("{}/issues/{number}/comments", self.repo);
        Ok(comments_of(&self.api.send(Method::GET, &route, None).await?))
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

impl Forge for Gitea {
    fn name(&self) -> &'static str {
        "gitea"
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
