//! Webhook payloads of pull requests as each forge sends them.
//!
//! GitHub's are built from GitHub's published schemas of the `pull_request` webhook
//! (`tests/fixtures/github-api/webhooks-pull_request.openapi.json`): every required field,
//! then the fields ordo reads set to the test's values, and the result checked against the
//! schema. Gitea's follow its `PullRequestPayload` (`../shared/reference/gitea-api/WEBHOOKS.md`),
//! with the nested objects checked against Gitea's Swagger definitions. GitLab's follow the
//! merge request event of GitLab's webhook documentation (`../shared/reference/gitlab-api/`).

#![allow(dead_code)]

use serde_json::{Value, json};

use super::forge::Description;

/// A pull request as the tests describe it.
pub struct Pull<'a> {
    pub number: u64,
    /// The forge's word for what happened, in GitHub's terms: `opened`, `synchronize`,
    /// `reopened`, `closed`.
    pub action: &'a str,
    pub head_sha: &'a str,
    pub head_branch: &'a str,
    pub base_branch: &'a str,
    pub title: &'a str,
}

/// A GitHub `pull_request` payload, valid against GitHub's schema of that action.
pub fn github(pull: &Pull) -> Value {
    let description = Description::load("github-api/webhooks-pull_request.openapi.json");
    let schema = format!("/components/schemas/webhook-pull-request-{}", pull.action);
    let mut payload = description.instance(&schema);
    let closed = pull.action == "closed";
    payload["action"] = json!(pull.action);
    payload["number"] = json!(pull.number);
    payload["repository"]["name"] = json!("site");
    payload["repository"]["full_name"] = json!("acme/site");
    payload["repository"]["default_branch"] = json!("main");
    payload["sender"]["login"] = json!("contributor");
    let pr = &mut payload["pull_request"];
    pr["number"] = json!(pull.number);
    pr["title"] = json!(pull.title);
    pr["state"] = json!(if closed { "closed" } else { "open" });
    pr["html_url"] = json!(format!("https://github.com/acme/site/pull/{}", pull.number));
    pr["head"]["ref"] = json!(pull.head_branch);
    pr["head"]["sha"] = json!(pull.head_sha);
    pr["head"]["label"] = json!(format!("contributor:{}", pull.head_branch));
    pr["base"]["ref"] = json!(pull.base_branch);
    pr["base"]["label"] = json!(format!("acme:{}", pull.base_branch));
    pr["base"]["repo"]["full_name"] = json!("acme/site");
    if closed {
        pr["closed_at"] = json!("2026-11-30T11:00:00Z");
    }
    if pull.action == "synchronize" {
        payload["after"] = json!(pull.head_sha);
    }
    if let Err(problem) = description.check_value(&schema, &payload) {
        panic!("the GitHub payload breaks GitHub's schema: {problem}");
    }
    payload
}

fn gitea_user(login: &str) -> Value {
    json!({"id": 3, "login": login, "full_name": login, "email": format!("{login}@example.com")})
}

fn gitea_repository() -> Value {
    json!({
        "id": 1, "name": "site", "full_name": "acme/site", "owner": gitea_user("acme"), "private": true,
        "html_url": "https://git.example.com/acme/site", "clone_url": "https://git.example.com/acme/site.git",
        "default_branch": "main"
    })
}

/// A Gitea `pull_request` payload (`X-Gitea-Event: pull_request`, or `pull_request_sync`
/// as the event type of new commits), nested objects valid against Gitea's definitions.
pub fn gitea(pull: &Pull) -> Value {
    let action = match pull.action {
        "synchronize" => "synchronized",
        other => other,
    };
    let closed = pull.action == "closed";
    let branch = |name: &str, sha: &str| json!({"label": name, "ref": name, "sha": sha, "repo_id": 1, "repo": gitea_repository()});
    let pull_request = json!({
        "id": 100 + pull.number, "number": pull.number, "title": pull.title, "body": "",
        "url": format!("https://git.example.com/acme/site/pulls/{}", pull.number),
        "html_url": format!("https://git.example.com/acme/site/pulls/{}", pull.number),
        "state": if closed { "closed" } else { "open" }, "merged": false,
        "user": gitea_user("contributor"), "head": branch(pull.head_branch, pull.head_sha),
        "base": branch(pull.base_branch, "0000000000000000000000000000000000000000"),
        "mergeable": true, "created_at": "2026-11-30T10:00:00Z", "updated_at": "2026-11-30T10:00:00Z"
    });
    let description = Description::load("gitea-api/gitea-statuses-comments.swagger.json");
    for (pointer, value) in [
        ("/definitions/PullRequest", &pull_request),
        ("/definitions/Repository", &gitea_repository()),
        ("/definitions/User", &gitea_user("contributor")),
    ] {
        if let Err(problem) = description.check_value(pointer, value) {
            panic!("the Gitea payload breaks {pointer}: {problem}");
        }
    }
    json!({
        "action": action, "number": pull.number, "pull_request": pull_request,
        "requested_reviewer": null, "repository": gitea_repository(), "sender": gitea_user("contributor"),
        "commit_id": "", "review": null
    })
}

/// The `X-Gitea-Event-Type` of an action: new commits have their own.
pub fn gitea_event_type(pull: &Pull) -> &'static str {
    if pull.action == "synchronize" { "pull_request_sync" } else { "pull_request" }
}

/// A GitLab `Merge Request Hook` payload.
pub fn gitlab(pull: &Pull) -> Value {
    let (action, state) = match pull.action {
        "opened" => ("open", "opened"),
        "reopened" => ("reopen", "opened"),
        "synchronize" => ("update", "opened"),
        "closed" => ("close", "closed"),
        other => (other, "opened"),
    };
    let project = json!({
        "id": 15, "name": "site", "description": "", "web_url": "https://gitlab.example.com/acme/site",
        "git_ssh_url": "git@gitlab.example.com:acme/site.git", "git_http_url": "https://gitlab.example.com/acme/site.git",
        "namespace": "acme", "visibility_level": 0, "path_with_namespace": "acme/site", "default_branch": "main"
    });
    let mut attributes = json!({
        "id": 9000 + pull.number, "iid": pull.number, "title": pull.title, "description": "",
        "source_branch": pull.head_branch, "target_branch": pull.base_branch,
        "source_project_id": 15, "target_project_id": 15, "author_id": 3, "state": state, "action": action,
        "merge_status": "can_be_merged", "detailed_merge_status": "mergeable", "draft": false,
        "url": format!("https://gitlab.example.com/acme/site/-/merge_requests/{}", pull.number),
        "source": project, "target": project,
        "last_commit": {
            "id": pull.head_sha, "message": "a change\n", "title": "a change", "timestamp": "2026-11-30T10:00:00Z",
            "url": format!("https://gitlab.example.com/acme/site/-/commit/{}", pull.head_sha),
            "author": {"name": "Contributor", "email": "contributor@example.com"}
        },
        "created_at": "2026-11-30 10:00:00 UTC", "updated_at": "2026-11-30 10:05:00 UTC"
    });
    if pull.action == "synchronize" {
        // Present only when the update pushed code.
        attributes["oldrev"] = json!("1111111111111111111111111111111111111111");
    }
    json!({
        "object_kind": "merge_request", "event_type": "merge_request",
        "user": {"id": 3, "name": "Contributor", "username": "contributor", "email": "contributor@example.com"},
        "project": project, "object_attributes": attributes, "labels": [], "changes": {},
        "repository": {"name": "site", "url": "git@gitlab.example.com:acme/site.git", "homepage": "https://gitlab.example.com/acme/site"},
        "assignees": [], "reviewers": []
    })
}
