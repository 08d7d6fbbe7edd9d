//! Sums of bilinear samples on concentric circles, the inner loop of the circle searches.
//!
//! [`RingOffsets`] holds the sample offsets `r_k · (cos, sin)` of every direction `d` and
//! radius `k` of a search, computed once per search. [`ring_sums`] adds, for each of the
//! leading radii whose samples all lie inside the plane's interior, the bilinear samples of
//! all directions around a centre, in direction order. Each radius is summed by itself with exactly the
//! operations of [`Plane::sample`] followed by `sum += v` in direction order, so the sums are
//! bit for bit those of the sample-by-sample loop; the AVX2 variant (`avx2.rs`) computes eight
//! radii at a time, one per lane, with the same operations (no fused multiply–add). This
//! module and `avx2.rs` are the only ones of the eye encoder with `unsafe`: here the call of
//! the function compiled for AVX2 after checking at run time that the processor has it,
//! there the AVX2 loads and gathers.

use super::plane::Plane;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
use avx2::ring_sums_avx2;

/// Sample offsets of a circle search, direction-major: `x[d · radii + k]` and `y[…]`.
#[derive(Debug, Default)]
pub(crate) struct RingOffsets {
    x: Vec<f32>,
    y: Vec<f32>,
    dirs: usize,
    radii: usize,
    /// Per radius, the smallest and largest offsets over the directions: x low, x high,
    /// y low, y high.
    ranges: Vec<[f32; 4]>,
}

impl RingOffsets {
    /// Fills the offsets for unit vectors `dirs` and radii `radius(k)`, `k < radii`, reusing
    /// the buffers.
    pub(crate) fn fill(
        &mut self,
        dirs: &[(f32, f32)],
        radii: usize,
        radius: impl Fn(usize) -> f32,
    ) {
        self.x.clear();
        self.y.clear();
        self.dirs = dirs.len();
        self.radii = radii;
        for &(c, s) in dirs {
            for k in 0..radii {
                let r = radius(k);
                self.x.push(r * c);
                self.y.push(r * s);
            }
        }
        self.ranges.clear();
        for k in 0..radii {
            let mut r = [
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::INFINITY,
                f32::NEG_INFINITY,
            ];
            for d in 0..self.dirs {
                let (x, y) = (self.x[d * radii + k], self.y[d * radii + k]);
                r = [r[0].min(x), r[1].max(x), r[2].min(y), r[3].max(y)];
            }
            self.ranges.push(r);
        }
    }

    /// Directions.
    pub(crate) fn dirs(&self) -> usize {
        self.dirs
    }

    /// Offsets of direction `d` at radius `k`.
    #[inline]
    pub(crate) fn at(&self, d: usize, k: usize) -> (f32, f32) {
        let i = d * self.radii + k;
        (self.x[i], self.y[i])
    }

    /// How many leading radii have every sample around `(cx, cy)` with its 2 × 2 bilinear
    /// neighbourhood inside `plane`: `0 ≤ cx + x < w − 1` and `0 ≤ cy + y < h − 1` for the
    /// radius's extreme offsets, hence (rounding being monotonic) for all of its offsets.
    fn interior(&self, plane: &Plane, cx: f32, cy: f32) -> usize {
        if self.dirs == 0 || plane.w < 2 || plane.h < 2 {
            return 0;
        }
        let (xe, ye) = ((plane.w - 1) as f32, (plane.h - 1) as f32);
        self.ranges
            .iter()
            .take_while(|r| {
                cx + r[0] >= 0.0 && cy + r[2] >= 0.0 && cx + r[1] < xe && cy + r[3] < ye
            })
            .count()
    }
}

/// Sets `sums[k]` to the sum over directions, in order, of the bilinear samples at radius `k`
/// around `(cx, cy)` for the leading radii whose samples all lie in the plane's interior, and
/// returns how many those are; the caller samples the later radii one by one.
pub(crate) fn ring_sums(
    plane: &Plane,
    cx: f32,
    cy: f32,
    offsets: &RingOffsets,
    sums: &mut [f32],
) -> usize {
    let n = offsets.interior(plane, cx, cy).min(sums.len());
    let sums = &mut sums[..n];
    #[cfg(target_arch = "x86_64")]
    {
        if i32::try_from(plane.px.len()).is_ok() && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor supports AVX2 and the plane's length fits in an `i32`
            // (checked just above), and every sample's neighbourhood at the first
            // `sums.len()` radii is inside the plane (`interior`, above): the requirements
            // of `ring_sums_avx2`.
            unsafe { ring_sums_avx2(plane, cx, cy, offsets, sums) };
            return n;
        }
    }
    ring_sums_portable(plane, cx, cy, offsets, sums, 0);
    n
}

/// The portable loop, from radius `first` on: [`Plane::sample`]'s interior branch, without
/// its range checks (the caller checked [`RingOffsets::interior`]).
pub(super) fn ring_sums_portable(
    plane: &Plane,
    cx: f32,
    cy: f32,
    offsets: &RingOffsets,
    sums: &mut [f32],
    first: usize,
) {
    let (w, px) = (plane.w, &plane.px);
    for (k, out) in sums.iter_mut().enumerate().take(offsets.radii).skip(first) {
        let mut sum = 0.0f32;
        for d in 0..offsets.dirs {
            let (ox, oy) = offsets.at(d, k);
            let (x, y) = (cx + ox, cy + oy);
            let (x0, y0) = (x as usize, y as usize);
            let (fx, fy) = (x - x0 as f32, y - y0 as f32);
            let i = y0 * w + x0;
            let (a, b) = (px[i], px[i + 1]);
            let (c, e) = (px[i + w], px[i + w + 1]);
            let top = a + (b - a) * fx;
            let bottom = c + (e - c) * fx;
            sum += top + (bottom - top) * fy;
        }
        *out = sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sums equal the sample-by-sample loop bit for bit, on every path.
    #[test]
    fn ring_sums_match_sampling_one_by_one() {
        let (w, h) = (61usize, 47usize);
        let px: Vec<f32> = (0..w * h)
            .map(|i| ((i * 7919) % 251) as f32 * 0.37 + 0.013 * i as f32)
            .collect();
        let plane = Plane { w, h, px };
        let dirs: Vec<(f32, f32)> = (0..29)
            .map(|d| {
                let a = 0.2166f32 * d as f32 + 0.1;
                (a.cos(), a.sin())
            })
            .collect();
        let mut offsets = RingOffsets::default();
        let radii = 19;
        offsets.fill(&dirs, radii, |k| (1.3 + 0.9 * k as f32).max(0.5));
        // Centres well inside, inside at sub-pixel offsets, with the outer radii leaving
        // the plane, and with even the first radius leaving it.
        let cases = [
            ((30.2f32, 23.7f32), radii),
            ((29.0, 24.0), radii),
            ((31.77, 22.01), radii),
            ((12.5, 23.0), 13),
            ((0.5, 4.0), 0),
        ];
        for ((cx, cy), inside) in cases {
            let mut sums = vec![f32::NAN; radii];
            let n = ring_sums(&plane, cx, cy, &offsets, &mut sums);
            assert_eq!(n, inside, "leading interior radii around {cx},{cy}");
            let mut portable = vec![f32::NAN; n];
            ring_sums_portable(&plane, cx, cy, &offsets, &mut portable, 0);
            for k in 0..n {
                let mut sum = 0.0f32;
                for d in 0..dirs.len() {
                    let (ox, oy) = offsets.at(d, k);
                    sum += plane.sample(cx + ox, cy + oy).unwrap();
                }
                assert_eq!(sums[k].to_bits(), sum.to_bits(), "radius {k}");
                assert_eq!(portable[k].to_bits(), sum.to_bits(), "radius {k}");
            }
            // The radius after the run has a sample outside the interior.
            if n < radii {
                assert!((0..dirs.len()).any(|d| {
                    let (ox, oy) = offsets.at(d, n);
                    let (x, y) = (cx + ox, cy + oy);
                    !(x >= 0.0 && y >= 0.0 && x < (w - 1) as f32 && y < (h - 1) as f32)
                }));
                assert!(
                    sums[n..].iter().all(|v| v.is_nan()),
                    "later radii left alone"
                );
            }
        }
    }
}
