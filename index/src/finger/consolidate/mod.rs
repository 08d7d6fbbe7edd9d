//! Global score from local similarities: greedy one-to-one pair selection followed by
//! relaxation (LSS-R of Cappelli et al.), which rewards pairs that agree geometrically with
//! each other and penalises isolated coincidences.

use std::cmp::Reverse;
use std::f32::consts::PI;

use super::params::MccParams;

mod pairing;
mod relax;

pub use pairing::Hull;
#[cfg(test)]
use relax::compatibility;
pub(super) use relax::RHO_FLOOR;
use relax::{relax, PairGeometry};

/// Reusable buffers of one comparison; keeping one per thread keeps comparisons
/// allocation-free once warm.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Bit counts of the comparable cylinder pairs: the first `counted`.
    pub(crate) counts: Vec<super::kernel::PairCounts>,
    pub(crate) counted: usize,
    /// Expanded cylinders of the two templates.
    pub(crate) side_a: super::kernel::Side,
    pub(crate) side_b: super::kernel::Side,
    /// The two templates laid out for the AVX-512 sweep.
    pub(crate) wide: super::kernel::WideSides,
    /// Candidate pairs as packed keys (see [`pack`]), 0 for a pair of no similarity, in any
    /// order.
    pub(crate) candidates: Vec<u64>,
    /// The candidates of the band of buckets being selected from, sorted.
    band: Vec<u64>,
    used_a: Vec<bool>,
    used_b: Vec<bool>,
    /// Selected pairs: (cylinder in A, cylinder in B, similarity); after [`consolidate`] the
    /// pairs that formed the score, with their relaxed similarity, strongest first.
    pub(crate) pairs: Vec<(u16, u16, f32)>,
    /// The selected pairs' geometry, structure of arrays, and the table indices of one row.
    geometry: PairGeometry,
    lambda: Vec<f32>,
    support: Vec<f32>,
    next: Vec<f32>,
    rho: Vec<f32>,
    /// Sort keys of the pairs (see `consolidate`).
    order: Vec<u64>,
    ranked: Vec<u64>,
    chosen: Vec<(u16, u16, f32)>,
    /// Buffers of the aligned pairing stage.
    pairing: pairing::PairingScratch,
}

const TABLE_SIZE: usize = 256;

/// A decreasing sigmoid `1 / (1 + e^{slope (v − centre)})` sampled on `[0, top]`.
#[derive(Debug, Clone)]
struct SigmoidTable {
    scale: f32,
    values: [f32; TABLE_SIZE],
}

impl SigmoidTable {
    fn new(centre: f32, slope: f32, top: f32) -> Self {
        // Values below the floor of the compatibility products are 0: any product they
        // enter is below it too.
        let values = std::array::from_fn(|i| {
            let v = top * i as f32 / (TABLE_SIZE - 1) as f32;
            let value = 1.0 / (1.0 + (slope * (v - centre)).exp());
            if f64::from(value) < RHO_FLOOR {
                0.0
            } else {
                value
            }
        });
        Self {
            scale: (TABLE_SIZE - 1) as f32 / top,
            values,
        }
    }

    /// The sample nearest to `v` (saturating conversion: negative and NaN give 0).
    #[inline(always)]
    fn index(&self, v: f32) -> u32 {
        // Truncation of a value clamped to [0, 255] (NaN to 0), read off the bits of
        // floor(y) + 2²³, which hold the integer in the low mantissa bits: no conversion
        // instruction, so the loop vectorises.
        let y = (v * self.scale + 0.5).max(0.0).min((TABLE_SIZE - 1) as f32);
        (y.floor() + 8_388_608.0).to_bits() & (TABLE_SIZE as u32 - 1)
    }

    /// The sample at an index from [`SigmoidTable::index`].
    #[inline(always)]
    fn at(&self, i: u32) -> f32 {
        self.values[(i as usize) % TABLE_SIZE]
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
pub(super) fn unpack(key: u64) -> (usize, usize, f32) {
    (
        0xffff - ((key >> 16) & 0xffff) as usize,
        0xffff - (key & 0xffff) as usize,
        f32::from_bits((key >> 32) as u32),
    )
}

/// Coefficients of the odd polynomial of [`fast_atan2`] on `[0, 1]`, in the order it uses them
/// (the 2nd and 5th subtracted).
pub(super) const ATAN_POLY: [f32; 6] = [
    -0.013_480_47,
    0.057_477_32,
    0.121_239_07,
    0.195_635_25,
    0.332_994_6,
    0.999_995_6,
];

/// atan2 with a maximum error of about 1e-4 rad, with selects instead of branches.
#[inline(always)]
pub(super) fn fast_atan2(y: f32, x: f32) -> f32 {
    let (ax, ay) = (x.abs(), y.abs());
    let flat = ax >= ay;
    let num = if flat { ay } else { ax };
    let den = if flat { ax } else { ay };
    let t = num / den;
    let s = t * t;
    let c = ATAN_POLY;
    let mut r = ((c[0] * s + c[1]) * s - c[2]) * s + c[3];
    r = ((r * s - c[4]) * s + c[5]) * t;
    r = if ay > ax { PI / 2.0 - r } else { r };
    r = if x < 0.0 { PI - r } else { r };
    r = if y < 0.0 { -r } else { r };
    if den == 0.0 {
        0.0
    } else {
        r
    }
}

/// Buckets of similarity used to find how many candidates the selection needs.
const BUCKETS: usize = 256;

/// Mantissa bits of the similarity in a bucket number.
const BUCKET_MANTISSA: u32 = 5;

/// Bucket number of similarity 1.
const BUCKET_ONE: usize = 0x3f80_0000 >> (23 - BUCKET_MANTISSA);

/// Bucket of a key by its top bits: the similarity's exponent and five bits of mantissa, so
/// buckets are monotone in the key; the highest bucket holds similarity 1, and similarities
/// below 2⁻⁸ share bucket 0.
#[inline(always)]
fn bucket(key: u64) -> usize {
    ((key >> (55 - BUCKET_MANTISSA)) as usize)
        .saturating_sub(BUCKET_ONE - (BUCKETS - 1))
        .min(BUCKETS - 1)
}

/// The smallest key of bucket `b`.
#[inline(always)]
fn bucket_floor(b: usize) -> u64 {
    if b == 0 {
        0
    } else {
        ((b + BUCKET_ONE - (BUCKETS - 1)) as u64) << (55 - BUCKET_MANTISSA)
    }
}

/// Greedily takes pairs, best first, using each cylinder at most once, until `limit` pairs.
///
/// The candidates are taken in bands of buckets: a histogram of the buckets gives the lowest
/// bucket that leaves about `3 × limit` candidates at or above it; those are copied out and
/// sorted. Should the selection run through them, the next band (about `2 × limit` more) is
/// copied and sorted, and so on. With `wide` (AVX-512 detected at run time) a band is not
/// sorted: its pairs are taken largest key first by [`super::kernel::take_band`], which
/// takes the same pairs in the same order.
#[inline(always)]
fn select(scratch: &mut Scratch, na: usize, nb: usize, limit: usize, vector: bool, wide: bool) {
    scratch.used_a.clear();
    scratch.used_a.resize(na, false);
    scratch.used_b.clear();
    scratch.used_b.resize(nb, false);
    // Four interleaved histograms, so that runs of equal buckets do not wait on each other.
    let mut hist = [[0u32; BUCKETS]; 4];
    let chunks = scratch.candidates.chunks_exact(4);
    for &k in chunks.remainder() {
        hist[0][bucket(k)] += 1;
    }
    for c in chunks {
        for (h, &k) in hist.iter_mut().zip(c) {
            h[bucket(k)] += 1;
        }
    }
    let keys = &scratch.candidates;
    let band = &mut scratch.band;
    let mut band_len = 0;
    // Bands taken so far cover the keys at or above `floor` (buckets `next` and up).
    let mut next = BUCKETS;
    let mut floor = u64::MAX;
    let mut want = (limit * 3) as u32;
    let mut i = 0;
    while scratch.pairs.len() < limit {
        if i == band_len {
            if next == 0 {
                break;
            }
            let mut above = 0;
            while next > 0 {
                next -= 1;
                above += hist[0][next] + hist[1][next] + hist[2][next] + hist[3][next];
                if above >= want {
                    break;
                }
            }
            let (lo, hi) = (bucket_floor(next), floor);
            floor = lo;
            // Copy the band's keys (written unconditionally, kept by advancing the end).
            // The buffer only grows, so it is not cleared for every band.
            if band.len() < keys.len() + 8 {
                band.resize(keys.len() + 8, 0);
            }
            let end = super::kernel::copy_band(keys, lo, hi, band, vector, wide);
            band_len = end;
            i = 0;
            want = (limit * 2) as u32;
            let taken = super::kernel::take_band(
                band,
                end,
                (na, nb),
                (&mut scratch.used_a, &mut scratch.used_b),
                &mut scratch.pairs,
                limit,
                wide,
            );
            if taken {
                i = band_len;
            } else {
                band[..end].sort_unstable_by_key(|&k| Reverse(k));
            }
            continue;
        }
        let key = band[i];
        i += 1;
        if key == 0 {
            break;
        }
        let (a, b, sim) = unpack(key);
        if a >= na || b >= nb || scratch.used_a[a] || scratch.used_b[b] {
            continue;
        }
        scratch.used_a[a] = true;
        scratch.used_b[b] = true;
        scratch.pairs.push((a as u16, b as u16, sim));
    }
}

/// Computes the global score from `scratch.candidates` (packed similarities, any order).
/// `vector` is set only when running in the AVX2 or AVX-512 kernel, `wide` only in the
/// AVX-512 one (see [`super::kernel::copy_band`]).
///
/// On return `scratch.pairs` holds the pairs that formed the score, strongest first.
#[inline(always)]
pub fn consolidate(
    ta: &super::PreparedTemplate,
    tb: &super::PreparedTemplate,
    tables: &Tables,
    params: &MccParams,
    scratch: &mut Scratch,
    vector: bool,
    wide: bool,
) -> f32 {
    let (pa, pb) = (&ta.points[..], &tb.points[..]);
    let n = pa.len().min(pb.len());
    scratch.pairs.clear();
    if n == 0 || scratch.candidates.is_empty() {
        return 0.0;
    }
    select(
        scratch,
        pa.len(),
        pb.len(),
        n.min(params.max_relax_pairs),
        vector,
        wide,
    );
    let nr = scratch.pairs.len();
    relax(pa, pb, tables, params, scratch, vector);
    // Efficiency: how well a pair kept its similarity through relaxation.
    let mut np = pairs_to_average(n, params).min(nr).max(1);
    let (pairs, lambda) = (&scratch.pairs, &scratch.lambda);
    // The pairs by efficiency, highest first, then by index: sorting keys of the value's
    // total order over the index's complement.
    let key = |v: f32, i: usize| (u64::from(total_order(v)) << 32) | u64::from(!(i as u32));
    let index = |k: u64| (!(k as u32)) as usize;
    let order = &mut scratch.order;
    order.clear();
    order.extend(
        pairs
            .iter()
            .zip(lambda.iter())
            .enumerate()
            .map(|(i, (p, &l))| {
                let eff = if p.2 > 0.0 { l / p.2 } else { 0.0 };
                key(eff, i)
            }),
    );
    sort_descending(order, &mut scratch.ranked);
    // The alignment of the `max_np` most efficient pairs and the overlap under it.
    let overlap = if params.pair_overlap_np {
        scratch.chosen.clear();
        scratch
            .chosen
            .extend(order.iter().take(params.max_np).map(|&k| {
                let i = index(k);
                let (a, b, _) = pairs[i];
                (a, b, lambda[i])
            }));
        pairing::Overlap::of(ta, tb, &scratch.chosen, params, &mut scratch.pairing)
    } else {
        None
    };
    // The pairs averaged follow the minutiae in the common area rather than in the smaller
    // template.
    if let Some(o) = &overlap {
        np = pairs_to_average(o.a_inside.min(o.b_inside), params)
            .min(nr)
            .max(1);
    }
    order.truncate(np);
    let score = order.iter().map(|&k| lambda[index(k)]).sum::<f32>() / np as f32;
    // Keep the pairs that formed the score, strongest relaxed similarity first.
    for k in order.iter_mut() {
        let i = index(*k);
        *k = key(lambda[i], i);
    }
    sort_descending(order, &mut scratch.ranked);
    scratch.chosen.clear();
    scratch.chosen.extend(order.iter().map(|&k| {
        let i = index(k);
        let (a, b, _) = pairs[i];
        (a, b, lambda[i])
    }));
    std::mem::swap(&mut scratch.pairs, &mut scratch.chosen);
    let w = params.pair_weight;
    // Below the gate the pairing stage is skipped and the score stays `S`.
    if w > 0.0 && score >= params.pair_gate {
        // The pairing aligns on the pairs that formed the score.
        let overlap = pairing::Overlap::of(ta, tb, &scratch.pairs, params, &mut scratch.pairing);
        let paired = match &overlap {
            Some(o) if params.pair_source == 1 => {
                // The pairs taken into relaxation (now in `chosen`).
                let pairs = scratch
                    .chosen
                    .iter()
                    .map(|&(a, b, _)| (usize::from(a), usize::from(b)));
                pairing::pairing_score(ta, tb, o, pairs, params, &mut scratch.pairing).0
            }
            Some(o) => {
                let pairs = scratch
                    .candidates
                    .iter()
                    .filter(|&&k| k != 0)
                    .map(|&k| unpack(k))
                    .map(|(a, b, _)| (a, b));
                pairing::pairing_score(ta, tb, o, pairs, params, &mut scratch.pairing).0
            }
            None => 0.0,
        };
        let score = score.max(0.0);
        return if w == 0.5 {
            (score * paired).sqrt()
        } else {
            score.powf(1.0 - w) * paired.powf(w)
        };
    }
    score
}

/// Sorts distinct keys in descending order. Short lists (the relaxed pairs) are sorted by
/// rank, counting for each key the keys above it, without branches on the data; `spare`
/// is a buffer.
#[inline(always)]
fn sort_descending(keys: &mut [u64], spare: &mut Vec<u64>) {
    if keys.len() > 32 {
        keys.sort_unstable_by(|x, y| y.cmp(x));
        return;
    }
    spare.clear();
    spare.resize(keys.len(), 0);
    for &k in keys.iter() {
        let rank = keys.iter().map(|&j| usize::from(j > k)).sum::<usize>();
        if let Some(slot) = spare.get_mut(rank) {
            *slot = k;
        }
    }
    keys.copy_from_slice(spare);
}

/// A `u32` whose unsigned order is the [`f32::total_cmp`] order of `v`.
#[inline(always)]
fn total_order(v: f32) -> u32 {
    let bits = v.to_bits() as i32;
    // As `total_cmp`: negative values get their magnitude bits flipped, then the signed
    // order is made unsigned by flipping the sign bit.
    let t = bits ^ ((((bits >> 31) as u32) >> 1) as i32);
    (t as u32) ^ 0x8000_0000
}

#[cfg(test)]
mod tests;
