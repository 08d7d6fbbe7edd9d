//! One probe through the deduplicator, and what the report says about it: the verdict and
//! candidates, and, against its mate, the first-stage rank and the fused second-stage score
//! the mate gets whether or not it was shortlisted.

use rayon::prelude::*;
use serde::Serialize;
use tunggal_index::gallery::{Gallery, PersonRecord, PreparedPerson};
use tunggal_index::search::{scorer, stage2, Decision, Deduplicator, SearchVerdict, Stage1Probe};

use super::probes::{Probe, ProbeKind};
use crate::engine::rejection_reason;

/// A candidate of a verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ReportCandidate {
    /// Who: a real person's name, or `background-{key}`.
    pub who: String,
    /// Gallery key.
    pub key: u64,
    /// Fused ratio after the second stage.
    pub fused: f32,
    /// First-stage ratio.
    pub stage1: f32,
}

/// One finger of the probe against the same position of the mate.
#[derive(Debug, Clone, Serialize)]
pub struct MateFinger {
    /// ISO position.
    pub position: usize,
    /// First-stage descriptor similarity.
    pub descriptor: f32,
    /// Matcher score.
    pub score: f32,
    /// Its calibrated ratio.
    pub llr: f32,
}

/// The probe against its mate.
#[derive(Debug, Clone, Serialize)]
pub struct MateOut {
    /// The mate's name.
    pub who: String,
    /// Rank of the mate on the shortlist (1 = first); `None` when not shortlisted.
    pub shortlist_rank: Option<usize>,
    /// Rank of the mate among every gallery person by the first-stage ratio (1 = first),
    /// computed record by record; ties count in the mate's favour.
    pub stage1_rank: u64,
    /// The mate's first-stage ratio.
    pub stage1: f32,
    /// The mate's fused ratio after the second stage (computed also when not shortlisted).
    pub fused: f32,
    /// Per finger position both sides have.
    pub fingers: Vec<MateFinger>,
    /// The verdict lists the mate.
    pub found: bool,
}

/// What one probe gave.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeOut {
    /// Probe label.
    pub label: String,
    /// Impression of its fingers.
    pub impression: u32,
    /// Mated or chimera.
    #[serde(flatten)]
    pub kind: ProbeKind,
    /// Fingers and eyes submitted.
    pub fingers: usize,
    /// Eyes submitted.
    pub eyes: usize,
    /// `single`, `duplicate` or `rejected:{reason}`.
    pub verdict: String,
    /// Decision threshold on the fused ratio.
    pub threshold: f32,
    /// Gallery persons searched.
    pub gallery_size: usize,
    /// First-stage ratio of the last shortlisted person (the cut).
    pub shortlist_cut: Option<f32>,
    /// Candidates above the threshold, best first.
    pub candidates: Vec<ReportCandidate>,
    /// The best candidate after the second stage, above the threshold or not.
    pub best: Option<ReportCandidate>,
    /// Against the mate (mated probes).
    pub mate: Option<MateOut>,
}

/// Names gallery keys: real person `k` is key `background + k`.
#[derive(Debug)]
pub struct Names<'a> {
    /// Background persons (keys below).
    pub background: u64,
    /// Real person names by index.
    pub persons: &'a [String],
}

impl Names<'_> {
    fn of(&self, key: u64) -> String {
        match key.checked_sub(self.background) {
            None => format!("background-{key}"),
            Some(k) => self
                .persons
                .get(k as usize)
                .cloned()
                .unwrap_or_else(|| format!("probe-{key}")),
        }
    }

    fn candidate(&self, c: &tunggal_index::search::GalleryMatch) -> ReportCandidate {
        ReportCandidate {
            who: self.of(c.key),
            key: c.key,
            fused: c.fused,
            stage1: c.stage1,
        }
    }
}

/// The rank of a first-stage ratio among every live record but `except`: one more than the
/// number of records scoring strictly above it.
fn stage1_rank(
    gallery: &Gallery,
    query: &Stage1Probe<'_>,
    score: f32,
    except: u64,
) -> anyhow::Result<u64> {
    let snap = gallery.snapshot();
    let sc = scorer(gallery);
    let mut above = 0u64;
    for seg in snap.segments() {
        let records: &[PersonRecord] = seg
            .records()
            .map_err(|e| anyhow::anyhow!("gallery records: {e}"))?;
        above += records
            .par_iter()
            .enumerate()
            .map(|(i, g)| {
                if !seg.is_live(i as u32) || g.key == except {
                    return Ok(0);
                }
                Ok(u64::from(sc.score(query, g)?.score > score))
            })
            .try_reduce(|| 0, |a, b| Ok::<_, anyhow::Error>(a + b))?;
    }
    Ok(above + 1)
}

/// The probe against its mate under `mate_key`.
fn against_mate(
    gallery: &Gallery,
    prepared: &PreparedPerson,
    mate_key: u64,
    names: &Names<'_>,
    decision: &Decision,
    gate: f64,
) -> anyhow::Result<MateOut> {
    let stored = gallery
        .get(mate_key)?
        .ok_or_else(|| anyhow::anyhow!("mate {mate_key} is not in the gallery"))?;
    let query = Stage1Probe::new(&prepared.record, gallery.preparer().iris(), gate)?;
    let hit = scorer(gallery).score(&query, &stored.record)?;
    let candidate = stage2::compare(
        gallery.preparer().matcher(),
        gallery.calibration(),
        &prepared.fingers,
        &hit,
        &stored.fingers,
    );
    let fingers = candidate
        .fingers
        .iter()
        .enumerate()
        .filter_map(|(slot, f)| {
            f.map(|f| MateFinger {
                position: slot + 1,
                descriptor: f.descriptor,
                score: f.score,
                llr: f.llr,
            })
        })
        .collect();
    let found = match &decision.outcome.verdict {
        SearchVerdict::Duplicate(c) => c.iter().any(|c| c.key == mate_key),
        _ => false,
    };
    Ok(MateOut {
        who: names.of(mate_key),
        shortlist_rank: decision
            .outcome
            .shortlist
            .iter()
            .position(|&k| k == mate_key)
            .map(|r| r + 1),
        stage1_rank: stage1_rank(gallery, &query, hit.score, mate_key)?,
        stage1: hit.score,
        fused: candidate.fused,
        fingers,
        found,
    })
}

/// Submits `probe` under `key` through `engine`, removes it again if it was enrolled (so no
/// probe sees another), and reports on it; `mate_key` is the key of its mate (mated probes).
pub fn run_probe(
    engine: &Deduplicator,
    probe: &Probe,
    key: u64,
    mate_key: Option<u64>,
    names: &Names<'_>,
) -> anyhow::Result<ProbeOut> {
    let gallery = engine.gallery();
    let prepared = gallery.prepare(&probe.enrolment)?;
    let decision = engine.submit_prepared(key, prepared.clone())?;
    if decision.enrolled {
        gallery.delete(key)?;
    }
    let o = &decision.outcome;
    let verdict = match &o.verdict {
        SearchVerdict::Single => "single".to_owned(),
        SearchVerdict::Duplicate(_) => "duplicate".to_owned(),
        SearchVerdict::Rejected(r) => format!("rejected:{}", rejection_reason(r)),
    };
    let candidates = match &o.verdict {
        SearchVerdict::Duplicate(c) => c.iter().map(|c| names.candidate(c)).collect(),
        _ => Vec::new(),
    };
    let mate = match mate_key {
        Some(m) if !matches!(o.verdict, SearchVerdict::Rejected(_)) => {
            let gate = engine.config().iris_gate;
            Some(against_mate(gallery, &prepared, m, names, &decision, gate)?)
        }
        _ => None,
    };
    // The shortlist holds keys only: the cut is the last one's first-stage ratio.
    let shortlist_cut = match o.shortlist.last() {
        Some(&last) => {
            let query = Stage1Probe::new(
                &prepared.record,
                gallery.preparer().iris(),
                engine.config().iris_gate,
            )?;
            match gallery.get(last)? {
                Some(s) => Some(scorer(gallery).score(&query, &s.record)?.score),
                None => None,
            }
        }
        None => None,
    };
    Ok(ProbeOut {
        label: probe.label.clone(),
        impression: probe.impression,
        kind: probe.kind.clone(),
        fingers: probe.enrolment.fingers.len(),
        eyes: probe.enrolment.irises.len(),
        verdict,
        threshold: o.threshold,
        gallery_size: o.gallery_size,
        shortlist_cut,
        candidates,
        best: o.best.as_ref().map(|c| names.candidate(c)),
        mate,
    })
}
