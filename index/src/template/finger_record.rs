//! A record of either format, and the format-detecting decoder.

use super::ansi::{self, AnsiRecord};
use super::detect::{detect, Format};
use super::iso::{self, IsoRecord};
use super::view::FingerView;
use super::{FingerTemplate, TemplateError};

/// A decoded finger minutiae record of either supported format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FingerRecord {
    /// ISO/IEC 19794-2:2005.
    Iso(IsoRecord),
    /// ANSI INCITS 378-2004.
    Ansi(AnsiRecord),
}

impl FingerRecord {
    /// The record's format.
    pub fn format(&self) -> Format {
        match self {
            Self::Iso(_) => Format::Iso,
            Self::Ansi(_) => Format::Ansi,
        }
    }

    /// The finger views, with minutiae in the record's units.
    pub fn views(&self) -> &[FingerView] {
        match self {
            Self::Iso(r) => &r.views,
            Self::Ansi(r) => &r.views,
        }
    }

    /// Image width and height in the record's pixels.
    pub fn image_size(&self) -> (u16, u16) {
        match self {
            Self::Iso(r) => (r.width, r.height),
            Self::Ansi(r) => (r.width, r.height),
        }
    }

    /// Horizontal and vertical resolution in px/cm.
    pub fn resolution(&self) -> (u16, u16) {
        match self {
            Self::Iso(r) => (r.res_x, r.res_y),
            Self::Ansi(r) => (r.res_x, r.res_y),
        }
    }

    /// Converts view `index` to the internal frame.
    pub fn template(&self, index: usize) -> Option<FingerTemplate> {
        match self {
            Self::Iso(r) => r.template(index),
            Self::Ansi(r) => r.template(index),
        }
    }

    /// Converts every view to the internal frame.
    pub fn templates(&self) -> Vec<FingerTemplate> {
        match self {
            Self::Iso(r) => r.templates(),
            Self::Ansi(r) => r.templates(),
        }
    }

    /// Encodes the record in its own format.
    pub fn encode(&self) -> Result<Vec<u8>, TemplateError> {
        match self {
            Self::Iso(r) => iso::encode(r),
            Self::Ansi(r) => ansi::encode(r),
        }
    }
}

/// Decodes a record of either format, choosing it with [`detect`].
pub fn decode(data: &[u8]) -> Result<FingerRecord, TemplateError> {
    match detect(data)? {
        Format::Iso => iso::decode(data).map(FingerRecord::Iso),
        Format::Ansi => ansi::decode(data).map(FingerRecord::Ansi),
    }
}
