//! ISO/IEC 19794-4 finger image records, 2005 (`FIR\0` `010\0`) and 2011 (`FIR\0` `020\0`).
//!
//! A record holds one or more finger views. Each view's compression field names the codec of
//! its image data, which is handed to the matching decoder: uncompressed 8-bit grey, WSQ,
//! JPEG 2000 (lossy or lossless) or PNG. The resolution comes from the record's image
//! sampling rate (pixels per inch or per centimetre, per the scale-units field) and is set on
//! each decoded image.
//!
//! Layouts read (big-endian):
//!
//! * 2005 — general header of 36 bytes: identifier 4, version 4, record length 6, CBEFF
//!   product 4, device 2, acquisition level 2, view count 1, scale units 1, scan resolution
//!   2 + 2, image resolution 2 + 2, pixel depth 1, compression 1, reserved 2; then per view a
//!   14-byte header (block length 4, position 1, view count 1, view number 1, quality 1,
//!   impression 1, width 2, height 2, reserved 1) and the image data.
//! * 2011 — general header of 16 bytes: identifier 4, version 4, record length 4,
//!   representation count 2, certification flag 1, position count 1; then per
//!   representation: length 4, capture date 9, device technology 1, vendor 2, type 2,
//!   quality blocks (count 1, 5 bytes each), certification blocks when flagged (count 1,
//!   3 bytes each), position 1, representation number 1, scale units 1, scan rate 2 + 2,
//!   image rate 2 + 2, bit depth 1, compression 1, impression 1, width 2, height 2, then the
//!   image data up to the representation's length (the layout MOSIP's biometric utilities
//!   write).

use super::reader::Reader;
use super::{check_size, decode, FingerImage, ImageError, ImageFormat};

/// One finger view of an ISO/IEC 19794-4 record, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct IsoFingerView {
    /// Finger position code (0 unknown, 1 right thumb … 10 left little).
    pub position: u8,
    /// View or representation number.
    pub view_number: u8,
    /// Image quality the record states (0–100, or 254/255 for not reported/failed).
    pub quality: Option<u8>,
    /// Impression type code.
    pub impression: u8,
    /// The decoded image, its resolution taken from the record.
    pub image: FingerImage,
    /// The record holds the view compressed (WSQ, JPEG, JPEG 2000 or PNG), not as raw or
    /// bit-packed pixels.
    pub compressed: bool,
}

/// Image codecs of the compression field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    Raw,
    BitPacked,
    Wsq,
    Jpeg,
    Jpeg2000,
    Png,
}

impl Codec {
    fn from_2005(code: u8) -> Result<Self, ImageError> {
        Ok(match code {
            0 => Self::Raw,
            1 => Self::BitPacked,
            2 => Self::Wsq,
            3 => Self::Jpeg,
            4 => Self::Jpeg2000,
            5 => Self::Png,
            c => {
                return Err(ImageError::corrupt(format!(
                    "ISO 19794-4 compression code {c}"
                )))
            }
        })
    }

    fn from_2011(code: u8) -> Result<Self, ImageError> {
        Ok(match code {
            0 => Self::Raw,
            1 => Self::BitPacked,
            2 => Self::Wsq,
            3 => Self::Jpeg,
            4 | 5 => Self::Jpeg2000,
            6 => Self::Png,
            c => {
                return Err(ImageError::corrupt(format!(
                    "ISO 19794-4 compression code {c}"
                )))
            }
        })
    }
}

/// Record-level fields a view's image needs.
#[derive(Debug, Clone, Copy)]
struct ImageParams {
    codec: Codec,
    depth: u8,
    ppi: Option<f32>,
    width: u16,
    height: u16,
}

/// Pixels per inch from a sampling rate and the scale-units field (1 ppi, 2 ppcm).
fn ppi_from(rate: u16, units: u8) -> Result<Option<f32>, ImageError> {
    if rate == 0 {
        return Ok(None);
    }
    match units {
        1 => Ok(Some(f32::from(rate))),
        2 => Ok(Some(f32::from(rate) * 2.54)),
        u => Err(ImageError::corrupt(format!("ISO 19794-4 scale units {u}"))),
    }
}

/// Decodes every finger view of an ISO/IEC 19794-4 record.
pub fn decode_iso_record(bytes: &[u8]) -> Result<Vec<IsoFingerView>, ImageError> {
    let mut r = Reader::new(bytes);
    let magic = r.take(4, "ISO 19794-4 format identifier")?;
    if magic != b"FIR\0" {
        return Err(ImageError::UnsupportedFormat(format!(
            "not an ISO 19794-4 record: identifier {magic:02x?}"
        )));
    }
    match r.take(4, "ISO 19794-4 version")? {
        b"010\0" => decode_2005(bytes, r),
        b"020\0" => decode_2011(bytes, r),
        v => Err(ImageError::UnsupportedFormat(format!(
            "ISO 19794-4 version {v:02x?}"
        ))),
    }
}

/// Checks the record length field against the data.
fn check_length(declared: u64, actual: usize, header: usize) -> Result<(), ImageError> {
    if declared < header as u64 {
        return Err(ImageError::corrupt(format!(
            "ISO 19794-4 record length {declared} below its {header}-byte header"
        )));
    }
    if declared > actual as u64 {
        return Err(ImageError::Truncated {
            what: "ISO 19794-4 record",
            offset: actual,
            needed: (declared - actual as u64) as usize,
            available: 0,
        });
    }
    Ok(())
}

fn decode_2005(bytes: &[u8], mut r: Reader<'_>) -> Result<Vec<IsoFingerView>, ImageError> {
    const HEADER: usize = 36;
    const VIEW_HEADER: usize = 14;
    let length = r.u48("ISO 19794-4 record length")?;
    check_length(length, bytes.len(), HEADER)?;
    r.skip(4 + 2 + 2, "ISO 19794-4 general header")?;
    let count = r.u8("ISO 19794-4 view count")?;
    let units = r.u8("ISO 19794-4 scale units")?;
    r.skip(4, "ISO 19794-4 scan resolution")?;
    let h_rate = r.u16("ISO 19794-4 image resolution")?;
    let _v_rate = r.u16("ISO 19794-4 image resolution")?;
    let depth = r.u8("ISO 19794-4 pixel depth")?;
    let codec = Codec::from_2005(r.u8("ISO 19794-4 compression")?)?;
    r.skip(2, "ISO 19794-4 reserved")?;
    let ppi = ppi_from(h_rate, units)?;
    if count == 0 {
        return Err(ImageError::corrupt(
            "ISO 19794-4 record with no finger view",
        ));
    }
    let record = &bytes[..length as usize];
    let mut views = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let start = r.pos();
        let block_len = r.u32("ISO 19794-4 view length")? as usize;
        let position = r.u8("ISO 19794-4 finger position")?;
        let _count = r.u8("ISO 19794-4 view count")?;
        let view_number = r.u8("ISO 19794-4 view number")?;
        let quality = r.u8("ISO 19794-4 quality")?;
        let impression = r.u8("ISO 19794-4 impression")?;
        let width = r.u16("ISO 19794-4 width")?;
        let height = r.u16("ISO 19794-4 height")?;
        r.skip(1, "ISO 19794-4 reserved")?;
        if block_len < VIEW_HEADER {
            return Err(ImageError::corrupt(format!(
                "ISO 19794-4 view length {block_len} below its {VIEW_HEADER}-byte header"
            )));
        }
        let end = start
            .checked_add(block_len)
            .filter(|&e| e <= record.len())
            .ok_or(ImageError::Truncated {
                what: "ISO 19794-4 view",
                offset: start,
                needed: block_len,
                available: record.len().saturating_sub(start),
            })?;
        let data = &record[start + VIEW_HEADER..end];
        r.skip(end.saturating_sub(r.pos()), "ISO 19794-4 view")?;
        let params = ImageParams {
            codec,
            depth,
            ppi,
            width,
            height,
        };
        views.push(IsoFingerView {
            position,
            view_number,
            quality: Some(quality),
            impression,
            image: decode_payload(data, params)?,
            compressed: !matches!(params.codec, Codec::Raw | Codec::BitPacked),
        });
    }
    Ok(views)
}

fn decode_2011(bytes: &[u8], mut r: Reader<'_>) -> Result<Vec<IsoFingerView>, ImageError> {
    const HEADER: usize = 16;
    let length = u64::from(r.u32("ISO 19794-4 record length")?);
    check_length(length, bytes.len(), HEADER)?;
    let count = r.u16("ISO 19794-4 representation count")?;
    let certified = r.u8("ISO 19794-4 certification flag")? != 0;
    r.skip(1, "ISO 19794-4 position count")?;
    if count == 0 {
        return Err(ImageError::corrupt(
            "ISO 19794-4 record with no representation",
        ));
    }
    let record = &bytes[..length as usize];
    let mut views = Vec::new();
    for _ in 0..count {
        let start = r.pos();
        let rep_len = r.u32("ISO 19794-4 representation length")? as usize;
        let end = start
            .checked_add(rep_len)
            .filter(|&e| e <= record.len())
            .ok_or(ImageError::Truncated {
                what: "ISO 19794-4 representation",
                offset: start,
                needed: rep_len,
                available: record.len().saturating_sub(start),
            })?;
        let mut v = Reader::new(&record[..end]);
        v.skip(start + 4, "ISO 19794-4 representation")?;
        v.skip(9 + 1 + 2 + 2, "ISO 19794-4 capture fields")?;
        let quality_blocks = v.u8("ISO 19794-4 quality count")?;
        let mut quality = None;
        for _ in 0..quality_blocks {
            let q = v.take(5, "ISO 19794-4 quality block")?;
            quality = quality.or(Some(q[0]));
        }
        if certified {
            let n = v.u8("ISO 19794-4 certification count")? as usize;
            v.skip(3 * n, "ISO 19794-4 certification blocks")?;
        }
        let position = v.u8("ISO 19794-4 finger position")?;
        let view_number = v.u8("ISO 19794-4 representation number")?;
        let units = v.u8("ISO 19794-4 scale units")?;
        v.skip(4, "ISO 19794-4 scan sampling rate")?;
        let h_rate = v.u16("ISO 19794-4 image sampling rate")?;
        let _v_rate = v.u16("ISO 19794-4 image sampling rate")?;
        let depth = v.u8("ISO 19794-4 bit depth")?;
        let codec = Codec::from_2011(v.u8("ISO 19794-4 compression")?)?;
        let impression = v.u8("ISO 19794-4 impression")?;
        let width = v.u16("ISO 19794-4 width")?;
        let height = v.u16("ISO 19794-4 height")?;
        let data = v.take(v.remaining(), "ISO 19794-4 image data")?;
        r.skip(end.saturating_sub(r.pos()), "ISO 19794-4 representation")?;
        let params = ImageParams {
            codec,
            depth,
            ppi: ppi_from(h_rate, units)?,
            width,
            height,
        };
        views.push(IsoFingerView {
            position,
            view_number,
            quality,
            impression,
            image: decode_payload(data, params)?,
            compressed: !matches!(params.codec, Codec::Raw | Codec::BitPacked),
        });
    }
    Ok(views)
}

/// Decodes one view's image data with the codec the record names, checking its size.
fn decode_payload(data: &[u8], p: ImageParams) -> Result<FingerImage, ImageError> {
    let (width, height) = (u64::from(p.width), u64::from(p.height));
    let image = match p.codec {
        Codec::Raw | Codec::BitPacked => {
            let count = check_size(width, height)?;
            if p.depth != 8 {
                return Err(ImageError::UnsupportedPixels(format!(
                    "ISO 19794-4 uncompressed image of {} bits per pixel",
                    p.depth
                )));
            }
            let pixels = data.get(..count).ok_or(ImageError::Truncated {
                what: "ISO 19794-4 uncompressed pixels",
                offset: 0,
                needed: count,
                available: data.len(),
            })?;
            FingerImage::new(
                u32::from(p.width),
                u32::from(p.height),
                None,
                pixels.to_vec(),
            )?
        }
        Codec::Wsq => decode(data, Some(ImageFormat::Wsq))?,
        Codec::Jpeg2000 => decode(data, Some(ImageFormat::Jpeg2000))?,
        Codec::Png => decode(data, Some(ImageFormat::Png))?,
        Codec::Jpeg => decode(data, Some(ImageFormat::Jpeg))?,
    };
    if (u64::from(image.width()), u64::from(image.height())) != (width, height) {
        return Err(ImageError::corrupt(format!(
            "ISO 19794-4 header says {width}x{height}, image data is {}x{}",
            image.width(),
            image.height()
        )));
    }
    let ppi = p.ppi.or(image.ppi());
    Ok(image.with_ppi(ppi))
}
