//! ANSI INCITS 378-2004 finger minutiae records (format identifier `FMR\0`, version ` 20\0`).
//!
//! Header (26 bytes): identifier and version (8), record length (2; or `0000` followed by a
//! 4-byte length, making the header 30 bytes, when the record exceeds 65,535 bytes), CBEFF
//! product identifier (2-byte owner, 2-byte type), capture equipment (2: 4-bit compliance,
//! 12-bit id), image width and height (2 + 2), horizontal and vertical resolution in px/cm
//! (2 + 2), number of finger views (1), reserved (1). The views follow (see
//! [`super::view`]); angles are in 2° units, 0–179.

use super::detect::{check_magic, ANSI_HEADER_LEN, ANSI_LONG_HEADER_LEN};
use super::reader::Reader;
use super::view::{self, Geometry};
use super::{FingerTemplate, Format, TemplateError};

pub use super::view::{ansi_angle_to_internal, FingerView, RawMinutia, ANSI_MAX_ANGLE};

/// Format identifier and version at the start of every ANSI INCITS 378-2004 record.
pub const ANSI_MAGIC: &[u8; 8] = b"FMR\0 20\0";
const LENGTH_OFFSET: usize = 8;
const SHORT_LENGTH_MAX: usize = 0xffff;

/// A decoded ANSI INCITS 378-2004 record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnsiRecord {
    /// CBEFF product identifier: owner (IBIA-registered vendor).
    pub product_owner: u16,
    /// CBEFF product identifier: product type.
    pub product_type: u16,
    /// Capture equipment compliance (4 bits) and id (12 bits).
    pub equipment: u16,
    /// Image width in pixels.
    pub width: u16,
    /// Image height in pixels.
    pub height: u16,
    /// Horizontal resolution, px/cm.
    pub res_x: u16,
    /// Vertical resolution, px/cm.
    pub res_y: u16,
    /// The finger views; minutia angles in 2° units.
    pub views: Vec<FingerView>,
}

/// Decodes an ANSI INCITS 378-2004 record. Bytes after the declared length are ignored; the
/// reserved header byte is not checked. The 6-byte length form is accepted for any length.
pub fn decode(data: &[u8]) -> Result<AnsiRecord, TemplateError> {
    check_magic(data)?;
    let mut r = Reader::new(data, LENGTH_OFFSET);
    let (declared, header_len) = match r.u16()? {
        0 => (r.u32()? as usize, ANSI_LONG_HEADER_LEN),
        short => (usize::from(short), ANSI_HEADER_LEN),
    };
    if declared < header_len {
        return Err(TemplateError::LengthTooSmall {
            declared,
            minimum: header_len,
        });
    }
    let Some(record) = data.get(..declared) else {
        return Err(TemplateError::LengthMismatch {
            declared,
            actual: data.len(),
        });
    };
    let mut r = Reader::new(record, r.pos());
    let product_owner = r.u16()?;
    let product_type = r.u16()?;
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
    let views = view::decode_views(&mut r, count_offset, count, geometry, Format::Ansi)?;
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
    Ok(AnsiRecord {
        product_owner,
        product_type,
        equipment,
        width,
        height,
        res_x,
        res_y,
        views,
    })
}

/// Encodes a record, with the 6-byte length form when it exceeds 65,535 bytes. Fails with
/// [`TemplateError::Unencodable`] when a value exceeds its field (angles over 179, more than
/// 255 views or minutiae, coordinates over 14 bits, …).
pub fn encode(record: &AnsiRecord) -> Result<Vec<u8>, TemplateError> {
    let mut body = Vec::with_capacity(super::iso::encoded_len_hint(&record.views));
    for field in [
        record.product_owner,
        record.product_type,
        record.equipment,
        record.width,
        record.height,
        record.res_x,
        record.res_y,
    ] {
        body.extend_from_slice(&field.to_be_bytes());
    }
    view::encode_views(&record.views, Format::Ansi, &mut body)?;
    let short_total = LENGTH_OFFSET + 2 + body.len();
    let mut out = Vec::with_capacity(short_total + 4);
    out.extend_from_slice(ANSI_MAGIC);
    if short_total <= SHORT_LENGTH_MAX {
        out.extend_from_slice(&(short_total as u16).to_be_bytes());
    } else {
        let total = short_total + 4;
        let total32 = u32::try_from(total).map_err(|_| TemplateError::Unencodable {
            view: 0,
            what: "record length",
            value: total,
            max: u32::MAX as usize,
        })?;
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&total32.to_be_bytes());
    }
    out.extend_from_slice(&body);
    Ok(out)
}

impl AnsiRecord {
    fn geometry(&self) -> Geometry {
        Geometry {
            width: self.width,
            height: self.height,
            res_x: self.res_x,
            res_y: self.res_y,
        }
    }

    /// Converts view `index` to the internal frame (500 ppi, 1/256-turn angles rounded to
    /// nearest from 2° units).
    pub fn template(&self, index: usize) -> Option<FingerTemplate> {
        let v = self.views.get(index)?;
        Some(view::to_template(v, self.geometry(), Format::Ansi))
    }

    /// Converts every view to the internal frame.
    pub fn templates(&self) -> Vec<FingerTemplate> {
        self.views
            .iter()
            .map(|v| view::to_template(v, self.geometry(), Format::Ansi))
            .collect()
    }
}
