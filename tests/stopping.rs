//! Stopping cleanly: signals, crashes, background children, closed pipes, a store a crash
//! left mid-write, and the exit codes. Real processes throughout: the binary is started,
//! signalled and killed, and its scripts' processes are looked for afterwards.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{Run, alive, change_lines, steps};

/// `one-1` finishes at once; `one-2` records its pid and sleeps, unless the node's
/// directory holds `go`.
const SLEEPER: &str = "#!/bin/sh\n[ \"$ORDO_TITLE\" = one-2 ] || exit 0\n[ -e go ] && exit 0\necho $$ > \"$ORDO_NODE_DIR/pid\"\nsleep 60\n";

fn wait_for(path: &std::path::Path) -> i32 {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_gone(pid: i32) {
    let start = Instant::now();
    while alive(pid) {
        assert!(start.elapsed() < Duration::from_secs(10), "process {pid} outlived the job");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigint_and_sigterm_cancel_the_job_and_leave_no_process() {
    for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let repo = steps::repo(SLEEPER, "s");
        let child = repo.command(&["apply", "--yes"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let script = wait_for(&repo.state().join("nodes/n1/pid"));
        // SAFETY: kill(2) on the child we started.
        unsafe { libc::kill(child.id() as i32, signal) };
        let started = Instant::now();
        let run = Run::from(child.wait_with_output().unwrap());
        assert_eq!(run.code, code, "signal {signal}\n{}{}", run.stdout, run.stderr);
        assert!(started.elapsed() < Duration::from_secs(10), "the grace period is bounded");
        assert!(run.stdout.contains("Cancelled: 1 node ran"), "{}", run.stdout);
        wait_gone(script);
        let jobs = repo.ordo(&["job", "list", "--format", "json"]).success().json();
        assert_eq!(jobs[0]["state"], "cancelled");
        let job = repo.ordo(&["job", "show", "1"]).success().stdout;
        assert!(job.contains("App::Step[one-1] applied") && job.contains("App::Step[one-2] cancelled"), "{job}");
        // The locks are released, and the next plan holds exactly what did not finish.
        assert_eq!(change_lines(&repo.plan_json()), ["add App::Step[one-2]@n1"]);
        repo.write(".ordo/nodes/n1/go", "");
        let run = repo.ordo(&["apply", "--yes"]).success();
        assert!(!run.stderr.contains("App::Step[one-1]"), "{}", run.stderr);
        assert_eq!(repo.plan_json()["changes"], serde_json::json!([]));
    }
}

#[test]
fn after_a_crash_the_components_that_finished_are_not_run_again() {
    let repo = steps::repo(SLEEPER, "s");
    let mut child = repo.command(&["apply", "--yes"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let script = wait_for(&repo.state().join("nodes/n1/pid"));
    // The first component is recorded moments after it finishes; the crash comes after that.
    let started = Instant::now();
    while change_lines(&repo.plan_json()) != ["add App::Step[one-2]@n1"] {
        assert!(started.elapsed() < Duration::from_secs(10), "App::Step[one-1] was never recorded");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // A killed ordo cannot stop its scripts; this one is stopped here.
    // SAFETY: kill(2) on the script's process group, which the test saw start.
    unsafe { libc::kill(-script, libc::SIGKILL) };
    assert_eq!(change_lines(&repo.plan_json()), ["add App::Step[one-2]@n1"]);
    repo.write(".ordo/nodes/n1/go", "");
    let run = repo.ordo(&["apply", "--yes"]).success();
    assert!(
        run.stderr.contains("App::Step[one-2] applied") && !run.stderr.contains("App::Step[one-1]"),
        "{}",
        run.stderr
    );
    let jobs = repo.ordo(&["job", "list", "--format", "json"]).success().json();
    assert_eq!(jobs[1]["state"], "interrupted");
    let first = repo.ordo(&["job", "show", "1", "--format", "json"]).success().json();
    assert_eq!(first["nodes"][0]["state"], "interrupted");
}

#[test]
fn a_background_child_holding_stdout_neither_loses_output_nor_outlives_the_job() {
    let script = "#!/bin/sh\necho before the child\n(sleep 60; echo late) &\necho $! > \"$ORDO_NODE_DIR/child\"\necho after the child\n";
    let repo = steps::repo(script, "s");
    let started = Instant::now();
    repo.ordo(&["apply", "--yes"]).success();
    assert!(started.elapsed() < Duration::from_secs(20), "the job waited for the background child");
    let job = repo.ordo(&["job", "show", "1"]).success().stdout;
    assert!(job.contains("| before the child") && job.contains("| after the child"), "{job}");
    wait_gone(wait_for(&repo.state().join("nodes/n1/child")));
}

#[test]
fn closed_stdout_and_stderr_end_quietly() {
    let repo = steps::repo("#!/bin/sh\nexit 0\n", "s");
    repo.write("broken/site.yaml", "instances: [\n");
    for (args, expected) in [(&["plan"][..], 0), (&["validate", "broken"], 1), (&["show"], 0)] {
        for (close_stdout, close_stderr) in [(true, false), (false, true), (true, true)] {
            let (stdout_reader, stdout_writer) = std::io::pipe().unwrap();
            let (stderr_reader, stderr_writer) = std::io::pipe().unwrap();
            let mut command = repo.command(args);
            command.stdout(stdout_writer).stderr(stderr_writer);
            let mut child = command.spawn().unwrap();
            drop(command);
            // A reader that is gone: every write to that pipe fails with EPIPE.
            let stdout = if close_stdout {
                drop(stdout_reader);
                None
            } else {
                Some(stdout_reader)
            };
            let stderr = if close_stderr {
                drop(stderr_reader);
                None
            } else {
                Some(stderr_reader)
            };
            let status = child.wait().unwrap();
            let mut text = String::new();
            for mut reader in [stdout, stderr].into_iter().flatten() {
                use std::io::Read;
                reader.read_to_string(&mut text).unwrap();
            }
            assert_eq!(status.code(), Some(expected), "{args:?} {close_stdout} {close_stderr}: {text}");
            assert!(!text.contains("panicked"), "{text}");
        }
    }
}

#[test]
fn a_journal_left_by_a_crash_is_rolled_back_and_the_store_read() {
    let repo = steps::repo("#!/bin/sh\nexit 0\n", "s");
    repo.ordo(&["apply", "--yes"]).success();
    // A writer that dies mid-transaction leaves its journal beside the store: here a real
    // SQLite transaction spills pages to the file, and the files are copied as they are,
    // as a crash would leave them.
    let crashed = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(repo.state().join("state.db")).unwrap();
    conn.execute_batch("PRAGMA journal_mode = DELETE; PRAGMA cache_size = 2; BEGIN;").unwrap();
    for index in 0..200 {
        conn.execute("INSERT INTO settings (key, value) VALUES (?1, ?2)", (format!("k{index}"), "x".repeat(2000)))
            .unwrap();
    }
    for file in ["state.db", "state.db-journal", "state.key"] {
        std::fs::copy(repo.state().join(file), crashed.path().join(file)).unwrap();
    }
    conn.execute_batch("ROLLBACK").unwrap();
    drop(conn);
    let state = crashed.path().to_str().unwrap();
    let jobs = repo.ordo(&["--state", state, "job", "list", "--format", "json"]).success().json();
    assert_eq!(jobs[0]["state"], "success");
    assert!(!crashed.path().join("state.db-journal").exists(), "the journal was rolled back");
    assert_eq!(
        repo.ordo(&["--state", state, "plan", "--format", "json"]).success().json()["changes"],
        serde_json::json!([])
    );
}

#[test]
fn exit_codes() {
    let repo = steps::repo("#!/bin/sh\nexit 0\n", "s");
    for args in
        [&["plan", "--bogus"][..], &["frobnicate"], &["job", "show", "not-a-number"], &["apply", "--concurrency", "x"]]
    {
        let run = repo.ordo(args);
        assert_eq!(run.code, 64, "{args:?} is a usage error\n{}", run.stderr);
    }
    assert_eq!(repo.ordo(&["--help"]).code, 0);
    assert_eq!(repo.ordo(&["plan", "--detailed-exitcode"]).code, 2);
    repo.ordo(&["apply", "--yes"]).success();
    assert_eq!(repo.ordo(&["plan", "--detailed-exitcode"]).code, 0);
    assert_eq!(repo.ordo(&["job", "show", "99"]).code, 1);
}
