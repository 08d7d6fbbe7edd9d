//! `tunggal dedup-gallery`: all-against-all deduplication of an enrolled gallery.
//!
//! Every person in the gallery, in key order, is searched against the gallery (excluding
//! itself) without being inserted; probes go in batches so that one first-stage pass over
//! the gallery serves the whole batch. Every pair whose fused score reaches the threshold
//! (by default the engine's threshold for the target FPIR at this gallery size) becomes one
//! [`CaseKind::GalleryPair`] case: the later-enrolled person (higher key) is the applicant,
//! the earlier one the candidate.
//!
//! A pair is keyed unordered, so A–B and B–A make one case, and pairs that already have a
//! case of any kind (an enrolment's duplicate case analysts decided, or a gallery-pair case
//! of an earlier or interrupted run) are not opened again. After each
//! batch's cases are journalled, the last probed key is written to a [`Checkpoint`]; a rerun
//! resumes after it.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use tunggal_index::gallery::{GalleryError, PreparedPerson};
use tunggal_index::search::{fusion, scorer, second_stage, stage1, Stage1Probe};

use super::checkpoint::{Checkpoint, CheckpointError};
use crate::cases::{CaseCandidate, CaseError, CaseKind, NewCase};
use crate::engine::registry::{key_of, Entry};
use crate::engine::{convert, GalleryEngine};

/// Checkpoint file of a gallery deduplication run, in the data directory.
pub const CHECKPOINT_NAME: &str = "dedup-gallery.checkpoint";

/// Why a run stopped.
#[derive(Debug, Error)]
pub enum DedupError {
    /// The gallery could not be read or searched.
    #[error("gallery: {0}")]
    Gallery(#[from] GalleryError),
    /// A case could not be opened.
    #[error("cases: {0}")]
    Cases(#[from] CaseError),
    /// The checkpoint could not be read or written.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
}

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct DedupOptions {
    /// The data directory (checkpoint).
    pub data_dir: PathBuf,
    /// Probes per pass over the gallery.
    pub batch: usize,
    /// Fused-score threshold; `None` for the engine's threshold at this gallery size.
    pub threshold: Option<f32>,
    /// Ignore the checkpoint and probe every person again (existing pairs are not reopened).
    pub restart: bool,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupPosition {
    /// The last person probed (every key up to it is done).
    pub last_key: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DedupReport {
    /// Persons in the gallery.
    pub persons: usize,
    /// Persons skipped because an earlier run probed them.
    pub resumed_from: usize,
    /// Persons probed by this run.
    pub probed: usize,
    /// Suspected pairs found by this run (each counted once).
    pub pairs: usize,
    /// Of which already had a case.
    pub existing: usize,
    /// Cases opened by this run.
    pub opened: usize,
    /// The fused-score threshold used.
    pub threshold: f32,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl DedupReport {
    /// Persons probed per second.
    pub fn persons_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.probed as f64 / self.seconds
        } else {
            0.0
        }
    }
}

fn pair(a: u64, b: u64) -> (u64, u64) {
    (a.min(b), a.max(b))
}

/// Unordered pairs that already have a case of any kind, open or decided: a pair analysts
/// have seen (a biometric duplicate they cleared, whose applicant then joined the gallery,
/// or an earlier gallery-pair case) is never opened again.
fn existing_pairs(engine: &GalleryEngine) -> Result<HashSet<(u64, u64)>, CaseError> {
    let mut out = HashSet::new();
    engine.cases().for_each(|c| {
        let Some(a) = key_of(&c.new.applicant.reference_id) else {
            return;
        };
        for cand in &c.new.candidates {
            if let Some(b) = key_of(&cand.person.reference_id) {
                out.insert(pair(a, b));
            }
        }
    })?;
    Ok(out)
}

/// Runs the deduplication, calling `progress(probed, total)` after each batch.
pub fn dedup_gallery(
    engine: &GalleryEngine,
    options: &DedupOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<DedupReport, DedupError> {
    let started = Instant::now();
    let gallery = engine.gallery();
    let config = *engine.search_config();
    let mut keys: Vec<u64> = engine
        .registry()
        .filter(Entry::in_gallery)
        .iter()
        .map(|e| e.key)
        .collect();
    keys.sort_unstable();
    let checkpoint = Checkpoint::new(options.data_dir.join(CHECKPOINT_NAME));
    let saved: Option<DedupPosition> = if options.restart {
        None
    } else {
        checkpoint.load()?
    };
    let start = saved.map_or(0, |s| keys.partition_point(|&k| k <= s.last_key));
    let snap = gallery.snapshot();
    let threshold = options
        .threshold
        .unwrap_or_else(|| fusion::threshold(config.target_fpir, snap.len()));
    drop(snap);
    let mut report = DedupReport {
        persons: keys.len(),
        resumed_from: start,
        threshold,
        ..DedupReport::default()
    };
    let before = existing_pairs(engine)?;
    let mut seen = HashSet::new();
    progress(start, keys.len());
    let mut done = start;
    for batch in keys[start..].chunks(options.batch.max(1)) {
        let found = search_batch(engine, batch, config.shortlist, threshold)?;
        let mut news = Vec::new();
        let now = crate::cases::store::now_secs();
        for (a, c) in found {
            let p = pair(a, c.key);
            if !seen.insert(p) {
                continue;
            }
            report.pairs += 1;
            if before.contains(&p) {
                report.existing += 1;
                continue;
            }
            if let Some(new) = new_case(engine, a, &c) {
                news.push((new, now));
            }
        }
        report.opened += news.len();
        if !news.is_empty() {
            engine.cases().open_cases_at(news)?;
        }
        done += batch.len();
        report.probed += batch.len();
        if let Some(&last_key) = batch.last() {
            checkpoint.store(&DedupPosition { last_key })?;
        }
        progress(done, keys.len());
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Searches the persons under `keys` (one first-stage pass), returning `(probe key,
/// candidate)` for every other person at or above `threshold`.
fn search_batch(
    engine: &GalleryEngine,
    keys: &[u64],
    shortlist: usize,
    threshold: f32,
) -> Result<Vec<(u64, crate::engine::registry::StoredCandidate)>, DedupError> {
    let gallery = engine.gallery();
    let config = engine.search_config();
    let mut probes: Vec<(u64, PreparedPerson)> = Vec::with_capacity(keys.len());
    for &key in keys {
        if let Some(stored) = gallery.get(key)? {
            probes.push((
                key,
                PreparedPerson {
                    record: stored.record,
                    fingers: stored.fingers,
                    unusable_fingers: Vec::new(),
                    unusable_eyes: Vec::new(),
                },
            ));
        }
    }
    let snap = gallery.snapshot();
    let queries = probes
        .iter()
        .map(|(_, p)| Stage1Probe::new(&p.record, gallery.preparer().iris(), config.iris_gate))
        .collect::<Result<Vec<_>, _>>()?;
    // One more than the shortlist: the probe finds itself.
    let shortlists = stage1::scan(&snap, &queries, &scorer(gallery), shortlist + 1)?;
    let mut out = Vec::new();
    for ((key, probe), mut hits) in probes.iter().zip(shortlists) {
        hits.retain(|h| h.key != *key);
        hits.truncate(shortlist);
        for c in second_stage(gallery, &snap, probe, &hits)? {
            if c.fused >= threshold {
                out.push((*key, convert::stored_candidate(&c)));
            }
        }
    }
    Ok(out)
}

/// The case of the pair (`probe`, `found`): the higher key is the applicant.
fn new_case(
    engine: &GalleryEngine,
    probe: u64,
    found: &crate::engine::registry::StoredCandidate,
) -> Option<NewCase> {
    let (applicant, candidate) = if probe > found.key {
        (probe, found.key)
    } else {
        (found.key, probe)
    };
    let registry = engine.registry();
    let applicant = registry.get(applicant)?.meta.summary;
    let candidate = registry.get(candidate)?.meta.summary;
    Some(NewCase {
        kind: CaseKind::GalleryPair,
        applicant,
        candidates: vec![CaseCandidate {
            person: candidate,
            score: found.score,
            finger_scores: found.finger_scores,
            iris_distances: found.iris_distances,
            identical: found.identical,
        }],
        callback_url: None,
        calibration: engine.gallery().calibration().id.clone(),
    })
}
