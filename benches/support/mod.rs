//! What the controller and preview benchmarks share: their webhook secret and signature,
//! git with a fixed author, copying a directory, and printing a latency distribution.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The webhook secret both benchmarks configure their controller with.
pub const SECRET: &str = "bench-secret";

/// The `X-Hub-Signature-256` value of a webhook body, signed with [`SECRET`].
pub fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect::<String>())
}

/// Runs git in `dir` as a fixed author; panics when it fails.
pub fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.net")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.net")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Prints the median, 90th percentile, minimum and maximum of `samples`.
pub fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |fraction: f64| samples[((samples.len() - 1) as f64 * fraction).round() as usize];
    println!(
        "{what}: median {:.2} ms, p90 {:.2} ms, min {:.2} ms, max {:.2} ms ({} samples)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.9).as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
        samples.len()
    );
}

/// A running `ordo serve`: killed by [`Serving::stop`].
pub struct Serving {
    pub child: std::process::Child,
    pub url: String,
}

impl Serving {
    /// Starts `ordo serve` on a free loopback port, watching `repo`'s `main` for production
    /// with its state in `state`, webhooks signed with [`SECRET`]. `server_keys` are more
    /// keys of its `[server]` table, `tables` more tables, and `env` the variables they name.
    pub fn start(
        dir: &Path,
        repo: &Path,
        state: &Path,
        server_keys: &str,
        tables: &str,
        env: &[(&str, &str)],
    ) -> Serving {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = dir.join("ordo.toml");
        std::fs::write(
            &config,
            format!(
                "state_dir = \"{}\"\n[repository]\nurl = \"{}\"\npoll_interval = \"1h\"\n[environments]\nproduction = \"main\"\n\
                 [server]\nlisten = \"127.0.0.1:{port}\"\nwebhook_secret_env = \"BENCH_SECRET\"\n{server_keys}{tables}",
                state.display(),
                repo.display()
            ),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("BENCH_SECRET", SECRET)
            .envs(env.iter().copied())
            .env("ORDO_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Serving { child, url: format!("http://127.0.0.1:{port}") }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
