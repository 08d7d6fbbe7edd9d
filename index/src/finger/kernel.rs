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
                        &a.points, &b.points, tables, params, scratch, vector,
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
    consolidate::consolidate(&a.points, &b.points, tables, params, scratch, vector)
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

/// Words of a [`Block`] lane: the value layers, the mask, the three count planes (see
/// [`Expanded`]) and the cylinder's index in its template.
const BLOCK_WORDS: usize = ND + 5;

/// Eight cylinders of the second template, word `w` of lane `j` in `words[w][j]`, so that a
/// register holds one word of eight cylinders.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
pub struct Block {
    words: [[u64; 8]; BLOCK_WORDS],
}

/// The two templates of one comparison laid out for [`sweep_wide`]: the first one's
/// cylinders expanded, the second one's eight to a block, in template order.
#[derive(Debug)]
pub struct WideSides {
    first: Vec<Expanded>,
    blocks: Vec<Block>,
    starts: Starts,
}

impl Default for WideSides {
    fn default() -> Self {
        Self {
            first: Vec::new(),
            blocks: Vec::new(),
            starts: [0; 257],
        }
    }
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
    let sides = &mut scratch.wide;
    sides.first.clear();
    sides
        .first
        .extend(a.bits.chunks_exact(ND + 1).map(Expanded::new));
    let nb = b.bits.len() / (ND + 1);
    sides.blocks.clear();
    sides.blocks.resize(nb.div_ceil(8), Block::default());
    for (i, c) in b.bits.chunks_exact(ND + 1).enumerate() {
        let e = Expanded::new(c);
        let Some(block) = sides.blocks.get_mut(i / 8) else {
            break;
        };
        let lane = i % 8;
        let [v0, v1, v2, v3, v4, v5] = e.values;
        let [p0, p1, p2] = e.planes;
        let column = [v0, v1, v2, v3, v4, v5, e.mask, p0, p1, p2, i as u64];
        for (w, &x) in block.words.iter_mut().zip(&column) {
            w[lane] = x;
        }
    }
    let nb = nb.min(b.directions.len());
    fill_starts(&b.directions[..nb], &mut sides.starts);
    let keys = &mut scratch.candidates;
    keys.clear();
    // Every block stores eight keys (those kept first), so the buffer has room for every
    // pair plus one block.
    let cap = sides.first.len() * nb + 8;
    keys.reserve(cap);
    let out = keys.spare_capacity_mut();
    let out_len = out.len();
    let out = out.as_mut_ptr().cast::<u64>();
    let mut n = 0usize;
    let min_cells = _mm512_set1_epi64(i64::from(limits.min_cells));
    let one = _mm256_set1_ps(1.0);
    let zero = _mm256_setzero_ps();
    let turn = limits.max_turn;
    let load = |w: &[u64; 8]| {
        // SAFETY: `w` is 8 words (64 bytes), the extent of the unaligned load.
        unsafe { _mm512_loadu_si512(w.as_ptr().cast()) }
    };
    for (ia, (ca, &da)) in sides.first.iter().zip(&a.directions).enumerate() {
        let bcast = |x: u64| _mm512_set1_epi64(x as i64);
        let va = ca.values.map(bcast);
        let pa = ca.planes.map(bcast);
        let ma = bcast(ca.mask);
        let tag = bcast(0xffff_ffff ^ ((ia as u64) << 16));
        for r in window(&sides.starts, da, turn) {
            let (start, end) = (r.start, r.end.min(nb));
            let mut q = start / 8;
            while q * 8 < end {
                let base = q * 8;
                let Some(block) = sides.blocks.get(q) else {
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
                let lo = _mm512_xor_si512(tag, load(&w[ND + 4]));
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
/// at least `keys.len()` words), in order, and returns how many there are. `vector` may be
/// set only when AVX2 was detected at run time.
#[inline(always)]
pub(super) fn copy_band(keys: &[u64], lo: u64, hi: u64, band: &mut [u64], vector: bool) -> usize {
    let mut end = 0;
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    {
        if vector {
            // SAFETY: `vector` is set only by `compare_avx2`, which runs only after AVX2 was
            // detected at run time.
            (done, end) = unsafe { copy_band_avx2(keys, lo, hi, band) };
        }
    }
    let _ = vector;
    for &k in keys.iter().skip(done) {
        if let Some(slot) = band.get_mut(end) {
            *slot = k;
        }
        end += usize::from(k >= lo && k < hi);
    }
    end
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
    use super::{copy_band, detected, fill_starts, window, Kernel};

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
        let vector = detected() == Kernel::Avx2;
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
                for v in [false, vector] {
                    let mut band = vec![0; keys.len() + 1];
                    let n = copy_band(keys, lo, hi, &mut band, v);
                    assert_eq!(
                        band[..n],
                        want[..],
                        "lo {lo:#x} hi {hi:#x} len {len} vector {v}"
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
