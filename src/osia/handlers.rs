//! The OSIA routes. Each authenticates the bearer key and checks the operation's scope
//! against the key's role, reads its query parameters and body (a fault is answered at
//! once), then runs the operation: its result is the answer, or, with a `callback`, it is
//! posted there through the service's durable callback outbox and the request is answered
//! `202` with the `transactionId`. The result is queued in the outbox before the `202` is
//! sent, so an acknowledged request always gets its callback, over restarts too.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use serde_json::Value;

use super::request::{handle, json_body, path, One, Two};
use super::wire::{Encounter, IdentifyBody, VerifyBody, VerifyTwoBody};
use super::{persons, search, OsiaState, Scope};

/// `POST /v1/persons`.
pub async fn create_encounter_no_ids(
    State(app): State<OsiaState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterWrite,
        &["algorithm"],
        |ctx| async move {
            let input = persons::prepare(json_body::<Encounter>(&body)?).await?;
            let r = persons::create(&ctx.app, None, None, input).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `POST /v1/persons/{personId}/encounters`.
pub async fn create_encounter_no_id(
    State(app): State<OsiaState>,
    p: One,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterWrite,
        &["algorithm"],
        |ctx| async move {
            let person = path(p)?;
            let input = persons::prepare(json_body::<Encounter>(&body)?).await?;
            let r = persons::create(&ctx.app, Some(person), None, input).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `GET /v1/persons/{personId}/encounters`.
pub async fn read_all_encounters(
    State(app): State<OsiaState>,
    p: One,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterRead,
        &[],
        |ctx| async move {
            let person = path(p)?;
            let r = persons::read_all(&ctx.app, person).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `POST /v1/persons/{personId}/encounters/{encounterId}`.
pub async fn create_encounter(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterWrite,
        &["algorithm"],
        |ctx| async move {
            let (person, encounter) = path(p)?;
            let input = persons::prepare(json_body::<Encounter>(&body)?).await?;
            let r = persons::create(&ctx.app, Some(person), Some(encounter), input).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `GET /v1/persons/{personId}/encounters/{encounterId}`.
pub async fn read_encounter(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterRead,
        &[],
        |ctx| async move {
            let (person, encounter) = path(p)?;
            let r = persons::read(&ctx.app, person, encounter).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `PUT /v1/persons/{personId}/encounters/{encounterId}`.
pub async fn update_encounter(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterWrite,
        &["algorithm"],
        |ctx| async move {
            let (person, encounter) = path(p)?;
            let input = persons::prepare(json_body::<Encounter>(&body)?).await?;
            let r = persons::update(&ctx.app, person, encounter, input).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `DELETE /v1/persons/{personId}/encounters/{encounterId}`.
pub async fn delete_encounter(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterWrite,
        &[],
        |ctx| async move {
            let (person, encounter) = path(p)?;
            let r = persons::delete(&ctx.app, person, Some(encounter)).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `DELETE /v1/persons/{personId}`.
pub async fn delete_person(
    State(app): State<OsiaState>,
    p: One,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterWrite,
        &[],
        |ctx| async move {
            let person = path(p)?;
            let r = persons::delete(&ctx.app, person, None).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `POST /v1/persons/{personIdTarget}/merge/{personIdSource}`.
pub async fn merge_encounters(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterWrite,
        &[],
        |ctx| async move {
            let (target, source) = path(p)?;
            let r = persons::merge(&ctx.app, target, source).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `PUT /persons/{personId}/encounters/{encounterId}/status` (and under `/v1`).
pub async fn update_encounter_status(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::EncounterWrite,
        &["status"],
        |ctx| async move {
            let (person, encounter) = path(p)?;
            let status = persons::status_param(&ctx.params)?;
            let r = persons::set_status(&ctx.app, person, encounter, status).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `GET /v1/persons/{personId}/encounters/{encounterId}/templates`.
pub async fn read_templates(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let extra = [
        "biometricType",
        "biometricSubType",
        "instance",
        "templateFormat",
        "qualityFormat",
    ];
    handle(
        app,
        headers,
        q,
        Scope::EncounterRead,
        &extra,
        |ctx| async move {
            let (person, encounter) = path(p)?;
            let filter = persons::TemplateFilter::of(&ctx.params)?;
            let r = persons::templates(&ctx.app, person, encounter, filter).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

const SEARCH: [&str; 3] = ["maxNbCand", "threshold", "accuracyLevel"];

/// `POST /v1/identify/{galleryId}`.
pub async fn identify(
    State(app): State<OsiaState>,
    p: One,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::Identify,
        &SEARCH,
        |ctx| async move {
            let gallery = path(p)?;
            let body: IdentifyBody = json_body(&body)?;
            let probe = search::read_probe(body.biometric_data).await?;
            let r = search::identify(&ctx.app, &ctx.params, gallery, body.filter, probe).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `POST /v1/identify/{galleryId}/{personId}`.
pub async fn identify_from_id(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::Identify,
        &SEARCH,
        |ctx| async move {
            let (gallery, person) = path(p)?;
            let filter: serde_json::Map<String, Value> = json_body(&body)?;
            let r = search::identify_from_id(&ctx.app, &ctx.params, gallery, person, filter).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}

/// `POST /v1/verify/{galleryId}/{personId}`.
pub async fn verify_from_id(
    State(app): State<OsiaState>,
    p: Two,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let extra = ["threshold", "accuracyLevel"];
    handle(app, headers, q, Scope::Verify, &extra, |ctx| async move {
        let (gallery, person) = path(p)?;
        let body: VerifyBody = json_body(&body)?;
        let probe = search::read_probe(body.biometric_data).await?;
        let r = search::verify_from_id(&ctx.app, &ctx.params, gallery, person, probe).await;
        Ok(ctx.finish(r).await)
    })
    .await
}

/// `POST /v1/verify`.
pub async fn verify_from_bio(
    State(app): State<OsiaState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let extra = ["threshold", "accuracyLevel"];
    handle(app, headers, q, Scope::Verify, &extra, |ctx| async move {
        let body: VerifyTwoBody = json_body(&body)?;
        let a = search::read_probe(body.biometric_data1).await?;
        let b = search::read_probe(body.biometric_data2).await?;
        let r = search::verify_from_bio(&ctx.app, &ctx.params, a, b).await;
        Ok(ctx.finish(r).await)
    })
    .await
}

/// `GET /v1/galleries`.
pub async fn read_galleries(
    State(app): State<OsiaState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(app, headers, q, Scope::GalleryRead, &[], |ctx| async move {
        let r = search::galleries(&ctx.app).await;
        Ok(ctx.finish(r).await)
    })
    .await
}

/// `GET /v1/galleries/{galleryId}`.
pub async fn read_gallery_content(
    State(app): State<OsiaState>,
    p: One,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(
        app,
        headers,
        q,
        Scope::GalleryRead,
        &["offset", "limit"],
        |ctx| async move {
            let gallery = path(p)?;
            let r = search::gallery_content(&ctx.app, &ctx.params, gallery).await;
            Ok(ctx.finish(r).await)
        },
    )
    .await
}
