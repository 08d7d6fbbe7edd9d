//! Comparisons of a Euclidean distance with a limit that give exactly the result of
//! comparing `a.hypot(b)`, calling `hypot` only for points within a relative 10⁻⁵ of the
//! limit.
//!
//! The distance is first computed in `f64` from the `f32` components, with a relative error
//! below 10⁻¹⁵; `f32::hypot` is accurate to within an ulp or two (2⁻²² relative). Outside a
//! band of relative width 10⁻⁵ around the limit both therefore lie on the same side of it;
//! inside the band (and for non-finite input or limits) `hypot` itself decides.

/// Where `a.hypot(b)` lies relative to `limit`, or `None` within the band.
#[inline]
fn side(a: f32, b: f32, limit: f32) -> Option<std::cmp::Ordering> {
    const BAND: f64 = 1e-5;
    let l = f64::from(limit);
    if !(l.is_finite() && l > 0.0) {
        return None;
    }
    let (a, b) = (f64::from(a), f64::from(b));
    let d2 = a * a + b * b;
    if d2 < (l * (1.0 - BAND)).powi(2) {
        Some(std::cmp::Ordering::Less)
    } else if d2 > (l * (1.0 + BAND)).powi(2) {
        Some(std::cmp::Ordering::Greater)
    } else {
        None
    }
}

/// `a.hypot(b) < limit`.
#[inline]
pub(crate) fn hypot_lt(a: f32, b: f32, limit: f32) -> bool {
    match side(a, b, limit) {
        Some(o) => o == std::cmp::Ordering::Less,
        None => a.hypot(b) < limit,
    }
}

/// `a.hypot(b) > limit`.
#[inline]
pub(crate) fn hypot_gt(a: f32, b: f32, limit: f32) -> bool {
    match side(a, b, limit) {
        Some(o) => o == std::cmp::Ordering::Greater,
        None => a.hypot(b) > limit,
    }
}

/// `a.hypot(b) <= limit`.
#[inline]
pub(crate) fn hypot_le(a: f32, b: f32, limit: f32) -> bool {
    !(hypot_gt(a, b, limit) || a.is_nan() || b.is_nan() || limit.is_nan())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The comparisons agree with `hypot` on random points, most of them near the limit.
    #[test]
    fn comparisons_agree_with_hypot() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for i in 0..200_000 {
            let limit: f32 = rng.gen_range(0.5..300.0);
            let phi: f32 = rng.gen_range(0.0..std::f32::consts::TAU);
            let scale: f32 = if i % 2 == 0 {
                1.0 + rng.gen_range(-3e-5..3e-5)
            } else {
                rng.gen_range(0.0..2.0)
            };
            let (a, b) = (limit * scale * phi.cos(), limit * scale * phi.sin());
            let h = a.hypot(b);
            assert_eq!(hypot_lt(a, b, limit), h < limit, "{a} {b} {limit}");
            assert_eq!(hypot_gt(a, b, limit), h > limit, "{a} {b} {limit}");
            assert_eq!(hypot_le(a, b, limit), h <= limit, "{a} {b} {limit}");
            // Exactly on the limit.
            assert!(!hypot_lt(a, b, h));
            assert!(hypot_le(a, b, h));
        }
        assert!(!hypot_lt(f32::NAN, 1.0, 2.0));
        assert!(!hypot_gt(f32::NAN, 1.0, 2.0));
        assert!(!hypot_le(f32::NAN, 1.0, 2.0));
        assert!(hypot_lt(3.0, 4.0, f32::INFINITY));
        assert!(hypot_le(0.0, 0.0, 0.0));
        assert!(!hypot_lt(0.0, 0.0, -1.0));
    }
}
