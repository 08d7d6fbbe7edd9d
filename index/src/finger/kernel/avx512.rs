//! The AVX-512 kernels.

use super::*;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,avx512f,avx512vl,avx512vpopcntdq")]
pub(super) unsafe fn compare_avx512(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    limits: SweepLimits,
    tables: &Tables,
    params: &MccParams,
    scratch: &mut Scratch,
) -> f32 {
    compare_body(a, b, limits, tables, params, scratch, true, true)
}

/// The AVX-512 sweep: every comparable pair of cylinders with one word per layer, straight
/// to candidate keys in `scratch.candidates` (any order), leaving out pairs of similarity 0.
///
/// For each cylinder of `a`, the cylinders of `b` within the direction window are taken a
/// block of eight at a time (lanes outside the window masked off). The counts, the
/// similarity and the key are those of [`pair_counts`], [`similarity`] and
/// [`candidate_key`], computed with the same correctly rounded operations. The keys of
/// similarity 0 that the other sweeps keep sort below every other key and end the selection
/// where they are met, so leaving them out changes no score.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,avx512f,avx512vl,avx512vpopcntdq")]
pub(super) fn sweep_wide(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    limits: SweepLimits,
    scratch: &mut Scratch,
) {
    use std::arch::x86_64::*;
    let Scratch {
        wide, candidates, ..
    } = scratch;
    let first = if a.layout.fits(a) {
        &a.layout
    } else {
        wide.first.fill(a);
        &wide.first
    };
    let second = if b.layout.fits(b) {
        &b.layout
    } else {
        wide.second.fill(b);
        &wide.second
    };
    let Ok(starts) = <&Starts>::try_from(second.starts.as_slice()) else {
        candidates.clear();
        return;
    };
    let na = a.directions.len().min(first.blocks.len() * 8);
    let nb = usize::from(starts[256]).min(second.blocks.len() * 8);
    let keys = candidates;
    keys.clear();
    // Every block stores eight keys (those kept first), so the buffer has room for every
    // pair plus one block.
    let cap = na * nb + 8;
    keys.reserve(cap);
    let out = keys.spare_capacity_mut();
    let out_len = out.len();
    let out = out.as_mut_ptr().cast::<u64>();
    let mut n = 0usize;
    let min_cells = _mm512_set1_epi64(i64::from(limits.min_cells));
    let one = _mm256_set1_ps(1.0);
    let zero = _mm256_setzero_ps();
    let iota = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    let turn = limits.max_turn;
    let load = |w: &[u64; 8]| {
        // SAFETY: `w` is 8 words (64 bytes), the extent of the unaligned load.
        unsafe { _mm512_loadu_si512(w.as_ptr().cast()) }
    };
    for (ia, &da) in a.directions.iter().enumerate().take(na) {
        let Some(own) = first.blocks.get(ia / 8) else {
            break;
        };
        let bcast = |w: &[u64; 8]| _mm512_set1_epi64(w[ia % 8] as i64);
        let [w0, w1, w2, w3, w4, w5, wm, wp0, wp1, wp2] = &own.words;
        let va = [w0, w1, w2, w3, w4, w5].map(bcast);
        let pa = [wp0, wp1, wp2].map(bcast);
        let ma = bcast(wm);
        let tag = _mm512_set1_epi64((0xffff_ffff ^ ((ia as u64) << 16)) as i64);
        for r in window(starts, da, turn) {
            let (start, end) = (r.start, r.end.min(nb));
            let mut q = start / 8;
            while q * 8 < end {
                let base = q * 8;
                let Some(block) = second.blocks.get(q) else {
                    break;
                };
                q += 1;
                // Lanes of the block inside [start, end).
                let below = (1u32 << start.saturating_sub(base).min(8)) - 1;
                let upto = (1u32 << (end - base).min(8)) - 1;
                let lanes = (upto & !below) as __mmask8;
                let w = &block.words;
                let m = _mm512_and_si512(ma, load(&w[ND]));
                let cells = _mm512_popcnt_epi64(m);
                let comparable = _mm512_mask_cmpge_epu64_mask(lanes, cells, min_cells);
                let count = |x: __m512i| _mm512_popcnt_epi64(_mm512_and_si512(x, m));
                let weighted = |p0: __m512i, p1: __m512i, p2: __m512i| {
                    _mm512_add_epi64(
                        _mm512_add_epi64(count(p0), _mm512_slli_epi64::<1>(count(p1))),
                        _mm512_slli_epi64::<2>(count(p2)),
                    )
                };
                let na = weighted(pa[0], pa[1], pa[2]);
                let nb_ = weighted(load(&w[ND + 1]), load(&w[ND + 2]), load(&w[ND + 3]));
                let mut nx = _mm512_setzero_si512();
                for (k, v) in va.iter().enumerate() {
                    nx = _mm512_add_epi64(nx, count(_mm512_xor_si512(*v, load(&w[k]))));
                }
                let to_f32 = |x: __m512i| _mm256_cvtepi32_ps(_mm512_cvtepi64_epi32(x));
                let denom = _mm256_add_ps(to_f32(na), to_f32(nb_));
                let sim = _mm256_sub_ps(one, _mm256_div_ps(to_f32(nx), denom));
                let keep = comparable
                    & _mm256_cmp_ps_mask::<_CMP_NEQ_OQ>(denom, zero)
                    & _mm256_cmp_ps_mask::<_CMP_GT_OQ>(sim, zero);
                let hi = _mm512_slli_epi64::<32>(_mm512_cvtepu32_epi64(_mm256_castps_si256(sim)));
                let ids = _mm512_add_epi64(iota, _mm512_set1_epi64(base as i64));
                let lo = _mm512_xor_si512(tag, ids);
                let key = _mm512_maskz_compress_epi64(keep, _mm512_or_si512(hi, lo));
                if n + 8 > out_len {
                    break;
                }
                // SAFETY: `n + 8 <= out_len`, so the 8-word store stays inside the spare
                // capacity of `keys`.
                unsafe { _mm512_storeu_si512(out.add(n).cast(), key) };
                n += keep.count_ones() as usize;
            }
        }
    }
    // SAFETY: the first `n` words of the spare capacity were written above (each store
    // wrote 8 words at `n`, of which the kept ones precede the next store), and `n + 8` is
    // within the capacity reserved.
    unsafe { keys.set_len(n) };
}

/// [`copy_band`] eight keys at a time; returns how many keys it read (a multiple of 8) and
/// how many it copied.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) fn copy_band_avx512(keys: &[u64], lo: u64, hi: u64, band: &mut [u64]) -> (usize, usize) {
    use std::arch::x86_64::*;
    let mut end = 0;
    let mut done = 0;
    let (vlo, vhi) = (_mm512_set1_epi64(lo as i64), _mm512_set1_epi64(hi as i64));
    for c in keys.chunks_exact(8) {
        let (Ok(c), Some(slot)) = (<&[u64; 8]>::try_from(c), band.get_mut(end..end + 8)) else {
            break;
        };
        // SAFETY: `c` and `slot` are 8 words (64 bytes) each, the extent of the unaligned
        // load and store.
        unsafe {
            let v = _mm512_loadu_si512(c.as_ptr().cast());
            let inside = _mm512_cmpge_epu64_mask(v, vlo) & _mm512_cmplt_epu64_mask(v, vhi);
            let kept = _mm512_maskz_compress_epi64(inside, v);
            _mm512_storeu_si512(slot.as_mut_ptr().cast(), kept);
            end += inside.count_ones() as usize;
        }
        done += 8;
    }
    (done, end)
}

/// [`take_band`] with the band in blocks of eight keys: each round finds the largest key
/// left, and clears the keys that share a cylinder with it (none of them can be taken
/// later), so that the keys are not sorted. Returns false, doing nothing, when `band` is too
/// short.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) fn take_band_avx512(
    band: &mut [u64],
    len: usize,
    (na, nb): (usize, usize),
    (used_a, used_b): (&mut [bool], &mut [bool]),
    pairs: &mut Vec<(u16, u16, f32)>,
    limit: usize,
) -> bool {
    use std::arch::x86_64::*;
    let Some(band) = band.get_mut(..len.div_ceil(8) * 8) else {
        return false;
    };
    if let Some(pad) = band.get_mut(len..) {
        pad.fill(0);
    }
    let a_field = _mm512_set1_epi64(0xffff_0000);
    let b_field = _mm512_set1_epi64(0xffff);
    // Fields of the key taken last round (none at first: no field is all ones).
    let (mut last_a, mut last_b) = (_mm512_set1_epi64(-1), _mm512_set1_epi64(-1));
    while pairs.len() < limit {
        let mut top = _mm512_setzero_si512();
        for c in band.chunks_exact_mut(8) {
            // SAFETY: `c` is 8 words (64 bytes), the extent of the unaligned load and store.
            unsafe {
                let v = _mm512_loadu_si512(c.as_ptr().cast());
                let shares = _mm512_cmpeq_epi64_mask(_mm512_and_si512(v, a_field), last_a)
                    | _mm512_cmpeq_epi64_mask(_mm512_and_si512(v, b_field), last_b);
                let v = _mm512_maskz_mov_epi64(!shares, v);
                _mm512_storeu_si512(c.as_mut_ptr().cast(), v);
                top = _mm512_max_epu64(top, v);
            }
        }
        let key = _mm512_reduce_max_epu64(top);
        if key == 0 {
            break;
        }
        let (a, b, sim) = super::consolidate::unpack(key);
        // A cylinder out of range counts as used, as the sorted walk skips its pairs.
        let used_a_now = a >= na || used_a.get(a).copied().unwrap_or(true);
        let used_b_now = b >= nb || used_b.get(b).copied().unwrap_or(true);
        let take = !used_a_now && !used_b_now;
        // Clear next round the keys of a used cylinder: this key's two if it is taken, else
        // whichever of them is used (at least one; the other may still be taken).
        let field = |clear: bool, mask: u64| if clear { (key & mask) as i64 } else { -1 };
        last_a = _mm512_set1_epi64(field(take || used_a_now, 0xffff_0000));
        last_b = _mm512_set1_epi64(field(take || used_b_now, 0xffff));
        if take {
            if let (Some(ua), Some(ub)) = (used_a.get_mut(a), used_b.get_mut(b)) {
                *ua = true;
                *ub = true;
            }
            pairs.push((a as u16, b as u16, sim));
        }
    }
    true
}
