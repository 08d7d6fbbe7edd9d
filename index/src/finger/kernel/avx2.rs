//! The AVX2 kernels.

use super::*;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
pub(super) unsafe fn compare_avx2(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    limits: SweepLimits,
    tables: &Tables,
    params: &MccParams,
    scratch: &mut Scratch,
) -> f32 {
    compare_body(a, b, limits, tables, params, scratch, true, false)
}

/// [`copy_band`] four keys at a time; returns how many keys it read (a multiple of 4) and
/// how many it copied. Unsigned comparisons are signed ones of the keys with the top bit
/// flipped.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn copy_band_avx2(keys: &[u64], lo: u64, hi: u64, band: &mut [u64]) -> (usize, usize) {
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

/// [`relax_rows`] eight lanes at a time with the operations of `consolidate::fast_atan2`,
/// `consolidate::relax::angle_diff_select`, the tables' index and
/// `consolidate::relax::compatibility`, in the same order: each is a correctly rounded IEEE operation, a table read or a select, so
/// the entries are those of the scalar code.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn relax_rows_avx2(
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
    // `consolidate::relax::compatibility` on four lanes held as `f64`.
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

/// [`similarities`] eight pairs at a time; returns how many pairs it did (a multiple of 8).
/// Conversion, square root, addition, division and subtraction are the correctly rounded
/// IEEE operations of [`similarity`], so the keys are the same as the scalar code's; they
/// come out in another order, which the selection does not depend on.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn similarities_avx2(counts: &[PairCounts], keys: &mut [u64]) -> usize {
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
