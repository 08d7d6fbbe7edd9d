//! What the review pages refuse and how: the error pages for case-store failures, stale
//! forms and internal failures, and the audit of failed log-ins and every other `403`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::layout::error_page;
use super::session::{cookie, Session, Sessions, SESSION_COOKIE};
use super::AppState;
use crate::access::keys::Principal;
use crate::access::refusal::{record_forbidden, route_of};
use crate::cases::CaseError;

/// The error page for a case-store refusal or failure (failures are logged).
pub(super) fn case_error(e: &CaseError, session: &Session) -> Response {
    let status = match e {
        CaseError::NotFound(_) => StatusCode::NOT_FOUND,
        CaseError::TakenBy(_) | CaseError::WrongStatus(_) | CaseError::NotHeld => {
            StatusCode::CONFLICT
        }
        CaseError::CommentRequired
        | CaseError::ReasonRequired
        | CaseError::ReasonMismatch(_)
        | CaseError::UnknownCandidate(_)
        | CaseError::NoCandidates => StatusCode::UNPROCESSABLE_ENTITY,
        CaseError::SelfApproval => StatusCode::FORBIDDEN,
        CaseError::State(_) => {
            tracing::error!(error = %e, "case store failure");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    error_page(status, Some(session), &e.to_string())
}

/// The `403` page for a form without this session's CSRF token.
pub(super) fn csrf_refused(session: Option<&Session>) -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        session,
        "This form is missing its security token or the token is stale. Reload the page and try again.",
    )
}

/// The `500` page.
pub(super) fn internal(session: &Session) -> Response {
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        Some(session),
        "The server could not complete this request.",
    )
}

/// The route whose refusals the log-in handler audits itself, with their reasons.
const LOGIN_ROUTE: &str = "/review/login";

/// Names a presented key in the audit log without keeping it: the first 8 hex digits of its
/// SHA-256 (enough to tell repeated attempts apart, far too few to recover or try the key).
pub fn key_fingerprint(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("key-sha256:{hex}")
}

/// Records a failed log-in: `reason` is `unknown_key`, `wrong_role` or `stale_form`.
pub async fn login_failed(app: &AppState, who: Option<&Principal>, reason: &str, subject: &str) {
    let subject = if subject.is_empty() {
        reason.to_owned()
    } else {
        format!("{reason} {subject}")
    };
    let status = match reason {
        "unknown_key" => 401,
        _ => 403,
    };
    if let Err(e) = app
        .audit
        .record_refusal(who, "review_login_failed", subject, status)
        .await
    {
        tracing::error!(error = %e, "audit log failure");
    }
}

/// Middleware inside the review router (so the sessions are reachable): records a
/// `forbidden` event for every `403` of a review page other than the log-in, by the
/// session's analyst when there is a live session.
pub async fn audit_refusals(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let route = route_of(&request);
    if route == LOGIN_ROUTE {
        return next.run(request).await;
    }
    let who = request
        .extensions()
        .get::<Arc<Sessions>>()
        .zip(cookie(request.headers(), SESSION_COOKIE))
        .and_then(|(sessions, id)| sessions.get(id))
        .map(|s| s.principal);
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    if response.status() == StatusCode::FORBIDDEN {
        record_forbidden(&app.audit, who.as_ref(), &method, &route).await;
    }
    response
}
