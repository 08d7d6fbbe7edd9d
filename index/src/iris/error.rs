//! Typed errors for iris layouts, templates, gallery records and matcher settings.

use thiserror::Error;

/// Why an iris layout, template, record or matcher setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IrisError {
    /// A layout dimension is zero or too large.
    #[error("invalid iris layout: {reason}")]
    InvalidLayout {
        /// What is wrong with the geometry.
        reason: &'static str,
    },
    /// A code or mask buffer does not have the size the layout implies.
    #[error("{what} has {actual} {unit}, the layout needs {expected}")]
    WrongLength {
        /// Which buffer (code, mask, record).
        what: &'static str,
        /// Unit of the counts (bytes or words).
        unit: &'static str,
        /// Size the layout requires.
        expected: usize,
        /// Size received.
        actual: usize,
    },
    /// A byte buffer of gallery records is not aligned to 8 bytes.
    #[error("gallery record bytes are not aligned to 8 bytes")]
    Misaligned,
    /// Two templates (or a probe and a gallery) use different layouts.
    #[error("layout mismatch: {left} against {right}")]
    LayoutMismatch {
        /// Layout of the first operand.
        left: String,
        /// Layout of the second operand.
        right: String,
    },
    /// The template has too few valid (unmasked) bits to be compared meaningfully.
    #[error("unusable iris template: {valid_bits} valid bits, at least {required} required")]
    Unusable {
        /// Bits whose mask bit is 1.
        valid_bits: u32,
        /// Minimum the matcher accepts.
        required: u32,
    },
    /// A matcher setting is out of range.
    #[error("invalid iris matcher setting: {reason}")]
    InvalidConfig {
        /// What is wrong with the setting.
        reason: &'static str,
    },
}
