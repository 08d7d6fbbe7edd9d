//! `GET /review/cases/{id}/prints/{reference}/{position}`: a fingerprint image a person of
//! the case submitted, read from the image store and served as PNG in the 500 ppi frame its
//! minutiae are drawn in (browsers show neither WSQ nor JPEG 2000). Each read is audited
//! (`view_finger_image`).
//!
//! The images are loaded by the pages' `<image>` elements, so a request without an analyst's
//! session gets 401 (problem+json) instead of the pages' redirect to the log-in form. Only
//! analyst and supervisor keys can hold a session (`login.rs`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::case_files::{audited_file, case_of_person, no_such_file};
use super::layout::error_page;
use super::minutiae::{PairImages, PrintImage};
use super::refusals::internal;
use super::session::Analyst;
use super::AppState;
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

/// The handler.
pub async fn print(
    State(app): State<AppState>,
    Analyst(session): Analyst,
    Path((case_id, reference, position)): Path<(String, String, String)>,
) -> Response {
    let Some(pos) = position.parse::<u8>().ok().filter(|p| (1..=10).contains(p)) else {
        return no_such_file(&session);
    };
    if let Err(page) = case_of_person(&app, &session, &case_id, &reference).await {
        return page;
    }
    let (engine, r) = (app.engine.clone(), reference.clone());
    let png = match run_on_rayon(move || engine.finger_png(&r, pos)).await {
        Ok(Ok(Some(png))) => png,
        Ok(Ok(None)) => return no_such_file(&session),
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
    let subject = format!("person:{reference} finger:{pos}");
    audited_file(
        &app,
        &session,
        ("view_finger_image", subject),
        &case_id,
        "image/png",
        png,
    )
    .await
}
