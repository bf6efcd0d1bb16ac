//! Pull-request previews end to end: the real `ordo serve` on loopback, watching a real Git
//! repository whose pull-request heads are refs where each forge keeps them, reporting to a
//! stand-in GitHub, Gitea and GitLab that check every request against the forge's published
//! API description (`tests/fixtures/`) and keep comments as the forge would.
//!
//! Each flow runs against all three forges.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use support::Repo;
use support::comments::{Board, Flavor, responder};
use support::forge::Forge;
use support::payloads::{self, Pull};
use support::serve::Served;

/// How every part of the production preview's comment starts.
const MARKER: &str = "<!-- ordo-sticky key=\"ordo/production/plan\" part=\"";

/// The LAMP example applied as `production`, a stand-in forge, and the controller.
struct Site {
    flavor: Flavor,
    repo: Repo,
    /// The commit `main` was at when the site started.
    main: String,
    forge: Forge,
    board: Arc<Board>,
    served: Served,
    deliveries: AtomicU64,
}

impl Site {
    fn start(flavor: Flavor) -> Site {
        let repo = Repo::example("lamp");
        repo.git_init();
        let main = repo.commit("the LAMP site");
        let board = Arc::new(Board::default());
        let description = match flavor {
            Flavor::GitHub => "github-api/rest-statuses-comments-checks.openapi.json",
            Flavor::Gitea => "gitea-api/gitea-statuses-comments.swagger.json",
            Flavor::GitLab => "gitlab-api/gitlab-v4-statuses-notes.swagger.json",
        };
        let forge = Forge::start_with(description, responder(flavor, Arc::clone(&board)));
        let (kind, api_url) = match flavor {
            Flavor::GitHub => ("github", forge.url()),
            Flavor::Gitea => ("gitea", format!("{}/api/v1", forge.url())),
            Flavor::GitLab => ("gitlab", format!("{}/api/v4", forge.url())),
        };
        let config = format!(
            "[forge]\nkind = \"{kind}\"\napi_url = \"{api_url}\"\nrepository = \"acme/site\"\ntoken_env = \"TEST_FORGE_TOKEN\"\n"
        );
        let served = Served::start(repo.path(), &config);
        // Production is applied first, so previews plan against a known state.
        assert_eq!(served.wait_for_job(1)["state"], "success");
        Site { flavor, repo, main, forge, board, served, deliveries: AtomicU64::new(0) }
    }

    /// Commits `change` on `branch` (made from `main` when new) and points the pull request's
    /// head ref at it, as the forge does when someone pushes to a pull request.
    fn push(&self, number: u64, branch: &str, change: impl FnOnce(&Repo)) -> String {
        if self.repo.git(&["branch", "--list", branch]).is_empty() {
            self.repo.git(&["checkout", "-q", "-b", branch, "main"]);
        } else {
            self.repo.git(&["checkout", "-q", branch]);
        }
        change(&self.repo);
        let sha = self.repo.commit(&format!("a change on {branch}"));
        self.repo.git(&["checkout", "-q", "main"]);
        let head = match self.flavor {
            Flavor::GitHub | Flavor::Gitea => format!("refs/pull/{number}/head"),
            Flavor::GitLab => format!("refs/merge-requests/{number}/head"),
        };
        self.repo.git(&["update-ref", &head, &sha]);
        sha
    }

    /// The forge's webhook for a pull request, `action` in GitHub's words.
    fn send(&self, number: u64, action: &str, head: &str, base: &str, title: &str) -> (u16, Value) {
        let pull = Pull { number, action, head_sha: head, head_branch: "feature", base_branch: base, title };
        let delivery = format!("delivery-{}", self.deliveries.fetch_add(1, Ordering::SeqCst));
        let (status, answer) = match self.flavor {
            Flavor::GitHub => self.served.webhook("pull_request", &delivery, &payloads::github(&pull)),
            Flavor::Gitea => self.served.gitea_webhook(
                "pull_request",
                payloads::gitea_event_type(&pull),
                &delivery,
                &payloads::gitea(&pull),
            ),
            Flavor::GitLab => self.served.gitlab_webhook("Merge Request Hook", &delivery, &payloads::gitlab(&pull)),
        };
        assert_eq!(status, 202, "{answer}");
        (status, answer)
    }

    /// The state a failed plan has on this forge.
    fn failure(&self) -> &'static str {
        if self.flavor == Flavor::GitLab { "failed" } else { "failure" }
    }

    /// The `ordo/production/plan` statuses the forge took for a commit: `state description url`.
    fn plan_statuses(&self, sha: &str) -> Vec<String> {
        let path = match self.flavor {
            Flavor::GitHub => format!("/repos/acme/site/statuses/{sha}"),
            Flavor::Gitea => format!("/api/v1/repos/acme/site/statuses/{sha}"),
            Flavor::GitLab => format!("/api/v4/projects/acme%2Fsite/statuses/{sha}"),
        };
        self.forge
            .received()
            .into_iter()
            .filter(|request| request.accepted && request.path == path)
            .filter(|request| {
                let context =
                    if self.flavor == Flavor::GitLab { &request.body["name"] } else { &request.body["context"] };
                context == "ordo/production/plan"
            })
            .map(|request| {
                format!(
                    "{} {} {}",
                    request.body["state"].as_str().unwrap(),
                    request.body["description"].as_str().unwrap_or_default(),
                    request.body["target_url"].as_str().unwrap_or("-")
                )
            })
            .collect()
    }

    #[track_caller]
    fn wait_for_plan_status(&self, sha: &str) -> String {
        self.served.wait_until(&format!("{sha} has a plan status"), Duration::from_secs(30), |_| {
            !self.plan_statuses(sha).is_empty()
        });
        self.plan_statuses(sha).pop().unwrap()
    }

    /// The pull request's comments once `ready` holds for them.
    #[track_caller]
    fn wait_for_comments(&self, number: u64, what: &str, ready: impl Fn(&[String]) -> bool) -> Vec<String> {
        self.served.wait_until(what, Duration::from_secs(30), |_| ready(&self.board.bodies(number)));
        self.board.bodies(number)
    }

    /// The preview's page, `/previews/N`.
    fn page(&self, number: u64) -> String {
        let (status, page) = self.served.get(&format!("/previews/{number}"));
        assert_eq!(status, 200, "{page}");
        page.as_str().expect("the page is HTML").to_string()
    }

    fn preview_json(&self, number: u64) -> Value {
        let (status, answer) = self.served.get(&format!("/api/v1/previews/{number}"));
        assert_eq!(status, 200, "{answer}");
        answer
    }
}

/// Whether every code block and `<details>` block a comment opens, it also closes.
fn blocks_balanced(body: &str) -> bool {
    let mut fence: Option<(char, usize)> = None;
    let mut details = 0i32;
    for line in body.lines() {
        let marker = line.chars().next().filter(|c| *c == '`' || *c == '~');
        let length = marker.map_or(0, |marker| line.chars().take_while(|c| *c == marker).count());
        match (fence, marker) {
            (Some((open, open_length)), Some(marker))
                if marker == open && length >= open_length && line[length..].trim().is_empty() =>
            {
                fence = None
            }
            (None, Some(marker)) if length >= 3 => fence = Some((marker, length)),
            (None, _) if line.starts_with("<details") => details += 1,
            (None, _) if line.starts_with("</details>") => details -= 1,
            _ => {}
        }
    }
    fence.is_none() && details == 0
}

fn previewed_updated_in_place_and_outdated_when_closed(flavor: Flavor) {
    let site = Site::start(flavor);
    let head = site.push(7, "admins", |repo| {
        repo.edit("site.yaml", "db_user: user", "db_user: admin");
        repo.edit("site.yaml", "db_password: secret", "db_password: pr-hunter2");
    });
    site.send(7, "opened", &head, "main", "Admins for app1");
    assert_eq!(
        site.wait_for_plan_status(&head),
        "success 0 to add, 4 to change, 0 to remove on 4 nodes in 2 groups https://ordo.example.com/previews/7"
    );
    let bodies = site.wait_for_comments(7, "the preview is posted", |bodies| bodies.len() == 1);
    let body = &bodies[0];
    assert!(body.starts_with(&format!("{MARKER}1\" -->\n")), "{body}");
    assert!(body.contains("\n**0 to add, 4 to change, 0 to remove on 4 nodes in 2 groups**\n"), "{body}");
    assert!(body.contains(&format!("`pull/7@sha1:{head}`")), "{body}");
    assert!(body.contains("Pull request #7 `Admins for app1`"), "{body}");
    // The groups in order, each node with its changes.
    let (group0, group1) = (body.find("#### Group 0").unwrap(), body.find("#### Group 1").unwrap());
    assert!(group0 < group1);
    assert!(body[group0..group1].contains("- `dev1.example.net`\n  - change `Lamp::Mysql[app1]`"), "{body}");
    assert!(body[group1..].contains("- `dev4.example.net`\n  - change `Lamp::Webapp[app1-3]`"), "{body}");
    // Each component's parameters as a diff, the secret masked.
    assert!(body.contains("-user = \"user\"\n+user = \"admin\""), "{body}");
    assert!(body.contains("+password = (sensitive, changed)"), "{body}");
    assert!(!body.contains("pr-hunter2"), "{body}");
    assert!(blocks_balanced(body), "{body}");
    let preview = site.preview_json(7);
    let recorded = &preview["previews"][0];
    assert_eq!(
        (recorded["state"].as_str(), recorded["head_sha"].as_str(), recorded["environment"].as_str()),
        (Some("planned"), Some(head.as_str()), Some("production"))
    );
    assert_eq!(recorded["base_sha"], site.main);
    assert_eq!(
        (recorded["plan"]["summary"]["change"].as_u64(), recorded["base_plan"]["summary"]["change"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(format!("{MARKER}1\" -->\n{}", recorded["markdown"].as_str().unwrap()), *body);
    assert!(!preview.to_string().contains("pr-hunter2"));
    // The page shows the plan the comment shows.
    let page = site.page(7);
    assert!(page.contains("<strong>0 to add, 4 to change, 0 to remove on 4 nodes in 2 groups</strong>"), "{page}");
    let (group0, group1) = (page.find("<h3>Group 0</h3>").unwrap(), page.find("<h3>Group 1</h3>").unwrap());
    assert!(group0 < group1);
    assert!(
        page[group0..group1].contains("<code>dev1.example.net</code><ul><li><span class=\"badge s-change\">change</span> <code>Lamp::Mysql[app1]</code>"),
        "{page}"
    );
    assert!(page[group1..].contains("<code>Lamp::Webapp[app1-3]</code>"), "{page}");
    assert!(page.contains("-user = &quot;user&quot;\n+user = &quot;admin&quot;"), "{page}");
    assert!(page.contains("+password = (sensitive, changed)"), "{page}");
    assert!(
        page.contains(&format!("against the commit it branched from (<code>main@sha1:{}</code>)", site.main)),
        "{page}"
    );
    assert!(!page.contains("pr-hunter2"), "{page}");
    let (_, home) = site.served.get("/");
    assert!(home.as_str().unwrap().contains("<a href=\"/previews/7\">#7</a>"), "{home}");

    // A second push to the pull request edits the same comment.
    let second = site.push(7, "admins", |repo| repo.edit("site.yaml", "db_user: user", "db_user: ops"));
    site.send(7, "synchronize", &second, "main", "Admins for app1");
    assert_eq!(
        site.wait_for_plan_status(&second),
        "success 0 to add, 8 to change, 0 to remove on 4 nodes in 2 groups https://ordo.example.com/previews/7"
    );
    site.wait_for_comments(7, "the comment shows the second push", |bodies| {
        bodies.len() == 1 && bodies[0].contains(&second)
    });
    assert_eq!(site.board.writes(), ["create 1", "edit 1"]);

    // Closed: the comment is marked outdated, and nothing more is posted.
    site.send(7, "closed", &second, "main", "Admins for app1");
    let bodies = site.wait_for_comments(7, "the comment is outdated", |bodies| {
        bodies.len() == 1 && bodies[0].contains("**Outdated:**")
    });
    assert!(bodies[0].contains(&second) && blocks_balanced(&bodies[0]), "{}", bodies[0]);
    site.served.wait_until("the preview is recorded as outdated", Duration::from_secs(10), |_| {
        site.preview_json(7)["previews"][0]["state"] == "outdated"
    });
    assert!(site.page(7).contains("The pull request is closed"));
    let late = site.push(7, "admins", |repo| repo.edit("site.yaml", "db_user: ops", "db_user: late"));
    let requests = site.forge.received().len();
    site.send(7, "synchronize", &late, "main", "Admins for app1");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(site.forge.received().len(), requests, "nothing is posted for a closed pull request");
    assert_eq!(site.board.writes(), ["create 1", "edit 1", "edit 1"]);
    assert_eq!(site.preview_json(7)["previews"][0]["head_sha"], second);
    site.forge.assert_valid();
}

#[test]
fn github_previews_are_updated_in_place_and_outdated_when_closed() {
    previewed_updated_in_place_and_outdated_when_closed(Flavor::GitHub);
}

#[test]
fn gitea_previews_are_updated_in_place_and_outdated_when_closed() {
    previewed_updated_in_place_and_outdated_when_closed(Flavor::Gitea);
}

#[test]
fn gitlab_previews_are_updated_in_place_and_outdated_when_closed() {
    previewed_updated_in_place_and_outdated_when_closed(Flavor::GitLab);
}

fn a_long_plan_is_split_without_breaking_a_code_block(flavor: Flavor) {
    let site = Site::start(flavor);
    // A user name of 40,000 characters: four components show it in their diffs, twice over
    // (against production, and against the base).
    let long_user: String = (0..4_000).map(|index| format!("user-{index:04}-")).collect();
    let head = site.push(8, "long", |repo| repo.edit("site.yaml", "db_user: user", &format!("db_user: {long_user}")));
    site.send(8, "opened", &head, "main", "A long user");
    assert!(site.wait_for_plan_status(&head).starts_with("success 0 to add, 4 to change"));
    let bodies = site.wait_for_comments(8, "the preview is posted", |bodies| !bodies.is_empty());
    // The parts arrive one by one: the first says how many there are.
    let n_parts: usize = bodies[0].split("*Part 1 of ").nth(1).unwrap().split('.').next().unwrap().parse().unwrap();
    assert!(n_parts >= 4, "{n_parts} parts");
    let bodies = site.wait_for_comments(8, "every part is posted", |bodies| bodies.len() == n_parts);
    for (index, body) in bodies.iter().enumerate() {
        assert!(body.chars().count() <= 65_536, "part {} has {} characters", index + 1, body.chars().count());
        assert!(body.starts_with(&format!("{MARKER}{}\" -->\n*Part {} of {n_parts}.*", index + 1, index + 1)));
        assert!(blocks_balanced(body), "part {} leaves a block open", index + 1);
    }
    let all = bodies.concat();
    assert!(all.contains("user-3999-") && all.contains("Lamp::Webapp[app1-3]"));

    // Back to a short plan: part 1 is edited, the other parts go.
    let short = site.push(8, "long", |repo| repo.edit("site.yaml", &format!("db_user: {long_user}"), "db_user: short"));
    site.send(8, "synchronize", &short, "main", "A long user");
    let bodies =
        site.wait_for_comments(8, "one part is left", |bodies| bodies.len() == 1 && bodies[0].contains(&short));
    assert!(!bodies[0].contains("*Part"));
    let writes = site.board.writes();
    assert_eq!(writes.iter().filter(|write| write.starts_with("create")).count(), n_parts, "{writes:?}");
    assert_eq!(writes.iter().filter(|write| write.starts_with("delete")).count(), n_parts - 1, "{writes:?}");
    site.forge.assert_valid();
}

#[test]
fn github_splits_a_long_plan_without_breaking_a_code_block() {
    a_long_plan_is_split_without_breaking_a_code_block(Flavor::GitHub);
}

#[test]
fn gitea_splits_a_long_plan_without_breaking_a_code_block() {
    a_long_plan_is_split_without_breaking_a_code_block(Flavor::Gitea);
}

#[test]
fn gitlab_splits_a_long_plan_without_breaking_a_code_block() {
    a_long_plan_is_split_without_breaking_a_code_block(Flavor::GitLab);
}

fn an_invalid_pull_request_gets_its_diagnostics_and_a_failure(flavor: Flavor) {
    let site = Site::start(flavor);
    let head = site.push(9, "broken", |repo| {
        repo.edit("site.yaml", "dev1.example.net: Lamp::Mysql[app1]", "dev9.example.net: Lamp::Mysql[app1]");
    });
    site.send(9, "opened", &head, "main", "A node that is not there");
    let status = site.wait_for_plan_status(&head);
    assert!(status.starts_with(&format!("{} Invalid: ", site.failure())), "{status}");
    assert!(
        status.contains("dev9.example.net") && status.ends_with(" https://ordo.example.com/previews/9"),
        "{status}"
    );
    let bodies = site.wait_for_comments(9, "the diagnostics are posted", |bodies| bodies.len() == 1);
    let body = &bodies[0];
    assert!(body.contains("**The pull request does not validate:** `Invalid: "), "{body}");
    let diagnostics = body.split("```text\n").nth(1).expect("the diagnostics are in a code block");
    assert!(diagnostics.contains("site.yaml") && diagnostics.contains("dev9.example.net"), "{body}");
    assert!(blocks_balanced(body), "{body}");
    let recorded = &site.preview_json(9)["previews"][0];
    assert_eq!(recorded["state"], "invalid");
    assert!(recorded["diagnostics"].as_str().unwrap().contains("dev9.example.net"));
    assert!(recorded["plan"].is_null());
    let page = site.page(9);
    assert!(page.contains("Why the pull request does not validate") && page.contains("dev9.example.net"), "{page}");
    site.forge.assert_valid();
}

#[test]
fn github_posts_the_diagnostics_of_an_invalid_pull_request() {
    an_invalid_pull_request_gets_its_diagnostics_and_a_failure(Flavor::GitHub);
}

#[test]
fn gitea_posts_the_diagnostics_of_an_invalid_pull_request() {
    an_invalid_pull_request_gets_its_diagnostics_and_a_failure(Flavor::Gitea);
}

#[test]
fn gitlab_posts_the_diagnostics_of_an_invalid_pull_request() {
    an_invalid_pull_request_gets_its_diagnostics_and_a_failure(Flavor::GitLab);
}

fn a_hostile_pull_request_reads_nothing_outside_runs_nothing_and_is_escaped(flavor: Flavor) {
    let site = Site::start(flavor);
    let outside = tempfile::tempdir().unwrap();
    let private = outside.path().join("private.txt");
    std::fs::write(&private, "TOP-SECRET-OUTSIDE\n").unwrap();
    let ran = outside.path().join("ran");
    let head = site.push(10, "hostile", |repo| {
        // A link out of the repository where a script is expected.
        repo.remove("packages/lamp/scripts/mysql-check");
        std::os::unix::fs::symlink(&private, repo.path().join("packages/lamp/scripts/mysql-check")).unwrap();
        // Scripts that write a file if anything runs them.
        for script in ["mysql-apply", "webapp-apply", "webapp-check"] {
            repo.write(&format!("packages/lamp/scripts/{script}"), &format!("#!/bin/sh\ntouch {}\n", ran.display()));
        }
        // Facts to gather, which would run Facter.
        repo.edit("inventory.yaml", "  timeout: 60\n", "  timeout: 60\n  gather_facts: true\n");
    });
    let title = "# Pwned\n@admin [click](https://evil.example/) <!-- ordo-sticky key=\"ordo/production/plan\" part=\"1\" --> ``` <b>";
    site.send(10, "opened", &head, "main", title);
    // The link is read as Git stores it: a link, so not an executable script.
    let status = site.wait_for_plan_status(&head);
    assert_eq!(
        status,
        format!(
            "{} Invalid: script packages/lamp/scripts/mysql-check is not executable https://ordo.example.com/previews/10",
            site.failure()
        )
    );
    let bodies = site.wait_for_comments(10, "the preview is posted", |bodies| bodies.len() == 1);
    let body = &bodies[0];
    // The title is one code span, its newline shown escaped: no heading, mention, link or marker.
    assert!(body.contains(&format!("Pull request #10 {}", ordo::plan::render::code(title))), "{body}");
    assert!(body.contains("`# Pwned\\n@admin"), "{body}");
    assert!(!body.lines().any(|line| line.starts_with("# Pwned") || line.starts_with("@admin")), "{body}");
    assert_eq!(body.lines().filter(|line| line.starts_with("<!-- ordo-sticky")).count(), 1, "{body}");
    // Nothing outside the repository was read, and nothing ran.
    assert!(!body.contains("TOP-SECRET-OUTSIDE"));
    assert!(!site.preview_json(10).to_string().contains("TOP-SECRET-OUTSIDE"));
    let page = site.page(10);
    assert!(page.contains("<p><code># Pwned\n@admin [click](https://evil.example/) &lt;!-- ordo-sticky"), "{page}");
    assert!(!page.contains("<b>") && !page.contains("<!-- ordo") && !page.contains("TOP-SECRET-OUTSIDE"), "{page}");
    support::assert_no_file_holds(&site.served.state(), "TOP-SECRET-OUTSIDE");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!ran.exists(), "a script of the pull request ran");

    // With the link made a script, the head plans; still nothing runs.
    let planned = site.push(10, "hostile", |repo| {
        repo.remove("packages/lamp/scripts/mysql-check");
        repo.write("packages/lamp/scripts/mysql-check", &format!("#!/bin/sh\ntouch {}\n", ran.display()));
    });
    site.send(10, "synchronize", &planned, "main", title);
    assert!(site.wait_for_plan_status(&planned).starts_with("success 0 to add, 8 to change"));
    let bodies = site.wait_for_comments(10, "the plan is posted", |bodies| bodies[0].contains(&planned));
    assert!(bodies[0].contains(&format!("Pull request #10 {}", ordo::plan::render::code(title))));
    std::thread::sleep(Duration::from_millis(500));
    assert!(!ran.exists(), "a script of the pull request ran");
    let log = site.served.log();
    assert!(!log.contains("TOP-SECRET-OUTSIDE") && !log.contains("facter"), "{log}");
    site.forge.assert_valid();
}

#[test]
fn github_hostile_pull_requests_read_nothing_outside_run_nothing_and_are_escaped() {
    a_hostile_pull_request_reads_nothing_outside_runs_nothing_and_is_escaped(Flavor::GitHub);
}

#[test]
fn gitea_hostile_pull_requests_read_nothing_outside_run_nothing_and_are_escaped() {
    a_hostile_pull_request_reads_nothing_outside_runs_nothing_and_is_escaped(Flavor::Gitea);
}

#[test]
fn gitlab_hostile_pull_requests_read_nothing_outside_run_nothing_and_are_escaped() {
    a_hostile_pull_request_reads_nothing_outside_runs_nothing_and_is_escaped(Flavor::GitLab);
}

#[test]
fn a_preview_shows_what_merging_does_now_and_what_the_pull_request_changes() {
    let site = Site::start(Flavor::GitHub);
    let head = site.push(12, "admins", |repo| repo.edit("site.yaml", "db_user: user", "db_user: admin"));
    // Meanwhile production moves on with a change the pull request does not have.
    site.repo.edit(
        "site.yaml",
        "title: app2\n    parameters:\n      db_user: user",
        "title: app2\n    parameters:\n      db_user: ops",
    );
    let moved = site.repo.commit("app2 gets its own user");
    assert_eq!(site.served.wait_for_job(2)["revision"], format!("main@sha1:{moved}"));
    assert_eq!(site.served.wait_for_job(2)["state"], "success");

    site.send(12, "opened", &head, "main", "Admins for app1");
    // Merging now changes app1's user and takes app2's back: eight components.
    assert!(
        site.wait_for_plan_status(&head)
            .starts_with("success 0 to add, 8 to change, 0 to remove on 4 nodes in 2 groups")
    );
    let bodies = site.wait_for_comments(12, "the preview is posted", |bodies| bodies.len() == 1);
    let body = &bodies[0];
    assert!(
        body.contains(&format!(
            "- What merging does to `production` now, against what it last applied (`main@sha1:{moved}`): 0 to add, 8 to change, 0 to remove on 4 nodes in 2 groups."
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "- What this pull request itself changes, against the commit it branched from (`main@sha1:{}`): 0 to add, 4 to change, 0 to remove on 4 nodes in 2 groups.",
            site.main
        )),
        "{body}"
    );
    let recorded = &site.preview_json(12)["previews"][0];
    assert_eq!(recorded["plan"]["base_revision"], format!("main@sha1:{moved}"));
    assert_eq!(recorded["base_plan"]["base_revision"], format!("main@sha1:{}", site.main));
    assert_eq!(recorded["plan"]["summary"]["change"], 8);
    assert_eq!(recorded["base_plan"]["summary"]["change"], 4);
    site.forge.assert_valid();
}

#[test]
fn a_pull_request_to_a_branch_no_environment_follows_gets_nothing() {
    let site = Site::start(Flavor::GitHub);
    let head = site.push(11, "elsewhere", |repo| repo.edit("site.yaml", "db_user: user", "db_user: admin"));
    let requests = site.forge.received().len();
    let (_, answer) = site.send(11, "opened", &head, "develop", "Into develop");
    assert_eq!(answer["message"], "no environment follows the pull request's base branch");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(site.forge.received().len(), requests, "nothing is posted");
    assert_eq!(site.served.get("/api/v1/previews/11").0, 404);
    assert_eq!(site.served.get("/previews/11").0, 404);
    // A pull request of another forge than the configured one is not previewed either.
    let pull =
        Pull { number: 11, action: "opened", head_sha: &head, head_branch: "x", base_branch: "main", title: "t" };
    let (status, answer) = site.served.gitlab_webhook("Merge Request Hook", "other-forge", &payloads::gitlab(&pull));
    assert_eq!(
        (status, answer["message"].as_str()),
        (202, Some("pull requests are previewed from the configured forge only"))
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(site.forge.received().len(), requests, "nothing is posted");
}
