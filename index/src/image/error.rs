//! Typed errors for fingerprint image decoding, each with a machine-readable reason.

use thiserror::Error;

/// Why a fingerprint image could not be decoded or resampled.
///
/// [`ImageError::reason`] gives a stable machine-readable code for each variant, suitable for
/// a `problem+json` body.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImageError {
    /// The data ended before a field or a pixel block could be read.
    #[error(
        "image data truncated: {what} needs {needed} bytes at offset {offset}, {available} present"
    )]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Offset of the field that could not be read.
        offset: usize,
        /// Bytes the field needed.
        needed: usize,
        /// Bytes left at that offset.
        available: usize,
    },
    /// The header claims an image larger than the decoder accepts.
    #[error(
        "image of {width}x{height} pixels exceeds the limit of {max_side} pixels a side \
         and {max_pixels} pixels in all"
    )]
    TooLarge {
        /// Width the header claims.
        width: u64,
        /// Height the header claims.
        height: u64,
        /// Largest accepted width or height.
        max_side: u32,
        /// Largest accepted pixel count.
        max_pixels: u64,
    },
    /// The input is larger than the accepted byte budget.
    #[error("image data of {bytes} bytes exceeds the limit of {max} bytes")]
    InputTooLarge {
        /// Size of the input.
        bytes: usize,
        /// Largest accepted input.
        max: usize,
    },
    /// Decoding would need more memory than the decoder's budget.
    #[error("decoding {0} would exceed the memory budget")]
    BudgetExceeded(&'static str),
    /// A JPEG stream has more scans than the decoder accepts
    /// ([`MAX_SCANS`](super::jpeg_limits::MAX_SCANS)).
    #[error("JPEG stream has more than {max} scans")]
    JpegTooManyScans {
        /// Most scans accepted.
        max: u32,
    },
    /// The scans of a JPEG stream would visit more samples than the decoder's work budget
    /// ([`MAX_WORK`](super::jpeg_limits::MAX_WORK)).
    #[error("JPEG scans visit at least {work} samples, over the budget of {max}")]
    JpegWorkOverBudget {
        /// Samples counted when the budget was passed.
        work: u64,
        /// The budget.
        max: u64,
    },
    /// The header gives a width or height of zero.
    #[error("image size {width}x{height}: width and height must both be at least 1")]
    Empty {
        /// Width the header claims.
        width: u64,
        /// Height the header claims.
        height: u64,
    },
    /// The data is not in a supported format, or uses a feature of it that is not supported.
    #[error("unsupported image format: {0}")]
    UnsupportedFormat(String),
    /// The pixels are of a kind that has no faithful 8-bit grey form (for example CMYK).
    #[error("unsupported pixel layout: {0}")]
    UnsupportedPixels(String),
    /// The data is in a known format but its content is inconsistent.
    #[error("corrupt image: {0}")]
    Corrupt(String),
    /// No resolution was given by the record, a field or a flag, and one is needed.
    #[error("image resolution missing: give it in the record or as a parameter")]
    ResolutionMissing,
    /// A resolution is outside the accepted range.
    #[error("image resolution {ppi} ppi is outside the accepted range {min}..={max} ppi")]
    ResolutionOutOfRange {
        /// The resolution given, in pixels per inch (as text, to keep `Eq`).
        ppi: String,
        /// Lowest accepted resolution.
        min: u32,
        /// Highest accepted resolution.
        max: u32,
    },
}

impl ImageError {
    /// A stable machine-readable code for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Truncated { .. } => "image_truncated",
            Self::TooLarge { .. } | Self::InputTooLarge { .. } | Self::BudgetExceeded(_) => {
                "image_too_large"
            }
            Self::JpegTooManyScans { .. } => "jpeg_too_many_scans",
            Self::JpegWorkOverBudget { .. } => "jpeg_work_over_budget",
            Self::Empty { .. } => "image_empty",
            Self::UnsupportedFormat(_) => "image_unsupported_format",
            Self::UnsupportedPixels(_) => "image_unsupported_pixels",
            Self::Corrupt(_) => "image_corrupt",
            Self::ResolutionMissing => "image_resolution_missing",
            Self::ResolutionOutOfRange { .. } => "image_resolution_out_of_range",
        }
    }

    /// A corrupt-data error with a message.
    pub(crate) fn corrupt(msg: impl Into<String>) -> Self {
        Self::Corrupt(msg.into())
    }
}
