//! A mirror of the watched repository: a bare cache under the state directory, fetched
//! only when a branch tip moved, from which snapshots of any commit are read.
//!
//! The repository may be a local path, a `file://` URL, or an `https://` (token) or
//! `ssh://` (key) URL. Checking the tips is one round trip (for a local repository, a read
//! of its refs); fetching happens only when a tip differs from the mirror's copy. Every call
//! blocks: the controller makes them on blocking threads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use git2::{Cred, Direction, FetchOptions, Oid, RemoteCallbacks, Repository};

use super::{Backing, Snapshot};

/// How to authenticate to the repository.
#[derive(Clone, Default)]
pub enum Auth {
    #[default]
    None,
    /// A token for `https://` URLs, sent as the password of HTTP basic authentication.
    Token(String),
    /// A private key file for `ssh://` URLs.
    SshKey(PathBuf),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => write!(f, "None"),
            Auth::Token(_) => write!(f, "Token(..)"),
            Auth::SshKey(path) => write!(f, "SshKey({})", path.display()),
        }
    }
}

/// The bare cache of one repository.
pub struct Mirror {
    repo: Repository,
    url: String,
    auth: Auth,
}

impl Mirror {
    /// Opens the cache at `dir`, creating it for `url` when it does not exist yet.
    pub fn open(dir: &Path, url: &str, auth: Auth) -> anyhow::Result<Mirror> {
        let repo = match Repository::open_bare(dir) {
            Ok(repo) => repo,
            Err(_) => {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                Repository::init_bare(dir).with_context(|| format!("creating a Git cache in {}", dir.display()))?
            }
        };
        Ok(Mirror { repo, url: url.to_string(), auth })
    }

    /// The repository's path on this machine, when it is a local one.
    pub fn local_path(&self) -> Option<PathBuf> {
        local_path(&self.url)
    }

    /// The commit each branch points at in the repository, read without fetching.
    pub fn remote_tips(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let mut tips = BTreeMap::new();
        if let Some(path) = self.local_path() {
            let source = Repository::open(&path).with_context(|| format!("opening {}", path.display()))?;
            for reference in source.references_glob("refs/heads/*")?.flatten() {
                if let (Ok(name), Ok(commit)) = (reference.shorthand(), reference.peel_to_commit()) {
                    tips.insert(name.to_string(), commit.id().to_string());
                }
            }
            return Ok(tips);
        }
        let mut remote = self.repo.remote_anonymous(&self.url)?;
        let connection = remote
            .connect_auth(Direction::Fetch, Some(self.callbacks()), None)
            .with_context(|| format!("connecting to {}", self.url))?;
        for head in connection.list()? {
            if let Some(branch) = head.name().strip_prefix("refs/heads/") {
                tips.insert(branch.to_string(), head.oid().to_string());
            }
        }
        Ok(tips)
    }

    /// The commit a branch points at in the mirror.
    pub fn tip(&self, branch: &str) -> Option<String> {
        let reference = self.repo.find_reference(&format!("refs/heads/{branch}")).ok()?;
        Some(reference.peel_to_commit().ok()?.id().to_string())
    }

    /// Fetches every branch (and any extra refspecs) into the mirror.
    pub fn fetch(&self, extra_refspecs: &[String]) -> anyhow::Result<()> {
        let mut refspecs = vec!["+refs/heads/*:refs/heads/*".to_string()];
        refspecs.extend(extra_refspecs.iter().cloned());
        let mut remote = self.repo.remote_anonymous(&self.url)?;
        let mut options = FetchOptions::new();
        options.remote_callbacks(self.callbacks()).prune(git2::FetchPrune::On);
        remote.fetch(&refspecs, Some(&mut options), None).with_context(|| format!("fetching from {}", self.url))?;
        Ok(())
    }

    /// The newest common ancestor of two commits: where a pull request's head branched from
    /// its base branch.
    pub fn merge_base(&self, one: &str, other: &str) -> Option<String> {
        let (one, other) = (Oid::from_str(one).ok()?, Oid::from_str(other).ok()?);
        Some(self.repo.merge_base(one, other).ok()?.to_string())
    }

    /// Removes a ref of the mirror (a pull request's head, once it is closed), if it is there.
    pub fn delete_ref(&self, name: &str) -> anyhow::Result<()> {
        match self.repo.find_reference(name) {
            Ok(mut reference) => reference.delete().with_context(|| format!("deleting {name}")),
            Err(_) => Ok(()),
        }
    }

    /// Whether the mirror has a commit.
    pub fn has_commit(&self, sha: &str) -> bool {
        Oid::from_str(sha).ok().is_some_and(|oid| self.repo.find_commit(oid).is_ok())
    }

    /// The full id of a commit named by a full or abbreviated sha, when the mirror has it.
    pub fn resolve(&self, revision: &str) -> Option<String> {
        let object = self.repo.revparse_single(revision).ok()?;
        Some(object.peel_to_commit().ok()?.id().to_string())
    }

    /// A snapshot of directory `path` at `commit`, named `BRANCH@sha1:SHA`.
    pub fn snapshot(&self, commit: &str, path: &str, branch: &str) -> anyhow::Result<Snapshot> {
        let oid = Oid::from_str(commit).with_context(|| format!("{commit} is not a commit id"))?;
        let repo = Repository::open_bare(self.repo.path())?;
        let tree = {
            let commit = repo.find_commit(oid).with_context(|| format!("the cache has no commit {commit}"))?;
            let root = commit.tree()?;
            let relative = path.trim_matches('/');
            if relative.is_empty() || relative == "." {
                root.id()
            } else {
                let entry = root
                    .get_path(Path::new(relative))
                    .with_context(|| format!("{relative} does not exist at {commit}", commit = commit.id()))?;
                if entry.kind() != Some(git2::ObjectType::Tree) {
                    bail!("{relative} is not a directory at {}", commit.id());
                }
                entry.id()
            }
        };
        Ok(Snapshot {
            backing: Backing::Git { repo, tree },
            revision: format!("{branch}@sha1:{commit}"),
            commit: Some(commit.to_string()),
            root: PathBuf::from(if path.is_empty() { "." } else { path }),
        })
    }

    fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut callbacks = RemoteCallbacks::new();
        let auth = self.auth.clone();
        callbacks.credentials(move |_url, username, allowed| match &auth {
            Auth::Token(token) if allowed.is_user_pass_plaintext() => {
                Cred::userpass_plaintext(username.unwrap_or("x-access-token"), token)
            }
            Auth::SshKey(key) if allowed.is_ssh_key() => Cred::ssh_key(username.unwrap_or("git"), None, key, None),
            _ if allowed.is_ssh_key() => Cred::ssh_key_from_agent(username.unwrap_or("git")),
            _ => Cred::default(),
        });
        callbacks
    }
}

/// The local directory a repository URL names: a plain path or a `file://` URL.
pub fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(path) = url.strip_prefix("file://") {
        return Some(PathBuf::from(path));
    }
    (!url.contains("://") && !url.contains('@')).then(|| PathBuf::from(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(repo: &Repository, message: &str, files: &[(&str, &str)]) -> String {
        let mut index = repo.index().unwrap();
        for (path, text) in files {
            let full = repo.workdir().unwrap().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, text).unwrap();
            index.add_path(Path::new(path)).unwrap();
        }
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let signature = git2::Signature::now("t", "t@example.net").unwrap();
        let parents: Vec<git2::Commit> =
            repo.head().ok().and_then(|head| head.peel_to_commit().ok()).into_iter().collect();
        let parents: Vec<&git2::Commit> = parents.iter().collect();
        repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &parents).unwrap().to_string()
    }

    #[test]
    fn tips_are_read_without_fetching_and_snapshots_after() {
        let origin_dir = tempfile::tempdir().unwrap();
        let origin = Repository::init(origin_dir.path()).unwrap();
        let first = commit(&origin, "one", &[("site/site.yaml", "a: 1\n")]);
        let cache = tempfile::tempdir().unwrap();
        let mirror = Mirror::open(cache.path(), origin_dir.path().to_str().unwrap(), Auth::None).unwrap();
        let branch = origin.head().unwrap().shorthand().unwrap().to_string();
        assert_eq!(mirror.remote_tips().unwrap().get(&branch), Some(&first));
        assert_eq!(mirror.tip(&branch), None);
        mirror.fetch(&[]).unwrap();
        assert_eq!(mirror.tip(&branch), Some(first.clone()));
        let snapshot = mirror.snapshot(&first, "site", &branch).unwrap();
        assert_eq!(snapshot.read_text("site.yaml").unwrap().as_deref(), Some("a: 1\n"));
        assert_eq!(snapshot.revision, format!("{branch}@sha1:{first}"));
        assert_eq!(mirror.resolve(&first[..10]), Some(first.clone()));

        // A pull request's head, fetched under a ref of the mirror's own.
        let second = commit(&origin, "two", &[("site/site.yaml", "a: 2\n")]);
        origin.reference("refs/pull/1/head", Oid::from_str(&second).unwrap(), true, "test").unwrap();
        mirror.fetch(&["+refs/pull/1/head:refs/ordo/pull/1/head".to_string()]).unwrap();
        assert_eq!(mirror.resolve("refs/ordo/pull/1/head"), Some(second.clone()));
        assert_eq!(mirror.merge_base(&second, &first), Some(first.clone()));
        mirror.delete_ref("refs/ordo/pull/1/head").unwrap();
        mirror.delete_ref("refs/ordo/pull/1/head").unwrap();
        assert_eq!(mirror.resolve("refs/ordo/pull/1/head"), None);
    }
}
