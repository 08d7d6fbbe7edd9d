//! Bilinear resampling of an 8-bit raster into the 500 ppi working frame.

/// Resamples `src` (`width`×`height`, row-major) by `scale` (output pixels per input pixel)
/// into a new `f32` buffer, returning it with its width and height.
///
/// Each output pixel samples the input at its centre mapped back through the scale; the
/// input is clamped at the edges. With `scale == 1` the pixels are copied unchanged.
pub(crate) fn to_working(
    src: &[u8],
    width: usize,
    height: usize,
    scale: f32,
) -> (Vec<f32>, usize, usize) {
    if (scale - 1.0).abs() < 1e-4 {
        return (src.iter().map(|&p| f32::from(p)).collect(), width, height);
    }
    let out_w = ((width as f32 * scale).round() as usize).max(1);
    let out_h = ((height as f32 * scale).round() as usize).max(1);
    let mut out = vec![0.0f32; out_w * out_h];
    let inv = 1.0 / scale;
    let max_x = width.saturating_sub(1) as f32;
    let max_y = height.saturating_sub(1) as f32;
    // Column sample positions are the same for every row: compute them once.
    let cols: Vec<(usize, usize, f32)> = (0..out_w)
        .map(|x| {
            let sx = ((x as f32 + 0.5) * inv - 0.5).clamp(0.0, max_x);
            let x0 = sx.floor() as usize;
            let x1 = (x0 + 1).min(width - 1);
            (x0, x1, sx - x0 as f32)
        })
        .collect();
    for (y, row) in out.chunks_exact_mut(out_w).enumerate() {
        let sy = ((y as f32 + 0.5) * inv - 0.5).clamp(0.0, max_y);
        let y0 = sy.floor() as usize;
        let y1 = (y0 + 1).min(height - 1);
        let fy = sy - y0 as f32;
        let r0 = &src[y0 * width..(y0 + 1) * width];
        let r1 = &src[y1 * width..(y1 + 1) * width];
        for (o, &(x0, x1, fx)) in row.iter_mut().zip(&cols) {
            let top = f32::from(r0[x0]) * (1.0 - fx) + f32::from(r0[x1]) * fx;
            let bottom = f32::from(r1[x0]) * (1.0 - fx) + f32::from(r1[x1]) * fx;
            *o = top * (1.0 - fy) + bottom * fy;
        }
    }
    (out, out_w, out_h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_scale_copies() {
        let src = [0u8, 10, 20, 30, 40, 50];
        let (out, w, h) = to_working(&src, 3, 2, 1.0);
        assert_eq!((w, h), (3, 2));
        assert_eq!(out, vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
    }

    #[test]
    fn downscale_halves_size_and_keeps_flat_value() {
        let src = [7u8; 40 * 20];
        let (out, w, h) = to_working(&src, 40, 20, 0.5);
        assert_eq!((w, h), (20, 10));
        assert!(out.iter().all(|&v| (v - 7.0).abs() < 1e-4));
    }
}
