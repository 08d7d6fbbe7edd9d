//! Single-finger verification accuracy of an FVC-style database with the project's matcher,
//! under the all-impostor protocol: every two impressions of the same finger are a genuine
//! pair, every two impressions of different fingers an impostor pair, each pair once.

use rayon::prelude::*;
use tunggal_index::eval::{error_rates, ErrorRates};
use tunggal_index::finger::{FingerMatcher, PreparedTemplate};

use crate::fvc::FvcDatabase;
use crate::iris_source::IrisSource;
use crate::population::{CaptureSpec, Population};

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

/// Single-finger scores of population captures: for each person of `ids`, two captures
/// (numbers `first` and `first + 1`) taken with `spec`. Mated pairs are the same finger in
/// the two captures; non-mated pairs the same finger position of the first capture of a
/// person and the second capture of the next person in `ids`.
pub fn population_capture_scores<I: IrisSource + Sync>(
    pop: &Population<I>,
    matcher: &FingerMatcher,
    ids: std::ops::Range<u64>,
    first: u64,
    spec: &CaptureSpec,
) -> (Vec<f64>, Vec<f64>)
where
    I::Master: Send,
{
    let ids: Vec<u64> = ids.collect();
    let captures: Vec<_> = ids
        .par_iter()
        .map(|&id| {
            let person = pop.person(id);
            let prepare = |n: u64| {
                let c = pop.capture(&person, n, spec);
                c.fingers
                    .iter()
                    .map(|f| (f.position, matcher.prepare(f)))
                    .collect::<Vec<_>>()
            };
            (prepare(first), prepare(first + 1))
        })
        .collect();
    let score = |a: &[(u8, PreparedTemplate)], b: &[(u8, PreparedTemplate)]| -> Vec<f64> {
        a.iter()
            .filter_map(|(pa, ta)| {
                b.iter()
                    .find(|(pb, _)| pb == pa)
                    .map(|(_, tb)| f64::from(matcher.compare(ta, tb)))
            })
            .collect()
    };
    let n = captures.len();
    let mated = captures
        .par_iter()
        .flat_map_iter(|(a, b)| score(a, b))
        .collect();
    let non_mated = if n < 2 {
        Vec::new()
    } else {
        (0..n)
            .into_par_iter()
            .flat_map_iter(|i| score(&captures[i].0, &captures[(i + 1) % n].1))
            .collect()
    };
    (mated, non_mated)
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
