//! Segmentation: specular reflections, pupil, limbus and eyelids.
//!
//! 1. The image is reduced to a working plane whose short side is about
//!    [`EyeParams::working_side`](super::EyeParams::working_side) pixels. Specular reflections
//!    (small spots much brighter than their surroundings) are flagged and filled in along
//!    each row, so that a pupil holding the illuminator's glints still reads as a dark disc.
//! 2. Pupil: the darkest pupil-sized boxes of a half-resolution copy seed an
//!    integro-differential search (circles whose mean grey level steps up most sharply
//!    outwards) around each seed; the best circle is refined at working resolution.
//! 3. Limbus: the same operator on two lateral arcs only (the eyelids cover the top and the
//!    bottom of the iris), with centres near the pupil's and radii that keep the pupil/iris
//!    ratio in range.
//! 4. Eyelids: parabolas through the iris whose vertical grey-level step (bright lid above
//!    the upper one, below the lower one) is strongest; a lid without a clear step is taken
//!    to leave the iris uncovered.

use serde::{Deserialize, Serialize};

use super::eyelid::find_eyelid;
use super::plane::{Integral, Plane};
use super::search::{best_circle, circle_mean, Directions, Grid, Rank, Scratch};
use super::{EyeError, EyeParams};

/// A circle in image pixels (origin at the top-left pixel's centre, y down).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Circle {
    /// Centre column.
    pub x: f32,
    /// Centre row.
    pub y: f32,
    /// Radius.
    pub r: f32,
}

impl Circle {
    fn scaled(self, s: f32) -> Self {
        Self {
            x: self.x * s + (s - 1.0) * 0.5,
            y: self.y * s + (s - 1.0) * 0.5,
            r: self.r * s,
        }
    }
}

/// An eyelid edge, the parabola `y = apex_y + curvature · (x − apex_x)²` in image pixels.
///
/// The upper lid has `curvature ≥ 0` and covers what lies above it; the lower lid has
/// `curvature ≤ 0` and covers what lies below it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Eyelid {
    /// Column of the apex.
    pub apex_x: f32,
    /// Row of the apex.
    pub apex_y: f32,
    /// Curvature in 1/pixels.
    pub curvature: f32,
}

impl Eyelid {
    /// Row of the lid edge at column `x`.
    pub fn y_at(&self, x: f32) -> f32 {
        self.apex_y + self.curvature * (x - self.apex_x).powi(2)
    }
}

/// The boundaries found in one eye image, in the image's own pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EyeSegmentation {
    /// Pupil boundary, as the best circle.
    pub pupil: Circle,
    /// Pupil boundary refined as a radial contour around the circle's centre: radii at
    /// evenly spaced angles counter-clockwise (as viewed) from the +x axis, smoothed to its
    /// lowest Fourier harmonics (an ellipse-like curve); empty when the circle is used.
    pub pupil_contour: Vec<f32>,
    /// Limbus (iris–sclera boundary).
    pub iris: Circle,
    /// Upper eyelid edge, when it crosses the iris.
    pub upper_eyelid: Option<Eyelid>,
    /// Lower eyelid edge, when it crosses the iris.
    pub lower_eyelid: Option<Eyelid>,
    /// Grey-level step across the pupil boundary.
    pub pupil_contrast: f32,
    /// Grey-level step across the limbus (on the lateral arcs).
    pub iris_contrast: f32,
    /// Mean grey level inside the pupil (reflections filled in).
    pub pupil_level: f32,
    /// Share of the working image flagged as specular reflection.
    pub reflection_share: f32,
}

impl EyeSegmentation {
    /// Pupil radius over iris radius.
    pub fn dilation(&self) -> f32 {
        self.pupil.r / self.iris.r.max(1e-3)
    }

    /// Distance between the pupil and iris centres over the iris radius (off-axis gaze and
    /// a decentred pupil both raise it).
    pub fn centre_offset(&self) -> f32 {
        (self.pupil.x - self.iris.x).hypot(self.pupil.y - self.iris.y) / self.iris.r.max(1e-3)
    }

    /// Pupil boundary radius at angle `phi` (radians, counter-clockwise as viewed from the
    /// +x axis): the contour, linearly interpolated, or the circle's radius.
    pub fn pupil_radius_at(&self, phi: f32) -> f32 {
        let n = self.pupil_contour.len();
        if n == 0 {
            return self.pupil.r;
        }
        let t = (phi / std::f32::consts::TAU).rem_euclid(1.0) * n as f32;
        let k = (t as usize).min(n - 1);
        let f = t - k as f32;
        let (a, b) = (self.pupil_contour[k], self.pupil_contour[(k + 1) % n]);
        a + (b - a) * f
    }

    /// Whether the point `(x, y)` (image pixels) is covered by an eyelid.
    pub fn under_eyelid(&self, x: f32, y: f32) -> bool {
        self.upper_eyelid.is_some_and(|l| y < l.y_at(x))
            || self.lower_eyelid.is_some_and(|l| y > l.y_at(x))
    }
}

/// The segmentation and the planes the later stages read.
#[derive(Debug)]
pub(crate) struct Segmented {
    pub(crate) segmentation: EyeSegmentation,
    /// The image at full resolution.
    pub(crate) full: Plane,
    /// Working plane with reflections filled in.
    pub(crate) work: Plane,
    /// Reflection flags of the working plane.
    pub(crate) reflections: Vec<bool>,
    /// Full-resolution pixels per working-plane pixel (a whole factor).
    pub(crate) scale: usize,
}

/// Segments an eye image given as 8-bit grey pixels.
pub(crate) fn segment(
    pixels: &[u8],
    width: usize,
    height: usize,
    params: &EyeParams,
) -> Result<Segmented, EyeError> {
    let short = width.min(height);
    let scale = (short / params.working_side.max(1) as usize).max(1);
    let full = Plane::from_u8(pixels, width, height, 1);
    let raw = if scale == 1 {
        full.clone()
    } else {
        Plane::from_u8(pixels, width, height, scale)
    };
    let reflections = reflection_mask(&raw, params);
    let reflection_share =
        reflections.iter().filter(|&&r| r).count() as f32 / reflections.len().max(1) as f32;
    let mut work = raw;
    work.inpaint_rows(&reflections);
    let side = work.w.min(work.h) as f32;
    let mut scratch = Scratch::default();

    let pupil = find_pupil(&work, side, params, &mut scratch)?;
    let iris = find_iris(&work, side, pupil.0, params, &mut scratch)?;
    let (pupil, pupil_contrast) = pupil;
    let (iris, iris_contrast) = iris;
    check_geometry(pupil, iris, params)?;
    let smooth = work.box_blur(1);
    let pupil_level = circle_mean(
        &work,
        pupil.x,
        pupil.y,
        pupil.r * 0.5,
        &Directions::full(24),
        1,
    );
    let contour = pupil_contour(&smooth, pupil, pupil_contrast, params.pupil_harmonics);
    let margin = params.eyelid_margin * iris.r;
    let upper = find_eyelid(&smooth, pupil, iris, true, params).map(|l| Eyelid {
        apex_y: l.apex_y + margin,
        ..l
    });
    let lower = find_eyelid(&smooth, pupil, iris, false, params).map(|l| Eyelid {
        apex_y: l.apex_y - margin,
        ..l
    });
    let s = scale as f32;
    let lid = |l: Eyelid| Eyelid {
        apex_x: l.apex_x * s + (s - 1.0) * 0.5,
        apex_y: l.apex_y * s + (s - 1.0) * 0.5,
        curvature: l.curvature / s,
    };
    Ok(Segmented {
        segmentation: EyeSegmentation {
            pupil: pupil.scaled(s),
            pupil_contour: contour.iter().map(|r| r * s).collect(),
            iris: iris.scaled(s),
            upper_eyelid: upper.map(lid),
            lower_eyelid: lower.map(lid),
            pupil_contrast,
            iris_contrast,
            pupil_level: if pupil_level.is_finite() {
                pupil_level
            } else {
                0.0
            },
            reflection_share,
        },
        full,
        work,
        reflections,
        scale,
    })
}

/// Pixels at least `reflection_min` bright and `reflection_contrast` above their 11 × 11
/// neighbourhood, grown by one pixel.
fn reflection_mask(p: &Plane, params: &EyeParams) -> Vec<bool> {
    let local = p.box_blur(5);
    let core: Vec<bool> =
        p.px.iter()
            .zip(&local.px)
            .map(|(&v, &m)| v >= params.reflection_min && v >= m + params.reflection_contrast)
            .collect();
    let mut out = core.clone();
    for y in 0..p.h {
        for x in 0..p.w {
            if !core[y * p.w + x] {
                continue;
            }
            for yy in y.saturating_sub(1)..(y + 2).min(p.h) {
                for xx in x.saturating_sub(1)..(x + 2).min(p.w) {
                    out[yy * p.w + xx] = true;
                }
            }
        }
    }
    out
}

fn find_pupil(
    work: &Plane,
    side: f32,
    params: &EyeParams,
    scratch: &mut Scratch,
) -> Result<(Circle, f32), EyeError> {
    let coarse = work.half().box_blur(1);
    let (r_min, r_max) = (params.pupil_radius.0 * side, params.pupil_radius.1 * side);
    let (cr_min, cr_max) = ((r_min / 2.0).max(2.0), (r_max / 2.0).max(3.0));
    let seeds = dark_seeds(&coarse, cr_min, params.pupil_seeds);
    let dirs = Directions::full(32);
    let mut best: Option<super::search::Found> = None;
    let median = median_of(&coarse.px);
    for (sx, sy, level) in seeds {
        let (sx, sy, size) = recentre(
            &coarse,
            sx,
            sy,
            level + 0.3 * (median - level),
            cr_min,
            cr_max,
        );
        let reach = (size * 0.3).max(3.0);
        let (r0, r1) = if params.pupil_size_window > 0.0 {
            let f = params.pupil_size_window;
            let r0 = (size / f).clamp(cr_min, cr_max);
            (r0, (size * f).clamp(r0, cr_max))
        } else {
            (cr_min, cr_max)
        };
        let grid = Grid {
            x0: sx - reach,
            x1: sx + reach,
            y0: sy - reach,
            y1: sy + reach,
            step: 1.0,
            r0,
            r1,
        };
        let found = best_circle(
            &coarse,
            grid,
            &dirs,
            1,
            0.9,
            Rank::Step,
            scratch,
            &|_, _, _| true,
        );
        if let Some(f) = found {
            if best.is_none_or(|b| f.contrast > b.contrast) {
                best = Some(f);
            }
        }
    }
    let mut coarse_best = best.ok_or(EyeError::PupilNotFound {
        contrast: 0.0,
        required: params.min_pupil_contrast,
    })?;
    if params.pupil_nested > 0.0 && coarse_best.r * 0.75 > cr_min {
        let outer = coarse_best;
        let reach = (outer.r * 0.5).max(2.0);
        let grid = Grid {
            x0: outer.x - reach,
            x1: outer.x + reach,
            y0: outer.y - reach,
            y1: outer.y + reach,
            step: 1.0,
            r0: cr_min,
            r1: outer.r * 0.75,
        };
        let inside = |cx: f32, cy: f32, r: f32| (cx - outer.x).hypot(cy - outer.y) + r < outer.r;
        if let Some(inner) = best_circle(&coarse, grid, &dirs, 1, 0.9, Rank::Step, scratch, &inside)
        {
            // The band just inside the outer circle must be clearly brighter than the
            // inner disc: iris around a pupil, not more of a uniform pupil.
            let full = Directions::full(32);
            let ring = circle_mean(&coarse, outer.x, outer.y, outer.r * 0.85, &full, 8);
            let core = circle_mean(&coarse, inner.x, inner.y, inner.r * 0.5, &full, 8);
            let needed = (params.pupil_nested * outer.contrast).max(params.min_pupil_contrast);
            if inner.contrast >= needed && ring - core >= needed {
                coarse_best = inner;
            }
        }
    }
    let grid = Grid {
        x0: coarse_best.x * 2.0 + 0.5 - 2.0,
        x1: coarse_best.x * 2.0 + 0.5 + 2.0,
        y0: coarse_best.y * 2.0 + 0.5 - 2.0,
        y1: coarse_best.y * 2.0 + 0.5 + 2.0,
        step: 0.5,
        r0: (coarse_best.r * 2.0 - 3.0).max(r_min),
        r1: coarse_best.r * 2.0 + 3.0,
    };
    let fine = best_circle(
        work,
        grid,
        &Directions::full(64),
        1,
        0.9,
        Rank::Step,
        scratch,
        &|_, _, _| true,
    )
    .unwrap_or(super::search::Found {
        x: coarse_best.x * 2.0,
        y: coarse_best.y * 2.0,
        r: coarse_best.r * 2.0,
        contrast: coarse_best.contrast,
        rank: coarse_best.rank,
    });
    if fine.contrast < params.min_pupil_contrast {
        return Err(EyeError::PupilNotFound {
            contrast: fine.contrast,
            required: params.min_pupil_contrast,
        });
    }
    Ok((
        Circle {
            x: fine.x,
            y: fine.y,
            r: fine.r,
        },
        fine.contrast,
    ))
}

fn median_of(v: &[f32]) -> f32 {
    let mut v = v.to_vec();
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f32::total_cmp);
    *m
}

/// Moves a seed to the centroid of the pixels darker than `threshold` around it, three
/// times, each time within 1.5 times the radius of a disc of their area (first within
/// `r_max`); returns the centre and that radius.
fn recentre(p: &Plane, x: f32, y: f32, threshold: f32, r_min: f32, r_max: f32) -> (f32, f32, f32) {
    let (mut cx, mut cy, mut reach, mut size) = (x, y, r_max * 1.2, r_min);
    for _ in 0..3 {
        let (x0, x1) = (
            (cx - reach).max(0.0) as usize,
            ((cx + reach) as usize).min(p.w - 1),
        );
        let (y0, y1) = (
            (cy - reach).max(0.0) as usize,
            ((cy + reach) as usize).min(p.h - 1),
        );
        let (mut sx, mut sy, mut n) = (0.0f32, 0.0f32, 0.0f32);
        for yy in y0..=y1 {
            for xx in x0..=x1 {
                let (fx, fy) = (xx as f32, yy as f32);
                if (fx - cx).hypot(fy - cy) <= reach && p.at(xx, yy) < threshold {
                    sx += fx;
                    sy += fy;
                    n += 1.0;
                }
            }
        }
        if n < 4.0 {
            break;
        }
        cx = sx / n;
        cy = sy / n;
        size = (n / std::f32::consts::PI).sqrt().clamp(r_min, r_max);
        reach = size * 1.5;
    }
    (cx, cy, size)
}

/// Centres and mean levels of the `n` darkest boxes of side `2·r + 1`, at least `3·r` apart.
fn dark_seeds(p: &Plane, r: f32, n: usize) -> Vec<(f32, f32, f32)> {
    let b = (r * 0.8).round().max(1.0) as usize;
    let margin = b + 1;
    if p.w <= 2 * margin || p.h <= 2 * margin {
        return Vec::new();
    }
    let integral = Integral::new(p);
    let mut cands: Vec<(f32, usize, usize)> = Vec::new();
    for y in margin..p.h - margin {
        for x in margin..p.w - margin {
            cands.push((integral.mean(x - b, y - b, x + b, y + b), x, y));
        }
    }
    cands.sort_by(|a, b| a.0.total_cmp(&b.0));
    let min_dist = (3 * b) as f32;
    let mut seeds: Vec<(f32, f32, f32)> = Vec::with_capacity(n);
    for (level, x, y) in cands {
        let (x, y) = (x as f32, y as f32);
        if seeds
            .iter()
            .all(|&(sx, sy, _)| (sx - x).hypot(sy - y) >= min_dist)
        {
            seeds.push((x, y, level));
            if seeds.len() >= n {
                break;
            }
        }
    }
    seeds
}

/// Angles of the pupil contour.
const CONTOUR_RAYS: usize = 64;

/// The pupil boundary along `CONTOUR_RAYS` rays: on each, the radius within ±25 % of the
/// circle's with the sharpest outward step (the circle's radius where no step reaches half
/// the circle's contrast), smoothed to Fourier harmonics `0..=harmonics`. Empty when
/// `harmonics` is 0.
fn pupil_contour(p: &Plane, pupil: Circle, contrast: f32, harmonics: usize) -> Vec<f32> {
    if harmonics == 0 {
        return Vec::new();
    }
    let n = CONTOUR_RAYS;
    let mut raw = Vec::with_capacity(n);
    for k in 0..n {
        let phi = std::f32::consts::TAU * k as f32 / n as f32;
        let (ux, uy) = (phi.cos(), -phi.sin());
        let at = |r: f32| p.sample(pupil.x + r * ux, pupil.y + r * uy);
        let mut best = (0.5 * contrast, pupil.r);
        let mut r = pupil.r * 0.75;
        while r <= pupil.r * 1.25 {
            if let (Some(a), Some(b)) = (at(r - 1.5), at(r + 1.5)) {
                if b - a > best.0 {
                    best = (b - a, r);
                }
            }
            r += 0.5;
        }
        raw.push(best.1);
    }
    let mut out = vec![0.0f32; n];
    for h in 0..=harmonics.min(n / 2 - 1) {
        let (mut a, mut b) = (0.0f32, 0.0f32);
        for (k, r) in raw.iter().enumerate() {
            let t = std::f32::consts::TAU * (h * k) as f32 / n as f32;
            a += r * t.cos();
            b += r * t.sin();
        }
        let norm = if h == 0 {
            1.0 / n as f32
        } else {
            2.0 / n as f32
        };
        for (k, o) in out.iter_mut().enumerate() {
            let t = std::f32::consts::TAU * (h * k) as f32 / n as f32;
            *o += norm * (a * t.cos() + b * t.sin());
        }
    }
    out
}

/// Half-width, in working pixels, of the bands whose means the limbus step compares (the
/// limbus is a soft edge between two wide regions).
const IRIS_BAND: usize = 6;

fn iris_arcs(n: usize) -> Directions {
    Directions::arcs(&[(-30.0, 45.0), (135.0, 210.0)], n)
}

fn find_iris(
    work: &Plane,
    side: f32,
    pupil: Circle,
    params: &EyeParams,
    scratch: &mut Scratch,
) -> Result<(Circle, f32), EyeError> {
    let coarse = work.half().box_blur(1);
    let (ratio_lo, ratio_hi) = params.search_dilation;
    // The inner band of the limbus step must stay clear of the pupil boundary.
    let r_lo = (pupil.r / ratio_hi)
        .max(params.iris_radius.0 * side)
        .max(pupil.r * 1.25 + 2.0 * IRIS_BAND as f32);
    let r_hi = (pupil.r / ratio_lo).min(params.iris_radius.1 * side);
    let not_found = |contrast| EyeError::LimbusNotFound {
        contrast,
        required: params.min_iris_contrast,
    };
    if r_hi <= r_lo {
        return Err(not_found(0.0));
    }
    let (px, py) = ((pupil.x - 0.5) / 2.0, (pupil.y - 0.5) / 2.0);
    let limbus_rank = if params.limbus_weber {
        Rank::Weber
    } else {
        Rank::Step
    };
    let reach = (pupil.r * params.max_centre_offset / 2.0).clamp(2.0, 8.0);
    let reach_y = (pupil.r * params.max_centre_offset_y / 2.0).clamp(0.0, 8.0);
    let accept = |cx: f32, cy: f32, r: f32| {
        // The pupil must lie inside the iris with a rim to spare.
        (cx - px).hypot(cy - py) + pupil.r / 2.0 < r * 0.95
    };
    let grid = Grid {
        x0: px - reach,
        x1: px + reach,
        y0: py - reach_y.floor(),
        y1: py + reach_y.floor(),
        step: 1.0,
        r0: r_lo / 2.0,
        r1: r_hi / 2.0,
    };
    let coarse_best = best_circle(
        &coarse,
        grid,
        &iris_arcs(32),
        IRIS_BAND / 2,
        params.limbus_coverage,
        limbus_rank,
        scratch,
        &accept,
    )
    .ok_or_else(|| not_found(0.0))?;
    let accept_fine =
        |cx: f32, cy: f32, r: f32| (cx - pupil.x).hypot(cy - pupil.y) + pupil.r < r * 0.95;
    // The fine centre stays within the vertical reach of the pupil's.
    let fy = coarse_best.y * 2.0 + 0.5;
    let (fy0, fy1) = (
        (fy - 2.0).max(pupil.y - 2.0 * reach_y.floor() - 1.0),
        (fy + 2.0).min(pupil.y + 2.0 * reach_y.floor() + 1.0),
    );
    let grid = Grid {
        x0: coarse_best.x * 2.0 + 0.5 - 2.0,
        x1: coarse_best.x * 2.0 + 0.5 + 2.0,
        y0: fy0.min(fy),
        y1: fy1.max(fy),
        step: 1.0,
        r0: (coarse_best.r * 2.0 - 4.0).max(r_lo),
        r1: (coarse_best.r * 2.0 + 4.0).min(r_hi),
    };
    let fine = best_circle(
        work,
        grid,
        &iris_arcs(64),
        IRIS_BAND,
        params.limbus_coverage,
        limbus_rank,
        scratch,
        &accept_fine,
    )
    .unwrap_or(super::search::Found {
        x: coarse_best.x * 2.0,
        y: coarse_best.y * 2.0,
        r: coarse_best.r * 2.0,
        contrast: coarse_best.contrast,
        rank: coarse_best.rank,
    });
    if fine.contrast < params.min_iris_contrast {
        return Err(not_found(fine.contrast));
    }
    Ok((
        Circle {
            x: fine.x,
            y: fine.y,
            r: fine.r,
        },
        fine.contrast,
    ))
}

fn check_geometry(pupil: Circle, iris: Circle, params: &EyeParams) -> Result<(), EyeError> {
    let ratio = pupil.r / iris.r.max(1e-3);
    let (lo, hi) = params.accepted_dilation;
    if !(lo..=hi).contains(&ratio) {
        return Err(EyeError::Geometry(format!(
            "pupil/iris radius ratio {ratio:.2} outside {lo:.2}..={hi:.2}"
        )));
    }
    let offset = (pupil.x - iris.x).hypot(pupil.y - iris.y);
    if offset + pupil.r > iris.r {
        return Err(EyeError::Geometry(format!(
            "pupil (centre offset {offset:.1} px, radius {:.1}) not inside the iris (radius {:.1})",
            pupil.r, iris.r
        )));
    }
    Ok(())
}
