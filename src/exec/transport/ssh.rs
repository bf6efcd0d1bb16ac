//! The SSH transport: a node is a machine reached with the system OpenSSH client, so the
//! user's own configuration applies (`~/.ssh/config`: `Host` aliases, `ProxyJump`,
//! `IdentityFile`), as it does for `ssh` and Ansible.
//!
//! Each node's run is one `ssh` session, so one connection and one `ssh` process per node
//! for the whole job: no master to start and stop, no client and no round trip per command.
//! The session's shell (`session.sh`) makes the working directory, keeps the code the run
//! brings, and then serves requests on its stdin one at a time (run a command, keep more
//! code, read or remove a file); after each, it prints a token that is new in every
//! session and the request's exit status, which is how ordo knows where a request's output
//! ends. Host keys are always verified (`StrictHostKeyChecking`); an unknown or changed key
//! stops the node before anything runs on it, with an error that names the node and the
//! known-hosts file.
//!
//! On the node, everything lives under the working directory: code in `.ordo/code/`, one
//! directory per tree id, sent as a tar archive only when it is not there yet (the session
//! opens naming the code the run uses, the node answers with what it lacks, and that follows
//! in one request; larger code only when a component needs it). A command runs in a process
//! group of its own, its environment and input sent on stdin (so no secret is ever on a
//! command line or on the node's disk); the session stops that whole group when ordo says
//! so, when the command ends (whatever it left running) or when ordo goes away (stdin ends:
//! ordo was killed, or the connection broke).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::{BoxFuture, Code, NodeCommand, Transport};
use crate::exec::output::Output;
use crate::exec::process::{CANCEL_GRACE, Finished, ProcessError};
use crate::model::{Node, PackageFile, SshTarget};
use crate::state_dir::{StateDir, path_segment};

/// The shell that serves a node's session.
const SESSION: &str = include_str!("session.sh");

/// How long the session gets to stop a command after ordo asked it to, before ordo drops the
/// connection (which makes the session kill the command's group).
const STOP_WAIT: Duration = Duration::from_secs(5);

/// How much of ssh's own messages is kept for an error: their end says what went wrong.
const MESSAGES_LIMIT: usize = 16 * 1024;

pub struct Ssh {
    node: String,
    target: SshTarget,
    connect_timeout: u64,
    /// The socket of the connection kept open between runs, when there is one.
    control_path: Option<PathBuf>,
    /// The working directory on the node, absolute, known once the node is open.
    work_dir: OnceLock<String>,
    /// Code directories already on the node.
    present: Mutex<BTreeSet<String>>,
    /// The node's session: `None` before it opens, after it closes, and once it broke.
    /// Requests take it in turn.
    session: tokio::sync::Mutex<Option<Session>>,
}

impl Ssh {
    pub fn new(node: &Node, target: &SshTarget, state: &StateDir) -> Ssh {
        Ssh {
            node: node.name.clone(),
            target: target.clone(),
            connect_timeout: node.timeout_secs.clamp(1, 10),
            control_path: control_path(state, &node.name, target),
            work_dir: OnceLock::new(),
            present: Mutex::new(BTreeSet::new()),
            session: tokio::sync::Mutex::new(None),
        }
    }

    /// The `ssh` command with this node's settings, for `remote` (a shell command line).
    fn ssh(&self, remote: &str) -> std::process::Command {
        let mut command = std::process::Command::new("ssh");
        command.args(options(&self.target, self.connect_timeout));
        if let Some(path) = &self.control_path
            && let Some(option) = control_path_option(path)
            && private_dir(path.parent().unwrap_or(Path::new(".")))
        {
            // The first run starts a master that outlives it (ssh detaches it); later runs
            // reach the node through its socket without a new connection, key exchange
            // or login. A master that is gone leaves a stale socket, which ssh replaces.
            command.args(["-o", "ControlMaster=auto", "-o", &option]);
            command.args(["-o", &format!("ControlPersist={}", self.target.control_persist)]);
        }
        command.args(["--", &self.target.address, remote]);
        command
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

    /// Why a session ended before its request did, from what ssh said as it ended.
    async fn broken(&self, mut session: Session) -> String {
        drop(session.stdin);
        let code = match tokio::time::timeout(STOP_WAIT, session.child.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => None,
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut session.messages_reader).await;
        let messages = session.messages.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.failure(&String::from_utf8_lossy(&messages), code)
    }

    fn work_dir_or_home(&self) -> &str {
        self.work_dir.get().map_or(".", String::as_str)
    }

    /// A path on the node: relative ones are inside the working directory.
    fn on_node(&self, path: &str) -> String {
        if path.starts_with('/') { path.to_string() } else { format!("{}/{path}", self.work_dir_or_home()) }
    }

    /// Starts the node's session, naming the `code` the run uses; the working directory and
    /// the code the node lacks.
    async fn start<'a>(&self, code: &'a [Code]) -> Result<(String, Vec<&'a Code>), String> {
        let subdirectory = if self.target.shared_host { path_segment(&self.node) } else { String::new() };
        let requested = self.target.work_dir.clone().unwrap_or_default();
        let remote = format!(
            "sh -c {} ordo {} {} {CODE_KEEP_DAYS}",
            shell_quote(SESSION),
            shell_quote(&requested),
            shell_quote(&subdirectory)
        );
        let mut session = Session::spawn(self.ssh(&remote))?;
        let mut named = BTreeSet::new();
        let pieces: Vec<(String, &Code)> =
            code.iter().map(|piece| (code_name(piece), piece)).filter(|(name, _)| named.insert(name.clone())).collect();
        let mut opening = session.token.clone();
        opening.push(b'\n');
        for (name, _) in &pieces {
            opening.extend_from_slice(name.as_bytes());
            opening.push(b'\n');
        }
        opening.extend_from_slice(b"-\n");
        let Some((_, printed)) = session.exchange(&opening).await else {
            return Err(self.broken(session).await);
        };
        *self.session.lock().await = Some(session);
        let printed = String::from_utf8_lossy(&printed);
        let mut lines = printed.lines();
        let work_dir = lines
            .next()
            .filter(|line| line.starts_with('/'))
            .ok_or_else(|| format!("node {}: the working directory could not be made: {printed}", self.node))?;
        let missing: BTreeSet<&str> = lines.filter_map(|line| line.strip_prefix("missing ")).collect();
        let mut present = self.present.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut lacking = Vec::new();
        for (name, piece) in pieces {
            if missing.contains(name.as_str()) {
                lacking.push(piece);
            } else {
                present.insert(name);
            }
        }
        Ok((work_dir.to_string(), lacking))
    }

    /// Sends `pieces` of code in one request; the names of those now on the node.
    async fn send_code(&self, pieces: &[&Code]) -> Result<Vec<String>, String> {
        let (script, payload, names) = code_batch(pieces)?;
        self.call(&script, &payload).await.map_err(|err| format!("sending code to node {}: {err}", self.node))?;
        Ok(names)
    }

    /// Runs a short request (`script`, with `payload` after it on stdin) in the session; its
    /// output, or why it failed.
    async fn call(&self, script: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        let mut slot = self.session.lock().await;
        let mut session = slot.take().ok_or_else(|| self.lost())?;
        let mut request = request(script);
        request.extend_from_slice(payload);
        let Some((code, printed)) = session.exchange(&request).await else {
            return Err(self.broken(session).await);
        };
        *slot = Some(session);
        if code == 0 { Ok(printed) } else { Err(self.failure(&String::from_utf8_lossy(&printed), Some(code))) }
    }

    fn lost(&self) -> String {
        format!("the connection to node {} was lost earlier in this run", self.node)
    }

    /// Runs a command in the session, feeding its environment and input, and stopping it at
    /// the deadline or on cancellation.
    async fn run_command(
        &self,
        node_command: NodeCommand,
        deadline: Instant,
        cancel: &CancellationToken,
        output: &Arc<Mutex<Output>>,
    ) -> Result<Finished, ProcessError> {
        let mut slot = self.session.lock().await;
        let mut session = slot.take().ok_or_else(|| ProcessError::Spawn(self.lost()))?;
        if session.send(&request(&command_script(&node_command))).await.is_err() {
            return Err(ProcessError::Spawn(self.broken(session).await));
        }
        let mut sink = |bytes: &[u8]| output.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(bytes);
        // Stopping is asked for in steps: TERM on cancellation, KILL after its grace (or at
        // once at the deadline), and the connection dropped when even that is not heeded.
        let mut stopping: Option<(ProcessError, &str)> = None;
        let mut next_step = deadline;
        let ended = loop {
            tokio::select! {
                read = session.read_some(&mut sink) => match read {
                    Ok(Some(code)) => break Some(code),
                    Ok(None) => {}
                    Err(()) => break None,
                },
                () = tokio::time::sleep_until(next_step) => {
                    let (reason, signal, wait) = match &stopping {
                        None => (ProcessError::TimedOut, "KILL", STOP_WAIT),
                        Some((reason, "TERM")) => (reason.clone(), "KILL", STOP_WAIT),
                        // Not even KILL was heeded: dropping the session ends the node's stdin.
                        Some((reason, _)) => return Err(reason.clone()),
                    };
                    let _ = session.send(format!("{signal}\n").as_bytes()).await;
                    stopping = Some((reason, signal));
                    next_step = Instant::now() + wait;
                },
                () = cancel.cancelled(), if stopping.is_none() => {
                    let _ = session.send(b"TERM\n").await;
                    stopping = Some((ProcessError::Cancelled, "TERM"));
                    next_step = Instant::now() + CANCEL_GRACE;
                },
            }
        };
        let Some(code) = ended else {
            let message = self.broken(session).await;
            return Err(stopping.map_or(ProcessError::Spawn(message), |(reason, _)| reason));
        };
        *slot = Some(session);
        match stopping {
            Some((reason, _)) => Err(reason),
            None => Ok(Finished { code: Some(code), group: None }),
        }
    }
}

/// A node's session: the `ssh` process and its pipes.
struct Session {
    /// In a process group of its own (a Ctrl-C is ordo's to handle), killed when dropped.
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    /// What the session printed after each request's output: new in every session, so no
    /// command's output can be taken for it.
    token: Vec<u8>,
    /// Read from stdout and not yet handed on: it may end with the start of the token.
    unread: Vec<u8>,
    /// The end of what ssh (and the session's shell) wrote on stderr.
    messages: Arc<Mutex<Vec<u8>>>,
    messages_reader: AbortOnDropHandle<()>,
}

impl Session {
    fn spawn(command: std::process::Command) -> Result<Session, String> {
        let mut command = tokio::process::Command::from(command);
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).kill_on_drop(true);
        let mut child = command.spawn().map_err(|err| format!("cannot run ssh: {err}"))?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err("cannot run ssh: its pipes are missing".to_string());
        };
        let messages = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&messages);
        let messages_reader = AbortOnDropHandle::new(tokio::spawn(async move {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut chunk).await {
                let mut kept = kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                kept.extend_from_slice(&chunk[..n]);
                if kept.len() > 2 * MESSAGES_LIMIT {
                    let excess = kept.len() - MESSAGES_LIMIT;
                    kept.drain(..excess);
                }
            }
        }));
        Ok(Session { child, stdin, stdout, token: new_token()?, unread: Vec::new(), messages, messages_reader })
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), ()> {
        self.stdin.write_all(bytes).await.map_err(|_| ())?;
        self.stdin.flush().await.map_err(|_| ())
    }

    /// Sends a request (or the opening) and reads its whole reply: its exit status and what
    /// it printed, or `None` when the session ended first (a write that fails means ssh
    /// already ended; what it said tells why).
    async fn exchange(&mut self, bytes: &[u8]) -> Option<(i32, Vec<u8>)> {
        self.send(bytes).await.ok()?;
        let mut printed = Vec::new();
        loop {
            match self.read_some(&mut |bytes| printed.extend_from_slice(bytes)).await {
                Ok(Some(code)) => return Some((code, printed)),
                Ok(None) => {}
                Err(()) => return None,
            }
        }
    }

    /// Reads once, hands on the output of the request in progress, and returns its exit
    /// status once its end is here. Dropping it part-way loses nothing (one read is pending).
    async fn read_some(&mut self, sink: &mut (dyn FnMut(&[u8]) + Send)) -> Result<Option<i32>, ()> {
        let mut chunk = [0u8; 8192];
        let n = self.stdout.read(&mut chunk).await.map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        self.unread.extend_from_slice(&chunk[..n]);
        Ok(take_reply(&mut self.unread, &self.token, sink))
    }
}

/// Hands on what `unread` holds of a request's output and, when the token and the status
/// line after it are there, removes them and returns the status. What may be the start of
/// the token stays.
fn take_reply(unread: &mut Vec<u8>, token: &[u8], sink: &mut (dyn FnMut(&[u8]) + Send)) -> Option<i32> {
    if let Some(at) = unread.windows(token.len()).position(|window| window == token) {
        sink(&unread[..at]);
        let rest = &unread[at + token.len()..];
        let Some(end) = rest.iter().position(|&byte| byte == b'\n') else {
            unread.drain(..at);
            return None;
        };
        // A status that does not read as one (it cannot happen) counts as a failure.
        let code = std::str::from_utf8(&rest[..end]).ok().and_then(|text| text.trim().parse().ok()).unwrap_or(255);
        unread.drain(..at + token.len() + end + 1);
        return Some(code);
    }
    let keep = token.len() - 1;
    if unread.len() > keep {
        let handed = unread.len() - keep;
        sink(&unread[..handed]);
        unread.drain(..handed);
    }
    None
}

/// A token no command's output can be expected to contain: 128 random bits.
fn new_token() -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let mut random = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut random))
        .map_err(|err| format!("cannot read /dev/urandom: {err}"))?;
    Ok(format!("ordo-{}", crate::text::hex(&random)).into_bytes())
}

/// A request as the session reads it: `request N`, then the N lines of `script`.
fn request(script: &str) -> Vec<u8> {
    let mut script = script.to_string();
    if !script.ends_with('\n') {
        script.push('\n');
    }
    format!("request {}\n{script}", script.matches('\n').count()).into_bytes()
}

impl Transport for Ssh {
    fn work_dir(&self) -> &str {
        self.work_dir_or_home()
    }

    fn open<'a>(&'a self, code: &'a [Code]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let (work_dir, lacking) = self.start(code).await?;
            let _ = self.work_dir.set(work_dir);
            // What the node lacks follows at once, in one request, up to a size that suits
            // the packages of a usual run; larger code waits for `install`, which sends it
            // only when a component needs it.
            let batch = sent_at_open(lacking);
            if !batch.is_empty() {
                let sent = self.send_code(&batch).await?;
                self.present.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend(sent);
            }
            Ok(())
        })
    }

    fn install<'a>(&'a self, code: &'a Code) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let name = code_name(code);
            let path = format!("{}/.ordo/code/{name}", self.work_dir_or_home());
            if !self.present.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).contains(&name) {
                let sent = self.send_code(&[code]).await?;
                self.present.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend(sent);
            }
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
        Box::pin(async move { self.call(&format!("cat -- {}", shell_quote(&self.on_node(path))), &[]).await.ok() })
    }

    fn remove<'a>(&'a self, path: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let _ = self.call(&format!("rm -rf -- {}", shell_quote(&self.on_node(path))), &[]).await;
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Every command already stopped what it started; the end of stdin ends the
            // session, and with it the connection.
            let Some(mut session) = self.session.lock().await.take() else { return };
            drop(session.stdin);
            if tokio::time::timeout(STOP_WAIT, session.child.wait()).await.is_err() {
                let _ = session.child.start_kill();
                let _ = session.child.wait().await;
            }
        })
    }
}

/// Closes the connections runs kept open under the state directory (`STATE/ssh/`), each
/// through its socket (`ssh -O exit`): a controller that stops does not leave them to wait
/// out their `control_persist`. A socket whose connection is already gone is passed over.
pub async fn close_kept_connections(state: &StateDir) {
    use std::os::unix::fs::FileTypeExt;
    let Ok(entries) = std::fs::read_dir(state.ssh_dir()) else { return };
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|kind| kind.is_socket()) {
            continue;
        }
        let Some(option) = control_path_option(&entry.path()) else { continue };
        // With -O, ssh only talks to the master on the socket: the host is never contacted.
        let mut command = tokio::process::Command::new("ssh");
        command
            .args(["-o", &option, "-O", "exit", "kept-connection"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let _ = tokio::time::timeout(STOP_WAIT, command.status()).await;
    }
}

/// Where the socket of the connection to `node` kept between runs goes: under the state
/// directory, named by everything that decides where and how ssh connects (a changed
/// inventory entry gets a new connection, never the old one). `None` when connections are
/// not kept, or when the path is too long for a socket (ssh binds a name 17 bytes longer
/// first; a socket's path has 108 bytes with its end): the run then has its own connection.
fn control_path(state: &StateDir, node: &str, target: &SshTarget) -> Option<PathBuf> {
    if target.control_persist == 0 {
        return None;
    }
    let identity = format!("{node}\0{target:?}");
    let name = crate::text::hex(&Sha256::digest(identity.as_bytes())[..8]);
    let path = state.ssh_dir().join(name);
    (path.as_os_str().len() <= 90).then_some(path)
}

/// `ControlPath=PATH` as ssh reads it: quoted, `%` doubled (ssh expands `%` tokens there);
/// `None` for a path ssh could not be given whole.
fn control_path_option(path: &Path) -> Option<String> {
    let path = path.to_str()?;
    if path.contains(['"', '\\']) {
        return None;
    }
    Some(format!("ControlPath=\"{}\"", path.replace('%', "%%")))
}

/// Makes `dir` (only its owner may enter it, as ssh wants of its sockets' directory) when it
/// is not there; whether it is there now.
fn private_dir(dir: &Path) -> bool {
    use std::os::unix::fs::DirBuilderExt;
    dir.is_dir() || std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).is_ok()
}

/// The `ssh` options for a target (everything but the destination).
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
        connect_timeout: 10,
        control_path: None,
        work_dir: OnceLock::new(),
        present: Mutex::new(BTreeSet::new()),
        session: tokio::sync::Mutex::new(None),
    };
    anyhow::bail!("{}", probe.failure(&String::from_utf8_lossy(&output.stderr), output.status.code()))
}

/// The request that runs a command: shell that exports its environment, sets its input and
/// runs it under `ordo_run` (see `session.sh`).
fn command_script(command: &NodeCommand) -> String {
    let mut script = String::new();
    for (name, value) in &command.env {
        // Only shell variable names can be exported; a parameter named otherwise is
        // visible in the JSON document on stdin.
        if is_shell_name(name) {
            script.push_str(&format!("export {name}={}\n", shell_quote(value)));
        }
    }
    script.push_str(&format!("ordo_input={}\n", shell_quote(&String::from_utf8_lossy(&command.stdin))));
    script.push_str("ordo_run");
    for word in std::iter::once(&command.program).chain(&command.args) {
        script.push(' ');
        script.push_str(&shell_quote(word));
    }
    script
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

/// How much code the session sends as it opens, of what the node lacks: enough for the
/// packages of a usual run, so the components find their code there. Larger code (a big
/// Puppet module path) is sent by `install`, only when a component needs it.
const OPEN_CODE_LIMIT: usize = 256 * 1024;

/// Of the code a node lacks, what the opening sends: each piece that still fits in
/// [`OPEN_CODE_LIMIT`] with those before it.
fn sent_at_open(lacking: Vec<&Code>) -> Vec<&Code> {
    let mut size = 0;
    lacking
        .into_iter()
        .filter(|piece| {
            let fits = size + code_size(piece) <= OPEN_CODE_LIMIT;
            if fits {
                size += code_size(piece);
            }
            fits
        })
        .collect()
}

fn code_size(code: &Code) -> usize {
    match code {
        Code::Package(package) => package_size(&package.files),
        Code::Puppet(puppet) => package_size(&puppet.files),
        Code::Script(content) => content.len(),
    }
}

/// The request that puts `pieces` on the node: a line `ordo_keep NAME KIND SIZE` for each
/// (`tree`, a tar archive, or `script`) and their bytes after the request, in that order;
/// then the sweep of code unused for [`CODE_KEEP_DAYS`] days. Returns the request's script,
/// its payload and the names sent.
fn code_batch(pieces: &[&Code]) -> Result<(String, Vec<u8>, Vec<String>), String> {
    let mut script = String::from("set -e\n");
    let mut payload = Vec::new();
    let mut names = Vec::new();
    for piece in pieces {
        let name = code_name(piece);
        if names.contains(&name) {
            continue;
        }
        let (kind, bytes) = match piece {
            Code::Package(package) => ("tree", archive(&package.files)?),
            Code::Puppet(puppet) => ("tree", archive(&puppet.files)?),
            Code::Script(content) => ("script", content.to_vec()),
        };
        script.push_str(&format!("ordo_keep {name} {kind} {}\n", bytes.len()));
        payload.extend_from_slice(&bytes);
        names.push(name);
    }
    script.push_str("ordo_sweep\n");
    Ok((script, payload, names))
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

/// How long code stays on a node after the last run that used it.
const CODE_KEEP_DAYS: u32 = 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_connection_is_named_by_the_node_and_how_it_is_reached() {
        let state = StateDir::new(Path::new("/var/lib/ordo-state")).unwrap();
        let target = SshTarget { address: "db1".into(), control_persist: 60, ..SshTarget::default() };
        let path = control_path(&state, "db1", &target).unwrap();
        assert!(path.starts_with("/var/lib/ordo-state/ssh"), "{}", path.display());
        assert_eq!(path.file_name().unwrap().len(), 16);
        assert_eq!(control_path(&state, "db1", &target), Some(path.clone()));
        assert_ne!(control_path(&state, "db2", &target), Some(path.clone()));
        let other_user = SshTarget { user: Some("deploy".into()), ..target.clone() };
        assert_ne!(control_path(&state, "db1", &other_user), Some(path));
        // Not kept, or a path too long for a socket: the run has a connection of its own.
        assert_eq!(control_path(&state, "db1", &SshTarget { control_persist: 0, ..target.clone() }), None);
        let deep = StateDir::new(&Path::new("/").join("d".repeat(80))).unwrap();
        assert_eq!(control_path(&deep, "db1", &target), None);
        // ssh expands `%` in a ControlPath and splits it at spaces unless it is quoted.
        assert_eq!(
            control_path_option(Path::new("/srv/my state/100%/ssh/ab")).unwrap(),
            "ControlPath=\"/srv/my state/100%%/ssh/ab\""
        );
        assert_eq!(control_path_option(Path::new("/srv/\"/ssh/ab")), None);
    }

    #[test]
    fn words_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("/var/lib/ordo"), "/var/lib/ordo");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's $HOME"), r"'it'\''s $HOME'");
    }

    #[test]
    fn the_opening_sends_small_code_once_and_leaves_large_code_to_install() {
        let package = |name: &str, size: usize| {
            Code::Package(Arc::new(crate::model::PackageFiles {
                name: name.to_string(),
                code_id: format!("{name}-id"),
                files: vec![PackageFile { path: "scripts/apply".into(), content: vec![b'x'; size], executable: true }],
            }))
        };
        let (small, large, script) =
            (package("small", 100), package("large", OPEN_CODE_LIMIT), Code::Script(Arc::new(b"#!/bin/sh\n".to_vec())));
        let sent = sent_at_open(vec![&small, &large, &script]);
        assert_eq!(
            sent.iter().map(|piece| code_name(piece)).collect::<Vec<_>>(),
            [code_name(&small), code_name(&script)]
        );
        let (request, payload, names) = code_batch(&[&small, &script, &small]).unwrap();
        assert_eq!(names, [code_name(&small), code_name(&script)]);
        let archived = archive(match &small {
            Code::Package(package) => &package.files,
            _ => unreachable!(),
        })
        .unwrap();
        assert_eq!(
            request,
            format!(
                "set -e\nordo_keep {} tree {}\nordo_keep {} script 10\nordo_sweep\n",
                code_name(&small),
                archived.len(),
                code_name(&script)
            )
        );
        assert_eq!(payload, [archived.as_slice(), b"#!/bin/sh\n"].concat());
    }

    #[test]
    fn a_command_gets_its_secrets_on_stdin_only() {
        let command = NodeCommand {
            program: "/x/apply".into(),
            args: vec!["it's".into()],
            env: vec![("db_password".into(), "s3'cr\net".into()), ("not-a-name".into(), "v".into())],
            stdin: b"{\"a\":1}".to_vec(),
        };
        let request = String::from_utf8(request(&command_script(&command))).unwrap();
        assert_eq!(
            request,
            "request 4\nexport db_password='s3'\\''cr\net'\nordo_input='{\"a\":1}'\nordo_run /x/apply 'it'\\''s'\n"
        );
    }

    #[test]
    fn a_reply_ends_at_the_token_wherever_the_reads_split_it() {
        let token = b"ordo-0123456789abcdef";
        let stream = b"line one\nno newline at the endordo-0123456789abcdef 3\nnext";
        for split in 0..stream.len() {
            let mut unread = Vec::new();
            let mut output = Vec::new();
            let mut status = None;
            for part in [&stream[..split], &stream[split..]] {
                unread.extend_from_slice(part);
                if status.is_none() {
                    status = take_reply(&mut unread, token, &mut |bytes| output.extend_from_slice(bytes));
                }
            }
            assert_eq!(status, Some(3), "split at {split}");
            assert_eq!(output, b"line one\nno newline at the end", "split at {split}");
            assert_eq!(unread, b"next", "split at {split}");
        }
    }
}
