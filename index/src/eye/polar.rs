//! Rubber-sheet normalisation: the iris annulus resampled on a polar grid, with its mask.
//!
//! Row `i` of `rows` lies at the fraction `ρ = inner + (i + ½)/rows · (outer − inner)` of the
//! way from the pupil boundary to the limbus; column `j` of `cols` at the angle
//! `φ = 2π j / cols`, measured from the image's +x axis counter-clockwise as the image is
//! viewed (towards the top of the image). The sample is
//! `(1 − ρ) · (pupil centre + r_p(φ) · u(φ)) + ρ · (iris centre + r_i · u(φ))` (`r_p(φ)` the
//! pupil contour's radius, see [`super::EyeSegmentation::pupil_radius_at`]) with
//! `u(φ) = (cos φ, −sin φ)` in image coordinates (y down). Rotating the eye
//! counter-clockwise by `2π k / cols` therefore shifts the grid by `k` columns.

use super::segment::Segmented;
use super::EyeParams;

/// The normalised iris: grey values and validity, row-major `rows × cols`.
#[derive(Debug, Clone)]
pub(crate) struct Polar {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) values: Vec<f32>,
    pub(crate) valid: Vec<bool>,
    /// Median grey level of the valid samples (the fill for invalid ones).
    pub(crate) level: f32,
}

/// Why a polar sample is invalid, counted for the quality report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Occlusion {
    pub(crate) outside: usize,
    pub(crate) eyelid: usize,
    pub(crate) reflection: usize,
    pub(crate) eyelash: usize,
}

/// Samples the iris annulus of a segmented image.
#[inline(never)] // a stage of its own in profiles
pub(crate) fn unwrap(
    seg: &Segmented,
    rows: usize,
    cols: usize,
    params: &EyeParams,
) -> (Polar, Occlusion) {
    let s = &seg.segmentation;
    let (p, i) = (s.pupil, s.iris);
    let mut values = vec![0.0f32; rows * cols];
    let mut valid = vec![false; rows * cols];
    let mut occ = Occlusion::default();
    let scale = seg.scale as f32;
    let (inner, outer) = params.radial_range;
    for col in 0..cols {
        let phi = std::f32::consts::TAU * col as f32 / cols as f32;
        let (ux, uy) = (phi.cos(), -phi.sin());
        let rp = s.pupil_radius_at(phi);
        let (ax, ay) = (p.x + rp * ux, p.y + rp * uy);
        let (bx, by) = (i.x + i.r * ux, i.y + i.r * uy);
        for row in 0..rows {
            let rho = inner + (row as f32 + 0.5) / rows as f32 * (outer - inner);
            let (x, y) = (ax + (bx - ax) * rho, ay + (by - ay) * rho);
            let k = row * cols + col;
            let Some(v) = seg.full.sample(x, y) else {
                occ.outside += 1;
                continue;
            };
            values[k] = v;
            if s.under_eyelid(x, y) {
                occ.eyelid += 1;
                continue;
            }
            let (wx, wy) = ((x / scale) as usize, (y / scale) as usize);
            let flagged = wx < seg.work.w
                && wy < seg.work.h
                && seg
                    .reflections
                    .get(wy * seg.work.w + wx)
                    .copied()
                    .unwrap_or(false);
            if flagged || v >= params.saturation {
                occ.reflection += 1;
                continue;
            }
            valid[k] = true;
        }
    }
    let level = median_valid(&values, &valid).unwrap_or(128.0);
    // Eyelashes and eyelid shadows: much darker than the iris, towards the pupil's level.
    let lash = s.pupil_level + params.eyelash_fraction * (level - s.pupil_level);
    for (v, ok) in values.iter().zip(valid.iter_mut()) {
        if *ok && *v < lash {
            *ok = false;
            occ.eyelash += 1;
        }
    }
    (
        Polar {
            rows,
            cols,
            values,
            valid,
            level,
        },
        occ,
    )
}

fn median_valid(values: &[f32], valid: &[bool]) -> Option<f32> {
    let mut v: Vec<f32> = values
        .iter()
        .zip(valid)
        .filter(|(_, ok)| **ok)
        .map(|(&x, _)| x)
        .collect();
    if v.is_empty() {
        return None;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f32::total_cmp);
    Some(*m)
}
