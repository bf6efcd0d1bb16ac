//! Bad input: every mistake gets a clear diagnostic naming the file, line and column (or
//! the node and component), a non-zero exit, and leaves the store untouched. The rendered
//! diagnostics are snapshots: update them with `UPDATE_EXPECT=1 cargo test`.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use expect_test::{Expect, expect};
use support::Repo;

/// Every file of the state directory except locks, by name.
fn state_files(repo: &Repo) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in walk(&repo.state()) {
        let name = entry.strip_prefix(repo.state()).unwrap().to_string_lossy().into_owned();
        if !name.starts_with("locks") {
            files.insert(name, std::fs::read(&entry).unwrap());
        }
    }
    files
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().is_dir() { out.extend(walk(&entry.path())) } else { out.push(entry.path()) }
    }
    out
}

/// Applies the LAMP example, breaks it with `edit`, and checks that `validate`, `plan` and
/// `apply` all refuse it with the expected diagnostics and leave the state as it was.
#[track_caller]
fn check(edit: impl FnOnce(&Repo), expected: Expect) {
    let repo = Repo::example("lamp");
    repo.ordo(&["apply", "--yes"]).success();
    let before = state_files(&repo);
    edit(&repo);
    let validate = repo.ordo(&["validate"]);
    assert_eq!(validate.code, 1, "validate must fail\n{}", validate.stderr);
    for command in [&["plan"][..], &["apply", "--yes"], &["apply", "--yes", "--prune"]] {
        let run = repo.ordo(command);
        assert_eq!(run.code, 1, "{command:?} must fail\n{}{}", run.stdout, run.stderr);
        assert_eq!(run.stderr, validate.stderr, "{command:?} reports the same problems");
    }
    assert!(state_files(&repo) == before, "the state directory changed");
    expected.assert_eq(&validate.stderr);
}

#[test]
fn yaml_syntax_error() {
    check(
        |repo| repo.edit("site.yaml", "    title: app1\n", "    title: [app1\n"),
        expect![[r#"
            error: expected string scalar
              ┌─ site.yaml:5:12
              │
            5 │     title: [app1
              │            ^

            error: 1 problem found in .
        "#]],
    );
}

/// Instances are expanded while the rest of the site parses; when a later part does not
/// parse, the site is reported as that, not also by the mistakes of its first instances.
#[test]
fn yaml_syntax_error_after_a_wrong_instance() {
    check(
        |repo| {
            repo.edit(
                "site.yaml",
                "  - application: lamp@1.0.0\n    title: app1\n",
                "  - application: lamp@9.9.9\n    title: app1\n",
            );
            repo.edit("site.yaml", "    title: app2\n", "    title: [app2\n");
        },
        expect![[r#"
            error: expected string scalar
               ┌─ site.yaml:17:12
               │
            17 │     title: [app2
               │            ^

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn an_instance_declared_twice_is_reported_once() {
    check(
        |repo| {
            repo.edit("site.yaml", "    title: app2\n", "    title: app1\n");
        },
        expect![[r#"
            error: Duplicate declaration: Lamp[app1] is already declared; cannot redeclare
               ┌─ site.yaml:17:12
               │
             5 │     title: app1
               │            ---- first declared here
               ·
            17 │     title: app1
               │            ^^^^

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn unknown_key_with_suggestion() {
    check(
        |repo| repo.edit("site.yaml", "    title: app1\n", "    titel: app1\n"),
        expect![[r#"
            error: unknown field `titel`, expected one of application, title, profile, parameters, nodes, overrides
              ┌─ site.yaml:5:5
              │
            5 │     titel: app1
              │     ^
              │
              = did you mean `title`?

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn wrong_parameter_type() {
    check(
        |repo| repo.edit("site.yaml", "      web_instances: 3\n", "      web_instances: three\n"),
        expect![[r#"
            error: Lamp[app1]: parameter 'web_instances' expects an Integer value, got String
              ┌─ site.yaml:9:22
              │
            9 │       web_instances: three
              │                      ^^^^^

            error: Lamp[app1]: unknown variable `web_instances`
               ┌─ packages/lamp/package.yaml:82:14
               │
            82 │       count: "${web_instances}"
               │              ^^^^^^^^^^^^^^^^^^
               │
               = variables here: db_password, db_port, db_user, name, title, web_port

            error: Application Lamp[app1] assigns nodes to non-existent components: Lamp::Webapp[app1-1], Lamp::Webapp[app1-2], Lamp::Webapp[app1-3]
               ┌─ site.yaml:12:25
               │
            12 │       dev2.example.net: Lamp::Webapp[app1-1]
               │                         ^^^^^^^^^^^^^^^^^^^^
               │
               = Lamp[app1] declares: Lamp::Mysql[app1]

            error: 3 problems found in .
        "#]],
    );
}

#[test]
fn mandatory_parameter_missing() {
    check(
        |repo| repo.edit("site.yaml", "      db_password: secret\n", ""),
        expect![[r#"
            error: Lamp[app1]: expects a value for parameter 'db_password'
              ┌─ site.yaml:5:12
              │
            5 │     title: app1
              │            ^^^^

            error: Lamp[app1]: unknown variable `db_password`
               ┌─ packages/lamp/package.yaml:78:19
               │
            78 │         password: "${db_password}"
               │                   ^^^^^^^^^^^^^^^^
               │
               = variables here: db_port, db_user, name, title, web_instances, web_port

            error: 2 problems found in .
        "#]],
    );
}

#[test]
fn unknown_component_type() {
    check(
        |repo| {
            repo.edit("packages/lamp/package.yaml", "    - component: Lamp::Webapp\n", "    - component: Lamp::Webap\n")
        },
        expect![[r#"
            error: unknown component type `Lamp::Webap`
               ┌─ packages/lamp/package.yaml:81:18
               │
            81 │     - component: Lamp::Webap
               │                  ^^^^^^^^^^^
               │
               = did you mean `Lamp::Webapp`?

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn duplicate_key() {
    check(
        |repo| {
            repo.edit(
                "site.yaml",
                "      dev4.example.net: Lamp::Webapp[app1-3]\n",
                "      dev3.example.net: Lamp::Webapp[app1-3]\n",
            )
        },
        expect![[r#"
            error: duplicate mapping key: dev3.example.net
               ┌─ site.yaml:14:7
               │
            14 │       dev3.example.net: Lamp::Webapp[app1-3]
               │       ^
               │
               = each key may appear once; list several values under one key instead

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn unknown_package() {
    check(
        |repo| {
            repo.edit(
                "site.yaml",
                "  - application: lamp@1.0.0\n    title: app2",
                "  - application: lampp\n    title: app2",
            )
        },
        expect![[r#"
            error: unknown package `lampp`
               ┌─ site.yaml:16:18
               │
            16 │   - application: lampp
               │                  ^^^^^
               │
               = did you mean `lamp`?

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn component_not_assigned_to_a_node() {
    check(
        |repo| repo.edit("site.yaml", "      dev4.example.net: Lamp::Webapp[app1-3]\n", ""),
        expect![[r#"
            error: Application Lamp[app1] has components without assigned nodes: Lamp::Webapp[app1-3]
              ┌─ site.yaml:5:12
              │
            5 │     title: app1
              │            ^^^^

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn component_assigned_to_two_nodes() {
    check(
        |repo| {
            repo.edit(
                "site.yaml",
                "      dev4.example.net: Lamp::Webapp[app1-3]\n",
                "      dev4.example.net:\n        - Lamp::Webapp[app1-3]\n        - Lamp::Webapp[app1-2]\n",
            )
        },
        expect![[r#"
            error: Component Lamp::Webapp[app1-2] is assigned to more than one node: dev3.example.net and dev4.example.net
               ┌─ site.yaml:16:11
               │
            13 │       dev3.example.net: Lamp::Webapp[app1-2]
               │                         -------------------- first assigned to dev3.example.net here
               ·
            16 │         - Lamp::Webapp[app1-2]
               │           ^^^^^^^^^^^^^^^^^^^^

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn unknown_node() {
    check(
        |repo| {
            repo.edit(
                "site.yaml",
                "      dev4.example.net: Lamp::Webapp[app1-3]\n",
                "      dev5.example.net: Lamp::Webapp[app1-3]\n",
            )
        },
        expect![[r#"
            error: unknown node dev5.example.net: it is not in inventory.yaml
               ┌─ site.yaml:14:25
               │
            14 │       dev5.example.net: Lamp::Webapp[app1-3]
               │                         ^^^^^^^^^^^^^^^^^^^^
               │
               = did you mean `dev1.example.net`?

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn capability_consumed_but_produced_by_nobody() {
    check(
        |repo| {
            repo.edit(
                "packages/lamp/package.yaml",
                "      consume: Sql[${title}]\n",
                "      consume: Sql[${title}-db]\n",
            )
        },
        expect![[r#"
            error: Sql[app1-db] is consumed but never exported; wanted by Lamp::Webapp[app1-1], Lamp::Webapp[app1-2], Lamp::Webapp[app1-3]
               ┌─ packages/lamp/package.yaml:81:18
               │
            81 │     - component: Lamp::Webapp
               │                  ^^^^^^^^^^^^
               │
               = did you mean `Sql[app1]`?

            error: Sql[app2-db] is consumed but never exported; wanted by Lamp::Webapp[app2-1], Lamp::Webapp[app2-2], Lamp::Webapp[app2-3]
               ┌─ packages/lamp/package.yaml:81:18
               │
            81 │     - component: Lamp::Webapp
               │                  ^^^^^^^^^^^^
               │
               = did you mean `Sql[app2]`?

            error: 2 problems found in .
        "#]],
    );
}

#[test]
fn capability_produced_twice() {
    check(
        |repo| {
            repo.edit("packages/lamp/package.yaml", "      export: Sql[${title}]\n", "      export: Sql[shared]\n");
            repo.edit("packages/lamp/package.yaml", "      consume: Sql[${title}]\n", "      consume: Sql[shared]\n");
        },
        expect![[r#"
            error: Duplicate declaration: Sql[shared] is already exported by Lamp::Mysql[app1]; Lamp::Mysql[app2] cannot export it too
               ┌─ site.yaml:23:25
               │
            11 │       dev1.example.net: Lamp::Mysql[app1]
               │                         ----------------- first exported by this component
               ·
            23 │       dev1.example.net: Lamp::Mysql[app2]
               │                         ^^^^^^^^^^^^^^^^^

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn node_cycle_names_the_whole_cycle() {
    check(
        |repo| {
            repo.edit(
                "site.yaml",
                "      dev1.example.net: Lamp::Mysql[app2]\n",
                "      dev2.example.net: Lamp::Mysql[app2]\n",
            );
            repo.edit(
                "site.yaml",
                "      dev2.example.net: Lamp::Webapp[app2-1]\n",
                "      dev1.example.net: Lamp::Webapp[app2-1]\n",
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
fn script_missing() {
    check(
        |repo| repo.edit("packages/lamp/package.yaml", "apply: scripts/mysql-apply", "apply: scripts/mysql-aply"),
        expect![[r#"
            error: script packages/lamp/scripts/mysql-aply does not exist
               ┌─ packages/lamp/package.yaml:45:14
               │
            45 │       apply: scripts/mysql-aply
               │              ^^^^^^^^^^^^^^^^^^

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn script_not_executable() {
    check(
        |repo| {
            let path = repo.path().join("packages/lamp/scripts/webapp-check");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
        },
        expect![[r#"
            error: script packages/lamp/scripts/webapp-check is not executable
               ┌─ packages/lamp/package.yaml:67:14
               │
            67 │       check: scripts/webapp-check
               │              ^^^^^^^^^^^^^^^^^^^^
               │
               = run `chmod +x packages/lamp/scripts/webapp-check` and commit it

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn unknown_variable_in_interpolation() {
    check(
        |repo| repo.edit("packages/lamp/package.yaml", "user: \"${db_user}\"", "user: \"${db_usr}\""),
        expect![[r#"
            error: Lamp[app1]: unknown variable `db_usr`
               ┌─ packages/lamp/package.yaml:77:15
               │
            77 │         user: "${db_usr}"
               │               ^^^^^^^^^^^
               │
               = did you mean `db_user`?

            error: Lamp[app2]: unknown variable `db_usr`
               ┌─ packages/lamp/package.yaml:77:15
               │
            77 │         user: "${db_usr}"
               │               ^^^^^^^^^^^
               │
               = did you mean `db_user`?

            error: 2 problems found in .
        "#]],
    );
}

/// A state file that is not a store, or one written by a newer ordo, is refused untouched.
#[test]
fn corrupt_or_newer_state_files_are_refused() {
    for (damage, message) in [
        (&b"this is not a database file at all, just some text"[..], "is not a valid ordo state store"),
        (b"", "newer than this ordo understands"),
    ] {
        let repo = Repo::example("lamp");
        repo.ordo(&["apply", "--yes"]).success();
        let path = repo.state().join("state.db");
        if damage.is_empty() {
            bump_schema_version(&path);
        } else {
            std::fs::remove_file(repo.state().join("state.db-wal")).ok();
            std::fs::remove_file(repo.state().join("state.db-shm")).ok();
            std::fs::write(&path, damage).unwrap();
        }
        let before = state_files(&repo);
        for command in [&["plan"][..], &["apply", "--yes"], &["job", "list"]] {
            let run = repo.ordo(command);
            assert_eq!(run.code, 1, "{command:?}\n{}", run.stderr);
            assert!(run.stderr.contains(message), "{command:?}: {}", run.stderr);
            assert!(run.stderr.contains("state.db"), "the message names the file: {}", run.stderr);
        }
        let after = state_files(&repo);
        assert_eq!(after.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>());
        assert!(after == before, "the state directory changed");
    }
}

/// Sets the store's schema version past what this build knows, as a newer ordo would.
fn bump_schema_version(path: &std::path::Path) {
    // SQLite keeps `user_version` as a big-endian u32 at byte 60 of the database header.
    let mut bytes = std::fs::read(path).unwrap();
    bytes[60..64].copy_from_slice(&999u32.to_be_bytes());
    std::fs::write(path, bytes).unwrap();
}

/// Node names that are paths, or hold NUL, newlines or control characters, are refused
/// where they are written; none of them becomes a directory or a lock file.
#[test]
fn node_names_that_are_not_dns_names() {
    check(
        |repo| {
            let inventory = repo.read("inventory.yaml");
            let bad = "  - name: \"../../escape\"\n  - name: /abs/path\n  - name: \"..\"\n  - name: \"a\\0b\"\n  - name: \"two\\nlines\"\n  - name: \"red\\e[31m\"\n";
            repo.write("inventory.yaml", &format!("{inventory}{bad}"));
        },
        expect![[r#"
            error: invalid node name "../../escape": it contains `/`, and only ASCII letters, digits, `-`, `_` and `.` are allowed
               ┌─ inventory.yaml:20:11
               │
            20 │   - name: "../../escape"
               │           ^^^^^^^^^^^^^^
               │
               = a node name is a DNS name or an SSH Host alias: labels of letters, digits, `-` and `_`, joined by dots

            error: invalid node name "/abs/path": it contains `/`, and only ASCII letters, digits, `-`, `_` and `.` are allowed
               ┌─ inventory.yaml:21:11
               │
            21 │   - name: /abs/path
               │           ^^^^^^^^^
               │
               = a node name is a DNS name or an SSH Host alias: labels of letters, digits, `-` and `_`, joined by dots

            error: invalid node name "..": it has an empty label: it starts or ends with `.`, or has `..`
               ┌─ inventory.yaml:22:11
               │
            22 │   - name: ".."
               │           ^^^^
               │
               = a node name is a DNS name or an SSH Host alias: labels of letters, digits, `-` and `_`, joined by dots

            error: invalid node name "a\u{0}b": it contains the character U+0000, and only ASCII letters, digits, `-`, `_` and `.` are allowed
               ┌─ inventory.yaml:23:11
               │
            23 │   - name: "a\0b"
               │           ^^^^^^
               │
               = a node name is a DNS name or an SSH Host alias: labels of letters, digits, `-` and `_`, joined by dots

            error: invalid node name "two\nlines": it contains the character U+000A, and only ASCII letters, digits, `-`, `_` and `.` are allowed
               ┌─ inventory.yaml:24:11
               │
            24 │   - name: "two\nlines"
               │           ^^^^^^^^^^^^
               │
               = a node name is a DNS name or an SSH Host alias: labels of letters, digits, `-` and `_`, joined by dots

            error: invalid node name "red\u{1b}[31m": it contains the character U+001B, and only ASCII letters, digits, `-`, `_` and `.` are allowed
               ┌─ inventory.yaml:25:11
               │
            25 │   - name: "red\e[31m"
               │           ^^^^^^^^^^^
               │
               = a node name is a DNS name or an SSH Host alias: labels of letters, digits, `-` and `_`, joined by dots

            error: 6 problems found in .
        "#]],
    );
}

/// A script path that leaves its package is refused where it is written.
#[test]
fn script_paths_outside_the_package() {
    check(
        |repo| {
            repo.edit("packages/lamp/package.yaml", "apply: scripts/mysql-apply", "apply: ../../../../usr/bin/env");
            repo.edit("packages/lamp/package.yaml", "check: scripts/mysql-check", "check: /usr/bin/true");
        },
        expect![[r#"
            error: script path "../../../../usr/bin/env" goes up with `..`, out of its package
               ┌─ packages/lamp/package.yaml:45:14
               │
            45 │       apply: ../../../../usr/bin/env
               │              ^^^^^^^^^^^^^^^^^^^^^^^
               │
               = a script path is relative to the package directory packages/lamp and stays inside it

            error: script path "/usr/bin/true" is absolute, outside its package
               ┌─ packages/lamp/package.yaml:46:14
               │
            46 │       check: /usr/bin/true
               │              ^^^^^^^^^^^^^
               │
               = a script path is relative to the package directory packages/lamp and stays inside it

            error: 2 problems found in .
        "#]],
    );
}

#[test]
fn timeouts_and_kept_connections_out_of_range() {
    check(
        |repo| {
            repo.edit("inventory.yaml", "  timeout: 60\n", "  timeout: 0\n");
            repo.edit(
                "inventory.yaml",
                "    labels: {role: database}\n",
                "    labels: {role: database}\n    timeout: 18446744073709551615\n    control_persist: 700000\n",
            );
        },
        expect![[r#"
            error: timeout 0 is out of range: it must be from 1 to 604800 seconds (a week)
              ┌─ inventory.yaml:5:12
              │
            5 │   timeout: 0
              │            ^

            error: timeout 18446744073709551615 is out of range: it must be from 1 to 604800 seconds (a week)
               ┌─ inventory.yaml:10:14
               │
            10 │     timeout: 18446744073709551615
               │              ^^^^^^^^^^^^^^^^^^^^

            error: control_persist 700000 is out of range: it must be from 0 to 604800 seconds (a week)
               ┌─ inventory.yaml:11:22
               │
            11 │     control_persist: 700000
               │                      ^^^^^^

            error: 3 problems found in .
        "#]],
    );
}

/// `count` is bounded, so a typo cannot make ordo declare millions of components.
#[test]
fn count_too_large() {
    check(
        |repo| repo.edit("site.yaml", "      web_instances: 3\n", "      web_instances: 3000000\n"),
        expect![[r#"
        error: Lamp[app1]: count of Lamp::Webapp is 3000000, more than 10000, the most one application may declare
           ┌─ packages/lamp/package.yaml:82:14
           │
        82 │       count: "${web_instances}"
           │              ^^^^^^^^^^^^^^^^^^

        error: 1 problem found in .
    "#]],
    );
}

/// A secret interpolated into a title or a capability reference is refused: names are
/// printed everywhere.
#[test]
fn secret_in_title_or_reference() {
    check(
        |repo| {
            repo.edit(
                "packages/lamp/package.yaml",
                "      title: \"${title}-${index}\"",
                "      title: \"${title}-${db_password}\"",
            );
            repo.edit("packages/lamp/package.yaml", "      export: Sql[${title}]", "      export: Sql[${db_password}]");
        },
        expect![[r#"
            error: Lamp[app1]: the capability reference `Sql[${db_password}]` is derived from a secret value
               ┌─ packages/lamp/package.yaml:80:15
               │
            80 │       export: Sql[${db_password}]
               │               ^^^^^^^^^^^^^^^^^^^
               │
               = titles and references are shown everywhere a component is named; build them from values that are not secret

            error: Lamp[app1]: the title of Lamp::Webapp is derived from a secret value
               ┌─ packages/lamp/package.yaml:83:14
               │
            83 │       title: "${title}-${db_password}"
               │              ^^^^^^^^^^^^^^^^^^^^^^^^^
               │
               = titles and references are shown everywhere a component is named; build them from values that are not secret

            error: Lamp[app2]: the capability reference `Sql[${db_password}]` is derived from a secret value
               ┌─ packages/lamp/package.yaml:80:15
               │
            80 │       export: Sql[${db_password}]
               │               ^^^^^^^^^^^^^^^^^^^
               │
               = titles and references are shown everywhere a component is named; build them from values that are not secret

            error: Lamp[app2]: the title of Lamp::Webapp is derived from a secret value
               ┌─ packages/lamp/package.yaml:83:14
               │
            83 │       title: "${title}-${db_password}"
               │              ^^^^^^^^^^^^^^^^^^^^^^^^^
               │
               = titles and references are shown everywhere a component is named; build them from values that are not secret

            error: 4 problems found in .
        "#]],
    );
}

#[test]
fn yaml_nested_too_deeply() {
    check(
        |repo| {
            let deep: String = (0..70).map(|level| format!("{}      x{level}:\n", "  ".repeat(level))).collect();
            repo.edit(
                "site.yaml",
                "      db_user: user\n",
                &format!("      db_user: user\n{deep}{}        y: 1\n", "  ".repeat(70)),
            );
        },
        expect![[r#"
            error: nesting is too deep: lists and maps may nest at most 64 levels
               ┌─ site.yaml:69:129
               │
            69 │                                                                                                                                 x61:
               │                                                                                                                                 ^

            error: 1 problem found in .
        "#]],
    );
}

/// A billion laughs: each level repeats the one before ten times. Refused where the
/// aliases start repeating too much, quickly and without reading it all.
#[test]
fn yaml_alias_bomb() {
    check(
        |repo| {
            let mut bomb = String::from("      lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
            for level in 1..10 {
                let aliases = vec![format!("*lol{}", level - 1); 10].join(", ");
                bomb.push_str(&format!("      lol{level}: &lol{level} [{aliases}]\n"));
            }
            repo.edit("site.yaml", "      db_user: user\n", &format!("      db_user: user\n{bomb}"));
        },
        expect![[r#"
            error: aliases (`*name`) here repeat more values than the file holds: aliases nested in what other aliases repeat multiply what is read
               ┌─ site.yaml:13:27
               │
            13 │       lol5: &lol5 [*lol4, *lol4, *lol4, *lol4, *lol4, *lol4, *lol4, *lol4, *lol4, *lol4]
               │                           ^

            error: 1 problem found in .
        "#]],
    );
}

/// An inventory that does not parse is one error: the site's nodes and facts are not
/// reported missing one by one.
#[test]
fn inventory_that_does_not_parse_is_one_error() {
    check(
        |repo| repo.edit("inventory.yaml", "  - name: dev1.example.net\n", "  - name: [dev1.example.net\n"),
        expect![[r#"
            error: expected string scalar
              ┌─ inventory.yaml:8:11
              │
            8 │   - name: [dev1.example.net
              │           ^

            error: 1 problem found in .
        "#]],
    );
}

#[test]
fn error_at_the_end_of_the_input() {
    check(
        |repo| repo.write("site.yaml", "instances: []\n...\n%bad\n"),
        expect![[r#"
        error: did not find expected <document start>
          ┌─ site.yaml:3:4
          │
        3 │ %bad
          │    ^

        error: 1 problem found in .
    "#]],
    );
}

#[test]
fn invalid_utf8() {
    check(
        |repo| {
            std::fs::write(repo.path().join("site.yaml"), b"instances:\n  - application: lamp\n    title: app\xff1\n")
                .unwrap()
        },
        expect![[r#"
            error: site.yaml is not valid UTF-8: invalid byte sequence
              ┌─ site.yaml:3:15
              │
            3 │     title: app�1
              │               ^

            error: 1 problem found in .
        "#]],
    );
}

/// An empty `state.db` (truncated, or replaced) is refused, never taken for a new store
/// that would forget every applied component.
#[test]
fn empty_state_file_is_refused() {
    let repo = Repo::example("lamp");
    repo.ordo(&["apply", "--yes"]).success();
    std::fs::write(repo.state().join("state.db"), b"").unwrap();
    let before = state_files(&repo);
    for command in [&["plan"][..], &["apply", "--yes"], &["job", "list"]] {
        let run = repo.ordo(command);
        assert_eq!(run.code, 1, "{command:?}\n{}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("state.db is empty"), "{command:?}: {}", run.stderr);
        assert!(!run.stdout.contains("Plan:"), "{command:?} planned against nothing: {}", run.stdout);
    }
    assert!(state_files(&repo) == before, "the state directory changed");
}
