//! The portable kernels: scalar `u64::count_ones` code for every shape.

use super::{BitCounts, CascadeTables, GateShape, GateWork, Kernel, MAX_GATE_ROTATIONS};

/// [`Kernel::cascade_rotations`] through [`Kernel::row_counts`], for any shape.
pub(super) fn cascade_generic(
    kernel: Kernel,
    probe: &[u64],
    gallery: &[u64],
    shape: GateShape,
    tables: CascadeTables<'_>,
    out: &mut [u64],
) -> GateWork {
    let w = shape.words_per_row;
    let row_words = 2 * w;
    let total = shape.total_rows;
    let step = tables.step_rows.max(1);
    let mut work = GateWork::default();
    let mut counts = [BitCounts::default(); MAX_GATE_ROTATIONS];
    for (i, mask) in out.iter_mut().enumerate() {
        let base = i * shape.record_stride;
        let rows_of = |from: usize, to: usize| {
            gallery
                .get(base + from * row_words..base + to * row_words)
                .unwrap_or_default()
        };
        let probe_rows = |r: usize, from: usize, to: usize| {
            let b = r * shape.probe_stride;
            probe
                .get(b + from * row_words..b + to * row_words)
                .unwrap_or_default()
        };
        let mut done = shape.rows;
        let mut test = 0;
        let table = tables.at(done, total, test);
        let mut m = 0u64;
        for (r, c) in counts.iter_mut().enumerate().take(shape.rotations) {
            *c = kernel.row_counts(probe_rows(r, 0, done), rows_of(0, done), w);
            m |= u64::from(passes(table, *c)) << r;
        }
        work.row_comparisons += (shape.rotations * done) as u64;
        work.first_survivors += u64::from(m != 0);
        while done < total && m != 0 {
            let next = (done + step).min(total);
            test += 1;
            let table = tables.at(next, total, test);
            let mut kept = 0u64;
            for (r, c) in counts.iter_mut().enumerate().take(shape.rotations) {
                if m >> r & 1 == 1 {
                    *c = c.plus(kernel.row_counts(
                        probe_rows(r, done, next),
                        rows_of(done, next),
                        w,
                    ));
                    kept |= u64::from(passes(table, *c)) << r;
                }
            }
            work.row_comparisons += u64::from(m.count_ones()) * (next - done) as u64;
            m = kept;
            done = next;
        }
        *mask = if done >= total { m } else { 0 };
    }
    work
}

/// `disagree < limit[valid]`, false past the end of `limit`.
#[inline(always)]
pub(super) fn passes(limit: &[u32], c: BitCounts) -> bool {
    limit.get(c.valid as usize).is_some_and(|&l| c.disagree < l)
}

/// Scalar counts with `u64::count_ones`, word by word over whole rows present in both slices.
#[inline(always)]
pub(super) fn counts_scalar(probe: &[u64], gallery: &[u64], w: usize) -> BitCounts {
    let mut disagree = 0u32;
    let mut valid = 0u32;
    if w == 0 {
        return BitCounts::default();
    }
    for (p, g) in probe.chunks_exact(2 * w).zip(gallery.chunks_exact(2 * w)) {
        let (pc, pm) = p.split_at(w);
        let (gc, gm) = g.split_at(w);
        for (((pc, gc), pm), gm) in pc.iter().zip(gc).zip(pm).zip(gm) {
            let m = pm & gm;
            valid += m.count_ones();
            disagree += ((pc ^ gc) & m).count_ones();
        }
    }
    BitCounts { disagree, valid }
}
