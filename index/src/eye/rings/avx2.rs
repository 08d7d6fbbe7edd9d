//! The AVX2 loop of [`ring_sums`](super::ring_sums): eight radii at a time, one per lane,
//! with the operations of the portable loop in the same order, so the sums are bit for bit
//! the same.

use super::{ring_sums_portable, Plane, RingOffsets};

/// Radii `0..sums.len()` eight at a time, one per lane; the radii left over by the portable
/// loop.
///
/// # Safety
/// AVX2 must be available, `sums.len()` must not exceed [`RingOffsets::interior`] for
/// `(cx, cy)`, so that every gathered index lies inside `plane.px`, and `plane.px.len()` must
/// fit in an `i32`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn ring_sums_avx2(
    plane: &Plane,
    cx: f32,
    cy: f32,
    offsets: &RingOffsets,
    sums: &mut [f32],
) {
    use std::arch::x86_64::*;
    let radii = offsets.radii;
    let lanes = sums.len().min(radii) / 8 * 8;
    let px = plane.px.as_ptr();
    let w = plane.w as i32;
    let (vcx, vcy) = (_mm256_set1_ps(cx), _mm256_set1_ps(cy));
    let vw = _mm256_set1_epi32(w);
    let one = _mm256_set1_epi32(1);
    let below = _mm256_set1_epi32(w + 1);
    let mut k = 0;
    while k < lanes {
        let mut sum = _mm256_setzero_ps();
        for d in 0..offsets.dirs {
            let i = d * radii + k;
            // SAFETY: `k + 8 <= lanes <= radii`, so `i + 8 <= dirs · radii`, the length of both offset
            // vectors; the loads are unaligned.
            let (ox, oy) = unsafe {
                (
                    _mm256_loadu_ps(offsets.x.as_ptr().add(i)),
                    _mm256_loadu_ps(offsets.y.as_ptr().add(i)),
                )
            };
            let x = _mm256_add_ps(vcx, ox);
            let y = _mm256_add_ps(vcy, oy);
            // Truncation towards zero, as `as usize` of a non-negative value.
            let x0 = _mm256_cvttps_epi32(x);
            let y0 = _mm256_cvttps_epi32(y);
            let fx = _mm256_sub_ps(x, _mm256_cvtepi32_ps(x0));
            let fy = _mm256_sub_ps(y, _mm256_cvtepi32_ps(y0));
            let at = _mm256_add_epi32(_mm256_mullo_epi32(y0, vw), x0);
            // SAFETY: `interior` gives 0 ≤ x0 ≤ w − 2 and 0 ≤ y0 ≤ h − 2 in every lane, so
            // `at`, `at + 1`, `at + w` and `at + w + 1` are all below `w · h`, the length of
            // `plane.px`, which fits in an `i32` (checked by the caller).
            let (a, b, c, e) = unsafe {
                (
                    _mm256_i32gather_ps::<4>(px, at),
                    _mm256_i32gather_ps::<4>(px, _mm256_add_epi32(at, one)),
                    _mm256_i32gather_ps::<4>(px, _mm256_add_epi32(at, vw)),
                    _mm256_i32gather_ps::<4>(px, _mm256_add_epi32(at, below)),
                )
            };
            let top = _mm256_add_ps(a, _mm256_mul_ps(_mm256_sub_ps(b, a), fx));
            let bottom = _mm256_add_ps(c, _mm256_mul_ps(_mm256_sub_ps(e, c), fx));
            let v = _mm256_add_ps(top, _mm256_mul_ps(_mm256_sub_ps(bottom, top), fy));
            sum = _mm256_add_ps(sum, v);
        }
        let mut lane = [0.0f32; 8];
        // SAFETY: `lane` holds eight f32; the store is unaligned.
        unsafe { _mm256_storeu_ps(lane.as_mut_ptr(), sum) };
        sums[k..k + 8].copy_from_slice(&lane);
        k += 8;
    }
    ring_sums_portable(plane, cx, cy, offsets, sums, lanes);
}
