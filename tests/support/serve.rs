//! `ordo serve` as a real process in a test: its configuration and state in a temporary
//! directory, a free loopback port, an HTTP client for its API and webhooks, and kill -9.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

pub const WEBHOOK_SECRET: &str = "webhook-s3cret";
pub const API_TOKEN: &str = "api-t0ken";
pub const FORGE_TOKEN: &str = "forge-t0ken";

/// A running controller.
pub struct Served {
    pub dir: tempfile::TempDir,
    pub url: String,
    config: PathBuf,
    child: Option<Child>,
    agent: ureq::Agent,
}

impl Served {
    /// Starts a controller watching the repository at `repo` (branch `main` is environment
    /// `production`), with `extra` appended to its configuration (a `[forge]` table, say).
    pub fn start(repo: &Path, extra: &str) -> Served {
        Served::start_with(repo, "", extra)
    }

    /// Like [`Served::start`], with `server` added to the `[server]` table.
    pub fn start_with(repo: &Path, server: &str, extra: &str) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("ordo.toml");
        std::fs::write(
            &config,
            format!(
                "state_dir = \"state\"\n\
                 [repository]\nurl = \"{}\"\npoll_interval = \"1h\"\n\
                 [environments]\nproduction = \"main\"\n\
                 [server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"https://ordo.example.com\"\n\
                 webhook_secret_env = \"TEST_WEBHOOK_SECRET\"\napi_token_env = \"TEST_API_TOKEN\"\n{server}\
                 [jobs]\nshutdown_grace = \"2s\"\n{extra}",
                repo.display()
            ),
        )
        .unwrap();
        // No pooled connections: a server that closes one after refusing a large body must
        // not fail the next request that would have reused it.
        let agent = ureq::Agent::config_builder().http_status_as_error(false).max_idle_connections(0).build().into();
        let mut served = Served { dir, url: format!("http://127.0.0.1:{port}"), config, child: None, agent };
        served.spawn();
        served
    }

    fn spawn(&mut self) {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("serve.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("TEST_API_TOKEN", API_TOKEN)
            .env("TEST_FORGE_TOKEN", FORGE_TOKEN)
            .env("ORDO_LOG", "info,ordo=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting ordo serve");
        self.child = Some(child);
        self.wait_until("the controller is ready", Duration::from_secs(20), |served| served.get("/readyz").0 == 200);
    }

    /// Like [`Served::wait_for_job`], for a controller whose reads need the token.
    #[track_caller]
    pub fn wait_for_job_with_token(&self, id: i64, token: &str) -> Value {
        let path = format!("/api/v1/jobs/{id}");
        self.wait_until(&format!("job {id} ends"), Duration::from_secs(60), |served| {
            served.get_with(&path, Some(token)).1["state"]
                .as_str()
                .is_some_and(|state| state != "queued" && state != "running")
        });
        self.get_with(&path, Some(token)).1
    }

    /// The controller's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Stops the process with SIGTERM and waits for it; returns its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        child.wait().unwrap().code()
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.get_with(path, None)
    }

    pub fn get_with(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.agent.get(format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        match request.call() {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let text = response.body_mut().read_to_string().unwrap_or_default();
                (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
            }
            Err(_) => (0, Value::Null),
        }
    }

    /// POSTs a body with optional extra headers; returns the status and JSON answer.
    pub fn post(&self, path: &str, body: &[u8], headers: &[(&str, &str)]) -> (u16, Value) {
        // Each POST has a connection of its own: one the server answered before reading the
        // whole body (413) cannot carry the next request, and under load the pool could
        // otherwise hand it out again.
        let mut request = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("Content-Type", "application/json")
            .header("Connection", "close");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        match request.send(body) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let text = response.body_mut().read_to_string().unwrap_or_default();
                (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
            }
            Err(err) => panic!("POST {path}: {err}"),
        }
    }

    /// A CI run request with the API token.
    pub fn run(&self, environment: &str, body: &str) -> (u16, Value) {
        let authorization = format!("Bearer {API_TOKEN}");
        self.post(
            &format!("/api/v1/environments/{environment}/runs"),
            body.as_bytes(),
            &[("Authorization", &authorization)],
        )
    }

    /// A GitHub webhook, signed with the configured secret.
    pub fn webhook(&self, event: &str, delivery: &str, payload: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(payload).unwrap();
        let signature = sign(WEBHOOK_SECRET, &body);
        self.post(
            "/webhooks/github",
            &body,
            &[("X-GitHub-Event", event), ("X-GitHub-Delivery", delivery), ("X-Hub-Signature-256", &signature)],
        )
    }

    /// A Gitea webhook, signed as Gitea signs them (`X-Gitea-Signature`, hex HMAC-SHA256).
    pub fn gitea_webhook(&self, event: &str, event_type: &str, delivery: &str, payload: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(payload).unwrap();
        let signature = sign(WEBHOOK_SECRET, &body);
        let hex = signature.trim_start_matches("sha256=");
        self.post(
            "/webhooks/gitea",
            &body,
            &[
                ("X-Gitea-Event", event),
                ("X-Gitea-Event-Type", event_type),
                ("X-Gitea-Delivery", delivery),
                ("X-Gitea-Signature", hex),
                ("X-Hub-Signature-256", &signature),
            ],
        )
    }

    /// A GitLab webhook, with the secret token in `X-Gitlab-Token` as GitLab sends it.
    pub fn gitlab_webhook(&self, event: &str, delivery: &str, payload: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(payload).unwrap();
        self.post(
            "/webhooks/gitlab",
            &body,
            &[
                ("X-Gitlab-Event", event),
                ("X-Gitlab-Token", WEBHOOK_SECRET),
                ("X-Gitlab-Webhook-UUID", delivery),
                ("Idempotency-Key", delivery),
                ("X-Gitlab-Instance", "https://gitlab.example.com"),
            ],
        )
    }

    /// Waits until `ready` holds, failing the test with the controller's log after `limit`.
    #[track_caller]
    pub fn wait_until(&self, what: &str, limit: Duration, ready: impl Fn(&Served) -> bool) {
        let start = Instant::now();
        while !ready(self) {
            if start.elapsed() > limit {
                panic!("timed out waiting until {what}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The job, once its state is final.
    #[track_caller]
    pub fn wait_for_job(&self, id: i64) -> Value {
        let final_states = ["success", "failed", "cancelled", "interrupted", "superseded"];
        self.wait_until(&format!("job {id} ends"), Duration::from_secs(60), |served| {
            let (_, job) = served.get(&format!("/api/v1/jobs/{id}"));
            job["state"].as_str().is_some_and(|state| final_states.contains(&state))
        });
        self.get(&format!("/api/v1/jobs/{id}")).1
    }

    /// Every job, oldest first.
    pub fn jobs(&self) -> Vec<Value> {
        let (_, page) = self.get("/api/v1/jobs?limit=200");
        let mut jobs = page["jobs"].as_array().cloned().unwrap_or_default();
        jobs.reverse();
        jobs
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `sha256=HEX` of the body's HMAC-SHA256, as GitHub signs webhooks.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!("sha256={}", bytes.iter().map(|byte| format!("{byte:02x}")).collect::<String>())
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A controller in this process, for tests of its router: it watches `repo` (branch `main`
/// is environment `production`), keeps its state under `dir`, has `server` added to its
/// `[server]` table, and reads its secrets from `env` instead of the environment.
pub async fn in_process(repo: &Path, dir: &Path, server: &str, env: &[(&str, &str)]) -> ordo::controller::Controller {
    let file = dir.join("ordo.toml");
    std::fs::write(
        &file,
        format!(
            "state_dir = \"state\"\n[repository]\nurl = \"{}\"\n[environments]\nproduction = \"main\"\n[server]\n{server}",
            repo.display()
        ),
    )
    .unwrap();
    let env: Vec<(String, String)> = env.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    let getenv = move |name: &str| env.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
    let config = ordo::controller::config::load(&file, &getenv).unwrap().unwrap();
    ordo::controller::Controller::start(config, None).await.unwrap()
}
