//! The WSQ decomposition trees: where each of the 20 wavelet nodes and 64 subbands lies.
//!
//! The wavelet tree (`W`) lists the 20 image regions split by one 2-D analysis step each,
//! from the whole image (node 0) down to the lowest-frequency region (node 19); synthesis
//! runs them in reverse. The quantisation tree (`Q`) lists the 64 subbands in the order their
//! coefficients are coded; subbands 60–63 (the finest diagonal detail) are never coded.
//! Region sizes follow the specification's splitting rule: an odd length gives its extra
//! sample to the low-pass half, or to the high-pass half where the node is spectrally
//! inverted.

/// A rectangle of the coefficient plane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Region {
    pub x: usize,
    pub y: usize,
    pub lenx: usize,
    pub leny: usize,
}

/// A wavelet tree node: a region split once, with its row and column inversion flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WaveletNode {
    pub region: Region,
    /// High-pass half first along x (rows are spectrally inverted).
    pub inv_rows: bool,
    /// High-pass half first along y (columns are spectrally inverted).
    pub inv_cols: bool,
}

/// Number of wavelet tree nodes.
pub(crate) const W_NODES: usize = 20;
/// Number of coded subbands (60–63 are always zero).
pub(crate) const CODED_SUBBANDS: usize = 60;
/// Number of subbands in the quantisation table.
pub(crate) const SUBBANDS: usize = 64;

/// Halves `len`: `(first, second)` lengths, the first taking the odd sample unless `swap`.
fn halves(len: usize, swap: bool) -> (usize, usize) {
    if len.is_multiple_of(2) {
        (len / 2, len / 2)
    } else if swap {
        ((len - 1) / 2, len.div_ceil(2))
    } else {
        (len.div_ceil(2), (len - 1) / 2)
    }
}

/// Builds the wavelet tree of a `width × height` image.
pub(crate) fn wavelet_tree(width: usize, height: usize) -> [WaveletNode; W_NODES] {
    let mut w = [WaveletNode::default(); W_NODES];
    for n in [2, 4, 7, 9, 11, 13, 16, 18] {
        w[n].inv_rows = true;
    }
    for n in [3, 5, 8, 9, 12, 13, 17, 18] {
        w[n].inv_cols = true;
    }
    split4(&mut w, 0, 1, width, height, 0, 0, true);

    let (lenx, lenx2) = halves(w[1].region.lenx, false);
    let (leny, leny2) = halves(w[1].region.leny, false);
    split4(&mut w, 4, 6, lenx2, leny, lenx, 0, false);
    split4(&mut w, 5, 10, lenx, leny2, 0, leny, false);
    split4(&mut w, 14, 15, lenx, leny, 0, 0, false);

    w[19].region = Region {
        x: 0,
        y: 0,
        lenx: w[15].region.lenx.div_ceil(2),
        leny: w[15].region.leny.div_ceil(2),
    };
    w
}

/// Sets node `parent` to the given region and its children `first..first + 4` (the fourth
/// only when `!stop`) to the quadrants of one split.
#[allow(clippy::too_many_arguments)]
fn split4(
    w: &mut [WaveletNode; W_NODES],
    parent: usize,
    first: usize,
    lenx: usize,
    leny: usize,
    x: usize,
    y: usize,
    stop: bool,
) {
    w[parent].region = Region { x, y, lenx, leny };
    let (ax, bx) = halves(lenx, parent == 4);
    let (ay, by) = halves(leny, parent == 5);
    w[first].region = Region {
        x,
        y,
        lenx: ax,
        leny: ay,
    };
    w[first + 1].region = Region {
        x: x + ax,
        y,
        lenx: bx,
        leny: ay,
    };
    w[first + 2].region = Region {
        x,
        y: y + ay,
        lenx: ax,
        leny: by,
    };
    if !stop {
        w[first + 3].region = Region {
            x: x + ax,
            y: y + ay,
            lenx: bx,
            leny: by,
        };
    }
}

/// Builds the quantisation tree (subband regions in coding order).
pub(crate) fn quantisation_tree(w: &[WaveletNode; W_NODES]) -> [Region; SUBBANDS] {
    let mut q = [Region::default(); SUBBANDS];
    q_split16(&mut q, 3, w[14].region, false, false);
    q_split16(&mut q, 19, w[4].region, false, true);
    q_split16(&mut q, 48, w[0].region, false, false);
    q_split16(&mut q, 35, w[5].region, true, false);
    q_split4(&mut q, 0, w[19].region);
    q
}

/// Four subbands `p..p + 4` of one split of `r` (odd samples to the first half).
fn q_split4(q: &mut [Region; SUBBANDS], p: usize, r: Region) {
    let (ax, bx) = halves(r.lenx, false);
    let (ay, by) = halves(r.leny, false);
    q[p] = Region {
        x: r.x,
        y: r.y,
        lenx: ax,
        leny: ay,
    };
    q[p + 1] = Region {
        x: r.x + ax,
        y: r.y,
        lenx: bx,
        leny: ay,
    };
    q[p + 2] = Region {
        x: r.x,
        y: r.y + ay,
        lenx: ax,
        leny: by,
    };
    q[p + 3] = Region {
        x: r.x + ax,
        y: r.y + ay,
        lenx: bx,
        leny: by,
    };
}

/// Sixteen subbands `p..p + 16` of two levels of splitting of `r`: the first level split
/// with the given inversion (`rows` swaps the halves along y, `cols` along x), each quadrant
/// then split with odd samples to its first half. Later calls overwrite earlier ones where
/// the specification's numbering overlaps.
fn q_split16(q: &mut [Region; SUBBANDS], p: usize, r: Region, rows: bool, cols: bool) {
    let (tx, t2x) = halves(r.lenx, cols);
    let (ty, t2y) = halves(r.leny, rows);
    let (ax, bx) = halves(tx, false);
    let (ay, by) = halves(ty, false);
    // The second column pair puts its odd sample in the second half.
    let (cx, dx) = halves(t2x, true);
    // The second row pair puts its odd sample in the second half.
    let (cy, dy) = halves(t2y, true);
    let x0 = r.x;
    let x1 = r.x + ax;
    let x2 = r.x + tx;
    let x3 = x2 + cx;
    let y0 = r.y;
    let y1 = r.y + ay;
    let y2 = r.y + ty;
    let y3 = y2 + cy;
    let cells = [
        (x0, y0, ax, ay),
        (x1, y0, bx, ay),
        (x0, y1, ax, by),
        (x1, y1, bx, by),
        (x2, y0, cx, ay),
        (x3, y0, dx, ay),
        (x2, y1, cx, by),
        (x3, y1, dx, by),
        (x0, y2, ax, cy),
        (x1, y2, bx, cy),
        (x0, y3, ax, dy),
        (x1, y3, bx, dy),
        (x2, y2, cx, cy),
        (x3, y2, dx, cy),
        (x2, y3, cx, dy),
        (x3, y3, dx, dy),
    ];
    for (i, (x, y, lenx, leny)) in cells.into_iter().enumerate() {
        q[p + i] = Region { x, y, lenx, leny };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Coded subbands tile the image without overlap, except the finest diagonal detail
    /// (subbands 60–63, never coded) which must be exactly what is left uncovered.
    #[test]
    fn subbands_tile_the_image_for_odd_and_even_sizes() {
        for (width, height) in [(388, 374), (296, 560), (300, 300), (288, 384), (257, 331)] {
            let w = wavelet_tree(width, height);
            let q = quantisation_tree(&w);
            let mut cover = vec![0u8; width * height];
            for r in &q[..CODED_SUBBANDS] {
                assert!(r.x + r.lenx <= width && r.y + r.leny <= height, "{r:?}");
                for y in r.y..r.y + r.leny {
                    for x in r.x..r.x + r.lenx {
                        cover[y * width + x] += 1;
                    }
                }
            }
            assert!(cover.iter().all(|&c| c <= 1), "overlap in {width}x{height}");
            let uncovered = cover.iter().filter(|&&c| c == 0).count();
            // The uncovered part is the finest diagonal band of the first split (node 0).
            let (_, hx) = halves(width, false);
            let (_, hy) = halves(height, false);
            assert_eq!(uncovered, hx * hy, "{width}x{height}");
            for y in height - hy..height {
                for x in width - hx..width {
                    assert_eq!(cover[y * width + x], 0);
                }
            }
        }
    }
}
