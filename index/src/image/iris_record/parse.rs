//! Reading ISO/IEC 19794-6 records (2005 and 2011) and decoding their images.

use super::super::reader::Reader;
use super::super::{check_size, decode, to_grey, FingerImage, ImageError, ImageFormat};
use super::{
    CompressionHistory, EyeLabel, IrisImageKind, IrisImageRecord, IrisPayloadFormat,
    IrisRecordVersion, IrisRepresentation, IrisRepresentationHeader, Orientation, PixelRange,
    MAX_RECORD_PIXELS, MAX_REPRESENTATIONS,
};

/// Length of the 2005 record header.
const HEADER_2005: usize = 45;
/// Length of the 2011 general header.
const HEADER_2011: usize = 16;
/// Length of a 2011 representation header without quality blocks, with the image length.
const REPRESENTATION_2011: usize = 4 + 9 + 1 + 2 + 2 + 1 + 2 + 27 + 4;
/// The 16-bit "undefined" value of angles.
const UNDEFINED: u16 = 0xffff;

/// Decodes an ISO/IEC 19794-6 record (2005 or 2011 edition): every image's header fields and
/// its pixels as 8-bit grey.
pub fn decode_iris_record(bytes: &[u8]) -> Result<IrisImageRecord, ImageError> {
    if bytes.len() > super::super::MAX_INPUT_BYTES {
        return Err(ImageError::InputTooLarge {
            bytes: bytes.len(),
            max: super::super::MAX_INPUT_BYTES,
        });
    }
    let mut r = Reader::new(bytes);
    let magic = r.take(4, "ISO 19794-6 format identifier")?;
    if magic != b"IIR\0" {
        return Err(ImageError::UnsupportedFormat(format!(
            "not an ISO 19794-6 record: identifier {magic:02x?}"
        )));
    }
    match r.take(4, "ISO 19794-6 version")? {
        b"010\0" => decode_2005(bytes, r),
        b"020\0" => decode_2011(bytes, r),
        v => Err(ImageError::UnsupportedFormat(format!(
            "ISO 19794-6 version {v:02x?}"
        ))),
    }
}

/// The declared record, checked against the data: `bytes[..declared]`.
fn record_slice(bytes: &[u8], declared: u64, header: usize) -> Result<&[u8], ImageError> {
    if declared < header as u64 {
        return Err(ImageError::corrupt(format!(
            "ISO 19794-6 record length {declared} below its {header}-byte header"
        )));
    }
    match usize::try_from(declared).ok().and_then(|n| bytes.get(..n)) {
        Some(record) => Ok(record),
        None => Err(ImageError::Truncated {
            what: "ISO 19794-6 record",
            offset: bytes.len(),
            needed: usize::try_from(declared)
                .unwrap_or(usize::MAX)
                .saturating_sub(bytes.len()),
            available: 0,
        }),
    }
}

/// Counts decoded images and pixels against the record limits.
#[derive(Debug, Default)]
struct Budget {
    images: usize,
    pixels: u64,
}

impl Budget {
    fn admit(&mut self, width: u16, height: u16) -> Result<(), ImageError> {
        self.images += 1;
        if self.images > MAX_REPRESENTATIONS {
            return Err(ImageError::BudgetExceeded(
                "an ISO 19794-6 record of more than 16 images",
            ));
        }
        self.pixels += u64::from(width) * u64::from(height);
        if self.pixels > MAX_RECORD_PIXELS {
            return Err(ImageError::BudgetExceeded(
                "ISO 19794-6 images over the record's pixel budget",
            ));
        }
        Ok(())
    }
}

fn eye(code: u8) -> Result<EyeLabel, ImageError> {
    EyeLabel::from_code(code)
        .ok_or_else(|| ImageError::corrupt(format!("ISO 19794-6 eye label {code}")))
}

fn orientation(code: u8) -> Result<Orientation, ImageError> {
    Orientation::from_code(code)
        .ok_or_else(|| ImageError::corrupt(format!("ISO 19794-6 orientation code {code}")))
}

fn defined(v: u16) -> Option<u16> {
    (v != UNDEFINED).then_some(v)
}

fn range_pair(smallest: u16, largest: u16) -> Result<PixelRange, ImageError> {
    match (smallest, largest) {
        (0, 0) => Ok(None),
        (s, l) if s <= l => Ok(Some((s, l))),
        (s, l) => Err(ImageError::corrupt(format!(
            "ISO 19794-6 range with smallest {s} above largest {l}"
        ))),
    }
}

fn decode_2005(bytes: &[u8], mut r: Reader<'_>) -> Result<IrisImageRecord, ImageError> {
    let length = u64::from(r.u32("ISO 19794-6 record length")?);
    let record = record_slice(bytes, length, HEADER_2005)?;
    r.skip(2, "ISO 19794-6 capture device")?;
    let eyes = r.u8("ISO 19794-6 eye count")?;
    let header_len = r.u16("ISO 19794-6 record header length")?;
    if usize::from(header_len) != HEADER_2005 {
        return Err(ImageError::corrupt(format!(
            "ISO 19794-6:2005 record header length {header_len}, expected {HEADER_2005}"
        )));
    }
    let properties = r.u16("ISO 19794-6 image properties")?;
    let horizontal = orientation((properties & 0x3) as u8)?;
    let vertical = orientation(((properties >> 2) & 0x3) as u8)?;
    let diameter = r.u16("ISO 19794-6 iris diameter")?;
    let format_code = r.u16("ISO 19794-6 image format")?;
    let format = IrisPayloadFormat::from_2005(format_code).ok_or_else(|| {
        ImageError::corrupt(format!("ISO 19794-6:2005 image format {format_code}"))
    })?;
    let width = r.u16("ISO 19794-6 width")?;
    let height = r.u16("ISO 19794-6 height")?;
    let bit_depth = r.u8("ISO 19794-6 intensity depth")?;
    r.skip(1 + 16, "ISO 19794-6 transformation and device identifier")?;
    if eyes == 0 || eyes > 2 {
        return Err(ImageError::corrupt(format!(
            "ISO 19794-6:2005 record with {eyes} eyes (1 or 2 expected)"
        )));
    }
    check_size(u64::from(width), u64::from(height))?;

    let mut r = Reader::new(record);
    r.skip(HEADER_2005, "ISO 19794-6 record header")?;
    let mut budget = Budget::default();
    let mut representations = Vec::new();
    for _ in 0..eyes {
        let label = eye(r.u8("ISO 19794-6 eye position")?)?;
        let count = r.u16("ISO 19794-6 image count")?;
        for _ in 0..count {
            let number = r.u16("ISO 19794-6 image number")?;
            let quality = r.u8("ISO 19794-6 image quality")?;
            let roll_angle = defined(r.u16("ISO 19794-6 rotation angle")?);
            let roll_uncertainty = defined(r.u16("ISO 19794-6 rotation uncertainty")?);
            let data_len = r.u32("ISO 19794-6 image length")? as usize;
            let data = r.take(data_len, "ISO 19794-6 image data")?;
            budget.admit(width, height)?;
            let header = IrisRepresentationHeader {
                number,
                eye: label,
                kind: None,
                format,
                compression: CompressionHistory::Undefined,
                width,
                height,
                bit_depth,
                horizontal,
                vertical,
                roll_angle,
                roll_uncertainty,
                quality: Some(quality),
                range: 0,
                iris_centre_x: None,
                iris_centre_y: None,
                iris_diameter: (diameter != 0).then_some((diameter, diameter)),
            };
            let image = decode_payload(data, &header)?;
            representations.push(IrisRepresentation { header, image });
        }
    }
    if r.remaining() != 0 {
        return Err(ImageError::corrupt(format!(
            "ISO 19794-6 record length {length}: its images end at {}",
            r.pos()
        )));
    }
    if representations.is_empty() {
        return Err(ImageError::corrupt("ISO 19794-6 record with no image"));
    }
    Ok(IrisImageRecord {
        version: IrisRecordVersion::V2005,
        eyes,
        representations,
    })
}

fn decode_2011(bytes: &[u8], mut r: Reader<'_>) -> Result<IrisImageRecord, ImageError> {
    let length = u64::from(r.u32("ISO 19794-6 record length")?);
    let record = record_slice(bytes, length, HEADER_2011)?;
    let count = r.u16("ISO 19794-6 representation count")?;
    let certification = r.u8("ISO 19794-6 certification flag")?;
    let eyes = r.u8("ISO 19794-6 eyes represented")?;
    if certification != 0 {
        return Err(ImageError::UnsupportedFormat(format!(
            "ISO 19794-6:2011 certification flag {certification} (the edition defines none)"
        )));
    }
    if eyes > 2 {
        return Err(ImageError::corrupt(format!(
            "ISO 19794-6:2011 record representing {eyes} eyes"
        )));
    }
    if count == 0 {
        return Err(ImageError::corrupt(
            "ISO 19794-6 record with no representation",
        ));
    }
    let mut r = Reader::new(record);
    r.skip(HEADER_2011, "ISO 19794-6 general header")?;
    let mut budget = Budget::default();
    let mut representations = Vec::new();
    for _ in 0..count {
        let start = r.pos();
        let rep_len = r.u32("ISO 19794-6 representation length")? as usize;
        if rep_len < REPRESENTATION_2011 {
            return Err(ImageError::corrupt(format!(
                "ISO 19794-6 representation length {rep_len} below its \
                 {REPRESENTATION_2011}-byte header"
            )));
        }
        let end = start
            .checked_add(rep_len)
            .filter(|&e| e <= record.len())
            .ok_or(ImageError::Truncated {
                what: "ISO 19794-6 representation",
                offset: start,
                needed: rep_len,
                available: record.len().saturating_sub(start),
            })?;
        let mut v = Reader::new(&record[..end]);
        v.skip(start + 4, "ISO 19794-6 representation")?;
        let (header, data) = representation_2011(&mut v)?;
        if v.remaining() != 0 {
            return Err(ImageError::corrupt(format!(
                "ISO 19794-6 representation of {rep_len} bytes: its image ends {} bytes early",
                v.remaining()
            )));
        }
        r.skip(rep_len - 4, "ISO 19794-6 representation")?;
        budget.admit(header.width, header.height)?;
        let image = decode_payload(data, &header)?;
        representations.push(IrisRepresentation { header, image });
    }
    if r.remaining() != 0 {
        return Err(ImageError::corrupt(format!(
            "ISO 19794-6 record length {length}: its representations end at {}",
            r.pos()
        )));
    }
    Ok(IrisImageRecord {
        version: IrisRecordVersion::V2011,
        eyes,
        representations,
    })
}

/// Reads one 2011 representation after its length field: the header and the image data.
fn representation_2011<'a>(
    v: &mut Reader<'a>,
) -> Result<(IrisRepresentationHeader, &'a [u8]), ImageError> {
    v.skip(9 + 1 + 2 + 2, "ISO 19794-6 capture date and device")?;
    let quality_blocks = v.u8("ISO 19794-6 quality block count")?;
    let mut quality = None;
    for _ in 0..quality_blocks {
        let block = v.take(5, "ISO 19794-6 quality block")?;
        quality = quality.or(Some(block[0]));
    }
    let number = v.u16("ISO 19794-6 representation number")?;
    let eye = eye(v.u8("ISO 19794-6 eye label")?)?;
    let kind_code = v.u8("ISO 19794-6 image type")?;
    let kind = IrisImageKind::from_code(kind_code)
        .ok_or_else(|| ImageError::corrupt(format!("ISO 19794-6 image type {kind_code}")))?;
    let format_code = v.u8("ISO 19794-6 image format")?;
    let format = IrisPayloadFormat::from_2011(format_code).ok_or_else(|| {
        ImageError::corrupt(format!("ISO 19794-6:2011 image format {format_code}"))
    })?;
    let properties = v.u8("ISO 19794-6 image properties")?;
    let horizontal = orientation(properties & 0x3)?;
    let vertical = orientation((properties >> 2) & 0x3)?;
    let compression = CompressionHistory::from_code(properties >> 6).ok_or_else(|| {
        ImageError::corrupt(format!(
            "ISO 19794-6 compression history code {}",
            properties >> 6
        ))
    })?;
    let width = v.u16("ISO 19794-6 width")?;
    let height = v.u16("ISO 19794-6 height")?;
    let bit_depth = v.u8("ISO 19794-6 bit depth")?;
    let range = v.u16("ISO 19794-6 range")?;
    let roll_angle = defined(v.u16("ISO 19794-6 roll angle")?);
    let roll_uncertainty = defined(v.u16("ISO 19794-6 roll angle uncertainty")?);
    let mut pairs = [0u16; 6];
    for p in &mut pairs {
        *p = v.u16("ISO 19794-6 iris centre and diameter")?;
    }
    let data_len = v.u32("ISO 19794-6 image length")? as usize;
    let data = v.take(data_len, "ISO 19794-6 image data")?;
    let header = IrisRepresentationHeader {
        number,
        eye,
        kind: Some(kind),
        format,
        compression,
        width,
        height,
        bit_depth,
        horizontal,
        vertical,
        roll_angle,
        roll_uncertainty,
        quality,
        range,
        iris_centre_x: range_pair(pairs[0], pairs[1])?,
        iris_centre_y: range_pair(pairs[2], pairs[3])?,
        iris_diameter: range_pair(pairs[4], pairs[5])?,
    };
    Ok((header, data))
}

/// Decodes one image's data as its header's format says, checking its size.
fn decode_payload(data: &[u8], h: &IrisRepresentationHeader) -> Result<FingerImage, ImageError> {
    let (width, height) = (u64::from(h.width), u64::from(h.height));
    let count = check_size(width, height)?;
    let raw = |channels: usize, depth: u8| -> Result<FingerImage, ImageError> {
        if h.bit_depth != depth {
            return Err(ImageError::UnsupportedPixels(format!(
                "ISO 19794-6 uncompressed image of {} bits per pixel ({depth} expected)",
                h.bit_depth
            )));
        }
        let needed = count * channels;
        if data.len() != needed {
            return Err(ImageError::corrupt(format!(
                "ISO 19794-6 uncompressed {width}x{height} image needs {needed} bytes, {} given",
                data.len()
            )));
        }
        FingerImage::new(
            u32::from(h.width),
            u32::from(h.height),
            None,
            to_grey(data, channels)?,
        )
    };
    let image = match h.format {
        IrisPayloadFormat::MonoRaw => raw(1, 8)?,
        IrisPayloadFormat::RgbRaw => raw(3, 24)?,
        IrisPayloadFormat::MonoPng | IrisPayloadFormat::RgbPng => {
            decode(data, Some(ImageFormat::Png))?
        }
        IrisPayloadFormat::MonoJpeg2000 | IrisPayloadFormat::RgbJpeg2000 => {
            decode(data, Some(ImageFormat::Jpeg2000))?
        }
        IrisPayloadFormat::MonoJpeg | IrisPayloadFormat::RgbJpeg => {
            return Err(ImageError::UnsupportedFormat(
                "ISO 19794-6 image with JPEG (ISO/IEC 10918) data".into(),
            ))
        }
        IrisPayloadFormat::MonoJpegLs | IrisPayloadFormat::RgbJpegLs => {
            return Err(ImageError::UnsupportedFormat(
                "ISO 19794-6 image with JPEG-LS data".into(),
            ))
        }
    };
    if (u64::from(image.width()), u64::from(image.height())) != (width, height) {
        return Err(ImageError::corrupt(format!(
            "ISO 19794-6 header says {width}x{height}, image data is {}x{}",
            image.width(),
            image.height()
        )));
    }
    Ok(image)
}
