//! How fast pull-request previews reach the forge, measured on a real `ordo serve` watching
//! a real repository and reporting to a stand-in GitHub on loopback:
//!
//! - the LAMP example (4 nodes, applied): from sending a pull request's webhook to its
//!   comment arriving at the forge (target: < 1 s);
//! - a site of 10,000 nodes (2,500 LAMP instances, recorded as applied): the same for a pull
//!   request that changes one instance (target: < 2 s).
//!
//! Each round pushes a new commit to the pull request and sends its webhook; the figure is
//! the time until the comment showing that commit is written (created or edited) at the
//! forge, and until the plan status arrives. Run with `cargo bench --bench previews`;
//! `ORDO_BENCH_ROUNDS` sets the rounds (10 by default).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{Method, Uri};
use serde_json::{Value, json};

mod support;

use support::{Serving, copy_dir, git, report, sign};

fn main() {
    let rounds = std::env::var("ORDO_BENCH_ROUNDS").ok().and_then(|value| value.parse().ok()).unwrap_or(10);
    let forge = StandIn::start();
    println!(
        "ordo serve previews, stand-in GitHub on loopback, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("lamp");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lamp"), &repo);
    init(&repo);
    let mut controller = Controller::start(work.path(), &repo, &forge.url);
    controller.wait_for_applied(&repo);
    let (mut comments, mut statuses) = rounds_of(&controller, &forge, &repo, 1, rounds, "app1");
    report("LAMP example, webhook to comment [target < 1 s]", &mut comments);
    report("LAMP example, webhook to plan status", &mut statuses);
    controller.stop();

    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("big");
    let started = Instant::now();
    generate(&repo, 2_500);
    init(&repo);
    record_applied(&work.path().join("state"), &repo);
    println!("10,000 nodes: site written and recorded as applied in {:.1} s", started.elapsed().as_secs_f64());
    let mut controller = Controller::start(work.path(), &repo, &forge.url);
    controller.wait_for_applied(&repo);
    let (mut comments, mut statuses) = rounds_of(&controller, &forge, &repo, 2, rounds, "i1234");
    report("10,000 nodes, one instance changed, webhook to comment [target < 2 s]", &mut comments);
    report("10,000 nodes, one instance changed, webhook to plan status", &mut statuses);
    controller.stop();
}

/// Pushes `rounds` commits to pull request `number`, each changing instance `instance`'s
/// database user, and times each preview.
fn rounds_of(
    controller: &Controller,
    forge: &StandIn,
    repo: &Path,
    number: u64,
    rounds: usize,
    instance: &str,
) -> (Vec<Duration>, Vec<Duration>) {
    let mut comments = Vec::new();
    let mut statuses = Vec::new();
    git(repo, &["checkout", "-q", "-b", "pr", "main"]);
    for round in 0..rounds {
        let site = std::fs::read_to_string(repo.join("site.yaml")).unwrap();
        let from = format!("title: {instance}\n    parameters:\n      db_user: ");
        let at = site.find(&from).expect("the instance is in the site") + from.len();
        let end = at + site[at..].find('\n').unwrap();
        std::fs::write(repo.join("site.yaml"), format!("{}user{round}{}", &site[..at], &site[end..])).unwrap();
        git(repo, &["commit", "-qam", &format!("round {round}")]);
        let sha = output(repo, &["rev-parse", "HEAD"]);
        git(repo, &["update-ref", &format!("refs/pull/{number}/head"), &sha]);
        let action = if round == 0 { "opened" } else { "synchronize" };
        let payload = json!({
            "action": action, "number": number,
            "pull_request": {"number": number, "title": "bench", "head": {"ref": "pr", "sha": sha}, "base": {"ref": "main"}},
            "repository": {"full_name": "acme/site"}, "sender": {"login": "bench"}
        });
        let body = serde_json::to_vec(&payload).unwrap();
        let sent = Instant::now();
        let status = controller
            .agent
            .post(format!("{}/webhooks/github", controller.serving.url))
            .header("X-GitHub-Event", "pull_request")
            .header("X-GitHub-Delivery", format!("bench-{number}-{round}"))
            .header("X-Hub-Signature-256", sign(&body))
            .send(&body[..])
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 202);
        let (comment, plan_status) = forge.wait_for(&sha, Duration::from_secs(60));
        comments.push(comment.duration_since(sent));
        statuses.push(plan_status.duration_since(sent));
    }
    git(repo, &["checkout", "-q", "main"]);
    (comments, statuses)
}

/// A stand-in GitHub: statuses and issue comments kept in memory, with the moment each
/// arrived.
struct StandIn {
    url: String,
    seen: Arc<Mutex<Seen>>,
    _runtime: tokio::runtime::Runtime,
}

#[derive(Default)]
struct Seen {
    comments: BTreeMap<u64, (u64, String)>,
    next_id: u64,
    /// When a comment mentioning a commit was written, and when its plan status came.
    comment_at: BTreeMap<String, Instant>,
    status_at: BTreeMap<String, Instant>,
}

impl StandIn {
    fn start() -> StandIn {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let router = axum::Router::new().fallback(answer).with_state(Arc::clone(&seen));
        runtime.spawn(async move { axum::serve(listener, router).await });
        StandIn { url, seen, _runtime: runtime }
    }

    fn wait_for(&self, sha: &str, limit: Duration) -> (Instant, Instant) {
        let started = Instant::now();
        loop {
            {
                let seen = self.seen.lock().unwrap();
                if let (Some(comment), Some(status)) = (seen.comment_at.get(sha), seen.status_at.get(sha)) {
                    return (*comment, *status);
                }
            }
            assert!(started.elapsed() < limit, "no preview of {sha} arrived");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

async fn answer(
    State(seen): State<Arc<Mutex<Seen>>>,
    method: Method,
    uri: Uri,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    let now = Instant::now();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut seen = seen.lock().unwrap();
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let note_commit = |seen: &mut Seen, text: &str| {
        // The comment names its head first: `pull/N@sha1:SHA`.
        let head = text.split("head `pull/").nth(1).and_then(|rest| rest.split("@sha1:").nth(1));
        if let Some(sha) = head.map(|rest| rest.chars().take(40).collect::<String>()) {
            seen.comment_at.entry(sha).or_insert(now);
        }
    };
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["repos", _, _, "statuses", sha]) => {
            if body["context"].as_str().is_some_and(|context| context.ends_with("/plan")) {
                seen.status_at.entry(sha.to_string()).or_insert(now);
            }
            axum::Json(json!({"id": 1}))
        }
        ("GET", ["repos", _, _, "issues", number, "comments"]) => {
            let number: u64 = number.parse().unwrap();
            let page_one = !uri.query().unwrap_or_default().contains("page=2");
            let list: Vec<Value> = seen
                .comments
                .iter()
                .filter(|(_, (of, _))| *of == number && page_one)
                .map(|(id, (_, body))| json!({"id": id, "body": body}))
                .collect();
            axum::Json(Value::Array(list))
        }
        ("POST", ["repos", _, _, "issues", number, "comments"]) => {
            let text = body["body"].as_str().unwrap_or_default().to_string();
            note_commit(&mut seen, &text);
            seen.next_id += 1;
            let id = seen.next_id;
            seen.comments.insert(id, (number.parse().unwrap(), text));
            axum::Json(json!({"id": id}))
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            let text = body["body"].as_str().unwrap_or_default().to_string();
            note_commit(&mut seen, &text);
            if let Some(comment) = seen.comments.get_mut(&id.parse().unwrap()) {
                comment.1 = text;
            }
            axum::Json(json!({"id": id}))
        }
        ("DELETE", ["repos", _, _, "issues", "comments", id]) => {
            seen.comments.remove(&id.parse().unwrap());
            axum::Json(Value::Null)
        }
        _ => axum::Json(json!({})),
    }
}

struct Controller {
    serving: Serving,
    agent: ureq::Agent,
}

impl Controller {
    fn start(dir: &Path, repo: &Path, forge: &str) -> Controller {
        let tables = format!(
            "[forge]\nkind = \"github\"\napi_url = \"{forge}\"\nrepository = \"acme/site\"\ntoken_env = \"BENCH_SECRET\"\n\
             [jobs]\nconcurrency = 64\n"
        );
        let serving = Serving::start(dir, repo, &dir.join("state"), "", &tables, &[]);
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Controller { serving, agent }
    }

    /// Waits until production is at `main`.
    fn wait_for_applied(&self, repo: &Path) {
        let main = output(repo, &["rev-parse", "main"]);
        let started = Instant::now();
        loop {
            let environment: Value =
                match self.agent.get(format!("{}/api/v1/environments/production", self.serving.url)).call() {
                    Ok(mut response) => response.body_mut().read_json().unwrap_or(Value::Null),
                    Err(_) => Value::Null,
                };
            if environment["last_applied_revision"] == format!("main@sha1:{main}") {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "production was not applied: {environment}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        self.serving.stop();
    }
}

/// A site of `instances` LAMP instances on four nodes each, with the LAMP package.
fn generate(dir: &Path, instances: usize) {
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lamp/packages"), &dir.join("packages"));
    let mut inventory = String::from("defaults:\n  transport: local\n  timeout: 60\nnodes:\n");
    let mut site = String::from("instances:\n");
    for index in 0..instances {
        let node = |n: usize| format!("node{:05}.example.net", index * 4 + n);
        for n in 0..4 {
            let _ = writeln!(inventory, "  - name: {}\n    facts: {{fqdn: {}}}", node(n), node(n));
        }
        let _ = write!(
            site,
            "  - application: lamp@1.0.0\n    title: i{index}\n    parameters:\n      db_user: user\n      db_password: secret\n      web_instances: 3\n    nodes:\n      {}: Lamp::Mysql[i{index}]\n      {}: Lamp::Webapp[i{index}-1]\n      {}: Lamp::Webapp[i{index}-2]\n      {}: Lamp::Webapp[i{index}-3]\n",
            node(0),
            node(1),
            node(2),
            node(3)
        );
    }
    std::fs::write(dir.join("inventory.yaml"), inventory).unwrap();
    std::fs::write(dir.join("site.yaml"), site).unwrap();
}

/// Records `main` as applied to production, as a finished apply would have, without
/// running 10,000 nodes.
fn record_applied(state: &Path, repo: &Path) {
    use ordo::store::{JobFinish, JobKind, JobState, JobWrite, NewJob, Trigger};
    let main = output(repo, &["rev-parse", "main"]);
    let input = ordo::load::Input::open(repo, Some(&main)).unwrap();
    let loaded = ordo::load::load_input(&input, ordo::load::LoadOptions::default()).unwrap();
    assert!(loaded.diagnostics.is_empty(), "the generated site does not validate");
    let state = ordo::state_dir::StateDir::new(state).unwrap();
    let mut store = ordo::store::open(&state).unwrap();
    let key = store.secret_key().unwrap();
    let revision = format!("main@sha1:{main}");
    let job = store
        .queue_job(&NewJob {
            environment: "production".into(),
            revision: revision.clone(),
            kind: JobKind::Apply,
            trigger: Trigger::Cli,
        })
        .unwrap();
    store.start_job(job, &revision, None).unwrap();
    let writes: Vec<JobWrite> = ordo::plan::Inventory::from_model(&loaded.model, &key)
        .components
        .into_values()
        .map(|applied| JobWrite::Applied(Box::new(applied)))
        .collect();
    store.record(job, "production", &writes).unwrap();
    let finish = JobFinish {
        state: JobState::Success,
        summary: "recorded by the benchmark".into(),
        applied_revision: Some(revision),
        diagnostics: None,
    };
    store.finish_job(job, &finish).unwrap();
}

fn init(repo: &Path) {
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "site"]);
}

fn output(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git").args(args).current_dir(dir).output().unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}
