//! Global score from local similarities: greedy one-to-one pair selection followed by
//! relaxation (LSS-R of Cappelli et al.), which rewards pairs that agree geometrically with
//! each other and penalises isolated coincidences.

use std::cmp::Reverse;
use std::f32::consts::PI;

use super::geometry::{angle_diff, Point};
use super::params::MccParams;

/// Reusable buffers of one comparison; keeping one per thread keeps comparisons
/// allocation-free once warm.
#[derive(Debug, Default)]
pub struct Scratch {
    pub(crate) candidates: Vec<u64>,
    used_a: Vec<bool>,
    used_b: Vec<bool>,
    /// Selected pairs: (cylinder in A, cylinder in B, similarity); after [`consolidate`] the
    /// pairs that formed the score, with their relaxed similarity, strongest first.
    pub(crate) pairs: Vec<(u16, u16, f32)>,
    rotation: Vec<f32>,
    lambda: Vec<f32>,
    next: Vec<f32>,
    rho: Vec<f32>,
    order: Vec<usize>,
}

const TABLE_SIZE: usize = 256;

/// A decreasing sigmoid `1 / (1 + e^{slope (v − centre)})` sampled on `[0, top]`.
#[derive(Debug, Clone)]
struct SigmoidTable {
    scale: f32,
    values: Vec<f32>,
}

impl SigmoidTable {
    fn new(centre: f32, slope: f32, top: f32) -> Self {
        let values = (0..TABLE_SIZE)
            .map(|i| {
                let v = top * i as f32 / (TABLE_SIZE - 1) as f32;
                1.0 / (1.0 + (slope * (v - centre)).exp())
            })
            .collect();
        Self {
            scale: (TABLE_SIZE - 1) as f32 / top,
            values,
        }
    }

    #[inline(always)]
    fn get(&self, v: f32) -> f32 {
        let i = ((v * self.scale + 0.5) as usize).min(TABLE_SIZE - 1);
        self.values[i]
    }
}

/// Precomputed compatibility functions of a parameter set.
#[derive(Debug, Clone)]
pub struct Tables {
    distance: SigmoidTable,
    direction: SigmoidTable,
    radial: SigmoidTable,
}

impl Tables {
    /// Samples the three compatibility sigmoids of `params`.
    pub fn new(params: &MccParams) -> Self {
        let (dc, ds) = params.rho_distance;
        let (ac, as_) = params.rho_direction;
        let (rc, rs) = params.rho_radial;
        Self {
            distance: SigmoidTable::new(dc, ds, (dc * 4.0).max(dc + 10.0 / ds.max(0.1))),
            direction: SigmoidTable::new(ac, as_, PI),
            radial: SigmoidTable::new(rc, rs, PI),
        }
    }
}

/// Number of pairs averaged into the score for templates with `n` cylinders (the smaller side).
pub fn pairs_to_average(n: usize, params: &MccParams) -> usize {
    let z = 1.0 / (1.0 + (-params.tau_p * (n as f32 - params.mu_p)).exp());
    let span = (params.max_np - params.min_np) as f32;
    (params.min_np + (z * span).round() as usize).min(n)
}

/// Packs a candidate pair so that sorting the keys descending orders by similarity, then by
/// the lower indices first.
#[inline(always)]
pub fn pack(sim: f32, a: usize, b: usize) -> u64 {
    (u64::from(sim.to_bits()) << 32) | ((0xffff - a as u64) << 16) | (0xffff - b as u64)
}

#[inline(always)]
fn unpack(key: u64) -> (usize, usize, f32) {
    (
        0xffff - ((key >> 16) & 0xffff) as usize,
        0xffff - (key & 0xffff) as usize,
        f32::from_bits((key >> 32) as u32),
    )
}

/// atan2 with a maximum error of about 1e-4 rad, branch-light.
#[inline(always)]
fn fast_atan2(y: f32, x: f32) -> f32 {
    let (ax, ay) = (x.abs(), y.abs());
    let (num, den) = if ax >= ay { (ay, ax) } else { (ax, ay) };
    if den == 0.0 {
        return 0.0;
    }
    let t = num / den;
    let s = t * t;
    let mut r = ((-0.013_480_47 * s + 0.057_477_32) * s - 0.121_239_07) * s + 0.195_635_25;
    r = ((r * s - 0.332_994_6) * s + 0.999_995_6) * t;
    if ay > ax {
        r = PI / 2.0 - r;
    }
    if x < 0.0 {
        r = PI - r;
    }
    if y < 0.0 {
        -r
    } else {
        r
    }
}

/// Greedily takes pairs, best first, using each cylinder at most once, until `limit` pairs.
#[inline(always)]
fn select(scratch: &mut Scratch, na: usize, nb: usize, limit: usize) {
    scratch.used_a.clear();
    scratch.used_a.resize(na, false);
    scratch.used_b.clear();
    scratch.used_b.resize(nb, false);
    let len = scratch.candidates.len();
    // Most selections finish within the best few times `limit` candidates: order those first.
    let head = (limit * 4).min(len);
    if head < len {
        scratch
            .candidates
            .select_nth_unstable_by_key(head, |&k| Reverse(k));
    }
    scratch.candidates[..head].sort_unstable_by_key(|&k| Reverse(k));
    let mut sorted_tail = false;
    let mut i = 0;
    while i < len && scratch.pairs.len() < limit {
        if i == head && !sorted_tail {
            scratch.candidates[head..].sort_unstable_by_key(|&k| Reverse(k));
            sorted_tail = true;
        }
        let (a, b, sim) = unpack(scratch.candidates[i]);
        i += 1;
        if a >= na || b >= nb || scratch.used_a[a] || scratch.used_b[b] {
            continue;
        }
        scratch.used_a[a] = true;
        scratch.used_b[b] = true;
        scratch.pairs.push((a as u16, b as u16, sim));
    }
}

/// Computes the global score from `scratch.candidates` (packed similarities, any order).
///
/// On return `scratch.pairs` holds the pairs that formed the score, strongest first.
#[inline(always)]
pub fn consolidate(
    pa: &[Point],
    pb: &[Point],
    tables: &Tables,
    params: &MccParams,
    scratch: &mut Scratch,
) -> f32 {
    let n = pa.len().min(pb.len());
    scratch.pairs.clear();
    if n == 0 || scratch.candidates.is_empty() {
        return 0.0;
    }
    select(scratch, pa.len(), pb.len(), n.min(params.max_relax_pairs));
    let nr = scratch.pairs.len();
    relax(pa, pb, tables, params, scratch);
    // Efficiency: how well a pair kept its similarity through relaxation.
    let np = pairs_to_average(n, params).min(nr).max(1);
    scratch.order.clear();
    scratch.order.extend(0..nr);
    let (pairs, lambda) = (&scratch.pairs, &scratch.lambda);
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
    scratch.order.truncate(np);
    let score = scratch.order.iter().map(|&i| lambda[i]).sum::<f32>() / np as f32;
    // Keep the pairs that formed the score, strongest relaxed similarity first.
    scratch
        .order
        .sort_unstable_by(|&x, &y| lambda[y].total_cmp(&lambda[x]).then(x.cmp(&y)));
    for (slot, &i) in scratch.order.iter().enumerate() {
        let (a, b, _) = scratch.pairs[i];
        scratch.next[slot] = lambda[i];
        scratch.rho[slot] = f32::from_bits(u32::from(a) << 16 | u32::from(b));
    }
    scratch.pairs.clear();
    for slot in 0..np {
        let ab = scratch.rho[slot].to_bits();
        scratch
            .pairs
            .push(((ab >> 16) as u16, (ab & 0xffff) as u16, scratch.next[slot]));
    }
    score
}

#[inline(always)]
fn relax(pa: &[Point], pb: &[Point], tables: &Tables, params: &MccParams, scratch: &mut Scratch) {
    let nr = scratch.pairs.len();
    scratch.lambda.clear();
    scratch.lambda.extend(scratch.pairs.iter().map(|p| p.2));
    scratch.next.clear();
    scratch.next.resize(nr.max(1), 0.0);
    scratch.rho.clear();
    scratch.rho.resize((nr * nr).max(1), 0.0);
    if nr < 2 {
        return;
    }
    scratch.rotation.clear();
    scratch.rotation.extend(
        scratch
            .pairs
            .iter()
            .map(|&(a, b, _)| pa[usize::from(a)].theta - pb[usize::from(b)].theta),
    );
    for t in 0..nr {
        let (at, bt) = (
            pa[usize::from(scratch.pairs[t].0)],
            pb[usize::from(scratch.pairs[t].1)],
        );
        let rot_t = scratch.rotation[t];
        for k in (t + 1)..nr {
            let (ak, bk) = (
                pa[usize::from(scratch.pairs[k].0)],
                pb[usize::from(scratch.pairs[k].1)],
            );
            let (vax, vay) = (ak.x - at.x, ak.y - at.y);
            let (vbx, vby) = (bk.x - bt.x, bk.y - bt.y);
            let d1 = ((vax * vax + vay * vay).sqrt() - (vbx * vbx + vby * vby).sqrt()).abs();
            let d2 = angle_diff(rot_t, scratch.rotation[k]).abs();
            // Angle from vb to va; the radial angles differ by rot_t minus it.
            let turn = fast_atan2(vbx * vay - vby * vax, vbx * vax + vby * vay);
            let d3 = angle_diff(rot_t, turn).abs();
            let rho = tables.distance.get(d1) * tables.direction.get(d2) * tables.radial.get(d3);
            scratch.rho[t * nr + k] = rho;
            scratch.rho[k * nr + t] = rho;
        }
    }
    let w = params.relax_weight;
    let norm = (1.0 - w) / (nr - 1) as f32;
    for _ in 0..params.relax_iterations {
        for t in 0..nr {
            let support = dot(&scratch.rho[t * nr..(t + 1) * nr], &scratch.lambda);
            scratch.next[t] = w * scratch.lambda[t] + norm * support;
        }
        std::mem::swap(&mut scratch.lambda, &mut scratch.next);
    }
}

/// Dot product with eight independent accumulators, so the compiler can keep it in vector
/// registers instead of one serial chain of additions.
#[inline(always)]
fn dot(x: &[f32], y: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for i in 0..8 {
            acc[i] += a[i] * b[i];
        }
    }
    let tail: f32 = xr.iter().zip(yr).map(|(a, b)| a * b).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_atan2_is_close() {
        for i in 0..360 {
            let a = (i as f32).to_radians() - PI + 0.001;
            let (y, x) = (a.sin() * 3.0, a.cos() * 3.0);
            let err = angle_diff(fast_atan2(y, x), y.atan2(x)).abs();
            assert!(err < 2e-4, "angle {a}: error {err}");
        }
    }

    #[test]
    fn pack_orders_by_similarity_then_index() {
        let mut keys = [pack(0.5, 3, 1), pack(0.9, 7, 7), pack(0.5, 1, 2)];
        keys.sort_unstable_by_key(|&k| Reverse(k));
        assert_eq!(unpack(keys[0]).0, 7);
        assert_eq!(unpack(keys[1]), (1, 2, 0.5));
        assert_eq!(unpack(keys[2]), (3, 1, 0.5));
    }
}
