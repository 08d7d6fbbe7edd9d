//! ISO/IEC 19794-2:2005 finger minutiae records (format identifier `FMR\0`, version ` 20\0`).
//!
//! Header (24 bytes): identifier and version (8), record length (4), capture equipment
//! (2: 4-bit certification, 12-bit id), image width and height (2 + 2), horizontal and
//! vertical resolution in px/cm (2 + 2), number of finger views (1), reserved (1). The views
//! follow (see [`super::view`]); angles are in 1/256 turns.

use super::detect::{check_magic, ISO_HEADER_LEN};
use super::reader::Reader;
use super::view::{self, Geometry};
use super::{FingerTemplate, Format, TemplateError};

pub use super::view::{FingerView, RawMinutia};

/// Format identifier and version at the start of every ISO 19794-2:2005 record.
pub const ISO_MAGIC: &[u8; 8] = b"FMR\0 20\0";
const LENGTH_OFFSET: usize = 8;

/// A decoded ISO 19794-2:2005 record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IsoRecord {
    /// Capture equipment certification (4 bits) and id (12 bits).
    pub equipment: u16,
    /// Image width in pixels.
    pub width: u16,
    /// Image height in pixels.
    pub height: u16,
    /// Horizontal resolution, px/cm.
    pub res_x: u16,
    /// Vertical resolution, px/cm.
    pub res_y: u16,
    /// The finger views.
    pub views: Vec<FingerView>,
}

/// Decodes an ISO 19794-2:2005 record. Bytes after the declared length are ignored; the
/// reserved header byte is not checked.
pub fn decode(data: &[u8]) -> Result<IsoRecord, TemplateError> {
    check_magic(data)?;
    let declared = Reader::new(data, LENGTH_OFFSET).u32()? as usize;
    if declared < ISO_HEADER_LEN {
        return Err(TemplateError::LengthTooSmall {
            declared,
            minimum: ISO_HEADER_LEN,
        });
    }
    let Some(record) = data.get(..declared) else {
        return Err(TemplateError::LengthMismatch {
            declared,
            actual: data.len(),
        });
    };
    let mut r = Reader::new(record, LENGTH_OFFSET + 4);
    let equipment = r.u16()?;
    let geometry = Geometry {
        width: r.u16()?,
        height: r.u16()?,
        res_x: r.u16()?,
        res_y: r.u16()?,
    };
    let count_offset = r.pos();
    let count = r.u8()?;
    let _reserved = r.u8()?;
    let views = view::decode_views(&mut r, count_offset, count, geometry, Format::Iso)?;
    if r.pos() != declared {
        return Err(TemplateError::LengthInconsistent {
            declared,
            parsed: r.pos(),
        });
    }
    let Geometry {
        width,
        height,
        res_x,
        res_y,
    } = geometry;
    Ok(IsoRecord {
        equipment,
        width,
        height,
        res_x,
        res_y,
        views,
    })
}

/// Encodes a record, failing with [`TemplateError::Unencodable`] when a value exceeds its
/// field (more than 255 views or minutiae, coordinates over 14 bits, quality over 100, …).
pub fn encode(record: &IsoRecord) -> Result<Vec<u8>, TemplateError> {
    let mut out = Vec::with_capacity(encoded_len_hint(&record.views));
    out.extend_from_slice(ISO_MAGIC);
    out.extend_from_slice(&[0; 4]);
    for field in [
        record.equipment,
        record.width,
        record.height,
        record.res_x,
        record.res_y,
    ] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    view::encode_views(&record.views, Format::Iso, &mut out)?;
    let total = u32::try_from(out.len()).map_err(|_| TemplateError::Unencodable {
        view: 0,
        what: "record length",
        value: out.len(),
        max: u32::MAX as usize,
    })?;
    out[LENGTH_OFFSET..LENGTH_OFFSET + 4].copy_from_slice(&total.to_be_bytes());
    Ok(out)
}

/// A capacity estimate for an encoded record (exact when there is no extended data).
pub(crate) fn encoded_len_hint(views: &[FingerView]) -> usize {
    ISO_HEADER_LEN
        + views
            .iter()
            .map(|v| 6 + v.minutiae.len() * view::MINUTIA_LEN)
            .sum::<usize>()
}

impl IsoRecord {
    fn geometry(&self) -> Geometry {
        Geometry {
            width: self.width,
            height: self.height,
            res_x: self.res_x,
            res_y: self.res_y,
        }
    }

    /// Converts view `index` to the internal frame (500 ppi, 1/256-turn angles).
    pub fn template(&self, index: usize) -> Option<FingerTemplate> {
        let v = self.views.get(index)?;
        Some(view::to_template(v, self.geometry(), Format::Iso))
    }

    /// Converts every view to the internal frame.
    pub fn templates(&self) -> Vec<FingerTemplate> {
        self.views
            .iter()
            .map(|v| view::to_template(v, self.geometry(), Format::Iso))
            .collect()
    }
}
