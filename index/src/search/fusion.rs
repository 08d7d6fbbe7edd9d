//! Score calibration and fusion.
//!
//! Every raw score (first-stage finger descriptor similarity, second-stage finger matcher
//! score, iris similarity `1 − hd_norm`) is mapped to a log-likelihood ratio
//! `ln p(s | mate) / p(s | non-mate)` by a [`LlrTable`] learned from genuine and impostor
//! scores: a histogram per class with add-half smoothing, made non-decreasing by weighted
//! isotonic regression, then clamped to `±cap`. Smoothing bounds the ratio where impostor
//! samples run out, so a table cannot claim more evidence than its impostor sample supports.
//!
//! Fusion sums the ratios of the fingers and eyes both sides have, each clamped to its
//! per-sample cap, and clamps each modality's sum to the modality cap, so neither fingers
//! nor irises alone can push a comparison over the decision threshold unless their cap
//! allows it.

use serde::{Deserialize, Serialize};

/// A learned map from a raw score to a log-likelihood ratio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlrTable {
    /// Score at the left edge of the first bin.
    pub lo: f32,
    /// Score at the right edge of the last bin.
    pub hi: f32,
    /// Ratio per bin (non-decreasing).
    pub llr: Vec<f32>,
}

/// Why a table could not be learned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalibrationError {
    /// No genuine or no impostor score, or no bin.
    #[error("need genuine and impostor scores and at least one bin")]
    NotEnoughData,
}

impl LlrTable {
    /// Learns a table over `[lo, hi]` with `bins` bins; ratios clamped to `±cap`.
    pub fn learn(
        genuine: &[f32],
        impostor: &[f32],
        lo: f32,
        hi: f32,
        bins: usize,
        cap: f32,
    ) -> Result<Self, CalibrationError> {
        if genuine.is_empty() || impostor.is_empty() || bins == 0 || hi <= lo {
            return Err(CalibrationError::NotEnoughData);
        }
        let bin_of =
            |s: f32| (((s - lo) / (hi - lo) * bins as f32).max(0.0) as usize).min(bins - 1);
        let mut g = vec![0.0f64; bins];
        let mut m = vec![0.0f64; bins];
        genuine.iter().for_each(|&s| g[bin_of(s)] += 1.0);
        impostor.iter().for_each(|&s| m[bin_of(s)] += 1.0);
        let (gt, mt) = (
            genuine.len() as f64 + 0.5 * bins as f64,
            impostor.len() as f64 + 0.5 * bins as f64,
        );
        let raw: Vec<f64> = (0..bins)
            .map(|i| ((g[i] + 0.5) / gt).ln() - ((m[i] + 0.5) / mt).ln())
            .collect();
        let weights: Vec<f64> = (0..bins).map(|i| g[i] + m[i] + 1.0).collect();
        let llr = isotonic(&raw, &weights)
            .into_iter()
            .map(|v| (v as f32).clamp(-cap, cap))
            .collect();
        Ok(Self { lo, hi, llr })
    }

    /// The ratio of a score (scores outside the range take the edge bins).
    #[inline]
    pub fn llr(&self, s: f32) -> f32 {
        let n = self.llr.len();
        if n == 0 {
            return 0.0;
        }
        let x = (s - self.lo) / (self.hi - self.lo) * n as f32;
        let i = if x.is_nan() {
            0
        } else {
            (x.max(0.0) as usize).min(n - 1)
        };
        self.llr[i]
    }
}

/// Pool-adjacent-violators: the non-decreasing sequence closest to `v` in weighted least squares.
fn isotonic(v: &[f64], w: &[f64]) -> Vec<f64> {
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new(); // (mean, weight, count)
    for (&x, &wt) in v.iter().zip(w) {
        blocks.push((x, wt, 1));
        while blocks.len() > 1 {
            let n = blocks.len();
            let (b, a) = (blocks[n - 1], blocks[n - 2]);
            if a.0 <= b.0 {
                break;
            }
            let wsum = a.1 + b.1;
            blocks.truncate(n - 2);
            blocks.push(((a.0 * a.1 + b.0 * b.1) / wsum, wsum, a.2 + b.2));
        }
    }
    blocks
        .iter()
        .flat_map(|&(mean, _, count)| std::iter::repeat_n(mean, count))
        .collect()
}

/// Caps of the fusion (natural-log units).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FusionCaps {
    /// Largest contribution of one finger.
    pub per_finger: f32,
    /// Largest contribution of all fingers together.
    pub fingers: f32,
    /// Largest contribution of one eye.
    pub per_eye: f32,
    /// Largest contribution of both eyes together.
    pub irises: f32,
    /// Largest evidence *against* a match that all fingers together may give; `None` (a
    /// calibration stored before this field existed) means `fingers`, the symmetric cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingers_against: Option<f32>,
    /// Largest evidence against a match that both eyes together may give; `None` means
    /// `irises`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub irises_against: Option<f32>,
    /// Largest evidence against a match that the fingers whose ratios are negative may give
    /// together, added to the sum of the positive ones ([`FAILED_FINGERS_AGAINST`]); `None`
    /// (a calibration stored before this field existed) sums every finger's ratio as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_fingers_against: Option<f32>,
}

/// Default of [`FusionCaps::fingers_against`] and [`FusionCaps::irises_against`].
///
/// A capture that fails (worn or wet fingers, a smudged platen, a closed eye) fails for
/// every finger or for both eyes at once, so the per-sample ratios of one modality are not
/// independent when they speak against a match: summed, ten failed fingers of a mate would
/// claim about −40 and veto two irises that match at the per-eye cap. The evidence that a
/// whole modality disagrees is worth about the share of mates whose capture of it fails,
/// a few per cent (`ln 0.05 ≈ −3`). Flooring a modality's sum at `−a` raises a non-mate's
/// likelihood ratio Λ only where it is below `e^−a`, so `E[Λ] ≤ (1 + e^−a)²` over both
/// modalities, 1.10 at `a = 3`: [`threshold`]'s bound on the false-positive rate holds
/// within that factor.
pub const MODALITY_AGAINST_CAP: f32 = 3.0;

/// Default of [`FusionCaps::failed_fingers_against`]: the fingers that speak against a match
/// take off at most one and a half fingers' cap together.
///
/// The failures of one capture are not independent: a dry, worn or distorted hand fails
/// several fingers at once (a mate of FVC2002's DB3 loses three fingers of ten together
/// while its seven others match), so the evidence of k failed fingers is nowhere near k
/// times one finger's. Summed as independent, those three failed fingers took off 20.8 and
/// put the mate (positive part 38.6) under the threshold of a 1,000,000-person gallery
/// (20.7). The floor must stay below that mate's margin (38.6 − 20.7 = 17.9) and above what
/// a non-mate sharing three real fingers with an enrolled person can reach at the per-finger
/// cap over the threshold of a 1,000-person gallery (3 · 8 − 13.8 = 10.2), so that such a
/// chimera stays single in every gallery of 1,000 people or more: 12 lies between.
///
/// Flooring the negative part `N` of the finger sum at `−a` raises a non-mate's likelihood
/// ratio only where `N < −a`, by at most `e^(P − a)` for the positive part `P`; with
/// independent fingers `E[e^P] = Π (P(r ≤ 0) + E[e^r; r > 0]) ≤ 2^10`, so `E[Λ]` grows by at
/// most `2^10 · e^−12 = 0.0063` and [`threshold`]'s bound holds within that factor; on
/// FVC2002's non-mated pairs the growth is far smaller (`tunggal calibrate` prints it). A
/// fused sum reaches a threshold only if its positive part does, which bounds the false
/// candidates whatever the floor.
pub const FAILED_FINGERS_AGAINST: f32 = 12.0;

impl Default for FusionCaps {
    /// One finger or one eye adds at most 8 and 12; all fingers at most 40 and both eyes at
    /// most 24; a modality that disagrees takes off at most [`MODALITY_AGAINST_CAP`]. One eye
    /// alone never reaches the decision threshold of a gallery of 1,000 people or more
    /// (`ln(N / FPIR)`, 13.8 at 1,000 and the default target), so a duplicate always rests
    /// on two modalities or both eyes. Two eyes that match at the per-eye cap, with fingers
    /// that all disagree, reach 21.0: the threshold up to about 1,300,000 people, so a person
    /// whose fingerprints are worn or poorly captured is still found by the irises; at
    /// 200,000,000 people (26.0) they need some finger evidence as well. In the same way ten
    /// matching fingers are never vetoed by a failed iris capture.
    fn default() -> Self {
        Self {
            per_finger: 8.0,
            fingers: 40.0,
            per_eye: 12.0,
            irises: 24.0,
            fingers_against: Some(MODALITY_AGAINST_CAP),
            irises_against: Some(MODALITY_AGAINST_CAP),
            failed_fingers_against: Some(FAILED_FINGERS_AGAINST),
        }
    }
}

/// The calibration stored with a gallery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// First-stage finger descriptor similarity.
    pub descriptor: LlrTable,
    /// Second-stage finger matcher score.
    pub finger: LlrTable,
    /// Iris similarity `1 − hd_norm` (the iris matcher's best normalised Hamming distance
    /// over its rotation window).
    pub iris: LlrTable,
    /// Fusion caps.
    pub caps: FusionCaps,
    /// Which tables these are (e.g. `finger-v2+synthetic-iris`), recorded with every verdict
    /// they decide; empty for a calibration stored before ids existed.
    #[serde(default)]
    pub id: String,
    /// Version of the first-stage descriptors the gallery's hot records hold (see
    /// [`crate::gallery::descriptor::DescriptorParams::version`]); set by the gallery when it
    /// stores the calibration, 1 for a calibration stored before versions were recorded.
    #[serde(default = "first_descriptor_version")]
    pub descriptor_version: u32,
    /// Version of the matcher parameters whose second-stage scores the finger table
    /// calibrates (see [`crate::finger::MATCHER_VERSION`]); 1 for a calibration stored before
    /// versions were recorded. A gallery compares with that version's parameters.
    #[serde(default = "first_matcher_version")]
    pub matcher_version: u32,
    /// The cohort against which every gallery finger's first-stage similarity is normalised
    /// ([`crate::gallery::cohort`]); empty (every offset 0) for a calibration stored before
    /// cohorts existed. The descriptor table calibrates normalised similarities.
    #[serde(
        default,
        skip_serializing_if = "crate::gallery::DescriptorCohort::is_empty"
    )]
    pub cohort: crate::gallery::DescriptorCohort,
}

fn first_descriptor_version() -> u32 {
    1
}

fn first_matcher_version() -> u32 {
    1
}

impl Calibration {
    /// The fingers' evidence from the sums of their positive (`for_match`) and negative
    /// (`against`) per-finger ratios, already per-finger clamped: `against` floored at
    /// [`FusionCaps::failed_fingers_against`].
    #[inline]
    pub fn fingers(&self, for_match: f32, against: f32) -> f32 {
        match self.caps.failed_fingers_against {
            Some(a) => for_match + against.max(-a.abs()),
            None => for_match + against,
        }
    }

    /// Sums finger ratios (already per-finger clamped) and eye ratios with the modality caps:
    /// each modality's sum lies within `[−against, cap]`.
    #[inline]
    pub fn fuse(&self, fingers: f32, irises: f32) -> f32 {
        let caps = &self.caps;
        let fingers_against = caps.fingers_against.unwrap_or(caps.fingers);
        let irises_against = caps.irises_against.unwrap_or(caps.irises);
        // `max`/`min` rather than `clamp`: a stored calibration with odd caps never panics.
        fingers.max(-fingers_against.abs()).min(caps.fingers)
            + irises.max(-irises_against.abs()).min(caps.irises)
    }
}

/// The decision threshold on the fused ratio for a target false-positive identification rate
/// over a gallery of `gallery_size` people.
///
/// For a calibrated likelihood ratio Λ, a non-mate exceeds `T` with probability at most `1/T`
/// (Markov's inequality under the non-mate distribution, whose Λ has mean 1). A search makes
/// `N` non-mate comparisons, so `P(false positive) ≤ N/T`, and `ln T = ln(N / FPIR)` meets
/// the target. It grows with the gallery, as MOSIP's `targetFPIR` asks.
pub fn threshold(target_fpir: f64, gallery_size: usize) -> f32 {
    let fpir = target_fpir.clamp(1e-12, 1.0);
    ((gallery_size.max(1) as f64) / fpir).ln() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_monotone_capped_and_separates() {
        let genuine: Vec<f32> = (0..1000).map(|i| 0.5 + (i % 50) as f32 / 100.0).collect();
        let impostor: Vec<f32> = (0..5000).map(|i| (i % 60) as f32 / 100.0).collect();
        let t = LlrTable::learn(&genuine, &impostor, 0.0, 1.0, 20, 6.0).unwrap();
        assert!(t.llr.windows(2).all(|w| w[0] <= w[1]));
        assert!(t.llr(0.05) < -2.0);
        assert!(t.llr(0.95) > 2.0);
        assert!(t.llr.iter().all(|v| v.abs() <= 6.0));
        assert_eq!(t.llr(-5.0), t.llr[0]);
        assert_eq!(t.llr(f32::NAN), t.llr[0]);
        assert!(LlrTable::learn(&[], &impostor, 0.0, 1.0, 20, 6.0).is_err());
    }

    #[test]
    fn isotonic_pools_violators() {
        let v = isotonic(&[1.0, 3.0, 2.0, 4.0], &[1.0, 1.0, 1.0, 1.0]);
        assert_eq!(v, vec![1.0, 2.5, 2.5, 4.0]);
    }

    fn calibration(caps: FusionCaps) -> Calibration {
        let table = LlrTable {
            lo: 0.0,
            hi: 1.0,
            llr: vec![0.0],
        };
        Calibration {
            descriptor: table.clone(),
            finger: table.clone(),
            iris: table,
            caps,
            id: String::new(),
            descriptor_version: 1,
            matcher_version: 1,
            cohort: Default::default(),
        }
    }

    #[test]
    fn a_disagreeing_modality_cannot_veto_the_other() {
        let c = calibration(FusionCaps::default());
        // Ten failed fingers against two eyes at the per-eye cap.
        assert_eq!(c.fuse(-71.0, 24.0), 24.0 - MODALITY_AGAINST_CAP);
        assert!(c.fuse(-71.0, 24.0) > threshold(1e-3, 1_000_000));
        // Ten matching fingers against a failed iris capture.
        assert_eq!(c.fuse(64.0, -30.0), 40.0 - MODALITY_AGAINST_CAP);
        // Positive sums keep their caps.
        assert_eq!(c.fuse(64.0, 30.0), 64.0);
    }

    #[test]
    fn failed_fingers_take_off_at_most_one_and_a_half_fingers_together() {
        let c = calibration(FusionCaps::default());
        // Seven matching fingers of a real mate and three that failed (FVC2002 DB3).
        let (for_match, against) = (38.6, -8.0 - 8.0 - 4.8);
        assert!((c.fingers(for_match, against) - 26.6).abs() < 1e-4);
        assert!(c.fuse(c.fingers(for_match, against), 0.0) > threshold(1e-3, 1_000_000));
        // Three real fingers at the cap and seven failed stay under a 1,000-person threshold.
        assert!(c.fuse(c.fingers(24.0, -56.0), 0.0) < threshold(1e-3, 1_000));
        // One failed finger counts in full; without positive evidence the modality floor decides.
        assert_eq!(c.fingers(20.0, -5.0), 15.0);
        assert_eq!(c.fuse(c.fingers(0.0, -71.0), 0.0), -MODALITY_AGAINST_CAP);
        // A calibration stored before the field sums every finger as it is.
        let json = r#"{"per_finger":8.0,"fingers":40.0,"per_eye":12.0,"irises":24.0,
            "fingers_against":3.0,"irises_against":3.0}"#;
        let old = calibration(serde_json::from_str(json).unwrap());
        assert_eq!(old.caps.failed_fingers_against, None);
        assert!((old.fingers(for_match, against) - 17.8).abs() < 1e-4);
    }

    #[test]
    fn caps_stored_without_the_against_fields_stay_symmetric() {
        let json = r#"{"per_finger":8.0,"fingers":40.0,"per_eye":12.0,"irises":24.0}"#;
        let caps: FusionCaps = serde_json::from_str(json).unwrap();
        assert_eq!(caps.fingers_against, None);
        assert_ne!(caps, FusionCaps::default());
        let c = calibration(caps);
        assert_eq!(c.fuse(-71.0, 24.0), -16.0);
        assert_eq!(c.fuse(10.0, -30.0), -14.0);
    }

    #[test]
    fn threshold_grows_with_gallery() {
        assert!(threshold(1e-3, 1_000_000) > threshold(1e-3, 1000));
        assert!((threshold(1e-3, 1000) - (1e6f32).ln()).abs() < 1e-3);
        assert!(threshold(0.0, 0).is_finite());
    }
}
