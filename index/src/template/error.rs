//! Typed errors for template decoding and encoding.

use thiserror::Error;

/// Why a fingerprint record could not be decoded or encoded. Every variant says what and where:
/// offsets are absolute byte offsets from the start of the record, views and minutiae are
/// zero-based indexes.
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
    /// The record does not start with the `FMR\0` format identifier.
    #[error("unknown format identifier {found:02x?}")]
    BadMagic {
        /// The first bytes of the record.
        found: Vec<u8>,
    },
    /// The format identifier is right but the version is not ` 20\0` (2004/2005 editions).
    #[error("unsupported finger minutiae record version {found:02x?}")]
    UnsupportedVersion {
        /// The four version bytes.
        found: Vec<u8>,
    },
    /// The length field claims more bytes than are present.
    #[error("length field says {declared} bytes but only {actual} are present")]
    LengthMismatch {
        /// Length in the header.
        declared: usize,
        /// Bytes present.
        actual: usize,
    },
    /// The length field is smaller than the fixed header.
    #[error("length field says {declared} bytes, less than the {minimum}-byte header")]
    LengthTooSmall {
        /// Length in the header.
        declared: usize,
        /// Size of the fixed header.
        minimum: usize,
    },
    /// The finger views end before the length field says the record ends.
    #[error("length field says {declared} bytes but the finger views end at offset {parsed}")]
    LengthInconsistent {
        /// Length in the header.
        declared: usize,
        /// Offset where the last view ended.
        parsed: usize,
    },
    /// A declared count of views or minutiae needs more bytes than remain in the record.
    #[error(
        "{what} count {declared} at offset {offset} (view {view}) needs at least {needed} bytes, \
         only {remaining} remain"
    )]
    CountOverflow {
        /// What was counted: `"views"` or `"minutiae"`.
        what: &'static str,
        /// View index (0 for the record-level view count).
        view: usize,
        /// Offset of the count field.
        offset: usize,
        /// The declared count.
        declared: usize,
        /// Bytes the count needs at minimum.
        needed: usize,
        /// Bytes left in the record after the count field.
        remaining: usize,
    },
    /// The header gives no image size (a width or height of 0), so no coordinate can be
    /// checked.
    #[error("image size {width}x{height}: width and height must both be at least 1")]
    EmptyImage {
        /// Stated width.
        width: u16,
        /// Stated height.
        height: u16,
    },
    /// A minutia lies outside the declared image.
    #[error(
        "view {view} minutia {index} at offset {offset}: ({x},{y}) lies outside the \
         {width}x{height} image"
    )]
    MinutiaOutsideImage {
        /// Finger view index.
        view: usize,
        /// Minutia index within the view.
        index: usize,
        /// Offset of the minutia.
        offset: usize,
        /// Stated x.
        x: u16,
        /// Stated y.
        y: u16,
        /// Image width.
        width: u16,
        /// Image height.
        height: u16,
    },
    /// A finger position code above 10.
    #[error("view {view}: invalid finger position {value} at offset {offset} (0-10 allowed)")]
    InvalidFingerPosition {
        /// Finger view index.
        view: usize,
        /// Offset of the field.
        offset: usize,
        /// The code found.
        value: u8,
    },
    /// A minutia with the reserved type bits `11`.
    #[error("view {view} minutia {index} at offset {offset}: reserved minutia type 3")]
    InvalidMinutiaType {
        /// Finger view index.
        view: usize,
        /// Minutia index within the view.
        index: usize,
        /// Offset of the minutia.
        offset: usize,
    },
    /// A finger or minutia quality above 100.
    #[error("view {view}{}: invalid quality {value} at offset {offset} (0-100 allowed)",
        .minutia.map(|m| format!(" minutia {m}")).unwrap_or_default())]
    InvalidQuality {
        /// Finger view index.
        view: usize,
        /// Minutia index, or `None` for the finger quality.
        minutia: Option<usize>,
        /// Offset of the field.
        offset: usize,
        /// The value found.
        value: u8,
    },
    /// An ANSI INCITS 378 minutia angle above 179 (2° units).
    #[error(
        "view {view} minutia {index}: invalid angle {value} at offset {offset} (0-179 allowed)"
    )]
    InvalidAngle {
        /// Finger view index.
        view: usize,
        /// Minutia index within the view.
        index: usize,
        /// Offset of the angle field.
        offset: usize,
        /// The value found.
        value: u8,
    },
    /// A field holds a value the format forbids (reserved bits set, for example).
    #[error("invalid {field} at offset {offset}: {value}")]
    InvalidField {
        /// Field name.
        field: &'static str,
        /// Offset of the field.
        offset: usize,
        /// The offending value.
        value: u32,
    },
    /// The extended data of a view is malformed.
    #[error("view {view}: malformed extended data at offset {offset}: {fault}")]
    ExtendedData {
        /// Finger view index.
        view: usize,
        /// Offset of the faulty length field or block.
        offset: usize,
        /// What is wrong.
        fault: ExtendedDataFault,
    },
    /// A record cannot be encoded because a value exceeds its field.
    #[error("cannot encode view {view}: {what} is {value}, the format allows at most {max}")]
    Unencodable {
        /// Finger view index (0 for record-level fields).
        view: usize,
        /// The field.
        what: &'static str,
        /// The value.
        value: usize,
        /// The largest value the field holds.
        max: usize,
    },
}

/// What is wrong with an extended data area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ExtendedDataFault {
    /// The area length runs past the end of the record.
    #[error("area length {length} runs past the record end ({remaining} bytes left)")]
    AreaPastEnd {
        /// Declared area length.
        length: usize,
        /// Bytes left in the record.
        remaining: usize,
    },
    /// Fewer than four bytes remain for a block header.
    #[error("block header needs 4 bytes, only {remaining} left in the area")]
    HeaderTruncated {
        /// Bytes left in the area.
        remaining: usize,
    },
    /// A block length shorter than the block's own 4-byte header.
    #[error("block length {length} is shorter than the 4-byte block header")]
    BlockTooShort {
        /// Declared block length.
        length: usize,
    },
    /// A block length running past the end of the area.
    #[error("block length {length} runs past the area end ({remaining} bytes left)")]
    BlockPastEnd {
        /// Declared block length.
        length: usize,
        /// Bytes left in the area.
        remaining: usize,
    },
    /// A ridge-count block without its extraction method byte.
    #[error("ridge-count block has no extraction method byte")]
    RidgeCountEmpty,
    /// A ridge-count block whose body is not a whole number of 3-byte triples.
    #[error("ridge-count block holds {data_len} bytes of triples, not a multiple of 3")]
    RidgeCountMisaligned {
        /// Bytes after the extraction method.
        data_len: usize,
    },
    /// A core/delta block ending inside a point.
    #[error("core/delta block ends inside its points")]
    CoreDeltaTruncated,
    /// A core/delta block with bytes after its last delta.
    #[error("core/delta block has {extra} bytes after its last delta")]
    CoreDeltaTrailing {
        /// Unused bytes.
        extra: usize,
    },
    /// A core/delta information type or reserved bits the format does not define.
    #[error("core/delta information field {value:#04x} uses undefined bits")]
    CoreDeltaInfoType {
        /// The field value.
        value: u16,
    },
}
