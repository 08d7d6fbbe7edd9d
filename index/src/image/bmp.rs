//! BMP through the `image` crate (its BMP codec only): palettised, 16-, 24- and 32-bit
//! images converted to 8-bit grey.

use std::io::Cursor;

use ::image::codecs::bmp::BmpDecoder;
use ::image::{ColorType, ImageDecoder};

use super::{check_size, to_grey, FingerImage, ImageError};

/// Decodes a BMP file. The size in the header is checked before any pixel is read; palette
/// and colour images become grey (ITU-R BT.601 luma), so a grey palette keeps its values.
pub(crate) fn decode(bytes: &[u8]) -> Result<FingerImage, ImageError> {
    let decoder = BmpDecoder::new(Cursor::new(bytes)).map_err(|e| map_error(e, bytes.len()))?;
    let (width, height) = decoder.dimensions();
    let count = check_size(u64::from(width), u64::from(height))?;
    let channels = match decoder.color_type() {
        ColorType::L8 => 1,
        ColorType::La8 => 2,
        ColorType::Rgb8 => 3,
        ColorType::Rgba8 => 4,
        other => {
            return Err(ImageError::UnsupportedPixels(format!(
                "BMP pixels of type {other:?}"
            )))
        }
    };
    let mut buf = vec![0u8; count * channels];
    decoder
        .read_image(&mut buf)
        .map_err(|e| map_error(e, bytes.len()))?;
    FingerImage::new(width, height, None, to_grey(&buf, channels)?)
}

fn map_error(e: ::image::ImageError, len: usize) -> ImageError {
    match e {
        ::image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ImageError::Truncated {
                what: "BMP data",
                offset: len,
                needed: 1,
                available: 0,
            }
        }
        ::image::ImageError::Limits(_) => ImageError::BudgetExceeded("BMP"),
        ::image::ImageError::Unsupported(u) => ImageError::UnsupportedFormat(format!("BMP: {u}")),
        other => ImageError::corrupt(format!("BMP: {other}")),
    }
}
