//! Tunable parameters of the Minutia Cylinder-Code matcher.
//!
//! Distances are in internal units (500 ppi pixels), angles in radians. The defaults follow
//! Cappelli, Ferrara and Maltoni, "Minutia Cylinder-Code" (IEEE TPAMI 2010), adjusted where
//! measurements on real data showed a gain (each such change is noted on its field).

use std::f32::consts::PI;

/// Parameters of cylinder construction and of the comparison.
///
/// Departures from the published defaults, each measured with `tunggal eval fvc` on FVC2002
/// DB1–DB4 (all-impostor protocol) and `tunggal bench match`:
/// * `ns = 8` instead of 16: a quarter of the bits per cylinder (56 bytes) for a small loss of
///   accuracy, and about 3× the comparison speed;
/// * `delta_theta = π/3` instead of π/2: a third fewer cylinder pairs, accuracy unchanged;
/// * relaxation over the best 16 pairs (`max_relax_pairs`) instead of all of them: the
///   relaxation is quadratic in the pairs, and the weak tail pairs add impostor evidence;
/// * consolidation and relaxation chosen by `tunggal eval fvc --lodo` (leave-one-database-out
///   over a 648-combination grid, README): 3–8 pairs averaged (`min_np`, `max_np`) with a
///   flatter, later sigmoid (`mu_p = 25`, `tau_p = 0.2`), relaxation weight 0.4, and a
///   distance compatibility that tolerates more distortion (`rho_distance = (8, 0.8)`:
///   half compatibility at 8 px of distance change instead of 5, with a gentler slope).
///   Comparison cost unchanged.
/// * an aligned pairing stage (`pair_weight = 0.5`, `pair_distance = 14`,
///   `pair_growth = 0.1`, `pair_floor = 8`, `pair_overlap_np`) with up to 12 pairs averaged
///   (`max_np`) and relaxation weight 0.5: the best combination of a 288-combination grid
///   scored jointly on FVC2002's SDK templates and on templates of this crate's own
///   extraction from the same images (leave-one-database-out over both, README), and
///   cascaded (`pair_gate = 0.012`): the pairing stage runs only where the local score could
///   matter, which keeps the comparison above 180,000 per CPU-second.
///
/// These are matcher version [`MATCHER_VERSION`]; [`MccParams::v1`] gives version 1 (no
/// pairing stage), which galleries calibrated before version 2 keep using.
#[derive(Debug, Clone, PartialEq)]
pub struct MccParams {
    /// Cylinder radius R.
    pub radius: f32,
    /// Cells per side NS (a multiple of 8, at most 16).
    pub ns: usize,
    /// Angular sections ND (at most 8).
    pub nd: usize,
    /// Spatial Gaussian σS.
    pub sigma_s: f32,
    /// Directional Gaussian σD.
    pub sigma_d: f32,
    /// Bit threshold μΨ on a cell's summed contribution.
    pub mu_psi: f32,
    /// Enlargement ω of the convex hull that bounds valid cells.
    pub omega: f32,
    /// Minimum fraction of valid cells (of those inside the disc) for a cylinder to be kept.
    pub min_vc: f32,
    /// Minimum number of neighbouring minutiae for a cylinder to be kept.
    pub min_m: usize,
    /// Minimum fraction of jointly valid cells for two cylinders to be comparable.
    pub min_me: f32,
    /// Largest direction difference δθ between two comparable minutiae.
    pub delta_theta: f32,
    /// Consolidation: smallest and largest number of pairs averaged (minNP, maxNP).
    pub min_np: usize,
    /// See `min_np`.
    pub max_np: usize,
    /// Consolidation: sigmoid centre μP and slope τP mapping minutiae count to pairs averaged.
    pub mu_p: f32,
    /// See `mu_p`.
    pub tau_p: f32,
    /// Relaxation iterations.
    pub relax_iterations: usize,
    /// Relaxation weight wR of a pair's own previous value.
    pub relax_weight: f32,
    /// Most pairs taken into relaxation (the best by local similarity).
    pub max_relax_pairs: usize,
    /// Compatibility sigmoid for the distance difference (centre, slope).
    pub rho_distance: (f32, f32),
    /// Compatibility sigmoid for the direction difference (centre, slope).
    pub rho_direction: (f32, f32),
    /// Compatibility sigmoid for the radial angle difference (centre, slope).
    pub rho_radial: (f32, f32),
    /// Weight `w` of the aligned pairing score `P` in the final score `S^(1−w) · P^w`, with
    /// `S` the relaxed local score (`consolidate/pairing.rs`); 0 leaves `S` alone and skips
    /// the pairing stage.
    pub pair_weight: f32,
    /// Pairing: position tolerance after alignment at the paired minutiae's centre (px),
    /// also the margin of the hulls bounding the common area.
    pub pair_distance: f32,
    /// Pairing: growth of the position tolerance per pixel of distance from that centre.
    pub pair_growth: f32,
    /// Pairing: largest direction difference after alignment (radians).
    pub pair_angle: f32,
    /// Pairing: fewest minutiae a common area is counted as holding.
    pub pair_floor: f32,
    /// Pairing: the pairs checked against the alignment: 0 every candidate pair of the
    /// local stage, 1 only the pairs taken into relaxation (at most `max_relax_pairs`).
    pub pair_source: u8,
    /// Pairing: the score `S` below which the pairing stage is skipped and the score is `S`
    /// itself (as if `P = S`); 0 runs it on every comparison. Most comparisons of a search
    /// are clear non-mates whose `S` is far below any decision threshold.
    pub pair_gate: f32,
    /// Number of pairs averaged from the minutiae in the common area (the fewer of each
    /// template's minutiae inside the other's hull, under the alignment of the `max_np` most
    /// efficient pairs) instead of the smaller template's cylinders.
    pub pair_overlap_np: bool,
}

/// Version of the default parameters. A gallery stores the version its calibration was
/// learned with and keeps comparing with that version's parameters.
pub const MATCHER_VERSION: u32 = 2;

impl Default for MccParams {
    fn default() -> Self {
        Self {
            max_np: 12,
            relax_weight: 0.5,
            pair_weight: 0.5,
            pair_distance: 14.0,
            pair_growth: 0.12,
            pair_floor: 8.0,
            pair_gate: 0.012,
            pair_overlap_np: true,
            ..Self::v1()
        }
    }
}

impl MccParams {
    /// The parameters of matcher version 1: no aligned pairing stage.
    pub fn v1() -> Self {
        Self {
            radius: 70.0,
            ns: 8,
            nd: 6,
            sigma_s: 28.0 / 3.0,
            sigma_d: 2.0 * PI / 9.0,
            mu_psi: 0.01,
            omega: 50.0,
            min_vc: 0.75,
            min_m: 2,
            min_me: 0.60,
            delta_theta: PI / 3.0,
            min_np: 3,
            max_np: 8,
            mu_p: 25.0,
            tau_p: 0.2,
            relax_iterations: 5,
            relax_weight: 0.4,
            max_relax_pairs: 16,
            rho_distance: (8.0, 0.8),
            rho_direction: (PI / 12.0, 30.0),
            rho_radial: (PI / 12.0, 30.0),
            pair_weight: 0.0,
            pair_distance: 12.0,
            pair_growth: 0.1,
            pair_angle: PI / 6.0,
            pair_floor: 12.0,
            pair_source: 0,
            pair_gate: 0.0,
            pair_overlap_np: false,
        }
    }

    /// The default parameters of matcher `version`, if it is known.
    pub fn for_version(version: u32) -> Option<Self> {
        match version {
            1 => Some(Self::v1()),
            MATCHER_VERSION => Some(Self::default()),
            _ => None,
        }
    }
}

impl MccParams {
    /// Cells per angular layer (NS²).
    pub fn cells(&self) -> usize {
        self.ns * self.ns
    }

    /// 64-bit words per angular layer.
    pub fn words_per_layer(&self) -> usize {
        self.cells().div_ceil(64)
    }
}

/// Why a parameter override was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// Not of the form `name=value`.
    #[error("expected name=value, got {0:?}")]
    Syntax(String),
    /// No such parameter.
    #[error("unknown parameter {0:?}")]
    Unknown(String),
    /// The value did not parse or is out of range.
    #[error("bad value for {0}: {1:?}")]
    Value(String, String),
}

impl MccParams {
    /// Applies an override such as `ns=8` or `rho_distance=6,1.2` (used for tuning runs).
    pub fn set(&mut self, assignment: &str) -> Result<(), ParamError> {
        let (name, value) = assignment
            .split_once('=')
            .ok_or_else(|| ParamError::Syntax(assignment.into()))?;
        let bad = || ParamError::Value(name.into(), value.into());
        let f = |v: &str| v.trim().parse::<f32>().map_err(|_| bad());
        let u = |v: &str| v.trim().parse::<usize>().map_err(|_| bad());
        let pair = |v: &str| -> Result<(f32, f32), ParamError> {
            let (a, b) = v.split_once(',').ok_or_else(bad)?;
            Ok((f(a)?, f(b)?))
        };
        match name {
            "radius" => self.radius = f(value)?,
            "ns" => {
                let ns = u(value)?;
                if ns == 0 || ns % 8 != 0 || ns > 16 {
                    return Err(bad());
                }
                self.ns = ns;
            }
            "nd" => {
                let nd = u(value)?;
                if nd == 0 || nd > 8 {
                    return Err(bad());
                }
                self.nd = nd;
            }
            "sigma_s" => self.sigma_s = f(value)?,
            "sigma_d" => self.sigma_d = f(value)?,
            "mu_psi" => self.mu_psi = f(value)?,
            "omega" => self.omega = f(value)?,
            "min_vc" => self.min_vc = f(value)?,
            "min_m" => self.min_m = u(value)?,
            "min_me" => self.min_me = f(value)?,
            "delta_theta" => self.delta_theta = f(value)?,
            "min_np" => self.min_np = u(value)?,
            "max_np" => self.max_np = u(value)?,
            "mu_p" => self.mu_p = f(value)?,
            "tau_p" => self.tau_p = f(value)?,
            "relax_iterations" => self.relax_iterations = u(value)?,
            "relax_weight" => self.relax_weight = f(value)?,
            "max_relax_pairs" => self.max_relax_pairs = u(value)?,
            "rho_distance" => self.rho_distance = pair(value)?,
            "rho_direction" => self.rho_direction = pair(value)?,
            "rho_radial" => self.rho_radial = pair(value)?,
            "pair_weight" => {
                let w = f(value)?;
                if !(0.0..=1.0).contains(&w) {
                    return Err(bad());
                }
                self.pair_weight = w;
            }
            "pair_distance" => self.pair_distance = f(value)?,
            "pair_growth" => self.pair_growth = f(value)?,
            "pair_angle" => self.pair_angle = f(value)?,
            "pair_floor" => self.pair_floor = f(value)?,
            "pair_source" => {
                let v = u(value)?;
                if v > 1 {
                    return Err(bad());
                }
                self.pair_source = v as u8;
            }
            "pair_gate" => {
                let g = f(value)?;
                if !(0.0..=1.0).contains(&g) {
                    return Err(bad());
                }
                self.pair_gate = g;
            }
            "pair_overlap_np" => {
                self.pair_overlap_np = match value.trim() {
                    "0" | "false" => false,
                    "1" | "true" => true,
                    _ => return Err(bad()),
                }
            }
            _ => return Err(ParamError::Unknown(name.into())),
        }
        if self.max_np < self.min_np {
            return Err(bad());
        }
        Ok(())
    }
}
