//! The operator's pages: server-rendered HTML, a little JavaScript for local times and live
//! updates (server-sent events), CSS and script embedded in the binary; no external fonts,
//! scripts or build step.
//!
//! `/` (environments, the newest jobs and pull-request previews), `/jobs/ID` (a job's groups, nodes, output and
//! graph, live while it runs), `/environments/ENV` (history and the current graph),
//! `/previews/N` (a pull request's previews: the plans its comments show). Reading
//! follows the API's setting: open, or the API token as a bearer or a login cookie.

mod pages;

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::auth::{constant_time_eq, may_read};
use crate::controller::Update;
use crate::controller::config::ReadAccess;
use crate::store::{self, JobDetail, JobId, JobQuery};

pub const STYLE: &str = include_str!("style.css");
pub const SCRIPT: &str = include_str!("ui.js");

/// The cookie that carries the API token for people who logged in.
const COOKIE: &str = "ordo_token";

/// Whether the request may read the pages: open, or the token as a bearer or cookie.
fn allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let config = &state.controller.config().server;
    if may_read(config, headers) {
        return true;
    }
    let Some(token) = &config.api_token else { return false };
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(&format!("{COOKIE}=")))
        .any(|value| constant_time_eq(value.as_bytes(), token.expose().as_bytes()))
}

fn login_redirect(next: &str) -> Response {
    Redirect::to(&format!(
        "/login?next={}",
        percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
    ))
    .into_response()
}

fn page(html: maud::Markup) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:",
            ),
        ],
        html.into_string(),
    )
        .into_response()
}

fn internal(err: impl std::fmt::Display) -> Response {
    tracing::error!(error = %err, "rendering a page failed");
    (StatusCode::INTERNAL_SERVER_ERROR, Html("<h1>Internal error</h1><p>See the controller's log.</p>")).into_response()
}

/// Runs a blocking read of the store or controller.
async fn blocking<T: Send + 'static>(read: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> Result<T, Response> {
    tokio::task::spawn_blocking(read).await.map_err(internal)?.map_err(|err| internal(format!("{err:#}")))
}

pub async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], STYLE)
        .into_response()
}

pub async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], SCRIPT)
        .into_response()
}

/// `/`: every environment, then the newest jobs.
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !allowed(&state, &headers) {
        return login_redirect("/");
    }
    let controller = state.controller.clone();
    let data = blocking(move || {
        let environments = controller.environments()?;
        let store = store::lock(controller.store());
        let jobs = store.jobs(&JobQuery { limit: 25, ..JobQuery::default() })?;
        let previews = store.recent_previews(10)?;
        Ok((environments, jobs, previews))
    })
    .await;
    match data {
        Ok((environments, jobs, previews)) => page(pages::home(&state.controller, &environments, &jobs, &previews)),
        Err(response) => response,
    }
}

/// `/jobs/ID`.
pub async fn job(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<JobId>() else {
        return (StatusCode::NOT_FOUND, page(pages::not_found("No such job"))).into_response();
    };
    if !allowed(&state, &headers) {
        return login_redirect(&format!("/jobs/{id}"));
    }
    match load_job(&state, id).await {
        Ok(Some(detail)) => page(pages::job(&state.controller, &detail)),
        Ok(None) => (StatusCode::NOT_FOUND, page(pages::not_found(&format!("There is no job {id}.")))).into_response(),
        Err(response) => response,
    }
}

async fn load_job(state: &AppState, id: JobId) -> Result<Option<JobDetail>, Response> {
    let shared = state.controller.store().clone();
    blocking(move || store::lock(&shared).job(id)).await
}

/// `/jobs/ID/events`: the job's live part, sent again whenever the job changes, until it ends.
pub async fn job_events(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<JobId>() else { return StatusCode::NOT_FOUND.into_response() };
    if !allowed(&state, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let updates = state.controller.subscribe();
    let stream = futures_util::stream::unfold(
        (state, updates, true, false),
        move |(state, mut updates, first, done)| async move {
            if done {
                return None;
            }
            if !first {
                // Wait for a change of this job (or for missed ones), then render it again.
                loop {
                    match updates.recv().await {
                        Ok(Update::Job { job, .. }) if job == id => break,
                        Ok(_) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    }
                }
                // Changes come in bursts (a node ends, then the next starts): send one page for them.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let detail = load_job(&state, id).await.ok().flatten()?;
            let finished = detail.job.state.is_final();
            let fragment = pages::job_live(&state.controller, &detail).into_string();
            let event: Result<Event, Infallible> = Ok(Event::default().event("update").data(fragment));
            Some((event, (state, updates, false, finished)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// `/environments/ENV`.
pub async fn environment(State(state): State<AppState>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    if !allowed(&state, &headers) {
        return login_redirect(&format!("/environments/{name}"));
    }
    let controller = state.controller.clone();
    let lookup = name.clone();
    let data = blocking(move || {
        let Some(view) = controller.environment(&lookup)? else { return Ok(None) };
        let store = store::lock(controller.store());
        let jobs = store.jobs(&JobQuery { environment: Some(lookup.clone()), before: None, limit: 50 })?;
        // The graph of the newest job that planned something.
        let plan = jobs.iter().find_map(|job| store.job(job.id).ok().flatten().and_then(|detail| detail.plan));
        Ok(Some((view, jobs, plan)))
    })
    .await;
    match data {
        Ok(Some((view, jobs, plan))) => page(pages::environment(&state.controller, &view, &jobs, plan.as_ref())),
        Ok(None) => {
            (StatusCode::NOT_FOUND, page(pages::not_found(&format!("There is no environment {name}.")))).into_response()
        }
        Err(response) => response,
    }
}

/// `/previews/N`: pull request N's previews, one per environment.
pub async fn preview(State(state): State<AppState>, headers: HeaderMap, Path(number): Path<String>) -> Response {
    let Ok(number) = number.parse::<u64>() else {
        return (StatusCode::NOT_FOUND, page(pages::not_found("No such pull request"))).into_response();
    };
    if !allowed(&state, &headers) {
        return login_redirect(&format!("/previews/{number}"));
    }
    let shared = state.controller.store().clone();
    match blocking(move || store::lock(&shared).previews(number)).await {
        Ok(previews) if previews.is_empty() => {
            (StatusCode::NOT_FOUND, page(pages::not_found(&format!("There is no preview of pull request {number}."))))
                .into_response()
        }
        Ok(previews) => page(pages::preview(&state.controller, number, &previews)),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
    next: Option<String>,
}

/// Only paths of this site are followed after a login.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next) if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') => next.to_string(),
        _ => "/".to_string(),
    }
}

pub async fn login_page(State(state): State<AppState>, Query(query): Query<LoginQuery>) -> Response {
    let open = state.controller.config().server.read_access == ReadAccess::Open;
    page(pages::login(&safe_next(query.next.as_deref()), open, false))
}

pub async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let config = &state.controller.config().server;
    let next = safe_next(form.next.as_deref());
    let valid = config
        .api_token
        .as_ref()
        .is_some_and(|token| constant_time_eq(form.token.as_bytes(), token.expose().as_bytes()));
    if !valid {
        return (StatusCode::UNAUTHORIZED, page(pages::login(&next, config.read_access == ReadAccess::Open, true)))
            .into_response();
    }
    let secure = if config.public_url.starts_with("https://") { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{secure}", form.token);
    ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
}
