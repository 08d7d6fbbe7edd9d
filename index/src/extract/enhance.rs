//! Contextual enhancement with a precomputed bank of even-symmetric Gabor filters tuned to
//! the local ridge orientation and period (Hong, Wan and Jain, 1998).

use std::f32::consts::PI;

use super::field::Field;
use super::ExtractParams;

/// Orientation bins of the bank (over π).
pub(crate) const ORIENTATIONS: usize = 16;

/// One filter: a square kernel of side `2·radius + 1`, row-major.
#[derive(Debug)]
struct Kernel {
    radius: usize,
    taps: Vec<f32>,
}

/// Gabor kernels for every orientation bin and whole-pixel period from `min_period` to
/// `max_period`.
#[derive(Debug)]
pub(crate) struct GaborBank {
    min_period: usize,
    periods: usize,
    kernels: Vec<Kernel>,
    max_radius: usize,
}

impl GaborBank {
    pub fn new(p: &ExtractParams) -> Self {
        let min_period = p.min_period.floor().max(2.0) as usize;
        let max_period = p.max_period.ceil() as usize;
        let periods = max_period - min_period + 1;
        let mut kernels = Vec::with_capacity(periods * ORIENTATIONS);
        let mut max_radius = 0;
        for t in min_period..=max_period {
            let period = t as f32;
            let su = p.gabor_across * period;
            let sv = p.gabor_along * period;
            let radius = ((p.gabor_extent * su.max(sv)).ceil() as usize).clamp(2, p.gabor_max_radius);
            max_radius = max_radius.max(radius);
            for o in 0..ORIENTATIONS {
                kernels.push(kernel(o as f32 * PI / ORIENTATIONS as f32, period, su, sv, radius));
            }
        }
        Self {
            min_period,
            periods,
            kernels,
            max_radius,
        }
    }

    fn get(&self, orientation_bin: usize, period: f32) -> &Kernel {
        let t = (period.round().max(0.0) as usize)
            .saturating_sub(self.min_period)
            .min(self.periods - 1);
        &self.kernels[t * ORIENTATIONS + orientation_bin]
    }
}

/// An even Gabor kernel for ridges of direction `theta` (pixel space) and `period`,
/// zero-mean so that flat regions give no response.
fn kernel(theta: f32, period: f32, su: f32, sv: f32, radius: usize) -> Kernel {
    let side = 2 * radius + 1;
    let (d, n) = ((theta.cos(), theta.sin()), (-theta.sin(), theta.cos()));
    let mut taps = Vec::with_capacity(side * side);
    let mut env = Vec::with_capacity(side * side);
    for ky in 0..side {
        for kx in 0..side {
            let x = kx as f32 - radius as f32;
            let y = ky as f32 - radius as f32;
            let u = x * n.0 + y * n.1;
            let v = x * d.0 + y * d.1;
            let e = (-0.5 * (u * u / (su * su) + v * v / (sv * sv))).exp();
            env.push(e);
            taps.push(e * (2.0 * PI * u / period).cos());
        }
    }
    // Remove the DC component in proportion to the envelope, then normalise the gain.
    let mean = taps.iter().sum::<f32>() / env.iter().sum::<f32>();
    for (t, e) in taps.iter_mut().zip(&env) {
        *t -= mean * e;
    }
    let norm = taps.iter().map(|t| t.abs()).sum::<f32>().max(1e-6);
    for t in &mut taps {
        *t /= norm;
    }
    Kernel { radius, taps }
}

/// Orientation bin of a doubled-angle vector.
pub(crate) fn orientation_bin(c: f32, s: f32) -> usize {
    let mut theta = 0.5 * s.atan2(c);
    if theta < 0.0 {
        theta += PI;
    }
    ((theta / PI * ORIENTATIONS as f32).round() as usize) % ORIENTATIONS
}

/// Filters the foreground of `img` (ridges bright) and returns the response per pixel,
/// zero on the background.
pub(crate) fn filter(
    bank: &GaborBank,
    img: &[f32],
    width: usize,
    height: usize,
    field: &Field,
) -> Vec<f32> {
    let pad = bank.max_radius;
    let pw = width + 2 * pad;
    let ph = height + 2 * pad;
    // Pad by mirroring the edge rows and columns' values as zero (the image is zero-mean).
    let mut padded = vec![0.0f32; pw * ph];
    for y in 0..height {
        padded[(y + pad) * pw + pad..(y + pad) * pw + pad + width]
            .copy_from_slice(&img[y * width..(y + 1) * width]);
    }
    let mut out = vec![0.0f32; width * height];
    for y in 0..height {
        for x in 0..width {
            let b = field.block_of(x, y);
            if !field.mask[b] {
                continue;
            }
            let (c, s) = field.orientation_at(x as f32 + 0.5, y as f32 + 0.5);
            let k = bank.get(orientation_bin(c, s), field.period[b]);
            let r = k.radius;
            let side = 2 * r + 1;
            let mut acc = 0.0f32;
            for (ky, krow) in k.taps.chunks_exact(side).enumerate() {
                let start = (y + pad + ky - r) * pw + x + pad - r;
                let irow = &padded[start..start + side];
                acc += dot(irow, krow);
            }
            out[y * width + x] = acc;
        }
    }
    out
}

/// A dot product written so the compiler vectorises it (eight independent lanes).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = lanes.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}
