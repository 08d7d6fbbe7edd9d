//! Bit-counting kernels: the only module of the iris matcher with `unsafe` code.
//!
//! Every kernel computes, over a run of rows laid out as `[code (w words) | mask (w words)]`
//! (the gallery record layout of [`super::strided`]), the two counts of a masked Hamming
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

#[cfg(target_arch = "x86_64")]
#[macro_use]
mod x86;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;
#[cfg(test)]
mod tests;

use portable::{cascade_generic, counts_scalar, passes};

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
                unsafe { avx2::counts_avx2(probe.as_ptr(), gallery.as_ptr(), rows, w) }
            }
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 if w.is_multiple_of(4) => {
                // SAFETY: AVX-512F/VL/VPOPCNTDQ were detected (Kernel invariant); shape as above.
                unsafe { avx512::counts_avx512(probe.as_ptr(), gallery.as_ptr(), rows, w) }
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
                    avx2::rotations_avx2(
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
                    avx512::rotations_avx512(
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
                    avx2::add_selected_avx2(
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
                    avx512::add_selected_avx512(
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
                    avx512::cascade_w4_avx512(probe.as_ptr(), gallery.as_ptr(), shape, tables, out)
                }
            }
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2 if shape.words_per_row == 4 && shape.total_rows <= 8 => {
                // SAFETY: AVX2 was detected (Kernel invariant; the AVX-512 kind implies AVX2);
                // `fits` checked that every probe window and every record window of
                // `shape.total_rows` (at most 8) rows of 8 words lies inside its slice, and
                // 1 <= rows <= total_rows.
                unsafe {
                    avx2::cascade_w4_avx2(probe.as_ptr(), gallery.as_ptr(), shape, tables, out)
                }
            }
            _ => cascade_generic(self, probe, gallery, shape, tables, out),
        }
    }
}
