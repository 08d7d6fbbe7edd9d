//! The boundary between the HTTP service and the matching engine (the gallery).
//!
//! The service validates requests, authenticates callers, owns idempotency and the bounded
//! queue, and calls an [`EnrolmentEngine`] on a rayon thread. The engine owns enrolled
//! persons, 1:N and 1:1 matching, and duplicate cases.
//!
//! Until the gallery lands the only engine shipped is [`UnwiredEngine`], which refuses every
//! matching call with [`EngineError::NotWired`]; `GET /ready` then answers 503.

use thiserror::Error;
use tunggal_datasets::nik::Nik;

use super::record::{EnrolmentRecord, Origin, Probe};
use crate::cases::{
    CaseOutcome, CaseOutcomeSink, Evidence, FingerComparison, IrisComparison, PersonSummary,
};

/// A person the engine considers a possible match.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Engine id of the person.
    pub person_id: String,
    /// Fused similarity score (higher is more similar).
    pub score: f64,
}

/// The engine's decision on an enrolment.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nobody matches: enrolled under `person_id`, print-ready.
    Single {
        /// Engine id of the new person.
        person_id: String,
    },
    /// Possible duplicate: case `case_id` opened for analysts.
    Duplicate {
        /// Analyst case id.
        case_id: String,
        /// The persons that matched, best first.
        candidates: Vec<Candidate>,
    },
    /// Refused by the engine (for example the NIK is already enrolled).
    Rejected {
        /// Engine-defined reason.
        reason: String,
    },
}

/// The result of a 1:1 verification.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// Whether the probe matches the person enrolled under the NIK.
    pub matched: bool,
    /// Fused score, `None` when nobody is enrolled under the NIK.
    pub score: Option<f64>,
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

    /// 1:N search: up to `max_candidates` persons matching `probe`, best first.
    fn identify(&self, probe: &Probe, max_candidates: usize)
        -> Result<Vec<Candidate>, EngineError>;

    /// 1:1 check of `probe` against the person enrolled under `nik`.
    fn verify(&self, nik: &Nik, probe: &Probe) -> Result<Verification, EngineError>;

    /// Removes the person enrolled under `nik`; `false` if nobody was.
    fn delete(&self, nik: &Nik) -> Result<bool, EngineError>;

    /// The current verdict of an earlier enrolment from `origin` (a duplicate case may since
    /// have been resolved); `None` when the engine keeps no newer state than its first answer.
    fn status(&self, origin: &Origin, request_id: &str) -> Result<Option<Verdict>, EngineError>;
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

    fn verify(&self, _nik: &Nik, _probe: &Probe) -> Result<Verification, EngineError> {
        Err(EngineError::NotWired)
    }

    fn delete(&self, _nik: &Nik) -> Result<bool, EngineError> {
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
