//! OSIA biometric items to Tunggal's probe: `FINGER` images go through the same decoding and
//! minutiae extraction as the fingerprint images of `POST /v1/enrolments`
//! (`enrolment::validate`); `IRIS` images are accepted and counted, not matched (the engine
//! does not take iris images yet); `FACE`, `SIGNATURE` and `UNKNOWN` items are kept with the
//! encounter and ignored. A finger declared `missing` (bandaged, amputated, damaged) is left
//! out of the probe, as Tunggal treats every absent finger.

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
use crate::enrolment::wire::{FingerImageIn, FingerprintIn};

/// A probe read from biometric items, with what was left out of matching.
#[derive(Debug, Clone)]
pub struct Read {
    /// The usable fingers.
    pub probe: Probe,
    /// Iris images accepted and not matched.
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

/// Checks the items and gathers the finger images and missing fingers, without decoding.
fn gather(items: &[BiometricData]) -> Result<(Vec<FingerprintIn>, Vec<usize>, Read), OsiaError> {
    let mut fingers: Vec<FingerprintIn> = Vec::new();
    let mut item_of: Vec<usize> = Vec::new();
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
                read.irises += usize::from(item.image.is_some());
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
    Ok((fingers, item_of, read))
}

/// Reads biometric items into a probe: CPU work (decoding and extraction), run on rayon.
/// `required`: at least one usable finger (searches and inserts need one).
pub fn read(items: &[BiometricData], required: bool) -> Result<Read, OsiaError> {
    let (fingers, item_of, mut read) = gather(items)?;
    if fingers.is_empty() {
        if required {
            return Err(no_usable(&read));
        }
        return Ok(read);
    }
    read.probe = validate::probe(&fingers, &[], 0).map_err(|p| {
        // The problem points into the finger list: name the biometric item instead.
        let item = p
            .pointer
            .as_deref()
            .and_then(|ptr| ptr.strip_prefix("/fingerprints/"))
            .and_then(|rest| rest.split('/').next())
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| item_of.get(n).copied());
        let at = item.map_or_else(String::new, |i| format!("biometricData[{i}]: "));
        OsiaError::bad(
            Code::ImageRefused,
            format!("{at}{} ({})", p.detail, p.reason.code()),
        )
    })?;
    if required && read.probe.fingers.is_empty() {
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
            "no usable finger image to compare ({} iris image(s) accepted and not matched by \
             this ABIS, {} other item(s) ignored, {} finger(s) declared missing, fingers \
             failing the quality rule left out)",
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
    fn missing_fingers_are_recorded_and_irises_counted() {
        let mut amputated = item(BiometricType::Finger, "LEFT_RING");
        amputated.missing = Some(vec![Missing {
            biometric_sub_type: None,
            presence: Some(Presence::Amputated),
        }]);
        let mut eye = item(BiometricType::Iris, "EYE_LEFT");
        eye.image = Some("AAAA".into());
        let (fingers, _, read) =
            gather(&[amputated, eye, item(BiometricType::Face, "PORTRAIT")]).unwrap();
        assert!(fingers.is_empty());
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
