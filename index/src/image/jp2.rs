//! JPEG 2000 (JP2 files and raw codestreams) through `hayro-jpeg2000`, a pure-Rust decoder.

use std::panic::{catch_unwind, AssertUnwindSafe};

use hayro_jpeg2000::{DecodeSettings, DecoderContext, Image};

use super::{check_size, to_grey, FingerImage, ImageError};

/// Most components accepted (grey, grey + alpha, RGB, RGBA).
const MAX_COMPONENTS: usize = 4;

/// Decodes a JP2 file or a raw JPEG 2000 codestream. The size and structure the headers
/// state (tiles, levels, layers, code-blocks) are checked against the caps of
/// [`super::jp2_limits`] before any tile is decoded. A panic inside the third-party decoder
/// is caught and reported as corrupt data, so hostile input cannot take the caller down.
pub(crate) fn decode(bytes: &[u8]) -> Result<FingerImage, ImageError> {
    match catch_unwind(AssertUnwindSafe(|| decode_inner(bytes))) {
        Ok(result) => result,
        Err(_) => Err(ImageError::corrupt(
            "JPEG 2000 decoder rejected the codestream",
        )),
    }
}

fn decode_inner(bytes: &[u8]) -> Result<FingerImage, ImageError> {
    super::jp2_limits::check(bytes)?;
    let settings = DecodeSettings::default();
    let image = Image::new(bytes, &settings)
        .map_err(|e| ImageError::corrupt(format!("JPEG 2000 header: {e}")))?;
    let (width, height) = (image.width(), image.height());
    check_size(u64::from(width), u64::from(height))?;
    let mut ctx = DecoderContext::default();
    let decoded = image
        .decode(&mut ctx)
        .map_err(|e| ImageError::corrupt(format!("JPEG 2000: {e}")))?;
    let components = decoded.components().len();
    if components == 0 || components > MAX_COMPONENTS {
        return Err(ImageError::UnsupportedPixels(format!(
            "JPEG 2000 image with {components} components"
        )));
    }
    let pixel_count = width as usize * height as usize;
    if decoded
        .components()
        .iter()
        .any(|c| c.samples().len() != pixel_count)
    {
        return Err(ImageError::UnsupportedPixels(
            "JPEG 2000 components of different sizes (subsampled)".into(),
        ));
    }
    let samples = decoded.data_u8();
    let pixels = to_grey(&samples, components)?;
    FingerImage::new(width, height, None, pixels)
}
