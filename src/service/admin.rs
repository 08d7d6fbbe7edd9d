//! Admin routes: keys (issue, list, revoke, rotate, their trail) and callback dead letters
//! (list, requeue). Every change is audited.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::{Caller, JsonBody};
use super::handlers::{audit, engine_problem, internal, require, state_problem, status_of};
use super::queue::run_blocking;
use super::server::AppState;
use crate::access::keys::{KeyError, KeyEvent, KeyRecord, KeySpec, KeyStore, Role};
use crate::engine::outbox::DeadLetter;
use crate::enrolment::wire::{CreateKeyRequest, CreateKeyResponse};
use crate::enrolment::ImageCompactionReport;
use crate::problem::{Problem, Reason};

/// `GET /v1/admin/callbacks/dead` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLettersResponse {
    /// Notices no longer tried, oldest first.
    pub dead_letters: Vec<DeadLetter>,
}

/// `POST /v1/admin/callbacks/{id}/requeue` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequeueResponse {
    /// The requeued notice.
    pub id: u64,
    /// Always `true` (an unknown id answers `not_found`).
    pub requeued: bool,
}

/// `GET /v1/admin/callbacks/dead`: callback notices given up after their last attempt (or
/// refused targets), kept for an admin (admins).
#[utoipa::path(get, path = "/v1/admin/callbacks/dead", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Dead letters", body = DeadLettersResponse),
        (status = "4XX", description = "Forbidden", body = Problem, content_type = "application/problem+json")))]
pub async fn dead_letters(
    State(app): State<AppState>,
    Caller(who): Caller,
) -> Result<Response, Problem> {
    require(&who, &[Role::Admin], "list dead letters")?;
    let Some(notifier) = app.engine.callbacks() else {
        return Ok(Json(DeadLettersResponse {
            dead_letters: Vec::new(),
        })
        .into_response());
    };
    let dead = tokio::task::spawn_blocking(move || notifier.dead_letters())
        .await
        .map_err(|e| internal("callback outbox failure", e))?
        .map_err(|e| state_problem("callback outbox failure", e))?;
    Ok(Json(DeadLettersResponse { dead_letters: dead }).into_response())
}

/// `POST /v1/admin/callbacks/{id}/requeue`: gives a dead letter a fresh set of attempts and
/// sends it now (admins; audited).
#[utoipa::path(post, path = "/v1/admin/callbacks/{id}/requeue", tag = "admin",
    params(("id" = u64, Path, description = "The dead letter's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Requeued", body = RequeueResponse),
        (status = "4XX", description = "Unknown or forbidden", body = Problem, content_type = "application/problem+json")))]
pub async fn requeue(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<u64>,
) -> Result<Response, Problem> {
    require(&who, &[Role::Admin], "requeue callbacks")?;
    let result = async {
        let notifier = app
            .engine
            .callbacks()
            .ok_or_else(|| Problem::new(Reason::NotFound, "this server posts no callbacks"))?;
        let found = tokio::task::spawn_blocking(move || notifier.requeue(id))
            .await
            .map_err(|e| internal("callback outbox failure", e))?
            .map_err(|e| state_problem("callback outbox failure", e))?;
        if !found {
            return Err(Problem::new(
                Reason::NotFound,
                "no dead letter with this id",
            ));
        }
        Ok(Json(RequeueResponse { id, requeued: true }).into_response())
    }
    .await;
    let status = status_of(&result);
    audit(
        &app,
        &who,
        "requeue_callback",
        format!("callback:{id}"),
        None,
        status,
    )
    .await?;
    result
}

/// `POST /v1/admin/images/compact`: reclaims the kept images of deleted persons and of
/// replaced images from the image store while the service runs (admins; audited). The
/// images every person not deleted names are copied into new segments, the registry's
/// references switched in one transaction, then the old segments removed.
#[utoipa::path(post, path = "/v1/admin/images/compact", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Compacted", body = ImageCompactionReport),
        (status = "4XX", description = "Forbidden, or no image store", body = Problem, content_type = "application/problem+json"),
        (status = "5XX", description = "Failed (a compaction already running, a damaged image); nothing named was lost", body = Problem, content_type = "application/problem+json")))]
pub async fn compact_images(
    State(app): State<AppState>,
    Caller(who): Caller,
) -> Result<Response, Problem> {
    require(&who, &[Role::Admin], "compact the image store")?;
    let result = async {
        let engine = app.engine.clone();
        let report = run_blocking(move || engine.compact_images())
            .await?
            .map_err(engine_problem)?
            .ok_or_else(|| Problem::new(Reason::NotFound, "this server keeps no images"))?;
        Ok(Json(report).into_response())
    }
    .await;
    let status = status_of(&result);
    audit(
        &app,
        &who,
        "compact_images",
        "images".to_owned(),
        None,
        status,
    )
    .await?;
    result
}

/// A key as admins see it (never its hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyOut {
    /// Public key id.
    pub key_id: String,
    /// Holder's name.
    pub name: String,
    /// The person the key is issued to.
    pub owner: String,
    /// Role.
    pub role: String,
    /// District (service-point keys).
    pub district: Option<String>,
    /// Service point (service-point keys).
    pub service_point: Option<String>,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: Option<u64>,
    /// Revocation (or rotation) time, seconds since the Unix epoch.
    pub revoked_at: Option<u64>,
}

impl From<&KeyRecord> for KeyOut {
    fn from(r: &KeyRecord) -> Self {
        Self {
            key_id: r.key_id.clone(),
            name: r.name.clone(),
            owner: r.owner().to_owned(),
            role: r.role.as_str().to_owned(),
            district: r.district.clone(),
            service_point: r.service_point.clone(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// `GET /v1/admin/keys` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeysResponse {
    /// Every key, oldest first.
    pub keys: Vec<KeyOut>,
}

/// `GET /v1/admin/keys/events` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyEventsResponse {
    /// Every key creation, revocation and rotation, oldest first.
    pub events: Vec<KeyEvent>,
}

fn key_problem(e: KeyError) -> Problem {
    match e {
        KeyError::State(e) => state_problem("key store failure", e),
        KeyError::NotFound(id) => Problem::new(Reason::NotFound, format!("no active key {id}")),
        e => internal("key store failure", e),
    }
}

async fn on_keys<T: Send + 'static>(
    app: &AppState,
    job: impl FnOnce(&KeyStore) -> Result<T, KeyError> + Send + 'static,
) -> Result<T, Problem> {
    let keys = app.keys.clone();
    tokio::task::spawn_blocking(move || job(&keys))
        .await
        .map_err(|e| internal("key store failure", e))?
        .map_err(key_problem)
}

/// `POST /v1/admin/keys`: issue an API key to an owner (admins; audited). The key is shown
/// only in this answer.
#[utoipa::path(post, path = "/v1/admin/keys", tag = "admin",
    request_body = CreateKeyRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "The new key", body = CreateKeyResponse),
        (status = "4XX", description = "Invalid or forbidden", body = Problem, content_type = "application/problem+json")))]
pub async fn create_key(
    State(app): State<AppState>,
    Caller(who): Caller,
    body: JsonBody<CreateKeyRequest>,
) -> Result<Response, Problem> {
    require(&who, &[Role::Admin], "create keys")?;
    let r = &body.value;
    let result = async {
        let mut spec = KeySpec::parse(
            &r.role,
            &r.name,
            r.district.as_deref(),
            r.service_point.as_deref(),
        )?;
        if let Some(owner) = &r.owner {
            spec = spec.owned_by(owner)?;
        }
        if let Some(at) = r.expires_at {
            spec = spec.expiring(at)?;
        }
        let by = who.key_id.clone();
        let (key, record) = on_keys(&app, move |k| k.create(&spec, &by)).await?;
        tracing::info!(by = %who.key_id, key_id = %record.key_id, role = record.role.as_str(), "API key created");
        Ok((
            record.key_id.clone(),
            (
                StatusCode::CREATED,
                Json(CreateKeyResponse {
                    key,
                    key_id: record.key_id.clone(),
                }),
            )
                .into_response(),
            format!(
                "key:{} role:{} owner:{}",
                record.key_id,
                record.role.as_str(),
                record.owner()
            ),
        ))
    }
    .await;
    let (result, subject) = match result {
        Ok((_, response, subject)) => (Ok(response), subject),
        Err(p) => (Err(p), format!("role:{}", r.role)),
    };
    audit(&app, &who, "create_key", subject, None, status_of(&result)).await?;
    result
}

/// `GET /v1/admin/keys`: every key with owner, role, expiry and revocation (admins).
#[utoipa::path(get, path = "/v1/admin/keys", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Keys", body = KeysResponse),
        (status = "4XX", description = "Forbidden", body = Problem, content_type = "application/problem+json")))]
pub async fn list_keys(
    State(app): State<AppState>,
    Caller(who): Caller,
) -> Result<Response, Problem> {
    require(&who, &[Role::Admin], "list keys")?;
    let keys = on_keys(&app, KeyStore::list).await?;
    Ok(Json(KeysResponse {
        keys: keys.iter().map(KeyOut::from).collect(),
    })
    .into_response())
}

/// `GET /v1/admin/keys/events`: every key creation, revocation and rotation (admins).
#[utoipa::path(get, path = "/v1/admin/keys/events", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Key events", body = KeyEventsResponse),
        (status = "4XX", description = "Forbidden", body = Problem, content_type = "application/problem+json")))]
pub async fn key_events(
    State(app): State<AppState>,
    Caller(who): Caller,
) -> Result<Response, Problem> {
    require(&who, &[Role::Admin], "read key events")?;
    let events = on_keys(&app, KeyStore::events).await?;
    Ok(Json(KeyEventsResponse { events }).into_response())
}

/// `POST /v1/admin/keys/{key_id}/revoke`: revoke a key; refused from the next request on
/// (admins; audited).
#[utoipa::path(post, path = "/v1/admin/keys/{key_id}/revoke", tag = "admin",
    params(("key_id" = String, Path, description = "The key's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The revoked key", body = KeyOut),
        (status = "4XX", description = "Unknown or forbidden", body = Problem, content_type = "application/problem+json")))]
pub async fn revoke_key(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(key_id): Path<String>,
) -> Result<Response, Problem> {
    require(&who, &[Role::Admin], "revoke keys")?;
    let (id, by) = (key_id.clone(), who.key_id.clone());
    let result = on_keys(&app, move |k| k.revoke(&id, &by))
        .await
        .map(|r| Json(KeyOut::from(&r)).into_response());
    let status = status_of(&result);
    audit(
        &app,
        &who,
        "revoke_key",
        format!("key:{key_id}"),
        None,
        status,
    )
    .await?;
    result
}

/// `POST /v1/admin/keys/{key_id}/rotate`: a new secret for the same owner, role and binding;
/// the old key is revoked at once (admins; audited). The new key is shown only here.
#[utoipa::path(post, path = "/v1/admin/keys/{key_id}/rotate", tag = "admin",
    params(("key_id" = String, Path, description = "The key's id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new key", body = CreateKeyResponse),
        (status = "4XX", description = "Unknown or forbidden", body = Problem, content_type = "application/problem+json")))]
pub async fn rotate_key(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(key_id): Path<String>,
) -> Result<Response, Problem> {
    require(&who, &[Role::Admin], "rotate keys")?;
    let (id, by) = (key_id.clone(), who.key_id.clone());
    let result = on_keys(&app, move |k| k.rotate(&id, &by)).await;
    let subject = match &result {
        Ok((_, r)) => format!("key:{key_id} new_key:{}", r.key_id),
        Err(_) => format!("key:{key_id}"),
    };
    let result = result.map(|(key, r)| {
        (
            StatusCode::CREATED,
            Json(CreateKeyResponse {
                key,
                key_id: r.key_id,
            }),
        )
            .into_response()
    });
    audit(&app, &who, "rotate_key", subject, None, status_of(&result)).await?;
    result
}
