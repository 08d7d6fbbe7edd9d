//! Variants that weigh what is common among fingers: `stop` leaves the most frequent
//! `(hash function, word)` items out of the bag, `tnorm` normalises each gallery finger's
//! `v2` similarity by its scores against a cohort of synthetic fingers (the gallery's
//! `tunggal_index::gallery::cohort`).

use std::collections::HashMap;

use rayon::prelude::*;
use tunggal_index::gallery::descriptor::similarity;

use super::{bloom_sim, splitmix, Finger, Hashes, Scorer, STRIDE};

/// `stop:H:B:M:N:F[:R]`: H hashes of B bits (at least M set) into an N-bit bag, leaving out
/// the items held by more than a share F of the synthetic fingers (of the real ones with
/// R > 0); scored like `v2`.
pub(super) fn stop_scorer<'a>(fingers: &'a [Finger], n_real: usize, nums: &[f64]) -> Scorer<'a> {
    let h = Hashes::new(nums[0] as usize, nums[1] as usize, nums[2] as u32, 0x7475);
    let nbits = nums[3] as usize;
    let limit = nums[4];
    let learn_real = nums.get(5).is_some_and(|&x| x > 0.0);
    let keys = |f: &Finger| {
        let mut out = Vec::new();
        for cyl in f.bits.chunks_exact(STRIDE) {
            for l in 0..h.groups.len() {
                if let Some(v) = h.word(cyl, l) {
                    out.push((l as u64) << 32 | u64::from(v));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    };
    let all: Vec<Vec<u64>> = fingers.par_iter().map(keys).collect();
    let mut df: HashMap<u64, u32> = HashMap::new();
    let learn: Vec<usize> = if learn_real {
        (0..n_real).collect()
    } else {
        (n_real..fingers.len()).collect()
    };
    for &i in &learn {
        for &k in &all[i] {
            *df.entry(k).or_default() += 1;
        }
    }
    let cut = (limit * learn.len() as f64) as u32;
    let stops = df.values().filter(|&&c| c > cut).count();
    let bags: Vec<(Vec<u64>, u32)> = all
        .iter()
        .map(|ks| {
            let mut out = vec![0u64; nbits / 64];
            for &k in ks {
                if df.get(&k).copied().unwrap_or(0) > cut {
                    continue;
                }
                let (l, v) = (k >> 32, k & 0xffff_ffff);
                let mut s = v ^ l << 40 ^ 0x5eed;
                let pos = (splitmix(&mut s) % nbits as u64) as usize;
                out[pos / 64] |= 1 << (pos % 64);
            }
            let n = out.iter().map(|w| w.count_ones()).sum();
            (out, n)
        })
        .collect();
    let mean = bags[n_real..].iter().map(|b| b.1 as f64).sum::<f64>()
        / (bags.len() - n_real).max(1) as f64;
    println!(
        "  stop items {stops} of {}; mean set bits {mean:.0}",
        df.len()
    );
    Box::new(move |p| {
        bags.iter()
            .map(|b| bloom_sim(&bags[p], b, nbits, false))
            .collect()
    })
}

/// `tnorm:C[:M]`: `v2` similarity of the probe to a finger, minus (M = 1), divided by (M = 2)
/// or minus and divided by (M = 0) that finger's mean and deviation against C synthetic
/// fingers spread over the background.
pub(super) fn tnorm_scorer<'a>(fingers: &'a [Finger], n_real: usize, nums: &[f64]) -> Scorer<'a> {
    let cohort: Vec<usize> = (n_real..fingers.len())
        .step_by(((fingers.len() - n_real) / nums[0] as usize).max(1))
        .collect();
    let mode = nums.get(1).copied().unwrap_or(0.0) as u32;
    let stats: Vec<(f32, f32)> = fingers
        .par_iter()
        .enumerate()
        .map(|(i, b)| {
            let v: Vec<f32> = cohort
                .iter()
                .filter(|&&c| c != i && fingers[c].owner != b.owner)
                .map(|&c| similarity(&fingers[c].v2.0, fingers[c].v2.1, &b.v2.0, b.v2.1))
                .collect();
            let m = v.iter().sum::<f32>() / v.len().max(1) as f32;
            let sd =
                (v.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / v.len().max(1) as f32).sqrt();
            (m, sd.max(0.3))
        })
        .collect();
    Box::new(move |p| {
        let a = &fingers[p].v2;
        fingers
            .iter()
            .zip(&stats)
            .map(|(b, &(m, sd))| {
                let s = similarity(&a.0, a.1, &b.v2.0, b.v2.1);
                match mode {
                    1 => s - m,
                    2 => s / sd,
                    _ => (s - m) / sd,
                }
            })
            .collect()
    })
}
