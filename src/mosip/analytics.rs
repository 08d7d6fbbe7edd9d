//! A candidate of an identify in MOSIP's form: the fused score overall, then per modality
//! the evidence behind it: `FIR` (finger scores by ISO position), `IIR` (normalised Hamming
//! distance per eye, and the probe's iris samples left out with their reasons when the probe
//! was read from a share) and `FACE` (accepted and ignored). Values are strings, as MOSIP's
//! analytics maps are.

use serde_json::{json, Map, Value};

use super::biometrics::EyeReport;
use super::message::{CandidateOut, ModalityOut};
use crate::engine::external::ExternalCandidate;
use crate::enrolment::record::Eye;

fn text(v: impl ToString) -> Value {
    Value::String(v.to_string())
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The probe's iris samples left out (identify by `referenceUrl`), by eye with the reason
/// and the MOSIP failure reason it would carry alone.
fn left_out(eyes: &[EyeReport]) -> Vec<Value> {
    eyes.iter()
        .filter_map(|e| {
            let (reason, failure) = (e.outcome.reason()?, e.outcome.failure()?);
            Some(json!({
                "eye": e.eye.unwrap_or("unknown"),
                "reason": reason,
                "failureReason": failure.code().to_string(),
            }))
        })
        .collect()
}

/// A candidate with its analytics; `probe_eyes` are the probe's iris samples when it was
/// read from a share (empty for an identify by `referenceId`).
pub fn candidate_out(c: &ExternalCandidate, probe_eyes: &[EyeReport]) -> CandidateOut {
    let k = &c.candidate;
    let fingers: Map<String, Value> = k
        .finger_scores
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| ((i + 1).to_string(), text(format!("{s:.4}")))))
        .collect();
    let identical = k.identical.fingers.iter().filter(|f| f.is_some()).count();
    let mut analytics = Map::new();
    analytics.insert("internalScore".into(), text(format!("{:.3}", k.score)));
    analytics.insert(
        "scoreKind".into(),
        text("fused log-likelihood ratio over the compared fingers and eyes"),
    );
    let fir = object(json!({
        "fingersCompared": text(fingers.len()),
        "fingerScores": Value::Object(fingers),
        "identicalCaptures": text(identical),
    }));
    let distances: Map<String, Value> = Eye::ALL
        .iter()
        .filter_map(|eye| {
            let d = k.iris_distances.get(eye.index()).copied().flatten()?;
            Some((eye.name().to_owned(), text(format!("{d:.4}"))))
        })
        .collect();
    let identical_eyes = k.identical.eyes.iter().filter(|e| e.is_some()).count();
    let mut iir = if distances.is_empty() {
        object(json!({
            "used": "false",
            "eyesCompared": "0",
            "note": "no eye compared: the probe or the candidate has no usable iris, or the \
                     eyes are beyond the iris gate",
        }))
    } else {
        object(json!({
            "used": "true",
            "eyesCompared": text(distances.len()),
            "irisDistances": Value::Object(distances),
            "distanceKind": "normalised Hamming distance, rotation compensated (lower is more similar)",
            "identicalCaptures": text(identical_eyes),
        }))
    };
    let out = left_out(probe_eyes);
    if !out.is_empty() {
        iir.insert("probeEyesLeftOut".into(), Value::Array(out));
    }
    CandidateOut {
        reference_id: c.external_id.clone(),
        analytics,
        modalities: vec![
            ModalityOut {
                biometric_type: "FIR".into(),
                analytics: fir,
            },
            ModalityOut {
                biometric_type: "IIR".into(),
                analytics: iir,
            },
            ModalityOut {
                biometric_type: "FACE".into(),
                analytics: object(json!({
                    "used": "false",
                    "note": "face is outside this ABIS's scope: accepted and ignored",
                })),
            },
        ],
    }
}
