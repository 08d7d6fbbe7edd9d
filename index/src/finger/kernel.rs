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
    let (nd, wpl) = (params.nd, params.words_per_layer());
    for (ia, (ca, &da)) in a.bits.chunks_exact(a.stride).zip(&a.directions).enumerate() {
        for (ib, (cb, &db)) in b.bits.chunks_exact(b.stride).zip(&b.directions).enumerate() {
            if (da.wrapping_sub(db) as i8).unsigned_abs() > limits.max_turn {
                continue;
            }
            let sim = cylinder_similarity(ca, cb, nd, wpl, limits.min_cells);
            if sim > 0.0 {
                scratch.candidates.push(consolidate::pack(sim, ia, ib));
            }
        }
    }
    consolidate::consolidate(&a.points, &b.points, tables, params, scratch)
}
