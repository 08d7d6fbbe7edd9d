//! Single-finger verification accuracy of an FVC-style database with the project's matcher,
//! under the all-impostor protocol: every two impressions of the same finger are a genuine
//! pair, every two impressions of different fingers an impostor pair, each pair once.

use rayon::prelude::*;
use tunggal_index::eval::{error_rates, ErrorRates};
use tunggal_index::finger::FingerMatcher;

use crate::fvc::FvcDatabase;

/// Genuine and impostor scores of `db` (pairs `i < j`, scored probe `i` against gallery `j`).
pub fn all_pairs_scores(db: &FvcDatabase, matcher: &FingerMatcher) -> (Vec<f64>, Vec<f64>) {
    let prepared: Vec<_> = db
        .samples
        .par_iter()
        .map(|s| matcher.prepare(&s.template))
        .collect();
    let scored: Vec<(bool, f64)> = (0..db.samples.len())
        .into_par_iter()
        .flat_map_iter(|i| {
            let prepared = &prepared;
            let samples = &db.samples;
            (i + 1..samples.len()).map(move |j| {
                let genuine = samples[i].finger == samples[j].finger;
                (
                    genuine,
                    f64::from(matcher.compare(&prepared[i], &prepared[j])),
                )
            })
        })
        .collect();
    let genuine = scored.iter().filter(|s| s.0).map(|s| s.1).collect();
    let impostor = scored.iter().filter(|s| !s.0).map(|s| s.1).collect();
    (genuine, impostor)
}

/// Error rates of `db` under the all-impostor protocol; `None` without genuine or impostor
/// pairs.
pub fn database_error_rates(db: &FvcDatabase, matcher: &FingerMatcher) -> Option<ErrorRates> {
    let (genuine, impostor) = all_pairs_scores(db, matcher);
    error_rates(&genuine, &impostor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic_fvc::SyntheticFvc;

    #[test]
    fn the_protocol_counts_fvc_pairs() {
        let db = SyntheticFvc::new(3).database(0);
        let (g, i) = all_pairs_scores(&db, &FingerMatcher::default());
        assert_eq!(g.len(), 280);
        assert_eq!(i.len(), 2880);
    }
}
