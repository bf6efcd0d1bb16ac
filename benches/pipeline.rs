//! The pipeline's speed targets, measured on synthetic sites: `cargo bench --bench pipeline`.
//!
//! The generator writes a site of M instances of a three-tier application (database ->
//! web -> load balancer) spread over N local nodes in three pools, so the node graph has
//! exactly three groups. Every script is `#!/bin/true`. Figures printed:
//! - the curve of `ordo plan` against the state of a previous apply (no changes) at 1,000,
//!   10,000, 30,000 and 100,000 nodes with three components a node: wall time and peak memory
//!   per size, and per component (targets: 10,000 and 30,000 nodes < 0.2 s and < 150 MB;
//!   100,000 nodes < 1.5 s and < 700 MB; linear growth); the state is recorded through the
//!   store as `ordo apply` records it, without running 300,000 scripts first;
//! - at the largest size, the YAML reader alone reading `site.yaml` and `inventory.yaml`
//!   and discarding the values: the least CPU loading them can take;
//! - `ordo plan --format json` and `ordo show` of the whole site at the largest size;
//! - `ordo plan` with one changed instance at the largest size: time, memory and the lines of
//!   the plan, which follow the change, not the site;
//! - the first `ordo apply` of 10,000 nodes / 30,000 components (target: < 10 s), beside
//!   the same script runs from shells without ordo, the floor of the machine it runs on;
//! - `ordo apply` of 1,000 nodes in 3 groups with `--concurrency 64` (target: < 5 s);
//! - the gap between the last node of a group finishing and the first node of the next
//!   group starting, from the job record (target: < 10 ms).
//!
//! `ORDO_BENCH_SIZES=1000,10000` changes the curve's sizes (nodes; as many instances),
//! `ORDO_BENCH_FIRST_APPLY_NODES` and `ORDO_BENCH_APPLY_NODES` the applies', `ORDO_BENCH_RUNS`
//! the runs of each figure. `ORDO_BENCH_GENERATE=DIR` writes the synthetic repository of
//! `ORDO_BENCH_NODES` nodes and `ORDO_BENCH_INSTANCES` instances (default: as many as nodes)
//! to DIR, creating it, records it as applied in `DIR/.ordo` (so `ordo plan` there plans
//! against a previous apply), and stops.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ordo::load::{Input, LoadOptions};
use ordo::plan::inventory::{applied_component, dependencies};
use ordo::state_dir::StateDir;
use ordo::store::{JobFinish, JobKind, JobState, JobWrite, NewJob, Trigger};

#[path = "../tests/support/synthetic.rs"]
mod synthetic;

use synthetic::generate;

const ORDO: &str = env!("CARGO_BIN_EXE_ordo");

fn main() {
    // `ORDO_BENCH_GENERATE=DIR` only writes a synthetic repository there, for profiling.
    if let Ok(dir) = std::env::var("ORDO_BENCH_GENERATE") {
        let nodes = env_usize("ORDO_BENCH_NODES", 10_000);
        let instances = env_usize("ORDO_BENCH_INSTANCES", nodes);
        let n_components = generate(Path::new(&dir), nodes, instances);
        record_state(Path::new(&dir));
        println!(
            "wrote {dir}: {nodes} nodes, {instances} instances, {n_components} components, applied in {dir}/.ordo"
        );
        return;
    }
    let sizes: Vec<usize> = std::env::var("ORDO_BENCH_SIZES")
        .ok()
        .map(|sizes| sizes.split(',').filter_map(|size| size.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 30_000, 100_000]);
    let first_apply_nodes = env_usize("ORDO_BENCH_FIRST_APPLY_NODES", 10_000);
    let apply_nodes = env_usize("ORDO_BENCH_APPLY_NODES", 1_000);
    let runs = env_usize("ORDO_BENCH_RUNS", 3);

    println!("ordo pipeline benchmark ({} cores)", std::thread::available_parallelism().map_or(1, |n| n.get()));
    bench_plan_curve(&sizes, runs);
    bench_first_apply(first_apply_nodes);
    bench_apply(apply_nodes, runs);
    bench_puppet(runs);
}

/// `examples/lamp-puppet` with real `puppet apply`: how long loading, lowering and planning
/// take, and how much of a job's wall time is ordo's own (the job's wall time minus, for
/// each group, its slowest node's run).
fn bench_puppet(runs: usize) {
    if Command::new("puppet").arg("--version").output().is_err() {
        println!("\npuppet: not installed, skipped (apt-get install puppet-agent)");
        return;
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lamp-puppet");
    println!("\npuppet: examples/lamp-puppet, 8 components on 4 nodes in 2 groups");
    let mut plans = Vec::new();
    for _ in 0..runs.max(3) {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        run(dir.path(), &["plan", example.to_str().unwrap()]);
        plans.push(started.elapsed());
    }
    plans.sort();
    println!("  load, lower and plan (whole command) best {:>6.1} ms", plans[0].as_secs_f64() * 1000.0);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    run(dir.path(), &["apply", example.to_str().unwrap(), "--yes"]);
    let wall = started.elapsed().as_secs_f64();
    let output = run(dir.path(), &["job", "show", "1", "--format", "json"]);
    let job: serde_json::Value = serde_json::from_str(&output).unwrap();
    let mut slowest: Vec<f64> = Vec::new();
    for node in job["nodes"].as_array().unwrap() {
        let group = node["group_index"].as_u64().unwrap() as usize;
        let seconds = seconds_of_day(node["finished_at"].as_str().unwrap())
            - seconds_of_day(node["started_at"].as_str().unwrap());
        if slowest.len() <= group {
            slowest.resize(group + 1, 0.0);
        }
        slowest[group] = slowest[group].max(seconds);
    }
    let in_puppet: f64 = slowest.iter().sum();
    println!(
        "  apply wall {wall:.2} s, puppet runs on the critical path {in_puppet:.2} s, ordo's own {:.3} s = {:.1} %   [target < 5 %]",
        wall - in_puppet,
        (wall - in_puppet) / wall * 100.0
    );
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// The plan curve: for each size, `ordo plan` with no changes against a recorded state.
fn bench_plan_curve(sizes: &[usize], runs: usize) {
    println!("\nplan against the state of a previous apply, no changes (3 components a node, {runs} runs each)");
    println!(
        "  {:>8} {:>10}   {:>9} {:>9} {:>9}   {:>9}",
        "nodes", "components", "best s", "median s", "peak MB", "KB/comp."
    );
    let mut largest = None;
    for &nodes in sizes {
        let dir = tempfile::tempdir().unwrap();
        let n_components = nodes * 3;
        // Generated and recorded by a child process: the peak memory the kernel reports for
        // a child includes what the process it was forked from held, so this one stays small.
        let status = Command::new(std::env::current_exe().unwrap())
            .env("ORDO_BENCH_GENERATE", dir.path())
            .env("ORDO_BENCH_NODES", nodes.to_string())
            .env("ORDO_BENCH_INSTANCES", nodes.to_string())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "generating {nodes} nodes failed");
        let mut walls = Vec::new();
        let mut peak: f64 = 0.0;
        for _ in 0..runs {
            let (wall, rss, _) = measure(dir.path(), &["plan"]);
            walls.push(wall);
            peak = peak.max(rss);
        }
        walls.sort();
        println!(
            "  {nodes:>8} {n_components:>10}   {:>9.3} {:>9.3} {:>9.1}   {:>9.2}",
            walls[0].as_secs_f64(),
            walls[walls.len() / 2].as_secs_f64(),
            peak,
            peak * 1024.0 / n_components as f64
        );
        largest = Some((nodes, dir));
    }
    println!("  targets: 10,000 and 30,000 nodes < 0.2 s, < 150 MB; 100,000 nodes < 1.5 s, < 700 MB");
    let Some((nodes, dir)) = largest else { return };
    // What the YAML reader alone costs: both files read on one thread, every value thrown
    // away, no limits checked. Loading them into a model cannot cost less CPU.
    let started = Instant::now();
    for file in ["site.yaml", "inventory.yaml"] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        let mut options = serde_saphyr::Options::default();
        options.budget = None;
        let _: serde::de::IgnoredAny = serde_saphyr::from_str_with_options(&text, options).unwrap();
    }
    println!(
        "  the YAML reader alone, {nodes} nodes  {:>9.3} s (site.yaml and inventory.yaml, one thread, values discarded)",
        started.elapsed().as_secs_f64()
    );
    let (wall, rss, lines) = measure(dir.path(), &["plan", "--format", "json"]);
    println!(
        "  plan --format json, {nodes} nodes      {:>9.3} s {rss:>8.1} MB peak {lines:>7} lines",
        wall.as_secs_f64()
    );
    let (wall, rss, lines) = measure(dir.path(), &["show", "."]);
    println!(
        "  show, {nodes} nodes                    {:>9.3} s {rss:>8.1} MB peak {lines:>7} lines",
        wall.as_secs_f64()
    );
    // One changed parameter in the database of instance 0 ripples to its web and lb nodes.
    let site = std::fs::read_to_string(dir.path().join("site.yaml")).unwrap();
    std::fs::write(dir.path().join("site.yaml"), site.replacen("db_port: 5432", "db_port: 5433", 1)).unwrap();
    let mut walls = Vec::new();
    let mut peak: f64 = 0.0;
    let mut n_lines = 0;
    for _ in 0..runs {
        let (wall, rss, lines) = measure(dir.path(), &["plan"]);
        walls.push(wall);
        peak = peak.max(rss);
        n_lines = lines;
    }
    walls.sort();
    println!(
        "  one changed instance, {nodes} nodes    {:>9.3} s {peak:>8.1} MB peak {n_lines:>7} lines of plan (median {:.3} s)",
        walls[0].as_secs_f64(),
        walls[walls.len() / 2].as_secs_f64()
    );
}

/// Records the state a successful `ordo apply` of the repository at `dir` leaves: every
/// component applied, the environment at the working tree's revision. The components are
/// recorded as the engine records them (`applied_component`, the store's own key), without
/// running their scripts.
fn record_state(dir: &Path) {
    let input = Input::open(dir, None).unwrap();
    let loaded = ordo::load::load_input(&input, LoadOptions::default()).unwrap();
    assert!(!loaded.diagnostics.iter().any(|diagnostic| diagnostic.is_error()), "the synthetic site loads");
    let state = StateDir::new(&dir.join(".ordo")).unwrap();
    let mut store = ordo::store::open(&state).unwrap();
    let salt = store.secret_key().unwrap();
    let environment = "production";
    let request = NewJob {
        environment: environment.to_string(),
        revision: loaded.revision.clone(),
        kind: JobKind::Apply,
        trigger: Trigger::Cli,
    };
    let id = store.queue_job(&request).unwrap();
    store.start_job(id, &loaded.revision, None).unwrap();
    let writes: Vec<JobWrite> = loaded
        .model
        .components
        .iter()
        .zip(dependencies(&loaded.model))
        .map(|(component, depends_on)| JobWrite::Applied(Box::new(applied_component(component, depends_on, &salt))))
        .collect();
    store.record(id, environment, &writes).unwrap();
    let finish = JobFinish {
        state: JobState::Success,
        summary: format!("{} applied", writes.len()),
        applied_revision: Some(loaded.revision.clone()),
        diagnostics: None,
    };
    store.finish_job(id, &finish).unwrap();
}

/// The first `ordo apply` of a site: every component runs and is recorded.
fn bench_first_apply(nodes: usize) {
    if nodes == 0 {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let n_components = generate(dir.path(), nodes, nodes);
    println!("\nfirst apply: {nodes} nodes, {n_components} components, --concurrency 64");
    let (wall, rss, _) = measure(dir.path(), &["apply", "--yes", "--concurrency", "64"]);
    println!("  apply wall {:>8.3} s  {rss:>6.1} MB peak   [target < 10 s at 10,000 nodes]", wall.as_secs_f64());
    let (wall, rss, _) = measure(dir.path(), &["plan"]);
    println!("  plan after it (no changes) {:>8.3} s  {rss:>6.1} MB peak", wall.as_secs_f64());
    // What running the same scripts costs without ordo: as many runs of the package's
    // script, from shells on every core, 500 a shell.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "seq {n_components} | xargs -P {} -n 500 sh -c 'for i; do ./packages/tier/scripts/true; done' sh",
            cores * 2
        ))
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    println!(
        "  the same {n_components} script runs from shells, no ordo: {:>8.3} s (the floor of this machine)",
        started.elapsed().as_secs_f64()
    );
}

fn bench_apply(nodes: usize, runs: usize) {
    if nodes == 0 {
        return;
    }
    let instances = nodes / 3;
    println!("\napply: {nodes} nodes, {instances} instances, {} components, 3 groups, --concurrency 64", instances * 3);
    let mut walls = Vec::new();
    let mut gaps = Vec::new();
    for _ in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), nodes, instances);
        let started = Instant::now();
        run(dir.path(), &["apply", "--yes", "--concurrency", "64"]);
        walls.push(started.elapsed());
        gaps.extend(group_gaps(dir.path()));
    }
    walls.sort();
    gaps.sort_by(f64::total_cmp);
    println!(
        "  apply wall                         best {:>6.3} s  median {:>6.3} s   [target < 5 s]",
        walls[0].as_secs_f64(),
        walls[walls.len() / 2].as_secs_f64()
    );
    println!(
        "  gap between groups ({} gaps)        max {:>6.3} ms  median {:>6.3} ms   [target < 10 ms]",
        gaps.len(),
        gaps.last().copied().unwrap_or(0.0),
        gaps.get(gaps.len() / 2).copied().unwrap_or(0.0)
    );
}

/// From the job record: the last finish of each group to the first start of the next, in ms.
fn group_gaps(dir: &Path) -> Vec<f64> {
    let output = run(dir, &["job", "show", "1", "--format", "json"]);
    let job: serde_json::Value = serde_json::from_str(&output).unwrap();
    let mut bounds: Vec<(f64, f64)> = Vec::new();
    for node in job["nodes"].as_array().unwrap() {
        let group = node["group_index"].as_u64().unwrap() as usize;
        let start = seconds_of_day(node["started_at"].as_str().unwrap());
        let finish = seconds_of_day(node["finished_at"].as_str().unwrap());
        if bounds.len() <= group {
            bounds.resize(group + 1, (f64::MAX, 0.0));
        }
        bounds[group].0 = bounds[group].0.min(start);
        bounds[group].1 = bounds[group].1.max(finish);
    }
    bounds.windows(2).map(|pair| (pair[1].0 - pair[0].1) * 1000.0).collect()
}

fn seconds_of_day(timestamp: &str) -> f64 {
    let time = &timestamp[11..timestamp.len() - 1];
    let parts: Vec<f64> = time.split(':').map(|part| part.parse().unwrap()).collect();
    parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
}

fn run(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(ORDO).args(args).current_dir(dir).env("NO_COLOR", "1").output().unwrap();
    assert!(output.status.success(), "ordo {args:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Runs ordo once; returns wall time, peak resident memory (MB) and the lines it printed.
fn measure(dir: &Path, args: &[&str]) -> (Duration, f64, usize) {
    use std::io::Read as _;
    let started = Instant::now();
    // Reaped below by wait4, which also reports the child's peak memory.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(ORDO)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut output = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut output).unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and wait4 only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into the two locals.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(pid, child.id() as i32);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "ordo {args:?} failed");
    (wall, usage.ru_maxrss as f64 / 1024.0, output.iter().filter(|&&byte| byte == b'\n').count())
}
