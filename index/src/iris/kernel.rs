//! Bit-counting kernels: the only module of the iris matcher with `unsafe` code.
//!
//! Every kernel computes, over a run of rows laid out as `[code (w words) | mask (w words)]`
//! (the gallery record layout of [`super::record`]), the two counts of a masked Hamming
//! distance:
//!
//! * `valid = popcount(probe_mask & gallery_mask)`;
//! * `disagree = popcount((probe_code ^ gallery_code) & probe_mask & gallery_mask)`.
//!
//! Three implementations give bit-identical results:
//!
//! * [`KernelKind::Portable`]: `u64::count_ones` (the `popcnt` instruction where the build
//!   enables it, a bit-twiddling sequence otherwise);
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
    /// Sum of two disjoint counts.
    pub fn add(self, other: Self) -> Self {
        Self {
            disagree: self.disagree + other.disagree,
            valid: self.valid + other.valid,
        }
    }
}

/// Which implementation a [`Kernel`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelKind {
    /// Scalar `u64::count_ones`.
    Portable,
    /// AVX2 nibble-table popcount.
    Avx2,
    /// AVX-512 VPOPCNTDQ.
    Avx512,
}

/// A bit-counting kernel supported by the running CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kernel {
    // Invariant: a SIMD kind is stored only after runtime detection succeeded.
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
            KernelKind::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        };
        supported.then_some(Self { kind })
    }

    /// The fastest kernel this CPU supports (AVX-512, then AVX2, then portable), detected once.
    pub fn best() -> Self {
        *BEST.get_or_init(|| {
            Self::avx512()
                .or_else(Self::avx2)
                .unwrap_or_else(Self::portable)
        })
    }

    /// Every kernel this CPU supports, portable first.
    pub fn available() -> Vec<Self> {
        [KernelKind::Portable, KernelKind::Avx2, KernelKind::Avx512]
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
            KernelKind::Avx2 => "avx2",
            KernelKind::Avx512 => "avx512-vpopcntdq",
        }
    }

    /// Counts over the rows of `probe` and `gallery`, both laid out as rows of
    /// `[code (words_per_row words) | mask (words_per_row words)]`. Only whole rows present in
    /// both slices are counted.
    #[inline]
    pub fn row_counts(self, probe: &[u64], gallery: &[u64], words_per_row: usize) -> BitCounts {
        let row = 2 * words_per_row;
        let simd_ok = words_per_row > 0
            && words_per_row % 4 == 0
            && probe.len() == gallery.len()
            && probe.len() % row == 0;
        match self.kind {
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2 if simd_ok => {
                // SAFETY: `self.kind` is Avx2 only when runtime detection found AVX2, and the
                // slice shape required by the kernel was checked just above.
                unsafe { x86::row_counts_avx2(probe, gallery, words_per_row) }
            }
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 if simd_ok => {
                // SAFETY: `self.kind` is Avx512 only when runtime detection found AVX-512F, VL
                // and VPOPCNTDQ, and the slice shape was checked just above.
                unsafe { x86::row_counts_avx512(probe, gallery, words_per_row) }
            }
            _ => row_counts_portable(probe, gallery, words_per_row),
        }
    }

    /// Counts of `gallery` (a run of rows, as in [`Kernel::row_counts`]) against several
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
        let len = gallery.len();
        let row = 2 * words_per_row;
        let shape_ok = words_per_row > 0
            && words_per_row % 4 == 0
            && len % row == 0
            && out.len().checked_mul(stride).is_some_and(|end| {
                out.is_empty() || end - stride + len <= probe.len()
            });
        match self.kind {
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2 if shape_ok => {
                // SAFETY: AVX2 was detected (Kernel invariant); every probe window
                // `i × stride .. i × stride + len` lies inside `probe` (checked above), and the
                // row shape matches the kernel's requirement.
                unsafe { x86::rotation_counts_avx2(probe, stride, gallery, words_per_row, out) }
            }
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 if shape_ok => {
                // SAFETY: AVX-512F/VL/VPOPCNTDQ were detected (Kernel invariant); the windows
                // and row shape were checked above.
                unsafe { x86::rotation_counts_avx512(probe, stride, gallery, words_per_row, out) }
            }
            _ => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = probe
                        .get(i * stride..i * stride + len)
                        .map(|p| self.row_counts(p, gallery, words_per_row))
                        .unwrap_or_default();
                }
            }
        }
    }
}

/// Portable kernel: `u64::count_ones` word by word.
fn row_counts_portable(probe: &[u64], gallery: &[u64], w: usize) -> BitCounts {
    let mut disagree = 0u32;
    let mut valid = 0u32;
    if w == 0 {
        return BitCounts::default();
    }
    for (p, g) in probe.chunks_exact(2 * w).zip(gallery.chunks_exact(2 * w)) {
        let (pc, pm) = p.split_at(w);
        let (gc, gm) = g.split_at(w);
        for j in 0..w {
            let m = pm[j] & gm[j];
            valid += m.count_ones();
            disagree += ((pc[j] ^ gc[j]) & m).count_ones();
        }
    }
    BitCounts { disagree, valid }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::BitCounts;
    use std::arch::x86_64::*;

    /// Loads four words.
    #[inline]
    #[target_feature(enable = "avx")]
    fn load4(words: &[u64; 4]) -> __m256i {
        // SAFETY: `words` is a reference to exactly 32 readable bytes; the load is unaligned.
        unsafe { _mm256_loadu_si256(words.as_ptr().cast()) }
    }

    /// Views `s[at .. at + 4]` as an array; the callers' loop bounds keep it in range.
    #[inline(always)]
    fn quad(s: &[u64], at: usize) -> &[u64; 4] {
        match s.get(at..at + 4).and_then(|q| q.try_into().ok()) {
            Some(q) => q,
            None => &[0; 4],
        }
    }

    /// Sums the u64 lanes of `v` (after combining disagree counts in the low halves and
    /// valid counts in the high halves).
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
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3,
            2, 3, 3, 4,
        );
        let low = _mm256_set1_epi8(0x0f);
        let lo = _mm256_and_si256(v, low);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low);
        _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi))
    }

    /// AVX2 counts. Requires `w % 4 == 0`, `w > 0`; rows present in both slices are counted.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn row_counts_avx2(p: &[u64], g: &[u64], w: usize) -> BitCounts {
        let zero = _mm256_setzero_si256();
        let mut bytes_d = zero;
        let mut bytes_m = zero;
        let mut tot_d = zero;
        let mut tot_m = zero;
        let mut pending = 0u32;
        for (pr, gr) in p.chunks_exact(2 * w).zip(g.chunks_exact(2 * w)) {
            let mut j = 0;
            while j < w {
                let m = _mm256_and_si256(load4(quad(pr, w + j)), load4(quad(gr, w + j)));
                let x = _mm256_xor_si256(load4(quad(pr, j)), load4(quad(gr, j)));
                let d = _mm256_and_si256(x, m);
                bytes_d = _mm256_add_epi8(bytes_d, popcnt_bytes(d));
                bytes_m = _mm256_add_epi8(bytes_m, popcnt_bytes(m));
                pending += 1;
                // A byte counter gains at most 8 per step: flush before 256.
                if pending == 31 {
                    tot_d = _mm256_add_epi64(tot_d, _mm256_sad_epu8(bytes_d, zero));
                    tot_m = _mm256_add_epi64(tot_m, _mm256_sad_epu8(bytes_m, zero));
                    bytes_d = zero;
                    bytes_m = zero;
                    pending = 0;
                }
                j += 4;
            }
        }
        tot_d = _mm256_add_epi64(tot_d, _mm256_sad_epu8(bytes_d, zero));
        tot_m = _mm256_add_epi64(tot_m, _mm256_sad_epu8(bytes_m, zero));
        finish(tot_d, tot_m)
    }

    /// AVX2 counts against shifted probes. Requires the shape checked by the caller.
    #[target_feature(enable = "avx2")]
    pub(super) fn rotation_counts_avx2(
        probe: &[u64],
        stride: usize,
        gallery: &[u64],
        w: usize,
        out: &mut [BitCounts],
    ) {
        let len = gallery.len();
        for (i, o) in out.iter_mut().enumerate() {
            let start = i * stride;
            *o = match probe.get(start..start + len) {
                Some(p) => row_counts_avx2(p, gallery, w),
                None => BitCounts::default(),
            };
        }
    }

    /// AVX-512 VPOPCNTDQ counts on 256-bit vectors. Same requirements as the AVX2 kernel.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vpopcntdq")]
    pub(super) fn row_counts_avx512(p: &[u64], g: &[u64], w: usize) -> BitCounts {
        let mut tot_d = _mm256_setzero_si256();
        let mut tot_m = _mm256_setzero_si256();
        for (pr, gr) in p.chunks_exact(2 * w).zip(g.chunks_exact(2 * w)) {
            let mut j = 0;
            while j < w {
                let m = _mm256_and_si256(load4(quad(pr, w + j)), load4(quad(gr, w + j)));
                let x = _mm256_xor_si256(load4(quad(pr, j)), load4(quad(gr, j)));
                let d = _mm256_and_si256(x, m);
                tot_d = _mm256_add_epi64(tot_d, _mm256_popcnt_epi64(d));
                tot_m = _mm256_add_epi64(tot_m, _mm256_popcnt_epi64(m));
                j += 4;
            }
        }
        finish(tot_d, tot_m)
    }

    /// AVX-512 counts against shifted probes. Requires the shape checked by the caller.
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vpopcntdq")]
    pub(super) fn rotation_counts_avx512(
        probe: &[u64],
        stride: usize,
        gallery: &[u64],
        w: usize,
        out: &mut [BitCounts],
    ) {
        let len = gallery.len();
        for (i, o) in out.iter_mut().enumerate() {
            let start = i * stride;
            *o = match probe.get(start..start + len) {
                Some(p) => row_counts_avx512(p, gallery, w),
                None => BitCounts::default(),
            };
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
            assert_eq!(*e, naive(&probe[i * stride..i * stride + gallery.len()], &gallery, w));
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
    fn best_is_one_of_the_available_kernels() {
        assert!(Kernel::available().contains(&Kernel::best()));
        assert_eq!(Kernel::available()[0], Kernel::portable());
    }
}
