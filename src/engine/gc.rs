//! Keeping the state directory from growing: package copies, lowered Puppet module paths
//! and teardown scripts that nothing in the store refers to any longer are removed.
//!
//! What the last-applied state needs is kept: the package copy or lowered module path that
//! applied each component, and the teardown script each one was recorded with.
//! Nothing is removed while another job runs, since it may be about to use what it wrote.
//! Nodes' working directories are the nodes' own state and are never touched.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::state_dir::StateDir;
use crate::store::{JobQuery, JobState, Store};

/// What a collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// Paths removed, relative to the state directory, sorted.
    pub removed: Vec<String>,
    pub bytes: u64,
    /// Entries kept because the last-applied state needs them.
    pub kept: usize,
}

/// Why nothing was collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    pub job: i64,
}

/// Removes what nothing refers to; `except` is a job of this process that may be running
/// (the one that just finished).
pub fn collect(state: &StateDir, store: &dyn Store, except: Option<i64>) -> anyhow::Result<Result<Collected, Busy>> {
    let running = store.jobs(&JobQuery { limit: 50, ..JobQuery::default() })?;
    if let Some(job) = running.iter().find(|job| job.state == JobState::Running && Some(job.id) != except) {
        return Ok(Err(Busy { job: job.id }));
    }
    let mut keep: BTreeSet<PathBuf> = BTreeSet::new();
    for environment in store.environments()? {
        for applied in store.inventory(&environment.name)?.components.into_values() {
            if let Some(package) = &applied.package {
                keep.insert(state.package_dir(package, &applied.code_id));
            }
            if let Some(digest) = &applied.puppet_code {
                keep.insert(state.puppet_code_dir(digest));
            }
            if let Some(script) = &applied.remove_script {
                keep.insert(state.scripts_dir().join(crate::text::hex(&Sha256::digest(script))));
            }
        }
    }
    let mut collected = Collected::default();
    for dir in [state.packages_dir(), state.puppet_dir(), state.scripts_dir()] {
        sweep(state, &dir, |path| keep.contains(path), &mut collected)?;
    }
    collected.removed.sort();
    Ok(Ok(collected))
}

/// Removes the entries of `dir` that `keep` does not want.
fn sweep(state: &StateDir, dir: &Path, keep: impl Fn(&Path) -> bool, collected: &mut Collected) -> anyhow::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err).with_context(|| format!("listing {}", dir.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let path = entry.path();
        if keep(&path) {
            collected.kept += 1;
            continue;
        }
        collected.bytes += size(&path);
        let removed = if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.with_context(|| format!("removing {}", path.display()))?;
        collected.removed.push(relative(state, &path));
    }
    Ok(())
}

fn size(path: &Path) -> u64 {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_dir() => {
            std::fs::read_dir(path).map(|entries| entries.flatten().map(|entry| size(&entry.path())).sum()).unwrap_or(0)
        }
        Ok(metadata) => metadata.len(),
        Err(_) => 0,
    }
}

fn relative(state: &StateDir, path: &Path) -> String {
    path.strip_prefix(state.root()).map(PathBuf::from).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}
