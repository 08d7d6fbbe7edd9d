//! Probe-side prepared forms: the probe rotated once per search, and per-threshold tables.

use super::error::IrisError;
use super::score::{normalise, CoarseConfig, MatchConfig};
use super::strided::{cascade_row_order, encode_record};
use super::template::IrisTemplate;
use super::IrisLayout;

/// A probe template prepared for matching: one gallery-layout record per rotation of the
/// window, so comparisons never rotate the gallery side.
///
/// Shifted copy `i` (for `i` in `0 .. 2 × window + 1`) is the probe rotated by
/// `i − window` positions ([`IrisTemplate::rotated`]).
#[derive(Debug, Clone)]
pub struct IrisProbe {
    layout: IrisLayout,
    config: MatchConfig,
    shifted: Vec<u64>,
    valid_bits: u32,
    /// Valid bits of the probe in each record row slot (the same at every rotation).
    slot_valid: Vec<u32>,
}

impl IrisProbe {
    /// Prepares `template` under `config`; refuses it when fewer than
    /// `config.min_template_bits` bits are valid.
    pub fn new(template: &IrisTemplate, config: &MatchConfig) -> Result<Self, IrisError> {
        let layout = template.layout();
        config.validate(layout)?;
        template.check_usable(config.min_template_bits)?;
        let stride = layout.record_words();
        let rotations = config.rotations();
        let mut shifted = vec![0u64; stride * rotations];
        let window = config.window as i32;
        for (i, dst) in shifted.chunks_exact_mut(stride).enumerate() {
            encode_record(&template.rotated(i as i32 - window), dst)?;
        }
        let w = layout.words_per_row();
        let slot_valid = cascade_row_order(layout)
            .into_iter()
            .map(|row| {
                template.mask()[row * w..(row + 1) * w]
                    .iter()
                    .map(|m| m.count_ones())
                    .sum()
            })
            .collect();
        Ok(Self {
            layout,
            config: *config,
            shifted,
            valid_bits: template.valid_bits(),
            slot_valid,
        })
    }

    /// Layout of the probe.
    pub fn layout(&self) -> IrisLayout {
        self.layout
    }

    /// Settings the probe was prepared with.
    pub fn config(&self) -> &MatchConfig {
        &self.config
    }

    /// Valid bits of the probe.
    pub fn valid_bits(&self) -> u32 {
        self.valid_bits
    }

    /// All shifted copies, each [`IrisLayout::record_words`] long.
    pub fn shifted(&self) -> &[u64] {
        &self.shifted
    }

    /// Shifted copy for rotation `rotation` (in `−window ..= window`).
    pub fn shifted_record(&self, rotation: i32) -> Option<&[u64]> {
        let i = usize::try_from(rotation + self.config.window as i32).ok()?;
        let stride = self.layout.record_words();
        self.shifted.get(i * stride..(i + 1) * stride)
    }

    /// Probe valid bits in the record rows after the first `prefix_rows`.
    pub fn valid_after_prefix(&self, prefix_rows: usize) -> u32 {
        self.slot_valid.iter().skip(prefix_rows).sum()
    }
}

/// A probe with a decision threshold, ready for 1:N scans: integer tables turn the threshold
/// test on the normalised distance into one comparison per rotation.
#[derive(Debug, Clone)]
pub struct IrisQuery {
    probe: IrisProbe,
    threshold: f64,
    /// `pass_limit[n]`: a rotation with `n` jointly valid bits passes when its disagreeing
    /// bit count is below this value (0 when `n` is too small to score).
    pass_limit: Vec<u32>,
    /// `gate_limit[c][m]`: at cascade checkpoint `c`, a rotation whose rows so far have `m`
    /// jointly valid bits goes on when their disagreeing count is below this value.
    gate_limit: Vec<Vec<u32>>,
    /// Settings of the coarse level.
    coarse: CoarseConfig,
    /// `coarse_limit[m]`: at the coarse level, a rotation whose compared rows have `m`
    /// jointly valid bits passes when their disagreeing count is below this value.
    coarse_limit: Vec<u32>,
    /// The coarse level's first test (one table for `m` jointly valid bits over its rows, or
    /// none).
    coarse_gate: Vec<Vec<u32>>,
}

impl IrisQuery {
    /// Prepares `probe` for scans at `threshold` (on the normalised distance).
    pub fn new(probe: IrisProbe, threshold: f64) -> Result<Self, IrisError> {
        if !threshold.is_finite() {
            return Err(IrisError::InvalidConfig {
                reason: "threshold must be finite",
            });
        }
        let config = probe.config;
        let layout = probe.layout;
        let typical = config.typical_compared_bits;
        let pass_limit = (0..=layout.total_bits() as u32)
            .map(|n| {
                if n < config.min_compared_bits.max(1) {
                    return 0;
                }
                let accepts =
                    |d: u32| normalise(f64::from(d) / f64::from(n), n, typical) <= threshold;
                // Closed form, then corrected so the table agrees with the float test exactly.
                let s = (f64::from(n) / f64::from(typical)).sqrt();
                let guess = (f64::from(n) * (0.5 - (0.5 - threshold) / s)).floor();
                let mut d = guess.clamp(-1.0, f64::from(n)) as i64;
                while d < i64::from(n) && accepts((d + 1) as u32) {
                    d += 1;
                }
                while d >= 0 && !accepts(d as u32) {
                    d -= 1;
                }
                (d + 1) as u32
            })
            .collect();
        let cascade = config.cascade;
        let checkpoints = checkpoints(layout.rows(), cascade.prefix_rows, cascade.step_rows);
        let gate_limit = checkpoints
            .iter()
            .map(|&rows_done| {
                let prefix_bits = (rows_done * layout.row_bits()) as u32;
                let rest = probe.valid_after_prefix(rows_done);
                (0..=prefix_bits)
                    .map(|m| gate_limit(m, rest, threshold, &config))
                    .collect()
            })
            .collect();
        let coarse = CoarseConfig::for_layout(layout);
        let (coarse_limit, coarse_gate) = coarse_tables(&probe, threshold, &coarse);
        Ok(Self {
            probe,
            threshold,
            pass_limit,
            gate_limit,
            coarse,
            coarse_limit,
            coarse_gate,
        })
    }

    /// The same query with other coarse-level settings.
    pub fn with_coarse(mut self, coarse: CoarseConfig) -> Result<Self, IrisError> {
        coarse.validate(self.probe.layout)?;
        (self.coarse_limit, self.coarse_gate) = coarse_tables(&self.probe, self.threshold, &coarse);
        self.coarse = coarse;
        Ok(self)
    }

    /// Settings of the coarse level.
    pub fn coarse(&self) -> &CoarseConfig {
        &self.coarse
    }

    /// The coarse-level table: a coarse rotation with `m` jointly valid bits over the coarse
    /// rows passes when its disagreeing count is below entry `m`.
    #[inline]
    pub fn coarse_table(&self) -> &[u32] {
        &self.coarse_limit
    }

    /// The coarse level's first test, as a one-table gate list (empty when the level has a
    /// single test): a rotation with `m` jointly valid bits over the first
    /// [`CoarseConfig::gate_rows`] rows goes on when its disagreeing count is below entry `m`.
    #[inline]
    pub fn coarse_gate_tables(&self) -> &[Vec<u32>] {
        &self.coarse_gate
    }

    /// The prepared probe.
    pub fn probe(&self) -> &IrisProbe {
        &self.probe
    }

    /// Decision threshold on the normalised distance.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// True when `disagree` of `valid` jointly valid bits scores at or below the threshold.
    #[inline]
    pub fn passes(&self, disagree: u32, valid: u32) -> bool {
        self.pass_limit
            .get(valid as usize)
            .is_some_and(|&limit| disagree < limit)
    }

    /// The final threshold as a table: a rotation with `n` jointly valid bits over all rows
    /// scores at or below the threshold when its disagreeing count is below entry `n`.
    #[inline]
    pub fn pass_table(&self) -> &[u32] {
        &self.pass_limit
    }

    /// Gate tables of every cascade checkpoint, in order.
    #[inline]
    pub fn gate_tables(&self) -> &[Vec<u32>] {
        &self.gate_limit
    }

    /// Gate table of cascade checkpoint `checkpoint` (empty when there is no such
    /// checkpoint): a rotation with `m` jointly valid bits so far goes on when its
    /// disagreeing count is below entry `m`.
    #[inline]
    pub fn gate_table(&self, checkpoint: usize) -> &[u32] {
        self.gate_limit
            .get(checkpoint)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// True when the counts of a rotation at cascade checkpoint `checkpoint` leave it worth
    /// extending.
    #[inline]
    pub fn gate(&self, checkpoint: usize, disagree: u32, valid: u32) -> bool {
        self.gate_limit
            .get(checkpoint)
            .and_then(|t| t.get(valid as usize))
            .is_some_and(|&limit| disagree < limit)
    }
}

/// The coarse level's final table and, when it has one, its first test (see
/// [`coarse_table`]).
fn coarse_tables(
    probe: &IrisProbe,
    threshold: f64,
    coarse: &CoarseConfig,
) -> (Vec<u32>, Vec<Vec<u32>>) {
    let rows = coarse.rows.clamp(1, probe.layout.rows());
    let last = coarse_table(probe, threshold, coarse, rows, coarse.z);
    let gate = coarse
        .first_test_rows()
        .filter(|&g| g < rows)
        .map(|g| vec![coarse_table(probe, threshold, coarse, g, coarse.gate_z)])
        .unwrap_or_default();
    (last, gate)
}

/// A coarse-level table of `probe` at `threshold` (lowered to the coarse reach, see
/// [`CoarseConfig`]) after `rows` rows: for `m` jointly valid bits over those rows, the
/// largest disagreement (plus one) at which the full comparison could still meet that
/// threshold, widened by the misalignment allowance and `z` deviations.
fn coarse_table(
    probe: &IrisProbe,
    threshold: f64,
    coarse: &CoarseConfig,
    rows: usize,
    z: f64,
) -> Vec<u32> {
    let layout = probe.layout;
    let config = probe.config;
    let rest = probe.valid_after_prefix(rows);
    let typical = f64::from(config.typical_compared_bits);
    let threshold = threshold.min(coarse.reach);
    (0..=(rows * layout.row_bits()) as u32)
        .map(|m| {
            let n_max = m + rest;
            if n_max < config.min_compared_bits.max(1) {
                return 0;
            }
            if m == 0 {
                return 1;
            }
            let raw = 0.5 - (0.5 - threshold) * (typical / f64::from(n_max)).sqrt();
            let h = raw.clamp(0.01, 0.5);
            let f = f64::from(m) / f64::from(n_max);
            let sigma =
                (h * (1.0 - h) * (1.0 - f) * config.cascade.bits_per_dof / f64::from(m)).sqrt();
            let allowed = (f64::from(m) * (raw + coarse.misalignment + z * sigma)).floor();
            (allowed.clamp(-1.0, f64::from(m)) + 1.0) as u32
        })
        .collect()
}

/// Rows covered at each cascade test: `prefix`, `prefix + step`, … while below `rows`.
pub(crate) fn checkpoints(rows: usize, prefix: usize, step: usize) -> Vec<usize> {
    (0..)
        .map(|i| prefix + i * step.max(1))
        .take_while(|&r| r < rows)
        .collect()
}

/// Largest prefix disagreement (plus one) that keeps a rotation alive, for `m` jointly valid
/// prefix bits when the probe has `rest` valid bits in the remaining rows.
fn gate_limit(m: u32, rest: u32, threshold: f64, config: &MatchConfig) -> u32 {
    let n_max = m + rest;
    if n_max < config.min_compared_bits.max(1) {
        return 0;
    }
    if m == 0 {
        return 1;
    }
    let cascade = config.cascade;
    let typical = f64::from(config.typical_compared_bits);
    // The raw distance that meets the threshold grows with n: n_max is the safe side.
    let raw = 0.5 - (0.5 - threshold) * (typical / f64::from(n_max)).sqrt();
    let h = raw.clamp(0.01, 0.5);
    let f = f64::from(m) / f64::from(n_max);
    let sigma = (h * (1.0 - h) * (1.0 - f) * cascade.bits_per_dof / f64::from(m)).sqrt();
    let allowed = (f64::from(m) * (raw + cascade.z * sigma)).floor();
    (allowed.clamp(-1.0, f64::from(m)) + 1.0) as u32
}
