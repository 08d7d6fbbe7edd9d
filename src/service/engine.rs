//! The boundary between the HTTP service and the matching engine (the gallery).
//!
//! The service validates requests, authenticates callers, owns idempotency and the bounded
//! queue, and calls an [`EnrolmentEngine`] on a rayon thread. The engine owns enrolled
//! persons, 1:N and 1:1 matching, and duplicate cases.
//!
//! The server runs [`crate::engine::GalleryEngine`]. [`UnwiredEngine`] refuses every matching
//! call with [`EngineError::NotWired`] (and `GET /ready` then answers 503); it is kept for
//! tests of the service layer alone.

use thiserror::Error;

use super::record::{EnrolmentRecord, Origin, Probe};
use crate::cases::{
    CaseOutcome, CaseOutcomeSink, Evidence, FingerComparison, IrisComparison, PersonSummary,
};

/// A person the engine considers a possible match.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Reference id of the enrolled person.
    pub reference_id: String,
    /// The `request_id` of the enrolment that created that person.
    pub request_id: String,
    /// Fused score (log-likelihood ratio; higher is more similar).
    pub score: f64,
    /// Matcher score by finger position 1–10 (index 0 = position 1); `None` when either
    /// side lacks that finger.
    pub finger_scores: [Option<f32>; 10],
    /// Normalised Hamming distance per eye (index 0 = right, 1 = left); `None` when either
    /// side lacks that eye or it was beyond the iris gate.
    pub iris_distances: [Option<f32>; 2],
}

/// The engine's decision on an enrolment (and its current state when read back).
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nobody else matches: enrolled under `reference_id`, print-ready.
    Single {
        /// Reference id of the person.
        reference_id: String,
        /// The NIK's holder re-applied (same person): no new person was created.
        reissue: bool,
    },
    /// Possible duplicate: case `case_id` opened for analysts; the applicant is held back
    /// under `reference_id`.
    Duplicate {
        /// Reference id reserved for the applicant.
        reference_id: String,
        /// Analyst case id (absent only while the case is being opened).
        case_id: Option<String>,
        /// `biometric` or `nik_conflict`.
        reason: String,
        /// The persons that matched, best first.
        candidates: Vec<Candidate>,
        /// Set once analysts confirmed the duplicate: the reference id of the person the
        /// applicant is; the enrolment is refused.
        refused_as_duplicate_of: Option<String>,
    },
    /// Refused by the engine (for example too few usable fingers).
    Rejected {
        /// Engine-defined reason.
        reason: String,
    },
}

/// The result of a 1:1 verification.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// Whether the probe matches the person.
    pub matched: bool,
    /// Fused score, `None` when there is no such person.
    pub score: Option<f64>,
}

/// A person's metadata and status, for analysts and administrators.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonInfo {
    /// Demographics and origin.
    pub summary: PersonSummary,
    /// `print_ready`, `under_review`, `refused`, `rejected`, `deleted`, or `lost` (its
    /// gallery record was lost to damage: `fsck --salvage`).
    pub status: String,
    /// The case about this person as applicant, if any.
    pub case_id: Option<String>,
    /// For a refused applicant: the person it duplicates.
    pub duplicate_of: Option<String>,
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
        _answer: super::idempotency::Answer,
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

    /// The current verdict of an earlier enrolment from `origin` (a duplicate case may since
    /// have been resolved); `None` when the engine keeps no newer state than its first answer.
    fn status(&self, origin: &Origin, request_id: &str) -> Result<Option<Verdict>, EngineError>;

    /// Gallery size and matcher counters for `/metrics` (all zero for an engine without them).
    fn stats(&self) -> EngineStats {
        EngineStats::default()
    }

    /// The callback notifier (dead letters and requeueing), when the engine posts callbacks.
    fn callbacks(&self) -> Option<crate::engine::callback::Notifier> {
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
    ) -> Result<(), String> {
        Err(EngineError::NotWired.to_string())
    }
}
