//! The controller's router in-process, with no socket: each request through `oneshot`.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ordo::controller::{Controller, config};
use ordo::server::{AppState, app};
use serde_json::Value;
use support::Repo;
use support::serve::sign;
use tower::ServiceExt;

async fn controller(repo: &Repo, dir: &std::path::Path) -> Controller {
    let server = "webhook_secret_env = \"SECRET\"\napi_token_env = \"TOKEN\"\nmax_body_bytes = 4096\n";
    support::serve::in_process(repo.path(), dir, server, &[("SECRET", "s"), ("TOKEN", "t")]).await
}

async fn send(controller: &Controller, request: Request<Body>) -> (StatusCode, Value) {
    let response = app(AppState::new(controller.clone())).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned())))
}

fn webhook(event: &str, body: &[u8], signature: &str) -> Request<Body> {
    Request::post("/webhooks/github")
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", format!("{event}-{}", body.len()))
        .header("X-Hub-Signature-256", signature)
        .body(Body::from(body.to_vec()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_answers_each_route() {
    let repo = Repo::example("lamp");
    repo.git_init();
    repo.commit("the LAMP site");
    let dir = tempfile::tempdir().unwrap();
    let controller = controller(&repo, dir.path()).await;

    assert_eq!(send(&controller, Request::get("/healthz").body(Body::empty()).unwrap()).await.0, StatusCode::OK);
    let (status, environments) =
        send(&controller, Request::get("/api/v1/environments").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(environments["environments"][0]["name"], "production");
    assert_eq!(environments["environments"][0]["branch"], "main");

    let ping = br#"{"zen": "Keep it logically awesome."}"#;
    assert_eq!(send(&controller, webhook("ping", ping, &sign("s", ping))).await.0, StatusCode::ACCEPTED);
    assert_eq!(send(&controller, webhook("ping", ping, &sign("x", ping))).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&controller, webhook("push", b"[1, 2]", &sign("s", b"[1, 2]"))).await.0, StatusCode::BAD_REQUEST);
    let big = vec![b'x'; 8192];
    assert_eq!(send(&controller, webhook("push", &big, &sign("s", &big))).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    let run = |token: Option<&str>| {
        let mut request = Request::post("/api/v1/environments/production/runs");
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        request.body(Body::empty()).unwrap()
    };
    assert_eq!(send(&controller, run(None)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&controller, run(Some("wrong"))).await.0, StatusCode::UNAUTHORIZED);
    let (status, job) = send(&controller, run(Some("t"))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert!(job["id"].as_i64().is_some());
    let missing = Request::post("/api/v1/environments/staging/runs")
        .header("Authorization", "Bearer t")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&controller, missing).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        send(&controller, Request::get("/api/v1/jobs/x").body(Body::empty()).unwrap()).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(&controller, Request::get("/elsewhere").body(Body::empty()).unwrap()).await.0,
        StatusCode::NOT_FOUND
    );

    // Gitea signs with the same HMAC, as bare hex; GitLab sends the secret itself.
    let push = br#"{"ref": "refs/heads/main"}"#;
    let gitea = |signature: &str| {
        Request::post("/webhooks/gitea")
            .header("X-Gitea-Event", "push")
            .header("X-Gitea-Delivery", format!("gitea-{signature}"))
            .header("X-Gitea-Signature", signature)
            .body(Body::from(push.to_vec()))
            .unwrap()
    };
    let signed = sign("s", push);
    assert_eq!(send(&controller, gitea(signed.trim_start_matches("sha256="))).await.0, StatusCode::ACCEPTED);
    assert_eq!(send(&controller, gitea(&signed)).await.0, StatusCode::UNAUTHORIZED, "the prefix is GitHub's");
    let wrong = sign("x", push);
    assert_eq!(send(&controller, gitea(wrong.trim_start_matches("sha256="))).await.0, StatusCode::UNAUTHORIZED);
    let gitlab = |token: Option<&str>| {
        let mut request = Request::post("/webhooks/gitlab").header("X-Gitlab-Event", "Push Hook");
        if let Some(token) = token {
            request = request.header("X-Gitlab-Token", token);
        }
        request.body(Body::from(push.to_vec())).unwrap()
    };
    assert_eq!(send(&controller, gitlab(Some("s"))).await.0, StatusCode::ACCEPTED);
    assert_eq!(send(&controller, gitlab(Some("s2"))).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&controller, gitlab(None)).await.0, StatusCode::UNAUTHORIZED);

    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    let (status, previews) = send(&controller, get("/api/v1/previews")).await;
    assert_eq!((status, previews["previews"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
    assert_eq!(send(&controller, get("/api/v1/previews/1")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(send(&controller, get("/api/v1/previews/x")).await.0, StatusCode::BAD_REQUEST);
    controller.shutdown().await;
}

/// The configurations the documentation hands out load as they are.
#[test]
fn the_shipped_configurations_load() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let getenv = |name: &str| Some(format!("value of {name}"));
    let example = config::load(&root.join("examples/controller/ordo.toml"), &getenv).unwrap().unwrap();
    assert_eq!(example.repository.url, "/tmp/ordo-site");
    assert_eq!(example.environment_of("main").as_deref(), Some("production"));
    assert!(example.state_dir.ends_with(".ordo-controller"));

    let manifest = std::fs::read_to_string(root.join("deploy/kubernetes/configmap.yaml")).unwrap();
    let configmap: serde_json::Value = serde_saphyr::from_str(&manifest).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ordo.toml");
    std::fs::write(&file, configmap["data"]["ordo.toml"].as_str().unwrap()).unwrap();
    let kubernetes = config::load(&file, &getenv).unwrap().unwrap();
    assert_eq!(kubernetes.forge.kind(), "github");
    assert_eq!(kubernetes.server.listen.to_string(), "0.0.0.0:8080");
}
