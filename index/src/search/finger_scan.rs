//! The first stage's finger loop: one probe against a run of gallery records, giving per
//! record the sum, over the finger slots both sides have, of the calibrated descriptor ratio.
//!
//! It is the hottest loop of a search (ten 1 024-bit AND + popcounts per person and probe),
//! so it has three bodies, chosen at run time:
//!
//! * AVX-512 (`vpopcntq`): the ten slots' popcounts in 512-bit vectors, reduced together, and
//!   the similarity and table index of all ten slots computed in one vector of lanes;
//! * the scalar body compiled with AVX2 and hardware `popcnt`;
//! * the scalar body for the baseline target, the portable fallback.
//!
//! All give bit-identical sums: every lane performs the scalar body's IEEE operations in the
//! same order (multiply, divide, square root and subtract are correctly rounded in both), the
//! ratios are added in slot order, and only integer popcounts differ in how they are
//! computed.

use crate::gallery::cohort::normalised;
use crate::gallery::descriptor::similarity;
use crate::gallery::person_record::{PersonRecord, FINGERS};
use crate::search::fusion::LlrTable;

/// A body of the finger loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FingerKernel {
    /// The scalar body for the baseline target.
    Portable,
    /// The scalar body compiled with AVX2 and `popcnt`.
    Avx2,
    /// 512-bit popcounts (`vpopcntq`) and the ten slots' arithmetic in one vector.
    Avx512,
}

impl FingerKernel {
    /// Whether the running CPU supports this body.
    pub fn supported(self) -> bool {
        match self {
            Self::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("popcnt")
            }
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => avx512::available(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every body the running CPU supports, portable first.
    pub fn available() -> Vec<Self> {
        [Self::Portable, Self::Avx2, Self::Avx512]
            .into_iter()
            .filter(|k| k.supported())
            .collect()
    }

    /// The fastest supported body.
    pub fn best() -> Self {
        [Self::Avx512, Self::Avx2]
            .into_iter()
            .find(|k| k.supported())
            .unwrap_or(Self::Portable)
    }

    /// Writes into `out[i]` the finger evidence of `probe` against `gallery[i]`, for every
    /// `i` below the shorter of the two lengths; an unsupported body runs the portable one.
    pub fn evidence(
        self,
        probe: &PersonRecord,
        gallery: &[PersonRecord],
        table: &LlrTable,
        out: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if self.supported() {
            match self {
                // SAFETY: the CPU supports every feature this body enables (checked above).
                Self::Avx512 => return unsafe { avx512::evidence(probe, gallery, table, out) },
                // SAFETY: the CPU supports AVX2 and POPCNT (checked above).
                Self::Avx2 => return unsafe { evidence_avx2(probe, gallery, table, out) },
                Self::Portable => {}
            }
        }
        body(probe, gallery, table, out);
    }
}

/// Writes into `out[i]` the finger evidence of `probe` against `gallery[i]`, for every `i`
/// below the shorter of the two lengths, with the fastest body the CPU supports.
pub fn finger_evidence(
    probe: &PersonRecord,
    gallery: &[PersonRecord],
    table: &LlrTable,
    out: &mut [f32],
) {
    FingerKernel::best().evidence(probe, gallery, table, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
fn evidence_avx2(
    probe: &PersonRecord,
    gallery: &[PersonRecord],
    table: &LlrTable,
    out: &mut [f32],
) {
    body(probe, gallery, table, out);
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use crate::gallery::cohort::OFFSET_SCALE;
    use crate::gallery::descriptor::{DESCRIPTOR_BITS, DESCRIPTOR_WORDS};
    use crate::gallery::person_record::{PersonRecord, FINGERS};
    use crate::search::fusion::LlrTable;

    // The popcounts below read a descriptor as two 512-bit halves.
    const _: () = assert!(DESCRIPTOR_WORDS == 16);

    /// Whether the CPU has what [`evidence`] enables.
    #[inline]
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
    }

    /// Popcount of `a & b` over one descriptor (two 512-bit halves), as eight `u64` lanes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    fn and_counts(a: &[u64; DESCRIPTOR_WORDS], b: &[u64; DESCRIPTOR_WORDS]) -> __m512i {
        // SAFETY: each load reads 8 words (64 bytes) at word 0 or 8 of a 16-word array;
        // the loads are unaligned.
        let (a0, a1, b0, b1) = unsafe {
            (
                _mm512_loadu_epi64(a.as_ptr().cast()),
                _mm512_loadu_epi64(a.as_ptr().add(8).cast()),
                _mm512_loadu_epi64(b.as_ptr().cast()),
                _mm512_loadu_epi64(b.as_ptr().add(8).cast()),
            )
        };
        _mm512_add_epi64(
            _mm512_popcnt_epi64(_mm512_and_si512(a0, b0)),
            _mm512_popcnt_epi64(_mm512_and_si512(a1, b1)),
        )
    }

    /// Pairwise lane sums of two count vectors: 128-bit block `k` of the result is
    /// `[x(2k) + x(2k+1), y(2k) + y(2k+1)]`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn pair(x: __m512i, y: __m512i) -> __m512i {
        _mm512_add_epi64(_mm512_unpacklo_epi64(x, y), _mm512_unpackhi_epi64(x, y))
    }

    /// Halves the partial sums of two [`pair`]s: `[u.b0 + u.b1, u.b2 + u.b3, v.b0 + v.b1,
    /// v.b2 + v.b3]` by 128-bit blocks.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fold(u: __m512i, v: __m512i) -> __m512i {
        _mm512_add_epi64(
            _mm512_shuffle_i64x2::<0b10_00_10_00>(u, v),
            _mm512_shuffle_i64x2::<0b11_01_11_01>(u, v),
        )
    }

    /// Cache lines of each iris record that the first stage's coarse iris screen reads (its
    /// first four rows of 64 bytes).
    const IRIS_PREFIX_LINES: usize = 4;

    /// Asks for the coarse screen's lines of `g`'s iris records, which the scan reads right
    /// after the finger loop: the finger loop does not touch them, so without the hint each
    /// is a miss to memory when the screen reaches it.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn prefetch_iris_prefix(g: &PersonRecord) {
        for eye in &g.irises {
            for line in 0..IRIS_PREFIX_LINES {
                // Line `line` of the record: 8 words from its start, of its 64 words.
                _mm_prefetch::<_MM_HINT_T0>(eye.as_ptr().wrapping_add(line * 8).cast::<i8>());
            }
        }
    }

    /// The AVX-512 body.
    ///
    /// # Safety
    /// The CPU must support what [`available`] checks.
    #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512vpopcntdq,avx2,popcnt")]
    pub(super) unsafe fn evidence(
        probe: &PersonRecord,
        gallery: &[PersonRecord],
        table: &LlrTable,
        out: &mut [f32],
    ) {
        let n = table.llr.len();
        if n == 0 {
            // Every ratio is 0: the scalar body is as fast.
            super::body(probe, gallery, table, out);
            return;
        }
        let lo = _mm512_set1_ps(table.lo);
        let range = _mm512_set1_ps(table.hi - table.lo);
        let bins = _mm512_set1_ps(n as f32);
        let last = _mm512_set1_ps((n - 1) as f32);
        let zero = _mm512_setzero_ps();
        let one = _mm512_set1_ps(1.0);
        let width = _mm512_set1_ps(DESCRIPTOR_BITS as f32);
        let unit = _mm512_set1_ps(1.0 / OFFSET_SCALE);
        let mut p_ones = [0.0f32; 16];
        for (o, &c) in p_ones.iter_mut().zip(probe.ones.iter()) {
            *o = f32::from(c);
        }
        // SAFETY: 16 floats (64 bytes) read from a 16-float array.
        let p_ones = unsafe { _mm512_loadu_ps(p_ones.as_ptr()) };
        let mut index = [0i32; 16];
        for (g, o) in gallery.iter().zip(out.iter_mut()) {
            prefetch_iris_prefix(g);
            let common = probe.presence & g.presence;
            if common & ((1 << FINGERS) - 1) == 0 {
                *o = 0.0;
                continue;
            }
            let c = |s: usize| and_counts(&probe.fingers[s], &g.fingers[s]);
            let (c01, c23) = (pair(c(0), c(1)), pair(c(2), c(3)));
            let (c45, c67) = (pair(c(4), c(5)), pair(c(6), c(7)));
            let c89 = pair(c(8), c(9));
            // Slots 0..8 in order, one u64 lane each.
            let low = fold(fold(c01, c23), fold(c45, c67));
            // Slots 8 and 9 in the first two lanes.
            let high = fold(c89, c89);
            let high = _mm512_add_epi64(high, _mm512_shuffle_i64x2::<0b01_01_01_01>(high, high));
            let counts = _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm512_cvtepi64_epi32(low)),
                _mm512_cvtepi64_epi32(high),
            );
            let c = _mm512_cvtepi32_ps(counts);
            let mut g_ones = [0u16; 16];
            g_ones[..FINGERS].copy_from_slice(&g.ones);
            // SAFETY: 16 u16 (32 bytes) read from a 16-element array.
            let g_ones = unsafe { _mm256_loadu_si256(g_ones.as_ptr().cast()) };
            let g_ones = _mm512_cvtepi32_ps(_mm512_cvtepu16_epi32(g_ones));
            // similarity(): e = |a|·|b| / bits; (c − e) / √(e + 1); 0 when either is empty.
            let e = _mm512_div_ps(_mm512_mul_ps(p_ones, g_ones), width);
            let s = _mm512_div_ps(_mm512_sub_ps(c, e), _mm512_sqrt_ps(_mm512_add_ps(e, one)));
            let nonempty = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(p_ones, zero)
                & _mm512_cmp_ps_mask::<_CMP_GT_OQ>(g_ones, zero);
            let s = _mm512_maskz_mov_ps(nonempty, s);
            // cohort::normalised(): minus the gallery finger's offset, an exact byte / 16.
            let mut g_offsets = [0i8; 16];
            g_offsets[..FINGERS].copy_from_slice(&g.offsets);
            // SAFETY: 16 i8 (16 bytes) read from a 16-element array.
            let g_offsets = unsafe { _mm_loadu_si128(g_offsets.as_ptr().cast()) };
            let offsets = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(g_offsets)), unit);
            let s = _mm512_sub_ps(s, offsets);
            // LlrTable::llr(): the bin of (s − lo) / (hi − lo) · n, NaN to bin 0, clamped.
            let x = _mm512_mul_ps(_mm512_div_ps(_mm512_sub_ps(s, lo), range), bins);
            // `max` returns its second operand (0) when `x` is NaN.
            let x = _mm512_min_ps(_mm512_max_ps(x, zero), last);
            // SAFETY: 16 i32 (64 bytes) written into a 16-element array.
            unsafe { _mm512_storeu_si512(index.as_mut_ptr().cast(), _mm512_cvttps_epi32(x)) };
            let mut sum = 0.0f32;
            for (slot, &i) in index.iter().enumerate().take(FINGERS) {
                if common & (1 << slot) != 0 {
                    sum += table.llr.get(i as usize).copied().unwrap_or_default();
                }
            }
            *o = sum;
        }
    }
}

#[inline(always)]
fn body(probe: &PersonRecord, gallery: &[PersonRecord], table: &LlrTable, out: &mut [f32]) {
    for (g, o) in gallery.iter().zip(out.iter_mut()) {
        *o = person(probe, g, table);
    }
}

/// The first-stage similarity of finger slot `slot` of `probe` to gallery record `g`: the
/// descriptor similarity less the gallery finger's offset, the value the descriptor table
/// calibrates. Both records must have the finger for the value to mean anything.
#[inline(always)]
pub fn slot_similarity(probe: &PersonRecord, g: &PersonRecord, slot: usize) -> f32 {
    normalised(
        similarity(
            &probe.fingers[slot],
            probe.ones[slot],
            &g.fingers[slot],
            g.ones[slot],
        ),
        g.offsets[slot],
    )
}

/// The finger evidence of one pair (slot order, as the scan sums it).
#[inline(always)]
pub fn person(probe: &PersonRecord, g: &PersonRecord, table: &LlrTable) -> f32 {
    let common = probe.presence & g.presence;
    let mut sum = 0.0f32;
    for slot in 0..FINGERS {
        if common & (1 << slot) != 0 {
            sum += table.llr(slot_similarity(probe, g, slot));
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gallery::descriptor::DESCRIPTOR_WORDS;

    fn splitmix(s: &mut u64) -> u64 {
        *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn record(seed: u64) -> PersonRecord {
        let mut s = seed;
        let mut r = PersonRecord::new(seed);
        r.presence = (splitmix(&mut s) as u32) & 0x3ff;
        for slot in 0..FINGERS {
            for w in 0..DESCRIPTOR_WORDS {
                // Sparse words, like real descriptors (about a quarter of the bits set).
                r.fingers[slot][w] = splitmix(&mut s) & splitmix(&mut s);
            }
            r.ones[slot] = r.fingers[slot].iter().map(|w| w.count_ones() as u16).sum();
        }
        r
    }

    fn table() -> LlrTable {
        LlrTable {
            lo: -4.0,
            hi: 12.0,
            llr: (0..64).map(|i| i as f32 * 0.37 - 5.0).collect(),
        }
    }

    /// Gallery records around `probe`: random ones, and copies sharing some of its fingers,
    /// with empty descriptors and absent fingers mixed in.
    fn gallery_around(probe: &PersonRecord) -> Vec<PersonRecord> {
        let mut s = 99u64;
        (0..400)
            .map(|i| {
                let mut g = record(1000 + i);
                for slot in 0..FINGERS {
                    match splitmix(&mut s) % 8 {
                        0 => {
                            g.fingers[slot] = probe.fingers[slot];
                            g.ones[slot] = probe.ones[slot];
                        }
                        1 => {
                            g.fingers[slot] = [0; DESCRIPTOR_WORDS];
                            g.ones[slot] = 0;
                        }
                        _ => {}
                    }
                    // Offsets over the whole byte range, the extremes included.
                    g.offsets[slot] = match splitmix(&mut s) % 6 {
                        0 => i8::MIN,
                        1 => i8::MAX,
                        2 => 0,
                        _ => splitmix(&mut s) as i8,
                    };
                }
                g
            })
            .collect()
    }

    #[test]
    fn every_kernel_agrees_bit_for_bit_with_the_scalar_pair() {
        let mut probe = record(7);
        probe.presence = 0x3ff;
        probe.fingers[4] = [0; DESCRIPTOR_WORDS];
        probe.ones[4] = 0;
        let gallery = gallery_around(&probe);
        // The wide table bins most scores; the narrow ones send many to the edge bins.
        let tables = [
            table(),
            LlrTable {
                lo: -0.5,
                hi: 0.5,
                llr: (0..7).map(|i| i as f32 * 1.3 - 4.0).collect(),
            },
            LlrTable {
                lo: 3.0,
                hi: 40.0,
                llr: (0..200).map(|i| (i as f32).sqrt() - 2.0).collect(),
            },
        ];
        for t in &tables {
            for kernel in FingerKernel::available() {
                let mut out = vec![f32::NAN; gallery.len()];
                kernel.evidence(&probe, &gallery, t, &mut out);
                for (i, g) in gallery.iter().enumerate() {
                    let want = person(&probe, g, t).to_bits();
                    assert_eq!(out[i].to_bits(), want, "{kernel:?}, record {i}");
                }
            }
        }
    }

    #[test]
    fn dispatched_scores_the_probe_itself_highest() {
        let probe = record(7);
        let gallery: Vec<_> = (0..300).map(|i| record(1000 + i)).collect();
        let t = table();
        let mut fast = vec![f32::NAN; gallery.len()];
        finger_evidence(&probe, &gallery, &t, &mut fast);
        // Not a constant: the probe against itself scores above every other record.
        let mut own = [0.0];
        finger_evidence(&probe, std::slice::from_ref(&probe), &t, &mut own);
        assert!(fast.iter().all(|&f| f < own[0]));
    }

    #[test]
    fn a_gallery_fingers_offset_is_subtracted_before_the_table() {
        let mut probe = record(5);
        probe.presence = 1;
        let mut g = record(6);
        g.presence = 1;
        // An identity-like table: bins of width 1/16 over [−8, 8).
        let t = LlrTable {
            lo: -8.0,
            hi: 8.0,
            llr: (0..256).map(|i| i as f32).collect(),
        };
        let mut plain = [0.0];
        finger_evidence(&probe, std::slice::from_ref(&g), &t, &mut plain);
        g.offsets[0] = 32;
        for kernel in FingerKernel::available() {
            let mut shifted = [0.0];
            kernel.evidence(&probe, std::slice::from_ref(&g), &t, &mut shifted);
            // Two units of similarity lower: 32 bins of 1/16 (one either way for rounding
            // at a bin edge).
            let moved = plain[0] - shifted[0];
            assert!((31.0..=33.0).contains(&moved), "{kernel:?}: {moved}");
        }
    }

    #[test]
    fn absent_fingers_contribute_nothing() {
        let probe = record(3);
        let mut g = record(3);
        g.presence = 0;
        let mut out = [1.0];
        finger_evidence(&probe, std::slice::from_ref(&g), &table(), &mut out);
        assert_eq!(out[0], 0.0);
    }
}
