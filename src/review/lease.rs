//! The lease actions of the review pages: taking a case, releasing it, and asking its
//! holder for it.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

use super::handlers::{back, blocking, case_error, csrf_refused, internal, TokenForm};
use super::session::LoggedIn;
use super::AppState;
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
