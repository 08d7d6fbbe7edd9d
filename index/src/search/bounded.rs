//! Calibration tables that claim no more evidence than their sample supports, and the
//! figures that check a table against pairs it was not learned from.
//!
//! [`LlrTable::learn_bounded`] assumes only that the likelihood ratio is non-decreasing in
//! the score. Then the ratio of a band of bins `[j, i]` (its genuine share over its
//! impostor share) is at most the ratio at the band's top, so the lower confidence bound of
//! the band's ratio is a lower bound for bin `i` as well: bin `i` takes the best such bound
//! over the bands ending at it, negative ratios included: a table that understates the
//! evidence against a non-mate raises every non-mate's fused sum as surely as one that
//! overstates the evidence for a mate. Each share is
//! bounded by the Wilson score interval at `z` standard deviations: a bin without impostors
//! among `M` still has an impostor share of about `z² / M`, never 0, so the table's largest
//! ratio is about `ln(M / z²)` times the genuine share, whatever the cap.

use super::fusion::{CalibrationError, LlrTable};
use serde::{Deserialize, Serialize};

/// One-sided bound at 2.326 standard deviations (99 %): at 95 % (1.645) a table learned
/// without one FVC2002 database over-claimed on it by up to 1.3 in a band of 77 impostors.
pub const DEFAULT_Z: f64 = 2.326;

/// Wilson score interval `(lower, upper)` of a binomial proportion `k / n` at `z`.
pub fn wilson(k: f64, n: f64, z: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let p = (k / n).clamp(0.0, 1.0);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

fn histogram(scores: &[f32], bin_of: &impl Fn(f32) -> usize, bins: usize) -> Vec<f64> {
    let mut h = vec![0.0f64; bins];
    for &s in scores {
        if !s.is_nan() {
            h[bin_of(s)] += 1.0;
        }
    }
    h
}

impl LlrTable {
    /// Learns one bounded table per group of samples (e.g. one per database or capture
    /// condition) and keeps, bin by bin, the smallest ratio: the table claims only the
    /// evidence every group supports. Groups without mated or non-mated samples are skipped.
    pub fn learn_bounded_groups(
        groups: &[(Vec<f32>, Vec<f32>)],
        range: (f32, f32, usize),
        cap: f32,
        z: f64,
    ) -> Result<Self, CalibrationError> {
        let mut out: Option<Self> = None;
        for (g, i) in groups
            .iter()
            .filter(|(g, i)| !g.is_empty() && !i.is_empty())
        {
            let t = Self::learn_bounded(g, i, range, cap, z)?;
            out = Some(match out {
                None => t,
                Some(mut o) => {
                    o.llr
                        .iter_mut()
                        .zip(&t.llr)
                        .for_each(|(a, &b)| *a = a.min(b));
                    o
                }
            });
        }
        out.ok_or(CalibrationError::NotEnoughData)
    }

    /// Learns a table over `[lo, hi]` with `bins` bins from confidence bounds at `z` (see the
    /// module documentation); ratios clamped to `±cap`, non-decreasing.
    pub fn learn_bounded(
        genuine: &[f32],
        impostor: &[f32],
        (lo, hi, bins): (f32, f32, usize),
        cap: f32,
        z: f64,
    ) -> Result<Self, CalibrationError> {
        if genuine.is_empty() || impostor.is_empty() || bins == 0 || hi <= lo {
            return Err(CalibrationError::NotEnoughData);
        }
        let bin_of =
            |s: f32| (((s - lo) / (hi - lo) * bins as f32).max(0.0) as usize).min(bins - 1);
        let g = histogram(genuine, &bin_of, bins);
        let m = histogram(impostor, &bin_of, bins);
        let (gt, mt) = (g.iter().sum::<f64>(), m.iter().sum::<f64>());
        if gt == 0.0 || mt == 0.0 {
            return Err(CalibrationError::NotEnoughData);
        }
        // Prefix sums: counts of bins [j, i] are p[i + 1] − p[j].
        let prefix = |h: &[f64]| {
            std::iter::once(0.0)
                .chain(h.iter().scan(0.0, |acc, &v| {
                    *acc += v;
                    Some(*acc)
                }))
                .collect::<Vec<f64>>()
        };
        let (pg, pm) = (prefix(&g), prefix(&m));
        let ratio = |num: f64, den: f64| {
            if num <= 0.0 {
                f64::NEG_INFINITY
            } else if den <= 0.0 {
                f64::INFINITY
            } else {
                (num / den).ln()
            }
        };
        // The best lower bound over the bands ending at i, then a running max (a lower
        // bound for bin i is one for every bin above it).
        let cap64 = f64::from(cap.abs());
        let mut llr = vec![0.0f32; bins];
        let mut running = f64::NEG_INFINITY;
        for i in 0..bins {
            for j in 0..=i {
                let (gl, _) = wilson(pg[i + 1] - pg[j], gt, z);
                let (_, mu) = wilson(pm[i + 1] - pm[j], mt, z);
                running = running.max(ratio(gl, mu));
            }
            llr[i] = running.clamp(-cap64, cap64) as f32;
        }
        Ok(Self { lo, hi, llr })
    }
}

/// One score band of a reliability table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// Lowest score of the band.
    pub lo: f32,
    /// Highest score of the band (exclusive, except for the last).
    pub hi: f32,
    /// Genuine scores in the band.
    pub genuine: usize,
    /// Impostor scores in the band.
    pub impostor: usize,
    /// `ln((g + ½) / G) − ln((i + ½) / I)` of the sample.
    pub empirical: f64,
    /// The table's ratio in the band.
    pub table: f32,
}

/// The sample's empirical ratio against the table's, one band per table bin holding any
/// sample.
pub fn reliability(table: &LlrTable, genuine: &[f32], impostor: &[f32]) -> Vec<Band> {
    let bins = table.llr.len();
    if bins == 0 {
        return Vec::new();
    }
    let (lo, hi) = (table.lo, table.hi);
    let bin_of = |s: f32| (((s - lo) / (hi - lo) * bins as f32).max(0.0) as usize).min(bins - 1);
    let g = histogram(genuine, &bin_of, bins);
    let m = histogram(impostor, &bin_of, bins);
    let (gt, mt) = (
        g.iter().sum::<f64>().max(1.0),
        m.iter().sum::<f64>().max(1.0),
    );
    let width = (hi - lo) / bins as f32;
    (0..bins)
        .filter(|&b| g[b] + m[b] > 0.0)
        .map(|b| Band {
            lo: lo + b as f32 * width,
            hi: lo + (b + 1) as f32 * width,
            genuine: g[b] as usize,
            impostor: m[b] as usize,
            empirical: ((g[b] + 0.5) / gt).ln() - ((m[b] + 0.5) / mt).ln(),
            table: table.llr[b],
        })
        .collect()
}

/// The largest over-claim `table − empirical` among bands with at least `min_impostors`
/// impostor samples (`None` when no band has that many).
pub fn worst_overclaim(bands: &[Band], min_impostors: usize) -> Option<f64> {
    bands
        .iter()
        .filter(|b| b.impostor >= min_impostors)
        .map(|b| f64::from(b.table) - b.empirical)
        .reduce(f64::max)
}

/// Log-likelihood-ratio cost (bits) of the table's ratios on a labelled sample: 0 for a
/// perfect, 1 for an uninformative calibration.
pub fn cllr(table: &LlrTable, genuine: &[f32], impostor: &[f32]) -> f64 {
    let softplus = |x: f64| if x > 30.0 { x } else { x.exp().ln_1p() };
    let mean = |v: &[f32], sign: f64| {
        if v.is_empty() {
            return 0.0;
        }
        v.iter()
            .map(|&s| softplus(sign * f64::from(table.llr(s))))
            .sum::<f64>()
            / v.len() as f64
    };
    (mean(genuine, -1.0) + mean(impostor, 1.0)) / (2.0 * std::f64::consts::LN_2)
}

/// Probability that the sum of `fingers` independent per-finger ratios, each drawn from
/// `llrs` (a non-mate's per-finger ratios), clamped to `±fingers_cap`, reaches `threshold`.
pub fn tail_of_sum(llrs: &[f32], fingers: usize, fingers_cap: f32, threshold: f32) -> f64 {
    const STEP: f64 = 0.01;
    if llrs.is_empty() || fingers == 0 {
        return 0.0;
    }
    let span = llrs.iter().fold(0.0f32, |a, &v| a.max(v.abs())) as f64;
    let half = (span / STEP).ceil() as usize;
    // One finger's distribution on the grid, offset by `half`.
    let mut one = vec![0.0f64; 2 * half + 1];
    for &v in llrs {
        let i = ((f64::from(v) / STEP).round() as i64 + half as i64).clamp(0, 2 * half as i64);
        one[i as usize] += 1.0 / llrs.len() as f64;
    }
    let support: Vec<(usize, f64)> = one
        .iter()
        .enumerate()
        .filter(|(_, &p)| p > 0.0)
        .map(|(i, &p)| (i, p))
        .collect();
    // The sum after k fingers is offset by k · half.
    let mut sum = one.clone();
    for k in 1..fingers {
        let mut next = vec![0.0f64; 2 * half * (k + 1) + 1];
        for (i, &p) in sum.iter().enumerate() {
            if p == 0.0 {
                continue;
            }
            for &(j, q) in &support {
                next[i + j] += p * q;
            }
        }
        sum = next;
    }
    let offset = (half * fingers) as f64;
    sum.iter()
        .enumerate()
        .filter(|(i, _)| {
            let v = ((*i as f64 - offset) * STEP)
                .clamp(-f64::from(fingers_cap), f64::from(fingers_cap));
            v >= f64::from(threshold) - STEP / 2.0
        })
        .map(|(_, &p)| p)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize, seed: u64, f: impl Fn(f64) -> f64) -> Vec<f32> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                f((x >> 11) as f64 / (1u64 << 53) as f64) as f32
            })
            .collect()
    }

    #[test]
    fn wilson_contains_the_proportion_and_never_reaches_zero() {
        // With no success in n trials the upper bound is z² / (n + z²).
        for z in [1.645, DEFAULT_Z] {
            let (l, u) = wilson(0.0, 50_000.0, z);
            assert_eq!(l, 0.0);
            let expected = z * z / (50_000.0 + z * z);
            assert!(
                (u - expected).abs() < 1e-3 * expected,
                "{z}: {u} against {expected}"
            );
        }
        // 30 of 100: about 0.3 ± z·0.046 (0.22–0.38 at 1.645, 0.21–0.41 at 2.326).
        for (z, lo, hi) in [(1.645, 0.2, 0.4), (DEFAULT_Z, 0.19, 0.42)] {
            let (l, u) = wilson(30.0, 100.0, z);
            assert!(l < 0.3 && u > 0.3 && l > lo && u < hi, "{z}: {l}–{u}");
        }
        assert_eq!(wilson(1.0, 0.0, DEFAULT_Z), (0.0, 1.0));
    }

    #[test]
    fn bounded_table_is_monotone_and_below_the_sample_bound() {
        // Genuine scores spread over [0.1, 1), impostors over [0, 0.3).
        let genuine = sample(1000, 7, |u| 0.1 + 0.9 * u);
        let impostor = sample(50_000, 11, |u| 0.3 * u * u);
        let t =
            LlrTable::learn_bounded(&genuine, &impostor, (0.0, 1.0, 50), 8.0, DEFAULT_Z).unwrap();
        assert!(t.llr.windows(2).all(|w| w[0] <= w[1]), "{:?}", t.llr);
        assert!(
            t.llr(0.01) < -1.0,
            "strong impostor region: {}",
            t.llr(0.01)
        );
        // Where no impostor lies, the evidence is bounded by the impostor sample size and
        // the genuine share of the bins below: about ln(0.7 · 50000 / 2.7) ≈ 9.5 for every
        // genuine above 0.3, so the cap decides; with a small impostor sample it cannot.
        assert_eq!(t.llr(0.9), 8.0);
        let few =
            LlrTable::learn_bounded(&genuine, &impostor[..200], (0.0, 1.0, 50), 8.0, DEFAULT_Z)
                .unwrap();
        let z2 = DEFAULT_Z * DEFAULT_Z;
        let most = ((200.0 + z2) / z2).ln() as f32;
        assert!(few.llr.iter().all(|&v| v <= most + 1e-4), "{:?}", few.llr);
        assert!(few.llr(0.9) > 3.0);
        assert!(LlrTable::learn_bounded(&[], &impostor, (0.0, 1.0, 50), 8.0, DEFAULT_Z).is_err());
    }

    #[test]
    fn grouped_table_takes_the_weakest_group_bin_by_bin() {
        let (g1, i1) = (
            sample(500, 21, |u| 0.2 + 0.8 * u),
            sample(5000, 23, |u| 0.3 * u),
        );
        let (g2, i2) = (
            sample(500, 25, |u| 0.1 + 0.5 * u),
            sample(5000, 27, |u| 0.4 * u),
        );
        let r = (0.0, 1.0, 20);
        let a = LlrTable::learn_bounded(&g1, &i1, r, 8.0, DEFAULT_Z).unwrap();
        let b = LlrTable::learn_bounded(&g2, &i2, r, 8.0, DEFAULT_Z).unwrap();
        let groups = [(g1, i1), (g2, i2.clone()), (Vec::new(), i2)];
        let m = LlrTable::learn_bounded_groups(&groups, r, 8.0, DEFAULT_Z).unwrap();
        for k in 0..20 {
            assert_eq!(m.llr[k], a.llr[k].min(b.llr[k]), "bin {k}");
        }
        assert!(m.llr.windows(2).all(|w| w[0] <= w[1]));
        assert!(a.llr != b.llr, "the groups differ");
        assert!(LlrTable::learn_bounded_groups(&groups[2..], r, 8.0, DEFAULT_Z).is_err());
    }

    #[test]
    fn reliability_and_cllr_tell_a_good_table_from_a_bad_one() {
        let genuine = sample(2000, 3, |u| 0.2 + 0.8 * u);
        let impostor = sample(20_000, 5, |u| 0.4 * u);
        let good =
            LlrTable::learn_bounded(&genuine, &impostor, (0.0, 1.0, 20), 8.0, DEFAULT_Z).unwrap();
        let bad = LlrTable {
            lo: 0.0,
            hi: 1.0,
            llr: vec![6.0; 20],
        };
        let (gh, ih) = (
            sample(500, 13, |u| 0.2 + 0.8 * u),
            sample(5000, 17, |u| 0.4 * u),
        );
        let over = |t: &LlrTable| worst_overclaim(&reliability(t, &gh, &ih), 20).unwrap();
        assert!(over(&good) < 1.0, "{}", over(&good));
        assert!(over(&bad) > 5.0, "{}", over(&bad));
        assert!(cllr(&good, &gh, &ih) < 0.5);
        assert!(cllr(&bad, &gh, &ih) > 1.0);
        assert_eq!(
            worst_overclaim(&reliability(&good, &gh, &ih), 1_000_000),
            None
        );
    }

    #[test]
    fn tail_of_sum_convolves() {
        // One finger: +2 with probability ¼, else −1. Three fingers reach ≥ 3 only when at
        // least two are +2: 3·(¼)²·¾ + (¼)³ = 10/64.
        let llrs = [2.0f32, -1.0, -1.0, -1.0];
        let p = tail_of_sum(&llrs, 3, 40.0, 3.0);
        assert!((p - 10.0 / 64.0).abs() < 1e-9, "{p}");
        assert!((tail_of_sum(&llrs, 3, 40.0, -3.0) - 1.0).abs() < 1e-9);
        // The modality cap: six fingers at +2 sum to 12, clamped to 5.
        assert_eq!(tail_of_sum(&[2.0], 6, 5.0, 6.0), 0.0);
        assert_eq!(tail_of_sum(&[], 3, 40.0, 0.0), 0.0);
    }
}
