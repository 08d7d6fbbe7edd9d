//! Captures submitted again: a finger or eye of the probe that is the enrolled person's own
//! capture rather than a new one (a replayed enrolment).
//!
//! Two levels, per finger and per eye:
//! - [`SameCapture::Exact`]: the decoded templates are equal (every minutia's position,
//!   direction, type and quality and the image size; for an iris, every code and mask bit).
//!   Byte-identical submissions always give it; it is the strongest signal.
//! - [`SameCapture::Near`]: the matcher's score is beyond what two different captures of one
//!   finger or eye were measured to reach ([`FINGER_NEAR_IDENTICAL`] on the finger score,
//!   [`IRIS_NEAR_IDENTICAL`] on the raw iris distance; the figures and their command are in
//!   `docs/review.md`).

use crate::template::FingerTemplate;

/// Finger matcher score at or above which two captures of a finger count as near-identical.
///
/// Measured with `cargo run --release -p tunggal-datasets --example identical_captures --
/// ../shared/datasets/fvc2002-iso 2000`: the highest score of two different impressions of
/// one finger is 0.8940 on FVC2002 (1,120 genuine pairs of the four databases) and 0.9136
/// in the synthetic population (60,000 pairs), while a template compared with itself scores
/// 0.9927. The threshold keeps 0.046 above the highest genuine score.
pub const FINGER_NEAR_IDENTICAL: f32 = 0.96;

/// Raw fractional Hamming distance (disagreeing over jointly valid bits, at the best
/// rotation) at or below which two captures of an eye count as near-identical.
///
/// The raw distance, not the normalised one: normalisation moves a distance by the number
/// of bits compared, so equal codes normalise anywhere from −0.23 to −0.10 and overlap the
/// best genuine pairs (−0.065). Measured like [`FINGER_NEAR_IDENTICAL`]: the lowest raw
/// distance of two different synthetic captures of one eye is 0.0678 (12,000 pairs), a code
/// against itself 0; the threshold is under half the lowest genuine distance.
pub const IRIS_NEAR_IDENTICAL: f32 = 0.03;

/// How a probe's finger or eye relates to the enrolled capture it was compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SameCapture {
    /// Scored beyond what different captures reach.
    Near,
    /// Equal templates.
    Exact,
}

/// The finger verdict of two templates compared with `score`.
pub fn finger(score: f32, probe: &FingerTemplate, gallery: &FingerTemplate) -> Option<SameCapture> {
    if probe.minutiae == gallery.minutiae
        && (probe.width, probe.height, probe.quality)
            == (gallery.width, gallery.height, gallery.quality)
    {
        Some(SameCapture::Exact)
    } else if score >= FINGER_NEAR_IDENTICAL {
        Some(SameCapture::Near)
    } else {
        None
    }
}

/// The eye verdict of two gallery iris records (code and mask words) whose best raw
/// distance is `hd` (`None`: beyond the iris gate, so neither). Only eyes within the gate, a
/// few per search, are compared word by word.
pub fn eye(hd: Option<f32>, probe: &[u64], gallery: &[u64]) -> Option<SameCapture> {
    let d = hd?;
    if probe == gallery {
        Some(SameCapture::Exact)
    } else if d <= IRIS_NEAR_IDENTICAL {
        Some(SameCapture::Near)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Minutia, MinutiaKind};

    fn template(shift: u16) -> FingerTemplate {
        FingerTemplate {
            width: 300,
            height: 400,
            position: 2,
            quality: 60,
            minutiae: (0..20)
                .map(|i| Minutia {
                    x: 20 + 10 * i + shift,
                    y: 40 + 7 * i,
                    angle: (i * 11) as u8,
                    kind: MinutiaKind::Ending,
                    quality: 50,
                })
                .collect(),
        }
    }

    #[test]
    fn equal_templates_are_exact_whatever_the_score() {
        assert_eq!(
            finger(0.0, &template(0), &template(0)),
            Some(SameCapture::Exact)
        );
        assert_eq!(
            finger(0.97, &template(0), &template(1)),
            Some(SameCapture::Near)
        );
        assert_eq!(finger(0.92, &template(0), &template(1)), None);
    }

    #[test]
    fn equal_eyes_within_the_gate_are_exact() {
        let a = [1u64, 2, 3];
        let b = [1u64, 2, 4];
        assert_eq!(eye(Some(0.0), &a, &a), Some(SameCapture::Exact));
        assert_eq!(eye(Some(0.01), &a, &b), Some(SameCapture::Near));
        assert_eq!(eye(Some(0.07), &a, &b), None);
        assert_eq!(eye(None, &a, &a), None);
    }
}
