//! Repository content stays inside the repository: links are not followed, script paths and
//! names cannot leave their place, repository text cannot forge output, and no shell parses
//! a value. Each test runs the real binary on a real repository that tries.

mod support;

use expect_test::expect;
use support::{Repo, assert_no_file_holds, files_under};

/// A value that only the environment holds: if any output shows it, a file outside the
/// repository was read.
const TOKEN: &str = "ci-token-7f3a91e2";

fn lamp() -> Repo {
    let repo = Repo::example("lamp");
    repo.git_init();
    repo.commit("lamp");
    repo
}

#[test]
fn a_link_to_a_host_file_is_read_as_a_link_never_followed() {
    let repo = lamp();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("site.yaml"), format!("# {TOKEN}\ninstances: []\n")).unwrap();
    repo.remove("inventory.yaml");
    std::os::unix::fs::symlink("/proc/self/environ", repo.path().join("inventory.yaml")).unwrap();
    repo.remove("site.yaml");
    std::os::unix::fs::symlink(outside.path().join("site.yaml"), repo.path().join("site.yaml")).unwrap();
    for args in [&["validate"][..], &["plan"], &["plan", "--format", "markdown"], &["show"], &["apply", "--yes"]] {
        let run = repo.ordo_env(args, &[("ORDO_TEST_TOKEN", TOKEN)]);
        assert_eq!(run.code, 1, "{args:?}: a link's target is not a YAML document\n{}", run.stderr);
        assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN), "{args:?}\n{}{}", run.stdout, run.stderr);
        assert!(!run.stderr.contains("ORDO_TEST_TOKEN"), "{args:?}: the environment was read\n{}", run.stderr);
    }
    // Git stores the same links the same way, and --rev reads them the same way.
    repo.commit("links");
    let run = repo.ordo_env(&["plan", "--rev", "HEAD", "--format", "markdown"], &[("ORDO_TEST_TOKEN", TOKEN)]);
    assert_eq!(run.code, 1);
    assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN), "{}{}", run.stdout, run.stderr);
}

#[test]
fn a_package_directory_linked_outside_is_neither_walked_nor_copied() {
    let repo = lamp();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("package.yaml"), "name: outside\n").unwrap();
    std::fs::write(outside.path().join("data"), TOKEN).unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path().join("packages/outside")).unwrap();
    // A link inside a package to a directory outside is not walked either.
    std::os::unix::fs::symlink(outside.path(), repo.path().join("packages/lamp/linked")).unwrap();
    let run = repo.ordo(&["apply", "--yes"]).success();
    assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));
    assert_no_file_holds(&repo.state(), TOKEN);
    let packages: Vec<String> = std::fs::read_dir(repo.state().join("packages"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(packages.iter().all(|name| name.starts_with("lamp-")), "{packages:?}");
    // The link itself is copied as what it is in Git: a file holding its target.
    let copied = files_under(&repo.state().join("packages"));
    assert!(
        copied
            .iter()
            .any(|(path, bytes)| path.ends_with("linked") && bytes == outside.path().as_os_str().as_encoded_bytes())
    );
}

#[test]
fn script_paths_outside_the_package_are_refused_at_a_revision_too() {
    let repo = lamp();
    repo.edit("packages/lamp/package.yaml", "apply: scripts/mysql-apply", "apply: ../../../../usr/bin/env");
    repo.commit("escape");
    repo.git(&["checkout", "-q", "HEAD~1", "--", "."]);
    repo.ordo(&["validate"]).success();
    let run = repo.ordo(&["validate", "--rev", "main"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("script path \"../../../../usr/bin/env\" goes up with `..`"), "{}", run.stderr);
    assert!(run.stderr.contains("packages/lamp/package.yaml:45:14"), "{}", run.stderr);
    let run = repo.ordo(&["apply", "--yes", "--rev", "main"]);
    assert_eq!(run.code, 1);
    assert!(!repo.state().join("nodes").exists(), "nothing ran");
}

#[test]
fn environment_names_are_not_paths() {
    let repo = lamp();
    for name in ["../../escape", "/abs/path", "..", ".", "a/b", "two\nlines", "red\u{1b}[31m"] {
        for args in [&["plan", "--env", name][..], &["apply", "--yes", "--env", name], &["show", "--env", name]] {
            let run = repo.ordo(args);
            assert_eq!(run.code, 64, "{args:?} is a usage error\n{}", run.stderr);
            assert!(run.stderr.contains("invalid value"), "{}", run.stderr);
        }
        let run = repo.ordo_env(&["apply", "--yes"], &[("ORDO_ENV", name)]);
        assert_eq!(run.code, 64, "ORDO_ENV={name:?}\n{}", run.stderr);
    }
    assert!(!repo.state().exists(), "no lock or store was made");
    assert!(!repo.path().parent().unwrap().join("escape").exists());
    repo.ordo(&["apply", "--yes", "--env", "staging-eu"]).success();
}

#[test]
fn titles_cannot_forge_lines_in_text_plans_or_markdown_in_comments() {
    let repo = lamp();
    // A title with a newline and a fake summary, backticks that would close a code span,
    // a Markdown heading and link, and an ANSI escape.
    let weird = r"x`` ]\n# Hacked [link](evil.example.net)\n\e[31mPlan: 0 to add`";
    repo.edit("site.yaml", "    title: app2\n", &format!("    title: \"{weird}\"\n"));
    repo.edit("site.yaml", "Lamp::Mysql[app2]", &format!("\"Lamp::Mysql[{weird}]\""));
    for index in 1..=3 {
        repo.edit("site.yaml", &format!("Lamp::Webapp[app2-{index}]"), &format!("\"Lamp::Webapp[{weird}-{index}]\""));
    }
    let text = repo.ordo(&["plan"]).success().stdout;
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(!text.lines().any(|line| line.starts_with("# Hacked") || line.starts_with("Plan: 0")), "{text}");
    let markdown = repo.ordo(&["plan", "--format", "markdown"]).success().stdout;
    assert!(!markdown.lines().any(|line| line.starts_with('#') && line.contains("Hacked")), "{markdown}");
    // Progress, the job record and diagnostics show the names escaped too.
    let run = repo.ordo(&["apply", "--yes"]).success();
    let job = repo.ordo(&["job", "show", "1"]).success().stdout;
    repo.edit("site.yaml", "Lamp::Mysql[x``", "Lamp::Mysqlx[x``");
    let diagnostics = repo.ordo(&["validate"]).stderr;
    for output in [&run.stdout, &run.stderr, &job, &diagnostics] {
        assert!(!output.contains('\u{1b}'), "{output}");
        assert!(!output.lines().any(|line| line.starts_with("# Hacked") || line.starts_with("Plan: 0")), "{output}");
    }
    assert!(diagnostics.contains("Hacked"), "{diagnostics}");
    let line = markdown.lines().find(|line| line.contains("Hacked")).unwrap();
    expect![[r#"  - add ```Lamp::Mysql[x`` ]\n# Hacked [link](evil.example.net)\n\u{1b}[31mPlan: 0 to add`]``` (```Lamp[x`` ]\n# Hacked [link](evil.example.net)\n\u{1b}[31mPlan: 0 to add`]```)"#]].assert_eq(line);
}

#[test]
fn no_shell_parses_a_value_in_any_check_field() {
    let marker = tempfile::tempdir().unwrap();
    let touched = marker.path().join("touched");
    let injection = format!("db; touch {0} $(touch {0}) `touch {0}` | touch {0}", touched.display());
    for check in [r#"command: "test -n ${host}""#, r#"tcp: "${host}:1""#, r#"http: "http://${host}/""#] {
        let repo = Repo::with_checked_capability(check, "host", false, &injection);
        let run = repo.ordo(&["apply", "--yes"]);
        assert!(!touched.exists(), "{check}: a value was run as a command\n{}{}", run.stdout, run.stderr);
        if check.starts_with("command") {
            // The value reached the command whole, as one argument.
            assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        } else {
            assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
            assert!(run.stdout.contains("Svc[one] is not available"), "{}", run.stdout);
        }
    }
}

/// The Puppet front end applies the same node-name rule, at the site's node mapping.
#[test]
fn puppet_node_names_are_not_paths() {
    let repo = Repo::example("lamp-puppet");
    repo.edit(
        "manifests/site.pp",
        "Node['dev4.example.net'] => Lamp::Webapp['app1-3']",
        "Node['../../escape'] => Lamp::Webapp['app1-3']",
    );
    let run = repo.ordo(&["validate"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("error: invalid node name \"../../escape\": it contains `/`"), "{}", run.stderr);
    assert!(run.stderr.contains("manifests/site.pp:"), "{}", run.stderr);
    assert_eq!(repo.ordo(&["apply", "--yes"]).code, 1);
    assert!(!repo.state().join("nodes").exists() && !repo.path().parent().unwrap().join("escape").exists());
}

/// A FIFO in the working tree (Git stores none) is not part of the tree: reading the
/// repository never blocks on one.
#[test]
fn a_fifo_in_the_working_tree_is_not_read() {
    let repo = lamp();
    let fifo =
        std::ffi::CString::new(repo.path().join("packages/lamp/fifo").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let mut child = repo.command(&["apply", "--yes"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("ordo blocked on the FIFO");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success());
    repo.remove("packages/lamp/fifo");
    assert_eq!(repo.plan_json()["changes"], serde_json::json!([]), "the FIFO was no part of the package's code");
}
