//! Reading the repository: a [`Snapshot`] of a directory, either as it is on disk (the
//! working tree) or as it was at a revision (straight from Git objects with `git2`).
//!
//! Loaders read files only through a snapshot, so the same loading code plans the working
//! tree, an old commit, or a pull request's head without checking anything out. This
//! module knows nothing of executing; it hands out bytes and identities. It is also the
//! only module that talks Git: the controller's [`mirror`] of the watched repository, the
//! [`watch`] of a local repository's refs, and [`notes`] written to commits.
//!
//! Both backings see the same tree, the one Git would commit: a symbolic link is a file
//! whose content is its target, never followed, and a path with `..` or through a link is
//! not in the tree. So nothing outside the repository (`/proc/self/environ`, `/usr/share`)
//! is ever read as part of it, whatever its links say.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use git2::{ObjectType, Oid, Repository, StatusOptions};

pub mod mirror;
pub mod notes;
pub mod watch;

/// Where a snapshot's files come from.
enum Backing {
    WorkTree { root: PathBuf },
    Git { repo: Repository, tree: Oid },
}

/// A read-only view of a directory at one revision.
pub struct Snapshot {
    backing: Backing,
    /// The revision as users see it: `main@sha1:<sha>`, with `-dirty` for a changed working tree.
    pub revision: String,
    /// The commit the snapshot is at, when it is in a Git repository.
    pub commit: Option<String>,
    /// The directory as given by the user, for messages and for file names in diagnostics.
    pub root: PathBuf,
}

/// A file that should be text but is not valid UTF-8: where the first bad byte is, and the
/// text with bad bytes replaced (the same up to that byte), so a caller can point at it.
#[derive(Debug, thiserror::Error)]
#[error("{file} is not valid UTF-8 (byte {offset})")]
pub struct NotUtf8 {
    pub file: String,
    pub offset: usize,
    pub text: String,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
}

impl Snapshot {
    /// Opens `path` as it is on disk, or at `rev` when given (which needs a Git repository).
    pub fn open(path: &Path, rev: Option<&str>) -> anyhow::Result<Snapshot> {
        if !path.is_dir() {
            bail!("{} is not a directory", path.display());
        }
        let repo = Repository::discover(path).ok();
        match (rev, repo) {
            (Some(rev), Some(repo)) => open_revision(path, repo, rev),
            (Some(rev), None) => {
                bail!("--rev {rev} needs a Git repository, and {} is not in one", path.display())
            }
            (None, repo) => open_work_tree(path, repo),
        }
    }

    /// The same directory at another commit of its repository (what was applied then).
    pub fn at_commit(&self, commit: &str) -> anyhow::Result<Snapshot> {
        if self.root.is_dir() {
            return Snapshot::open(&self.root, Some(commit));
        }
        // A snapshot of a bare mirror: its root is the directory's path inside the repository.
        let Backing::Git { repo, .. } = &self.backing else {
            bail!("{} is not a directory", self.root.display());
        };
        let repo = Repository::open(repo.path())?;
        let oid = Oid::from_str(commit).with_context(|| format!("{commit} is not a commit id"))?;
        let tree = {
            let root = repo.find_commit(oid).with_context(|| format!("no commit {commit}"))?.tree()?;
            let relative = self.root.to_string_lossy().trim_matches('/').to_string();
            if relative.is_empty() || relative == "." {
                root.id()
            } else {
                root.get_path(Path::new(&relative))
                    .with_context(|| format!("{relative} does not exist at {commit}"))?
                    .id()
            }
        };
        Ok(Snapshot {
            backing: Backing::Git { repo, tree },
            revision: format!("sha1:{commit}"),
            commit: Some(commit.to_string()),
            root: self.root.clone(),
        })
    }

    /// The file's bytes, or `None` when it does not exist.
    pub fn read(&self, relative: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match &self.backing {
            Backing::WorkTree { root } => {
                let Some(path) = work_tree_path(root, relative) else {
                    return Ok(None);
                };
                read_no_follow(&path, relative)
            }
            Backing::Git { repo, tree } => {
                let Some(entry) = git_entry(repo, *tree, relative)? else {
                    return Ok(None);
                };
                if entry.1 != ObjectType::Blob {
                    return Ok(None);
                }
                let blob = repo.find_blob(entry.0).with_context(|| format!("reading {relative} from Git"))?;
                Ok(Some(blob.content().to_vec()))
            }
        }
    }

    /// The file as UTF-8 text, or `None` when it does not exist; a file that is not UTF-8
    /// is a [`NotUtf8`] error.
    pub fn read_text(&self, relative: &str) -> anyhow::Result<Option<String>> {
        match self.read(relative)? {
            Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|err| {
                let offset = err.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(err.as_bytes()).into_owned();
                anyhow::Error::new(NotUtf8 { file: relative.to_string(), offset, text })
            }),
            None => Ok(None),
        }
    }

    /// The entries of a directory, sorted by name; empty when it does not exist.
    pub fn list_dir(&self, relative: &str) -> anyhow::Result<Vec<Entry>> {
        let mut entries = Vec::new();
        match &self.backing {
            Backing::WorkTree { root } => {
                let Some(dir) = work_tree_path(root, relative).filter(|dir| is_real_dir(dir)) else {
                    return Ok(entries);
                };
                let Ok(read_dir) = fs::read_dir(&dir) else {
                    return Ok(entries);
                };
                for entry in read_dir {
                    let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name == ".git" {
                        continue;
                    }
                    // The entry's own type: a link to a directory is not a directory.
                    let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
                    entries.push(Entry { name, is_dir });
                }
            }
            Backing::Git { repo, tree } => {
                let Some(dir) = git_subtree(repo, *tree, relative)? else {
                    return Ok(entries);
                };
                for entry in dir.iter() {
                    entries.push(Entry {
                        name: String::from_utf8_lossy(entry.name_bytes()).into_owned(),
                        is_dir: entry.kind() == Some(ObjectType::Tree),
                    });
                }
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Whether a file is marked executable (the file mode on disk, or `100755` in Git).
    pub fn is_executable(&self, relative: &str) -> anyhow::Result<bool> {
        match &self.backing {
            Backing::WorkTree { root } => Ok(work_tree_path(root, relative)
                .and_then(|path| fs::symlink_metadata(path).ok())
                .is_some_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)),
            Backing::Git { repo, tree } => {
                let tree = repo.find_tree(*tree)?;
                Ok(tree.get_path(Path::new(relative)).map(|entry| entry.filemode() == 0o100755).unwrap_or(false))
            }
        }
    }

    /// The identity of a directory's contents: its Git tree id. For the working tree it is
    /// computed the way Git would, so a clean working tree and its commit agree.
    pub fn tree_id(&self, relative: &str) -> anyhow::Result<String> {
        match &self.backing {
            Backing::WorkTree { root } => match work_tree_path(root, relative) {
                Some(path) => Ok(hash_dir(&path)?.to_string()),
                None => Ok(Oid::ZERO_SHA1.to_string()),
            },
            Backing::Git { repo, tree } => Ok(match git_entry(repo, *tree, relative)? {
                Some((oid, _)) => oid.to_string(),
                None => Oid::ZERO_SHA1.to_string(),
            }),
        }
    }
}

/// The raw bytes of the Git blob id of some content, the way Git names a file's content.
pub fn blob_id(content: &[u8]) -> anyhow::Result<Vec<u8>> {
    Ok(Oid::hash_object(ObjectType::Blob, content)?.as_bytes().to_vec())
}

/// Where a path of the tree is on disk; `None` when it is not in the tree as Git sees it:
/// it has `..` or is absolute, or goes through a symbolic link (Git stores a link as a file
/// and never looks inside its target).
fn work_tree_path(root: &Path, relative: &str) -> Option<PathBuf> {
    let parts: Vec<&str> = relative.split('/').filter(|part| !part.is_empty() && *part != ".").collect();
    let mut path = root.to_path_buf();
    for (index, part) in parts.iter().enumerate() {
        if *part == ".." || part.contains('\0') {
            return None;
        }
        path.push(part);
        if index + 1 < parts.len() && !is_real_dir(&path) {
            return None;
        }
    }
    Some(path)
}

/// A directory that is not a symbolic link.
fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir())
}

/// A file's bytes as Git would store them: a symbolic link's content is its target.
fn read_no_follow(path: &Path, relative: &str) -> anyhow::Result<Option<Vec<u8>>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // O_NOFOLLOW makes opening a link fail instead of opening what it points to, so a
    // link swapped in after any check still is not followed; O_NONBLOCK keeps a FIFO from
    // blocking the open.
    match fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path) {
        Ok(mut file) => {
            let meta = file.metadata().with_context(|| format!("reading {}", path.display()))?;
            if meta.is_dir() {
                bail!("{relative} is a directory");
            }
            if !meta.is_file() {
                // A FIFO, socket or device: Git does not store one, so it is not in the tree.
                return Ok(None);
            }
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).with_context(|| format!("reading {}", path.display()))?;
            Ok(Some(bytes))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) if err.raw_os_error() == Some(libc::ELOOP) => {
            let target = fs::read_link(path).with_context(|| format!("reading the link {}", path.display()))?;
            Ok(Some(target.into_os_string().into_encoded_bytes()))
        }
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

fn open_revision(path: &Path, repo: Repository, rev: &str) -> anyhow::Result<Snapshot> {
    let object = repo.revparse_single(rev).with_context(|| format!("resolving revision {rev}"))?;
    let commit = object.peel_to_commit().with_context(|| format!("{rev} is not a commit"))?;
    let prefix = repo_prefix(&repo, path)?;
    let root_tree = commit.tree()?;
    let tree = if prefix.as_os_str().is_empty() {
        root_tree.id()
    } else {
        let entry =
            root_tree.get_path(&prefix).with_context(|| format!("{} does not exist at {rev}", prefix.display()))?;
        entry.id()
    };
    let name = match repo.resolve_reference_from_short_name(rev) {
        Ok(reference) if reference.is_branch() || reference.is_remote() => {
            reference.shorthand().ok().unwrap_or(rev).to_string()
        }
        _ => rev.to_string(),
    };
    let sha = commit.id().to_string();
    let revision =
        if sha.starts_with(&rev.to_ascii_lowercase()) { format!("sha1:{sha}") } else { format!("{name}@sha1:{sha}") };
    drop(root_tree);
    drop(commit);
    drop(object);
    Ok(Snapshot { revision, commit: Some(sha), root: path.to_path_buf(), backing: Backing::Git { repo, tree } })
}

fn open_work_tree(path: &Path, repo: Option<Repository>) -> anyhow::Result<Snapshot> {
    let root = path.to_path_buf();
    let Some(repo) = repo else {
        return Ok(Snapshot {
            revision: "working-tree".to_string(),
            commit: None,
            root: root.clone(),
            backing: Backing::WorkTree { root },
        });
    };
    let head = repo.head().ok();
    let branch =
        head.as_ref().and_then(|head| head.shorthand().ok().map(str::to_string)).unwrap_or_else(|| "HEAD".into());
    let commit = head.and_then(|head| head.peel_to_commit().ok()).map(|commit| commit.id().to_string());
    let prefix = repo_prefix(&repo, path)?;
    let mut options = StatusOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false);
    if !prefix.as_os_str().is_empty() {
        options.pathspec(&prefix);
    }
    // ordo's own state directory may sit inside the repository; it never makes a tree dirty.
    let statuses = repo.statuses(Some(&mut options)).context("reading Git status")?;
    let dirty =
        statuses.iter().any(|entry| entry.path().is_ok_and(|path| !path.split('/').any(|segment| segment == ".ordo")));
    let revision = match &commit {
        Some(sha) => format!("{branch}@sha1:{sha}{}", if dirty { "-dirty" } else { "" }),
        None => "working-tree".to_string(),
    };
    Ok(Snapshot { revision, commit, root: root.clone(), backing: Backing::WorkTree { root } })
}

/// The path of `path` inside the repository's working directory ("" for its root).
fn repo_prefix(repo: &Repository, path: &Path) -> anyhow::Result<PathBuf> {
    let workdir = repo.workdir().context("bare repositories are not supported")?;
    let workdir = workdir.canonicalize().with_context(|| format!("resolving {}", workdir.display()))?;
    let path = path.canonicalize().with_context(|| format!("resolving {}", path.display()))?;
    Ok(path.strip_prefix(&workdir).map(Path::to_path_buf).unwrap_or_default())
}

fn git_entry(repo: &Repository, tree: Oid, relative: &str) -> anyhow::Result<Option<(Oid, ObjectType)>> {
    let relative = relative.trim_matches('/');
    if relative.is_empty() {
        return Ok(Some((tree, ObjectType::Tree)));
    }
    let tree = repo.find_tree(tree)?;
    Ok(tree.get_path(Path::new(relative)).ok().and_then(|entry| entry.kind().map(|kind| (entry.id(), kind))))
}

fn git_subtree<'repo>(repo: &'repo Repository, tree: Oid, relative: &str) -> anyhow::Result<Option<git2::Tree<'repo>>> {
    match git_entry(repo, tree, relative)? {
        Some((oid, ObjectType::Tree)) => Ok(Some(repo.find_tree(oid)?)),
        _ => Ok(None),
    }
}

/// Computes Git's tree id for a directory on disk, without writing any object.
fn hash_dir(dir: &Path) -> anyhow::Result<Oid> {
    let mut entries = Vec::new();
    if !is_real_dir(dir) {
        return Ok(Oid::ZERO_SHA1);
    }
    let Ok(read_dir) = fs::read_dir(dir) else {
        return Ok(Oid::ZERO_SHA1);
    };
    for entry in read_dir {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        let (mode, oid) = if meta.is_dir() {
            let oid = hash_dir(&path)?;
            if oid == empty_tree_id() {
                continue; // Git does not track empty directories.
            }
            ("40000", oid)
        } else if meta.file_type().is_symlink() {
            let target = fs::read_link(&path)?;
            ("120000", Oid::hash_object(ObjectType::Blob, target.as_os_str().as_encoded_bytes())?)
        } else if meta.is_file() {
            let mode = if meta.permissions().mode() & 0o111 != 0 { "100755" } else { "100644" };
            (mode, Oid::hash_file(ObjectType::Blob, &path)?)
        } else {
            continue; // Git stores no FIFOs, sockets or devices.
        };
        entries.push((name, mode, oid));
    }
    // Git orders tree entries by name, comparing directories as if they ended in '/'.
    entries.sort_by_key(|entry| sort_key(&entry.0, entry.1));
    let mut bytes = Vec::new();
    for (name, mode, oid) in entries {
        bytes.extend_from_slice(format!("{mode} {name}\0").as_bytes());
        bytes.extend_from_slice(oid.as_bytes());
    }
    Ok(Oid::hash_object(ObjectType::Tree, &bytes)?)
}

fn sort_key(name: &str, mode: &str) -> Vec<u8> {
    let mut key = name.as_bytes().to_vec();
    if mode == "40000" {
        key.push(b'/');
    }
    key
}

fn empty_tree_id() -> Oid {
    Oid::hash_object(ObjectType::Tree, b"").expect("hashing an empty buffer cannot fail")
}
