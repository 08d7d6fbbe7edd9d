//! Phase encoding: separable 2-D Gabor filters on the polar iris, quantised to the quadrant
//! of the complex response, with the mask carried through.
//!
//! Filter `f` has an angular wavelength of `wavelength · ratio^f` turns, a Gaussian angular
//! envelope of `sigma_angular` wavelengths and a Gaussian radial envelope of
//! `sigma_radial` ring spacings. It is separable: each ring's polar rows are first averaged
//! with the radial weights (a masked sample gives no weight; where no weight is left the
//! median iris level is used), then the complex angular kernel is applied at each code
//! position. The even (cosine) part has its mean removed, so neither part sees the local
//! brightness. Bit 0 of a position is the sign of the real part, bit 1 that of the imaginary
//! part. With `highpass` > 0 each ring's line first loses its angular low-pass (a Gaussian
//! of `highpass` wavelengths), so slow brightness changes around the iris (an illuminator
//! on one side) do not set the same bits in every eye. A position is valid when at least `min_valid` of its envelope's weight fell on
//! valid samples; the `fragile_share` weakest responses of each part are masked too.

use std::f32::consts::TAU;

use crate::iris::{IrisLayout, IrisTemplate};

use super::polar::Polar;
use super::{EyeError, EyeParams};

/// One filter's kernels for a polar grid.
#[derive(Debug, Clone)]
struct Filter {
    /// Radial weights and the offset of the first one from the ring centre row.
    radial: Vec<f32>,
    radial_from: isize,
    /// Angular envelope, even and odd parts (centre at index `half`).
    envelope: Vec<f32>,
    even: Vec<f32>,
    odd: Vec<f32>,
    half: usize,
    /// Normalised Gaussian taps of the angular low-pass removed before filtering (empty:
    /// none), centre at index `smooth_half`.
    smooth: Vec<f32>,
    smooth_half: usize,
}

/// Filters of one layout on one polar grid, computed once.
#[derive(Debug, Clone)]
pub(crate) struct FilterBank {
    layout: IrisLayout,
    rows: usize,
    cols: usize,
    filters: Vec<Filter>,
}

impl FilterBank {
    /// The bank of `layout` for a `rows × cols` polar grid (`cols` a multiple of the
    /// layout's angular positions).
    pub(crate) fn new(
        layout: IrisLayout,
        rows: usize,
        cols: usize,
        params: &EyeParams,
    ) -> Result<Self, EyeError> {
        if layout.bits_per_position() > 2 {
            return Err(EyeError::UnsupportedLayout(layout));
        }
        let ring_rows = rows as f32 / layout.rings() as f32;
        let filters = (0..layout.filters())
            .map(|f| {
                let wavelength = params.wavelength * params.wavelength_ratio.powi(f as i32);
                let lambda = wavelength * cols as f32;
                let sigma_r = (params.sigma_radial * ring_rows).max(0.5);
                let reach = (2.0 * sigma_r).ceil() as isize;
                let radial = (-reach..=reach)
                    .map(|d| (-0.5 * (d as f32 / sigma_r).powi(2)).exp())
                    .collect();
                let (envelope, mut even, odd, half) = if params.log_gabor > 0.0 {
                    log_gabor_taps(lambda, params.log_gabor, cols)
                } else {
                    gabor_taps(lambda, params.sigma_angular, cols)
                };
                let dc = even.iter().sum::<f32>() / envelope.iter().sum::<f32>().max(1e-6);
                for (v, e) in even.iter_mut().zip(&envelope) {
                    *v -= dc * e;
                }
                let (smooth, smooth_half) = low_pass_taps(params.highpass * lambda, cols);
                Filter {
                    radial,
                    radial_from: -reach,
                    envelope,
                    even,
                    odd,
                    half,
                    smooth,
                    smooth_half,
                }
            })
            .collect();
        Ok(Self {
            layout,
            rows,
            cols,
            filters,
        })
    }

    /// The layout encoded.
    pub(crate) fn layout(&self) -> IrisLayout {
        self.layout
    }

    /// Polar rows expected.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Polar columns expected.
    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    /// Encodes a polar iris into a template of the bank's layout.
    #[inline(never)] // a stage of its own in profiles
    pub(crate) fn encode(&self, polar: &Polar, params: &EyeParams) -> IrisTemplate {
        let layout = self.layout;
        let mut template = IrisTemplate::empty(layout);
        if polar.rows != self.rows || polar.cols != self.cols {
            return template;
        }
        let cols = self.cols;
        let step = cols / layout.angular();
        let mut line = vec![0.0f32; cols];
        let mut weight = vec![0.0f32; cols];
        let mut wrapped = vec![0.0f32; 2 * cols];
        let positions = layout.filters() * layout.rings() * layout.angular();
        let mut responses: Vec<(f32, f32, bool)> = Vec::with_capacity(positions);
        for f in &self.filters {
            for ring in 0..layout.rings() {
                let centre = ((ring as f32 + 0.5) * self.rows as f32 / layout.rings() as f32 - 0.5)
                    .round() as isize;
                line.fill(0.0);
                weight.fill(0.0);
                let mut total = 0.0f32;
                for (k, &a) in f.radial.iter().enumerate() {
                    let row = centre + f.radial_from + k as isize;
                    if row < 0 || row >= self.rows as isize {
                        continue;
                    }
                    total += a;
                    let base = row as usize * cols;
                    let vals = &polar.values[base..base + cols];
                    let ok = &polar.valid[base..base + cols];
                    for (((l, w), &v), &valid) in
                        line.iter_mut().zip(weight.iter_mut()).zip(vals).zip(ok)
                    {
                        if valid {
                            *l += a * v;
                            *w += a;
                        }
                    }
                }
                for (l, w) in line.iter_mut().zip(weight.iter_mut()) {
                    *l = if *w > 1e-6 { *l / *w } else { polar.level };
                    *w /= total.max(1e-6);
                }
                if !f.smooth.is_empty() {
                    // The circular line with `smooth_half` samples wrapped on each side, so
                    // the low-pass is a plain sliding dot product.
                    let h = f.smooth_half;
                    let ext = &mut wrapped[..cols + 2 * h];
                    ext[..h].copy_from_slice(&line[cols - h..]);
                    ext[h..h + cols].copy_from_slice(&line);
                    ext[h + cols..].copy_from_slice(&line[..h]);
                    for (l, window) in line.iter_mut().zip(ext.windows(2 * h + 1)) {
                        let lo: f32 = window.iter().zip(&f.smooth).map(|(v, g)| v * g).sum();
                        *l -= lo;
                    }
                }
                let env_total: f32 = f.envelope.iter().sum();
                for a in 0..layout.angular() {
                    let c = a * step;
                    let (mut re, mut im, mut w) = (0.0f32, 0.0f32, 0.0f32);
                    let taps = f.even.iter().zip(&f.odd).zip(&f.envelope);
                    for (t, ((&even, &odd), &env)) in taps.enumerate() {
                        let j = (c + cols + t - f.half) % cols;
                        re += even * line[j];
                        im += odd * line[j];
                        w += env * weight[j];
                    }
                    responses.push((re, im, w / env_total.max(1e-6) >= params.min_valid));
                }
            }
        }
        let (re_cut, im_cut) = fragile_cuts(&responses, params.fragile_share);
        let bits = layout.bits_per_position();
        let mut index = 0usize;
        for filter in 0..layout.filters() {
            for ring in 0..layout.rings() {
                for a in 0..layout.angular() {
                    let (re, im, ok) = responses[index];
                    index += 1;
                    let i0 = layout.bit_index(filter, ring, a, 0);
                    template.set_code_bit(i0, re > 0.0);
                    template.set_mask_bit(i0, ok && re.abs() >= re_cut);
                    if bits == 2 {
                        let i1 = layout.bit_index(filter, ring, a, 1);
                        template.set_code_bit(i1, im > 0.0);
                        template.set_mask_bit(i1, ok && im.abs() >= im_cut);
                    }
                }
            }
        }
        template
    }
}

/// Taps of a Gabor filter of wavelength `lambda` columns, Gaussian envelope of `sigma`
/// wavelengths: (envelope, even, odd, half-width).
fn gabor_taps(lambda: f32, sigma: f32, cols: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>, usize) {
    let sigma_a = (sigma * lambda).max(0.5);
    let half = ((2.5 * sigma_a).ceil() as usize).min(cols / 2);
    let mut envelope = Vec::with_capacity(2 * half + 1);
    let mut even = Vec::with_capacity(2 * half + 1);
    let mut odd = Vec::with_capacity(2 * half + 1);
    for t in 0..=2 * half {
        let d = t as f32 - half as f32;
        let e = (-0.5 * (d / sigma_a).powi(2)).exp();
        envelope.push(e);
        even.push(e * (TAU * d / lambda).cos());
        odd.push(e * (TAU * d / lambda).sin());
    }
    (envelope, even, odd, half)
}

/// Normalised Gaussian taps of standard deviation `sigma` columns on a circular line of
/// `cols` samples, and their half-width; none when `sigma` is not positive.
fn low_pass_taps(sigma: f32, cols: usize) -> (Vec<f32>, usize) {
    if sigma <= 0.0 || !sigma.is_finite() {
        return (Vec::new(), 0);
    }
    let half = ((3.0 * sigma).ceil() as usize).min(cols.saturating_sub(1) / 2);
    let mut taps: Vec<f32> = (0..=2 * half)
        .map(|t| (-0.5 * ((t as f32 - half as f32) / sigma).powi(2)).exp())
        .collect();
    let total: f32 = taps.iter().sum();
    for t in &mut taps {
        *t /= total;
    }
    (taps, half)
}

/// Taps of a 1-D log-Gabor filter on a circular line of `cols` samples: the frequency
/// response `exp(−ln²(f/f₀) / (2 ln² b))` on positive frequencies only (`f₀ = 1/lambda`,
/// `b` the bandwidth ratio), taken back to space by the inverse DFT, so the even part is
/// the real and the odd part the imaginary part of an analytic filter; truncated where the
/// magnitude falls below 1 % of its peak. The envelope is the magnitude.
fn log_gabor_taps(lambda: f32, b: f32, cols: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>, usize) {
    let f0 = 1.0 / lambda.max(1e-3);
    let denom = 2.0 * b.ln().powi(2);
    let gains: Vec<(f32, f32)> = (1..=cols / 2)
        .map(|k| {
            let f = k as f32 / cols as f32;
            (
                TAU * k as f32 / cols as f32,
                (-(f / f0).ln().powi(2) / denom).exp(),
            )
        })
        .collect();
    let tap = |d: f32| {
        let (mut re, mut im) = (0.0f32, 0.0f32);
        for &(w, g) in &gains {
            re += g * (w * d).cos();
            im += g * (w * d).sin();
        }
        (re / cols as f32, im / cols as f32)
    };
    let peak = tap(0.0).0.abs().max(1e-12);
    let mut half = 1usize;
    for d in 1..cols / 2 {
        let (re, im) = tap(d as f32);
        if re.hypot(im) >= 0.01 * peak {
            half = d;
        }
    }
    let mut envelope = Vec::with_capacity(2 * half + 1);
    let mut even = Vec::with_capacity(2 * half + 1);
    let mut odd = Vec::with_capacity(2 * half + 1);
    for t in 0..=2 * half {
        let (re, im) = tap(t as f32 - half as f32);
        envelope.push(re.hypot(im) / peak);
        even.push(re / peak);
        odd.push(im / peak);
    }
    (envelope, even, odd, half)
}

/// Magnitudes below which the real and imaginary parts count as fragile.
fn fragile_cuts(responses: &[(f32, f32, bool)], share: f32) -> (f32, f32) {
    if share <= 0.0 {
        return (0.0, 0.0);
    }
    let cut = |pick: fn(&(f32, f32, bool)) -> f32| {
        let mut v: Vec<f32> = responses.iter().filter(|r| r.2).map(pick).collect();
        if v.is_empty() {
            return 0.0;
        }
        let k = ((v.len() as f32 * share) as usize).min(v.len() - 1);
        let (_, m, _) = v.select_nth_unstable_by(k, f32::total_cmp);
        *m
    };
    (cut(|r| r.0.abs()), cut(|r| r.1.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_gabor_taps_are_analytic_and_zero_mean() {
        let (envelope, even, odd, half) = log_gabor_taps(18.0, 0.5, 256);
        assert!((4..128).contains(&half), "half {half}");
        assert_eq!(even.len(), 2 * half + 1);
        // No response to a constant: both parts sum to about zero.
        let peak = envelope.iter().fold(0.0f32, |a, &b| a.max(b));
        assert!((peak - 1.0).abs() < 1e-3);
        assert!(even.iter().sum::<f32>().abs() < 0.05 * even.iter().map(|v| v.abs()).sum::<f32>());
        // Even part symmetric, odd part antisymmetric about the centre.
        for d in 1..=half {
            assert!((even[half + d] - even[half - d]).abs() < 1e-4);
            assert!((odd[half + d] + odd[half - d]).abs() < 1e-4);
        }
        // A cosine at the centre wavelength gives a strong even response at its crest.
        let resp: f32 = even
            .iter()
            .enumerate()
            .map(|(t, e)| e * (TAU * (t as f32 - half as f32) / 18.0).cos())
            .sum();
        assert!(resp > 1.0, "{resp}");
    }

    #[test]
    fn low_pass_taps_are_normalised_and_symmetric() {
        assert!(low_pass_taps(0.0, 256).0.is_empty());
        let (taps, half) = low_pass_taps(36.0, 256);
        assert_eq!(taps.len(), 2 * half + 1);
        assert!(half <= 127);
        assert!((taps.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        for d in 1..=half {
            assert!((taps[half + d] - taps[half - d]).abs() < 1e-6);
        }
    }

    /// Share of jointly valid bits on which two eyes agree: two independent textures (white,
    /// ±8 grey levels) under the same illumination wave of amplitude `wave`, one cycle around
    /// the iris.
    fn agreement(highpass: f32, wave: f32) -> f64 {
        let layout = IrisLayout::DAUGMAN_2048;
        let params = EyeParams {
            highpass,
            ..EyeParams::default()
        };
        let (rows, cols) = (64, 256);
        let bank = FilterBank::new(layout, rows, cols, &params).unwrap();
        let eye = |seed: u64| {
            let mut state = seed;
            let values = (0..rows * cols)
                .map(|i| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let texture = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                    let j = (i % cols) as f32;
                    100.0 + wave * (TAU * j / cols as f32).cos() + 16.0 * texture
                })
                .collect();
            let polar = Polar {
                rows,
                cols,
                values,
                valid: vec![true; rows * cols],
                level: 100.0,
            };
            bank.encode(&polar, &params)
        };
        let (differ, both) = eye(1).unrotated_difference(&eye(2));
        1.0 - differ as f64 / both.max(1) as f64
    }

    #[test]
    fn the_high_pass_keeps_a_shared_illumination_from_setting_bits() {
        let (plain, filtered) = (agreement(0.0, 10.0), agreement(2.0, 10.0));
        // Unrelated eyes should agree on about half their bits; the shared wave pulls that up
        // (0.67 here), the high-pass takes most of it away (0.55).
        assert!(plain > 0.62, "without the high-pass: {plain}");
        assert!((0.45..0.58).contains(&filtered), "with it: {filtered}");
    }
}
