//! What a stand-in forge keeps of the requests it takes: pull-request comments (GitHub's and
//! Gitea's issue comments, GitLab's merge-request notes) listed, created, edited and deleted
//! as the forge would, and statuses answered with the forge's own status object. It plugs
//! into [`super::forge::Forge::start_with`] as the `Responder`.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::forge::Responder;

/// The forges the stand-in can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    GitHub,
    Gitea,
    GitLab,
}

/// A comment as the forge keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: u64,
    pub number: u64,
    pub body: String,
}

/// The comments of every pull request, and how often each was written.
#[derive(Default)]
pub struct Board {
    comments: Mutex<Vec<Comment>>,
    next_id: Mutex<u64>,
    /// `create N`, `edit ID`, `delete ID`, in order.
    pub writes: Mutex<Vec<String>>,
}

impl Board {
    /// A pull request's comments, oldest first.
    pub fn comments(&self, number: u64) -> Vec<Comment> {
        self.comments.lock().unwrap().iter().filter(|comment| comment.number == number).cloned().collect()
    }

    /// The bodies of a pull request's comments, oldest first.
    pub fn bodies(&self, number: u64) -> Vec<String> {
        self.comments(number).into_iter().map(|comment| comment.body).collect()
    }

    pub fn writes(&self) -> Vec<String> {
        self.writes.lock().unwrap().clone()
    }

    /// Adds a comment as someone else would write it.
    pub fn add(&self, number: u64, body: &str) -> u64 {
        let mut next = self.next_id.lock().unwrap();
        *next += 1;
        self.comments.lock().unwrap().push(Comment { id: *next, number, body: body.to_string() });
        *next
    }
}

/// Answers as `flavor` does, keeping comments on `board`.
pub fn responder(flavor: Flavor, board: Arc<Board>) -> Box<Responder> {
    Box::new(move |method, target, body, status| {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (flavor, segments.as_slice()) {
            (Flavor::GitHub, ["repos", _, _, "statuses", sha])
            | (Flavor::Gitea, ["api", "v1", "repos", _, _, "statuses", sha])
            | (Flavor::GitLab, ["api", "v4", "projects", _, "statuses", sha]) => {
                (status, status_object(flavor, sha, body))
            }
            (Flavor::GitHub, ["repos", _, _, "issues", number, "comments"])
            | (Flavor::Gitea, ["api", "v1", "repos", _, _, "issues", number, "comments"])
            | (Flavor::GitLab, ["api", "v4", "projects", _, "merge_requests", number, "notes"]) => {
                let number: u64 = number.parse().unwrap();
                if method == "GET" {
                    // One page holds them all: any later page is empty.
                    let later_page = query.split('&').any(|pair| pair.starts_with("page=") && pair != "page=1");
                    let comments = if later_page { Vec::new() } else { board.comments(number) };
                    (status, Value::Array(comments.iter().map(|comment| comment_object(flavor, comment)).collect()))
                } else {
                    let id = board.add(number, body["body"].as_str().unwrap_or_default());
                    board.writes.lock().unwrap().push(format!("create {id}"));
                    let comment = Comment { id, number, body: body["body"].as_str().unwrap_or_default().to_string() };
                    (status, comment_object(flavor, &comment))
                }
            }
            (Flavor::GitHub, ["repos", _, _, "issues", "comments", id])
            | (Flavor::Gitea, ["api", "v1", "repos", _, _, "issues", "comments", id])
            | (Flavor::GitLab, ["api", "v4", "projects", _, "merge_requests", _, "notes", id]) => {
                let id: u64 = id.parse().unwrap();
                let mut comments = board.comments.lock().unwrap();
                let Some(index) = comments.iter().position(|comment| comment.id == id) else {
                    return (404, json!({"message": "Not Found"}));
                };
                match method {
                    "DELETE" => {
                        comments.remove(index);
                        board.writes.lock().unwrap().push(format!("delete {id}"));
                        (status, Value::Null)
                    }
                    "GET" => (status, comment_object(flavor, &comments[index])),
                    _ => {
                        comments[index].body = body["body"].as_str().unwrap_or_default().to_string();
                        board.writes.lock().unwrap().push(format!("edit {id}"));
                        (status, comment_object(flavor, &comments[index]))
                    }
                }
            }
            _ => (status, json!({})),
        }
    })
}

fn user(flavor: Flavor) -> Value {
    match flavor {
        Flavor::GitHub => json!({
            "login": "ordo-bot", "id": 90, "node_id": "U_90", "avatar_url": "https://example.com/a.png",
            "gravatar_id": "", "url": "https://api.github.com/users/ordo-bot", "html_url": "https://github.com/ordo-bot",
            "type": "Bot", "site_admin": false
        }),
        Flavor::Gitea => json!({"id": 90, "login": "ordo-bot", "full_name": "ordo", "email": "ordo@example.com"}),
        Flavor::GitLab => json!({
            "id": 90, "username": "ordo-bot", "email": "ordo@example.com", "name": "ordo", "state": "active",
            "created_at": "2026-11-30T10:00:00Z"
        }),
    }
}

fn comment_object(flavor: Flavor, comment: &Comment) -> Value {
    match flavor {
        Flavor::GitHub => json!({
            "id": comment.id, "node_id": format!("IC_{}", comment.id),
            "url": format!("https://api.github.com/repos/acme/site/issues/comments/{}", comment.id),
            "html_url": format!("https://github.com/acme/site/pull/{}#issuecomment-{}", comment.number, comment.id),
            "issue_url": format!("https://api.github.com/repos/acme/site/issues/{}", comment.number),
            "body": comment.body, "user": user(flavor), "author_association": "NONE",
            "created_at": "2026-11-30T10:00:00Z", "updated_at": "2026-11-30T10:00:00Z"
        }),
        Flavor::Gitea => json!({
            "id": comment.id, "body": comment.body, "user": user(flavor),
            "html_url": format!("https://git.example.com/acme/site/pulls/{}#issuecomment-{}", comment.number, comment.id),
            "issue_url": format!("https://git.example.com/acme/site/issues/{}", comment.number),
            "pull_request_url": format!("https://git.example.com/acme/site/pulls/{}", comment.number),
            "original_author": "", "original_author_id": 0, "assets": [],
            "created_at": "2026-11-30T10:00:00Z", "updated_at": "2026-11-30T10:00:00Z"
        }),
        Flavor::GitLab => json!({
            "id": comment.id, "body": comment.body, "attachment": null, "author": user(flavor),
            "created_at": "2026-11-30T10:00:00Z", "updated_at": "2026-11-30T10:00:00Z", "system": false,
            "noteable_id": 1000 + comment.number, "noteable_type": "MergeRequest", "project_id": 15,
            "noteable_iid": comment.number, "resolvable": false, "confidential": false, "internal": false
        }),
    }
}

fn status_object(flavor: Flavor, sha: &str, body: &Value) -> Value {
    match flavor {
        Flavor::GitHub => json!({
            "id": 1, "node_id": "SC_1", "url": format!("https://api.github.com/repos/acme/site/statuses/{sha}"),
            "avatar_url": null, "state": body["state"], "description": body["description"], "target_url": body["target_url"],
            "context": body["context"], "created_at": "2026-11-30T10:00:00Z", "updated_at": "2026-11-30T10:00:00Z",
            "creator": user(flavor)
        }),
        Flavor::Gitea => json!({
            "id": 1, "status": body["state"], "context": body["context"], "description": body["description"],
            "target_url": body["target_url"], "url": format!("https://git.example.com/api/v1/repos/acme/site/statuses/{sha}"),
            "creator": user(flavor), "created_at": "2026-11-30T10:00:00Z", "updated_at": "2026-11-30T10:00:00Z"
        }),
        Flavor::GitLab => json!({
            "id": 1, "sha": sha, "ref": "main", "status": body["state"], "name": body["name"],
            "target_url": body["target_url"], "description": body["description"], "created_at": "2026-11-30T10:00:00Z",
            "started_at": null, "finished_at": null, "allow_failure": false, "coverage": null, "pipeline_id": 1,
            "author": user(flavor)
        }),
    }
}
