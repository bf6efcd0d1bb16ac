//! The pipeline's speed targets, measured on synthetic sites: `cargo bench --bench pipeline`.
//!
//! The generator writes a site of M instances of a three-tier application (database ->
//! web -> load balancer) spread over N local nodes in three pools, so the node graph has
//! exactly three groups. Every script is `#!/bin/true`. Figures printed:
//! - `ordo plan` of 10,000 nodes / 30,000 components against the state of a previous apply:
//!   wall time and peak memory (targets: < 1 s, < 300 MB);
//! - `ordo apply` of 1,000 nodes in 3 groups with `--concurrency 64` (target: < 5 s);
//! - the gap between the last node of a group finishing and the first node of the next
//!   group starting, from the job record (target: < 10 ms).
//!
//! Sizes can be changed with ORDO_BENCH_NODES, ORDO_BENCH_INSTANCES, ORDO_BENCH_APPLY_NODES;
//! `ORDO_BENCH_GENERATE=DIR` writes the synthetic repository to DIR and stops.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/support/synthetic.rs"]
mod synthetic;

use synthetic::generate;

const ORDO: &str = env!("CARGO_BIN_EXE_ordo");

fn main() {
    let nodes = env_usize("ORDO_BENCH_NODES", 10_000);
    let instances = env_usize("ORDO_BENCH_INSTANCES", 10_000);
    // `ORDO_BENCH_GENERATE=DIR` only writes a synthetic repository there, for profiling.
    if let Ok(dir) = std::env::var("ORDO_BENCH_GENERATE") {
        let n_components = generate(Path::new(&dir), nodes, instances);
        println!("wrote {dir}: {nodes} nodes, {instances} instances, {n_components} components");
        return;
    }
    let apply_nodes = env_usize("ORDO_BENCH_APPLY_NODES", 1_000);
    let runs = env_usize("ORDO_BENCH_RUNS", 3);

    println!("ordo pipeline benchmark ({} cores)", std::thread::available_parallelism().map_or(1, |n| n.get()));
    bench_plan(nodes, instances, runs);
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

fn bench_plan(nodes: usize, instances: usize, runs: usize) {
    let dir = tempfile::tempdir().unwrap();
    let n_components = generate(dir.path(), nodes, instances);
    println!("\nplan: {nodes} nodes, {instances} instances, {n_components} components");
    let (wall, rss) = measure(dir.path(), &["validate"]);
    println!("  validate (load + order)           {:>8.3} s  {:>6.1} MB peak", wall.as_secs_f64(), rss);
    let started = Instant::now();
    run(dir.path(), &["apply", "--yes", "--concurrency", "64"]);
    println!("  initial apply (to create state)   {:>8.3} s", started.elapsed().as_secs_f64());
    for format in ["text", "json"] {
        let mut walls = Vec::new();
        let mut peak: f64 = 0.0;
        for _ in 0..runs {
            let (wall, rss) = measure(dir.path(), &["plan", "--format", format]);
            walls.push(wall);
            peak = peak.max(rss);
        }
        walls.sort();
        println!(
            "  plan --format {format:<5} (no changes)   best {:>6.3} s  median {:>6.3} s  {:>6.1} MB peak   [target < 1 s, < 300 MB]",
            walls[0].as_secs_f64(),
            walls[walls.len() / 2].as_secs_f64(),
            peak
        );
    }
    // One changed parameter in the database of instance 0 ripples to its web and lb nodes.
    let site = std::fs::read_to_string(dir.path().join("site.yaml")).unwrap();
    std::fs::write(dir.path().join("site.yaml"), site.replacen("db_port: 5432", "db_port: 5433", 1)).unwrap();
    let (wall, rss) = measure(dir.path(), &["plan"]);
    println!("  plan with one changed instance     {:>8.3} s  {:>6.1} MB peak", wall.as_secs_f64(), rss);
}

fn bench_apply(nodes: usize, runs: usize) {
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

/// Runs ordo once with its output discarded; returns wall time and peak resident memory (MB).
fn measure(dir: &Path, args: &[&str]) -> (Duration, f64) {
    let started = Instant::now();
    // Reaped below by wait4, which also reports the child's peak memory.
    #[allow(clippy::zombie_processes)]
    let child =
        Command::new(ORDO).args(args).current_dir(dir).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and wait4 only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into the two locals.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(pid, child.id() as i32);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "ordo {args:?} failed");
    (wall, usage.ru_maxrss as f64 / 1024.0)
}
