//! The inverse wavelet transform: one-dimensional synthesis along columns then rows, node by
//! node from the lowest-frequency region back to the whole image.
//!
//! The analysis the encoder ran extends each line by whole-sample symmetric reflection and
//! places low-pass output `j` at sample `2j` and high-pass output `j` at sample `2j + 1`.
//! Synthesis therefore upsamples each band to those positions and filters the same reflected
//! sequence: `x[n] = Σ g₀[m] · L↑(R(n + m)) + Σ g₁[m] · H↑(R(n + m))`, with `R` the symmetric
//! reflection about the first and last sample and `g₀`, `g₁` the centred synthesis filters
//! from the transform table. A spectrally inverted line stores its high-pass half first.
//!
//! `R` keeps the parity of an index (for lines of two or more samples), so an even output
//! sample takes only the low band at even offsets and the high band at odd offsets, and an
//! odd one the reverse: each output is one dense dot product of the interleaved, reflected
//! line with one of two merged filters ([`Polyphase`]). Columns are filtered a whole row of
//! samples at a time, rows through one reflected copy of the line; nothing is allocated per
//! line.

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

/// The synthesis filters merged per output parity: `even[t + reach]` weighs the interleaved
/// sample at offset `t` from an even output, `odd[t + reach]` from an odd one.
#[derive(Debug, Clone)]
struct Polyphase {
    reach: usize,
    even: Vec<f32>,
    odd: Vec<f32>,
    /// Sum of the low-pass taps: the whole synthesis of a one-sample line.
    low_sum: f32,
}

impl Polyphase {
    fn new(filters: &Filters) -> Self {
        let c0 = filters.low.len() / 2;
        let c1 = filters.high.len() / 2;
        let reach = c0.max(c1);
        let tap = |f: &[f32], c: usize, t: isize| -> f32 {
            usize::try_from(t + c as isize)
                .ok()
                .and_then(|k| f.get(k))
                .copied()
                .unwrap_or(0.0)
        };
        let mut even = vec![0f32; 2 * reach + 1];
        let mut odd = vec![0f32; 2 * reach + 1];
        for (i, (e, o)) in even.iter_mut().zip(odd.iter_mut()).enumerate() {
            let t = i as isize - reach as isize;
            let low = tap(&filters.low, c0, t);
            let high = tap(&filters.high, c1, t);
            if t % 2 == 0 {
                (*e, *o) = (low, high);
            } else {
                (*e, *o) = (high, low);
            }
        }
        Self {
            reach,
            even,
            odd,
            low_sum: filters.low.iter().sum(),
        }
    }

    fn taps(&self, i: usize) -> &[f32] {
        if i.is_multiple_of(2) {
            &self.even
        } else {
            &self.odd
        }
    }
}

/// Where interleaved sample `p` of a line of `n` is stored: low-pass samples (even `p`) in
/// one half, high-pass (odd `p`) in the other, the high half first when `inverted`.
#[inline]
fn stored_at(p: usize, n: usize, inverted: bool) -> usize {
    let (low_off, high_off) = if inverted {
        (n / 2, 0)
    } else {
        (0, n.div_ceil(2))
    };
    if p.is_multiple_of(2) {
        low_off + p / 2
    } else {
        high_off + p / 2
    }
}

/// Synthesises one line (its two bands in `line`) into `out`; `ext` is scratch of at least
/// `line.len() + 2·reach` samples.
fn synthesise_line(line: &[f32], inverted: bool, f: &Polyphase, ext: &mut [f32], out: &mut [f32]) {
    let n = line.len();
    if n == 0 {
        return;
    }
    if n == 1 {
        out[0] = line[0] * f.low_sum;
        return;
    }
    let reach = f.reach as isize;
    let ext = &mut ext[..n + 2 * f.reach];
    for (j, e) in ext.iter_mut().enumerate() {
        let p = reflect(j as isize - reach, n);
        *e = line[stored_at(p, n, inverted)];
    }
    let width = 2 * f.reach + 1;
    for (i, o) in out[..n].iter_mut().enumerate() {
        *o = ext[i..i + width]
            .iter()
            .zip(f.taps(i))
            .map(|(a, b)| a * b)
            .sum();
    }
}

/// Synthesises the columns of region `(x, y, lenx, leny)` of `plane` into the top-left
/// `lenx × leny` corner of `scratch`, a whole row of outputs at a time.
fn synthesise_columns(
    plane: &[f32],
    scratch: &mut [f32],
    width: usize,
    (x, y, lenx, leny): (usize, usize, usize, usize),
    inverted: bool,
    f: &Polyphase,
) {
    // Start of the plane row holding interleaved sample `p` of every column.
    let source = |p: usize| (y + stored_at(p, leny, inverted)) * width + x;
    for i in 0..leny {
        let out = &mut scratch[i * width..i * width + lenx];
        if leny == 1 {
            let row = source(0);
            for (o, &v) in out.iter_mut().zip(&plane[row..row + lenx]) {
                *o = v * f.low_sum;
            }
            continue;
        }
        out.fill(0.0);
        for (t, &w) in f.taps(i).iter().enumerate() {
            if w == 0.0 {
                continue;
            }
            let row = source(reflect(i as isize + t as isize - f.reach as isize, leny));
            for (o, &v) in out.iter_mut().zip(&plane[row..row + lenx]) {
                *o += w * v;
            }
        }
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
    let f = Polyphase::new(filters);
    let longest = tree[0].region.lenx.max(tree[0].region.leny);
    let mut ext = vec![0f32; longest + 2 * f.reach];
    for node in tree.iter().rev() {
        let r = node.region;
        if r.lenx == 0 || r.leny == 0 {
            continue;
        }
        // Columns: plane → scratch.
        synthesise_columns(
            plane,
            scratch,
            width,
            (r.x, r.y, r.lenx, r.leny),
            node.inv_cols,
            &f,
        );
        // Rows: scratch → plane.
        for k in 0..r.leny {
            let src = &scratch[k * width..k * width + r.lenx];
            let dst = (r.y + k) * width + r.x;
            synthesise_line(
                src,
                node.inv_rows,
                &f,
                &mut ext,
                &mut plane[dst..dst + r.lenx],
            );
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
