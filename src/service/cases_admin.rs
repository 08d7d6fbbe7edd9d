//! Admin routes over duplicate cases: the case export and a supervisor's release of an
//! analyst's hold (by a supervisor or an admin key). Both are audited.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::channel::{Channel, Sender};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::Caller;
use super::handlers::{audit, internal, require, status_of};
use super::server::AppState;
use crate::access::keys::{Principal, Role};
use crate::cases::{Actor, CaseError, CaseStore, ExportStatus, EXPORT_CHUNK};
use crate::problem::{Problem, Reason};

/// The media type of the export: one JSON object per line.
pub const NDJSON: &str = "application/x-ndjson";

fn bad_query(detail: impl Into<String>) -> Problem {
    Problem::new(Reason::InvalidQuery, detail)
}

fn case_problem(e: CaseError) -> Problem {
    match e {
        CaseError::NotFound(id) => Problem::new(Reason::NotFound, format!("no case {id}")),
        other => internal("case store failure", other),
    }
}

/// The export's filters from the query string: `status` (`decided`, the default, `all` or
/// a status name) and `since` (RFC 3339; decisions at or after it).
fn export_filters(q: &HashMap<String, String>) -> Result<(ExportStatus, Option<u64>), Problem> {
    if let Some(unknown) = q.keys().find(|k| !matches!(k.as_str(), "status" | "since")) {
        return Err(bad_query(format!(
            "unknown query parameter {unknown:?}: the export takes status and since"
        )));
    }
    let status = match q.get("status").map(|s| s.trim()) {
        None | Some("") => ExportStatus::Decided,
        Some(s) => ExportStatus::parse(s).ok_or_else(|| {
            bad_query(format!(
                "unknown status {s:?}: decided, all, open, pending_approval, escalated, \
                 confirmed_duplicate or cleared"
            ))
        })?,
    };
    let since = match q.get("since").map(|s| s.trim()) {
        None | Some("") => None,
        Some(s) => Some(crate::clock::parse_rfc3339(s).ok_or_else(|| {
            bad_query(format!(
                "since {s:?} is not an RFC 3339 time (2026-12-01T00:00:00Z)"
            ))
        })?),
    };
    Ok((status, since))
}

/// Chunks of [`EXPORT_CHUNK`] cases an export keeps in flight between the reader and the
/// connection.
const EXPORT_BUFFER: usize = 4;

/// `GET /v1/admin/cases/export`: the cases as JSON lines ([`crate::cases::ExportRow`] per
/// line, oldest case first): with `status=decided` (the default) the final cases, and with
/// `since` only those decided at or after it. Admins only. Audited before the first line
/// (`export_cases`, with the filters) and when the stream ends (`export_cases_done` with
/// the number of cases, or `export_cases_aborted` with the number sent).
///
/// The body is streamed: a task reads [`EXPORT_CHUNK`] cases at a time on the blocking
/// pool (a keyset seek after the last case read), serialises them there, and hands each
/// chunk to a body channel of [`EXPORT_BUFFER`] chunks, waiting while it is full. So at
/// most `EXPORT_BUFFER + 2` chunks (the channel's, the one being sent and the one being
/// read) are held at once, whatever the number of cases: memory depends on the chunk size,
/// not on the case count. A read failing after the first line aborts the body (the client
/// sees a broken transfer, not a short export that looks complete).
#[utoipa::path(get, path = "/v1/admin/cases/export", tag = "admin",
    params(
        ("status" = Option<String>, Query, description = "`decided` (default: confirmed duplicates and cleared cases), `all`, or one status"),
        ("since" = Option<String>, Query, description = "RFC 3339: only cases decided at or after this time")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One case per line (JSON lines)", body = crate::cases::ExportRow, content_type = "application/x-ndjson"),
        (status = "4XX", description = "Invalid query or forbidden", body = Problem, content_type = "application/problem+json")))]
pub async fn export_cases(
    State(app): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Problem> {
    require(&who, &[Role::Admin], "export cases")?;
    let subject = format!(
        "cases export status={} since={}",
        q.get("status").map_or("decided", String::as_str),
        q.get("since").map_or("", String::as_str)
    );
    let (status, since) = match export_filters(&q) {
        Ok(filters) => filters,
        Err(p) => {
            audit(&app, &who, "export_cases", subject, None, p.status).await?;
            return Err(p);
        }
    };
    audit(&app, &who, "export_cases", subject.clone(), None, 200).await?;
    let (tx, body) = Channel::<Bytes, std::io::Error>::new(EXPORT_BUFFER);
    tokio::spawn(stream_export(app, who, subject, status, since, tx));
    Ok(([(header::CONTENT_TYPE, NDJSON)], Body::new(body)).into_response())
}

/// A chunk of an export as body bytes, read and serialised on the blocking pool.
struct ExportBytes {
    bytes: Vec<u8>,
    rows: usize,
    next: Option<i64>,
}

fn export_bytes(
    cases: &CaseStore,
    status: ExportStatus,
    since: Option<u64>,
    after: i64,
) -> Result<ExportBytes, String> {
    let chunk = cases
        .export_chunk(status, since, after, EXPORT_CHUNK)
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::with_capacity(chunk.rows.len() * 512);
    for row in &chunk.rows {
        serde_json::to_writer(&mut bytes, row).map_err(|e| e.to_string())?;
        bytes.push(b'\n');
    }
    Ok(ExportBytes {
        bytes,
        rows: chunk.rows.len(),
        next: chunk.last_seq.filter(|_| !chunk.done),
    })
}

/// Feeds an export's chunks into its body channel, then audits how it ended.
async fn stream_export(
    app: AppState,
    who: Principal,
    subject: String,
    status: ExportStatus,
    since: Option<u64>,
    mut tx: Sender<Bytes, std::io::Error>,
) {
    let mut sent = 0usize;
    let mut after = i64::MIN;
    let failure = loop {
        let cases = app.cases.clone();
        let chunk =
            match tokio::task::spawn_blocking(move || export_bytes(&cases, status, since, after))
                .await
            {
                Ok(Ok(chunk)) => chunk,
                Ok(Err(e)) => break Some(e),
                Err(e) => break Some(e.to_string()),
            };
        if !chunk.bytes.is_empty() && tx.send_data(Bytes::from(chunk.bytes)).await.is_err() {
            break Some("the client closed the connection".to_owned());
        }
        sent += chunk.rows;
        match chunk.next {
            Some(seq) => after = seq,
            None => break None,
        }
    };
    let (action, code) = match &failure {
        None => ("export_cases_done", 200),
        Some(e) => {
            tracing::error!(error = %e, rows = sent, "case export aborted");
            ("export_cases_aborted", 500)
        }
    };
    if let Some(e) = failure {
        tx.abort(std::io::Error::other(e));
    }
    let subject = format!("{subject} rows={sent}");
    if let Err(e) = app.audit.record(&who, action, subject, None, code).await {
        tracing::error!(error = %e, "audit log failure");
    }
}

/// `POST /v1/admin/cases/{case_id}/release` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupervisorReleaseResponse {
    /// The case.
    pub case_id: String,
    /// The analyst's key id whose hold was released; `null` when nobody held the case.
    pub released_from: Option<String>,
}

/// `POST /v1/admin/cases/{case_id}/release`: a supervisor (a supervisor or admin key) gives the case
/// back to the queue whoever holds it; recorded in the case's trail as released by the
/// supervisor, and audited.
#[utoipa::path(post, path = "/v1/admin/cases/{case_id}/release", tag = "admin",
    params(("case_id" = String, Path, description = "The case id (C and nine digits)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Released (or nobody held it)", body = SupervisorReleaseResponse),
        (status = "4XX", description = "Unknown case or forbidden", body = Problem, content_type = "application/problem+json")))]
pub async fn release_case(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(case_id): Path<String>,
) -> Result<Response, Problem> {
    require(&who, &[Role::Supervisor, Role::Admin], "release cases")?;
    let now = crate::clock::now_secs();
    let by = Actor {
        key_id: who.key_id.clone(),
        name: who.name.clone(),
        owner: who.owner.clone(),
    };
    let (cases, id) = (app.cases.clone(), case_id.clone());
    let result = async {
        let (case, released) =
            tokio::task::spawn_blocking(move || cases.supervisor_release(&id, &by, now))
                .await
                .map_err(|e| internal("case store failure", e))?
                .map_err(case_problem)?;
        Ok::<_, Problem>(
            Json(SupervisorReleaseResponse {
                case_id: case.case_id,
                released_from: released.map(|a| a.key_id),
            })
            .into_response(),
        )
    }
    .await;
    let subject = format!("case:{case_id}");
    audit(
        &app,
        &who,
        "supervisor_release",
        subject,
        None,
        status_of(&result),
    )
    .await?;
    result
}
