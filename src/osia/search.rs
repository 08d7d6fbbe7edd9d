//! Identification, verification and galleries: 1:N through the engine's external search
//! (`engine/external.rs`), then the candidates mapped to OSIA persons of the gallery asked
//! for; 1:1 through [`super::compare`].
//!
//! Scores are Tunggal's fused log-likelihood ratios (higher is more similar; the engine's
//! 1:N threshold is `ln(N / FPIR)`), per-finger scores the matcher's (0–1). `threshold`
//! sets the fused score a candidate must reach (the engine searches with it, never below
//! `ln(N)`, and candidates under it are dropped); `maxNbCand` bounds the persons returned.

use std::cmp::Ordering;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::biometrics;
use super::compare::{self, Comparison};
use super::error::{engine_error, Code, OsiaError};
use super::params::{Params, DEFAULT_MAX_CANDIDATES, MAX_CANDIDATES, MAX_PAGE};
use super::persons::check_id;
use super::request::Answer;
use super::store::{Row, DEFAULT_GALLERY};
use super::wire::{
    finger_sub_type, BiometricData, BiometricType, CandidateOut, EncounterStatus, ScoreDetail,
    VerifyOut,
};
use super::OsiaState;
use crate::engine::external::{ExternalCandidate, ExternalSearch};
use crate::enrolment::record::Probe;
use crate::work;

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// The fused score of an encounter, then its per-finger scores, then its per-eye scores
/// (one minus the iris distance, with the distance).
fn encounter_scores(
    encounter_id: Option<&str>,
    score: f64,
    fingers: &[Option<f32>; 10],
    eyes: &[Option<f32>; 2],
) -> Vec<ScoreDetail> {
    let detail = |score: f64, kind, sub| ScoreDetail {
        score,
        encounter_id: encounter_id.map(str::to_owned),
        biometric_type: kind,
        biometric_sub_type: sub,
        distance: None,
    };
    let mut out = vec![detail(round(score, 2), None, None)];
    for (slot, s) in fingers.iter().enumerate() {
        if let Some(s) = s {
            out.push(detail(
                round(f64::from(*s), 4),
                Some(BiometricType::Finger),
                Some(finger_sub_type(slot as u8 + 1)),
            ));
        }
    }
    for (index, d) in eyes.iter().enumerate() {
        if let Some(d) = d {
            let d = round(f64::from(*d), 4);
            out.push(ScoreDetail {
                distance: Some(d),
                ..detail(
                    round(1.0 - d, 4),
                    Some(BiometricType::Iris),
                    Some(if index == 0 { "EYE_RIGHT" } else { "EYE_LEFT" }),
                )
            });
        }
    }
    out
}

/// Reads a probe's biometric items (at least one usable finger or eye image).
pub async fn read_probe(items: Vec<BiometricData>) -> Result<Probe, OsiaError> {
    let read = work::run_on_rayon(move || biometrics::read(&items, true)).await??;
    Ok(read.probe)
}

/// The engine's target FPIR for a fused-score threshold `t` over the whole gallery.
fn target_fpir(app: &OsiaState, threshold: Option<f64>) -> Option<f64> {
    let n = app.engine.gallery().len().max(1) as f64;
    threshold.map(|t| n * (-t).exp())
}

fn compare_values(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        _ => None,
    }
}

/// Whether biographic data pass a filter: each key equal, or for `<field>Min` / `<field>Max`
/// the field at least / at most the value (strings, such as ISO dates, or numbers).
pub fn filter_passes(filter: &Map<String, Value>, data: Option<&Map<String, Value>>) -> bool {
    filter.iter().all(|(k, v)| {
        let Some(data) = data else {
            return false;
        };
        if let Some(own) = data.get(k) {
            return own == v;
        }
        if let Some(field) = k.strip_suffix("Min") {
            return data
                .get(field)
                .and_then(|d| compare_values(d, v))
                .is_some_and(|o| o != Ordering::Less);
        }
        if let Some(field) = k.strip_suffix("Max") {
            return data
                .get(field)
                .and_then(|d| compare_values(d, v))
                .is_some_and(|o| o != Ordering::Greater);
        }
        false
    })
}

/// Checks that a gallery exists (the default gallery always does).
fn known_gallery(app: &OsiaState, gallery: &str) -> Result<(), OsiaError> {
    check_id("galleryId", gallery)?;
    if gallery != DEFAULT_GALLERY && !app.store.galleries()?.iter().any(|g| g == gallery) {
        return Err(OsiaError::bad(
            Code::InvalidParameter,
            format!("unknown gallery {gallery:?}"),
        ));
    }
    Ok(())
}

/// What candidates are kept.
struct Keep<'a> {
    gallery: &'a str,
    filter: &'a Map<String, Value>,
    exclude: Option<&'a str>,
    threshold: Option<f64>,
    max: usize,
}

/// The engine's candidates as OSIA persons: active encounters of the gallery passing the
/// filter, grouped by person (best score first).
fn candidates(
    app: &OsiaState,
    keep: &Keep<'_>,
    found: Vec<ExternalCandidate>,
) -> Result<Vec<CandidateOut>, OsiaError> {
    let mut persons: Vec<CandidateOut> = Vec::new();
    for c in found {
        let Some(row) = app.store.by_external(&c.external_id)? else {
            continue;
        };
        let score = c.candidate.score;
        if row.status == EncounterStatus::Inactive
            || keep.exclude == Some(row.person_id.as_str())
            || keep.threshold.is_some_and(|t| score < t)
            || !filter_passes(keep.filter, row.document.biographic_data.as_ref())
            || !app.store.is_member(keep.gallery, &c.external_id)?
        {
            continue;
        }
        let details = encounter_scores(
            Some(&row.encounter_id),
            score,
            &c.candidate.finger_scores,
            &c.candidate.iris_distances,
        );
        match persons.iter_mut().find(|p| p.person_id == row.person_id) {
            Some(p) => {
                p.score = p.score.max(round(score, 2));
                p.score_list.extend(details);
            }
            None => persons.push(CandidateOut {
                person_id: row.person_id.clone(),
                rank: 0,
                score: round(score, 2),
                score_list: details,
            }),
        }
    }
    persons.sort_by(|a, b| b.score.total_cmp(&a.score));
    persons.truncate(keep.max);
    for (i, p) in persons.iter_mut().enumerate() {
        p.rank = i32::try_from(i + 1).unwrap_or(i32::MAX);
    }
    Ok(persons)
}

fn limits(app: &OsiaState, params: &Params) -> ExternalSearch {
    ExternalSearch {
        // Candidates outside the gallery or the filter are dropped afterwards.
        max_results: MAX_CANDIDATES,
        target_fpir: target_fpir(app, params.threshold),
        gallery: None,
    }
}

/// `POST /v1/identify/{galleryId}`.
pub async fn identify(
    app: &OsiaState,
    params: &Params,
    gallery: String,
    filter: Map<String, Value>,
    probe: Probe,
) -> Result<Answer, OsiaError> {
    let (app, limits) = (app.clone(), limits(app, params));
    let (threshold, max) = (
        params.threshold,
        params.max_candidates.unwrap_or(DEFAULT_MAX_CANDIDATES),
    );
    let out = work::run_blocking(move || -> Result<Vec<CandidateOut>, OsiaError> {
        known_gallery(&app, &gallery)?;
        let found = app
            .engine
            .identify_external_probe(&app.origin, &probe, &limits)
            .map_err(engine_error)?
            .map_err(|reason| {
                OsiaError::bad(
                    Code::NoUsableBiometrics,
                    format!("the probe cannot be searched ({reason})"),
                )
            })?;
        let keep = Keep {
            gallery: &gallery,
            filter: &filter,
            exclude: None,
            threshold,
            max,
        };
        candidates(&app, &keep, found)
    })
    .await??;
    Ok(Answer::json(StatusCode::OK, json!(out)))
}

/// `POST /v1/identify/{galleryId}/{personId}`: every encounter of the person searched, the
/// person itself left out of the candidates.
pub async fn identify_from_id(
    app: &OsiaState,
    params: &Params,
    gallery: String,
    person: String,
    filter: Map<String, Value>,
) -> Result<Answer, OsiaError> {
    let (app, limits) = (app.clone(), limits(app, params));
    let (threshold, max) = (
        params.threshold,
        params.max_candidates.unwrap_or(DEFAULT_MAX_CANDIDATES),
    );
    let out = work::run_blocking(move || -> Result<Vec<CandidateOut>, OsiaError> {
        known_gallery(&app, &gallery)?;
        let rows = app.store.person(&person)?;
        if rows.is_empty() {
            return Err(OsiaError::UnknownRecord(format!("no person {person:?}")));
        }
        let mut found = Vec::new();
        for row in &rows {
            if let Some(list) = app
                .engine
                .identify_external(&app.origin, &row.external_id, &limits)
                .map_err(engine_error)?
            {
                found.extend(list);
            }
        }
        let keep = Keep {
            gallery: &gallery,
            filter: &filter,
            exclude: Some(&person),
            threshold,
            max,
        };
        candidates(&app, &keep, found)
    })
    .await??;
    Ok(Answer::json(StatusCode::OK, json!(out)))
}

fn threshold_of(app: &OsiaState, params: &Params) -> f64 {
    params
        .threshold
        .unwrap_or_else(|| f64::from(app.engine.verify_threshold()))
}

/// `POST /v1/verify/{galleryId}/{personId}`: the probe against each of the person's
/// encounters in the gallery; the decision is whether any reaches the threshold.
pub async fn verify_from_id(
    app: &OsiaState,
    params: &Params,
    gallery: String,
    person: String,
    probe: Probe,
) -> Result<Answer, OsiaError> {
    check_id("galleryId", &gallery)?;
    let threshold = threshold_of(app, params);
    let app = app.clone();
    let out = work::run_blocking(move || -> Result<VerifyOut, OsiaError> {
        let mut rows: Vec<Row> = Vec::new();
        for r in app.store.person(&person)? {
            if app.store.is_member(&gallery, &r.external_id)? {
                rows.push(r);
            }
        }
        let unknown = || OsiaError::UnknownRecord(format!("no person {person:?} in {gallery:?}"));
        if rows.is_empty() {
            return Err(unknown());
        }
        let prepared = compare::prepare(&app.engine, &probe).map_err(engine_error)?;
        let mut decision = false;
        let mut scores = Vec::new();
        for row in &rows {
            let Some(entry) = app
                .engine
                .external_entry(&app.origin, &row.external_id)
                .filter(|e| e.in_gallery())
            else {
                continue;
            };
            if let Some(c) =
                compare::with_key(&app.engine, &prepared, entry.key).map_err(engine_error)?
            {
                decision |= c.score >= threshold;
                scores.extend(encounter_scores(
                    Some(&row.encounter_id),
                    c.score,
                    &c.finger_scores,
                    &c.iris_distances,
                ));
            }
        }
        if scores.is_empty() {
            return Err(unknown());
        }
        Ok(VerifyOut { decision, scores })
    })
    .await??;
    Ok(Answer::json(StatusCode::OK, json!(out)))
}

/// `POST /v1/verify`: two probes compared.
pub async fn verify_from_bio(
    app: &OsiaState,
    params: &Params,
    a: Probe,
    b: Probe,
) -> Result<Answer, OsiaError> {
    let threshold = threshold_of(app, params);
    let app = app.clone();
    let c: Comparison = work::run_on_rayon(move || -> Result<Comparison, OsiaError> {
        let a = compare::prepare(&app.engine, &a).map_err(engine_error)?;
        let b = compare::prepare(&app.engine, &b).map_err(engine_error)?;
        compare::probes(&app.engine, &a, &b).map_err(engine_error)
    })
    .await??;
    let out = VerifyOut {
        decision: c.score >= threshold,
        scores: encounter_scores(None, c.score, &c.finger_scores, &c.iris_distances),
    };
    Ok(Answer::json(StatusCode::OK, json!(out)))
}

/// `GET /v1/galleries`: every gallery with an encounter, and the default gallery.
pub async fn galleries(app: &OsiaState) -> Result<Answer, OsiaError> {
    let app = app.clone();
    let mut list = work::run_blocking(move || app.store.galleries()).await??;
    if !list.iter().any(|g| g == DEFAULT_GALLERY) {
        list.push(DEFAULT_GALLERY.to_owned());
        list.sort();
    }
    Ok(Answer::json(StatusCode::OK, json!(list)))
}

/// `GET /v1/galleries/{galleryId}`: one page of its encounters.
pub async fn gallery_content(
    app: &OsiaState,
    params: &Params,
    gallery: String,
) -> Result<Answer, OsiaError> {
    check_id("galleryId", &gallery)?;
    let offset = params.count("offset", 0, i64::MAX as usize)?;
    let limit = params.count("limit", 1000, MAX_PAGE)?;
    let app = app.clone();
    let g = gallery.clone();
    let page = work::run_blocking(move || app.store.gallery_content(&g, offset, limit)).await??;
    let page = match page {
        Some(p) => p,
        None if gallery == DEFAULT_GALLERY => Vec::new(),
        None => return Err(OsiaError::UnknownRecord(format!("no gallery {gallery:?}"))),
    };
    let out: Vec<Value> = page
        .into_iter()
        .map(|(p, e)| json!({"personId": p, "encounterId": e}))
        .collect();
    Ok(Answer::json(StatusCode::OK, json!(out)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn filters_compare_equal_fields_and_min_max_bounds() {
        let data = map(json!({"dateOfBirth": "1985-11-30", "gender": "M", "height": 180}));
        let pass = |f: Value| filter_passes(&map(f), Some(&data));
        assert!(pass(json!({})));
        assert!(pass(json!({"gender": "M"})));
        assert!(!pass(json!({"gender": "F"})));
        assert!(pass(
            json!({"dateOfBirthMin": "1980-01-01", "dateOfBirthMax": "1990-12-31"})
        ));
        assert!(!pass(json!({"dateOfBirthMin": "1986-01-01"})));
        assert!(pass(json!({"heightMax": 190})));
        assert!(!pass(json!({"heightMin": "tall"})));
        assert!(!pass(json!({"nationality": "FRA"})));
        assert!(!filter_passes(&map(json!({"gender": "M"})), None));
        assert!(filter_passes(&Map::new(), None));
    }

    #[test]
    fn encounter_scores_list_the_fused_score_then_each_finger_and_eye() {
        let mut fingers = [None; 10];
        fingers[0] = Some(0.51234);
        fingers[9] = Some(0.1);
        let s = encounter_scores(Some("e"), 31.456, &fingers, &[None, Some(0.21)]);
        assert_eq!(s.len(), 4);
        assert_eq!((s[0].score, s[0].biometric_type), (31.46, None));
        assert_eq!(s[1].biometric_sub_type, Some("RIGHT_THUMB"));
        assert_eq!(s[2].biometric_sub_type, Some("LEFT_LITTLE"));
        assert_eq!(s[1].score, 0.5123);
        assert_eq!(s[3].biometric_type, Some(BiometricType::Iris));
        assert_eq!(s[3].biometric_sub_type, Some("EYE_LEFT"));
        assert_eq!((s[3].score, s[3].distance), (0.79, Some(0.21)));
    }
}
