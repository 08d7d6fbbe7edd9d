//! Finger views: the part of a record both formats lay out the same way.
//!
//! A view is a 4-byte header (finger position; view number and impression type; finger
//! quality; minutia count), 6 bytes per minutia (2-bit type and 14-bit x; 2 reserved bits and
//! 14-bit y; angle; quality) and the extended data area. Only the angle unit differs:
//! 1.40625° (256 per turn) in ISO/IEC 19794-2, 2° (0–179) in ANSI INCITS 378.

use super::error::ExtendedDataFault;
use super::extended::{self, ExtendedBlock};
use super::reader::Reader;
use super::{scale_to_internal, FingerTemplate, Format, Minutia, MinutiaKind, TemplateError};

const VIEW_HEADER_LEN: usize = 4;
const EXT_LEN_LEN: usize = 2;
/// Smallest possible view: header and an empty extended data area.
pub(crate) const MIN_VIEW_LEN: usize = VIEW_HEADER_LEN + EXT_LEN_LEN;
/// Bytes per minutia.
pub(crate) const MINUTIA_LEN: usize = 6;
const COORD_MASK: u16 = 0x3fff;
const MAX_FINGER_POSITION: u8 = 10;
const MAX_QUALITY: u8 = 100;
/// Largest ANSI INCITS 378 angle (2° units).
pub const ANSI_MAX_ANGLE: u8 = 179;

/// One minutia exactly as stored in the record (pixel coordinates at the record's resolution,
/// angle in the record's unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawMinutia {
    /// Type bits: 0 other, 1 ending, 2 bifurcation.
    pub kind: u8,
    /// x in pixels.
    pub x: u16,
    /// y in pixels.
    pub y: u16,
    /// Angle, counter-clockwise: 1.40625° units (ISO) or 2° units (ANSI).
    pub angle: u8,
    /// Quality 0–100.
    pub quality: u8,
}

/// One finger view of a record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
    /// Extended data blocks in record order.
    pub extended: Vec<ExtendedBlock>,
}

/// Image geometry every view is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    pub width: u16,
    pub height: u16,
    pub res_x: u16,
    pub res_y: u16,
}

/// Reads the view count at the cursor and the views after it, leaving the cursor after the
/// last view. The reader must be bounded by the record's declared length.
pub(crate) fn decode_views(
    r: &mut Reader<'_>,
    count_offset: usize,
    count: u8,
    geometry: Geometry,
    format: Format,
) -> Result<Vec<FingerView>, TemplateError> {
    // Without an image size no minutia coordinate can be checked.
    if geometry.width == 0 || geometry.height == 0 {
        return Err(TemplateError::EmptyImage {
            width: geometry.width,
            height: geometry.height,
        });
    }
    let declared = usize::from(count);
    let needed = declared * MIN_VIEW_LEN;
    if needed > r.remaining() {
        return Err(TemplateError::CountOverflow {
            what: "views",
            view: 0,
            offset: count_offset,
            declared,
            needed,
            remaining: r.remaining(),
        });
    }
    let mut views = Vec::with_capacity(declared);
    for view in 0..declared {
        views.push(decode_view(r, view, geometry, format)?);
    }
    Ok(views)
}

fn decode_view(
    r: &mut Reader<'_>,
    view: usize,
    geometry: Geometry,
    format: Format,
) -> Result<FingerView, TemplateError> {
    let position_offset = r.pos();
    let [position, vi, quality, count] = r.array::<4>()?;
    if position > MAX_FINGER_POSITION {
        return Err(TemplateError::InvalidFingerPosition {
            view,
            offset: position_offset,
            value: position,
        });
    }
    if quality > MAX_QUALITY {
        return Err(TemplateError::InvalidQuality {
            view,
            minutia: None,
            offset: position_offset + 2,
            value: quality,
        });
    }
    let declared = usize::from(count);
    let needed = declared * MINUTIA_LEN + EXT_LEN_LEN;
    if needed > r.remaining() {
        return Err(TemplateError::CountOverflow {
            what: "minutiae",
            view,
            offset: position_offset + 3,
            declared,
            needed,
            remaining: r.remaining(),
        });
    }
    let mut minutiae = Vec::with_capacity(declared);
    for index in 0..declared {
        minutiae.push(decode_minutia(r, view, index, geometry, format)?);
    }
    let ext_offset = r.pos();
    let ext_len = usize::from(r.u16()?);
    if ext_len > r.remaining() {
        return Err(TemplateError::ExtendedData {
            view,
            offset: ext_offset,
            fault: ExtendedDataFault::AreaPastEnd {
                length: ext_len,
                remaining: r.remaining(),
            },
        });
    }
    let area_offset = r.pos();
    let area = r.take(ext_len)?;
    let extended = extended::decode_area(area, area_offset, view, format)?;
    Ok(FingerView {
        position,
        view_number: vi >> 4,
        impression_type: vi & 0x0f,
        quality,
        minutiae,
        extended,
    })
}

fn decode_minutia(
    r: &mut Reader<'_>,
    view: usize,
    index: usize,
    geometry: Geometry,
    format: Format,
) -> Result<RawMinutia, TemplateError> {
    let offset = r.pos();
    let [b0, b1, b2, b3, angle, quality] = r.array::<6>()?;
    let kind = b0 >> 6;
    if kind == 3 {
        return Err(TemplateError::InvalidMinutiaType {
            view,
            index,
            offset,
        });
    }
    let x = u16::from_be_bytes([b0, b1]) & COORD_MASK;
    let y_word = u16::from_be_bytes([b2, b3]);
    if y_word > COORD_MASK {
        return Err(TemplateError::InvalidField {
            field: "minutia y reserved bits",
            offset: offset + 2,
            value: u32::from(y_word >> 14),
        });
    }
    let y = y_word;
    let outside = |v: u16, limit: u16| v >= limit;
    if outside(x, geometry.width) || outside(y, geometry.height) {
        return Err(TemplateError::MinutiaOutsideImage {
            view,
            index,
            offset,
            x,
            y,
            width: geometry.width,
            height: geometry.height,
        });
    }
    if format == Format::Ansi && angle > ANSI_MAX_ANGLE {
        return Err(TemplateError::InvalidAngle {
            view,
            index,
            offset: offset + 4,
            value: angle,
        });
    }
    if quality > MAX_QUALITY {
        return Err(TemplateError::InvalidQuality {
            view,
            minutia: Some(index),
            offset: offset + 5,
            value: quality,
        });
    }
    Ok(RawMinutia {
        kind,
        x,
        y,
        angle,
        quality,
    })
}

fn unencodable(view: usize, what: &'static str, value: usize, max: usize) -> TemplateError {
    TemplateError::Unencodable {
        view,
        what,
        value,
        max,
    }
}

fn check(view: usize, what: &'static str, value: usize, max: usize) -> Result<(), TemplateError> {
    if value > max {
        return Err(unencodable(view, what, value, max));
    }
    Ok(())
}

/// Appends the view count, the reserved byte and every view.
pub(crate) fn encode_views(
    views: &[FingerView],
    format: Format,
    out: &mut Vec<u8>,
) -> Result<(), TemplateError> {
    check(0, "view count", views.len(), usize::from(u8::MAX))?;
    out.push(views.len() as u8);
    out.push(0);
    for (i, v) in views.iter().enumerate() {
        encode_view(v, i, format, out)?;
    }
    Ok(())
}

fn encode_view(
    v: &FingerView,
    view: usize,
    format: Format,
    out: &mut Vec<u8>,
) -> Result<(), TemplateError> {
    check(
        view,
        "finger position",
        usize::from(v.position),
        usize::from(MAX_FINGER_POSITION),
    )?;
    check(view, "view number", usize::from(v.view_number), 15)?;
    check(view, "impression type", usize::from(v.impression_type), 15)?;
    check(
        view,
        "finger quality",
        usize::from(v.quality),
        usize::from(MAX_QUALITY),
    )?;
    check(
        view,
        "minutia count",
        v.minutiae.len(),
        usize::from(u8::MAX),
    )?;
    out.extend_from_slice(&[
        v.position,
        (v.view_number << 4) | v.impression_type,
        v.quality,
        v.minutiae.len() as u8,
    ]);
    let max_angle = match format {
        Format::Iso => u8::MAX,
        Format::Ansi => ANSI_MAX_ANGLE,
    };
    for m in &v.minutiae {
        check(view, "minutia type", usize::from(m.kind), 2)?;
        check(view, "minutia x", usize::from(m.x), usize::from(COORD_MASK))?;
        check(view, "minutia y", usize::from(m.y), usize::from(COORD_MASK))?;
        check(
            view,
            "minutia angle",
            usize::from(m.angle),
            usize::from(max_angle),
        )?;
        check(
            view,
            "minutia quality",
            usize::from(m.quality),
            usize::from(MAX_QUALITY),
        )?;
        out.extend_from_slice(&((u16::from(m.kind) << 14) | m.x).to_be_bytes());
        out.extend_from_slice(&m.y.to_be_bytes());
        out.extend_from_slice(&[m.angle, m.quality]);
    }
    extended::encode_area(&v.extended, view, format, out)
}

/// Converts an ANSI INCITS 378 angle (2° units) to 1/256 turns, rounding to nearest.
///
/// `a` 2° units are `a · 64 / 45` 256ths of a turn; the denominator is odd so no value lies
/// exactly between two units. Values above 179 wrap modulo 180 (a full turn).
pub fn ansi_angle_to_internal(a: u8) -> u8 {
    let a = u32::from(a % 180);
    // a ≤ 179 gives at most (11456 + 22) / 45 = 255.
    ((a * 64 + 22) / 45) as u8
}

fn kind_of(bits: u8) -> MinutiaKind {
    match bits {
        1 => MinutiaKind::Ending,
        2 => MinutiaKind::Bifurcation,
        _ => MinutiaKind::Other,
    }
}

/// Converts a view to the internal frame (500 ppi, 1/256-turn angles).
pub(crate) fn to_template(view: &FingerView, geometry: Geometry, format: Format) -> FingerTemplate {
    let minutiae = view
        .minutiae
        .iter()
        .map(|m| Minutia {
            x: scale_to_internal(m.x, geometry.res_x),
            y: scale_to_internal(m.y, geometry.res_y),
            angle: match format {
                Format::Iso => m.angle,
                Format::Ansi => ansi_angle_to_internal(m.angle),
            },
            kind: kind_of(m.kind),
            quality: m.quality,
        })
        .collect();
    FingerTemplate {
        width: scale_to_internal(geometry.width, geometry.res_x),
        height: scale_to_internal(geometry.height, geometry.res_y),
        position: view.position,
        quality: view.quality,
        minutiae,
    }
}
