//! Score profiles: the figures that say how hard a set of FVC-style databases is for a
//! matcher, side by side for real and synthetic data. Genuine quantiles describe how well
//! mates match, impostor tail quantiles how high non-mates reach, EER and FMR1000 both.

use rayon::prelude::*;
use tunggal_index::eval::error_rates;
use tunggal_index::finger::FingerMatcher;

use crate::accuracy::all_pairs_scores;
use crate::fvc::FvcDatabase;
use crate::realism::quantile;

/// Genuine and impostor scores of one database under the all-impostor protocol.
#[derive(Debug, Clone, Default)]
pub struct DatabaseScores {
    /// Database name.
    pub name: String,
    /// Genuine scores.
    pub genuine: Vec<f64>,
    /// Impostor scores.
    pub impostor: Vec<f64>,
}

impl DatabaseScores {
    /// Scores every pair of `db` with `matcher`.
    pub fn of(db: &FvcDatabase, matcher: &FingerMatcher) -> Self {
        let (genuine, impostor) = all_pairs_scores(db, matcher);
        Self {
            name: db.name.clone(),
            genuine,
            impostor,
        }
    }

    /// Scores of every database, in order.
    pub fn of_all(dbs: &[FvcDatabase], matcher: &FingerMatcher) -> Vec<Self> {
        dbs.par_iter().map(|db| Self::of(db, matcher)).collect()
    }
}

/// The figures of one profile row.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreProfile {
    /// Row name.
    pub name: String,
    /// Databases behind the row.
    pub databases: usize,
    /// Genuine pairs (pooled).
    pub genuine: usize,
    /// Impostor pairs (pooled).
    pub impostor: usize,
    /// Genuine 1st, 5th and 50th percentile, pooled over the databases.
    pub genuine_p1: f64,
    /// See [`ScoreProfile::genuine_p1`].
    pub genuine_p5: f64,
    /// See [`ScoreProfile::genuine_p1`].
    pub genuine_p50: f64,
    /// Impostor 99th and 99.9th percentile, pooled over the databases.
    pub impostor_p99: f64,
    /// See [`ScoreProfile::impostor_p99`].
    pub impostor_p999: f64,
    /// Mean EER of the databases (FVC rule).
    pub eer: f64,
    /// Mean FMR1000 of the databases.
    pub fmr1000: f64,
}

impl ScoreProfile {
    /// The profile of `dbs`: quantiles over the pooled scores, EER and FMR1000 averaged over
    /// the databases (databases without genuine or impostor pairs count as 0 there).
    pub fn of(name: &str, dbs: &[DatabaseScores]) -> Self {
        let genuine: Vec<f64> = dbs.iter().flat_map(|d| d.genuine.iter().copied()).collect();
        let impostor: Vec<f64> = dbs
            .iter()
            .flat_map(|d| d.impostor.iter().copied())
            .collect();
        let rates: Vec<_> = dbs
            .iter()
            .filter_map(|d| error_rates(&d.genuine, &d.impostor))
            .collect();
        let n = rates.len().max(1) as f64;
        Self {
            name: name.to_owned(),
            databases: dbs.len(),
            genuine: genuine.len(),
            impostor: impostor.len(),
            genuine_p1: quantile(&genuine, 0.01),
            genuine_p5: quantile(&genuine, 0.05),
            genuine_p50: quantile(&genuine, 0.5),
            impostor_p99: quantile(&impostor, 0.99),
            impostor_p999: quantile(&impostor, 0.999),
            eer: rates.iter().map(|r| r.eer).sum::<f64>() / n,
            fmr1000: rates.iter().map(|r| r.fmr1000).sum::<f64>() / n,
        }
    }

    /// Header of [`ScoreProfile::markdown_row`].
    pub const MARKDOWN_HEADER: &'static str = "| data | DBs | genuine p1 / p5 / p50 | impostor p99 / p99.9 | EER | FMR1000 |\n| --- | --- | --- | --- | --- | --- |";

    /// A markdown table row.
    pub fn markdown_row(&self) -> String {
        format!(
            "| {} | {} | {:.3} / {:.3} / {:.3} | {:.4} / {:.4} | {:.2}% | {:.2}% |",
            self.name,
            self.databases,
            self.genuine_p1,
            self.genuine_p5,
            self.genuine_p50,
            self.impostor_p99,
            self.impostor_p999,
            100.0 * self.eer,
            100.0 * self.fmr1000
        )
    }

    /// Ratios of this profile's figures to `reference`'s: genuine p1, p5, p50, impostor p99,
    /// p99.9, EER and FMR1000 (NaN where the reference figure is 0).
    pub fn ratios(&self, reference: &Self) -> [f64; 7] {
        let r = |a: f64, b: f64| if b == 0.0 { f64::NAN } else { a / b };
        [
            r(self.genuine_p1, reference.genuine_p1),
            r(self.genuine_p5, reference.genuine_p5),
            r(self.genuine_p50, reference.genuine_p50),
            r(self.impostor_p99, reference.impostor_p99),
            r(self.impostor_p999, reference.impostor_p999),
            r(self.eer, reference.eer),
            r(self.fmr1000, reference.fmr1000),
        ]
    }
}

/// The row of `profiles` with the lowest genuine median: the hardest database for mates.
pub fn hardest(profiles: &[ScoreProfile]) -> Option<&ScoreProfile> {
    profiles
        .iter()
        .min_by(|a, b| a.genuine_p50.total_cmp(&b.genuine_p50))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_pool_quantiles_and_average_rates() {
        let a = DatabaseScores {
            name: "A".into(),
            genuine: (0..100).map(|i| 0.5 + f64::from(i) / 1000.0).collect(),
            impostor: (0..1000).map(|i| f64::from(i) / 100_000.0).collect(),
        };
        let b = DatabaseScores {
            name: "B".into(),
            genuine: (0..100).map(|i| 0.1 + f64::from(i) / 1000.0).collect(),
            impostor: a.impostor.clone(),
        };
        let p = ScoreProfile::of("both", &[a.clone(), b]);
        assert_eq!((p.databases, p.genuine, p.impostor), (2, 200, 2000));
        // Pooled: half the genuine scores are below 0.2, half above 0.5.
        assert!(p.genuine_p50 > 0.19 && p.genuine_p50 < 0.51);
        assert!((p.impostor_p99 - 0.0099).abs() < 1e-4);
        assert_eq!(p.eer, 0.0);
        let single = ScoreProfile::of("A", &[a]);
        assert!(hardest(&[single.clone(), p.clone()]).is_some_and(|h| h.name == "both"));
        assert!((single.ratios(&single)[2] - 1.0).abs() < 1e-12);
        assert!(p.markdown_row().starts_with("| both | 2 |"));
    }
}
