//! Admin routes over duplicate cases: the case export and a supervisor's release of an
//! analyst's hold. There is no supervisor role: an admin key acts as supervisor. Both are
//! audited.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::Caller;
use super::handlers::{audit, internal, require, status_of};
use super::server::AppState;
use crate::access::keys::Role;
use crate::cases::{Actor, CaseError, ExportStatus};
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

/// `GET /v1/admin/cases/export`: the cases as JSON lines ([`crate::cases::ExportRow`] per
/// line, oldest case first): with `status=decided` (the default) the final cases, and with
/// `since` only those decided at or after it. Admins (acting as supervisors); audited with
/// the filters and the number of cases.
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
    let mut subject = format!(
        "cases export status={} since={}",
        q.get("status").map_or("decided", String::as_str),
        q.get("since").map_or("", String::as_str)
    );
    let result = async {
        let (status, since) = export_filters(&q)?;
        let cases = app.cases.clone();
        let rows = tokio::task::spawn_blocking(move || cases.export(status, since))
            .await
            .map_err(|e| internal("case export failure", e))?
            .map_err(case_problem)?;
        let mut body = String::new();
        for row in &rows {
            let line =
                serde_json::to_string(row).map_err(|e| internal("case export failure", e))?;
            body.push_str(&line);
            body.push('\n');
        }
        Ok::<_, Problem>((rows.len(), body))
    }
    .await;
    let result = result.map(|(n, body)| {
        subject.push_str(&format!(" rows={n}"));
        ([(header::CONTENT_TYPE, NDJSON)], body).into_response()
    });
    audit(
        &app,
        &who,
        "export_cases",
        subject,
        None,
        status_of(&result),
    )
    .await?;
    result
}

/// `POST /v1/admin/cases/{case_id}/release` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupervisorReleaseResponse {
    /// The case.
    pub case_id: String,
    /// The analyst's key id whose hold was released; `null` when nobody held the case.
    pub released_from: Option<String>,
}

/// `POST /v1/admin/cases/{case_id}/release`: a supervisor (an admin key) gives the case
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
    require(&who, &[Role::Admin], "release cases")?;
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
