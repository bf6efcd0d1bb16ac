//! Parser throughput on the Debian Puppet module corpus (`cargo bench --bench parse_corpus`).
//!
//! Reads every `.pp` file under `/usr/share/puppet/modules.available` into memory first, then
//! parses the whole set on one thread several times and reports files, lines, bytes, the best
//! and median wall time, and MB/s. The target is under 0.2 s for the ~165,000 lines.

use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "../tests/support/pp_corpus.rs"]
mod pp_corpus;

const RUNS: usize = 15;

fn main() {
    let paths = match pp_corpus::corpus_files() {
        Ok(paths) => paths,
        Err(missing) => {
            eprintln!("{missing}");
            std::process::exit(2);
        }
    };
    let sources: Vec<String> = paths
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .collect();
    let n_lines: usize = sources.iter().map(|src| src.lines().count()).sum();
    let n_bytes: usize = sources.iter().map(String::len).sum();

    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    let mut n_errors = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        n_errors = 0;
        for src in &sources {
            let parse = ordo::lang::parse(black_box(src));
            n_errors += parse.errors.len();
            black_box(&parse);
        }
        times.push(started.elapsed());
    }
    times.sort();
    let best = times[0];
    let median = times[times.len() / 2];
    let mb = n_bytes as f64 / 1_000_000.0;
    println!("parse_corpus: {} files, {n_lines} lines, {n_bytes} bytes, {n_errors} errors", sources.len());
    println!(
        "parse_corpus: {RUNS} runs, best {:.1} ms ({:.1} MB/s), median {:.1} ms ({:.1} MB/s)",
        best.as_secs_f64() * 1000.0,
        mb / best.as_secs_f64(),
        median.as_secs_f64() * 1000.0,
        mb / median.as_secs_f64(),
    );
}
