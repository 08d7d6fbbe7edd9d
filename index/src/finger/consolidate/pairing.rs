//! Aligned pairing with overlap normalisation: a global view of a comparison.
//!
//! The relaxed local score rests on the few most efficient pairs (`min_np`–`max_np`), so an
//! impostor whose handful of coincidental pairs happen to agree scores like a mate, and the
//! number of pairs averaged follows the smaller template's minutiae even when only part of
//! it overlaps the other. Here the most efficient pairs give a rigid alignment (rotation:
//! weighted circular mean of the pairs' direction differences; translation: weighted mean
//! displacement) and, under it, the minutiae each template has inside the other's area
//! (the convex hull of its minutiae, enlarged by the position tolerance). Two uses:
//!
//! * `pair_overlap_np`: the number of pairs averaged follows the fewer of those counts;
//! * `pair_weight`: candidate pairs are checked against the alignment. A pair counts when
//!   the aligned positions lie within a tolerance that grows with the distance from the
//!   pairs' centre (the elastic distortion of a pressed finger grows away from the contact
//!   centre) and the aligned directions agree, and only if each minutia is the other's
//!   nearest such partner (mutual best: one-to-one, and independent of the order of the
//!   candidates, so every kernel gives the same count). The count `m` gives the pairing
//!   score `m² / (n_a · n_b)` with `n_a`, `n_b` the overlap counts, each at least
//!   `pair_floor`: a small common area is not punished for the minutiae it could not show,
//!   while a tiny overlap cannot claim certainty from three pairs.
//!
//! The hulls are built once per template (with its sweep layout, [`super::super::kernel::Layout`]).

use std::f32::consts::TAU;
use std::sync::OnceLock;

use super::super::geometry::{convex_hull_into, Point};
use super::super::params::MccParams;
use super::super::PreparedTemplate;

/// Buffers of the pairing stage (reused, so the stage does not allocate once warm).
#[derive(Debug, Default)]
pub(crate) struct PairingScratch {
    /// B's minutiae moved into A's frame.
    bx: Vec<f32>,
    by: Vec<f32>,
    /// A's minutiae moved into B's frame.
    ax: Vec<f32>,
    ay: Vec<f32>,
    /// Per point: outside some edge of the hull tested.
    outside: Vec<u32>,
    /// Squared position tolerance per minutia of A.
    tol2: Vec<f32>,
    /// Best partner key per minutia of A and of B (see [`partner_key`]), 0 for none.
    best_a: Vec<u64>,
    best_b: Vec<u64>,
    sorted: Vec<(f32, f32)>,
    /// Hulls of templates that came without one in their layout.
    hull_a: Hull,
    hull_b: Hull,
}

/// The convex hull of a template's minutiae (counter-clockwise), its edges as outward unit
/// normals `(nx, ny)` and offsets `n · a` of their lines (structure of arrays, so that the
/// containment test runs over all edges without branches).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hull {
    points: Vec<(f32, f32)>,
    nx: Vec<f32>,
    ny: Vec<f32>,
    offset: Vec<f32>,
    /// Number of minutiae it was built from.
    of: usize,
}

impl Hull {
    /// Makes this the hull of `points` (`sorted` is a working buffer).
    pub(crate) fn fill(&mut self, points: &[Point], sorted: &mut Vec<(f32, f32)>) {
        convex_hull_into(points, sorted, &mut self.points);
        self.nx.clear();
        self.ny.clear();
        self.offset.clear();
        self.of = points.len();
        let n = self.points.len();
        if n < 3 {
            return;
        }
        for i in 0..n {
            let (ax, ay) = self.points[i];
            let (bx, by) = self.points[(i + 1) % n];
            let (ex, ey) = (bx - ax, by - ay);
            let len = (ex * ex + ey * ey).sqrt();
            if len > 0.0 {
                // Counter-clockwise: the outward normal is the edge turned clockwise.
                let (nx, ny) = (ey / len, -ex / len);
                self.nx.push(nx);
                self.ny.push(ny);
                self.offset.push(ax * nx + ay * ny);
            }
        }
    }

    /// The hull of `points`, built from scratch.
    pub fn of(points: &[Point]) -> Self {
        let mut hull = Self::default();
        hull.fill(points, &mut Vec::new());
        hull
    }

    /// Whether this was built from `points` (as far as their number tells).
    fn fits(&self, points: &[Point]) -> bool {
        self.of == points.len() && (points.is_empty() || !self.points.is_empty())
    }

    /// Bytes of the hull's payload.
    pub fn size_bytes(&self) -> usize {
        self.points.len() * 8 + (self.nx.len() + self.ny.len() + self.offset.len()) * 4
    }

    /// Whether `(x, y)` is within `margin` of the inside of every edge's line (the hull
    /// grown by `margin`, corners mitred). With fewer than three hull points only the
    /// distance to the points counts.
    #[inline(always)]
    fn contains(&self, x: f32, y: f32, margin: f32) -> bool {
        if self.nx.len() < 3 {
            return self
                .points
                .iter()
                .any(|&(hx, hy)| (x - hx) * (x - hx) + (y - hy) * (y - hy) <= margin * margin);
        }
        let outside = self
            .nx
            .iter()
            .zip(&self.ny)
            .zip(&self.offset)
            .map(|((&nx, &ny), &o)| u32::from(x * nx + y * ny > o + margin))
            .sum::<u32>();
        outside == 0
    }

    /// How many of the points `(xs[k], ys[k])` [`Hull::contains`] within `margin`, tested
    /// one edge at a time over all points (the same comparisons, vectorised across the
    /// points); `outside` is a working buffer.
    #[inline(always)]
    fn count_inside(&self, xs: &[f32], ys: &[f32], margin: f32, outside: &mut Vec<u32>) -> usize {
        if self.nx.len() < 3 {
            return xs
                .iter()
                .zip(ys)
                .filter(|&(&x, &y)| self.contains(x, y, margin))
                .count();
        }
        let n = xs.len().min(ys.len());
        outside.clear();
        outside.resize(n, 0);
        let (xs, ys) = (&xs[..n], &ys[..n]);
        for ((&nx, &ny), &o) in self.nx.iter().zip(&self.ny).zip(&self.offset) {
            let limit = o + margin;
            for ((f, &x), &y) in outside.iter_mut().zip(xs).zip(ys) {
                *f |= u32::from(x * nx + y * ny > limit);
            }
        }
        outside.iter().filter(|&&f| f == 0).count()
    }
}

/// The rigid motion taking B's frame onto A's: `q = R(φ)·p + t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Alignment {
    /// Rotation φ (radians).
    pub angle: f32,
    cos: f32,
    sin: f32,
    tx: f32,
    ty: f32,
    /// Weighted centre of A's paired minutiae, from which the tolerance grows.
    cx: f32,
    cy: f32,
}

impl Alignment {
    /// The weighted least-squares alignment of `pairs` (indices into A's and B's minutiae,
    /// weight), or `None` if no pair has positive weight. Direction differences are taken
    /// in 1/256 turns (the templates' resolution) from a table, so no trigonometric function
    /// is evaluated.
    pub(crate) fn of(
        a: &PreparedTemplate,
        b: &PreparedTemplate,
        pairs: &[(u16, u16, f32)],
    ) -> Option<Self> {
        let unit = unit_table();
        let (mut sw, mut ss, mut sc) = (0.0f32, 0.0f32, 0.0f32);
        let (mut sax, mut say, mut sbx, mut sby) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
        for &(i, j, w) in pairs {
            let (i, j) = (usize::from(i), usize::from(j));
            let (Some(p), Some(q), Some(&da), Some(&db)) = (
                a.points.get(i),
                b.points.get(j),
                a.directions.get(i),
                b.directions.get(j),
            ) else {
                continue;
            };
            if w.is_nan() || w <= 0.0 {
                continue;
            }
            let (cos, sin) = unit[usize::from(da.wrapping_sub(db))];
            sw += w;
            ss += w * sin;
            sc += w * cos;
            sax += w * p.x;
            say += w * p.y;
            sbx += w * q.x;
            sby += w * q.y;
        }
        let len = (ss * ss + sc * sc).sqrt();
        if sw <= 0.0 || len <= 0.0 {
            return None;
        }
        let (cos, sin) = (sc / len, ss / len);
        let (cx, cy) = (sax / sw, say / sw);
        let (mx, my) = (sbx / sw, sby / sw);
        Some(Self {
            angle: super::fast_atan2(ss, sc),
            cos,
            sin,
            tx: cx - (cos * mx - sin * my),
            ty: cy - (sin * mx + cos * my),
            cx,
            cy,
        })
    }

    /// `p` of B in A's frame.
    #[inline(always)]
    fn forward(&self, x: f32, y: f32) -> (f32, f32) {
        (
            self.cos * x - self.sin * y + self.tx,
            self.sin * x + self.cos * y + self.ty,
        )
    }

    /// `p` of A in B's frame.
    #[inline(always)]
    fn backward(&self, x: f32, y: f32) -> (f32, f32) {
        let (dx, dy) = (x - self.tx, y - self.ty);
        (
            self.cos * dx + self.sin * dy,
            -self.sin * dx + self.cos * dy,
        )
    }
}

/// An alignment of a comparison and the minutiae of each template inside the other's area.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Overlap {
    pub al: Alignment,
    /// Minutiae of A inside B's hull, and of B inside A's.
    pub a_inside: usize,
    pub b_inside: usize,
}

impl Overlap {
    /// The alignment of `pairs` (weighted by their strength) and the overlap counts under
    /// it (margin `pair_distance`), or `None` when no pair has positive weight.
    #[inline(always)]
    pub(crate) fn of(
        a: &PreparedTemplate,
        b: &PreparedTemplate,
        pairs: &[(u16, u16, f32)],
        params: &MccParams,
        s: &mut PairingScratch,
    ) -> Option<Self> {
        let (pa, pb) = (&a.points, &b.points);
        let al = Alignment::of(a, b, pairs)?;
        let ha = if a.layout.hull.fits(pa) {
            &a.layout.hull
        } else {
            s.hull_a.fill(pa, &mut s.sorted);
            &s.hull_a
        };
        let hb = if b.layout.hull.fits(pb) {
            &b.layout.hull
        } else {
            s.hull_b.fill(pb, &mut s.sorted);
            &s.hull_b
        };
        let margin = params.pair_distance;
        s.bx.clear();
        s.by.clear();
        for q in pb {
            let (x, y) = al.forward(q.x, q.y);
            s.bx.push(x);
            s.by.push(y);
        }
        s.ax.clear();
        s.ay.clear();
        for p in pa {
            let (x, y) = al.backward(p.x, p.y);
            s.ax.push(x);
            s.ay.push(y);
        }
        let b_inside = ha.count_inside(&s.bx, &s.by, margin, &mut s.outside);
        let a_inside = hb.count_inside(&s.ax, &s.ay, margin, &mut s.outside);
        Some(Self {
            al,
            a_inside,
            b_inside,
        })
    }
}

/// `(cos, sin)` of every angle of 1/256 turns.
fn unit_table() -> &'static [(f32, f32); 256] {
    static UNIT: OnceLock<[(f32, f32); 256]> = OnceLock::new();
    UNIT.get_or_init(|| {
        std::array::from_fn(|k| {
            let (sin, cos) = (k as f32 * (TAU / 256.0)).sin_cos();
            (cos, sin)
        })
    })
}

/// Key ranking a partner: nearer first, then the lower indices; never 0.
#[inline(always)]
fn partner_key(d2: f32, a: usize, b: usize) -> u64 {
    (u64::from(!d2.to_bits()) << 32) | ((0xffff - a as u64) << 16) | (0xffff - b as u64)
}

/// Rounds an angle to 1/256 turns.
#[inline(always)]
fn turns(angle: f32) -> i32 {
    (angle * (256.0 / TAU)).round() as i32
}

/// The pairing score, 0–1, under `overlap` (from [`Overlap::of`], which also left B's
/// moved minutiae in `s`), counting the mutual-best pairs among `candidates` (pairs of
/// indices into A's and B's minutiae). Returns the score and the number of pairs.
pub(crate) fn pairing_score(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    overlap: &Overlap,
    candidates: impl Iterator<Item = (usize, usize)>,
    params: &MccParams,
    s: &mut PairingScratch,
) -> (f32, usize) {
    let (pa, pb) = (&a.points, &b.points);
    let al = &overlap.al;
    let (na, nb) = (pa.len(), pb.len());
    s.best_a.clear();
    s.best_a.resize(na, 0);
    s.best_b.clear();
    s.best_b.resize(nb, 0);
    let (base, growth) = (params.pair_distance, params.pair_growth);
    s.tol2.clear();
    s.tol2.extend(pa.iter().map(|p| {
        let (rx, ry) = (p.x - al.cx, p.y - al.cy);
        let tol = base + growth * (rx * rx + ry * ry).sqrt();
        tol * tol
    }));
    // Directions compared in 1/256 turns: `da − db − φ`, wrapped.
    let rotation = turns(al.angle);
    let max_turn = turns(params.pair_angle.abs()).min(128);
    for (i, j) in candidates {
        let (Some(p), Some(&qx), Some(&qy), Some(&tol2), Some(&da), Some(&db)) = (
            pa.get(i),
            s.bx.get(j),
            s.by.get(j),
            s.tol2.get(i),
            a.directions.get(i),
            b.directions.get(j),
        ) else {
            continue;
        };
        let (dx, dy) = (p.x - qx, p.y - qy);
        let d2 = dx * dx + dy * dy;
        let turn = (i32::from(da) - i32::from(db) - rotation) as i8;
        if d2 > tol2 || i32::from(turn).abs() > max_turn {
            continue;
        }
        let k = partner_key(d2, i, j);
        if let Some(best) = s.best_a.get_mut(i) {
            *best = (*best).max(k);
        }
        if let Some(best) = s.best_b.get_mut(j) {
            *best = (*best).max(k);
        }
    }
    let mutual = s
        .best_a
        .iter()
        .filter(|&&k| {
            let j = 0xffff - (k & 0xffff) as usize;
            k != 0 && s.best_b.get(j) == Some(&k)
        })
        .count();
    let floor = params.pair_floor.max(1.0);
    let ea = (overlap.a_inside as f32).max(floor);
    let eb = (overlap.b_inside as f32).max(floor);
    let m = mutual as f32;
    ((m * m / (ea * eb)).min(1.0), mutual)
}

#[cfg(test)]
mod tests;
