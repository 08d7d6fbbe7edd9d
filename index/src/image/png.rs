//! PNG through the `png` crate: 8-bit grey out, colour and 16-bit converted.

use std::io::Cursor;

use super::{check_size, resample::plausible_ppi, to_grey, FingerImage, ImageError};

/// Byte budget handed to the `png` crate: the largest accepted image as RGBA, 16 bits a sample.
const PNG_BYTE_BUDGET: usize = super::MAX_PIXELS as usize * 8;

/// Decodes a PNG file.
pub(crate) fn decode(bytes: &[u8]) -> Result<FingerImage, ImageError> {
    let mut decoder = ::png::Decoder::new_with_limits(
        Cursor::new(bytes),
        ::png::Limits {
            bytes: PNG_BYTE_BUDGET,
        },
    );
    decoder.set_transformations(::png::Transformations::EXPAND | ::png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| map_error(e, bytes.len()))?;
    let (width, height, ppi) = {
        let info = reader.info();
        let ppi = info.pixel_dims.and_then(|dims| match dims.unit {
            ::png::Unit::Meter => plausible_ppi(dims.xppu as f32 * 0.0254),
            ::png::Unit::Unspecified => None,
        });
        (info.width, info.height, ppi)
    };
    check_size(u64::from(width), u64::from(height))?;
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| map_error(e, bytes.len()))?;
    if frame.bit_depth != ::png::BitDepth::Eight {
        return Err(ImageError::UnsupportedPixels(format!(
            "PNG bit depth {:?} after expansion",
            frame.bit_depth
        )));
    }
    let channels = frame.color_type.samples();
    let row = frame.line_size;
    let used = row.saturating_mul(frame.height as usize);
    let data = buf
        .get(..used)
        .ok_or_else(|| ImageError::corrupt("PNG frame larger than its buffer"))?;
    let mut samples = Vec::with_capacity(width as usize * height as usize * channels);
    for line in data.chunks_exact(row) {
        samples.extend_from_slice(line.get(..width as usize * channels).unwrap_or(line));
    }
    let pixels = to_grey(&samples, channels)?;
    FingerImage::new(width, height, ppi, pixels)
}

fn map_error(e: ::png::DecodingError, len: usize) -> ImageError {
    match e {
        ::png::DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ImageError::Truncated {
                what: "PNG stream",
                offset: len,
                needed: 1,
                available: 0,
            }
        }
        ::png::DecodingError::LimitsExceeded => ImageError::BudgetExceeded("PNG"),
        other => ImageError::corrupt(format!("PNG: {other}")),
    }
}
