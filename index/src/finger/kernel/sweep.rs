//! The portable sweeps over prepared sides, and the layouts the vector sweeps read.

use super::*;

/// The cylinders of one template for one comparison, split into those whose mask is the
/// union of all masks of both templates ("full") and the others, each part in order of
/// direction, with the cylinders' indices in the template.
#[derive(Debug, Default)]
pub struct Side {
    pub(super) parts: [Part; 2],
}

#[derive(Debug)]
pub(super) struct Part {
    pub(super) cylinders: Vec<Expanded>,
    pub(super) directions: Vec<u8>,
    pub(super) index: Vec<u32>,
    pub(super) starts: Starts,
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
    pub(super) fn fill(&mut self, t: &PreparedTemplate, union: u64, with_starts: bool) {
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
pub(super) fn sweep_sliced(
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
pub(super) const BLOCK_WORDS: usize = ND + 4;

/// Eight cylinders, word `w` of lane `j` in `words[w][j]`, so that a register holds one word
/// of eight cylinders.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C, align(64))]
pub struct Block {
    pub(super) words: [[u64; 8]; BLOCK_WORDS],
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
    pub(super) blocks: Vec<Block>,
    /// A [`Starts`] (257 entries), or empty.
    pub(super) starts: Vec<u16>,
    /// The convex hull of the template's minutiae, for the overlap of the pairing stage.
    pub(crate) hull: crate::finger::consolidate::Hull,
}

impl Layout {
    /// The layout of a prepared template's cylinders.
    pub fn of(t: &PreparedTemplate) -> Self {
        let mut layout = Self::default();
        layout.fill(t);
        layout
    }

    /// Makes this the layout of `t`, reusing the buffers.
    pub(super) fn fill(&mut self, t: &PreparedTemplate) {
        self.blocks.clear();
        self.starts.clear();
        self.hull.fill(&t.points, &mut Vec::new());
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
    pub(super) fn fits(&self, t: &PreparedTemplate) -> bool {
        let n = t.directions.len();
        t.stride == ND + 1
            && t.bits.len() == n * (ND + 1)
            && self.blocks.len() == n.div_ceil(8)
            && self.starts.get(256).is_some_and(|&e| usize::from(e) == n)
    }

    /// Bytes of the layout's payload.
    pub fn size_bytes(&self) -> usize {
        self.blocks.len() * std::mem::size_of::<Block>()
            + self.starts.len() * 2
            + self.hull.size_bytes()
    }
}

/// Layouts of the two templates of one comparison for [`sweep_wide`], used only when a
/// template comes without one.
#[derive(Debug, Default)]
pub struct WideSides {
    pub(super) first: Layout,
    pub(super) second: Layout,
}

/// Where [`sweep_sliced`] writes its pairs.
pub(super) struct Sink<'a> {
    pub(super) out: &'a mut [PairCounts],
    pub(super) n: usize,
    pub(super) min_cells: u32,
}

impl Sink<'_> {
    /// Counts cylinder `ca` against the cylinders `range` of `part` with `count`, which gives
    /// `(|a ∧ m|, |b ∧ m|, |(a ⊕ b) ∧ m|, |m|)`.
    #[inline(always)]
    pub(super) fn run(
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
pub(super) fn sweep_generic(
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
pub(super) fn similarities(counts: &[PairCounts], keys: &mut Vec<u64>, vector: bool) {
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
