//! The controller's speed, measured on a real `ordo serve` watching a real repository:
//!
//! - from a `git commit` in the watched local repository to the first node starting;
//! - a burst of 1,000 signed push webhooks for one environment: time until all are answered,
//!   and how many jobs they became;
//! - the idle controller's memory and CPU;
//! - `GET /api/v1/jobs/ID` with 10,000 jobs in the store;
//! - the page of a job of 1,000 nodes (`GET /jobs/ID`), and the SVG picture of a 1,000-node
//!   graph.
//!
//! Run with `cargo bench --bench controller`; it prints each figure.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ordo::plan::EdgeRef;
use ordo::plan::picture;
use ordo::state_dir::StateDir;
use ordo::store::{
    self, ComponentRecord, ComponentState, JobFinish, JobKind, JobState, JobWrite, NewJob, NodePhase, NodeResultRecord,
    NodeState, Trigger,
};
use serde_json::Value;

mod support;

use support::{Serving, copy_dir, git, report, sign};

const TOKEN: &str = "bench-token";

fn main() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("site");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lamp"), &repo);
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "site"]);
    let state = work.path().join("state");
    seed_jobs(&state, 9_999);
    let (nodes, edges) = big_graph(1_000);
    seed_big_job(&state, &nodes, &edges);

    let mut controller =
        Serving::start(work.path(), &repo, &state, "api_token_env = \"BENCH_TOKEN\"\n", "", &[("BENCH_TOKEN", TOKEN)]);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    wait_for_jobs(&agent, &controller.url, 10_001);

    println!(
        "ordo serve, LAMP example (4 local nodes), {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    commit_to_first_node(&agent, &controller.url, &repo);
    webhook_burst(&agent, &controller.url, &repo);
    idle(&controller);
    job_reads(&agent, &controller.url);
    job_page(&agent, &controller.url, 10_000);
    picture(&nodes, &edges);
    controller.stop();
}

/// A three-tier graph of `n` nodes, three components each: a tenth databases, a tenth load
/// balancers, the rest web servers, each web server consuming one database and consumed by
/// one load balancer.
fn big_graph(n: usize) -> (BTreeMap<String, Vec<String>>, Vec<EdgeRef>) {
    let tier = n / 10;
    let name = |kind: &str, index: usize| format!("{kind}{index:04}.example.net");
    let mut nodes = BTreeMap::new();
    let mut edges = Vec::new();
    for index in 0..n {
        let (kind, node) = match index {
            index if index < tier => ("Db", name("db", index)),
            index if index < 2 * tier => ("Lb", name("lb", index - tier)),
            index => ("Web", name("web", index - 2 * tier)),
        };
        let components: Vec<String> = (0..3).map(|slot| format!("Shop::{kind}[{node}-{slot}]")).collect();
        if kind == "Web" {
            let web = index - 2 * tier;
            for (slot, component) in components.iter().enumerate() {
                let db = format!("Shop::Db[{}-{slot}]", name("db", web % tier));
                let lb = format!("Shop::Lb[{}-{slot}]", name("lb", web % tier));
                edges.push(EdgeRef { from: db.clone(), to: component.clone(), capability: Some(format!("Sql[{db}]")) });
                edges.push(EdgeRef { from: component.clone(), to: lb, capability: Some(format!("Http[{component}]")) });
            }
        }
        nodes.insert(node, components);
    }
    (nodes, edges)
}

/// A finished job over the whole graph, with each node's result and output.
fn seed_big_job(state: &Path, nodes: &BTreeMap<String, Vec<String>>, edges: &[EdgeRef]) {
    let mut store = store::open(&StateDir::new(state).unwrap()).unwrap();
    let groups: Vec<Vec<&String>> = ["db", "web", "lb"]
        .iter()
        .map(|prefix| nodes.keys().filter(|node| node.starts_with(prefix)).collect())
        .collect();
    let plan =
        serde_json::json!({"groups": groups, "nodes": nodes, "edges": edges, "changes": [], "teardown_groups": []});
    let id = store
        .queue_job(&NewJob {
            environment: "history".into(),
            revision: "main@sha1:big".into(),
            kind: JobKind::Apply,
            trigger: Trigger::Push,
        })
        .unwrap();
    store.start_job(id, "main@sha1:big", Some(&plan.to_string())).unwrap();
    let writes: Vec<JobWrite> = groups
        .iter()
        .enumerate()
        .flat_map(|(group, members)| members.iter().map(move |node| (group, node)))
        .map(|(group, node)| {
            JobWrite::NodeResult(NodeResultRecord {
                node: node.to_string(),
                phase: NodePhase::Apply,
                group_index: group as i64,
                state: NodeState::Success,
                started_at: store::now(),
                finished_at: Some(store::now()),
                duration_ms: 20,
                components: nodes[node.as_str()]
                    .iter()
                    .map(|component| ComponentRecord {
                        component: component.clone(),
                        result: ComponentState::Applied,
                        message: None,
                    })
                    .collect(),
                output: format!("==> {node} apply\nwrote the configuration\n"),
            })
        })
        .collect();
    store.record(id, "history", &writes).unwrap();
    let finish =
        JobFinish { state: JobState::Success, summary: "Success".into(), applied_revision: None, diagnostics: None };
    store.finish_job(id, &finish).unwrap();
}

/// `GET /jobs/ID` of the 1,000-node job: the whole page, rendered by the server.
fn job_page(agent: &ureq::Agent, url: &str, id: i64) {
    let mut latencies = Vec::new();
    let mut size = 0;
    for _ in 0..30 {
        let start = Instant::now();
        let mut response = agent.get(format!("{url}/jobs/{id}")).call().unwrap();
        size = response.body_mut().read_to_string().unwrap().len();
        latencies.push(start.elapsed());
    }
    report(&format!("GET /jobs/ID of a 1,000-node job ({} KB of HTML)", size / 1024), &mut latencies);
}

/// The SVG picture of the 1,000-node graph, laid out and written in this process.
fn picture(nodes: &BTreeMap<String, Vec<String>>, edges: &[EdgeRef]) {
    let mut latencies = Vec::new();
    let mut size = 0;
    for _ in 0..20 {
        let start = Instant::now();
        let svg = picture::svg(&picture::of_graph(nodes, edges), &picture::SvgOptions::default());
        latencies.push(start.elapsed());
        size = svg.len();
    }
    report(&format!("SVG of a 1,000-node graph ({} KB)", size / 1024), &mut latencies);
}

/// Records `n` finished jobs with four node results each, as a long-lived store holds.
fn seed_jobs(state: &Path, n: usize) {
    let state = StateDir::new(state).unwrap();
    let mut store = store::open(&state).unwrap();
    for index in 0..n {
        let id = store
            .queue_job(&NewJob {
                environment: "history".into(),
                revision: format!("main@sha1:{index:040x}"),
                kind: JobKind::Apply,
                trigger: Trigger::Push,
            })
            .unwrap();
        store
            .start_job(id, &format!("main@sha1:{index:040x}"), Some(r#"{"groups":[["dev1"],["dev2","dev3","dev4"]]}"#))
            .unwrap();
        let writes: Vec<JobWrite> = (1..=4)
            .map(|node| {
                JobWrite::NodeResult(NodeResultRecord {
                    node: format!("dev{node}.example.net"),
                    phase: NodePhase::Apply,
                    group_index: i64::from(node > 1),
                    state: NodeState::Success,
                    started_at: store::now(),
                    finished_at: Some(store::now()),
                    duration_ms: 20,
                    components: Vec::new(),
                    output: "==> Lamp::Webapp[app1-1] apply\n".repeat(20),
                })
            })
            .collect();
        store.record(id, "history", &writes).unwrap();
        store
            .finish_job(
                id,
                &JobFinish {
                    state: JobState::Success,
                    summary: "Success".into(),
                    applied_revision: None,
                    diagnostics: None,
                },
            )
            .unwrap();
    }
}

fn get(agent: &ureq::Agent, url: &str) -> Value {
    match agent.get(url).call() {
        Ok(mut response) => response.body_mut().read_json().unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

fn wait_for_jobs(agent: &ureq::Agent, url: &str, last: i64) -> Value {
    let start = Instant::now();
    loop {
        let job = get(agent, &format!("{url}/api/v1/jobs/{last}"));
        if job["state"].as_str().is_some_and(|state| state != "queued" && state != "running") {
            return job;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "job {last} did not finish");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Commit -> first node started, from the job record's microsecond timestamps.
fn commit_to_first_node(agent: &ureq::Agent, url: &str, repo: &Path) {
    let mut latencies = Vec::new();
    let mut last_job = 10_001;
    for round in 0..20 {
        let site = std::fs::read_to_string(repo.join("site.yaml")).unwrap();
        let user = format!("user{round}");
        let edited = site.replacen(
            &format!("db_user: {}", if round == 0 { "user".to_string() } else { format!("user{}", round - 1) }),
            &format!("db_user: {user}"),
            1,
        );
        std::fs::write(repo.join("site.yaml"), edited).unwrap();
        git(repo, &["commit", "-qam", &user]);
        let committed = SystemTime::now();
        last_job += 1;
        let job = wait_for_jobs(agent, url, last_job);
        let first_node = job["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|node| node["started_at"].as_str().map(parse_timestamp))
            .min()
            .expect("a node ran");
        latencies.push(first_node.duration_since(committed).unwrap_or_default());
    }
    report("commit to first node started", &mut latencies);
}

/// A commit, then 1,000 push webhooks announcing it, as a busy forge might send.
fn webhook_burst(agent: &ureq::Agent, url: &str, repo: &Path) {
    let jobs_before = get(agent, &format!("{url}/api/v1/jobs?limit=1"))["jobs"][0]["id"].as_i64().unwrap();
    let site = std::fs::read_to_string(repo.join("site.yaml")).unwrap();
    std::fs::write(repo.join("site.yaml"), site.replacen("web_instances: 3", "web_instances: 2", 1)).unwrap();
    git(repo, &["commit", "-qam", "burst"]);
    let payload = br#"{"ref": "refs/heads/main", "after": "0000000000000000000000000000000000000000"}"#;
    let signature = sign(payload);
    let start = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let agent = agent.clone();
            let url = format!("{url}/webhooks/github");
            let signature = signature.clone();
            std::thread::spawn(move || {
                for index in 0..125 {
                    let status = agent
                        .post(&url)
                        .header("X-GitHub-Event", "push")
                        .header("X-GitHub-Delivery", format!("burst-{thread}-{index}"))
                        .header("X-Hub-Signature-256", &signature)
                        .send(&payload[..])
                        .unwrap()
                        .status();
                    assert_eq!(status.as_u16(), 202);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let answered = start.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let jobs_after = get(agent, &format!("{url}/api/v1/jobs?limit=1"))["jobs"][0]["id"].as_i64().unwrap();
    println!(
        "1,000 signed push webhooks (8 senders): all answered in {:.3}s; {} jobs started",
        answered.as_secs_f64(),
        jobs_after - jobs_before
    );
}

fn idle(controller: &Serving) {
    let pid = controller.child.id();
    std::thread::sleep(Duration::from_secs(2));
    let cpu_before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(10));
    let cpu_after = cpu_ticks(pid);
    let ticks_per_second = 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap_or("VmRSS: ?")
        .split_whitespace()
        .nth(1)
        .unwrap_or("?")
        .to_string();
    println!(
        "idle: {:.1} MB resident; {:.2}% of one core over 10s",
        rss.parse::<f64>().unwrap_or(0.0) / 1024.0,
        (cpu_after - cpu_before) as f64 / ticks_per_second / 10.0 * 100.0
    );
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn job_reads(agent: &ureq::Agent, url: &str) {
    let mut latencies = Vec::new();
    for index in 0..1000u64 {
        let id = 1 + (index * 7919) % 10_000;
        let start = Instant::now();
        let job = get(agent, &format!("{url}/api/v1/jobs/{id}"));
        latencies.push(start.elapsed());
        assert_eq!(job["id"], id);
    }
    report("GET /api/v1/jobs/ID with 10,000 jobs in the store", &mut latencies);
}

/// A node time from the store, as a clock time.
fn parse_timestamp(text: &str) -> SystemTime {
    let millis = store::timestamp_millis(text).expect("the store writes RFC 3339 times");
    UNIX_EPOCH + Duration::from_millis(millis as u64)
}
