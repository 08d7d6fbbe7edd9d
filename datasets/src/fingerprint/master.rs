//! Master fingerprints: the full set of minutiae of one finger, from which every impression
//! is derived.

use std::f32::consts::PI;

use rand::Rng;
use tunggal_index::template::MinutiaKind;

use super::gauss;
use super::orientation::OrientationField;
use super::pattern::PatternClass;

/// Parameters of master generation. Lengths are 500 ppi pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterParams {
    /// Mean half-width of the finger's elliptical print region (default 125 px, 12.7 mm wide).
    pub half_width: f32,
    /// Mean half-height of the print region (default 170 px, 17.3 mm tall).
    pub half_height: f32,
    /// Relative spread of the half-axes between fingers (default 0.09).
    pub size_sd: f32,
    /// Mean minutiae per 10,000 px² of print region (default 7.5: about 50 per finger).
    pub density: f32,
    /// Relative spread of the density between fingers (default 0.25).
    pub density_sd: f32,
    /// Minimum distance between two minutiae, about one ridge period (default 9 px).
    pub min_distance: f32,
    /// Mean fraction of ridge endings; the rest are bifurcations (default 0.72, before the
    /// type flips of impressions pull it towards one half).
    pub ending_fraction: f64,
    /// Spread of the ending fraction between fingers (default 0.09).
    pub ending_fraction_sd: f64,
    /// Probability that a minutia points against the flow sense (default 0.2); gives the
    /// 60–65% same-sense share of neighbouring real minutiae.
    pub against_flow: f64,
    /// Deviation of a minutia's direction from the smooth field, degrees (default 6).
    pub direction_sd_deg: f32,
    /// Spread of the finger's skin condition (see [`FingerMaster::skin`]; default 0.10).
    pub skin_sd: f32,
}

impl Default for MasterParams {
    fn default() -> Self {
        Self {
            half_width: 125.0,
            half_height: 170.0,
            size_sd: 0.07,
            density: 7.5,
            density_sd: 0.25,
            min_distance: 9.0,
            ending_fraction: 0.72,
            ending_fraction_sd: 0.09,
            against_flow: 0.2,
            direction_sd_deg: 6.0,
            skin_sd: 0.10,
        }
    }
}

/// One minutia of a master, in the finger frame (centred, 500 ppi pixels, y down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MasterMinutia {
    /// Horizontal position.
    pub x: f32,
    /// Vertical position (down).
    pub y: f32,
    /// Direction as a pixel-space angle: the minutia points along `(cos, sin)`.
    pub direction: f32,
    /// Ending or bifurcation.
    pub kind: MinutiaKind,
}

/// The master of one finger.
#[derive(Debug, Clone, PartialEq)]
pub struct FingerMaster {
    /// ISO finger position 1–10.
    pub position: u8,
    /// Pattern class.
    pub class: PatternClass,
    /// Ridge orientation field.
    pub field: OrientationField,
    /// Half-width of the print region.
    pub half_width: f32,
    /// Half-height of the print region.
    pub half_height: f32,
    /// The minutiae.
    pub minutiae: Vec<MasterMinutia>,
    /// Skin condition: an offset added to the quality of every capture of this finger
    /// (dry, worn or creased skin is poor in every capture, not in one). Normal with spread
    /// [`MasterParams::skin_sd`], within ±2.5 spreads.
    pub skin: f32,
}

/// Whether `(x, y)` lies inside the ellipse of half-axes `(a, b)` centred at the origin.
pub fn in_ellipse(x: f32, y: f32, a: f32, b: f32) -> bool {
    (x / a).powi(2) + (y / b).powi(2) <= 1.0
}

impl FingerMaster {
    /// Generates the master of the finger at `position` with pattern `class`.
    pub fn generate(
        position: u8,
        class: PatternClass,
        params: &MasterParams,
        rng: &mut impl Rng,
    ) -> Self {
        let field = OrientationField::sample(class, rng);
        let half_width = params.half_width * gauss(rng, 1.0, params.size_sd).clamp(0.75, 1.25);
        let half_height = params.half_height * gauss(rng, 1.0, params.size_sd).clamp(0.75, 1.25);
        let area = PI * half_width * half_height;
        let density = params.density * gauss(rng, 1.0, params.density_sd).clamp(0.4, 1.8);
        let target = (area * density / 10_000.0).round() as usize;
        let direction_sd = params.direction_sd_deg.to_radians();
        let ending_fraction = (params.ending_fraction
            + f64::from(gauss(rng, 0.0, 1.0)) * params.ending_fraction_sd)
            .clamp(0.0, 1.0);
        let min_d2 = params.min_distance * params.min_distance;
        let mut minutiae: Vec<MasterMinutia> = Vec::with_capacity(target);
        let mut attempts = 0;
        while minutiae.len() < target && attempts < target * 40 {
            attempts += 1;
            let x = rng.gen_range(-half_width..half_width);
            let y = rng.gen_range(-half_height..half_height);
            if !in_ellipse(x, y, half_width, half_height) {
                continue;
            }
            if minutiae
                .iter()
                .any(|m| (m.x - x).powi(2) + (m.y - y).powi(2) < min_d2)
            {
                continue;
            }
            let mut direction = field.flow(x, y) + gauss(rng, 0.0, direction_sd);
            if rng.gen_bool(params.against_flow) {
                direction += PI;
            }
            let kind = if rng.gen_bool(ending_fraction) {
                MinutiaKind::Ending
            } else {
                MinutiaKind::Bifurcation
            };
            minutiae.push(MasterMinutia {
                x,
                y,
                direction,
                kind,
            });
        }
        // Drawn last so that the minutiae do not depend on the skin spread.
        let skin_sd = params.skin_sd.max(0.0);
        let skin = gauss(rng, 0.0, skin_sd).clamp(-2.5 * skin_sd, 2.5 * skin_sd);
        Self {
            position,
            class,
            field,
            half_width,
            half_height,
            minutiae,
            skin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::orientation::orientation_gap;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn masters_respect_region_spacing_and_flow() {
        let params = MasterParams::default();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for class in PatternClass::ALL {
            let m = FingerMaster::generate(2, class, &params, &mut rng);
            assert!(
                (15..=110).contains(&m.minutiae.len()),
                "{class:?}: {}",
                m.minutiae.len()
            );
            for (i, a) in m.minutiae.iter().enumerate() {
                assert!(in_ellipse(a.x, a.y, m.half_width, m.half_height));
                for b in &m.minutiae[i + 1..] {
                    assert!(
                        ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt() >= params.min_distance
                    );
                }
                let gap = orientation_gap(a.direction, m.field.orientation(a.x, a.y));
                assert!(
                    gap < 25f32.to_radians(),
                    "direction off the ridge flow by {gap}"
                );
            }
            let endings = m
                .minutiae
                .iter()
                .filter(|x| x.kind == MinutiaKind::Ending)
                .count();
            let share = endings as f32 / m.minutiae.len() as f32;
            assert!((0.35..0.9).contains(&share));
        }
    }
}
