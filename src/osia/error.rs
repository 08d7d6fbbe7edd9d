//! Failures of OSIA requests, answered as the specification defines them: `400` and `500`
//! with its `Error` object (`{"code", "message"}`), and, where it gives no body (`401`,
//! `403`, `404`, `405`), `application/problem+json` with a machine-readable `reason`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::wire::ErrorBody;
use crate::enrolment::EngineError;
use crate::problem::Problem;

/// `Error.code` values of `400` and `500` answers (`docs/osia.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The body is not JSON or not the operation's schema.
    MalformedBody = 1,
    /// `transactionId` is missing or not 1–128 characters.
    InvalidTransactionId = 2,
    /// A query parameter is unknown, repeated or out of range.
    InvalidParameter = 3,
    /// The `callback` is not an `http(s)` URL on the callback allow-list.
    CallbackNotAllowed = 4,
    /// A biometric item is inconsistent (subtype, duplicate finger, image and missing).
    InvalidBiometricData = 5,
    /// An image could not be decoded or its minutiae not extracted.
    ImageRefused = 6,
    /// No usable biometric item to compare (only items this ABIS does not match).
    NoUsableBiometrics = 7,
    /// A feature this ABIS does not serve (`imageRef`, multi-finger images).
    Unsupported = 8,
    /// The engine failed.
    EngineFailure = 100,
    /// The data directory is full.
    StorageFull = 101,
    /// The encounter store failed.
    StoreFailure = 102,
}

/// Why an OSIA request failed.
#[derive(Debug, Clone)]
pub enum OsiaError {
    /// `400` with an `Error` body.
    Bad(Code, String),
    /// `500` with an `Error` body.
    Internal(Code, String),
    /// `404`: no such person, encounter or gallery.
    UnknownRecord(String),
    /// `403`: the encounter exists already (create, merge).
    EncounterExists(String),
    /// A refusal of the shared API (`401` keys, `403` roles, `405`).
    Problem(Problem),
}

impl OsiaError {
    /// A `400`.
    pub fn bad(code: Code, message: impl Into<String>) -> Self {
        Self::Bad(code, message.into())
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Bad(..) => StatusCode::BAD_REQUEST,
            Self::Internal(..) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::UnknownRecord(_) => StatusCode::NOT_FOUND,
            Self::EncounterExists(_) => StatusCode::FORBIDDEN,
            Self::Problem(p) => {
                StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    /// The `Error` object of the failure (the body of `400` and `500`; of every failure
    /// posted to a callback, with the HTTP status as the code where the specification has
    /// no body).
    pub fn error_body(&self) -> ErrorBody {
        match self {
            Self::Bad(code, message) | Self::Internal(code, message) => ErrorBody {
                code: *code as i32,
                message: message.clone(),
            },
            Self::UnknownRecord(m) | Self::EncounterExists(m) => ErrorBody {
                code: i32::from(self.status().as_u16()),
                message: m.clone(),
            },
            Self::Problem(p) => ErrorBody {
                code: i32::from(p.status),
                message: p.detail.clone(),
            },
        }
    }
}

impl From<Problem> for OsiaError {
    fn from(p: Problem) -> Self {
        Self::Problem(p)
    }
}

/// The failure of an engine call.
pub fn engine_error(e: EngineError) -> OsiaError {
    match e {
        EngineError::StorageFull(_) => {
            tracing::warn!(error = %e, "OSIA: disk full");
            OsiaError::Internal(Code::StorageFull, e.to_string())
        }
        EngineError::PersonNotFound(_) | EngineError::PersonDeleted(_) => {
            OsiaError::UnknownRecord(e.to_string())
        }
        EngineError::NotWired | EngineError::Unavailable(_) => {
            tracing::error!(error = %e, "OSIA: engine failure");
            OsiaError::Internal(Code::EngineFailure, e.to_string())
        }
    }
}

fn problem_json(status: StatusCode, reason: &str, title: &str, detail: &str) -> Response {
    let body = json!({
        "type": format!("urn:tunggal:problem:{reason}"),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
        "reason": reason,
    });
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

impl IntoResponse for OsiaError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            Self::Bad(..) | Self::Internal(..) => {
                (status, axum::Json(self.error_body())).into_response()
            }
            Self::UnknownRecord(detail) => problem_json(
                status,
                "osia_unknown_record",
                "Unknown person, encounter or gallery",
                &detail,
            ),
            Self::EncounterExists(detail) => problem_json(
                status,
                "osia_encounter_exists",
                "The encounter exists already",
                &detail,
            ),
            Self::Problem(p) => p.into_response(),
        }
    }
}
