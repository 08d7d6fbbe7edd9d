//! `GET /review/cases/{id}/eyes/{reference}/{eye}`: an eye image a person of the case
//! submitted (`eye` is `right` or `left`), read from the image store and served as PNG in
//! the pixels its segmentation is drawn in. Each read is audited (`view_eye_image`).
//!
//! Served like the fingerprint images (`prints.rs`): only to an analyst's session (401
//! without one), only for the applicant and candidates of the case (404 otherwise), never
//! cached (`private, no-store`).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::eye_draw::{EyeImage, EyePair};
use super::handlers::{blocking, case_error, internal};
use super::layout::error_page;
use super::prints::Analyst;
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
    let not_found = || error_page(StatusCode::NOT_FOUND, Some(&session), "No such image.");
    let Some(eye) = Eye::ALL.into_iter().find(|e| e.name() == eye) else {
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
    let png = match run_on_rayon(move || engine.eye_png(&r, eye.index())).await {
        Ok(Ok(Some(png))) => png,
        Ok(Ok(None)) => return not_found(),
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
    if let Err(e) = app
        .audit
        .record_case(
            &session.principal,
            "view_eye_image",
            format!("person:{reference} eye:{}", eye.name()),
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
