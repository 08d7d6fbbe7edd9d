//! Relaxation of the selected pairs (LSS-R): the compatibility matrix of their geometry and
//! the iterations that let geometrically consistent pairs support each other.

use std::f32::consts::{PI, TAU};

use super::super::geometry::Point;
use super::super::params::MccParams;
use super::{fast_atan2, Scratch, Tables};

/// Geometry of the selected pairs for relaxation: minutia positions in A and B, and the
/// rotation `θa − θb` of each pair.
#[derive(Debug, Default)]
pub(super) struct PairGeometry {
    ax: Vec<f32>,
    ay: Vec<f32>,
    bx: Vec<f32>,
    by: Vec<f32>,
    rot: Vec<f32>,
    i_distance: Vec<u32>,
    i_direction: Vec<u32>,
    i_radial: Vec<u32>,
}

/// Relaxation: `scratch.lambda` becomes the relaxed similarity of each selected pair.
///
/// The compatibility matrix is computed a whole row at a time over structure-of-arrays
/// copies of the pairs' geometry, in loops without branches that the compiler vectorises.
/// Entry `(t, k)` is a function of the earlier pair of the two and of the displacement
/// between them; negating both displacements changes neither their lengths nor the angle
/// between them, so the matrix is exactly symmetric.
#[inline(always)]
pub(super) fn relax(
    pa: &[Point],
    pb: &[Point],
    tables: &Tables,
    params: &MccParams,
    scratch: &mut Scratch,
    vector: bool,
) {
    let nr = scratch.pairs.len();
    // Rows padded to a multiple of 8 lanes; padding lanes hold zeros.
    let width = nr.div_ceil(8) * 8;
    scratch.lambda.clear();
    scratch.lambda.extend(scratch.pairs.iter().map(|p| p.2));
    scratch.lambda.resize(width.max(1), 0.0);
    scratch.next.clear();
    scratch.next.resize(width.max(1), 0.0);
    if nr < 2 {
        return;
    }
    let g = &mut scratch.geometry;
    for v in [&mut g.ax, &mut g.ay, &mut g.bx, &mut g.by, &mut g.rot] {
        v.clear();
        v.resize(width, 0.0);
    }
    for (i, &(a, b, _)) in scratch.pairs.iter().enumerate() {
        let (p, q) = (pa[usize::from(a)], pb[usize::from(b)]);
        (g.ax[i], g.ay[i], g.bx[i], g.by[i], g.rot[i]) = (p.x, p.y, q.x, q.y, p.theta - q.theta);
    }
    for v in [&mut g.i_distance, &mut g.i_direction, &mut g.i_radial] {
        v.clear();
        v.resize(width, 0);
    }
    scratch.rho.clear();
    scratch.rho.resize(nr * width, 0.0);
    let (ax, ay, bx, by, rot) = (
        &g.ax[..width],
        &g.ay[..width],
        &g.bx[..width],
        &g.by[..width],
        &g.rot[..width],
    );
    // Entry (t, k) equals entry (k, t) bit for bit, so each row computes only the entries
    // right of the diagonal (from the start of the 8-lane block holding the diagonal, so
    // the loop stays vectorised) and mirrors them below it.
    let rho = &mut scratch.rho[..nr * width];
    let row_tables = super::super::kernel::RowTables {
        scales: [
            tables.distance.scale,
            tables.direction.scale,
            tables.radial.scale,
        ],
        values: [
            &tables.distance.values,
            &tables.direction.values,
            &tables.radial.values,
        ],
    };
    let computed =
        super::super::kernel::relax_rows(nr, width, [ax, ay, bx, by, rot], row_tables, rho, vector);
    for t in 0..nr {
        let from = (t + 1) / 8 * 8;
        if !computed {
            let (atx, aty, btx, bty, rot_t) = (ax[t], ay[t], bx[t], by[t], rot[t]);
            let n = width - from;
            let (axs, ays, bxs, bys, rots) = (
                &ax[from..width],
                &ay[from..width],
                &bx[from..width],
                &by[from..width],
                &rot[from..width],
            );
            let (id1, id2, id3) = (
                &mut g.i_distance[..n],
                &mut g.i_direction[..n],
                &mut g.i_radial[..n],
            );
            for j in 0..n {
                let (vax, vay) = (axs[j] - atx, ays[j] - aty);
                let (vbx, vby) = (bxs[j] - btx, bys[j] - bty);
                let d1 = ((vax * vax + vay * vay).sqrt() - (vbx * vbx + vby * vby).sqrt()).abs();
                // The earlier pair of the two (t, for the lanes kept) gives the reference
                // rotation.
                let d2 = angle_diff_select(rot_t, rots[j]).abs();
                // Angle from vb to va; the radial angles differ by the rotation minus it.
                let turn = fast_atan2(vbx * vay - vby * vax, vbx * vax + vby * vay);
                let d3 = angle_diff_select(rot_t, turn).abs();
                id1[j] = tables.distance.index(d1);
                id2[j] = tables.direction.index(d2);
                id3[j] = tables.radial.index(d3);
            }
            for k in t + 1..nr {
                let j = k - from;
                rho[t * width + k] = compatibility(
                    tables.distance.at(id1[j]),
                    tables.direction.at(id2[j]),
                    tables.radial.at(id3[j]),
                );
            }
        }
        for k in t + 1..nr {
            rho[k * width + t] = rho[t * width + k];
        }
    }
    let w = params.relax_weight;
    let norm = (1.0 - w) / (nr - 1) as f32;
    // The matrix is symmetric, so the support of every pair is a sum of rows weighted by
    // the current similarities, accumulated a whole row at a time (row `t` adds in order
    // of `t`); padding lanes stay 0.
    scratch.support.clear();
    scratch.support.resize(width, 0.0);
    for _ in 0..params.relax_iterations {
        let support = &mut scratch.support[..width];
        support.fill(0.0);
        for (row, &l) in scratch.rho.chunks_exact(width).zip(&scratch.lambda) {
            for (s, &r) in support.iter_mut().zip(row) {
                *s += r * l;
            }
        }
        for ((next, &l), &s) in scratch.next[..width]
            .iter_mut()
            .zip(&scratch.lambda)
            .zip(&*support)
        {
            *next = w * l + norm * s;
        }
        std::mem::swap(&mut scratch.lambda, &mut scratch.next);
    }
}

/// Smallest compatibility kept: below it an entry of the matrix is 0.
pub(in crate::finger) const RHO_FLOOR: f64 = 1.0 / (1u128 << 100) as f64;

/// The product `distance · direction · radial` as `f32` arithmetic rounds it, or 0 when that
/// is below [`RHO_FLOOR`].
///
/// Products of sigmoid tails fall far below the smallest normal `f32`, and arithmetic on
/// subnormal numbers is many times slower than on normal ones, in the products here and in
/// the relaxation sums that take them. Here each product of two `f32` is formed exactly in
/// `f64` (48 significant bits) and rounded once to `f32`, which is the correctly rounded
/// `f32` product whenever that is normal; values are clamped to the floor before any
/// conversion, so no subnormal `f32` is ever produced. An entry below the floor adds less
/// than 2⁻¹⁰⁰ to a pair's support, next to its own weighted similarity of at least 2⁻¹⁶.
#[inline(always)]
pub(super) fn compatibility(distance: f32, direction: f32, radial: f32) -> f32 {
    let first = f64::from(distance) * f64::from(direction);
    let first = if first < RHO_FLOOR {
        0.0
    } else {
        first.max(RHO_FLOOR) as f32
    };
    let product = f64::from(first) * f64::from(radial);
    if product < RHO_FLOOR {
        0.0
    } else {
        product.max(RHO_FLOOR) as f32
    }
}

/// [`super::geometry::angle_diff`] written with a select instead of a branch, so that it vectorises (same
/// results: the wrapped value is only taken outside `[-π, π)`).
#[inline(always)]
pub(super) fn angle_diff_select(a: f32, b: f32) -> f32 {
    let d = a - b;
    let wrapped = d - TAU * ((d + PI) / TAU).floor();
    if (-PI..PI).contains(&d) {
        d
    } else {
        wrapped
    }
}
