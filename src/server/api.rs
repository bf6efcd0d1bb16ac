//! The HTTP API under `/api/v1`, health and metrics. Answers are JSON; errors are
//! `{"error": "..."}` with the status that says what went wrong.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::{has_token, may_read};
use crate::controller::RunError;
use crate::store::{self, JobId, JobQuery};

/// An API error: its status and message.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.0.is_server_error() {
            tracing::error!(status = %self.0, error = %self.1, "request failed");
        }
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> ApiError {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{err:#}"))
    }
}

type ApiResult = Result<Response, ApiError>;

fn check_read(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if may_read(&state.controller.config().server, headers) {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "this controller needs the API token to read (Authorization: Bearer TOKEN)".into(),
        ))
    }
}

fn check_write(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let config = &state.controller.config().server;
    if config.api_token.is_none() {
        return Err(ApiError(StatusCode::UNAUTHORIZED, "writes are off: set api_token_env or api_token_file".into()));
    }
    if has_token(config, headers) {
        Ok(())
    } else {
        Err(ApiError(StatusCode::UNAUTHORIZED, "a valid API token is needed (Authorization: Bearer TOKEN)".into()))
    }
}

/// Reads the store on a blocking thread.
async fn read_store<T: Send + 'static>(
    state: &AppState,
    read: impl FnOnce(&dyn store::Store) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.controller.store().clone();
    tokio::task::spawn_blocking(move || read(&**store::lock(&store)))
        .await
        .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))?
        .map_err(ApiError::from)
}

pub async fn environments(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    check_read(&state, &headers)?;
    let controller = state.controller.clone();
    let environments = tokio::task::spawn_blocking(move || controller.environments())
        .await
        .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))??;
    Ok(Json(json!({ "environments": environments })).into_response())
}

pub async fn environment(State(state): State<AppState>, headers: HeaderMap, Path(name): Path<String>) -> ApiResult {
    check_read(&state, &headers)?;
    let controller = state.controller.clone();
    let lookup = name.clone();
    let view = tokio::task::spawn_blocking(move || controller.environment(&lookup))
        .await
        .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))??;
    match view {
        Some(view) => Ok(Json(view).into_response()),
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no environment {name}"))),
    }
}

#[derive(Deserialize)]
struct RunBody {
    revision: Option<String>,
}

/// `POST /api/v1/environments/ENV/runs`: queues a run and answers with its job.
pub async fn run(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    check_write(&state, &headers)?;
    let body: RunBody = if body.iter().all(u8::is_ascii_whitespace) {
        RunBody { revision: None }
    } else {
        serde_json::from_slice(&body).map_err(|err| {
            ApiError(StatusCode::BAD_REQUEST, format!("the body is not {{\"revision\": \"SHA\"}}: {err}"))
        })?
    };
    if let Some(revision) = &body.revision
        && (revision.is_empty() || revision.len() > 64 || !revision.bytes().all(|byte| byte.is_ascii_hexdigit()))
    {
        return Err(ApiError(StatusCode::BAD_REQUEST, format!("revision {revision:?} is not a commit id")));
    }
    let id = match state.controller.request_run(&name, body.revision.as_deref()).await {
        Ok(id) => id,
        Err(RunError::UnknownEnvironment(name)) => {
            return Err(ApiError(StatusCode::NOT_FOUND, format!("no environment {name}")));
        }
        Err(RunError::UnknownRevision(revision)) => {
            return Err(ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("revision {revision} is not in the repository"),
            ));
        }
        Err(RunError::Internal(err)) => return Err(err.into()),
    };
    let job = job_json(&state, id).await?.unwrap_or_else(|| json!({ "id": id }));
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, format!("/api/v1/jobs/{id}"))], Json(job)).into_response())
}

#[derive(Deserialize)]
pub struct JobsQuery {
    environment: Option<String>,
    before: Option<JobId>,
    limit: Option<usize>,
}

/// `GET /api/v1/jobs`: newest first, `limit` per page (at most 200), `before=ID` for the next.
pub async fn jobs(State(state): State<AppState>, headers: HeaderMap, Query(query): Query<JobsQuery>) -> ApiResult {
    check_read(&state, &headers)?;
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let job_query = JobQuery { environment: query.environment, before: query.before, limit };
    let jobs = read_store(&state, move |store| store.jobs(&job_query)).await?;
    let next = (jobs.len() == limit).then(|| jobs.last().map(|job| job.id)).flatten();
    Ok(Json(json!({ "jobs": jobs, "next_before": next })).into_response())
}

async fn job_json(state: &AppState, id: JobId) -> Result<Option<Value>, ApiError> {
    let detail = read_store(state, move |store| store.job(id)).await?;
    let Some(detail) = detail else { return Ok(None) };
    let mut value = serde_json::to_value(&detail.job).map_err(anyhow::Error::from)?;
    value["url"] = json!(format!("{}/jobs/{id}", state.controller.config().server.public_url));
    value["nodes"] = serde_json::to_value(&detail.nodes).map_err(anyhow::Error::from)?;
    if let Some(plan) = &detail.plan {
        value["groups"] = plan["groups"].clone();
        value["plan"] = plan.clone();
    }
    if let Some(diagnostics) = &detail.diagnostics {
        value["diagnostics"] = json!(diagnostics);
    }
    Ok(Some(value))
}

/// `GET /api/v1/jobs/ID`: the job, its plan, groups, node results and output tails.
pub async fn job(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    check_read(&state, &headers)?;
    let id = parse_id(&id)?;
    match job_json(&state, id).await? {
        Some(job) => Ok(Json(job).into_response()),
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no job {id}"))),
    }
}

/// `GET /api/v1/jobs/ID/plan`: the plan the job ran, as `ordo plan --format json` prints it.
pub async fn job_plan(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    check_read(&state, &headers)?;
    let id = parse_id(&id)?;
    match read_store(&state, move |store| store.job(id)).await? {
        Some(detail) => match detail.plan {
            Some(plan) => Ok(Json(plan).into_response()),
            None => Err(ApiError(StatusCode::NOT_FOUND, format!("job {id} has no plan: {}", detail.job.summary))),
        },
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no job {id}"))),
    }
}

#[derive(Deserialize)]
pub struct PreviewsQuery {
    limit: Option<usize>,
}

/// `GET /api/v1/previews`: the previews updated last, newest first (`limit`, at most 200),
/// without their comments and plans.
pub async fn previews(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<PreviewsQuery>,
) -> ApiResult {
    check_read(&state, &headers)?;
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let previews = read_store(&state, move |store| store.recent_previews(limit)).await?;
    Ok(Json(json!({ "previews": previews })).into_response())
}

/// `GET /api/v1/previews/N`: pull request N's previews, one per environment, each with its
/// comment's Markdown, its two plans (against the environment's last-applied state, and
/// against the commit the pull request branched from) and its diagnostics.
pub async fn preview(State(state): State<AppState>, headers: HeaderMap, Path(number): Path<String>) -> ApiResult {
    check_read(&state, &headers)?;
    let number: u64 = number
        .parse()
        .map_err(|_| ApiError(StatusCode::BAD_REQUEST, format!("{number:?} is not a pull request number")))?;
    let previews = read_store(&state, move |store| store.previews(number)).await?;
    if previews.is_empty() {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no preview of pull request {number}")));
    }
    let url = format!("{}/previews/{number}", state.controller.config().server.public_url);
    Ok(Json(json!({ "number": number, "url": url, "previews": previews })).into_response())
}

/// `POST /api/v1/jobs/ID/cancel`.
pub async fn cancel(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    check_write(&state, &headers)?;
    let id = parse_id(&id)?;
    if state.controller.cancel_job(id) {
        Ok((StatusCode::ACCEPTED, Json(json!({ "id": id, "message": "cancelling" }))).into_response())
    } else {
        Err(ApiError(StatusCode::CONFLICT, format!("job {id} is not queued or running here")))
    }
}

fn parse_id(text: &str) -> Result<JobId, ApiError> {
    text.parse().map_err(|_| ApiError(StatusCode::BAD_REQUEST, format!("{text:?} is not a job id")))
}

pub async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// Ready once the first sync with the repository happened.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.controller.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}

/// Prometheus text format.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    check_read(&state, &headers)?;
    let backlog = read_store(&state, |store| store.outbox_backlog()).await?;
    metrics::gauge!("ordo_outbox_backlog").set(backlog as f64);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response())
}

pub async fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "no such page".into())
}
