//! Irises submitted as eye images: base64 decoded, the image decoded (an ISO/IEC 19794-6
//! record's image of the right eye, turned to the base orientation), segmented and encoded
//! into the gallery's iris layout with its quality. CPU work: callers run it on rayon (the
//! handlers validate there).

use std::sync::OnceLock;

use tunggal_index::eye::{EyeEncoder, EyeError, EyeParams};
use tunggal_index::gallery::GALLERY_IRIS_LAYOUT;
use tunggal_index::image::iris_record::{EyeLabel, IrisImageKind, Orientation};
use tunggal_index::image::{self, FingerImage, ImageError, ImageFormat, MAX_INPUT_BYTES};

use super::images::image_reason;
use super::*;
use crate::enrolment::record::{EyeImageQuality, KeptEyeImage};
use crate::enrolment::wire::IrisImageIn;

/// The encoder shared by every request (its filter banks are built once).
fn encoder() -> Result<&'static EyeEncoder, EyeError> {
    static ENCODER: OnceLock<Result<EyeEncoder, EyeError>> = OnceLock::new();
    ENCODER
        .get_or_init(|| EyeEncoder::new(EyeParams::default()))
        .as_ref()
        .map_err(Clone::clone)
}

/// Formats an eye image may have.
pub const EYE_IMAGE_FORMATS: [ImageFormat; 5] = [
    ImageFormat::Png,
    ImageFormat::Jpeg,
    ImageFormat::Jpeg2000,
    ImageFormat::Bmp,
    ImageFormat::Iso19794_6,
];

/// Why an eye image could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EyeImageError {
    /// The bytes do not decode.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// An ISO/IEC 19794-6 record holds no segmentable image of the eye asked for.
    #[error("the iris record holds no {0} image of this eye (nor of an unstated eye)")]
    NoSuchEye(&'static str),
}

/// Mirrors an image left to right and/or top to bottom.
fn flipped(img: FingerImage, horizontal: bool, vertical: bool) -> Result<FingerImage, ImageError> {
    if !horizontal && !vertical {
        return Ok(img);
    }
    let (w, h, ppi) = (img.width() as usize, img.height() as usize, img.ppi());
    let src = img.into_pixels();
    let mut out = vec![0u8; src.len()];
    for (y, row) in out.chunks_exact_mut(w.max(1)).enumerate() {
        let sy = if vertical { h - 1 - y } else { y };
        let from = &src[sy * w..(sy + 1) * w];
        if horizontal {
            for (d, s) in row.iter_mut().zip(from.iter().rev()) {
                *d = *s;
            }
        } else {
            row.copy_from_slice(from);
        }
    }
    FingerImage::new(w as u32, h as u32, ppi, out)
}

/// Decodes an eye image of `format`. From an ISO/IEC 19794-6 record, the first image
/// labelled `eye` (or, with `eye` unknown, any eye), else the first of an unstated eye;
/// unsegmented polar images (K16) are passed over; a flipped image is turned back to the
/// base orientation.
pub fn decode_eye(
    bytes: &[u8],
    format: ImageFormat,
    eye: Option<Eye>,
) -> Result<FingerImage, EyeImageError> {
    if format != ImageFormat::Iso19794_6 {
        return Ok(image::decode(bytes, Some(format))?);
    }
    let record = image::decode_iris_record(bytes)?;
    let wanted = match eye {
        Some(Eye::Right) => Some(EyeLabel::Right),
        Some(Eye::Left) => Some(EyeLabel::Left),
        None => None,
    };
    let usable =
        |r: &&image::iris_record::IrisRepresentation| r.header.kind != Some(IrisImageKind::Polar);
    let chosen = record
        .representations
        .iter()
        .filter(usable)
        .find(|r| wanted.is_none_or(|w| r.header.eye == w))
        .or_else(|| {
            record
                .representations
                .iter()
                .filter(usable)
                .find(|r| r.header.eye == EyeLabel::Unknown)
        })
        .ok_or(EyeImageError::NoSuchEye(eye.map_or("usable", Eye::name)))?;
    let flip = |o: Orientation| o == Orientation::Flipped;
    Ok(flipped(
        chosen.image.clone(),
        flip(chosen.header.horizontal),
        flip(chosen.header.vertical),
    )?)
}

/// The reason of an eye encoder failure.
pub fn eye_reason(e: &EyeError) -> Reason {
    match e.reason() {
        "iris_image_size" => Reason::IrisImageSize,
        "iris_pupil_not_found" => Reason::IrisPupilNotFound,
        "iris_limbus_not_found" => Reason::IrisLimbusNotFound,
        "iris_geometry_implausible" => Reason::IrisGeometryImplausible,
        "iris_occluded" => Reason::IrisOccluded,
        "iris_out_of_focus" => Reason::IrisOutOfFocus,
        _ if e.is_failure_to_enrol() => Reason::IrisUnusable,
        _ => Reason::Internal,
    }
}

/// An eye image: the iris when it passes the enrolment rule, its measured quality, and the
/// image as received with its segmentation.
pub(super) fn image_iris(
    img: &IrisImageIn,
    eye: Eye,
    i: usize,
) -> Result<(Option<Iris>, EyeImageQuality, KeptEyeImage), Problem> {
    let at = |field: &str| format!("/irises/{i}/image/{field}");
    let format = ImageFormat::from_name(&img.format)
        .filter(|f| EYE_IMAGE_FORMATS.contains(f))
        .ok_or_else(|| {
            problem(
                Reason::ImageUnsupportedFormat,
                &at("format"),
                format!(
                    "iris {i}: image format must be \"png\", \"jpeg\", \"jp2\", \"bmp\" or \
                     \"iso19794-6\""
                ),
            )
        })?;
    // Base64 holds 3 bytes per 4 characters: refuse oversize input before decoding it.
    if img.data.len() / 4 * 3 > MAX_INPUT_BYTES + 3 {
        return Err(problem(
            Reason::ImageTooLarge,
            &at("data"),
            format!("iris {i}: the image exceeds {MAX_INPUT_BYTES} bytes"),
        ));
    }
    let bytes = base64(&img.data, &at("data"))?;
    let decoded = decode_eye(&bytes, format, Some(eye)).map_err(|e| {
        let reason = match &e {
            EyeImageError::Image(e) => image_reason(e),
            EyeImageError::NoSuchEye(_) => Reason::IrisEyeMismatch,
        };
        problem(
            reason,
            &at("data"),
            format!("iris {i} ({} eye): {e}", eye.name()),
        )
    })?;
    let encoder = encoder().map_err(|e| {
        problem(
            Reason::Internal,
            &at("data"),
            format!("iris {i}: the eye encoder is not available: {e}"),
        )
    })?;
    let size = (decoded.width(), decoded.height());
    let encoded = encoder.encode(&decoded, GALLERY_IRIS_LAYOUT);
    let (iris, measured, segmentation) = match encoded {
        Ok(x) => (
            Some(Iris {
                eye,
                template: x.template,
            }),
            EyeImageQuality {
                eye,
                quality: x.quality.score,
                unusable: None,
                measures: Some(x.quality),
            },
            Some(x.segmentation),
        ),
        Err(e) if e.is_failure_to_enrol() && !matches!(e, EyeError::ImageSize { .. }) => {
            // The boundaries found, if any, are still drawn for analysts.
            let segmentation = encoder.segment(&decoded).ok();
            let quality = EyeImageQuality {
                eye,
                quality: 0,
                unusable: Some(e.reason()),
                measures: None,
            };
            (None, quality, segmentation)
        }
        Err(e) => {
            return Err(problem(
                eye_reason(&e),
                &at("data"),
                format!("iris {i} ({} eye): {e}", eye.name()),
            ))
        }
    };
    let kept = KeptEyeImage {
        eye,
        format,
        decoded: matches!(format, ImageFormat::Bmp | ImageFormat::Iso19794_6).then_some(decoded),
        bytes,
        size,
        segmentation,
    };
    Ok((iris, measured, kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_iris_keeps_its_wire_form() {
        let code = r#"{"eye":"left","layout":"daugman-2048","code":"AA==","mask":"AA=="}"#;
        let f: IrisIn = serde_json::from_str(code).unwrap();
        assert_eq!(serde_json::to_string(&f).unwrap(), code);
        let image = r#"{"eye":"right","image":{"format":"png","data":"AAAA"}}"#;
        let f: IrisIn = serde_json::from_str(image).unwrap();
        assert_eq!(serde_json::to_string(&f).unwrap(), image);
        let extra = r#"{"eye":"right","image":{"format":"png","data":"AAAA","ppi":500}}"#;
        assert!(serde_json::from_str::<IrisIn>(extra).is_err());
    }

    #[test]
    fn encoder_reasons_map_to_problem_reasons() {
        let cases = [
            (
                EyeError::PupilNotFound {
                    contrast: 1.0,
                    required: 8.0,
                },
                Reason::IrisPupilNotFound,
            ),
            (
                EyeError::LimbusNotFound {
                    contrast: 1.0,
                    required: 3.0,
                },
                Reason::IrisLimbusNotFound,
            ),
            (
                EyeError::Geometry("x".into()),
                Reason::IrisGeometryImplausible,
            ),
            (
                EyeError::Occluded {
                    usable: 10.0,
                    required: 30.0,
                },
                Reason::IrisOccluded,
            ),
            (
                EyeError::OutOfFocus {
                    sharpness: 0.01,
                    required: 0.05,
                },
                Reason::IrisOutOfFocus,
            ),
            (
                EyeError::ImageSize {
                    width: 10,
                    height: 10,
                    min: 96,
                    max: 2000,
                },
                Reason::IrisImageSize,
            ),
            (EyeError::InvalidParams("x"), Reason::Internal),
        ];
        for (e, reason) in cases {
            assert_eq!(eye_reason(&e), reason, "{e}");
            if reason != Reason::Internal {
                assert_eq!(reason.code(), e.reason());
            }
        }
    }

    #[test]
    fn flips_mirror_rows_and_columns() {
        let img = FingerImage::new(3, 2, None, vec![1, 2, 3, 4, 5, 6]).unwrap();
        let h = flipped(img.clone(), true, false).unwrap();
        assert_eq!(h.pixels(), &[3, 2, 1, 6, 5, 4]);
        let v = flipped(img.clone(), false, true).unwrap();
        assert_eq!(v.pixels(), &[4, 5, 6, 1, 2, 3]);
        let both = flipped(img, true, true).unwrap();
        assert_eq!(both.pixels(), &[6, 5, 4, 3, 2, 1]);
    }

    #[test]
    fn records_give_the_image_of_the_eye_asked_for() {
        use tunggal_index::image::encode_iris_record_2011;
        use tunggal_index::image::iris_record::{IrisPayloadFormat, IrisRepresentationHeader};
        let pixels: Vec<Vec<u8>> = [10u8, 20, 30].iter().map(|v| vec![*v; 12]).collect();
        let header = |eye, kind| IrisRepresentationHeader {
            width: 4,
            height: 3,
            ..IrisRepresentationHeader::new(eye, kind, IrisPayloadFormat::MonoRaw)
        };
        let both = [
            (
                header(EyeLabel::Right, IrisImageKind::Polar),
                &pixels[0][..],
            ),
            (header(EyeLabel::Left, IrisImageKind::Vga), &pixels[1][..]),
            (header(EyeLabel::Right, IrisImageKind::Vga), &pixels[2][..]),
        ];
        let bytes = encode_iris_record_2011(2, &both).unwrap();
        let f = ImageFormat::Iso19794_6;
        let first = |e| decode_eye(&bytes, f, e).map(|i| i.pixels()[0]);
        assert_eq!(first(Some(Eye::Right)), Ok(30));
        assert_eq!(first(Some(Eye::Left)), Ok(20));
        assert_eq!(first(None), Ok(20));
        let only_left = encode_iris_record_2011(1, &both[1..2]).unwrap();
        assert_eq!(
            decode_eye(&only_left, f, Some(Eye::Right)),
            Err(EyeImageError::NoSuchEye("right"))
        );
    }
}
