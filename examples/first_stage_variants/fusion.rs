//! Person-level retention of fused per-finger scores.

use std::collections::HashMap;

use rayon::prelude::*;
use tunggal_index::gallery::MIN_CYLINDERS;

use super::{splitmix, Finger, Scorer};

/// Fusion rules of per-finger scores into a person score.
const RULES: [&str; 4] = ["sum", "sum of positive", "best 3", "best 1"];

fn fused(rule: usize, scores: &mut [f32]) -> f32 {
    scores.sort_by(|a, b| b.total_cmp(a));
    match rule {
        0 => scores.iter().sum(),
        1 => scores.iter().map(|s| s.max(0.0)).sum(),
        2 => scores.iter().take(3).sum(),
        _ => scores.first().copied().unwrap_or(0.0),
    }
}

/// Person-level retention: each real database is a person (finger `101 + s` at slot `s`);
/// every genuine capture pair (impression `j` against each earlier `i`) is searched with `k`
/// of its fingers (five draws of the slots per pair) against the synthetic persons (slot by
/// slot) and the other databases' captures, for each fusion rule.
pub(super) fn fuse(name: &str, fingers: &[Finger], n_real: usize, persons: u64, scorer: &Scorer) {
    let scores: Vec<Vec<f32>> = (0..n_real).into_par_iter().map(scorer).collect();
    // Synthetic person → finger index per slot.
    let mut syn = vec![[usize::MAX; 10]; persons as usize];
    for (i, f) in fingers.iter().enumerate().skip(n_real) {
        syn[f.owner.0 as usize][f.owner.1] = i;
    }
    // Real captures: (db, impression) → finger index per slot.
    let mut real: HashMap<(usize, u32), [usize; 10]> = HashMap::new();
    for (i, f) in fingers.iter().enumerate().take(n_real) {
        if let Some((d, finger, imp)) = f.real {
            if f.len >= MIN_CYLINDERS {
                real.entry((d, imp)).or_insert([usize::MAX; 10])[(finger - 101) as usize % 10] = i;
            }
        }
    }
    for k in [1usize, 2, 3, 4, 10] {
        let mut kept = [[0usize; 2]; RULES.len()];
        let mut trials = 0usize;
        let mut seed = 0x1234_5678u64;
        for (&(d, j), probe) in &real {
            for (&(d2, i), mate) in &real {
                if d2 != d || i >= j {
                    continue;
                }
                for _ in 0..5 {
                    let mut slots: Vec<usize> = (0..10)
                        .filter(|&s| probe[s] != usize::MAX && mate[s] != usize::MAX)
                        .collect();
                    for a in 0..slots.len() {
                        let b = a + (splitmix(&mut seed) % (slots.len() - a) as u64) as usize;
                        slots.swap(a, b);
                    }
                    slots.truncate(k);
                    if slots.is_empty() {
                        continue;
                    }
                    trials += 1;
                    let person_scores = |target: &[usize; 10]| -> Vec<f32> {
                        slots
                            .iter()
                            .filter(|&&s| target[s] != usize::MAX)
                            .map(|&s| scores[probe[s]][target[s]])
                            .collect()
                    };
                    let background: Vec<Vec<f32>> = syn
                        .iter()
                        .map(person_scores)
                        .chain(
                            real.iter()
                                .filter(|((dd, _), _)| *dd != d)
                                .map(|(_, t)| person_scores(t)),
                        )
                        .collect();
                    for (rule, kept) in kept.iter_mut().enumerate() {
                        let m = fused(rule, &mut person_scores(mate));
                        let above = background
                            .iter()
                            .filter(|b| fused(rule, &mut (*b).clone()) > m)
                            .count();
                        let pen = (above + 1) as f64 / background.len() as f64;
                        kept[0] += usize::from(pen <= 0.001);
                        kept[1] += usize::from(pen <= 0.01);
                    }
                }
            }
        }
        let line: Vec<String> = RULES
            .iter()
            .zip(&kept)
            .map(|(r, k)| {
                format!(
                    "{r} {:.1}/{:.1}",
                    100.0 * k[0] as f64 / trials.max(1) as f64,
                    100.0 * k[1] as f64 / trials.max(1) as f64
                )
            })
            .collect();
        println!(
            "{name:28} persons, {k:2} fingers, {trials} searches, retained at 0.1%/1%: {}",
            line.join(" | ")
        );
    }
}
