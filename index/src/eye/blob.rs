//! The pupil as the darkest compact blob: the pixels near the image's darkest level, opened
//! to cut them from the lashes, grouped into connected regions; the region most like a
//! filled disc of a pupil's size is the pupil's first estimate.
//!
//! On near-infrared eye images the pupil is the darkest region and nearly uniform, while
//! the iris around it is brighter and textured. A circle search ranked by its boundary step
//! alone can prefer a larger circle reaching from the pupil into the iris, or the dark
//! lash line; the blob keeps the pupil's own extent.

use super::plane::Plane;

/// A dark region's disc estimate, in working-plane pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Blob {
    /// Column of the middle of the region's horizontal extent.
    pub(crate) x: f32,
    /// Row of the middle of its vertical extent.
    pub(crate) y: f32,
    /// Half its horizontal extent (an eyelid over the pupil shortens the vertical one).
    pub(crate) r: f32,
    /// Half its vertical extent.
    pub(crate) half_height: f32,
}

/// The share of the darkest pixels whose level anchors the threshold.
const DARKEST_SHARE: f32 = 0.002;

/// The two grey levels a blob threshold lies between: the darkest level (the
/// [`DARKEST_SHARE`] quantile) and the median of the plane's pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BlobLevels {
    darkest: f32,
    median: f32,
}

impl BlobLevels {
    /// The levels of `p`; with `skip_frame`, blank lines along the image's edges
    /// ([`blank_frame`]) are left out (a black frame row of the capture would otherwise be
    /// the darkest level). `None` for a plane under 3 × 3.
    pub(crate) fn of(p: &Plane, skip_frame: bool) -> Option<Self> {
        let w = p.w;
        if w < 3 || p.h < 3 {
            return None;
        }
        // The two order statistics by selection (the values a full sort would put there).
        let mut order = if skip_frame {
            let (xs, ys) = blank_frame(p);
            p.px.chunks_exact(w)
                .skip(ys.start)
                .take(ys.len())
                .flat_map(|row| row[xs.clone()].iter().copied())
                .collect()
        } else {
            p.px.clone()
        };
        let n = order.len();
        let mid = n / 2;
        let (below, median, _) = order.select_nth_unstable_by(mid, f32::total_cmp);
        let median = *median;
        let at = ((n as f32 * DARKEST_SHARE) as usize).min(n - 1);
        let darkest = if at < mid {
            *below.select_nth_unstable_by(at, f32::total_cmp).1
        } else {
            median
        };
        Some(Self { darkest, median })
    }
}

/// The darkest compact blob of a pupil's size, or `None`.
///
/// Pixels at most `fraction` of the way from the darkest level to the median (`levels`, of
/// this plane) are dark. The dark mask is opened by a square of side `open`
/// (thin lashes vanish, a pupil keeps its shape), and each 4-connected region not touching
/// the image's border is measured: its area with each row's span filled (reflections inside
/// the pupil leave holes), its half-width `r` (within `r_range`) and its height. The region
/// ranked best by `area · c²`, where `c` is the smaller of its fill of the disc of radius `r`
/// and that fill's inverse, is returned.
pub(crate) fn darkest_blob(
    p: &Plane,
    levels: BlobLevels,
    fraction: f32,
    open: usize,
    r_range: (f32, f32),
) -> Option<Blob> {
    let (w, h) = (p.w, p.h);
    if w < 3 || h < 3 {
        return None;
    }
    let BlobLevels { darkest, median } = levels;
    let limit = darkest + fraction * (median - darkest);
    let dark: Vec<bool> = p.px.iter().map(|&v| v <= limit).collect();
    let mask = open_mask(&dark, w, h, open);
    let mut seen = vec![false; w * h];
    let mut stack = Vec::new();
    let mut best: Option<(f32, Blob)> = None;
    // Per row of the current region: leftmost and rightmost column.
    let mut spans: Vec<(usize, usize)> = vec![(usize::MAX, 0); h];
    for start in 0..w * h {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut x1, mut y0, mut y1) = (w, 0, h, 0);
        let mut border = false;
        let mut rows = Vec::new();
        while let Some(q) = stack.pop() {
            let (x, y) = (q % w, q / w);
            border |= x == 0 || y == 0 || x == w - 1 || y == h - 1;
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
            let span = &mut spans[y];
            if span.0 == usize::MAX {
                rows.push(y);
            }
            *span = (span.0.min(x), span.1.max(x));
            let mut visit = |n: usize| {
                if mask[n] && !seen[n] {
                    seen[n] = true;
                    stack.push(n);
                }
            };
            if x > 0 {
                visit(q - 1);
            }
            if x + 1 < w {
                visit(q + 1);
            }
            if y > 0 {
                visit(q - w);
            }
            if y + 1 < h {
                visit(q + w);
            }
        }
        let area: usize = rows.iter().map(|&y| spans[y].1 - spans[y].0 + 1).sum();
        for &y in &rows {
            spans[y] = (usize::MAX, 0);
        }
        let r = (x1 - x0 + 1) as f32 / 2.0;
        let half_height = (y1 - y0 + 1) as f32 / 2.0;
        if border || r < r_range.0 || r > r_range.1 || !(0.4..=1.3).contains(&(half_height / r)) {
            continue;
        }
        let fill = area as f32 / (std::f32::consts::PI * r * r);
        let c = fill.min(1.0 / fill.max(1e-6));
        let score = area as f32 * c * c;
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((
                score,
                Blob {
                    x: (x0 + x1) as f32 / 2.0,
                    y: (y0 + y1) as f32 / 2.0,
                    r,
                    half_height,
                },
            ));
        }
    }
    best.map(|(_, b)| b)
}

/// Grey levels a blank line's pixels may spread over.
const BLANK_SPREAD: f32 = 2.0;

/// The columns and rows inside the blank frame: leading and trailing rows (columns) whose
/// pixels all lie within [`BLANK_SPREAD`] grey levels of each other (a capture's black or
/// padded lines, not image), at most an eighth of the side from each edge. Never empty.
pub(crate) fn blank_frame(p: &Plane) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let (w, h) = (p.w, p.h);
    let flat = |values: &mut dyn Iterator<Item = f32>| {
        let (lo, hi) = values.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        hi - lo <= BLANK_SPREAD
    };
    let row = |y: usize| flat(&mut p.px[y * w..(y + 1) * w].iter().copied());
    let col = |x: usize| flat(&mut (0..h).map(|y| p.px[y * w + x]));
    let lead =
        |n: usize, blank: &dyn Fn(usize) -> bool| (0..n / 8).take_while(|&i| blank(i)).count();
    let top = lead(h, &row);
    let bottom = lead(h, &|i| row(h - 1 - i));
    let left = lead(w, &col);
    let right = lead(w, &|i| col(w - 1 - i));
    (left..w - right, top..h - bottom)
}

/// The morphological opening of `mask` by a `side × side` square: erosion, then dilation.
fn open_mask(mask: &[bool], w: usize, h: usize, side: usize) -> Vec<bool> {
    if side <= 1 {
        return mask.to_vec();
    }
    let eroded = square_filter(mask, w, h, side, true);
    square_filter(&eroded, w, h, side, false)
}

/// Erosion (`all`: every pixel of the square set; outside the image counts as unset) or
/// dilation (any pixel set) by a `side × side` square, separably: along each row, then down
/// all columns at once row by row, each by a running count of the set pixels in the window.
fn square_filter(mask: &[bool], w: usize, h: usize, side: usize, all: bool) -> Vec<bool> {
    let lo = (side - 1) / 2;
    let hi = side - 1 - lo;
    // Erosion needs the whole window inside the image and set; dilation any pixel of it.
    let verdict = |count: usize, inside: bool| {
        if all {
            inside && count == side
        } else {
            count > 0
        }
    };
    let mut first = vec![false; w * h];
    for (src, dst) in mask.chunks_exact(w).zip(first.chunks_exact_mut(w)) {
        // Set pixels in `[x − lo, x + hi]` clipped to the row.
        let mut count: usize = src[..=hi.min(w - 1)].iter().map(|&b| usize::from(b)).sum();
        for (x, out) in dst.iter_mut().enumerate() {
            *out = verdict(count, x >= lo && x + hi < w);
            if let Some(&b) = src.get(x + hi + 1) {
                count += usize::from(b);
            }
            if let Some(k) = x.checked_sub(lo) {
                count -= usize::from(src[k]);
            }
        }
    }
    let mut out = vec![false; w * h];
    let mut counts = vec![0usize; w];
    let add = |counts: &mut [usize], row: &[bool], sign: bool| {
        for (c, &b) in counts.iter_mut().zip(row) {
            if sign {
                *c += usize::from(b);
            } else {
                *c -= usize::from(b);
            }
        }
    };
    for row in first.chunks_exact(w).take(hi + 1) {
        add(&mut counts, row, true);
    }
    for (y, dst) in out.chunks_exact_mut(w).enumerate() {
        let inside = y >= lo && y + hi < h;
        for (o, &c) in dst.iter_mut().zip(&counts) {
            *o = verdict(c, inside);
        }
        if let Some(row) = first.get((y + hi + 1) * w..(y + hi + 2) * w) {
            add(&mut counts, row, true);
        }
        if let Some(k) = y.checked_sub(lo) {
            add(&mut counts, &first[k * w..(k + 1) * w], false);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bright plane with a dark disc and a dark thin line (lashes) and a dark disc touching
    /// the border (hair).
    #[test]
    fn finds_the_compact_dark_disc_not_lashes_or_border() {
        let (w, h) = (120usize, 100usize);
        let mut px = vec![150.0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f32, y as f32);
                // Iris texture around the pupil, darker than the background.
                if (fx - 70.0).hypot(fy - 55.0) < 30.0 {
                    px[y * w + x] = 80.0 + ((x * 7 + y * 3) % 20) as f32;
                }
                if (fx - 70.0).hypot(fy - 55.0) < 12.0 {
                    px[y * w + x] = 10.0;
                }
                // A glint inside the pupil.
                if (fx - 73.0).hypot(fy - 52.0) < 2.0 {
                    px[y * w + x] = 255.0;
                }
                // Lashes: a 2-pixel dark line.
                if (y == 20 || y == 21) && (10..110).contains(&x) {
                    px[y * w + x] = 5.0;
                }
                // Hair in the corner, touching the border.
                if fx.hypot(fy) < 15.0 {
                    px[y * w + x] = 0.0;
                }
            }
        }
        let p = Plane { w, h, px };
        let levels = BlobLevels::of(&p, false).expect("levels");
        let b = darkest_blob(&p, levels, 0.15, 5, (3.0, 40.0)).expect("a blob");
        assert!(
            (b.x - 70.0).abs() <= 1.0 && (b.y - 55.0).abs() <= 1.0,
            "{b:?}"
        );
        assert!((b.r - 12.0).abs() <= 1.5, "{b:?}");
    }

    /// The running-count filter equals the square's definition pixel by pixel.
    #[test]
    fn square_filter_matches_its_definition() {
        let (w, h) = (23usize, 17usize);
        let mask: Vec<bool> = (0..w * h).map(|i| (i * 7919 + i / 5) % 7 < 4).collect();
        for side in [2usize, 3, 4, 5, 9] {
            let (lo, hi) = ((side - 1) / 2, side - 1 - (side - 1) / 2);
            for all in [true, false] {
                let got = square_filter(&mask, w, h, side, all);
                for y in 0..h {
                    for x in 0..w {
                        let inside = x >= lo && y >= lo && x + hi < w && y + hi < h;
                        let window = (y.saturating_sub(lo)..(y + hi + 1).min(h)).flat_map(|yy| {
                            (x.saturating_sub(lo)..(x + hi + 1).min(w)).map(move |xx| (xx, yy))
                        });
                        let mut window = window.map(|(xx, yy)| mask[yy * w + xx]);
                        let want = if all {
                            inside && window.all(|b| b)
                        } else {
                            window.any(|b| b)
                        };
                        assert_eq!(got[y * w + x], want, "side {side} all {all} at {x},{y}");
                    }
                }
            }
        }
    }

    /// Black first and last rows (as on MMU2) and a padded right column are the blank frame;
    /// a textured edge row is not.
    #[test]
    fn blank_frame_skips_flat_edge_lines_only() {
        let (w, h) = (40usize, 32usize);
        let mut px: Vec<f32> = (0..w * h).map(|i| 100.0 + (i * 7 % 13) as f32).collect();
        for y in 0..h {
            px[y * w + w - 1] = 255.0;
        }
        for x in 0..w {
            px[x] = 0.0;
            px[(h - 1) * w + x] = 1.0;
        }
        // The right column is flat but for the black rows at its ends.
        let p = Plane { w, h, px };
        let (xs, ys) = blank_frame(&p);
        assert_eq!(ys, 1..h - 1);
        assert_eq!(xs, 0..w, "the right column spans 0 to 255");
        // Without the black rows the padded column is blank.
        let inner = Plane {
            w,
            h: h - 2,
            px: p.px[w..(h - 1) * w].to_vec(),
        };
        assert_eq!(blank_frame(&inner), (0..w - 1, 0..h - 2));
    }

    #[test]
    fn a_uniform_plane_has_no_blob() {
        let p = Plane {
            w: 50,
            h: 40,
            px: vec![100.0; 2000],
        };
        let levels = BlobLevels::of(&p, true).expect("levels");
        assert_eq!(darkest_blob(&p, levels, 0.15, 3, (2.0, 20.0)), None);
    }
}
