//! Impressions: one capture of a finger, derived from its master by the changes a live-scan
//! capture and a minutiae extractor bring.
//!
//! In order: the part of the finger touching the sensor is an ellipse around a random contact
//! centre (pressure sets its size); master minutiae outside it are lost and each of the rest is
//! missed by the extractor with some probability; spurious minutiae appear along the ridge
//! flow; the skin is stretched by a plastic distortion (after Cappelli et al.: a rigid zone
//! around the contact centre, an outer zone that moves by a small rotation and translation, and
//! a smooth blend between them) plus a gentle random warp; the whole finger is rotated and
//! placed on the sensor, whose window crops it; positions and angles get noise and some types
//! are misread.
//!
//! Every parameter is a [`Span`] from its value at quality 1 (best capture) to its value at
//! quality 0 (worst); a capture's [`CaptureQuality`] plus the finger's skin condition picks
//! the point between them. The best end is close to exact (two excellent captures of a
//! finger score about 0.8 with the project matcher, as the best real FVC2002 pairs do); the
//! spread of real genuine scores comes from the per-finger skin condition and the
//! per-capture quality.

use std::f32::consts::{PI, TAU};

use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Distribution, Poisson};
use tunggal_index::template::{FingerTemplate, Minutia, MinutiaKind};

use super::gauss;
use super::master::{in_ellipse, FingerMaster, MasterMinutia};

/// Share of spurious minutiae whose direction ignores the ridge flow.
pub const SPURIOUS_OFF_FLOW: f64 = 0.2;

/// Quality of a capture, from 0 (worst) to 1 (best).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct CaptureQuality(f32);

impl CaptureQuality {
    /// A quality, clamped to `[0, 1]` (NaN becomes 0).
    pub fn new(q: f32) -> Self {
        Self(if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) })
    }

    /// The value in `[0, 1]`.
    pub fn get(self) -> f32 {
        self.0
    }

    /// A routine enrolment capture: mean 0.75, spread 0.12, within `[0.35, 1]`.
    pub fn typical(rng: &mut impl Rng) -> Self {
        Self::new(gauss(rng, 0.75, 0.12).clamp(0.35, 1.0))
    }

    /// A poor capture (dry, wet, smudged or worn finger): mean 0.25, within `[0, 0.45]`.
    pub fn poor(rng: &mut impl Rng) -> Self {
        Self::new(gauss(rng, 0.25, 0.1).clamp(0.0, 0.45))
    }
}

/// A parameter value at the best (quality 1) and worst (quality 0) capture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// Value at quality 1.
    pub best: f32,
    /// Value at quality 0.
    pub worst: f32,
}

impl Span {
    /// A span.
    pub const fn new(best: f32, worst: f32) -> Self {
        Self { best, worst }
    }

    /// Linear interpolation at `quality`.
    pub fn at(self, quality: CaptureQuality) -> f32 {
        self.worst + (self.best - self.worst) * quality.get()
    }
}

/// Impression parameters. Lengths are 500 ppi pixels, angles degrees.
#[derive(Debug, Clone, PartialEq)]
pub struct ImpressionParams {
    /// Sensor window width (default 300 px, the frame of the FVC2002 templates).
    pub sensor_width: u16,
    /// Sensor window height (default 400 px).
    pub sensor_height: u16,
    /// Spread of the finger centre around the window centre, per axis (default 14 → 30 px).
    pub placement_sd: Span,
    /// Spread of the finger rotation (default 8° → 16°).
    pub rotation_sd: Span,
    /// Spread of the contact centre around the finger centre, per axis (default 10 → 20 px).
    pub contact_offset_sd: Span,
    /// Contact ellipse size as a fraction of the print region (default 0.92 → 0.72).
    pub contact: Span,
    /// Typical displacement of the outer skin by plastic distortion (default 0.5 → 9 px).
    pub distortion: Span,
    /// Probability that the extractor misses a minutia in the contact area (default 0.05 → 0.34).
    pub miss: Span,
    /// Mean number of spurious minutiae (default 1 → 8).
    pub spurious: Span,
    /// Position noise per axis (default 0.6 → 4 px).
    pub position_sd: Span,
    /// Direction noise (default 2.5° → 14°).
    pub angle_sd: Span,
    /// Probability of reading an ending as a bifurcation or back (default 0.08 → 0.3).
    pub type_flip: Span,
    /// Minutiae closer than this to the contact border or the window edge are dropped, as
    /// extractors do (default 8 px).
    pub border: f32,
}

impl Default for ImpressionParams {
    fn default() -> Self {
        Self {
            sensor_width: 300,
            sensor_height: 400,
            placement_sd: Span::new(14.0, 30.0),
            rotation_sd: Span::new(8.0, 16.0),
            contact_offset_sd: Span::new(10.0, 20.0),
            contact: Span::new(0.92, 0.72),
            distortion: Span::new(0.5, 9.0),
            miss: Span::new(0.05, 0.34),
            spurious: Span::new(1.0, 8.0),
            position_sd: Span::new(0.6, 4.0),
            angle_sd: Span::new(2.5, 14.0),
            type_flip: Span::new(0.08, 0.3),
            border: 8.0,
        }
    }
}

/// Plastic distortion: the outer skin moves by a small rotation and translation about the
/// contact centre, blended in from a rigid inner zone, plus a low-frequency warp.
#[derive(Debug, Clone, Copy)]
struct Distortion {
    centre: (f32, f32),
    rigid: f32,
    blend: f32,
    cos: f32,
    sin: f32,
    shift: (f32, f32),
    warp: [(f32, f32, f32, f32, f32); 2],
}

impl Distortion {
    fn sample(centre: (f32, f32), reach: f32, magnitude: f32, rng: &mut impl Rng) -> Self {
        let angle = gauss(rng, 0.0, magnitude / reach.max(1.0));
        let mut warp = [(0.0, 0.0, 0.0, 0.0, 0.0); 2];
        for w in &mut warp {
            let k = TAU / rng.gen_range(150.0..300.0f32);
            let heading = rng.gen_range(0.0..TAU);
            *w = (
                gauss(rng, 0.0, 0.3 * magnitude),
                gauss(rng, 0.0, 0.3 * magnitude),
                k * heading.cos(),
                k * heading.sin(),
                rng.gen_range(0.0..TAU),
            );
        }
        Self {
            centre,
            rigid: 0.3 * reach,
            blend: 0.8 * reach,
            cos: angle.cos(),
            sin: angle.sin(),
            shift: (
                gauss(rng, 0.0, 0.7 * magnitude),
                gauss(rng, 0.0, 0.7 * magnitude),
            ),
            warp,
        }
    }

    fn apply(&self, x: f32, y: f32) -> (f32, f32) {
        let (dx, dy) = (x - self.centre.0, y - self.centre.1);
        let r = (dx * dx + dy * dy).sqrt();
        let t = ((r - self.rigid) / self.blend).clamp(0.0, 1.0);
        let s = t * t * (3.0 - 2.0 * t);
        let moved_x = self.cos * dx - self.sin * dy + self.shift.0;
        let moved_y = self.sin * dx + self.cos * dy + self.shift.1;
        let mut ox = x + s * (moved_x - dx);
        let mut oy = y + s * (moved_y - dy);
        for &(ax, ay, kx, ky, p) in &self.warp {
            let v = (kx * x + ky * y + p).sin();
            ox += ax * v;
            oy += ay * v;
        }
        (ox, oy)
    }
}

fn flip(kind: MinutiaKind) -> MinutiaKind {
    match kind {
        MinutiaKind::Ending => MinutiaKind::Bifurcation,
        MinutiaKind::Bifurcation => MinutiaKind::Ending,
        MinutiaKind::Other => MinutiaKind::Other,
    }
}

/// Pixel-space direction to the ISO angle unit (counter-clockwise as seen, 256 per turn).
pub fn iso_angle(direction: f32) -> u8 {
    let units = ((-direction).rem_euclid(TAU) * (256.0 / TAU)).round() as u32;
    (units % 256) as u8
}

/// Takes one impression of `master` at `quality`; the finger's skin condition
/// ([`FingerMaster::skin`]) is added to `quality` before the parameters are interpolated.
pub fn capture(
    master: &FingerMaster,
    quality: CaptureQuality,
    params: &ImpressionParams,
    rng: &mut impl Rng,
) -> FingerTemplate {
    let q = CaptureQuality::new(quality.get() + master.skin);
    let offset_sd = params.contact_offset_sd.at(q);
    let centre = (gauss(rng, 0.0, offset_sd), gauss(rng, 0.0, offset_sd));
    let contact = (params.contact.at(q) * gauss(rng, 1.0, 0.05)).clamp(0.4, 1.0);
    let (ca, cb) = (master.half_width * contact, master.half_height * contact);
    let (ia, ib) = ((ca - params.border).max(1.0), (cb - params.border).max(1.0));
    let in_contact = |x: f32, y: f32| {
        in_ellipse(x - centre.0, y - centre.1, ia, ib)
            && in_ellipse(x, y, master.half_width, master.half_height)
    };

    let miss = f64::from(params.miss.at(q).clamp(0.0, 1.0));
    let mut kept: Vec<MasterMinutia> = Vec::with_capacity(master.minutiae.len() + 16);
    kept.extend(
        master
            .minutiae
            .iter()
            .filter(|m| in_contact(m.x, m.y))
            .filter(|_| !rng.gen_bool(miss)),
    );
    let spurious_mean = f64::from(params.spurious.at(q).max(0.0));
    let spurious = if spurious_mean > 0.0 {
        Poisson::new(spurious_mean).map_or(0, |p| p.sample(rng) as usize)
    } else {
        0
    };
    let mut placed = 0;
    let mut tries = 0;
    while placed < spurious && tries < spurious * 20 {
        tries += 1;
        let x = centre.0 + rng.gen_range(-ia..ia);
        let y = centre.1 + rng.gen_range(-ib..ib);
        if !in_contact(x, y) {
            continue;
        }
        // Most false minutiae follow the ridges; some (smudges, scars) point anywhere.
        let direction = if rng.gen_bool(SPURIOUS_OFF_FLOW) {
            rng.gen_range(0.0..TAU)
        } else {
            master.field.flow(x, y) + if rng.gen_bool(0.5) { 0.0 } else { PI }
        };
        let kind = if rng.gen_bool(0.65) {
            MinutiaKind::Ending
        } else {
            MinutiaKind::Bifurcation
        };
        kept.push(MasterMinutia {
            x,
            y,
            direction,
            kind,
        });
        placed += 1;
    }

    let distortion = Distortion::sample(centre, master.half_height, params.distortion.at(q), rng);
    let rotation = gauss(rng, 0.0, params.rotation_sd.at(q).to_radians());
    let (rc, rs) = (rotation.cos(), rotation.sin());
    let place_sd = params.placement_sd.at(q);
    let target = (
        f32::from(params.sensor_width) / 2.0 + gauss(rng, 0.0, place_sd),
        f32::from(params.sensor_height) / 2.0 + gauss(rng, 0.0, place_sd),
    );
    let position_sd = params.position_sd.at(q);
    let angle_sd = params.angle_sd.at(q).to_radians();
    let type_flip = f64::from(params.type_flip.at(q).clamp(0.0, 1.0));
    let (max_x, max_y) = (
        f32::from(params.sensor_width) - params.border,
        f32::from(params.sensor_height) - params.border,
    );
    let quality_score = (100.0 * q.get()).round() as u8;

    let mut minutiae = Vec::with_capacity(kept.len());
    for m in &kept {
        let (px, py) = distortion.apply(m.x, m.y);
        let (hx, hy) =
            distortion.apply(m.x + 2.0 * m.direction.cos(), m.y + 2.0 * m.direction.sin());
        let local = (hy - py).atan2(hx - px);
        let (dx, dy) = (px - centre.0, py - centre.1);
        let x = target.0 + rc * dx - rs * dy + gauss(rng, 0.0, position_sd);
        let y = target.1 + rs * dx + rc * dy + gauss(rng, 0.0, position_sd);
        if !(params.border..=max_x).contains(&x) || !(params.border..=max_y).contains(&y) {
            continue;
        }
        let direction = local + rotation + gauss(rng, 0.0, angle_sd);
        let kind = if rng.gen_bool(type_flip) {
            flip(m.kind)
        } else {
            m.kind
        };
        let quality = (f32::from(quality_score) * rng.gen_range(0.7..1.0f32)).round() as u8;
        minutiae.push(Minutia {
            x: x.round() as u16,
            y: y.round() as u16,
            angle: iso_angle(direction),
            kind,
            quality,
        });
    }
    minutiae.shuffle(rng);
    minutiae.truncate(255);
    FingerTemplate {
        width: params.sensor_width,
        height: params.sensor_height,
        position: master.position,
        quality: quality_score,
        minutiae,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::master::MasterParams;
    use crate::fingerprint::pattern::PatternClass;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn iso_angle_follows_the_template_convention() {
        // Pointing right: 0; pointing up on the image (negative y): a quarter turn CCW = 64.
        assert_eq!(iso_angle(0.0), 0);
        assert_eq!(iso_angle(-PI / 2.0), 64);
        assert_eq!(iso_angle(PI / 2.0), 192);
        assert_eq!(iso_angle(PI), 128);
        let m = Minutia {
            angle: iso_angle(0.7),
            ..Minutia::default()
        };
        let back = m.angle_rad();
        assert!(((back.cos(), -back.sin()).0 - 0.7f32.cos()).abs() < 0.02);
        assert!((-back.sin() - 0.7f32.sin()).abs() < 0.02);
    }

    #[test]
    fn ideal_captures_keep_the_master_geometry() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let master =
            FingerMaster::generate(1, PatternClass::Whorl, &MasterParams::default(), &mut rng);
        let params = ImpressionParams {
            placement_sd: Span::new(0.0, 0.0),
            rotation_sd: Span::new(0.0, 0.0),
            contact_offset_sd: Span::new(0.0, 0.0),
            contact: Span::new(1.0, 1.0),
            distortion: Span::new(0.0, 0.0),
            miss: Span::new(0.0, 0.0),
            spurious: Span::new(0.0, 0.0),
            position_sd: Span::new(0.0, 0.0),
            angle_sd: Span::new(0.0, 0.0),
            type_flip: Span::new(0.0, 0.0),
            border: 0.0,
            sensor_width: 400,
            sensor_height: 500,
        };
        let t = capture(&master, CaptureQuality::new(1.0), &params, &mut rng);
        assert_eq!(t.minutiae.len(), master.minutiae.len());
        for m in &master.minutiae {
            let x = (m.x + 200.0).round() as u16;
            let y = (m.y + 250.0).round() as u16;
            let found = t.minutiae.iter().find(|t| t.x == x && t.y == y).unwrap();
            assert_eq!(found.angle, iso_angle(m.direction));
            assert_eq!(found.kind, m.kind);
        }
    }

    #[test]
    fn worse_quality_loses_more_true_minutiae() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let params = ImpressionParams {
            spurious: Span::new(0.0, 0.0),
            ..ImpressionParams::default()
        };
        let (mut good, mut bad) = (0usize, 0usize);
        for _ in 0..200 {
            let master = FingerMaster::generate(
                2,
                PatternClass::RightLoop,
                &MasterParams::default(),
                &mut rng,
            );
            good += capture(&master, CaptureQuality::new(1.0), &params, &mut rng)
                .minutiae
                .len();
            bad += capture(&master, CaptureQuality::new(0.0), &params, &mut rng)
                .minutiae
                .len();
        }
        assert!(bad * 10 < good * 8, "good {good} bad {bad}");
    }

    #[test]
    fn minutiae_stay_inside_the_sensor_window() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let params = ImpressionParams::default();
        for _ in 0..100 {
            let master = FingerMaster::generate(
                3,
                PatternClass::LeftLoop,
                &MasterParams::default(),
                &mut rng,
            );
            let t = capture(&master, CaptureQuality::new(0.2), &params, &mut rng);
            assert!(t.minutiae.iter().all(|m| m.x < 300 && m.y < 400));
            assert_eq!((t.width, t.height, t.position), (300, 400, 3));
        }
    }
}
