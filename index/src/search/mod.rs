//! Staged 1:N search and the deduplication decision.
//!
//! 1. [`stage1`]: every live person's hot record against the probe (finger descriptors by
//!    popcount, irises with the rotation-compensated iris matcher behind a permissive gate),
//!    fused with calibrated ratios; the best
//!    [`SearchConfig::shortlist`] people go on.
//! 2. [`stage2`]: the shortlist's cold fingers (read from the blob store) compared with the
//!    fingerprint matcher, position by position.
//! 3. [`fusion`]: ratios summed with caps; the threshold follows the target FPIR and the
//!    gallery size ([`fusion::threshold`]).
//!
//! [`deduplicator::Deduplicator`] orders concurrent enrolments and batches them.

pub mod bounded;
pub mod deduplicator;
pub mod finger_scan;
pub mod fusion;
pub mod same_capture;
pub mod shipped;
pub mod stage1;
pub mod stage2;
pub mod verdict;

use rayon::prelude::*;

use crate::gallery::{Gallery, GalleryError, PreparedPerson};
use crate::storage::Snapshot;

pub use deduplicator::{ClaimOwners, Decision, Deduplicator, Holder, Insert, Ordered};
pub use fusion::{Calibration, FusionCaps, LlrTable};
pub use same_capture::SameCapture;
pub use stage1::{EyeEvidence, Scorer, Stage1Hit, Stage1Probe};
pub use verdict::{EyeScore, FingerScore, GalleryMatch, Rejection, SearchOutcome, SearchVerdict};

/// Default iris gate on the normalised Hamming distance.
pub const DEFAULT_IRIS_GATE: f64 = 0.40;

/// Search policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchConfig {
    /// People passed from the first stage to the second (128 by default: each one costs
    /// stage 2 about 0.12 ms of CPU, and persons whose ten fingers are all as distorted as
    /// FVC2002 DB3 need more than 64 places at 1,000,000 persons; `docs/first-stage.md`).
    pub shortlist: usize,
    /// Target false-positive identification rate.
    pub target_fpir: f64,
    /// Fewest usable fingers for a probe to be searched.
    pub min_fingers: usize,
    /// Most probes searched in one pass.
    pub max_batch: usize,
    /// Iris gate: an eye whose best normalised Hamming distance is above it is a non-match
    /// and gets the iris floor (see [`stage1`]).
    pub iris_gate: f64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            shortlist: 128,
            target_fpir: 1e-3,
            min_fingers: 3,
            max_batch: 16,
            iris_gate: DEFAULT_IRIS_GATE,
        }
    }
}

impl SearchConfig {
    /// The policy of an identification (a search that enrols nobody): the probe is searched
    /// with whatever usable fingers and eyes it carries, so eye images alone are searched;
    /// the decision threshold still decides which candidates are answered. Enrolments keep
    /// [`SearchConfig::min_fingers`].
    pub fn for_identification(&self) -> Self {
        Self {
            min_fingers: 0,
            ..*self
        }
    }
}

/// The rejection for a probe, if it cannot be searched.
pub fn check(person: &PreparedPerson, config: &SearchConfig) -> Option<Rejection> {
    let usable = person.usable_fingers();
    if usable == 0 && person.usable_eyes() == 0 {
        return Some(Rejection::UnusableTemplates {
            fingers: person.unusable_fingers.clone(),
            eyes: person.unusable_eyes.clone(),
        });
    }
    (usable < config.min_fingers).then_some(Rejection::TooFewUsableFingers {
        usable,
        required: config.min_fingers,
    })
}

/// The first-stage scorer of a gallery.
pub fn scorer(gallery: &Gallery) -> Scorer<'_> {
    Scorer {
        calibration: gallery.calibration(),
        fingers: finger_scan::FingerKernel::best(),
        iris: gallery.preparer().iris(),
    }
}

/// Second stage for one probe over its shortlist, read from `snap`; candidates best first.
pub fn second_stage(
    gallery: &Gallery,
    snap: &Snapshot<'_>,
    probe: &PreparedPerson,
    hits: &[Stage1Hit],
) -> Result<Vec<GalleryMatch>, GalleryError> {
    let started = std::time::Instant::now();
    let mut out = hits
        .par_iter()
        .map(|hit| {
            let Some(r) = snap.get(hit.key)? else {
                return Ok(None);
            };
            let fingers = gallery.cold_fingers(snap, hit.key, r.blob)?;
            Ok(Some(stage2::compare(
                gallery.preparer().matcher(),
                gallery.calibration(),
                &probe.fingers,
                hit,
                &fingers,
            )))
        })
        .collect::<Result<Vec<Option<GalleryMatch>>, GalleryError>>()?
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    out.sort_by(|a, b| b.fused.total_cmp(&a.fused));
    crate::telemetry::stage2(started.elapsed(), out.len());
    Ok(out)
}

/// Turns ranked candidates into an outcome.
pub fn decide(
    candidates: Vec<GalleryMatch>,
    shortlist: Vec<u64>,
    gallery_size: usize,
    config: &SearchConfig,
) -> SearchOutcome {
    let threshold = fusion::threshold(config.target_fpir, gallery_size);
    let best = candidates.first().cloned();
    let passed: Vec<GalleryMatch> = candidates
        .into_iter()
        .filter(|c| c.fused >= threshold)
        .collect();
    let verdict = if passed.is_empty() {
        SearchVerdict::Single
    } else {
        SearchVerdict::Duplicate(passed)
    };
    SearchOutcome {
        verdict,
        shortlist,
        best,
        gallery_size,
        threshold,
    }
}

/// Searches a batch of prepared probes against the gallery as it is now (read-only: nothing
/// is enrolled). One first-stage pass serves the whole batch.
pub fn search_batch(
    gallery: &Gallery,
    probes: &[&PreparedPerson],
    config: &SearchConfig,
) -> Result<Vec<SearchOutcome>, GalleryError> {
    let snap = gallery.snapshot();
    let queries = probes
        .iter()
        .map(|p| Stage1Probe::new(&p.record, gallery.preparer().iris(), config.iris_gate))
        .collect::<Result<Vec<_>, _>>()?;
    let shortlists = stage1::scan(&snap, &queries, &scorer(gallery), config.shortlist)?;
    probes
        .iter()
        .zip(shortlists)
        .map(|(probe, hits)| {
            if let Some(r) = check(probe, config) {
                return Ok(SearchOutcome {
                    verdict: SearchVerdict::Rejected(r),
                    shortlist: Vec::new(),
                    best: None,
                    gallery_size: snap.len(),
                    threshold: fusion::threshold(config.target_fpir, snap.len()),
                });
            }
            let candidates = second_stage(gallery, &snap, probe, &hits)?;
            Ok(decide(
                candidates,
                hits.iter().map(|h| h.key).collect(),
                snap.len(),
                config,
            ))
        })
        .collect()
}

/// Searches one probe (see [`search_batch`]).
pub fn search(
    gallery: &Gallery,
    probe: &PreparedPerson,
    config: &SearchConfig,
) -> Result<SearchOutcome, GalleryError> {
    search_batch(gallery, &[probe], config)?
        .pop()
        .ok_or_else(|| GalleryError::InvalidEnrolment("empty batch".into()))
}
