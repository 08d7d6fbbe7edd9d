//! Synthetic iris codes with the statistics of real IrisCodes.
//!
//! # Model
//!
//! * **Master code.** Every eye has a latent field: for each row (filter, ring) and each phase
//!   bit, a circular sequence over the angular positions of Gaussian white noise smoothed by a
//!   Gaussian kernel ([`IrisSynthParams::correlation`] positions at 128 angular positions,
//!   scaled with the angular resolution), then smoothed across the rings of each filter by a
//!   Gaussian kernel of [`IrisSynthParams::radial_correlation`] rings. A code bit is the sign
//!   of the field, so neighbouring bits are correlated as in real IrisCodes (Daugman measures
//!   ~249 degrees of freedom in 2048 bits, not 2048). Most of the correlation is radial and
//!   little is angular: the impostor distance then decorrelates within a few positions of
//!   relative rotation, so the best of the matcher's 17 rotations has the extreme-value shape
//!   Daugman fits to real best-of-7 scores (mean ~0.457, sd ~0.02; see
//!   [`crate::iris_theory`]). With mostly angular correlation the best of 17 rotations acts
//!   like the best of about three and is centred too high with too wide a spread.
//! * **Capture.** A capture sees the field rotated by a continuous offset (head tilt), uniform
//!   within half the matcher's default window on each side so that any two captures of an eye
//!   align within the window, sampled by linear interpolation, plus independent smoothed
//!   Gaussian noise of standard deviation [`CaptureParams::noise`]. Two captures of one eye
//!   therefore disagree on a fraction of bits set by the noise (0.10–0.20 for good captures).
//! * **Mask.** The mask lives in the image frame (it does not rotate with the iris): the upper
//!   and lower eyelids are horizontal lines cutting the iris disc (pupil radius 0.4 of the iris
//!   radius), masking an arc at the top and bottom of the outer rings; eyelashes mask sparse
//!   positions below the upper lid and a specular reflection masks a small patch near the
//!   pupil. Typically 10–35 % of the bits are masked. A masked position masks every filter and
//!   phase bit at that ring and angle.
//!
//! Everything is deterministic given the random generator passed in; [`IrisGenerator::rng`]
//! derives independent ChaCha streams from the generator seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tunggal_index::iris::{IrisLayout, IrisTemplate};

/// Pupil radius as a fraction of the iris radius in the mask geometry.
const PUPIL_RADIUS: f32 = 0.4;

/// Tunable statistics of the generator. [`IrisSynthParams::default`] matches the bands in
/// `datasets/REALISM.md`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IrisSynthParams {
    /// Standard deviation, in angular positions of a 128-position code, of the Gaussian kernel
    /// smoothing the latent field.
    pub correlation: f32,
    /// Standard deviation, in rings of an 8-ring code, of the Gaussian kernel smoothing the
    /// latent field across the rings (0: rings independent), scaled with the number of rings.
    pub radial_correlation: f32,
    /// Capture noise at quality 1 (best).
    pub noise_best: f32,
    /// Capture noise at quality 0 (worst acceptable).
    pub noise_worst: f32,
    /// Largest rotation offset of a capture, in angular positions on each side (fractional).
    pub max_rotation: f32,
}

impl Default for IrisSynthParams {
    fn default() -> Self {
        Self {
            correlation: 1.0,
            radial_correlation: 1.8,
            noise_best: 0.22,
            noise_worst: 0.55,
            max_rotation: 4.0,
        }
    }
}

/// Conditions of one capture. [`CaptureParams::sample`] draws them for a quality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaptureParams {
    /// Standard deviation of the capture noise added to the unit-variance latent field.
    pub noise: f32,
    /// Rotation of the iris in angular positions (continuous; positive moves position `a`
    /// towards `a + rotation`, as `IrisTemplate::rotated` does).
    pub rotation: f32,
    /// Height of the upper eyelid edge above the pupil centre, in iris radii (1.0 or more:
    /// no occlusion).
    pub upper_lid: f32,
    /// Depth of the lower eyelid edge below the pupil centre, in iris radii.
    pub lower_lid: f32,
    /// Probability that a position just under the upper lid is masked by an eyelash.
    pub lash_density: f32,
}

impl CaptureParams {
    /// Draws capture conditions for `quality` in `[0, 1]` (1: best; clamped): noise between
    /// [`IrisSynthParams::noise_best`] and [`IrisSynthParams::noise_worst`], rotation uniform
    /// within `±max_rotation`, eyelid and lash occlusion (more occlusion at low quality).
    pub fn sample<R: Rng + ?Sized>(params: &IrisSynthParams, quality: f32, rng: &mut R) -> Self {
        let q = quality.clamp(0.0, 1.0);
        let noise = params.noise_best + (params.noise_worst - params.noise_best) * (1.0 - q);
        let rotation = if params.max_rotation > 0.0 {
            rng.gen_range(-params.max_rotation..=params.max_rotation)
        } else {
            0.0
        };
        Self {
            noise,
            rotation,
            upper_lid: rng.gen_range(0.47..0.8) - 0.05 * (1.0 - q),
            lower_lid: rng.gen_range(0.7..1.0),
            lash_density: rng.gen_range(0.05..0.2),
        }
    }
}

/// The latent field of one eye, from which its captures are drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct IrisMaster {
    layout: IrisLayout,
    /// One value per code bit, in the code's bit order.
    field: Vec<f32>,
}

impl IrisMaster {
    /// Layout of the codes this eye produces.
    pub fn layout(&self) -> IrisLayout {
        self.layout
    }

    /// The noiseless, unrotated, unmasked code of this eye (all mask bits valid).
    pub fn ideal_code(&self) -> IrisTemplate {
        let mut t = IrisTemplate::empty(self.layout);
        for (i, &v) in self.field.iter().enumerate() {
            t.set_code_bit(i, v > 0.0);
            t.set_mask_bit(i, true);
        }
        t
    }
}

/// Deterministic generator of synthetic iris codes for one layout.
#[derive(Debug, Clone)]
pub struct IrisGenerator {
    seed: u64,
    layout: IrisLayout,
    params: IrisSynthParams,
    kernel: Vec<f32>,
    /// `rings × rings` weights of the radial smoothing, row `r` for output ring `r`.
    ring_weights: Vec<f32>,
}

/// Buffers reused while a field is drawn.
#[derive(Debug, Default)]
struct Scratch {
    white: Vec<f32>,
    padded: Vec<f32>,
    field: Vec<f32>,
}

impl IrisGenerator {
    /// A generator with the default statistics.
    pub fn new(seed: u64, layout: IrisLayout) -> Self {
        Self::with_params(seed, layout, IrisSynthParams::default())
    }

    /// A generator with explicit statistics.
    pub fn with_params(seed: u64, layout: IrisLayout, params: IrisSynthParams) -> Self {
        let scale = layout.angular() as f32 / 128.0;
        Self {
            seed,
            layout,
            params,
            kernel: gaussian_kernel(params.correlation * scale),
            ring_weights: ring_weights(
                layout.rings(),
                params.radial_correlation * layout.rings() as f32 / 8.0,
            ),
        }
    }

    /// Layout generated.
    pub fn layout(&self) -> IrisLayout {
        self.layout
    }

    /// Statistics in use.
    pub fn params(&self) -> &IrisSynthParams {
        &self.params
    }

    /// An independent random stream derived from the seed: the same `(seed, stream)` always
    /// gives the same sequence (use e.g. a person and eye number as the stream).
    pub fn rng(&self, stream: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(stream);
        rng
    }

    /// Draws a new eye.
    pub fn master<R: Rng + ?Sized>(&self, rng: &mut R) -> IrisMaster {
        let mut field = vec![0.0f32; self.layout.total_bits()];
        self.fill_smoothed(rng, &mut field, &mut Scratch::default());
        IrisMaster {
            layout: self.layout,
            field,
        }
    }

    /// Draws a capture of `master` at `quality` in `[0, 1]` (1: best).
    pub fn capture<R: Rng + ?Sized>(
        &self,
        master: &IrisMaster,
        quality: f32,
        rng: &mut R,
    ) -> IrisTemplate {
        let params = CaptureParams::sample(&self.params, quality, rng);
        self.capture_with(master, &params, rng)
    }

    /// Draws a capture of `master` under explicit conditions.
    pub fn capture_with<R: Rng + ?Sized>(
        &self,
        master: &IrisMaster,
        params: &CaptureParams,
        rng: &mut R,
    ) -> IrisTemplate {
        let layout = self.layout;
        let (rows, angular, bpp) = (layout.rows(), layout.angular(), layout.bits_per_position());
        let mut noise = vec![0.0f32; layout.total_bits()];
        self.fill_smoothed(rng, &mut noise, &mut Scratch::default());
        let mut t = IrisTemplate::empty(layout);
        // Image position a shows iris position a − rotation.
        let shift = params.rotation.rem_euclid(angular as f32);
        let whole = shift.floor() as usize;
        let frac = shift - shift.floor();
        for row in 0..rows {
            let base = row * layout.row_bits();
            for a in 0..angular {
                let src0 = (a + angular - whole % angular) % angular;
                let src1 = (src0 + angular - 1) % angular;
                for b in 0..bpp {
                    let i0 = base + src0 * bpp + b;
                    let i1 = base + src1 * bpp + b;
                    let value = master.field[i0] * (1.0 - frac) + master.field[i1] * frac;
                    let i = base + a * bpp + b;
                    t.set_code_bit(i, value + params.noise * noise[i] > 0.0);
                }
            }
        }
        self.apply_mask(&mut t, params, rng);
        t
    }

    /// Fills `out` (one value per code bit) with unit-variance Gaussian noise smoothed along
    /// the angular direction (circularly, per row and phase bit) and then across the rings of
    /// each filter. `scratch` is reused between calls.
    fn fill_smoothed<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f32], scratch: &mut Scratch) {
        let layout = self.layout;
        let (angular, bpp) = (layout.angular(), layout.bits_per_position());
        let taps = self.kernel.len();
        let half = taps / 2;
        // White noise of one row and phase bit, then the same values padded circularly by
        // `half` on each side so the convolution reads contiguous windows.
        scratch.white.resize(angular, 0.0);
        scratch.padded.resize(angular + 2 * half, 0.0);
        scratch.field.resize(out.len(), 0.0);
        let lead = angular - half % angular;
        for row in 0..layout.rows() {
            let base = row * layout.row_bits();
            for b in 0..bpp {
                for w in scratch.white.iter_mut() {
                    *w = rng.sample(StandardNormal);
                }
                for (i, p) in scratch.padded.iter_mut().enumerate() {
                    *p = scratch.white[(i + lead) % angular];
                }
                for (a, window) in scratch.padded.windows(taps).enumerate() {
                    let acc: f32 = window.iter().zip(&self.kernel).map(|(x, w)| x * w).sum();
                    scratch.field[base + a * bpp + b] = acc;
                }
            }
        }
        self.mix_rings(&scratch.field, out);
    }

    /// Smooths `field` across the rings of each filter with the weights of
    /// [`ring_weights`] and writes the result to `out`.
    fn mix_rings(&self, field: &[f32], out: &mut [f32]) {
        let layout = self.layout;
        let (rings, row_bits) = (layout.rings(), layout.row_bits());
        for f in 0..layout.filters() {
            let block = f * rings * row_bits;
            for r in 0..rings {
                let dst = &mut out[block + r * row_bits..block + (r + 1) * row_bits];
                dst.fill(0.0);
                for (src_ring, &w) in self.ring_weights[r * rings..(r + 1) * rings]
                    .iter()
                    .enumerate()
                {
                    if w == 0.0 {
                        continue;
                    }
                    let src =
                        &field[block + src_ring * row_bits..block + (src_ring + 1) * row_bits];
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d += w * s;
                    }
                }
            }
        }
    }

    /// Clears the mask bits hidden by eyelids, lashes and a specular reflection; all other
    /// bits are valid.
    fn apply_mask<R: Rng + ?Sized>(
        &self,
        t: &mut IrisTemplate,
        params: &CaptureParams,
        rng: &mut R,
    ) {
        let layout = self.layout;
        let (rings, angular) = (layout.rings(), layout.angular());
        let mut masked = vec![false; rings * angular];
        // Specular reflection: a small patch on the inner rings at a random angle.
        let spec_angle = rng.gen_range(0..angular);
        let spec_width = (angular / 64).max(1) + rng.gen_range(0..=(angular / 64).max(1));
        let spec_rings = (rings / 8).max(1);
        for (r, ring) in masked.chunks_exact_mut(angular).enumerate() {
            let radius = PUPIL_RADIUS + (1.0 - PUPIL_RADIUS) * (r as f32 + 0.5) / rings as f32;
            for (a, m) in ring.iter_mut().enumerate() {
                // Angle 0 at the right, counter-clockwise, so a = angular / 4 is the top.
                let theta = std::f32::consts::TAU * (a as f32 + 0.5) / angular as f32;
                let y = radius * theta.sin();
                let upper = y > params.upper_lid;
                let lower = -y > params.lower_lid;
                let near_lid = y > params.upper_lid - 0.25;
                let lash = near_lid && rng.gen::<f32>() < params.lash_density;
                let da = (a + angular - spec_angle) % angular;
                let spec = r < spec_rings && da < spec_width;
                *m = upper || lower || lash || spec;
            }
        }
        let bpp = layout.bits_per_position();
        for f in 0..layout.filters() {
            for (r, ring) in masked.chunks_exact(angular).enumerate() {
                for (a, &m) in ring.iter().enumerate() {
                    for b in 0..bpp {
                        t.set_mask_bit(layout.bit_index(f, r, a, b), !m);
                    }
                }
            }
        }
    }
}

/// Radial smoothing weights for `rings` rings: output ring `r` is a Gaussian-weighted sum
/// (standard deviation `sigma` rings, truncated at the inner and outer ring) of the input
/// rings, scaled so that independent unit-variance inputs give a unit-variance output.
fn ring_weights(rings: usize, sigma: f32) -> Vec<f32> {
    let mut w = vec![0.0f32; rings * rings];
    for (r, row) in w.chunks_exact_mut(rings.max(1)).enumerate() {
        for (q, x) in row.iter_mut().enumerate() {
            let d = r as f32 - q as f32;
            *x = if sigma <= 0.0 {
                f32::from(u8::from(q == r))
            } else {
                (-(d * d) / (2.0 * sigma * sigma)).exp()
            };
        }
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        row.iter_mut().for_each(|x| *x /= norm);
    }
    w
}

/// Normalised Gaussian kernel with standard deviation `sigma` (taps out to 3σ), scaled so
/// that smoothing unit-variance white noise keeps unit variance.
fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    if sigma <= 0.0 {
        return vec![1.0];
    }
    let half = (3.0 * sigma).ceil() as i32;
    let taps: Vec<f32> = (-half..=half)
        .map(|k| (-(k * k) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let norm = taps.iter().map(|w| w * w).sum::<f32>().sqrt();
    taps.into_iter().map(|w| w / norm).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_stream_give_the_same_codes() {
        let g = IrisGenerator::new(11, IrisLayout::DAUGMAN_2048);
        let run = |stream| {
            let mut rng = g.rng(stream);
            let m = g.master(&mut rng);
            g.capture(&m, 0.8, &mut rng)
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn kernel_keeps_unit_variance() {
        let k = gaussian_kernel(2.0);
        let energy: f32 = k.iter().map(|w| w * w).sum();
        assert!((energy - 1.0).abs() < 1e-5);
        assert_eq!(gaussian_kernel(0.0), vec![1.0]);
    }

    #[test]
    fn noiseless_unrotated_capture_reproduces_the_master_code_on_valid_bits() {
        let g = IrisGenerator::new(5, IrisLayout::DAUGMAN_2048);
        let mut rng = g.rng(0);
        let m = g.master(&mut rng);
        let params = CaptureParams {
            noise: 0.0,
            rotation: 0.0,
            upper_lid: 0.7,
            lower_lid: 0.9,
            lash_density: 0.05,
        };
        let c = g.capture_with(&m, &params, &mut rng);
        let ideal = m.ideal_code();
        for i in 0..2048 {
            if c.mask_bit(i) {
                assert_eq!(c.code_bit(i), ideal.code_bit(i));
            }
        }
        // An integer rotation moves the code exactly.
        let rotated = CaptureParams {
            rotation: 3.0,
            ..params
        };
        let c3 = g.capture_with(&m, &rotated, &mut rng);
        let ideal3 = ideal.rotated(3);
        for i in 0..2048 {
            if c3.mask_bit(i) {
                assert_eq!(c3.code_bit(i), ideal3.code_bit(i));
            }
        }
    }
}
