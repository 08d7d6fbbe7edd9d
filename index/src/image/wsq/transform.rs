//! The inverse wavelet transform: one-dimensional synthesis along columns then rows, node by
//! node from the lowest-frequency region back to the whole image.
//!
//! The analysis the encoder ran extends each line by whole-sample symmetric reflection and
//! places low-pass output `j` at sample `2j` and high-pass output `j` at sample `2j + 1`.
//! Synthesis therefore upsamples each band to those positions and filters the same reflected
//! sequence: `x[n] = Σ g₀[m] · L↑(R(n + m)) + Σ g₁[m] · H↑(R(n + m))`, with `R` the symmetric
//! reflection about the first and last sample and `g₀`, `g₁` the centred synthesis filters
//! from the transform table. A spectrally inverted line stores its high-pass half first.

use super::tables::Filters;
use super::tree::{WaveletNode, W_NODES};

/// Whole-sample symmetric reflection of index `n` into `0..len`.
#[inline]
fn reflect(n: isize, len: usize) -> usize {
    if len <= 1 {
        return 0;
    }
    let period = 2 * (len as isize - 1);
    let m = n.rem_euclid(period);
    if m < len as isize {
        m as usize
    } else {
        (period - m) as usize
    }
}

/// Synthesises one line of `line.len()` samples from its two bands (stored in `line`) into
/// `out`.
fn synthesise_line(line: &[f32], inverted: bool, filters: &Filters, out: &mut [f32]) {
    let n = line.len();
    if n == 0 {
        return;
    }
    let low_len = n.div_ceil(2);
    let high_len = n / 2;
    let (low, high) = if inverted {
        let (h, l) = line.split_at(high_len);
        (l, h)
    } else {
        line.split_at(low_len)
    };
    let g0 = &filters.low;
    let g1 = &filters.high;
    let c0 = (g0.len() / 2) as isize;
    let c1 = (g1.len() / 2) as isize;
    for (i, o) in out.iter_mut().enumerate().take(n) {
        let i = i as isize;
        let mut acc = 0f32;
        for (k, &g) in g0.iter().enumerate() {
            let p = reflect(i + k as isize - c0, n);
            if p.is_multiple_of(2) {
                if let Some(&v) = low.get(p / 2) {
                    acc += g * v;
                }
            }
        }
        for (k, &g) in g1.iter().enumerate() {
            let p = reflect(i + k as isize - c1, n);
            if p % 2 == 1 {
                if let Some(&v) = high.get(p / 2) {
                    acc += g * v;
                }
            }
        }
        *o = acc;
    }
}

/// Reconstructs the image in place in `plane` (row-major, `width` wide) from its subbands.
/// `scratch` must hold `plane.len()` samples.
pub(crate) fn reconstruct(
    plane: &mut [f32],
    scratch: &mut [f32],
    width: usize,
    tree: &[WaveletNode; W_NODES],
    filters: &Filters,
) {
    let longest = tree[0].region.lenx.max(tree[0].region.leny);
    let mut line = vec![0f32; longest];
    let mut out = vec![0f32; longest];
    for node in tree.iter().rev() {
        let r = node.region;
        if r.lenx == 0 || r.leny == 0 {
            continue;
        }
        // Columns: plane → scratch.
        for c in 0..r.lenx {
            for (k, v) in line[..r.leny].iter_mut().enumerate() {
                *v = plane[(r.y + k) * width + r.x + c];
            }
            synthesise_line(&line[..r.leny], node.inv_cols, filters, &mut out[..r.leny]);
            for (k, &v) in out[..r.leny].iter().enumerate() {
                scratch[k * width + c] = v;
            }
        }
        // Rows: scratch → plane.
        for k in 0..r.leny {
            let src = &scratch[k * width..k * width + r.lenx];
            synthesise_line(src, node.inv_rows, filters, &mut out[..r.lenx]);
            let dst = (r.y + k) * width + r.x;
            plane[dst..dst + r.lenx].copy_from_slice(&out[..r.lenx]);
        }
    }
}

/// The forward transform the encoder runs (specification analysis filters), for tests.
#[cfg(test)]
pub(crate) mod analysis {
    use super::*;

    /// The specification's 9-tap analysis low-pass filter.
    pub const LOW: [f32; 9] = [
        0.037_828_455,
        -0.023_849_465,
        -0.110_624_4,
        0.377_402_86,
        0.852_698_7,
        0.377_402_86,
        -0.110_624_4,
        -0.023_849_465,
        0.037_828_455,
    ];
    /// The specification's 7-tap analysis high-pass filter.
    pub const HIGH: [f32; 7] = [
        0.064_538_88,
        -0.040_689_42,
        -0.418_092_27,
        0.788_485_6,
        -0.418_092_27,
        -0.040_689_42,
        0.064_538_88,
    ];

    fn analyse_line(line: &[f32], inverted: bool, out: &mut [f32]) {
        let n = line.len();
        let low_len = n.div_ceil(2);
        let high_len = n / 2;
        let (lo_off, hi_off) = if inverted {
            (high_len, 0)
        } else {
            (0, low_len)
        };
        for j in 0..low_len {
            out[lo_off + j] = LOW
                .iter()
                .enumerate()
                .map(|(k, &h)| h * line[reflect(2 * j as isize + k as isize - 4, n)])
                .sum();
        }
        for j in 0..high_len {
            out[hi_off + j] = HIGH
                .iter()
                .enumerate()
                .map(|(k, &h)| h * line[reflect(2 * j as isize + k as isize - 2, n)])
                .sum();
        }
    }

    /// Decomposes `plane` in place: rows then columns, node by node from the whole image.
    pub fn decompose(plane: &mut [f32], width: usize, tree: &[WaveletNode; W_NODES]) {
        let mut scratch = vec![0f32; plane.len()];
        let mut line = vec![0f32; 4096];
        let mut out = vec![0f32; 4096];
        for node in tree.iter() {
            let r = node.region;
            for k in 0..r.leny {
                let src = (r.y + k) * width + r.x;
                analyse_line(&plane[src..src + r.lenx], node.inv_rows, &mut out[..r.lenx]);
                scratch[k * width..k * width + r.lenx].copy_from_slice(&out[..r.lenx]);
            }
            for c in 0..r.lenx {
                for k in 0..r.leny {
                    line[k] = scratch[k * width + c];
                }
                analyse_line(&line[..r.leny], node.inv_cols, &mut out[..r.leny]);
                for k in 0..r.leny {
                    plane[(r.y + k) * width + r.x + c] = out[k];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tree::wavelet_tree;
    use super::*;

    /// The synthesis filters the transform table of every NBIS-encoded file expands to.
    pub(crate) fn spec_filters() -> Filters {
        let modulate = |f: &[f32]| -> Vec<f32> {
            let c = f.len() / 2;
            f.iter()
                .enumerate()
                .map(|(i, &v)| {
                    if (i as isize - c as isize) % 2 == 0 {
                        v
                    } else {
                        -v
                    }
                })
                .collect()
        };
        Filters {
            low: modulate(&analysis::HIGH),
            high: modulate(&analysis::LOW),
        }
    }

    #[test]
    fn reflection_is_whole_sample_symmetric() {
        let got: Vec<usize> = (-4..9).map(|n| reflect(n, 5)).collect();
        assert_eq!(got, vec![4, 3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1, 0]);
        assert_eq!(reflect(-3, 1), 0);
    }

    #[test]
    fn synthesis_inverts_the_specification_analysis() {
        for (width, height) in [(64, 48), (67, 53), (300, 300), (97, 211)] {
            let tree = wavelet_tree(width, height);
            let original: Vec<f32> = (0..width * height)
                .map(|i| {
                    let (x, y) = ((i % width) as f32, (i / width) as f32);
                    100.0 * (x * 0.31).sin() * (y * 0.17).cos() + (x * y % 37.0)
                })
                .collect();
            let mut plane = original.clone();
            analysis::decompose(&mut plane, width, &tree);
            assert_ne!(plane, original);
            let mut scratch = vec![0f32; plane.len()];
            reconstruct(&mut plane, &mut scratch, width, &tree, &spec_filters());
            let worst = plane
                .iter()
                .zip(&original)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 0.01, "{width}x{height}: worst error {worst}");
        }
    }
}
