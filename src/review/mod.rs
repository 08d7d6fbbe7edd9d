//! Analyst review pages under `/review`: server-rendered HTML (maud) with a little inline
//! JavaScript for keyboard shortcuts.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET/POST | `/review/login` | log-in with an analyst API key |
//! | POST | `/review/logout` | end the session |
//! | GET | `/review` | the case queue (filters, sort, paging) |
//! | GET | `/review/cases/{id}` | a case (`?c=N` selects candidate N) |
//! | POST | `/review/cases/{id}/decide`, `/approve`, `/take`, `/release`, `/ask`, `/deliver` | actions |
//! | POST | `/review/cases/{id}/supervisor-release` | a supervisor releases another analyst's hold |
//! | GET | `/review/cases/{id}/fingers/{position}` | one finger pair drawn large (`?c=N`) |
//! | GET | `/review/cases/{id}/photo/{ref}`, `/signature/{ref}` | submitted images |
//! | GET | `/review/cases/{id}/prints/{ref}/{position}` | a submitted fingerprint image as PNG (401 without a session) |
//! | GET | `/review/cases/{id}/eyes/{ref}/{eye}` | a submitted eye image as PNG, `eye` `right` or `left` (401 without a session) |
//!
//! Only `analyst` and `supervisor` keys may log in: service-point keys have no business with
//! cases, and admin keys are kept out so the people who manage keys are not the people who
//! decide cases. A supervisor is an analyst who may also release a case another analyst
//! holds.
//! Every POST form carries the session's CSRF token (the log-in form a pre-session token in
//! its own cookie); a missing or wrong token is answered 403.
//!
//! Audited besides every view of personal data (queue pages, cases, images) and every
//! decision: each failed log-in (`review_login_failed`: unknown key, with the first 8 hex
//! digits of its SHA-256 so repeated attempts can be told apart, a key of another role, or
//! a stale form) and every other 403 (`forbidden`, with the session's analyst).

pub mod align;
pub mod case_files;
pub mod case_page;
pub mod draw;
pub mod evidence;
pub mod eye_draw;
pub mod eyes;
pub mod finger_page;
pub mod history;
pub mod layout;
pub mod minutiae;
pub mod prints;
pub mod queue;
pub mod refusals;
pub mod session;

mod handlers;
mod lease;
mod login;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::access::audit::AuditLog;
use crate::access::keys::KeyStore;
use crate::cases::CaseStore;
use crate::enrolment::EnrolmentEngine;
use session::Sessions;

/// What the review pages work with: handed over by whoever composes the server, so the pages
/// depend on the stores and the engine contract, not on the HTTP API's own state.
pub struct ReviewApp {
    /// API keys (analysts log in with theirs).
    pub keys: Arc<KeyStore>,
    /// Audit log.
    pub audit: Arc<AuditLog>,
    /// The matching engine (evidence, case outcomes, decision threshold).
    pub engine: Arc<dyn EnrolmentEngine>,
    /// Duplicate cases.
    pub cases: Arc<CaseStore>,
    /// Whether the pages are served over TLS (cookies and headers say `Secure`).
    pub tls: bool,
    /// Percentage of the decision threshold at or above which clearing a case needs a second
    /// analyst's approval.
    pub case_clear_approval_percent: u32,
}

impl std::fmt::Debug for ReviewApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReviewApp")
            .field("engine", &self.engine.name())
            .field("tls", &self.tls)
            .field(
                "case_clear_approval_percent",
                &self.case_clear_approval_percent,
            )
            .finish_non_exhaustive()
    }
}

/// The state the review handlers receive.
pub type AppState = Arc<ReviewApp>;

/// The `/review` routes with their state, to merge into a router of any state.
pub fn router<S: Clone + Send + Sync + 'static>(app: AppState) -> Router<S> {
    let tls = app.tls;
    Router::new()
        .route("/review", get(handlers::queue))
        .route("/review/", get(handlers::queue))
        .route("/review/login", get(login::login_form).post(login::login))
        .route("/review/logout", post(login::logout))
        .route("/review/cases/{id}", get(handlers::case))
        .route("/review/cases/{id}/decide", post(handlers::decide))
        .route("/review/cases/{id}/approve", post(handlers::approve))
        .route("/review/cases/{id}/release", post(lease::release))
        .route("/review/cases/{id}/take", post(lease::take))
        .route("/review/cases/{id}/ask", post(lease::ask))
        .route(
            "/review/cases/{id}/supervisor-release",
            post(lease::supervisor_release),
        )
        .route("/review/cases/{id}/deliver", post(handlers::deliver_again))
        .route(
            "/review/cases/{id}/fingers/{position}",
            get(finger_page::finger),
        )
        .route(
            "/review/cases/{id}/prints/{reference}/{position}",
            get(prints::print),
        )
        .route("/review/cases/{id}/eyes/{reference}/{eye}", get(eyes::eye))
        .route(
            "/review/cases/{id}/{what}/{reference}",
            get(case_files::media),
        )
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            refusals::audit_refusals,
        ))
        .layer(Extension(Arc::new(Sessions::default())))
        .layer(axum::middleware::map_response(
            move |response: axum::response::Response| async move {
                layout::secure_headers(response, tls)
            },
        ))
        .with_state(app)
}
