//! Duplicate cases: what analysts review when the engine answers `duplicate`.
//!
//! This module is the contract between the enrolment engine, which *opens* cases, and the
//! analyst review pages, which *decide* them:
//!
//! - the engine calls [`CaseStore::open_case`] with a [`NewCase`] when an enrolment is a
//!   suspected duplicate (biometric match or NIK conflict), or when `dedup-gallery` finds a
//!   suspected double record;
//! - the review pages read cases, record decisions (with four-eyes approval for confirmed
//!   duplicates) and, once a decision is final, call [`CaseOutcomeSink::case_closed`] so the
//!   engine can update the enrolment status the service point reads and fire its callback;
//! - the review pages draw evidence through the [`Evidence`] trait, which the engine
//!   implements over its gallery and person registry.
//!
//! Cases live in the state store (`state.sqlite3`, tables `cases` and `case_trail`):
//! [`model`] has the types, [`store`] the workflow, [`query`] the queue's listing, [`search`] the queue's search box, `rows` the
//! SQL rows and [`legacy`] the journal of older releases that `tunggal migrate` moves.

pub mod deadline;
pub mod decision;
pub mod export;
pub mod eye_image;
pub mod history;
pub mod identical;
#[cfg(test)]
mod lease_tests;
pub mod legacy;
pub mod model;
pub mod query;
mod rank;
#[cfg(test)]
mod rank_tests;
pub mod reason;
mod rows;
pub mod search;
#[cfg(test)]
mod search_tests;
pub mod store;
pub mod strength;
#[cfg(test)]
mod tally_tests;
#[cfg(test)]
pub(crate) mod tests;

use serde::{Deserialize, Serialize};
use tunggal_index::template::FingerTemplate;

pub use deadline::DeadlinePolicy;
pub use decision::DecisionRules;
pub use export::{ExportChunk, ExportRow, ExportStatus, EXPORT_CHUNK};
pub use eye_image::{EyeImageError, EyeImageInfo, EyeMask, EyeOutline};
pub use identical::{IdenticalCapture, Sameness};
pub use query::{CaseQuery, Cursor, Page, Seek, Sort, StatusFilter, COUNT_CAP};
pub use reason::DecisionReason;
pub use search::{CaseSearch, SearchError, SEARCH_LIMIT};
pub use store::{
    Action, Actor, Case, CaseCounts, CaseError, CasePolicy, CaseStatus, CaseStore, Decision,
    DecisionKind, Lease, TrailEntry,
};

/// Why a case was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    /// The 1:N search found enrolled persons whose biometrics match the applicant.
    Biometric,
    /// The applicant claims the NIK of an enrolled person whose biometrics do not match.
    NikConflict,
    /// Two persons already in the gallery match each other (`tunggal dedup-gallery`).
    GalleryPair,
}

impl CaseKind {
    /// A short label for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Biometric => "biometric match",
            Self::NikConflict => "NIK conflict",
            Self::GalleryPair => "gallery pair",
        }
    }
}

/// Demographic metadata as analysts see it (applicant or candidate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonSummary {
    /// Engine reference id of the person (for an applicant: the id reserved for it).
    pub reference_id: String,
    /// The `request_id` of the enrolment that created this record.
    pub request_id: String,
    /// NIK, 16 digits.
    pub nik: String,
    /// Full name.
    pub name: String,
    /// `M` or `F`.
    pub sex: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// District code `PPRRDD` of the submitting service point.
    pub district: String,
    /// Submitting service point id.
    pub service_point: String,
    /// When the enrolment was received, RFC 3339 UTC.
    pub enrolled_at: String,
    /// `WNI` or `WNA`.
    pub citizenship: String,
    /// Passport number (WNA only).
    pub passport_number: Option<String>,
    /// Permanent stay permit number (WNA only).
    pub kitap_number: Option<String>,
    /// Whether a photo was submitted (fetched through [`Evidence::photo`]).
    pub has_photo: bool,
    /// Whether a signature was submitted (fetched through [`Evidence::signature`]).
    pub has_signature: bool,
}

/// One candidate of a case with its per-modality evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseCandidate {
    /// The enrolled person.
    pub person: PersonSummary,
    /// Fused score (log-likelihood ratio; higher is stronger evidence of the same person).
    pub score: f64,
    /// Matcher score per finger position 1–10 (index 0 = position 1); `None` when either
    /// side lacks that finger.
    pub finger_scores: [Option<f32>; 10],
    /// Normalised Hamming distance per eye (by [`crate::enrolment::record::Eye::index`]: 0 =
    /// right, 1 = left); `None` when either
    /// side lacks that eye. Lower is more similar.
    pub iris_distances: [Option<f32>; 2],
    /// Fingers and eyes that are the applicant's capture submitted again (absent in cases
    /// opened before the search flagged them).
    #[serde(default, skip_serializing_if = "IdenticalCapture::is_empty")]
    pub identical: IdenticalCapture,
}

/// What the engine hands over when it opens a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCase {
    /// Why the case is opened.
    pub kind: CaseKind,
    /// The applicant (for [`CaseKind::GalleryPair`], the later of the two enrolled persons).
    pub applicant: PersonSummary,
    /// Candidates, best first (at least one).
    pub candidates: Vec<CaseCandidate>,
    /// Callback URL given with the enrolment, if any.
    pub callback_url: Option<String>,
    /// The calibration (its id) whose ratios scored the candidates; empty for cases opened
    /// before ids were recorded.
    #[serde(default)]
    pub calibration: String,
}

/// The final outcome of a case, handed back to the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CaseOutcome {
    /// Same person: the applicant's enrolment is refused and linked to `duplicate_of`.
    ConfirmedDuplicate {
        /// Reference id of the enrolled person the applicant duplicates.
        duplicate_of: String,
    },
    /// Not the same person: the applicant is unique and becomes print-ready.
    Cleared,
}

/// Why a final case outcome could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum CaseOutcomeError {
    /// The applicant's reference id names nobody in the registry.
    #[error("case {case_id}: no applicant {reference_id} in the registry")]
    UnknownApplicant {
        /// The case.
        case_id: String,
        /// The applicant's reference id as the case holds it.
        reference_id: String,
    },
    /// No engine is wired to apply outcomes.
    #[error("no matching engine is wired to apply case outcomes")]
    NotWired,
    /// The gallery refused the insertion or removal.
    #[error("gallery: {0}")]
    Gallery(#[from] tunggal_index::gallery::GalleryError),
    /// The registry's state store failed.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// A case could not be opened or updated.
    #[error(transparent)]
    Case(#[from] CaseError),
}

/// Receives final case outcomes (implemented by the enrolment engine).
pub trait CaseOutcomeSink: Send + Sync + 'static {
    /// Called once when a case's decision becomes final (a cleared case, or a confirmed
    /// duplicate after the second analyst's approval). `applicant_request_id` and
    /// `applicant_reference_id` identify the enrolment to update.
    fn case_closed(
        &self,
        case_id: &str,
        applicant: &PersonSummary,
        outcome: &CaseOutcome,
    ) -> Result<(), CaseOutcomeError>;
}

/// Minutiae of one finger of two persons, with the pairs the matcher matched.
#[derive(Debug, Clone, PartialEq)]
pub struct FingerComparison {
    /// The applicant's finger.
    pub applicant: FingerTemplate,
    /// The candidate's finger.
    pub candidate: FingerTemplate,
    /// Matched minutia pairs `(index in applicant, index in candidate)`.
    pub pairs: Vec<(usize, usize)>,
    /// Matcher score.
    pub score: f32,
}

/// A fingerprint a person submitted as an image: the quality the extractor measured and the
/// 500 ppi frame its minutiae are in (the image served by [`Evidence::finger_png`] has that
/// size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FingerPrintInfo {
    /// Quality 0–100.
    pub quality: u8,
    /// The failure-to-enrol reason when the finger was left out of matching.
    pub unusable: Option<String>,
    /// Frame width, pixels.
    pub width: u16,
    /// Frame height, pixels.
    pub height: u16,
}

/// A kept fingerprint image that could not be read (damaged record or undecodable bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the kept fingerprint image could not be read: {0}")]
pub struct FingerImageError(pub String);

/// Iris codes and masks of one eye of two persons, the candidate's aligned at the best
/// rotation.
#[derive(Debug, Clone, PartialEq)]
pub struct IrisComparison {
    /// Layout name (for example `daugman-2048`).
    pub layout: String,
    /// Angular samples per row (bits per row of the code image).
    pub angular: usize,
    /// Radial rows of the code image.
    pub radial: usize,
    /// Applicant code bits, row-major, one byte per bit (0 or 1).
    pub applicant_code: Vec<u8>,
    /// Applicant mask bits (1 = valid).
    pub applicant_mask: Vec<u8>,
    /// Candidate code bits, rotated to the best alignment.
    pub candidate_code: Vec<u8>,
    /// Candidate mask bits, rotated likewise.
    pub candidate_mask: Vec<u8>,
    /// The best rotation, in angular samples.
    pub rotation: i32,
    /// Normalised Hamming distance at that rotation.
    pub distance: f32,
}

/// Evidence behind a case, drawn for analysts (implemented by the enrolment engine over its
/// gallery and person registry). Reference ids are those of [`PersonSummary::reference_id`].
pub trait Evidence: Send + Sync + 'static {
    /// One finger position (1–10) of two persons compared, `None` if either lacks it.
    fn finger(&self, applicant: &str, candidate: &str, position: u8) -> Option<FingerComparison>;
    /// One eye (by [`crate::enrolment::record::Eye::index`]: 0 = right, 1 = left) of two persons compared, `None` if either lacks it.
    fn iris(&self, applicant: &str, candidate: &str, eye: usize) -> Option<IrisComparison>;
    /// The submitted photo bytes of a person, if any.
    fn photo(&self, reference_id: &str) -> Option<Vec<u8>>;
    /// The submitted signature bytes of a person, if any.
    fn signature(&self, reference_id: &str) -> Option<Vec<u8>>;
    /// The image finger at `position` (1–10) of a person, if the finger was submitted as an
    /// image and the person is not deleted.
    fn finger_print(&self, _reference_id: &str, _position: u8) -> Option<FingerPrintInfo> {
        None
    }
    /// That image as PNG bytes in the frame of [`FingerPrintInfo`]; `Ok(None)` without one.
    fn finger_png(
        &self,
        _reference_id: &str,
        _position: u8,
    ) -> Result<Option<Vec<u8>>, FingerImageError> {
        Ok(None)
    }
    /// The eye (by [`crate::enrolment::record::Eye::index`]: 0 = right, 1 = left) a person
    /// submitted as an image, if the person is not deleted: quality, size, segmentation and
    /// the mask of the code made from it.
    fn eye_image(&self, _reference_id: &str, _eye: usize) -> Option<EyeImageInfo> {
        None
    }
    /// That image as PNG bytes, in the pixels of its segmentation; `Ok(None)` without one.
    fn eye_png(&self, _reference_id: &str, _eye: usize) -> Result<Option<Vec<u8>>, EyeImageError> {
        Ok(None)
    }
}
