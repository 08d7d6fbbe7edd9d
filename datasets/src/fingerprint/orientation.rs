//! Ridge orientation fields from singular points (the zero-pole model of Sherlock and Monro),
//! an arch model for prints without singularities, and a smooth random perturbation.
//!
//! Coordinates are 500 ppi pixels with y down, centred on the finger. Orientations are
//! pixel-space angles φ (the ridge runs along `(cos φ, sin φ)`), defined modulo π.

use std::f32::consts::PI;

use rand::Rng;

use super::gauss as jitter;
use super::pattern::PatternClass;

/// Number of sinusoidal perturbation terms.
const PERTURBATION_TERMS: usize = 3;

/// Standard deviation of each perturbation amplitude, radians.
pub const PERTURBATION_SD: f32 = 0.08;

/// A point in the finger frame.
pub type Point = (f32, f32);

/// Arch ridge shape: ridges follow `y = y0 − A(y0)·exp(−x²/2σ²)`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ArchShape {
    height: f32,
    width: f32,
    centre_y: f32,
    extent_y: f32,
}

/// One sinusoidal perturbation term `a·sin(kx·x + ky·y + p)`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Wave {
    amplitude: f32,
    kx: f32,
    ky: f32,
    phase: f32,
}

/// The orientation field of one finger.
#[derive(Debug, Clone, PartialEq)]
pub struct OrientationField {
    cores: Vec<Point>,
    deltas: Vec<Point>,
    arch: Option<ArchShape>,
    waves: [Wave; PERTURBATION_TERMS],
}

impl OrientationField {
    /// Draws singular points for `class` and a perturbation.
    pub fn sample(class: PatternClass, rng: &mut impl Rng) -> Self {
        let cx = jitter(rng, 0.0, 12.0);
        let cy = jitter(rng, -15.0, 15.0);
        let (cores, deltas, arch) = match class {
            PatternClass::Arch => {
                let arch = ArchShape {
                    height: jitter(rng, 55.0, 12.0).max(15.0),
                    width: jitter(rng, 70.0, 10.0).max(35.0),
                    centre_y: cy,
                    extent_y: jitter(rng, 110.0, 20.0).max(50.0),
                };
                (vec![], vec![], Some(arch))
            }
            PatternClass::TentedArch => {
                let gap = jitter(rng, 55.0, 12.0).max(25.0);
                (
                    vec![(cx, cy)],
                    vec![(cx + jitter(rng, 0.0, 6.0), cy + gap)],
                    None,
                )
            }
            PatternClass::LeftLoop | PatternClass::RightLoop => {
                let side = if class == PatternClass::RightLoop {
                    -1.0
                } else {
                    1.0
                };
                let dx = side * jitter(rng, 75.0, 15.0).abs();
                let dy = jitter(rng, 85.0, 15.0).max(40.0);
                (vec![(cx, cy)], vec![(cx + dx, cy + dy)], None)
            }
            PatternClass::Whorl => {
                let spread = jitter(rng, 14.0, 6.0);
                let tilt = jitter(rng, 0.0, 8.0);
                let cores = vec![(cx - tilt, cy - spread), (cx + tilt, cy + spread)];
                let dy = jitter(rng, 90.0, 15.0).max(50.0);
                let deltas = vec![
                    (
                        cx - jitter(rng, 85.0, 12.0).abs(),
                        cy + dy + jitter(rng, 0.0, 10.0),
                    ),
                    (
                        cx + jitter(rng, 85.0, 12.0).abs(),
                        cy + dy + jitter(rng, 0.0, 10.0),
                    ),
                ];
                (cores, deltas, None)
            }
        };
        let mut waves = [Wave {
            amplitude: 0.0,
            kx: 0.0,
            ky: 0.0,
            phase: 0.0,
        }; PERTURBATION_TERMS];
        for w in &mut waves {
            let wavelength = rng.gen_range(120.0..320.0f32);
            let heading = rng.gen_range(0.0..PI);
            let k = std::f32::consts::TAU / wavelength;
            *w = Wave {
                amplitude: jitter(rng, 0.0, PERTURBATION_SD),
                kx: k * heading.cos(),
                ky: k * heading.sin(),
                phase: rng.gen_range(0.0..std::f32::consts::TAU),
            };
        }
        Self {
            cores,
            deltas,
            arch,
            waves,
        }
    }

    /// Core positions.
    pub fn cores(&self) -> &[Point] {
        &self.cores
    }

    /// Delta positions.
    pub fn deltas(&self) -> &[Point] {
        &self.deltas
    }

    /// Ridge orientation at `(x, y)`, radians modulo π (not normalised).
    pub fn orientation(&self, x: f32, y: f32) -> f32 {
        let mut phi = 0.0f32;
        for &(dx, dy) in &self.deltas {
            phi += 0.5 * (y - dy).atan2(x - dx);
        }
        for &(cx, cy) in &self.cores {
            phi -= 0.5 * (y - cy).atan2(x - cx);
        }
        if let Some(a) = &self.arch {
            let t = (y - a.centre_y) / a.extent_y;
            let height = a.height * (-t * t).exp();
            let slope =
                height * x / (a.width * a.width) * (-(x * x) / (2.0 * a.width * a.width)).exp();
            phi += slope.atan();
        }
        for w in &self.waves {
            phi += w.amplitude * (w.kx * x + w.ky * y + w.phase).sin();
        }
        phi
    }

    /// Ridge direction at `(x, y)` as a full angle: the orientation with the sense whose
    /// vector points rightwards (positive x), so that neighbouring points agree except across
    /// vertical ridges.
    pub fn flow(&self, x: f32, y: f32) -> f32 {
        let phi = self.orientation(x, y);
        if phi.cos() < 0.0 {
            phi + PI
        } else {
            phi
        }
    }
}

/// Distance between two orientations modulo π, in `[0, π/2]`.
pub fn orientation_gap(a: f32, b: f32) -> f32 {
    let d = (a - b).rem_euclid(PI);
    d.min(PI - d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn winding(field: &OrientationField, centre: Point, radius: f32) -> f32 {
        // Sum of orientation changes (mod π, shortest) around a circle: ±π per singular point.
        let steps = 720;
        let mut total = 0.0;
        let at = |i: usize| {
            let t = i as f32 / steps as f32 * std::f32::consts::TAU;
            field.orientation(centre.0 + radius * t.cos(), centre.1 + radius * t.sin())
        };
        let mut prev = at(0);
        for i in 1..=steps {
            let cur = at(i);
            let mut d = (cur - prev).rem_euclid(PI);
            if d > PI / 2.0 {
                d -= PI;
            }
            total += d;
            prev = cur;
        }
        total
    }

    #[test]
    fn singular_points_have_the_right_index() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for class in PatternClass::ALL {
            let field = OrientationField::sample(class, &mut rng);
            for &c in field.cores() {
                let w = winding(&field, c, 4.0);
                assert!((w + PI).abs() < 0.2, "{class:?} core winding {w}");
            }
            for &d in field.deltas() {
                let w = winding(&field, d, 4.0);
                assert!((w - PI).abs() < 0.2, "{class:?} delta winding {w}");
            }
            // Far from the pattern the winding sums the indexes: 0 for every class.
            let w = winding(&field, (0.0, 0.0), 2000.0);
            assert!(w.abs() < 0.3, "{class:?} outer winding {w}");
        }
    }

    #[test]
    fn loops_open_on_the_side_opposite_their_delta() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let field = OrientationField::sample(PatternClass::RightLoop, &mut rng);
        let (cx, cy) = field.cores()[0];
        assert!(field.deltas()[0].0 < cx);
        // Right of the core ridges run out horizontally; left of it they turn steeply.
        let right = orientation_gap(field.orientation(cx + 60.0, cy), 0.0);
        let left = orientation_gap(field.orientation(cx - 40.0, cy + 10.0), 0.0);
        assert!(right < 0.5 && left > right, "right {right} left {left}");
    }

    #[test]
    fn the_field_is_smooth_away_from_singularities() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let field = OrientationField::sample(PatternClass::Arch, &mut rng);
        for i in 0..100 {
            let x = -100.0 + 2.0 * i as f32;
            let a = field.orientation(x, 30.0);
            let b = field.orientation(x + 1.0, 30.0);
            assert!(orientation_gap(a, b) < 0.05);
        }
    }
}
