//! Shared pieces of the x86-64 kernels: the scalar kernel compiled with `popcnt`, and the
//! cascade skeleton the AVX2 and AVX-512 kernels fill with their vector steps.

use super::{counts_scalar, BitCounts, CascadeTables, GateShape, GateWork};

/// The scalar kernel compiled with the `popcnt` instruction.
#[target_feature(enable = "popcnt")]
pub(super) fn row_counts_popcnt(p: &[u64], g: &[u64], w: usize) -> BitCounts {
    counts_scalar(p, g, w)
}

/// Keeps the rotations of `mask` whose packed counts pass `table`.
#[inline(always)]
pub(super) fn filter(mask: u64, packed: &[u64; super::MAX_GATE_ROTATIONS], table: &[u32]) -> u64 {
    let mut m = mask;
    let mut kept = 0u64;
    while m != 0 {
        let r = m.trailing_zeros() as usize;
        m &= m - 1;
        let v = packed.get(r).copied().unwrap_or_default();
        let c = BitCounts {
            disagree: v as u32,
            valid: (v >> 32) as u32,
        };
        kept |= u64::from(super::passes(table, c)) << r;
    }
    kept
}

/// Calls `$f::<P>(args)` with `P` the first-test row count `$rows` (1 to 8; larger
/// counts take 8).
macro_rules! by_rows {
    ($f:ident, $rows:expr, $($arg:expr),*) => {
        match $rows {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            7 => $f::<7>($($arg),*),
            _ => $f::<8>($($arg),*),
        }
    };
}

/// The vector steps of a w4 cascade kernel (see [`cascade`]); every count is packed as
/// `valid << 32 | disagree`.
pub(super) struct CascadeSteps<L, F4, F1, E4, E1> {
    /// Loads what the first test needs of a record (its first `P` rows).
    pub(super) load: L,
    /// Counts of the first `P` rows for four shifted probes.
    pub(super) first4: F4,
    /// The same for one shifted probe.
    pub(super) first1: F1,
    /// Counts of rows `from .. to` for four shifted probes against a record.
    pub(super) extend4: E4,
    /// The same for one shifted probe.
    pub(super) extend1: E1,
}

/// The cascade of [`super::Kernel::cascade_rotations`] for rows of 4 + 4 words, with the
/// counting done by `steps`. Inlined into each kernel's `#[target_feature]` function, so the
/// steps (closures defined there) compile with that kernel's instructions.
///
/// # Safety
/// `shape.rows` must equal `P` and be at least 1 and at most `shape.total_rows`, which is
/// at most 8; `shape.rotations` at most 64; every probe window
/// `r × probe_stride .. + total_rows × 8` (`r < rotations`) inside the buffer at
/// `probe`, and every record window `i × record_stride .. + total_rows × 8`
/// (`i < out.len()`) inside the buffer at `gallery`. The steps read only inside the
/// windows they are given.
#[inline(always)]
pub(super) unsafe fn cascade<const P: usize, R>(
    probe: *const u64,
    gallery: *const u64,
    shape: GateShape,
    tables: CascadeTables<'_>,
    out: &mut [u64],
    steps: CascadeSteps<
        impl Fn(*const u64) -> R,
        impl Fn([*const u64; 4], &R) -> [u64; 4],
        impl Fn(*const u64, &R) -> u64,
        impl Fn([*const u64; 4], *const u64, usize, usize) -> [u64; 4],
        impl Fn(*const u64, *const u64, usize, usize) -> u64,
    >,
) -> GateWork {
    let rotations = shape.rotations.min(super::MAX_GATE_ROTATIONS);
    let total = shape.total_rows;
    let step = tables.step_rows.max(1);
    let stride = shape.probe_stride;
    let first = tables.at(P, total, 0);
    let mut packed = [0u64; super::MAX_GATE_ROTATIONS];
    let mut work = GateWork::default();
    let at = |r: usize| {
        // SAFETY: probe window r < rotations starts at r × stride, inside the buffer.
        unsafe { probe.add(r * stride) }
    };
    for (i, mask) in out.iter_mut().enumerate() {
        // SAFETY: record window i < out.len() starts at i × record_stride, inside the
        // buffer.
        let g = unsafe { gallery.add(i * shape.record_stride) };
        let rows = (steps.load)(g);
        let mut r = 0;
        while r + 4 <= rotations {
            let v = (steps.first4)([at(r), at(r + 1), at(r + 2), at(r + 3)], &rows);
            packed[r..r + 4].copy_from_slice(&v);
            r += 4;
        }
        while r < rotations {
            packed[r] = (steps.first1)(at(r), &rows);
            r += 1;
        }
        let all = if rotations == 64 {
            u64::MAX
        } else {
            (1u64 << rotations) - 1
        };
        let mut m = filter(all, &packed, first);
        work.row_comparisons += (rotations * P) as u64;
        work.first_survivors += u64::from(m != 0);
        let mut done = P;
        let mut test = 0;
        while done < total && m != 0 {
            let next = (done + step).min(total);
            test += 1;
            work.row_comparisons += u64::from(m.count_ones()) * (next - done) as u64;
            // Extend the kept rotations four at a time, then one by one.
            let mut rest = m;
            while rest.count_ones() >= 4 {
                let mut four = [0usize; 4];
                for a in four.iter_mut() {
                    *a = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                }
                let add = (steps.extend4)(four.map(at), g, done, next);
                for (a, x) in four.iter().zip(add) {
                    if let Some(p) = packed.get_mut(*a) {
                        *p += x;
                    }
                }
            }
            while rest != 0 {
                let a = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                let x = (steps.extend1)(at(a), g, done, next);
                if let Some(p) = packed.get_mut(a) {
                    *p += x;
                }
            }
            m = filter(m, &packed, tables.at(next, total, test));
            done = next;
        }
        *mask = if done >= total { m } else { 0 };
    }
    work
}
