//! Daugman's integro-differential operator over a grid of circles: the circle whose mean
//! grey level steps up most sharply from inside to outside.

use super::plane::Plane;
use super::rings::{ring_sums, RingOffsets};

/// Unit vectors of the sampled boundary directions (image coordinates, y down).
#[derive(Debug, Clone)]
pub(crate) struct Directions(Vec<(f32, f32)>, Vec<std::ops::Range<usize>>);

impl Directions {
    /// `n` directions spread evenly over the whole circle.
    pub(crate) fn full(n: usize) -> Self {
        Self::arcs(&[(0.0, 360.0)], n)
    }

    /// `n` directions spread over the given arcs, in degrees from the +x axis towards +y
    /// (downwards in the image); each arc gets a share proportional to its length.
    pub(crate) fn arcs(arcs: &[(f32, f32)], n: usize) -> Self {
        let total: f32 = arcs.iter().map(|(a, b)| (b - a).abs()).sum();
        let mut out = Vec::with_capacity(n);
        let mut spans = Vec::with_capacity(arcs.len());
        for (a, b) in arcs {
            let share = ((b - a).abs() / total.max(1e-6) * n as f32)
                .round()
                .max(1.0) as usize;
            let from = out.len();
            for k in 0..share {
                let deg = a + (b - a) * (k as f32 + 0.5) / share as f32;
                let rad = deg.to_radians();
                out.push((rad.cos(), rad.sin()));
            }
            spans.push(from..out.len());
        }
        Self(out, spans)
    }
}

/// A search grid: centres in `[x0, x1] × [y0, y1]` with a step, radii in `[r0, r1]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grid {
    pub(crate) x0: f32,
    pub(crate) x1: f32,
    pub(crate) y0: f32,
    pub(crate) y1: f32,
    pub(crate) step: f32,
    pub(crate) r0: f32,
    pub(crate) r1: f32,
}

/// The best circle found and the grey-level step across its boundary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Found {
    pub(crate) x: f32,
    pub(crate) y: f32,
    pub(crate) r: f32,
    pub(crate) contrast: f32,
    /// The value candidates were ranked by (the step, or the Weber contrast).
    pub(crate) rank: f32,
}

impl Found {
    /// A circle of the half-resolution plane in full-resolution coordinates (centre and
    /// radius doubled, contrast and rank kept): what a fine search falls back to when no
    /// candidate of its window qualifies.
    pub(crate) fn doubled(self) -> Self {
        Self {
            x: self.x * 2.0,
            y: self.y * 2.0,
            r: self.r * 2.0,
            ..self
        }
    }

    /// The circle found (centre and radius).
    pub(crate) fn circle(&self) -> super::segment::Circle {
        super::segment::Circle {
            x: self.x,
            y: self.y,
            r: self.r,
        }
    }
}

/// How circle candidates are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rank {
    /// By the grey-level step.
    Step,
    /// By the step over the mean level of the two bands.
    Weber,
    /// By the median over directions of each direction's own step (lashes, an eyelid or a
    /// shadow across a few directions move it less than the step of the circle means).
    Median,
    /// By the weaker of the arcs' mean steps (each arc of [`Directions::arcs`] alone): a
    /// boundary steps up on every arc, an eye corner or the skin beyond the lids on one.
    WeakerArc,
}

/// Scratch buffers reused across centres.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    means: Vec<f32>,
    steps: Vec<f32>,
    /// Per-direction running sums along the radius ([`Rank::Median`]).
    sums: Vec<f32>,
    /// Per-direction steps at one radius ([`Rank::Median`]).
    column: Vec<f32>,
    /// Sample offsets of the current search's directions and radii.
    offsets: RingOffsets,
}

/// Searches `grid` on `plane` for the circle maximising the smoothed radial step of the
/// circle means (brighter outside): the mean of the `span` circles just outside radius `r`
/// minus that of the `span` circles just inside. A circle with fewer than `coverage` of its
/// samples inside the image is not scored. `accept` vetoes candidates (for example radii
/// outside a ratio to another circle).
#[allow(clippy::too_many_arguments)]
pub(crate) fn best_circle(
    plane: &Plane,
    grid: Grid,
    dirs: &Directions,
    span: usize,
    coverage: f32,
    rank: Rank,
    scratch: &mut Scratch,
    accept: &dyn Fn(f32, f32, f32) -> bool,
) -> Option<Found> {
    if grid.r1 < grid.r0 || grid.step <= 0.0 {
        return None;
    }
    let span = span.max(1);
    let span_f = span as f32;
    let radii = (grid.r1 - grid.r0).floor() as usize + 1 + 2 * span;
    scratch.means.resize(radii, f32::NAN);
    scratch.steps.resize(radii, f32::NAN);
    let min_count = ((dirs.0.len() as f32 * coverage).ceil() as usize).max(1);
    let r_first = grid.r0 - span_f;
    scratch
        .offsets
        .fill(&dirs.0, radii, |k| (r_first + k as f32).max(0.5));
    let mut best: Option<Found> = None;
    let mut cy = grid.y0;
    while cy <= grid.y1 + 1e-3 {
        let mut cx = grid.x0;
        while cx <= grid.x1 + 1e-3 {
            if matches!(rank, Rank::Median | Rank::WeakerArc) {
                let median = rank == Rank::Median;
                direction_steps(plane, cx, cy, span, dirs, min_count, median, scratch);
            } else {
                circle_means(plane, cx, cy, min_count, scratch);
                let means = &scratch.means;
                let band = 1.0 / span as f32;
                for (k, s) in scratch.steps.iter_mut().enumerate() {
                    *s = match (k.checked_sub(span), means.get(k + span)) {
                        (Some(lo), Some(_)) => {
                            let outer: f32 = means[k + 1..=k + span].iter().sum();
                            let inner: f32 = means[lo..k].iter().sum();
                            (outer - inner) * band
                        }
                        _ => f32::NAN,
                    };
                }
            }
            for k in span..radii - span {
                let r = grid.r0 + (k - span) as f32;
                let s = &scratch.steps;
                let prev = if k > span { s[k - 1] } else { s[k] };
                let next = if k + 1 < radii - span { s[k + 1] } else { s[k] };
                let v = 0.25 * prev + 0.5 * s[k] + 0.25 * next;
                if !v.is_finite() {
                    continue;
                }
                let ranked = match rank {
                    Rank::Step | Rank::Median | Rank::WeakerArc => v,
                    Rank::Weber => {
                        let m = &scratch.means;
                        let level = (m[k - span..=k + span].iter().sum::<f32>()
                            / (2 * span + 1) as f32)
                            .max(1.0);
                        100.0 * v / level
                    }
                };
                if !ranked.is_finite() {
                    continue;
                }
                // The veto runs only on candidates that would win (some are costly).
                if best.is_none_or(|b| ranked > b.rank) && accept(cx, cy, r) {
                    best = Some(Found {
                        x: cx,
                        y: cy,
                        r,
                        contrast: v,
                        rank: ranked,
                    });
                }
            }
            cx += grid.step;
        }
        cy += grid.step;
    }
    best
}

/// Sets `scratch.means[k]` to the mean grey level on the circle of radius `k` of
/// `scratch.offsets` around `(cx, cy)`, NaN when fewer than `min_count` of its samples fall
/// inside the plane: [`circle_mean`] at each radius, bit for bit (each radius's samples are
/// added in direction order), with the offsets computed once per search and, for the leading
/// radii whose circles lie inside the plane, without per-sample range checks.
fn circle_means(plane: &Plane, cx: f32, cy: f32, min_count: usize, scratch: &mut Scratch) {
    let offsets = &scratch.offsets;
    let means = &mut scratch.means;
    let dirs = offsets.dirs();
    let min_count = min_count.max(1);
    // The leading radii whose samples all lie inside: summed without range checks.
    let inside = ring_sums(plane, cx, cy, offsets, means);
    let n = dirs as f32;
    for m in &mut means[..inside] {
        *m = if dirs >= min_count { *m / n } else { f32::NAN };
    }
    for (k, m) in means.iter_mut().enumerate().skip(inside) {
        let (mut sum, mut count) = (0.0f32, 0usize);
        for d in 0..dirs {
            let (ox, oy) = offsets.at(d, k);
            if let Some(v) = plane.sample(cx + ox, cy + oy) {
                sum += v;
                count += 1;
            }
        }
        *m = if count >= min_count {
            sum / count as f32
        } else {
            f32::NAN
        };
    }
}

/// Fills `scratch.steps[k]` (radius `k` of `scratch.offsets`, as `scratch.means`) from each
/// direction's step, the mean of its `span` samples just outside the radius minus that of its
/// `span` samples just inside: with `median`, their median over `dirs`; otherwise the smallest
/// over the arcs of `dirs` of the arc's mean step. A direction whose samples leave the image
/// is left out; NaN where fewer than `min_count` directions remain (or an arc has none) or the
/// bands do not fit.
#[allow(clippy::too_many_arguments)]
fn direction_steps(
    plane: &Plane,
    cx: f32,
    cy: f32,
    span: usize,
    dirs: &Directions,
    min_count: usize,
    median: bool,
    scratch: &mut Scratch,
) {
    let radii = scratch.means.len();
    let n = dirs.0.len();
    // sums[d * (radii + 1) + k]: sum of direction d's samples at radii 0..k (NaN once a
    // sample falls outside the image).
    scratch.sums.clear();
    scratch.sums.resize(n * (radii + 1), 0.0);
    for d in 0..n {
        let row = &mut scratch.sums[d * (radii + 1)..(d + 1) * (radii + 1)];
        for k in 0..radii {
            let (ox, oy) = scratch.offsets.at(d, k);
            let v = plane.sample(cx + ox, cy + oy).unwrap_or(f32::NAN);
            row[k + 1] = row[k] + v;
        }
    }
    let band = 1.0 / span as f32;
    for k in 0..radii {
        scratch.steps[k] = f32::NAN;
        let (Some(lo), true) = (k.checked_sub(span), k + span < radii) else {
            continue;
        };
        scratch.column.clear();
        let mut weakest = f32::INFINITY;
        for arc in &dirs.1 {
            let (mut sum, mut count) = (0.0f32, 0usize);
            for d in arc.clone() {
                let row = &scratch.sums[d * (radii + 1)..(d + 1) * (radii + 1)];
                let outer = row[k + span + 1] - row[k + 1];
                let inner = row[k] - row[lo];
                let v = (outer - inner) * band;
                if v.is_finite() {
                    scratch.column.push(v);
                    sum += v;
                    count += 1;
                }
            }
            weakest = if count == 0 || weakest.is_nan() {
                f32::NAN
            } else {
                weakest.min(sum / count as f32)
            };
        }
        if scratch.column.len() < min_count.max(1) || n == 0 {
            continue;
        }
        scratch.steps[k] = if median {
            let mid = scratch.column.len() / 2;
            let (_, m, _) = scratch.column.select_nth_unstable_by(mid, f32::total_cmp);
            *m
        } else {
            weakest
        };
    }
}

/// Mean grey level on a circle; NaN when fewer than `min_count` samples fall inside.
pub(crate) fn circle_mean(
    plane: &Plane,
    cx: f32,
    cy: f32,
    r: f32,
    dirs: &Directions,
    min_count: usize,
) -> f32 {
    let mut sum = 0.0f32;
    let mut n = 0usize;
    for &(c, s) in &dirs.0 {
        if let Some(v) = plane.sample(cx + r * c, cy + r * s) {
            sum += v;
            n += 1;
        }
    }
    if n >= min_count.max(1) {
        sum / n as f32
    } else {
        f32::NAN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_dark_disc() {
        let (w, h) = (80usize, 70usize);
        let mut px = vec![150.0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let d = ((x as f32 - 41.0).powi(2) + (y as f32 - 33.0).powi(2)).sqrt();
                if d < 12.0 {
                    px[y * w + x] = 30.0;
                }
            }
        }
        let p = Plane { w, h, px };
        let grid = Grid {
            x0: 30.0,
            x1: 50.0,
            y0: 25.0,
            y1: 45.0,
            step: 1.0,
            r0: 5.0,
            r1: 25.0,
        };
        let found = best_circle(
            &p,
            grid,
            &Directions::full(48),
            1,
            0.9,
            Rank::Step,
            &mut Scratch::default(),
            &|_, _, _| true,
        )
        .unwrap();
        assert!(
            (found.x - 41.0).abs() <= 1.0 && (found.y - 33.0).abs() <= 1.0,
            "{found:?}"
        );
        assert!((found.r - 12.0).abs() <= 1.0, "{found:?}");
        assert!(found.contrast > 50.0);
    }
}
