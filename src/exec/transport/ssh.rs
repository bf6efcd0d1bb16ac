//! The SSH transport: a node is a machine reached with the system OpenSSH client, so the
//! user's own configuration applies (`~/.ssh/config`: `Host` aliases, `ProxyJump`,
//! `IdentityFile`), as it does for `ssh` and Ansible.
//!
//! Each node's run opens one master connection (`ControlMaster`, its socket under the state
//! directory) and every command of the run is multiplexed over it: the first command of the
//! run (which makes the working directory) connects, and its ssh leaves the master behind
//! (`ControlPersist`), so connecting costs no round trip of its own. Host keys are always
//! verified (`StrictHostKeyChecking`); an unknown or changed key stops the node before
//! anything runs on it, with an error that names the node and the known-hosts file.
//!
//! On the node, everything lives under the working directory: code in `.ordo/code/`, one
//! directory per tree id, sent as a tar archive only when it is not there yet (the run's
//! packages go with the command that opens the node, so a first run costs no extra round
//! trip; larger code follows on its own when a component needs it); and the
//! runner, `.ordo/bin/run-HASH` (`runner.sh`). A command runs under the runner, which reads
//! the command's environment and input from stdin (so no secret is ever on a command line
//! or on the node's disk), starts the command in a process group of its own, and stops
//! that whole group when ordo says so on stdin, when the command ends (whatever it left
//! running) or when ordo goes away (stdin ends: ordo was killed, or the connection broke).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::{BoxFuture, Code, NodeCommand, Transport};
use crate::exec::output::Output;
use crate::exec::process::{self, CANCEL_GRACE, Finished, ProcessError};
use crate::model::{Node, PackageFile, SshTarget};
use crate::state_dir::{StateDir, path_segment};

/// The runner script every command runs under on the node.
const RUNNER: &str = include_str!("runner.sh");

/// How long an idle master connection outlives its last command: long enough to serve a
/// whole node run, short enough that one left by a killed ordo goes away by itself.
const CONTROL_PERSIST: &str = "ControlPersist=120";

/// How long the runner gets to stop a command after ordo asked it to, before ordo drops the
/// connection (which makes the runner kill the command's group).
const STOP_WAIT: Duration = Duration::from_secs(5);

pub struct Ssh {
    node: String,
    target: SshTarget,
    control_path: PathBuf,
    connect_timeout: u64,
    /// The working directory on the node, absolute, known once the node is open.
    work_dir: OnceLock<String>,
    /// Code directories already on the node.
    present: Mutex<BTreeSet<String>>,
}

impl Ssh {
    pub fn new(node: &Node, target: &SshTarget, state: &StateDir) -> Ssh {
        let name = crate::text::hex(&Sha256::digest(format!("{}\0{}", node.name, std::process::id()).as_bytes())[..8]);
        let control_path = control_dir(state).join(&name);
        Ssh {
            node: node.name.clone(),
            target: target.clone(),
            control_path,
            connect_timeout: node.timeout_secs.clamp(1, 10),
            work_dir: OnceLock::new(),
            present: Mutex::new(BTreeSet::new()),
        }
    }

    /// The `ssh` command with this node's settings, for `remote` (a shell command line).
    fn ssh(&self, extra: &[&str], remote: Option<&str>) -> std::process::Command {
        let mut command = std::process::Command::new("ssh");
        command.args(extra);
        command.args(options(&self.target, self.connect_timeout));
        command.arg("-o").arg(format!("ControlPath={}", self.control_path.display().to_string().replace('%', "%%")));
        command.args(["--", &self.target.address]);
        command.args(remote);
        command
    }

    /// Runs a short command over the master with `stdin`; its stdout, or why it failed.
    async fn call(&self, remote: &str, stdin: Vec<u8>) -> Result<Vec<u8>, String> {
        let mut command =
            tokio::process::Command::from(self.ssh(&["-o", "ControlMaster=auto", "-o", CONTROL_PERSIST], Some(remote)));
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).kill_on_drop(true);
        let mut child = command.spawn().map_err(|err| format!("cannot run ssh: {err}"))?;
        // The writer ends with ssh, since its pipe then breaks, and at the latest with this call.
        let _writer = child.stdin.take().map(|mut pipe| {
            AbortOnDropHandle::new(tokio::spawn(async move {
                let _ = pipe.write_all(&stdin).await;
                let _ = pipe.shutdown().await;
            }))
        });
        let output = child.wait_with_output().await.map_err(|err| format!("waiting for ssh: {err}"))?;
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(self.failure(&String::from_utf8_lossy(&output.stderr), output.status.code()))
        }
    }

    /// What ssh's messages say went wrong, in words that name the node.
    fn failure(&self, messages: &str, code: Option<i32>) -> String {
        let known_hosts = self.target.known_hosts.as_deref().unwrap_or("~/.ssh/known_hosts");
        let address = &self.target.address;
        if messages.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
            return format!(
                "the host key of node {} ({address}) has changed: it does not match {known_hosts}; nothing was run. \
                 If the change is expected, remove the old key (ssh-keygen -R HOST -f {known_hosts})",
                self.node
            );
        }
        if messages.contains("Host key verification failed") {
            return format!(
                "the host key of node {} ({address}) is not in {known_hosts}; nothing was run. \
                 Add it there (ssh-keyscan), or set accept_new_host_keys: true to trust it on first use",
                self.node
            );
        }
        let reason = messages
            .lines()
            .map(str::trim)
            .rfind(|line| !line.is_empty() && !line.starts_with("Warning: Permanently added"))
            .unwrap_or("ssh failed");
        match code {
            Some(255) | None => format!("cannot reach node {} ({address}): {reason}", self.node),
            Some(code) => format!("on node {}: exit {code}: {reason}", self.node),
        }
    }

    fn work_dir_or_home(&self) -> &str {
        self.work_dir.get().map_or(".", String::as_str)
    }

    /// A path on the node: relative ones are inside the working directory.
    fn on_node(&self, path: &str) -> String {
        if path.starts_with('/') { path.to_string() } else { format!("{}/{path}", self.work_dir_or_home()) }
    }

    /// The name of the runner on the node: it changes with its content.
    fn runner_name() -> String {
        format!("run-{}", &crate::text::hex(&Sha256::digest(RUNNER.as_bytes()))[..16])
    }

    /// Runs a command under the runner, feeding its environment and input, and keeping
    /// stdin open to stop it at the deadline or on cancellation.
    async fn run_command(
        &self,
        node_command: NodeCommand,
        deadline: Instant,
        cancel: &CancellationToken,
        output: &Arc<Mutex<Output>>,
    ) -> Result<Finished, ProcessError> {
        let work_dir = self.work_dir_or_home().to_string();
        let mut words = vec![
            "exec".to_string(),
            "sh".to_string(),
            format!("{work_dir}/.ordo/bin/{}", Ssh::runner_name()),
            work_dir,
            node_command.program.clone(),
        ];
        words.extend(node_command.args.iter().cloned());
        let remote = words.iter().map(|word| shell_quote(word)).collect::<Vec<_>>().join(" ");
        let command = self.ssh(&["-o", "ControlMaster=auto", "-o", CONTROL_PERSIST], Some(&remote));
        let mut spawned = process::spawn(command, output)?;
        let mut stdin = spawned.child.stdin.take().expect("the runner's stdin is piped");
        // A write that fails means ssh already ended; its exit status says why.
        let _ = stdin.write_all(&runner_input(&node_command)).await;
        let _ = stdin.flush().await;
        let child = &mut spawned.child;
        let ended = tokio::select! {
            status = tokio::time::timeout_at(deadline, child.wait()) => match status {
                Ok(Ok(status)) => Ok(status.code()),
                Ok(Err(err)) => Err(ProcessError::Spawn(format!("waiting for ssh: {err}"))),
                Err(_) => {
                    stop(&mut stdin, child, "KILL", STOP_WAIT).await;
                    Err(ProcessError::TimedOut)
                }
            },
            () = cancel.cancelled() => {
                if !stop(&mut stdin, child, "TERM", CANCEL_GRACE).await {
                    stop(&mut stdin, child, "KILL", STOP_WAIT).await;
                }
                Err(ProcessError::Cancelled)
            }
        };
        drop(stdin);
        spawned.drain().await;
        ended.map(|code| Finished { code, group: None })
    }
}

/// Asks the runner to signal the command's group and waits up to `wait` for it to end;
/// whether it did. When it does not, ssh itself is killed, which ends the runner's stdin
/// and so makes it kill the command's group.
async fn stop(
    stdin: &mut tokio::process::ChildStdin,
    child: &mut tokio::process::Child,
    signal: &str,
    wait: Duration,
) -> bool {
    let _ = stdin.write_all(format!("{signal}\n").as_bytes()).await;
    let _ = stdin.flush().await;
    if tokio::time::timeout(wait, child.wait()).await.is_ok() {
        return true;
    }
    if signal == "KILL" {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    false
}

impl Transport for Ssh {
    fn work_dir(&self) -> &str {
        self.work_dir_or_home()
    }

    fn open<'a>(&'a self, code: &'a [Code]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let subdirectory = if self.target.shared_host { path_segment(&self.node) } else { String::new() };
            let requested = self.target.work_dir.clone().unwrap_or_default();
            let remote = format!(
                "sh -c {} ordo {} {}",
                shell_quote(&open_script()),
                shell_quote(&requested),
                shell_quote(&subdirectory)
            );
            let listing = self.call(&remote, code_bundle(code)?).await?;
            let listing = String::from_utf8_lossy(&listing);
            let mut lines = listing.lines();
            let work_dir = lines
                .next()
                .filter(|line| line.starts_with('/'))
                .ok_or_else(|| format!("node {}: the working directory could not be made: {listing}", self.node))?;
            let _ = self.work_dir.set(work_dir.to_string());
            self.present
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .extend(lines.filter(|name| !name.contains(".tmp.")).map(String::from));
            Ok(())
        })
    }

    fn install<'a>(&'a self, code: &'a Code) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let name = code_name(code);
            let path = format!("{}/.ordo/code/{name}", self.work_dir_or_home());
            if self.present.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).contains(&name) {
                return Ok(path);
            }
            let (script, payload) = match code {
                Code::Package(package) => (UNPACK_TREE, archive(&package.files)?),
                Code::Puppet(puppet) => (UNPACK_TREE, archive(&puppet.files)?),
                Code::Script(content) => (WRITE_SCRIPT, content.to_vec()),
            };
            let remote = format!(
                "sh -c {} ordo {} {}",
                shell_quote(script),
                shell_quote(self.work_dir_or_home()),
                shell_quote(&name)
            );
            self.call(&remote, payload).await.map_err(|err| format!("sending {name} to node {}: {err}", self.node))?;
            self.present.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(name);
            Ok(path)
        })
    }

    fn run<'a>(
        &'a self,
        command: NodeCommand,
        deadline: Instant,
        cancel: &'a CancellationToken,
        output: &'a Arc<Mutex<Output>>,
    ) -> BoxFuture<'a, Result<Finished, ProcessError>> {
        Box::pin(self.run_command(command, deadline, cancel, output))
    }

    fn read_file<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let remote = format!("cat -- {}", shell_quote(&self.on_node(path)));
            self.call(&remote, Vec::new()).await.ok()
        })
    }

    fn remove<'a>(&'a self, path: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let remote = format!("rm -rf -- {}", shell_quote(&self.on_node(path)));
            let _ = self.call(&remote, Vec::new()).await;
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Every command already stopped what it started (the runner sees to it); what is
            // left is the master connection.
            let mut command = tokio::process::Command::from(self.ssh(&["-O", "exit"], None));
            command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).kill_on_drop(true);
            if let Ok(mut child) = command.spawn() {
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            }
        })
    }
}

/// The `ssh` options for a target (everything but the control socket and destination).
pub fn options(target: &SshTarget, connect_timeout: u64) -> Vec<String> {
    let mut options: Vec<String> = [
        "BatchMode=yes".to_string(),
        format!("ConnectTimeout={connect_timeout}"),
        format!("StrictHostKeyChecking={}", if target.accept_new_host_keys { "accept-new" } else { "yes" }),
        // A dead connection is noticed within a minute, not at the node's timeout.
        "ServerAliveInterval=15".to_string(),
        "ServerAliveCountMax=4".to_string(),
    ]
    .into_iter()
    .flat_map(|option| ["-o".to_string(), option])
    .collect();
    if let Some(known_hosts) = &target.known_hosts {
        options.extend(["-o".to_string(), format!("UserKnownHostsFile={known_hosts}")]);
    }
    if let Some(port) = target.port {
        options.extend(["-p".to_string(), port.to_string()]);
    }
    if let Some(user) = &target.user {
        options.extend(["-l".to_string(), user.clone()]);
    }
    if let Some(identity_file) = &target.identity_file {
        options.extend(["-i".to_string(), identity_file.clone()]);
    }
    if let Some(jump) = &target.jump {
        options.extend(["-J".to_string(), jump.clone()]);
    }
    options
}

/// Runs one command on a node over a connection of its own, outside any job (facts are
/// gathered while loading, before a job exists); its stdout, or why it failed.
pub fn run_once(node_name: &str, target: &SshTarget, remote: &str) -> anyhow::Result<Vec<u8>> {
    let output = std::process::Command::new("ssh")
        .args(options(target, 10))
        .args(["--", &target.address, remote])
        .stdin(Stdio::null())
        .output()
        .map_err(|err| anyhow::anyhow!("cannot run ssh: {err}"))?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let probe = Ssh {
        node: node_name.to_string(),
        target: target.clone(),
        control_path: PathBuf::new(),
        connect_timeout: 10,
        work_dir: OnceLock::new(),
        present: Mutex::new(BTreeSet::new()),
    };
    anyhow::bail!("{}", probe.failure(&String::from_utf8_lossy(&output.stderr), output.status.code()))
}

/// Where the control sockets go: under the state directory, unless that path is too long
/// for a socket (about 100 bytes), then in a directory of the temporary one.
fn control_dir(state: &StateDir) -> PathBuf {
    let preferred = state.ssh_dir();
    let dir = if preferred.as_os_str().len() <= 80 {
        preferred
    } else {
        let digest = crate::text::hex(&Sha256::digest(state.root().as_os_str().as_encoded_bytes())[..6]);
        std::env::temp_dir().join(format!("ordo-ssh-{digest}"))
    };
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700));
    dir
}

/// What the runner reads on stdin: a line count, then that many lines of shell that
/// export the environment and set the command's input.
fn runner_input(command: &NodeCommand) -> Vec<u8> {
    let mut script = String::new();
    for (name, value) in &command.env {
        // Only shell variable names can be exported; a parameter named otherwise is
        // visible in the JSON document on stdin.
        if is_shell_name(name) {
            script.push_str(&format!("export {name}={}\n", shell_quote(value)));
        }
    }
    script.push_str(&format!("ordo_input={}\n", shell_quote(&String::from_utf8_lossy(&command.stdin))));
    format!("{}\n{script}", script.matches('\n').count()).into_bytes()
}

fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A word quoted for a POSIX shell: in single quotes, each `'` written as `'\''`.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty() && word.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"/._-=:,@%+".contains(&byte)) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The directory name of a piece of code on the node: named by its content.
fn code_name(code: &Code) -> String {
    match code {
        Code::Package(package) => path_segment(&format!("{}-{}", package.name, package.code_id)),
        Code::Puppet(puppet) => path_segment(&format!("puppet-{}", puppet.code_id)),
        Code::Script(content) => format!("script-{}", crate::text::hex(&Sha256::digest(content.as_slice()))),
    }
}

/// How much code `open` sends along with making the working directory: enough for the
/// packages of a usual run, so a first run costs no extra round trip per node, and little
/// enough that sending it again to a node that has it costs next to nothing. Larger code
/// (a big Puppet module path) is sent by `install`, only when the node lacks it.
const OPEN_CODE_LIMIT: usize = 256 * 1024;

/// The code `open` sends: for each piece, a line `NAME KIND SIZE` (`tree`, a tar archive,
/// or `script`) and then its bytes; the node keeps what it does not have yet. A piece that
/// would take the whole over [`OPEN_CODE_LIMIT`] is only named (`NAME keep 0`), so the node
/// counts it as used, and left to `install`.
fn code_bundle(code: &[Code]) -> Result<Vec<u8>, String> {
    let mut bundle = Vec::new();
    let mut names = BTreeSet::new();
    for piece in code {
        let name = code_name(piece);
        if !names.insert(name.clone()) {
            continue;
        }
        let size = match piece {
            Code::Package(package) => package_size(&package.files),
            Code::Puppet(puppet) => package_size(&puppet.files),
            Code::Script(content) => content.len(),
        };
        if bundle.len() + size > OPEN_CODE_LIMIT {
            bundle.extend_from_slice(format!("{name} keep 0\n").as_bytes());
            continue;
        }
        let (kind, bytes) = match piece {
            Code::Package(package) => ("tree", archive(&package.files)?),
            Code::Puppet(puppet) => ("tree", archive(&puppet.files)?),
            Code::Script(content) => ("script", content.to_vec()),
        };
        bundle.extend_from_slice(format!("{name} {kind} {}\n", bytes.len()).as_bytes());
        bundle.extend_from_slice(&bytes);
    }
    Ok(bundle)
}

fn package_size(files: &[PackageFile]) -> usize {
    files.iter().map(|file| file.content.len()).sum()
}

/// A tar archive of a tree's files.
fn archive(files: &[PackageFile]) -> Result<Vec<u8>, String> {
    let mut builder = tar::Builder::new(Vec::new());
    for file in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(file.content.len() as u64);
        header.set_mode(if file.executable { 0o755 } else { 0o644 });
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, Path::new(&file.path), file.content.as_slice())
            .map_err(|err| format!("archiving {}: {err}", file.path))?;
    }
    builder.into_inner().map_err(|err| format!("archiving: {err}"))
}

/// Unpacks the archive on stdin as `.ordo/code/NAME` (`$1` the working directory, `$2` the
/// name), atomically: a half-sent tree is never taken for a whole one.
const UNPACK_TREE: &str = r#"set -e
cd "$1"
tmp=".ordo/code/$2.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
tar -x -f - -C "$tmp"
if [ -e ".ordo/code/$2" ]; then rm -rf "$tmp"; else mv "$tmp" ".ordo/code/$2"; fi"#;

/// Writes the script on stdin as `.ordo/code/NAME`, executable.
const WRITE_SCRIPT: &str = r#"set -e
cd "$1"
tmp=".ordo/code/$2.tmp.$$"
cat > "$tmp"
chmod 755 "$tmp"
mv "$tmp" ".ordo/code/$2""#;

/// How long code stays on a node after the last run that used it.
const CODE_KEEP_DAYS: u32 = 30;

/// Makes the working directory (`$1`, or the default with the subdirectory `$2`) and the
/// runner in it, unless they are there; keeps the code on stdin that is not there yet (see
/// [`code_bundle`]; each piece unpacked beside its place and moved there whole, so a
/// half-sent tree is never taken for a whole one); marks the code the run uses as used and,
/// when new code arrived, removes code no run has used for [`CODE_KEEP_DAYS`] days; prints
/// the directory and the code there. Every process it starts is a cost on every node of
/// every run: what builtins can do, they do.
fn open_script() -> String {
    format!(
        r#"set -e
wd=$1
if [ -z "$wd" ]; then
    if [ "$(id -u)" = 0 ]; then wd=/var/lib/ordo; else wd="$HOME/.ordo"; fi
    if [ -n "$2" ]; then wd="$wd/$2"; fi
fi
case $wd in "~") wd=$HOME ;; "~/"*) wd="$HOME/${{wd#"~/"}}" ;; esac
runner="$wd/.ordo/bin/{runner}"
if [ ! -f "$runner" ]; then
    mkdir -p "$wd/.ordo/code" "$wd/.ordo/bin"
    cat > "$runner.$$" <<'ORDO_RUNNER_END'
{RUNNER}ORDO_RUNNER_END
    mv "$runner.$$" "$runner"
fi
cd "$wd"
[ -d .ordo/code ] || mkdir -p .ordo/code
arrived=
while read -r name kind size; do
    if [ -e ".ordo/code/$name" ]; then
        head -c "$size" > /dev/null
        touch ".ordo/code/$name"
        continue
    fi
    if [ "$kind" = keep ]; then
        continue
    fi
    arrived=yes
    tmp=".ordo/code/$name.tmp.$$"
    if [ "$kind" = tree ]; then
        mkdir -p "$tmp"
        head -c "$size" > "$tmp.tar"
        tar -x -f "$tmp.tar" -C "$tmp"
        rm -f "$tmp.tar"
    else
        head -c "$size" > "$tmp"
        chmod 755 "$tmp"
    fi
    if [ -e ".ordo/code/$name" ]; then rm -rf "$tmp"; else mv "$tmp" ".ordo/code/$name"; fi
done
# Code no run has used for {CODE_KEEP_DAYS} days goes (what this run uses was just touched);
# code only stops being used when other code takes its place, so only then is it looked for.
if [ -n "$arrived" ]; then
    find .ordo/code/. ! -name . -prune -mtime +{CODE_KEEP_DAYS} -exec rm -rf {{}} +
fi
pwd
# Shell builtins only: this runs once per node and job.
for code in .ordo/code/*; do
    [ -e "$code" ] && echo "${{code##*/}}"
done
true
"#,
        runner = Ssh::runner_name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("/var/lib/ordo"), "/var/lib/ordo");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's $HOME"), r"'it'\''s $HOME'");
    }

    #[test]
    fn open_brings_each_small_package_once_and_leaves_large_code_to_install() {
        let package = |name: &str, size: usize| {
            Code::Package(Arc::new(crate::model::PackageFiles {
                name: name.to_string(),
                code_id: format!("{name}-id"),
                files: vec![PackageFile { path: "scripts/apply".into(), content: vec![b'x'; size], executable: true }],
            }))
        };
        let (small, large) = (package("small", 100), package("large", OPEN_CODE_LIMIT));
        let bundle = code_bundle(&[small.clone(), large.clone(), small.clone()]).unwrap();
        let header = format!("{} tree ", code_name(&small));
        let text = String::from_utf8_lossy(&bundle);
        assert!(text.starts_with(&header), "{text}");
        assert_eq!(text.matches(" tree ").count(), 1, "{text}");
        let first_line = text.lines().next().unwrap();
        let size: usize = first_line[header.len()..].parse().unwrap();
        // The large one is only named, after the small one's bytes.
        let rest = &bundle[first_line.len() + 1 + size..];
        assert_eq!(String::from_utf8_lossy(rest), format!("{} keep 0\n", code_name(&large)));
    }

    #[test]
    fn the_runner_gets_secrets_on_stdin_only() {
        let command = NodeCommand {
            program: "/x/apply".into(),
            args: Vec::new(),
            env: vec![("db_password".into(), "s3'cr\net".into()), ("not-a-name".into(), "v".into())],
            stdin: b"{\"a\":1}".to_vec(),
        };
        let input = String::from_utf8(runner_input(&command)).unwrap();
        assert_eq!(input, "3\nexport db_password='s3'\\''cr\net'\nordo_input='{\"a\":1}'\n");
    }
}
