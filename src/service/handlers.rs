//! Route handlers. Each authenticates, validates, checks the caller's role, goes through
//! idempotency and the queue, calls the engine on rayon, and audits access to person data.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use tunggal_domain::date::Date;
use utoipa::IntoParams;

use super::engine::{Candidate, EngineError, PersonInfo, Verdict};
use super::extract::{Caller, JsonBody};
use super::idempotency::{Answer, Claim};
use super::keys::{now_secs, Principal, Role};
use super::model::{
    CandidateOut, DeleteResponse, EnrolmentRequest, EnrolmentResponse, FingerScoreOut,
    HealthResponse, IdentifyRequest, IdentifyResponse, IrisScoreOut, PersonResponse, VerdictKind,
    VerifyRequest, VerifyResponse,
};
use super::problem::{Problem, Reason};
use super::queue::{run_blocking, run_on_rayon};
use super::record::Origin;
use super::server::AppState;
use super::validate;

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
fn journal_problem(what: &str, e: super::journal::JournalError) -> Problem {
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

fn engine_problem(e: EngineError) -> Problem {
    match e {
        EngineError::NotWired => Problem::new(Reason::EngineNotWired, e.to_string()),
        EngineError::Unavailable(_) => {
            Problem::new(Reason::EngineUnavailable, e.to_string()).retry_after(5)
        }
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

fn answer_response(answer: Answer, fresh: bool) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
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

/// The wire form of an engine candidate.
pub fn candidate_out(c: &Candidate) -> CandidateOut {
    CandidateOut {
        reference_id: c.reference_id.clone(),
        request_id: c.request_id.clone(),
        score: c.score,
        finger_scores: (1u8..)
            .zip(c.finger_scores)
            .filter_map(|(position, s)| s.map(|score| FingerScoreOut { position, score }))
            .collect(),
        iris_scores: ["right", "left"]
            .into_iter()
            .zip(c.iris_distances)
            .filter_map(|(eye, d)| {
                d.map(|distance| IrisScoreOut {
                    eye: eye.to_owned(),
                    distance,
                })
            })
            .collect(),
    }
}

/// The wire form of an engine verdict.
pub fn enrolment_body(request_id: &str, verdict: Verdict) -> EnrolmentResponse {
    let mut out = EnrolmentResponse {
        request_id: request_id.to_owned(),
        verdict: VerdictKind::Single,
        status: "print_ready".to_owned(),
        reference_id: None,
        reissue: None,
        duplicate_reason: None,
        case_id: None,
        candidates: Vec::new(),
        duplicate_of: None,
        reason: None,
        decided_at: now_secs(),
    };
    match verdict {
        Verdict::Single {
            reference_id,
            reissue,
        } => {
            out.reference_id = Some(reference_id);
            out.reissue = Some(reissue);
        }
        Verdict::Duplicate {
            reference_id,
            case_id,
            reason,
            candidates,
            refused_as_duplicate_of,
        } => {
            out.verdict = VerdictKind::Duplicate;
            out.status = if refused_as_duplicate_of.is_some() {
                "refused"
            } else {
                "under_review"
            }
            .to_owned();
            out.reference_id = Some(reference_id);
            out.case_id = case_id;
            out.duplicate_reason = Some(reason);
            out.candidates = candidates.iter().map(candidate_out).collect();
            out.duplicate_of = refused_as_duplicate_of;
        }
        Verdict::Rejected { reason } => {
            out.verdict = VerdictKind::Rejected;
            out.status = "rejected".to_owned();
            out.reason = Some(reason);
        }
    }
    out
}

/// `GET /health`: the process is up.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "Up", body = HealthResponse)))]
pub async fn health(State(app): State<AppState>) -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok".to_owned(),
        engine: app.engine.name().to_owned(),
        engine_wired: app.engine.is_wired(),
        detail: "process is up".to_owned(),
    })
}

/// `GET /ready`: ready to take traffic (503 while no matching engine is wired).
#[utoipa::path(get, path = "/ready", tag = "operations", responses(
    (status = 200, description = "Ready", body = HealthResponse),
    (status = 503, description = "Not ready (engine_not_wired)", body = Problem,
        content_type = "application/problem+json")))]
pub async fn ready(State(app): State<AppState>) -> Result<Json<HealthResponse>, Problem> {
    if !app.engine.is_wired() {
        return Err(Problem::new(
            Reason::EngineNotWired,
            "NOT READY: the gallery matching engine is not wired into this server; \
             enrolment, identify and verify answer 503 engine_not_wired",
        ));
    }
    Ok(Json(HealthResponse {
        status: "ok".to_owned(),
        engine: app.engine.name().to_owned(),
        engine_wired: true,
        detail: "ready".to_owned(),
    }))
}

/// `GET /metrics`: Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String,
        content_type = "text/plain")))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    let mut text = app.metrics.render(
        app.queue.depth(),
        app.queue.capacity(),
        app.engine.is_wired(),
    );
    // The counts read the state store, which may wait behind a commit's fsync.
    let cases = app.cases.clone();
    match tokio::task::spawn_blocking(move || cases.counts(now_secs())).await {
        Ok(Ok(counts)) => text.push_str(&super::metrics::render_cases(counts)),
        Ok(Err(e)) => tracing::error!(error = %e, "counting cases for /metrics"),
        Err(e) => tracing::error!(error = %e, "counting cases for /metrics"),
    }
    text.push_str(&super::metrics::render_engine(app.engine.stats()));
    text.push_str(&super::metrics::render_connections(app.connections.stats()));
    text.push_str(&crate::state::syncs::render());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        text,
    )
        .into_response()
}

/// `GET /openapi.json`: this API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI document", body = Object)))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(super::openapi::document())
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
                .map(Box::new);
            let with_audit = answer.audit.is_some();
            let (verdict, kept) = engine.enrol_answered(&record, answer)?;
            flag.store(kept && with_audit, Ordering::Release);
            Ok((to_json(&enrolment_body(&rid, verdict))?, kept))
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
        Role::Analyst | Role::Admin => Origin {
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
        let lookup = match &verdict {
            Some(v) => super::decided::lookup(engine.as_ref(), v)?,
            None => super::decided::Lookup::default(),
        };
        Ok((verdict, lookup))
    })
    .await?;
    let decided_at = match &looked_up {
        Ok((Some(_), lookup)) => {
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
        (Ok((Some(verdict), lookup)), kept) => {
            match to_json(&enrolment_body(&request_id, verdict)) {
                Ok(mut body) => {
                    if let Some(obj) = body.as_object_mut() {
                        if let Some(status) = lookup.withdrawn {
                            obj.insert("status".to_owned(), Value::String(status));
                        }
                        if let Some(at) = decided_at {
                            obj.insert("decided_at".to_owned(), Value::from(at));
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
        (Ok((None, _)), Some(answer)) => Ok(answer_response(answer, true)),
        (Ok((None, _)), None) => Err(Problem::new(
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

/// `POST /v1/identify`: 1:N search (analysts and admins).
#[utoipa::path(post, path = "/v1/identify", tag = "search",
    request_body = IdentifyRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Candidates, best first", body = IdentifyResponse),
        (status = "4XX", description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = "5XX", description = "Queue full, engine not wired or unavailable", body = Problem, content_type = "application/problem+json")))]
pub async fn identify(
    State(app): State<AppState>,
    Caller(who): Caller,
    body: JsonBody<IdentifyRequest>,
) -> Result<Response, Problem> {
    require(&who, &[Role::Analyst, Role::Admin], "identify")?;
    let request_id = body.value.request_id.clone();
    let value = body.value;
    let (probe, max) = run_on_rayon(move || validate::identify(&value)).await??;
    let engine = app.engine.clone();
    let rid = request_id.clone();
    let job = move || {
        let candidates = engine.identify(&probe, max)?;
        to_json(&IdentifyResponse {
            request_id: rid,
            candidates: candidates.iter().map(candidate_out).collect(),
            decided_at: now_secs(),
        })
    };
    let scope = format!("key:{}", who.key_id);
    let result = run_idempotent(&app, &scope, "identify", &request_id, &body.sha256, job)
        .await
        .map(|(a, fresh)| (candidate_ids(&a.body), answer_response(a, fresh)));
    let (subject, result) = match result {
        Ok((subject, response)) => (subject, Ok(response)),
        Err(p) => ("probe".to_owned(), Err(p)),
    };
    audit(
        &app,
        &who,
        "identify",
        subject,
        Some(&request_id),
        status_of(&result),
    )
    .await?;
    result
}

fn candidate_ids(body: &Value) -> String {
    let ids: Vec<&str> = body
        .get("candidates")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("reference_id").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    format!("candidates:[{}]", ids.join(","))
}

/// `POST /v1/verify`: 1:1 check against an enrolled person by reference id (analysts,
/// admins). An unknown reference id answers `matched: false` without a score.
#[utoipa::path(post, path = "/v1/verify", tag = "search",
    request_body = VerifyRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Match decision", body = VerifyResponse),
        (status = "4XX", description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = "5XX", description = "Queue full, engine not wired or unavailable", body = Problem, content_type = "application/problem+json")))]
pub async fn verify(
    State(app): State<AppState>,
    Caller(who): Caller,
    body: JsonBody<VerifyRequest>,
) -> Result<Response, Problem> {
    require(&who, &[Role::Analyst, Role::Admin], "verify")?;
    let request_id = body.value.request_id.clone();
    let value = body.value;
    let (reference, probe) = run_on_rayon(move || validate::verify(&value)).await??;
    let engine = app.engine.clone();
    let rid = request_id.clone();
    let subject = format!("person:{reference}");
    let job = move || {
        let v = engine.verify(&reference, &probe)?;
        to_json(&VerifyResponse {
            request_id: rid,
            matched: v.matched,
            score: v.score,
            decided_at: now_secs(),
        })
    };
    let scope = format!("key:{}", who.key_id);
    let result = run_idempotent(&app, &scope, "verify", &request_id, &body.sha256, job)
        .await
        .map(|(a, fresh)| answer_response(a, fresh));
    audit(
        &app,
        &who,
        "verify",
        subject,
        Some(&request_id),
        status_of(&result),
    )
    .await?;
    result
}

/// `DELETE /v1/persons/{reference_id}`: remove an enrolled person from the gallery (admins).
#[utoipa::path(delete, path = "/v1/persons/{reference_id}", tag = "enrolment",
    params(("reference_id" = String, Path, description = "The person's reference id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Whether someone was removed", body = DeleteResponse),
        (status = "4XX", description = "Invalid or forbidden", body = Problem, content_type = "application/problem+json"),
        (status = "5XX", description = "Queue full, engine not wired or unavailable", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_person(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(reference): Path<String>,
) -> Result<Response, Problem> {
    require(&who, &[Role::Admin], "delete persons")?;
    let subject = format!("person:{reference}");
    let result = async {
        let _ticket = app.queue.admit()?;
        let engine = app.engine.clone();
        let deleted = run_blocking(move || engine.delete(&reference))
            .await?
            .map_err(engine_problem)?;
        Ok(Json(DeleteResponse { deleted }).into_response())
    }
    .await;
    audit(&app, &who, "delete", subject, None, status_of(&result)).await?;
    result
}

fn person_body(p: PersonInfo) -> PersonResponse {
    let s = p.summary;
    PersonResponse {
        reference_id: s.reference_id,
        request_id: s.request_id,
        status: p.status,
        nik: s.nik,
        name: s.name,
        sex: s.sex,
        date_of_birth: s.date_of_birth,
        district: s.district,
        service_point: s.service_point,
        enrolled_at: s.enrolled_at,
        citizenship: s.citizenship,
        passport_number: s.passport_number,
        kitap_number: s.kitap_number,
        has_photo: s.has_photo,
        has_signature: s.has_signature,
        case_id: p.case_id,
        duplicate_of: p.duplicate_of,
    }
}

/// `GET /v1/persons/{reference_id}`: a person's metadata and status (analysts, admins).
#[utoipa::path(get, path = "/v1/persons/{reference_id}", tag = "enrolment",
    params(("reference_id" = String, Path, description = "The person's reference id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Metadata and status", body = PersonResponse),
        (status = "4XX", description = "Unknown or forbidden", body = Problem, content_type = "application/problem+json"),
        (status = "5XX", description = "Engine not wired or unavailable", body = Problem, content_type = "application/problem+json")))]
pub async fn get_person(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(reference): Path<String>,
) -> Result<Response, Problem> {
    require(&who, &[Role::Analyst, Role::Admin], "read persons")?;
    let subject = format!("person:{reference}");
    let engine = app.engine.clone();
    let result = match run_on_rayon(move || engine.person(&reference)).await? {
        Ok(Some(p)) => Ok(Json(person_body(p)).into_response()),
        Ok(None) => Err(Problem::new(
            Reason::NotFound,
            "no person with this reference id",
        )),
        Err(e) => Err(engine_problem(e)),
    };
    audit(&app, &who, "read_person", subject, None, status_of(&result)).await?;
    result
}

/// Fallback for unknown routes.
pub async fn not_found() -> Problem {
    Problem::new(Reason::NotFound, "no such route")
}

/// Fallback for known routes with another method.
pub async fn method_not_allowed() -> Problem {
    Problem::new(
        Reason::MethodNotAllowed,
        "this route does not take this method",
    )
}
