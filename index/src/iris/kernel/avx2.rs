//! The AVX2 kernels: 256-bit logic with the nibble-table `vpshufb` byte popcount.

use super::x86::{cascade, CascadeSteps};
use super::{BitCounts, CascadeTables, GateShape, GateWork};
use std::arch::x86_64::*;

/// Sums the u64 lanes of the disagree and valid accumulators.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn finish(disagree: __m256i, valid: __m256i) -> BitCounts {
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
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
        3, 4,
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
pub(super) unsafe fn counts_avx2(p: *const u64, g: *const u64, rows: usize, w: usize) -> BitCounts {
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
