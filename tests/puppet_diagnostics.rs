//! The checks Puppet's compiler made on application-orchestration code, and what it left to
//! the orchestrator (node cycles), on `examples/lamp-puppet` broken one way at a time.
//! Snapshots of what users read; update with `UPDATE_EXPECT=1 cargo test`.

mod support;

use expect_test::{Expect, expect};
use support::Repo;

/// Breaks the example with `edit` and checks `validate` refuses it with these diagnostics.
#[track_caller]
fn check(edit: impl FnOnce(&Repo), expected: Expect) {
    let repo = Repo::example("lamp-puppet");
    edit(&repo);
    let run = repo.ordo(&["validate"]);
    assert_eq!(run.code, 1, "validate must fail\n{}", run.stderr);
    let plan = repo.ordo(&["plan"]);
    assert_eq!(plan.code, 1);
    assert!(!repo.state().exists(), "a refused plan creates no state");
    expected.assert_eq(&run.stderr);
}

const SITE: &str = "manifests/site.pp";
const INIT: &str = "modules/lamp/manifests/init.pp";

#[test]
fn syntax_errors_are_all_reported() {
    check(
        |repo| {
            repo.edit(INIT, "  String  $db_user,", "  String  $db_user");
            repo.edit(INIT, "    db_user     => $db_user,", "    db_user     => $db_user");
        },
        expect![[r#"
            error: Syntax error at 'String'
              ┌─ modules/lamp/manifests/init.pp:4:3
              │
            4 │   String  $db_password,
              │   ^^^^^^

            error: Syntax error at 'db_password'
               ┌─ modules/lamp/manifests/init.pp:11:5
               │
            11 │     db_password => $db_password,
               │     ^^^^^^^^^^^

            error: 2 problems found in .
        "#]],
    );
}

#[test]
fn component_without_an_assigned_node() {
    check(
        |repo| repo.edit(SITE, "      Node['dev4.example.net'] => Lamp::Webapp['app1-3'],\n", ""),
        expect![[r#"
            error: Application Lamp[app1] has components without assigned nodes: Lamp::Webapp[app1-3] (file: manifests/site.pp, line: 4)
              ┌─ manifests/site.pp:4:10
              │
            4 │   lamp { 'app1':
              │          ^^^^^^^

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn node_assigned_to_a_non_existent_component() {
    check(
        |repo| {
            repo.edit(
                SITE,
                "Node['dev4.example.net'] => Lamp::Webapp['app1-3'],",
                "Node['dev4.example.net'] => [Lamp::Webapp['app1-3'], Lamp::Webapp['app1-9']],",
            )
        },
        expect![[r#"
            error: Application Lamp[app1] assigns nodes to non-existent components: Lamp::Webapp[app1-9] (file: manifests/site.pp, line: 4)
              ┌─ manifests/site.pp:4:10
              │
            4 │   lamp { 'app1':
              │          ^^^^^^^
              │
              = did you mean `Lamp::Webapp[app1-1]`?

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn component_mapped_to_two_nodes() {
    check(
        |repo| {
            repo.edit(
                SITE,
                "Node['dev4.example.net'] => Lamp::Webapp['app1-3'],",
                "Node['dev4.example.net'] => [Lamp::Webapp['app1-3'], Lamp::Webapp['app1-2']],",
            )
        },
        expect![[r#"
            error: Application Lamp[app1] assigns multiple nodes to component Lamp::Webapp[app1-2] (file: manifests/site.pp, line: 4)
              ┌─ manifests/site.pp:4:10
              │
            4 │   lamp { 'app1':
              │          ^^^^^^^

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn capability_consumed_but_never_exported() {
    check(
        |repo| repo.edit(INIT, "      consume => Sql[$name],", "      consume => Sql[\"${name}-db\"],"),
        expect![[r#"
            error: Capability 'Sql[app1-db]' referenced by 'consume' is never exported (file: modules/lamp/manifests/init.pp, line: 17)
               ┌─ modules/lamp/manifests/init.pp:17:20
               │
            17 │     lamp::webapp { "${name}-${i}":
               │                    ^^^^^^^^^^^^^^^
               │
               = wanted by Lamp::Webapp[app1-1], Lamp::Webapp[app1-2], Lamp::Webapp[app1-3]

            error: Capability 'Sql[app2-db]' referenced by 'consume' is never exported (file: modules/lamp/manifests/init.pp, line: 17)
               ┌─ modules/lamp/manifests/init.pp:17:20
               │
            17 │     lamp::webapp { "${name}-${i}":
               │                    ^^^^^^^^^^^^^^^
               │
               = wanted by Lamp::Webapp[app2-1], Lamp::Webapp[app2-2], Lamp::Webapp[app2-3]

            error: 2 problems found in .
        "#]],
    );
}

#[test]
fn capability_exported_twice() {
    check(
        |repo| {
            repo.edit(INIT, "    export      => Sql[$name],", "    export      => Sql['shared'],");
            repo.edit(INIT, "      consume => Sql[$name],", "      consume => Sql['shared'],");
        },
        expect![[r#"
            error: 'Sql[shared]' is exported by both 'Lamp::Mysql[app1]' and 'Lamp::Mysql[app2]' (file: modules/lamp/manifests/init.pp, line: 9)
              ┌─ modules/lamp/manifests/init.pp:9:17
              │
            9 │   lamp::mysql { $name:
              │                 ^^^^^^

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn invalid_node_mappings() {
    check(
        |repo| {
            repo.edit(
                SITE,
                "      Node['dev1.example.net'] => Lamp::Mysql['app1'],",
                "      'dev1.example.net' => Lamp::Mysql['app1'],",
            );
            repo.edit(
                SITE,
                "      Node['dev4.example.net'] => Lamp::Webapp['app2-3'],",
                "      Node['dev4.example.net'] => 'app2-3',",
            );
        },
        expect![[r#"
            error: Invalid node mapping in Lamp[app1]: Key dev1.example.net is not a Node
              ┌─ manifests/site.pp:4:10
              │
            4 │   lamp { 'app1':
              │          ^^^^^^^

            error: Invalid node mapping in Lamp[app2]: Value app2-3 is not a resource
               ┌─ manifests/site.pp:16:10
               │
            16 │   lamp { 'app2':
               │          ^^^^^^^

            error: 2 problems found in .
        "#]],
    );
}

#[test]
fn non_components_inside_a_site() {
    check(
        |repo| repo.edit(SITE, "site {\n", "site {\n  notify { 'hello': }\n"),
        expect![[r#"
            error: Only application components can appear inside a site - Notify[hello] is not allowed (file: manifests/site.pp, line: 4)
              ┌─ manifests/site.pp:4:12
              │
            4 │   notify { 'hello': }
              │            ^^^^^^^^

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn mapping_for_an_unknown_component() {
    check(
        |repo| repo.edit(INIT, "Lamp::Webapp consumes Sql {", "Lamp::Webap consumes Sql {"),
        expect![[r#"
            error: consumes clause references nonexistent type Lamp::Webap
               ┌─ modules/lamp/manifests/init.pp:34:1
               │
            34 │ Lamp::Webap consumes Sql {
               │ ^^^^^^^^^^^
               │
               = did you mean `lamp::webapp`?

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn node_cycle_with_the_whole_cycle() {
    check(
        |repo| {
            repo.edit(
                SITE,
                "Node['dev1.example.net'] => Lamp::Mysql['app2'],",
                "Node['dev2.example.net'] => Lamp::Mysql['app2'],",
            );
            repo.edit(
                SITE,
                "Node['dev2.example.net'] => Lamp::Webapp['app2-1'],",
                "Node['dev1.example.net'] => Lamp::Webapp['app2-1'],",
            );
        },
        expect![[r#"
            error: node cycle: dev1.example.net -> dev2.example.net -> dev1.example.net
             = dev1.example.net -> dev2.example.net: Lamp::Webapp[app1-1] consumes Sql[app1] from Lamp::Mysql[app1]
             = dev2.example.net -> dev1.example.net: Lamp::Webapp[app2-1] consumes Sql[app2] from Lamp::Mysql[app2]
             = a node cannot run both before and after another; move one of these components

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn wrong_types_unknown_and_missing_parameters() {
    check(
        |repo| {
            repo.edit(SITE, "    web_instances => 3,\n    nodes         => {\n      Node['dev1.example.net'] => Lamp::Mysql['app1']", "    web_instances => 'three',\n    nodes         => {\n      Node['dev1.example.net'] => Lamp::Mysql['app1']");
            repo.edit(
                SITE,
                "  lamp { 'app2':\n    db_user       => 'user',",
                "  lamp { 'app2':\n    db_usr        => 'user',",
            );
        },
        expect![[r#"
            error: Evaluation Error: Error while evaluating a Resource Statement, Lamp[app1]: parameter 'web_instances' expects an Integer value, got String (file: manifests/site.pp, line: 4)
              ┌─ manifests/site.pp:4:10
              │
            4 │   lamp { 'app1':
              │          ^^^^^^^

            error: Evaluation Error: Error while evaluating a Resource Statement, Lamp[app2]: has no parameter named 'db_usr' (file: manifests/site.pp, line: 16)
               ┌─ manifests/site.pp:16:10
               │
            16 │   lamp { 'app2':
               │          ^^^^^^^

            error: Evaluation Error: Error while evaluating a Resource Statement, Lamp[app2]: expects a value for parameter 'db_user' (file: manifests/site.pp, line: 16)
               ┌─ manifests/site.pp:16:10
               │
            16 │   lamp { 'app2':
               │          ^^^^^^^

            error: 3 problems found in .
        "#]],
    );
}

#[test]
fn unknown_component_type_in_an_application() {
    check(
        |repo| repo.edit(INIT, "  lamp::mysql { $name:", "  lamp::mysqll { $name:"),
        expect![[r#"
            error: Evaluation Error: Error while evaluating a Resource Statement, Unknown resource type: 'lamp::mysqll' (file: modules/lamp/manifests/init.pp, line: 9, column: 18)
              ┌─ modules/lamp/manifests/init.pp:9:18
              │
            9 │   lamp::mysqll { $name:
              │                  ^^^^^^
              │
              = did you mean `lamp::mysql`?

            error: Evaluation Error: Error while evaluating a Resource Statement, Unknown resource type: 'lamp::mysqll' (file: modules/lamp/manifests/init.pp, line: 9, column: 18)
              ┌─ modules/lamp/manifests/init.pp:9:18
              │
            9 │   lamp::mysqll { $name:
              │                  ^^^^^^
              │
              = did you mean `lamp::mysql`?

            error: Application Lamp[app1] assigns nodes to non-existent components: Lamp::Mysql[app1] (file: manifests/site.pp, line: 4)
              ┌─ manifests/site.pp:4:10
              │
            4 │   lamp { 'app1':
              │          ^^^^^^^

            error: Application Lamp[app2] assigns nodes to non-existent components: Lamp::Mysql[app2] (file: manifests/site.pp, line: 16)
               ┌─ manifests/site.pp:16:10
               │
            16 │   lamp { 'app2':
               │          ^^^^^^^

            error: 4 problems found in .
        "#]],
    );
}

#[test]
fn unknown_capability_attribute() {
    check(
        |repo| repo.edit(INIT, "  host     => $facts['fqdn'],", "  hots     => $facts['fqdn'],"),
        expect![[r#"
            warning: capability type Sql has no parameter 'hots': Puppet ignores this entry of the mapping
               ┌─ modules/lamp/manifests/init.pp:28:3
               │
            28 │   hots     => $facts['fqdn'],
               │   ^^^^
               │
               = did you mean `host`?

            error: Evaluation Error: Error while evaluating a Resource Statement, Lamp::Webapp[app1-1]: expects a value for parameter 'db_host' (file: modules/lamp/manifests/init.pp, line: 17)
               ┌─ modules/lamp/manifests/init.pp:17:20
               │
            17 │     lamp::webapp { "${name}-${i}":
               │                    ^^^^^^^^^^^^^^^

            error: Evaluation Error: Error while evaluating a Resource Statement, Lamp::Webapp[app1-2]: expects a value for parameter 'db_host' (file: modules/lamp/manifests/init.pp, line: 17)
               ┌─ modules/lamp/manifests/init.pp:17:20
               │
            17 │     lamp::webapp { "${name}-${i}":
               │                    ^^^^^^^^^^^^^^^

            error: Evaluation Error: Error while evaluating a Resource Statement, Lamp::Webapp[app1-3]: expects a value for parameter 'db_host' (file: modules/lamp/manifests/init.pp, line: 17)
               ┌─ modules/lamp/manifests/init.pp:17:20
               │
            17 │     lamp::webapp { "${name}-${i}":
               │                    ^^^^^^^^^^^^^^^

            error: Evaluation Error: Error while evaluating a Resource Statement, Lamp::Webapp[app2-1]: expects a value for parameter 'db_host' (file: modules/lamp/manifests/init.pp, line: 17)
               ┌─ modules/lamp/manifests/init.pp:17:20
               │
            17 │     lamp::webapp { "${name}-${i}":
               │                    ^^^^^^^^^^^^^^^

            error: Evaluation Error: Error while evaluating a Resource Statement, Lamp::Webapp[app2-2]: expects a value for parameter 'db_host' (file: modules/lamp/manifests/init.pp, line: 17)
               ┌─ modules/lamp/manifests/init.pp:17:20
               │
            17 │     lamp::webapp { "${name}-${i}":
               │                    ^^^^^^^^^^^^^^^

            error: Evaluation Error: Error while evaluating a Resource Statement, Lamp::Webapp[app2-3]: expects a value for parameter 'db_host' (file: modules/lamp/manifests/init.pp, line: 17)
               ┌─ modules/lamp/manifests/init.pp:17:20
               │
            17 │     lamp::webapp { "${name}-${i}":
               │                    ^^^^^^^^^^^^^^^

            error: 6 problems found in .
        "#]],
    );
}

#[test]
fn puppetfile_module_not_installed() {
    check(
        |repo| repo.write("Puppetfile", "forge 'https://forge.puppet.com'\nmod 'puppetlabs/stdlib', '9.4.1'\n"),
        expect![[r#"
        error: module stdlib (puppetlabs/stdlib) is declared in the Puppetfile but not installed
          ┌─ Puppetfile:2:1
          │
        2 │ mod 'puppetlabs/stdlib', '9.4.1'
          │ ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
          │
          = looked in site-modules, modules; vendor it there, or run `r10k puppetfile install` before ordo

        error: 1 problem found in .
    "#]],
    );
}

#[test]
fn evaluation_errors_in_application_code() {
    check(
        |repo| {
            repo.edit(
                INIT,
                "  range(1, $web_instances)",
                "  if $web_instances > 2 { fail('too many web servers') }\n  range(1, $web_instances)",
            )
        },
        expect![[r#"
            error: Evaluation Error: Error while evaluating a Function Call, too many web servers (file: modules/lamp/manifests/init.pp, line: 16, column: 27)
               ┌─ modules/lamp/manifests/init.pp:16:27
               │
            16 │   if $web_instances > 2 { fail('too many web servers') }
               │                           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^

            error: Evaluation Error: Error while evaluating a Function Call, too many web servers (file: modules/lamp/manifests/init.pp, line: 16, column: 27)
               ┌─ modules/lamp/manifests/init.pp:16:27
               │
            16 │   if $web_instances > 2 { fail('too many web servers') }
               │                           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^

            error: 2 problems found in .
        "#]],
    );
}

/// `validate` on `.pp` files is a syntax check that knows the orchestration statements.
#[test]
fn validate_checks_puppet_files() {
    let repo = Repo::example("lamp-puppet");
    let ok = repo.ordo(&["validate", "modules", "manifests/site.pp"]).success();
    assert_eq!(ok.stdout, "4 Puppet files valid\n");
    repo.edit("modules/lamp/manifests/webapp.pp", "String            $db_name,", "String            $db_name");
    let bad = repo.ordo(&["validate", "modules"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("modules/lamp/manifests/webapp.pp:4:"), "{}", bad.stderr);
}

/// The environment graph round-trips: exported, then read back, it gives the same plan.
#[test]
fn environment_graphs_round_trip() {
    let repo = Repo::example("lamp-puppet");
    let graph = repo.ordo(&["show", "--format", "env-graph"]).success().stdout;
    let parsed: serde_json::Value = serde_json::from_str(&graph).unwrap();
    assert_eq!(
        parsed["applications"]["Lamp[app1]"]["Lamp::Webapp[app1-2]"],
        serde_json::json!({"produces": [], "consumes": ["Sql[app1]"], "node": "dev3.example.net"})
    );
    repo.write("graph.json", &graph);
    let from_code = repo.ordo(&["show", "--format", "json"]).success().json();
    let from_graph = repo.ordo(&["show", "graph.json", "--format", "json"]).success().json();
    for key in ["applications", "nodes", "edges", "groups"] {
        assert_eq!(from_code[key], from_graph[key], "{key}");
    }
    // Components from a graph have no code: they can be planned, not run.
    let run = repo.ordo(&["apply", "graph.json", "--yes"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("comes from an environment graph"), "{}", run.stderr);
}

/// Capability types can be declared in `ordo.yaml` instead of a Ruby type file.
#[test]
fn capability_types_declared_in_ordo_yaml() {
    let repo = Repo::example("lamp-puppet");
    let before = repo.ordo(&["show", "--format", "json"]).success().json();
    repo.remove("modules/lamp/lib/puppet/type/sql.rb");
    repo.write("ordo.yaml", "capabilities:\n  Sql:\n    attributes: [user, password, host, port, database]\n");
    let after = repo.ordo(&["show", "--format", "json"]).success().json();
    assert_eq!(before, after);
    repo.write("ordo.yaml", "capabilities:\n  Sql:\n    attributes: [user, password, port, database]\n");
    let run = repo.ordo(&["validate"]);
    assert_eq!(run.code, 1);
    // Puppet ignores a mapping entry that is not a parameter of the capability type, so the
    // consumers miss the value.
    assert!(
        run.stderr.contains("warning: capability type Sql has no parameter 'host': Puppet ignores this entry"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Lamp::Webapp[app1-1]: expects a value for parameter 'db_host'"), "{}", run.stderr);
}

/// Node definitions that leave out a node with components: Puppet would refuse its catalog,
/// so the plan warns (and still plans).
#[test]
fn nodes_no_node_definition_matches() {
    let repo = Repo::example("lamp-puppet");
    repo.write("manifests/nodes.pp", "node 'dev1.example.net', /^dev2\\./ {\n  notify { 'hello': }\n}\n");
    let run = repo.ordo(&["validate"]).success();
    expect![[r#"
        warning: 2 nodes have components but no node definition matches them: dev3.example.net, dev4.example.net; Puppet refuses such a node's catalog (Could not find node statement with name 'default' or 'dev3.example.net')
          ┌─ manifests/nodes.pp:1:6
          │
        1 │ node 'dev1.example.net', /^dev2\./ {
          │      ^^^^^^^^^^^^^^^^^^
          │
          = add a node definition that matches each, or `node default { }`

    "#]].assert_eq(&run.stderr);
    repo.write("manifests/nodes.pp", "node default { }\n");
    let run = repo.ordo(&["validate"]).success();
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}
