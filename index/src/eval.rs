//! Error-rate statistics of a verification experiment.
//!
//! Scores are similarities (higher means more alike); a comparison is accepted at threshold
//! `t` when `score >= t`. FMR(t) is the fraction of impostor scores accepted and FNMR(t) the
//! fraction of genuine scores rejected.

use serde::Serialize;

/// Summary error rates, as fractions (0.01 is 1%).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ErrorRates {
    /// Equal error rate by the FVC rule.
    pub eer: f64,
    /// Lowest FNMR with FMR ≤ 1%.
    pub fmr100: f64,
    /// Lowest FNMR with FMR ≤ 0.1%.
    pub fmr1000: f64,
    /// Lowest FNMR with FMR = 0.
    pub zero_fmr: f64,
    /// Genuine comparisons.
    pub genuine: usize,
    /// Impostor comparisons.
    pub impostor: usize,
}

/// One operating point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OperatingPoint {
    /// The threshold.
    pub threshold: f64,
    /// False match rate at it.
    pub fmr: f64,
    /// False non-match rate at it.
    pub fnmr: f64,
}

/// Every distinct operating point, thresholds ascending (FMR falling, FNMR rising).
///
/// Returns an empty list when either set is empty. NaN scores are ignored.
pub fn operating_points(genuine: &[f64], impostor: &[f64]) -> Vec<OperatingPoint> {
    let mut g: Vec<f64> = genuine.iter().copied().filter(|s| !s.is_nan()).collect();
    let mut i: Vec<f64> = impostor.iter().copied().filter(|s| !s.is_nan()).collect();
    if g.is_empty() || i.is_empty() {
        return Vec::new();
    }
    g.sort_by(f64::total_cmp);
    i.sort_by(f64::total_cmp);
    let mut thresholds: Vec<f64> = g.iter().chain(i.iter()).copied().collect();
    thresholds.sort_by(f64::total_cmp);
    thresholds.dedup();
    let top = thresholds.last().copied().unwrap_or(0.0);
    thresholds.push(if top.is_finite() {
        top + 1.0 + top.abs()
    } else {
        f64::INFINITY
    });
    let (ng, ni) = (g.len() as f64, i.len() as f64);
    let (mut gi, mut ii) = (0usize, 0usize);
    thresholds
        .into_iter()
        .map(|t| {
            while gi < g.len() && g[gi] < t {
                gi += 1;
            }
            while ii < i.len() && i[ii] < t {
                ii += 1;
            }
            OperatingPoint {
                threshold: t,
                fmr: (i.len() - ii) as f64 / ni,
                fnmr: gi as f64 / ng,
            }
        })
        .collect()
}

/// Summary error rates; `None` when either set is empty.
pub fn error_rates(genuine: &[f64], impostor: &[f64]) -> Option<ErrorRates> {
    let points = operating_points(genuine, impostor);
    if points.is_empty() {
        return None;
    }
    // FVC rule: t1 is the highest threshold with FNMR <= FMR, t2 the lowest with FNMR >= FMR.
    let t1 = points.iter().rev().find(|p| p.fnmr <= p.fmr);
    let t2 = points.iter().find(|p| p.fnmr >= p.fmr);
    let eer = match (t1, t2) {
        (Some(a), Some(b)) => {
            let best = if a.fmr + a.fnmr <= b.fmr + b.fnmr {
                a
            } else {
                b
            };
            (best.fmr + best.fnmr) / 2.0
        }
        (Some(p), None) | (None, Some(p)) => (p.fmr + p.fnmr) / 2.0,
        (None, None) => 0.5,
    };
    let fnmr_at = |limit: f64| {
        points
            .iter()
            .filter(|p| p.fmr <= limit)
            .map(|p| p.fnmr)
            .fold(1.0, f64::min)
    };
    Some(ErrorRates {
        eer,
        fmr100: fnmr_at(0.01),
        fmr1000: fnmr_at(0.001),
        zero_fmr: fnmr_at(0.0),
        genuine: genuine.len(),
        impostor: impostor.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_scores_have_zero_error() {
        let r = error_rates(&[0.8, 0.9, 1.0], &[0.1, 0.2, 0.3]).unwrap();
        assert_eq!(r.eer, 0.0);
        assert_eq!(r.zero_fmr, 0.0);
    }

    #[test]
    fn overlapping_scores() {
        // Impostors 0.0..0.9; genuines 1.0..1.8 plus one at 0.85, below the top impostor.
        let i: Vec<f64> = (0..10).map(|v| v as f64 / 10.0).collect();
        let mut g: Vec<f64> = (0..9).map(|v| 1.0 + v as f64 / 10.0).collect();
        g.push(0.85);
        let r = error_rates(&g, &i).unwrap();
        // At t = 0.9 both FMR and FNMR are 1/10.
        assert!((r.eer - 0.1).abs() < 1e-9, "{r:?}");
        // FMR = 0 needs t > 0.9, which rejects the 0.85 genuine.
        assert!((r.zero_fmr - 0.1).abs() < 1e-9);
        assert!((r.fmr100 - 0.1).abs() < 1e-9);
    }

    #[test]
    fn inverted_scores_give_high_error() {
        let r = error_rates(&[0.1, 0.2], &[0.8, 0.9]).unwrap();
        assert!(r.eer >= 0.5);
        assert!(error_rates(&[], &[0.5]).is_none());
    }
}
