//! Encounters: create, read, update, delete, merge and status. Creating, replacing and
//! deleting are engine operations (`engine/encounters.rs`: the engine person and the
//! encounter row change in the same transactions); reads, merges and status changes touch
//! the encounter rows only.

use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;

use super::biometrics::{self, Read};
use super::error::{engine_error, Code, OsiaError};
use super::params::Params;
use super::request::Answer;
use super::store::{Merged, Row};
use super::wire::{finger_sub_type, BiometricType, ComputedOut, Encounter, EncounterStatus};
use super::OsiaState;
use crate::engine::encounters::EncounterWrite;
use crate::work;

/// Longest person, encounter or gallery id.
pub const MAX_ID: usize = 128;

/// Checks a person, encounter or gallery id: 1–128 characters, no control character.
pub fn check_id(what: &str, id: &str) -> Result<(), OsiaError> {
    if id.is_empty() || id.chars().count() > MAX_ID || id.chars().any(char::is_control) {
        return Err(OsiaError::bad(
            Code::InvalidParameter,
            format!("{what} must be 1–{MAX_ID} characters without control characters"),
        ));
    }
    Ok(())
}

fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// An encounter checked and its biometrics read.
#[derive(Debug, Clone)]
pub struct Prepared {
    encounter: Encounter,
    read: Read,
}

/// Checks an encounter and reads its biometrics (decoding and extraction on rayon).
pub async fn prepare(encounter: Encounter) -> Result<Prepared, OsiaError> {
    if let Some(g) = &encounter.galleries {
        if g.is_empty() {
            return Err(OsiaError::bad(
                Code::MalformedBody,
                "galleries must hold at least one gallery id",
            ));
        }
        for (i, id) in g.iter().enumerate() {
            check_id("a gallery id", id)?;
            if g[..i].contains(id) {
                return Err(OsiaError::bad(
                    Code::MalformedBody,
                    format!("gallery {id:?} is listed twice"),
                ));
            }
        }
    }
    if let Some(id) = &encounter.encounter_id {
        check_id("encounterId", id)?;
    }
    if let Some(data) = &encounter.client_data {
        if STANDARD.decode(data).is_err() {
            return Err(OsiaError::bad(
                Code::MalformedBody,
                "clientData is not base64",
            ));
        }
    }
    let items = encounter.biometric_data.clone();
    let read = work::run_on_rayon(move || biometrics::read(&items, true)).await??;
    Ok(Prepared { encounter, read })
}

fn row(person_id: &str, encounter_id: &str, p: &Prepared) -> Row {
    Row {
        person_id: person_id.to_owned(),
        encounter_id: encounter_id.to_owned(),
        external_id: format!("osia-{}", new_id()),
        status: p.encounter.status,
        document: Encounter {
            encounter_id: None,
            biometric_data: biometrics::without_images(&p.encounter.biometric_data),
            ..p.encounter.clone()
        },
    }
}

/// Creates (`replace`: replaces) the encounter of `row` with the biometrics of `p` through
/// the engine; `Ok(false)` when the engine refused (the encounter exists for a create, does
/// not for a replacement).
fn write(app: &OsiaState, row: &Row, p: &Prepared, replace: bool) -> Result<bool, OsiaError> {
    let new = row.stored(&p.read.templates)?;
    let done = if replace {
        app.engine
            .replace_encounter(&app.origin, &new, &p.read.probe)
    } else {
        app.engine
            .create_encounter(&app.origin, &new, &p.read.probe)
    };
    match done.map_err(engine_error)? {
        EncounterWrite::Done => Ok(true),
        EncounterWrite::Refused => Ok(false),
        EncounterWrite::Rejected(reason) => Err(OsiaError::bad(
            Code::NoUsableBiometrics,
            format!("the biometrics cannot be searched ({reason})"),
        )),
    }
}

/// Creates an encounter (ids generated when not given).
pub async fn create(
    app: &OsiaState,
    person: Option<String>,
    encounter: Option<String>,
    p: Prepared,
) -> Result<Answer, OsiaError> {
    if let Some(id) = &person {
        check_id("personId", id)?;
    }
    if let (Some(path), Some(body)) = (&encounter, &p.encounter.encounter_id) {
        if path != body {
            return Err(OsiaError::bad(
                Code::MalformedBody,
                "the body's encounterId differs from the path's",
            ));
        }
    }
    let both_given = person.is_some() && encounter.is_some();
    let person = person.unwrap_or_else(new_id);
    let encounter = encounter
        .or_else(|| p.encounter.encounter_id.clone())
        .unwrap_or_else(new_id);
    check_id("encounterId", &encounter)?;
    let app2 = app.clone();
    let (pid, eid) = (person.clone(), encounter.clone());
    work::run_blocking(move || -> Result<(), OsiaError> {
        let app = &app2;
        let exists =
            || OsiaError::EncounterExists(format!("person {pid:?} has an encounter {eid:?}"));
        if app.store.get(&pid, &eid)?.is_some() {
            return Err(exists());
        }
        if !write(app, &row(&pid, &eid, &p), &p, false)? {
            return Err(exists());
        }
        Ok(())
    })
    .await??;
    let ids = json!({"personId": person, "encounterId": encounter});
    Ok(if both_given {
        Answer {
            status: StatusCode::CREATED,
            body: None,
            callback: ids,
        }
    } else {
        Answer::json(StatusCode::OK, ids)
    })
}

/// Replaces an encounter's data and biometrics.
pub async fn update(
    app: &OsiaState,
    person: String,
    encounter: String,
    p: Prepared,
) -> Result<Answer, OsiaError> {
    if p.encounter
        .encounter_id
        .as_ref()
        .is_some_and(|id| *id != encounter)
    {
        return Err(OsiaError::bad(
            Code::MalformedBody,
            "the body's encounterId differs from the path's",
        ));
    }
    let app = app.clone();
    work::run_blocking(move || -> Result<(), OsiaError> {
        let unknown =
            || OsiaError::UnknownRecord(format!("no encounter {encounter:?} of {person:?}"));
        if app.store.get(&person, &encounter)?.is_none() {
            return Err(unknown());
        }
        if !write(&app, &row(&person, &encounter, &p), &p, true)? {
            return Err(unknown());
        }
        Ok(())
    })
    .await??;
    Ok(Answer::done())
}

/// Deletes one encounter, or every encounter of the person.
pub async fn delete(
    app: &OsiaState,
    person: String,
    encounter: Option<String>,
) -> Result<Answer, OsiaError> {
    let app = app.clone();
    work::run_blocking(move || -> Result<(), OsiaError> {
        let deleted = app
            .engine
            .delete_encounters(&app.origin, &person, encounter.as_deref())
            .map_err(engine_error)?;
        if deleted == 0 {
            return Err(OsiaError::UnknownRecord(match encounter {
                Some(e) => format!("no encounter {e:?} of {person:?}"),
                None => format!("no person {person:?}"),
            }));
        }
        Ok(())
    })
    .await??;
    Ok(Answer::done())
}

/// Every encounter of a person.
pub async fn read_all(app: &OsiaState, person: String) -> Result<Answer, OsiaError> {
    let app = app.clone();
    let p = person.clone();
    let rows = work::run_blocking(move || app.store.person(&p)).await??;
    if rows.is_empty() {
        return Err(OsiaError::UnknownRecord(format!("no person {person:?}")));
    }
    let list: Vec<Encounter> = rows.iter().map(Row::encounter).collect();
    Ok(Answer::json(StatusCode::OK, json!(list)))
}

/// One encounter.
pub async fn read(app: &OsiaState, person: String, encounter: String) -> Result<Answer, OsiaError> {
    let row = fetch(app, person, encounter).await?;
    Ok(Answer::json(StatusCode::OK, json!(row.encounter())))
}

async fn fetch(app: &OsiaState, person: String, encounter: String) -> Result<Row, OsiaError> {
    let app = app.clone();
    work::run_blocking(move || {
        app.store.get(&person, &encounter)?.ok_or_else(|| {
            OsiaError::UnknownRecord(format!("no encounter {encounter:?} of {person:?}"))
        })
    })
    .await?
}

/// Moves the source's encounters to the target.
pub async fn merge(app: &OsiaState, target: String, source: String) -> Result<Answer, OsiaError> {
    check_id("personIdTarget", &target)?;
    if target == source {
        return Err(OsiaError::bad(
            Code::InvalidParameter,
            "a person cannot be merged into itself",
        ));
    }
    let app = app.clone();
    let (t, s) = (target.clone(), source.clone());
    match work::run_blocking(move || app.store.merge(&t, &s)).await?? {
        Merged::Done => Ok(Answer::done()),
        Merged::SourceUnknown => Err(OsiaError::UnknownRecord(format!("no person {source:?}"))),
        Merged::Conflict(id) => Err(OsiaError::EncounterExists(format!(
            "both {target:?} and {source:?} have an encounter {id:?}: nothing merged"
        ))),
    }
}

/// The `status` parameter of a status update.
pub fn status_param(params: &Params) -> Result<EncounterStatus, OsiaError> {
    let given = params.status.as_deref().unwrap_or_default();
    EncounterStatus::parse(given).ok_or_else(|| {
        OsiaError::bad(
            Code::InvalidParameter,
            format!("status must be ACTIVE or INACTIVE, got {given:?}"),
        )
    })
}

/// Sets an encounter's status.
pub async fn set_status(
    app: &OsiaState,
    person: String,
    encounter: String,
    status: EncounterStatus,
) -> Result<Answer, OsiaError> {
    let app = app.clone();
    let (p, e) = (person.clone(), encounter.clone());
    if work::run_blocking(move || app.store.set_status(&p, &e, status)).await?? {
        Ok(Answer::done())
    } else {
        Err(OsiaError::UnknownRecord(format!(
            "no encounter {encounter:?} of {person:?}"
        )))
    }
}

/// What `…/templates` is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFilter {
    kind: Option<BiometricType>,
    sub_type: Option<String>,
    instance: Option<String>,
    format: &'static str,
}

impl TemplateFilter {
    /// Reads the query: `templateFormat` `ISO_19794_2` (default), `ISO_19794_2_2011` or
    /// `ANSI_378`; `qualityFormat` `ISO_19794` only.
    pub fn of(params: &Params) -> Result<Self, OsiaError> {
        let kind = match params.get("biometricType") {
            None => None,
            Some(t) => Some(BiometricType::parse(t).ok_or_else(|| {
                OsiaError::bad(
                    Code::InvalidParameter,
                    format!("unknown biometricType {t:?}"),
                )
            })?),
        };
        if let Some(s) = params.get("biometricSubType") {
            if !super::wire::is_sub_type(s) {
                return Err(OsiaError::bad(
                    Code::InvalidParameter,
                    format!("unknown biometricSubType {s:?}"),
                ));
            }
        }
        let format = match params.get("templateFormat").unwrap_or("ISO_19794_2") {
            "ISO_19794_2" => "ISO_19794_2",
            "ISO_19794_2_2011" => "ISO_19794_2_2011",
            "ANSI_378" => "ANSI_378",
            other => {
                return Err(OsiaError::bad(
                    Code::Unsupported,
                    format!(
                        "templateFormat {other:?} is not served (ISO_19794_2, ISO_19794_2_2011, \
                         ANSI_378)"
                    ),
                ))
            }
        };
        if let Some(q) = params.get("qualityFormat").filter(|q| *q != "ISO_19794") {
            return Err(OsiaError::bad(
                Code::Unsupported,
                format!("qualityFormat {q:?} is not served (ISO_19794)"),
            ));
        }
        Ok(Self {
            kind,
            sub_type: params.get("biometricSubType").map(str::to_owned),
            instance: params.get("instance").map(str::to_owned),
            format,
        })
    }
}

/// The templates computed from an encounter's finger images (none for irises and the other
/// modalities, which this ABIS does not encode).
pub async fn templates(
    app: &OsiaState,
    person: String,
    encounter: String,
    filter: TemplateFilter,
) -> Result<Answer, OsiaError> {
    let app = app.clone();
    let stored = work::run_blocking(move || {
        app.store.templates(&person, &encounter)?.ok_or_else(|| {
            OsiaError::UnknownRecord(format!("no encounter {encounter:?} of {person:?}"))
        })
    })
    .await??;
    if filter.kind.is_some_and(|k| k != BiometricType::Finger) {
        return Ok(Answer::json(StatusCode::OK, json!([])));
    }
    let out: Vec<ComputedOut> = stored
        .iter()
        .filter(|t| {
            filter
                .sub_type
                .as_deref()
                .is_none_or(|s| s == finger_sub_type(t.position))
        })
        .filter(|t| {
            filter
                .instance
                .as_ref()
                .is_none_or(|i| t.instance.as_ref() == Some(i))
        })
        .map(|t| ComputedOut {
            biometric_type: BiometricType::Finger,
            biometric_sub_type: finger_sub_type(t.position).to_owned(),
            instance: t.instance.clone(),
            template: match filter.format {
                "ISO_19794_2_2011" => t.iso2011.clone(),
                "ANSI_378" => t.ansi378.clone(),
                _ => t.iso2005.clone(),
            },
            template_format: filter.format.to_owned(),
            quality: i64::from(t.quality),
            quality_format: "ISO_19794".to_owned(),
            vendor: "Tunggal".to_owned(),
            algorithm: format!("tunggal-extract/{}", env!("CARGO_PKG_VERSION")),
        })
        .collect();
    Ok(Answer::json(StatusCode::OK, json!(out)))
}
