//! Verification experiments on FVC-style databases.
//!
//! Protocols (one database of fingers × impressions):
//! * genuine pairs: every two impressions of the same finger, each pair once;
//! * FVC impostors: the first impression of each finger against the first impression of every
//!   other finger;
//! * all-impostor: every pair of impressions of different fingers.

pub mod images;
pub mod iris;
pub mod iris_lodo;
pub mod iris_overlay;
pub mod lodo;
pub mod lodo_images;

use rayon::prelude::*;
use serde::Serialize;
use tunggal_datasets::fvc::FvcDatabase;
use tunggal_index::eval::{error_rates, operating_points, ErrorRates, OperatingPoint};
use tunggal_index::finger::FingerMatcher;

/// One scored pair of a database (indices into its samples, `a < b`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredPair {
    /// First sample.
    pub a: usize,
    /// Second sample.
    pub b: usize,
    /// Similarity.
    pub score: f64,
}

/// Every pair of a database, scored.
pub fn score_all_pairs(db: &FvcDatabase, matcher: &FingerMatcher) -> Vec<ScoredPair> {
    let prepared: Vec<_> = db
        .samples
        .par_iter()
        .map(|s| matcher.prepare(&s.template))
        .collect();
    let n = prepared.len();
    (0..n)
        .into_par_iter()
        .flat_map_iter(|a| {
            let prepared = &prepared;
            ((a + 1)..n).map(move |b| ScoredPair {
                a,
                b,
                score: f64::from(matcher.compare(&prepared[a], &prepared[b])),
            })
        })
        .collect()
}

/// Results of one database under both protocols.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseReport {
    /// Folder name.
    pub name: String,
    /// FVC protocol.
    pub fvc: ErrorRates,
    /// All-impostor protocol.
    pub all_impostor: ErrorRates,
    /// DET points of the all-impostor protocol.
    #[serde(skip)]
    pub det: Vec<OperatingPoint>,
}

/// Splits scored pairs into the protocols and computes their error rates.
pub fn report(db: &FvcDatabase, pairs: &[ScoredPair]) -> Option<DatabaseReport> {
    let first_impression = |finger: u32| {
        db.samples
            .iter()
            .filter(|s| s.finger == finger)
            .map(|s| s.impression)
            .min()
    };
    let (mut genuine, mut fvc_impostor, mut all_impostor) = (Vec::new(), Vec::new(), Vec::new());
    for p in pairs {
        let (sa, sb) = (&db.samples[p.a], &db.samples[p.b]);
        if sa.finger == sb.finger {
            genuine.push(p.score);
        } else {
            all_impostor.push(p.score);
            if Some(sa.impression) == first_impression(sa.finger)
                && Some(sb.impression) == first_impression(sb.finger)
            {
                fvc_impostor.push(p.score);
            }
        }
    }
    Some(DatabaseReport {
        name: db.name.clone(),
        fvc: error_rates(&genuine, &fvc_impostor)?,
        all_impostor: error_rates(&genuine, &all_impostor)?,
        det: operating_points(&genuine, &all_impostor),
    })
}
