//! [`HullTest::contains_many`] sixteen or eight points per vector.
//!
//! Per point and edge the bodies evaluate the expressions of [`HullTest::contains`] (the
//! inside test, then the clamped projection and squared distance of the margin test), so
//! they give its answers; the bounding-box shortcut of the scalar test is not taken (it
//! only ever skips edges whose test fails).

use std::arch::x86_64::*;

use super::{Edge, HullTest};

/// Tests `lanes` points from `at` against every edge; returns the lanes that are inside
/// the hull or within the margin of an edge, as bits.
macro_rules! hull_lanes {
    ($v:ident, $mask:ty, $xs:expr, $ys:expr, $edges:expr, $margin2:expr) => {{
        let (x, y) = ($xs, $ys);
        let mut inside: $mask = !0;
        for e in $edges {
            let cross = $v::sub(
                $v::mul($v::set1(e.ex), $v::sub(y, $v::set1(e.ay))),
                $v::mul($v::set1(e.ey), $v::sub(x, $v::set1(e.ax))),
            );
            inside &= $v::ge(cross, $v::zero());
        }
        let mut near: $mask = 0;
        if inside != !0 {
            for e in $edges {
                let (ex, ey) = ($v::set1(e.ex), $v::set1(e.ey));
                let rx = $v::sub(x, $v::set1(e.ax));
                let ry = $v::sub(y, $v::set1(e.ay));
                let t = if e.len2 > 0.0 {
                    let t = $v::div($v::add($v::mul(rx, ex), $v::mul(ry, ey)), $v::set1(e.len2));
                    $v::clamp01(t)
                } else {
                    $v::zero()
                };
                let dx = $v::sub(rx, $v::mul(t, ex));
                let dy = $v::sub(ry, $v::mul(t, ey));
                let d2 = $v::add($v::mul(dx, dx), $v::mul(dy, dy));
                near |= $v::le(d2, $v::set1($margin2));
                if inside | near == !0 {
                    break;
                }
            }
        }
        inside | near
    }};
}

/// Sixteen-lane operations (AVX-512F).
struct V16;

impl V16 {
    #[target_feature(enable = "avx512f")]
    fn set1(v: f32) -> __m512 {
        _mm512_set1_ps(v)
    }
    #[target_feature(enable = "avx512f")]
    fn zero() -> __m512 {
        _mm512_setzero_ps()
    }
    #[target_feature(enable = "avx512f")]
    fn add(a: __m512, b: __m512) -> __m512 {
        _mm512_add_ps(a, b)
    }
    #[target_feature(enable = "avx512f")]
    fn sub(a: __m512, b: __m512) -> __m512 {
        _mm512_sub_ps(a, b)
    }
    #[target_feature(enable = "avx512f")]
    fn mul(a: __m512, b: __m512) -> __m512 {
        _mm512_mul_ps(a, b)
    }
    #[target_feature(enable = "avx512f")]
    fn div(a: __m512, b: __m512) -> __m512 {
        _mm512_div_ps(a, b)
    }
    /// `t.clamp(0, 1)` for finite `t` (a -0 becomes +0, which squares the same).
    #[target_feature(enable = "avx512f")]
    fn clamp01(t: __m512) -> __m512 {
        _mm512_max_ps(_mm512_min_ps(t, _mm512_set1_ps(1.0)), _mm512_setzero_ps())
    }
    #[target_feature(enable = "avx512f")]
    fn ge(a: __m512, b: __m512) -> u16 {
        _mm512_cmp_ps_mask::<_CMP_GE_OQ>(a, b)
    }
    #[target_feature(enable = "avx512f")]
    fn le(a: __m512, b: __m512) -> u16 {
        _mm512_cmp_ps_mask::<_CMP_LE_OQ>(a, b)
    }
}

/// Eight-lane operations (AVX2).
struct V8;

impl V8 {
    #[target_feature(enable = "avx2")]
    fn set1(v: f32) -> __m256 {
        _mm256_set1_ps(v)
    }
    #[target_feature(enable = "avx2")]
    fn zero() -> __m256 {
        _mm256_setzero_ps()
    }
    #[target_feature(enable = "avx2")]
    fn add(a: __m256, b: __m256) -> __m256 {
        _mm256_add_ps(a, b)
    }
    #[target_feature(enable = "avx2")]
    fn sub(a: __m256, b: __m256) -> __m256 {
        _mm256_sub_ps(a, b)
    }
    #[target_feature(enable = "avx2")]
    fn mul(a: __m256, b: __m256) -> __m256 {
        _mm256_mul_ps(a, b)
    }
    #[target_feature(enable = "avx2")]
    fn div(a: __m256, b: __m256) -> __m256 {
        _mm256_div_ps(a, b)
    }
    /// `t.clamp(0, 1)` for finite `t` (a -0 becomes +0, which squares the same).
    #[target_feature(enable = "avx2")]
    fn clamp01(t: __m256) -> __m256 {
        _mm256_max_ps(_mm256_min_ps(t, _mm256_set1_ps(1.0)), _mm256_setzero_ps())
    }
    #[target_feature(enable = "avx2")]
    fn ge(a: __m256, b: __m256) -> u8 {
        _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(a, b)) as u8
    }
    #[target_feature(enable = "avx2")]
    fn le(a: __m256, b: __m256) -> u8 {
        _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(a, b)) as u8
    }
}

/// Defines a `contains_many` body of `$lanes` points per vector (see
/// [`contains_many_avx512`]).
macro_rules! contains_many_body {
    ($(#[$doc:meta])* $name:ident, $feature:literal, $v:ident, $mask:ty, $lanes:literal, $load:ident) => {
        $(#[$doc])*
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn $name(
            test: &HullTest,
            xs: &[f32],
            ys: &[f32],
            wanted: &[bool],
            out: &mut [bool],
        ) -> usize {
            let edges: &[Edge] = &test.edges;
            let len = xs.len().min(ys.len()).min(wanted.len()).min(out.len());
            let done = len / $lanes * $lanes;
            for q in (0..done).step_by($lanes) {
                let want = wanted[q..q + $lanes]
                    .iter()
                    .enumerate()
                    .fold(0 as $mask, |m, (l, &w)| m | <$mask>::from(w) << l);
                let hit = if want == 0 {
                    0
                } else {
                    // SAFETY: `q` plus the lane count is at most `len ≤ xs.len(), ys.len()`.
                    let (x, y) = unsafe { ($load(xs.as_ptr().add(q)), $load(ys.as_ptr().add(q))) };
                    want & hull_lanes!($v, $mask, x, y, edges, test.margin2)
                };
                for (l, o) in out[q..q + $lanes].iter_mut().enumerate() {
                    *o = hit >> l & 1 == 1;
                }
            }
            done
        }
    };
}

contains_many_body!(
    /// Writes `out[i] = wanted[i] && test.contains(xs[i], ys[i])` for the first
    /// `16 · (len / 16)` points; returns how many were done. The hull must have at least
    /// three vertices.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    contains_many_avx512,
    "avx512f",
    V16,
    u16,
    16,
    _mm512_loadu_ps
);

contains_many_body!(
    /// As [`contains_many_avx512`], eight points per vector.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    contains_many_avx2,
    "avx2",
    V8,
    u8,
    8,
    _mm256_loadu_ps
);
