//! 1:1 comparisons for OSIA's verifications (fingers and eyes): a probe against an encounter in the gallery
//! (`GalleryEngine::compare_one`), and two probes against each other (the same two stages:
//! the first-stage record scored in full, then the second-stage finger comparison and
//! fusion, with the gallery's matcher and calibration).

use tunggal_index::gallery::PreparedPerson;
use tunggal_index::search::{scorer, stage2, Stage1Probe};

use crate::engine::{convert, GalleryEngine};
use crate::enrolment::record::Probe;
use crate::enrolment::EngineError;

/// One comparison's scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Fused log-likelihood ratio.
    pub score: f64,
    /// Matcher score by finger position 1–10 (index 0 = position 1).
    pub finger_scores: [Option<f32>; 10],
    /// Normalised Hamming distance per eye (0 right, 1 left).
    pub iris_distances: [Option<f32>; 2],
}

fn unavailable(e: impl std::fmt::Display) -> EngineError {
    EngineError::Unavailable(e.to_string())
}

/// Prepares a probe as the gallery prepares an enrolment.
pub fn prepare(engine: &GalleryEngine, probe: &Probe) -> Result<PreparedPerson, EngineError> {
    engine
        .gallery()
        .prepare(&convert::enrolment(probe))
        .map_err(unavailable)
}

/// Compares `probe` with gallery person `key`; `None` when the key holds nobody.
pub fn with_key(
    engine: &GalleryEngine,
    probe: &PreparedPerson,
    key: u64,
) -> Result<Option<Comparison>, EngineError> {
    let m = engine.compare_one(probe, key).map_err(unavailable)?;
    Ok(m.map(|m| {
        let c = convert::stored_candidate(&m);
        Comparison {
            score: c.score,
            finger_scores: c.finger_scores,
            iris_distances: c.iris_distances,
        }
    }))
}

/// Compares two probes.
pub fn probes(
    engine: &GalleryEngine,
    a: &PreparedPerson,
    b: &PreparedPerson,
) -> Result<Comparison, EngineError> {
    let gallery = engine.gallery();
    let query = Stage1Probe::new(
        &a.record,
        gallery.preparer().iris(),
        engine.search_config().iris_gate,
    )
    .map_err(unavailable)?;
    let hit = scorer(gallery)
        .score_full(&query, &b.record)
        .map_err(unavailable)?;
    let m = stage2::compare(
        gallery.preparer().matcher(),
        gallery.calibration(),
        &a.fingers,
        &hit,
        &b.fingers,
    );
    let c = convert::stored_candidate(&m);
    Ok(Comparison {
        score: c.score,
        finger_scores: c.finger_scores,
        iris_distances: c.iris_distances,
    })
}
