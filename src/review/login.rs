//! The review log-in and log-out: an analyst key starts a session.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::html;
use serde::Deserialize;

use super::handlers::{blocking, TokenForm};
use super::layout::{error_page, page};
use super::refusals;
use super::refusals::csrf_refused;
use super::session::{cookie, same_token, set_cookie, token, LoggedIn, Sessions};
use super::session::{LOGIN_COOKIE, SESSION_COOKIE, SESSION_SECS};
use super::AppState;

/// Fields of the log-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    csrf: Option<String>,
    key: Option<String>,
}

fn login_page(status: StatusCode, message: Option<&str>) -> Response {
    let csrf = token();
    let body = html! {
        div.card.login {
            h1 { "Analyst log-in" }
            p.muted.small { "Use your personal analyst or supervisor API key. Service-point and admin keys cannot open the review pages." }
            @if let Some(m) = message { p.flash.err id="login-error" { (m) } }
            form method="post" action="/review/login" {
                input type="hidden" name="csrf" value=(csrf);
                label for="key" { "API key" }
                input id="key" type="password" name="key" autocomplete="off" required autofocus;
                button.primary type="submit" id="login-button" { "Log in" }
            }
        }
    };
    let mut response =
        (status, Html(page("Log in", None, body, None).into_string())).into_response();
    if let Ok(v) = set_cookie(LOGIN_COOKIE, &csrf, 3_600).parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `GET /review/login`.
pub async fn login_form(
    Extension(sessions): Extension<Arc<Sessions>>,
    headers: HeaderMap,
) -> Response {
    let live = cookie(&headers, SESSION_COOKIE).and_then(|id| sessions.get(id));
    if live.is_some() {
        return Redirect::to("/review").into_response();
    }
    login_page(StatusCode::OK, None)
}

/// `POST /review/login`: an analyst key starts a session.
pub async fn login(
    State(app): State<AppState>,
    Extension(sessions): Extension<Arc<Sessions>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !form
        .csrf
        .as_deref()
        .is_some_and(|c| same_token(c, expected))
    {
        refusals::login_failed(&app, None, "stale_form", "").await;
        return csrf_refused(None);
    }
    let key = form.key.unwrap_or_default().trim().to_owned();
    let fingerprint = refusals::key_fingerprint(&key);
    let keys = app.keys.clone();
    let who = match blocking(move || keys.authenticate(&key)).await {
        Some(Ok(who)) => who,
        _ => return error_page(StatusCode::INTERNAL_SERVER_ERROR, None, "key check failed"),
    };
    let Some(who) = who else {
        refusals::login_failed(&app, None, "unknown_key", &fingerprint).await;
        return login_page(StatusCode::UNAUTHORIZED, Some("This key is not known."));
    };
    if !who.role.reviews() {
        refusals::login_failed(&app, Some(&who), "wrong_role", "").await;
        return login_page(
            StatusCode::FORBIDDEN,
            Some(&format!(
                "{} {} key cannot open the review pages: only analyst and supervisor keys can.",
                article(who.role.as_str()),
                who.role.as_str()
            )),
        );
    }
    if let Err(e) = app
        .audit
        .record(&who, "review_login", "-".to_owned(), None, 303)
        .await
    {
        tracing::error!(error = %e, "audit log failure");
        return error_page(StatusCode::INTERNAL_SERVER_ERROR, None, "audit log failure");
    }
    let id = sessions.start(who);
    let mut response = Redirect::to("/review").into_response();
    for c in [
        set_cookie(SESSION_COOKIE, &id, SESSION_SECS),
        set_cookie(LOGIN_COOKIE, "", 0),
    ] {
        if let Ok(v) = c.parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// `POST /review/logout`.
pub async fn logout(
    Extension(sessions): Extension<Arc<Sessions>>,
    LoggedIn { id, session }: LoggedIn,
    Form(form): Form<TokenForm>,
) -> Response {
    if !session.csrf_ok(form.csrf.as_deref()) {
        return csrf_refused(Some(&session));
    }
    sessions.end(&id);
    let mut response = Redirect::to("/review/login").into_response();
    if let Ok(v) = set_cookie(SESSION_COOKIE, "", 0).parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The indefinite article before `word`: "An" before a vowel, else "A".
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "An"
    } else {
        "A"
    }
}
