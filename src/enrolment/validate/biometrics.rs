//! The biometric fields of a request: base64 fingerprint templates and iris codes decoded and
//! checked, and assembled into a [`Probe`].

use rayon::prelude::*;

use super::eyes::image_iris;
use super::images::image_finger;
use super::*;
use crate::enrolment::record::{EyeImageQuality, ImageQuality, KeptEyeImage, KeptImage};

pub(super) fn base64(s: &str, pointer: &str) -> Result<Vec<u8>, Problem> {
    STANDARD.decode(s).map_err(|e| {
        problem(
            Reason::BadBase64,
            pointer,
            format!("not standard base64: {e}"),
        )
    })
}

pub(super) fn template_reason(e: &TemplateError) -> Reason {
    match e {
        TemplateError::Truncated { .. } | TemplateError::LengthMismatch { .. } => {
            Reason::TemplateTruncated
        }
        TemplateError::BadMagic { .. } | TemplateError::UnsupportedVersion { .. } => {
            Reason::TemplateUnknownRecord
        }
        _ => Reason::TemplateMalformed,
    }
}

/// A fingerprint submitted as an image: its measured quality and the image as received.
pub type SubmittedImage = (ImageQuality, KeptImage);

/// Decodes and checks one fingerprint at index `i`: the finger, unless it is an image that
/// fails the enrolment rule, and the quality measured when it is an image.
pub fn fingerprint(
    f: &FingerprintIn,
    i: usize,
) -> Result<(Option<Finger>, Option<SubmittedImage>), Problem> {
    let at = |field: &str| format!("/fingerprints/{i}/{field}");
    let position = u8::try_from(f.position)
        .ok()
        .and_then(FingerPosition::new)
        .filter(|p| p.slot().is_some())
        .ok_or_else(|| {
            problem(
                Reason::UnknownFingerPosition,
                &at("position"),
                format!("fingerprint {i}: position {} is not 1–10", f.position),
            )
        })?;
    let (format, quality, template) = match (&f.format, f.quality, &f.template, &f.image) {
        (None, None, None, Some(image)) => {
            let (finger, measured, kept) = image_finger(image, position, i)?;
            return Ok((finger, Some((measured, kept))));
        }
        (Some(format), Some(quality), Some(template), None) => (format, quality, template),
        _ => {
            return Err(problem(
                Reason::InvalidFingerprintForm,
                &format!("/fingerprints/{i}"),
                format!(
                    "fingerprint {i}: give either format, quality and template, or image alone"
                ),
            ))
        }
    };
    let declared = match format.as_str() {
        "iso19794-2" => Format::Iso,
        "ansi378" => Format::Ansi,
        _ => {
            return Err(problem(
                Reason::UnknownTemplateFormat,
                &at("format"),
                format!("fingerprint {i}: format must be \"iso19794-2\" or \"ansi378\""),
            ))
        }
    };
    let quality = u8::try_from(quality)
        .ok()
        .filter(|q| *q <= 100)
        .ok_or_else(|| {
            problem(
                Reason::InvalidQuality,
                &at("quality"),
                format!("fingerprint {i}: quality {quality} is not 0–100"),
            )
        })?;
    let bytes = base64(template, &at("template"))?;
    let record = template::decode(&bytes).map_err(|e| {
        problem(
            template_reason(&e),
            &at("template"),
            format!("fingerprint {i} (position {}): {e}", position.code()),
        )
    })?;
    if record.format() != declared {
        return Err(problem(
            Reason::TemplateFormatMismatch,
            &at("format"),
            format!("fingerprint {i}: declared {format} but the record is the other format"),
        ));
    }
    let view = record
        .views()
        .iter()
        .position(|v| v.position == position.code())
        .or_else(|| (record.views().len() == 1 && record.views()[0].position == 0).then_some(0));
    let Some(view) = view else {
        let reason = if record.views().is_empty() {
            Reason::TemplateEmpty
        } else {
            Reason::FingerPositionMismatch
        };
        return Err(problem(
            reason,
            &at("template"),
            format!(
                "fingerprint {i}: the record holds no view for position {}",
                position.code()
            ),
        ));
    };
    let mut template = record.template(view).ok_or_else(|| {
        problem(
            Reason::TemplateMalformed,
            &at("template"),
            format!("fingerprint {i}: view {view} cannot be converted"),
        )
    })?;
    if template.minutiae.is_empty() {
        return Err(problem(
            Reason::TemplateEmpty,
            &at("template"),
            format!("fingerprint {i}: the view holds no minutiae"),
        ));
    }
    template.position = position.code();
    Ok((
        Some(Finger {
            position,
            quality,
            template,
        }),
        None,
    ))
}

/// An iris submitted as an image: its measured quality and the image as received.
pub type SubmittedEye = (EyeImageQuality, KeptEyeImage);

/// Decodes and checks one iris at index `i`: the iris, unless it is an image that fails the
/// enrolment rule, and the quality measured when it is an image.
pub fn iris(f: &IrisIn, i: usize) -> Result<(Option<Iris>, Option<SubmittedEye>), Problem> {
    let at = |field: &str| format!("/irises/{i}/{field}");
    let eye = match f.eye.as_str() {
        "left" => Eye::Left,
        "right" => Eye::Right,
        _ => {
            return Err(problem(
                Reason::UnknownIrisEye,
                &at("eye"),
                format!("iris {i}: eye must be \"left\" or \"right\""),
            ))
        }
    };
    let (layout, code, mask) = match (&f.layout, &f.code, &f.mask, &f.image) {
        (None, None, None, Some(image)) => {
            let (iris, measured, kept) = image_iris(image, eye, i)?;
            return Ok((iris, Some((measured, kept))));
        }
        (Some(layout), Some(code), Some(mask), None) => (layout, code, mask),
        _ => {
            return Err(problem(
                Reason::InvalidIrisForm,
                &format!("/irises/{i}"),
                format!("iris {i}: give either layout, code and mask, or image alone"),
            ))
        }
    };
    let layout_name = layout;
    let layout = IrisLayout::from_name(layout).ok_or_else(|| {
        let known: Vec<&str> = IrisLayout::NAMED.iter().map(|(n, _)| *n).collect();
        problem(
            Reason::UnknownIrisLayout,
            &at("layout"),
            format!("iris {i}: layout must be one of {}", known.join(", ")),
        )
    })?;
    let code = base64(code, &at("code"))?;
    let mask = base64(mask, &at("mask"))?;
    let template = IrisTemplate::from_bytes(layout, &code, &mask).map_err(|e| {
        problem(
            Reason::IrisWrongLength,
            &at("code"),
            format!("iris {i} ({layout_name}): {e}"),
        )
    })?;
    let required = MatchConfig::for_layout(layout).min_template_bits;
    template.check_usable(required).map_err(|e| {
        problem(
            Reason::IrisUnusable,
            &at("mask"),
            format!("iris {i} ({} eye): {e}", f.eye),
        )
    })?;
    Ok((Some(Iris { eye, template }), None))
}

/// Decodes the biometrics; `min_fingers` fingerprints at least, and at least one modality.
pub fn probe(
    fingerprints: &[FingerprintIn],
    irises: &[IrisIn],
    min_fingers: usize,
) -> Result<Probe, Problem> {
    // Counts first: the position scan below is quadratic and every template is decoded.
    if fingerprints.len() > MAX_FINGERS || irises.len() > MAX_IRISES {
        return Err(problem(
            Reason::TooManyTemplates,
            if fingerprints.len() > MAX_FINGERS {
                "/fingerprints"
            } else {
                "/irises"
            },
            format!(
                "{} fingerprint(s) and {} iris(es) given, at most {MAX_FINGERS} and {MAX_IRISES}",
                fingerprints.len(),
                irises.len()
            ),
        ));
    }
    // Positions next: a repeated position is reported as such, before any template of it
    // is decoded and found to disagree.
    let mut seen: Vec<i64> = Vec::with_capacity(fingerprints.len());
    for (i, f) in fingerprints.iter().enumerate() {
        if let Some(first) = seen.iter().position(|p| *p == f.position) {
            return Err(problem(
                Reason::DuplicateFingerPosition,
                &format!("/fingerprints/{i}/position"),
                format!(
                    "fingerprints {first} and {i} both have position {}",
                    f.position
                ),
            ));
        }
        seen.push(f.position);
    }
    // Images are decoded and extracted (encoded) one finger or eye per rayon task; the first
    // problem in field order is reported.
    let (checked, checked_irises): (Vec<Result<_, Problem>>, Vec<Result<_, Problem>>) = rayon::join(
        || {
            fingerprints
                .par_iter()
                .enumerate()
                .map(|(i, f)| fingerprint(f, i))
                .collect()
        },
        || {
            irises
                .par_iter()
                .enumerate()
                .map(|(i, f)| iris(f, i))
                .collect()
        },
    );
    let mut fingers = Vec::with_capacity(fingerprints.len());
    let mut image_quality = Vec::new();
    let mut images = Vec::new();
    let mut first_unusable = None;
    for (i, c) in checked.into_iter().enumerate() {
        let (finger, image) = c?;
        let measured = image.as_ref().map(|(q, _)| *q);
        match finger {
            Some(finger) => fingers.push(finger),
            None => {
                first_unusable.get_or_insert((i, measured));
            }
        }
        image_quality.extend(measured);
        images.extend(image.map(|(_, k)| k));
    }
    if fingerprints.len() < min_fingers {
        return Err(problem(
            Reason::TooFewFingers,
            "/fingerprints",
            format!(
                "{} fingerprint(s) given, at least {min_fingers} needed",
                fingerprints.len()
            ),
        ));
    }
    let mut decoded: Vec<Iris> = Vec::with_capacity(irises.len());
    let mut eyes: Vec<Eye> = Vec::with_capacity(irises.len());
    let mut eye_quality = Vec::new();
    let mut eye_images = Vec::new();
    let mut first_failed_eye = None;
    for (i, c) in checked_irises.into_iter().enumerate() {
        let (iris, image) = c?;
        let eye = iris
            .as_ref()
            .map(|d| d.eye)
            .or(image.as_ref().map(|(q, _)| q.eye));
        if let Some(eye) = eye {
            if eyes.contains(&eye) {
                return Err(problem(
                    Reason::DuplicateIrisEye,
                    &format!("/irises/{i}/eye"),
                    format!("two irises for the {} eye", eye.name()),
                ));
            }
            eyes.push(eye);
        }
        match iris {
            Some(iris) => decoded.push(iris),
            None => {
                let why = image.as_ref().and_then(|(q, _)| q.unusable);
                first_failed_eye.get_or_insert((i, why));
            }
        }
        if let Some((q, k)) = image {
            eye_quality.push(q);
            eye_images.push(k);
        }
    }
    if fingerprints.is_empty() && irises.is_empty() {
        return Err(problem(
            Reason::NoBiometrics,
            "",
            "at least one fingerprint or iris is needed",
        ));
    }
    // A search (no enrolment minimum) needs something to compare; an enrolment whose every
    // finger is unusable goes on to the engine, which rejects it as for unusable templates.
    if min_fingers == 0 && fingers.is_empty() && decoded.is_empty() {
        if let Some((i, measured)) = first_unusable {
            let why = measured.and_then(|m| m.unusable).unwrap_or("unusable");
            return Err(problem(
                Reason::FingerUnusable,
                &format!("/fingerprints/{i}/image"),
                format!("fingerprint {i}: {why}; no usable fingerprint or iris remains"),
            ));
        }
        if let Some((i, why)) = first_failed_eye {
            let why = why.unwrap_or("iris_unusable");
            let reason = Reason::all()
                .iter()
                .copied()
                .find(|r| r.code() == why)
                .unwrap_or(Reason::IrisUnusable);
            return Err(problem(
                reason,
                &format!("/irises/{i}/image"),
                format!("iris {i}: {why}; no usable fingerprint or iris remains"),
            ));
        }
    }
    fingers.sort_by_key(|f| f.position);
    image_quality.sort_by_key(|q| q.position);
    images.sort_by_key(|k| k.position);
    eye_quality.sort_by_key(|q| q.eye.index());
    eye_images.sort_by_key(|k| k.eye.index());
    Ok(Probe {
        fingers,
        irises: decoded,
        image_quality,
        images,
        eye_quality,
        eye_images,
    })
}
