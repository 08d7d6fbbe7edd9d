//! Plane geometry on minutiae: angle arithmetic and the convex hull.
//!
//! Points here use mathematical axes (y up), converted from the template convention by
//! negating y, so that a minutia direction θ is the vector (cos θ, sin θ).

use std::f32::consts::{PI, TAU};

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
