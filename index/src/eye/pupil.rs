//! The pupil: dark pupil-sized seeds, the integro-differential search around each, the
//! refinement at working resolution and the radial contour (Fourier harmonics).

use super::blob::{darkest_blob, BlobLevels};
use super::distance::hypot_le;
use super::plane::{Integral, Plane};
use super::search::{best_circle, circle_mean, Directions, Grid, Rank, Scratch};
use super::segment::Circle;
use super::{EyeError, EyeParams};

/// How much further of the way from the darkest level to the median each raised blob
/// threshold of [`EyeParams::pupil_blob_ladder`] lies.
const BLOB_LADDER_STEP: f32 = 0.1;

/// The pupil: the best-ranked seed's circle, or with `choice` = n > 0 the n-th best of the
/// seeds' circles that lie apart (none of an earlier one's centre within its radius).
#[inline(never)] // a stage of its own in profiles
pub(super) fn find_pupil(
    work: &Plane,
    side: f32,
    params: &EyeParams,
    choice: usize,
    scratch: &mut Scratch,
) -> Result<(Circle, f32), EyeError> {
    let (r_min, r_max) = (params.pupil_radius.0 * side, params.pupil_radius.1 * side);
    let ladder = if params.pupil_blob > 0.0 {
        params.pupil_blob_ladder
    } else {
        0
    };
    if params.pupil_blob > 0.0 && choice <= ladder {
        let fraction = (params.pupil_blob + BLOB_LADDER_STEP * choice as f32).min(1.0);
        if let Some(found) = blob_pupil(work, (r_min, r_max), fraction, params, scratch) {
            return Ok(found);
        }
        if choice > 0 {
            return Err(EyeError::PupilNotFound {
                contrast: 0.0,
                required: params.min_pupil_contrast,
            });
        }
    }
    // Choices past the ladder are the seeds' retries.
    let choice = choice.saturating_sub(ladder);
    let coarse = work.half().box_blur(1);
    let (cr_min, cr_max) = ((r_min / 2.0).max(2.0), (r_max / 2.0).max(3.0));
    let seeds = dark_seeds(&coarse, cr_min, params.pupil_seeds);
    let dirs = Directions::full(32);
    let mut found_all: Vec<super::search::Found> = Vec::new();
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
        if let Some(mut f) = found {
            if params.pupil_sectors {
                f.rank = sector_rank(&coarse, &f);
            }
            found_all.push(f);
        }
    }
    // Best first (stable: the earlier seed wins a tie, as before).
    found_all.sort_by(|a, b| b.rank.total_cmp(&a.rank));
    let mut apart: Vec<super::search::Found> = Vec::with_capacity(found_all.len());
    for f in found_all {
        if apart
            .iter()
            .all(|a| (a.x - f.x).hypot(a.y - f.y) > a.r.max(f.r))
        {
            apart.push(f);
        }
    }
    let mut coarse_best = apart.get(choice).copied().ok_or(EyeError::PupilNotFound {
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
            // With `pupil_sectors`, the inner disc must also step up all round and be dark
            // throughout (not a circle straddling the lash line above a pupil).
            let consistent = !params.pupil_sectors || sector_rank(&coarse, &inner) >= needed;
            if inner.contrast >= needed && ring - core >= needed && consistent {
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
    .unwrap_or_else(|| coarse_best.doubled());
    if fine.contrast < params.min_pupil_contrast {
        return Err(EyeError::PupilNotFound {
            contrast: fine.contrast,
            required: params.min_pupil_contrast,
        });
    }
    Ok((fine.circle(), fine.contrast))
}

/// The pupil circle around the darkest compact blob ([`darkest_blob`]): radii within
/// [`EyeParams::pupil_blob_window`] of its half-width, centres within 2 px of the blob's
/// horizontally (plus the amount by which the least radius falls short of 0.8 half-widths:
/// a smaller circle may sit to one side of a widened blob) and within its
/// missing height (an eyelid over its top or bottom) vertically; `None` without a blob or
/// when the circle's step is under `min_pupil_contrast`.
fn blob_pupil(
    work: &Plane,
    (r_min, r_max): (f32, f32),
    fraction: f32,
    params: &EyeParams,
    scratch: &mut Scratch,
) -> Option<(Circle, f32)> {
    // An odd square about 0.7 of the least pupil radius: lashes thinner than it vanish.
    let open = ((r_min * 0.7) as usize).max(2) | 1;
    let smoothed;
    let plane = if params.pupil_blob_smooth > 0 {
        smoothed = work.box_blur(params.pupil_blob_smooth);
        &smoothed
    } else {
        work
    };
    // When no region qualifies (a noisy pupil split into fragments at the first threshold),
    // higher thresholds, each half the first one higher, between the same two levels.
    let levels = BlobLevels::of(plane, params.pupil_blob_frame)?;
    let b = (0..=params.pupil_blob_retries).find_map(|k| {
        darkest_blob(
            plane,
            levels,
            fraction * (1.0 + 0.5 * k as f32),
            open,
            (r_min, r_max),
        )
    })?;
    let slack = (b.r - b.half_height).max(0.0) + 2.0;
    let (lo, hi) = params.pupil_blob_window;
    let r0 = (b.r * lo).max(r_min);
    // Radii below 0.8 of the half-width may sit further across the blob's width.
    let reach = 2.0 + (0.8 * b.r - r0).max(0.0);
    let grid = Grid {
        x0: b.x - reach,
        x1: b.x + reach,
        y0: b.y - slack,
        y1: b.y + slack,
        step: 0.5,
        r0,
        r1: (b.r * hi).max(r_min),
    };
    let f = best_circle(
        work,
        grid,
        &Directions::full(64),
        1,
        0.9,
        Rank::Step,
        scratch,
        &|_, _, _| true,
    )?;
    (f.contrast >= params.min_pupil_contrast).then_some((f.circle(), f.contrast))
}

/// Sectors of a pupil candidate's boundary ranked by [`sector_rank`].
const SECTORS: usize = 8;

/// Sectors whose step may be weak (an eyelid over the top of the pupil) in
/// [`sector_rank`].
const WEAK_SECTORS: usize = 2;

/// A pupil candidate's rank by the consistency of its boundary and the darkness of its disc:
/// the boundary step in each of [`SECTORS`] equal sectors, the `WEAK_SECTORS + 1`-th weakest
/// of them, capped by the step from the disc's interior (mean at a quarter, half and three
/// quarters of the radius) to just outside the circle. A pupil steps up all round (but for an
/// eyelid over its top) and is dark throughout; a circle around a blob of dark print or
/// lashes steps up on some sectors only and holds bright gaps.
fn sector_rank(p: &Plane, f: &super::search::Found) -> f32 {
    let full = Directions::full(24);
    let outside = circle_mean(p, f.x, f.y, f.r + 1.5, &full, 12);
    let interior = [0.25f32, 0.5, 0.75]
        .iter()
        .map(|k| circle_mean(p, f.x, f.y, (f.r * k).max(0.5), &full, 12))
        .sum::<f32>()
        / 3.0;
    let fill = outside - interior;
    let fill = if fill.is_finite() { fill } else { 0.0 };
    let mut steps = [0.0f32; SECTORS];
    for (k, step) in steps.iter_mut().enumerate() {
        let from = 360.0 * k as f32 / SECTORS as f32;
        let arc = Directions::arcs(&[(from, from + 360.0 / SECTORS as f32)], 6);
        let outer = circle_mean(p, f.x, f.y, f.r + 1.5, &arc, 4);
        let inner = circle_mean(p, f.x, f.y, (f.r - 1.5).max(0.5), &arc, 4);
        let v = outer - inner;
        *step = if v.is_finite() { v } else { 0.0 };
    }
    steps.sort_by(f32::total_cmp);
    steps[WEAK_SECTORS].min(fill)
}

pub(super) fn median_of(v: &[f32]) -> f32 {
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
#[inline(never)] // a stage of its own in profiles
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
                if hypot_le(fx - cx, fy - cy, reach) && p.at(xx, yy) < threshold {
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
#[inline(never)] // a stage of its own in profiles
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
#[inline(never)] // a stage of its own in profiles
pub(super) fn pupil_contour(p: &Plane, pupil: Circle, contrast: f32, harmonics: usize) -> Vec<f32> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A noisy pupil (a checkerboard of 10 and 40) in a textured iris of 90 on a background
    /// of 160: at the first blob threshold (about 32) only the pupil's darker pixels are dark
    /// and the opening leaves no region; the next threshold (about 44) holds the whole pupil.
    fn noisy_pupil() -> Plane {
        let (w, h) = (120usize, 100usize);
        let mut px = vec![160.0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let d = (x as f32 - 62.0).hypot(y as f32 - 48.0);
                if d < 35.0 {
                    px[y * w + x] = 90.0 + ((x * 7 + y * 3) % 11) as f32;
                }
                if d < 15.0 {
                    px[y * w + x] = if (x + y) % 2 == 0 { 10.0 } else { 40.0 };
                }
            }
        }
        Plane { w, h, px }
    }

    #[test]
    fn a_pupil_split_at_the_first_threshold_is_found_at_the_next() {
        let p = noisy_pupil();
        let side = p.w.min(p.h) as f32;
        let range = (0.03 * side, 0.3 * side);
        let mut params = EyeParams {
            pupil_blob_retries: 0,
            ..EyeParams::default()
        };
        let mut scratch = Scratch::default();
        assert_eq!(
            blob_pupil(&p, range, params.pupil_blob, &params, &mut scratch),
            None
        );
        params.pupil_blob_retries = 1;
        let (c, contrast) =
            blob_pupil(&p, range, params.pupil_blob, &params, &mut scratch).expect("a pupil");
        assert!(
            (c.x - 62.0).abs() <= 1.5 && (c.y - 48.0).abs() <= 1.5,
            "{c:?}"
        );
        assert!((c.r - 15.0).abs() <= 1.5, "{c:?}");
        assert!(contrast > 30.0, "{contrast}");
    }
}
