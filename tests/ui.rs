//! The operator's pages: rendered in-process through the router (every page, and escaping
//! of text from the repository), and in a real headless Chromium driven over WebDriver
//! against a real `ordo serve` (what people see, and a job page that follows a running job
//! without a reload).

mod support;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ordo::controller::Controller;
use ordo::server::{AppState, app};
use support::Repo;
use support::serve::Served;
use tower::ServiceExt;

/// The LAMP example as a Git repository, with application `app1` renamed to a title that
/// is markup.
fn hostile_lamp() -> (Repo, String) {
    let repo = Repo::example("lamp");
    let site = repo.read("site.yaml").replace("app1", "a<img src=x onerror=alert(1)>");
    repo.write("site.yaml", &site);
    repo.git_init();
    let sha = repo.commit("a site with markup in a title");
    (repo, sha)
}

async fn start(repo: &Repo, dir: &std::path::Path, read_access: &str) -> Controller {
    let server = format!("api_token_env = \"TOKEN\"\nread_access = \"{read_access}\"\n");
    support::serve::in_process(repo.path(), dir, &server, &[("TOKEN", "t0k")]).await
}

async fn get(controller: &Controller, path: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    let response = app(AppState::new(controller.clone())).oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let location = response.headers().get("location").map(|value| value.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(response.into_body(), 8 << 20).await.unwrap();
    (status, location.unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()))
}

async fn wait_for_job(controller: &Controller, id: i64) {
    for _ in 0..400 {
        let done =
            ordo::store::lock(controller.store()).job(id).unwrap().is_some_and(|detail| detail.job.state.is_final());
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_and_shows_repository_text_as_text() {
    let (repo, sha) = hostile_lamp();
    let dir = tempfile::tempdir().unwrap();
    let controller = start(&repo, dir.path(), "open").await;
    wait_for_job(&controller, 1).await;

    let (status, home) = get(&controller, "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("href=\"/environments/production\"") && home.contains(&sha[..7]), "{home}");
    assert!(home.contains("<time datetime=\""));

    let (status, job) = get(&controller, "/jobs/1", None).await;
    assert_eq!(status, StatusCode::OK);
    for node in ["dev1.example.net", "dev2.example.net", "dev3.example.net", "dev4.example.net"] {
        assert!(job.contains(node), "{node} is on the job page");
    }
    assert!(job.contains("Group 0") && job.contains("Group 1") && job.contains("<svg"));
    assert!(job.contains("class=\"node node-success\""), "nodes are coloured by result");
    // The title is text everywhere: in tables, in the picture, in the plan.
    assert!(!job.contains("<img src=x"), "markup from the repository reached the page");
    assert!(job.contains("a&lt;img src=x onerror=alert(1)&gt;"));

    let (status, environment) = get(&controller, "/environments/production", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(environment.contains("<svg") && environment.contains("History") && environment.contains("#1"));
    assert!(!environment.contains("<img src=x"));

    assert_eq!(get(&controller, "/jobs/99", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&controller, "/environments/staging", None).await.0, StatusCode::NOT_FOUND);
    let (status, css) = get(&controller, "/ui/style.css", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(css.contains("@media (max-width: 640px)"), "the pages adapt to a phone's width");
    controller.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_protected_pages_need_the_login_cookie() {
    let repo = Repo::example("lamp");
    repo.git_init();
    repo.commit("the LAMP site");
    let dir = tempfile::tempdir().unwrap();
    let controller = start(&repo, dir.path(), "token").await;
    let (status, location) = get(&controller, "/jobs/1", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/login?next=%2Fjobs%2F1");
    let (status, location) = get(&controller, "/previews/1", None).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/login?next=%2Fpreviews%2F1"));
    assert_eq!(get(&controller, "/", Some("ordo_token=wrong")).await.0, StatusCode::SEE_OTHER);
    assert_eq!(get(&controller, "/", Some("ordo_token=t0k")).await.0, StatusCode::OK);

    let login = |token: &str| {
        Request::post("/login")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={token}&next=%2Fjobs%2F1")))
            .unwrap()
    };
    let response = app(AppState::new(controller.clone())).oneshot(login("t0k")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(cookie.starts_with("ordo_token=t0k;") && cookie.contains("HttpOnly"), "{cookie}");
    let response = app(AppState::new(controller.clone())).oneshot(login("nope")).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    controller.shutdown().await;
}

/// A headless Chromium driven by chromedriver, both children of the test.
struct Browser {
    driver: Child,
    client: fantoccini::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let port = support::serve::free_port();
        // In a process group of its own, so the browsers it starts go with it.
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver (Debian's chromium-driver) is installed by scripts/test");
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                         "--no-first-run", "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--window-size=1280,1000",
                         format!("--user-data-dir={}", profile.path().display())],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut last_error = None;
        for _ in 0..100 {
            match fantoccini::ClientBuilder::new(connector.clone())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => return Browser { driver, client, _profile: profile },
                Err(err) => last_error = Some(err),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start a browser: {last_error:?}");
    }

    /// The text of the first element matching `selector`; empty when there is none (yet).
    async fn text(&self, selector: &str) -> String {
        match self.client.find(fantoccini::Locator::Css(selector)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    async fn stop(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SAFETY: kill(2) of the driver's own process group.
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_sees_the_environments_the_job_and_its_live_updates() {
    let repo = Repo::example("lamp");
    repo.git_init();
    let first = repo.commit("the LAMP site");
    let served = tokio::task::spawn_blocking({
        let path = repo.path().to_path_buf();
        move || Served::start(&path, "")
    })
    .await
    .unwrap();
    let wait = served.url.clone();
    tokio::task::spawn_blocking(move || {
        let _ = wait;
    });
    let browser = Browser::start().await;

    // The home page lists the environment and the commit it applied.
    for _ in 0..100 {
        browser.client.goto(&served.url).await.unwrap();
        if browser.text("main").await.contains(&first[..7]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let home = browser.text("main").await;
    assert!(home.contains("production") && home.contains(&first[..7]) && home.contains("ready"), "{home}");

    // The job page: every node with its group and result, and the graph.
    browser.client.goto(&format!("{}/jobs/1", served.url)).await.unwrap();
    let job = browser.text("main").await;
    for node in ["dev1.example.net", "dev2.example.net", "dev3.example.net", "dev4.example.net"] {
        assert!(job.contains(node), "{node} in {job}");
    }
    assert!(job.contains("Group 0") && job.contains("Group 1") && job.contains("success"), "{job}");
    let boxes = browser.client.find_all(fantoccini::Locator::Css(".graph svg g.node-success")).await.unwrap();
    assert_eq!(boxes.len(), 4);

    // A slow job: its page, opened while it runs, follows it to the end without a reload.
    repo.write(
        "packages/lamp/scripts/webapp-apply",
        &format!("{}sleep 2\n", repo.read("packages/lamp/scripts/webapp-apply")),
    );
    repo.commit("slow web servers");
    let job_url = format!("{}/jobs/2", served.url);
    for _ in 0..200 {
        browser.client.goto(&job_url).await.unwrap();
        if browser.text("main").await.contains("running") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        browser.text("main").await.contains("running"),
        "the page was opened while the job ran: {}\n{}",
        browser.text("main").await,
        served.log()
    );
    browser.client.execute("window.stillTheSamePage = true;", vec![]).await.unwrap();
    let mut finished = false;
    for _ in 0..200 {
        if browser.text("[data-live]").await.contains("Success: 4 nodes in 2 groups") {
            finished = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(finished, "the page showed the job's end: {}", browser.text("main").await);
    let same = browser.client.execute("return window.stillTheSamePage === true;", vec![]).await.unwrap();
    assert_eq!(same, serde_json::json!(true), "the page updated without a reload");
    browser.stop().await;
    drop(served);
}
