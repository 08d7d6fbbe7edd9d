//! Committing an enrolment's outcome. The registry outcome, for a duplicate its case (with
//! the opening as the first row of its trail), the idempotency answer and, for a verdict
//! posted at once to a callback URL, the outbox row commit in one transaction of the state
//! store, with the request's audit event when the caller staged one
//! (`state::staged::stage_in`): one durable sync, and no crash can leave a duplicate
//! without its case or an answered enrolment without its notice or audit event.

use tunggal_index::gallery::GalleryError;

use super::callback::Notice;
use super::registry::{reference_id, DuplicateReason, Entry, Outcome};
use super::{convert, unavailable, GalleryEngine, OpenError};
use crate::cases::store::now_secs;
use crate::cases::{CaseCandidate, CaseError, CaseKind, NewCase};
use crate::enrolment::enrolment_body;
use crate::enrolment::record::EnrolmentRecord;
use crate::enrolment::{Candidate, EngineError, Verdict};
use crate::state::idempotency::{self, Answer};
use crate::state::StateError;

/// An enrolment's decided outcome waiting for its group's commit.
pub(super) struct PendingOutcome {
    key: u64,
    outcome: Outcome,
    request_id: String,
    answer: Option<Answer>,
}

/// What a committed outcome gives its enrolment: the verdict, whether the answer was kept,
/// and the callback notice to post (with its outbox id when the notifier is durable).
pub(super) type Committed = (Verdict, bool, Option<(Option<u64>, Notice)>);

/// Why an outcome was not stored.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// This enrolment's own writes failed; the rest of its group may have committed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The transaction shared by the group failed: nothing of any of its enrolments was
    /// stored.
    #[error(
        "the shared commit of {group} enrolments failed, nothing of them was stored: {detail}"
    )]
    Group {
        /// Enrolments in the group.
        group: usize,
        /// The failure.
        detail: String,
        /// Whether it failed because the disk is full.
        full: bool,
    },
    /// The commit queue failed.
    #[error(transparent)]
    Queue(#[from] super::group::GroupError),
}

impl CommitError {
    /// Whether the outcome was not stored because the disk is full.
    pub fn is_storage_full(&self) -> bool {
        match self {
            Self::State(e) => e.is_storage_full(),
            Self::Group { full, .. } => *full,
            Self::Queue(_) => false,
        }
    }
}

/// What a duplicate's case and answer need from the registry, read before the transaction
/// (the candidates are enrolled persons: their rows do not change meanwhile).
struct HandOver {
    kind: CaseKind,
    /// The candidates as analysts see them.
    case_candidates: Vec<CaseCandidate>,
    /// The candidates as the answer shows them.
    answer_candidates: Vec<Candidate>,
}

/// The verdict of an entry whose outcome was just decided (no case decision yet); mirrors
/// [`GalleryEngine::verdict_of`]. `candidates` are a duplicate's, as the answer shows them.
fn fresh_verdict(e: &Entry, candidates: Option<&[Candidate]>) -> Option<Verdict> {
    Some(match e.outcome.as_ref()? {
        Outcome::Single => Verdict::Single {
            reference_id: reference_id(e.key),
            reissue: false,
        },
        Outcome::Reissue { person } => Verdict::Single {
            reference_id: reference_id(*person),
            reissue: true,
        },
        Outcome::Rejected { reason } => Verdict::Rejected {
            reason: reason.clone(),
        },
        Outcome::Duplicate { reason, .. } => Verdict::Duplicate {
            reference_id: reference_id(e.key),
            case_id: e.case_id.clone(),
            reason: reason.as_str().to_owned(),
            candidates: candidates?.to_vec(),
            refused_as_duplicate_of: None,
        },
    })
}

impl GalleryEngine {
    /// The hand-over of a duplicate outcome; `None` for any other.
    fn hand_over(&self, outcome: Option<&Outcome>) -> Option<HandOver> {
        let Some(Outcome::Duplicate {
            reason, candidates, ..
        }) = outcome
        else {
            return None;
        };
        let kind = match reason {
            DuplicateReason::Biometric => CaseKind::Biometric,
            DuplicateReason::NikConflict => CaseKind::NikConflict,
        };
        let case_candidates = candidates
            .iter()
            .filter_map(|c| {
                let person = self.registry.get(c.key)?.meta.summary;
                Some(CaseCandidate {
                    person,
                    score: c.score,
                    finger_scores: c.finger_scores,
                    iris_distances: c.iris_distances,
                    identical: c.identical,
                })
            })
            .collect();
        Some(HandOver {
            kind,
            case_candidates,
            answer_candidates: candidates.iter().map(|c| self.candidate_out(c)).collect(),
        })
    }

    /// The case of the applicant `e` described by `hand`.
    fn new_case(&self, e: &Entry, hand: &HandOver) -> NewCase {
        NewCase {
            kind: hand.kind,
            applicant: e.meta.summary.clone(),
            candidates: hand.case_candidates.clone(),
            callback_url: e.meta.callback_url.clone(),
            calibration: self.gallery().calibration().id.clone(),
        }
    }

    /// Opens the case of a duplicate entry left without one (by an older release, or a
    /// crash of one), in one transaction with the entry's `case_id`.
    pub(super) fn open_case_for(&self, e: &Entry) -> Result<Option<String>, OpenError> {
        let Some(hand) = self.hand_over(e.outcome.as_ref()) else {
            return Ok(None);
        };
        if hand.case_candidates.is_empty() {
            return Err(CaseError::NoCandidates.into());
        }
        let now = now_secs();
        let (_, case_id) = self.registry.change_with(e.key, |tx, entry| {
            let case = self
                .cases
                .open_case_in(tx, self.new_case(entry, &hand), now)?;
            entry.case_id = Some(case.case_id.clone());
            Ok(case.case_id)
        })?;
        Ok(Some(case_id))
    }

    /// Enrols `record`; with `answer`, keeps it in the outcome's transaction (returns
    /// whether it did).
    pub(super) fn enrol_keeping(
        &self,
        record: &EnrolmentRecord,
        answer: Option<Answer>,
    ) -> Result<(Verdict, bool), EngineError> {
        let o = &record.origin;
        if let Some(e) = self
            .registry
            .by_request(&o.district, &o.service_point, &record.request_id)
        {
            if e.outcome.is_some() {
                return Ok((self.verdict_of(&e)?, false));
            }
            // An earlier attempt the sequencer decided single and inserted, whose outcome's
            // commit failed: its decision stands (later enrolments were matched against
            // it), so the retry commits it, as the next start would roll it forward.
            if self.gallery().snapshot().contains(e.key) {
                let nik = e.meta.summary.nik.clone();
                let request_id = record.request_id.clone();
                return self.commit_outcome(&nik, e.key, Outcome::Single, request_id, answer);
            }
        }
        let nik = record.person.nik.to_string();
        // Template preparation is CPU work: run it on rayon (this thread is outside the pool
        // and only waits; see `service::queue::run_blocking`).
        let enrolment = convert::enrolment(&record.probe);
        let (prepared, ()) = rayon::join(|| self.gallery().prepare(&enrolment), || ());
        let prepared = match prepared {
            Ok(p) => p,
            Err(GalleryError::InvalidEnrolment(_)) => {
                return Ok((
                    Verdict::Rejected {
                        reason: "unusable_templates".into(),
                    },
                    false,
                ))
            }
            Err(e) => return Err(unavailable(e)),
        };
        // The images are durable before the intent that names them (`engine/images.rs`); an
        // image compaction does not seal the store between the two.
        let writing = self.compaction.writing();
        let (captures, eyes) = self.keep_images(&record.probe).map_err(unavailable)?;
        let key = self
            .registry
            .intent(|key| {
                let mut meta = convert::person_meta(key, record);
                meta.fingers = captures;
                meta.eyes = eyes;
                meta
            })
            .map_err(unavailable)?;
        drop(writing);
        let outcome = match self.decide(key, &nik, prepared, &record.probe) {
            Ok(o) => o,
            Err(e) => {
                // Nothing was inserted (the deduplicator inserts only once decided).
                let _ = self.registry.abort(key);
                return Err(unavailable(e));
            }
        };
        self.commit_outcome(&nik, key, outcome, record.request_id.clone(), answer)
    }

    /// Commits the decided `outcome` of the entry `key` (for the NIK `nik`) in its group's
    /// transaction, then posts its callback notice.
    fn commit_outcome(
        &self,
        nik: &str,
        key: u64,
        outcome: Outcome,
        request_id: String,
        answer: Option<Answer>,
    ) -> Result<(Verdict, bool), EngineError> {
        let inserted = matches!(outcome, Outcome::Single);
        let job = PendingOutcome {
            key,
            outcome,
            request_id,
            answer,
        };
        let committed = self
            .commits
            .submit(job, |jobs| self.commit_group(jobs))
            .map_err(CommitError::from)
            .and_then(|r| r);
        let (verdict, answered, notice) = match committed {
            Ok(c) => {
                // The registry names the NIK's holder from now on.
                self.dedup.release(nik, key);
                c
            }
            Err(e) => {
                // Nothing of the outcome was stored. An applicant the deduplicator inserted
                // keeps its intent (committed by a retry of the same request, or rolled
                // forward on the next start); any other is dropped, so a retry runs afresh.
                if !inserted {
                    let _ = self.registry.abort(key);
                }
                return Err(unavailable(e));
            }
        };
        if let (Some((id, notice)), Some(notifier)) = (notice, self.notifier.get()) {
            match id {
                Some(id) => notifier.post_queued(id, notice),
                None => notifier.notify(notice),
            }
        }
        Ok((verdict, answered))
    }

    /// Stores the outcomes of a group of enrolments, each with everything that goes with it
    /// (see the module documentation), in one transaction. Returns, per job, the verdict,
    /// whether its answer was kept, and the callback notice to post once committed (with its
    /// outbox id when the notifier is durable); a failed commit fails every job.
    pub(super) fn commit_group(
        &self,
        jobs: Vec<PendingOutcome>,
    ) -> Vec<Result<Committed, CommitError>> {
        let group = jobs.len();
        let mut results: Vec<Option<Result<Committed, CommitError>>> =
            (0..group).map(|_| None).collect();
        // Read before the transaction: what duplicates' cases and answers show.
        let mut items = Vec::with_capacity(group);
        let mut extras = Vec::with_capacity(group);
        for (i, job) in jobs.into_iter().enumerate() {
            let hand = self.hand_over(Some(&job.outcome));
            if hand.as_ref().is_some_and(|h| h.case_candidates.is_empty()) {
                results[i] = Some(Err(StateError::Missing(
                    "the registry entries of a duplicate's candidates".to_owned(),
                )
                .into()));
                continue;
            }
            items.push((job.key, job.outcome));
            extras.push((i, hand, job.request_id, job.answer));
        }
        let store = self.registry.store();
        // The outbox row commits with the outcome only when it lives in the same store.
        let outbox = self
            .notifier
            .get()
            .and_then(|n| n.outbox())
            .filter(|o| std::sync::Arc::ptr_eq(o.store(), store));
        let now = now_secs();
        let stored = self.registry.outcomes_with(items, |n, tx, e| {
            let (_, hand, request_id, answer) = &mut extras[n];
            if let Some(hand) = hand.as_ref() {
                let case = self.cases.open_case_in(tx, self.new_case(e, hand), now)?;
                e.case_id = Some(case.case_id);
            }
            let candidates = hand.as_ref().map(|h| h.answer_candidates.as_slice());
            let verdict = fresh_verdict(e, candidates)
                .ok_or_else(|| StateError::Missing(format!("the outcome of {}", e.key)))?;
            let mut wire = enrolment_body(request_id, verdict.clone());
            wire.fingerprint_quality = super::images::fingerprint_quality(&e.meta.fingers);
            wire.iris_quality = super::eye_images::iris_quality(&e.meta.eyes);
            let body = serde_json::to_value(wire)?;
            let answered = match answer.take() {
                Some(mut a) => {
                    a.body = body.clone();
                    idempotency::insert(store, tx, &a)?;
                    if let Some(staged) = &a.audit {
                        crate::state::staged::stage_in(store, tx, staged)?;
                    }
                    true
                }
                None => false,
            };
            // A verdict final at once is posted to the callback URL (a duplicate's, when its
            // case closes).
            let notice = match (&e.meta.callback_url, hand) {
                (Some(url), None) => {
                    let notice = Notice {
                        url: url.clone(),
                        body,
                    };
                    let id = outbox.map(|o| o.queue_in(tx, &notice)).transpose()?;
                    Some((id, notice))
                }
                _ => None,
            };
            Ok((verdict, answered, notice))
        });
        match stored {
            Ok(stored) => {
                for ((i, ..), r) in extras.iter().zip(stored) {
                    results[*i] = Some(r.map(|(_, c)| c).map_err(CommitError::from));
                }
            }
            Err(e) => {
                let (detail, full) = (e.to_string(), e.is_storage_full());
                for (i, ..) in &extras {
                    results[*i] = Some(Err(CommitError::Group {
                        group,
                        detail: detail.clone(),
                        full,
                    }));
                }
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(CommitError::Group {
                        group,
                        detail: "no result".to_owned(),
                        full: false,
                    })
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_io() -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::StorageFull)
    }

    #[test]
    fn a_full_disk_in_a_commit_is_storage_full_and_any_other_failure_unavailable() {
        let group = |full| CommitError::Group {
            group: 3,
            detail: "failpoint".to_owned(),
            full,
        };
        assert!(matches!(
            unavailable(group(true)),
            EngineError::StorageFull(_)
        ));
        assert!(matches!(
            unavailable(group(false)),
            EngineError::Unavailable(_)
        ));
        let state = || StateError::Io {
            path: "state.sqlite3".into(),
            source: full_io(),
        };
        assert!(matches!(
            unavailable(CommitError::State(state())),
            EngineError::StorageFull(_)
        ));
        assert!(matches!(unavailable(state()), EngineError::StorageFull(_)));
        let gallery = GalleryError::Storage(tunggal_index::storage::StorageError::Io {
            path: "gallery/wal".into(),
            source: full_io(),
        });
        assert!(matches!(unavailable(gallery), EngineError::StorageFull(_)));
        let other = StateError::Missing("x".to_owned());
        assert!(matches!(unavailable(other), EngineError::Unavailable(_)));
    }
}
