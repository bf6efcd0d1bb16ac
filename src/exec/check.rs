//! Availability checks: before consumers run, the capability they consume must really be
//! there (a port that accepts connections, a URL that answers, a command that succeeds).
//! A check is tried every `ping_interval` until it passes or its `timeout` runs out; every
//! attempt is reported, so the progress output and the job record show what was seen.
//!
//! HTTP checks use reqwest over rustls (with ring, the one TLS provider of the build):
//! `http://` and `https://` (the system's roots), redirects followed, and a list of
//! accepted statuses. A command check runs with `sh -c` on this machine, or on a node over
//! that node's transport.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::transport::{NodeCommand, Transport};
use crate::model::{AvailabilityCheck, CheckKind};

/// The longest one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// How a check went: how many attempts it took and what the last one saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub passed: bool,
    pub attempts: u32,
    /// What the last attempt saw (`GET https://... answered 503`); empty when it passed.
    pub message: String,
}

/// Tries the check until it passes or its timeout runs out. `node` is the transport a
/// command check runs on (opened), `None` for this machine; `attempted` hears every
/// attempt's number and error.
pub async fn wait_available(
    check: &AvailabilityCheck,
    node: Option<&dyn Transport>,
    mut attempted: impl FnMut(u32, Option<&str>),
) -> CheckOutcome {
    let give_up = super::deadline_after(Duration::from_secs(check.timeout_secs));
    let interval = Duration::from_secs(check.ping_interval_secs.max(1));
    let mut attempts = 0;
    loop {
        attempts += 1;
        let deadline = Instant::now()
            + ATTEMPT_TIMEOUT.min(give_up.saturating_duration_since(Instant::now())).max(Duration::from_secs(1));
        let result = match tokio::time::timeout_at(deadline, attempt(&check.kind, node, deadline)).await {
            Ok(result) => result,
            Err(_) => Err("the attempt timed out".to_string()),
        };
        attempted(attempts, result.as_ref().err().map(String::as_str));
        match result {
            Ok(()) => return CheckOutcome { passed: true, attempts, message: String::new() },
            Err(message) if Instant::now() + interval > give_up => {
                return CheckOutcome {
                    passed: false,
                    attempts,
                    message: format!("{message} (gave up after {}s)", check.timeout_secs),
                };
            }
            Err(_) => tokio::time::sleep(interval).await,
        }
    }
}

async fn attempt(kind: &CheckKind, node: Option<&dyn Transport>, deadline: Instant) -> Result<(), String> {
    match kind {
        CheckKind::Tcp { address } => {
            TcpStream::connect(address).await.map(drop).map_err(|err| format!("connecting to {address}: {err}"))
        }
        CheckKind::Http { url, status_codes } => {
            let status = http_status(url, deadline).await?;
            let accepted = if status_codes.is_empty() { status < 400 } else { status_codes.contains(&status) };
            if accepted { Ok(()) } else { Err(format!("GET {url} answered {status}")) }
        }
        // Values come as environment variables: the shell never parses them as code.
        CheckKind::Command { command, env, .. } => match node {
            Some(transport) => remote_command(transport, command, env, deadline).await,
            None => local_command(command, env).await,
        },
    }
}

/// The HTTP client of every check: one per process, so connections are reused.
fn client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // ring is the build's one TLS provider; installing it twice is harmless.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .user_agent(concat!("ordo/", env!("CARGO_PKG_VERSION")))
                .redirect(reqwest::redirect::Policy::limited(10))
                .build()
                .map_err(|err| format!("cannot make an HTTP client: {err}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// GETs a URL, following redirects; the final status.
async fn http_status(url: &str, deadline: Instant) -> Result<u16, String> {
    let timeout = deadline.saturating_duration_since(Instant::now());
    let response = client()?.get(url).timeout(timeout).send().await.map_err(|err| {
        // reqwest's message says what failed; its sources say why.
        let mut message = format!("GET {url}: {err}");
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        message
    })?;
    Ok(response.status().as_u16())
}

async fn local_command(command: &str, env: &[(String, String)]) -> Result<(), String> {
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|err| format!("running `{}`: {err}", shown(command, env)))?;
    if status.success() { Ok(()) } else { Err(format!("`{}` exited with {status}", shown(command, env))) }
}

/// The command as its author wrote it, values in place of the variables that carry them,
/// for messages only (secrets among them are masked by the caller).
fn shown(command: &str, env: &[(String, String)]) -> String {
    // The closing quote keeps `"$ORDO_VALUE_1"` from matching the start of `"$ORDO_VALUE_12"`.
    env.iter().fold(command.to_string(), |shown, (name, value)| shown.replace(&format!("\"${name}\""), value))
}

async fn remote_command(
    transport: &dyn Transport,
    command: &str,
    env: &[(String, String)],
    deadline: Instant,
) -> Result<(), String> {
    let node_command = NodeCommand {
        program: "sh".into(),
        args: vec!["-c".into(), command.to_string()],
        env: env.to_vec(),
        stdin: Vec::new(),
    };
    let output = std::sync::Arc::new(std::sync::Mutex::new(super::output::Output::new(Default::default())));
    let cancel = tokio_util::sync::CancellationToken::new();
    match transport.run(node_command, deadline, &cancel, &output).await {
        Ok(finished) if finished.code == Some(0) => Ok(()),
        Ok(finished) => Err(format!(
            "`{}` exited with {}",
            shown(command, env),
            finished.code.map_or("a signal".to_string(), |code| format!("code {code}"))
        )),
        Err(err) => Err(format!("`{}`: {err:?}", shown(command, env))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: CheckKind, timeout_secs: u64) -> AvailabilityCheck {
        AvailabilityCheck { kind, timeout_secs, ping_interval_secs: 1 }
    }

    #[test]
    fn messages_show_commands_with_their_values() {
        let env: Vec<(String, String)> = (1..=12).map(|n| (format!("ORDO_VALUE_{n}"), format!("v{n}"))).collect();
        assert_eq!(shown(r#"nc -z "$ORDO_VALUE_1" "$ORDO_VALUE_12""#, &env), "nc -z v1 v12");
    }

    #[tokio::test]
    async fn tcp_checks_pass_on_open_ports_and_give_up_on_closed_ones() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = check(CheckKind::Tcp { address: listener.local_addr().unwrap().to_string() }, 2);
        assert!(wait_available(&open, None, |_, _| {}).await.passed);
        // Nothing listens on port 1 of the loopback address; a dropped listener's ephemeral
        // port could be taken again by something else while tests run in parallel.
        let closed = check(CheckKind::Tcp { address: "127.0.0.1:1".into() }, 0);
        let outcome = wait_available(&closed, None, |_, _| {}).await;
        assert!(!outcome.passed && outcome.message.contains("gave up"), "{outcome:?}");
    }

    #[tokio::test]
    async fn command_checks_use_the_exit_status_and_count_attempts() {
        let ok = check(CheckKind::Command { command: "true".into(), env: Vec::new(), node: None }, 0);
        let bad = check(CheckKind::Command { command: "exit 3".into(), env: Vec::new(), node: None }, 1);
        assert_eq!(
            wait_available(&ok, None, |_, _| {}).await,
            CheckOutcome { passed: true, attempts: 1, message: String::new() }
        );
        let mut seen = Vec::new();
        let outcome = wait_available(&bad, None, |attempt, error| seen.push((attempt, error.map(String::from)))).await;
        assert!(!outcome.passed);
        assert_eq!(seen.len() as u32, outcome.attempts);
        assert_eq!(seen[0], (1, Some("`exit 3` exited with exit status: 3".to_string())));
    }
}
