//! First stage: every live person of the gallery against a batch of probes, on hot records
//! only (finger descriptors by popcount, irises with the iris matcher), keeping the best `k`
//! per probe.
//!
//! Each probe eye is prepared once per search as an [`IrisQuery`] (the probe rotated over the
//! matcher's window, and threshold tables for the *iris gate*, a permissive threshold on the
//! normalised Hamming distance). A gallery eye is first screened by the coarse level of
//! [`ScanStrategy::Coarse`] (the record prefix at every second rotation, a screen set to keep
//! genuine comparisons); one it keeps is compared over all rows at every rotation, and when
//! its best `hd_norm` over the window is within the gate it is calibrated. One that does not
//! pass is a non-match and gets the *iris floor*: the calibrated ratio at the gate,
//! which bounds from above the ratio of every distance beyond it (the table is monotone).
//!
//! Rayon splits the gallery into blocks of [`BLOCK`] records. Within a block, each run of
//! [`RUN`] records is scored against every probe of the batch while it sits in cache, so a
//! batch costs one pass over memory. Per run and probe, the finger evidence of all records
//! comes first from the finger loop ([`FingerKernel`]: AVX-512 or AVX2 when the CPU has them), then each
//! record's irises; the per-finger detail of a hit is filled in only when it enters the
//! probe's top `k`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::gallery::iris::IRIS_RECORD_WORDS;
use crate::gallery::person_record::PERSON_RECORD_BYTES;
use crate::gallery::person_record::{PersonRecord, EYES, EYE_PRESENCE_SHIFT, FINGERS};
use crate::gallery::GalleryError;
use crate::iris::{decode_record, IrisMatcher, IrisQuery, IrisScore};
use crate::search::finger_scan::{self, FingerKernel};
use crate::search::fusion::Calibration;
use crate::search::same_capture::{self, SameCapture};
use crate::storage::Snapshot;

/// Records per parallel work item.
pub const BLOCK: usize = 2048;

/// Records of a block scored against every probe of the batch before moving on (about
/// 150 KB of hot records, so the batch's probes find them in the core's cache).
pub const RUN: usize = 64;

/// Words of a hot record (the stride of its iris records in a run).
const PERSON_RECORD_WORDS: usize = PERSON_RECORD_BYTES / 8;

/// Word offset of the first iris record inside a hot record.
const IRIS_OFFSET_WORDS: usize = std::mem::offset_of!(PersonRecord, irises) / 8;

/// One eye's first-stage evidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EyeEvidence {
    /// Best normalised Hamming distance over the rotation window; `None` when the eye did not
    /// pass the iris gate (or had too few jointly valid bits at every rotation).
    pub hd_norm: Option<f32>,
    /// Best rotation in angular positions (0 when not scored).
    pub rotation: i32,
    /// Calibrated log-likelihood ratio (capped per eye); the iris floor when not scored.
    pub llr: f32,
    /// Whether the probe's eye is the enrolled capture submitted again.
    pub same: Option<SameCapture>,
}

/// A shortlisted person.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage1Hit {
    /// Person key.
    pub key: u64,
    /// First-stage fused ratio.
    pub score: f32,
    /// Descriptor similarity per finger slot (NaN where either side lacks the finger).
    pub descriptors: [f32; FINGERS],
    /// Iris evidence per eye (`None` where either side lacks the eye).
    pub eyes: [Option<EyeEvidence>; EYES],
}

impl Eq for Stage1Hit {}

impl Ord for Stage1Hit {
    /// Reversed on score, so a `BinaryHeap` keeps the worst on top.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(other.key.cmp(&self.key))
    }
}

impl PartialOrd for Stage1Hit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A probe prepared for one search: its hot record and one iris query per present eye.
#[derive(Debug, Clone)]
pub struct Stage1Probe<'a> {
    /// The probe's hot record.
    pub record: &'a PersonRecord,
    eyes: [Option<IrisQuery>; EYES],
}

impl<'a> Stage1Probe<'a> {
    /// Prepares `record`'s eyes for scans with `matcher` at the iris gate `gate` (on the
    /// normalised distance). Fails when a present eye is not a usable code of the matcher's
    /// layout.
    pub fn new(
        record: &'a PersonRecord,
        matcher: &IrisMatcher,
        gate: f64,
    ) -> Result<Self, GalleryError> {
        let mut eyes: [Option<IrisQuery>; EYES] = Default::default();
        for (eye, out) in eyes.iter_mut().enumerate() {
            if record.has_eye(eye) {
                let template = decode_record(matcher.layout(), &record.irises[eye])?;
                *out = Some(matcher.query(&template, gate)?);
            }
        }
        Ok(Self { record, eyes })
    }

    /// The query of eye `eye`, if the probe has that eye.
    pub fn eye(&self, eye: usize) -> Option<&IrisQuery> {
        self.eyes.get(eye).and_then(Option::as_ref)
    }
}

/// What the first stage scores with: calibration, finger loop body and iris matcher.
#[derive(Debug, Clone, Copy)]
pub struct Scorer<'a> {
    /// Score calibration.
    pub calibration: &'a Calibration,
    /// The finger loop's body (every body gives the same sums).
    pub fingers: FingerKernel,
    /// Iris matcher (the layout of the gallery's iris slots).
    pub iris: &'a IrisMatcher,
}

impl Scorer<'_> {
    /// The iris floor of a query: the capped ratio at its gate.
    #[inline]
    fn iris_floor(&self, query: &IrisQuery) -> f32 {
        self.eye_llr(query.threshold())
    }

    #[inline]
    fn eye_llr(&self, hd_norm: f64) -> f32 {
        let cap = self.calibration.caps.per_eye;
        self.calibration
            .iris
            .llr(1.0 - hd_norm as f32)
            .clamp(-cap, cap)
    }

    /// The evidence of a gallery eye from its score (the iris floor when there is none).
    #[inline]
    fn evidence(&self, query: &IrisQuery, score: Option<IrisScore>) -> EyeEvidence {
        match score {
            Some(s) => EyeEvidence {
                hd_norm: Some(s.hd_norm as f32),
                rotation: s.rotation,
                llr: self.eye_llr(s.hd_norm),
                same: None,
            },
            None => EyeEvidence {
                hd_norm: None,
                rotation: 0,
                llr: self.iris_floor(query),
                same: None,
            },
        }
    }

    /// The iris sum of a gallery record none of whose eyes passed the coarse level, indexed
    /// by the record's eye presence bits ([`eyes_of`]): the floors of the eyes both sides
    /// have, added in eye order as [`Scorer::irises`] adds them.
    fn floors(&self, probe: &Stage1Probe<'_>) -> [f32; 1 << EYES] {
        let mut out = [0.0f32; 1 << EYES];
        for (present, sum) in out.iter_mut().enumerate() {
            for eye in 0..EYES {
                if let (Some(q), true) = (probe.eye(eye), present >> eye & 1 == 1) {
                    *sum += self.iris_floor(q);
                }
            }
        }
        out
    }

    /// Whether the coarse level keeps gallery eye `slot` for `query`.
    fn coarse_keeps(&self, query: &IrisQuery, slot: &[u64]) -> Result<bool, GalleryError> {
        let mut kept = [0u64];
        self.iris
            .coarse_screen(query, slot, IRIS_RECORD_WORDS, &mut kept)?;
        Ok(kept[0] != 0)
    }

    /// Descriptor similarity per finger slot, normalised by the gallery finger's offset (NaN
    /// where either side lacks the finger).
    fn descriptors(p: &PersonRecord, g: &PersonRecord) -> [f32; FINGERS] {
        let common = p.presence & g.presence;
        let mut out = [f32::NAN; FINGERS];
        for (slot, d) in out.iter_mut().enumerate() {
            if common & (1 << slot) != 0 {
                *d = finger_scan::slot_similarity(p, g, slot);
            }
        }
        out
    }

    /// Iris evidence of a gallery record: the sum of its eyes' ratios, and each eye's
    /// evidence. With `screen`, `kept(eye)` says whether the coarse level kept the eye, and
    /// the eyes it kept are compared in full; without, every eye is compared in full and
    /// judged against the gate.
    fn irises(
        &self,
        probe: &Stage1Probe<'_>,
        g: &PersonRecord,
        screen: bool,
        kept: impl Fn(usize) -> bool,
    ) -> Result<(f32, [Option<EyeEvidence>; EYES]), GalleryError> {
        let mut eyes = [None; EYES];
        let mut irises = 0.0;
        for (eye, out) in eyes.iter_mut().enumerate() {
            if let (Some(q), true) = (probe.eye(eye), g.has_eye(eye)) {
                let slot = &g.irises[eye];
                let score = if screen {
                    kept(eye)
                        .then(|| self.iris.finish_coarse(q, slot))
                        .flatten()
                } else {
                    let s = self.iris.compare(q.probe(), slot)?.score();
                    s.filter(|s| s.hd_norm <= q.threshold())
                };
                let mut e = self.evidence(q, score);
                e.same =
                    same_capture::eye(score.map(|s| s.hd as f32), &probe.record.irises[eye], slot);
                irises += e.llr;
                *out = Some(e);
            }
        }
        Ok((irises, eyes))
    }

    fn hit(
        &self,
        probe: &Stage1Probe<'_>,
        g: &PersonRecord,
        screen: bool,
    ) -> Result<Stage1Hit, GalleryError> {
        let fingers = finger_scan::person(probe.record, g, &self.calibration.descriptor);
        let mut kept = [false; EYES];
        if screen {
            for (eye, k) in kept.iter_mut().enumerate() {
                if let (Some(q), true) = (probe.eye(eye), g.has_eye(eye)) {
                    *k = self.coarse_keeps(q, &g.irises[eye])?;
                }
            }
        }
        let (irises, eyes) = self.irises(probe, g, screen, |eye| kept[eye])?;
        Ok(Stage1Hit {
            key: g.key,
            score: self.calibration.fuse(fingers, irises),
            descriptors: Self::descriptors(probe.record, g),
            eyes,
        })
    }

    /// Scores one gallery record against one probe as a scan does (coarse screen, then a
    /// full comparison of the eyes it keeps).
    #[inline]
    pub fn score(
        &self,
        probe: &Stage1Probe<'_>,
        g: &PersonRecord,
    ) -> Result<Stage1Hit, GalleryError> {
        self.hit(probe, g, true)
    }

    /// Scores one gallery record against one probe with full iris comparisons (no cascade);
    /// eyes beyond the gate get the iris floor as in a scan.
    pub fn score_full(
        &self,
        probe: &Stage1Probe<'_>,
        g: &PersonRecord,
    ) -> Result<Stage1Hit, GalleryError> {
        self.hit(probe, g, false)
    }
}

/// The eye presence bits of a record (bit `eye` set when the eye is present).
#[inline]
fn eyes_of(g: &PersonRecord) -> usize {
    (g.presence >> EYE_PRESENCE_SHIFT) as usize & ((1 << EYES) - 1)
}

/// The best `k` hits, kept in a min-heap.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Stage1Hit>,
}

impl TopK {
    /// Empty, keeping `k`.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// Offers a hit.
    #[inline]
    pub fn offer(&mut self, hit: Stage1Hit) {
        if self.heap.len() < self.k {
            self.heap.push(hit);
        } else if let Some(worst) = self.heap.peek() {
            if hit.score > worst.score {
                self.heap.pop();
                self.heap.push(hit);
            }
        }
    }

    /// Whether a hit scoring `score` would be kept.
    #[inline]
    pub fn accepts(&self, score: f32) -> bool {
        self.heap.len() < self.k || self.heap.peek().is_some_and(|worst| score > worst.score)
    }

    /// Merges another.
    pub fn merge(mut self, other: TopK) -> TopK {
        for h in other.heap {
            self.offer(h);
        }
        self
    }

    /// Hits, best first.
    pub fn into_sorted(self) -> Vec<Stage1Hit> {
        // The heap's order is reversed on score, so ascending order is best first.
        self.heap.into_sorted_vec()
    }
}

/// Scans every live person in `snap` for each probe; returns per probe the best `k`, best
/// first.
pub fn scan(
    snap: &Snapshot<'_>,
    probes: &[Stage1Probe<'_>],
    scorer: &Scorer<'_>,
    k: usize,
) -> Result<Vec<Vec<Stage1Hit>>, GalleryError> {
    let started = std::time::Instant::now();
    let mut blocks = Vec::new();
    for seg in snap.segments() {
        let records: &[PersonRecord] = seg.records().map_err(|_| GalleryError::RecordType)?;
        for start in (0..records.len()).step_by(BLOCK) {
            let end = (start + BLOCK).min(records.len());
            blocks.push((seg, start, &records[start..end]));
        }
    }
    let empty = || probes.iter().map(|_| TopK::new(k)).collect::<Vec<_>>();
    let tops = blocks
        .par_iter()
        .map(|&(seg, start, records)| {
            let mut tops = empty();
            let mut fingers = [0.0f32; RUN];
            let mut kept = [[0u64; RUN]; EYES];
            for (r, run) in records.chunks(RUN).enumerate() {
                let base = start + r * RUN;
                let words: &[u64] = bytemuck::cast_slice(run);
                for (p, top) in probes.iter().zip(tops.iter_mut()) {
                    let fingers = &mut fingers[..run.len()];
                    let table = &scorer.calibration.descriptor;
                    scorer.fingers.evidence(p.record, run, table, fingers);
                    for (eye, kept) in kept.iter_mut().enumerate() {
                        if let Some(q) = p.eye(eye) {
                            let from = IRIS_OFFSET_WORDS + eye * IRIS_RECORD_WORDS;
                            scorer.iris.coarse_screen(
                                q,
                                words.get(from..).unwrap_or_default(),
                                PERSON_RECORD_WORDS,
                                &mut kept[..run.len()],
                            )?;
                        } else {
                            // No screen for an eye the probe lacks: nothing kept.
                            kept.fill(0);
                        }
                    }
                    let floors = scorer.floors(p);
                    for (i, (g, &f)) in run.iter().zip(fingers.iter()).enumerate() {
                        if !seg.is_live((base + i) as u32) {
                            continue;
                        }
                        let any_kept = kept[0][i] | kept[1][i] != 0;
                        // Eyes the coarse level dropped take the floor: without a kept eye the
                        // iris sum depends only on which eyes both sides have.
                        let kept_eye = |eye: usize| kept[eye][i] != 0;
                        let (score, eyes) = if any_kept {
                            let (irises, eyes) = scorer.irises(p, g, true, kept_eye)?;
                            (scorer.calibration.fuse(f, irises), Some(eyes))
                        } else {
                            (scorer.calibration.fuse(f, floors[eyes_of(g)]), None)
                        };
                        if top.accepts(score) {
                            let eyes = match eyes {
                                Some(eyes) => eyes,
                                None => scorer.irises(p, g, true, kept_eye)?.1,
                            };
                            top.offer(Stage1Hit {
                                key: g.key,
                                score,
                                descriptors: Scorer::descriptors(p.record, g),
                                eyes,
                            });
                        }
                    }
                }
            }
            Ok::<_, GalleryError>(tops)
        })
        .try_reduce(empty, |a, b| {
            Ok(a.into_iter().zip(b).map(|(x, y)| x.merge(y)).collect())
        })?;
    crate::telemetry::stage1(started.elapsed(), probes.len(), snap.len());
    Ok(tops.into_iter().map(TopK::into_sorted).collect())
}
