//! What the case pages load beside their HTML: the images a person of a case submitted.
//!
//! Every such route reads the case, answers `404` for a person outside it (so no image of
//! another person can be fetched through a case), audits the read before sending anything,
//! and answers `private, no-store, nosniff`. The photo and signature route is here; the
//! fingerprint route (`prints.rs`) and the eye route (`eyes.rs`) use the same two steps.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::handlers::blocking;
use super::layout::error_page;
use super::refusals::{case_error, internal};
use super::session::{LoggedIn, Session};
use super::AppState;
use crate::cases::Case;

/// The `404` page of a file the case does not have.
pub(super) fn no_such_file(session: &Session) -> Response {
    error_page(StatusCode::NOT_FOUND, Some(session), "No such image.")
}

/// The case `case_id` when `reference` is its applicant or one of its candidates; otherwise
/// the page to answer (`404`, or the case store's failure).
pub(super) async fn case_of_person(
    app: &AppState,
    session: &Session,
    case_id: &str,
    reference: &str,
) -> Result<Case, Response> {
    let (cases, id) = (app.cases.clone(), case_id.to_owned());
    let case = match blocking(move || cases.find(&id)).await {
        Some(Ok(Some(case))) => case,
        Some(Ok(None)) => return Err(no_such_file(session)),
        Some(Err(e)) => return Err(case_error(&e, session)),
        None => return Err(internal(session)),
    };
    let belongs = case.new.applicant.reference_id == reference
        || case
            .new
            .candidates
            .iter()
            .any(|c| c.person.reference_id == reference);
    if belongs {
        Ok(case)
    } else {
        Err(no_such_file(session))
    }
}

/// Audits the read (`action`, `subject`, on case `case_id`), then answers `bytes` as
/// `content_type`, never cached by others; a failed audit answers `500` and sends nothing.
pub(super) async fn audited_file(
    app: &AppState,
    session: &Session,
    (action, subject): (&str, String),
    case_id: &str,
    content_type: &'static str,
    bytes: Vec<u8>,
) -> Response {
    if let Err(e) = app
        .audit
        .record_case(&session.principal, action, subject, case_id, 200)
        .await
    {
        tracing::error!(error = %e, "audit log failure");
        return internal(session);
    }
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        bytes,
    )
        .into_response()
}

/// The media type of a submitted photo or signature, from its first bytes.
fn media_type(bytes: &[u8]) -> &'static str {
    match bytes {
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        [0x00, 0x00, 0x00, 0x0C, b'j', b'P', ..] => "image/jp2",
        _ => "application/octet-stream",
    }
}

/// `GET /review/cases/{id}/{photo|signature}/{reference}`: a submitted image of a person of
/// the case (audited `view_photo` / `view_signature`).
pub async fn media(
    State(app): State<AppState>,
    LoggedIn { session, .. }: LoggedIn,
    Path((case_id, what, reference)): Path<(String, String, String)>,
) -> Response {
    if !matches!(what.as_str(), "photo" | "signature") {
        return no_such_file(&session);
    }
    if let Err(page) = case_of_person(&app, &session, &case_id, &reference).await {
        return page;
    }
    let (engine, r, photo) = (app.engine.clone(), reference.clone(), what == "photo");
    let bytes = blocking(move || {
        if photo {
            engine.photo(&r)
        } else {
            engine.signature(&r)
        }
    })
    .await
    .flatten();
    let Some(bytes) = bytes else {
        return no_such_file(&session);
    };
    let (action, subject) = (format!("view_{what}"), format!("person:{reference}"));
    let content_type = media_type(&bytes);
    audited_file(
        &app,
        &session,
        (&action, subject),
        &case_id,
        content_type,
        bytes,
    )
    .await
}
