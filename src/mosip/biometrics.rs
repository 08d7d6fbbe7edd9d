//! A share's samples validated into a probe. Fingers are validated together, as
//! `POST /v1/enrolments` validates them: a malformed finger refuses the share (16), and no
//! usable finger at all is a failed quality check (18) unless an iris is usable. Irises are
//! validated one by one: an eye image that does not decode, names no eye or fails the eye
//! encoder's enrolment rule is left out and reported (by eye, with its reason), and fails
//! the request only when nothing else can be searched. Face samples are only counted.

use rayon::prelude::*;

use super::cbeff::{CbeffError, IrisSample, Samples};
use super::message::FailureReason;
use crate::enrolment::record::{Iris, Probe};
use crate::enrolment::validate;
use crate::problem::Reason;

/// What became of one iris sample.
#[derive(Debug, Clone, PartialEq)]
pub enum EyeOutcome {
    /// Matched; an eye image's measured quality (0–100), none for a code.
    Used {
        /// The encoder's quality of an eye image.
        quality: Option<u8>,
    },
    /// Left out: the sample does not read (MOSIP reason 16, "invalid CBEFF format").
    Refused {
        /// Machine-readable reason (`image_corrupt`, `iris_eye_unknown`, …).
        reason: String,
    },
    /// Left out: the eye image fails the enrolment rule (MOSIP reason 18, "biometric
    /// quality check failed").
    Unusable {
        /// Machine-readable reason (`iris_pupil_not_found`, `iris_occluded`, …).
        reason: String,
    },
}

impl EyeOutcome {
    /// The reason of an eye left out, none for a used one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Used { .. } => None,
            Self::Refused { reason } | Self::Unusable { reason } => Some(reason),
        }
    }

    /// The MOSIP failure reason of an eye left out, none for a used one.
    pub fn failure(&self) -> Option<FailureReason> {
        match self {
            Self::Used { .. } => None,
            Self::Refused { .. } => Some(FailureReason::InvalidCbeffFormat),
            Self::Unusable { .. } => Some(FailureReason::BiometricQualityCheckFailed),
        }
    }
}

/// One iris sample's fate.
#[derive(Debug, Clone, PartialEq)]
pub struct EyeReport {
    /// The sample's index among the share's BIRs.
    pub index: usize,
    /// `right` or `left`, when its subtype names an eye.
    pub eye: Option<&'static str>,
    /// Used or why not.
    pub outcome: EyeOutcome,
}

/// A share's biometrics, ready for the engine.
#[derive(Debug)]
pub struct Read {
    /// What is searched or inserted.
    pub probe: Probe,
    /// Every iris sample, in share order.
    pub eyes: Vec<EyeReport>,
    /// Face samples (ignored).
    pub faces: usize,
}

impl Read {
    /// Eyes left out, with their reasons.
    pub fn eyes_left_out(&self) -> impl Iterator<Item = &EyeReport> {
        self.eyes
            .iter()
            .filter(|e| !matches!(e.outcome, EyeOutcome::Used { .. }))
    }
}

/// The machine-readable reason of a refused iris sample.
fn cbeff_reason(e: &CbeffError) -> String {
    match e {
        CbeffError::IrisEye { .. } => "iris_eye_unknown".into(),
        CbeffError::RepeatedIris { .. } => Reason::DuplicateIrisEye.code(),
        CbeffError::IrisFormat { .. } => "iris_format_unknown".into(),
        CbeffError::IrisCode { .. } => "iris_code_malformed".into(),
        _ => "iris_sample_invalid".into(),
    }
}

/// A validation problem of an iris: the eye encoder's quality reasons are a failed quality
/// check; everything else (base64, image decoding, code length, layout) a malformed sample.
fn problem_outcome(reason: Reason) -> EyeOutcome {
    match reason {
        Reason::IrisUnusable
        | Reason::IrisPupilNotFound
        | Reason::IrisLimbusNotFound
        | Reason::IrisGeometryImplausible
        | Reason::IrisOccluded
        | Reason::IrisOutOfFocus
        | Reason::IrisImageSize => EyeOutcome::Unusable {
            reason: reason.code(),
        },
        other => EyeOutcome::Refused {
            reason: other.code(),
        },
    }
}

/// Validates one iris sample (CPU work: eye images are segmented and encoded).
fn eye(sample: &IrisSample, i: usize) -> (EyeReport, Option<Iris>) {
    let report = |outcome| EyeReport {
        index: sample.index,
        eye: sample.eye,
        outcome,
    };
    let wire = match &sample.iris {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "MOSIP iris sample refused");
            let reason = cbeff_reason(e);
            return (report(EyeOutcome::Refused { reason }), None);
        }
    };
    match validate::iris(wire, i) {
        Ok((Some(iris), measured)) => {
            let quality = measured.map(|(q, _)| q.quality);
            (report(EyeOutcome::Used { quality }), Some(iris))
        }
        Ok((None, measured)) => {
            let reason = measured
                .and_then(|(q, _)| q.unusable)
                .map_or_else(|| Reason::IrisUnusable.code(), str::to_owned);
            (report(EyeOutcome::Unusable { reason }), None)
        }
        Err(p) => {
            tracing::warn!(reason = ?p.reason, detail = %p.detail, "MOSIP iris sample left out");
            (report(problem_outcome(p.reason)), None)
        }
    }
}

/// Validates a share's samples (see the module documentation). CPU work: run it on rayon.
pub fn read(samples: &Samples) -> Result<Read, FailureReason> {
    if samples.fingers.is_empty() && samples.irises.is_empty() {
        // Only face samples: nothing this ABIS matches.
        return Err(FailureReason::CbeffHasNoData);
    }
    let (fingers, eyes): (_, Vec<(EyeReport, Option<Iris>)>) = rayon::join(
        || (!samples.fingers.is_empty()).then(|| validate::probe(&samples.fingers, &[], 0)),
        || {
            samples
                .irises
                .par_iter()
                .enumerate()
                .map(|(i, s)| eye(s, i))
                .collect()
        },
    );
    let (eyes, irises): (Vec<EyeReport>, Vec<Option<Iris>>) = eyes.into_iter().unzip();
    let irises: Vec<Iris> = irises.into_iter().flatten().collect();
    let mut fingers_unusable = false;
    let mut probe = match fingers {
        None => Probe::default(),
        Some(Ok(p)) => p,
        Some(Err(p)) => match p.reason {
            Reason::FingerUnusable | Reason::NoBiometrics | Reason::TooFewFingers => {
                tracing::warn!(detail = %p.detail, "MOSIP share: no usable finger");
                fingers_unusable = true;
                Probe::default()
            }
            _ => {
                tracing::warn!(reason = ?p.reason, detail = %p.detail, "MOSIP share refused");
                return Err(FailureReason::InvalidCbeffFormat);
            }
        },
    };
    probe.irises = irises;
    if probe.fingers.is_empty() && probe.irises.is_empty() {
        let quality = fingers_unusable
            || eyes
                .iter()
                .any(|e| matches!(e.outcome, EyeOutcome::Unusable { .. }));
        return Err(if quality {
            FailureReason::BiometricQualityCheckFailed
        } else {
            FailureReason::InvalidCbeffFormat
        });
    }
    Ok(Read {
        probe,
        eyes,
        faces: samples.faces,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrolment::wire::{IrisImageIn, IrisIn};
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;

    fn sample(index: usize, eye: &'static str, iris: Result<IrisIn, CbeffError>) -> IrisSample {
        IrisSample {
            index,
            eye: Some(eye),
            iris,
        }
    }

    fn code(eye: &str, mask_byte: u8) -> IrisIn {
        IrisIn {
            eye: eye.to_owned(),
            layout: Some("daugman-2048".into()),
            code: Some(STANDARD.encode(vec![0x5a; 256])),
            mask: Some(STANDARD.encode(vec![mask_byte; 256])),
            image: None,
        }
    }

    fn image(eye: &str, bytes: &[u8]) -> IrisIn {
        IrisIn {
            eye: eye.to_owned(),
            layout: None,
            code: None,
            mask: None,
            image: Some(IrisImageIn {
                format: "iso19794-6".into(),
                data: STANDARD.encode(bytes),
            }),
        }
    }

    #[test]
    fn a_usable_iris_is_searched_and_a_bad_one_reported() {
        let samples = Samples {
            irises: vec![
                sample(0, "right", Ok(code("right", 0xff))),
                sample(1, "left", Ok(image("left", b"IIR\x00020\x00 cut short"))),
            ],
            ..Samples::default()
        };
        let read = read(&samples).unwrap();
        assert_eq!(read.probe.irises.len(), 1);
        assert!(read.probe.fingers.is_empty());
        assert_eq!(read.eyes[0].outcome, EyeOutcome::Used { quality: None });
        let bad = &read.eyes[1];
        assert_eq!(bad.eye, Some("left"));
        assert!(matches!(bad.outcome, EyeOutcome::Refused { .. }), "{bad:?}");
        assert_eq!(
            bad.outcome.failure(),
            Some(FailureReason::InvalidCbeffFormat)
        );
        assert_eq!(read.eyes_left_out().count(), 1);
    }

    #[test]
    fn nothing_usable_fails_with_the_eyes_reason() {
        // Only a malformed sample: 16.
        let broken = Samples {
            irises: vec![sample(
                0,
                "left",
                Err(CbeffError::IrisFormat {
                    index: 0,
                    format_type: Some(77),
                }),
            )],
            ..Samples::default()
        };
        assert_eq!(read(&broken).err(), Some(FailureReason::InvalidCbeffFormat));
        // A code with no valid bit: unusable, a failed quality check.
        let masked = Samples {
            irises: vec![sample(0, "left", Ok(code("left", 0)))],
            ..Samples::default()
        };
        assert_eq!(
            read(&masked).err(),
            Some(FailureReason::BiometricQualityCheckFailed)
        );
        // A flat grey eye image: the encoder finds no pupil, a failed quality check.
        let flat =
            tunggal_index::image::FingerImage::new(320, 280, None, vec![128; 320 * 280]).unwrap();
        let png = tunggal_index::image::encode_png(&flat).unwrap();
        let grey = Samples {
            irises: vec![sample(
                0,
                "right",
                Ok(IrisIn {
                    image: Some(IrisImageIn {
                        format: "png".into(),
                        data: STANDARD.encode(png),
                    }),
                    ..image("right", b"")
                }),
            )],
            ..Samples::default()
        };
        assert_eq!(
            read(&grey).err(),
            Some(FailureReason::BiometricQualityCheckFailed)
        );
        // Faces only: no data.
        let faces = Samples {
            faces: 1,
            ..Samples::default()
        };
        assert_eq!(read(&faces).err(), Some(FailureReason::CbeffHasNoData));
    }
}
