//! SSH nodes end to end: a real `sshd` on loopback (its own host key, configuration and
//! authorized key), several node names mapped to it, each with its own working directory,
//! and the real `ordo` binary running real scripts there.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::serve::Served;
use support::sshd::{Sshd, processes_with};
use support::{Repo, change_lines};

/// The LAMP example with its four nodes reached over SSH.
struct Fleet {
    sshd: Sshd,
    repo: Repo,
    nodes: tempfile::TempDir,
}

impl Fleet {
    fn lamp() -> Fleet {
        let sshd = Sshd::start();
        let repo = Repo::example("lamp");
        let nodes = tempfile::tempdir().unwrap();
        let mut inventory = String::from("defaults:\n  timeout: 60\nnodes:\n");
        for (index, name) in
            ["dev1.example.net", "dev2.example.net", "dev3.example.net", "dev4.example.net"].iter().enumerate()
        {
            inventory.push_str(&sshd.node(name, &nodes.path().join(name)));
            inventory.push_str(&format!("    facts: {{fqdn: {name}, ipaddress: 10.0.0.{}}}\n", 11 + index));
        }
        repo.write("inventory.yaml", &inventory);
        repo.edit("site.yaml", "db_password: secret", "db_password: pw-7781x");
        repo.git_init();
        repo.commit("lamp over ssh");
        Fleet { sshd, repo, nodes }
    }

    fn work_dir(&self, node: &str) -> PathBuf {
        self.nodes.path().join(node)
    }

    fn read(&self, node: &str, file: &str) -> String {
        std::fs::read_to_string(self.work_dir(node).join(file)).unwrap_or_else(|err| panic!("{node}/{file}: {err}"))
    }
}

/// Every file under a directory, as text.
fn all_text(dir: &std::path::Path) -> String {
    let mut text = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                text.push_str(&all_text(&path));
            } else {
                text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    text
}

#[test]
fn lamp_over_ssh_gives_the_web_servers_the_database_address() {
    let fleet = Fleet::lamp();
    let run = fleet.repo.ordo(&["apply", "--yes"]).success();
    assert!(run.stdout.contains("Success: 4 nodes in 2 groups"), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        fleet.read("dev3.example.net", "webapp-app2-2.conf"),
        "listen = 8080\ndatabase_url = mysql://user@dev1.example.net:3306/app2\n"
    );
    assert!(fleet.read("dev1.example.net", "mysql-app1.conf").contains("port = 3306"));
    // Each component's output is its own, whole, and none of the session's framing.
    let shown = fleet.repo.ordo(&["job", "show", "1"]).success().stdout;
    let mysql = shown.find("==> Lamp::Mysql[app1] apply\n").expect(&shown);
    let next = shown[mysql..].find("==> Lamp::Mysql[app2] apply").expect(&shown);
    let lines: Vec<&str> = shown[mysql..mysql + next].lines().collect();
    assert_eq!(lines.len(), 3, "{shown}");
    assert!(lines[1].starts_with("  | wrote ") && lines[1].ends_with("/mysql-app1.conf"), "{lines:?}");
    let framing = shown
        .match_indices("ordo-")
        .any(|(at, _)| shown[at + 5..].chars().take(32).filter(char::is_ascii_hexdigit).count() == 32);
    assert!(!framing, "the session's token is in the output:\n{shown}");
    // The packages reached the nodes as archives, named by their tree ids.
    let code: Vec<String> = std::fs::read_dir(fleet.work_dir("dev2.example.net").join(".ordo/code"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(code.len(), 1, "{code:?}");
    assert!(code[0].starts_with("lamp-"), "{code:?}");
    // The database password reached the scripts, never a node's disk.
    assert!(!all_text(fleet.nodes.path()).contains("pw-7781x"), "a secret was written on a node");
    assert_eq!(fleet.repo.plan_json()["changes"], serde_json::json!([]));

    // Drift: a file changed by hand on a node is reported, and nothing is corrected.
    let conf = fleet.work_dir("dev4.example.net").join("webapp-app1-3.conf");
    std::fs::write(&conf, "listen = 1\n").unwrap();
    let drift = fleet.repo.ordo(&["drift"]);
    assert_eq!(drift.code, 2, "{}\n{}", drift.stdout, drift.stderr);
    assert!(drift.stdout.contains("  Lamp::Webapp[app1-3] drifted"), "{}", drift.stdout);
    assert!(drift.stdout.contains("  Lamp::Webapp[app2-3] in sync"), "{}", drift.stdout);
    assert!(drift.stdout.contains("Drifted: 1 of 8 components out of sync"), "{}", drift.stdout);
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "listen = 1\n");
    let jobs = fleet.repo.ordo(&["job", "list", "--format", "json"]).success().json();
    assert_eq!(jobs[0]["kind"], "drift");
    fleet.repo.ordo(&["apply", "--yes"]).success();
    let _ = &fleet.sshd;
}

/// The `ssh` processes of an `ordo` run, counted by a shim in front of the real `ssh` on
/// `PATH`.
fn ssh_sessions(repo: &support::Repo, args: &[&str]) -> Vec<String> {
    let shim = tempfile::tempdir().unwrap();
    let log = shim.path().join("sessions.log");
    // One line per session: its arguments, with the newlines of a remote script flattened.
    let script = format!(
        r#"#!/bin/sh
printf '%s' "$*" | tr '\n' ' ' >> '{log}'; echo >> '{log}'
exec /usr/bin/ssh "$@"
"#,
        log = log.display()
    );
    let path = shim.path().join("ssh");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let search_path = format!("{}:{}", shim.path().display(), std::env::var("PATH").unwrap_or_default());
    repo.ordo_env(args, &[("PATH", &search_path)]).success();
    std::fs::read_to_string(&log).unwrap_or_default().lines().map(String::from).collect()
}

#[test]
fn a_first_apply_sends_the_code_with_the_session_that_opens_each_node() {
    let fleet = Fleet::lamp();
    // Four nodes, eight components: one session per node brings its packages and runs its
    // components; no other ssh runs.
    let sessions = ssh_sessions(&fleet.repo, &["apply", "--yes"]);
    assert_eq!(sessions.len(), 4, "{sessions:#?}");
    let code = fleet.work_dir("dev1.example.net").join(".ordo/code");
    let names: Vec<String> = std::fs::read_dir(&code)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(code.join(&names[0]).join("scripts").is_dir(), "{names:?}");
    // A package removed from a node by hand is sent again by the next run that needs it;
    // code a run uses is marked used (the time of `.ordo/used/NAME`), and when new code
    // arrives, code no run has used for 30 days goes: by its mark, or by its own time when it
    // has none (code an earlier version kept).
    std::fs::remove_dir_all(code.join(&names[0])).unwrap();
    let marks = fleet.work_dir("dev1.example.net").join(".ordo/used");
    let days_ago = |days: u64| std::time::SystemTime::now() - Duration::from_secs(days * 24 * 3600);
    let set_time = |path: &Path, days: u64| std::fs::File::open(path).unwrap().set_modified(days_ago(days)).unwrap();
    let stale = code.join("lamp-0000000000000000000000000000000000000000");
    let unmarked = code.join("lamp-1111111111111111111111111111111111111111");
    let recent = code.join("lamp-2222222222222222222222222222222222222222");
    for (dir, days) in [(&stale, 31), (&unmarked, 31), (&recent, 29)] {
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        set_time(dir, 1);
        let mark = marks.join(dir.file_name().unwrap());
        if dir != &unmarked {
            std::fs::write(&mark, "").unwrap();
            set_time(&mark, days);
        } else {
            set_time(dir, days);
        }
    }
    let dev3_marks = fleet.work_dir("dev3.example.net").join(".ordo/used");
    let in_use = dev3_marks.join(&names[0]);
    set_time(&in_use, 40);
    fleet.repo.edit("site.yaml", "db_password: pw-7781x", "db_password: pw-7782x");
    fleet.repo.commit("new password");
    let sessions = ssh_sessions(&fleet.repo, &["apply", "--yes"]);
    assert!(code.join(&names[0]).join("scripts").is_dir(), "{sessions:#?}");
    assert!(!stale.exists(), "code unused for 31 days is still on the node");
    assert!(!marks.join(stale.file_name().unwrap()).exists(), "the mark of removed code is still on the node");
    assert!(!unmarked.exists(), "unmarked code last changed 31 days ago is still on the node");
    assert!(recent.join("scripts").is_dir(), "code used 29 days ago was removed");
    let used = std::fs::metadata(&in_use).unwrap().modified().unwrap();
    assert!(used > days_ago(1), "code the run used is not marked used");
    assert!(dev3_marks.parent().unwrap().join("code").join(&names[0]).is_dir());
    let _ = &fleet.sshd;
}

/// Waits until `sshd` serves exactly `count` connections; the ones it serves then.
fn settled_connections(sshd: &Sshd, count: usize) -> Vec<i32> {
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let connections = sshd.connections();
        if connections.len() == count {
            return connections;
        }
        assert!(Instant::now() < give_up, "{} connections, not {count}: {connections:?}", connections.len());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_node_connection_stays_open_for_the_next_run_unless_control_persist_is_0() {
    let fleet = Fleet::lamp();
    let inventory = std::fs::read_to_string(fleet.repo.path().join("inventory.yaml")).unwrap();
    fleet.repo.edit("inventory.yaml", "defaults:\n", "defaults:\n  control_persist: 0\n");
    fleet.repo.commit("no connection kept");
    fleet.repo.ordo(&["apply", "--yes"]).success();
    settled_connections(&fleet.sshd, 0);

    // Kept: the first run leaves one connection per node, and the next runs go through them.
    std::fs::write(fleet.repo.path().join("inventory.yaml"), &inventory).unwrap();
    fleet.repo.edit("site.yaml", "db_password: pw-7781x", "db_password: pw-7782x");
    fleet.repo.commit("connections kept");
    fleet.repo.ordo(&["apply", "--yes"]).success();
    let kept = settled_connections(&fleet.sshd, 4);
    let drift = fleet.repo.ordo(&["drift"]);
    assert_eq!(drift.code, 0, "{}\n{}", drift.stdout, drift.stderr);
    fleet.repo.edit("site.yaml", "db_password: pw-7782x", "db_password: pw-7783x");
    fleet.repo.commit("another password");
    let run = fleet.repo.ordo(&["apply", "--yes"]).success();
    assert!(run.stdout.contains("Success: 4 nodes in 2 groups"), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(fleet.sshd.connections(), kept, "a run opened connections of its own");

    // A kept connection that broke is replaced by the next run's own.
    unsafe { libc::kill(kept[0], libc::SIGTERM) };
    settled_connections(&fleet.sshd, 3);
    fleet.repo.edit("site.yaml", "db_password: pw-7783x", "db_password: pw-7784x");
    fleet.repo.commit("after a broken connection");
    let run = fleet.repo.ordo(&["apply", "--yes"]).success();
    assert!(run.stdout.contains("Success: 4 nodes in 2 groups"), "{}\n{}", run.stdout, run.stderr);
    let now = settled_connections(&fleet.sshd, 4);
    assert_eq!(now.iter().filter(|pid| kept.contains(pid)).count(), 3, "{kept:?} then {now:?}");
}

#[test]
fn a_controller_that_stops_closes_the_connections_its_runs_kept() {
    let fleet = Fleet::lamp();
    let mut served = Served::start(fleet.repo.path(), "");
    let job = served.wait_for_job(1);
    assert_eq!(job["state"], "success", "{job}\n{}", served.log());
    settled_connections(&fleet.sshd, 4);
    assert_eq!(served.terminate(), Some(0), "{}", served.log());
    settled_connections(&fleet.sshd, 0);
}

#[test]
fn a_package_too_large_for_the_opening_reaches_the_node_in_the_same_session() {
    let fleet = Fleet::lamp();
    // 400 KiB: more than the opening sends, and more than a pipe holds.
    let data: Vec<u8> = (0..400 * 1024u32).map(|index| (index.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(fleet.repo.path().join("packages/lamp/data.bin"), &data).unwrap();
    fleet.repo.commit("a large file in the package");
    let sessions = ssh_sessions(&fleet.repo, &["apply", "--yes"]);
    assert_eq!(sessions.len(), 4, "{sessions:#?}");
    for node in ["dev1.example.net", "dev4.example.net"] {
        let code = fleet.work_dir(node).join(".ordo/code");
        let package = std::fs::read_dir(&code).unwrap().next().unwrap().unwrap().path();
        assert_eq!(std::fs::read(package.join("data.bin")).unwrap(), data, "{node}");
    }
    let _ = &fleet.sshd;
}

#[test]
fn a_changed_host_key_is_a_clear_error_and_nothing_runs_there() {
    let sshd = Sshd::start();
    let nodes = tempfile::tempdir().unwrap();
    let repo = Repo::example("lamp");
    let mut inventory = String::from("nodes:\n");
    inventory.push_str(&sshd.node_with("dev1.example.net", &nodes.path().join("dev1"), "wrong_known_hosts"));
    inventory.push_str("    facts: {fqdn: dev1.example.net}\n");
    for name in ["dev2.example.net", "dev3.example.net", "dev4.example.net"] {
        inventory.push_str(&sshd.node(name, &nodes.path().join(name)));
    }
    repo.write("inventory.yaml", &inventory);
    let run = repo.ordo(&["apply", "--yes"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let known_hosts = sshd.path("wrong_known_hosts").display().to_string();
    assert!(
        run.stdout.contains(&format!(
            "the host key of node dev1.example.net (127.0.0.1) has changed: it does not match {known_hosts}; nothing was run"
        )),
        "{}",
        run.stdout
    );
    assert!(!nodes.path().join("dev1").exists(), "nothing may run on a node whose key changed");
    assert!(!nodes.path().join("dev2.example.net").exists(), "the next group must not start");

    // An unknown key is refused too, unless accept_new_host_keys trusts it on first use.
    let unknown = sshd.node_with("dev1.example.net", &nodes.path().join("dev1"), "empty_known_hosts");
    repo.write(
        "inventory.yaml",
        &inventory
            .replace(&sshd.node_with("dev1.example.net", &nodes.path().join("dev1"), "wrong_known_hosts"), &unknown),
    );
    let run = repo.ordo(&["apply", "--yes"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("the host key of node dev1.example.net (127.0.0.1) is not in"), "{}", run.stdout);
    assert!(!nodes.path().join("dev1").exists());
    repo.write(
        "inventory.yaml",
        &inventory.replace(
            &sshd.node_with("dev1.example.net", &nodes.path().join("dev1"), "wrong_known_hosts"),
            &format!("{unknown}    accept_new_host_keys: true\n"),
        ),
    );
    repo.ordo(&["apply", "--yes"]).success();
    assert!(std::fs::read_to_string(sshd.path("empty_known_hosts")).unwrap().contains("ssh-ed25519"));
}

/// Two independent applications, one on a node that cannot be reached or fails.
fn two_applications(sshd: &Sshd, nodes: &std::path::Path, bad_node: &str) -> Repo {
    let repo = Repo::example("lamp");
    repo.write(
        "site.yaml",
        "instances:\n  - application: lamp\n    title: good\n    parameters: {db_password: pw}\n    nodes:\n      \
         db1: Lamp::Mysql[good]\n      web1: Lamp::Webapp[good-1]\n  - application: lamp\n    title: bad\n    \
         parameters: {db_password: pw}\n    nodes:\n      db2: Lamp::Mysql[bad]\n      web2: Lamp::Webapp[bad-1]\n",
    );
    let mut inventory = String::from("nodes:\n");
    for name in ["db1", "web1", "db2", "web2"] {
        let entry = sshd.node(name, &nodes.join(name));
        let entry = if name == bad_node { entry.replace(&format!("port: {}", sshd.port), "port: 1") } else { entry };
        inventory.push_str(&entry);
        inventory.push_str(&format!("    facts: {{fqdn: {name}}}\n"));
    }
    repo.write("inventory.yaml", &inventory);
    repo
}

#[test]
fn an_unreachable_node_fails_fast_and_the_policy_decides_what_else_runs() {
    let sshd = Sshd::start();
    let nodes = tempfile::tempdir().unwrap();
    let repo = two_applications(&sshd, nodes.path(), "db2");

    let started = Instant::now();
    let run = repo.ordo(&["apply", "--yes"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(started.elapsed() < Duration::from_secs(20), "an unreachable node must fail fast");
    assert!(run.stdout.contains("cannot reach node db2 (127.0.0.1): "), "{}", run.stdout);
    assert!(run.stdout.contains("Connection refused"), "{}", run.stdout);
    // `stop`: the first group finishes (db1 runs), nothing after it starts.
    assert!(nodes.path().join("db1/mysql-good.conf").exists());
    assert!(!nodes.path().join("web1").exists());

    // `continue`: web1 does not depend on db2 and runs; web2 is skipped because of db2.
    let run = repo.ordo(&["apply", "--yes", "--on-failure", "continue"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(nodes.path().join("web1/webapp-good-1.conf").exists());
    assert!(!nodes.path().join("web2").exists());
    assert!(run.stderr.contains("skipped web2: it depends on node db2, which failed"), "{}", run.stderr);
    assert!(run.stdout.contains("1 dependent node skipped (web2)"), "{}", run.stdout);
    let job = repo.ordo(&["job", "show", "2", "--format", "json"]).success().json();
    let web2 = job["nodes"].as_array().unwrap().iter().find(|node| node["node"] == "web2").unwrap().clone();
    assert_eq!(web2["state"], "skipped");
    assert_eq!(web2["components"][0]["message"], "not run: it depends on node db2, which failed");
    assert_eq!(change_lines(&repo.plan_json()), ["add Lamp::Mysql[bad]@db2", "add Lamp::Webapp[bad-1]@web2"]);
}

#[test]
fn continue_runs_the_independent_application_when_the_other_one_fails() {
    let sshd = Sshd::start();
    let nodes = tempfile::tempdir().unwrap();
    let repo = two_applications(&sshd, nodes.path(), "");
    repo.write("ordo.yaml", "jobs:\n  on_failure: continue\n");
    repo.edit(
        "packages/lamp/scripts/mysql-apply",
        "set -eu\n",
        "set -eu\nif [ \"$ORDO_TITLE\" = bad ]; then echo 'disk full'; exit 3; fi\n",
    );
    let run = repo.ordo(&["apply", "--yes"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("Failed: 1 of 3 nodes failed (db2); 1 dependent node skipped (web2)"),
        "{}",
        run.stdout
    );
    assert!(nodes.path().join("web1/webapp-good-1.conf").exists());
    assert!(!nodes.path().join("web2/webapp-bad-1.conf").exists());
    // The command line wins over ordo.yaml.
    let run = repo.ordo(&["apply", "--yes", "--on-failure", "stop"]);
    assert!(run.stdout.contains("1 later group not started"), "{}", run.stdout);
}

#[test]
fn a_hanging_component_is_killed_at_its_timeout_with_nothing_left_on_the_node() {
    let sshd = Sshd::start();
    let nodes = tempfile::tempdir().unwrap();
    let repo = Repo::example("lamp");
    repo.edit("packages/lamp/scripts/mysql-apply", "set -eu\n", "set -eu\nsleep 1717 &\nsleep 1718\n");
    let mut inventory = String::from("defaults:\n  timeout: 3\nnodes:\n");
    for name in ["dev1.example.net", "dev2.example.net", "dev3.example.net", "dev4.example.net"] {
        inventory.push_str(&sshd.node(name, &nodes.path().join(name)));
        inventory.push_str(&format!("    facts: {{fqdn: {name}}}\n"));
    }
    repo.write("inventory.yaml", &inventory);
    let started = Instant::now();
    let run = repo.ordo(&["apply", "--yes"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(run.stdout.contains("timed out after 3s (the node's timeout)"), "{}", run.stdout);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(processes_with("sleep 171"), Vec::<String>::new(), "processes left on the node");
}

/// The LAMP example over SSH where every component notes its runs in `runs.log` beside the
/// nodes' directories, and a node holding a `hang` file hangs in its first web component.
fn counting_fleet() -> Fleet {
    let fleet = Fleet::lamp();
    let note = "echo \"$ORDO_COMPONENT\" >> \"$ORDO_NODE_DIR/../runs.log\"\n";
    let repo = &fleet.repo;
    repo.edit(
        "packages/lamp/scripts/webapp-apply",
        "set -eu\n",
        "set -eu\nif [ -e hang ]; then touch hanging; sleep 3131; fi\n",
    );
    let script = repo.read("packages/lamp/scripts/webapp-apply");
    repo.write("packages/lamp/scripts/webapp-apply", &format!("{script}{note}"));
    let script = repo.read("packages/lamp/scripts/mysql-apply");
    repo.write("packages/lamp/scripts/mysql-apply", &format!("{script}{note}"));
    repo.commit("count runs, hang on demand");
    std::fs::create_dir_all(fleet.work_dir("dev3.example.net")).unwrap();
    std::fs::write(fleet.work_dir("dev3.example.net").join("hang"), "").unwrap();
    fleet
}

impl Fleet {
    /// Starts `ordo apply` and waits until dev3 hangs, the other nodes of its group done.
    fn apply_until_hanging(&self) -> std::process::Child {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args(["apply", "--yes"])
            .current_dir(self.repo.path())
            .env("NO_COLOR", "1")
            .env_remove("ORDO_STATE")
            .env_remove("ORDO_ENV")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let give_up = Instant::now() + Duration::from_secs(30);
        loop {
            let runs = std::fs::read_to_string(self.nodes.path().join("runs.log")).unwrap_or_default();
            // A script that ended is on record only once ordo saw it end: wait for that too,
            // or a kill now would rightly leave it to run again.
            if self.work_dir("dev3.example.net").join("hanging").exists()
                && runs.lines().count() == 6
                && self.other_nodes_recorded()
            {
                break;
            }
            assert!(Instant::now() < give_up, "dev3 never hung; runs so far:\n{runs}");
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    /// Whether the job on record has every node but the hanging dev3 finished.
    fn other_nodes_recorded(&self) -> bool {
        let shown = self.repo.ordo(&["job", "show", "1", "--format", "json"]);
        if shown.code != 0 {
            return false;
        }
        let job = shown.json();
        let finished = job["nodes"]
            .as_array()
            .map(|nodes| {
                nodes.iter().filter(|node| node["node"] != "dev3.example.net" && node["state"] == "success").count()
            })
            .unwrap_or(0);
        finished == 3
    }

    fn runs(&self) -> Vec<String> {
        let mut runs: Vec<String> = std::fs::read_to_string(self.nodes.path().join("runs.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect();
        runs.sort();
        runs
    }
}

/// Waits until no process on the machine has `marker` in its command line.
#[track_caller]
fn assert_gone(marker: &str) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !processes_with(marker).is_empty() {
        assert!(Instant::now() < give_up, "left running: {:?}", processes_with(marker));
        std::thread::sleep(Duration::from_millis(50));
    }
}

const EVERY_COMPONENT: [&str; 8] = [
    "Lamp::Mysql[app1]",
    "Lamp::Mysql[app2]",
    "Lamp::Webapp[app1-1]",
    "Lamp::Webapp[app1-2]",
    "Lamp::Webapp[app1-3]",
    "Lamp::Webapp[app2-1]",
    "Lamp::Webapp[app2-2]",
    "Lamp::Webapp[app2-3]",
];

#[test]
fn after_kill_9_the_next_apply_finishes_exactly_what_was_left() {
    let fleet = counting_fleet();
    let mut ordo = fleet.apply_until_hanging();
    ordo.kill().unwrap();
    ordo.wait().unwrap();
    // ordo is gone, so the node's runner stops the hanging script.
    assert_gone("sleep 3131");

    let plan = fleet.repo.plan_json();
    assert_eq!(
        change_lines(&plan),
        ["add Lamp::Webapp[app1-2]@dev3.example.net", "add Lamp::Webapp[app2-2]@dev3.example.net"]
    );
    std::fs::remove_file(fleet.work_dir("dev3.example.net").join("hang")).unwrap();
    let run = fleet.repo.ordo(&["apply", "--yes"]).success();
    assert!(run.stdout.contains("Success: 1 node in 1 group"), "{}", run.stdout);
    // Every component ran exactly once over both jobs.
    assert_eq!(fleet.runs(), EVERY_COMPONENT);
    let jobs = fleet.repo.ordo(&["job", "list", "--format", "json"]).success().json();
    assert_eq!(jobs[1]["state"], "interrupted");
    assert_eq!(jobs[0]["state"], "success");
    let interrupted = fleet.repo.ordo(&["job", "show", "1", "--format", "json"]).success().json();
    let dev3 = interrupted["nodes"].as_array().unwrap().iter().find(|node| node["node"] == "dev3.example.net").unwrap();
    assert_eq!(dev3["state"], "interrupted");
}

#[test]
fn sigint_cancels_the_job_and_stops_the_remote_commands() {
    let fleet = counting_fleet();
    let ordo = fleet.apply_until_hanging();
    // SAFETY: kill(2) sends a signal to the child this test started.
    unsafe {
        libc::kill(ordo.id() as i32, libc::SIGINT);
    }
    let output = ordo.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stderr));
    assert_gone("sleep 3131");
    let jobs = fleet.repo.ordo(&["job", "list", "--format", "json"]).success().json();
    assert_eq!(jobs[0]["state"], "cancelled");
    assert_eq!(fleet.runs().len(), 6);
}

#[test]
fn ordo_job_cancel_from_another_terminal_stops_a_running_apply() {
    let fleet = counting_fleet();
    let ordo = fleet.apply_until_hanging();
    let cancel = fleet.repo.ordo(&["job", "cancel", "1"]).success();
    assert!(cancel.stdout.contains("Job 1: cancelled"), "{}\n{}", cancel.stdout, cancel.stderr);
    let output = ordo.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_gone("sleep 3131");
    // The locks went with the job: the next apply runs dev3 at once.
    std::fs::remove_file(fleet.work_dir("dev3.example.net").join("hang")).unwrap();
    fleet.repo.ordo(&["apply", "--yes"]).success();
    assert_eq!(fleet.runs(), EVERY_COMPONENT);
}

#[test]
fn puppet_components_and_facts_over_ssh() {
    let sshd = Sshd::start();
    let nodes = tempfile::tempdir().unwrap();
    let repo = Repo::example("lamp-puppet");
    let mut inventory = String::from("nodes:\n");
    for name in ["dev1.example.net", "dev2.example.net", "dev3.example.net", "dev4.example.net"] {
        inventory.push_str(&sshd.node(name, &nodes.path().join(name)));
        if name == "dev1.example.net" {
            // Facter on the node says what the database's address is.
            inventory.push_str("    gather_facts: true\n");
        } else {
            inventory.push_str(&format!("    facts: {{fqdn: {name}}}\n"));
        }
    }
    repo.write("inventory.yaml", &inventory);
    let fqdn = String::from_utf8(std::process::Command::new("facter").arg("fqdn").output().unwrap().stdout).unwrap();
    let run = repo.ordo(&["apply", "--yes"]).success();
    assert!(run.stdout.contains("Success: 4 nodes in 2 groups"), "{}", run.stdout);
    let conf = std::fs::read_to_string(nodes.path().join("dev3.example.net/webapp-app2-2.conf")).unwrap();
    assert_eq!(conf, format!("listen = 8080\ndatabase_url = mysql://user@{}:3306/app2\n", fqdn.trim()));
    let job = repo.ordo(&["job", "show", "1"]).success().stdout;
    assert!(job.contains("puppet apply exited 2: "), "{job}");
    assert!(!job.contains("secret"), "{job}");
    // Puppet's cached catalog, which holds the secret, does not stay on the node.
    assert!(!all_text(nodes.path()).contains("'secret'"));
    assert_eq!(repo.plan_json()["changes"], serde_json::json!([]));
}

#[test]
fn a_command_check_runs_on_its_node_over_ssh() {
    let fleet = Fleet::lamp();
    fleet.repo.edit(
        "packages/lamp/package.yaml",
        "      database: string\n",
        "      database: string\n    check: {command: \"test -s mysql-${database}.conf\", node: dev1.example.net, timeout: 5}\n",
    );
    let run = fleet.repo.ordo(&["apply", "--yes"]).success();
    assert!(run.stderr.contains("Sql[app2] available after 1 attempt"), "{}", run.stderr);
    let job = fleet.repo.ordo(&["job", "show", "1", "--format", "json"]).success().json();
    assert_eq!(job["checks"][1]["capability"], "Sql[app2]");
    assert_eq!(job["checks"][1]["passed"], true);

    // The file is on the node, not here: removed there, the check fails after its timeout.
    std::fs::remove_file(fleet.work_dir("dev1.example.net").join("mysql-app1.conf")).unwrap();
    fleet.repo.edit("site.yaml", "db_user: user", "db_user: someone");
    fleet.repo.edit(
        "packages/lamp/scripts/mysql-apply",
        "cat > \"$conf.tmp\"",
        "[ \"$ORDO_TITLE\" = app1 ] && exit 0\ncat > \"$conf.tmp\"",
    );
    let run = fleet.repo.ordo(&["apply", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("Sql[app1] is not available: `test -s mysql-app1.conf` exited with code 1"),
        "{}",
        run.stdout
    );
}
