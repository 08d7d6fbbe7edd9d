//! The boundary between the HTTP service and the matching engine (the gallery).
//!
//! The service validates requests, authenticates callers, owns idempotency and the bounded
//! queue, and calls an [`EnrolmentEngine`] on a rayon thread. The engine owns enrolled
//! persons, 1:N and 1:1 matching, and duplicate cases.
//!
//! The server runs [`crate::engine::GalleryEngine`]. [`UnwiredEngine`] refuses every matching
//! call with [`EngineError::NotWired`] (and `GET /ready` then answers 503); it is kept for
//! tests of the service layer alone.

use std::sync::Arc;

use thiserror::Error;

use super::record::{EnrolmentRecord, Origin, Probe};
use super::verdict::{Candidate, PersonInfo, Verdict, Verification};
use super::wire::FingerQualityOut;
use crate::cases::{
    CaseOutcome, CaseOutcomeError, CaseOutcomeSink, Evidence, FingerComparison, IrisComparison,
    PersonSummary,
};
use crate::state::idempotency::Answer;
use crate::state::outbox_rows::{CallbackCounts, DeadLetter};
use crate::state::StateError;

/// The callback outbox of an engine that posts verdicts, as admins and `/metrics` see it.
/// Every method is blocking.
pub trait CallbackOutbox: Send + Sync {
    /// Pending notices and dead letters (`None` when notices are not kept).
    fn counts(&self) -> Result<Option<CallbackCounts>, StateError>;
    /// The dead letters (none when notices are not kept).
    fn dead_letters(&self) -> Result<Vec<DeadLetter>, StateError>;
    /// Gives dead letter `id` a fresh set of attempts and queues it; whether there was such
    /// a dead letter.
    fn requeue(&self, id: u64) -> Result<bool, StateError>;
}

/// Why the engine could not answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EngineError {
    /// No matching engine is wired into this build.
    #[error("no matching engine is wired: the gallery is not built into this server yet")]
    NotWired,
    /// The engine is temporarily unable to answer.
    #[error("matching engine unavailable: {0}")]
    Unavailable(String),
    /// The data directory is full: nothing of the request was stored.
    #[error("the data directory is full, nothing was stored: {0}")]
    StorageFull(String),
    /// No person in the gallery has this reference id (unknown, or an applicant held back
    /// for review).
    #[error("no person in the gallery has reference id {0}")]
    PersonNotFound(String),
    /// The person was deleted from the gallery.
    #[error("person {0} was deleted from the gallery")]
    PersonDeleted(String),
}

/// What the gallery implements. Every method is synchronous, CPU-bound and may take long: the
/// service calls it on a rayon thread, never on an async worker.
pub trait EnrolmentEngine: Evidence + CaseOutcomeSink + Send + Sync + 'static {
    /// A short name for logs and `/ready`.
    fn name(&self) -> &str;

    /// Whether this engine really matches (false only for [`UnwiredEngine`]).
    fn is_wired(&self) -> bool {
        true
    }

    /// Deduplicates `record` against everyone enrolled and enrols it when single.
    fn enrol(&self, record: &EnrolmentRecord) -> Result<Verdict, EngineError>;

    /// As [`EnrolmentEngine::enrol`], and also keeps `answer` (every field but its body,
    /// which is the wire form of the verdict) when the engine can store it in the same
    /// transaction as the outcome; returns whether it did. By default it does not, and the
    /// caller keeps the answer itself.
    fn enrol_answered(
        &self,
        record: &EnrolmentRecord,
        _answer: Answer,
    ) -> Result<(Verdict, bool), EngineError> {
        Ok((self.enrol(record)?, false))
    }

    /// 1:N search: up to `max_candidates` persons matching `probe`, best first.
    fn identify(&self, probe: &Probe, max_candidates: usize)
        -> Result<Vec<Candidate>, EngineError>;

    /// 1:1 check of `probe` against the person `reference_id`.
    fn verify(&self, reference_id: &str, probe: &Probe) -> Result<Verification, EngineError>;

    /// Removes the person `reference_id` from the gallery; `false` if there was none.
    fn delete(&self, reference_id: &str) -> Result<bool, EngineError>;

    /// Metadata and status of the person `reference_id`.
    fn person(&self, _reference_id: &str) -> Result<Option<PersonInfo>, EngineError> {
        Ok(None)
    }

    /// The persons in the gallery holding `nik`, first enrolled first, at most `limit`. By
    /// default none are known.
    fn persons_by_nik(&self, _nik: &str, _limit: usize) -> Result<Vec<PersonInfo>, EngineError> {
        Ok(Vec::new())
    }

    /// The current verdict of an earlier enrolment from `origin` (a duplicate case may since
    /// have been resolved); `None` when the engine keeps no newer state than its first answer.
    fn status(&self, origin: &Origin, request_id: &str) -> Result<Option<Verdict>, EngineError>;

    /// The measured quality of the fingerprints an enrolment from `origin` submitted as
    /// images, by position (as its answer lists it); empty when it had none or the engine
    /// keeps none.
    fn fingerprint_quality(
        &self,
        _origin: &Origin,
        _request_id: &str,
    ) -> Result<Vec<FingerQualityOut>, EngineError> {
        Ok(Vec::new())
    }

    /// The service points that submitted an enrolment `request_id`, at most `limit` (for
    /// look-ups by request id alone). By default none are known.
    fn origins_of(&self, _request_id: &str, _limit: usize) -> Result<Vec<Origin>, EngineError> {
        Ok(Vec::new())
    }

    /// Gallery size and matcher counters for `/metrics` (all zero for an engine without them).
    fn stats(&self) -> EngineStats {
        EngineStats::default()
    }

    /// Reclaims the kept images of deleted persons and of replaced images from the image
    /// store (blocking; may take long); `Ok(None)` when the engine keeps no images.
    fn compact_images(&self) -> Result<Option<ImageCompactionReport>, EngineError> {
        Ok(None)
    }

    /// The callback outbox (dead letters and requeueing), when the engine posts callbacks.
    fn callbacks(&self) -> Option<Arc<dyn CallbackOutbox>> {
        None
    }

    /// The fused-score threshold above which a search answers `duplicate` now, when the
    /// engine has one (cases compare their scores with it).
    fn decision_threshold(&self) -> Option<f64> {
        None
    }
}

/// Gallery size and matcher work since the engine opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Persons in the gallery now.
    pub persons: u64,
    /// 1:N searches run (enrolments, identifications).
    pub searches: u64,
    /// Gallery persons scored by the first stage, summed over searches.
    pub persons_scanned: u64,
    /// Full fingerprint/iris comparisons by the second stage and 1:1 checks.
    pub comparisons: u64,
    /// Cold gallery records that failed their checksum or did not decode when read.
    pub damaged_reads: u64,
    /// Hot records the background scrub has checked in its current (or last) pass.
    pub scrub_checked: u64,
    /// Live records when that pass started.
    pub scrub_total: u64,
    /// Hot records the scrub found damaged and quarantined since start.
    pub scrub_quarantined: u64,
    /// `fsync`s of the gallery's write-ahead log since the engine opened.
    pub log_syncs: u64,
    /// Bytes of the image store's segments now.
    pub image_store_bytes: u64,
    /// Image store compactions finished since the engine opened.
    pub image_compactions: u64,
    /// Images those compactions copied.
    pub image_compaction_images: u64,
    /// Bytes those compactions reclaimed.
    pub image_compaction_reclaimed: u64,
}

/// What a compaction of the image store did (`POST /v1/admin/images/compact`, `tunggal
/// compact-images`).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ImageCompactionReport {
    /// Sealed segments rewritten (and removed).
    pub segments_in: usize,
    /// New segments written.
    pub segments_out: usize,
    /// Images copied (those named by persons not deleted).
    pub images_kept: u64,
    /// Registry rows whose image references were switched.
    pub persons_switched: usize,
    /// Bytes of the image store before.
    pub bytes_before: u64,
    /// Bytes of the image store after.
    pub bytes_after: u64,
    /// Bytes reclaimed.
    pub bytes_reclaimed: u64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// The engine shipped until the gallery lands: refuses every matching call.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnwiredEngine;

impl EnrolmentEngine for UnwiredEngine {
    fn name(&self) -> &str {
        "unwired"
    }

    fn is_wired(&self) -> bool {
        false
    }

    fn enrol(&self, _record: &EnrolmentRecord) -> Result<Verdict, EngineError> {
        Err(EngineError::NotWired)
    }

    fn identify(&self, _probe: &Probe, _max: usize) -> Result<Vec<Candidate>, EngineError> {
        Err(EngineError::NotWired)
    }

    fn verify(&self, _reference_id: &str, _probe: &Probe) -> Result<Verification, EngineError> {
        Err(EngineError::NotWired)
    }

    fn delete(&self, _reference_id: &str) -> Result<bool, EngineError> {
        Err(EngineError::NotWired)
    }

    fn status(&self, _origin: &Origin, _request_id: &str) -> Result<Option<Verdict>, EngineError> {
        Ok(None)
    }
}

impl Evidence for UnwiredEngine {
    fn finger(&self, _a: &str, _c: &str, _position: u8) -> Option<FingerComparison> {
        None
    }

    fn iris(&self, _a: &str, _c: &str, _eye: usize) -> Option<IrisComparison> {
        None
    }

    fn photo(&self, _reference_id: &str) -> Option<Vec<u8>> {
        None
    }

    fn signature(&self, _reference_id: &str) -> Option<Vec<u8>> {
        None
    }
}

impl CaseOutcomeSink for UnwiredEngine {
    fn case_closed(
        &self,
        _case_id: &str,
        _applicant: &PersonSummary,
        _outcome: &CaseOutcome,
    ) -> Result<(), CaseOutcomeError> {
        Err(CaseOutcomeError::NotWired)
    }
}
