//! Cylinder construction: the gallery-side precomputation of the matcher.
//!
//! Each minutia gets a cylinder: an NS×NS grid of cells around it, aligned with its direction,
//! times ND angular layers. A cell's bit says whether neighbouring minutiae near the cell have
//! a direction (relative to the centre minutia) falling in that layer. A mask bit per cell says
//! whether the cell lies inside the fingerprint area (the minutiae's convex hull, enlarged).
//!
//! Bits are stored layer by layer: layer `k` occupies `words_per_layer` u64 words, cell
//! `i * NS + j` at bit `(i * NS + j) % 64` of word `(i * NS + j) / 64`; the mask follows the
//! ND layers in the same cell order.

use std::cell::RefCell;
use std::f32::consts::{PI, TAU};

use super::geometry::{angle_diff, HullTest, Point};
use super::kernel::{self, Kernel};
use super::params::MccParams;
use crate::template::FingerTemplate;
use accumulate::{fill_bits, Cylinder, Grid};

/// Upper bound of angular layers, so per-neighbour buffers live on the stack.
pub const MAX_ND: usize = 8;

/// A template prepared for matching: every usable cylinder, built once, in order of
/// ascending minutia direction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PreparedTemplate {
    /// Geometry of the minutia behind each cylinder (mathematical axes).
    pub points: Vec<Point>,
    /// Direction of that minutia in 1/256 turns (for the quick direction test).
    pub directions: Vec<u8>,
    /// Index of that minutia in the source template.
    pub source_index: Vec<u16>,
    /// Cylinder bits, `stride` words per cylinder: ND value layers, then the mask.
    pub bits: Vec<u64>,
    /// Words per cylinder.
    pub stride: usize,
    /// Minutiae in the source template.
    pub minutiae: usize,
    /// The cylinders laid out for the comparison's sweep, derived from `bits` and
    /// `directions` (see [`super::kernel::Layout::of`]).
    pub layout: super::kernel::Layout,
}

impl PreparedTemplate {
    /// Number of usable cylinders.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether no cylinder was usable (the template cannot match anything).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Bits of cylinder `i`.
    #[inline]
    pub fn cylinder(&self, i: usize) -> &[u64] {
        &self.bits[i * self.stride..(i + 1) * self.stride]
    }

    /// Bytes this template occupies in memory (vectors' payloads).
    pub fn size_bytes(&self) -> usize {
        self.points.len() * std::mem::size_of::<Point>()
            + self.source_index.len() * 2
            + self.directions.len()
            + self.bits.len() * 8
            + self.layout.size_bytes()
    }
}

/// Abramowitz–Stegun 7.1.26 approximation of erf (absolute error below 1.5e-7).
fn erf(x: f32) -> f32 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = f64::from(x.abs());
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    sign * (1.0 - poly * (-x * x).exp()) as f32
}

/// Converts a template to mathematical axes (y up, θ counter-clockwise in radians).
pub fn to_points(template: &FingerTemplate) -> Vec<Point> {
    template
        .minutiae
        .iter()
        .map(|m| Point {
            x: f32::from(m.x),
            y: -f32::from(m.y),
            theta: m.angle_rad(),
        })
        .collect()
}

/// Lookup tables of cylinder construction, built once per parameter set.
#[derive(Debug, Clone)]
pub struct CylinderTables {
    /// Directional contribution per relative direction (1/256 turns) and angular layer.
    directional: Vec<[f32; MAX_ND]>,
    /// Spatial contribution by squared distance, in steps of `1 / SPATIAL_STEPS_PER_PX2`.
    spatial: Vec<f32>,
    /// Body that sums contributions into cells (all give the same bits).
    kernel: Kernel,
}

const SPATIAL_STEPS_PER_PX2: f32 = 4.0;

impl CylinderTables {
    /// Samples the spatial Gaussian and integrates the directional one for `params`.
    pub fn new(params: &MccParams) -> Self {
        let nd = params.nd.min(MAX_ND);
        let delta_d = TAU / nd as f32;
        let erf_scale = 1.0 / (params.sigma_d * std::f32::consts::SQRT_2);
        let directional = (0..256u32)
            .map(|turn| {
                let alpha = angle_diff(turn as f32 * (TAU / 256.0), 0.0);
                let mut gd = [0.0f32; MAX_ND];
                for (k, g) in gd.iter_mut().enumerate().take(nd) {
                    let centre = -PI + (k as f32 + 0.5) * delta_d;
                    let a = angle_diff(centre, alpha);
                    *g = 0.5
                        * (erf((a + delta_d / 2.0) * erf_scale)
                            - erf((a - delta_d / 2.0) * erf_scale));
                }
                gd
            })
            .collect();
        let reach = 3.0 * params.sigma_s;
        let norm = 1.0 / (params.sigma_s * TAU.sqrt());
        let two_sigma2 = 2.0 * params.sigma_s * params.sigma_s;
        let steps = (reach * reach * SPATIAL_STEPS_PER_PX2).ceil() as usize + 1;
        let spatial = (0..steps)
            .map(|i| norm * (-(i as f32 / SPATIAL_STEPS_PER_PX2) / two_sigma2).exp())
            .collect();
        Self {
            directional,
            spatial,
            kernel: kernel::detected(),
        }
    }

    /// These tables with another summing body (for tests and benchmarks; one the CPU lacks
    /// falls back to the portable body).
    pub fn with_kernel(mut self, kernel: Kernel) -> Self {
        self.kernel = kernel;
        self
    }
}

/// Builds every usable cylinder of a template (building the lookup tables first; matchers
/// keep theirs and call [`prepare_with`]).
pub fn prepare(template: &FingerTemplate, params: &MccParams) -> PreparedTemplate {
    prepare_with(template, params, &CylinderTables::new(params))
}

/// Builds every usable cylinder of a template with prebuilt tables.
///
/// Uses a per-thread [`PrepareScratch`]; see [`prepare_into`] for the construction.
pub fn prepare_with(
    template: &FingerTemplate,
    params: &MccParams,
    tables: &CylinderTables,
) -> PreparedTemplate {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => prepare_into(template, params, tables, &mut s),
        Err(_) => prepare_into(template, params, tables, &mut PrepareScratch::default()),
    })
}

thread_local! {
    static SCRATCH: RefCell<PrepareScratch> = RefCell::new(PrepareScratch::default());
}

/// A neighbouring minutia of the cylinder being built: position and the directional
/// contributions of its direction relative to the centre minutia.
#[derive(Debug, Clone, Copy)]
struct Neighbour<'t> {
    x: f32,
    y: f32,
    gd: &'t [f32; MAX_ND],
}

/// Working buffers of cylinder construction, reused from template to template. Per-cell
/// vectors are indexed by grid cell `i * NS + j`.
#[derive(Debug, Default)]
pub struct PrepareScratch {
    points: Vec<Point>,
    order: Vec<usize>,
    hull: HullTest,
    /// Cells inside the disc, in grid order.
    disc: Vec<usize>,
    /// Per cell: inside the disc.
    in_disc: Vec<bool>,
    /// Per cell: offset from the centre minutia before rotation.
    us: Vec<f32>,
    vs: Vec<f32>,
    /// Per cell: centre in template axes (cells of the current cylinder).
    xs: Vec<f32>,
    ys: Vec<f32>,
    /// Per cell: inside the disc and the enlarged hull.
    valid: Vec<bool>,
    /// Summed contributions per cell and angular layer (layout chosen by the summing body).
    sums: Vec<f32>,
}

/// Builds every usable cylinder of a template with prebuilt tables and caller-provided
/// buffers.
///
/// The result is bit for bit what the direct construction gives (every disc cell against
/// every neighbour, in neighbour order). The work is arranged differently:
/// * a cylinder centred deep inside the hull has all its disc cells valid without a test;
///   any other tests its cells against the hull and is dropped before any summation when
///   too few are valid;
/// * the contributions are summed by the body of [`accumulate`] that the tables name: each
///   neighbour adds only to the grid rows (and, in the portable body, columns) within its
///   spatial reach plus a one-pixel allowance, and the exact distance test decides as
///   before. A cell still receives its contributions in neighbour order, so its sums, and
///   its bits, are unchanged.
pub fn prepare_into(
    template: &FingerTemplate,
    params: &MccParams,
    tables: &CylinderTables,
    scratch: &mut PrepareScratch,
) -> PreparedTemplate {
    let PrepareScratch {
        points,
        order,
        hull,
        disc,
        in_disc,
        us,
        vs,
        xs,
        ys,
        valid,
        sums,
    } = scratch;
    points.clear();
    points.extend(template.minutiae.iter().map(|m| Point {
        x: f32::from(m.x),
        y: -f32::from(m.y),
        theta: m.angle_rad(),
    }));
    hull.rebuild(points, params.omega);
    let ns = params.ns;
    let nd = params.nd.min(MAX_ND);
    let wpl = params.words_per_layer();
    let stride = (nd + 1) * wpl;
    let delta_s = 2.0 * params.radius / ns as f32;
    let reach = 3.0 * params.sigma_s;
    let reach2 = reach * reach;
    let neighbourhood2 = (params.radius + reach) * (params.radius + reach);
    let candidate_reach = reach.abs() + 1.0;

    let half = (ns as f32 - 1.0) / 2.0;
    let cells = ns * ns;
    us.clear();
    us.extend((0..cells).map(|c| delta_s * ((c / ns) as f32 - half)));
    vs.clear();
    vs.extend((0..cells).map(|c| delta_s * ((c % ns) as f32 - half)));
    in_disc.clear();
    in_disc.extend(
        us.iter()
            .zip(vs.iter())
            .map(|(&u, &v)| u * u + v * v <= params.radius * params.radius),
    );
    disc.clear();
    disc.extend((0..cells).filter(|&c| in_disc[c]));
    // A cylinder whose centre lies deeper inside the hull than its farthest disc cell
    // reaches past the enlarged hull has every disc cell valid (see `HullTest::depth`).
    let farthest = disc
        .iter()
        .map(|&c| (us[c] * us[c] + vs[c] * vs[c]).sqrt())
        .fold(0.0f32, f32::max);
    let deep_enough = farthest - params.omega.abs() + HullTest::DEPTH_SLACK;
    xs.clear();
    xs.resize(cells, 0.0);
    ys.clear();
    ys.resize(cells, 0.0);
    valid.clear();
    valid.resize(cells, false);
    let min_valid = params.min_vc * disc.len() as f32;
    let grid = Grid {
        ns,
        nd,
        wpl,
        delta_s,
        half,
        candidate_reach,
        reach2,
        mu_psi: params.mu_psi,
        spatial: &tables.spatial,
    };

    // Cylinders are stored in order of direction, so a comparison finds the cylinders within
    // the allowed direction difference as one contiguous (circular) run. The keys are
    // distinct, so the unstable sort gives the stable order.
    order.clear();
    order.extend(0..points.len());
    order.sort_unstable_by_key(|&i| (template.minutiae[i].angle, i));
    let n = points.len();
    let mut out = PreparedTemplate {
        points: Vec::with_capacity(n),
        directions: Vec::with_capacity(n),
        source_index: Vec::with_capacity(n),
        bits: Vec::with_capacity(n * stride),
        stride,
        minutiae: n,
        layout: Default::default(),
    };
    // Every other minutia is written to the next free slot and the slot kept only when it
    // is a neighbour, so the scan has no data-dependent branch; the order is the minutiae
    // order either way.
    let placeholder = Neighbour {
        x: 0.0,
        y: 0.0,
        gd: &tables.directional[0],
    };
    let mut slots: Vec<Neighbour<'_>> = vec![placeholder; n + 1];
    let mut cyl = vec![0u64; stride];
    for &index in order.iter() {
        let m = points[index];
        let m_angle = template.minutiae[index].angle;
        let mut found = 0;
        for (t, (p, minutia)) in points.iter().zip(&template.minutiae).enumerate() {
            let (dx, dy) = (p.x - m.x, p.y - m.y);
            let turn = m_angle.wrapping_sub(minutia.angle);
            slots[found] = Neighbour {
                x: p.x,
                y: p.y,
                gd: &tables.directional[usize::from(turn)],
            };
            found += usize::from(t != index && dx * dx + dy * dy <= neighbourhood2);
        }
        let neighbours = &slots[..found];
        if neighbours.len() < params.min_m {
            continue;
        }
        let (sin, cos) = m.theta.sin_cos();
        for (((x, y), &u), &v) in xs
            .iter_mut()
            .zip(ys.iter_mut())
            .zip(us.iter())
            .zip(vs.iter())
        {
            *x = m.x + cos * u - sin * v;
            *y = m.y + sin * u + cos * v;
        }
        let valid_cells = if hull.depth(m.x, m.y).is_some_and(|d| d >= deep_enough) {
            valid.copy_from_slice(in_disc);
            disc.len()
        } else {
            hull.contains_many(tables.kernel, xs, ys, in_disc, valid);
            disc.iter().filter(|&&c| valid[c]).count()
        };
        if (valid_cells as f32) < min_valid {
            continue;
        }
        let cylinder = Cylinder {
            x: m.x,
            y: m.y,
            sin,
            cos,
            xs,
            ys,
            valid,
        };
        fill_bits(tables.kernel, &grid, &cylinder, neighbours, sums, &mut cyl);
        out.points.push(m);
        out.source_index.push(index as u16);
        out.directions.push(m_angle);
        out.bits.extend_from_slice(&cyl);
    }
    out.layout = super::kernel::Layout::of(&out);
    out
}

mod accumulate;
#[cfg(test)]
mod equivalence;
#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        assert!((erf(0.0)).abs() < 1e-6);
        assert!((erf(1.0) - 0.842_700_8).abs() < 1e-5);
        assert!((erf(-0.5) + 0.520_499_9).abs() < 1e-5);
    }
}
