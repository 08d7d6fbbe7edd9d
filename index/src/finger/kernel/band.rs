//! Band selection and row relaxation of the consolidation step, dispatched on the kernel.

use super::*;

/// Copies the keys `k` with `lo <= k < hi` from `keys` to the front of `band` (which holds
/// at least `keys.len() + 8` words), in order, and returns how many there are. `vector` may
/// be set only when AVX2 was detected at run time, `wide` only when AVX-512 F was.
#[inline(always)]
pub(in crate::finger) fn copy_band(
    keys: &[u64],
    lo: u64,
    hi: u64,
    band: &mut [u64],
    vector: bool,
    wide: bool,
) -> usize {
    let mut end = 0;
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    {
        if wide {
            // SAFETY: `wide` is set only by `compare_avx512`, which runs only after AVX-512 F
            // was detected at run time.
            (done, end) = unsafe { copy_band_avx512(keys, lo, hi, band) };
        } else if vector {
            // SAFETY: `vector` is set only by `compare_avx2`, which runs only after AVX2 was
            // detected at run time.
            (done, end) = unsafe { copy_band_avx2(keys, lo, hi, band) };
        }
    }
    let _ = (vector, wide);
    for &k in keys.iter().skip(done) {
        if let Some(slot) = band.get_mut(end) {
            *slot = k;
        }
        end += usize::from(k >= lo && k < hi);
    }
    end
}

/// Takes pairs greedily from the first `len` keys of `band` (unsorted, distinct), largest
/// key first, skipping pairs whose cylinders are used and marking those of the pairs taken,
/// until `pairs` holds `limit` pairs or the band is spent, as sorting the band and walking
/// it would. Returns false, doing nothing, unless `wide` (which may be set only when
/// AVX-512 F was detected at run time); `band` must hold `len + 8` words.
#[inline(always)]
pub(in crate::finger) fn take_band(
    band: &mut [u64],
    len: usize,
    sizes: (usize, usize),
    used: (&mut [bool], &mut [bool]),
    pairs: &mut Vec<(u16, u16, f32)>,
    limit: usize,
    wide: bool,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if wide {
            // SAFETY: `wide` is set only by `compare_avx512`, which runs only after AVX-512 F
            // was detected at run time.
            return unsafe { take_band_avx512(band, len, sizes, used, pairs, limit) };
        }
    }
    let _ = (band, len, sizes, used, pairs, limit, wide);
    false
}

/// The three compatibility sigmoids sampled (see `consolidate::SigmoidTable`): the scale
/// from a difference to a sample's index, and the samples; distance, direction, radial.
#[derive(Debug, Clone, Copy)]
pub(in crate::finger) struct RowTables<'a> {
    pub scales: [f32; 3],
    pub values: [&'a [f32; 256]; 3],
}

/// The entries right of the diagonal of the relaxation's compatibility matrix (see
/// `consolidate::relax`) for `nr` pairs, rows of `width` entries (a multiple of 8) in
/// `rho`: `cols` holds each pair's `(ax, ay, bx, by, rotation)`, `width` values each. Row `t`
/// is computed from the start of the 8-lane block holding the diagonal; the entries left
/// of the diagonal are left alone. Returns false, doing nothing, unless `vector` (which may
/// be set only when AVX2 was detected at run time).
#[inline(always)]
pub(in crate::finger) fn relax_rows(
    nr: usize,
    width: usize,
    cols: [&[f32]; 5],
    tables: RowTables<'_>,
    rho: &mut [f32],
    vector: bool,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if vector {
            // SAFETY: `vector` is set only by `compare_avx2` and `compare_avx512`, which run
            // only after AVX2 was detected at run time.
            unsafe { relax_rows_avx2(nr, width, cols, tables, rho) };
            return true;
        }
    }
    let _ = (nr, width, cols, tables, rho, vector);
    false
}

/// The candidate key of a pair (0 for no similarity).
#[inline(always)]
pub(super) fn candidate_key(sim: f32, pair: u32) -> u64 {
    if sim > 0.0 {
        (u64::from(sim.to_bits()) << 32) | u64::from(!pair)
    } else {
        0
    }
}
