//! Geometry of a drawn finger pair: the rigid transform that lays the candidate's minutiae
//! over the applicant's, estimated from the matched pairs, and the area where the two
//! prints overlap once aligned.
//!
//! The matcher scores local cylinder similarities and does not return a global transform,
//! so the drawing estimates one: the least-squares rotation and translation (2-D
//! Procrustes, no scaling) of the candidate's paired minutiae onto the applicant's.

use tunggal_index::template::FingerTemplate;

/// Millimetres per template pixel (templates are held at 500 ppi).
pub const MM_PER_PX: f32 = 25.4 / 500.0;

/// A rotation about the origin followed by a translation, in template pixels (y down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rigid {
    cos: f32,
    sin: f32,
    tx: f32,
    ty: f32,
}

impl Rigid {
    /// The identity.
    pub const IDENTITY: Self = Self {
        cos: 1.0,
        sin: 0.0,
        tx: 0.0,
        ty: 0.0,
    };

    /// The least-squares rigid transform taking `from` onto `to` (paired points); `None`
    /// with fewer than two pairs or when the pairs do not fix a rotation.
    pub fn estimate(from: &[(f32, f32)], to: &[(f32, f32)]) -> Option<Self> {
        let n = from.len().min(to.len());
        if n < 2 {
            return None;
        }
        let mean = |p: &[(f32, f32)]| {
            let (sx, sy) = p[..n]
                .iter()
                .fold((0.0f32, 0.0f32), |(ax, ay), &(x, y)| (ax + x, ay + y));
            (sx / n as f32, sy / n as f32)
        };
        let (fx, fy) = mean(from);
        let (gx, gy) = mean(to);
        let (mut dot, mut cross) = (0.0f32, 0.0f32);
        for (&(ax, ay), &(bx, by)) in from.iter().zip(to).take(n) {
            let (ax, ay, bx, by) = (ax - fx, ay - fy, bx - gx, by - gy);
            dot += ax * bx + ay * by;
            cross += ax * by - ay * bx;
        }
        if dot.hypot(cross) < f32::EPSILON {
            return None;
        }
        let theta = cross.atan2(dot);
        let (sin, cos) = theta.sin_cos();
        Some(Self {
            cos,
            sin,
            tx: gx - (cos * fx - sin * fy),
            ty: gy - (sin * fx + cos * fy),
        })
    }

    /// The transform taking the candidate's paired minutiae onto the applicant's.
    pub fn candidate_onto_applicant(
        applicant: &FingerTemplate,
        candidate: &FingerTemplate,
        pairs: &[(usize, usize)],
    ) -> Option<Self> {
        let (mut from, mut to) = (Vec::new(), Vec::new());
        for &(a, c) in pairs {
            if let (Some(ma), Some(mc)) = (applicant.minutiae.get(a), candidate.minutiae.get(c)) {
                to.push((f32::from(ma.x), f32::from(ma.y)));
                from.push((f32::from(mc.x), f32::from(mc.y)));
            }
        }
        Self::estimate(&from, &to)
    }

    /// The transform followed by a scale `s` and a shift `(dx, dy)`, as the six numbers of
    /// an SVG `matrix(a b c d e f)`.
    pub fn svg_matrix(&self, s: f32, (dx, dy): (f32, f32)) -> [f32; 6] {
        [
            s * self.cos,
            s * self.sin,
            -s * self.sin,
            s * self.cos,
            s * self.tx + dx,
            s * self.ty + dy,
        ]
    }

    /// Where the transform takes `(x, y)`.
    pub fn apply(&self, (x, y): (f32, f32)) -> (f32, f32) {
        (
            self.cos * x - self.sin * y + self.tx,
            self.sin * x + self.cos * y + self.ty,
        )
    }

    /// The rotation in degrees (clockwise on screen, since y points down).
    pub fn degrees(&self) -> f32 {
        self.sin.atan2(self.cos).to_degrees()
    }
}

fn cross(o: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// The convex hull of `points` (Andrew's monotone chain), counter-clockwise in a y-up frame.
pub fn convex_hull(points: &[(f32, f32)]) -> Vec<(f32, f32)> {
    let mut p: Vec<(f32, f32)> = points
        .iter()
        .copied()
        .filter(|q| q.0.is_finite() && q.1.is_finite())
        .collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let mut hull: Vec<(f32, f32)> = Vec::with_capacity(2 * p.len());
    let push = |hull: &mut Vec<(f32, f32)>, start: usize, q: (f32, f32)| {
        while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], q) <= 0.0
        {
            hull.pop();
        }
        hull.push(q);
    };
    for &q in &p {
        push(&mut hull, 0, q);
    }
    hull.pop();
    let start = hull.len();
    for &q in p.iter().rev() {
        push(&mut hull, start, q);
    }
    hull.pop();
    hull
}

/// The area of a simple polygon (shoelace), always non-negative.
pub fn area(poly: &[(f32, f32)]) -> f32 {
    let n = poly.len();
    if n < 3 {
        return 0.0;
    }
    let twice: f32 = (0..n)
        .map(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum();
    twice.abs() / 2.0
}

/// The intersection of two convex polygons given counter-clockwise (Sutherland–Hodgman).
pub fn clip_convex(subject: &[(f32, f32)], clip: &[(f32, f32)]) -> Vec<(f32, f32)> {
    let mut out = subject.to_vec();
    let m = clip.len();
    if m < 3 {
        return Vec::new();
    }
    for i in 0..m {
        let (a, b) = (clip[i], clip[(i + 1) % m]);
        let input = std::mem::take(&mut out);
        let Some(&last) = input.last() else {
            break;
        };
        let inside = |p: (f32, f32)| cross(a, b, p) >= 0.0;
        let meet = |p: (f32, f32), q: (f32, f32)| {
            let (dp, dq) = (cross(a, b, p), cross(a, b, q));
            let t = dp / (dp - dq);
            (p.0 + t * (q.0 - p.0), p.1 + t * (q.1 - p.1))
        };
        let mut prev = last;
        for &cur in &input {
            match (inside(cur), inside(prev)) {
                (true, true) => out.push(cur),
                (true, false) => {
                    out.push(meet(prev, cur));
                    out.push(cur);
                }
                (false, true) => out.push(meet(prev, cur)),
                (false, false) => {}
            }
            prev = cur;
        }
    }
    out
}

/// The area, in mm², where the convex hulls of two point sets overlap.
pub fn overlap_mm2(a: &[(f32, f32)], b: &[(f32, f32)]) -> f32 {
    let (ha, hb) = (convex_hull(a), convex_hull(b));
    area(&clip_convex(&ha, &hb)) * MM_PER_PX * MM_PER_PX
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_recovers_a_rotation_and_shift() {
        let from = [(10.0, 20.0), (200.0, 40.0), (120.0, 300.0), (60.0, 150.0)];
        let truth = Rigid {
            cos: 30f32.to_radians().cos(),
            sin: 30f32.to_radians().sin(),
            tx: 15.0,
            ty: -7.0,
        };
        let to: Vec<_> = from.iter().map(|&p| truth.apply(p)).collect();
        let got = Rigid::estimate(&from, &to).unwrap();
        assert!((got.degrees() - 30.0).abs() < 0.01, "{}", got.degrees());
        for &p in &from {
            let (x, y) = got.apply(p);
            let (u, v) = truth.apply(p);
            assert!((x - u).abs() < 0.01 && (y - v).abs() < 0.01);
        }
        assert!(Rigid::estimate(&from[..1], &to[..1]).is_none());
    }

    #[test]
    fn overlap_of_two_squares_is_their_common_part() {
        let sq = |x0: f32, y0: f32, s: f32| {
            vec![
                (x0, y0),
                (x0 + s, y0),
                (x0 + s, y0 + s),
                (x0, y0 + s),
                (x0 + s / 2.0, y0 + s / 2.0),
            ]
        };
        let px2 = MM_PER_PX * MM_PER_PX;
        let full = overlap_mm2(&sq(0.0, 0.0, 100.0), &sq(0.0, 0.0, 100.0));
        assert!((full - 10_000.0 * px2).abs() < 1e-3, "{full}");
        let half = overlap_mm2(&sq(0.0, 0.0, 100.0), &sq(50.0, 0.0, 100.0));
        assert!((half - 5_000.0 * px2).abs() < 1e-3, "{half}");
        assert_eq!(overlap_mm2(&sq(0.0, 0.0, 10.0), &sq(50.0, 50.0, 10.0)), 0.0);
        assert_eq!(convex_hull(&sq(0.0, 0.0, 10.0)).len(), 4);
    }
}
