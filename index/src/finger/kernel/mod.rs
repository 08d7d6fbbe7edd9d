//! The comparison's hot path, compiled three times: with AVX-512 (F, VL, VPOPCNTDQ) where
//! the CPU has it, with AVX2, FMA and POPCNT, and portable (chosen once at run time). All
//! run the same source apart from the pair-counting sweep, and give identical results,
//! since no floating-point contraction is requested explicitly.
//!
//! This is the only module of the fingerprint matcher with `unsafe`.

use std::cmp::Ordering;

use std::sync::OnceLock;

use super::consolidate::{self, Scratch, Tables};

use super::params::MccParams;

use super::similarity::{pair_counts, similarity};

use super::PreparedTemplate;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod band;
mod sweep;
#[cfg(test)]
mod tests;

#[cfg(target_arch = "x86_64")]
use avx2::*;
#[cfg(target_arch = "x86_64")]
use avx512::*;
use band::*;
pub(super) use band::{copy_band, relax_rows, take_band, RowTables};
use sweep::*;
pub use sweep::{Block, Layout, Side, WideSides};

/// Constants of a comparison derived from the parameters.
#[derive(Debug, Clone, Copy)]
pub struct SweepLimits {
    /// Fewest jointly valid cells for a pair to count.
    pub min_cells: u32,
    /// Largest direction difference, 1/256 turns.
    pub max_turn: u8,
}

/// Which instruction set the comparison runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// AVX-512 F, VL and VPOPCNTDQ (with AVX2 and POPCNT): the pair sweep takes eight gallery
    /// cylinders per register.
    Avx512,
    /// AVX2 + FMA + POPCNT.
    Avx2,
    /// Baseline instructions only.
    Portable,
}

/// What the CPU supports, detected once.
#[derive(Debug, Clone, Copy)]
struct Support {
    avx2: bool,
    avx512: bool,
}

fn support() -> Support {
    static SUPPORT: OnceLock<Support> = OnceLock::new();
    *SUPPORT.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("popcnt");
            let avx512 = avx2
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512vpopcntdq");
            Support { avx2, avx512 }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Support {
                avx2: false,
                avx512: false,
            }
        }
    })
}

/// The best kernel for this CPU (detected once).
pub fn detected() -> Kernel {
    let s = support();
    if s.avx512 {
        Kernel::Avx512
    } else if s.avx2 {
        Kernel::Avx2
    } else {
        Kernel::Portable
    }
}

/// `kernel` if this CPU can run it, otherwise the portable kernel.
#[inline]
pub fn supported(kernel: Kernel) -> Kernel {
    let s = support();
    match kernel {
        Kernel::Avx512 if s.avx512 => Kernel::Avx512,
        Kernel::Avx2 if s.avx2 => Kernel::Avx2,
        _ => Kernel::Portable,
    }
}

/// The kernels this CPU can run, best first (the portable one always).
pub fn available() -> Vec<Kernel> {
    let s = support();
    let mut out = Vec::new();
    if s.avx512 {
        out.push(Kernel::Avx512);
    }
    if s.avx2 {
        out.push(Kernel::Avx2);
    }
    out.push(Kernel::Portable);
    out
}

/// Scores two prepared templates with the given kernel (falls back to portable if the CPU
/// lacks the requested one).
///
/// The score is symmetric: the templates are always compared in a canonical order (see
/// [`canonical_order`]), and `scratch.pairs` is given back in the caller's order.
pub fn compare(
    kernel: Kernel,
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    limits: SweepLimits,
    tables: &Tables,
    params: &MccParams,
    scratch: &mut Scratch,
) -> f32 {
    let swap = canonical_order(a, b) == Ordering::Greater;
    let (first, second) = if swap { (b, a) } else { (a, b) };
    let score = compare_ordered(kernel, first, second, limits, tables, params, scratch);
    if swap {
        for p in &mut scratch.pairs {
            *p = (p.1, p.0, p.2);
        }
    }
    score
}

/// A total order on prepared templates that depends only on their content, so that
/// `compare(a, b)` and `compare(b, a)` run the same computation. Templates it finds equal
/// are identical as far as the comparison is concerned, so either order gives the same
/// score. Usually decided by the first words of the cylinders.
pub fn canonical_order(a: &PreparedTemplate, b: &PreparedTemplate) -> Ordering {
    fn point_bits(t: &PreparedTemplate) -> impl Iterator<Item = u32> + '_ {
        t.points
            .iter()
            .flat_map(|p| [p.x.to_bits(), p.y.to_bits(), p.theta.to_bits()])
    }
    a.stride
        .cmp(&b.stride)
        .then_with(|| a.bits.cmp(&b.bits))
        .then_with(|| a.directions.cmp(&b.directions))
        .then_with(|| point_bits(a).cmp(point_bits(b)))
}

fn compare_ordered(
    kernel: Kernel,
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    limits: SweepLimits,
    tables: &Tables,
    params: &MccParams,
    scratch: &mut Scratch,
) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        let s = support();
        if kernel == Kernel::Avx512 && s.avx512 {
            // SAFETY: `support()` set `avx512` only after confirming AVX-512 F, VL and
            // VPOPCNTDQ, AVX2 and POPCNT at run time; the function has no other requirement.
            return unsafe { compare_avx512(a, b, limits, tables, params, scratch) };
        }
        if kernel != Kernel::Portable && s.avx2 {
            // SAFETY: `support()` set `avx2` only after confirming AVX2 and POPCNT at run
            // time; the function has no other requirement.
            return unsafe { compare_avx2(a, b, limits, tables, params, scratch) };
        }
    }
    let _ = kernel;
    compare_body(a, b, limits, tables, params, scratch, false, false)
}

/// The comparison. `vector` may be set only when AVX2 and POPCNT were detected at run time,
/// `wide` only when AVX-512 F, VL and VPOPCNTDQ were too.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn compare_body(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    limits: SweepLimits,
    tables: &Tables,
    params: &MccParams,
    scratch: &mut Scratch,
    vector: bool,
    wide: bool,
) -> f32 {
    scratch.counted = 0;
    if a.stride != b.stride || a.stride == 0 {
        return 0.0;
    }
    match (params.nd, params.words_per_layer()) {
        (ND, 1) if a.stride == ND + 1 => {
            #[cfg(target_arch = "x86_64")]
            {
                if wide {
                    // SAFETY: `wide` is set only by `compare_avx512`, which runs only after
                    // AVX-512 F, VL and VPOPCNTDQ, AVX2 and POPCNT were detected at run time.
                    unsafe { sweep_wide(a, b, limits, scratch) };
                    return consolidate::consolidate(a, b, tables, params, scratch, vector, true);
                }
            }
            let _ = wide;
            sweep_sliced(a, b, limits, scratch)
        }
        (nd, wpl) => {
            scratch.counts.clear();
            sweep_generic(a, b, nd, wpl, limits, &mut scratch.counts);
            scratch.counted = scratch.counts.len();
        }
    }
    let counted = scratch.counts.get(..scratch.counted).unwrap_or_default();
    similarities(counted, &mut scratch.candidates, vector);
    consolidate::consolidate(a, b, tables, params, scratch, vector, wide)
}

/// For directions sorted ascending, `starts[v]` is how many are below `v` (for `v` in
/// 0..=256), so that runs of directions are found without searching.
type Starts = [u16; 257];

/// Fills `starts` for `dirs` (sorted ascending).
#[inline(always)]
fn fill_starts(dirs: &[u8], starts: &mut Starts) {
    let mut v = 0;
    for (i, &d) in dirs.iter().enumerate() {
        let end = usize::from(d) + 1;
        if let Some(run) = starts.get_mut(v..end) {
            run.fill(i as u16);
            v = end;
        }
    }
    if let Some(rest) = starts.get_mut(v..) {
        rest.fill(dirs.len() as u16);
    }
}

/// The runs of directions (see [`Starts`]) within `turn` of `d`, as up to two index ranges.
#[inline(always)]
fn window(starts: &Starts, d: u8, turn: u8) -> [std::ops::Range<usize>; 2] {
    let lo = d.wrapping_sub(turn);
    let hi = d.wrapping_add(turn);
    let len = usize::from(starts[256]);
    let first_at_least = |v: u8| usize::from(starts[usize::from(v)]);
    let first_above = |v: u8| usize::from(starts[usize::from(v) + 1]);
    if u16::from(turn) * 2 >= 255 {
        [0..len, 0..0]
    } else if lo <= hi {
        [first_at_least(lo)..first_above(hi), 0..0]
    } else {
        // The window wraps past 255: [lo, 255] and [0, hi].
        [first_at_least(lo)..len, 0..first_above(hi)]
    }
}

/// Bit counts of one comparable cylinder pair: `|a ∧ m|`, `|b ∧ m|` and `|(a ⊕ b) ∧ m|` over
/// all layers, with `m` the jointly valid cells, and the pair as `(index in A) << 16 |
/// (index in B)`.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(16))]
pub struct PairCounts {
    na: i32,
    nb: i32,
    nx: i32,
    pair: u32,
}

/// Value layers of the fast path: one 64-cell word per layer (NS = 8).
const ND: usize = 6;

/// A cylinder of one word per layer, expanded for the sweep.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(32))]
pub struct Expanded {
    /// The value layers (restricted to the mask).
    values: [u64; ND],
    /// Valid cells.
    mask: u64,
    /// How many layers are set in each cell, as bit planes (bit `p` of the count in
    /// `planes[p]`), so that `|value ∧ m|` over all layers takes three population counts.
    planes: [u64; 3],
    /// `|value|` over all layers.
    ones: u32,
    /// `|mask|`.
    cells: u32,
}

impl Expanded {
    #[inline(always)]
    fn new(c: &[u64]) -> Self {
        let mut e = Expanded {
            mask: c.get(ND).copied().unwrap_or(0),
            ..Default::default()
        };
        for (k, &v) in c.iter().take(ND).enumerate() {
            e.values[k] = v & e.mask;
        }
        // The six layers summed per cell by carry-save adders: two full adders give two
        // sum bits and two carry bits, which add into the three planes.
        let [v0, v1, v2, v3, v4, v5] = e.values;
        let full_add = |x: u64, y: u64, z: u64| (x ^ y ^ z, (x & y) | (z & (x ^ y)));
        let (s0, c0) = full_add(v0, v1, v2);
        let (s1, c1) = full_add(v3, v4, v5);
        let (p0, c2) = (s0 ^ s1, s0 & s1);
        let (p1, p2) = full_add(c0, c1, c2);
        e.planes = [p0, p1, p2];
        e.ones = p0.count_ones() + 2 * p1.count_ones() + 4 * p2.count_ones();
        e.cells = e.mask.count_ones();
        e
    }

    /// `|value ∧ m|` over all layers.
    #[inline(always)]
    fn masked_ones(&self, m: u64) -> u32 {
        (self.planes[0] & m).count_ones()
            + 2 * (self.planes[1] & m).count_ones()
            + 4 * (self.planes[2] & m).count_ones()
    }
}
