//! Search and person routes: 1:N identification, 1:1 verification, reading and deleting a
//! person. All are for analysts and administrators and audit every access.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Json;
use serde_json::Value;

use super::super::extract::{Caller, JsonBody};
use super::super::queue::run_on_rayon;
use super::super::server::AppState;
use super::*;
use crate::enrolment::answer::{
    finger_scores_out, fingerprint_quality_out, iris_quality_out, iris_scores_out,
};

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
    require(
        &who,
        &[Role::Analyst, Role::Supervisor, Role::Admin],
        "identify",
    )?;
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
            fingerprint_quality: fingerprint_quality_out(&probe.image_quality),
            iris_quality: iris_quality_out(&probe.eye_quality),
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
/// admins), with the threshold and the per-finger and per-eye scores. An unknown reference
/// id answers 404 `person_not_found`, a deleted person 410 `person_deleted`.
#[utoipa::path(post, path = "/v1/verify", tag = "search",
    request_body = VerifyRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Match decision", body = VerifyResponse),
        (status = 404, description = "No such person (`person_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The person was deleted (`person_deleted`)", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = "5XX", description = "Queue full, engine not wired or unavailable", body = Problem, content_type = "application/problem+json")))]
pub async fn verify(
    State(app): State<AppState>,
    Caller(who): Caller,
    body: JsonBody<VerifyRequest>,
) -> Result<Response, Problem> {
    require(
        &who,
        &[Role::Analyst, Role::Supervisor, Role::Admin],
        "verify",
    )?;
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
            threshold: v.threshold,
            finger_scores: finger_scores_out(&v.finger_scores),
            iris_scores: iris_scores_out(&v.iris_distances),
            fingerprint_quality: fingerprint_quality_out(&probe.image_quality),
            iris_quality: iris_quality_out(&probe.eye_quality),
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
/// A person deleted before answers 410 `person_deleted`; a reference id with nobody in the
/// gallery behind it (unknown, or an applicant held back for review) 404 `person_not_found`.
#[utoipa::path(delete, path = "/v1/persons/{reference_id}", tag = "enrolment",
    params(("reference_id" = String, Path, description = "The person's reference id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The person was removed", body = DeleteResponse),
        (status = 404, description = "No such person in the gallery (`person_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Deleted before (`person_deleted`)", body = Problem, content_type = "application/problem+json"),
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

/// The API's spelling of the registry's sex code (`M`/`F` → `male`/`female`, as requests
/// spell it).
fn sex_word(code: &str) -> String {
    match code {
        "M" => "male".to_owned(),
        "F" => "female".to_owned(),
        other => other.to_owned(),
    }
}

fn person_body(p: PersonInfo) -> PersonResponse {
    let s = p.summary;
    PersonResponse {
        reference_id: s.reference_id,
        request_id: s.request_id,
        status: p.status,
        nik: s.nik,
        name: s.name,
        sex: sex_word(&s.sex),
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

/// Most persons a NIK look-up answers.
const NIK_LOOKUP_LIMIT: usize = 20;

/// `GET /v1/persons?nik=…`: the persons in the gallery holding a NIK, first enrolled first
/// (analysts and admins; service-point keys are refused). Every look-up is audited
/// (`lookup_nik`) with the key id and the NIK. No person: 404 `person_not_found`; a NIK
/// that is not one: 422 with its NIK reason; a missing `nik` or another parameter: 400
/// `invalid_query`.
#[utoipa::path(get, path = "/v1/persons", tag = "enrolment",
    params(("nik" = String, Query, description = "The NIK, 16 digits")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The persons holding the NIK", body = PersonsByNikResponse),
        (status = 404, description = "Nobody in the gallery holds it (`person_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a NIK (`nik_malformed`, `nik_invalid_region`, ...)", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Invalid query or forbidden", body = Problem, content_type = "application/problem+json"),
        (status = "5XX", description = "Engine not wired or unavailable", body = Problem, content_type = "application/problem+json")))]
pub async fn persons_by_nik(
    State(app): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, Problem> {
    require(
        &who,
        &[Role::Analyst, Role::Supervisor, Role::Admin],
        "look persons up by NIK",
    )?;
    if let Some(other) = q.keys().find(|k| k.as_str() != "nik") {
        return Err(Problem::new(
            Reason::InvalidQuery,
            format!("unknown query parameter {other:?}: the look-up takes nik"),
        ));
    }
    let Some(text) = q.get("nik").map(|s| s.trim().to_owned()) else {
        return Err(Problem::new(
            Reason::InvalidQuery,
            "name the NIK: /v1/persons?nik=…",
        ));
    };
    let result = async {
        let nik = validate::nik(&text, "/nik")?.to_string();
        let engine = app.engine.clone();
        let n = nik.clone();
        let found = run_on_rayon(move || engine.persons_by_nik(&n, NIK_LOOKUP_LIMIT))
            .await?
            .map_err(engine_problem)?;
        if found.is_empty() {
            return Err(Problem::new(
                Reason::PersonNotFound,
                "nobody in the gallery holds this NIK",
            ));
        }
        Ok(Json(PersonsByNikResponse {
            nik,
            persons: found.into_iter().map(person_body).collect(),
        })
        .into_response())
    };
    let result = result.await;
    audit(
        &app,
        &who,
        "lookup_nik",
        format!("nik:{text}"),
        None,
        status_of(&result),
    )
    .await?;
    result
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
    require(
        &who,
        &[Role::Analyst, Role::Supervisor, Role::Admin],
        "read persons",
    )?;
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
