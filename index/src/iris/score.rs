//! Scores, Daugman's normalisation and the matcher settings.

use serde::{Deserialize, Serialize};

use super::error::IrisError;
use super::layout::IrisLayout;

/// Default decision threshold on the normalised Hamming distance for 1:N deduplication.
///
/// Daugman's 1:1 criterion is about 0.32. A deduplication search compares every enrolment
/// with the whole national gallery (10⁸ records and more), so the per-comparison false-match
/// rate must be several orders of magnitude lower than for 1:1 use; Daugman's theoretical
/// tables (binomial with ~249 degrees of freedom) show the false-match odds falling by roughly
/// an order of magnitude for each 0.01 the criterion is lowered below 0.32. 0.28 is the
/// per-eye criterion: two irises are fused downstream, which lowers the joint rate further.
pub const DEPLOYMENT_THRESHOLD: f64 = 0.28;

/// Largest rotation window, in angular positions on each side.
pub const MAX_WINDOW: usize = 31;

/// Daugman's score normalisation: `0.5 − (0.5 − hd) · sqrt(n / n_typical)`.
///
/// A comparison over fewer bits than typical is pulled towards 0.5 (it is weaker evidence);
/// one over more bits is pushed away from it. The result is not clamped.
pub fn normalise(hd: f64, compared_bits: u32, typical_compared_bits: u32) -> f64 {
    let ratio = f64::from(compared_bits) / f64::from(typical_compared_bits.max(1));
    0.5 - (0.5 - hd) * ratio.sqrt()
}

/// The result of one scored iris comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IrisScore {
    /// Fractional Hamming distance over the jointly valid bits, at the best rotation.
    pub hd: f64,
    /// [`normalise`]d distance at the best rotation; decisions use this value.
    pub hd_norm: f64,
    /// Best rotation in angular positions: the probe rotated by this many positions (as
    /// [`super::IrisTemplate::rotated`] does) aligns with the gallery template.
    pub rotation: i32,
    /// Jointly valid bits compared at the best rotation.
    pub compared_bits: u32,
}

/// Outcome of a 1:1 comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum IrisComparison {
    /// Enough bits were jointly valid at some rotation; the best rotation's score.
    Scored(IrisScore),
    /// At no rotation were enough bits jointly valid to score.
    TooFewBits {
        /// Most jointly valid bits seen over the window.
        compared_bits: u32,
        /// Minimum the matcher requires.
        required: u32,
    },
}

impl IrisComparison {
    /// The score, if the comparison was scored.
    pub fn score(&self) -> Option<IrisScore> {
        match self {
            Self::Scored(s) => Some(*s),
            Self::TooFewBits { .. } => None,
        }
    }
}

/// Settings of the statistical cascade used by 1:N scans.
///
/// A scan first compares the first `prefix_rows` rows of each record (see
/// [`super::strided`]) at every rotation. A rotation whose partial distance is above the
/// threshold by more than `z` standard deviations is dropped; the others are extended by
/// `step_rows` more rows and tested again, until they cover all rows (a sequential test: each
/// step has more bits, a smaller deviation, and drops more impostor rotations). The deviation is that of the prefix distance around the full distance at
/// the threshold: `sqrt(h (1 − h) (1 − f) · bits_per_dof / m)` for `m` prefix bits forming a
/// fraction `f` of the comparison, where `bits_per_dof` accounts for the correlation of
/// neighbouring iris-code bits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CascadeConfig {
    /// Rows compared at every rotation before deciding which rotations to complete.
    pub prefix_rows: usize,
    /// Rows added to the surviving rotations between two tests.
    pub step_rows: usize,
    /// Safety margin in standard deviations.
    pub z: f64,
    /// Correlated bits per statistical degree of freedom.
    pub bits_per_dof: f64,
}

/// Settings of the coarse first level of [`super::ScanStrategy::Coarse`].
///
/// The coarse level compares the first `rows` rows of each record (see [`super::strided`]) at
/// every `step`-th rotation of the window only, and drops the record when no such rotation
/// comes within reach of `reach` (or of the scan threshold, when that is lower) on the
/// normalised distance; the records it keeps are compared in full. Between two coarse
/// rotations a genuine alignment is up to `step / 2` positions away, which raises its
/// distance at the nearest coarse rotation: `misalignment` is that allowance (a fraction of
/// the compared bits), and `z` a margin in standard deviations of the prefix distance (the
/// deviation of [`CascadeConfig`], with its `bits_per_dof`).
///
/// Unlike the cascade, the coarse level is a screen for genuine comparisons, not a
/// decision-preserving shortcut: with a permissive scan threshold (such as the first-stage
/// iris gate, 0.40, which an impostor's best rotation meets a few times in a hundred), a
/// record whose best distance lies between `reach` and the threshold, far above genuine
/// distances, may be dropped. `tunggal bench iris --mated-pairs … --non-mated …` counts the
/// genuine and impostor comparisons each strategy keeps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CoarseConfig {
    /// Rows compared (the record prefix).
    pub rows: usize,
    /// Rotation step: slots `0, step, 2 step, …` of the window are compared.
    pub step: usize,
    /// Margin in standard deviations of the prefix distance.
    pub z: f64,
    /// Allowance on the raw distance for the misalignment between coarse rotations.
    pub misalignment: f64,
    /// Normalised distance the coarse level aims at when the scan threshold is higher.
    pub reach: f64,
    /// Rows after which a first, looser test drops rotations before the remaining coarse
    /// rows are counted (0, or `rows` and above: one test after all coarse rows).
    #[serde(default)]
    pub gate_rows: usize,
    /// Margin in standard deviations of that first test.
    #[serde(default)]
    pub gate_z: f64,
}

impl CoarseConfig {
    /// Defaults for a layout: half the rows (at least one), every second rotation, `z = 0.5`,
    /// a misalignment allowance of 0.03 and a reach of 0.32 (Daugman's 1:1 criterion).
    ///
    /// On the synthetic population (`tunggal bench iris --threshold 0.40 --mated-pairs 4000
    /// --non-mated 200000`) genuine pairs at qualities uniform in `[0, 1]` reach a full
    /// `hd_norm` of 0.24 at worst and all pass the coarse level, which keeps about 2.4 % of
    /// impostor records (against 3.5 % of impostors that meet the 0.40 gate in full and 99.9 %
    /// that pass the cascade prefix at that gate); `z = 1` with the same allowance kept 7.2 %.
    ///
    /// A first test after a quarter of the rows (`gate_z = 1.0`) drops most impostor
    /// rotations before the second quarter is counted.
    pub fn for_layout(layout: IrisLayout) -> Self {
        let rows = (layout.rows() / 2).max(1);
        Self {
            rows,
            step: 2,
            z: 0.5,
            misalignment: 0.03,
            reach: 0.32,
            gate_rows: rows / 2,
            gate_z: 1.0,
        }
    }

    /// Rows of the first test when there is one (between 1 and `rows − 1`).
    pub fn first_test_rows(&self) -> Option<usize> {
        (self.gate_rows >= 1 && self.gate_rows < self.rows).then_some(self.gate_rows)
    }

    /// Checks the settings against a layout.
    pub fn validate(&self, layout: IrisLayout) -> Result<(), IrisError> {
        if self.rows == 0 || self.rows > layout.rows() {
            return Err(IrisError::InvalidConfig {
                reason: "coarse level must hold between 1 and all rows",
            });
        }
        if self.step == 0 {
            return Err(IrisError::InvalidConfig {
                reason: "coarse rotation step must be at least 1",
            });
        }
        let ok = self.z.is_finite()
            && self.z >= 0.0
            && self.misalignment.is_finite()
            && (0.0..=0.5).contains(&self.misalignment)
            && self.reach.is_finite()
            && self.gate_z.is_finite()
            && self.gate_z >= 0.0;
        if !ok {
            return Err(IrisError::InvalidConfig {
                reason:
                    "coarse z and gate_z must be ≥ 0, misalignment in 0 ..= 0.5 and reach finite",
            });
        }
        Ok(())
    }

    /// Rotation slots compared out of `rotations`: `0, step, …` below `rotations`.
    pub fn slots(&self, rotations: usize) -> usize {
        rotations.div_ceil(self.step.max(1))
    }
}

/// Matcher settings; [`MatchConfig::for_layout`] gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MatchConfig {
    /// Rotation window in angular positions on each side.
    pub window: usize,
    /// `n_typical` of the normalisation.
    pub typical_compared_bits: u32,
    /// Templates with fewer valid bits are refused as unusable.
    pub min_template_bits: u32,
    /// Rotations with fewer jointly valid bits are not scored.
    pub min_compared_bits: u32,
    /// 1:N cascade settings.
    pub cascade: CascadeConfig,
}

impl MatchConfig {
    /// Defaults for a layout:
    ///
    /// * window: [`IrisLayout::default_window`] (±8 for 128 positions, ±15 for 256);
    /// * `typical_compared_bits`: [`IrisLayout::typical_compared_bits`] (911 for 2048 bits);
    /// * `min_template_bits`: a quarter of the code (at most 75 % occluded);
    /// * `min_compared_bits`: a third of the typical count (303 for 2048 bits), where the
    ///   impostor distance has a standard deviation of about 0.055;
    /// * cascade: the first half of the rows for codes of at most 8 rows (the 2048-bit code:
    ///   its first quarter, 2 rows, is too short to rule out a rotation at `z = 4`, and 99 %
    ///   of impostor records kept a rotation there in `tunggal bench iris`), the first quarter
    ///   otherwise, then an eighth of the rows per step, `z = 4`, and `bits_per_dof` of
    ///   `row_bits / 40` (6.4 for the 2048-bit code, 12.8 for open-iris, whose angular
    ///   sampling is twice as dense), above the correlation measured on the synthetic codes so
    ///   the margin errs on the safe side.
    pub fn for_layout(layout: IrisLayout) -> Self {
        let typical = layout.typical_compared_bits();
        Self {
            window: layout.default_window(),
            typical_compared_bits: typical,
            min_template_bits: (layout.total_bits() / 4) as u32,
            min_compared_bits: typical.div_ceil(3),
            cascade: CascadeConfig {
                prefix_rows: if layout.rows() <= 8 {
                    (layout.rows() / 2).max(1)
                } else {
                    layout.rows() / 4
                },
                step_rows: (layout.rows() / 8).max(1),
                z: 4.0,
                bits_per_dof: layout.row_bits() as f64 / 40.0,
            },
        }
    }

    /// Checks the settings against a layout.
    pub fn validate(&self, layout: IrisLayout) -> Result<(), IrisError> {
        if self.window > MAX_WINDOW || 2 * self.window >= layout.angular() {
            return Err(IrisError::InvalidConfig {
                reason: "rotation window above 31 or half the angular positions",
            });
        }
        if self.typical_compared_bits == 0 {
            return Err(IrisError::InvalidConfig {
                reason: "typical_compared_bits must be positive",
            });
        }
        if self.cascade.prefix_rows == 0 || self.cascade.prefix_rows > layout.rows() {
            return Err(IrisError::InvalidConfig {
                reason: "cascade prefix must hold between 1 and all rows",
            });
        }
        if self.cascade.step_rows == 0 {
            return Err(IrisError::InvalidConfig {
                reason: "cascade step must be at least one row",
            });
        }
        let z_ok = self.cascade.z.is_finite() && self.cascade.z >= 0.0;
        let dof_ok = self.cascade.bits_per_dof.is_finite() && self.cascade.bits_per_dof >= 1.0;
        if !z_ok || !dof_ok {
            return Err(IrisError::InvalidConfig {
                reason: "cascade z must be ≥ 0 and bits_per_dof ≥ 1",
            });
        }
        Ok(())
    }

    /// Number of rotations tried: `2 × window + 1`.
    pub fn rotations(&self) -> usize {
        2 * self.window + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_is_identity_at_typical_bits_and_pulls_small_samples_to_half() {
        assert!((normalise(0.3, 911, 911) - 0.3).abs() < 1e-12);
        let small = normalise(0.3, 300, 911);
        assert!(small > 0.3 && small < 0.5);
        let large = normalise(0.3, 1800, 911);
        assert!(large < 0.3);
        assert!((normalise(0.5, 10, 911) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn defaults_validate_and_bad_settings_are_refused() {
        for layout in [IrisLayout::DAUGMAN_2048, IrisLayout::OPEN_IRIS] {
            let c = MatchConfig::for_layout(layout);
            assert_eq!(c.validate(layout), Ok(()));
        }
        let layout = IrisLayout::DAUGMAN_2048;
        let mut c = MatchConfig::for_layout(layout);
        assert_eq!(c.window, 8);
        assert_eq!(c.rotations(), 17);
        c.window = 64;
        assert!(c.validate(layout).is_err());
        let mut c = MatchConfig::for_layout(layout);
        c.cascade.prefix_rows = 9;
        assert!(c.validate(layout).is_err());
        c.cascade.prefix_rows = 2;
        c.cascade.z = f64::NAN;
        assert!(c.validate(layout).is_err());
    }
}
