//! The person registry: every enrolment the engine has seen, its demographics, attachments
//! and status, and the link between a gallery key, a `reference_id`, a NIK and the
//! submitting `request_id`.
//!
//! It lives in the `persons` table of the state store (`state.sqlite3`), indexed by
//! reference id, NIK (of persons in the gallery) and `(district, service_point,
//! request_id)`; photos and signatures stay in the database and are read only with the
//! entry that carries them. The gallery (fixed-stride records and its own WAL) holds the
//! biometrics of enrolled persons; the registry holds the biometrics only of *pending*
//! applicants (those of open duplicate cases), who are not in the gallery.
//!
//! # Crash consistency
//!
//! An enrolment writes, in this order:
//!
//! 1. registry `intent` (key, demographics): the key is reserved (one transaction,
//!    committed without a sync of its own: visible at once and kept by a crash of the
//!    process, durable against power loss with the next synced commit of the state store);
//! 2. gallery WAL insert (only for a `single` verdict, by the deduplicator; durable before
//!    the next step);
//! 3. registry outcome (single / duplicate with the pending biometrics / rejected) together
//!    with, for a duplicate, its case (`cases` and `case_trail` rows) and the registry's
//!    `case_id`, the idempotency answer and, for a verdict with a callback, the outbox row:
//!    one transaction ([`Registry::outcome_with`], `engine/commit.rs`); only then is the
//!    enrolment acknowledged.
//!
//! Nothing acknowledged can depend on a lost intent: the SQLite `-wal` is appended in commit
//! order, so the synced commit that acknowledges the enrolment (or any other enrolment that
//! names it as a candidate, which commits after it was inserted) makes its intent durable
//! too. A power loss between steps 2 and 3 can thus leave a gallery member whose intent is
//! lost, with a key at or past the registry's durable next key and no registry entry: the
//! enrolment was never acknowledged, so the engine's open deletes it from the gallery
//! (rolled back, logged and counted) and raises the next key past it, before anything
//! else runs.
//!
//! On start, [`Registry::reconcile`] settles every intent without an outcome: if the
//! gallery holds its key the insert in step 2 committed and the enrolment was single (rolled
//! forward to `single`); otherwise it never reached the gallery and is dropped (`aborted`;
//! the client was never answered and its retry runs afresh). A duplicate without a case
//! (left by a crash of an older release, which wrote them apart) gets its case opened by the
//! engine on start. A retried `request_id` finds its registry entry and gets the same
//! verdict without a new search, so a person is never reported as a duplicate of themselves.

pub mod legacy;
mod rows;

use serde::{Deserialize, Serialize};

use crate::cases::{IdenticalCapture, PersonSummary};
use crate::enrolment::record::Eye;
use tunggal_index::template::FingerTemplate;

pub(crate) use rows::migrate_entries;
pub use rows::{AckMark, Registry};

/// File name of the registry journal of older releases (`tunggal migrate` moves it).
pub use crate::state::migrate::REGISTRY_FILE;

/// The prefix of every reference id; the rest is the zero-padded gallery key.
pub const REFERENCE_PREFIX: &str = "P";

/// The reference id of a gallery key.
pub fn reference_id(key: u64) -> String {
    format!("{REFERENCE_PREFIX}{key:010}")
}

/// The gallery key of a reference id.
pub fn key_of(reference_id: &str) -> Option<u64> {
    let digits = reference_id.strip_prefix(REFERENCE_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Why the applicant of a duplicate verdict is held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateReason {
    /// The 1:N search found matching persons.
    Biometric,
    /// The NIK belongs to an enrolled person whose biometrics do not match.
    NikConflict,
}

impl DuplicateReason {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Biometric => "biometric",
            Self::NikConflict => "nik_conflict",
        }
    }
}

/// A candidate as kept with a duplicate outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCandidate {
    /// Gallery key.
    pub key: u64,
    /// Fused log-likelihood ratio.
    pub score: f64,
    /// Matcher score by finger position 1–10 (index 0 = position 1).
    pub finger_scores: [Option<f32>; 10],
    /// Normalised Hamming distance per eye (by [`Eye::index`]: 0 = right, 1 = left).
    pub iris_distances: [Option<f32>; 2],
    /// Fingers and eyes that are this person's capture submitted again (absent in outcomes
    /// stored before the search flagged them).
    #[serde(default, skip_serializing_if = "IdenticalCapture::is_empty")]
    pub identical: IdenticalCapture,
}

/// One iris of a pending applicant: its eye, code and mask bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredIris {
    /// The eye, stored as its gallery slot (0 left, 1 right; see [`Eye`]).
    #[serde(with = "gallery_slot")]
    pub eye: Eye,
    /// Code bytes, base64.
    pub code: String,
    /// Mask bytes, base64.
    pub mask: String,
}

/// A stored eye as its gallery slot number; a number that names no eye is refused.
mod gallery_slot {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::enrolment::record::Eye;

    pub fn serialize<S: Serializer>(eye: &Eye, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(eye.gallery_slot() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Eye, D::Error> {
        let slot = usize::deserialize(d)?;
        Eye::from_gallery_slot(slot).ok_or_else(|| {
            D::Error::custom(format!("iris eye {slot} is neither 0 (left) nor 1 (right)"))
        })
    }
}

/// Biometrics of an applicant not in the gallery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredBiometrics {
    /// Finger templates with their positions set.
    pub fingers: Vec<FingerTemplate>,
    /// Irises of the gallery layout.
    pub irises: Vec<StoredIris>,
}

/// What is known of an enrolment before matching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonMeta {
    /// Demographics and origin as analysts see them.
    pub summary: PersonSummary,
    /// Photo bytes, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<String>,
    /// Signature bytes, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Where to post the final verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Fingerprints submitted as images: their quality and where the images are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingers: Vec<FingerCapture>,
    /// Irises submitted as images: their quality, segmentation and where the images are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eyes: Vec<EyeCapture>,
}

/// A fingerprint submitted as an image: the quality the extractor measured and where the
/// image is kept (`engine/images.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FingerCapture {
    /// Finger position 1–10.
    pub position: u8,
    /// Quality 0–100.
    pub quality: u8,
    /// The failure-to-enrol reason when the finger was left out of matching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unusable: Option<String>,
    /// The stored image's format (`png`, `wsq`, `jp2` or `iso19794-4`).
    pub format: String,
    /// The resolution the minutiae were extracted at.
    pub ppi: f32,
    /// Width of the 500 ppi frame of the minutiae, pixels.
    pub width: u16,
    /// Height of that frame, pixels.
    pub height: u16,
    /// The image in the image store.
    pub image: tunggal_index::image_store::ImageRef,
}

/// An iris submitted as an image: the quality the eye encoder measured, the boundaries it
/// found and where the image is kept (`engine/eye_images.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EyeCapture {
    /// `right` or `left`.
    pub eye: String,
    /// Quality 0–100 (0 when the eye failed).
    pub quality: u8,
    /// The failure-to-enrol reason when the eye was left out of matching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unusable: Option<String>,
    /// The measures behind the quality, when segmentation succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measures: Option<crate::enrolment::wire::IrisMeasuresOut>,
    /// The stored image's format (`png`, `jpeg` or `jp2`).
    pub format: String,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Pupil, limbus and eyelids in the image's pixels, when found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outline: Option<crate::cases::EyeOutline>,
    /// The image in the image store.
    pub image: tunggal_index::image_store::ImageRef,
}

/// The engine's decision on an enrolment, as journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Outcome {
    /// Enrolled under its own key.
    Single,
    /// Same person re-applying under their own NIK: nobody new enrolled.
    Reissue {
        /// The enrolled person's key.
        person: u64,
    },
    /// Held back for analysts.
    Duplicate {
        /// Why.
        reason: DuplicateReason,
        /// Matching enrolled persons, best first.
        candidates: Vec<StoredCandidate>,
        /// The applicant's biometrics (enrolled if the case is cleared).
        biometrics: StoredBiometrics,
    },
    /// Refused by the engine.
    Rejected {
        /// Why.
        reason: String,
    },
}

/// How an analyst case ended for its applicant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "resolution", rename_all = "snake_case")]
pub enum Resolution {
    /// Not a duplicate: enrolled and print-ready.
    Cleared,
    /// A duplicate of `duplicate_of` (a reference id): refused.
    ConfirmedDuplicate {
        /// The enrolled person the applicant is.
        duplicate_of: String,
    },
}

/// One enrolment in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Gallery key (also the reference id).
    pub key: u64,
    /// Demographics.
    pub meta: PersonMeta,
    /// The decision; `None` while matching runs.
    pub outcome: Option<Outcome>,
    /// Case opened for a duplicate.
    pub case_id: Option<String>,
    /// The analysts' final decision.
    pub resolution: Option<Resolution>,
    /// Removed from the gallery by an administrator.
    pub deleted: bool,
    /// An administrator's deletion was journalled and may have reached the gallery.
    pub deleting: bool,
    /// The gallery record was lost to damage (set by `fsck --salvage`, with the reason).
    pub lost: Option<String>,
}

impl Entry {
    /// Whether this entry is a person in the gallery (enrolled single or cleared).
    pub fn in_gallery(&self) -> bool {
        if self.deleted || self.lost.is_some() {
            return false;
        }
        matches!(
            (&self.outcome, &self.resolution),
            (Some(Outcome::Single), None | Some(Resolution::Cleared))
                | (Some(Outcome::Duplicate { .. }), Some(Resolution::Cleared))
        )
    }
}
