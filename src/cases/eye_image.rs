//! Eye images behind a case: the segmentation kept with a person's eye image and the
//! template's mask, as the case page draws them over the image.

use serde::{Deserialize, Serialize};
use tunggal_index::eye::EyeSegmentation;
use tunggal_index::iris::IrisTemplate;

/// A circle in image pixels (origin at the top-left pixel's centre, y down).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OutlineCircle {
    /// Centre column.
    pub x: f32,
    /// Centre row.
    pub y: f32,
    /// Radius.
    pub r: f32,
}

/// An eyelid edge, the parabola `y = apex_y + curvature · (x − apex_x)²` in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OutlineLid {
    /// Column of the apex.
    pub apex_x: f32,
    /// Row of the apex.
    pub apex_y: f32,
    /// Curvature in 1/pixels (≥ 0 for the upper lid, ≤ 0 for the lower).
    pub curvature: f32,
}

impl OutlineLid {
    /// Row of the lid edge at column `x`.
    pub fn y_at(&self, x: f32) -> f32 {
        self.apex_y + self.curvature * (x - self.apex_x).powi(2)
    }
}

/// The boundaries the eye encoder found in an eye image, kept with the person's image so
/// the case page draws what the code was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EyeOutline {
    /// Pupil boundary as a circle.
    pub pupil: OutlineCircle,
    /// Pupil boundary radii at evenly spaced angles counter-clockwise (as viewed) from the
    /// +x axis; empty when the circle is the boundary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pupil_contour: Vec<f32>,
    /// Limbus (iris–sclera boundary).
    pub iris: OutlineCircle,
    /// Upper eyelid edge, when it crosses the iris.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_eyelid: Option<OutlineLid>,
    /// Lower eyelid edge, when it crosses the iris.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_eyelid: Option<OutlineLid>,
    /// The normalised radii sampled, from the pupil boundary (0) to the limbus (1).
    pub radial_range: (f32, f32),
}

impl EyeOutline {
    /// The outline of a segmentation, sampled over `radial_range`.
    pub fn of(s: &EyeSegmentation, radial_range: (f32, f32)) -> Self {
        let circle = |c: tunggal_index::eye::Circle| OutlineCircle {
            x: c.x,
            y: c.y,
            r: c.r,
        };
        let lid = |l: tunggal_index::eye::Eyelid| OutlineLid {
            apex_x: l.apex_x,
            apex_y: l.apex_y,
            curvature: l.curvature,
        };
        Self {
            pupil: circle(s.pupil),
            pupil_contour: s.pupil_contour.clone(),
            iris: circle(s.iris),
            upper_eyelid: s.upper_eyelid.map(lid),
            lower_eyelid: s.lower_eyelid.map(lid),
            radial_range,
        }
    }

    /// Pupil boundary radius at angle `phi` (radians, counter-clockwise as viewed from +x):
    /// the contour, linearly interpolated, or the circle's radius.
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

    /// The image point at normalised radius `rho` (0 pupil boundary, 1 limbus) and angle
    /// `phi`: the rubber sheet's mapping.
    pub fn point(&self, rho: f32, phi: f32) -> (f32, f32) {
        let (ux, uy) = (phi.cos(), -phi.sin());
        let rp = self.pupil_radius_at(phi);
        let (ax, ay) = (self.pupil.x + rp * ux, self.pupil.y + rp * uy);
        let (bx, by) = (
            self.iris.x + self.iris.r * ux,
            self.iris.y + self.iris.r * uy,
        );
        (ax + (bx - ax) * rho, ay + (by - ay) * rho)
    }
}

/// Which code positions of an eye's template are valid, ring by ring (ring 0 next to the
/// pupil; position `a` of `positions` at the angle `2π a / positions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EyeMask {
    /// Rings (radial bands of the code).
    pub rings: usize,
    /// Angular positions per ring.
    pub positions: usize,
    /// Ring-major: whether any bit of the position is valid.
    pub valid: Vec<bool>,
}

impl EyeMask {
    /// The mask of a template, one cell per (ring, angular position).
    pub fn of(t: &IrisTemplate) -> Self {
        let layout = t.layout();
        let (rings, positions) = (layout.rings(), layout.angular());
        let mut valid = Vec::with_capacity(rings * positions);
        for ring in 0..rings {
            for position in 0..positions {
                let any = (0..layout.filters()).any(|filter| {
                    (0..layout.bits_per_position())
                        .any(|bit| t.mask_bit(layout.bit_index(filter, ring, position, bit)))
                });
                valid.push(any);
            }
        }
        Self {
            rings,
            positions,
            valid,
        }
    }

    /// Whether the position is valid.
    pub fn is_valid(&self, ring: usize, position: usize) -> bool {
        self.valid
            .get(ring * self.positions + position)
            .copied()
            .unwrap_or(false)
    }
}

/// An eye a person submitted as an image: the quality the encoder measured, the image's
/// size (the image served by [`super::Evidence::eye_png`] has it), the segmentation and the
/// mask of the code made from it.
#[derive(Debug, Clone, PartialEq)]
pub struct EyeImageInfo {
    /// Quality 0–100 (0 when the eye failed).
    pub quality: u8,
    /// The failure-to-enrol reason when the eye was left out of matching.
    pub unusable: Option<String>,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Pupil, limbus and eyelids, when they were found.
    pub outline: Option<EyeOutline>,
    /// The valid positions of the person's code of that eye, when it has one.
    pub mask: Option<EyeMask>,
}

/// A kept eye image that could not be read (damaged record or undecodable bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the kept eye image could not be read: {0}")]
pub struct EyeImageError(pub String);

#[cfg(test)]
mod tests {
    use super::*;
    use tunggal_index::iris::IrisLayout;

    #[test]
    fn the_rubber_sheet_runs_from_pupil_to_limbus_counter_clockwise() {
        let o = EyeOutline {
            pupil: OutlineCircle {
                x: 100.0,
                y: 100.0,
                r: 20.0,
            },
            pupil_contour: Vec::new(),
            iris: OutlineCircle {
                x: 100.0,
                y: 100.0,
                r: 60.0,
            },
            upper_eyelid: None,
            lower_eyelid: None,
            radial_range: (0.0, 1.0),
        };
        let near = |(x, y): (f32, f32), (ex, ey): (f32, f32)| {
            assert!((x - ex).abs() < 1e-3 && (y - ey).abs() < 1e-3, "{x},{y}")
        };
        near(o.point(0.0, 0.0), (120.0, 100.0));
        near(o.point(1.0, 0.0), (160.0, 100.0));
        // A quarter turn counter-clockwise as viewed is up the image (y down).
        near(o.point(0.5, std::f32::consts::FRAC_PI_2), (100.0, 60.0));
    }

    #[test]
    fn the_mask_has_a_cell_per_ring_and_position() {
        let layout = IrisLayout::DAUGMAN_2048;
        let mut t = IrisTemplate::empty(layout);
        let at = layout.bit_index(0, 2, 5, 1);
        t.set_mask_bit(at, true);
        let m = EyeMask::of(&t);
        assert_eq!(m.valid.len(), layout.rings() * layout.angular());
        assert_eq!(m.valid.iter().filter(|v| **v).count(), 1);
        assert!(m.is_valid(2, 5));
        assert!(!m.is_valid(2, 6));
        assert!(!m.is_valid(layout.rings(), 0));
    }
}
