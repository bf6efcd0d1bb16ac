//! Git notes as a forge: each status becomes a line in the commit's note under
//! `refs/notes/ordo`, in the repository itself when it is local (or in the controller's
//! cache of it otherwise). It needs no forge and no network: the default.
//!
//! Git has no pull requests, so a comment has nowhere to go: it is taken and dropped, and
//! a preview is read in the controller's API and pages instead.

use std::path::PathBuf;

use super::{BoxFuture, DeliveryError, Forge, Post};

pub struct Notes {
    repo_dir: PathBuf,
}

impl Notes {
    pub fn new(repo_dir: PathBuf) -> Notes {
        Notes { repo_dir }
    }
}

impl Forge for Notes {
    fn name(&self) -> &'static str {
        "notes"
    }

    fn deliver<'a>(&'a self, post: &'a Post) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let status = match post {
                Post::Status(status) => status,
                Post::Comment(_) => return Ok(()),
            };
            let mut line = format!("{} {}", status.state.as_str(), status.description);
            if let Some(url) = &status.target_url {
                line.push_str(&format!(" <{url}>"));
            }
            let repo_dir = self.repo_dir.clone();
            let (sha, context) = (status.sha.clone(), status.context.clone());
            tokio::task::spawn_blocking(move || crate::source::notes::set_line(&repo_dir, &sha, &context, &line))
                .await
                .map_err(|err| DeliveryError::Transient(err.to_string()))?
                .map_err(|err| DeliveryError::Transient(format!("{err:#}")))
        })
    }
}
