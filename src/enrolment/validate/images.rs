//! Fingerprints submitted as images: base64 decoded, the image decoded, the minutiae and the
//! quality extracted. CPU work: callers run it on rayon (the handlers validate there).

use std::sync::OnceLock;

use tunggal_index::extract::{ExtractError, Extractor, Raster, MAX_PPI, MIN_PPI};
use tunggal_index::image::{self, ImageError, ImageFormat, MAX_INPUT_BYTES};

use super::*;
use crate::enrolment::record::ImageQuality;
use crate::enrolment::wire::FingerImageIn;

/// Resolution assumed when neither the request nor the image gives one.
pub const DEFAULT_PPI: f32 = 500.0;

/// The extractor shared by every request (its filter bank is built once).
fn extractor() -> &'static Extractor {
    static EXTRACTOR: OnceLock<Extractor> = OnceLock::new();
    EXTRACTOR.get_or_init(Extractor::default)
}

/// The reason of an image decoding error.
pub fn image_reason(e: &ImageError) -> Reason {
    match e {
        ImageError::Truncated { .. } => Reason::ImageTruncated,
        ImageError::TooLarge { .. }
        | ImageError::InputTooLarge { .. }
        | ImageError::BudgetExceeded(_) => Reason::ImageTooLarge,
        ImageError::Empty { .. } => Reason::ImageEmpty,
        ImageError::UnsupportedFormat(_) => Reason::ImageUnsupportedFormat,
        ImageError::UnsupportedPixels(_) => Reason::ImageUnsupportedPixels,
        ImageError::Corrupt(_) => Reason::ImageCorrupt,
        ImageError::ResolutionMissing | ImageError::ResolutionOutOfRange { .. } => {
            Reason::ImageResolutionOutOfRange
        }
    }
}

/// An image finger: the finger when it passes the enrolment rule, and its measured quality.
pub(super) fn image_finger(
    img: &FingerImageIn,
    position: FingerPosition,
    i: usize,
) -> Result<(Option<Finger>, ImageQuality), Problem> {
    let at = |field: &str| format!("/fingerprints/{i}/image/{field}");
    let format = ImageFormat::from_name(&img.format).ok_or_else(|| {
        problem(
            Reason::ImageUnsupportedFormat,
            &at("format"),
            format!(
                "fingerprint {i}: image format must be \"wsq\", \"png\", \"tiff\", \"jp2\" or \
                 \"iso19794-4\""
            ),
        )
    })?;
    let ppi = match img.ppi {
        None => None,
        Some(p) if (f64::from(MIN_PPI)..=f64::from(MAX_PPI)).contains(&p) => Some(p as f32),
        Some(_) => {
            return Err(problem(
                Reason::ImageResolutionOutOfRange,
                &at("ppi"),
                format!("fingerprint {i}: ppi must be {MIN_PPI}–{MAX_PPI}"),
            ))
        }
    };
    // Base64 holds 3 bytes per 4 characters: refuse oversize input before decoding it.
    if img.data.len() / 4 * 3 > MAX_INPUT_BYTES + 3 {
        return Err(problem(
            Reason::ImageTooLarge,
            &at("data"),
            format!("fingerprint {i}: the image exceeds {MAX_INPUT_BYTES} bytes"),
        ));
    }
    let bytes = base64(&img.data, &at("data"))?;
    let decoded = image::decode(&bytes, Some(format)).map_err(|e| {
        problem(
            image_reason(&e),
            &at("data"),
            format!("fingerprint {i} (position {}): {e}", position.code()),
        )
    })?;
    let raster = Raster {
        width: decoded.width() as usize,
        height: decoded.height() as usize,
        ppi: ppi.or(decoded.ppi()).unwrap_or(DEFAULT_PPI),
        pixels: decoded.pixels(),
    };
    let x = extractor().extract(&raster).map_err(|e| {
        let reason = match e {
            ExtractError::Resolution { .. } => Reason::ImageResolutionOutOfRange,
            ExtractError::Size { .. } => Reason::ImageDimensionsOutOfRange,
            ExtractError::PixelCount { .. } => Reason::ImageCorrupt,
        };
        problem(
            reason,
            &at("data"),
            format!("fingerprint {i} (position {}): {e}", position.code()),
        )
    })?;
    let measured = ImageQuality {
        position,
        quality: x.quality,
        unusable: x.unusable.map(|u| u.reason()),
    };
    if x.unusable.is_some() {
        return Ok((None, measured));
    }
    let mut template = x.template;
    template.position = position.code();
    template.quality = x.quality;
    Ok((
        Some(Finger {
            position,
            quality: x.quality,
            template,
        }),
        measured,
    ))
}
