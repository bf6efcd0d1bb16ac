//! SSH nodes end to end: a real `sshd` on loopback (its own host key, configuration and
//! authorized key), several node names mapped to it, each with its own working directory,
//! and the real `ordo` binary running real scripts there.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

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
