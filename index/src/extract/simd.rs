//! Instruction-set variants of the Gabor filter's inner loop. This is the only module of the
//! extractor with `unsafe`: calling a function compiled for AVX2 and FMA, after checking at
//! run time that the processor has them.

use super::enhance::{filter_rows_generic, Job};

/// Runs the filter loop with the widest instruction set the processor supports.
pub(crate) fn filter_rows(job: &Job<'_>, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor supports AVX2 and FMA (checked just above), the only
            // requirement of a `target_feature` function; the function itself is safe code.
            unsafe { filter_rows_avx2(job, out) };
            return;
        }
    }
    filter_rows_generic(job, out);
}

/// The generic loop compiled with AVX2 and FMA enabled (eight-lane dot products).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn filter_rows_avx2(job: &Job<'_>, out: &mut [f32]) {
    filter_rows_generic(job, out);
}
