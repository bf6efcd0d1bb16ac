//! Snapshots of what users read: plans as text and Markdown, `show`, and the graph formats.
//! Update with `UPDATE_EXPECT=1 cargo test` and review the diff.

mod support;

use expect_test::{Expect, expect};
use support::Repo;

/// The LAMP example applied, then changed in every way a plan can show: a parameter that
/// flows from a database into its consumers, a secret, a new instance, a removed one, and
/// a component moved to another node.
fn changed_lamp() -> Repo {
    let repo = Repo::example("lamp");
    repo.ordo(&["apply", "--yes"]).success();
    repo.edit(
        "site.yaml",
        "    title: app1\n    parameters:\n",
        "    title: app1\n    parameters:\n      db_port: 3307\n",
    );
    let site = repo.lamp_site_without_app2();
    repo.write(
        "site.yaml",
        &format!(
            "{}{}",
            site,
            "  - application: lamp
    title: app3
    profile: small
    parameters:
      db_password: another-secret
    nodes:
      dev4.example.net: Lamp::Mysql[app3]
      dev2.example.net: Lamp::Webapp[app3-1]
"
        ),
    );
    repo.edit(
        "site.yaml",
        "      dev1.example.net: Lamp::Mysql[app1]\n",
        "      dev1.example.net:\n        - Lamp::Mysql[app1]\n        - Lamp::Webapp[app1-3]\n",
    );
    repo.edit("site.yaml", "      dev4.example.net: Lamp::Webapp[app1-3]\n", "");
    repo
}

#[track_caller]
fn check(args: &[&str], repo: &Repo, expected: Expect) {
    let run = repo.ordo(args).success();
    expected.assert_eq(&run.stdout);
}

#[test]
fn text_plan() {
    check(
        &["plan"],
        &changed_lamp(),
        expect![[r#"
        Plan for environment production
          Revision  working-tree
          Base      working-tree

        Application instances: 2
          - Lamp[app1]
          - Lamp[app3]

        Node run order (nodes in a group run at the same time; group 0 runs before group 1, etc.):
        0 -----------------------------------------------------------------------
        dev1.example.net
            ~ Lamp[app1] - Lamp::Mysql[app1]
                --- before
                +++ after
                @@ -1,4 +1,4 @@
                 database = "app1"
                 password = (sensitive)
                -port = 3306
                +port = 3307
                 user = "user"
            > Lamp[app1] - Lamp::Webapp[app1-3] (moved from dev4.example.net)
        dev4.example.net
            + Lamp[app3] - Lamp::Mysql[app3]

        1 -----------------------------------------------------------------------
        dev2.example.net
            ~ Lamp[app1] - Lamp::Webapp[app1-1]
                --- before
                +++ after
                @@ -2,5 +2,5 @@
                 db_name = "app1"
                 db_password = (sensitive)
                -db_port = 3306
                +db_port = 3307
                 db_user = "user"
                 port = 8080
            + Lamp[app3] - Lamp::Webapp[app3-1]
        dev3.example.net
            ~ Lamp[app1] - Lamp::Webapp[app1-2]
                --- before
                +++ after
                @@ -2,5 +2,5 @@
                 db_name = "app1"
                 db_password = (sensitive)
                -db_port = 3306
                +db_port = 3307
                 db_user = "user"
                 port = 8080

        Teardown (runs with --prune, after the groups above; consumers first):
        0 -----------------------------------------------------------------------
        dev2.example.net
            - Lamp[app2] - Lamp::Webapp[app2-1]
        dev3.example.net
            - Lamp[app2] - Lamp::Webapp[app2-2]
        dev4.example.net
            - Lamp[app1] - Lamp::Webapp[app1-3] (moved to dev1.example.net)
            - Lamp[app2] - Lamp::Webapp[app2-3]

        1 -----------------------------------------------------------------------
        dev1.example.net
            - Lamp[app2] - Lamp::Mysql[app2]

        Plan: 2 to add, 3 to change, 1 to move, 4 to remove; 4 nodes in 2 groups.
    "#]],
    );
}

#[test]
fn markdown_plan() {
    check(
        &["plan", "--format", "markdown"],
        &changed_lamp(),
        expect![[r####"
            ### ordo plan for `production`

            Revision `working-tree` against `working-tree`.

            **Plan: 2 to add, 3 to change, 1 to move, 4 to remove; 4 nodes in 2 groups.**

            #### Group 0

            - `dev1.example.net`
              - change `Lamp::Mysql[app1]` (`Lamp[app1]`)
              - move `Lamp::Webapp[app1-3]` (`Lamp[app1]`, moved from `dev4.example.net`)
            - `dev4.example.net`
              - add `Lamp::Mysql[app3]` (`Lamp[app3]`)

            #### Group 1

            - `dev2.example.net`
              - change `Lamp::Webapp[app1-1]` (`Lamp[app1]`)
              - add `Lamp::Webapp[app3-1]` (`Lamp[app3]`)
            - `dev3.example.net`
              - change `Lamp::Webapp[app1-2]` (`Lamp[app1]`)

            #### Teardown (with `--prune`, consumers first)

            - remove `Lamp::Webapp[app2-1]` from `dev2.example.net` (`Lamp[app2]`)
            - remove `Lamp::Webapp[app2-2]` from `dev3.example.net` (`Lamp[app2]`)
            - remove `Lamp::Webapp[app1-3]` from `dev4.example.net` (`Lamp[app1]`)
            - remove `Lamp::Webapp[app2-3]` from `dev4.example.net` (`Lamp[app2]`)
            - remove `Lamp::Mysql[app2]` from `dev1.example.net` (`Lamp[app2]`)

            <details><summary>Parameter changes</summary>

            `Lamp::Mysql[app1]` on `dev1.example.net`

            ```diff
            --- before
            +++ after
            @@ -1,4 +1,4 @@
             database = "app1"
             password = (sensitive)
            -port = 3306
            +port = 3307
             user = "user"
            ```

            `Lamp::Webapp[app1-1]` on `dev2.example.net`

            ```diff
            --- before
            +++ after
            @@ -2,5 +2,5 @@
             db_name = "app1"
             db_password = (sensitive)
            -db_port = 3306
            +db_port = 3307
             db_user = "user"
             port = 8080
            ```

            `Lamp::Webapp[app1-2]` on `dev3.example.net`

            ```diff
            --- before
            +++ after
            @@ -2,5 +2,5 @@
             db_name = "app1"
             db_password = (sensitive)
            -db_port = 3306
            +db_port = 3307
             db_user = "user"
             port = 8080
            ```

            </details>
        "####]],
    );
}

#[test]
fn plans_are_byte_identical_across_runs() {
    let repo = changed_lamp();
    for format in ["text", "json", "markdown"] {
        let first = repo.ordo(&["plan", "--format", format]).success().stdout;
        let second = repo.ordo(&["plan", "--format", format]).success().stdout;
        assert_eq!(first, second, "{format}");
    }
}

#[test]
fn show_text() {
    check(
        &["show"],
        &Repo::example("three-tier"),
        expect![[r#"
        Shop[shop]
          Shop::Db[shop] => db1.example.net
              + produces Sql[shop] for Shop::Web[shop-1]
              + produces Sql[shop] for Shop::Web[shop-2]
          Shop::Web[shop-1] => web1.example.net
              + produces Http[shop-1] for Shop::Lb[shop]
              consumes Sql[shop] from Shop::Db[shop]
          Shop::Web[shop-2] => web2.example.net
              + produces Http[shop-2] for Shop::Lb[shop]
              consumes Sql[shop] from Shop::Db[shop]
          Shop::Lb[shop] => lb1.example.net
              consumes Http[shop-1] from Shop::Web[shop-1]
              consumes Http[shop-2] from Shop::Web[shop-2]

        Node groups:
          0: db1.example.net
          1: web1.example.net, web2.example.net
          2: lb1.example.net
    "#]],
    );
}

#[test]
fn show_one_application() {
    let run = Repo::example("lamp").ordo(&["show", "--app", "Lamp[app2]", "--format", "json"]).success();
    let json = run.json();
    assert_eq!(json["applications"].as_array().unwrap().len(), 1);
    assert_eq!(json["applications"][0]["ref"], "Lamp[app2]");
    assert!(!run.stdout.contains("app1"));
}

#[test]
fn lamp_groups_match_the_documentation() {
    let json = Repo::example("lamp").ordo(&["show", "--format", "json"]).success().json();
    assert_eq!(
        json["groups"],
        serde_json::json!([["dev1.example.net"], ["dev2.example.net", "dev3.example.net", "dev4.example.net"]])
    );
    assert_eq!(json["nodes"]["dev1.example.net"], serde_json::json!(["Lamp::Mysql[app1]", "Lamp::Mysql[app2]"]));
    assert_eq!(
        json["edges"][0],
        serde_json::json!({"from": "Lamp::Mysql[app1]", "to": "Lamp::Webapp[app1-1]", "capability": "Sql[app1]"})
    );
}

#[test]
fn dot_graph() {
    check(
        &["graph"],
        &Repo::example("three-tier"),
        expect![[r#"
        digraph ordo {
          rankdir=LR;
          node [shape=box];
          subgraph "cluster_db1.example.net" {
            label="db1.example.net (group 0)";
            "Shop::Db[shop]";
          }
          subgraph "cluster_web1.example.net" {
            label="web1.example.net (group 1)";
            "Shop::Web[shop-1]";
          }
          subgraph "cluster_web2.example.net" {
            label="web2.example.net (group 1)";
            "Shop::Web[shop-2]";
          }
          subgraph "cluster_lb1.example.net" {
            label="lb1.example.net (group 2)";
            "Shop::Lb[shop]";
          }
          "Shop::Db[shop]" -> "Shop::Web[shop-1]" [label="Sql[shop]"];
          "Shop::Db[shop]" -> "Shop::Web[shop-2]" [label="Sql[shop]"];
          "Shop::Web[shop-1]" -> "Shop::Lb[shop]" [label="Http[shop-1]"];
          "Shop::Web[shop-2]" -> "Shop::Lb[shop]" [label="Http[shop-2]"];
        }
    "#]],
    );
}

#[test]
fn mermaid_graph() {
    check(
        &["graph", "--format", "mermaid"],
        &Repo::example("three-tier"),
        expect![[r#"
        flowchart LR
          subgraph n0["db1.example.net (group 0)"]
            c0["Shop::Db[shop]"]
          end
          subgraph n1["web1.example.net (group 1)"]
            c2["Shop::Web[shop-1]"]
          end
          subgraph n2["web2.example.net (group 1)"]
            c3["Shop::Web[shop-2]"]
          end
          subgraph n3["lb1.example.net (group 2)"]
            c1["Shop::Lb[shop]"]
          end
          c0 -- "Sql[shop]" --> c2
          c0 -- "Sql[shop]" --> c3
          c2 -- "Http[shop-1]" --> c1
          c3 -- "Http[shop-2]" --> c1
    "#]],
    );
}

/// The SVG pictures of the three examples and of a cyclic site, byte for byte, in
/// `tests/snapshots/`; a second run gives the same bytes.
#[test]
fn svg_pictures() {
    for (example, direction) in [("lamp", "lr"), ("three-tier", "lr"), ("lamp-puppet", "tb")] {
        let repo = Repo::example(example);
        let run = repo.ordo(&["graph", "--format", "svg", "--direction", direction]).success();
        assert!(run.stdout.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert_eq!(run.stdout, repo.ordo(&["graph", "--format", "svg", "--direction", direction]).stdout);
        expect_test::expect_file![format!("snapshots/graph-{example}.svg")].assert_eq(&run.stdout);
    }
    // Two databases, each consumed from the other's node: a cycle, drawn in red.
    let repo = Repo::example("lamp");
    repo.edit("site.yaml", "dev1.example.net: Lamp::Mysql[app2]", "dev2.example.net: Lamp::Mysql[app2]");
    repo.edit("site.yaml", "dev2.example.net: Lamp::Webapp[app2-1]", "dev1.example.net: Lamp::Webapp[app2-1]");
    let run = repo.ordo(&["graph", "--format", "svg"]);
    assert_eq!(run.code, 1, "a cycle is an error: {}", run.stderr);
    assert!(run.stderr.contains("node cycle: dev1.example.net -> dev2.example.net -> dev1.example.net"));
    assert_eq!(run.stdout.matches("class=\"edge edge-cycle\"").count(), 2);
    expect_test::expect_file!["snapshots/graph-cycle.svg"].assert_eq(&run.stdout);
}
