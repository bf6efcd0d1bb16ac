//! Watching a local repository's refs, so a `git commit` or `git push` into it is noticed
//! within moments instead of at the next poll.

use std::path::Path;

use anyhow::Context;
use notify::{RecursiveMode, Watcher};

/// A watch of a repository's refs; watching stops when it is dropped.
pub struct RefWatch(#[allow(dead_code)] notify::RecommendedWatcher);

/// Calls `on_change` whenever a ref of the repository at `repo_dir` may have moved.
pub fn watch_refs(repo_dir: &Path, on_change: impl Fn() + Send + 'static) -> anyhow::Result<RefWatch> {
    let repo = git2::Repository::open(repo_dir).with_context(|| format!("opening {}", repo_dir.display()))?;
    let git_dir = repo.path().to_path_buf();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        // Refs move by renaming a `.lock` file into place; object writes are not news.
        let relevant = event.paths.iter().any(|path| {
            let text = path.to_string_lossy();
            (text.contains("/refs/") || text.ends_with("packed-refs") || text.ends_with("HEAD"))
                && !text.ends_with(".lock")
        });
        if relevant && !event.kind.is_access() {
            on_change();
        }
    })
    .context("starting to watch the repository")?;
    watcher
        .watch(&git_dir.join("refs"), RecursiveMode::Recursive)
        .with_context(|| format!("watching {}", git_dir.join("refs").display()))?;
    watcher.watch(&git_dir, RecursiveMode::NonRecursive).with_context(|| format!("watching {}", git_dir.display()))?;
    Ok(RefWatch(watcher))
}
