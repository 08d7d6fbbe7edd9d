//! First stage: every live person of the gallery against a batch of probes, on hot records
//! only (finger descriptors by popcount, irises exhaustively), keeping the best `k` per probe.
//!
//! Rayon splits the gallery into blocks of [`BLOCK`] records; each block is read once for the
//! whole batch of probes, so a batch costs one pass over memory.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::gallery::descriptor::similarity;
use crate::gallery::iris::iris_distance;
use crate::gallery::record::{PersonRecord, EYES, FINGERS};
use crate::gallery::GalleryError;
use crate::search::fusion::Calibration;
use crate::storage::Snapshot;

/// Records per parallel work item.
pub const BLOCK: usize = 2048;

/// A shortlisted person.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage1Hit {
    /// Person key.
    pub key: u64,
    /// First-stage fused ratio.
    pub score: f32,
    /// Descriptor similarity per finger slot (NaN where either side lacks the finger).
    pub descriptors: [f32; FINGERS],
    /// Iris distance per eye.
    pub eyes: [Option<f32>; EYES],
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

/// Scores one gallery record against one probe record.
#[inline]
pub fn score(probe: &PersonRecord, g: &PersonRecord, calibration: &Calibration) -> Stage1Hit {
    let common = probe.presence & g.presence;
    let mut descriptors = [f32::NAN; FINGERS];
    let mut fingers = 0.0;
    for (slot, d) in descriptors.iter_mut().enumerate() {
        if common & (1 << slot) != 0 {
            let s = similarity(
                &probe.fingers[slot],
                probe.ones[slot],
                &g.fingers[slot],
                g.ones[slot],
            );
            *d = s;
            fingers += calibration.descriptor.llr(s);
        }
    }
    let mut eyes = [None; EYES];
    let mut irises = 0.0;
    for (eye, e) in eyes.iter_mut().enumerate() {
        if probe.has_eye(eye) && g.has_eye(eye) {
            *e = iris_distance(&probe.irises[eye], &g.irises[eye]);
            if let Some(hd) = *e {
                irises += calibration
                    .iris
                    .llr(1.0 - hd)
                    .clamp(-calibration.caps.per_eye, calibration.caps.per_eye);
            }
        }
    }
    Stage1Hit {
        key: g.key,
        score: calibration.fuse(fingers, irises),
        descriptors,
        eyes,
    }
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
    probes: &[&PersonRecord],
    calibration: &Calibration,
    k: usize,
) -> Result<Vec<Vec<Stage1Hit>>, GalleryError> {
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
            for (i, g) in records.iter().enumerate() {
                if !seg.is_live((start + i) as u32) {
                    continue;
                }
                for (p, top) in probes.iter().zip(tops.iter_mut()) {
                    top.offer(score(p, g, calibration));
                }
            }
            tops
        })
        .reduce(empty, |a, b| {
            a.into_iter().zip(b).map(|(x, y)| x.merge(y)).collect()
        });
    Ok(tops.into_iter().map(TopK::into_sorted).collect())
}
