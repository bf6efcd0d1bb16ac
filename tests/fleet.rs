//! What keeps runs trustworthy on a fleet, with local nodes: teardowns with their secrets,
//! a state directory that does not grow, availability checks against real HTTP(S) servers,
//! and `--max-failures`.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use support::{Repo, change_lines};

fn lamp_repo() -> Repo {
    let repo = Repo::example("lamp");
    repo.git_init();
    repo.commit("lamp");
    repo
}

#[test]
fn a_teardown_gets_its_secret_parameter_from_the_applied_revision() {
    let repo = Repo::example("lamp");
    repo.git_init();
    repo.edit("site.yaml", "db_password: secret", "db_password: pw-one");
    repo.write(
        "packages/lamp/scripts/mysql-remove",
        "#!/bin/sh\nset -eu\nrm -f \"mysql-${ORDO_TITLE}.conf\"\necho \"dropped with ${password}\" > \"dropped-${ORDO_TITLE}\"\n",
    );
    repo.commit("lamp");
    repo.ordo(&["apply", "--yes"]).success();
    // The secret changes after the apply: the teardown must see the one applied.
    repo.edit("site.yaml", "db_password: pw-one", "db_password: pw-two");
    repo.write("site.yaml", &repo.lamp_site_without_app2());
    repo.commit("retire app2, new password for app1");
    let run = repo.ordo(&["apply", "--yes", "--prune"]).success();
    assert_eq!(repo.read(".ordo/nodes/dev1.example.net/dropped-app2"), "dropped with secret\n");
    assert!(!run.stdout.contains("secret") && !run.stderr.contains("secret"), "{}", run.stderr);
    assert_eq!(repo.plan_json()["changes"], serde_json::json!([]));
}

/// The entries of a state directory's subdirectory, sorted.
fn entries(repo: &Repo, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo.state().join(dir))
        .map(|entries| entries.map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn gc_keeps_what_the_last_applied_state_needs_and_removes_the_rest() {
    let repo = lamp_repo();
    repo.ordo(&["apply", "--yes"]).success();
    let first = entries(&repo, "packages");
    assert_eq!(first.len(), 1, "{first:?}");

    // A new package version applied to one node only: both copies are in use now.
    repo.edit("packages/lamp/scripts/webapp-apply", "set -eu\n", "set -eu\n# v2\n");
    repo.commit("web servers v2");
    repo.ordo(&["apply", "--yes", "--nodes", "dev2.example.net"]).success();
    let both = entries(&repo, "packages");
    assert_eq!(both.len(), 2, "{both:?}");
    // Leftovers nothing refers to: an old package copy, a module path, a teardown script.
    for junk in ["packages/lamp-0000000000000000000000000000000000000000/x", "puppet/abc/x", "scripts/feed"] {
        let path = repo.state().join(junk);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "junk").unwrap();
    }
    let gc = repo.ordo(&["gc"]).success();
    assert!(gc.stdout.contains("removed packages/lamp-0000000000000000000000000000000000000000\n"), "{}", gc.stdout);
    assert!(gc.stdout.contains("removed puppet/abc\n"), "{}", gc.stdout);
    assert!(gc.stdout.contains("removed scripts/feed\n"), "{}", gc.stdout);
    assert!(gc.stdout.contains("Removed 3 items"), "{}", gc.stdout);
    assert_eq!(entries(&repo, "packages"), both);
    assert!(repo.state().join("nodes/dev1.example.net/mysql-app1.conf").exists(), "node directories stay");

    // Once every node runs v2, the first copy goes with the job that made it unused.
    repo.ordo(&["apply", "--yes"]).success();
    let last = entries(&repo, "packages");
    assert_eq!(last.len(), 1, "{last:?}");
    assert!(both.contains(&last[0]) && last[0] != first[0], "{last:?}");
}

/// A tiny HTTP server on loopback: `/` redirects to `/ready`, which answers `status`.
fn http_server(status: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut stream) = stream else { continue };
            let mut request_line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let _ = reader.read_line(&mut request_line);
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) <= 2 {
                    break;
                }
            }
            let response = if request_line.starts_with("GET / ") {
                format!(
                    "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/ready\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            } else {
                format!("HTTP/1.1 {status} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    port
}

/// The LAMP example whose `Sql` capability is checked with `check` before the web servers.
fn lamp_with_check(check: &str) -> Repo {
    let repo = Repo::example("lamp");
    repo.edit(
        "packages/lamp/package.yaml",
        "      database: string\n",
        &format!("      database: string\n    check: {check}\n"),
    );
    repo
}

#[test]
fn http_checks_follow_redirects_and_accept_the_listed_statuses() {
    let port = http_server(204);
    let repo = lamp_with_check(&format!("{{http: \"http://127.0.0.1:{port}/\", status_codes: [204], timeout: 5}}"));
    let run = repo.ordo(&["apply", "--yes"]).success();
    assert!(run.stderr.contains("Sql[app1] available after 1 attempt"), "{}", run.stderr);
    let job = repo.ordo(&["job", "show", "1", "--format", "json"]).success().json();
    let checks = job["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "{job}");
    assert_eq!(checks[0]["capability"], "Sql[app1]");
    assert_eq!(checks[0]["passed"], true);
    assert_eq!(checks[0]["attempts"], 1);
    assert_eq!(checks[0]["group_index"], 1);

    // A status that is not listed fails the check after its timeout, retried every second.
    let port = http_server(200);
    let repo = lamp_with_check(&format!(
        "{{http: \"http://127.0.0.1:{port}/\", status_codes: [204], timeout: 2, ping_interval: 1}}"
    ));
    let run = repo.ordo(&["apply", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("Sql[app1] not available yet (attempt 1): GET http://127.0.0.1:"), "{}", run.stderr);
    assert!(run.stdout.contains("answered 200 (gave up after 2s)"), "{}", run.stdout);
    let job = repo.ordo(&["job", "show", "1", "--format", "json"]).success().json();
    assert_eq!(job["checks"][0]["passed"], false);
    assert!(job["checks"][0]["attempts"].as_i64().unwrap() >= 2, "{job}");
    assert_eq!(change_lines(&repo.plan_json()).len(), 6, "the web servers did not run");
}

#[test]
fn https_checks_verify_the_server_with_the_system_roots() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(dir.path().join("leaf.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    // A certificate authority, and the server's certificate signed by it.
    for args in [
        [
            &["req", "-x509"][..],
            &ec,
            &["-days", "1", "-subj", "/CN=ordo test CA", "-keyout", &path("ca.key"), "-out", &path("ca.pem")],
        ]
        .concat(),
        [&["req"][..], &ec, &["-subj", "/CN=127.0.0.1", "-keyout", &path("key.pem"), "-out", &path("leaf.csr")]]
            .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            &path("leaf.csr"),
            "-CA",
            &path("ca.pem"),
            "-CAkey",
            &path("ca.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &path("leaf.ext"),
            "-out",
            &path("cert.pem"),
        ],
    ] {
        let made = std::process::Command::new("openssl").args(&args).output().unwrap();
        assert!(made.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&made.stderr));
    }
    let (cert, key, ca) = (dir.path().join("cert.pem"), dir.path().join("key.pem"), path("ca.pem"));
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = std::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept", &port.to_string(), "-cert"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let repo = lamp_with_check(&format!("{{http: \"https://127.0.0.1:{port}/\", timeout: 10}}"));
    // Trusting the test's certificate authority as a system root.
    let trusted = repo.ordo_env(&["apply", "--yes"], &[("SSL_CERT_FILE", &ca)]);
    // Without it, the server is not trusted and the check never passes.
    let repo_untrusted = lamp_with_check(&format!("{{http: \"https://127.0.0.1:{port}/\", timeout: 1}}"));
    let untrusted = repo_untrusted.ordo_env(&["apply", "--yes"], &[("SSL_CERT_FILE", "/dev/null")]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(trusted.code, 0, "{}\n{}", trusted.stdout, trusted.stderr);
    assert!(trusted.stderr.contains("Sql[app1] available"), "{}", trusted.stderr);
    assert_eq!(untrusted.code, 1, "{}", untrusted.stdout);
    assert!(untrusted.stdout.contains("Sql[app1] is not available: GET https://127.0.0.1:"), "{}", untrusted.stdout);
}

#[test]
fn max_failures_stops_a_group_that_fails_too_much() {
    let repo = lamp_repo();
    repo.edit(
        "packages/lamp/scripts/webapp-apply",
        "set -eu\n",
        "set -eu\ncase $ORDO_TITLE in app1-*) exit 1 ;; esac\n",
    );
    repo.commit("every web server fails");
    let run = repo.ordo(&["apply", "--yes", "--on-failure", "continue", "--max-failures", "1", "--concurrency", "1"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("2 nodes failed in group 1, more than --max-failures 1 allows"), "{}", run.stdout);
    // With one node at a time, the group stopped after its second failure: one never ran.
    let web_nodes_run = ["dev2.example.net", "dev3.example.net", "dev4.example.net"]
        .iter()
        .filter(|node| repo.state().join("nodes").join(node).exists())
        .count();
    assert_eq!(web_nodes_run, 2, "{}", run.stderr);
    let bad = repo.ordo(&["apply", "--yes", "--max-failures", "ten"]);
    assert_eq!(bad.code, 64, "{}", bad.stderr);
}

#[test]
fn under_continue_teardowns_run_unless_they_wait_for_a_failed_node() {
    let repo = lamp_repo();
    repo.ordo(&["apply", "--yes"]).success();
    // app2 retires; app1's third web server moves from dev4 to a new dev5, where it fails.
    let inventory = repo.read("inventory.yaml");
    repo.write(
        "inventory.yaml",
        &format!(
            "{inventory}  - name: dev5.example.net\n    facts: {{fqdn: dev5.example.net, ipaddress: 10.0.0.15}}\n"
        ),
    );
    repo.edit("packages/lamp/scripts/webapp-apply", "set -eu\n", "set -eu\n[ \"$ORDO_NODE\" != dev5.example.net ]\n");
    let site = repo.lamp_site_without_app2();
    repo.write(
        "site.yaml",
        &site.replace("dev4.example.net: Lamp::Webapp[app1-3]", "dev5.example.net: Lamp::Webapp[app1-3]"),
    );
    repo.commit("retire app2, move app1-3 to dev5, which fails");
    let run = repo.ordo(&["apply", "--yes", "--prune", "--on-failure", "continue"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let node_file = |node: &str, file: &str| repo.state().join("nodes").join(node).join(file).exists();
    // Teardowns that wait for nothing that failed ran.
    assert!(!node_file("dev2.example.net", "webapp-app2-1.conf"), "{}", run.stdout);
    assert!(!node_file("dev3.example.net", "webapp-app2-2.conf"), "{}", run.stdout);
    // dev4 keeps app1-3 until dev5 has it, and so its app2-3 too; app2's database stays
    // while app2-3 still consumes it.
    assert!(node_file("dev4.example.net", "webapp-app1-3.conf"), "{}", run.stdout);
    assert!(node_file("dev4.example.net", "webapp-app2-3.conf"), "{}", run.stdout);
    assert!(node_file("dev1.example.net", "mysql-app2.conf"), "{}", run.stdout);
    assert!(run.stdout.contains("2 dependent nodes skipped (dev4.example.net, dev1.example.net)"), "{}", run.stdout);
    assert_eq!(
        change_lines(&repo.plan_json()),
        [
            "move Lamp::Webapp[app1-3]@dev5.example.net",
            "remove Lamp::Mysql[app2]@dev1.example.net",
            "remove Lamp::Webapp[app2-3]@dev4.example.net",
        ]
    );
}
