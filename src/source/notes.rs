//! Git notes: results written beside the commits they are about, under `refs/notes/ordo`,
//! for repositories that have no forge to post statuses to. `git notes --ref=ordo show SHA`
//! reads them back.
//!
//! A commit's note holds one line per status context; writing a context replaces its line.

use std::path::Path;

use anyhow::Context;
use git2::{Oid, Repository, Signature};

/// The notes ref ordo writes.
pub const NOTES_REF: &str = "refs/notes/ordo";

/// Sets the line of `context` in the note of commit `sha`: `CONTEXT: TEXT`.
pub fn set_line(repo_dir: &Path, sha: &str, context: &str, text: &str) -> anyhow::Result<()> {
    let repo = Repository::open(repo_dir).with_context(|| format!("opening {}", repo_dir.display()))?;
    let oid = Oid::from_str(sha).with_context(|| format!("{sha} is not a commit id"))?;
    let existing = repo.find_note(Some(NOTES_REF), oid).ok().and_then(|note| note.message().ok().map(str::to_string));
    let prefix = format!("{context}: ");
    let mut lines: Vec<String> = existing
        .as_deref()
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.starts_with(&prefix) && !line.is_empty())
        .map(str::to_string)
        .collect();
    // One line per context: the text may not add lines of its own.
    let text: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    lines.push(format!("{prefix}{text}"));
    lines.sort();
    let signature = Signature::now("ordo", "ordo@localhost").context("making a signature")?;
    repo.note(&signature, &signature, Some(NOTES_REF), oid, &format!("{}\n", lines.join("\n")), true)
        .with_context(|| format!("writing the note of {sha} in {}", repo_dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_line_is_replaced_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let signature = Signature::now("t", "t@example.net").unwrap();
        let tree = repo.find_tree(repo.index().unwrap().write_tree().unwrap()).unwrap();
        let sha = repo.commit(Some("HEAD"), &signature, &signature, "c", &tree, &[]).unwrap().to_string();
        set_line(dir.path(), &sha, "ordo/production", "pending: planned").unwrap();
        set_line(dir.path(), &sha, "ordo/staging", "success: done").unwrap();
        set_line(dir.path(), &sha, "ordo/production", "success: applied\nforged line").unwrap();
        let note = repo.find_note(Some(NOTES_REF), Oid::from_str(&sha).unwrap()).unwrap();
        assert_eq!(
            note.message().unwrap(),
            "ordo/production: success: applied forged line\nordo/staging: success: done\n"
        );
    }
}
