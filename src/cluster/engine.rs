//! The [`EnrolmentEngine`] of `tunggal serve --cluster`: the same HTTP layer, with the
//! enrolment decided by the cluster ([`Front`]).
//!
//! What this engine does not do yet (it answers `Unavailable` or nothing): identify and
//! verify (the request/reply fan-out to one replica per shard is not built), deletion,
//! person look-ups, duplicate cases and the registry (no store shared by the front-ends is
//! built: `docs/scale-out.md`), NIK claims.

use tokio::runtime::Handle;

use super::wire::StoredVerdict;
use super::Front;
use crate::cases::{
    CaseOutcome, CaseOutcomeError, CaseOutcomeSink, Evidence, FingerComparison, IdenticalCapture,
    IrisComparison, PersonSummary,
};
use crate::engine::convert;
use crate::engine::registry::reference_id;
use crate::enrolment::record::{EnrolmentRecord, Origin, Probe};
use crate::enrolment::{Candidate, EngineError, EnrolmentEngine, Verdict, Verification};

/// What cluster mode does not serve yet.
const NOT_BUILT: &str = "not available in cluster mode yet";

/// The engine of a cluster front-end.
#[derive(Debug)]
pub struct ClusterEngine {
    front: Front,
    runtime: Handle,
}

impl ClusterEngine {
    /// Decides enrolments through `front`, its calls run on `runtime` (the engine's methods
    /// are called from blocking threads).
    pub fn new(front: Front, runtime: Handle) -> Self {
        Self { front, runtime }
    }
}

/// The cluster's request id of a record: the origin and the caller's request id, so two
/// service points may use the same request id as they may on a single node.
pub fn cluster_request_id(origin: &Origin, request_id: &str) -> String {
    format!(
        "{}/{}/{}",
        origin.district, origin.service_point, request_id
    )
}

/// The API verdict of a stored one.
pub fn verdict_of(v: &StoredVerdict) -> Verdict {
    match v.verdict.as_str() {
        "single" => Verdict::Single {
            reference_id: reference_id(v.sequence),
            reissue: false,
        },
        "duplicate" => Verdict::Duplicate {
            reference_id: reference_id(v.sequence),
            case_id: None,
            reason: "biometric".to_owned(),
            candidates: v
                .candidates
                .iter()
                .map(|c| Candidate {
                    reference_id: reference_id(c.key),
                    request_id: String::new(),
                    score: f64::from(c.score),
                    finger_scores: [None; 10],
                    iris_distances: [None; 2],
                    identical: IdenticalCapture::default(),
                })
                .collect(),
            refused_as_duplicate_of: None,
        },
        _ => Verdict::Rejected {
            reason: v.reason.clone().unwrap_or_else(|| "rejected".to_owned()),
        },
    }
}

impl EnrolmentEngine for ClusterEngine {
    fn name(&self) -> &str {
        "cluster"
    }

    fn enrol(&self, record: &EnrolmentRecord) -> Result<Verdict, EngineError> {
        let id = cluster_request_id(&record.origin, &record.request_id);
        let enrolment = convert::enrolment(&record.probe);
        let stored = self
            .runtime
            .block_on(self.front.enrol(&id, &enrolment))
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        Ok(verdict_of(&stored))
    }

    fn identify(&self, _probe: &Probe, _max: usize) -> Result<Vec<Candidate>, EngineError> {
        Err(EngineError::Unavailable(format!("identify is {NOT_BUILT}")))
    }

    fn verify(&self, _reference: &str, _probe: &Probe) -> Result<Verification, EngineError> {
        Err(EngineError::Unavailable(format!("verify is {NOT_BUILT}")))
    }

    fn delete(&self, _reference: &str) -> Result<bool, EngineError> {
        Err(EngineError::Unavailable(format!("deletion is {NOT_BUILT}")))
    }

    fn status(&self, origin: &Origin, request_id: &str) -> Result<Option<Verdict>, EngineError> {
        let id = cluster_request_id(origin, request_id);
        let stored = self
            .runtime
            .block_on(self.front.stored(&id))
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        Ok(stored.as_ref().map(verdict_of))
    }
}

impl Evidence for ClusterEngine {
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

impl CaseOutcomeSink for ClusterEngine {
    fn case_closed(
        &self,
        _case_id: &str,
        _applicant: &PersonSummary,
        _outcome: &CaseOutcome,
    ) -> Result<(), CaseOutcomeError> {
        Err(CaseOutcomeError::NotWired)
    }
}
