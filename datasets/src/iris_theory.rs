//! Daugman's model of the impostor Hamming distance between IrisCodes, for comparing the
//! synthetic codes with the published shape.
//!
//! Unrotated, the fractional Hamming distance between two unrelated codes follows a binomial
//! distribution with `dof` degrees of freedom and `p = 0.5` (Daugman: about 249 for 2048-bit
//! codes). Taking the best of `k` independent relative rotations gives the extreme-value
//! distribution `f_k(x) = k f_0(x) (1 − F_0(x))^(k−1)`; Daugman fits real best-of-7 impostor
//! scores with it (mean about 0.458, standard deviation about 0.019).

/// The distribution of the best of `k` independent binomial Hamming distances.
#[derive(Debug, Clone, PartialEq)]
pub struct BestOfRotations {
    /// Possible distances `i / dof`, `i = 0..=dof`.
    values: Vec<f64>,
    /// Probability of each value.
    probabilities: Vec<f64>,
}

impl BestOfRotations {
    /// The best of `k` (at least 1) rotations of a binomial with `dof` (at least 1) degrees of
    /// freedom and `p = 0.5`.
    pub fn new(dof: u32, k: u32) -> Self {
        let n = dof.max(1) as usize;
        let k = f64::from(k.max(1));
        // Binomial(n, 1/2) probabilities, built in log space to stay finite for large n.
        let mut log_pmf = Vec::with_capacity(n + 1);
        let mut log_choose = 0.0f64;
        for i in 0..=n {
            if i > 0 {
                log_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
            }
            log_pmf.push(log_choose - n as f64 * std::f64::consts::LN_2);
        }
        // P(min = x_i) = S(x_i)^k − S(x_{i+1})^k with S(x) = P(X ≥ x).
        let mut survival = vec![0.0f64; n + 2];
        let mut acc = 0.0;
        for (s, lp) in survival.iter_mut().zip(&log_pmf).rev() {
            acc += lp.exp();
            *s = acc.min(1.0);
        }
        let values: Vec<f64> = (0..=n).map(|i| i as f64 / n as f64).collect();
        let probabilities: Vec<f64> = survival
            .windows(2)
            .map(|s| (s[0].powf(k) - s[1].powf(k)).max(0.0))
            .collect();
        Self {
            values,
            probabilities,
        }
    }

    /// Mean distance.
    pub fn mean(&self) -> f64 {
        self.values
            .iter()
            .zip(&self.probabilities)
            .map(|(x, p)| x * p)
            .sum()
    }

    /// Standard deviation of the distance.
    pub fn sd(&self) -> f64 {
        let m = self.mean();
        self.values
            .iter()
            .zip(&self.probabilities)
            .map(|(x, p)| (x - m) * (x - m) * p)
            .sum::<f64>()
            .sqrt()
    }

    /// The smallest distance whose cumulative probability reaches `q` (0–1).
    pub fn quantile(&self, q: f64) -> f64 {
        let mut acc = 0.0;
        for (x, p) in self.values.iter().zip(&self.probabilities) {
            acc += p;
            if acc >= q {
                return *x;
            }
        }
        1.0
    }

    /// Probability that the distance is at most `x`.
    pub fn cdf(&self, x: f64) -> f64 {
        self.values
            .iter()
            .zip(&self.probabilities)
            .take_while(|(v, _)| **v <= x)
            .map(|(_, p)| p)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rotation_is_the_binomial() {
        let d = BestOfRotations::new(249, 1);
        assert!((d.mean() - 0.5).abs() < 1e-9);
        let sd = (0.25f64 / 249.0).sqrt();
        assert!((d.sd() - sd).abs() < 1e-9);
        let total: f64 = d.probabilities.iter().sum();
        assert!((total - 1.0).abs() < 1e-9);
    }

    #[test]
    fn best_of_seven_has_daugmans_published_shape() {
        let d = BestOfRotations::new(249, 7);
        let total: f64 = d.probabilities.iter().sum();
        assert!((total - 1.0).abs() < 1e-9);
        assert!((0.455..0.46).contains(&d.mean()), "mean {}", d.mean());
        assert!((0.017..0.021).contains(&d.sd()), "sd {}", d.sd());
        assert!(d.quantile(0.01) < d.quantile(0.5));
        assert!((d.cdf(d.quantile(0.01)) - 0.01).abs() < 0.01);
    }
}
