//! Operations routes: liveness, readiness, metrics, the OpenAPI document and the fallbacks.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::super::openapi;
use super::super::server::AppState;
use crate::enrolment::wire::HealthResponse;
use crate::problem::{Problem, Reason};

/// `GET /health`: the process is up.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "Up", body = HealthResponse)))]
pub async fn health(State(app): State<AppState>) -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok".to_owned(),
        engine: app.engine.name().to_owned(),
        engine_wired: app.engine.is_wired(),
        detail: "process is up".to_owned(),
    })
}

/// `GET /ready`: ready to take traffic (503 while no matching engine is wired).
#[utoipa::path(get, path = "/ready", tag = "operations", responses(
    (status = 200, description = "Ready", body = HealthResponse),
    (status = 503, description = "Not ready (engine_not_wired, state_damaged)", body = Problem,
        content_type = "application/problem+json")))]
pub async fn ready(State(app): State<AppState>) -> Result<Json<HealthResponse>, Problem> {
    if !app.engine.is_wired() {
        return Err(Problem::new(
            Reason::EngineNotWired,
            "NOT READY: the gallery matching engine is not wired into this server; \
             enrolment, identify and verify answer 503 engine_not_wired",
        ));
    }
    if let Some(detail) = app.cases.store().integrity().damage() {
        return Err(crate::service::disk::state_damaged(&detail));
    }
    Ok(Json(HealthResponse {
        status: "ok".to_owned(),
        engine: app.engine.name().to_owned(),
        engine_wired: true,
        detail: "ready".to_owned(),
    }))
}

/// `GET /metrics`: Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String,
        content_type = "text/plain")))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    let text = crate::service::metrics::scrape(&app).await;
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        text,
    )
        .into_response()
}

/// `GET /openapi.json`: this API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI document", body = Object)))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi::document())
}

/// Fallback for unknown routes.
pub async fn not_found() -> Problem {
    Problem::new(Reason::NotFound, "no such route")
}

/// Fallback for known routes with another method.
pub async fn method_not_allowed() -> Problem {
    Problem::new(
        Reason::MethodNotAllowed,
        "this route does not take this method",
    )
}
