//! The inner step of cylinder construction: summing the neighbours' contributions into the
//! cells of one cylinder and thresholding the sums into bits.
//!
//! Three bodies, chosen at run time, give the same bits:
//! * portable: neighbour by neighbour, only over the grid rows and columns within reach;
//! * AVX2 and AVX-512: eight or sixteen cells per vector, the sums held layer by layer.
//!
//! Every cell gets, per neighbour in neighbour order, `sum += gs · gd[k]`, where `gs` is the
//! spatial table entry at `trunc(4 · d²)` when `d² ≤ reach²`. The vector bodies evaluate the
//! same IEEE expressions (a multiply, then an add; no fused multiply-add) and add `+0` for
//! cells out of reach, which leaves a sum unchanged, so every sum, and every bit, is the
//! portable body's.

use super::{Neighbour, MAX_ND, SPATIAL_STEPS_PER_PX2};
use crate::finger::kernel::Kernel;

/// Most cells a vector body handles (NS = 16).
pub(super) const MAX_CELLS: usize = 256;

/// The cell grid of one cylinder and its thresholds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Grid<'a> {
    /// Cells per side.
    pub ns: usize,
    /// Angular layers (at most [`MAX_ND`]).
    pub nd: usize,
    /// Words per layer in the cylinder.
    pub wpl: usize,
    /// Cell spacing and the offset of the grid centre, in cells.
    pub delta_s: f32,
    /// `(ns − 1) / 2`.
    pub half: f32,
    /// Reach of a neighbour plus a one-pixel allowance, for the rows and columns visited.
    pub candidate_reach: f32,
    /// Squared spatial reach.
    pub reach2: f32,
    /// Bit threshold.
    pub mu_psi: f32,
    /// Spatial contribution by `trunc(4 · d²)`.
    pub spatial: &'a [f32],
}

/// One cylinder being built: its centre and axes, and its cells in template axes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cylinder<'a> {
    /// Centre minutia position.
    pub x: f32,
    /// See `x`.
    pub y: f32,
    /// Direction of the centre minutia.
    pub sin: f32,
    /// See `sin`.
    pub cos: f32,
    /// Cell centres.
    pub xs: &'a [f32],
    /// See `xs`.
    pub ys: &'a [f32],
    /// Cells inside the disc and the enlarged hull.
    pub valid: &'a [bool],
}

/// Grid rows (or columns) whose centre offset `delta_s · (i − half)` may lie within `r`
/// of `at`: a superset of those a cell within the spatial reach can be in; all of them
/// when the geometry is degenerate.
#[inline]
pub(super) fn cell_range(
    at: f32,
    r: f32,
    delta_s: f32,
    half: f32,
    ns: usize,
) -> std::ops::Range<usize> {
    let lo = (at - r) / delta_s + half;
    let hi = (at + r) / delta_s + half;
    if !(lo.is_finite() && hi.is_finite() && delta_s > 0.0) || lo.abs().max(hi.abs()) > 1e6 {
        return 0..ns;
    }
    if hi < 0.0 {
        return 0..0;
    }
    // Ceiling of `lo` and floor of `hi` by truncation (exact below 2²⁴); a negative `lo`
    // saturates to 0.
    let mut first = lo as usize;
    if lo > 0.0 && (first as f32) < lo {
        first += 1;
    }
    let last = hi as usize;
    first..(last + 1).min(ns)
}

/// The grid rows a neighbour can reach, in the cylinder's axes.
#[inline]
fn rows_of(grid: &Grid<'_>, cyl: &Cylinder<'_>, nb: &Neighbour<'_>) -> std::ops::Range<usize> {
    let (dx, dy) = (nb.x - cyl.x, nb.y - cyl.y);
    let u = cyl.cos * dx + cyl.sin * dy;
    cell_range(u, grid.candidate_reach, grid.delta_s, grid.half, grid.ns)
}

/// Writes the value and mask bits of one cylinder into `out` (`(nd + 1) · wpl` words,
/// cleared here). `sums` is working space.
pub(super) fn fill_bits(
    kernel: Kernel,
    grid: &Grid<'_>,
    cyl: &Cylinder<'_>,
    neighbours: &[Neighbour<'_>],
    sums: &mut Vec<f32>,
    out: &mut [u64],
) {
    out.iter_mut().for_each(|w| *w = 0);
    let cells = grid.ns * grid.ns;
    #[cfg(target_arch = "x86_64")]
    {
        let kernel = crate::finger::kernel::supported(kernel);
        let fits = cells <= MAX_CELLS && grid.nd <= MAX_ND && !grid.spatial.is_empty();
        if fits && cells.is_multiple_of(16) && kernel == Kernel::Avx512 {
            sums.clear();
            sums.resize(grid.nd * cells, 0.0);
            // SAFETY: `supported` returns Avx512 only when the CPU has AVX-512F (see
            // `finger::kernel::support`); the grid fits the body's bounds (checked above).
            unsafe { x86::fill_avx512(grid, cyl, neighbours, sums, out) };
            return;
        }
        if fits && cells.is_multiple_of(8) && matches!(kernel, Kernel::Avx512 | Kernel::Avx2) {
            sums.clear();
            sums.resize(grid.nd * cells, 0.0);
            // SAFETY: `supported` returns either kernel only when the CPU has AVX2; the grid fits
            // the body's bounds (checked above).
            unsafe { x86::fill_avx2(grid, cyl, neighbours, sums, out) };
            return;
        }
    }
    let _ = kernel;
    fill_portable(grid, cyl, neighbours, sums, out);
}

/// Cell by cell over the rows and columns within reach of each neighbour.
fn fill_portable(
    grid: &Grid<'_>,
    cyl: &Cylinder<'_>,
    neighbours: &[Neighbour<'_>],
    sums: &mut Vec<f32>,
    out: &mut [u64],
) {
    let (ns, nd, wpl) = (grid.ns, grid.nd, grid.wpl);
    let cells = ns * ns;
    sums.clear();
    sums.resize(cells * MAX_ND, 0.0);
    for nb in neighbours {
        let (dx, dy) = (nb.x - cyl.x, nb.y - cyl.y);
        let v = cyl.cos * dy - cyl.sin * dx;
        let cols = cell_range(v, grid.candidate_reach, grid.delta_s, grid.half, ns);
        for i in rows_of(grid, cyl, nb) {
            for c in i * ns + cols.start..i * ns + cols.end {
                if !cyl.valid[c] {
                    continue;
                }
                let (px, py) = (cyl.xs[c], cyl.ys[c]);
                let d2 = (nb.x - px) * (nb.x - px) + (nb.y - py) * (nb.y - py);
                // Out of reach (or NaN, which the vector bodies also leave out).
                if d2.partial_cmp(&grid.reach2).is_none_or(|o| o.is_gt()) {
                    continue;
                }
                // `d2` is in `[0, reach2]` here, so the i32 cast truncates as a usize
                // cast would.
                let step = (d2 * SPATIAL_STEPS_PER_PX2) as i32 as usize;
                let gs = grid.spatial.get(step).copied().unwrap_or(0.0);
                let cell = &mut sums[c * MAX_ND..(c + 1) * MAX_ND];
                for (s, &g) in cell.iter_mut().zip(nb.gd.iter()) {
                    *s += gs * g;
                }
            }
        }
    }
    for c in 0..cells {
        if !cyl.valid[c] {
            continue;
        }
        let (word, bit) = (c / 64, c % 64);
        out[nd * wpl + word] |= 1 << bit;
        for (k, &s) in sums[c * MAX_ND..c * MAX_ND + nd].iter().enumerate() {
            if s > grid.mu_psi {
                out[k * wpl + word] |= 1 << bit;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{rows_of, Cylinder, Grid, Neighbour, SPATIAL_STEPS_PER_PX2};

    /// Mask bits of `lanes` cells from `start` (valid cells set).
    #[inline(always)]
    fn valid_bits(valid: &[bool], start: usize, lanes: usize) -> u64 {
        valid[start..start + lanes]
            .iter()
            .enumerate()
            .fold(0u64, |m, (l, &v)| m | u64::from(v) << l)
    }

    /// Sixteen cells per vector. Requires `ns² % 16 == 0`, `ns² ≤ 256`, `nd ≤ 8`,
    /// `sums.len() == nd · ns²`, a non-empty spatial table and `out` of `(nd + 1) · wpl`
    /// words.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fill_avx512(
        grid: &Grid<'_>,
        cyl: &Cylinder<'_>,
        neighbours: &[Neighbour<'_>],
        sums: &mut [f32],
        out: &mut [u64],
    ) {
        let cells = grid.ns * grid.ns;
        let chunks = cells / 16;
        let nd = grid.nd;
        assert!(sums.len() == nd * cells && cyl.xs.len() >= cells && cyl.ys.len() >= cells);
        let last = i32::try_from(grid.spatial.len() - 1).unwrap_or(i32::MAX);
        let reach2 = _mm512_set1_ps(grid.reach2);
        let steps = _mm512_set1_ps(SPATIAL_STEPS_PER_PX2);
        let last = _mm512_set1_epi32(last);
        let zero_i = _mm512_setzero_si512();
        let zero = _mm512_setzero_ps();
        let table = grid.spatial.as_ptr();
        for nb in neighbours {
            let rows = rows_of(grid, cyl, nb);
            if rows.is_empty() {
                continue;
            }
            // Chunks holding any cell of the rows within reach.
            let first = rows.start * grid.ns / 16;
            let end = (rows.end * grid.ns).div_ceil(16).min(chunks);
            let (nx, ny) = (_mm512_set1_ps(nb.x), _mm512_set1_ps(nb.y));
            for q in first..end {
                // SAFETY: `16q + 16 ≤ cells ≤ xs.len(), ys.len()` (asserted above).
                let (px, py) = unsafe {
                    (
                        _mm512_loadu_ps(cyl.xs.as_ptr().add(16 * q)),
                        _mm512_loadu_ps(cyl.ys.as_ptr().add(16 * q)),
                    )
                };
                let dx = _mm512_sub_ps(nx, px);
                let dy = _mm512_sub_ps(ny, py);
                let d2 = _mm512_add_ps(_mm512_mul_ps(dx, dx), _mm512_mul_ps(dy, dy));
                let near = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(d2, reach2);
                if near == 0 {
                    continue;
                }
                let step = _mm512_cvttps_epi32(_mm512_mul_ps(d2, steps));
                let step = _mm512_min_epi32(_mm512_max_epi32(step, zero_i), last);
                // SAFETY: every index is clamped to `[0, spatial.len() − 1]`.
                let gs = unsafe { _mm512_mask_i32gather_ps::<4>(zero, near, step, table) };
                for (k, &g) in nb.gd.iter().enumerate().take(nd) {
                    let at = k * cells + 16 * q;
                    // SAFETY: `at + 16 ≤ nd · cells = sums.len()`.
                    unsafe {
                        let p = sums.as_mut_ptr().add(at);
                        let s = _mm512_loadu_ps(p);
                        let s = _mm512_add_ps(s, _mm512_mul_ps(gs, _mm512_set1_ps(g)));
                        _mm512_storeu_ps(p, s);
                    }
                }
            }
        }
        let mu = _mm512_set1_ps(grid.mu_psi);
        for q in 0..chunks {
            let valid = valid_bits(cyl.valid, 16 * q, 16);
            if valid == 0 {
                continue;
            }
            let (word, shift) = (16 * q / 64, 16 * q % 64);
            out[nd * grid.wpl + word] |= valid << shift;
            for k in 0..nd {
                // SAFETY: `k · cells + 16q + 16 ≤ sums.len()`.
                let s = unsafe { _mm512_loadu_ps(sums.as_ptr().add(k * cells + 16 * q)) };
                let above = u64::from(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(s, mu));
                out[k * grid.wpl + word] |= (above & valid) << shift;
            }
        }
    }

    /// Eight cells per vector. Requires `ns² % 8 == 0`, `ns² ≤ 256`, `nd ≤ 8`,
    /// `sums.len() == nd · ns²`, a non-empty spatial table and `out` of `(nd + 1) · wpl`
    /// words.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn fill_avx2(
        grid: &Grid<'_>,
        cyl: &Cylinder<'_>,
        neighbours: &[Neighbour<'_>],
        sums: &mut [f32],
        out: &mut [u64],
    ) {
        let cells = grid.ns * grid.ns;
        let chunks = cells / 8;
        let nd = grid.nd;
        assert!(sums.len() == nd * cells && cyl.xs.len() >= cells && cyl.ys.len() >= cells);
        let last = i32::try_from(grid.spatial.len() - 1).unwrap_or(i32::MAX);
        let reach2 = _mm256_set1_ps(grid.reach2);
        let steps = _mm256_set1_ps(SPATIAL_STEPS_PER_PX2);
        let last = _mm256_set1_epi32(last);
        let zero_i = _mm256_setzero_si256();
        let zero = _mm256_setzero_ps();
        let table = grid.spatial.as_ptr();
        for nb in neighbours {
            let rows = rows_of(grid, cyl, nb);
            if rows.is_empty() {
                continue;
            }
            let first = rows.start * grid.ns / 8;
            let end = (rows.end * grid.ns).div_ceil(8).min(chunks);
            let (nx, ny) = (_mm256_set1_ps(nb.x), _mm256_set1_ps(nb.y));
            for q in first..end {
                // SAFETY: `8q + 8 ≤ cells ≤ xs.len(), ys.len()` (asserted above).
                let (px, py) = unsafe {
                    (
                        _mm256_loadu_ps(cyl.xs.as_ptr().add(8 * q)),
                        _mm256_loadu_ps(cyl.ys.as_ptr().add(8 * q)),
                    )
                };
                let dx = _mm256_sub_ps(nx, px);
                let dy = _mm256_sub_ps(ny, py);
                let d2 = _mm256_add_ps(_mm256_mul_ps(dx, dx), _mm256_mul_ps(dy, dy));
                let near = _mm256_cmp_ps::<_CMP_LE_OQ>(d2, reach2);
                if _mm256_movemask_ps(near) == 0 {
                    continue;
                }
                let step = _mm256_cvttps_epi32(_mm256_mul_ps(d2, steps));
                let step = _mm256_min_epi32(_mm256_max_epi32(step, zero_i), last);
                // SAFETY: every index is clamped to `[0, spatial.len() − 1]`.
                let gs = unsafe { _mm256_mask_i32gather_ps::<4>(zero, table, step, near) };
                for (k, &g) in nb.gd.iter().enumerate().take(nd) {
                    let at = k * cells + 8 * q;
                    // SAFETY: `at + 8 ≤ nd · cells = sums.len()`.
                    unsafe {
                        let p = sums.as_mut_ptr().add(at);
                        let s = _mm256_loadu_ps(p);
                        let s = _mm256_add_ps(s, _mm256_mul_ps(gs, _mm256_set1_ps(g)));
                        _mm256_storeu_ps(p, s);
                    }
                }
            }
        }
        let mu = _mm256_set1_ps(grid.mu_psi);
        for q in 0..chunks {
            let valid = valid_bits(cyl.valid, 8 * q, 8);
            if valid == 0 {
                continue;
            }
            let (word, shift) = (8 * q / 64, 8 * q % 64);
            out[nd * grid.wpl + word] |= valid << shift;
            for k in 0..nd {
                // SAFETY: `k · cells + 8q + 8 ≤ sums.len()`.
                let s = unsafe { _mm256_loadu_ps(sums.as_ptr().add(k * cells + 8 * q)) };
                let above = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(s, mu));
                let above = u64::from(above as u8);
                out[k * grid.wpl + word] |= (above & valid) << shift;
            }
        }
    }
}
