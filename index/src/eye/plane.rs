//! A floating-point working raster with the few operations segmentation needs.

/// Grey values, row-major, `w × h`.
#[derive(Debug, Clone)]
pub(crate) struct Plane {
    pub(crate) w: usize,
    pub(crate) h: usize,
    pub(crate) px: Vec<f32>,
}

impl Plane {
    /// The image averaged over `factor × factor` blocks (1 keeps it); a partial last block is
    /// dropped.
    #[inline(never)] // a stage of its own in profiles
    pub(crate) fn from_u8(pixels: &[u8], width: usize, height: usize, factor: usize) -> Self {
        let f = factor.max(1);
        let (w, h) = ((width / f).max(1), (height / f).max(1));
        let mut px = vec![0.0f32; w * h];
        let norm = 1.0 / (f * f) as f32;
        // Block sums are whole numbers, exact in any order: each output row adds its `f`
        // source rows into one sum per block.
        let mut sums = vec![0u32; w];
        for (y, row) in px.chunks_exact_mut(w).enumerate() {
            sums.fill(0);
            for dy in 0..f {
                let base = (y * f + dy) * width;
                if let Some(src) = pixels.get(base..base + w * f) {
                    for (sum, block) in sums.iter_mut().zip(src.chunks_exact(f)) {
                        *sum += block.iter().map(|&v| u32::from(v)).sum::<u32>();
                    }
                } else {
                    // A short buffer: the blocks that are there.
                    for (x, sum) in sums.iter_mut().enumerate() {
                        if let Some(src) = pixels.get(base + x * f..base + x * f + f) {
                            *sum += src.iter().map(|&v| u32::from(v)).sum::<u32>();
                        }
                    }
                }
            }
            for (out, &sum) in row.iter_mut().zip(&sums) {
                *out = sum as f32 * norm;
            }
        }
        Self { w, h, px }
    }

    /// The plane averaged over 2 × 2 blocks.
    pub(crate) fn half(&self) -> Self {
        let (w, h) = ((self.w / 2).max(1), (self.h / 2).max(1));
        let mut px = vec![0.0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let (x0, y0) = ((2 * x).min(self.w - 1), (2 * y).min(self.h - 1));
                let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
                px[y * w + x] =
                    0.25 * (self.at(x0, y0) + self.at(x1, y0) + self.at(x0, y1) + self.at(x1, y1));
            }
        }
        Self { w, h, px }
    }

    /// The value at an in-range pixel (0 outside).
    #[inline]
    pub(crate) fn at(&self, x: usize, y: usize) -> f32 {
        self.px.get(y * self.w + x).copied().unwrap_or(0.0)
    }

    /// Bilinear interpolation at a sub-pixel position; `None` outside the image.
    #[inline]
    pub(crate) fn sample(&self, x: f32, y: f32) -> Option<f32> {
        if !(x >= 0.0 && y >= 0.0) {
            return None;
        }
        let (x0, y0) = (x as usize, y as usize);
        if x0 + 1 >= self.w || y0 + 1 >= self.h {
            if x0 < self.w && y0 < self.h && x <= (self.w - 1) as f32 && y <= (self.h - 1) as f32 {
                return Some(self.at(x0, y0));
            }
            return None;
        }
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let i = y0 * self.w + x0;
        let (a, b) = (self.px[i], self.px[i + 1]);
        let (c, d) = (self.px[i + self.w], self.px[i + self.w + 1]);
        let top = a + (b - a) * fx;
        let bottom = c + (d - c) * fx;
        Some(top + (bottom - top) * fy)
    }

    /// Box mean over `(2r + 1)²` pixels (clamped at the borders), by running sums.
    #[inline(never)] // a stage of its own in profiles
    pub(crate) fn box_blur(&self, r: usize) -> Self {
        if r == 0 || self.px.is_empty() {
            return self.clone();
        }
        let mut tmp = vec![0.0f32; self.px.len()];
        for (src, dst) in self
            .px
            .chunks_exact(self.w)
            .zip(tmp.chunks_exact_mut(self.w))
        {
            blur_line(src, dst, r);
        }
        // The columns, all at once row by row: each column's running sum takes exactly the
        // steps of `blur_line` on that column.
        let (w, last) = (self.w, self.h as isize - 1);
        let row = |i: isize| {
            let y = i.clamp(0, last) as usize;
            &tmp[y * w..(y + 1) * w]
        };
        let ri = r as isize;
        let mut acc: Vec<f32> = (0..w)
            .map(|x| (-ri..=ri).map(|i| row(i)[x]).sum())
            .collect();
        let norm = 1.0 / (2 * ri + 1) as f32;
        let mut out = vec![0.0f32; self.px.len()];
        for (y, dst) in out.chunks_exact_mut(w).enumerate() {
            let y = y as isize;
            let (enter, leave) = (row(y + ri + 1), row(y - ri));
            for (((o, a), e), l) in dst.iter_mut().zip(&mut acc).zip(enter).zip(leave) {
                *o = *a * norm;
                *a += e - l;
            }
        }
        Self {
            w: self.w,
            h: self.h,
            px: out,
        }
    }

    /// Replaces the pixels flagged in `mask` by linear interpolation between the nearest
    /// unflagged pixels of the same row (the row's edge value at the ends).
    pub(crate) fn inpaint_rows(&mut self, mask: &[bool]) {
        for (row, m) in self
            .px
            .chunks_exact_mut(self.w)
            .zip(mask.chunks_exact(self.w))
        {
            let mut x = 0;
            while x < row.len() {
                if !m[x] {
                    x += 1;
                    continue;
                }
                let start = x;
                while x < row.len() && m[x] {
                    x += 1;
                }
                let left = start.checked_sub(1).map(|i| row[i]);
                let right = row.get(x).copied();
                let (a, b) = match (left, right) {
                    (Some(a), Some(b)) => (a, b),
                    (Some(a), None) => (a, a),
                    (None, Some(b)) => (b, b),
                    (None, None) => (0.0, 0.0),
                };
                let n = (x - start + 1) as f32;
                for (k, v) in row[start..x].iter_mut().enumerate() {
                    let t = (k + 1) as f32 / n;
                    *v = a + (b - a) * t;
                }
            }
        }
    }
}

/// Running-sum box mean of one line with clamped borders.
fn blur_line(src: &[f32], dst: &mut [f32], r: usize) {
    let n = src.len();
    if n == 0 {
        return;
    }
    let last = n - 1;
    let get = |i: isize| src[i.clamp(0, last as isize) as usize];
    let r = r as isize;
    let mut acc: f32 = (-r..=r).map(get).sum();
    let norm = 1.0 / (2 * r + 1) as f32;
    for (i, out) in dst.iter_mut().enumerate().take(n) {
        *out = acc * norm;
        let i = i as isize;
        acc += get(i + r + 1) - get(i - r);
    }
}

/// Summed-area table for box means.
#[derive(Debug)]
pub(crate) struct Integral {
    w: usize,
    sums: Vec<f64>,
}

impl Integral {
    pub(crate) fn new(p: &Plane) -> Self {
        let w = p.w + 1;
        let mut sums = vec![0.0f64; w * (p.h + 1)];
        for y in 0..p.h {
            let mut row = 0.0f64;
            for x in 0..p.w {
                row += f64::from(p.at(x, y));
                sums[(y + 1) * w + x + 1] = sums[y * w + x + 1] + row;
            }
        }
        Self { w, sums }
    }

    /// Mean over the inclusive box `[x0, x1] × [y0, y1]` (which must be inside the plane).
    pub(crate) fn mean(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> f32 {
        let s = |x: usize, y: usize| self.sums[y * self.w + x];
        let total = s(x1 + 1, y1 + 1) - s(x0, y1 + 1) - s(x1 + 1, y0) + s(x0, y0);
        let n = ((x1 + 1 - x0) * (y1 + 1 - y0)) as f64;
        (total / n) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_sampling_interpolates_and_refuses_outside() {
        let p = Plane {
            w: 2,
            h: 2,
            px: vec![0.0, 10.0, 20.0, 30.0],
        };
        assert_eq!(p.sample(0.5, 0.5), Some(15.0));
        assert_eq!(p.sample(1.0, 1.0), Some(30.0));
        assert_eq!(p.sample(-0.1, 0.0), None);
        assert_eq!(p.sample(2.5, 0.0), None);
    }

    #[test]
    fn inpainting_interpolates_flagged_runs() {
        let mut p = Plane {
            w: 5,
            h: 1,
            px: vec![0.0, 99.0, 99.0, 99.0, 40.0],
        };
        p.inpaint_rows(&[false, true, true, true, false]);
        assert_eq!(p.px, vec![0.0, 10.0, 20.0, 30.0, 40.0]);
    }

    /// The row-by-row column pass gives, bit for bit, `blur_line` down each column.
    #[test]
    fn box_blur_columns_match_blur_line() {
        let (w, h) = (13usize, 11usize);
        let px: Vec<f32> = (0..w * h)
            .map(|v| (v * 7919 % 257) as f32 * 0.731)
            .collect();
        let p = Plane { w, h, px };
        for r in [1usize, 2, 5, 12] {
            let b = p.box_blur(r);
            let mut rows = vec![0.0f32; w * h];
            for (src, dst) in p.px.chunks_exact(w).zip(rows.chunks_exact_mut(w)) {
                blur_line(src, dst, r);
            }
            for x in 0..w {
                let col: Vec<f32> = (0..h).map(|y| rows[y * w + x]).collect();
                let mut want = vec![0.0f32; h];
                blur_line(&col, &mut want, r);
                for (y, v) in want.iter().enumerate() {
                    assert_eq!(b.px[y * w + x].to_bits(), v.to_bits(), "r {r} at {x},{y}");
                }
            }
        }
    }

    #[test]
    fn box_blur_and_integral_agree() {
        let px: Vec<f32> = (0..30).map(|v| (v * 7 % 11) as f32).collect();
        let p = Plane { w: 6, h: 5, px };
        let b = p.box_blur(1);
        let i = Integral::new(&p);
        assert!((b.at(2, 2) - i.mean(1, 1, 3, 3)).abs() < 1e-4);
    }
}
