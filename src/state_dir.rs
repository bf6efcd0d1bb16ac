//! The state directory's layout: the one place that knows where each thing lives in it.
//!
//! ```text
//! state.db                the embedded store (mode 0600)
//! state.key               the key of the store's digests of secret values (mode 0600)
//! nodes/NODE/             the working directory of each local node
//! packages/NAME-TREEID/   each package as run, named by its Git tree id
//! puppet/DIGEST/          each lowered Puppet module path as run
//! scripts/SHA256          teardown scripts as recorded, named by their content
//! locks/env-ENV.lock      held by the job running in environment ENV
//! ssh/HASH                the sockets of SSH connections kept open between runs
//! ```
//!
//! Names that come from a repository (nodes, environments) are encoded before they become
//! path segments, so no name can leave the directory, whatever it holds.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The state directory, as an absolute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The state directory at `root`, made absolute: scripts run in node directories, so
    /// every path handed to them must be absolute.
    pub fn new(root: &Path) -> anyhow::Result<StateDir> {
        let root = std::path::absolute(root).with_context(|| format!("resolving {}", root.display()))?;
        Ok(StateDir { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the directory itself when it does not exist yet.
    pub fn create(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.root).with_context(|| format!("creating {}", self.root.display()))
    }

    /// The embedded store's file.
    pub fn store_file(&self) -> PathBuf {
        self.root.join("state.db")
    }

    /// The key of the store's secret digests: kept beside the store, not in it, so a copy
    /// of `state.db` alone does not let anyone test guesses of a secret against its digest.
    pub fn key_file(&self) -> PathBuf {
        self.root.join("state.key")
    }

    /// The working directory of a local node.
    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.root.join("nodes").join(path_segment(node))
    }

    /// Where packages are written, one directory per package and tree id.
    pub fn packages_dir(&self) -> PathBuf {
        self.root.join("packages")
    }

    /// The directory a package is written to: `packages/NAME-TREEID/`.
    pub fn package_dir(&self, name: &str, tree_id: &str) -> PathBuf {
        self.packages_dir().join(path_segment(&format!("{name}-{tree_id}")))
    }

    /// Where lowered Puppet module paths are written, one directory per digest.
    pub fn puppet_dir(&self) -> PathBuf {
        self.root.join("puppet")
    }

    /// The directory a lowered Puppet module path is written to: `puppet/DIGEST/`.
    pub fn puppet_code_dir(&self, digest: &str) -> PathBuf {
        self.puppet_dir().join(path_segment(digest))
    }

    /// Where recorded teardown scripts are written, named by their content.
    pub fn scripts_dir(&self) -> PathBuf {
        self.root.join("scripts")
    }

    /// Where the sockets of SSH connections kept open between runs are (mode 0700).
    pub fn ssh_dir(&self) -> PathBuf {
        self.root.join("ssh")
    }

    /// The lock file of an environment's jobs.
    pub fn environment_lock(&self, environment: &str) -> PathBuf {
        self.root.join("locks").join(format!("env-{}.lock", path_segment(environment)))
    }
}

/// A name as one safe path segment: bytes other than ASCII letters, digits, `.`, `_` and
/// `-` are percent-encoded, and so is a leading `.`, so the result is never `.`, `..`, a
/// hidden file or anything with a `/`. Ordinary node names (`db1.example.net`) are unchanged.
pub fn path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (index, byte) in name.bytes().enumerate() {
        let plain = byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-') || (byte == b'.' && index > 0);
        if plain {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_safe_segments() {
        assert_eq!(path_segment("db1.example.net"), "db1.example.net");
        assert_eq!(path_segment(".."), "%2E.");
        assert_eq!(path_segment("."), "%2E");
        assert_eq!(path_segment("../../escape"), "%2E.%2F..%2Fescape");
        assert_eq!(path_segment("/abs/path"), "%2Fabs%2Fpath");
        assert_eq!(path_segment("a\nb\0"), "a%0Ab%00");
        assert_eq!(path_segment(""), "%00");
    }

    #[test]
    fn every_path_stays_inside_the_directory() {
        let state = StateDir::new(Path::new("/var/lib/ordo")).unwrap();
        for name in ["..", "../x", "/etc", "a/../../b", ".hidden", "\u{1b}[31m"] {
            for path in [state.node_dir(name), state.environment_lock(name)] {
                assert!(path.starts_with(state.root()), "{}", path.display());
                let segment = path.file_name().unwrap().to_str().unwrap();
                assert!(!segment.contains('/') && !segment.starts_with('.'), "{segment}");
                assert!(path.components().all(|part| part != std::path::Component::ParentDir), "{}", path.display());
            }
        }
    }
}
