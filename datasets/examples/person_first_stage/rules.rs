//! Person-level first-stage rules, the background's score distribution with its fitted
//! tail, and the retention of a mate against shortlist size and gallery size.

use tunggal_index::gallery::FINGERS;
use tunggal_index::search::Calibration;

/// Per-slot first-stage ratios of one (probe, gallery person) pair; NaN where either side
/// lacks the finger.
pub type Slots = [f32; FINGERS];

/// How a person's ten finger ratios become its first-stage score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// The sum in slot order with the modality caps (the gallery's rule).
    Sum,
    /// The sum of the best `k` ratios.
    Best(usize),
    /// The `k`-th best ratio: a person ranks high when `k` of its fingers are strong.
    Strong(usize),
    /// The sum of the positive ratios plus the sum of the negative ones floored at `−a`
    /// (the second stage's rule for failed fingers), with the modality caps.
    Floored(u8),
}

/// The rules measured, in report order.
pub const RULES: [Rule; 7] = [
    Rule::Sum,
    Rule::Best(3),
    Rule::Best(5),
    Rule::Strong(3),
    Rule::Floored(12),
    Rule::Floored(8),
    Rule::Floored(4),
];

impl Rule {
    /// Short name.
    pub fn name(self) -> String {
        match self {
            Rule::Sum => "sum".into(),
            Rule::Best(k) => format!("best {k}"),
            Rule::Strong(k) => format!("{k} strong"),
            Rule::Floored(a) => format!("sum, against ≥ −{a}"),
        }
    }

    /// The person score of `slots`.
    pub fn score(self, slots: &Slots, calibration: &Calibration) -> f32 {
        match self {
            Rule::Sum => {
                let sum: f32 = slots.iter().filter(|v| !v.is_nan()).sum();
                calibration.fuse(sum, 0.0)
            }
            Rule::Best(k) => sorted(slots).iter().take(k).sum(),
            Rule::Floored(a) => {
                let present = slots.iter().filter(|v| !v.is_nan());
                let (mut for_match, mut against) = (0.0f32, 0.0f32);
                for &v in present {
                    if v > 0.0 {
                        for_match += v;
                    } else {
                        against += v;
                    }
                }
                calibration.fuse(for_match + against.max(-f32::from(a)), 0.0)
            }
            Rule::Strong(k) => sorted(slots)
                .get(k.saturating_sub(1))
                .copied()
                .unwrap_or(f32::NEG_INFINITY),
        }
    }
}

/// The present ratios, best first.
fn sorted(slots: &Slots) -> Vec<f32> {
    let mut v: Vec<f32> = slots.iter().copied().filter(|v| !v.is_nan()).collect();
    v.sort_by(|a, b| b.total_cmp(a));
    v
}

/// Non-mate person scores of one rule, sorted ascending, with an exponential tail fitted
/// above its `1 − top/n` quantile.
#[derive(Debug, Clone)]
pub struct Null {
    scores: Vec<f32>,
    /// Tail threshold.
    u: f32,
    /// Share of scores above `u`.
    above: f64,
    /// Mean excess over `u` (the exponential's scale).
    beta: f64,
}

impl Null {
    /// Sorts `scores` and fits the tail to the `top` highest.
    pub fn new(mut scores: Vec<f32>, top: usize) -> Self {
        scores.sort_by(f32::total_cmp);
        let n = scores.len();
        let top = top.clamp(1, n.saturating_sub(1).max(1));
        let u = scores[n.saturating_sub(top + 1)];
        let excess: Vec<f64> = scores
            .iter()
            .filter(|&&s| s > u)
            .map(|&s| f64::from(s - u))
            .collect();
        let beta = if excess.is_empty() {
            f64::MIN_POSITIVE
        } else {
            (excess.iter().sum::<f64>() / excess.len() as f64).max(1e-6)
        };
        Self {
            above: excess.len() as f64 / n.max(1) as f64,
            scores,
            u,
            beta,
        }
    }

    /// Scores in the sample.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// Empirical share of scores beating `x` (ties count half, as a shortlist breaks them
    /// arbitrarily).
    pub fn empirical(&self, x: f32) -> f64 {
        let lt = self.scores.partition_point(|&s| s < x);
        let le = self.scores.partition_point(|&s| s <= x);
        let n = self.scores.len().max(1) as f64;
        ((self.scores.len() - le) as f64 + 0.5 * (le - lt) as f64) / n
    }

    /// Share of non-mates beating `x`: empirical up to the tail threshold, the fitted
    /// exponential beyond it.
    pub fn survival(&self, x: f32) -> f64 {
        if x <= self.u {
            self.empirical(x)
        } else {
            self.above * (-(f64::from(x - self.u)) / self.beta).exp()
        }
    }

    /// Score with `count` of the sample above it (the `count`-th highest).
    pub fn at_count(&self, count: usize) -> f32 {
        let n = self.scores.len();
        self.scores[n.saturating_sub(count.clamp(1, n))]
    }

    /// The tail fit: threshold, share above it, scale.
    pub fn tail(&self) -> (f32, f64, f64) {
        (self.u, self.above, self.beta)
    }
}

/// `P(X ≤ k − 1)` for `X ~ Poisson(λ)`: the chance that fewer than `k` non-mates beat the
/// mate when `λ` are expected to.
pub fn kept(lambda: f64, k: usize) -> f64 {
    let kf = k as f64;
    if lambda <= 0.0 {
        return 1.0;
    }
    let spread = 12.0 * kf.sqrt() + 30.0;
    if lambda > kf + spread {
        return 0.0;
    }
    if lambda < (kf - spread).max(0.0) {
        return 1.0;
    }
    // Terms in log space: ln(λ^i e^−λ / i!).
    let mut log_term = -lambda;
    let mut sum = log_term.exp();
    for i in 1..k {
        log_term += lambda.ln() - (i as f64).ln();
        sum += log_term.exp();
    }
    sum.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_kept_matches_small_cases() {
        assert!((kept(1.0, 1) - (-1.0f64).exp()).abs() < 1e-12);
        assert!((kept(2.0, 2) - 3.0 * (-2.0f64).exp()).abs() < 1e-12);
        assert_eq!(kept(0.0, 4), 1.0);
        assert!(kept(1e6, 64) < 1e-12);
    }
}
