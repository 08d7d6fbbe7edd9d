//! Request extractors: the authenticated caller and JSON bodies that fail as problems.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::server::AppState;
use crate::access::keys::{KeyCheck, Principal};
use crate::problem::{Problem, Reason};

/// The caller, authenticated by `Authorization: Bearer <key>`.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

fn unauthorized(detail: &str) -> Problem {
    Problem::new(Reason::Unauthorized, detail)
}

/// The key of an `Authorization: Bearer <key>` header, if there is a non-empty one.
pub fn bearer_key(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let key = bearer_key(&parts.headers)
            .ok_or_else(|| unauthorized("send Authorization: Bearer <API key>"))?
            .to_owned();
        let keys = state.keys.clone();
        let found = tokio::task::spawn_blocking(move || keys.check(&key))
            .await
            .map_err(|_| Problem::new(Reason::Internal, "key lookup failed"))?
            .map_err(|e| {
                tracing::error!(error = %e, "key store failure");
                Problem::new(Reason::Internal, "key lookup failed")
            })?;
        match found {
            KeyCheck::Valid(who) => Ok(Caller(who)),
            KeyCheck::Revoked => Err(Problem::new(
                Reason::KeyRevoked,
                "this API key was revoked or replaced by a rotation",
            )),
            KeyCheck::Expired => Err(Problem::new(Reason::KeyExpired, "this API key has expired")),
            KeyCheck::Unknown => Err(unauthorized("unknown API key")),
        }
    }
}

/// A JSON body with the SHA-256 of its canonical form (for idempotency).
#[derive(Debug, Clone)]
pub struct JsonBody<T> {
    /// The parsed body.
    pub value: T,
    /// Hex SHA-256 of the body re-serialised in field order.
    pub sha256: String,
}

fn json_problem(e: &serde_json::Error) -> Problem {
    // serde's messages can quote input values (a NIK, a template): only keep those that
    // name fields.
    let message = e.to_string();
    if e.is_data() && message.starts_with("unknown field") {
        return Problem::new(Reason::UnknownField, message);
    }
    let detail = if e.is_data() && message.starts_with("missing field") {
        message
    } else if e.is_data() {
        format!(
            "a field has the wrong type or value at line {} column {}",
            e.line(),
            e.column()
        )
    } else {
        format!("invalid JSON at line {} column {}", e.line(), e.column())
    };
    Problem::new(Reason::MalformedJson, detail)
}

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned + Serialize,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(Problem::new(
                Reason::UnsupportedMediaType,
                "send Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(
                    Reason::BodyTooLarge,
                    "the body exceeds the configured limit",
                )
            } else {
                Problem::new(Reason::MalformedJson, "the body could not be read")
            }
        })?;
        Self::parse(&bytes)
    }
}

impl<T: DeserializeOwned + Serialize> JsonBody<T> {
    /// Parses a request body that arrived as `application/json`: the value and the SHA-256
    /// of its canonical form, or a `malformed_json` problem.
    pub fn parse(bytes: &[u8]) -> Result<Self, Problem> {
        let value: T = serde_json::from_slice(bytes).map_err(|e| json_problem(&e))?;
        let canonical = serde_json::to_vec(&value)
            .map_err(|_| Problem::new(Reason::Internal, "body could not be re-encoded"))?;
        let sha256 = Sha256::digest(&canonical)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self { value, sha256 })
    }
}
