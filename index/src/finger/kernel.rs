//! The comparison's hot path, compiled twice: with AVX2, FMA and POPCNT where the CPU has
//! them (chosen once at run time), and portable. Both run the same source and give identical
//! results, since no floating-point contraction is requested explicitly.
//!
//! This is the only module of the fingerprint matcher with `unsafe`.

use std::sync::OnceLock;

use super::consolidate::{self, Scratch, Tables};
use super::params::MccParams;
use super::similarity::cylinder_similarity;
use super::PreparedTemplate;

/// Constants of a comparison derived from the parameters.
#[derive(Debug, Clone, Copy)]
pub struct SweepLimits {
    /// Fewest jointly valid cells for a pair to count.
    pub min_cells: u32,
    /// Largest direction difference, 1/256 turns.
    pub max_turn: u8,
}

/// Which instruction set the comparison runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// AVX2 + FMA + POPCNT.
    Avx2,
    /// Baseline instructions only.
    Portable,
}

/// The kernel chosen for this CPU (detected once).
pub fn detected() -> Kernel {
    static KERNEL: OnceLock<Kernel> = OnceLock::new();
    *KERNEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("popcnt")
            {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    })
}

/// Scores two prepared templates with the given kernel (falls back to portable if the CPU
/// lacks the requested one).
pub fn compare(
    kernel: Kernel,
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    limits: SweepLimits,
    tables: &Tables,
    params: &MccParams,
    scratch: &mut Scratch,
) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if kernel == Kernel::Avx2 && detected() == Kernel::Avx2 {
            // SAFETY: `detected()` returned Avx2 only after confirming AVX2 and POPCNT at run
            // time; the function has no other requirement.
            return unsafe { compare_avx2(a, b, limits, tables, params, scratch) };
        }
    }
    let _ = kernel;
    compare_body(a, b, limits, tables, params, scratch)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn compare_avx2(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    limits: SweepLimits,
    tables: &Tables,
    params: &MccParams,
    scratch: &mut Scratch,
) -> f32 {
    compare_body(a, b, limits, tables, params, scratch)
}

#[inline(always)]
fn compare_body(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    limits: SweepLimits,
    tables: &Tables,
    params: &MccParams,
    scratch: &mut Scratch,
) -> f32 {
    scratch.candidates.clear();
    if a.stride != b.stride || a.stride == 0 {
        return 0.0;
    }
    match (params.nd, params.words_per_layer()) {
        (6, 1) => sweep::<6, 1>(a, b, limits, &mut scratch.candidates),
        (6, 4) => sweep::<6, 4>(a, b, limits, &mut scratch.candidates),
        (nd, wpl) => sweep_generic(a, b, nd, wpl, limits, &mut scratch.candidates),
    }
    consolidate::consolidate(&a.points, &b.points, tables, params, scratch)
}

/// The runs of `dirs` (sorted ascending) within `turn` of `d`, as up to two index ranges.
#[inline(always)]
fn window(dirs: &[u8], d: u8, turn: u8) -> [std::ops::Range<usize>; 2] {
    let lo = d.wrapping_sub(turn);
    let hi = d.wrapping_add(turn);
    let first_at_least = |v: u8| dirs.partition_point(|&x| x < v);
    let first_above = |v: u8| dirs.partition_point(|&x| x <= v);
    if u16::from(turn) * 2 >= 255 {
        [0..dirs.len(), 0..0]
    } else if lo <= hi {
        [first_at_least(lo)..first_above(hi), 0..0]
    } else {
        // The window wraps past 255: [lo, 255] and [0, hi].
        [first_at_least(lo)..dirs.len(), 0..first_above(hi)]
    }
}

#[inline(always)]
fn sweep<const ND: usize, const WPL: usize>(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    limits: SweepLimits,
    out: &mut Vec<u64>,
) {
    let stride = (ND + 1) * WPL;
    if a.stride != stride {
        return;
    }
    for (ia, (ca, &da)) in a.bits.chunks_exact(stride).zip(&a.directions).enumerate() {
        for range in window(&b.directions, da, limits.max_turn) {
            let start = range.start;
            let Some(cbs) = b.bits.get(range.start * stride..range.end * stride) else {
                continue;
            };
            for (j, cb) in cbs.chunks_exact(stride).enumerate() {
                let sim = super::similarity::fixed::<ND, WPL>(ca, cb, limits.min_cells);
                if sim > 0.0 {
                    out.push(consolidate::pack(sim, ia, start + j));
                }
            }
        }
    }
}

#[inline(always)]
fn sweep_generic(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    nd: usize,
    wpl: usize,
    limits: SweepLimits,
    out: &mut Vec<u64>,
) {
    for (ia, (ca, &da)) in a.bits.chunks_exact(a.stride).zip(&a.directions).enumerate() {
        for (ib, (cb, &db)) in b.bits.chunks_exact(b.stride).zip(&b.directions).enumerate() {
            if (da.wrapping_sub(db) as i8).unsigned_abs() > limits.max_turn {
                continue;
            }
            let sim = cylinder_similarity(ca, cb, nd, wpl, limits.min_cells);
            if sim > 0.0 {
                out.push(consolidate::pack(sim, ia, ib));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::window;

    #[test]
    fn window_finds_circular_runs() {
        let dirs = [0u8, 10, 60, 128, 200, 250, 255];
        let members = |d: u8, t: u8| -> Vec<u8> {
            window(&dirs, d, t)
                .into_iter()
                .flat_map(|r| dirs[r].to_vec())
                .collect()
        };
        assert_eq!(members(5, 10), vec![255, 0, 10]);
        assert_eq!(members(128, 10), vec![128]);
        assert_eq!(members(250, 10), vec![250, 255, 0]);
        assert_eq!(members(100, 128).len(), dirs.len());
        // Every member is within the turn, and every direction within the turn is a member.
        for d in 0..=255u8 {
            let got = members(d, 64);
            let want: Vec<u8> = dirs
                .iter()
                .copied()
                .filter(|&x| (d.wrapping_sub(x) as i8).unsigned_abs() <= 64)
                .collect();
            let mut g = got.clone();
            g.sort_unstable();
            let mut w = want.clone();
            w.sort_unstable();
            assert_eq!(g, w, "direction {d}");
        }
    }
}
