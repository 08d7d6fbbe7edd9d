//! TIFF through the `tiff` crate: 8-bit grey out, colour and 16-bit converted.

use std::io::Cursor;

use ::tiff::decoder::ifd::Value;
use ::tiff::decoder::{Decoder, DecodingResult, Limits};
use ::tiff::tags::{ResolutionUnit, Tag};
use ::tiff::{ColorType, TiffError};

use super::{check_size, resample::plausible_ppi, to_grey, FingerImage, ImageError};

/// Decodes the first image of a TIFF file.
pub(crate) fn decode(bytes: &[u8]) -> Result<FingerImage, ImageError> {
    let mut limits = Limits::default();
    limits.decoding_buffer_size = super::MAX_PIXELS as usize * 8;
    limits.intermediate_buffer_size = super::MAX_PIXELS as usize * 8;
    limits.ifd_value_size = 1024 * 1024;
    let mut decoder = Decoder::new(Cursor::new(bytes))
        .map_err(|e| map_error(e, bytes.len()))?
        .with_limits(limits);
    let (width, height) = decoder
        .dimensions()
        .map_err(|e| map_error(e, bytes.len()))?;
    check_size(u64::from(width), u64::from(height))?;
    let colour = decoder.colortype().map_err(|e| map_error(e, bytes.len()))?;
    let channels = match colour {
        ColorType::Gray(_) => 1,
        ColorType::GrayA(_) => 2,
        ColorType::RGB(_) => 3,
        ColorType::RGBA(_) => 4,
        other => {
            return Err(ImageError::UnsupportedPixels(format!(
                "TIFF colour type {other:?}"
            )))
        }
    };
    let ppi = resolution(&mut decoder);
    let samples = match decoder
        .read_image()
        .map_err(|e| map_error(e, bytes.len()))?
    {
        DecodingResult::U8(v) => v,
        DecodingResult::U16(v) => v.iter().map(|&s| (s >> 8) as u8).collect(),
        _ => {
            return Err(ImageError::UnsupportedPixels(
                "TIFF samples other than 8 or 16-bit unsigned".into(),
            ))
        }
    };
    let expected = width as usize * height as usize * channels;
    if samples.len() < expected {
        return Err(ImageError::corrupt(format!(
            "TIFF holds {} samples, {expected} needed",
            samples.len()
        )));
    }
    let pixels = to_grey(&samples[..expected], channels)?;
    FingerImage::new(width, height, ppi, pixels)
}

/// The horizontal resolution in ppi, when the tags state a plausible one.
fn resolution(decoder: &mut Decoder<Cursor<&[u8]>>) -> Option<f32> {
    let x = match decoder.get_tag(Tag::XResolution).ok()? {
        Value::Rational(n, d) if d != 0 => f64::from(n) / f64::from(d),
        Value::Double(v) => v,
        Value::Float(v) => f64::from(v),
        _ => return None,
    };
    let unit = decoder
        .find_tag_unsigned::<u16>(Tag::ResolutionUnit)
        .ok()
        .flatten()
        .and_then(ResolutionUnit::from_u16)
        .unwrap_or(ResolutionUnit::Inch);
    let ppi = match unit {
        ResolutionUnit::Inch => x,
        ResolutionUnit::Centimeter => x * 2.54,
        _ => return None,
    };
    plausible_ppi(ppi as f32)
}

fn map_error(e: TiffError, len: usize) -> ImageError {
    match e {
        TiffError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ImageError::Truncated {
                what: "TIFF data",
                offset: len,
                needed: 1,
                available: 0,
            }
        }
        TiffError::LimitsExceeded => ImageError::BudgetExceeded("TIFF"),
        TiffError::UnsupportedError(u) => ImageError::UnsupportedFormat(format!("TIFF: {u}")),
        other => ImageError::corrupt(format!("TIFF: {other}")),
    }
}
