//! The test kit: repositories made in temporary directories from multi-file fixtures, real
//! Git commits, and the real `ordo` binary run against them.
//!
//! A fixture is one string with `//- path` lines starting each file; a file whose text
//! starts with `#!` is made executable. `Repo::example` copies one of `examples/`.

#![allow(dead_code)]

pub mod comments;
pub mod forge;
pub mod payloads;
pub mod pp_corpus;
pub mod serve;
pub mod sshd;
pub mod steps;
pub mod synthetic;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Repo {
    dir: tempfile::TempDir,
}

/// The result of one `ordo` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(self.code, 0, "ordo failed\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|err| panic!("not JSON ({err}):\n{}", self.stdout))
    }
}

impl Repo {
    pub fn new() -> Repo {
        Repo { dir: tempfile::tempdir().expect("creating a temporary directory") }
    }

    /// A repository holding the files of a fixture.
    pub fn fixture(fixture: &str) -> Repo {
        let repo = Repo::new();
        repo.write_fixture(fixture);
        repo
    }

    /// A repository holding a copy of `examples/NAME`.
    pub fn example(name: &str) -> Repo {
        let repo = Repo::new();
        copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name), repo.path());
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state(&self) -> PathBuf {
        self.path().join(".ordo")
    }

    pub fn write_fixture(&self, fixture: &str) {
        let mut current: Option<(String, String)> = None;
        let mut files = Vec::new();
        for line in fixture.lines() {
            if let Some(path) = line.strip_prefix("//- ") {
                files.extend(current.take());
                current = Some((path.trim().to_string(), String::new()));
            } else if let Some((_, text)) = current.as_mut() {
                text.push_str(line);
                text.push('\n');
            }
        }
        files.extend(current);
        for (path, text) in files {
            self.write(&path, &text);
        }
    }

    pub fn write(&self, relative: &str, text: &str) {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        if text.starts_with("#!") {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path().join(relative)).unwrap_or_else(|err| panic!("reading {relative}: {err}"))
    }

    /// Replaces `from` by `to` in a file, which must contain it.
    #[track_caller]
    pub fn edit(&self, relative: &str, from: &str, to: &str) {
        let text = self.read(relative);
        assert!(text.contains(from), "{relative} does not contain {from:?}");
        self.write(relative, &text.replacen(from, to, 1));
    }

    pub fn remove(&self, relative: &str) {
        let path = self.path().join(relative);
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
    }

    pub fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.net")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.net")
            .output()
            .expect("running git");
        assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Makes the directory a Git repository on branch `main`, with `.ordo/` ignored.
    pub fn git_init(&self) {
        self.git(&["init", "-q", "-b", "main"]);
        self.write(".gitignore", ".ordo/\n");
    }

    /// Commits everything; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Runs `ordo` in the repository with its state in `.ordo/`.
    pub fn ordo(&self, args: &[&str]) -> Run {
        self.ordo_env(args, &[])
    }

    pub fn ordo_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args);
        for (name, value) in env {
            command.env(name, value);
        }
        Run::from(command.output().expect("running ordo"))
    }

    /// `ordo` as a command not yet run, for tests that start it and signal it, or give it
    /// special stdout and stderr.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ordo"));
        command
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("ORDO_STATE")
            .env_remove("ORDO_ENV");
        command
    }

    /// The LAMP example's `site.yaml` without its second instance, `app2`.
    pub fn lamp_site_without_app2(&self) -> String {
        let mut site = self.read("site.yaml");
        let app2 = site.find("  - application: lamp@1.0.0\n    title: app2").expect("the LAMP site declares app2");
        site.truncate(app2);
        site
    }

    /// A committed repository of one instance on two local nodes: `App::Db[one]` on n1
    /// produces `Svc[one]`, with the availability check `check` (a YAML mapping's entries),
    /// for `App::Web[one]` on n2. The application's parameter `parameter` (secret or not),
    /// given `value` in the site, becomes the capability's attribute of the same name, so
    /// the check can use it.
    pub fn with_checked_capability(check: &str, parameter: &str, secret: bool, value: &str) -> Repo {
        let value = value.replace('\'', "''");
        let spec = format!("{{type: string, secret: {secret}}}");
        let repo = Repo::fixture(&format!(
            r#"
//- inventory.yaml
defaults: {{transport: local, timeout: 60}}
nodes:
  - name: n1
  - name: n2
//- site.yaml
instances:
  - application: app
    title: one
    parameters:
      {parameter}: '{value}'
    nodes:
      n1: App::Db[one]
      n2: App::Web[one]
//- packages/app/package.yaml
name: app
version: 1.0.0
parameters:
  {parameter}: {spec}
capabilities:
  Svc:
    attributes: {{{parameter}: {spec}}}
    check: {{{check}, timeout: 0}}
components:
  App::Db:
    parameters: {{{parameter}: {spec}}}
    produces:
      Svc: {{{parameter}: "${{{parameter}}}"}}
    scripts: {{apply: ok}}
  App::Web:
    parameters: {{}}
    consumes: {{Svc: {{}}}}
    scripts: {{apply: ok}}
application:
  name: app
  components:
    - component: App::Db
      title: "${{title}}"
      parameters: {{{parameter}: "${{{parameter}}}"}}
      export: Svc[${{title}}]
    - component: App::Web
      title: "${{title}}"
      consume: Svc[${{title}}]
//- packages/app/ok
#!/bin/sh
exit 0
"#
        ));
        repo.git_init();
        repo.commit("checks");
        repo
    }

    pub fn plan_json(&self) -> serde_json::Value {
        self.ordo(&["plan", "--format", "json"]).success().json()
    }
}

/// Every file under a directory (recursively), with its bytes.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            out.extend(files_under(&entry.path()));
        } else if kind.is_file() {
            out.push((entry.path(), std::fs::read(entry.path()).unwrap_or_default()));
        }
    }
    out
}

/// Asserts that no file under `dir` holds `needle`.
#[track_caller]
pub fn assert_no_file_holds(dir: &Path, needle: &str) {
    for (path, bytes) in files_under(dir) {
        let found = bytes.windows(needle.len()).any(|window| window == needle.as_bytes());
        assert!(!found, "{} holds {needle:?}", path.display());
    }
}

/// Whether a process is still alive (a zombie counts as gone).
pub fn alive(pid: i32) -> bool {
    process_stat(pid).is_some_and(|(state, _)| state != 'Z')
}

/// A process's state letter and its parent's pid, from `/proc/PID/stat`; `None` when it is gone.
pub fn process_stat(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command's name, which may hold anything but ends at the last `)`.
    let mut fields = stat.rsplit(')').next()?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The components of a JSON plan's changes as `action component@node` lines, in order.
pub fn change_lines(plan: &serde_json::Value) -> Vec<String> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| {
            format!(
                "{} {}@{}",
                change["action"].as_str().unwrap(),
                change["component"].as_str().unwrap(),
                change["node"].as_str().unwrap()
            )
        })
        .collect()
}
