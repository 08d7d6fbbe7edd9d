//! Route handlers. Each authenticates, validates, checks the caller's role, goes through
//! idempotency and the queue, calls the engine on rayon, and audits access to person data.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use tunggal_domain::date::Date;
use utoipa::IntoParams;

use super::extract::{Caller, JsonBody};
use super::queue::{run_blocking, run_on_rayon};
use super::server::AppState;
use crate::access::keys::{now_secs, Principal, Role};
use crate::enrolment::answer::{fingerprint_quality_out, iris_quality_out};
use crate::enrolment::record::Origin;
use crate::enrolment::validate;
use crate::enrolment::wire::{
    DeleteResponse, EnrolmentRequest, EnrolmentResponse, IdentifyRequest, IdentifyResponse,
    PersonResponse, PersonsByNikResponse, VerifyRequest, VerifyResponse,
};
use crate::enrolment::{candidate_out, enrolment_body, EngineError, PersonInfo};
use crate::problem::{Problem, Reason};
use crate::state::idempotency::{Answer, Claim};

mod operations;
mod persons;

pub use operations::*;
pub use persons::*;

/// Header set on an answer replayed from the idempotency store.
pub const REPLAY_HEADER: &str = "idempotent-replay";

pub(crate) fn internal(what: &str, e: impl std::fmt::Display) -> Problem {
    tracing::error!(error = %e, "{what}");
    Problem::new(Reason::Internal, what)
}

/// A storage failure: `insufficient_storage` when the disk is full, else internal.
fn storage_problem(what: &str, full: bool, e: impl std::fmt::Display) -> Problem {
    if full {
        tracing::warn!(error = %e, "{what}: disk full");
        return Problem::new(
            Reason::InsufficientStorage,
            "the data directory is full; nothing was stored, retry later",
        )
        .retry_after(60);
    }
    internal(what, e)
}

/// A journal failure (the audit log).
fn journal_problem(what: &str, e: crate::state::journal::JournalError) -> Problem {
    storage_problem(what, e.is_storage_full(), e)
}

/// A state store failure.
pub(crate) fn state_problem(what: &str, e: crate::state::StateError) -> Problem {
    storage_problem(what, e.is_storage_full(), e)
}

fn forbidden(detail: impl Into<String>) -> Problem {
    Problem::new(Reason::Forbidden, detail)
}

pub(crate) fn require(who: &Principal, roles: &[Role], action: &str) -> Result<(), Problem> {
    if roles.contains(&who.role) {
        Ok(())
    } else {
        Err(forbidden(format!(
            "a {} key may not {action}",
            who.role.as_str()
        )))
    }
}

pub(crate) fn engine_problem(e: EngineError) -> Problem {
    match e {
        EngineError::NotWired => Problem::new(Reason::EngineNotWired, e.to_string()),
        EngineError::Unavailable(_) => {
            Problem::new(Reason::EngineUnavailable, e.to_string()).retry_after(5)
        }
        EngineError::StorageFull(_) => {
            tracing::warn!(error = %e, "engine: disk full");
            Problem::new(Reason::InsufficientStorage, e.to_string()).retry_after(60)
        }
        EngineError::PersonNotFound(_) => Problem::new(Reason::PersonNotFound, e.to_string()),
        EngineError::PersonDeleted(_) => Problem::new(Reason::PersonDeleted, e.to_string()),
    }
}

fn today() -> Date {
    Date::from_day_number((now_secs() / 86_400) as i64)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, EngineError> {
    serde_json::to_value(value).map_err(|e| EngineError::Unavailable(e.to_string()))
}

/// Runs an engine job once per `(scope, request_id)`: replays a kept answer, refuses a
/// conflicting or running one, else admits it to the queue, runs it on rayon and keeps its
/// answer. The job runs in its own task, so a client that gives up (or a request timeout)
/// does not lose the answer: a retry gets it.
async fn run_idempotent<F>(
    app: &AppState,
    scope: &str,
    operation: &str,
    request_id: &str,
    request_sha256: &str,
    job: F,
) -> Result<(Answer, bool), Problem>
where
    F: FnOnce() -> Result<Value, EngineError> + Send + 'static,
{
    run_idempotent_kept(app, scope, operation, request_id, request_sha256, |_| {
        job().map(|body| (body, false))
    })
    .await
}

/// As [`run_idempotent`] for a job that is handed the answer to keep (without its body) and
/// may keep it itself, in its own transaction: it returns the body and whether it did.
async fn run_idempotent_kept<F>(
    app: &AppState,
    scope: &str,
    operation: &str,
    request_id: &str,
    request_sha256: &str,
    job: F,
) -> Result<(Answer, bool), Problem>
where
    F: FnOnce(Answer) -> Result<(Value, bool), EngineError> + Send + 'static,
{
    // The claim reads the state store, which may wait behind a commit's fsync: off the
    // async workers, which must keep accepting and answering probes.
    let idempotency = app.idempotency.clone();
    let claim_of = (
        scope.to_owned(),
        request_id.to_owned(),
        operation.to_owned(),
        request_sha256.to_owned(),
    );
    let claim = tokio::task::spawn_blocking(move || {
        let (scope, request_id, operation, sha256) = claim_of;
        idempotency.claim(&scope, &request_id, &operation, &sha256)
    })
    .await
    .map_err(|e| internal("idempotency store failure", e))?
    .map_err(|e| state_problem("idempotency store failure", e))?;
    let pending = match claim {
        Claim::Done(answer) => return Ok((answer, false)),
        Claim::Conflict => {
            return Err(Problem::new(
                Reason::IdempotencyConflict,
                "this request_id was used before for a different request",
            )
            .at("/request_id"))
        }
        Claim::InProgress => {
            return Err(Problem::new(
                Reason::RequestInProgress,
                "this request_id is being processed; retry for its answer",
            )
            .retry_after(1))
        }
        Claim::Fresh(pending) => pending,
    };
    let ticket = app.queue.admit()?;
    let task = tokio::spawn(async move {
        let _ticket = ticket;
        let template = pending.answer(200, Value::Null);
        let (body, kept) = run_blocking(move || job(template))
            .await?
            .map_err(engine_problem)?;
        if kept {
            let answer = pending.answer(200, body);
            return Ok(pending.kept(answer));
        }
        tokio::task::spawn_blocking(move || pending.complete(200, body))
            .await
            .map_err(|e| internal("idempotency store failure", e))?
            .map_err(|e| state_problem("idempotency store failure", e))
    });
    let answer = task
        .await
        .map_err(|e| internal("matching task failed", e))??;
    Ok((answer, true))
}

fn answer_response(mut answer: Answer, fresh: bool) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    // Answers kept by earlier releases carry epoch seconds; every answer now says RFC 3339.
    if let Some(at) = answer.body.get_mut("decided_at") {
        if let Some(secs) = at.as_u64() {
            *at = Value::from(crate::clock::rfc3339(secs));
        }
    }
    let mut response = (status, Json(answer.body)).into_response();
    if !fresh {
        response
            .headers_mut()
            .insert(REPLAY_HEADER, HeaderValue::from_static("true"));
    }
    response
}

pub(crate) fn status_of(result: &Result<Response, Problem>) -> u16 {
    match result {
        Ok(r) => r.status().as_u16(),
        Err(p) => p.status,
    }
}

pub(crate) async fn audit(
    app: &AppState,
    who: &Principal,
    action: &str,
    subject: String,
    request_id: Option<&str>,
    status: u16,
) -> Result<(), Problem> {
    app.audit
        .record(who, action, subject, request_id, status)
        .await
        .map_err(|e| journal_problem("audit log failure", e))
}

/// `POST /v1/enrolments`: deduplicate and enrol one person.
#[utoipa::path(post, path = "/v1/enrolments", tag = "enrolment",
    request_body = EnrolmentRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Verdict (retries return the first answer)", body = EnrolmentResponse),
        (status = "4XX", description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = "5XX", description = "Queue full, engine not wired or unavailable", body = Problem, content_type = "application/problem+json")))]
pub async fn enrol(
    State(app): State<AppState>,
    Caller(who): Caller,
    body: JsonBody<EnrolmentRequest>,
) -> Result<Response, Problem> {
    require(&who, &[Role::ServicePoint, Role::Admin], "enrol")?;
    // Base64 and template decoding are CPU work: off the async workers.
    let (value, request_sha256) = (body.value, body.sha256);
    let record = run_on_rayon(move || validate::enrolment(&value, today())).await??;
    if let Some(url) = &record.callback_url {
        app.config.callbacks.check_url(url, &record.origin)?;
    }
    let nik = record.person.nik.to_string();
    let request_id = record.request_id.clone();
    let origin = record.origin.clone();
    let staged = Arc::new(AtomicBool::new(false));
    let result = if who.role == Role::ServicePoint
        && (who.district.as_deref() != Some(origin.district.as_str())
            || who.service_point.as_deref() != Some(origin.service_point.as_str()))
    {
        Err(forbidden(
            "this key may only enrol for its own district and service point",
        ))
    } else {
        let scope = format!("{}/{}", origin.district, origin.service_point);
        let engine = app.engine.clone();
        let rid = request_id.clone();
        // The audit event commits with the answer when the engine keeps it (one sync for
        // both; `service::audit`); otherwise it is appended durably below.
        let (log, caller, subject) = (app.audit.clone(), who.clone(), format!("nik:{nik}"));
        let flag = staged.clone();
        let job = move |mut answer: Answer| {
            answer.audit = log
                .staging(&caller, "enrol", subject, Some(&rid), answer.status)
                .ok()
                .and_then(|staged| staged.row().ok())
                .map(Box::new);
            let with_audit = answer.audit.is_some();
            let (verdict, kept) = engine.enrol_answered(&record, answer)?;
            flag.store(kept && with_audit, Ordering::Release);
            let mut body = enrolment_body(&rid, verdict);
            body.fingerprint_quality = fingerprint_quality_out(&record.probe.image_quality);
            body.iris_quality = iris_quality_out(&record.probe.eye_quality);
            Ok((to_json(&body)?, kept))
        };
        run_idempotent_kept(&app, &scope, "enrol", &request_id, &request_sha256, job)
            .await
            .map(|(answer, fresh)| {
                if fresh {
                    if let Some(v) = answer.body.get("verdict").and_then(Value::as_str) {
                        app.metrics.observe_verdict(v);
                    }
                }
                answer_response(answer, fresh)
            })
    };
    if result.is_ok() && staged.load(Ordering::Acquire) {
        app.audit
            .write_staged()
            .await
            .map_err(|e| state_problem("audit log failure", e))?;
    } else {
        audit(
            &app,
            &who,
            "enrol",
            format!("nik:{nik}"),
            Some(&request_id),
            status_of(&result),
        )
        .await?;
    }
    result
}

/// Which submission to read (analysts and admins must name the service point).
#[derive(Debug, Deserialize, IntoParams)]
pub struct SubmissionQuery {
    /// District `PPRRDD` of the submitting service point.
    pub district: Option<String>,
    /// Submitting service point id.
    pub service_point: Option<String>,
}

/// `GET /v1/enrolments/{request_id}`: the answer to an earlier enrolment.
#[utoipa::path(get, path = "/v1/enrolments/{request_id}", tag = "enrolment",
    params(("request_id" = String, Path, description = "The enrolment's request_id"), SubmissionQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The verdict", body = EnrolmentResponse),
        (status = "4XX", description = "Unknown, forbidden or invalid", body = Problem, content_type = "application/problem+json")))]
pub async fn enrolment_status(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(request_id): Path<String>,
    Query(q): Query<SubmissionQuery>,
) -> Result<Response, Problem> {
    validate::request_id(&request_id)?;
    let origin = match who.role {
        Role::ServicePoint => {
            let own = Origin {
                district: who.district.clone().unwrap_or_default(),
                service_point: who.service_point.clone().unwrap_or_default(),
            };
            let other_d = q.district.as_ref().is_some_and(|d| *d != own.district);
            let other_s = q
                .service_point
                .as_ref()
                .is_some_and(|s| *s != own.service_point);
            if other_d || other_s {
                return Err(forbidden(
                    "this key may only read its own service point's submissions",
                ));
            }
            own
        }
        Role::Analyst | Role::Supervisor | Role::Admin
            if q.district.is_none() && q.service_point.is_none() =>
        {
            // By the request id alone: the one service point that used it.
            let engine = app.engine.clone();
            let rid = request_id.clone();
            let origins = run_on_rayon(move || engine.origins_of(&rid, 5))
                .await?
                .map_err(engine_problem)?;
            match origins.as_slice() {
                [] => {
                    return Err(Problem::new(
                        Reason::NotFound,
                        "no enrolment with this request_id",
                    ))
                }
                [one] => one.clone(),
                several => {
                    let names: Vec<String> = several
                        .iter()
                        .map(|o| format!("{}/{}", o.district, o.service_point))
                        .collect();
                    return Err(Problem::new(
                        Reason::AmbiguousRequestId,
                        format!(
                            "this request_id was used by several service points ({}): add \
                             ?district=&service_point=",
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
        Role::Analyst | Role::Supervisor | Role::Admin => Origin {
            district: validate::district(q.district.as_deref().unwrap_or_default(), "/district")?,
            service_point: validate::service_point(
                q.service_point.as_deref().unwrap_or_default(),
                "/service_point",
            )?,
        },
    };
    let scope = format!("{}/{}", origin.district, origin.service_point);
    // The engine's current state wins; enrolments loaded in bulk (import, demo) have no kept
    // HTTP answer but are in the engine's registry.
    let idempotency = app.idempotency.clone();
    let (s, r) = (scope.clone(), request_id.clone());
    let kept = tokio::task::spawn_blocking(move || idempotency.get(&s, &r))
        .await
        .map_err(|e| internal("idempotency store failure", e))?
        .filter(|a| a.operation == "enrol");
    let engine = app.engine.clone();
    let (o, rid) = (origin.clone(), request_id.clone());
    let looked_up = run_on_rayon(move || {
        let verdict = engine.status(&o, &rid)?;
        // A person enrolled single may since have been deleted (or lost to damage): the
        // status says so, not `print_ready`.
        let (lookup, quality) = match &verdict {
            Some(v) => (
                super::decided::lookup(engine.as_ref(), v)?,
                engine.fingerprint_quality(&o, &rid)?,
            ),
            None => Default::default(),
        };
        Ok((verdict, lookup, quality))
    })
    .await?;
    let decided_at = match &looked_up {
        Ok((Some(_), lookup, _)) => {
            let (cases, lookup, k) = (app.cases.clone(), lookup.clone(), kept.clone());
            tokio::task::spawn_blocking(move || {
                super::decided::decided_at(&cases, &lookup, k.as_ref())
            })
            .await
            .map_err(|e| internal("case store failure", e))?
        }
        _ => None,
    };
    let result = match (looked_up, kept) {
        (Ok((Some(verdict), lookup, quality)), kept) => {
            let mut wire = enrolment_body(&request_id, verdict);
            wire.fingerprint_quality = quality;
            match to_json(&wire) {
                Ok(mut body) => {
                    if let Some(obj) = body.as_object_mut() {
                        if let Some(status) = lookup.withdrawn {
                            obj.insert("status".to_owned(), Value::String(status));
                        }
                        if let Some(at) = decided_at {
                            obj.insert(
                                "decided_at".to_owned(),
                                Value::from(crate::clock::rfc3339(at)),
                            );
                        }
                    }
                    let mut answer = kept.unwrap_or_else(|| Answer {
                        scope: scope.clone(),
                        request_id: request_id.clone(),
                        operation: "enrol".to_owned(),
                        request_sha256: String::new(),
                        status: 200,
                        body: Value::Null,
                        audit: None,
                    });
                    answer.body = body;
                    Ok(answer_response(answer, true))
                }
                Err(e) => Err(engine_problem(e)),
            }
        }
        (Ok((None, _, _)), Some(answer)) => Ok(answer_response(answer, true)),
        (Ok((None, _, _)), None) => Err(Problem::new(
            Reason::NotFound,
            "no enrolment with this request_id from this service point",
        )),
        (Err(e), _) => Err(engine_problem(e)),
    };
    audit(
        &app,
        &who,
        "read_enrolment",
        format!("submission:{scope}"),
        Some(&request_id),
        status_of(&result),
    )
    .await?;
    result
}
