//! ISO/IEC 19794-2:2005 finger minutiae records (format identifier `FMR\0`, version ` 20\0`).

use super::{scale_to_internal, FingerTemplate, Minutia, MinutiaKind, TemplateError};

/// Format identifier and version at the start of every ISO 19794-2:2005 record.
pub const ISO_MAGIC: &[u8; 8] = b"FMR\0 20\0";
const HEADER_LEN: usize = 24;
const VIEW_HEADER_LEN: usize = 4;
const MINUTIA_LEN: usize = 6;

/// One minutia exactly as stored in the record (pixel coordinates at the record's resolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawMinutia {
    /// Type bits: 0 other, 1 ending, 2 bifurcation.
    pub kind: u8,
    /// x in pixels.
    pub x: u16,
    /// y in pixels.
    pub y: u16,
    /// Angle, 1.40625° units, counter-clockwise.
    pub angle: u8,
    /// Quality 0–100.
    pub quality: u8,
}

/// One finger view of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FingerView {
    /// Finger position code 0–10.
    pub position: u8,
    /// View number 0–15.
    pub view_number: u8,
    /// Impression type 0–15.
    pub impression_type: u8,
    /// Finger quality 0–100.
    pub quality: u8,
    /// Minutiae as stored.
    pub minutiae: Vec<RawMinutia>,
    /// Raw extended data (without its 2-byte length).
    pub extended: Vec<u8>,
}

/// A decoded ISO 19794-2:2005 record.
#[derive(Debug, Clone, PartialEq, Eq)]
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

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TemplateError> {
        let available = self.data.len().saturating_sub(self.pos);
        if available < n {
            return Err(TemplateError::Truncated {
                offset: self.pos,
                needed: n,
                available,
            });
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, TemplateError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, TemplateError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, TemplateError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Decodes an ISO 19794-2:2005 record. Bytes after the declared length are ignored.
pub fn decode(data: &[u8]) -> Result<IsoRecord, TemplateError> {
    let mut r = Reader { data, pos: 0 };
    let magic = r.take(8)?;
    if magic != ISO_MAGIC {
        return Err(TemplateError::BadMagic {
            found: magic.to_vec(),
        });
    }
    let declared = r.u32()? as usize;
    if declared < HEADER_LEN || declared > data.len() {
        return Err(TemplateError::LengthMismatch {
            declared,
            actual: data.len(),
        });
    }
    let mut r = Reader {
        data: &data[..declared],
        pos: r.pos,
    };
    let equipment = r.u16()?;
    let width = r.u16()?;
    let height = r.u16()?;
    let res_x = r.u16()?;
    let res_y = r.u16()?;
    let view_count = r.u8()?;
    let _reserved = r.u8()?;
    let mut views = Vec::with_capacity(usize::from(view_count));
    for _ in 0..view_count {
        let position = r.u8()?;
        let vi = r.u8()?;
        let quality = r.u8()?;
        let count = usize::from(r.u8()?);
        let body = r.take(count * MINUTIA_LEN)?;
        let minutiae = body
            .chunks_exact(MINUTIA_LEN)
            .map(|m| RawMinutia {
                kind: m[0] >> 6,
                x: u16::from_be_bytes([m[0] & 0x3f, m[1]]),
                y: u16::from_be_bytes([m[2] & 0x3f, m[3]]),
                angle: m[4],
                quality: m[5],
            })
            .collect();
        let ext_len = usize::from(r.u16()?);
        let extended = r.take(ext_len)?.to_vec();
        views.push(FingerView {
            position,
            view_number: vi >> 4,
            impression_type: vi & 0x0f,
            quality,
            minutiae,
            extended,
        });
    }
    Ok(IsoRecord {
        equipment,
        width,
        height,
        res_x,
        res_y,
        views,
    })
}

/// Encodes a record. Minutia counts above 255 and coordinates above 14 bits are truncated to
/// their field widths; callers keep records within the format's limits.
pub fn encode(record: &IsoRecord) -> Vec<u8> {
    let body: usize = record
        .views
        .iter()
        .map(|v| VIEW_HEADER_LEN + v.minutiae.len() * MINUTIA_LEN + 2 + v.extended.len())
        .sum();
    let total = HEADER_LEN + body;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(ISO_MAGIC);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    for field in [
        record.equipment,
        record.width,
        record.height,
        record.res_x,
        record.res_y,
    ] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    out.push(record.views.len() as u8);
    out.push(0);
    for v in &record.views {
        out.push(v.position);
        out.push((v.view_number << 4) | (v.impression_type & 0x0f));
        out.push(v.quality);
        out.push(v.minutiae.len() as u8);
        for m in &v.minutiae {
            out.extend_from_slice(
                &(((u16::from(m.kind) & 3) << 14) | (m.x & 0x3fff)).to_be_bytes(),
            );
            out.extend_from_slice(&(m.y & 0x3fff).to_be_bytes());
            out.push(m.angle);
            out.push(m.quality);
        }
        out.extend_from_slice(&(v.extended.len() as u16).to_be_bytes());
        out.extend_from_slice(&v.extended);
    }
    out
}

impl IsoRecord {
    /// Converts view `index` to the internal frame.
    pub fn template(&self, index: usize) -> Option<FingerTemplate> {
        let view = self.views.get(index)?;
        let minutiae = view
            .minutiae
            .iter()
            .map(|m| Minutia {
                x: scale_to_internal(m.x, self.res_x),
                y: scale_to_internal(m.y, self.res_y),
                angle: m.angle,
                kind: match m.kind {
                    1 => MinutiaKind::Ending,
                    2 => MinutiaKind::Bifurcation,
                    _ => MinutiaKind::Other,
                },
                quality: m.quality,
            })
            .collect();
        Some(FingerTemplate {
            width: scale_to_internal(self.width, self.res_x),
            height: scale_to_internal(self.height, self.res_y),
            position: view.position,
            quality: view.quality,
            minutiae,
        })
    }
}
