//! Availability checks: before consumers run, the capability they consume must really be
//! there (a port that accepts connections, a URL that answers, a command that succeeds).
//! A check is retried once a second until it passes or its timeout runs out.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::model::{AvailabilityCheck, CheckKind};

const RETRY_EVERY: Duration = Duration::from_secs(1);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits until the check passes; the error says what the last attempt saw.
pub async fn wait_available(check: &AvailabilityCheck) -> Result<(), String> {
    let give_up = super::deadline_after(Duration::from_secs(check.timeout_secs));
    loop {
        let attempt = tokio::time::timeout(ATTEMPT_TIMEOUT, attempt(&check.kind)).await;
        let last_error = match attempt {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(message)) => message,
            Err(_) => "the attempt timed out".to_string(),
        };
        if Instant::now() + RETRY_EVERY > give_up {
            return Err(format!("{last_error} (gave up after {}s)", check.timeout_secs));
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

async fn attempt(kind: &CheckKind) -> Result<(), String> {
    match kind {
        CheckKind::Tcp { address } => {
            TcpStream::connect(address).await.map(drop).map_err(|err| format!("connecting to {address}: {err}"))
        }
        CheckKind::Http { url } => http_status(url)
            .await
            .and_then(|status| if status < 400 { Ok(()) } else { Err(format!("GET {url} answered {status}")) }),
        CheckKind::Command { command, env } => {
            // Values come as environment variables: the shell never parses them as code.
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
                .map_err(|err| format!("running `{command}`: {err}"))?;
            if status.success() { Ok(()) } else { Err(format!("`{command}` exited with {status}")) }
        }
    }
}

/// A plain HTTP/1.1 GET; returns the status code.
async fn http_status(url: &str) -> Result<u16, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// URLs can be checked"))?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let address = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    let mut stream = TcpStream::connect(&address).await.map_err(|err| format!("connecting to {address}: {err}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: ordo\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|err| format!("sending to {address}: {err}"))?;
    let mut head = vec![0u8; 64];
    let n = stream.read(&mut head).await.map_err(|err| format!("reading from {address}: {err}"))?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("{url} did not answer HTTP"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tcp_checks_pass_on_open_ports_and_give_up_on_closed_ones() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = AvailabilityCheck {
            kind: CheckKind::Tcp { address: listener.local_addr().unwrap().to_string() },
            timeout_secs: 2,
        };
        assert_eq!(wait_available(&open).await, Ok(()));
        // Nothing listens on port 1 of the loopback address; a dropped listener's ephemeral
        // port could be taken again by something else while tests run in parallel.
        let closed = AvailabilityCheck { kind: CheckKind::Tcp { address: "127.0.0.1:1".into() }, timeout_secs: 0 };
        let err = wait_available(&closed).await.unwrap_err();
        assert!(err.contains("gave up"), "{err}");
    }

    #[tokio::test]
    async fn command_checks_use_the_exit_status() {
        let ok =
            AvailabilityCheck { kind: CheckKind::Command { command: "true".into(), env: Vec::new() }, timeout_secs: 0 };
        let bad = AvailabilityCheck {
            kind: CheckKind::Command { command: "exit 3".into(), env: Vec::new() },
            timeout_secs: 0,
        };
        assert_eq!(wait_available(&ok).await, Ok(()));
        assert!(wait_available(&bad).await.is_err());
    }
}
