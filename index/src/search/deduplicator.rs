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
//!
//! Every job that needs the total order goes through it ([`Ordered`]): a new enrolment
//! (inserted when single), an enrolment bound to an enrolled person (searched, never
//! inserted) and an applicant analysts cleared (inserted whatever the search finds). A job
//! may carry a *claim* (an identity number such as a NIK) that at most one gallery member
//! may hold: the leader resolves its holder in order — a member of the same or an earlier
//! batch whose claim the caller has not yet [released](Deduplicator::release), else
//! whoever the [`ClaimOwners`] names — and a job whose claim is held is compared with its
//! holder and never inserted.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

use crate::gallery::{Enrolment, Gallery, GalleryError, PreparedPerson};
use crate::storage::StorageError;

use super::{
    check, decide, fusion, scorer, second_stage, stage1, stage2, GalleryMatch, SearchConfig,
    SearchOutcome, SearchVerdict, Stage1Probe,
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
    /// The holder of the job's claim, when someone holds it (the job was not inserted).
    pub holder: Option<Holder>,
}

/// The gallery member holding a job's claim, and the job compared with it in full.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    /// The holder's key.
    pub key: u64,
    /// The comparison; `None` when the holder is no longer in the gallery.
    pub comparison: Option<GalleryMatch>,
}

/// When the sequencer inserts a decided job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// When the search finds it single (a new enrolment).
    WhenSingle,
    /// Never (searched in order only).
    Never,
    /// Whatever the search finds (an applicant analysts cleared).
    Always,
}

/// How a job takes its place in the total order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ordered {
    /// When to insert it.
    pub insert: Insert,
    /// An identity at most one gallery member may hold.
    pub claim: Option<String>,
}

impl Ordered {
    /// A new enrolment without a claim.
    pub const NEW: Self = Self {
        insert: Insert::WhenSingle,
        claim: None,
    };
}

/// Who holds a claim among the persons whose enrolment is settled (the caller's registry).
pub trait ClaimOwners: Send + Sync + std::fmt::Debug {
    /// The key of the gallery member holding `claim`, if any.
    fn owner(&self, claim: &str) -> Option<u64>;
}

#[derive(Debug)]
struct Job {
    sequence: u64,
    key: u64,
    person: PreparedPerson,
    order: Ordered,
}

/// A job's decision inside its batch.
struct Decided {
    outcome: SearchOutcome,
    holder: Option<Holder>,
    insert: bool,
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
    /// Claims of members inserted by the sequencer and not yet released: claim → key.
    claims: Mutex<HashMap<String, u64>>,
    owners: Option<Box<dyn ClaimOwners>>,
}

impl Deduplicator {
    /// Wraps a gallery.
    pub fn new(gallery: Gallery, config: SearchConfig) -> Self {
        Self {
            gallery,
            config,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            claims: Mutex::new(HashMap::new()),
            owners: None,
        }
    }

    /// Resolves claims the sequencer holds no member for through `owners`.
    pub fn with_claim_owners(mut self, owners: Box<dyn ClaimOwners>) -> Self {
        self.owners = Some(owners);
        self
    }

    /// Forgets that `key` holds `claim` (the caller's [`ClaimOwners`] names it from now on,
    /// or the member was never kept).
    pub fn release(&self, claim: &str, key: u64) {
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        if claims.get(claim) == Some(&key) {
            claims.remove(claim);
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
        self.submit_ordered(key, person, Ordered::NEW)
    }

    /// Places a prepared job in the total order (see [`Ordered`]) and blocks until it is
    /// decided and, if so, inserted. As [`Deduplicator::submit`], not from a rayon job.
    pub fn submit_ordered(
        &self,
        key: u64,
        person: PreparedPerson,
        order: Ordered,
    ) -> Result<Decision, GalleryError> {
        let mut q = self.queue.lock().map_err(|_| GalleryError::Poisoned)?;
        let sequence = q.next;
        q.next += 1;
        q.pending.push(Job {
            sequence,
            key,
            person,
            order,
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
                for job in &batch {
                    if let Some(claim) = &job.order.claim {
                        self.release(claim, job.key);
                    }
                }
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
        let inserted = self.insert_new(&batch, &decisions);
        batch
            .into_iter()
            .zip(decisions)
            .zip(inserted)
            .map(|((job, decided), inserted)| {
                if inserted.is_err() {
                    if let Some(claim) = &job.order.claim {
                        self.release(claim, job.key);
                    }
                }
                let r = inserted.map(|enrolled| Decision {
                    sequence: job.sequence,
                    key: job.key,
                    outcome: decided.outcome,
                    enrolled,
                    batch_len,
                    holder: decided.holder,
                });
                (job.sequence, r)
            })
            .collect()
    }

    /// Inserts the batch's jobs decided for insertion with one gallery commit; per job,
    /// whether it was enrolled. When the batch is refused before anything is logged (a key
    /// already live, a person that cannot be encoded), each is inserted on its own so only
    /// the faulty one fails; any other failure fails every one of them.
    fn insert_new(&self, batch: &[Job], decided: &[Decided]) -> Vec<Result<bool, GalleryError>> {
        let new: Vec<(u64, &PreparedPerson)> = batch
            .iter()
            .zip(decided)
            .filter(|(_, d)| d.insert)
            .map(|(job, _)| (job.key, &job.person))
            .collect();
        let all = match self.gallery.insert_batch(&new) {
            Ok(_) => Ok(()),
            Err(
                GalleryError::InvalidEnrolment(_)
                | GalleryError::Storage(
                    StorageError::DuplicateKey(_) | StorageError::RecordSize { .. },
                ),
            ) => Err(None),
            Err(e) => Err(Some(e.to_string())),
        };
        batch
            .iter()
            .zip(decided)
            .map(|(job, d)| {
                if !d.insert {
                    return Ok(false);
                }
                match &all {
                    Ok(()) => Ok(true),
                    Err(None) => self.gallery.insert(job.key, &job.person).map(|_| true),
                    Err(Some(msg)) => Err(GalleryError::InvalidEnrolment(format!(
                        "the batch's gallery commit failed: {msg}"
                    ))),
                }
            })
            .collect()
    }

    /// The holder of `claim`: a member the sequencer inserted and the caller has not
    /// released, else whoever the caller's registry names.
    fn holder_of(&self, claim: &str) -> Option<u64> {
        let held = self
            .claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(claim)
            .copied();
        held.or_else(|| self.owners.as_ref()?.owner(claim))
    }

    fn decide_batch(&self, batch: &[Job]) -> Result<Vec<Decided>, GalleryError> {
        let snap = self.gallery.snapshot();
        let cal = self.gallery.calibration();
        let matcher = self.gallery.preparer().matcher();
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
        // Earlier members of this batch to be inserted: not in the snapshot.
        let mut accepted: Vec<&Job> = Vec::new();
        let mut out = Vec::with_capacity(batch.len());
        for ((job, query), hits) in batch.iter().zip(&queries).zip(shortlists) {
            let gallery_size = snap.len() + accepted.len();
            let always = job.order.insert == Insert::Always;
            if let Some(r) = check(&job.person, &self.config) {
                if always {
                    accepted.push(job);
                }
                out.push(Decided {
                    outcome: SearchOutcome {
                        verdict: SearchVerdict::Rejected(r),
                        shortlist: Vec::new(),
                        best: None,
                        gallery_size,
                        threshold: fusion::threshold(self.config.target_fpir, gallery_size),
                    },
                    holder: None,
                    insert: always,
                });
                continue;
            }
            let mut candidates = second_stage(&self.gallery, &snap, &job.person, &hits)?;
            // Earlier members of this batch are not in the snapshot: compare in full.
            let full = |earlier: &Job| -> Result<GalleryMatch, GalleryError> {
                let mut record = *earlier.person.record;
                record.key = earlier.key;
                let hit = scorer.score_full(query, &record)?;
                Ok(stage2::compare(
                    matcher,
                    cal,
                    &job.person.fingers,
                    &hit,
                    &earlier.person.fingers,
                ))
            };
            for &earlier in &accepted {
                candidates.push(full(earlier)?);
            }
            // Best first; equal scores (two captures of one person at the cap) by key, as a
            // sharded gallery orders them.
            candidates.sort_by(|a, b| b.fused.total_cmp(&a.fused).then(a.key.cmp(&b.key)));
            let outcome = decide(
                candidates,
                hits.iter().map(|h| h.key).collect(),
                gallery_size,
                &self.config,
            );
            let holder = match &job.order.claim {
                Some(claim) => match self.holder_of(claim) {
                    Some(key) => Some(Holder {
                        key,
                        comparison: match accepted.iter().copied().find(|j| j.key == key) {
                            Some(earlier) => Some(full(earlier)?),
                            None => self.compare_stored(query, &job.person, key)?,
                        },
                    }),
                    None => None,
                },
                None => None,
            };
            let insert = match job.order.insert {
                Insert::Always => true,
                Insert::Never => false,
                Insert::WhenSingle => {
                    holder.is_none() && matches!(outcome.verdict, SearchVerdict::Single)
                }
            };
            if insert {
                accepted.push(job);
                if let Some(claim) = &job.order.claim {
                    self.claims
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(claim.clone(), job.key);
                }
            }
            out.push(Decided {
                outcome,
                holder,
                insert,
            });
        }
        Ok(out)
    }

    /// `person` compared in full with the gallery member `key`; `None` if it is gone.
    fn compare_stored(
        &self,
        query: &Stage1Probe,
        person: &PreparedPerson,
        key: u64,
    ) -> Result<Option<GalleryMatch>, GalleryError> {
        let Some(stored) = self.gallery.get(key)? else {
            return Ok(None);
        };
        let hit = scorer(&self.gallery).score_full(query, &stored.record)?;
        Ok(Some(stage2::compare(
            self.gallery.preparer().matcher(),
            self.gallery.calibration(),
            &person.fingers,
            &hit,
            &stored.fingers,
        )))
    }
}
