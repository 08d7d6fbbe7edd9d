//! Body-read limits: the whole request body must arrive within `body_read_timeout_secs` and
//! stay under `body_limit_bytes`, so a trickling upload is cut off with a problem instead of
//! holding a connection and a request slot until the overall request timeout.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::server::AppState;
use crate::problem::{Problem, Reason};

fn too_large() -> Response {
    Problem::new(
        Reason::BodyTooLarge,
        "the body exceeds the configured limit",
    )
    .into_response()
}

/// Reads the body within the configured time and size, then hands the buffered request on.
pub async fn read_body(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let limit = app.config.body_limit_bytes;
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    let collected = tokio::time::timeout(
        app.config.body_read_timeout(),
        Limited::new(body, limit).collect(),
    )
    .await;
    let bytes = match collected {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Ok(Err(_)) => {
            return Problem::new(Reason::MalformedJson, "the body could not be read")
                .into_response()
        }
        Err(_) => {
            return Problem::new(
                Reason::BodyTimeout,
                format!(
                    "the body did not arrive within {} s",
                    app.config.body_read_timeout_secs
                ),
            )
            .into_response()
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
