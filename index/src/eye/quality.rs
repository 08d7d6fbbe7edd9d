//! Iris image quality: usable area, dilation, gaze, focus, motion blur, occlusion; a 0–100
//! score and the failure-to-enrol rule.

use serde::{Deserialize, Serialize};

use super::distance::{hypot_gt, hypot_lt};
use super::polar::Occlusion;
use super::segment::Segmented;
use super::{EyeError, EyeParams};

/// Quality measures of one eye image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EyeQuality {
    /// 0–100: the product of the sub-scores below, each in 0..=1 (see [`EyeQuality::score`]).
    pub score: u8,
    /// Share of the normalised iris that is usable (not covered, not a reflection, inside
    /// the image).
    pub usable_share: f32,
    /// Share covered by eyelids.
    pub eyelid_share: f32,
    /// Share masked as eyelashes or shadows.
    pub eyelash_share: f32,
    /// Share masked as specular reflection or saturation.
    pub reflection_share: f32,
    /// Share outside the image.
    pub outside_share: f32,
    /// Pupil radius over iris radius.
    pub dilation: f32,
    /// Pupil–iris centre distance over the iris radius (off-axis gaze).
    pub gaze_offset: f32,
    /// Sharpness: RMS of the 4-neighbour Laplacian over the iris, over the RMS deviation of
    /// the iris grey levels (falls with defocus and motion blur, independent of contrast).
    pub sharpness: f32,
    /// Motion-blur anisotropy: `1 − min/max` of the horizontal and vertical gradient energy
    /// over the iris (0 for isotropic texture, towards 1 for blur along one direction).
    pub motion: f32,
    /// Iris radius in image pixels.
    pub iris_radius: f32,
}

fn ramp(v: f32, zero: f32, one: f32) -> f32 {
    ((v - zero) / (one - zero)).clamp(0.0, 1.0)
}

impl EyeQuality {
    /// The 0–100 score from the measures: usable share (0 at 20 %, full at 70 %), dilation
    /// (full within 0.2–0.6, 0 at 0.1 and 0.8), gaze offset (full below 0.1, 0 at 0.35),
    /// sharpness (0 at the failure threshold, full at three times it), motion (full below
    /// 0.3, 0 at 0.9), iris radius (0 at 40 px, full at 80 px).
    pub fn score(&self, params: &EyeParams) -> u8 {
        let subs = [
            ramp(self.usable_share, 0.2, 0.7),
            ramp(self.dilation, 0.1, 0.2).min(ramp(self.dilation, 0.8, 0.6)),
            ramp(self.gaze_offset, 0.35, 0.1),
            ramp(
                self.sharpness,
                params.min_sharpness,
                3.0 * params.min_sharpness,
            ),
            ramp(self.motion, 0.9, 0.3),
            ramp(self.iris_radius, 40.0, 80.0),
        ];
        let q: f32 = subs.iter().product();
        (q * 100.0).round().clamp(0.0, 100.0) as u8
    }
}

/// Measures the quality of a segmented, unwrapped image.
#[inline(never)] // a stage of its own in profiles
pub(crate) fn measure(
    seg: &Segmented,
    occ: Occlusion,
    samples: usize,
    params: &EyeParams,
) -> EyeQuality {
    let s = &seg.segmentation;
    let n = samples.max(1) as f32;
    let outside = occ.outside as f32 / n;
    let eyelid = occ.eyelid as f32 / n;
    let reflection = occ.reflection as f32 / n;
    let eyelash = occ.eyelash as f32 / n;
    let usable = (1.0 - outside - eyelid - reflection - eyelash).max(0.0);
    let (sharpness, motion) = texture(seg);
    let mut q = EyeQuality {
        score: 0,
        usable_share: usable,
        eyelid_share: eyelid,
        eyelash_share: eyelash,
        reflection_share: reflection,
        outside_share: outside,
        dilation: s.dilation(),
        gaze_offset: s.centre_offset(),
        sharpness,
        motion,
        iris_radius: s.iris.r,
    };
    q.score = q.score(params);
    q
}

/// The failure-to-enrol rule on the measures.
pub(crate) fn check(q: &EyeQuality, params: &EyeParams) -> Result<(), EyeError> {
    if q.usable_share < params.min_usable_share {
        return Err(EyeError::Occluded {
            usable: q.usable_share * 100.0,
            required: params.min_usable_share * 100.0,
        });
    }
    if q.sharpness < params.min_sharpness {
        return Err(EyeError::OutOfFocus {
            sharpness: q.sharpness,
            required: params.min_sharpness,
        });
    }
    Ok(())
}

/// Sharpness and motion anisotropy over the visible iris of the working plane.
fn texture(seg: &Segmented) -> (f32, f32) {
    let p = &seg.work;
    let s = &seg.segmentation;
    let k = seg.scale as f32;
    let (pc, ic) = (s.pupil, s.iris);
    let (cx, cy, ri) = (ic.x / k, ic.y / k, ic.r / k);
    let (px, py, rp) = (pc.x / k, pc.y / k, pc.r / k);
    let x0 = (cx - ri).max(1.0) as usize;
    let x1 = ((cx + ri) as usize).min(p.w.saturating_sub(2));
    let y0 = (cy - ri).max(1.0) as usize;
    let y1 = ((cy + ri) as usize).min(p.h.saturating_sub(2));
    let (mut n, mut sum, mut sum2, mut lap2, mut gx2, mut gy2) =
        (0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (fx, fy) = (x as f32, y as f32);
            if hypot_gt(fx - cx, fy - cy, ri * 0.9) || hypot_lt(fx - px, fy - py, rp * 1.15 + 1.0) {
                continue;
            }
            if s.under_eyelid(fx * k, fy * k) || seg.reflections[y * p.w + x] {
                continue;
            }
            let v = p.at(x, y);
            let (l, r, u, d) = (
                p.at(x - 1, y),
                p.at(x + 1, y),
                p.at(x, y - 1),
                p.at(x, y + 1),
            );
            let lap = f64::from(l + r + u + d - 4.0 * v);
            n += 1.0;
            sum += f64::from(v);
            sum2 += f64::from(v) * f64::from(v);
            lap2 += lap * lap;
            gx2 += f64::from(r - l).powi(2);
            gy2 += f64::from(d - u).powi(2);
        }
    }
    if n < 16.0 {
        return (0.0, 0.0);
    }
    let var = (sum2 / n - (sum / n).powi(2)).max(1e-6);
    let sharp = ((lap2 / n).sqrt() / var.sqrt()) as f32;
    let (lo, hi) = (gx2.min(gy2), gx2.max(gy2));
    let motion = if hi > 0.0 {
        (1.0 - lo / hi) as f32
    } else {
        0.0
    };
    (sharp, motion)
}
