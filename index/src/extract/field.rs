//! Block fields of a working image: orientation, coherence, contrast, foreground mask and
//! ridge period.
//!
//! Orientation comes from the gradient structure tensor summed over blocks, smoothed as
//! doubled-angle vectors (the tensor itself is additive, so averaging it is the doubled-angle
//! average weighted by gradient energy). Angles here are in pixel space (x right, y down):
//! a ridge direction `θ` is the vector `(cos θ, sin θ)`.

use super::ExtractParams;

/// Per-block fields, `bw`×`bh` blocks of `block` pixels.
pub(crate) struct Field {
    pub block: usize,
    pub bw: usize,
    pub bh: usize,
    /// Ridge orientation as a doubled-angle unit vector: `cos 2θ`.
    pub cos2: Vec<f32>,
    /// `sin 2θ`.
    pub sin2: Vec<f32>,
    /// Orientation coherence 0–1 over the block's neighbourhood.
    pub coherence: Vec<f32>,
    /// Foreground blocks.
    pub mask: Vec<bool>,
    /// Foreground blocks at least `border_blocks` from the background.
    pub inner: Vec<bool>,
    /// Ridge period in pixels (valid on foreground blocks).
    pub period: Vec<f32>,
    /// Whether the block's period was measured (not interpolated).
    pub period_measured: Vec<bool>,
}

impl Field {
    /// Ridge orientation in pixel space at block `(bx, by)`, in `[0, π)`.
    pub fn angle(&self, i: usize) -> f32 {
        let a = 0.5 * self.sin2[i].atan2(self.cos2[i]);
        if a < 0.0 {
            a + std::f32::consts::PI
        } else {
            a
        }
    }

    /// Block index of pixel `(x, y)`, clamped to the grid.
    pub fn block_of(&self, x: usize, y: usize) -> usize {
        let bx = (x / self.block).min(self.bw - 1);
        let by = (y / self.block).min(self.bh - 1);
        by * self.bw + bx
    }

    /// Doubled-angle orientation vector at pixel `(x, y)`, bilinear between block centres.
    pub fn orientation_at(&self, x: f32, y: f32) -> (f32, f32) {
        let b = self.block as f32;
        let gx = (x / b - 0.5).clamp(0.0, (self.bw - 1) as f32);
        let gy = (y / b - 0.5).clamp(0.0, (self.bh - 1) as f32);
        // Non-negative after the clamp: truncation is the floor.
        let x0 = gx as usize;
        let y0 = gy as usize;
        let x1 = (x0 + 1).min(self.bw - 1);
        let y1 = (y0 + 1).min(self.bh - 1);
        let fx = gx - x0 as f32;
        let fy = gy - y0 as f32;
        let w = [
            (1.0 - fx) * (1.0 - fy),
            fx * (1.0 - fy),
            (1.0 - fx) * fy,
            fx * fy,
        ];
        let idx = [
            y0 * self.bw + x0,
            y0 * self.bw + x1,
            y1 * self.bw + x0,
            y1 * self.bw + x1,
        ];
        let mut c = 0.0;
        let mut s = 0.0;
        for (wi, &i) in w.iter().zip(&idx) {
            c += wi * self.cos2[i];
            s += wi * self.sin2[i];
        }
        (c, s)
    }
}

/// Sums `values` (one per pixel) over each block.
fn block_sums(values: &[f32], width: usize, height: usize, block: usize, bw: usize) -> Vec<f32> {
    let bh = height.div_ceil(block);
    let mut out = vec![0.0f32; bw * bh];
    for (y, row) in values.chunks_exact(width).enumerate() {
        let orow = &mut out[(y / block) * bw..(y / block + 1) * bw];
        for (x, &v) in row.iter().enumerate() {
            orow[x / block] += v;
        }
    }
    out
}

/// Box average of a block grid over a `(2r+1)`² neighbourhood, clipped at the edges.
fn box_smooth(values: &[f32], bw: usize, bh: usize, r: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; values.len()];
    for by in 0..bh {
        for bx in 0..bw {
            let mut sum = 0.0;
            let mut n = 0.0;
            for y in by.saturating_sub(r)..(by + r + 1).min(bh) {
                for x in bx.saturating_sub(r)..(bx + r + 1).min(bw) {
                    sum += values[y * bw + x];
                    n += 1.0;
                }
            }
            out[by * bw + bx] = sum / n;
        }
    }
    out
}

/// Computes the block fields of a working image.
pub(crate) fn compute(img: &[f32], width: usize, height: usize, p: &ExtractParams) -> Field {
    let block = p.block;
    let bw = width.div_ceil(block);
    let bh = height.div_ceil(block);
    let n = width * height;
    let mut gxx = vec![0.0f32; n];
    let mut gyy = vec![0.0f32; n];
    let mut gxy = vec![0.0f32; n];
    let mut sq = vec![0.0f32; n];
    for y in 1..height.saturating_sub(1) {
        let up = &img[(y - 1) * width..y * width];
        let mid = &img[y * width..(y + 1) * width];
        let down = &img[(y + 1) * width..(y + 2) * width];
        for x in 1..width - 1 {
            // Sobel gradients.
            let gx = (up[x + 1] + 2.0 * mid[x + 1] + down[x + 1])
                - (up[x - 1] + 2.0 * mid[x - 1] + down[x - 1]);
            let gy =
                (down[x - 1] + 2.0 * down[x] + down[x + 1]) - (up[x - 1] + 2.0 * up[x] + up[x + 1]);
            let i = y * width + x;
            gxx[i] = gx * gx;
            gyy[i] = gy * gy;
            gxy[i] = gx * gy;
        }
    }
    for (s, &v) in sq.iter_mut().zip(img) {
        *s = v * v;
    }
    let sxx = box_smooth(&block_sums(&gxx, width, height, block, bw), bw, bh, 1);
    let syy = box_smooth(&block_sums(&gyy, width, height, block, bw), bw, bh, 1);
    let sxy = box_smooth(&block_sums(&gxy, width, height, block, bw), bw, bh, 1);
    let sum = box_smooth(&block_sums(img, width, height, block, bw), bw, bh, 1);
    let sum2 = box_smooth(&block_sums(&sq, width, height, block, bw), bw, bh, 1);
    let per_block = (block * block) as f32;

    let nb = bw * bh;
    let mut coherence = vec![0.0f32; nb];
    let mut contrast = vec![0.0f32; nb];
    // Ridge direction is perpendicular to the dominant gradient: its doubled angle is the
    // gradient's plus π, i.e. the negated tensor vector.
    let mut vc = vec![0.0f32; nb];
    let mut vs = vec![0.0f32; nb];
    for i in 0..nb {
        let a = sxx[i] - syy[i];
        let b = 2.0 * sxy[i];
        let energy = sxx[i] + syy[i];
        let mag = (a * a + b * b).sqrt();
        coherence[i] = if energy > 1e-6 { mag / energy } else { 0.0 };
        vc[i] = -a;
        vs[i] = -b;
        let mean = sum[i] / per_block;
        contrast[i] = (sum2[i] / per_block - mean * mean).max(0.0).sqrt();
    }

    let mask = segment(&contrast, &coherence, bw, bh, p);
    // Orientation smoothing over foreground only, wider than the tensor window.
    let mut cos2 = vec![1.0f32; nb];
    let mut sin2 = vec![0.0f32; nb];
    let r = p.orientation_smooth;
    for by in 0..bh {
        for bx in 0..bw {
            let mut c = 0.0;
            let mut s = 0.0;
            for y in by.saturating_sub(r)..(by + r + 1).min(bh) {
                for x in bx.saturating_sub(r)..(bx + r + 1).min(bw) {
                    let j = y * bw + x;
                    let d = (x.abs_diff(bx).pow(2) + y.abs_diff(by).pow(2)) as f32;
                    let w = (-d / (2.0 * (r as f32 * 0.6).powi(2).max(0.5))).exp();
                    let w = if mask[j] { w } else { w * 0.05 };
                    c += w * vc[j];
                    s += w * vs[j];
                }
            }
            let m = (c * c + s * s).sqrt();
            if m > 1e-9 {
                cos2[by * bw + bx] = c / m;
                sin2[by * bw + bx] = s / m;
            }
        }
    }
    let inner = erode(&mask, bw, bh, p.border_blocks);
    let mut field = Field {
        block,
        bw,
        bh,
        cos2,
        sin2,
        coherence,
        mask,
        inner,
        period: vec![0.0; nb],
        period_measured: vec![false; nb],
    };
    ridge_period(img, width, height, &mut field, p);
    field
}

/// Foreground blocks: enough contrast, holes filled, only the largest connected region kept.
fn segment(
    contrast: &[f32],
    coherence: &[f32],
    bw: usize,
    bh: usize,
    p: &ExtractParams,
) -> Vec<bool> {
    let mut sorted: Vec<f32> = contrast.to_vec();
    sorted.sort_by(f32::total_cmp);
    let high = sorted[(sorted.len() * 95 / 100).min(sorted.len() - 1)];
    let threshold = (high * p.contrast_fraction).max(p.min_contrast);
    let raw: Vec<bool> = contrast
        .iter()
        .zip(coherence)
        .map(|(&c, &k)| c > threshold && (k > p.min_coherence || c > 2.0 * threshold))
        .collect();
    // Majority smoothing over 3×3.
    let mut mask = vec![false; raw.len()];
    for by in 0..bh {
        for bx in 0..bw {
            let mut on = 0;
            let mut all = 0;
            for y in by.saturating_sub(1)..(by + 2).min(bh) {
                for x in bx.saturating_sub(1)..(bx + 2).min(bw) {
                    all += 1;
                    on += usize::from(raw[y * bw + x]);
                }
            }
            mask[by * bw + bx] = 2 * on > all;
        }
    }
    keep_largest(&mut mask, bw, bh);
    fill_holes(&mut mask, bw, bh);
    mask
}

/// Labels 4-connected components of `value` cells, returning each cell's label (or
/// `usize::MAX`) and each component's size.
fn components(mask: &[bool], value: bool, bw: usize, bh: usize) -> (Vec<usize>, Vec<usize>) {
    let mut label = vec![usize::MAX; mask.len()];
    let mut sizes = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if mask[start] != value || label[start] != usize::MAX {
            continue;
        }
        let id = sizes.len();
        let mut size = 0;
        label[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            size += 1;
            let (x, y) = (i % bw, i / bw);
            let mut visit = |j: usize| {
                if mask[j] == value && label[j] == usize::MAX {
                    label[j] = id;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < bw {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - bw);
            }
            if y + 1 < bh {
                visit(i + bw);
            }
        }
        sizes.push(size);
    }
    (label, sizes)
}

fn keep_largest(mask: &mut [bool], bw: usize, bh: usize) {
    let (label, sizes) = components(mask, true, bw, bh);
    let Some(best) = (0..sizes.len()).max_by_key(|&i| sizes[i]) else {
        return;
    };
    for (m, &l) in mask.iter_mut().zip(&label) {
        *m = l == best;
    }
}

fn fill_holes(mask: &mut [bool], bw: usize, bh: usize) {
    let (label, sizes) = components(mask, false, bw, bh);
    let mut touches = vec![false; sizes.len()];
    for by in 0..bh {
        for bx in 0..bw {
            if by == 0 || bx == 0 || by + 1 == bh || bx + 1 == bw {
                let l = label[by * bw + bx];
                if l != usize::MAX {
                    touches[l] = true;
                }
            }
        }
    }
    for (m, &l) in mask.iter_mut().zip(&label) {
        if l != usize::MAX && !touches[l] {
            *m = true;
        }
    }
}

/// Erodes the mask by `r` blocks (image edges count as background).
fn erode(mask: &[bool], bw: usize, bh: usize, r: usize) -> Vec<bool> {
    let mut out = vec![false; mask.len()];
    for by in 0..bh {
        for bx in 0..bw {
            if by < r || bx < r || by + r >= bh || bx + r >= bw {
                continue;
            }
            let mut all = true;
            'outer: for y in by - r..=by + r {
                for x in bx - r..=bx + r {
                    if !mask[y * bw + x] {
                        all = false;
                        break 'outer;
                    }
                }
            }
            out[by * bw + bx] = all;
        }
    }
    out
}

/// Bilinear sample of the image, clamped at the edges.
fn sample(img: &[f32], width: usize, height: usize, x: f32, y: f32) -> f32 {
    let x = x.clamp(0.0, (width - 1) as f32);
    let y = y.clamp(0.0, (height - 1) as f32);
    let x0 = x.floor() as usize;
    let y0 = y.floor() as usize;
    let x1 = (x0 + 1).min(width - 1);
    let y1 = (y0 + 1).min(height - 1);
    let fx = x - x0 as f32;
    let fy = y - y0 as f32;
    let top = img[y0 * width + x0] * (1.0 - fx) + img[y0 * width + x1] * fx;
    let bottom = img[y1 * width + x0] * (1.0 - fx) + img[y1 * width + x1] * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Maximum half-length of the signature across the ridges, in pixels.
const SIGNATURE_HALF: usize = 16;

/// Measures the ridge period of each foreground block from the grey-level signature
/// across the ridges (Hong, Wan and Jain), then fills and smooths it over the foreground.
fn ridge_period(img: &[f32], width: usize, height: usize, f: &mut Field, p: &ExtractParams) {
    let mut signature = [0.0f32; 2 * SIGNATURE_HALF + 1];
    let along: [f32; 5] = [-6.0, -3.0, 0.0, 3.0, 6.0];
    for by in 0..f.bh {
        for bx in 0..f.bw {
            let i = by * f.bw + bx;
            if !f.mask[i] {
                continue;
            }
            let theta = f.angle(i);
            let (dx, dy) = (theta.cos(), theta.sin());
            let (nx, ny) = (-dy, dx);
            let cx = (bx * f.block) as f32 + f.block as f32 * 0.5;
            let cy = (by * f.block) as f32 + f.block as f32 * 0.5;
            for (k, s) in signature.iter_mut().enumerate() {
                let u = k as f32 - SIGNATURE_HALF as f32;
                let mut acc = 0.0;
                for &t in &along {
                    acc += sample(
                        img,
                        width,
                        height,
                        cx + u * nx + t * dx,
                        cy + u * ny + t * dy,
                    );
                }
                *s = acc;
            }
            if let Some(period) = signature_period(&signature, p) {
                f.period[i] = period;
                f.period_measured[i] = true;
            }
        }
    }
    // Fill unmeasured foreground blocks from measured neighbours, widening until found.
    let measured: Vec<f32> = (0..f.period.len())
        .filter(|&i| f.period_measured[i])
        .map(|i| f.period[i])
        .collect();
    let global = if measured.is_empty() {
        p.default_period
    } else {
        let mut m = measured.clone();
        m.sort_by(f32::total_cmp);
        m[m.len() / 2]
    };
    let mut smoothed = vec![0.0f32; f.period.len()];
    for by in 0..f.bh {
        for bx in 0..f.bw {
            let i = by * f.bw + bx;
            if !f.mask[i] {
                continue;
            }
            let mut value = global;
            for r in [2usize, 4, 8] {
                let mut sum = 0.0;
                let mut n = 0.0;
                for y in by.saturating_sub(r)..(by + r + 1).min(f.bh) {
                    for x in bx.saturating_sub(r)..(bx + r + 1).min(f.bw) {
                        let j = y * f.bw + x;
                        if f.period_measured[j] {
                            sum += f.period[j];
                            n += 1.0;
                        }
                    }
                }
                if n >= 3.0 {
                    value = sum / n;
                    break;
                }
            }
            smoothed[i] = value;
        }
    }
    f.period = smoothed;
}

/// The mean distance between the signature's successive maxima, when plausible.
fn signature_period(s: &[f32], p: &ExtractParams) -> Option<f32> {
    // Light smoothing against noise.
    let mut sm = [0.0f32; 2 * SIGNATURE_HALF + 1];
    for k in 0..s.len() {
        let a = s[k.saturating_sub(1)];
        let c = s[(k + 1).min(s.len() - 1)];
        sm[k] = 0.25 * a + 0.5 * s[k] + 0.25 * c;
    }
    let mut first = None;
    let mut last = 0usize;
    let mut count = 0usize;
    let mean = sm.iter().sum::<f32>() / sm.len() as f32;
    let mut amp = 0.0f32;
    for k in 1..sm.len() - 1 {
        if sm[k] > sm[k - 1] && sm[k] >= sm[k + 1] {
            if first.is_none() {
                first = Some(k);
            }
            last = k;
            count += 1;
            amp += sm[k] - mean;
        }
    }
    let first = first?;
    if count < 2 || amp / (count as f32) < 1.0 {
        return None;
    }
    let period = (last - first) as f32 / (count - 1) as f32;
    (period >= p.min_period && period <= p.max_period).then_some(period)
}
