//! The [`EnrolmentEngine`] of `tunggal serve --cluster`: the same HTTP layer, with the
//! enrolment decided by the cluster ([`Front`]).
//!
//! Identify and verify fan out to one replica of each shard ([`super::reads`]).
//!
//! Deletion (`DELETE /v1/persons/{reference_id}`) is an entry of the log
//! ([`super::control`]), answered as a single node answers it.
//!
//! What this engine does not do yet (it answers `Unavailable` or nothing): person look-ups,
//! duplicate cases and the registry (no store shared by the front-ends is built:
//! `docs/scale-out.md`), NIK claims.

use tokio::runtime::Handle;

use tunggal_index::search::SearchVerdict;

use super::control::{fresh_request_id, Deletion};
use super::wire::StoredVerdict;
use super::{ClusterError, Front, Fused};
use crate::cases::{
    CaseOutcome, CaseOutcomeError, CaseOutcomeSink, Evidence, FingerComparison, IdenticalCapture,
    IrisComparison, PersonSummary,
};
use crate::engine::convert;
use crate::engine::registry::{key_of, reference_id, StoredCandidate};
use crate::enrolment::record::{EnrolmentRecord, Origin, Probe};
use crate::enrolment::{
    Candidate, EngineError, EnrolmentEngine, UnwiredEngine, Verdict, Verification,
};

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

fn unavailable(e: ClusterError) -> EngineError {
    EngineError::Unavailable(e.to_string())
}

/// A candidate as the API shows it (the cluster keeps no registry: its request id is not
/// known).
fn candidate_out(c: &StoredCandidate) -> Candidate {
    Candidate {
        reference_id: reference_id(c.key),
        request_id: String::new(),
        score: c.score,
        finger_scores: c.finger_scores,
        iris_distances: c.iris_distances,
        identical: c.identical,
    }
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
            .map_err(unavailable)?;
        Ok(verdict_of(&stored))
    }

    fn identify(&self, probe: &Probe, max: usize) -> Result<Vec<Candidate>, EngineError> {
        let fused = self
            .runtime
            .block_on(self.front.identify(&convert::enrolment(probe)))
            .map_err(unavailable)?;
        Ok(match fused {
            Fused::Searched(outcome) => match outcome.verdict {
                SearchVerdict::Duplicate(c) => c
                    .iter()
                    .take(max)
                    .map(|c| candidate_out(&convert::stored_candidate(c)))
                    .collect(),
                _ => Vec::new(),
            },
            Fused::Rejected(_) => Vec::new(),
        })
    }

    fn verify(&self, reference: &str, probe: &Probe) -> Result<Verification, EngineError> {
        let not_found = || EngineError::PersonNotFound(reference.to_owned());
        let key = key_of(reference).ok_or_else(not_found)?;
        let threshold = f64::from(self.front.verify_threshold());
        let found = self
            .runtime
            .block_on(self.front.verify(key, &convert::enrolment(probe)))
            .map_err(unavailable)?;
        let Some(found) = found else {
            let deleted = self
                .runtime
                .block_on(self.front.was_deleted(key))
                .map_err(unavailable)?;
            return Err(if deleted {
                EngineError::PersonDeleted(reference.to_owned())
            } else {
                not_found()
            });
        };
        let stored = convert::stored_candidate(&found);
        Ok(Verification {
            matched: stored.score >= threshold,
            score: Some(stored.score),
            threshold,
            finger_scores: stored.finger_scores,
            iris_distances: stored.iris_distances,
        })
    }

    fn delete(&self, reference: &str) -> Result<bool, EngineError> {
        let key =
            key_of(reference).ok_or_else(|| EngineError::PersonNotFound(reference.to_owned()))?;
        let id = fresh_request_id("delete", key);
        let found = self
            .runtime
            .block_on(self.front.delete(key, &id))
            .map_err(unavailable)?;
        match found {
            Deletion::Removed => Ok(true),
            Deletion::DeletedBefore => Err(EngineError::PersonDeleted(reference.to_owned())),
            Deletion::Absent => Err(EngineError::PersonNotFound(reference.to_owned())),
        }
    }

    fn status(&self, origin: &Origin, request_id: &str) -> Result<Option<Verdict>, EngineError> {
        let id = cluster_request_id(origin, request_id);
        let stored = self
            .runtime
            .block_on(self.front.stored(&id))
            .map_err(unavailable)?;
        Ok(stored.as_ref().map(verdict_of))
    }
}

// What the contract's unwired engine answers: no evidence (the images and templates of
// persons stay with the shards) and no case outcome (no shared case store yet).
impl Evidence for ClusterEngine {
    fn finger(&self, a: &str, c: &str, position: u8) -> Option<FingerComparison> {
        UnwiredEngine.finger(a, c, position)
    }

    fn iris(&self, a: &str, c: &str, eye: usize) -> Option<IrisComparison> {
        UnwiredEngine.iris(a, c, eye)
    }

    fn photo(&self, reference_id: &str) -> Option<Vec<u8>> {
        UnwiredEngine.photo(reference_id)
    }

    fn signature(&self, reference_id: &str) -> Option<Vec<u8>> {
        UnwiredEngine.signature(reference_id)
    }
}

impl CaseOutcomeSink for ClusterEngine {
    fn case_closed(
        &self,
        case_id: &str,
        applicant: &PersonSummary,
        outcome: &CaseOutcome,
    ) -> Result<(), CaseOutcomeError> {
        UnwiredEngine.case_closed(case_id, applicant, outcome)
    }
}
