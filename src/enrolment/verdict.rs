//! What the engine decides: a [`Verdict`] on an enrolment, the [`Candidate`]s behind a
//! duplicate or a search, a 1:1 [`Verification`], and a person's [`PersonInfo`].

use crate::cases::{IdenticalCapture, PersonSummary};

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
    /// Normalised Hamming distance per eye (by [`crate::enrolment::record::Eye::index`]: 0 =
    /// right, 1 = left); `None` when either
    /// side lacks that eye or it was beyond the iris gate.
    pub iris_distances: [Option<f32>; 2],
    /// Fingers and eyes that are this person's enrolled capture submitted again.
    pub identical: IdenticalCapture,
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
    /// The fused score at or above which the probe matches.
    pub threshold: f64,
    /// Per-finger matcher scores by position 1–10 (index 0 = position 1), where both sides
    /// have the finger.
    pub finger_scores: [Option<f32>; 10],
    /// Per-eye iris distances (right, left), where both sides have the eye and it was within
    /// the gate.
    pub iris_distances: [Option<f32>; 2],
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
