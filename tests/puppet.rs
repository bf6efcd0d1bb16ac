//! The Puppet front end end to end: `examples/lamp-puppet`, a control repository with the
//! application-orchestration code of the PE docs, planned by ordo and applied with real
//! Puppet 7 (`puppet apply`) on four local nodes.

mod support;

use support::{Repo, change_lines};

fn lamp_puppet() -> Repo {
    let repo = Repo::example("lamp-puppet");
    repo.git_init();
    repo.commit("lamp in Puppet");
    repo
}

fn groups(plan: &serde_json::Value) -> Vec<Vec<String>> {
    serde_json::from_value(plan["groups"].clone()).unwrap()
}

#[test]
fn the_puppet_and_yaml_examples_have_the_same_graph() {
    let puppet = Repo::example("lamp-puppet").ordo(&["show", "--format", "json"]).success().json();
    let yaml = Repo::example("lamp").ordo(&["show", "--format", "json"]).success().json();
    for key in ["applications", "nodes", "edges", "groups"] {
        assert_eq!(puppet[key], yaml[key], "{key}");
    }
}

#[test]
fn applying_runs_puppet_in_group_order_and_converges() {
    let repo = lamp_puppet();
    let run = repo.ordo(&["apply", "--yes"]).success();
    assert!(run.stdout.contains("Success: 4 nodes in 2 groups"), "{}", run.stdout);
    assert_eq!(
        repo.read(".ordo/nodes/dev3.example.net/webapp-app2-2.conf"),
        "listen = 8080\ndatabase_url = mysql://user@dev1.example.net:3306/app2\n"
    );
    assert_eq!(
        repo.read(".ordo/nodes/dev1.example.net/mysql-app1.conf"),
        "[mysqld]\ndatabase = app1\nport = 3306\nuser = user\n"
    );
    let job = repo.ordo(&["job", "show", "1"]).success().stdout;
    assert!(job.contains("puppet apply exited 2: "), "{job}");
    assert!(job.contains("2 changed, 0 failed"), "{job}");
    // The password reaches Puppet as Sensitive and never any record.
    assert!(!job.contains("secret"), "{job}");
    assert_eq!(repo.plan_json()["changes"], serde_json::json!([]));

    // --noop asks Puppet, which reports nothing pending once converged.
    repo.edit("manifests/site.pp", "web_instances => 3,\n    nodes         => {\n      Node['dev1.example.net'] => Lamp::Mysql['app2']", "web_instances => 3,\n    web_port      => 9090,\n    nodes         => {\n      Node['dev1.example.net'] => Lamp::Mysql['app2']");
    let noop = repo.ordo(&["apply", "--yes", "--noop"]).success();
    assert!(noop.stderr.contains("Lamp::Webapp[app2-1] would change"), "{}", noop.stderr);
    assert!(repo.read(".ordo/nodes/dev2.example.net/webapp-app2-1.conf").starts_with("listen = 8080\n"));
}

#[test]
fn a_site_parameter_change_runs_only_the_affected_nodes() {
    let repo = lamp_puppet();
    repo.ordo(&["apply", "--yes"]).success();
    repo.edit(
        "manifests/site.pp",
        "web_instances => 3,\n    nodes         => {\n      Node['dev1.example.net'] => Lamp::Mysql['app2']",
        "web_instances => 3,\n    web_port      => 9090,\n    nodes         => {\n      Node['dev1.example.net'] => Lamp::Mysql['app2']",
    );
    repo.commit("app2's web servers listen on 9090");
    let plan = repo.plan_json();
    assert_eq!(
        change_lines(&plan),
        [
            "change Lamp::Webapp[app2-1]@dev2.example.net",
            "change Lamp::Webapp[app2-2]@dev3.example.net",
            "change Lamp::Webapp[app2-3]@dev4.example.net",
        ]
    );
    assert_eq!(groups(&plan), [["dev2.example.net", "dev3.example.net", "dev4.example.net"]]);
    repo.ordo(&["apply", "--yes"]).success();
    assert!(repo.read(".ordo/nodes/dev4.example.net/webapp-app2-3.conf").starts_with("listen = 9090\n"));
    assert!(repo.read(".ordo/nodes/dev4.example.net/webapp-app1-3.conf").starts_with("listen = 8080\n"));
}

#[test]
fn a_change_to_one_defined_type_runs_only_its_nodes() {
    let repo = lamp_puppet();
    repo.ordo(&["apply", "--yes"]).success();
    repo.edit("modules/lamp/manifests/webapp.pp", "listen = ${port}", "listen = ${port}\\nworkers = 4");
    repo.commit("web servers get four workers");
    let plan = repo.plan_json();
    let lines = change_lines(&plan);
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(lines.iter().all(|line| line.starts_with("change Lamp::Webapp[")), "{lines:?}");
    assert_eq!(plan["changes"][0]["reasons"], serde_json::json!(["code"]));
    assert_eq!(groups(&plan), [["dev2.example.net", "dev3.example.net", "dev4.example.net"]]);
    repo.ordo(&["apply", "--yes"]).success();
    assert!(repo.read(".ordo/nodes/dev2.example.net/webapp-app1-1.conf").contains("workers = 4\n"));
}

#[test]
fn a_puppet_failure_stops_before_the_next_group() {
    let repo = lamp_puppet();
    repo.edit("modules/lamp/manifests/mysql.pp", ") {\n", ") {\n  if $title == 'app2' { fail('the disk is full') }\n");
    repo.commit("a database that fails");
    let run = repo.ordo(&["apply", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("the disk is full"), "{}", run.stdout);
    assert!(run.stdout.contains("puppet apply failed (exit 1)") || run.stderr.contains("puppet apply failed (exit 1)"));
    assert!(run.stdout.contains("1 later group not started"), "{}", run.stdout);
    assert!(!repo.path().join(".ordo/nodes/dev2.example.net").exists());
    // The node's catalog failed as a whole, so everything is still to do.
    assert_eq!(change_lines(&repo.plan_json()).len(), 8);
}

#[test]
fn the_lowered_module_path_is_valid_puppet_7() {
    let repo = lamp_puppet();
    repo.ordo(&["apply", "--yes", "--nodes", "dev1.example.net"]).success();
    let lowered = std::fs::read_dir(repo.path().join(".ordo/puppet")).unwrap().next().unwrap().unwrap().path();
    let init = lowered.join("modules/lamp/manifests/init.pp");
    let text = std::fs::read_to_string(&init).unwrap();
    let original = repo.read("modules/lamp/manifests/init.pp");
    assert_eq!(text.lines().count(), original.lines().count(), "line numbers are kept");
    assert!(!text.contains("application lamp") && !text.contains("Lamp::Mysql produces"), "{text}");
    assert!(text.starts_with("# The lamp application"), "comments are kept");
    let status = std::process::Command::new("puppet")
        .args(["parser", "validate", "--vardir", &repo.path().join("pv").display().to_string()])
        .arg(&init)
        .arg(lowered.join("modules/lamp/manifests/webapp.pp"))
        .status()
        .unwrap();
    assert!(status.success());
}

/// Node definitions in the main manifest: the LAMP site with a node definition for the
/// database node and one for a fifth node that has no components.
fn lamp_with_node_definitions() -> Repo {
    let repo = Repo::example("lamp-puppet");
    repo.write(
        "manifests/nodes.pp",
        "# Node definitions, applied with the components of each node's run.\n\
         node 'dev1.example.net' {\n  file { \"${facts['ordo_node_dir']}/motd\": content => \"database node\\n\" }\n}\n\
         node /^dev5\\./ {\n  file { \"${facts['ordo_node_dir']}/motd\": content => \"spare node ${trusted['certname']}\\n\" }\n}\n",
    );
    let inventory = repo.read("inventory.yaml");
    repo.write(
        "inventory.yaml",
        &format!(
            "{inventory}  - name: dev5.example.net\n    facts: {{fqdn: dev5.example.net, ipaddress: 10.0.0.15}}\n"
        ),
    );
    repo.git_init();
    repo.commit("lamp with node definitions");
    repo
}

#[test]
fn a_node_definition_and_its_components_are_applied_in_one_run() {
    let repo = lamp_with_node_definitions();
    let run = repo.ordo(&["apply", "--yes", "--nodes", "dev1.example.net"]).success();
    assert!(run.stdout.contains("Success: 1 node in 1 group"), "{}", run.stdout);
    assert_eq!(repo.read(".ordo/nodes/dev1.example.net/motd"), "database node\n");
    assert!(repo.read(".ordo/nodes/dev1.example.net/mysql-app1.conf").starts_with("[mysqld]\n"));
    let job = repo.ordo(&["job", "show", "1"]).success().stdout;
    assert_eq!(job.matches("==> puppet apply:").count(), 1, "one run applies both: {job}");
    assert!(job.contains("/Stage[main]/Main/Node[dev1.example.net]/File["), "{job}");
    assert!(job.contains("/Stage[main]/Main/Lamp::Mysql[app1]/File["), "{job}");
}

#[test]
fn a_node_with_only_a_node_definition_is_part_of_a_job() {
    let repo = lamp_with_node_definitions();
    let plan = repo.plan_json();
    assert!(change_lines(&plan).contains(&"add Node[dev5.example.net]@dev5.example.net".to_string()), "{plan}");
    let show = repo.ordo(&["show", "--format", "json"]).success().json();
    assert_eq!(show["nodes"]["dev5.example.net"], serde_json::json!(["Node[dev5.example.net]"]));
    repo.ordo(&["apply", "--yes", "--nodes", "dev5.example.net"]).success();
    assert_eq!(repo.read(".ordo/nodes/dev5.example.net/motd"), "spare node dev5.example.net\n");
    // Nothing else ran, and the node's catalog is now applied.
    assert!(!repo.path().join(".ordo/nodes/dev1.example.net").exists());
    assert!(!change_lines(&repo.plan_json()).iter().any(|line| line.contains("dev5")));
}

#[test]
fn a_site_value_taken_from_hiera_flows_into_a_consumer() {
    let repo = Repo::example("lamp-puppet");
    repo.write(
        "hiera.yaml",
        "version: 5\ndefaults:\n  datadir: data\n  data_hash: yaml_data\nhierarchy:\n  - name: Per application\n    path: \"apps/%{app}.yaml\"\n  - name: Common\n    path: common.yaml\n",
    );
    repo.write("data/common.yaml", "lamp::db_user: common_user\nlamp::web_port: 8080\n");
    repo.write("data/apps/app2.yaml", "lamp::db_user: app2_owner\n");
    repo.edit(
        "manifests/site.pp",
        "site {\n  lamp { 'app1':\n    db_user       => 'user',",
        "$app = 'app2'\nsite {\n  lamp { 'app1':\n    db_user       => 'user',",
    );
    repo.edit(
        "manifests/site.pp",
        "  lamp { 'app2':\n    db_user       => 'user',",
        "  lamp { 'app2':\n    db_user       => lookup('lamp::db_user'),\n    web_port      => lookup('lamp::web_port', Integer),",
    );
    repo.git_init();
    repo.commit("app2's user from Hiera");
    let show = repo.ordo(&["show", "--format", "json"]).success().json();
    assert_eq!(show["capabilities"]["Sql[app2]"]["attributes"]["user"], "app2_owner");
    assert_eq!(show["components"]["Lamp::Webapp[app2-1]"]["parameters"]["db_user"], "app2_owner");
    assert_eq!(show["components"]["Lamp::Webapp[app2-1]"]["parameters"]["db_password"], "(sensitive)");
    repo.ordo(&["apply", "--yes"]).success();
    assert_eq!(
        repo.read(".ordo/nodes/dev3.example.net/webapp-app2-2.conf"),
        "listen = 8080\ndatabase_url = mysql://app2_owner@dev1.example.net:3306/app2\n"
    );
}

#[test]
fn a_hiera_value_that_lookup_options_convert_to_sensitive_stays_secret() {
    let repo = Repo::fixture(
        "//- inventory.yaml
nodes:
  - name: db.example.com
//- hiera.yaml
---
version: 5
hierarchy:
  - name: common
    path: common.yaml
//- data/common.yaml
---
lookup_options:
  '^shop::db::.*password$':
    convert_to: Sensitive
shop::db::password: hunter2-from-hiera
//- modules/shop/manifests/db.pp
class shop::db(String $password) { }
//- modules/shop/manifests/init.pp
application shop() {
  class { 'shop::db': }
}
//- manifests/site.pp
site {
  shop { 'store':
    nodes => { Node['db.example.com'] => Class['shop::db'] },
  }
}
",
    );
    let show = repo.ordo(&["show", "--format", "json"]).success().json();
    assert_eq!(show["components"]["Class[Shop::Db]"]["parameters"]["password"], "(sensitive)", "{show}");
    let plan = repo.ordo(&["plan", "--format", "json"]).success().stdout;
    assert!(plan.contains("Class[Shop::Db]") && !plan.contains("hunter2"), "{plan}");
}

#[test]
fn a_change_to_a_class_a_node_definition_includes_runs_that_node_again() {
    let repo = lamp_with_node_definitions();
    repo.edit("manifests/nodes.pp", "node /^dev5\\./ {\n", "node /^dev5\\./ {\n  include lamp::banner\n");
    repo.write(
        "modules/lamp/manifests/banner.pp",
        "class lamp::banner {\n  file { \"${facts['ordo_node_dir']}/banner\": content => \"v1\\n\" }\n}\n",
    );
    repo.commit("dev5 gets a banner");
    repo.ordo(&["apply", "--yes", "--nodes", "dev5.example.net"]).success();
    assert_eq!(repo.read(".ordo/nodes/dev5.example.net/banner"), "v1\n");
    assert!(!change_lines(&repo.plan_json()).iter().any(|line| line.contains("dev5")));

    // Only the module's class changes: the node's catalog is out of date all the same.
    repo.edit("modules/lamp/manifests/banner.pp", "v1", "v2");
    repo.commit("a new banner");
    let plan = repo.plan_json();
    assert!(change_lines(&plan).contains(&"change Node[dev5.example.net]@dev5.example.net".to_string()), "{plan}");
    repo.ordo(&["apply", "--yes", "--nodes", "dev5.example.net"]).success();
    assert_eq!(repo.read(".ordo/nodes/dev5.example.net/banner"), "v2\n");
}

#[test]
fn upgrading_a_module_a_defined_type_uses_runs_only_its_components() {
    let repo = Repo::example("lamp-puppet");
    repo.edit("modules/lamp/manifests/mysql.pp", ") {\n", ") {\n  include tuning\n");
    repo.write(
        "modules/tuning/manifests/init.pp",
        "class tuning {\n  file { \"${facts['ordo_node_dir']}/tuning.conf\": content => \"v1\\n\" }\n}\n",
    );
    repo.git_init();
    repo.commit("the databases are tuned");
    repo.ordo(&["apply", "--yes"]).success();
    assert_eq!(repo.read(".ordo/nodes/dev1.example.net/tuning.conf"), "v1\n");

    // A new version of the module: the databases, which include it, run again; nothing else.
    repo.edit("modules/tuning/manifests/init.pp", "v1", "v2");
    repo.commit("tuning v2");
    let plan = repo.plan_json();
    assert_eq!(
        change_lines(&plan),
        ["change Lamp::Mysql[app1]@dev1.example.net", "change Lamp::Mysql[app2]@dev1.example.net"]
    );
    assert_eq!(plan["changes"][0]["reasons"], serde_json::json!(["code"]));
    repo.ordo(&["apply", "--yes"]).success();
    assert_eq!(repo.read(".ordo/nodes/dev1.example.net/tuning.conf"), "v2\n");
}

#[test]
fn a_change_to_a_class_a_node_definition_includes_runs_the_components_beside_it() {
    let repo = lamp_with_node_definitions();
    repo.edit(
        "manifests/nodes.pp",
        "node 'dev1.example.net' {\n",
        "node 'dev1.example.net' {\n  include lamp::banner\n",
    );
    repo.write("manifests/default.pp", "node default { }\n");
    repo.write(
        "modules/lamp/manifests/banner.pp",
        "class lamp::banner {\n  file { \"${facts['ordo_node_dir']}/banner\": content => \"v1\\n\" }\n}\n",
    );
    repo.commit("dev1 gets a banner");
    repo.ordo(&["apply", "--yes"]).success();
    assert_eq!(repo.read(".ordo/nodes/dev1.example.net/banner"), "v1\n");

    // A node's catalog has its node definition and its components: dev1's run again. The
    // web nodes' definition does not include the class; dev5's catalog is its definition.
    repo.edit("modules/lamp/manifests/banner.pp", "v1", "v2");
    repo.commit("a new banner");
    assert_eq!(
        change_lines(&repo.plan_json()),
        [
            "change Lamp::Mysql[app1]@dev1.example.net",
            "change Lamp::Mysql[app2]@dev1.example.net",
            "change Node[dev5.example.net]@dev5.example.net",
        ]
    );
    repo.ordo(&["apply", "--yes"]).success();
    assert_eq!(repo.read(".ordo/nodes/dev1.example.net/banner"), "v2\n");
}
