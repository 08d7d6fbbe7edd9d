//! Analyst review pages under `/review`: server-rendered HTML (maud) with a little inline
//! JavaScript for keyboard shortcuts.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET/POST | `/review/login` | log-in with an analyst API key |
//! | POST | `/review/logout` | end the session |
//! | GET | `/review` | the case queue (filters, sort, paging) |
//! | GET | `/review/cases/{id}` | a case (`?c=N` selects candidate N) |
//! | POST | `/review/cases/{id}/decide`, `/approve`, `/release`, `/deliver` | actions |
//! | GET | `/review/cases/{id}/fingers/{position}` | one finger pair drawn large (`?c=N`) |
//! | GET | `/review/cases/{id}/photo/{ref}`, `/signature/{ref}` | submitted images |
//!
//! Only `analyst` keys may log in: service-point keys have no business with cases, and admin
//! keys are kept out so the people who manage keys are not the people who decide cases.
//! Every POST form carries the session's CSRF token (the log-in form a pre-session token in
//! its own cookie); a missing or wrong token is answered 403.
//!
//! Audited besides every view of personal data (queue pages, cases, images) and every
//! decision: each failed log-in (`review_login_failed`: unknown key, with the first 8 hex
//! digits of its SHA-256 so repeated attempts can be told apart, a key of another role, or
//! a stale form) and every other 403 (`forbidden`, with the session's analyst).

pub mod align;
pub mod case_page;
pub mod draw;
pub mod evidence;
pub mod finger_page;
pub mod layout;
pub mod minutiae;
pub mod queue;
pub mod refusals;
pub mod session;

mod handlers;
mod login;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::service::server::AppState;
use session::Sessions;

/// The `/review` routes, to merge into the service router.
pub fn router(app: &AppState) -> Router<AppState> {
    let tls = app.config.tls_cert.is_some() && app.config.tls_key.is_some();
    Router::new()
        .route("/review", get(handlers::queue))
        .route("/review/", get(handlers::queue))
        .route("/review/login", get(login::login_form).post(login::login))
        .route("/review/logout", post(login::logout))
        .route("/review/cases/{id}", get(handlers::case))
        .route("/review/cases/{id}/decide", post(handlers::decide))
        .route("/review/cases/{id}/approve", post(handlers::approve))
        .route("/review/cases/{id}/release", post(handlers::release))
        .route("/review/cases/{id}/take", post(handlers::take))
        .route("/review/cases/{id}/deliver", post(handlers::deliver_again))
        .route(
            "/review/cases/{id}/fingers/{position}",
            get(finger_page::finger),
        )
        .route(
            "/review/cases/{id}/{what}/{reference}",
            get(handlers::media),
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
}
