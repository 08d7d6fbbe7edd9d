//! The large view of one finger pair: `GET /review/cases/{id}/fingers/{position}?c=N`.
//! Reading it does not take the case; the view is audited (`view_finger`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};

use super::case_page::{finger_caption, finger_name, quality_note, SCRIPT};
use super::handlers::{blocking, CaseParams};
use super::layout::{error_page, page};
use super::minutiae::{finger_svg, FingerGeometry, PairImages};
use super::prints::pair_images;
use super::session::LoggedIn;
use super::AppState;
use crate::cases::{Case, FingerComparison};
use crate::work::run_on_rayon;

/// Zoom factors of the large view.
pub const ZOOMS: [u32; 3] = [1, 2, 4];

/// The page body: the pair drawn large (at `zoom` times the page width, scrollable) and the
/// numbered pairs as a table.
pub fn body(
    case: &Case,
    selected: usize,
    pos: u8,
    cmp: &FingerComparison,
    images: &PairImages,
    zoom: u32,
) -> Markup {
    let geo = FingerGeometry::of(cmp);
    let back = format!("/review/cases/{}?c={selected}", case.case_id);
    let here = format!("/review/cases/{}/fingers/{pos}?c={selected}", case.case_id);
    html! {
        p { a href=(back) { "← Case " (case.case_id) } }
        h1 { (finger_name(pos)) ": applicant (left) and candidate (right)" }
        div.finger-large id="finger-large" {
            p { (finger_caption(cmp, &geo)) (quality_note(images)) }
            p.zoom id="zoom" {
                "Zoom: "
                @for z in ZOOMS {
                    @if z == zoom {
                        strong aria-current="true" { (z) "×" }
                    } @else {
                        a href={(here) "&zoom=" (z)} { (z) "×" }
                    }
                    " "
                }
            }
            div.zoom-box style="overflow:auto;max-height:85vh" tabindex="0" aria-label="finger pair, scrollable when zoomed" {
                div style={"width:" (zoom * 100) "%"} { (finger_svg(cmp, &geo, images)) }
            }
            @if geo.for_match {
                table.pairs id="pair-table" {
                    thead { tr { th { "#" } th { "Applicant x, y, direction" } th { "Candidate x, y, direction" } } }
                    tbody {
                        @for (k, &(a, c)) in cmp.pairs.iter().enumerate() {
                            @if let (Some(ma), Some(mc)) = (cmp.applicant.minutiae.get(a), cmp.candidate.minutiae.get(c)) {
                                tr data-pair=(k + 1) {
                                    td { (k + 1) }
                                    td.mono { (ma.x) ", " (ma.y) ", " (format!("{:.0}°", ma.angle_rad().to_degrees())) }
                                    td.mono { (mc.x) ", " (mc.y) ", " (format!("{:.0}°", mc.angle_rad().to_degrees())) }
                                }
                            }
                        }
                    }
                }
                p.small.muted { "Positions in 500 ppi pixels of each capture; the candidate is drawn turned and shifted onto the applicant by the best rigid fit of these pairs." }
            } @else {
                p.small.muted { "The score is evidence against a match: the minutiae the matcher tried to pair do not correspond, so none are listed." }
            }
        }
    }
}

/// `GET /review/cases/{id}/fingers/{position}`.
pub async fn finger(
    State(app): State<AppState>,
    LoggedIn { session, .. }: LoggedIn,
    Path((case_id, pos)): Path<(String, u8)>,
    Query(params): Query<CaseParams>,
) -> Response {
    let not_found = |what: &str| error_page(StatusCode::NOT_FOUND, Some(&session), what);
    let (cases, id) = (app.cases.clone(), case_id.clone());
    let case = match blocking(move || cases.find(&id)).await {
        Some(Ok(Some(case))) => case,
        Some(Ok(None)) => return not_found("No such case."),
        _ => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(&session),
                "The server could not complete this request.",
            )
        }
    };
    let selected = params.c.unwrap_or(0);
    let Some(cand) = case.new.candidates.get(selected) else {
        return not_found("This case has no such candidate.");
    };
    if !(1..=10).contains(&pos) {
        return not_found("Finger positions run from 1 to 10.");
    }
    let (a, r) = (
        case.new.applicant.reference_id.clone(),
        cand.person.reference_id.clone(),
    );
    let (app2, id) = (app.clone(), case.case_id.clone());
    let drawn = run_on_rayon(move || {
        let cmp = app2.engine.finger(&a, &r, pos)?;
        Some((cmp, pair_images(&app2, &id, &a, &r, pos)))
    })
    .await;
    let Ok(Some((cmp, images))) = drawn else {
        return not_found("No comparison of this finger is available for this pair.");
    };
    if let Err(e) = app
        .audit
        .record_case(
            &session.principal,
            "view_finger",
            format!("person:{} finger:{pos}", cand.person.reference_id),
            &case.case_id,
            200,
        )
        .await
    {
        tracing::error!(error = %e, "audit log failure");
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(&session),
            "The server could not complete this request.",
        );
    }
    let title = format!("Case {} · {}", case.case_id, finger_name(pos));
    let zoom = params.zoom.filter(|z| ZOOMS.contains(z)).unwrap_or(1);
    let body = body(&case, selected, pos, &cmp, &images, zoom);
    Html(page(&title, Some(&session), body, Some(SCRIPT)).into_string()).into_response()
}
