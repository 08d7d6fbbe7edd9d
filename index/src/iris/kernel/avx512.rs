//! The AVX-512 kernels: the `vpopcntq` instruction (VPOPCNTDQ + VL).

use super::avx2::finish;
use super::x86::{cascade, CascadeSteps};
use super::{BitCounts, CascadeTables, GateShape, GateWork};
use std::arch::x86_64::*;

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
