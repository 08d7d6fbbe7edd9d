//! Bit-counting kernels: the only module of the iris matcher with `unsafe` code.
//!
//! Every kernel computes, over a run of rows laid out as `[code (w words) | mask (w words)]`
//! (the gallery record layout of [`super::record`]), the two counts of a masked Hamming
//! distance:
//!
//! * `valid = popcount(probe_mask & gallery_mask)`;
//! * `disagree = popcount((probe_code ^ gallery_code) & probe_mask & gallery_mask)`.
//!
//! Four implementations give bit-identical results:
//!
//! * [`KernelKind::Portable`]: `u64::count_ones` (the `popcnt` instruction where the build
//!   enables it, a bit-twiddling sequence otherwise);
//! * [`KernelKind::Popcnt`]: the same scalar code compiled with `popcnt`;
//! * [`KernelKind::Avx2`]: 256-bit logic with the nibble-table `vpshufb` byte popcount, byte
//!   counters summed with `vpsadbw`;
//! * [`KernelKind::Avx512`]: 256-bit logic with the AVX-512 `vpopcntq` instruction
//!   (VPOPCNTDQ + VL).
//!
//! A [`Kernel`] value of a SIMD kind can only be obtained after runtime detection has confirmed
//! the CPU supports it; that invariant is what makes the calls into `#[target_feature]`
//! functions sound. [`Kernel::best`] detects once and caches the choice.

use std::sync::OnceLock;

/// Counts of one masked comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BitCounts {
    /// Jointly valid bits whose code bits differ.
    pub disagree: u32,
    /// Jointly valid bits.
    pub valid: u32,
}

impl BitCounts {
    /// Sum of the counts of two disjoint runs of bits.
    pub fn plus(self, other: Self) -> Self {
        Self {
            disagree: self.disagree + other.disagree,
            valid: self.valid + other.valid,
        }
    }
}

/// Which implementation a [`Kernel`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelKind {
    /// Scalar `u64::count_ones`, compiled for the baseline target.
    Portable,
    /// The same scalar code compiled with the `popcnt` instruction.
    Popcnt,
    /// AVX2 nibble-table popcount.
    Avx2,
    /// AVX-512 VPOPCNTDQ.
    Avx512,
}

/// A bit-counting kernel supported by the running CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kernel {
    // Invariant: a kind other than Portable is stored only after runtime detection succeeded.
    kind: KernelKind,
}

static BEST: OnceLock<Kernel> = OnceLock::new();

impl Kernel {
    /// The portable kernel (always available).
    pub fn portable() -> Self {
        Self {
            kind: KernelKind::Portable,
        }
    }

    /// The AVX2 kernel, if this CPU has AVX2.
    pub fn avx2() -> Option<Self> {
        Self::detect(KernelKind::Avx2)
    }

    /// The AVX-512 VPOPCNTDQ kernel, if this CPU has AVX-512F, VL and VPOPCNTDQ.
    pub fn avx512() -> Option<Self> {
        Self::detect(KernelKind::Avx512)
    }

    /// The kernel of `kind`, if this CPU supports it.
    pub fn detect(kind: KernelKind) -> Option<Self> {
        let supported = match kind {
            KernelKind::Portable => true,
            #[cfg(target_arch = "x86_64")]
            KernelKind::Popcnt => std::arch::is_x86_feature_detected!("popcnt"),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        };
        supported.then_some(Self { kind })
    }

    /// The preferred kernel this CPU supports, detected once: AVX-512 VPOPCNTDQ, then AVX2,
    /// then scalar `popcnt`, then portable.
    pub fn best() -> Self {
        *BEST.get_or_init(|| {
            [KernelKind::Avx512, KernelKind::Avx2, KernelKind::Popcnt]
                .into_iter()
                .find_map(Self::detect)
                .unwrap_or_else(Self::portable)
        })
    }

    /// Every kernel this CPU supports, portable first.
    pub fn available() -> Vec<Self> {
        [
            KernelKind::Portable,
            KernelKind::Popcnt,
            KernelKind::Avx2,
            KernelKind::Avx512,
        ]
        .into_iter()
        .filter_map(Self::detect)
        .collect()
    }

    /// Which implementation this is.
    pub fn kind(&self) -> KernelKind {
        self.kind
    }

    /// Short name for reports.
    pub fn name(&self) -> &'static str {
        match self.kind {
            KernelKind::Portable => "portable",
            KernelKind::Popcnt => "popcnt",
            KernelKind::Avx2 => "avx2",
            KernelKind::Avx512 => "avx512-vpopcntdq",
        }
    }

    /// Counts over the rows of `probe` and `gallery`, both laid out as rows of
    /// `[code (words_per_row words) | mask (words_per_row words)]`. Only whole rows present in
    /// both slices are counted.
    #[inline]
    pub fn row_counts(self, probe: &[u64], gallery: &[u64], words_per_row: usize) -> BitCounts {
        let w = words_per_row;
        let rows = if w == 0 {
            0
        } else {
            probe.len().min(gallery.len()) / (2 * w)
        };
        match self.kind {
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2 if w.is_multiple_of(4) => {
                // SAFETY: AVX2 was detected (Kernel invariant); w is a positive multiple of 4
                // (rows is 0 otherwise) and both slices hold at least rows × 2w words.
                unsafe { x86::counts_avx2(probe.as_ptr(), gallery.as_ptr(), rows, w) }
            }
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 if w.is_multiple_of(4) => {
                // SAFETY: AVX-512F/VL/VPOPCNTDQ were detected (Kernel invariant); shape as above.
                unsafe { x86::counts_avx512(probe.as_ptr(), gallery.as_ptr(), rows, w) }
            }
            #[cfg(target_arch = "x86_64")]
            KernelKind::Popcnt => {
                // SAFETY: popcnt was detected (Kernel invariant); the function is safe otherwise.
                unsafe { x86::row_counts_popcnt(probe, gallery, w) }
            }
            _ => counts_scalar(probe, gallery, w),
        }
    }

    /// Counts of `gallery` (a run of whole rows, as in [`Kernel::row_counts`]) against several
    /// shifted probes: probe `i` is `probe[i × stride .. i × stride + gallery.len()]`. Writes
    /// one result per element of `out`; entries whose probe would run past `probe` are zero.
    #[inline]
    pub fn rotation_counts(
        self,
        probe: &[u64],
        stride: usize,
        gallery: &[u64],
        words_per_row: usize,
        out: &mut [BitCounts],
    ) {
        let w = words_per_row;
        let len = gallery.len();
        let simd_shape = w > 0
            && w.is_multiple_of(4)
            && len.is_multiple_of(2 * w)
            && out
                .len()
                .checked_sub(1)
                .and_then(|last| last.checked_mul(stride))
                .and_then(|start| start.checked_add(len))
                .is_some_and(|end| end <= probe.len());
        match self.kind {
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2 if simd_shape => {
                // SAFETY: AVX2 was detected (Kernel invariant); every probe window
                // `i × stride .. i × stride + len` lies inside `probe` (checked above), the
                // gallery holds len = rows × 2w words, and w is a positive multiple of 4.
                unsafe {
                    x86::rotations_avx2(
                        probe.as_ptr(),
                        stride,
                        gallery.as_ptr(),
                        len / (2 * w),
                        w,
                        out,
                    )
                }
            }
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 if simd_shape => {
                // SAFETY: AVX-512F/VL/VPOPCNTDQ were detected (Kernel invariant); shape checked
                // above as for AVX2.
                unsafe {
                    x86::rotations_avx512(
                        probe.as_ptr(),
                        stride,
                        gallery.as_ptr(),
                        len / (2 * w),
                        w,
                        out,
                    )
                }
            }
            _ => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = probe
                        .get(i * stride..i * stride + len)
                        .map(|p| self.row_counts(p, gallery, w))
                        .unwrap_or_default();
                }
            }
        }
    }

    /// Adds to `counts[r]`, for every rotation `r` listed in `selected`, the counts of
    /// `gallery` (a run of whole rows) against `probe[r × stride ..][..gallery.len()]`.
    /// Rotations whose window would run past `probe` or past `counts` are left unchanged.
    #[inline]
    pub fn add_selected_rotations(
        self,
        probe: &[u64],
        stride: usize,
        gallery: &[u64],
        words_per_row: usize,
        selected: &[u8],
        counts: &mut [BitCounts],
    ) {
        let w = words_per_row;
        let len = gallery.len();
        let slots = counts.len();
        let in_bounds = |r: u8| {
            let r = usize::from(r);
            r < slots
                && r.checked_mul(stride)
                    .and_then(|s| s.checked_add(len))
                    .is_some_and(|end| end <= probe.len())
        };
        let simd_shape = w > 0
            && w.is_multiple_of(4)
            && len.is_multiple_of(2 * w)
            && selected.iter().all(|&r| in_bounds(r));
        match self.kind {
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2 if simd_shape => {
                // SAFETY: AVX2 was detected (Kernel invariant); every selected window lies in
                // `probe` and every selected index in `counts` (checked above); the gallery
                // holds len = rows × 2w words and w is a positive multiple of 4.
                unsafe {
                    x86::add_selected_avx2(
                        probe.as_ptr(),
                        stride,
                        gallery.as_ptr(),
                        len / (2 * w),
                        w,
                        selected,
                        counts,
                    )
                }
            }
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 if simd_shape => {
                // SAFETY: AVX-512F/VL/VPOPCNTDQ were detected (Kernel invariant); shape
                // checked above as for AVX2.
                unsafe {
                    x86::add_selected_avx512(
                        probe.as_ptr(),
                        stride,
                        gallery.as_ptr(),
                        len / (2 * w),
                        w,
                        selected,
                        counts,
                    )
                }
            }
            _ => {
                for &r in selected {
                    if !in_bounds(r) {
                        continue;
                    }
                    let r = usize::from(r);
                    let start = r * stride;
                    if let (Some(p), Some(c)) = (probe.get(start..start + len), counts.get_mut(r)) {
                        *c = c.plus(self.row_counts(p, gallery, w));
                    }
                }
            }
        }
    }
}

/// Largest number of rotations [`Kernel::cascade_rotations`] handles (one bit of a `u64` each).
pub const MAX_GATE_ROTATIONS: usize = 64;

/// The shape of one [`Kernel::cascade_rotations`] call: where the shifted probes and the
/// gallery records are, and which rows are counted.
#[derive(Debug, Clone, Copy)]
pub struct GateShape {
    /// Rotations: probe `r` is `probe[r × probe_stride ..]` (at most [`MAX_GATE_ROTATIONS`]).
    pub rotations: usize,
    /// Words between two shifted probes.
    pub probe_stride: usize,
    /// Words between two gallery records.
    pub record_stride: usize,
    /// Rows counted at every rotation before the first test.
    pub rows: usize,
    /// Rows of a whole record (at least `rows`).
    pub total_rows: usize,
    /// Words per row (each row is `[code (w words) | mask (w words)]`).
    pub words_per_row: usize,
}

impl GateShape {
    /// True when every probe window and the first `records` gallery windows of `total_rows`
    /// rows lie inside slices of `probe_len` and `gallery_len` words, `rows` is between 1 and
    /// `total_rows`, and the rotations fit a `u64` mask.
    fn fits(&self, probe_len: usize, gallery_len: usize, records: usize) -> bool {
        let run = self.total_rows * 2 * self.words_per_row;
        let end = |count: usize, stride: usize| {
            count
                .checked_sub(1)
                .and_then(|last| last.checked_mul(stride))
                .and_then(|start| start.checked_add(run))
        };
        self.rotations <= MAX_GATE_ROTATIONS
            && self.rows >= 1
            && self.rows <= self.total_rows
            && (self.rotations == 0
                || end(self.rotations, self.probe_stride).is_some_and(|e| e <= probe_len))
            && (records == 0 || end(records, self.record_stride).is_some_and(|e| e <= gallery_len))
    }
}

/// The tests of a cascaded scan (see [`Kernel::cascade_rotations`]).
#[derive(Debug, Clone, Copy)]
pub struct CascadeTables<'a> {
    /// Gate tables: `gates[k]` is applied after `rows + k × step_rows` rows, while that is
    /// below `total_rows`. A missing table fails every rotation.
    pub gates: &'a [Vec<u32>],
    /// The final table, applied once all rows are counted.
    pub pass: &'a [u32],
    /// Rows added between two tests.
    pub step_rows: usize,
}

impl CascadeTables<'_> {
    /// The table applied after `done` rows (`test` tests so far).
    #[inline]
    fn at(&self, done: usize, total: usize, test: usize) -> &[u32] {
        if done < total {
            self.gates.get(test).map(Vec::as_slice).unwrap_or_default()
        } else {
            self.pass
        }
    }
}

/// Work done by [`Kernel::cascade_rotations`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GateWork {
    /// (rotation, row) pairs counted.
    pub row_comparisons: u64,
    /// Records with a rotation left after the first test.
    pub first_survivors: u64,
}

impl Kernel {
    /// The cascaded rotation test of a 1:N scan over a block of records.
    ///
    /// For every gallery record `i < out.len()` (starting at `gallery[i × record_stride]`):
    /// every rotation `r` is counted over the first `shape.rows` rows against probe `r` and
    /// kept when it passes the first table (`disagree < table[valid]`, a `valid` past the end
    /// of the table fails); the table is `tables.gates[0]`, or `tables.pass` when those rows
    /// are all the rows. While rows remain and a rotation is kept, the kept rotations are
    /// extended by `step_rows` rows and tested again with the next gate (or with
    /// `tables.pass` once every row is counted). `out[i]` gets the mask (bit `r`) of the
    /// rotations that passed every test including the final one, or 0.
    ///
    /// Every kernel gives the same masks. When the slices are too short for the shape, or
    /// there are more than [`MAX_GATE_ROTATIONS`] rotations, every mask is 0.
    #[inline]
    pub fn cascade_rotations(
        self,
        probe: &[u64],
        gallery: &[u64],
        shape: GateShape,
        tables: CascadeTables<'_>,
        out: &mut [u64],
    ) -> GateWork {
        if !shape.fits(probe.len(), gallery.len(), out.len()) {
            out.iter_mut().for_each(|m| *m = 0);
            return GateWork::default();
        }
        match self.kind {
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 if shape.words_per_row == 4 && shape.total_rows <= 8 => {
                // SAFETY: AVX-512F/VL/VPOPCNTDQ were detected (Kernel invariant); `fits`
                // checked the windows as for AVX2 below.
                unsafe {
                    x86::cascade_w4_avx512(probe.as_ptr(), gallery.as_ptr(), shape, tables, out)
                }
            }
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2 if shape.words_per_row == 4 && shape.total_rows <= 8 => {
                // SAFETY: AVX2 was detected (Kernel invariant; the AVX-512 kind implies AVX2);
                // `fits` checked that every probe window and every record window of
                // `shape.total_rows` (at most 8) rows of 8 words lies inside its slice, and
                // 1 <= rows <= total_rows.
                unsafe {
                    x86::cascade_w4_avx2(probe.as_ptr(), gallery.as_ptr(), shape, tables, out)
                }
            }
            _ => cascade_generic(self, probe, gallery, shape, tables, out),
        }
    }
}

/// [`Kernel::cascade_rotations`] through [`Kernel::row_counts`], for any shape.
fn cascade_generic(
    kernel: Kernel,
    probe: &[u64],
    gallery: &[u64],
    shape: GateShape,
    tables: CascadeTables<'_>,
    out: &mut [u64],
) -> GateWork {
    let w = shape.words_per_row;
    let row_words = 2 * w;
    let total = shape.total_rows;
    let step = tables.step_rows.max(1);
    let mut work = GateWork::default();
    let mut counts = [BitCounts::default(); MAX_GATE_ROTATIONS];
    for (i, mask) in out.iter_mut().enumerate() {
        let base = i * shape.record_stride;
        let rows_of = |from: usize, to: usize| {
            gallery
                .get(base + from * row_words..base + to * row_words)
                .unwrap_or_default()
        };
        let probe_rows = |r: usize, from: usize, to: usize| {
            let b = r * shape.probe_stride;
            probe
                .get(b + from * row_words..b + to * row_words)
                .unwrap_or_default()
        };
        let mut done = shape.rows;
        let mut test = 0;
        let table = tables.at(done, total, test);
        let mut m = 0u64;
        for (r, c) in counts.iter_mut().enumerate().take(shape.rotations) {
            *c = kernel.row_counts(probe_rows(r, 0, done), rows_of(0, done), w);
            m |= u64::from(passes(table, *c)) << r;
        }
        work.row_comparisons += (shape.rotations * done) as u64;
        work.first_survivors += u64::from(m != 0);
        while done < total && m != 0 {
            let next = (done + step).min(total);
            test += 1;
            let table = tables.at(next, total, test);
            let mut kept = 0u64;
            for (r, c) in counts.iter_mut().enumerate().take(shape.rotations) {
                if m >> r & 1 == 1 {
                    *c = c.plus(kernel.row_counts(
                        probe_rows(r, done, next),
                        rows_of(done, next),
                        w,
                    ));
                    kept |= u64::from(passes(table, *c)) << r;
                }
            }
            work.row_comparisons += u64::from(m.count_ones()) * (next - done) as u64;
            m = kept;
            done = next;
        }
        *mask = if done >= total { m } else { 0 };
    }
    work
}

/// `disagree < limit[valid]`, false past the end of `limit`.
#[inline(always)]
fn passes(limit: &[u32], c: BitCounts) -> bool {
    limit.get(c.valid as usize).is_some_and(|&l| c.disagree < l)
}

/// Scalar counts with `u64::count_ones`, word by word over whole rows present in both slices.
#[inline(always)]
fn counts_scalar(probe: &[u64], gallery: &[u64], w: usize) -> BitCounts {
    let mut disagree = 0u32;
    let mut valid = 0u32;
    if w == 0 {
        return BitCounts::default();
    }
    for (p, g) in probe.chunks_exact(2 * w).zip(gallery.chunks_exact(2 * w)) {
        let (pc, pm) = p.split_at(w);
        let (gc, gm) = g.split_at(w);
        for (((pc, gc), pm), gm) in pc.iter().zip(gc).zip(pm).zip(gm) {
            let m = pm & gm;
            valid += m.count_ones();
            disagree += ((pc ^ gc) & m).count_ones();
        }
    }
    BitCounts { disagree, valid }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{counts_scalar, BitCounts, CascadeTables, GateShape, GateWork};
    use std::arch::x86_64::*;

    /// The scalar kernel compiled with the `popcnt` instruction.
    #[target_feature(enable = "popcnt")]
    pub(super) fn row_counts_popcnt(p: &[u64], g: &[u64], w: usize) -> BitCounts {
        counts_scalar(p, g, w)
    }

    /// Sums the u64 lanes of the disagree and valid accumulators.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn finish(disagree: __m256i, valid: __m256i) -> BitCounts {
        let v = _mm256_add_epi64(disagree, _mm256_slli_epi64::<32>(valid));
        let s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
        let x = _mm_cvtsi128_si64(s) as u64;
        BitCounts {
            disagree: x as u32,
            valid: (x >> 32) as u32,
        }
    }

    /// Byte-wise popcount with the nibble lookup table.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn popcnt_bytes(v: __m256i) -> __m256i {
        let lut = _mm256_setr_epi8(
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2,
            3, 3, 4,
        );
        let low = _mm256_set1_epi8(0x0f);
        let lo = _mm256_and_si256(v, low);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low);
        _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi))
    }

    /// AVX2 counts over `rows` rows of `[code (w words) | mask (w words)]`.
    ///
    /// # Safety
    /// AVX2 must be available, `w` a positive multiple of 4, and `p` and `g` valid for reads of
    /// `rows × 2 × w` words each.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn counts_avx2(
        p: *const u64,
        g: *const u64,
        rows: usize,
        w: usize,
    ) -> BitCounts {
        let zero = _mm256_setzero_si256();
        let (mut bytes_d, mut bytes_m) = (zero, zero);
        let (mut tot_d, mut tot_m) = (zero, zero);
        let mut pending = 0u32;
        let mut base = 0;
        for _ in 0..rows {
            let mut j = 0;
            while j < w {
                // SAFETY: `base + j + 4 <= base + w` and `base + w + j + 4 <= base + 2w`, and
                // `base + 2w <= rows × 2w`, so all four 32-byte loads are inside the buffers the
                // caller vouched for; the loads are unaligned.
                let (pc, gc, pm, gm) = unsafe {
                    (
                        _mm256_loadu_si256(p.add(base + j).cast()),
                        _mm256_loadu_si256(g.add(base + j).cast()),
                        _mm256_loadu_si256(p.add(base + w + j).cast()),
                        _mm256_loadu_si256(g.add(base + w + j).cast()),
                    )
                };
                let m = _mm256_and_si256(pm, gm);
                let d = _mm256_and_si256(_mm256_xor_si256(pc, gc), m);
                bytes_d = _mm256_add_epi8(bytes_d, popcnt_bytes(d));
                bytes_m = _mm256_add_epi8(bytes_m, popcnt_bytes(m));
                pending += 1;
                // A byte counter gains at most 8 per step: flush before it can reach 256.
                if pending == 31 {
                    tot_d = _mm256_add_epi64(tot_d, _mm256_sad_epu8(bytes_d, zero));
                    tot_m = _mm256_add_epi64(tot_m, _mm256_sad_epu8(bytes_m, zero));
                    bytes_d = zero;
                    bytes_m = zero;
                    pending = 0;
                }
                j += 4;
            }
            base += 2 * w;
        }
        tot_d = _mm256_add_epi64(tot_d, _mm256_sad_epu8(bytes_d, zero));
        tot_m = _mm256_add_epi64(tot_m, _mm256_sad_epu8(bytes_m, zero));
        finish(tot_d, tot_m)
    }

    /// AVX2 counts of one gallery run against `out.len()` shifted probes.
    ///
    /// # Safety
    /// AVX2 must be available, `w` a positive multiple of 4, `gallery` valid for `rows × 2w`
    /// reads and `probe` valid for `(out.len() − 1) × stride + rows × 2w` reads.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn rotations_avx2(
        probe: *const u64,
        stride: usize,
        gallery: *const u64,
        rows: usize,
        w: usize,
        out: &mut [BitCounts],
    ) {
        for (i, o) in out.iter_mut().enumerate() {
            // SAFETY: window i starts at i × stride and spans rows × 2w words, inside the probe
            // buffer by the caller's guarantee; the gallery run is valid likewise.
            *o = unsafe { counts_avx2(probe.add(i * stride), gallery, rows, w) };
        }
    }

    /// AVX2: adds the counts of the selected rotations.
    ///
    /// # Safety
    /// AVX2 must be available, `w` a positive multiple of 4, `gallery` valid for `rows × 2w`
    /// reads, and for every `r` in `selected`: `r < counts.len()` and `probe + r × stride`
    /// valid for `rows × 2w` reads.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn add_selected_avx2(
        probe: *const u64,
        stride: usize,
        gallery: *const u64,
        rows: usize,
        w: usize,
        selected: &[u8],
        counts: &mut [BitCounts],
    ) {
        for &r in selected {
            let r = usize::from(r);
            // SAFETY: the caller guarantees the window of every selected rotation is readable.
            let c = unsafe { counts_avx2(probe.add(r * stride), gallery, rows, w) };
            if let Some(slot) = counts.get_mut(r) {
                *slot = slot.plus(c);
            }
        }
    }

    /// Counts of one shifted probe against the `P` gallery rows held in `gc` / `gm`,
    /// returned as four `u64` lanes each holding `valid << 32 | disagree` of a quarter of the
    /// bits.
    ///
    /// # Safety
    /// AVX2 must be available and `p` valid for reads of `P × 8` words.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn rotation_w4<const P: usize>(
        p: *const u64,
        gc: &[__m256i; P],
        gm: &[__m256i; P],
    ) -> __m256i {
        let zero = _mm256_setzero_si256();
        let (mut bd, mut bm) = (zero, zero);
        for k in 0..P {
            // SAFETY: row k of the probe window is words 8k .. 8k + 8, inside the P × 8 words
            // the caller vouched for.
            let (pc, pm) = unsafe {
                (
                    _mm256_loadu_si256(p.add(8 * k).cast()),
                    _mm256_loadu_si256(p.add(8 * k + 4).cast()),
                )
            };
            let m = _mm256_and_si256(pm, gm[k]);
            let d = _mm256_and_si256(_mm256_xor_si256(pc, gc[k]), m);
            // A byte counter gains at most 8 per row: 8 rows stay below 256.
            bd = _mm256_add_epi8(bd, popcnt_bytes(d));
            bm = _mm256_add_epi8(bm, popcnt_bytes(m));
        }
        let d = _mm256_sad_epu8(bd, zero);
        let m = _mm256_sad_epu8(bm, zero);
        _mm256_add_epi64(d, _mm256_slli_epi64::<32>(m))
    }

    /// Sums the four lanes of each of `a`, `b`, `c`, `d` into one vector `[Σa, Σb, Σc, Σd]`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn reduce4(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> __m256i {
        let ab = _mm256_add_epi64(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
        let cd = _mm256_add_epi64(_mm256_unpacklo_epi64(c, d), _mm256_unpackhi_epi64(c, d));
        _mm256_add_epi64(
            _mm256_permute2x128_si256::<0x20>(ab, cd),
            _mm256_permute2x128_si256::<0x31>(ab, cd),
        )
    }

    /// The sum of the four lanes of `a`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn reduce1(a: __m256i) -> u64 {
        let s = _mm_add_epi64(_mm256_castsi256_si128(a), _mm256_extracti128_si256::<1>(a));
        let s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
        _mm_cvtsi128_si64(s) as u64
    }

    /// Counts of one shifted probe against gallery rows `from .. to` read from memory, as
    /// [`rotation_w4`] returns them.
    ///
    /// # Safety
    /// AVX2 must be available and `p` and `g` valid for reads of `to × 8` words.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn rows_w4(p: *const u64, g: *const u64, from: usize, to: usize) -> __m256i {
        let zero = _mm256_setzero_si256();
        let (mut bd, mut bm) = (zero, zero);
        for k in from..to {
            // SAFETY: row k < to is words 8k .. 8k + 8 of both windows.
            let (pc, pm, gc, gm) = unsafe {
                (
                    _mm256_loadu_si256(p.add(8 * k).cast()),
                    _mm256_loadu_si256(p.add(8 * k + 4).cast()),
                    _mm256_loadu_si256(g.add(8 * k).cast()),
                    _mm256_loadu_si256(g.add(8 * k + 4).cast()),
                )
            };
            let m = _mm256_and_si256(pm, gm);
            let d = _mm256_and_si256(_mm256_xor_si256(pc, gc), m);
            // At most 8 rows are added (a record has at most 8 here): below 256 per byte.
            bd = _mm256_add_epi8(bd, popcnt_bytes(d));
            bm = _mm256_add_epi8(bm, popcnt_bytes(m));
        }
        let d = _mm256_sad_epu8(bd, zero);
        let m = _mm256_sad_epu8(bm, zero);
        _mm256_add_epi64(d, _mm256_slli_epi64::<32>(m))
    }

    /// Keeps the rotations of `mask` whose packed counts pass `table`.
    #[inline(always)]
    fn filter(mask: u64, packed: &[u64; super::MAX_GATE_ROTATIONS], table: &[u32]) -> u64 {
        let mut m = mask;
        let mut kept = 0u64;
        while m != 0 {
            let r = m.trailing_zeros() as usize;
            m &= m - 1;
            let v = packed.get(r).copied().unwrap_or_default();
            let c = BitCounts {
                disagree: v as u32,
                valid: (v >> 32) as u32,
            };
            kept |= u64::from(super::passes(table, c)) << r;
        }
        kept
    }

    /// Calls `$f::<P>(args)` with `P` the first-test row count `$rows` (1 to 8; larger
    /// counts take 8).
    macro_rules! by_rows {
        ($f:ident, $rows:expr, $($arg:expr),*) => {
            match $rows {
                1 => $f::<1>($($arg),*),
                2 => $f::<2>($($arg),*),
                3 => $f::<3>($($arg),*),
                4 => $f::<4>($($arg),*),
                5 => $f::<5>($($arg),*),
                6 => $f::<6>($($arg),*),
                7 => $f::<7>($($arg),*),
                _ => $f::<8>($($arg),*),
            }
        };
    }

    /// AVX2 cascade for rows of 4 + 4 words, dispatched on the first-test row count.
    ///
    /// # Safety
    /// AVX2 must be available; `shape.words_per_row` must be 4, `shape.rows` at least 1 and
    /// at most `shape.total_rows`, which is at most 8, `shape.rotations` at most 64, every probe window
    /// `r × probe_stride .. + total_rows × 8` (`r < rotations`) inside the buffer at
    /// `probe`, and every record window `i × record_stride .. + total_rows × 8`
    /// (`i < out.len()`) inside the buffer at `gallery`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn cascade_w4_avx2(
        probe: *const u64,
        gallery: *const u64,
        shape: GateShape,
        tables: CascadeTables<'_>,
        out: &mut [u64],
    ) -> GateWork {
        // SAFETY: the caller's guarantees hold for every arm with P = shape.rows (1 to 8, since
        // rows <= total_rows <= 8).
        unsafe { by_rows!(cascade_w4, shape.rows, probe, gallery, shape, tables, out) }
    }

    /// [`cascade_w4_avx2`] for a first test after `P` rows.
    ///
    /// # Safety
    /// As [`cascade_w4_avx2`], with `P == shape.rows`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn cascade_w4<const P: usize>(
        probe: *const u64,
        gallery: *const u64,
        shape: GateShape,
        tables: CascadeTables<'_>,
        out: &mut [u64],
    ) -> GateWork {
        let steps = CascadeSteps {
            load: |g: *const u64| {
                let zero = _mm256_setzero_si256();
                let (mut gc, mut gm) = ([zero; P], [zero; P]);
                for k in 0..P {
                    // SAFETY: row k is words 8k .. 8k + 8 of the record window (`cascade`).
                    unsafe {
                        gc[k] = _mm256_loadu_si256(g.add(8 * k).cast());
                        gm[k] = _mm256_loadu_si256(g.add(8 * k + 4).cast());
                    }
                }
                (gc, gm)
            },
            first4: |p: [*const u64; 4], (gc, gm): &([__m256i; P], [__m256i; P])| {
                // SAFETY: the four probe windows of P rows are readable (`cascade`).
                let v = unsafe {
                    reduce4(
                        rotation_w4::<P>(p[0], gc, gm),
                        rotation_w4::<P>(p[1], gc, gm),
                        rotation_w4::<P>(p[2], gc, gm),
                        rotation_w4::<P>(p[3], gc, gm),
                    )
                };
                let mut out = [0u64; 4];
                // SAFETY: a 32-byte store into a 4 × u64 array.
                unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), v) };
                out
            },
            first1: |p: *const u64, (gc, gm): &([__m256i; P], [__m256i; P])| {
                // SAFETY: the probe window of P rows is readable (`cascade`).
                reduce1(unsafe { rotation_w4::<P>(p, gc, gm) })
            },
            extend4: |p: [*const u64; 4], g: *const u64, from: usize, to: usize| {
                // SAFETY: rows from .. to of the four probe windows and of the record window
                // are readable (`cascade`).
                let v = unsafe {
                    reduce4(
                        rows_w4(p[0], g, from, to),
                        rows_w4(p[1], g, from, to),
                        rows_w4(p[2], g, from, to),
                        rows_w4(p[3], g, from, to),
                    )
                };
                let mut out = [0u64; 4];
                // SAFETY: a 32-byte store into a 4 × u64 array.
                unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), v) };
                out
            },
            extend1: |p: *const u64, g: *const u64, from: usize, to: usize| {
                // SAFETY: as for `extend4`.
                reduce1(unsafe { rows_w4(p, g, from, to) })
            },
        };
        // SAFETY: the caller's guarantees are `cascade`'s, with P == shape.rows.
        unsafe { cascade::<P, _>(probe, gallery, shape, tables, out, steps) }
    }

    /// The vector steps of a w4 cascade kernel (see [`cascade`]); every count is packed as
    /// `valid << 32 | disagree`.
    struct CascadeSteps<L, F4, F1, E4, E1> {
        /// Loads what the first test needs of a record (its first `P` rows).
        load: L,
        /// Counts of the first `P` rows for four shifted probes.
        first4: F4,
        /// The same for one shifted probe.
        first1: F1,
        /// Counts of rows `from .. to` for four shifted probes against a record.
        extend4: E4,
        /// The same for one shifted probe.
        extend1: E1,
    }

    /// The cascade of [`super::Kernel::cascade_rotations`] for rows of 4 + 4 words, with the
    /// counting done by `steps`. Inlined into each kernel's `#[target_feature]` function, so the
    /// steps (closures defined there) compile with that kernel's instructions.
    ///
    /// # Safety
    /// `shape.rows` must equal `P` and be at least 1 and at most `shape.total_rows`, which is
    /// at most 8; `shape.rotations` at most 64; every probe window
    /// `r × probe_stride .. + total_rows × 8` (`r < rotations`) inside the buffer at
    /// `probe`, and every record window `i × record_stride .. + total_rows × 8`
    /// (`i < out.len()`) inside the buffer at `gallery`. The steps read only inside the
    /// windows they are given.
    #[inline(always)]
    unsafe fn cascade<const P: usize, R>(
        probe: *const u64,
        gallery: *const u64,
        shape: GateShape,
        tables: CascadeTables<'_>,
        out: &mut [u64],
        steps: CascadeSteps<
            impl Fn(*const u64) -> R,
            impl Fn([*const u64; 4], &R) -> [u64; 4],
            impl Fn(*const u64, &R) -> u64,
            impl Fn([*const u64; 4], *const u64, usize, usize) -> [u64; 4],
            impl Fn(*const u64, *const u64, usize, usize) -> u64,
        >,
    ) -> GateWork {
        let rotations = shape.rotations.min(super::MAX_GATE_ROTATIONS);
        let total = shape.total_rows;
        let step = tables.step_rows.max(1);
        let stride = shape.probe_stride;
        let first = tables.at(P, total, 0);
        let mut packed = [0u64; super::MAX_GATE_ROTATIONS];
        let mut work = GateWork::default();
        let at = |r: usize| {
            // SAFETY: probe window r < rotations starts at r × stride, inside the buffer.
            unsafe { probe.add(r * stride) }
        };
        for (i, mask) in out.iter_mut().enumerate() {
            // SAFETY: record window i < out.len() starts at i × record_stride, inside the
            // buffer.
            let g = unsafe { gallery.add(i * shape.record_stride) };
            let rows = (steps.load)(g);
            let mut r = 0;
            while r + 4 <= rotations {
                let v = (steps.first4)([at(r), at(r + 1), at(r + 2), at(r + 3)], &rows);
                packed[r..r + 4].copy_from_slice(&v);
                r += 4;
            }
            while r < rotations {
                packed[r] = (steps.first1)(at(r), &rows);
                r += 1;
            }
            let all = if rotations == 64 {
                u64::MAX
            } else {
                (1u64 << rotations) - 1
            };
            let mut m = filter(all, &packed, first);
            work.row_comparisons += (rotations * P) as u64;
            work.first_survivors += u64::from(m != 0);
            let mut done = P;
            let mut test = 0;
            while done < total && m != 0 {
                let next = (done + step).min(total);
                test += 1;
                work.row_comparisons += u64::from(m.count_ones()) * (next - done) as u64;
                // Extend the kept rotations four at a time, then one by one.
                let mut rest = m;
                while rest.count_ones() >= 4 {
                    let mut four = [0usize; 4];
                    for a in four.iter_mut() {
                        *a = rest.trailing_zeros() as usize;
                        rest &= rest - 1;
                    }
                    let add = (steps.extend4)(four.map(at), g, done, next);
                    for (a, x) in four.iter().zip(add) {
                        if let Some(p) = packed.get_mut(*a) {
                            *p += x;
                        }
                    }
                }
                while rest != 0 {
                    let a = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    let x = (steps.extend1)(at(a), g, done, next);
                    if let Some(p) = packed.get_mut(a) {
                        *p += x;
                    }
                }
                m = filter(m, &packed, tables.at(next, total, test));
                done = next;
            }
            *mask = if done >= total { m } else { 0 };
        }
        work
    }

    /// AVX-512 cascade for rows of 4 + 4 words (one 512-bit vector per row, code then mask),
    /// dispatched on the first-test row count.
    ///
    /// # Safety
    /// As [`cascade_w4_avx2`], with AVX-512F, VL and VPOPCNTDQ available.
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vpopcntdq")]
    pub(super) unsafe fn cascade_w4_avx512(
        probe: *const u64,
        gallery: *const u64,
        shape: GateShape,
        tables: CascadeTables<'_>,
        out: &mut [u64],
    ) -> GateWork {
        // SAFETY: as in `cascade_w4_avx2`.
        unsafe { by_rows!(cascade_z, shape.rows, probe, gallery, shape, tables, out) }
    }

    /// Counts of one row pair: `p` and `g` each hold `[code (4 words) | mask (4 words)]`.
    /// Lanes 0–3 of the result count the disagreeing jointly valid bits of each word, lanes
    /// 4–7 the jointly valid bits.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    fn row_z(p: __m512i, g: __m512i) -> __m512i {
        let both = _mm512_and_si512(p, g);
        // Masks moved under the codes: lanes 0–3 of `masks` are the joint mask words.
        let masks = _mm512_shuffle_i64x2::<0b01_00_11_10>(both, both);
        let differ = _mm512_xor_si512(p, g);
        _mm512_popcnt_epi64(_mm512_mask_and_epi64(both, 0x0f, differ, masks))
    }

    /// Counts of one shifted probe (`P` rows at `p`) against record rows `g`, as [`row_z`]
    /// lays them out.
    ///
    /// # Safety
    /// AVX-512F and VPOPCNTDQ must be available and `p` valid for reads of `P × 8` words.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    unsafe fn rotation_z<const P: usize>(p: *const u64, g: &[__m512i; P]) -> __m512i {
        let mut acc = _mm512_setzero_si512();
        for (k, &gk) in g.iter().enumerate() {
            // SAFETY: row k of the probe window is words 8k .. 8k + 8.
            let pk = unsafe { _mm512_loadu_epi64(p.add(8 * k).cast()) };
            acc = _mm512_add_epi64(acc, row_z(pk, gk));
        }
        acc
    }

    /// Counts of rows `from .. to` of a shifted probe against a record in memory.
    ///
    /// # Safety
    /// AVX-512F and VPOPCNTDQ must be available and `p` and `g` valid for reads of `to × 8`
    /// words.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    unsafe fn rows_z(p: *const u64, g: *const u64, from: usize, to: usize) -> __m512i {
        let mut acc = _mm512_setzero_si512();
        for k in from..to {
            // SAFETY: row k < to is words 8k .. 8k + 8 of both windows.
            let (pk, gk) = unsafe {
                (
                    _mm512_loadu_epi64(p.add(8 * k).cast()),
                    _mm512_loadu_epi64(g.add(8 * k).cast()),
                )
            };
            acc = _mm512_add_epi64(acc, row_z(pk, gk));
        }
        acc
    }

    /// Packs four [`row_z`]-style count vectors into `valid << 32 | disagree` each.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn reduce4_z(v: [__m512i; 4]) -> [u64; 4] {
        // Pairwise sums: 128-bit block k of `ab` is [a(2k) + a(2k+1), b(2k) + b(2k+1)].
        let ab = _mm512_add_epi64(
            _mm512_unpacklo_epi64(v[0], v[1]),
            _mm512_unpackhi_epi64(v[0], v[1]),
        );
        let cd = _mm512_add_epi64(
            _mm512_unpacklo_epi64(v[2], v[3]),
            _mm512_unpackhi_epi64(v[2], v[3]),
        );
        // [disagree a b | valid a b | disagree c d | valid c d].
        let s = _mm512_add_epi64(
            _mm512_shuffle_i64x2::<0b10_00_10_00>(ab, cd),
            _mm512_shuffle_i64x2::<0b11_01_11_01>(ab, cd),
        );
        let disagree = _mm512_permutexvar_epi64(_mm512_set_epi64(0, 0, 0, 0, 5, 4, 1, 0), s);
        let valid = _mm512_permutexvar_epi64(_mm512_set_epi64(0, 0, 0, 0, 7, 6, 3, 2), s);
        let packed = _mm512_add_epi64(disagree, _mm512_slli_epi64::<32>(valid));
        let mut out = [0u64; 4];
        // SAFETY: a 32-byte store into a 4 × u64 array.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), _mm512_castsi512_si256(packed)) };
        out
    }

    /// Packs one [`row_z`]-style count vector.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn reduce1_z(v: __m512i) -> u64 {
        let disagree = _mm512_mask_reduce_add_epi64(0x0f, v) as u64;
        let valid = _mm512_mask_reduce_add_epi64(0xf0, v) as u64;
        disagree + (valid << 32)
    }

    /// [`cascade_w4_avx512`] for a first test after `P` rows.
    ///
    /// # Safety
    /// As [`cascade_w4_avx512`], with `P == shape.rows`.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vpopcntdq")]
    unsafe fn cascade_z<const P: usize>(
        probe: *const u64,
        gallery: *const u64,
        shape: GateShape,
        tables: CascadeTables<'_>,
        out: &mut [u64],
    ) -> GateWork {
        let steps = CascadeSteps {
            load: |g: *const u64| {
                let mut rows = [_mm512_setzero_si512(); P];
                for (k, row) in rows.iter_mut().enumerate() {
                    // SAFETY: row k is words 8k .. 8k + 8 of the record window (`cascade`).
                    *row = unsafe { _mm512_loadu_epi64(g.add(8 * k).cast()) };
                }
                rows
            },
            first4: |p: [*const u64; 4], rows: &[__m512i; P]| {
                reduce4_z(p.map(|p| {
                    // SAFETY: the probe windows of P rows are readable (`cascade`).
                    unsafe { rotation_z::<P>(p, rows) }
                }))
            },
            first1: |p: *const u64, rows: &[__m512i; P]| {
                // SAFETY: the probe window of P rows is readable (`cascade`).
                reduce1_z(unsafe { rotation_z::<P>(p, rows) })
            },
            extend4: |p: [*const u64; 4], g: *const u64, from: usize, to: usize| {
                reduce4_z(p.map(|p| {
                    // SAFETY: rows from .. to of the probe windows and of the record window
                    // are readable (`cascade`).
                    unsafe { rows_z(p, g, from, to) }
                }))
            },
            extend1: |p: *const u64, g: *const u64, from: usize, to: usize| {
                // SAFETY: as for `extend4`.
                reduce1_z(unsafe { rows_z(p, g, from, to) })
            },
        };
        // SAFETY: the caller's guarantees are `cascade`'s, with P == shape.rows.
        unsafe { cascade::<P, _>(probe, gallery, shape, tables, out, steps) }
    }

    /// AVX-512: adds the counts of the selected rotations.
    ///
    /// # Safety
    /// As [`add_selected_avx2`], with AVX-512F, VL and VPOPCNTDQ available.
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vpopcntdq")]
    pub(super) unsafe fn add_selected_avx512(
        probe: *const u64,
        stride: usize,
        gallery: *const u64,
        rows: usize,
        w: usize,
        selected: &[u8],
        counts: &mut [BitCounts],
    ) {
        for &r in selected {
            let r = usize::from(r);
            // SAFETY: as in `add_selected_avx2`.
            let c = unsafe { counts_avx512(probe.add(r * stride), gallery, rows, w) };
            if let Some(slot) = counts.get_mut(r) {
                *slot = slot.plus(c);
            }
        }
    }

    /// AVX-512 VPOPCNTDQ counts (256-bit vectors) over `rows` rows.
    ///
    /// # Safety
    /// AVX-512F, VL and VPOPCNTDQ must be available; otherwise as [`counts_avx2`].
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vpopcntdq")]
    pub(super) unsafe fn counts_avx512(
        p: *const u64,
        g: *const u64,
        rows: usize,
        w: usize,
    ) -> BitCounts {
        let mut tot_d = _mm256_setzero_si256();
        let mut tot_m = _mm256_setzero_si256();
        let mut base = 0;
        for _ in 0..rows {
            let mut j = 0;
            while j < w {
                // SAFETY: same bounds as in `counts_avx2`.
                let (pc, gc, pm, gm) = unsafe {
                    (
                        _mm256_loadu_si256(p.add(base + j).cast()),
                        _mm256_loadu_si256(g.add(base + j).cast()),
                        _mm256_loadu_si256(p.add(base + w + j).cast()),
                        _mm256_loadu_si256(g.add(base + w + j).cast()),
                    )
                };
                let m = _mm256_and_si256(pm, gm);
                let d = _mm256_and_si256(_mm256_xor_si256(pc, gc), m);
                tot_d = _mm256_add_epi64(tot_d, _mm256_popcnt_epi64(d));
                tot_m = _mm256_add_epi64(tot_m, _mm256_popcnt_epi64(m));
                j += 4;
            }
            base += 2 * w;
        }
        finish(tot_d, tot_m)
    }

    /// AVX-512 counts of one gallery run against shifted probes.
    ///
    /// # Safety
    /// As [`rotations_avx2`], with AVX-512F, VL and VPOPCNTDQ available.
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vpopcntdq")]
    pub(super) unsafe fn rotations_avx512(
        probe: *const u64,
        stride: usize,
        gallery: *const u64,
        rows: usize,
        w: usize,
        out: &mut [BitCounts],
    ) {
        for (i, o) in out.iter_mut().enumerate() {
            // SAFETY: as in `rotations_avx2`.
            *o = unsafe { counts_avx512(probe.add(i * stride), gallery, rows, w) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn naive(p: &[u64], g: &[u64], w: usize) -> BitCounts {
        let mut c = BitCounts::default();
        for (pr, gr) in p.chunks_exact(2 * w).zip(g.chunks_exact(2 * w)) {
            for j in 0..w {
                for b in 0..64 {
                    let pm = (pr[w + j] >> b) & 1;
                    let gm = (gr[w + j] >> b) & 1;
                    if pm & gm == 1 {
                        c.valid += 1;
                        if (pr[j] >> b) & 1 != (gr[j] >> b) & 1 {
                            c.disagree += 1;
                        }
                    }
                }
            }
        }
        c
    }

    #[test]
    fn every_available_kernel_matches_the_bitwise_definition() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for &(w, rows) in &[(4usize, 8usize), (8, 32), (4, 1), (8, 3), (2, 5)] {
            for _ in 0..20 {
                let p: Vec<u64> = (0..2 * w * rows).map(|_| rng.gen()).collect();
                let g: Vec<u64> = (0..2 * w * rows).map(|_| rng.gen()).collect();
                let expected = naive(&p, &g, w);
                for k in Kernel::available() {
                    assert_eq!(k.row_counts(&p, &g, w), expected, "{} w={w}", k.name());
                }
            }
        }
    }

    #[test]
    fn rotation_counts_match_row_counts_for_every_kernel() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let (w, stride, rots, rows) = (4usize, 64usize, 17usize, 2usize);
        let probe: Vec<u64> = (0..stride * rots).map(|_| rng.gen()).collect();
        let gallery: Vec<u64> = (0..2 * w * rows).map(|_| rng.gen()).collect();
        let mut expected = vec![BitCounts::default(); rots];
        Kernel::portable().rotation_counts(&probe, stride, &gallery, w, &mut expected);
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(
                *e,
                naive(&probe[i * stride..i * stride + gallery.len()], &gallery, w)
            );
        }
        for k in Kernel::available() {
            let mut got = vec![BitCounts::default(); rots];
            k.rotation_counts(&probe, stride, &gallery, w, &mut got);
            assert_eq!(got, expected, "{}", k.name());
        }
        // Windows past the end of the probe come back as zero instead of panicking.
        let mut over = vec![BitCounts::default(); rots + 1];
        Kernel::best().rotation_counts(&probe, stride, &gallery, w, &mut over);
        assert_eq!(over[rots], BitCounts::default());
    }

    #[test]
    fn selected_rotations_add_the_same_counts_for_every_kernel() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (w, stride, rots) = (4usize, 64usize, 17usize);
        let probe: Vec<u64> = (0..stride * rots).map(|_| rng.gen()).collect();
        let gallery: Vec<u64> = (0..16).map(|_| rng.gen()).collect();
        let selected = [0u8, 3, 16, 9];
        let start = vec![
            BitCounts {
                disagree: 5,
                valid: 7
            };
            rots
        ];
        for k in Kernel::available() {
            let mut got = start.clone();
            k.add_selected_rotations(&probe[16..], stride, &gallery, w, &selected, &mut got);
            for r in 0..rots {
                let expected = if selected.contains(&(r as u8)) {
                    start[r].plus(naive(&probe[r * stride + 16..r * stride + 32], &gallery, w))
                } else {
                    start[r]
                };
                assert_eq!(got[r], expected, "{} rotation {r}", k.name());
            }
        }
    }

    /// Tables whose limit is a fraction of the valid count, so that some rotations pass and
    /// some fail at every test.
    fn fraction_table(bits: usize, fraction: f64) -> Vec<u32> {
        (0..=bits)
            .map(|m| (m as f64 * fraction).floor() as u32)
            .collect()
    }

    #[test]
    fn cascade_rotations_agree_across_kernels_and_with_direct_counts() {
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let (w, rows, stride, rots) = (4usize, 8usize, 64usize, 17usize);
        let probe: Vec<u64> = (0..stride * rots).map(|_| rng.gen()).collect();
        // Records: random ones, and copies of probe rotations with a few flipped bits so that
        // some rotations pass every test.
        let records = 40;
        let mut gallery: Vec<u64> = (0..stride * records).map(|_| rng.gen()).collect();
        for i in (0..records).step_by(3) {
            let r = rng.gen_range(0..rots);
            for j in 0..stride {
                let noise: u64 = rng.gen::<u64>() & rng.gen::<u64>() & rng.gen::<u64>();
                gallery[i * stride + j] = probe[r * stride + j] ^ noise;
            }
        }
        let bits = rows * 64 * w;
        let gates: Vec<Vec<u32>> = [0.40, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52]
            .iter()
            .map(|&f| fraction_table(bits, f))
            .collect();
        let pass = fraction_table(bits, 0.38);
        let mut survivors_seen = false;
        for prefix in 1..=rows {
            for step in 1..=3 {
                let shape = GateShape {
                    rotations: rots,
                    probe_stride: stride,
                    record_stride: stride,
                    rows: prefix,
                    total_rows: rows,
                    words_per_row: w,
                };
                let tables = CascadeTables {
                    gates: &gates,
                    pass: &pass,
                    step_rows: step,
                };
                let mut expected = vec![0u64; records];
                let work = Kernel::portable().cascade_rotations(
                    &probe,
                    &gallery,
                    shape,
                    tables,
                    &mut expected,
                );
                // A rotation in the final mask passes the final table over all rows.
                for (i, &m) in expected.iter().enumerate() {
                    for r in 0..rots {
                        let c = naive(
                            &probe[r * stride..(r + 1) * stride],
                            &gallery[i * stride..(i + 1) * stride],
                            w,
                        );
                        if m >> r & 1 == 1 {
                            assert!(c.disagree < pass[c.valid as usize]);
                        }
                        if prefix == rows {
                            assert_eq!(m >> r & 1 == 1, c.disagree < pass[c.valid as usize]);
                        }
                    }
                }
                survivors_seen |= expected.iter().any(|&m| m != 0);
                for k in Kernel::available() {
                    let mut got = vec![u64::MAX; records];
                    let wk = k.cascade_rotations(&probe, &gallery, shape, tables, &mut got);
                    assert_eq!(got, expected, "{} prefix {prefix} step {step}", k.name());
                    assert_eq!(wk, work, "{} prefix {prefix} step {step}", k.name());
                }
            }
        }
        assert!(survivors_seen);
        // A gallery too short for the shape gives empty masks instead of reading past it.
        let shape = GateShape {
            rotations: rots,
            probe_stride: stride,
            record_stride: stride,
            rows: 2,
            total_rows: rows,
            words_per_row: w,
        };
        let tables = CascadeTables {
            gates: &gates,
            pass: &pass,
            step_rows: 1,
        };
        for k in Kernel::available() {
            let mut got = vec![u64::MAX; 3];
            k.cascade_rotations(&probe, &gallery[..2 * stride + 10], shape, tables, &mut got);
            assert_eq!(got, vec![0; 3]);
        }
    }

    #[test]
    fn best_is_one_of_the_available_kernels() {
        assert!(Kernel::available().contains(&Kernel::best()));
        assert_eq!(Kernel::available()[0], Kernel::portable());
    }
}
