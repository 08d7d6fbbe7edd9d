//! `GET /review/cases/{id}/prints/{reference}/{position}`: a fingerprint image a person of
//! the case submitted, read from the image store and served as PNG in the 500 ppi frame its
//! minutiae are drawn in (browsers show neither WSQ nor JPEG 2000). Each read is audited
//! (`view_finger_image`).
//!
//! The images are loaded by the pages' `<image>` elements, so a request without an analyst's
//! session gets 401 (problem+json) instead of the pages' redirect to the log-in form. Only
//! analyst and supervisor keys can hold a session (`login.rs`).

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::handlers::{blocking, case_error, internal};
use super::layout::error_page;
use super::minutiae::{PairImages, PrintImage};
use super::session::{LoggedIn, Session};
use super::AppState;
use crate::problem::{Problem, Reason};
use crate::work::run_on_rayon;

/// The submitted images of finger `pos` of the applicant `a` and the candidate `r`.
pub fn pair_images(app: &AppState, case_id: &str, a: &str, r: &str, pos: u8) -> PairImages {
    let one = |reference: &str| {
        app.engine
            .finger_print(reference, pos)
            .map(|info| PrintImage {
                href: format!("/review/cases/{case_id}/prints/{reference}/{pos}"),
                info,
            })
    };
    PairImages {
        applicant: one(a),
        candidate: one(r),
    }
}

/// An analyst's session (extractor): without one, 401.
#[derive(Debug, Clone)]
pub struct Analyst(pub Session);

impl FromRequestParts<AppState> for Analyst {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match LoggedIn::from_request_parts(parts, state).await {
            Ok(LoggedIn { session, .. }) => Ok(Self(session)),
            Err(_) => Err(Problem::new(
                Reason::Unauthorized,
                "fingerprint images need an analyst's session: log in at /review/login",
            )
            .into_response()),
        }
    }
}

/// The handler.
pub async fn print(
    State(app): State<AppState>,
    Analyst(session): Analyst,
    Path((case_id, reference, position)): Path<(String, String, String)>,
) -> Response {
    let not_found = || error_page(StatusCode::NOT_FOUND, Some(&session), "No such image.");
    let Some(pos) = position.parse::<u8>().ok().filter(|p| (1..=10).contains(p)) else {
        return not_found();
    };
    let (cases, id) = (app.cases.clone(), case_id.clone());
    let case = match blocking(move || cases.find(&id)).await {
        Some(Ok(Some(case))) => case,
        Some(Ok(None)) => return not_found(),
        Some(Err(e)) => return case_error(&e, &session),
        None => return internal(&session),
    };
    let belongs = case.new.applicant.reference_id == reference
        || case
            .new
            .candidates
            .iter()
            .any(|c| c.person.reference_id == reference);
    if !belongs {
        return not_found();
    }
    let (engine, r) = (app.engine.clone(), reference.clone());
    let png = match run_on_rayon(move || engine.finger_png(&r, pos)).await {
        Ok(Ok(Some(png))) => png,
        Ok(Ok(None)) => return not_found(),
        Ok(Err(e)) => {
            tracing::error!(case_id = %case_id, reference_id = %reference, position = pos, error = %e, "fingerprint image not readable");
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(&session),
                "The kept fingerprint image is damaged and cannot be shown; the operator has been told (server log).",
            );
        }
        Err(_) => return internal(&session),
    };
    if let Err(e) = app
        .audit
        .record_case(
            &session.principal,
            "view_finger_image",
            format!("person:{reference} finger:{pos}"),
            &case_id,
            200,
        )
        .await
    {
        tracing::error!(error = %e, "audit log failure");
        return internal(&session);
    }
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        png,
    )
        .into_response()
}
