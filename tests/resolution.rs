//! How parameters resolve: defaults, profiles, overrides, capability values, interpolation.
//! Each test loads a small fixture and reads the resolved parameters from the plan's diffs.

mod support;

use support::Repo;

const FIXTURE: &str = r#"
//- inventory.yaml
nodes:
  - name: a
    facts: {fqdn: a.example.net}
  - name: b
//- site.yaml
instances:
  - application: kit
    title: one
    profile: big
    parameters: {greeting: hello}
    nodes:
      a: Kit::Server[one]
      b: Kit::Client[one]
//- packages/kit/package.yaml
name: kit
version: 0.1.0
parameters:
  greeting: string
  size: {type: integer, default: 1}
  label: string
profiles:
  big: {size: 10}
capabilities:
  Api:
    attributes:
      url: string
      region: {type: string, default: eu}
components:
  Kit::Server:
    parameters:
      port: {type: integer, default: 8000}
      url: {type: string, default: "http://${facts.fqdn}:${port}/${path}"}
      path: {type: string, default: "${greeting}/v1"}
      greeting: string
      size: integer
      label: {type: string, default: unlabelled}
    produces:
      Api: {url: "${url}"}
    scripts: {apply: scripts/run}
  Kit::Client:
    parameters:
      endpoint: string
      region: string
    consumes:
      Api: {endpoint: "${url}", region: "${region}"}
    scripts: {apply: scripts/run}
application:
  name: kit
  components:
    - component: Kit::Server
      title: "${title}"
      parameters: {greeting: "${greeting}", size: "${size}", label: "${label}"}
      export: Api[${title}]
    - component: Kit::Client
      title: "${title}"
      consume: Api[${title}]
//- packages/kit/scripts/run
#!/bin/sh
cp "$ORDO_PACKAGE_DIR/files/motd" "motd-$ORDO_TITLE"
//- packages/kit/files/motd
served by ordo
"#;

fn diff_of(plan: &serde_json::Value, component: &str) -> String {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|change| change["component"] == component)
        .unwrap_or_else(|| panic!("no change for {component}"))["diff"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn defaults_refer_to_each_other_and_unset_values_fall_back_to_them() {
    let repo = Repo::fixture(FIXTURE);
    let plan = repo.plan_json();
    let server = diff_of(&plan, "Kit::Server[one]");
    // `url` needs `path`, which needs `greeting`: resolved in passes, not in name order.
    assert!(server.contains("+url = \"http://a.example.net:8000/hello/v1\"\n"), "{server}");
    // `label` is unset in the site, so its interpolation is null and the default applies.
    assert!(server.contains("+label = \"unlabelled\"\n"), "{server}");
    // The profile wins over the package default.
    assert!(server.contains("+size = 10\n"), "{server}");
    let client = diff_of(&plan, "Kit::Client[one]");
    assert!(client.contains("+endpoint = \"http://a.example.net:8000/hello/v1\"\n"), "{client}");
    // The capability type's default fills an attribute the mapping leaves out.
    assert!(client.contains("+region = \"eu\"\n"), "{client}");
}

#[test]
fn scripts_run_from_their_package_with_the_files_beside_them() {
    let repo = Repo::fixture(FIXTURE);
    repo.ordo(&["apply", "--yes"]).success();
    assert_eq!(repo.read(".ordo/nodes/b/motd-one"), "served by ordo\n");
    // A change to any file of the package is a code change of its components.
    repo.write("packages/kit/files/motd", "served by ordo, again\n");
    let plan = repo.plan_json();
    let reasons: Vec<&serde_json::Value> =
        plan["changes"].as_array().unwrap().iter().map(|change| &change["reasons"]).collect();
    assert_eq!(reasons, [&serde_json::json!(["code"]), &serde_json::json!(["code"])]);
    repo.ordo(&["apply", "--yes"]).success();
    assert_eq!(repo.read(".ordo/nodes/b/motd-one"), "served by ordo, again\n");
}

#[test]
fn nodes_missing_from_the_inventory_are_refused_before_anything_runs() {
    let repo = Repo::fixture(FIXTURE);
    repo.edit("inventory.yaml", "  - name: b\n", "");
    let run = repo.ordo(&["apply", "--yes"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("unknown node b: it is not in inventory.yaml"), "{}", run.stderr);
    assert!(!repo.path().join(".ordo/nodes/a").exists(), "nothing may run");
}

#[test]
fn a_mapping_into_an_unknown_parameter_is_an_error() {
    let repo = Repo::fixture(FIXTURE);
    repo.edit("packages/kit/package.yaml", "Api: {endpoint: \"${url}\"", "Api: {endpont: \"${url}\"");
    let run = repo.ordo(&["validate"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("Kit::Client consumes Api: has no parameter named 'endpont'"), "{}", run.stderr);
    assert!(run.stderr.contains("did you mean `endpoint`?"), "{}", run.stderr);
}

/// A capability's availability check runs before its consumers' group, retrying until it
/// passes; when it never passes, the job stops before that group.
#[test]
fn availability_checks_gate_the_consumers_group() {
    let repo = Repo::fixture(FIXTURE);
    repo.edit(
        "packages/kit/package.yaml",
        "      region: {type: string, default: eu}\n",
        "      region: {type: string, default: eu}\n    check: {command: \"test -e ${ready_file}\", timeout: 3}\n",
    );
    repo.edit("packages/kit/package.yaml", "      url: string\n", "      url: string\n      ready_file: string\n");
    let ready = repo.path().join("ready");
    repo.edit(
        "packages/kit/package.yaml",
        "      Api: {url: \"${url}\"}",
        &format!("      Api: {{url: \"${{url}}\", ready_file: \"{}\"}}", ready.display()),
    );
    let run = repo.ordo(&["apply", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("Waiting for Api[one] to be available"), "{}", run.stderr);
    assert!(run.stdout.contains("Stopped: Api[one] is not available"), "{}", run.stdout);
    assert!(!repo.path().join(".ordo/nodes/b").exists(), "the consumer must not run");

    std::fs::write(&ready, "").unwrap();
    repo.ordo(&["apply", "--yes"]).success();
    assert!(repo.path().join(".ordo/nodes/b/motd-one").exists());
}

/// `gather_facts: true` asks Facter on the node (this machine, for a local node); the
/// inventory's own facts still win.
#[test]
fn facts_can_come_from_facter() {
    let repo = Repo::fixture(FIXTURE);
    repo.edit("inventory.yaml", "  - name: a\n", "  - name: a\n    gather_facts: true\n");
    repo.edit(
        "packages/kit/package.yaml",
        "      label: {type: string, default: unlabelled}\n",
        "      label: {type: string, default: unlabelled}\n      kernel: {type: string, default: \"${facts.kernel}\"}\n",
    );
    let server = diff_of(&repo.plan_json(), "Kit::Server[one]");
    assert!(server.contains("+kernel = \"Linux\"\n"), "{server}");
    assert!(server.contains("+url = \"http://a.example.net:8000/hello/v1\"\n"), "{server}");

    // Without Facter, the node's facts cannot be gathered, and that is said.
    let run = repo.ordo_env(&["validate"], &[("ORDO_FACTER", "/nonexistent/facter")]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("cannot gather the facts of node a"), "{}", run.stderr);
}

/// A node's timeout covers its whole run: a script still running then is killed, with
/// whatever it started, and the node fails.
#[test]
fn a_node_that_runs_too_long_is_stopped_and_fails() {
    let repo = Repo::fixture(FIXTURE);
    repo.edit("inventory.yaml", "  - name: a\n", "  - name: a\n    timeout: 1\n");
    repo.write("packages/kit/scripts/run", "#!/bin/sh\nsleep 30 &\nsleep 30\n");
    let started = std::time::Instant::now();
    let run = repo.ordo(&["apply", "--yes"]);
    assert_eq!(run.code, 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "the timeout was not enforced");
    assert!(run.stderr.contains("timed out after 1s"), "{}", run.stderr);
    assert!(run.stdout.contains("1 later group not started"), "{}", run.stdout);
}
