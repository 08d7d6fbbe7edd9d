//! The answer to an enrolment as it goes on the wire and into the idempotency store: built
//! from a [`Verdict`] by the engine (which keeps it in the same transaction as the outcome)
//! and by the HTTP handlers alike.

use super::record::{Eye, EyeImageQuality, ImageQuality};
use super::verdict::{Candidate, Verdict};
use super::wire::{
    CandidateOut, EnrolmentResponse, FingerQualityOut, FingerScoreOut, IdenticalCaptureOut,
    IrisMeasuresOut, IrisQualityOut, IrisScoreOut, SameEyeOut, SameFingerOut, VerdictKind,
};
use crate::cases::{IdenticalCapture, Sameness};
use crate::clock::now_secs;

/// The wire form of an engine candidate.
pub fn candidate_out(c: &Candidate) -> CandidateOut {
    CandidateOut {
        reference_id: c.reference_id.clone(),
        request_id: c.request_id.clone(),
        score: c.score,
        finger_scores: finger_scores_out(&c.finger_scores),
        iris_scores: iris_scores_out(&c.iris_distances),
        identical_capture: identical_capture_out(&c.identical),
    }
}

/// The wire form of a candidate's identical captures; `None` when nothing is flagged.
pub fn identical_capture_out(c: &IdenticalCapture) -> Option<IdenticalCaptureOut> {
    if c.is_empty() {
        return None;
    }
    let exact = |s: Sameness| s == Sameness::Exact;
    Some(IdenticalCaptureOut {
        fingers: (1u8..)
            .zip(&c.fingers)
            .filter_map(|(position, s)| {
                s.map(|s| SameFingerOut {
                    position,
                    exact: exact(s),
                })
            })
            .collect(),
        eyes: Eye::ALL
            .into_iter()
            .zip(&c.eyes)
            .filter_map(|(eye, s)| {
                s.map(|s| SameEyeOut {
                    eye: eye.name().to_owned(),
                    exact: exact(s),
                })
            })
            .collect(),
    })
}

/// Per-finger scores by position 1–10 (index 0 = position 1) as the wire lists them.
pub fn finger_scores_out(scores: &[Option<f32>; 10]) -> Vec<FingerScoreOut> {
    (1u8..)
        .zip(scores)
        .filter_map(|(position, s)| s.map(|score| FingerScoreOut { position, score }))
        .collect()
}

/// Per-eye distances (index by [`Eye::index`]) as the wire lists them.
pub fn iris_scores_out(distances: &[Option<f32>; 2]) -> Vec<IrisScoreOut> {
    Eye::ALL
        .map(Eye::name)
        .into_iter()
        .zip(distances)
        .filter_map(|(eye, d)| {
            d.map(|distance| IrisScoreOut {
                eye: eye.to_owned(),
                distance,
            })
        })
        .collect()
}

/// The measured quality of the fingerprints submitted as images, as the wire lists it.
pub fn fingerprint_quality_out(q: &[ImageQuality]) -> Vec<FingerQualityOut> {
    q.iter()
        .map(|q| FingerQualityOut {
            position: q.position.code(),
            quality: q.quality,
            unusable: q.unusable.map(str::to_owned),
        })
        .collect()
}

/// The measured quality of the irises submitted as images, as the wire lists it.
pub fn iris_quality_out(q: &[EyeImageQuality]) -> Vec<IrisQualityOut> {
    q.iter()
        .map(|q| IrisQualityOut {
            eye: q.eye.name().to_owned(),
            quality: q.quality,
            unusable: q.unusable.map(str::to_owned),
            measures: q.measures.as_ref().map(|m| IrisMeasuresOut {
                usable_share: m.usable_share,
                eyelid_share: m.eyelid_share,
                eyelash_share: m.eyelash_share,
                reflection_share: m.reflection_share,
                outside_share: m.outside_share,
                dilation: m.dilation,
                gaze_offset: m.gaze_offset,
                sharpness: m.sharpness,
                motion: m.motion,
                iris_radius: m.iris_radius,
            }),
        })
        .collect()
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
        fingerprint_quality: Vec::new(),
        iris_quality: Vec::new(),
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
