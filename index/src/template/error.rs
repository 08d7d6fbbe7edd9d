//! Typed errors for template decoding.

use thiserror::Error;

/// Why a fingerprint record could not be decoded. Every variant says what and where.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// The record ended before a field could be read.
    #[error(
        "record truncated: needed {needed} bytes at offset {offset}, only {available} present"
    )]
    Truncated {
        /// Offset of the field that could not be read.
        offset: usize,
        /// Bytes the field needed.
        needed: usize,
        /// Bytes left at that offset.
        available: usize,
    },
    /// The record does not start with a known format identifier.
    #[error("unknown format identifier {found:02x?}")]
    BadMagic {
        /// The first bytes of the record.
        found: Vec<u8>,
    },
    /// The length field disagrees with the data.
    #[error("length field says {declared} bytes but {actual} are present")]
    LengthMismatch {
        /// Length in the header.
        declared: usize,
        /// Bytes present.
        actual: usize,
    },
    /// A minutia lies outside the declared image.
    #[error("view {view} minutia {index} at ({x},{y}) lies outside the {width}x{height} image")]
    MinutiaOutsideImage {
        /// Finger view index.
        view: usize,
        /// Minutia index within the view.
        index: usize,
        /// Stated x.
        x: u16,
        /// Stated y.
        y: u16,
        /// Image width.
        width: u16,
        /// Image height.
        height: u16,
    },
    /// A field holds a value the format forbids.
    #[error("invalid {field} at offset {offset}: {value}")]
    InvalidField {
        /// Field name.
        field: &'static str,
        /// Offset of the field.
        offset: usize,
        /// The offending value.
        value: u32,
    },
}
