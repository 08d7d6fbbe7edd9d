//! What every OSIA route does before and after its operation: the bearer key and the
//! operation's scope, the query parameters and body, and the answer, direct or through the
//! callback outbox.

use std::future::Future;

use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{Code, OsiaError};
use super::params::Params;
use super::{OsiaState, Scope};
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

pub(super) async fn handle<F, Fut>(
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

pub(super) fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, OsiaError> {
    p.map(|Path(v)| v).map_err(|e| {
        OsiaError::bad(
            Code::InvalidParameter,
            format!("path parameter: {}", e.body_text()),
        )
    })
}

pub(super) type One = Result<Path<String>, PathRejection>;
pub(super) type Two = Result<Path<(String, String)>, PathRejection>;
