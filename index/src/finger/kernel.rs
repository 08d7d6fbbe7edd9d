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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,avx512f,avx512vl,avx512vpopcntdq")]
unsafe fn compare_avx512(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    limits: SweepLimits,
    tables: &Tables,
    params: &MccParams,
    scratch: &mut Scratch,
) -> f32 {
    compare_body(a, b, limits, tables, params, scratch, true, true)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn compare_avx2(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    limits: SweepLimits,
    tables: &Tables,
    params: &MccParams,
    scratch: &mut Scratch,
) -> f32 {
    compare_body(a, b, limits, tables, params, scratch, true, false)
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
                    return consolidate::consolidate(
                        &a.points, &b.points, tables, params, scratch, vector, true,
                    );
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
    consolidate::consolidate(&a.points, &b.points, tables, params, scratch, vector, wide)
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

/// The cylinders of one template for one comparison, split into those whose mask is the
/// union of all masks of both templates ("full") and the others, each part in order of
/// direction, with the cylinders' indices in the template.
#[derive(Debug, Default)]
pub struct Side {
    parts: [Part; 2],
}

#[derive(Debug)]
struct Part {
    cylinders: Vec<Expanded>,
    directions: Vec<u8>,
    index: Vec<u32>,
    starts: Starts,
}

impl Default for Part {
    fn default() -> Self {
        Self {
            cylinders: Vec::new(),
            directions: Vec::new(),
            index: Vec::new(),
            starts: [0; 257],
        }
    }
}

impl Side {
    #[inline(always)]
    fn fill(&mut self, t: &PreparedTemplate, union: u64, with_starts: bool) {
        for p in &mut self.parts {
            p.cylinders.clear();
            p.directions.clear();
            p.index.clear();
        }
        for (i, (c, &d)) in t.bits.chunks_exact(ND + 1).zip(&t.directions).enumerate() {
            let e = Expanded::new(c);
            let p = &mut self.parts[usize::from(e.mask != union)];
            p.cylinders.push(e);
            p.directions.push(d);
            p.index.push(i as u32);
        }
        if with_starts {
            for p in &mut self.parts {
                fill_starts(&p.directions, &mut p.starts);
            }
        }
    }
}

/// Counts the comparable pairs of cylinders with one word per layer into `scratch.counts`.
///
/// Where a cylinder's mask is the union `u` of all masks, the pair's joint mask is the other
/// cylinder's mask, and that cylinder's counts over it are its totals: the four combinations
/// of full and partial cylinders get their own loops, so none spends work on that case.
#[inline(always)]
fn sweep_sliced(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    limits: SweepLimits,
    scratch: &mut Scratch,
) {
    let mut union = 0;
    for t in [a, b] {
        for c in t.bits.chunks_exact(ND + 1) {
            union |= c.get(ND).copied().unwrap_or(0);
        }
    }
    scratch.side_a.fill(a, union, false);
    scratch.side_b.fill(b, union, true);
    let out = &mut scratch.counts;
    // Every pair is written, and kept (the length advanced) only if comparable.
    // The buffer only grows, so it is not cleared for every comparison.
    let cap = a.len() * b.len() + 1;
    if out.len() < cap {
        out.resize(cap, PairCounts::default());
    }
    let mut sink = Sink {
        out,
        n: 0,
        min_cells: limits.min_cells,
    };
    let [full_a, part_a] = &scratch.side_a.parts;
    let [full_b, part_b] = &scratch.side_b.parts;
    let turn = limits.max_turn;
    let full_cells = union.count_ones();
    for (ca, (&da, &ia)) in full_a
        .cylinders
        .iter()
        .zip(full_a.directions.iter().zip(&full_a.index))
    {
        let tag = ia << 16;
        for r in window(&full_b.starts, da, turn) {
            sink.run(ca, full_b, r, tag, |ca, cb| {
                let mut nx = 0;
                for k in 0..ND {
                    nx += (ca.values[k] ^ cb.values[k]).count_ones();
                }
                (ca.ones, cb.ones, nx, full_cells)
            });
        }
        for r in window(&part_b.starts, da, turn) {
            sink.run(ca, part_b, r, tag, |ca, cb| {
                let m = cb.mask;
                let mut nx = 0;
                for k in 0..ND {
                    nx += ((ca.values[k] ^ cb.values[k]) & m).count_ones();
                }
                (ca.masked_ones(m), cb.ones, nx, cb.cells)
            });
        }
    }
    for (ca, (&da, &ia)) in part_a
        .cylinders
        .iter()
        .zip(part_a.directions.iter().zip(&part_a.index))
    {
        let tag = ia << 16;
        for r in window(&full_b.starts, da, turn) {
            sink.run(ca, full_b, r, tag, |ca, cb| {
                let m = ca.mask;
                let mut nx = 0;
                for k in 0..ND {
                    nx += ((ca.values[k] ^ cb.values[k]) & m).count_ones();
                }
                (ca.ones, cb.masked_ones(m), nx, ca.cells)
            });
        }
        for r in window(&part_b.starts, da, turn) {
            sink.run(ca, part_b, r, tag, |ca, cb| {
                let m = ca.mask & cb.mask;
                let mut nx = 0;
                for k in 0..ND {
                    nx += ((ca.values[k] ^ cb.values[k]) & m).count_ones();
                }
                (ca.masked_ones(m), cb.masked_ones(m), nx, m.count_ones())
            });
        }
    }
    scratch.counted = sink.n;
}

/// Words of a [`Block`] lane: the value layers (restricted to the mask), the mask and the
/// three count planes (see [`Expanded`]).
const BLOCK_WORDS: usize = ND + 4;

/// Eight cylinders, word `w` of lane `j` in `words[w][j]`, so that a register holds one word
/// of eight cylinders.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C, align(64))]
pub struct Block {
    words: [[u64; 8]; BLOCK_WORDS],
}

/// The cylinders of a template laid out for the AVX-512 sweep: eight to a [`Block`], in
/// template order, and the runs of their directions (see [`Starts`]).
///
/// Derived from the template's cylinders and directions alone (see [`Layout::of`]), so it
/// is built once with the template — at preparation, and when a template is decoded — and
/// not per comparison. Empty for templates of another cylinder layout than one word per
/// layer and six layers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    blocks: Vec<Block>,
    /// A [`Starts`] (257 entries), or empty.
    starts: Vec<u16>,
}

impl Layout {
    /// The layout of a prepared template's cylinders.
    pub fn of(t: &PreparedTemplate) -> Self {
        let mut layout = Self::default();
        layout.fill(t);
        layout
    }

    /// Makes this the layout of `t`, reusing the buffers.
    fn fill(&mut self, t: &PreparedTemplate) {
        self.blocks.clear();
        self.starts.clear();
        if t.stride != ND + 1 {
            return;
        }
        let n = (t.bits.len() / (ND + 1)).min(t.directions.len());
        self.blocks.resize(n.div_ceil(8), Block::default());
        for (i, c) in t.bits.chunks_exact(ND + 1).take(n).enumerate() {
            let e = Expanded::new(c);
            let Some(block) = self.blocks.get_mut(i / 8) else {
                break;
            };
            let lane = i % 8;
            let [v0, v1, v2, v3, v4, v5] = e.values;
            let [p0, p1, p2] = e.planes;
            let column = [v0, v1, v2, v3, v4, v5, e.mask, p0, p1, p2];
            for (w, &x) in block.words.iter_mut().zip(&column) {
                w[lane] = x;
            }
        }
        let mut starts = [0; 257];
        fill_starts(&t.directions[..n], &mut starts);
        self.starts.extend_from_slice(&starts);
    }

    /// Whether this is a layout of `t`'s cylinders (of its size and shape; the sweep falls
    /// back to laying out a template that lacks one).
    #[inline(always)]
    fn fits(&self, t: &PreparedTemplate) -> bool {
        let n = t.directions.len();
        t.stride == ND + 1
            && t.bits.len() == n * (ND + 1)
            && self.blocks.len() == n.div_ceil(8)
            && self.starts.get(256).is_some_and(|&e| usize::from(e) == n)
    }

    /// Bytes of the layout's payload.
    pub fn size_bytes(&self) -> usize {
        self.blocks.len() * std::mem::size_of::<Block>() + self.starts.len() * 2
    }
}

/// Layouts of the two templates of one comparison for [`sweep_wide`], used only when a
/// template comes without one.
#[derive(Debug, Default)]
pub struct WideSides {
    first: Layout,
    second: Layout,
}

/// The AVX-512 sweep: every comparable pair of cylinders with one word per layer, straight
/// to candidate keys in `scratch.candidates` (any order), leaving out pairs of similarity 0.
///
/// For each cylinder of `a`, the cylinders of `b` within the direction window are taken a
/// block of eight at a time (lanes outside the window masked off). The counts, the
/// similarity and the key are those of [`pair_counts`], [`similarity`] and
/// [`candidate_key`], computed with the same correctly rounded operations. The keys of
/// similarity 0 that the other sweeps keep sort below every other key and end the selection
/// where they are met, so leaving them out changes no score.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,avx512f,avx512vl,avx512vpopcntdq")]
fn sweep_wide(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    limits: SweepLimits,
    scratch: &mut Scratch,
) {
    use std::arch::x86_64::*;
    let Scratch {
        wide, candidates, ..
    } = scratch;
    let first = if a.layout.fits(a) {
        &a.layout
    } else {
        wide.first.fill(a);
        &wide.first
    };
    let second = if b.layout.fits(b) {
        &b.layout
    } else {
        wide.second.fill(b);
        &wide.second
    };
    let Ok(starts) = <&Starts>::try_from(second.starts.as_slice()) else {
        candidates.clear();
        return;
    };
    let na = a.directions.len().min(first.blocks.len() * 8);
    let nb = usize::from(starts[256]).min(second.blocks.len() * 8);
    let keys = candidates;
    keys.clear();
    // Every block stores eight keys (those kept first), so the buffer has room for every
    // pair plus one block.
    let cap = na * nb + 8;
    keys.reserve(cap);
    let out = keys.spare_capacity_mut();
    let out_len = out.len();
    let out = out.as_mut_ptr().cast::<u64>();
    let mut n = 0usize;
    let min_cells = _mm512_set1_epi64(i64::from(limits.min_cells));
    let one = _mm256_set1_ps(1.0);
    let zero = _mm256_setzero_ps();
    let iota = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    let turn = limits.max_turn;
    let load = |w: &[u64; 8]| {
        // SAFETY: `w` is 8 words (64 bytes), the extent of the unaligned load.
        unsafe { _mm512_loadu_si512(w.as_ptr().cast()) }
    };
    for (ia, &da) in a.directions.iter().enumerate().take(na) {
        let Some(own) = first.blocks.get(ia / 8) else {
            break;
        };
        let bcast = |w: &[u64; 8]| _mm512_set1_epi64(w[ia % 8] as i64);
        let [w0, w1, w2, w3, w4, w5, wm, wp0, wp1, wp2] = &own.words;
        let va = [w0, w1, w2, w3, w4, w5].map(bcast);
        let pa = [wp0, wp1, wp2].map(bcast);
        let ma = bcast(wm);
        let tag = _mm512_set1_epi64((0xffff_ffff ^ ((ia as u64) << 16)) as i64);
        for r in window(starts, da, turn) {
            let (start, end) = (r.start, r.end.min(nb));
            let mut q = start / 8;
            while q * 8 < end {
                let base = q * 8;
                let Some(block) = second.blocks.get(q) else {
                    break;
                };
                q += 1;
                // Lanes of the block inside [start, end).
                let below = (1u32 << start.saturating_sub(base).min(8)) - 1;
                let upto = (1u32 << (end - base).min(8)) - 1;
                let lanes = (upto & !below) as __mmask8;
                let w = &block.words;
                let m = _mm512_and_si512(ma, load(&w[ND]));
                let cells = _mm512_popcnt_epi64(m);
                let comparable = _mm512_mask_cmpge_epu64_mask(lanes, cells, min_cells);
                let count = |x: __m512i| _mm512_popcnt_epi64(_mm512_and_si512(x, m));
                let weighted = |p0: __m512i, p1: __m512i, p2: __m512i| {
                    _mm512_add_epi64(
                        _mm512_add_epi64(count(p0), _mm512_slli_epi64::<1>(count(p1))),
                        _mm512_slli_epi64::<2>(count(p2)),
                    )
                };
                let na = weighted(pa[0], pa[1], pa[2]);
                let nb_ = weighted(load(&w[ND + 1]), load(&w[ND + 2]), load(&w[ND + 3]));
                let mut nx = _mm512_setzero_si512();
                for (k, v) in va.iter().enumerate() {
                    nx = _mm512_add_epi64(nx, count(_mm512_xor_si512(*v, load(&w[k]))));
                }
                let to_f32 = |x: __m512i| _mm256_cvtepi32_ps(_mm512_cvtepi64_epi32(x));
                let denom = _mm256_add_ps(to_f32(na), to_f32(nb_));
                let sim = _mm256_sub_ps(one, _mm256_div_ps(to_f32(nx), denom));
                let keep = comparable
                    & _mm256_cmp_ps_mask::<_CMP_NEQ_OQ>(denom, zero)
                    & _mm256_cmp_ps_mask::<_CMP_GT_OQ>(sim, zero);
                let hi = _mm512_slli_epi64::<32>(_mm512_cvtepu32_epi64(_mm256_castps_si256(sim)));
                let ids = _mm512_add_epi64(iota, _mm512_set1_epi64(base as i64));
                let lo = _mm512_xor_si512(tag, ids);
                let key = _mm512_maskz_compress_epi64(keep, _mm512_or_si512(hi, lo));
                if n + 8 > out_len {
                    break;
                }
                // SAFETY: `n + 8 <= out_len`, so the 8-word store stays inside the spare
                // capacity of `keys`.
                unsafe { _mm512_storeu_si512(out.add(n).cast(), key) };
                n += keep.count_ones() as usize;
            }
        }
    }
    // SAFETY: the first `n` words of the spare capacity were written above (each store
    // wrote 8 words at `n`, of which the kept ones precede the next store), and `n + 8` is
    // within the capacity reserved.
    unsafe { keys.set_len(n) };
}

/// Where [`sweep_sliced`] writes its pairs.
struct Sink<'a> {
    out: &'a mut [PairCounts],
    n: usize,
    min_cells: u32,
}

impl Sink<'_> {
    /// Counts cylinder `ca` against the cylinders `range` of `part` with `count`, which gives
    /// `(|a ∧ m|, |b ∧ m|, |(a ⊕ b) ∧ m|, |m|)`.
    #[inline(always)]
    fn run(
        &mut self,
        ca: &Expanded,
        part: &Part,
        range: std::ops::Range<usize>,
        tag: u32,
        count: impl Fn(&Expanded, &Expanded) -> (u32, u32, u32, u32),
    ) {
        let (Some(cbs), Some(ids)) = (part.cylinders.get(range.clone()), part.index.get(range))
        else {
            return;
        };
        let mut n = self.n;
        for (cb, &ib) in cbs.iter().zip(ids) {
            let (na, nb, nx, cells) = count(ca, cb);
            if let Some(slot) = self.out.get_mut(n) {
                *slot = PairCounts {
                    na: na as i32,
                    nb: nb as i32,
                    nx: nx as i32,
                    pair: tag | ib,
                };
            }
            n += usize::from(cells >= self.min_cells);
        }
        self.n = n;
    }
}

/// Counts every comparable pair of cylinders of any layout into `out`.
#[inline(always)]
fn sweep_generic(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    nd: usize,
    wpl: usize,
    limits: SweepLimits,
    out: &mut Vec<PairCounts>,
) {
    for (ia, (ca, &da)) in a.bits.chunks_exact(a.stride).zip(&a.directions).enumerate() {
        for (ib, (cb, &db)) in b.bits.chunks_exact(b.stride).zip(&b.directions).enumerate() {
            if (da.wrapping_sub(db) as i8).unsigned_abs() > limits.max_turn {
                continue;
            }
            if let Some((na, nb, nx)) = pair_counts(ca, cb, nd, wpl, limits.min_cells) {
                out.push(PairCounts {
                    na: na as i32,
                    nb: nb as i32,
                    nx: nx as i32,
                    pair: ((ia as u32) << 16) | ib as u32,
                });
            }
        }
    }
}

/// Turns pair counts into candidate keys (see [`consolidate::pack`]; 0 for a pair of no
/// similarity), in any order.
#[inline(always)]
fn similarities(counts: &[PairCounts], keys: &mut Vec<u64>, vector: bool) {
    // Every key is written below, so only a grown part needs initialising.
    keys.truncate(counts.len());
    keys.resize(counts.len(), 0);
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    {
        if vector {
            // SAFETY: `vector` is set only by `compare_avx2`, which runs only after AVX2 was
            // detected at run time.
            done = unsafe { similarities_avx2(counts, keys) };
        }
    }
    let _ = vector;
    for (c, key) in counts.iter().zip(keys.iter_mut()).skip(done) {
        *key = candidate_key(similarity(c.na, c.nb, c.nx), c.pair);
    }
}

/// Copies the keys `k` with `lo <= k < hi` from `keys` to the front of `band` (which holds
/// at least `keys.len() + 8` words), in order, and returns how many there are. `vector` may
/// be set only when AVX2 was detected at run time, `wide` only when AVX-512 F was.
#[inline(always)]
pub(super) fn copy_band(
    keys: &[u64],
    lo: u64,
    hi: u64,
    band: &mut [u64],
    vector: bool,
    wide: bool,
) -> usize {
    let mut end = 0;
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    {
        if wide {
            // SAFETY: `wide` is set only by `compare_avx512`, which runs only after AVX-512 F
            // was detected at run time.
            (done, end) = unsafe { copy_band_avx512(keys, lo, hi, band) };
        } else if vector {
            // SAFETY: `vector` is set only by `compare_avx2`, which runs only after AVX2 was
            // detected at run time.
            (done, end) = unsafe { copy_band_avx2(keys, lo, hi, band) };
        }
    }
    let _ = (vector, wide);
    for &k in keys.iter().skip(done) {
        if let Some(slot) = band.get_mut(end) {
            *slot = k;
        }
        end += usize::from(k >= lo && k < hi);
    }
    end
}

/// [`copy_band`] eight keys at a time; returns how many keys it read (a multiple of 8) and
/// how many it copied.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn copy_band_avx512(keys: &[u64], lo: u64, hi: u64, band: &mut [u64]) -> (usize, usize) {
    use std::arch::x86_64::*;
    let mut end = 0;
    let mut done = 0;
    let (vlo, vhi) = (_mm512_set1_epi64(lo as i64), _mm512_set1_epi64(hi as i64));
    for c in keys.chunks_exact(8) {
        let (Ok(c), Some(slot)) = (<&[u64; 8]>::try_from(c), band.get_mut(end..end + 8)) else {
            break;
        };
        // SAFETY: `c` and `slot` are 8 words (64 bytes) each, the extent of the unaligned
        // load and store.
        unsafe {
            let v = _mm512_loadu_si512(c.as_ptr().cast());
            let inside = _mm512_cmpge_epu64_mask(v, vlo) & _mm512_cmplt_epu64_mask(v, vhi);
            let kept = _mm512_maskz_compress_epi64(inside, v);
            _mm512_storeu_si512(slot.as_mut_ptr().cast(), kept);
            end += inside.count_ones() as usize;
        }
        done += 8;
    }
    (done, end)
}

/// Takes pairs greedily from the first `len` keys of `band` (unsorted, distinct), largest
/// key first, skipping pairs whose cylinders are used and marking those of the pairs taken,
/// until `pairs` holds `limit` pairs or the band is spent, as sorting the band and walking
/// it would. Returns false, doing nothing, unless `wide` (which may be set only when
/// AVX-512 F was detected at run time); `band` must hold `len + 8` words.
#[inline(always)]
pub(super) fn take_band(
    band: &mut [u64],
    len: usize,
    sizes: (usize, usize),
    used: (&mut [bool], &mut [bool]),
    pairs: &mut Vec<(u16, u16, f32)>,
    limit: usize,
    wide: bool,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if wide {
            // SAFETY: `wide` is set only by `compare_avx512`, which runs only after AVX-512 F
            // was detected at run time.
            return unsafe { take_band_avx512(band, len, sizes, used, pairs, limit) };
        }
    }
    let _ = (band, len, sizes, used, pairs, limit, wide);
    false
}

/// [`take_band`] with the band in blocks of eight keys: each round finds the largest key
/// left, and clears the keys that share a cylinder with it (none of them can be taken
/// later), so that the keys are not sorted. Returns false, doing nothing, when `band` is too
/// short.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn take_band_avx512(
    band: &mut [u64],
    len: usize,
    (na, nb): (usize, usize),
    (used_a, used_b): (&mut [bool], &mut [bool]),
    pairs: &mut Vec<(u16, u16, f32)>,
    limit: usize,
) -> bool {
    use std::arch::x86_64::*;
    let Some(band) = band.get_mut(..len.div_ceil(8) * 8) else {
        return false;
    };
    if let Some(pad) = band.get_mut(len..) {
        pad.fill(0);
    }
    let a_field = _mm512_set1_epi64(0xffff_0000);
    let b_field = _mm512_set1_epi64(0xffff);
    // Fields of the key taken last round (none at first: no field is all ones).
    let (mut last_a, mut last_b) = (_mm512_set1_epi64(-1), _mm512_set1_epi64(-1));
    while pairs.len() < limit {
        let mut top = _mm512_setzero_si512();
        for c in band.chunks_exact_mut(8) {
            // SAFETY: `c` is 8 words (64 bytes), the extent of the unaligned load and store.
            unsafe {
                let v = _mm512_loadu_si512(c.as_ptr().cast());
                let shares = _mm512_cmpeq_epi64_mask(_mm512_and_si512(v, a_field), last_a)
                    | _mm512_cmpeq_epi64_mask(_mm512_and_si512(v, b_field), last_b);
                let v = _mm512_maskz_mov_epi64(!shares, v);
                _mm512_storeu_si512(c.as_mut_ptr().cast(), v);
                top = _mm512_max_epu64(top, v);
            }
        }
        let key = _mm512_reduce_max_epu64(top);
        if key == 0 {
            break;
        }
        let (a, b, sim) = super::consolidate::unpack(key);
        // A cylinder out of range counts as used, as the sorted walk skips its pairs.
        let used_a_now = a >= na || used_a.get(a).copied().unwrap_or(true);
        let used_b_now = b >= nb || used_b.get(b).copied().unwrap_or(true);
        let take = !used_a_now && !used_b_now;
        // Clear next round the keys of a used cylinder: this key's two if it is taken, else
        // whichever of them is used (at least one; the other may still be taken).
        let field = |clear: bool, mask: u64| if clear { (key & mask) as i64 } else { -1 };
        last_a = _mm512_set1_epi64(field(take || used_a_now, 0xffff_0000));
        last_b = _mm512_set1_epi64(field(take || used_b_now, 0xffff));
        if take {
            if let (Some(ua), Some(ub)) = (used_a.get_mut(a), used_b.get_mut(b)) {
                *ua = true;
                *ub = true;
            }
            pairs.push((a as u16, b as u16, sim));
        }
    }
    true
}

/// [`copy_band`] four keys at a time; returns how many keys it read (a multiple of 4) and
/// how many it copied. Unsigned comparisons are signed ones of the keys with the top bit
/// flipped.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn copy_band_avx2(keys: &[u64], lo: u64, hi: u64, band: &mut [u64]) -> (usize, usize) {
    use std::arch::x86_64::*;
    let mut end = 0;
    let mut done = 0;
    let flip = |v: u64| (v ^ (1 << 63)) as i64;
    let top = _mm256_set1_epi64x(i64::MIN);
    let (vlo, vhi) = (_mm256_set1_epi64x(flip(lo)), _mm256_set1_epi64x(flip(hi)));
    for c in keys.chunks_exact(4) {
        let Ok(c) = <&[u64; 4]>::try_from(c) else {
            break;
        };
        // SAFETY: `c` is 4 words (32 bytes), the extent of the unaligned load.
        let v = unsafe { _mm256_loadu_si256(c.as_ptr().cast::<__m256i>()) };
        let v = _mm256_xor_si256(v, top);
        // lo <= k < hi: not (lo > k), and hi > k.
        let inside = _mm256_andnot_si256(_mm256_cmpgt_epi64(vlo, v), _mm256_cmpgt_epi64(vhi, v));
        let mut bits = _mm256_movemask_pd(_mm256_castsi256_pd(inside)) as u32;
        while bits != 0 {
            let j = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let (Some(slot), Some(&k)) = (band.get_mut(end), c.get(j)) {
                *slot = k;
                end += 1;
            }
        }
        done += 4;
    }
    (done, end)
}

/// The three compatibility sigmoids sampled (see `consolidate::SigmoidTable`): the scale
/// from a difference to a sample's index, and the samples; distance, direction, radial.
#[derive(Debug, Clone, Copy)]
pub(super) struct RowTables<'a> {
    pub scales: [f32; 3],
    pub values: [&'a [f32; 256]; 3],
}

/// The entries right of the diagonal of the relaxation's compatibility matrix (see
/// `consolidate::relax`) for `nr` pairs, rows of `width` entries (a multiple of 8) in
/// `rho`: `cols` holds each pair's `(ax, ay, bx, by, rotation)`, `width` values each. Row `t`
/// is computed from the start of the 8-lane block holding the diagonal; the entries left
/// of the diagonal are left alone. Returns false, doing nothing, unless `vector` (which may
/// be set only when AVX2 was detected at run time).
#[inline(always)]
pub(super) fn relax_rows(
    nr: usize,
    width: usize,
    cols: [&[f32]; 5],
    tables: RowTables<'_>,
    rho: &mut [f32],
    vector: bool,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if vector {
            // SAFETY: `vector` is set only by `compare_avx2` and `compare_avx512`, which run
            // only after AVX2 was detected at run time.
            unsafe { relax_rows_avx2(nr, width, cols, tables, rho) };
            return true;
        }
    }
    let _ = (nr, width, cols, tables, rho, vector);
    false
}

/// [`relax_rows`] eight lanes at a time with the operations of `consolidate::fast_atan2`,
/// `consolidate::angle_diff_select`, the tables' index and `consolidate::compatibility`, in
/// the same order: each is a correctly rounded IEEE operation, a table read or a select, so
/// the entries are those of the scalar code.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn relax_rows_avx2(
    nr: usize,
    width: usize,
    cols: [&[f32]; 5],
    tables: RowTables<'_>,
    rho: &mut [f32],
) {
    use std::arch::x86_64::*;
    use std::f32::consts::{PI, TAU};
    let [ax, ay, bx, by, rot] = cols;
    let set = |v: f32| _mm256_set1_ps(v);
    let sign = set(-0.0);
    let zero = _mm256_setzero_ps();
    let abs = |v: __m256| _mm256_andnot_ps(sign, v);
    // `if mask { yes } else { no }` lane by lane.
    let select = |mask: __m256, yes: __m256, no: __m256| _mm256_blendv_ps(no, yes, mask);
    let c = super::consolidate::ATAN_POLY.map(set);
    let atan2 = |y: __m256, x: __m256| {
        let (ax, ay) = (abs(x), abs(y));
        let flat = _mm256_cmp_ps::<_CMP_GE_OQ>(ax, ay);
        let num = select(flat, ay, ax);
        let den = select(flat, ax, ay);
        let t = _mm256_div_ps(num, den);
        let s = _mm256_mul_ps(t, t);
        let mut r = _mm256_add_ps(_mm256_mul_ps(c[0], s), c[1]);
        r = _mm256_sub_ps(_mm256_mul_ps(r, s), c[2]);
        r = _mm256_add_ps(_mm256_mul_ps(r, s), c[3]);
        r = _mm256_sub_ps(_mm256_mul_ps(r, s), c[4]);
        r = _mm256_add_ps(_mm256_mul_ps(r, s), c[5]);
        r = _mm256_mul_ps(r, t);
        r = select(
            _mm256_cmp_ps::<_CMP_GT_OQ>(ay, ax),
            _mm256_sub_ps(set(PI / 2.0), r),
            r,
        );
        r = select(
            _mm256_cmp_ps::<_CMP_LT_OQ>(x, zero),
            _mm256_sub_ps(set(PI), r),
            r,
        );
        r = select(
            _mm256_cmp_ps::<_CMP_LT_OQ>(y, zero),
            _mm256_xor_ps(r, sign),
            r,
        );
        select(_mm256_cmp_ps::<_CMP_EQ_OQ>(den, zero), zero, r)
    };
    let angle_diff = |a: __m256, b: __m256| {
        let d = _mm256_sub_ps(a, b);
        let turns = _mm256_floor_ps(_mm256_div_ps(_mm256_add_ps(d, set(PI)), set(TAU)));
        let wrapped = _mm256_sub_ps(d, _mm256_mul_ps(set(TAU), turns));
        let inside = _mm256_and_ps(
            _mm256_cmp_ps::<_CMP_GE_OQ>(d, set(-PI)),
            _mm256_cmp_ps::<_CMP_LT_OQ>(d, set(PI)),
        );
        select(inside, d, wrapped)
    };
    let top = set(255.0);
    let index = |v: __m256, scale: f32| {
        let y = _mm256_add_ps(_mm256_mul_ps(v, set(scale)), set(0.5));
        let y = _mm256_min_ps(_mm256_max_ps(y, zero), top);
        let bits = _mm256_castps_si256(_mm256_add_ps(_mm256_floor_ps(y), set(8_388_608.0)));
        _mm256_and_si256(bits, _mm256_set1_epi32(255))
    };
    // `consolidate::compatibility` on four lanes held as `f64`.
    let floor = _mm256_set1_pd(super::consolidate::RHO_FLOOR);
    let zero_pd = _mm256_setzero_pd();
    let clamp = |p: __m256d| {
        let below = _mm256_cmp_pd::<_CMP_LT_OQ>(p, floor);
        _mm256_cvtpd_ps(_mm256_blendv_pd(_mm256_max_pd(p, floor), zero_pd, below))
    };
    let product = |d: __m128, a: __m128, r: __m128| {
        let first = clamp(_mm256_mul_pd(_mm256_cvtps_pd(d), _mm256_cvtps_pd(a)));
        clamp(_mm256_mul_pd(_mm256_cvtps_pd(first), _mm256_cvtps_pd(r)))
    };
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for t in 0..nr {
        let (Some(&atx), Some(&aty), Some(&btx), Some(&bty), Some(&rot_t)) =
            (ax.get(t), ay.get(t), bx.get(t), by.get(t), rot.get(t))
        else {
            break;
        };
        let [atx, aty, btx, bty, rot_t] = [atx, aty, btx, bty, rot_t].map(set);
        let mut j = (t + 1) / 8 * 8;
        while j < width {
            let (Some(ax), Some(ay), Some(bx), Some(by), Some(rot), Some(out)) = (
                ax.get(j..j + 8),
                ay.get(j..j + 8),
                bx.get(j..j + 8),
                by.get(j..j + 8),
                rot.get(j..j + 8),
                rho.get_mut(t * width + j..t * width + j + 8),
            ) else {
                break;
            };
            // SAFETY: each slice above is 8 values (32 bytes), the extent of every unaligned
            // load and store below; every gather reads a table of 256 samples at indices of
            // at most 255.
            unsafe {
                let load = |v: &[f32]| _mm256_loadu_ps(v.as_ptr());
                let vax = _mm256_sub_ps(load(ax), atx);
                let vay = _mm256_sub_ps(load(ay), aty);
                let vbx = _mm256_sub_ps(load(bx), btx);
                let vby = _mm256_sub_ps(load(by), bty);
                let la = _mm256_sqrt_ps(_mm256_add_ps(
                    _mm256_mul_ps(vax, vax),
                    _mm256_mul_ps(vay, vay),
                ));
                let lb = _mm256_sqrt_ps(_mm256_add_ps(
                    _mm256_mul_ps(vbx, vbx),
                    _mm256_mul_ps(vby, vby),
                ));
                let d1 = abs(_mm256_sub_ps(la, lb));
                let d2 = abs(angle_diff(rot_t, load(rot)));
                let turn = atan2(
                    _mm256_sub_ps(_mm256_mul_ps(vbx, vay), _mm256_mul_ps(vby, vax)),
                    _mm256_add_ps(_mm256_mul_ps(vbx, vax), _mm256_mul_ps(vby, vay)),
                );
                let d3 = abs(angle_diff(rot_t, turn));
                // The indices are at most 255, inside the 256 samples of each table.
                let sample = |d: __m256, k: usize| {
                    _mm256_i32gather_ps::<4>(tables.values[k].as_ptr(), index(d, tables.scales[k]))
                };
                let (d, a, r) = (sample(d1, 0), sample(d2, 1), sample(d3, 2));
                let half = |v: __m256, high: bool| {
                    if high {
                        _mm256_extractf128_ps::<1>(v)
                    } else {
                        _mm256_castps256_ps128(v)
                    }
                };
                let low = product(half(d, false), half(a, false), half(r, false));
                let high = product(half(d, true), half(a, true), half(r, true));
                let entries = _mm256_set_m128(high, low);
                // Lanes right of the diagonal: j + lane > t.
                let after = _mm256_cmpgt_epi32(
                    _mm256_add_epi32(lane, _mm256_set1_epi32(j as i32)),
                    _mm256_set1_epi32(t as i32),
                );
                let old = _mm256_loadu_ps(out.as_ptr());
                let new = _mm256_blendv_ps(old, entries, _mm256_castsi256_ps(after));
                _mm256_storeu_ps(out.as_mut_ptr(), new);
            }
            j += 8;
        }
    }
}

/// The candidate key of a pair (0 for no similarity).
#[inline(always)]
fn candidate_key(sim: f32, pair: u32) -> u64 {
    if sim > 0.0 {
        (u64::from(sim.to_bits()) << 32) | u64::from(!pair)
    } else {
        0
    }
}

/// [`similarities`] eight pairs at a time; returns how many pairs it did (a multiple of 8).
/// Conversion, square root, addition, division and subtraction are the correctly rounded
/// IEEE operations of [`similarity`], so the keys are the same as the scalar code's; they
/// come out in another order, which the selection does not depend on.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn similarities_avx2(counts: &[PairCounts], keys: &mut [u64]) -> usize {
    use std::arch::x86_64::*;
    let mut done = 0;
    for (c, k) in counts.chunks_exact(8).zip(keys.chunks_exact_mut(8)) {
        let (Ok(c), Ok(k)) = (
            <&[PairCounts; 8]>::try_from(c),
            <&mut [u64; 8]>::try_from(k),
        ) else {
            break;
        };
        // SAFETY: `c` is 8 records of 16 bytes (128 bytes) and `k` 8 words (64 bytes): every
        // unaligned load and store below stays inside them.
        unsafe {
            let p = c.as_ptr().cast::<__m256i>();
            // Two records per register: [r0 | r1], [r2 | r3], [r4 | r5], [r6 | r7].
            let r01 = _mm256_loadu_si256(p);
            let r23 = _mm256_loadu_si256(p.add(1));
            let r45 = _mm256_loadu_si256(p.add(2));
            let r67 = _mm256_loadu_si256(p.add(3));
            // 4×4 transpose within each 128-bit lane: lane 0 gets records 0, 2, 4, 6 and
            // lane 1 records 1, 3, 5, 7, in the same order in every column.
            let t0 = _mm256_unpacklo_epi32(r01, r23);
            let t1 = _mm256_unpackhi_epi32(r01, r23);
            let t2 = _mm256_unpacklo_epi32(r45, r67);
            let t3 = _mm256_unpackhi_epi32(r45, r67);
            let na = _mm256_unpacklo_epi64(t0, t2);
            let nb = _mm256_unpackhi_epi64(t0, t2);
            let nx = _mm256_unpacklo_epi64(t1, t3);
            let pair = _mm256_unpackhi_epi64(t1, t3);
            let denom = _mm256_add_ps(_mm256_cvtepi32_ps(na), _mm256_cvtepi32_ps(nb));
            let ratio = _mm256_div_ps(_mm256_cvtepi32_ps(nx), denom);
            let sim = _mm256_sub_ps(_mm256_set1_ps(1.0), ratio);
            let zero = _mm256_setzero_ps();
            // Keep a lane when denom ≠ 0 and sim > 0 (ordered comparisons: NaN fails both).
            let keep = _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_NEQ_OQ>(denom, zero),
                _mm256_cmp_ps::<_CMP_GT_OQ>(sim, zero),
            );
            let hi = _mm256_and_si256(_mm256_castps_si256(sim), _mm256_castps_si256(keep));
            let lo = _mm256_and_si256(
                _mm256_xor_si256(pair, _mm256_set1_epi32(-1)),
                _mm256_castps_si256(keep),
            );
            let out = k.as_mut_ptr().cast::<__m256i>();
            _mm256_storeu_si256(out, _mm256_unpacklo_epi32(lo, hi));
            _mm256_storeu_si256(out.add(1), _mm256_unpackhi_epi32(lo, hi));
        }
        done += 8;
    }
    done
}

#[cfg(test)]
mod tests {
    use super::{available, copy_band, fill_starts, take_band, window, Kernel};

    #[test]
    fn band_taken_unsorted_as_sorted() {
        let wide = available().contains(&Kernel::Avx512);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..300 {
            let (na, nb) = (1 + (next() % 40) as usize, 1 + (next() % 40) as usize);
            let len = (next() % 90) as usize;
            // Distinct pairs; similarities from a few values so that ties are common, and
            // some keys 0.
            let mut keys: Vec<u64> = Vec::new();
            while keys.len() < len {
                let (a, b) = ((next() % na as u64) as u32, (next() % nb as u64) as u32);
                let sim = [0.25f32, 0.5, 0.625, 0.75, 1.0][(next() % 5) as usize];
                let k = (u64::from(sim.to_bits()) << 32) | u64::from(!((a << 16) | b));
                let k = if next() % 13 == 0 { 0 } else { k };
                if k == 0 || !keys.contains(&k) {
                    keys.push(k);
                }
            }
            let limit = 1 + (next() % 20) as usize;
            // Some cylinders already used by an earlier band.
            let used_a: Vec<bool> = (0..na).map(|_| next() % 7 == 0).collect();
            let used_b: Vec<bool> = (0..nb).map(|_| next() % 7 == 0).collect();
            let mut sorted = keys.clone();
            sorted.sort_unstable_by(|p, q| q.cmp(p));
            let (mut wa, mut wb, mut want) = (used_a.clone(), used_b.clone(), Vec::new());
            for &k in &sorted {
                if want.len() >= limit || k == 0 {
                    break;
                }
                let (a, b, sim) = super::super::consolidate::unpack(k);
                if wa[a] || wb[b] {
                    continue;
                }
                wa[a] = true;
                wb[b] = true;
                want.push((a as u16, b as u16, sim));
            }
            let mut band = keys.clone();
            band.resize(len + 8, 0xdead);
            let (mut ga, mut gb, mut got) = (used_a.clone(), used_b.clone(), Vec::new());
            let taken = take_band(
                &mut band,
                len,
                (na, nb),
                (&mut ga, &mut gb),
                &mut got,
                limit,
                wide,
            );
            assert_eq!(taken, wide);
            if taken {
                assert_eq!(got, want, "round {round}");
                assert_eq!((ga, gb), (wa, wb), "round {round}");
            }
        }
    }

    #[test]
    fn vector_and_scalar_band_copies_agree() {
        // Keys as the similarity pass makes them: 0, or similarity bits over a pair tag.
        let mut keys = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for i in 0..203u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let sim = (x >> 40) as f32 / (1u64 << 24) as f32;
            keys.push(if i % 9 == 0 {
                0
            } else {
                (u64::from(sim.to_bits()) << 32) | u64::from(!i)
            });
        }
        keys.push((u64::from(1.0f32.to_bits()) << 32) | 0xffff_ffff);
        let kernels: Vec<(bool, bool)> = available()
            .into_iter()
            .map(|k| (k != Kernel::Portable, k == Kernel::Avx512))
            .collect();
        let bounds = [
            (0, u64::MAX),
            (0, 1),
            (u64::from(0.5f32.to_bits()) << 32, u64::MAX),
            (
                u64::from(0.25f32.to_bits()) << 32,
                u64::from(0.5f32.to_bits()) << 32,
            ),
            (keys[5], keys[5] + 1),
            (u64::MAX, u64::MAX),
        ];
        for (lo, hi) in bounds {
            for len in [0, 3, 4, 7, keys.len()] {
                let keys = &keys[..len];
                let want: Vec<u64> = keys
                    .iter()
                    .copied()
                    .filter(|&k| k >= lo && k < hi)
                    .collect();
                for &(v, w) in &kernels {
                    let mut band = vec![0; keys.len() + 8];
                    let n = copy_band(keys, lo, hi, &mut band, v, w);
                    assert_eq!(
                        band[..n],
                        want[..],
                        "lo {lo:#x} hi {hi:#x} len {len} vector {v} wide {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn window_finds_circular_runs() {
        let dirs = [0u8, 10, 60, 128, 200, 250, 255];
        let mut starts = [0; 257];
        fill_starts(&dirs, &mut starts);
        let members = |d: u8, t: u8| -> Vec<u8> {
            window(&starts, d, t)
                .into_iter()
                .flat_map(|r| dirs[r].to_vec())
                .collect()
        };
        assert_eq!(members(5, 10), vec![255, 0, 10]);
        assert_eq!(members(128, 10), vec![128]);
        assert_eq!(members(250, 10), vec![250, 255, 0]);
        assert_eq!(members(100, 128).len(), dirs.len());
        // Every member is within the turn, and every direction within the turn is a member.
        for d in 0..=255u8 {
            let got = members(d, 64);
            let want: Vec<u8> = dirs
                .iter()
                .copied()
                .filter(|&x| (d.wrapping_sub(x) as i8).unsigned_abs() <= 64)
                .collect();
            let mut g = got.clone();
            g.sort_unstable();
            let mut w = want.clone();
            w.sort_unstable();
            assert_eq!(g, w, "direction {d}");
        }
    }
}
