//! `GET /review/cases/{id}/eyes/{reference}/{eye}`: an eye image a person of the case
//! submitted (`eye` is `right` or `left`), read from the image store and served as PNG in
//! the pixels its segmentation is drawn in. Each read is audited (`view_eye_image`).
//!
//! Served like the fingerprint images (`prints.rs`): only to an analyst's session (401
//! without one), only for the applicant and candidates of the case (404 otherwise), never
//! cached (`private, no-store`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::case_files::{audited_file, case_of_person, no_such_file};
use super::eye_draw::{EyeImage, EyePair};
use super::layout::error_page;
use super::refusals::internal;
use super::session::Analyst;
use super::AppState;
use crate::enrolment::record::Eye;
use crate::work::run_on_rayon;

/// The eye images of the applicant `a` and the candidate `r`, by eye (right, then left),
/// for the eyes where either has one.
pub fn pair_eyes(app: &AppState, case_id: &str, a: &str, r: &str) -> Vec<EyePair> {
    Eye::ALL
        .into_iter()
        .map(|eye| {
            let one = |reference: &str| {
                app.engine
                    .eye_image(reference, eye.index())
                    .map(|info| EyeImage {
                        href: format!("/review/cases/{case_id}/eyes/{reference}/{}", eye.name()),
                        info,
                    })
            };
            EyePair {
                eye: eye.index(),
                applicant: one(a),
                candidate: one(r),
            }
        })
        .filter(|p| p.applicant.is_some() || p.candidate.is_some())
        .collect()
}

/// The handler.
pub async fn eye(
    State(app): State<AppState>,
    Analyst(session): Analyst,
    Path((case_id, reference, eye)): Path<(String, String, String)>,
) -> Response {
    let Some(eye) = Eye::ALL.into_iter().find(|e| e.name() == eye) else {
        return no_such_file(&session);
    };
    if let Err(page) = case_of_person(&app, &session, &case_id, &reference).await {
        return page;
    }
    let (engine, r) = (app.engine.clone(), reference.clone());
    let png = match run_on_rayon(move || engine.eye_png(&r, eye.index())).await {
        Ok(Ok(Some(png))) => png,
        Ok(Ok(None)) => return no_such_file(&session),
        Ok(Err(e)) => {
            tracing::error!(case_id = %case_id, reference_id = %reference, eye = eye.name(), error = %e, "eye image not readable");
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(&session),
                "The kept eye image is damaged and cannot be shown; the operator has been told (server log).",
            );
        }
        Err(_) => return internal(&session),
    };
    let subject = format!("person:{reference} eye:{}", eye.name());
    audited_file(
        &app,
        &session,
        ("view_eye_image", subject),
        &case_id,
        "image/png",
        png,
    )
    .await
}
