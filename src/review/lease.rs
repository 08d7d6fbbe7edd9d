//! The lease actions of the review pages: taking a case, releasing it, asking its holder
//! for it, and a supervisor's release of another analyst's hold.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

use super::handlers::{back, blocking, TokenForm};
use super::layout::error_page;
use super::refusals::{case_error, csrf_refused, internal};
use super::session::LoggedIn;
use super::AppState;
use crate::access::keys::Role;
use crate::cases::store::now_secs;

/// `POST /review/cases/{id}/release`: gives the case back to the queue.
pub async fn release(
    State(app): State<AppState>,
    LoggedIn { session, .. }: LoggedIn,
    Path(case_id): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    if !session.csrf_ok(form.csrf.as_deref()) {
        return csrf_refused(Some(&session));
    }
    let (cases, id, actor) = (app.cases.clone(), case_id.clone(), session.actor());
    match blocking(move || cases.release(&id, &actor, now_secs())).await {
        Some(Ok(_)) => Redirect::to("/review").into_response(),
        Some(Err(e)) => case_error(&e, &session),
        None => internal(&session),
    }
}

/// `POST /review/cases/{id}/take`: holds the case for the analyst (or renews the hold).
pub async fn take(
    State(app): State<AppState>,
    LoggedIn { session, .. }: LoggedIn,
    Path(case_id): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    if !session.csrf_ok(form.csrf.as_deref()) {
        return csrf_refused(Some(&session));
    }
    let (cases, id, actor) = (app.cases.clone(), case_id.clone(), session.actor());
    match blocking(move || cases.take(&id, &actor, now_secs())).await {
        Some(Ok(_)) => back(&case_id, "taken"),
        Some(Err(e)) => case_error(&e, &session),
        None => internal(&session),
    }
}

/// `POST /review/cases/{id}/ask`: asks the analyst holding the case to hand it over; the
/// holder sees "requested by" on the case and the queue. Audited (`ask_for_case`).
pub async fn ask(
    State(app): State<AppState>,
    LoggedIn { session, .. }: LoggedIn,
    Path(case_id): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    if !session.csrf_ok(form.csrf.as_deref()) {
        return csrf_refused(Some(&session));
    }
    let (cases, id, actor) = (app.cases.clone(), case_id.clone(), session.actor());
    let now = now_secs();
    let case = match blocking(move || cases.ask(&id, &actor, now)).await {
        Some(Ok(case)) => case,
        Some(Err(e)) => return case_error(&e, &session),
        None => return internal(&session),
    };
    let holder = case
        .holder(now)
        .map(|h| h.key_id.clone())
        .unwrap_or_default();
    if let Err(e) = app
        .audit
        .record_case(
            &session.principal,
            "ask_for_case",
            format!("holder:{holder}"),
            &case.case_id,
            303,
        )
        .await
    {
        tracing::error!(error = %e, "audit log failure");
    }
    back(&case_id, "asked")
}

/// `POST /review/cases/{id}/supervisor-release`: a supervisor gives a case another analyst
/// holds back to the queue. The trail records `supervisor_released` naming the holder; the
/// release is audited (`supervisor_release`, as through the admin API). Analysts are refused
/// (403); a case nobody holds is left as it is.
pub async fn supervisor_release(
    State(app): State<AppState>,
    LoggedIn { session, .. }: LoggedIn,
    Path(case_id): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    if !session.csrf_ok(form.csrf.as_deref()) {
        return csrf_refused(Some(&session));
    }
    if session.principal.role != Role::Supervisor {
        return error_page(
            StatusCode::FORBIDDEN,
            Some(&session),
            "Only a supervisor can release a case another analyst holds.",
        );
    }
    let (cases, id, actor) = (app.cases.clone(), case_id.clone(), session.actor());
    let (case, released) =
        match blocking(move || cases.supervisor_release(&id, &actor, now_secs())).await {
            Some(Ok(done)) => done,
            Some(Err(e)) => return case_error(&e, &session),
            None => return internal(&session),
        };
    let holder = released.map(|h| h.key_id).unwrap_or_default();
    if let Err(e) = app
        .audit
        .record_case(
            &session.principal,
            "supervisor_release",
            format!("holder:{holder}"),
            &case.case_id,
            303,
        )
        .await
    {
        tracing::error!(error = %e, "audit log failure");
    }
    back(&case_id, "supervisor_released")
}
