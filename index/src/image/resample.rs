//! Resampling to the 500 ppi working frame.
//!
//! [`to_500ppi`] resamples separably (rows, then columns) with a triangle filter: plain
//! bilinear interpolation when enlarging, and a triangle widened to the scale factor when
//! reducing, so every source pixel contributes and fine ridges do not alias. Pixel centres
//! map to pixel centres: output `x` samples the source at `(x + 0.5) · ppi / 500 − 0.5`.

use super::{check_size, FingerImage, ImageError};

/// Lowest accepted resolution, in pixels per inch.
pub const MIN_PPI: f32 = 100.0;

/// Highest accepted resolution, in pixels per inch.
pub const MAX_PPI: f32 = 2_000.0;

/// The working resolution, in pixels per inch.
pub const WORKING_PPI: f32 = 500.0;

/// `ppi` if it lies in the accepted range, else `None` (for resolutions read from headers
/// that often hold placeholders such as 1 or 72).
pub(crate) fn plausible_ppi(ppi: f32) -> Option<f32> {
    (ppi.is_finite() && (MIN_PPI..=MAX_PPI).contains(&ppi)).then_some(ppi)
}

/// Resamples `image`, captured at `ppi` pixels per inch, to 500 ppi. The result's
/// resolution is 500 ppi. Resolutions outside [`MIN_PPI`]..=[`MAX_PPI`] are refused, as is
/// a result over the size limits.
pub fn to_500ppi(image: &FingerImage, ppi: f32) -> Result<FingerImage, ImageError> {
    if plausible_ppi(ppi).is_none() {
        return Err(ImageError::ResolutionOutOfRange {
            ppi: format!("{ppi}"),
            min: MIN_PPI as u32,
            max: MAX_PPI as u32,
        });
    }
    let scale = ppi / WORKING_PPI;
    let (w, h) = (image.width() as usize, image.height() as usize);
    if (scale - 1.0).abs() < 1e-6 {
        return Ok(image.clone().with_ppi(Some(WORKING_PPI)));
    }
    let out_w = ((w as f32 / scale).round() as u64).max(1);
    let out_h = ((h as f32 / scale).round() as u64).max(1);
    check_size(out_w, out_h)?;
    let (out_w, out_h) = (out_w as usize, out_h as usize);

    let columns = Taps::new(w, out_w, scale);
    let rows = Taps::new(h, out_h, scale);

    // Horizontal pass into f32 rows, then vertical pass with rounding.
    let src = image.pixels();
    let mut horizontal = vec![0f32; out_w * h];
    for (src_row, out_row) in src.chunks_exact(w).zip(horizontal.chunks_exact_mut(out_w)) {
        for (x, out) in out_row.iter_mut().enumerate() {
            *out = columns.apply(x, |i| f32::from(src_row[i]));
        }
    }
    let mut pixels = vec![0u8; out_w * out_h];
    for (y, out_row) in pixels.chunks_exact_mut(out_w).enumerate() {
        for (x, out) in out_row.iter_mut().enumerate() {
            let v = rows.apply(y, |i| horizontal[i * out_w + x]);
            *out = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    FingerImage::new(out_w as u32, out_h as u32, Some(WORKING_PPI), pixels)
}

/// Filter taps for every output index along one axis: `start[o]..start[o] + len[o]` source
/// indexes with normalised weights stored flat, `span` per output index.
struct Taps {
    first: Vec<usize>,
    weights: Vec<f32>,
    span: usize,
}

impl Taps {
    fn new(src_len: usize, out_len: usize, scale: f32) -> Self {
        let support = scale.max(1.0);
        let span = (2.0 * support).ceil() as usize + 2;
        let mut first = Vec::with_capacity(out_len);
        let mut weights = vec![0f32; out_len * span];
        let last = src_len.saturating_sub(1) as isize;
        for o in 0..out_len {
            let centre = (o as f32 + 0.5) * scale - 0.5;
            let lo = (centre - support).floor() as isize;
            let start = lo.clamp(0, last) as usize;
            first.push(start);
            let row = &mut weights[o * span..(o + 1) * span];
            let mut total = 0f32;
            for k in 0..span as isize {
                let i = lo + k;
                let t = (i as f32 - centre).abs() / support;
                let w = (1.0 - t).max(0.0);
                if w <= 0.0 {
                    continue;
                }
                // Clamp to the edge: the border pixel stands in for samples beyond it.
                let idx = i.clamp(0, last) as usize;
                let slot = idx - start;
                if let Some(cell) = row.get_mut(slot) {
                    *cell += w;
                    total += w;
                }
            }
            if total > 0.0 {
                row.iter_mut().for_each(|w| *w /= total);
            }
        }
        Self {
            first,
            weights,
            span,
        }
    }

    /// The filtered value for output index `o`, reading source samples through `sample`.
    fn apply(&self, o: usize, sample: impl Fn(usize) -> f32) -> f32 {
        let start = self.first[o];
        self.weights[o * self.span..(o + 1) * self.span]
            .iter()
            .enumerate()
            .filter(|(_, &w)| w != 0.0)
            .map(|(k, &w)| w * sample(start + k))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> FingerImage {
        let mut px = Vec::new();
        for y in 0..h {
            for x in 0..w {
                px.push(f(x, y));
            }
        }
        FingerImage::new(w, h, None, px).unwrap()
    }

    #[test]
    fn halving_a_ramp_samples_between_source_pixels() {
        // 1000 ppi: value = x + 2y. Output (x, y) covers source centre (2x + 0.5, 2y + 0.5).
        let src = ramp(200, 100, |x, y| (x / 2 + y) as u8);
        let out = to_500ppi(&src, 1000.0).unwrap();
        assert_eq!((out.width(), out.height()), (100, 50));
        assert_eq!(out.ppi(), Some(500.0));
        for y in 2..48 {
            for x in 2..98 {
                let expected = (2.0 * x as f32 + 0.5) / 2.0 + (2.0 * y as f32 + 0.5);
                let got = f32::from(out.pixel(x, y).unwrap());
                assert!(
                    (got - expected).abs() <= 1.0,
                    "({x},{y}): {got} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn enlarging_keeps_a_linear_ramp_linear() {
        // 250 ppi → 500 ppi doubles each side; bilinear reproduces a ramp inside the image.
        let src = ramp(60, 40, |x, y| (3 * x + y) as u8);
        let out = to_500ppi(&src, 250.0).unwrap();
        assert_eq!((out.width(), out.height()), (120, 80));
        for y in 2..78 {
            for x in 2..118 {
                let sx = (x as f32 + 0.5) / 2.0 - 0.5;
                let sy = (y as f32 + 0.5) / 2.0 - 0.5;
                let expected = 3.0 * sx + sy;
                let got = f32::from(out.pixel(x, y).unwrap());
                assert!(
                    (got - expected).abs() <= 0.51,
                    "({x},{y}): {got} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn stripes_keep_their_period_in_the_new_frame() {
        // Vertical stripes of period 20 px at 1000 ppi become period 10 at 500 ppi.
        let src = ramp(400, 20, |x, _| if (x / 10) % 2 == 0 { 220 } else { 30 });
        let out = to_500ppi(&src, 1000.0).unwrap();
        assert_eq!(out.width(), 200);
        for x in 10..180 {
            let a = out.pixel(x, 5).unwrap();
            let b = out.pixel(x + 10, 5).unwrap();
            let c = out.pixel(x + 5, 5).unwrap();
            assert!(a.abs_diff(b) <= 2, "x={x}: {a} vs {b}");
            // Half a period away the phase is opposite: bright and dark swap around 125.
            assert!(
                (i32::from(a) - 125) * (i32::from(c) - 125) <= 0,
                "x={x}: {a} {c}"
            );
        }
    }

    #[test]
    fn fvc_db2_size_maps_to_the_500ppi_frame() {
        let src = ramp(296, 560, |x, y| ((x + y) % 256) as u8);
        let out = to_500ppi(&src, 569.0).unwrap();
        assert_eq!((out.width(), out.height()), (260, 492));
    }

    #[test]
    fn resolutions_out_of_range_are_refused() {
        let src = ramp(10, 10, |_, _| 0);
        for ppi in [0.0, -500.0, 50.0, 5000.0, f32::NAN, f32::INFINITY] {
            let err = to_500ppi(&src, ppi).unwrap_err();
            assert_eq!(err.reason(), "image_resolution_out_of_range");
        }
        assert_eq!(to_500ppi(&src, 500.0).unwrap().pixels(), src.pixels());
    }
}
