//! The local transport: a node is a working directory on this machine,
//! `STATE/nodes/NODE/`, and its commands are child processes here.
//!
//! Code is written under the state directory before any group starts (`install_all`): a
//! file still open for writing in this process while another thread forks would make
//! executing it fail ("text file busy").

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{BoxFuture, Code, NodeCommand, Transport};
use crate::exec::output::Output;
use crate::exec::process::{self, Finished, ProcessError};
use crate::model::PackageFile;
use crate::state_dir::StateDir;

pub struct Local {
    state: StateDir,
    work_dir: String,
    /// Process groups of the commands run, stopped when the node's run ends.
    groups: Mutex<Vec<u32>>,
}

impl Local {
    pub fn new(state: &StateDir, node: &str) -> Local {
        Local {
            state: state.clone(),
            work_dir: state.node_dir(node).display().to_string(),
            groups: Mutex::new(Vec::new()),
        }
    }
}

impl Transport for Local {
    fn work_dir(&self) -> &str {
        &self.work_dir
    }

    fn open<'a>(&'a self, _code: &'a [Code]) -> BoxFuture<'a, Result<(), String>> {
        // Local code is written under the state directory before anything runs.
        Box::pin(async move {
            std::fs::create_dir_all(&self.work_dir).map_err(|err| format!("cannot create {}: {err}", self.work_dir))
        })
    }

    fn install<'a>(&'a self, code: &'a Code) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            install(&self.state, code).map(|path| path.display().to_string()).map_err(|err| format!("{err:#}"))
        })
    }

    fn run<'a>(
        &'a self,
        node_command: NodeCommand,
        deadline: Instant,
        cancel: &'a CancellationToken,
        output: &'a Arc<Mutex<Output>>,
    ) -> BoxFuture<'a, Result<Finished, ProcessError>> {
        Box::pin(async move {
            let mut command = std::process::Command::new(&node_command.program);
            command.args(&node_command.args).current_dir(&self.work_dir).envs(node_command.env);
            let finished = process::run(command, node_command.stdin, deadline, cancel, output).await;
            if let Ok(Finished { group: Some(group), .. }) = &finished {
                self.groups.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(*group);
            }
            finished
        })
    }

    fn read_file<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move { std::fs::read(Path::new(&self.work_dir).join(path)).ok() })
    }

    fn remove<'a>(&'a self, path: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let path = Path::new(&self.work_dir).join(path);
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Background children a script left behind go with the node's run.
            for group in self.groups.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).drain(..) {
                process::kill_group(group, libc::SIGKILL);
            }
        })
    }
}

/// Writes every piece of code local nodes will run, before anything runs.
pub fn install_all(state: &StateDir, codes: &[Code]) -> anyhow::Result<()> {
    for code in codes {
        install(state, code)?;
    }
    Ok(())
}

/// Where `code` is under the state directory, written there first when it is not yet.
fn install(state: &StateDir, code: &Code) -> anyhow::Result<PathBuf> {
    match code {
        Code::Package(package) => write_tree(&state.package_dir(&package.name, &package.code_id), &package.files),
        Code::Puppet(puppet) => write_tree(&state.puppet_code_dir(&puppet.code_id), &puppet.files),
        Code::Script(content) => write_script(&state.scripts_dir(), content),
    }
}

/// Writes files into a new directory atomically (all or nothing); an existing one is kept,
/// since its name says what it holds.
fn write_tree(root: &Path, files: &[PackageFile]) -> anyhow::Result<PathBuf> {
    let root = root.to_path_buf();
    if root.exists() {
        return Ok(root);
    }
    let dir = root.parent().context("a tree is written inside a directory")?;
    let name = root.file_name().context("a tree has a name")?.to_string_lossy();
    let temporary = dir.join(format!(".tmp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&temporary);
    std::fs::create_dir_all(&temporary).with_context(|| format!("creating {}", temporary.display()))?;
    for file in files {
        let path = temporary.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, &file.content).with_context(|| format!("writing {}", path.display()))?;
        let mode = if file.executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    std::fs::rename(&temporary, &root).with_context(|| format!("writing {}", root.display()))?;
    Ok(root)
}

/// Writes a script named by its content and returns its path.
fn write_script(dir: &Path, content: &[u8]) -> anyhow::Result<PathBuf> {
    let path = dir.join(crate::text::hex(&Sha256::digest(content)));
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = dir.join(format!(".tmp-{}", std::process::id()));
    std::fs::write(&temporary, content).with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
