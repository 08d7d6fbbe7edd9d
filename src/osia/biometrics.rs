//! OSIA biometric items to Tunggal's probe: `FINGER` images go through the same decoding and
//! minutiae extraction as the fingerprint images of `POST /v1/enrolments`, `IRIS` images
//! through the same decoding, segmentation and encoding as its eye images
//! (`enrolment::validate`); `FACE`, `SIGNATURE` and `UNKNOWN` items are kept with the
//! encounter and ignored. A finger or eye failing the quality rule is left out of matching;
//! one declared `missing` (bandaged, amputated, damaged) is left out of the probe, as
//! Tunggal treats every absent finger or eye.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tunggal_index::extract::{encode, RecordFormat};
use tunggal_index::image::{sniff, ImageFormat};

use super::error::{Code, OsiaError};
use super::wire::{
    finger_position, is_sub_type, BiometricData, BiometricType, Compression, IMPRESSION_TYPES,
};
use crate::enrolment::record::Probe;
use crate::enrolment::validate;
use crate::enrolment::wire::{FingerImageIn, FingerprintIn, IrisImageIn, IrisIn};
use crate::problem::Reason;

/// A probe read from biometric items, with what was left out of matching.
#[derive(Debug, Clone)]
pub struct Read {
    /// The usable fingers and eyes.
    pub probe: Probe,
    /// Iris images given.
    pub irises: usize,
    /// Face, signature and unknown items, kept and not matched.
    pub ignored: usize,
    /// Finger positions declared missing.
    pub missing: Vec<u8>,
    /// The templates computed from the finger images.
    pub templates: Vec<StoredTemplate>,
}

/// A finger template kept with an encounter (what `…/templates` answers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTemplate {
    /// ISO finger position 1–10.
    pub position: u8,
    /// The item's instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Quality 0–100 measured by the extractor.
    pub quality: u8,
    /// ISO/IEC 19794-2:2005, base64.
    pub iso2005: String,
    /// ISO/IEC 19794-2:2011, base64.
    pub iso2011: String,
    /// ANSI INCITS 378-2004, base64.
    pub ansi378: String,
}

fn invalid(i: usize, message: impl std::fmt::Display) -> OsiaError {
    OsiaError::bad(
        Code::InvalidBiometricData,
        format!("biometricData[{i}]: {message}"),
    )
}

/// The image format of a finger item: from `compression`, or for `NONE` (or none given)
/// from the image's first bytes.
fn image_format(i: usize, item: &BiometricData, data: &str) -> Result<&'static str, OsiaError> {
    let named = match item.compression {
        Some(Compression::Wsq) => Some(ImageFormat::Wsq),
        Some(Compression::Jpeg) => Some(ImageFormat::Jpeg),
        Some(Compression::Jpeg2000) => Some(ImageFormat::Jpeg2000),
        Some(Compression::Png) => Some(ImageFormat::Png),
        Some(Compression::None) | None => None,
    };
    if let Some(f) = named {
        return Ok(f.name());
    }
    sniffed(data)
        .filter(|f| *f != ImageFormat::Iso19794_6)
        .map(ImageFormat::name)
        .ok_or_else(|| {
            OsiaError::bad(
                Code::ImageRefused,
                format!(
                    "biometricData[{i}]: the image is none of TIFF, BMP, PNG, JPEG, JPEG 2000, \
                     WSQ or an ISO/IEC 19794-4 record; name its compression"
                ),
            )
        })
}

/// The container of base64 `data`, read from its first bytes.
fn sniffed(data: &str) -> Option<ImageFormat> {
    // 16 base64 characters are 12 bytes: enough for every magic number sniffed.
    let head: String = data
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .take(16)
        .collect();
    let bytes = STANDARD
        .decode(head.trim_end_matches('='))
        .or_else(|_| STANDARD.decode(&head))
        .unwrap_or_default();
    sniff(&bytes)
}

/// An `IRIS` item with an image as Tunggal's eye image: the eye from the subtype, the format
/// from `compression` or, for `NONE` (or none given), from the image's first bytes (one the
/// eye images do not take is refused when decoded, with the reason of Tunggal's API).
fn eye_image(i: usize, item: &BiometricData, data: &str) -> Result<IrisIn, OsiaError> {
    let eye = match item.biometric_sub_type.as_deref() {
        Some("EYE_RIGHT") => "right",
        Some("EYE_LEFT") => "left",
        other => {
            return Err(invalid(
                i,
                format!(
                    "an IRIS image must be of EYE_RIGHT or EYE_LEFT, not {:?}",
                    other.unwrap_or("none")
                ),
            ))
        }
    };
    let format = match item.compression {
        Some(Compression::Wsq) => ImageFormat::Wsq.name(),
        Some(Compression::Jpeg) => ImageFormat::Jpeg.name(),
        Some(Compression::Jpeg2000) => ImageFormat::Jpeg2000.name(),
        Some(Compression::Png) => ImageFormat::Png.name(),
        Some(Compression::None) | None => sniffed(data).map_or("unknown", ImageFormat::name),
    };
    Ok(IrisIn {
        eye: eye.to_owned(),
        layout: None,
        code: None,
        mask: None,
        image: Some(IrisImageIn {
            format: format.to_owned(),
            data: data.to_owned(),
        }),
    })
}

/// The items gathered: finger images and the item index of each, eye images and the item
/// index of each, and what was counted or declared missing.
#[derive(Debug)]
struct Gathered {
    fingers: Vec<FingerprintIn>,
    finger_items: Vec<usize>,
    eyes: Vec<IrisIn>,
    eye_items: Vec<usize>,
    read: Read,
}

/// Checks the items and gathers the finger images and missing fingers, without decoding.
fn gather(items: &[BiometricData]) -> Result<Gathered, OsiaError> {
    let mut fingers: Vec<FingerprintIn> = Vec::new();
    let mut item_of: Vec<usize> = Vec::new();
    let mut eyes: Vec<IrisIn> = Vec::new();
    let mut eye_items: Vec<usize> = Vec::new();
    let mut read = Read {
        probe: Probe::default(),
        irises: 0,
        ignored: 0,
        missing: Vec::new(),
        templates: Vec::new(),
    };
    for (i, item) in items.iter().enumerate() {
        if let Some(s) = &item.biometric_sub_type {
            if !is_sub_type(s) {
                return Err(invalid(i, format!("unknown biometricSubType {s:?}")));
            }
        }
        if let Some(t) = &item.impression_type {
            if !IMPRESSION_TYPES.contains(&t.as_str()) {
                return Err(invalid(i, format!("unknown impressionType {t:?}")));
            }
        }
        if item.image.is_none() && item.image_ref.is_some() {
            return Err(OsiaError::bad(
                Code::Unsupported,
                format!("biometricData[{i}]: imageRef is not fetched by this ABIS; send image"),
            ));
        }
        match item.biometric_type {
            BiometricType::Finger => {}
            BiometricType::Iris => {
                if let Some(data) = &item.image {
                    let eye = eye_image(i, item, data)?;
                    if eyes.iter().any(|e| e.eye == eye.eye) {
                        return Err(invalid(i, format!("a second image of the {} eye", eye.eye)));
                    }
                    eyes.push(eye);
                    eye_items.push(i);
                    read.irises += 1;
                }
                continue;
            }
            _ => {
                read.ignored += 1;
                continue;
            }
        }
        for (k, m) in item.missing.iter().flatten().enumerate() {
            let sub = m
                .biometric_sub_type
                .as_deref()
                .or(item.biometric_sub_type.as_deref())
                .unwrap_or("UNKNOWN");
            let p = finger_position(sub).ok_or_else(|| {
                invalid(
                    i,
                    format!(
                        "missing[{k}]: {sub:?} is not a single finger (RIGHT_THUMB…LEFT_LITTLE)"
                    ),
                )
            })?;
            if !read.missing.contains(&p) {
                read.missing.push(p);
            }
        }
        let Some(data) = &item.image else {
            if item.missing.as_ref().is_none_or(Vec::is_empty) {
                return Err(invalid(i, "a FINGER item needs an image or a missing list"));
            }
            continue;
        };
        let sub = item.biometric_sub_type.as_deref().unwrap_or("UNKNOWN");
        let position = finger_position(sub).ok_or_else(|| {
            OsiaError::bad(
                Code::Unsupported,
                format!(
                    "biometricData[{i}]: a finger image must be of one finger (RIGHT_THUMB…\
                     LEFT_LITTLE), not {sub:?}: multi-finger and palm images are not segmented"
                ),
            )
        })?;
        if fingers.iter().any(|f| f.position == i64::from(position)) {
            return Err(invalid(i, format!("a second image of {sub}")));
        }
        let ppi = match item.resolution {
            None => None,
            Some(r) if r > 0 => Some(r as f64),
            Some(r) => return Err(invalid(i, format!("resolution must be positive, got {r}"))),
        };
        fingers.push(FingerprintIn {
            position: i64::from(position),
            format: None,
            quality: None,
            template: None,
            image: Some(FingerImageIn {
                format: image_format(i, item, data)?.to_owned(),
                data: data.clone(),
                ppi,
            }),
        });
        item_of.push(i);
    }
    if let Some(p) = read
        .missing
        .iter()
        .find(|p| fingers.iter().any(|f| f.position == i64::from(**p)))
    {
        return Err(OsiaError::bad(
            Code::InvalidBiometricData,
            format!(
                "{} has an image and is declared missing",
                super::wire::finger_sub_type(*p)
            ),
        ));
    }
    read.missing.sort_unstable();
    Ok(Gathered {
        fingers,
        finger_items: item_of,
        eyes,
        eye_items,
        read,
    })
}

/// Whether a problem of Tunggal's validation says that no finger or eye passed the quality
/// rule (rather than that an image could not be read).
fn nothing_usable(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::FingerUnusable
            | Reason::IrisUnusable
            | Reason::IrisPupilNotFound
            | Reason::IrisLimbusNotFound
            | Reason::IrisGeometryImplausible
            | Reason::IrisOccluded
            | Reason::IrisOutOfFocus
    )
}

/// Reads biometric items into a probe: CPU work (decoding, extraction and eye encoding),
/// run on rayon. `required`: at least one usable finger or eye (searches and inserts need
/// one).
pub fn read(items: &[BiometricData], required: bool) -> Result<Read, OsiaError> {
    let g = gather(items)?;
    let (fingers, item_of, mut read) = (g.fingers, g.finger_items, g.read);
    if fingers.is_empty() && g.eyes.is_empty() {
        if required {
            return Err(no_usable(&read));
        }
        return Ok(read);
    }
    read.probe = validate::probe(&fingers, &g.eyes, 0).map_err(|p| {
        // The problem points into the finger or iris list: name the biometric item instead.
        let at = |list: &str, items: &[usize]| {
            p.pointer
                .as_deref()
                .and_then(|ptr| ptr.strip_prefix(list))
                .and_then(|rest| rest.split('/').next())
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| items.get(n).copied())
        };
        let item = at("/fingerprints/", &item_of).or_else(|| at("/irises/", &g.eye_items));
        let at = item.map_or_else(String::new, |i| format!("biometricData[{i}]: "));
        let code = if nothing_usable(p.reason) {
            Code::NoUsableBiometrics
        } else if p.reason == Reason::DuplicateIrisEye {
            Code::InvalidBiometricData
        } else {
            Code::ImageRefused
        };
        OsiaError::bad(code, format!("{at}{} ({})", p.detail, p.reason.code()))
    })?;
    if required && read.probe.fingers.is_empty() && read.probe.irises.is_empty() {
        return Err(no_usable(&read));
    }
    for f in &read.probe.fingers {
        let position = f.position.code();
        let quality = read
            .probe
            .image_quality
            .iter()
            .find(|q| q.position == f.position)
            .map_or(f.quality, |q| q.quality);
        let instance = item_of
            .iter()
            .map(|i| &items[*i])
            .find(|it| it.biometric_sub_type.as_deref().and_then(finger_position) == Some(position))
            .and_then(|it| it.instance.clone());
        let enc = |format| {
            encode(&f.template, format)
                .map(|b| STANDARD.encode(b))
                .map_err(|e| {
                    OsiaError::Internal(Code::EngineFailure, format!("template encoding: {e}"))
                })
        };
        read.templates.push(StoredTemplate {
            position,
            instance,
            quality,
            iso2005: enc(RecordFormat::Iso2005)?,
            iso2011: enc(RecordFormat::Iso2011)?,
            ansi378: enc(RecordFormat::Ansi378)?,
        });
    }
    Ok(read)
}

fn no_usable(read: &Read) -> OsiaError {
    OsiaError::bad(
        Code::NoUsableBiometrics,
        format!(
            "no usable finger or iris image to compare ({} iris image(s) given, {} other \
             item(s) ignored, {} finger(s) declared missing, fingers and eyes failing the \
             quality rule left out)",
            read.irises,
            read.ignored,
            read.missing.len()
        ),
    )
}

/// The items as kept with an encounter: images dropped (this ABIS keeps the templates).
pub fn without_images(items: &[BiometricData]) -> Vec<BiometricData> {
    items
        .iter()
        .map(|b| BiometricData {
            image: None,
            ..b.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::osia::wire::{Missing, Presence};

    fn item(kind: BiometricType, sub: &str) -> BiometricData {
        BiometricData {
            biometric_type: kind,
            biometric_sub_type: Some(sub.to_owned()),
            instance: None,
            image: None,
            image_ref: None,
            capture_date: None,
            capture_device: None,
            impression_type: None,
            width: None,
            height: None,
            bitdepth: None,
            resolution: None,
            compression: None,
            missing: None,
            metadata: None,
            comment: None,
        }
    }

    fn code(e: OsiaError) -> i32 {
        e.error_body().code
    }

    #[test]
    fn missing_fingers_are_recorded_and_eye_images_gathered() {
        let mut amputated = item(BiometricType::Finger, "LEFT_RING");
        amputated.missing = Some(vec![Missing {
            biometric_sub_type: None,
            presence: Some(Presence::Amputated),
        }]);
        let mut eye = item(BiometricType::Iris, "EYE_LEFT");
        eye.image = Some("AAAA".into());
        let g = gather(&[amputated, eye, item(BiometricType::Face, "PORTRAIT")]).unwrap();
        let read = g.read;
        assert!(g.fingers.is_empty());
        assert_eq!(g.eyes.len(), 1);
        assert_eq!(
            (g.eyes[0].eye.as_str(), g.eye_items.as_slice()),
            ("left", &[1][..])
        );
        assert_eq!(
            (read.missing.clone(), read.irises, read.ignored),
            (vec![9], 1, 1)
        );
        assert_eq!(code(no_usable(&read)), Code::NoUsableBiometrics as i32);
    }

    #[test]
    fn inconsistent_items_are_refused_with_their_code() {
        let mut slap = item(BiometricType::Finger, "PLAIN_THUMBS");
        slap.image = Some("AAAA".into());
        assert_eq!(code(gather(&[slap]).unwrap_err()), Code::Unsupported as i32);
        let bare = item(BiometricType::Finger, "RIGHT_THUMB");
        assert_eq!(
            code(gather(&[bare]).unwrap_err()),
            Code::InvalidBiometricData as i32
        );
        let mut by_ref = item(BiometricType::Finger, "RIGHT_THUMB");
        by_ref.image_ref = Some("http://x/y".into());
        assert_eq!(
            code(gather(&[by_ref]).unwrap_err()),
            Code::Unsupported as i32
        );
        let mut both = item(BiometricType::Finger, "RIGHT_THUMB");
        both.image = Some("SUkqAAgAAAA=".into());
        both.missing = Some(vec![Missing {
            biometric_sub_type: None,
            presence: Some(Presence::Bandaged),
        }]);
        assert_eq!(
            code(gather(&[both]).unwrap_err()),
            Code::InvalidBiometricData as i32
        );
        let mut unknown = item(BiometricType::Finger, "RIGHT_PINKY");
        unknown.image = Some("AAAA".into());
        assert!(gather(&[unknown]).is_err());
    }

    #[test]
    fn eye_images_name_one_eye_once() {
        let mut undefined = item(BiometricType::Iris, "EYE_UNDEF");
        undefined.image = Some("AAAA".into());
        assert_eq!(
            code(gather(&[undefined]).unwrap_err()),
            Code::InvalidBiometricData as i32
        );
        let mut left = item(BiometricType::Iris, "EYE_LEFT");
        left.image = Some(STANDARD.encode(b"\x89PNG\r\n\x1a\n\0\0\0\0"));
        assert_eq!(
            code(gather(&[left.clone(), left.clone()]).unwrap_err()),
            Code::InvalidBiometricData as i32
        );
        let g = gather(&[left.clone()]).unwrap();
        let image = g.eyes[0].image.as_ref().unwrap();
        assert_eq!(image.format, "png");
        left.compression = Some(Compression::Wsq);
        // Refused when decoded, with the eye images' reason (not a format eyes take).
        let e = read(&[left], true).unwrap_err();
        assert_eq!(code(e.clone()), Code::ImageRefused as i32);
        assert!(
            e.error_body().message.contains("image_unsupported_format"),
            "{}",
            e.error_body().message
        );
    }

    #[test]
    fn the_container_is_sniffed_when_no_compression_is_named() {
        let mut tiff = item(BiometricType::Finger, "RIGHT_THUMB");
        let data = STANDARD.encode(b"II*\0\x08\0\0\0\0\0\0\0\0\0");
        assert_eq!(image_format(0, &tiff, &data).unwrap(), "tiff");
        tiff.compression = Some(Compression::Wsq);
        assert_eq!(image_format(0, &tiff, &data).unwrap(), "wsq");
        tiff.compression = Some(Compression::None);
        assert!(image_format(0, &tiff, &STANDARD.encode(b"hello world!")).is_err());
    }
}
