//! GitLab, at `api_url` (`https://gitlab.com/api/v4` or a self-managed instance's), with a
//! token sent as `PRIVATE-TOKEN`.
//!
//! The project is named by its numeric id or its path (`group/subgroup/name`), which goes
//! into routes URL-encoded (`group%2Fname`), as GitLab requires. Statuses are `POST
//! /projects/{id}/statuses/{sha}` with the context as `name`; GitLab has no `error` state,
//! so both failure and error are `failed`. A merge request's comments are its notes: listed
//! a hundred a page, oldest first, created with `POST
//! /projects/{id}/merge_requests/{iid}/notes`, edited with `PUT .../notes/{note_id}` and
//! deleted with `DELETE` there.

use http::Method;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::json;

use super::api::JsonApi;
use super::github::comments_of;
use super::sticky::{self, CommentApi, ForgeComment};
use super::{BoxFuture, DeliveryError, Forge, Post, StatusState};

/// GitLab's page size for lists, at most 100.
const PAGE: usize = 100;

/// What stays as it is in a project path segment: letters, digits and `-._~`; `/` is encoded.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub struct GitLab {
    api: JsonApi,
    /// `/projects/ID`, the id encoded.
    project: String,
}

impl GitLab {
    /// A client of the API at `api_url` for `project` (a numeric id or `group/name`),
    /// authenticated with `token`. Needs a tokio runtime.
    pub fn new(api_url: &str, project: &str, token: &str) -> anyhow::Result<GitLab> {
        if project.is_empty() || project.starts_with('/') || project.ends_with('/') {
            anyhow::bail!("project {project:?} is not a numeric id or GROUP/NAME");
        }
        let header = http::header::HeaderName::from_static("private-token");
        let api = JsonApi::new("GitLab", api_url, "application/json", (header, token.to_string()))?;
        Ok(GitLab { api, project: format!("/projects/{}", utf8_percent_encode(project, PATH_SEGMENT)) })
    }

    fn notes(&self, number: u64) -> String {
        format!("{}/merge_requests/{number}/notes", self.project)
    }
}

impl CommentApi for GitLab {
    async fn list(&self, number: u64) -> Result<Vec<ForgeComment>, DeliveryError> {
        let mut all = Vec::new();
        for page in 1.. {
            let route = format!("{}?sort=asc&order_by=created_at&per_page={PAGE}&page={page}", self.notes(number));
            let notes = comments_of(&self.api.send(Method::GET, &route, None).await?);
            let last = notes.len() < PAGE;
            all.extend(notes);
            if last {
                break;
            }
        }
        Ok(all)
    }

    async fn create(&self, number: u64, body: &str) -> Result<(), DeliveryError> {
        self.api.send(Method::POST, &self.notes(number), Some(&json!({ "body": body }))).await.map(drop)
    }

    async fn update(&self, number: u64, id: u64, body: &str) -> Result<(), DeliveryError> {
        let route = format!("{}/{id}", self.notes(number));
        self.api.send(Method::PUT, &route, Some(&json!({ "body": body }))).await.map(drop)
    }

    async fn delete(&self, number: u64, id: u64) -> Result<(), DeliveryError> {
        let route = format!("{}/{id}", self.notes(number));
        self.api.send(Method::DELETE, &route, None).await.map(drop)
    }
}

impl Forge for GitLab {
    fn name(&self) -> &'static str {
        "gitlab"
    }

    fn deliver<'a>(&'a self, post: &'a Post) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            match post {
                Post::Status(status) => {
                    let route = format!("{}/statuses/{}", self.project, status.sha);
                    let state = match status.state {
                        StatusState::Pending => "pending",
                        StatusState::Success => "success",
                        StatusState::Failure | StatusState::Error => "failed",
                    };
                    let mut body = json!({
                        "state": state,
                        "name": status.context,
                        "description": status.description,
                    });
                    if let Some(url) = &status.target_url {
                        body["target_url"] = json!(url);
                    }
                    self.api.send(Method::POST, &route, Some(&body)).await.map(drop)
                }
                Post::Comment(comment) => sticky::upsert(self, comment).await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_paths_are_one_encoded_segment() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _guard = runtime.enter();
        let gitlab = GitLab::new("https://gitlab.example.com/api/v4", "acme/infra.site", "t").unwrap();
        assert_eq!(gitlab.project, "/projects/acme%2Finfra.site");
        assert_eq!(GitLab::new("https://gitlab.example.com/api/v4", "42", "t").unwrap().project, "/projects/42");
        assert!(GitLab::new("https://gitlab.example.com/api/v4", "/acme", "t").is_err());
    }
}
