//! End-to-end: the real binary on real Git repositories in temporary directories, running
//! real scripts on local nodes.

mod support;

use support::{Repo, change_lines};

fn lamp_repo() -> Repo {
    let repo = Repo::example("lamp");
    repo.git_init();
    repo.commit("lamp");
    repo
}

fn groups(plan: &serde_json::Value) -> Vec<Vec<String>> {
    serde_json::from_value(plan["groups"].clone()).unwrap()
}

#[test]
fn apply_then_plan_again_has_no_changes() {
    let repo = lamp_repo();
    let run = repo.ordo(&["apply", "--yes"]).success();
    assert!(run.stdout.contains("Success: 4 nodes in 2 groups"), "{}", run.stdout);
    let conf = repo.read(".ordo/nodes/dev3.example.net/webapp-app2-2.conf");
    assert_eq!(conf, "listen = 8080\ndatabase_url = mysql://user@dev1.example.net:3306/app2\n");

    let plan = repo.ordo(&["plan", "--format", "json", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.stdout);
    let plan = plan.json();
    assert_eq!(plan["changes"], serde_json::json!([]));
    assert_eq!(plan["groups"], serde_json::json!([]));
    let sha = repo.git(&["rev-parse", "HEAD"]);
    assert_eq!(plan["revision"], format!("main@sha1:{sha}"));
    assert_eq!(plan["base_revision"], format!("main@sha1:{sha}"));
}

#[test]
fn a_changed_web_parameter_runs_only_its_node() {
    let repo = lamp_repo();
    repo.ordo(&["apply", "--yes"]).success();
    let db_conf_before = repo.read(".ordo/nodes/dev1.example.net/mysql-app1.conf");
    repo.edit(
        "site.yaml",
        "      dev4.example.net: Lamp::Webapp[app1-3]\n",
        "      dev4.example.net: Lamp::Webapp[app1-3]\n    overrides:\n      Lamp::Webapp[app1-2]: {port: 9090}\n",
    );
    repo.commit("app1-2 listens on 9090");

    let plan = repo.plan_json();
    assert_eq!(change_lines(&plan), ["change Lamp::Webapp[app1-2]@dev3.example.net"]);
    assert_eq!(groups(&plan), [["dev3.example.net"]]);
    let diff = plan["changes"][0]["diff"].as_str().unwrap();
    assert!(diff.contains("-port = 8080\n+port = 9090\n"), "{diff}");

    let run = repo.ordo(&["apply", "--yes"]).success();
    assert!(run.stdout.contains("Success: 1 node in 1 group"), "{}", run.stdout);
    assert!(repo.read(".ordo/nodes/dev3.example.net/webapp-app1-2.conf").starts_with("listen = 9090\n"));
    assert_eq!(repo.read(".ordo/nodes/dev1.example.net/mysql-app1.conf"), db_conf_before);
    let job = repo.ordo(&["job", "show", "2", "--format", "json"]).success().json();
    let nodes: Vec<&str> = job["nodes"].as_array().unwrap().iter().map(|node| node["node"].as_str().unwrap()).collect();
    assert_eq!(nodes, ["dev3.example.net"]);
}

#[test]
fn a_database_change_flows_into_its_consumers_in_two_groups() {
    let repo = lamp_repo();
    repo.ordo(&["apply", "--yes"]).success();
    repo.edit(
        "site.yaml",
        "    title: app1\n    parameters:\n",
        "    title: app1\n    parameters:\n      db_port: 3307\n",
    );
    repo.commit("app1's database moves to port 3307");

    let plan = repo.plan_json();
    assert_eq!(
        change_lines(&plan),
        [
            "change Lamp::Mysql[app1]@dev1.example.net",
            "change Lamp::Webapp[app1-1]@dev2.example.net",
            "change Lamp::Webapp[app1-2]@dev3.example.net",
            "change Lamp::Webapp[app1-3]@dev4.example.net",
        ]
    );
    assert_eq!(
        groups(&plan),
        [vec!["dev1.example.net"], vec!["dev2.example.net", "dev3.example.net", "dev4.example.net"]]
    );
    let web_diff = plan["changes"][1]["diff"].as_str().unwrap();
    assert!(web_diff.contains("-db_port = 3306\n+db_port = 3307\n"), "{web_diff}");

    repo.ordo(&["apply", "--yes"]).success();
    assert!(repo.read(".ordo/nodes/dev2.example.net/webapp-app1-1.conf").contains("dev1.example.net:3307/app1"));
    assert!(repo.read(".ordo/nodes/dev2.example.net/webapp-app2-1.conf").contains("dev1.example.net:3306/app2"));
    // Every web node started only after the database node finished.
    let job = repo.ordo(&["job", "show", "2", "--format", "json"]).success().json();
    let group_of = |node: &str| {
        job["nodes"].as_array().unwrap().iter().find(|result| result["node"] == node).unwrap()["group_index"].as_i64()
    };
    assert_eq!(group_of("dev1.example.net"), Some(0));
    assert_eq!(group_of("dev4.example.net"), Some(1));
}

#[test]
fn a_removed_instance_is_torn_down_consumers_first_with_prune() {
    let repo = lamp_repo();
    repo.ordo(&["apply", "--yes"]).success();
    repo.write("site.yaml", &repo.lamp_site_without_app2());
    repo.commit("retire app2");

    let plan = repo.plan_json();
    assert_eq!(
        change_lines(&plan),
        [
            "remove Lamp::Mysql[app2]@dev1.example.net",
            "remove Lamp::Webapp[app2-1]@dev2.example.net",
            "remove Lamp::Webapp[app2-2]@dev3.example.net",
            "remove Lamp::Webapp[app2-3]@dev4.example.net",
        ]
    );
    assert_eq!(
        plan["teardown_groups"],
        serde_json::json!([["dev2.example.net", "dev3.example.net", "dev4.example.net"], ["dev1.example.net"]])
    );

    // Without --prune nothing is torn down and the removal stays planned.
    repo.ordo(&["apply", "--yes"]).success();
    assert!(repo.path().join(".ordo/nodes/dev1.example.net/mysql-app2.conf").exists());
    assert_eq!(change_lines(&repo.plan_json()).len(), 4);

    let run = repo.ordo(&["apply", "--yes", "--prune"]).success();
    let webs = run.stderr.find("Tearing down node group 0 (3 nodes)").expect(&run.stderr);
    let db = run.stderr.find("Tearing down node group 1 (1 node)").expect(&run.stderr);
    assert!(webs < db);
    assert!(!repo.path().join(".ordo/nodes/dev1.example.net/mysql-app2.conf").exists());
    assert!(!repo.path().join(".ordo/nodes/dev4.example.net/webapp-app2-3.conf").exists());
    assert!(repo.path().join(".ordo/nodes/dev4.example.net/webapp-app1-3.conf").exists());
    assert_eq!(repo.plan_json()["changes"], serde_json::json!([]));
}

#[test]
fn a_failing_node_stops_later_groups_and_the_next_plan_holds_what_remains() {
    let repo = lamp_repo();
    repo.edit(
        "packages/lamp/scripts/mysql-apply",
        "set -eu\n",
        "set -eu\nif [ \"$ORDO_TITLE\" = app2 ] && [ -e \"$ORDO_NODE_DIR/fail-app2\" ]; then echo 'disk full'; exit 3; fi\n",
    );
    repo.commit("a database that can fail");
    std::fs::create_dir_all(repo.path().join(".ordo/nodes/dev1.example.net")).unwrap();
    repo.write(".ordo/nodes/dev1.example.net/fail-app2", "");

    let run = repo.ordo(&["apply", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("Failed: 1 of 1 nodes failed (dev1.example.net)"), "{}", run.stdout);
    assert!(run.stdout.contains("  | disk full"), "{}", run.stdout);
    assert!(run.stdout.contains("1 later group not started"), "{}", run.stdout);
    assert!(!repo.path().join(".ordo/nodes/dev2.example.net").exists(), "group 1 must not start");

    // Lamp::Mysql[app1] succeeded before the failure and is recorded; the rest remains.
    let plan = repo.plan_json();
    let remaining = change_lines(&plan);
    assert_eq!(remaining.len(), 7, "{remaining:?}");
    assert!(!remaining.iter().any(|line| line.contains("Lamp::Mysql[app1]")));
    assert!(remaining.contains(&"add Lamp::Mysql[app2]@dev1.example.net".to_string()));
    let jobs = repo.ordo(&["job", "list", "--format", "json"]).success().json();
    assert_eq!(jobs[0]["state"], "failed");

    repo.remove(".ordo/nodes/dev1.example.net/fail-app2");
    repo.ordo(&["apply", "--yes"]).success();
    assert_eq!(repo.plan_json()["changes"], serde_json::json!([]));
}

#[test]
fn noop_runs_checks_and_records_nothing() {
    let repo = lamp_repo();
    repo.ordo(&["apply", "--yes"]).success();
    repo.edit(
        "site.yaml",
        "    title: app2\n    parameters:\n",
        "    title: app2\n    parameters:\n      web_port: 8181\n",
    );
    repo.commit("app2 web servers on 8181");
    let before = repo.plan_json();

    let run = repo.ordo(&["apply", "--yes", "--noop"]).success();
    assert!(run.stderr.contains("Lamp::Webapp[app2-1] would change"), "{}", run.stderr);
    assert!(run.stdout.contains("Noop: 3 nodes in 1 group"), "{}", run.stdout);
    assert!(repo.read(".ordo/nodes/dev2.example.net/webapp-app2-1.conf").starts_with("listen = 8080\n"));
    assert_eq!(repo.plan_json(), before);
    let jobs = repo.ordo(&["job", "list", "--format", "json"]).success().json();
    assert_eq!(jobs[0]["kind"], "noop");
}

#[test]
fn plan_between_two_commits_touches_no_store() {
    let repo = lamp_repo();
    let first = repo.git(&["rev-parse", "HEAD"]);
    repo.edit("site.yaml", "      web_instances: 3\n", "      web_instances: 2\n");
    repo.edit("site.yaml", "      dev4.example.net: Lamp::Webapp[app1-3]\n", "");
    let second = repo.commit("app1 shrinks to two web servers");
    // The working tree changes further; --rev reads the commit, not the files on disk.
    repo.edit("site.yaml", "db_user: user", "db_user: someone");

    let plan = repo.ordo(&["plan", "--rev", &second, "--base", &first, "--format", "json"]).success().json();
    assert_eq!(change_lines(&plan), ["remove Lamp::Webapp[app1-3]@dev4.example.net"]);
    assert_eq!(plan["revision"], format!("sha1:{second}"));
    assert_eq!(plan["base_revision"], format!("sha1:{first}"));
    let reverse = repo.ordo(&["plan", "--rev", "main~1", "--base", "main", "--format", "json"]).success().json();
    assert_eq!(change_lines(&reverse), ["add Lamp::Webapp[app1-3]@dev4.example.net"]);
    assert!(!repo.state().exists(), "planning between commits must not create a store");

    let dirty = repo.ordo(&["plan", "--format", "json"]).success().json();
    assert_eq!(dirty["revision"], format!("main@sha1:{second}-dirty"));
}

#[test]
fn three_tier_example_runs_in_three_groups() {
    let repo = Repo::example("three-tier");
    let show = repo.ordo(&["show", "--format", "json"]).success().json();
    assert_eq!(show["groups"].as_array().unwrap().len(), 3, "{show}");
    repo.ordo(&["apply", "--yes"]).success();
    let lb = repo.read(".ordo/nodes/lb1.example.net/haproxy-shop.cfg");
    assert!(lb.contains("server web1.example.net 10.0.1.21:8080"), "{lb}");
    assert_eq!(repo.plan_json()["changes"], serde_json::json!([]));
}

#[test]
fn secrets_never_reach_plans_job_records_or_the_store() {
    let repo = Repo::example("lamp");
    repo.git_init();
    repo.edit("site.yaml", "db_password: secret", "db_password: s3cr3t-pw");
    repo.edit("packages/lamp/scripts/webapp-apply", "set -eu\n", "set -eu\necho \"connecting with ${db_password}\"\n");
    repo.commit("chatty web servers");
    let run = repo.ordo(&["apply", "--yes"]).success();
    repo.edit("site.yaml", "db_password: s3cr3t-pw", "db_password: hunter22");
    let plan = repo.ordo(&["plan"]).success();
    let markdown = repo.ordo(&["plan", "--format", "markdown"]).success();
    let json = repo.ordo(&["plan", "--format", "json"]).success();
    let job = repo.ordo(&["job", "show", "1"]).success();
    let job_json = repo.ordo(&["job", "show", "1", "--format", "json"]).success();
    for text in [&run.stdout, &run.stderr, &plan.stdout, &markdown.stdout, &json.stdout, &job.stdout, &job_json.stdout]
    {
        assert!(!text.contains("s3cr3t-pw"), "{text}");
        assert!(!text.contains("hunter22"), "{text}");
    }
    assert!(job.stdout.contains("connecting with (sensitive)"), "{}", job.stdout);
    assert!(plan.stdout.contains("+db_password = (sensitive, changed)"), "{}", plan.stdout);
    for file in ["state.db", "state.db-wal"] {
        let bytes = std::fs::read(repo.path().join(".ordo").join(file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("s3cr3t-pw") && !text.contains("hunter22"), "{file} holds a secret");
    }
}
