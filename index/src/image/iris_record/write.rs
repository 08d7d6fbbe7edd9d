//! Writing ISO/IEC 19794-6:2011 records.

use super::super::ImageError;
use super::{IrisImageKind, IrisRepresentationHeader, MAX_REPRESENTATIONS};

/// Writes an ISO/IEC 19794-6:2011 record of the given images: each a header and its encoded
/// image data (already in the header's format). `eyes` is the number of eyes represented
/// (0 unknown, 1 or 2). Capture date, device and quality algorithm fields are written as
/// unspecified (zero); a header's quality, when present, becomes one quality block.
///
/// Refused: no image or more than [`MAX_REPRESENTATIONS`], more than 2 eyes, a header
/// without an image type, a format the 2011 edition lacks (JPEG-LS), and lengths that do not
/// fit their fields.
pub fn encode_iris_record_2011(
    eyes: u8,
    images: &[(IrisRepresentationHeader, &[u8])],
) -> Result<Vec<u8>, ImageError> {
    if images.is_empty() || images.len() > MAX_REPRESENTATIONS {
        return Err(ImageError::corrupt(format!(
            "an ISO 19794-6 record holds 1 to {MAX_REPRESENTATIONS} images, {} given",
            images.len()
        )));
    }
    if eyes > 2 {
        return Err(ImageError::corrupt(format!(
            "an ISO 19794-6 record represents at most 2 eyes, {eyes} given"
        )));
    }
    let mut body = Vec::new();
    for (header, data) in images {
        representation(&mut body, header, data)?;
    }
    let total = u32::try_from(16 + body.len())
        .map_err(|_| ImageError::corrupt("ISO 19794-6 record longer than 4 GiB"))?;
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend_from_slice(b"IIR\0");
    out.extend_from_slice(b"020\0");
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&(images.len() as u16).to_be_bytes());
    out.push(0); // certification flag
    out.push(eyes);
    out.extend_from_slice(&body);
    Ok(out)
}

fn representation(
    out: &mut Vec<u8>,
    h: &IrisRepresentationHeader,
    data: &[u8],
) -> Result<(), ImageError> {
    let kind = h
        .kind
        .map(IrisImageKind::code)
        .ok_or_else(|| ImageError::corrupt("a 2011 iris representation needs an image type"))?;
    let format = h.format.code_2011().ok_or_else(|| {
        ImageError::UnsupportedFormat(format!("{:?} in an ISO 19794-6:2011 record", h.format))
    })?;
    let quality_blocks = usize::from(h.quality.is_some());
    let length = 4 + 9 + 1 + 2 + 2 + 1 + 5 * quality_blocks + 2 + 27 + 4 + data.len();
    let length = u32::try_from(length)
        .map_err(|_| ImageError::corrupt("ISO 19794-6 representation longer than 4 GiB"))?;
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&[0; 9 + 1 + 2 + 2]); // capture date and device: unspecified
    out.push(quality_blocks as u8);
    if let Some(score) = h.quality {
        out.push(score);
        out.extend_from_slice(&[0; 4]); // quality algorithm vendor and identifier
    }
    out.extend_from_slice(&h.number.to_be_bytes());
    out.push(h.eye.code());
    out.push(kind);
    out.push(format);
    out.push(h.horizontal.code() | (h.vertical.code() << 2) | (h.compression.code() << 6));
    out.extend_from_slice(&h.width.to_be_bytes());
    out.extend_from_slice(&h.height.to_be_bytes());
    out.push(h.bit_depth);
    let pair = |p: Option<(u16, u16)>| p.unwrap_or((0, 0));
    let (cx0, cx1) = pair(h.iris_centre_x);
    let (cy0, cy1) = pair(h.iris_centre_y);
    let (d0, d1) = pair(h.iris_diameter);
    for v in [
        h.range,
        h.roll_angle.unwrap_or(0xffff),
        h.roll_uncertainty.unwrap_or(0xffff),
        cx0,
        cx1,
        cy0,
        cy1,
        d0,
        d1,
    ] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    let data_len = u32::try_from(data.len())
        .map_err(|_| ImageError::corrupt("ISO 19794-6 image longer than 4 GiB"))?;
    out.extend_from_slice(&data_len.to_be_bytes());
    out.extend_from_slice(data);
    Ok(())
}
