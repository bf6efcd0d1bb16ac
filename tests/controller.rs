//! The controller end to end: the real `ordo serve` on loopback, watching a real Git
//! repository, reporting to a stand-in GitHub that checks every request against GitHub's
//! published REST description (`tests/fixtures/github-api/`).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::Repo;
use support::forge::Forge;
use support::serve::{API_TOKEN, Served, sign};

const REST: &str = "github-api/rest-statuses-comments-checks.openapi.json";

/// The LAMP example as a Git repository on `main`.
fn lamp_repository() -> (Repo, String) {
    let repo = Repo::example("lamp");
    repo.git_init();
    let sha = repo.commit("the LAMP site");
    (repo, sha)
}

fn github_config(forge: &Forge) -> String {
    format!(
        "[forge]\nkind = \"github\"\napi_url = \"{}\"\nrepository = \"acme/site\"\ntoken_env = \"TEST_FORGE_TOKEN\"\n",
        forge.url()
    )
}

/// The statuses the forge accepted for a commit: `state description target_url`.
fn statuses(forge: &Forge, sha: &str) -> Vec<String> {
    forge
        .received()
        .into_iter()
        .filter(|request| request.accepted && request.path == format!("/repos/acme/site/statuses/{sha}"))
        .map(|request| {
            assert_eq!(request.body["context"], "ordo/production");
            format!(
                "{} {} {}",
                request.body["state"].as_str().unwrap(),
                request.body["description"].as_str().unwrap_or_default(),
                request.body["target_url"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

fn final_status(forge: &Forge, sha: &str) -> Option<String> {
    statuses(forge, sha).into_iter().rfind(|status| !status.starts_with("pending"))
}

#[track_caller]
fn wait_for_final_status(served: &Served, forge: &Forge, sha: &str) -> String {
    served.wait_until(&format!("{sha} has a final status"), Duration::from_secs(30), |_| {
        final_status(forge, sha).is_some()
    });
    final_status(forge, sha).unwrap()
}

/// Replaces the job durations in statuses, which vary from run to run.
fn steady(statuses: Vec<String>) -> Vec<String> {
    let seconds = regex::Regex::new(r"in \d+\.\d\ds").unwrap();
    statuses.into_iter().map(|status| seconds.replace_all(&status, "in N.NNs").into_owned()).collect()
}

#[test]
fn a_commit_gets_pending_then_success_with_a_link() {
    let forge = Forge::start(REST);
    let (repo, first) = lamp_repository();
    let served = Served::start(repo.path(), &github_config(&forge));
    wait_for_final_status(&served, &forge, &first);
    assert_eq!(
        steady(statuses(&forge, &first)),
        [
            "pending queued -",
            "pending running 4 nodes in 2 groups: 8 to add, 0 to change, 0 to remove https://ordo.example.com/jobs/1",
            "success Success: 4 nodes in 2 groups in N.NNs https://ordo.example.com/jobs/1",
        ]
    );
    let request = forge.received().into_iter().next().unwrap();
    assert_eq!(request.headers.get("authorization").map(String::as_str), Some("Bearer forge-t0ken"));

    // A commit into the watched repository is picked up without a webhook.
    repo.edit("site.yaml", "db_user: user", "db_user: admin");
    let second = repo.commit("a new database user");
    let status = wait_for_final_status(&served, &forge, &second);
    assert!(status.starts_with("success Success: 4 nodes in 2 groups"), "{status}");
    let job = served.wait_for_job(2);
    assert_eq!(job["trigger"], "watch");
    assert_eq!(job["revision"], format!("main@sha1:{second}"));
    assert_eq!(
        job["groups"],
        json!([["dev1.example.net"], ["dev2.example.net", "dev3.example.net", "dev4.example.net"]])
    );
    let config = std::fs::read_to_string(served.state().join("nodes/dev2.example.net/webapp-app1-1.conf")).unwrap();
    assert!(config.contains("database_url = mysql://admin@dev1.example.net:3306/app1"), "{config}");
    let (_, environment) = served.get("/api/v1/environments/production");
    assert_eq!(environment["condition"]["status"], "ready");
    assert_eq!(environment["last_applied_revision"], format!("main@sha1:{second}"));
    forge.assert_valid();
}

#[test]
fn a_failing_script_gets_a_failure_status() {
    let forge = Forge::start(REST);
    let repo = Repo::example("lamp");
    repo.git_init();
    repo.write("packages/lamp/scripts/mysql-apply", "#!/bin/sh\necho 'the disk is full' >&2\nexit 3\n");
    let sha = repo.commit("a broken database script");
    let served = Served::start(repo.path(), &github_config(&forge));
    let status = wait_for_final_status(&served, &forge, &sha);
    assert!(status.starts_with("failure Failed: 1 of 1 nodes failed (dev1.example.net) in "), "{status}");
    assert!(status.ends_with("s https://ordo.example.com/jobs/1"), "{status}");
    let job = served.wait_for_job(1);
    assert_eq!(job["state"], "failed");
    assert!(job["nodes"][0]["output"].as_str().unwrap().contains("the disk is full"), "{job}");
    assert_eq!(served.get("/api/v1/environments/production").1["condition"]["status"], "stalled");
    forge.assert_valid();
}

#[test]
fn of_three_quick_commits_the_last_is_applied_and_the_middle_superseded() {
    let forge = Forge::start(REST);
    let (repo, first) = lamp_repository();
    let served = Served::start(repo.path(), &github_config(&forge));
    wait_for_final_status(&served, &forge, &first);

    // A slow database script keeps the next job running while two more commits arrive.
    repo.write(
        "packages/lamp/scripts/mysql-apply",
        &format!("{}sleep 3\n", repo.read("packages/lamp/scripts/mysql-apply")),
    );
    let slow = repo.commit("a slow database script");
    served.wait_until("the slow job runs", Duration::from_secs(20), |served| {
        served.get("/api/v1/environments/production").1["queue"]["running"]["revision"] == format!("main@sha1:{slow}")
    });
    repo.edit("site.yaml", "db_user: user", "db_user: middle");
    let middle = repo.commit("the middle commit");
    served.wait_until("the middle commit is pending", Duration::from_secs(20), |served| {
        served.get("/api/v1/environments/production").1["queue"]["pending"]["revision"] == format!("main@sha1:{middle}")
    });
    repo.edit("site.yaml", "db_user: middle", "db_user: last");
    let last = repo.commit("the last commit");

    let status = wait_for_final_status(&served, &forge, &last);
    assert!(status.starts_with("success "), "{status}");
    assert_eq!(
        final_status(&forge, &middle).unwrap(),
        format!("error superseded by {}: not applied on its own -", &last[..7])
    );
    assert!(wait_for_final_status(&served, &forge, &slow).starts_with("success "));
    let revisions: Vec<String> =
        served.jobs().iter().map(|job| job["revision"].as_str().unwrap().to_string()).collect();
    assert_eq!(revisions, [first, slow, last].map(|sha| format!("main@sha1:{sha}")));
    forge.assert_valid();
}

#[test]
fn statuses_wait_out_a_forge_outage_and_arrive_in_order_once() {
    let forge = Forge::start(REST);
    forge.set_down(true);
    let (repo, sha) = lamp_repository();
    let served = Served::start(repo.path(), &github_config(&forge));
    let job = served.wait_for_job(1);
    assert_eq!(job["state"], "success");
    served.wait_until("the forge was tried", Duration::from_secs(10), |_| forge.received().len() >= 2);
    assert!(statuses(&forge, &sha).is_empty());
    let (_, metrics) = served.get("/metrics");
    assert!(metrics.as_str().unwrap().contains("ordo_outbox_deliveries_total{forge=\"github\",result=\"failed\"}"));
    std::thread::sleep(Duration::from_secs(2));
    forge.set_down(false);
    served.wait_until("every status is delivered", Duration::from_secs(30), |_| final_status(&forge, &sha).is_some());
    let delivered = steady(statuses(&forge, &sha));
    assert_eq!(delivered.len(), 3, "{delivered:?}");
    assert!(delivered[0].starts_with("pending queued") && delivered[1].starts_with("pending running"), "{delivered:?}");
    assert!(delivered[2].starts_with("success"), "{delivered:?}");
    forge.assert_valid();
}

#[test]
fn undelivered_statuses_are_delivered_after_a_crash() {
    let forge = Forge::start(REST);
    forge.set_down(true);
    let (repo, sha) = lamp_repository();
    let mut served = Served::start(repo.path(), &github_config(&forge));
    assert_eq!(served.wait_for_job(1)["state"], "success");
    served.kill9();
    assert!(statuses(&forge, &sha).is_empty());
    forge.set_down(false);
    served.restart();
    served.wait_until("the statuses arrive", Duration::from_secs(30), |_| final_status(&forge, &sha).is_some());
    let delivered = steady(statuses(&forge, &sha));
    assert_eq!(delivered.len(), 3, "{delivered:?}");
    assert!(delivered[2].starts_with("success Success: 4 nodes"), "{delivered:?}");
    assert_eq!(served.jobs().len(), 1, "the applied commit does not run again");
    forge.assert_valid();
}

#[test]
fn a_commit_that_does_not_validate_gets_its_first_error() {
    let forge = Forge::start(REST);
    let (repo, first) = lamp_repository();
    let served = Served::start(repo.path(), &github_config(&forge));
    wait_for_final_status(&served, &forge, &first);
    repo.edit("site.yaml", "dev1.example.net: Lamp::Mysql[app1]", "dev9.example.net: Lamp::Mysql[app1]");
    repo.edit("site.yaml", "dev2.example.net: Lamp::Webapp[app1-1]", "dev2.example.net: Lamp::Webap[app1-1]");
    let broken = repo.commit("a broken site");
    let status = wait_for_final_status(&served, &forge, &broken);
    assert!(status.starts_with("failure Invalid: "), "{status}");
    assert!(
        status.contains("unknown node dev9.example.net")
            && status.contains(" more) ")
            && status.ends_with("https://ordo.example.com/jobs/2"),
        "{status}"
    );
    let job = served.wait_for_job(2);
    assert_eq!(job["state"], "failed");
    let diagnostics = job["diagnostics"].as_str().unwrap();
    assert!(diagnostics.contains("site.yaml") && diagnostics.contains("Lamp::Webap"), "{diagnostics}");
    let environment = served.get("/api/v1/environments/production").1;
    assert_eq!(environment["condition"]["status"], "stalled");
    assert_eq!(environment["last_applied_revision"], format!("main@sha1:{first}"));
    forge.assert_valid();
}

#[test]
fn bad_webhooks_and_api_calls_are_refused_and_queue_nothing() {
    let (repo, _) = lamp_repository();
    let served = Served::start(repo.path(), "");
    assert_eq!(served.wait_for_job(1)["state"], "success");
    let push = json!({"ref": "refs/heads/main", "after": "0000000000000000000000000000000000000000"});
    let body = serde_json::to_vec(&push).unwrap();

    let bad = served.post(
        "/webhooks/github",
        &body,
        &[("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "d-1"), ("X-Hub-Signature-256", &sign("wrong", &body))],
    );
    assert_eq!(bad.0, 401, "{bad:?}");
    let unsigned = served.post("/webhooks/github", &body, &[("X-GitHub-Event", "push")]);
    assert_eq!(unsigned.0, 401);

    assert_eq!(served.webhook("push", "d-2", &push).0, 202);
    let replay = served.webhook("push", "d-2", &push);
    assert_eq!(replay.0, 202);
    assert_eq!(replay.1["message"], "this delivery was already received");

    let garbage = b"{not json";
    let malformed = served.post(
        "/webhooks/github",
        garbage,
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "d-3"),
            ("X-Hub-Signature-256", &sign(support::serve::WEBHOOK_SECRET, garbage)),
        ],
    );
    assert_eq!(malformed.0, 400, "{malformed:?}");

    assert_eq!(status_of_oversized_post(&served.url, "/webhooks/github", 6 << 20), 413);

    assert_eq!(served.run("staging", "").0, 404);
    let anonymous = served.post("/api/v1/environments/production/runs", b"", &[]);
    assert_eq!(anonymous.0, 401);
    let wrong = served.post("/api/v1/environments/production/runs", b"", &[("Authorization", "Bearer nope")]);
    assert_eq!(wrong.0, 401);
    assert_eq!(served.run("production", "{\"revision\": \"zz\"}").0, 400);
    assert_eq!(served.run("production", "{\"revision\": \"abcdef1234\"}").0, 422);
    assert_eq!(served.get("/api/v1/jobs/999").0, 404);
    assert_eq!(served.get("/nothing/here").0, 404);

    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(served.jobs().len(), 1, "nothing was queued: {:?}", served.jobs());
    let metrics = served.get("/metrics").1;
    let metrics = metrics.as_str().unwrap();
    assert!(metrics.contains("result=\"unauthorized\"} 2"), "{metrics}");
    assert!(metrics.contains("result=\"duplicate\"} 1"), "{metrics}");
}

#[test]
fn a_ci_run_is_a_job_that_a_pipeline_can_wait_for() {
    let (repo, sha) = lamp_repository();
    let served = Served::start(repo.path(), "");
    assert_eq!(served.wait_for_job(1)["state"], "success");
    let (status, answer) = served.run("production", "");
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_i64().unwrap();
    assert_eq!(answer["url"], format!("https://ordo.example.com/jobs/{id}"));
    let job = served.wait_for_job(id);
    assert_eq!((job["state"].as_str(), job["summary"].as_str()), (Some("success"), Some("no changes")));
    assert_eq!(job["trigger"], "ci");

    let (status, answer) = served.run("production", &format!("{{\"revision\": \"{}\"}}", &sha[..12]));
    assert_eq!(status, 202, "{answer}");
    let job = served.wait_for_job(answer["id"].as_i64().unwrap());
    assert_eq!(job["revision"], format!("main@sha1:{sha}"));
    let plan = served.get(&format!("/api/v1/jobs/{}/plan", answer["id"])).1;
    assert_eq!(plan["revision"], format!("main@sha1:{sha}"));

    let (_, page) = served.get("/api/v1/jobs?limit=2");
    assert_eq!(page["jobs"].as_array().unwrap().len(), 2);
    let before = page["next_before"].as_i64().unwrap();
    let (_, next) = served.get(&format!("/api/v1/jobs?limit=2&before={before}"));
    assert_eq!(next["jobs"][0]["id"], 1);
}

#[test]
fn git_notes_record_the_statuses_in_the_repository() {
    let (repo, sha) = lamp_repository();
    let served = Served::start(repo.path(), "");
    assert_eq!(served.wait_for_job(1)["state"], "success");
    served.wait_until("the note is written", Duration::from_secs(20), |_| {
        let note = std::process::Command::new("git")
            .args(["notes", "--ref=ordo", "show", &sha])
            .current_dir(repo.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&note.stdout).contains("ordo/production: success Success: 4 nodes in 2 groups")
    });
}

#[test]
fn a_read_token_protects_the_api_and_sigterm_stops_cleanly() {
    let (repo, _) = lamp_repository();
    let mut served = Served::start_with(repo.path(), "read_access = \"token\"\n", "");
    assert_eq!(served.get("/api/v1/jobs").0, 401);
    assert_eq!(served.get("/metrics").0, 401);
    assert_eq!(served.get_with("/api/v1/jobs", Some(API_TOKEN)).0, 200);
    assert_eq!(served.get("/healthz").0, 200);
    assert_eq!(served.wait_for_job_with_token(1, API_TOKEN)["state"], "success");
    assert_eq!(served.terminate(), Some(0));
    let log = served.log();
    assert!(log.contains("shutting down"), "{log}");
    let _: Value = Value::Null;
}

#[test]
fn an_unreachable_forge_keeps_statuses_waiting_in_the_outbox() {
    let (repo, _) = lamp_repository();
    // Nothing listens on port 1 of the loopback address.
    let served = Served::start(
        repo.path(),
        "[forge]\nkind = \"github\"\napi_url = \"http://127.0.0.1:1\"\nrepository = \"acme/site\"\ntoken_env = \"TEST_FORGE_TOKEN\"\n",
    );
    assert_eq!(served.wait_for_job(1)["state"], "success", "a forge that cannot be reached does not stop a job");
    served.wait_until("deliveries fail and wait", Duration::from_secs(20), |served| {
        let metrics = served.get("/metrics").1;
        let metrics = metrics.as_str().unwrap_or_default();
        metrics.contains("ordo_outbox_deliveries_total{forge=\"github\",result=\"failed\"}")
            && metrics.lines().any(|line| line.starts_with("ordo_outbox_backlog ") && !line.ends_with(" 0"))
    });
}

/// The status a server answers to a POST of `size` bytes. The server may answer and close
/// before the body is all sent, so a failed write is expected; the answer is read anyway.
fn status_of_oversized_post(url: &str, path: &str, size: usize) -> u16 {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nX-GitHub-Event: push\r\nContent-Type: application/json\r\n\
         Content-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(&vec![b' '; size]);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("no status in {answer:?}"))
}
