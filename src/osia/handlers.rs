//! The OSIA routes. Each authenticates the bearer key and checks the operation's scope
//! against the key's role, reads its query parameters and body (a fault is answered at
//! once), then runs the operation: its result is the answer, or, with a `callback`, it is
//! posted there through the service's durable callback outbox and the request is answered
//! `202` with the `transactionId`. The result is queued in the outbox before the `202` is
//! sent, so an acknowledged request always gets its callback, over restarts too.

use std::future::Future;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{Code, OsiaError};
use super::params::Params;
use super::wire::{Encounter, IdentifyBody, VerifyBody, VerifyTwoBody};
use super::{persons, search, OsiaState, Scope};
use crate::access::keys::{KeyCheck, Principal};
use crate::engine::callback::Notice;
use crate::problem::{Problem, Reason};
use crate::work;

/// The result of an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The synchronous status.
    pub status: StatusCode,
    /// The synchronous body, if the status has one.
    pub body: Option<Value>,
    /// The body posted to a callback.
    pub callback: Value,
}

impl Answer {
    /// An answer with a JSON body, posted as is to a callback.
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body.clone()),
            callback: body,
        }
    }

    /// An answer without a body (`204`); a callback receives `"OK"`.
    pub fn done() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
            callback: Value::String("OK".to_owned()),
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        match self.body {
            Some(body) => (self.status, Json(body)).into_response(),
            None => self.status.into_response(),
        }
    }
}

/// An authenticated request with its parameters.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The shared state.
    pub app: OsiaState,
    /// The query parameters.
    pub params: Params,
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
}

async fn authenticate(
    app: &OsiaState,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<Principal, OsiaError> {
    let key = bearer(headers).ok_or_else(|| {
        Problem::new(Reason::Unauthorized, "send Authorization: Bearer <API key>")
    })?;
    let keys = app.keys.clone();
    let found = work::run_blocking(move || keys.check(&key))
        .await?
        .map_err(|e| {
            tracing::error!(error = %e, "key store failure");
            Problem::new(Reason::Internal, "key lookup failed")
        })?;
    let who = match found {
        KeyCheck::Valid(who) => who,
        KeyCheck::Revoked => {
            return Err(Problem::new(
                Reason::KeyRevoked,
                "this API key was revoked or replaced by a rotation",
            )
            .into())
        }
        KeyCheck::Expired => {
            return Err(Problem::new(Reason::KeyExpired, "this API key has expired").into())
        }
        KeyCheck::Unknown => {
            return Err(Problem::new(Reason::Unauthorized, "unknown API key").into())
        }
    };
    if !scope.allows(who.role) {
        return Err(Problem::new(
            Reason::Forbidden,
            format!(
                "a {} key does not hold the OSIA scope {}",
                who.role.as_str(),
                scope.name()
            ),
        )
        .into());
    }
    Ok(who)
}

async fn begin(
    app: OsiaState,
    headers: &HeaderMap,
    query: Option<String>,
    scope: Scope,
    extra: &[&str],
) -> Result<Ctx, OsiaError> {
    authenticate(&app, headers, scope).await?;
    let query = query.unwrap_or_default();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let params = Params::parse(&pairs, extra)?;
    if let Some(url) = &params.callback {
        if app.notifier.is_none() {
            return Err(OsiaError::bad(
                Code::CallbackNotAllowed,
                "asynchronous answers are not configured on this server",
            ));
        }
        let host = url.host_str().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if !(app.callback_host_allowed)(host) {
            return Err(OsiaError::bad(
                Code::CallbackNotAllowed,
                "the callback's host is not on the callback allow-list",
            ));
        }
    }
    Ok(Ctx { app, params })
}

impl Ctx {
    /// Answers `result`: at once, or posted to the callback after a `202`.
    pub async fn finish(self, result: Result<Answer, OsiaError>) -> Response {
        let (Some(url), Some(notifier)) = (&self.params.callback, &self.app.notifier) else {
            return match result {
                Ok(a) => a.into_response(),
                Err(e) => e.into_response(),
            };
        };
        let transaction = self.params.transaction_id.clone();
        let mut url = url.clone();
        url.query_pairs_mut()
            .append_pair("transactionId", &transaction);
        let body = match result {
            Ok(a) => a.callback,
            Err(e) => serde_json::to_value(e.error_body()).unwrap_or(Value::Null),
        };
        let notice = Notice {
            url: url.to_string(),
            body,
        };
        let notifier = notifier.clone();
        // Journalled in the outbox (one fsync) before the 202 acknowledges the request.
        match work::run_blocking(move || notifier.notify(notice)).await {
            Ok(()) => (StatusCode::ACCEPTED, Json(Value::String(transaction))).into_response(),
            Err(p) => OsiaError::from(p).into_response(),
        }
    }
}

async fn handle<F, Fut>(
    app: OsiaState,
    headers: HeaderMap,
    query: Option<String>,
    scope: Scope,
    extra: &[&str],
    f: F,
) -> Response
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<Response, OsiaError>>,
{
    let ctx = match begin(app, &headers, query, scope, extra).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    f(ctx).await.unwrap_or_else(IntoResponse::into_response)
}

/// Reads a JSON body of the operation's schema.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, OsiaError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(OsiaError::bad(
            Code::MalformedBody,
            "this operation needs a JSON body",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        OsiaError::bad(
            Code::MalformedBody,
            format!("the body is not the operation's JSON: {e}"),
        )
    })
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, OsiaError> {
    p.map(|Path(v)| v).map_err(|e| {
        OsiaError::bad(
            Code::InvalidParameter,
            format!("path parameter: {}", e.body_text()),
        )
    })
}

type One = Result<Path<String>, PathRejection>;
type Two = Result<Path<(String, String)>, PathRejection>;

/// `POST /v1/persons`.
pub async fn create_encounter_no_ids(
    State(app): State<OsiaState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterWrite,
        &["algorithm"],
        |ctx| async move {
            let input = persons::prepare(json_body::<Encounter>(&body)?).await?;
            let r = persons::create(&ctx.app, None, None, input).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `POST /v1/persons/{personId}/encounters`.
pub async fn create_encounter_no_id(
    State(app): State<OsiaState>,
    p: One,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterWrite,
        &["algorithm"],
        |ctx| async move {
            let person = path(p)?;
            let input = persons::prepare(json_body::<Encounter>(&body)?).await?;
            let r = persons::create(&ctx.app, Some(person), None, input).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `GET /v1/persons/{personId}/encounters`.
pub async fn read_all_encounters(
    State(app): State<OsiaState>,
    p: One,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterRead,
        &[],
        |ctx| async move {
            let person = path(p)?;
            let r = persons::read_all(&ctx.app, person).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `POST /v1/persons/{personId}/encounters/{encounterId}`.
pub async fn create_encounter(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterWrite,
        &["algorithm"],
        |ctx| async move {
            let (person, encounter) = path(p)?;
            let input = persons::prepare(json_body::<Encounter>(&body)?).await?;
            let r = persons::create(&ctx.app, Some(person), Some(encounter), input).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `GET /v1/persons/{personId}/encounters/{encounterId}`.
pub async fn read_encounter(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterRead,
        &[],
        |ctx| async move {
            let (person, encounter) = path(p)?;
            let r = persons::read(&ctx.app, person, encounter).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `PUT /v1/persons/{personId}/encounters/{encounterId}`.
pub async fn update_encounter(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterWrite,
        &["algorithm"],
        |ctx| async move {
            let (person, encounter) = path(p)?;
            let input = persons::prepare(json_body::<Encounter>(&body)?).await?;
            let r = persons::update(&ctx.app, person, encounter, input).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `DELETE /v1/persons/{personId}/encounters/{encounterId}`.
pub async fn delete_encounter(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterWrite,
        &[],
        |ctx| async move {
            let (person, encounter) = path(p)?;
            let r = persons::delete(&ctx.app, person, Some(encounter)).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `DELETE /v1/persons/{personId}`.
pub async fn delete_person(
    State(app): State<OsiaState>,
    p: One,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterWrite,
        &[],
        |ctx| async move {
            let person = path(p)?;
            let r = persons::delete(&ctx.app, person, None).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `POST /v1/persons/{personIdTarget}/merge/{personIdSource}`.
pub async fn merge_encounters(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterWrite,
        &[],
        |ctx| async move {
            let (target, source) = path(p)?;
            let r = persons::merge(&ctx.app, target, source).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `PUT /persons/{personId}/encounters/{encounterId}/status` (and under `/v1`).
pub async fn update_encounter_status(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterWrite,
        &["status"],
        |ctx| async move {
            let (person, encounter) = path(p)?;
            let status = persons::status_param(&ctx.params)?;
            let r = persons::set_status(&ctx.app, person, encounter, status).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `GET /v1/persons/{personId}/encounters/{encounterId}/templates`.
pub async fn read_templates(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let extra = [
        "biometricType",
        "biometricSubType",
        "instance",
        "templateFormat",
        "qualityFormat",
    ];
    handle(
        app,
        headers,
        q,
        Scope::EncounterRead,
        &extra,
        |ctx| async move {
            let (person, encounter) = path(p)?;
            let filter = persons::TemplateFilter::of(&ctx.params)?;
            let r = persons::templates(&ctx.app, person, encounter, filter).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

const SEARCH: [&str; 3] = ["maxNbCand", "threshold", "accuracyLevel"];

/// `POST /v1/identify/{galleryId}`.
pub async fn identify(
    State(app): State<OsiaState>,
    p: One,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::Identify,
        &SEARCH,
        |ctx| async move {
            let gallery = path(p)?;
            let body: IdentifyBody = json_body(&body)?;
            let probe = search::read_probe(body.biometric_data).await?;
            let r = search::identify(&ctx.app, &ctx.params, gallery, body.filter, probe).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `POST /v1/identify/{galleryId}/{personId}`.
pub async fn identify_from_id(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::Identify,
        &SEARCH,
        |ctx| async move {
            let (gallery, person) = path(p)?;
            let filter: serde_json::Map<String, Value> = json_body(&body)?;
            let r = search::identify_from_id(&ctx.app, &ctx.params, gallery, person, filter).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `POST /v1/verify/{galleryId}/{personId}`.
pub async fn verify_from_id(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let extra = ["threshold", "accuracyLevel"];
    handle(app, headers, q, Scope::Verify, &extra, |ctx| async move {
        let (gallery, person) = path(p)?;
        let body: VerifyBody = json_body(&body)?;
        let probe = search::read_probe(body.biometric_data).await?;
        let r = search::verify_from_id(&ctx.app, &ctx.params, gallery, person, probe).await;
        Ok(ctx.finish(r).await)
    })
    .await
}

/// `POST /v1/verify`.
pub async fn verify_from_bio(
    State(app): State<OsiaState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let extra = ["threshold", "accuracyLevel"];
    handle(app, headers, q, Scope::Verify, &extra, |ctx| async move {
        let body: VerifyTwoBody = json_body(&body)?;
        let a = search::read_probe(body.biometric_data1).await?;
        let b = search::read_probe(body.biometric_data2).await?;
        let r = search::verify_from_bio(&ctx.app, &ctx.params, a, b).await;
        Ok(ctx.finish(r).await)
    })
    .await
}

/// `GET /v1/galleries`.
pub async fn read_galleries(
    State(app): State<OsiaState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(app, headers, q, Scope::GalleryRead, &[], |ctx| async move {
        let r = search::galleries(&ctx.app).await;
        Ok(ctx.finish(r).await)
    })
    .await
}

/// `GET /v1/galleries/{galleryId}`.
pub async fn read_gallery_content(
    State(app): State<OsiaState>,
    p: One,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::GalleryRead,
        &["offset", "limit"],
        |ctx| async move {
            let gallery = path(p)?;
            let r = search::gallery_content(&ctx.app, &ctx.params, gallery).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}
