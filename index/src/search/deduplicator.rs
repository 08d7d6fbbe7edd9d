//! The deduplication engine: enrolments are totally ordered, and each is searched against
//! every earlier one — those already in the gallery and those ahead of it in the same batch —
//! before it is enrolled.
//!
//! Callers prepare their enrolment (cylinders, descriptors) on their own thread, then take a
//! sequence number and queue it. Whoever finds no batch running becomes the leader: it takes
//! up to [`SearchConfig::max_batch`] queued enrolments in sequence order, scans the gallery
//! once for all of them, decides each in order — comparing it also, in full, with every
//! earlier member of the batch that was found new — enrols the new ones, publishes the
//! results, and steps down. Because the next batch starts only after those enrolments are in
//! the store, nothing can be missed between batches, and two captures of one person can
//! never both be found new.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

use crate::gallery::{Enrolment, Gallery, GalleryError, PreparedPerson};

use super::{
    check, decide, fusion, scorer, second_stage, stage1, stage2, SearchConfig, SearchOutcome,
    SearchVerdict, Stage1Probe,
};

/// The outcome of one submitted enrolment.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Position in the total order of enrolments.
    pub sequence: u64,
    /// The key it was submitted under.
    pub key: u64,
    /// Search outcome.
    pub outcome: SearchOutcome,
    /// Whether the person was enrolled (only when the verdict is `Single`).
    pub enrolled: bool,
    /// Probes searched in the same pass.
    pub batch_len: usize,
}

#[derive(Debug)]
struct Job {
    sequence: u64,
    key: u64,
    person: PreparedPerson,
}

#[derive(Debug, Default)]
struct Queue {
    next: u64,
    pending: Vec<Job>,
    done: HashMap<u64, Result<Decision, GalleryError>>,
    busy: bool,
}

/// A gallery with an ordered, batching search-then-enrol front.
#[derive(Debug)]
pub struct Deduplicator {
    gallery: Gallery,
    config: SearchConfig,
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Deduplicator {
    /// Wraps a gallery.
    pub fn new(gallery: Gallery, config: SearchConfig) -> Self {
        Self {
            gallery,
            config,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
        }
    }

    /// The gallery.
    pub fn gallery(&self) -> &Gallery {
        &self.gallery
    }

    /// The search policy.
    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// Unwraps the gallery.
    pub fn into_gallery(self) -> Gallery {
        self.gallery
    }

    /// Searches an enrolment against everyone enrolled before it and enrols it under `key`
    /// if it is new. Blocks until decided; safe to call from many threads, but not from a
    /// rayon job: a worker waiting inside the batch leader's parallel search may steal that
    /// job, which would then wait on the batch its own thread is leading.
    pub fn submit(&self, key: u64, enrolment: &Enrolment) -> Result<Decision, GalleryError> {
        let person = self.gallery.prepare(enrolment)?;
        self.submit_prepared(key, person)
    }

    /// [`Deduplicator::submit`] for an already prepared enrolment.
    pub fn submit_prepared(
        &self,
        key: u64,
        person: PreparedPerson,
    ) -> Result<Decision, GalleryError> {
        let mut q = self.queue.lock().map_err(|_| GalleryError::Poisoned)?;
        let sequence = q.next;
        q.next += 1;
        q.pending.push(Job {
            sequence,
            key,
            person,
        });
        loop {
            if let Some(result) = q.done.remove(&sequence) {
                return result;
            }
            if !q.busy && !q.pending.is_empty() {
                q.busy = true;
                let n = q.pending.len().min(self.config.max_batch.max(1));
                let batch: Vec<Job> = q.pending.drain(..n).collect();
                drop(q);
                let results = self.run_batch(batch);
                q = self.queue.lock().map_err(|_| GalleryError::Poisoned)?;
                for (seq, r) in results {
                    q.done.insert(seq, r);
                }
                q.busy = false;
                self.wake.notify_all();
                continue;
            }
            q = self.wake.wait(q).map_err(|_| GalleryError::Poisoned)?;
        }
    }

    /// Decides and enrols one batch, in sequence order.
    fn run_batch(&self, batch: Vec<Job>) -> Vec<(u64, Result<Decision, GalleryError>)> {
        let batch_len = batch.len();
        let decisions = match self.decide_batch(&batch) {
            Ok(d) => d,
            Err(e) => {
                let msg = e.to_string();
                return batch
                    .iter()
                    .map(|j| {
                        (
                            j.sequence,
                            Err(GalleryError::InvalidEnrolment(format!(
                                "batch failed: {msg}"
                            ))),
                        )
                    })
                    .collect();
            }
        };
        batch
            .into_iter()
            .zip(decisions)
            .map(|(job, outcome)| {
                let new = matches!(outcome.verdict, SearchVerdict::Single);
                let result = if new {
                    self.gallery.insert(job.key, &job.person).map(|_| true)
                } else {
                    Ok(false)
                };
                let r = result.map(|enrolled| Decision {
                    sequence: job.sequence,
                    key: job.key,
                    outcome,
                    enrolled,
                    batch_len,
                });
                (job.sequence, r)
            })
            .collect()
    }

    fn decide_batch(&self, batch: &[Job]) -> Result<Vec<SearchOutcome>, GalleryError> {
        let snap = self.gallery.snapshot();
        let cal = self.gallery.calibration();
        let scorer = scorer(&self.gallery);
        let queries = batch
            .iter()
            .map(|j| {
                Stage1Probe::new(
                    &j.person.record,
                    self.gallery.preparer().iris(),
                    self.config.iris_gate,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let shortlists = stage1::scan(&snap, &queries, &scorer, self.config.shortlist)?;
        let mut accepted: Vec<&Job> = Vec::new();
        let mut out = Vec::with_capacity(batch.len());
        for ((job, query), hits) in batch.iter().zip(&queries).zip(shortlists) {
            let gallery_size = snap.len() + accepted.len();
            if let Some(r) = check(&job.person, &self.config) {
                out.push(SearchOutcome {
                    verdict: SearchVerdict::Rejected(r),
                    shortlist: Vec::new(),
                    best: None,
                    gallery_size,
                    threshold: fusion::threshold(self.config.target_fpir, gallery_size),
                });
                continue;
            }
            let mut candidates = second_stage(&self.gallery, &snap, &job.person, &hits)?;
            // Earlier members of this batch found new are not in the snapshot: compare in full.
            for earlier in &accepted {
                let mut record = *earlier.person.record;
                record.key = earlier.key;
                let hit = scorer.score_full(query, &record)?;
                candidates.push(stage2::compare(
                    self.gallery.preparer().matcher(),
                    cal,
                    &job.person.fingers,
                    &hit,
                    &earlier.person.fingers,
                ));
            }
            candidates.sort_by(|a, b| b.fused.total_cmp(&a.fused));
            let outcome = decide(
                candidates,
                hits.iter().map(|h| h.key).collect(),
                gallery_size,
                &self.config,
            );
            if matches!(outcome.verdict, SearchVerdict::Single) {
                accepted.push(job);
            }
            out.push(outcome);
        }
        Ok(out)
    }
}
