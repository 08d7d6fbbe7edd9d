//! Route handlers of the review pages.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::case_page::{self, CaseView, Drawn};
use super::layout::{error_page, page};
use super::prints::pair_images;
use super::queue::{self, QueueParams};
use super::refusals::{case_error, csrf_refused, internal};
use super::session::{LoggedIn, Session};
use super::AppState;
use crate::cases::store::now_secs;
use crate::cases::{
    Actor, Case, CaseError, CaseOutcome, CaseOutcomeError, CaseStatus, Decision, DecisionKind,
    DecisionReason, DecisionRules,
};
use crate::work::{run_blocking, run_on_rayon};

fn offset(app: &AppState) -> i64 {
    app.cases.policy().deadline.utc_offset_secs
}

/// Runs blocking store work off the async workers.
pub(super) async fn blocking<R: Send + 'static>(
    job: impl FnOnce() -> R + Send + 'static,
) -> Option<R> {
    tokio::task::spawn_blocking(job).await.ok()
}

/// Refuses a decision by an analyst whose owner also holds a live admin key: the people who
/// manage keys do not decide cases.
async fn refuse_admin_owner(app: &AppState, session: &Session) -> Option<Response> {
    let (keys, owner) = (app.keys.clone(), session.principal.owner.clone());
    match blocking(move || keys.owner_is_admin(&owner)).await {
        Some(Ok(false)) => None,
        Some(Ok(true)) => Some(error_page(
            StatusCode::FORBIDDEN,
            Some(session),
            "The owner of this key also holds an admin key: admins do not decide cases.",
        )),
        _ => Some(internal(session)),
    }
}

/// The decision rules now: the clearing bar from the engine's threshold.
fn rules(app: &AppState) -> DecisionRules {
    DecisionRules::for_threshold(
        app.engine.decision_threshold(),
        app.case_clear_approval_percent,
    )
}

pub(super) fn back(case_id: &str, done: &str) -> Response {
    Redirect::to(&format!("/review/cases/{case_id}?done={done}")).into_response()
}

/// Fields of forms that carry only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    pub(super) csrf: Option<String>,
}

// ----- pages -----

/// `GET /review`: the queue.
pub async fn queue(
    State(app): State<AppState>,
    LoggedIn { session, .. }: LoggedIn,
    Query(params): Query<QueueParams>,
) -> Response {
    let search = match params.search() {
        Ok(s) => s,
        Err(message) => return error_page(StatusCode::BAD_REQUEST, Some(&session), &message),
    };
    if let Some(search) = search {
        return search_page(&app, &session, &params, search).await;
    }
    let query = match params.query() {
        Ok(q) => q,
        Err(e) => {
            return error_page(StatusCode::BAD_REQUEST, Some(&session), &e.to_string());
        }
    };
    let now = now_secs();
    let cases = app.cases.clone();
    let q = query.clone();
    let page_data = match blocking(move || cases.list(&q, now)).await {
        Some(Ok(page)) => page,
        Some(Err(e)) => return case_error(&e, &session),
        None => return internal(&session),
    };
    // The page shows the applicants' NIKs and names: the view is audited before it is sent.
    let shown: Vec<&str> = page_data.cases.iter().map(|c| c.case_id.as_str()).collect();
    let subject = format!("cases:[{}]", shown.join(","));
    if let Err(e) = app
        .audit
        .record(&session.principal, "view_queue", subject, None, 200)
        .await
    {
        tracing::error!(error = %e, "audit log failure");
        return internal(&session);
    }
    let body = queue::body(&params, &query, &page_data, now, offset(&app));
    Html(page("Queue", Some(&session), body, Some(queue::SCRIPT)).into_string()).into_response()
}

/// `GET /review?q=…`: the cases a search finds; the view is audited with the search text.
async fn search_page(
    app: &AppState,
    session: &Session,
    params: &QueueParams,
    search: crate::cases::CaseSearch,
) -> Response {
    let now = now_secs();
    let (cases, s) = (app.cases.clone(), search.clone());
    let found = match blocking(move || cases.search(&s)).await {
        Some(Ok(found)) => found,
        Some(Err(e)) => return case_error(&e, session),
        None => return internal(session),
    };
    let shown: Vec<&str> = found.iter().map(|c| c.case_id.as_str()).collect();
    let subject = format!("search:{} cases:[{}]", search.describe(), shown.join(","));
    if let Err(e) = app
        .audit
        .record(&session.principal, "search_queue", subject, None, 200)
        .await
    {
        tracing::error!(error = %e, "audit log failure");
        return internal(session);
    }
    let body = queue::search_body(params, &search, &found, now, offset(app));
    Html(page("Search", Some(session), body, Some(queue::SCRIPT)).into_string()).into_response()
}

/// Query parameters of the case page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CaseParams {
    pub(super) c: Option<usize>,
    done: Option<String>,
    /// Zoom factor of the large finger view.
    pub(super) zoom: Option<u32>,
}

fn flash(done: Option<&str>) -> Option<(bool, String)> {
    let (ok, text) = match done? {
        "decided" => (true, "Decision recorded."),
        "confirmed" => (
            true,
            "Duplicate confirmed: a second analyst must approve it before it takes effect.",
        ),
        "cleared" => (
            true,
            "Cleared as not a duplicate: the applicant is print-ready.",
        ),
        "clear_pending" => (
            true,
            "Cleared as not a duplicate: the score is high, so a second analyst must approve \
             the clearance before it takes effect.",
        ),
        "escalated" => (true, "Case escalated."),
        "approved" => (true, "Approved: the decision takes effect."),
        "returned" => (true, "Case returned to the queue."),
        "released" => (true, "Case released to the queue."),
        "supervisor_released" => (
            true,
            "Released as supervisor: the case is back in the queue and the trail names the \
             analyst who held it.",
        ),
        "taken" => (
            true,
            "You hold this case: others see it as taken and cannot decide it.",
        ),
        "delivered" => (true, "Outcome delivered to the enrolment engine."),
        "asked" => (true, "The analyst holding this case sees your request."),
        "delivery_failed" => (
            false,
            "The decision is recorded, but the enrolment engine did not accept the outcome yet.",
        ),
        _ => return None,
    };
    Some((ok, text.to_owned()))
}

fn draw(app: &AppState, case: &Case, selected: usize) -> Drawn {
    let Some(c) = case.new.candidates.get(selected) else {
        return Drawn::default();
    };
    let (a, r) = (
        case.new.applicant.reference_id.as_str(),
        c.person.reference_id.as_str(),
    );
    let fingers = (1..=10u8)
        .filter(|&p| c.finger_scores[usize::from(p - 1)].is_some())
        .filter_map(|p| {
            let cmp = app.engine.finger(a, r, p)?;
            Some((p, cmp, pair_images(app, &case.case_id, a, r, p)))
        })
        .collect();
    let irises = (0..2)
        .filter(|&e| c.iris_distances[e].is_some())
        .filter_map(|e| app.engine.iris(a, r, e).map(|cmp| (e, cmp)))
        .collect();
    let eyes = super::eyes::pair_eyes(app, &case.case_id, a, r);
    Drawn {
        fingers,
        irises,
        eyes,
    }
}

/// `GET /review/cases/{id}`: draws the case and its evidence. Reading takes nothing and
/// writes no trail entry; the view is audited (`view_case`).
pub async fn case(
    State(app): State<AppState>,
    LoggedIn { session, .. }: LoggedIn,
    Path(case_id): Path<String>,
    Query(params): Query<CaseParams>,
) -> Response {
    let now = now_secs();
    let (cases, id) = (app.cases.clone(), case_id.clone());
    let case = match blocking(move || cases.find(&id)).await {
        Some(Ok(Some(case))) => case,
        Some(Ok(None)) => return case_error(&CaseError::NotFound(case_id), &session),
        Some(Err(e)) => return case_error(&e, &session),
        None => return internal(&session),
    };
    let selected = params.c.unwrap_or(0);
    if selected >= case.new.candidates.len() {
        return error_page(
            StatusCode::NOT_FOUND,
            Some(&session),
            "This case has no such candidate.",
        );
    }
    let subject = subject(&case);
    if let Err(e) = app
        .audit
        .record_case(&session.principal, "view_case", subject, &case.case_id, 200)
        .await
    {
        tracing::error!(error = %e, "audit log failure");
        return internal(&session);
    }
    let (app2, case2) = (app.clone(), case.clone());
    let Ok(drawn) = run_on_rayon(move || draw(&app2, &case2, selected)).await else {
        return internal(&session);
    };
    let (cases, case2) = (app.cases.clone(), case.clone());
    let history = match blocking(move || cases.history(&case2)).await {
        Some(Ok(history)) => history,
        Some(Err(e)) => return case_error(&e, &session),
        None => return internal(&session),
    };
    let view = CaseView {
        case: &case,
        selected,
        drawn,
        session: &session,
        flash: flash(params.done.as_deref()),
        now,
        offset: offset(&app),
        history,
    };
    let body = case_page::body(&view);
    let title = format!("Case {}", case.case_id);
    Html(page(&title, Some(&session), body, Some(case_page::SCRIPT)).into_string()).into_response()
}

/// Audits a decision that is already recorded in the case journal: a failure is logged, not
/// answered, because the decision stands.
async fn audit_decision(app: &AppState, session: &Session, action: &str, case: &Case) {
    if let Err(e) = app
        .audit
        .record_case(
            &session.principal,
            action,
            subject(case),
            &case.case_id,
            303,
        )
        .await
    {
        tracing::error!(error = %e, "audit log failure");
    }
}

fn subject(case: &Case) -> String {
    let mut s = format!("nik:{}", case.new.applicant.nik);
    for c in &case.new.candidates {
        s.push_str(&format!(" person:{}", c.person.reference_id));
    }
    s
}

// ----- actions -----

/// Hands a final outcome to the engine and records the delivery; whether it arrived.
async fn deliver(app: &AppState, case: &Case, outcome: CaseOutcome, by: Actor) -> bool {
    let (app2, case_id, applicant) = (
        app.clone(),
        case.case_id.clone(),
        case.new.applicant.clone(),
    );
    let result = run_blocking(move || {
        let closed = app2.engine.case_closed(&case_id, &applicant, &outcome);
        match closed {
            Ok(()) => app2
                .cases
                .mark_delivered(&case_id, &by, now_secs())
                .map(|_| ())
                .map_err(CaseOutcomeError::from),
            Err(e) => Err(e),
        }
    })
    .await;
    match result {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(case_id = %case.case_id, error = %e, "case outcome not delivered");
            false
        }
        Err(_) => false,
    }
}

/// Fields of the decision form.
#[derive(Debug, Deserialize)]
pub struct DecideForm {
    csrf: Option<String>,
    decision: Option<String>,
    candidate: Option<String>,
    reason: Option<String>,
    comment: Option<String>,
}

/// `POST /review/cases/{id}/decide`.
pub async fn decide(
    State(app): State<AppState>,
    LoggedIn { session, .. }: LoggedIn,
    Path(case_id): Path<String>,
    Form(form): Form<DecideForm>,
) -> Response {
    if !session.csrf_ok(form.csrf.as_deref()) {
        return csrf_refused(Some(&session));
    }
    let (decision, done) = match form.decision.as_deref() {
        Some("confirm") => (
            DecisionKind::ConfirmDuplicate {
                duplicate_of: form.candidate.unwrap_or_default(),
            },
            "confirmed",
        ),
        Some("clear") => (DecisionKind::Clear, "cleared"),
        Some("escalate") => (DecisionKind::Escalate, "escalated"),
        _ => {
            return error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&session),
                "Choose confirm, clear or escalate.",
            )
        }
    };
    let reason = match form.reason.as_deref().map(str::trim).unwrap_or_default() {
        "" => None,
        r => match DecisionReason::parse(r) {
            Some(r) => Some(r),
            None => {
                return error_page(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(&session),
                    "Unknown reason: choose same person, twins, family member, data-entry error, fraud suspected or other.",
                )
            }
        },
    };
    if let Some(refused) = refuse_admin_owner(&app, &session).await {
        return refused;
    }
    let decision = Decision::new(
        decision,
        reason,
        form.comment.as_deref().unwrap_or_default(),
    );
    let (cases, id, actor) = (app.cases.clone(), case_id.clone(), session.actor());
    let now = now_secs();
    let rules = rules(&app);
    let decided = blocking(move || cases.decide_with(&id, &actor, decision, now, &rules));
    let (case, outcome) = match decided.await {
        Some(Ok(r)) => r,
        Some(Err(e)) => return case_error(&e, &session),
        None => return internal(&session),
    };
    let done = if done == "cleared" && case.status == CaseStatus::PendingApproval {
        "clear_pending"
    } else {
        done
    };
    audit_decision(&app, &session, "decide_case", &case).await;
    if let Some(outcome) = outcome {
        if !deliver(&app, &case, outcome, session.actor()).await {
            return back(&case_id, "delivery_failed");
        }
    }
    back(&case_id, done)
}

/// Fields of the approval form.
#[derive(Debug, Deserialize)]
pub struct ApproveForm {
    csrf: Option<String>,
    verdict: Option<String>,
    comment: Option<String>,
}

/// `POST /review/cases/{id}/approve`: a second analyst approves or returns a confirmation.
pub async fn approve(
    State(app): State<AppState>,
    LoggedIn { session, .. }: LoggedIn,
    Path(case_id): Path<String>,
    Form(form): Form<ApproveForm>,
) -> Response {
    if !session.csrf_ok(form.csrf.as_deref()) {
        return csrf_refused(Some(&session));
    }
    let approve = match form.verdict.as_deref() {
        Some("approve") => true,
        Some("return") => false,
        _ => {
            return error_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&session),
                "Choose approve or return.",
            )
        }
    };
    if let Some(refused) = refuse_admin_owner(&app, &session).await {
        return refused;
    }
    let comment = form.comment.unwrap_or_default();
    let (cases, id, actor) = (app.cases.clone(), case_id.clone(), session.actor());
    let now = now_secs();
    let result = blocking(move || {
        if approve {
            cases
                .approve(&id, &actor, &comment, now)
                .map(|(c, o)| (c, Some(o)))
        } else {
            cases
                .return_case(&id, &actor, &comment, now)
                .map(|c| (c, None))
        }
    })
    .await;
    let (case, outcome) = match result {
        Some(Ok(r)) => r,
        Some(Err(e)) => return case_error(&e, &session),
        None => return internal(&session),
    };
    let action = if approve {
        "approve_case"
    } else {
        "return_case"
    };
    audit_decision(&app, &session, action, &case).await;
    match outcome {
        Some(outcome) => {
            if deliver(&app, &case, outcome, session.actor()).await {
                back(&case_id, "approved")
            } else {
                back(&case_id, "delivery_failed")
            }
        }
        None => back(&case_id, "returned"),
    }
}

/// `POST /review/cases/{id}/deliver`: hands a final outcome to the engine again.
pub async fn deliver_again(
    State(app): State<AppState>,
    LoggedIn { session, .. }: LoggedIn,
    Path(case_id): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    if !session.csrf_ok(form.csrf.as_deref()) {
        return csrf_refused(Some(&session));
    }
    let (cases, id) = (app.cases.clone(), case_id.clone());
    let case = match blocking(move || cases.find(&id)).await {
        Some(Ok(Some(case))) => case,
        Some(Ok(None)) => {
            return error_page(StatusCode::NOT_FOUND, Some(&session), "No such case.")
        }
        Some(Err(e)) => return case_error(&e, &session),
        None => return internal(&session),
    };
    let Some(outcome) = case.outcome() else {
        return case_error(&CaseError::WrongStatus(case.status.as_str()), &session);
    };
    if case.outcome_delivered || deliver(&app, &case, outcome, session.actor()).await {
        back(&case_id, "delivered")
    } else {
        back(&case_id, "delivery_failed")
    }
}
