//! The controller's HTTP side (axum): webhooks that verify and hand over, the API, the pages,
//! health, and metrics. Only this module serves HTTP; it holds no reconcile logic, and calls the
//! [`Controller`] for everything it does.
//!
//! [`app`] builds the router, so tests call it in-process; [`serve`] binds it and runs
//! until shutdown.

mod api;
mod auth;
mod ui;
mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::controller::Controller;

/// What every handler sees.
#[derive(Clone)]
pub struct AppState {
    pub controller: Controller,
    pub metrics: PrometheusHandle,
    deliveries: Arc<webhooks::Deliveries>,
}

impl AppState {
    pub fn new(controller: Controller) -> AppState {
        AppState { controller, metrics: metrics_handle(), deliveries: Arc::new(webhooks::Deliveries::default()) }
    }
}

/// The process's metrics recorder, installed once; later calls share it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (in tests); then this one only renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The router: webhooks, API, pages, health and metrics.
pub fn app(state: AppState) -> Router {
    let max_body = state.controller.config().server.max_body_bytes;
    Router::new()
        .route("/webhooks/github", post(webhooks::github))
        .route("/webhooks/gitea", post(webhooks::gitea))
        .route("/webhooks/gitlab", post(webhooks::gitlab))
        .route("/api/v1/environments", get(api::environments))
        .route("/api/v1/environments/{environment}", get(api::environment))
        .route("/api/v1/environments/{environment}/runs", post(api::run))
        .route("/api/v1/jobs", get(api::jobs))
        .route("/api/v1/jobs/{id}", get(api::job))
        .route("/api/v1/jobs/{id}/plan", get(api::job_plan))
        .route("/api/v1/jobs/{id}/cancel", post(api::cancel))
        .route("/api/v1/previews", get(api::previews))
        .route("/api/v1/previews/{number}", get(api::preview))
        .route("/", get(ui::home))
        .route("/jobs/{id}", get(ui::job))
        .route("/jobs/{id}/events", get(ui::job_events))
        .route("/environments/{environment}", get(ui::environment))
        .route("/previews/{number}", get(ui::preview))
        .route("/login", get(ui::login_page).post(ui::login))
        .route("/ui/style.css", get(ui::style))
        .route("/ui/ui.js", get(ui::script))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(max_body))
        // A bug in a handler answers 500 for that request; the controller goes on.
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .with_state(state)
}

/// Binds the listener and serves until `shutdown` is cancelled, then finishes the requests
/// in flight.
pub async fn serve(controller: Controller, listen: SocketAddr, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
    tracing::info!(%listen, "serving");
    let router = app(AppState::new(controller));
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("serving HTTP")
}
