//! Second stage: full fingerprint comparison of the shortlist, finger position against the
//! same position, fused with the first stage's iris evidence.
//!
//! Only same-position comparisons are made. A probe whose fingers were captured in the
//! wrong slots (swapped fingers or hands) loses those fingers' evidence, but the other
//! fingers and the irises still match; comparing every finger against every position would
//! multiply the non-mate comparisons by ten and with them the false-positive rate.

use crate::finger::FingerMatcher;
use crate::gallery::person_record::{EYES, FINGERS};
use crate::gallery::ColdFingers;
use crate::search::fusion::Calibration;
use crate::search::same_capture;
use crate::search::stage1::Stage1Hit;
use crate::search::verdict::{EyeScore, FingerScore, GalleryMatch};

/// Compares the probe's fingers with a shortlisted person's and fuses all scores.
pub fn compare(
    matcher: &FingerMatcher,
    calibration: &Calibration,
    probe: &ColdFingers,
    hit: &Stage1Hit,
    gallery: &ColdFingers,
) -> GalleryMatch {
    let caps = calibration.caps;
    let mut fingers = [None; FINGERS];
    let (mut finger_for, mut finger_against) = (0.0f32, 0.0f32);
    for (slot, out) in fingers.iter_mut().enumerate() {
        if let (Some(p), Some(g)) = (&probe[slot], &gallery[slot]) {
            let score = matcher.compare(&p.prepared, &g.prepared);
            let llr = calibration
                .finger
                .llr(score)
                .clamp(-caps.per_finger, caps.per_finger);
            if llr >= 0.0 {
                finger_for += llr;
            } else {
                finger_against += llr;
            }
            *out = Some(FingerScore {
                descriptor: hit.descriptors[slot],
                score,
                llr,
                same: same_capture::finger(score, &p.template, &g.template),
            });
        }
    }
    let mut eyes = [None; EYES];
    let mut iris_sum = 0.0;
    for (eye, out) in eyes.iter_mut().enumerate() {
        if let Some(e) = hit.eyes[eye] {
            iris_sum += e.llr;
            *out = Some(EyeScore {
                hd_norm: e.hd_norm,
                rotation: e.rotation,
                llr: e.llr,
                same: e.same,
            });
        }
    }
    GalleryMatch {
        key: hit.key,
        fused: calibration.fuse(calibration.fingers(finger_for, finger_against), iris_sum),
        stage1: hit.score,
        fingers,
        eyes,
    }
}
