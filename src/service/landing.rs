//! `GET /`: a small landing page pointing to the review pages, the API description and the
//! health and metrics endpoints, instead of a 404 problem.

use axum::http::header;
use axum::response::IntoResponse;

/// The landing page (no data, no key needed).
pub async fn landing() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tunggal</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.5}</style>
</head><body>
<h1>Tunggal</h1>
<p>Central biometric deduplication and identification engine.</p>
<ul>
<li><a href="/review">Analyst review</a> (analyst key)</li>
<li><a href="/openapi.json">API description</a> (OpenAPI 3; requests need a bearer key)</li>
<li><a href="/health">Health</a>, <a href="/ready">readiness</a>, <a href="/metrics">metrics</a></li>
</ul>
</body></html>
"#;
