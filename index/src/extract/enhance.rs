//! Contextual enhancement with a precomputed bank of even-symmetric Gabor filters tuned to
//! the local ridge orientation and period (Hong, Wan and Jain, 1998).

use std::f32::consts::PI;

use super::field::Field;
use super::ExtractParams;

/// Orientation bins of the bank (over π).
pub(crate) const ORIENTATIONS: usize = 16;

/// One filter: a square kernel of side `2·radius + 1`, row-major, each row padded with
/// zeros to a multiple of [`LANES`] taps so that the dot products have no scalar tail.
#[derive(Debug)]
struct Kernel {
    radius: usize,
    stride: usize,
    taps: Vec<f32>,
}

/// Width of the dot-product lanes.
const LANES: usize = 8;

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
            let radius =
                ((p.gabor_extent * su.max(sv)).ceil() as usize).clamp(2, p.gabor_max_radius);
            max_radius = max_radius.max(radius);
            for o in 0..ORIENTATIONS {
                kernels.push(kernel(
                    o as f32 * PI / ORIENTATIONS as f32,
                    period,
                    su,
                    sv,
                    radius,
                ));
            }
        }
        Self {
            min_period,
            periods,
            kernels,
            max_radius,
        }
    }

    fn index(&self, orientation_bin: usize, period: f32) -> usize {
        let t = ((period.max(0.0) + 0.5) as usize)
            .saturating_sub(self.min_period)
            .min(self.periods - 1);
        t * ORIENTATIONS + orientation_bin
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
    let stride = side.div_ceil(LANES) * LANES;
    let mut padded = vec![0.0f32; stride * side];
    for (row, src) in padded.chunks_exact_mut(stride).zip(taps.chunks_exact(side)) {
        for (d, s) in row.iter_mut().zip(src) {
            *d = s / norm;
        }
    }
    Kernel {
        radius,
        stride,
        taps: padded,
    }
}

/// `atan2(y, x)` within about 0.005 rad (far below a bin's width), without a libm call.
fn fast_atan2(y: f32, x: f32) -> f32 {
    let (ax, ay) = (x.abs(), y.abs());
    let (num, den, swap) = if ay > ax {
        (ax, ay, true)
    } else {
        (ay, ax, false)
    };
    if den == 0.0 {
        return 0.0;
    }
    let z = num / den;
    let mut a = z * (PI / 4.0) + 0.273 * z * (1.0 - z);
    if swap {
        a = PI / 2.0 - a;
    }
    if x < 0.0 {
        a = PI - a;
    }
    if y < 0.0 {
        -a
    } else {
        a
    }
}

/// Orientation bin of a doubled-angle vector.
pub(crate) fn orientation_bin(c: f32, s: f32) -> usize {
    let mut theta = 0.5 * fast_atan2(s, c);
    if theta < 0.0 {
        theta += PI;
    }
    ((theta / PI * ORIENTATIONS as f32 + 0.5) as usize) % ORIENTATIONS
}

/// Side of the cells sharing one orientation bin, in pixels.
const CELL: usize = 4;

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
    let pw = width + 2 * pad + LANES;
    let ph = height + 2 * pad;
    // Zero padding (the image is zero-mean), wide enough for whole-lane rows.
    let mut padded = vec![0.0f32; pw * ph];
    for y in 0..height {
        padded[(y + pad) * pw + pad..(y + pad) * pw + pad + width]
            .copy_from_slice(&img[y * width..(y + 1) * width]);
    }
    // One kernel per cell: orientation interpolated at the cell centre, the block's period.
    let cw = width.div_ceil(CELL);
    let ch = height.div_ceil(CELL);
    let mut cells: Vec<Option<u32>> = vec![None; cw * ch];
    for cy in 0..ch {
        for cx in 0..cw {
            let (x, y) = ((cx * CELL).min(width - 1), (cy * CELL).min(height - 1));
            let b = field.block_of(x, y);
            if field.mask[b] {
                let centre = |v: usize| (v * CELL) as f32 + CELL as f32 * 0.5;
                let (c, s) = field.orientation_at(centre(cx), centre(cy));
                cells[cy * cw + cx] =
                    Some(bank.index(orientation_bin(c, s), field.period[b]) as u32);
            }
        }
    }
    let mut out = vec![0.0f32; width * height];
    let job = Job {
        bank,
        padded: &padded,
        pw,
        pad,
        cells: &cells,
        cw,
        width,
    };
    super::simd::filter_rows(&job, &mut out);
    out
}

/// Everything the filter's inner loop reads.
pub(crate) struct Job<'a> {
    bank: &'a GaborBank,
    padded: &'a [f32],
    pw: usize,
    pad: usize,
    cells: &'a [Option<u32>],
    cw: usize,
    width: usize,
}

/// The filter's inner loop over every output pixel; inlined into each instruction-set
/// variant in [`super::simd`].
#[inline(always)]
pub(crate) fn filter_rows_generic(job: &Job<'_>, out: &mut [f32]) {
    let Job {
        bank,
        padded,
        pw,
        pad,
        cells,
        cw,
        width,
    } = *job;
    for (y, row) in out.chunks_exact_mut(width).enumerate() {
        let cell_row = &cells[(y / CELL) * cw..(y / CELL + 1) * cw];
        for (x, o) in row.iter_mut().enumerate() {
            let Some(k) = cell_row[x / CELL] else {
                continue;
            };
            let k = &bank.kernels[k as usize];
            let r = k.radius;
            let mut acc = 0.0f32;
            for (ky, krow) in k.taps.chunks_exact(k.stride).enumerate() {
                let start = (y + pad + ky - r) * pw + x + pad - r;
                acc += dot(&padded[start..start + k.stride], krow);
            }
            *o = acc;
        }
    }
}

/// A dot product of equal-length slices whose length is a multiple of [`LANES`], written
/// so the compiler vectorises it (independent lanes, no tail).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for ((l, p), q) in lanes.iter_mut().zip(x).zip(y) {
            *l += p * q;
        }
    }
    lanes.iter().sum()
}
