//! Segmentation: specular reflections, pupil, limbus and eyelids.
//!
//! 1. The image is reduced to a working plane whose short side is about
//!    [`EyeParams::working_side`](super::EyeParams::working_side) pixels. Specular reflections
//!    (small spots much brighter than their surroundings) are flagged and filled in along
//!    each row, so that a pupil holding the illuminator's glints still reads as a dark disc.
//! 2. Pupil: the darkest compact blob (the pixels near the darkest level, opened, the
//!    region most like a filled disc of a pupil's size), its circle refined by an
//!    integro-differential search (circles whose mean grey level steps up most sharply
//!    outwards) around it. Without a blob, the darkest pupil-sized boxes of a
//!    half-resolution copy seed that search around each seed; the best circle is refined at
//!    working resolution.
//! 3. Limbus: the same operator on two lateral arcs only (the eyelids cover the top and the
//!    bottom of the iris), with centres near the pupil's and radii that keep the pupil/iris
//!    ratio in range.
//! 4. Eyelids: parabolas through the iris whose vertical grey-level step (bright lid above
//!    the upper one, below the lower one) is strongest; a lid without a clear step is taken
//!    to leave the iris uncovered.

use serde::{Deserialize, Serialize};

use super::eyelid::{find_eyelid, lash_edge};
use super::plane::Plane;
use super::pupil::{find_pupil, pupil_contour};
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
///
/// `choice` picks the pupil candidate (0: the best; n: the n-th best apart from the others,
/// tried when the earlier ones fail to enrol).
pub(crate) fn segment(
    pixels: &[u8],
    width: usize,
    height: usize,
    params: &EyeParams,
    choice: usize,
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

    let pupil = find_pupil(&work, side, params, choice, &mut scratch)?;
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
    let upper = find_eyelid(&smooth, pupil, iris, true, params).map(|l| {
        let l = if params.eyelid_lashes > 0.0 {
            let step = params.min_eyelid_contrast * 0.5;
            lash_edge(&smooth, pupil, iris, l, params.eyelid_lashes * iris.r, step)
        } else {
            l
        };
        Eyelid {
            apex_y: l.apex_y + margin,
            ..l
        }
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
#[inline(never)] // a stage of its own in profiles
fn reflection_mask(p: &Plane, params: &EyeParams) -> Vec<bool> {
    let local = p.box_blur(5);
    let core: Vec<bool> =
        p.px.iter()
            .zip(&local.px)
            .map(|(&v, &m)| v >= params.reflection_min && v >= m + params.reflection_contrast)
            .collect();
    let core = if params.reflection_max_extent > 0.0 {
        let limit = params.reflection_max_extent * p.w.min(p.h) as f32;
        small_spots(core, p.w, p.h, limit)
    } else {
        core
    };
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

/// `mask` without its 8-connected regions wider or taller than `limit` pixels: a specular
/// reflection of the illuminator is a small spot, while a bright background between dark
/// marks (skin between lashes, paper between printed letters) spreads far, and filling it
/// in from its dark neighbours would paint a large dark region.
fn small_spots(mut mask: Vec<bool>, w: usize, h: usize, limit: f32) -> Vec<bool> {
    let mut seen = vec![false; w * h];
    let mut stack = Vec::new();
    let mut region = Vec::new();
    for start in 0..w * h {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        region.clear();
        let (mut x0, mut x1, mut y0, mut y1) = (w, 0, h, 0);
        while let Some(q) = stack.pop() {
            region.push(q);
            let (x, y) = (q % w, q / w);
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
            for yy in y.saturating_sub(1)..(y + 2).min(h) {
                for xx in x.saturating_sub(1)..(x + 2).min(w) {
                    let n = yy * w + xx;
                    if mask[n] && !seen[n] {
                        seen[n] = true;
                        stack.push(n);
                    }
                }
            }
        }
        if (x1 - x0 + 1).max(y1 - y0 + 1) as f32 > limit {
            for &q in &region {
                mask[q] = false;
            }
        }
    }
    mask
}

/// Half-width, in working pixels, of the bands whose means the limbus step compares (the
/// limbus is a soft edge between two wide regions).
const IRIS_BAND: usize = 6;

fn iris_arcs(n: usize) -> Directions {
    Directions::arcs(&[(-30.0, 45.0), (135.0, 210.0)], n)
}

#[inline(never)] // a stage of its own in profiles
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
    let mut best = search_limbus(work, &coarse, pupil, (r_lo, r_hi), params, scratch)
        .ok_or_else(|| not_found(0.0))?;
    // A circle outside the iris (at the sclera's edge against the eye corners or the lids)
    // can out-step the limbus; an inner circle stepping up nearly as much is the limbus.
    if params.limbus_inner_edge > 0.0 {
        for _ in 0..3 {
            let below = best.r - 2.0 * IRIS_BAND as f32;
            let Some(inner) = search_limbus(work, &coarse, pupil, (r_lo, below), params, scratch)
            else {
                break;
            };
            if inner.contrast < params.limbus_inner_edge * best.contrast
                || inner.contrast < params.min_iris_contrast
            {
                break;
            }
            best = inner;
        }
    }
    if best.contrast < params.min_iris_contrast {
        return Err(not_found(best.contrast));
    }
    Ok((best.circle(), best.contrast))
}

/// The best limbus circle with a radius in `radii` (working pixels): a coarse search on the
/// half-resolution `coarse` plane, refined on `work`; `None` when no circle qualifies.
fn search_limbus(
    work: &Plane,
    coarse: &Plane,
    pupil: Circle,
    (r_lo, r_hi): (f32, f32),
    params: &EyeParams,
    scratch: &mut Scratch,
) -> Option<super::search::Found> {
    if r_hi <= r_lo {
        return None;
    }
    let (px, py) = ((pupil.x - 0.5) / 2.0, (pupil.y - 0.5) / 2.0);
    let limbus_rank = if params.limbus_arcs {
        Rank::WeakerArc
    } else if params.limbus_median {
        Rank::Median
    } else if params.limbus_weber {
        Rank::Weber
    } else {
        Rank::Step
    };
    let reach = (pupil.r * params.max_centre_offset / 2.0).clamp(2.0, 8.0);
    let reach_y = (pupil.r * params.max_centre_offset_y / 2.0).clamp(0.0, 8.0);
    // The pupil must lie inside the iris with a rim to spare; with `limbus_clear_pupil`, the
    // rim must also hold the inner band of the step everywhere, so that no arc of a circle
    // pushed sideways measures the pupil boundary.
    let clearance = if params.limbus_clear_pupil {
        1.1 * pupil.r + IRIS_BAND as f32 + 2.0
    } else {
        0.0
    };
    let accept = |cx: f32, cy: f32, r: f32| {
        let offset = (cx - px).hypot(cy - py);
        offset + pupil.r / 2.0 < r * 0.95 && offset + clearance / 2.0 < r
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
        coarse,
        grid,
        &iris_arcs(32),
        IRIS_BAND / 2,
        params.limbus_coverage,
        limbus_rank,
        scratch,
        &accept,
    )?;
    let accept_fine = |cx: f32, cy: f32, r: f32| {
        let offset = (cx - pupil.x).hypot(cy - pupil.y);
        offset + pupil.r < r * 0.95 && offset + clearance < r
    };
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
    Some(
        best_circle(
            work,
            grid,
            &iris_arcs(64),
            IRIS_BAND,
            params.limbus_coverage,
            limbus_rank,
            scratch,
            &accept_fine,
        )
        .unwrap_or_else(|| coarse_best.doubled()),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A small spot stays a reflection; a bright band wider than the limit (the background
    /// between dark marks) does not.
    #[test]
    fn only_small_bright_spots_are_reflections() {
        let (w, h) = (60usize, 40usize);
        let mut mask = vec![false; w * h];
        for y in 5..8 {
            for x in 5..8 {
                mask[y * w + x] = true;
            }
        }
        // A diagonal chain, 8-connected only: one region 30 px wide.
        for k in 0..30 {
            mask[(20 + k % 2) * w + 20 + k] = true;
        }
        let kept = small_spots(mask.clone(), w, h, 12.0);
        assert!(kept[6 * w + 6], "the spot is kept");
        assert!(
            (0..30).all(|k| !kept[(20 + k % 2) * w + 20 + k]),
            "the band is dropped"
        );
        assert_eq!(
            small_spots(mask.clone(), w, h, 40.0),
            mask,
            "both within 40 px"
        );
    }

    /// Bright paper between dark letters is left as it is with the extent limit, and filled
    /// in (dark) without it.
    #[test]
    fn bright_background_between_dark_marks_is_not_filled_in() {
        let (w, h) = (120usize, 60usize);
        let mut px = vec![120.0f32; w * h];
        for y in 20..40 {
            for x in 10..110 {
                // Dark strokes 3 px wide every 6 px on white.
                px[y * w + x] = if (x / 3) % 2 == 0 { 5.0 } else { 250.0 };
            }
        }
        let plane = Plane { w, h, px };
        let mut params = EyeParams {
            reflection_max_extent: 0.0,
            ..EyeParams::default()
        };
        let all = reflection_mask(&plane, &params);
        params.reflection_max_extent = 0.3;
        let small = reflection_mask(&plane, &params);
        let count = |m: &[bool]| m.iter().filter(|&&b| b).count();
        assert!(count(&all) > 500, "without the limit the paper is flagged");
        assert_eq!(count(&small), 0, "with it nothing is");
    }
}
