//! Plane geometry on minutiae: angle arithmetic and the convex hull.
//!
//! Points here use mathematical axes (y up), converted from the template convention by
//! negating y, so that a minutia direction θ is the vector (cos θ, sin θ).

use std::f32::consts::{PI, TAU};

use super::kernel::{self, Kernel};

#[cfg(target_arch = "x86_64")]
mod hull_x86;

/// A minutia in mathematical axes, ready for geometry.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    /// x (right).
    pub x: f32,
    /// y (up).
    pub y: f32,
    /// Direction, radians counter-clockwise.
    pub theta: f32,
}

/// Difference of two angles, normalised to `[-π, π)`.
#[inline]
pub fn angle_diff(a: f32, b: f32) -> f32 {
    let d = a - b;
    if (-PI..PI).contains(&d) {
        d
    } else {
        d - TAU * ((d + PI) / TAU).floor()
    }
}

/// Convex hull of points (Andrew's monotone chain), counter-clockwise, no repeated end point.
pub fn convex_hull(points: &[Point]) -> Vec<(f32, f32)> {
    let mut pts: Vec<(f32, f32)> = points.iter().map(|p| (p.x, p.y)).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross = |o: (f32, f32), a: (f32, f32), b: (f32, f32)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut hull: Vec<(f32, f32)> = Vec::with_capacity(pts.len() * 2);
    for &p in &pts {
        while hull.len() >= 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
            hull.pop();
        }
        hull.push(p);
    }
    let lower = hull.len() + 1;
    for &p in pts.iter().rev().skip(1) {
        while hull.len() >= lower && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
            hull.pop();
        }
        hull.push(p);
    }
    hull.pop();
    hull
}

/// Whether `(x, y)` lies inside the hull enlarged by `margin` (inside, or within `margin` of it).
pub fn within_hull(hull: &[(f32, f32)], x: f32, y: f32, margin: f32) -> bool {
    let margin2 = margin * margin;
    match hull.len() {
        0 => false,
        1 => (x - hull[0].0).powi(2) + (y - hull[0].1).powi(2) <= margin2,
        n => {
            let edge = |i: usize| (hull[i], hull[(i + 1) % n]);
            let inside = n >= 3
                && (0..n).all(|i| {
                    let (a, b) = edge(i);
                    (b.0 - a.0) * (y - a.1) - (b.1 - a.1) * (x - a.0) >= 0.0
                });
            inside
                || (0..n).any(|i| {
                    let (a, b) = edge(i);
                    let (ex, ey) = (b.0 - a.0, b.1 - a.1);
                    let len2 = ex * ex + ey * ey;
                    let t = if len2 > 0.0 {
                        (((x - a.0) * ex + (y - a.1) * ey) / len2).clamp(0.0, 1.0)
                    } else {
                        0.0
                    };
                    (x - a.0 - t * ex).powi(2) + (y - a.1 - t * ey).powi(2) <= margin2
                })
        }
    }
}

/// Convex hull as [`convex_hull`] computes it, written into `hull` with `sorted` as the
/// working buffer (both reused across calls, so no allocation once they have grown).
pub fn convex_hull_into(
    points: &[Point],
    sorted: &mut Vec<(f32, f32)>,
    hull: &mut Vec<(f32, f32)>,
) {
    sorted.clear();
    sorted.extend(points.iter().map(|p| (p.x, p.y)));
    // Points equal under `total_cmp` have identical bits, so an unstable sort gives the
    // sequence the stable sort of `convex_hull` gives.
    sorted.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    sorted.dedup();
    hull.clear();
    if sorted.len() < 3 {
        hull.extend_from_slice(sorted);
        return;
    }
    let cross = |o: (f32, f32), a: (f32, f32), b: (f32, f32)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    for &p in sorted.iter() {
        while hull.len() >= 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
            hull.pop();
        }
        hull.push(p);
    }
    let lower = hull.len() + 1;
    for &p in sorted.iter().rev().skip(1) {
        while hull.len() >= lower && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
            hull.pop();
        }
        hull.push(p);
    }
    hull.pop();
}

/// One hull edge from `a` along `(ex, ey)`, with its bounding box.
#[derive(Debug, Clone, Copy, Default)]
struct Edge {
    ax: f32,
    ay: f32,
    ex: f32,
    ey: f32,
    len2: f32,
    min_x: f32,
    max_x: f32,
    min_y: f32,
    max_y: f32,
}

/// [`within_hull`] for many points against one hull and margin: the edge vectors and
/// lengths are computed once, and an edge whose bounding box lies clearly farther than the
/// margin from the point is passed over without the distance computation.
///
/// Every test evaluates the same floating-point expressions as [`within_hull`], so the
/// answers are identical. The bounding-box shortcut only skips an edge when the point is
/// more than `|margin| + 1` away from the box on one axis: the point `a + t·e` that
/// [`within_hull`] measures against lies in the box up to rounding (below 0.05 for
/// coordinates under 2¹⁶), so its computed squared distance exceeds `margin²` too.
#[derive(Debug, Clone, Default)]
pub struct HullTest {
    sorted: Vec<(f32, f32)>,
    vertices: Vec<(f32, f32)>,
    edges: Vec<Edge>,
    margin2: f32,
    reject: f32,
    /// Per edge: the inverse of its length (0 for an empty edge), for [`HullTest::depth`].
    inverse_lengths: Vec<f32>,
    /// Whether every hull coordinate is small enough for [`HullTest::depth`] to be exact
    /// to well within [`HullTest::DEPTH_SLACK`].
    depth_reliable: bool,
}

impl HullTest {
    /// Rebuilds the test for the hull of `points` enlarged by `margin`.
    pub fn rebuild(&mut self, points: &[Point], margin: f32) {
        convex_hull_into(points, &mut self.sorted, &mut self.vertices);
        self.margin2 = margin * margin;
        self.reject = margin.abs() + 1.0;
        self.edges.clear();
        self.inverse_lengths.clear();
        let n = self.vertices.len();
        self.depth_reliable = n >= 3
            && self.vertices.iter().all(|&(x, y)| {
                x.abs() <= Self::DEPTH_COORDINATES && y.abs() <= Self::DEPTH_COORDINATES
            });
        if n < 2 {
            return;
        }
        for i in 0..n {
            let (a, b) = (self.vertices[i], self.vertices[(i + 1) % n]);
            let (ex, ey) = (b.0 - a.0, b.1 - a.1);
            self.edges.push(Edge {
                ax: a.0,
                ay: a.1,
                ex,
                ey,
                len2: ex * ex + ey * ey,
                min_x: a.0.min(b.0),
                max_x: a.0.max(b.0),
                min_y: a.1.min(b.1),
                max_y: a.1.max(b.1),
            });
            let len = (ex * ex + ey * ey).sqrt();
            self.inverse_lengths
                .push(if len > 0.0 { len.recip() } else { 0.0 });
        }
    }

    /// Allowance a caller of [`HullTest::depth`] adds for rounding, in pixels.
    pub const DEPTH_SLACK: f32 = 1.0;
    /// Largest coordinate magnitude for which [`HullTest::depth`] answers.
    const DEPTH_COORDINATES: f32 = 8192.0;

    /// How far `(x, y)` lies inside the hull: the least distance to an edge's line, which
    /// for a convex polygon is the distance to its boundary (negative outside). `None` when
    /// the hull has fewer than three vertices or coordinates too large for the answer to
    /// be accurate.
    ///
    /// Use: every point within `r` of a point at depth `d ≥ r − |margin| + DEPTH_SLACK` is
    /// inside the hull or within `|margin| − DEPTH_SLACK` of it, so [`HullTest::contains`]
    /// answers `true` for it. (With coordinates below 2¹³ the rounding of the depth, of the
    /// inside test and of the edge distances is far below one pixel.)
    pub fn depth(&self, x: f32, y: f32) -> Option<f32> {
        if !self.depth_reliable {
            return None;
        }
        let mut depth = f32::INFINITY;
        for (e, &inv) in self.edges.iter().zip(&self.inverse_lengths) {
            let d = (e.ex * (y - e.ay) - e.ey * (x - e.ax)) * inv;
            if d < depth {
                depth = d;
            }
        }
        depth.is_finite().then_some(depth)
    }

    /// The hull's vertices, counter-clockwise (as [`convex_hull`] returns them).
    pub fn vertices(&self) -> &[(f32, f32)] {
        &self.vertices
    }

    /// Whether `(x, y)` lies inside the hull enlarged by the margin: the answer of
    /// [`within_hull`].
    #[inline]
    pub fn contains(&self, x: f32, y: f32) -> bool {
        match self.vertices.len() {
            0 => false,
            1 => {
                let h = self.vertices[0];
                (x - h.0).powi(2) + (y - h.1).powi(2) <= self.margin2
            }
            n => {
                let inside = n >= 3
                    && self
                        .edges
                        .iter()
                        .all(|e| e.ex * (y - e.ay) - e.ey * (x - e.ax) >= 0.0);
                inside || self.edges.iter().any(|e| self.near_edge(e, x, y))
            }
        }
    }

    /// [`HullTest::contains`] for the points `(xs[i], ys[i])` where `wanted[i]`, written to
    /// `out[i]` (`false` where not wanted). The inside test runs edge by edge over all the
    /// points at once (the same expression per point and edge, so it vectorises and gives
    /// the same answers); only wanted points outside the hull go through the margin test.
    ///
    /// With the AVX2 or AVX-512 kernel (when the CPU has it) and at least three vertices,
    /// whole vectors of points go through the vector bodies of `hull_x86`, which give the
    /// same answers.
    pub fn contains_many(
        &self,
        kernel: Kernel,
        xs: &[f32],
        ys: &[f32],
        wanted: &[bool],
        out: &mut [bool],
    ) {
        let n = self.vertices.len();
        #[cfg(target_arch = "x86_64")]
        if n >= 3 {
            let done = match kernel::supported(kernel) {
                // SAFETY: `supported` returns a vector kernel only when the CPU has its
                // features (AVX-512F for Avx512, AVX2 for Avx2); the hull has three vertices.
                Kernel::Avx512 => unsafe {
                    hull_x86::contains_many_avx512(self, xs, ys, wanted, out)
                },
                // SAFETY: as above.
                Kernel::Avx2 => unsafe { hull_x86::contains_many_avx2(self, xs, ys, wanted, out) },
                Kernel::Portable => 0,
            };
            if done > 0 {
                let (xs, ys) = (&xs[done..], &ys[done..]);
                return self.contains_many_portable(xs, ys, &wanted[done..], &mut out[done..]);
            }
        }
        let _ = kernel;
        self.contains_many_portable(xs, ys, wanted, out);
    }

    fn contains_many_portable(&self, xs: &[f32], ys: &[f32], wanted: &[bool], out: &mut [bool]) {
        let n = self.vertices.len();
        if n < 2 {
            for (((o, &x), &y), &w) in out.iter_mut().zip(xs).zip(ys).zip(wanted) {
                *o = w && self.contains(x, y);
            }
            return;
        }
        out.iter_mut().for_each(|o| *o = n >= 3);
        if n >= 3 {
            for e in &self.edges {
                for ((o, &x), &y) in out.iter_mut().zip(xs).zip(ys) {
                    *o &= e.ex * (y - e.ay) - e.ey * (x - e.ax) >= 0.0;
                }
            }
        }
        for (((o, &x), &y), &w) in out.iter_mut().zip(xs).zip(ys).zip(wanted) {
            *o = w && (*o || self.edges.iter().any(|e| self.near_edge(e, x, y)));
        }
    }

    #[inline]
    fn near_edge(&self, e: &Edge, x: f32, y: f32) -> bool {
        let r = self.reject;
        if x < e.min_x - r || x > e.max_x + r || y < e.min_y - r || y > e.max_y + r {
            return false;
        }
        let t = if e.len2 > 0.0 {
            (((x - e.ax) * e.ex + (y - e.ay) * e.ey) / e.len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        (x - e.ax - t * e.ex).powi(2) + (y - e.ay - t * e.ey).powi(2) <= self.margin2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angle_diff_wraps() {
        assert!((angle_diff(0.1, TAU - 0.1) - 0.2).abs() < 1e-5);
        assert!((angle_diff(TAU - 0.1, 0.1) + 0.2).abs() < 1e-5);
        assert!(angle_diff(PI, 0.0) >= -PI && angle_diff(PI, 0.0) < PI);
    }

    #[test]
    fn hull_and_margin() {
        let pts: Vec<Point> = [
            (0.0, 0.0),
            (10.0, 0.0),
            (10.0, 10.0),
            (0.0, 10.0),
            (5.0, 5.0),
        ]
        .iter()
        .map(|&(x, y)| Point { x, y, theta: 0.0 })
        .collect();
        let hull = convex_hull(&pts);
        assert_eq!(hull.len(), 4);
        assert!(within_hull(&hull, 5.0, 5.0, 0.0));
        assert!(!within_hull(&hull, 15.0, 5.0, 4.0));
        assert!(within_hull(&hull, 15.0, 5.0, 5.5));
    }
}
