//! Fingerprints submitted as images: base64 decoded, the image decoded, the minutiae and the
//! quality extracted. CPU work: callers run it on rayon (the handlers validate there).

use std::sync::OnceLock;

use tunggal_index::extract::{ExtractError, Extractor, Raster, MAX_PPI, MIN_PPI};
use tunggal_index::image::{self, ImageError, ImageFormat, MAX_INPUT_BYTES};

use super::*;
use crate::enrolment::record::{ImageQuality, KeptImage};
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
        ImageError::JpegTooManyScans { .. } => Reason::JpegTooManyScans,
        ImageError::JpegWorkOverBudget { .. } => Reason::JpegWorkOverBudget,
        ImageError::Empty { .. } => Reason::ImageEmpty,
        ImageError::UnsupportedFormat(_) => Reason::ImageUnsupportedFormat,
        ImageError::UnsupportedPixels(_) => Reason::ImageUnsupportedPixels,
        ImageError::Corrupt(_) => Reason::ImageCorrupt,
        ImageError::ResolutionMissing | ImageError::ResolutionOutOfRange { .. } => {
            Reason::ImageResolutionOutOfRange
        }
    }
}

/// An image finger: the finger when it passes the enrolment rule, its measured quality, and
/// the image as received.
pub(super) fn image_finger(
    img: &FingerImageIn,
    position: FingerPosition,
    i: usize,
) -> Result<(Option<Finger>, ImageQuality, KeptImage), Problem> {
    let at = |field: &str| format!("/fingerprints/{i}/image/{field}");
    let format = ImageFormat::from_name(&img.format)
        .filter(|f| *f != ImageFormat::Iso19794_6)
        .ok_or_else(|| {
            problem(
                Reason::ImageUnsupportedFormat,
                &at("format"),
                format!(
                    "fingerprint {i}: image format must be \"wsq\", \"png\", \"jpeg\", \"tiff\", \
                     \"bmp\", \"jp2\" or \"iso19794-4\""
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
    let kept = KeptImage {
        position,
        format,
        ppi: raster.ppi,
        frame: (x.template.width, x.template.height),
        bytes,
    };
    if x.unusable.is_some() {
        return Ok((None, measured, kept));
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
        kept,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_finger_keeps_its_wire_bytes() {
        let text = r#"{"position":3,"format":"iso19794-2","quality":80,"template":"AAAA"}"#;
        let f: FingerprintIn = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&f).unwrap(), text);
        let image = r#"{"position":3,"image":{"format":"wsq","data":"AAAA","ppi":500.0}}"#;
        let f: FingerprintIn = serde_json::from_str(image).unwrap();
        assert_eq!(serde_json::to_string(&f).unwrap(), image);
    }

    #[test]
    fn image_reasons_have_the_decoders_codes() {
        let errors = [
            ImageError::Truncated {
                what: "x",
                offset: 0,
                needed: 1,
                available: 0,
            },
            ImageError::TooLarge {
                width: 60_000,
                height: 60_000,
                max_side: 2000,
                max_pixels: 4_000_000,
            },
            ImageError::InputTooLarge { bytes: 1, max: 0 },
            ImageError::BudgetExceeded("x"),
            ImageError::JpegTooManyScans { max: 64 },
            ImageError::JpegWorkOverBudget { work: 2, max: 1 },
            ImageError::Empty {
                width: 0,
                height: 1,
            },
            ImageError::UnsupportedFormat("x".into()),
            ImageError::UnsupportedPixels("x".into()),
            ImageError::Corrupt("x".into()),
            ImageError::ResolutionOutOfRange {
                ppi: "1".into(),
                min: 250,
                max: 2000,
            },
        ];
        for e in &errors {
            assert_eq!(image_reason(e).code(), e.reason(), "{e}");
        }
    }
}
