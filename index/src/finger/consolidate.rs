//! Global score from local similarities: greedy one-to-one pair selection followed by
//! relaxation (LSS-R of Cappelli et al.), which rewards pairs that agree geometrically with
//! each other and penalises isolated coincidences.

use super::geometry::{angle_diff, Point};
use super::params::MccParams;

/// A selected minutia pair with its relaxed similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairScore {
    /// Cylinder index in the first template.
    pub a: u16,
    /// Cylinder index in the second template.
    pub b: u16,
    /// Similarity after relaxation.
    pub score: f32,
}

/// Reusable buffers of one comparison; keeping one per thread keeps comparisons
/// allocation-free once warm.
#[derive(Debug, Default)]
pub struct Scratch {
    pub(crate) candidates: Vec<u64>,
    pub(crate) used_a: Vec<bool>,
    pub(crate) used_b: Vec<bool>,
    pub(crate) pairs: Vec<(u16, u16, f32)>,
    pub(crate) lambda: Vec<f32>,
    pub(crate) next: Vec<f32>,
    pub(crate) rho: Vec<f32>,
    pub(crate) order: Vec<usize>,
}

#[inline]
fn sigmoid(v: f32, centre: f32, slope: f32) -> f32 {
    1.0 / (1.0 + (slope * (v - centre)).exp())
}

/// Number of pairs averaged into the score for templates with `n` cylinders (the smaller side).
pub fn pairs_to_average(n: usize, params: &MccParams) -> usize {
    let z = 1.0 / (1.0 + (-params.tau_p * (n as f32 - params.mu_p)).exp());
    let span = (params.max_np - params.min_np) as f32;
    (params.min_np + (z * span).round() as usize).min(n)
}

/// Packs a candidate pair so that sorting the keys descending orders by similarity, then by
/// the lower indices first.
#[inline]
pub fn pack(sim: f32, a: usize, b: usize) -> u64 {
    (u64::from(sim.to_bits()) << 32) | ((0xffff - a as u64) << 16) | (0xffff - b as u64)
}

/// Computes the global score from `scratch.candidates` (packed similarities, any order).
///
/// On return `scratch.pairs` holds the pairs that formed the score, best first.
pub fn consolidate(pa: &[Point], pb: &[Point], params: &MccParams, scratch: &mut Scratch) -> f32 {
    let n = pa.len().min(pb.len());
    scratch.pairs.clear();
    if n == 0 || scratch.candidates.is_empty() {
        return 0.0;
    }
    scratch.candidates.sort_unstable_by(|x, y| y.cmp(x));
    scratch.used_a.clear();
    scratch.used_a.resize(pa.len(), false);
    scratch.used_b.clear();
    scratch.used_b.resize(pb.len(), false);
    for &key in &scratch.candidates {
        let a = 0xffff - ((key >> 16) & 0xffff) as usize;
        let b = 0xffff - (key & 0xffff) as usize;
        if scratch.used_a[a] || scratch.used_b[b] {
            continue;
        }
        scratch.used_a[a] = true;
        scratch.used_b[b] = true;
        scratch
            .pairs
            .push((a as u16, b as u16, f32::from_bits((key >> 32) as u32)));
        if scratch.pairs.len() == n {
            break;
        }
    }
    let nr = scratch.pairs.len();
    relax(pa, pb, params, scratch);
    // Efficiency: how well a pair kept its similarity through relaxation.
    let np = pairs_to_average(n, params).min(nr);
    scratch.order.clear();
    scratch.order.extend(0..nr);
    let pairs = &scratch.pairs;
    let lambda = &scratch.lambda;
    let eff = |i: usize| {
        if pairs[i].2 > 0.0 {
            lambda[i] / pairs[i].2
        } else {
            0.0
        }
    };
    scratch
        .order
        .sort_unstable_by(|&x, &y| eff(y).total_cmp(&eff(x)).then(x.cmp(&y)));
    let score: f32 = scratch.order[..np].iter().map(|&i| lambda[i]).sum::<f32>() / np.max(1) as f32;
    // Leave the pairs that formed the score in `pairs`, best relaxed similarity first.
    let mut chosen: Vec<(u16, u16, f32)> = scratch.order[..np]
        .iter()
        .map(|&i| (pairs[i].0, pairs[i].1, lambda[i]))
        .collect();
    chosen.sort_unstable_by(|x, y| y.2.total_cmp(&x.2));
    scratch.pairs.clear();
    scratch.pairs.extend(chosen);
    score
}

fn relax(pa: &[Point], pb: &[Point], params: &MccParams, scratch: &mut Scratch) {
    let nr = scratch.pairs.len();
    scratch.lambda.clear();
    scratch.lambda.extend(scratch.pairs.iter().map(|p| p.2));
    if nr < 2 {
        return;
    }
    scratch.rho.clear();
    scratch.rho.resize(nr * nr, 0.0);
    for t in 0..nr {
        let (at, bt) = (
            pa[usize::from(scratch.pairs[t].0)],
            pb[usize::from(scratch.pairs[t].1)],
        );
        for k in (t + 1)..nr {
            let (ak, bk) = (
                pa[usize::from(scratch.pairs[k].0)],
                pb[usize::from(scratch.pairs[k].1)],
            );
            let rho = compatibility(at, ak, bt, bk, params);
            scratch.rho[t * nr + k] = rho;
            scratch.rho[k * nr + t] = rho;
        }
    }
    let w = params.relax_weight;
    let norm = (1.0 - w) / (nr - 1) as f32;
    scratch.next.clear();
    scratch.next.resize(nr, 0.0);
    for _ in 0..params.relax_iterations {
        for t in 0..nr {
            let row = &scratch.rho[t * nr..(t + 1) * nr];
            let support: f32 = row.iter().zip(&scratch.lambda).map(|(r, l)| r * l).sum();
            scratch.next[t] = w * scratch.lambda[t] + norm * support;
        }
        std::mem::swap(&mut scratch.lambda, &mut scratch.next);
    }
}

/// Geometric compatibility of pairs (a1,b1) and (a2,b2): distances, relative directions and
/// radial angles must agree.
#[inline]
pub fn compatibility(a1: Point, a2: Point, b1: Point, b2: Point, params: &MccParams) -> f32 {
    let (dxa, dya) = (a2.x - a1.x, a2.y - a1.y);
    let (dxb, dyb) = (b2.x - b1.x, b2.y - b1.y);
    let da = dxa.hypot(dya);
    let db = dxb.hypot(dyb);
    let d1 = (da - db).abs();
    let d2 = angle_diff(
        angle_diff(a1.theta, a2.theta),
        angle_diff(b1.theta, b2.theta),
    )
    .abs();
    let ra = angle_diff(a1.theta, dya.atan2(dxa));
    let rb = angle_diff(b1.theta, dyb.atan2(dxb));
    let d3 = angle_diff(ra, rb).abs();
    sigmoid(d1, params.rho_distance.0, params.rho_distance.1)
        * sigmoid(d2, params.rho_direction.0, params.rho_direction.1)
        * sigmoid(d3, params.rho_radial.0, params.rho_radial.1)
}
