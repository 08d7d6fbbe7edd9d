//! PNG through the `png` crate: 8-bit grey out, colour and 16-bit converted.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{check_size, resample::plausible_ppi, to_grey, FingerImage, ImageError};

/// Byte budget handed to the `png` crate: the largest accepted image as RGBA, 16 bits a sample.
const PNG_BYTE_BUDGET: usize = super::MAX_PIXELS as usize * 8;

/// Decodes a PNG file. The palette of an indexed image is checked before any row is
/// expanded (the `png` crate indexes a fixed 256-entry table with it), and a panic inside
/// the third-party decoder is caught and reported as corrupt data, so hostile input cannot
/// take the caller down.
pub(crate) fn decode(bytes: &[u8]) -> Result<FingerImage, ImageError> {
    match catch_unwind(AssertUnwindSafe(|| decode_inner(bytes))) {
        Ok(result) => result,
        Err(_) => Err(ImageError::corrupt("PNG decoder rejected the stream")),
    }
}

/// An indexed image's palette must hold 1 to 256 RGB entries (PNG specification, 11.2.3).
fn check_palette(info: &::png::Info<'_>) -> Result<(), ImageError> {
    if info.color_type != ::png::ColorType::Indexed {
        return Ok(());
    }
    let len = info.palette.as_deref().map_or(0, <[u8]>::len);
    if len == 0 || !len.is_multiple_of(3) || len / 3 > 256 {
        return Err(ImageError::corrupt(format!(
            "PNG palette of {len} bytes for a {}-bit indexed image",
            info.bit_depth as u8
        )));
    }
    Ok(())
}

fn decode_inner(bytes: &[u8]) -> Result<FingerImage, ImageError> {
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
        check_palette(info)?;
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

/// Why an image could not be written as PNG.
#[derive(Debug, thiserror::Error)]
#[error("PNG encoding failed: {0}")]
pub struct PngEncodeError(String);

/// Writes `image` as an 8-bit greyscale PNG (lossless), with its resolution when known.
pub fn encode(image: &FingerImage) -> Result<Vec<u8>, PngEncodeError> {
    let mut out = Vec::with_capacity(image.pixels().len() / 2 + 1024);
    {
        let mut enc = ::png::Encoder::new(&mut out, image.width(), image.height());
        enc.set_color(::png::ColorType::Grayscale);
        enc.set_depth(::png::BitDepth::Eight);
        enc.set_compression(::png::Compression::Best);
        if let Some(ppi) = image.ppi() {
            let ppm = (ppi / 0.0254).round() as u32;
            enc.set_pixel_dims(Some(::png::PixelDimensions {
                xppu: ppm,
                yppu: ppm,
                unit: ::png::Unit::Meter,
            }));
        }
        let mut writer = enc
            .write_header()
            .map_err(|e| PngEncodeError(e.to_string()))?;
        writer
            .write_image_data(image.pixels())
            .map_err(|e| PngEncodeError(e.to_string()))?;
        writer.finish().map_err(|e| PngEncodeError(e.to_string()))?;
    }
    Ok(out)
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
