//! Baseline and progressive JPEG through `jpeg-decoder`, a pure-Rust decoder: 8-bit grey out,
//! colour converted, 16-bit (lossless) reduced to its high byte.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use ::jpeg_decoder::{Decoder, Error as JpegError, PixelFormat};

use super::{check_size, to_grey, FingerImage, ImageError};

/// Byte budget handed to the decoder: the largest accepted image as CMYK.
const JPEG_BYTE_BUDGET: usize = super::MAX_PIXELS as usize * 4;

/// Decodes a JPEG file. The size in the frame header and the scans the marker segments
/// state are checked against the limits ([`super::jpeg_limits`]) before any scan is
/// decoded. A panic inside the third-party decoder is caught and reported as corrupt data,
/// so hostile input cannot take the caller down.
pub(crate) fn decode(bytes: &[u8]) -> Result<FingerImage, ImageError> {
    match catch_unwind(AssertUnwindSafe(|| decode_inner(bytes))) {
        Ok(result) => result,
        Err(_) => Err(ImageError::corrupt("JPEG decoder rejected the stream")),
    }
}

fn decode_inner(bytes: &[u8]) -> Result<FingerImage, ImageError> {
    let mut decoder = Decoder::new(Cursor::new(bytes));
    decoder.set_max_decoding_buffer_size(JPEG_BYTE_BUDGET);
    decoder.read_info().map_err(|e| map_error(e, bytes.len()))?;
    let info = decoder
        .info()
        .ok_or_else(|| ImageError::corrupt("JPEG without a frame header"))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_size(u64::from(width), u64::from(height))?;
    super::jpeg_limits::check(bytes)?;
    let samples = decoder.decode().map_err(|e| map_error(e, bytes.len()))?;
    let count = width as usize * height as usize;
    let pixels = match info.pixel_format {
        PixelFormat::L8 => samples,
        // 16-bit samples are big-endian: keep the high byte.
        PixelFormat::L16 => samples.chunks_exact(2).map(|p| p[0]).collect(),
        PixelFormat::RGB24 => to_grey(&samples, 3)?,
        PixelFormat::CMYK32 => {
            return Err(ImageError::UnsupportedPixels("JPEG in CMYK".into()));
        }
    };
    if pixels.len() != count {
        return Err(ImageError::corrupt(format!(
            "JPEG decoded {} pixels for a {width}x{height} frame",
            pixels.len()
        )));
    }
    FingerImage::new(width, height, None, pixels)
}

fn map_error(e: JpegError, len: usize) -> ImageError {
    match e {
        JpegError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ImageError::Truncated {
                what: "JPEG stream",
                offset: len,
                needed: 1,
                available: 0,
            }
        }
        JpegError::Unsupported(feature) => {
            ImageError::UnsupportedFormat(format!("JPEG feature {feature:?}"))
        }
        JpegError::Format(msg) if msg.contains("maximum") || msg.contains("exceeds") => {
            ImageError::BudgetExceeded("JPEG")
        }
        other => ImageError::corrupt(format!("JPEG: {other}")),
    }
}
