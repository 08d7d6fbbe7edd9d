//! Errors of the gallery and the search.

use crate::iris::IrisError;
use crate::storage::StorageError;

/// Why a gallery operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    /// The storage layer failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// An iris code or the iris matcher refused an operation.
    #[error(transparent)]
    Iris(#[from] IrisError),
    /// A file next to the store (the calibration table) could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The calibration table is missing, damaged or inconsistent.
    #[error("calibration: {0}")]
    Calibration(String),
    /// The gallery's hot records hold first-stage descriptors of another version than the
    /// configuration builds.
    #[error(
        "the gallery's first-stage descriptors are version {stored}, this configuration builds \
         version {expected}: enrol its persons into a new data directory (their descriptors \
         are built again from the templates)"
    )]
    DescriptorVersion {
        /// Version recorded with the gallery.
        stored: u32,
        /// Version of the configured descriptor parameters.
        expected: u32,
    },
    /// The stored calibration was learned for a matcher version this build does not know.
    #[error(
        "the gallery's calibration is for matcher version {stored}; this build knows versions \
         1 to {known}"
    )]
    MatcherVersion {
        /// Version recorded with the calibration.
        stored: u32,
        /// Newest version this build knows.
        known: u32,
    },
    /// A cold blob does not decode.
    #[error("person {key}: cold record damaged: {detail}")]
    CorruptCold {
        /// Person key.
        key: u64,
        /// What was wrong.
        detail: String,
    },
    /// A hot record has the wrong size or alignment.
    #[error("hot record does not match the person record type")]
    RecordType,
    /// An enrolment carries invalid data (for instance two templates for one finger).
    #[error("invalid enrolment: {0}")]
    InvalidEnrolment(String),
    /// The deduplication engine's sequencer was poisoned by a panic in another thread.
    #[error("deduplication engine poisoned")]
    Poisoned,
}
