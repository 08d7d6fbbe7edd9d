//! Audits refused requests: every `403` answered by the API, with the caller when its key is
//! known, the method and the route template (never the raw path, which may hold a NIK). The
//! review pages audit their own refusals (`crate::review`), with the session's analyst.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use super::extract::bearer_key;
use super::server::AppState;
pub use crate::access::refusal::{record_forbidden, route_of};

/// Middleware: after the handler, records a `forbidden` audit event for a `403` answer.
pub async fn audit_forbidden(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = route_of(&request);
    if route.starts_with("/review") {
        return next.run(request).await;
    }
    let method = request.method().as_str().to_owned();
    let key = bearer_key(request.headers()).map(str::to_owned);
    let response = next.run(request).await;
    if response.status() != StatusCode::FORBIDDEN {
        return response;
    }
    let who = match key {
        Some(key) => {
            let keys = app.keys.clone();
            tokio::task::spawn_blocking(move || keys.authenticate(&key))
                .await
                .ok()
                .and_then(Result::ok)
                .flatten()
        }
        None => None,
    };
    record_forbidden(&app.audit, who.as_ref(), &method, &route).await;
    response
}
