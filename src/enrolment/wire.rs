//! Wire types: the JSON bodies of requests and responses, as clients write and read them.
//!
//! Enumerations that have their own reason code (`sex`, `citizenship`, `format`, `eye`,
//! `layout`) are plain strings here and are checked in [`super::validate`], so a wrong value
//! gets its precise reason instead of a generic JSON error.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One fingerprint as submitted: a minutiae template (`format`, `quality`, `template`) or an
/// image (`image`), never both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FingerprintIn {
    /// Finger position 1–10 (1–5 right thumb to little finger, 6–10 left).
    pub position: i64,
    /// Template form: `iso19794-2` (ISO/IEC 19794-2:2005) or `ansi378` (ANSI INCITS
    /// 378-2004).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Template form: capture quality 0–100 reported by the service point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<i64>,
    /// Template form: the minutiae record, standard base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Image form: the fingerprint image; the engine extracts the minutiae and the quality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<FingerImageIn>,
}

/// A fingerprint image as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FingerImageIn {
    /// `wsq`, `png`, `tiff` (8-bit grey), `bmp`, `jp2` (JPEG 2000 file or codestream) or
    /// `iso19794-4` (ISO/IEC 19794-4:2005 or 2011 finger image record; its first view).
    pub format: String,
    /// The encoded image, standard base64, at most 16 MiB decoded and 2,000 pixels a side.
    pub data: String,
    /// Resolution in pixels per inch (250–2000); default: the image's own, else 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ppi: Option<f64>,
}

/// One iris as submitted: a code (`layout`, `code`, `mask`) or an eye image (`image`), never
/// both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IrisIn {
    /// `left` or `right`.
    pub eye: String,
    /// Code form: the layout, `daugman-2048` or `open-iris`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// Code form: iris code bytes (little-endian words), standard base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Code form: mask bytes (1 = code bit valid), standard base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
    /// Image form: a near-infrared eye image; the engine segments and encodes it into the
    /// gallery's layout and measures its quality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<IrisImageIn>,
}

/// An eye image as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IrisImageIn {
    /// `png`, `jpeg`, `jp2` (JPEG 2000 file or codestream), `bmp` (8-bit grey or colour,
    /// converted to grey) or `iso19794-6` (ISO/IEC 19794-6:2005 or 2011 iris image record:
    /// its first image of this eye or of an unstated eye).
    pub format: String,
    /// The encoded image, standard base64, at most 16 MiB decoded and 2,000 pixels a side.
    pub data: String,
}

/// `POST /v1/enrolments`: one person's enrolment record from a service point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentRequest {
    /// Client-chosen idempotency key, 1–64 characters `A-Za-z0-9._-`.
    pub request_id: String,
    /// The 16-digit NIK.
    pub nik: String,
    /// Full name as on the family card.
    pub name: String,
    /// `male` or `female`.
    pub sex: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// District (kecamatan) of the service point, 6 digits `PPRRDD`.
    pub district: String,
    /// Service point identifier within the district.
    pub service_point: String,
    /// `WNI` (citizen) or `WNA` (foreign permanent resident).
    pub citizenship: String,
    /// Passport number, required for `WNA`.
    #[serde(default)]
    pub passport_number: Option<String>,
    /// Permanent stay permit (KITAP) number, required for `WNA`.
    #[serde(default)]
    pub kitap_number: Option<String>,
    /// Up to ten fingerprints with distinct positions.
    pub fingerprints: Vec<FingerprintIn>,
    /// Up to two irises with distinct eyes.
    #[serde(default)]
    pub irises: Vec<IrisIn>,
    /// Opaque photo, standard base64, at most 512 KiB decoded.
    #[serde(default)]
    pub photo: Option<String>,
    /// Opaque signature image, standard base64, at most 512 KiB decoded.
    #[serde(default)]
    pub signature: Option<String>,
    /// `https://` (or loopback `http://`) URL the final verdict is posted to: at once for
    /// `single` and `rejected`, when the case closes for `duplicate`.
    #[serde(default)]
    pub callback_url: Option<String>,
}

/// `POST /v1/identify`: a 1:N search with biometrics only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifyRequest {
    /// Client-chosen idempotency key, 1–64 characters `A-Za-z0-9._-`.
    pub request_id: String,
    /// Fingerprints (distinct positions).
    #[serde(default)]
    pub fingerprints: Vec<FingerprintIn>,
    /// Irises (distinct eyes).
    #[serde(default)]
    pub irises: Vec<IrisIn>,
    /// Most candidates to return (default 10, at most 100).
    #[serde(default)]
    pub max_candidates: Option<u32>,
}

/// `POST /v1/verify`: a 1:1 check of biometrics against an enrolled person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// Client-chosen idempotency key, 1–64 characters `A-Za-z0-9._-`.
    pub request_id: String,
    /// The person's reference id.
    pub reference_id: String,
    /// Fingerprints (distinct positions).
    #[serde(default)]
    pub fingerprints: Vec<FingerprintIn>,
    /// Irises (distinct eyes).
    #[serde(default)]
    pub irises: Vec<IrisIn>,
}

/// The outcome of an enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// No match: the person is enrolled and the card can be printed.
    Single,
    /// A possible duplicate: a case was opened for analysts.
    Duplicate,
    /// The engine refused the record (see `reason`).
    Rejected,
}

/// Answer to an enrolment (and to a retry with the same `request_id`), and its current
/// state when read back with `GET /v1/enrolments/{request_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EnrolmentResponse {
    /// The request's `request_id`.
    pub request_id: String,
    /// `single`, `duplicate` or `rejected`.
    pub verdict: VerdictKind,
    /// `print_ready` (single), `under_review` (duplicate, case open), `refused` (duplicate
    /// confirmed by analysts) or `rejected`.
    pub status: String,
    /// The person's reference id: the enrolled person (`single`; for a re-issue the person
    /// already holding the NIK) or the id reserved for the held-back applicant (`duplicate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<String>,
    /// `single` only: the NIK's holder re-applied and no new person was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reissue: Option<bool>,
    /// `duplicate` only: `biometric` (the 1:N search matched enrolled persons) or
    /// `nik_conflict` (the NIK belongs to an enrolled person whose biometrics do not match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_reason: Option<String>,
    /// Analyst case id (`duplicate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    /// `duplicate` only: the matching enrolled persons, best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<CandidateOut>,
    /// `refused` only: the reference id of the person the applicant was confirmed to be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// Why the engine rejected the record (`rejected`): `too_few_usable_fingers` or
    /// `unusable_templates`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Fingerprints submitted as images: their measured quality, by position (the answer
    /// to the enrolment, its retries, its callback and `GET /v1/enrolments/{request_id}`;
    /// absent when every fingerprint was a template).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingerprint_quality: Vec<FingerQualityOut>,
    /// Irises submitted as images: their measured quality, right eye first (absent when
    /// every iris was a code).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iris_quality: Vec<IrisQualityOut>,
    /// When the verdict took effect (RFC 3339 UTC): the engine's decision, or the closing
    /// of the analysts' case; a later read answers the same time.
    #[serde(with = "time_field")]
    #[schema(value_type = String, format = DateTime)]
    pub decided_at: u64,
}

/// One finger's score behind a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FingerScoreOut {
    /// Finger position 1–10.
    pub position: u8,
    /// Matcher score, 0–1 (higher is more similar).
    #[serde(serialize_with = "rounded::unit")]
    pub score: f32,
}

/// The quality of one fingerprint submitted as an image, as the extractor measured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FingerQualityOut {
    /// Finger position 1–10.
    pub position: u8,
    /// Finger image quality 0–100 (higher is better), from orientation certainty, ridge
    /// clarity, frequency consistency, foreground area and minutiae count.
    pub quality: u8,
    /// Set when the finger failed the enrolment rule and was left out of matching:
    /// `finger_area_too_small`, `too_few_minutiae` or `finger_quality_too_low`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unusable: Option<String>,
}

/// The quality of one iris submitted as an image, as the eye encoder measured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IrisQualityOut {
    /// `right` or `left`.
    pub eye: String,
    /// Iris image quality 0–100 (higher is better): the product of the usable-area,
    /// dilation, gaze, focus, motion and iris-size sub-scores; 0 when the eye failed.
    pub quality: u8,
    /// Set when the eye failed the enrolment rule and was left out of matching:
    /// `iris_pupil_not_found`, `iris_limbus_not_found`, `iris_geometry_implausible`,
    /// `iris_occluded` or `iris_out_of_focus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unusable: Option<String>,
    /// The measures behind `quality` (absent when segmentation failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measures: Option<IrisMeasuresOut>,
}

/// The measures of an eye image's quality (shares are fractions of the normalised iris).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IrisMeasuresOut {
    /// Usable share: not covered, not a reflection, inside the image.
    #[serde(serialize_with = "rounded::unit")]
    pub usable_share: f32,
    /// Share covered by eyelids.
    #[serde(serialize_with = "rounded::unit")]
    pub eyelid_share: f32,
    /// Share masked as eyelashes or shadows.
    #[serde(serialize_with = "rounded::unit")]
    pub eyelash_share: f32,
    /// Share masked as specular reflection or saturation.
    #[serde(serialize_with = "rounded::unit")]
    pub reflection_share: f32,
    /// Share outside the image.
    #[serde(serialize_with = "rounded::unit")]
    pub outside_share: f32,
    /// Pupil radius over iris radius.
    #[serde(serialize_with = "rounded::unit")]
    pub dilation: f32,
    /// Pupil–iris centre distance over the iris radius (off-axis gaze).
    #[serde(serialize_with = "rounded::unit")]
    pub gaze_offset: f32,
    /// Focus: Laplacian energy over grey-level spread in the iris (falls with blur).
    #[serde(serialize_with = "rounded::unit")]
    pub sharpness: f32,
    /// Motion-blur anisotropy, 0 (none) to 1.
    #[serde(serialize_with = "rounded::unit")]
    pub motion: f32,
    /// Iris radius in image pixels.
    #[serde(serialize_with = "rounded::unit")]
    pub iris_radius: f32,
}

/// One eye's score behind a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IrisScoreOut {
    /// `right` or `left`.
    pub eye: String,
    /// Normalised Hamming distance at the best rotation (lower is more similar).
    #[serde(serialize_with = "rounded::unit")]
    pub distance: f32,
}

/// One candidate of a 1:N search or a duplicate verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CandidateOut {
    /// Reference id of the enrolled person.
    pub reference_id: String,
    /// The `request_id` of the enrolment that created that person.
    pub request_id: String,
    /// Fused score: log-likelihood ratio (higher is stronger evidence of the same person).
    #[serde(serialize_with = "rounded::llr")]
    pub score: f64,
    /// Per-finger matcher scores, where both sides have the finger.
    pub finger_scores: Vec<FingerScoreOut>,
    /// Per-eye iris distances, where both sides have the eye and it was within the gate.
    pub iris_scores: Vec<IrisScoreOut>,
    /// Fingers and eyes that are this person's enrolled capture submitted again (a
    /// replayed enrolment); absent when none is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identical_capture: Option<IdenticalCaptureOut>,
}

/// The fingers and eyes of a candidate that are its enrolled capture submitted again: equal
/// templates (`exact`, as byte-identical submissions give), or scores beyond what two
/// different captures of one finger or eye reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IdenticalCaptureOut {
    /// Finger positions, ascending.
    pub fingers: Vec<SameFingerOut>,
    /// Eyes, right then left.
    pub eyes: Vec<SameEyeOut>,
}

/// One finger submitted again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SameFingerOut {
    /// Finger position 1–10.
    pub position: u8,
    /// The templates are equal (the strongest signal); otherwise near-identical scores.
    pub exact: bool,
}

/// One eye submitted again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SameEyeOut {
    /// `right` or `left`.
    pub eye: String,
    /// The codes and masks are equal (the strongest signal); otherwise a near-identical
    /// distance.
    pub exact: bool,
}

/// Answer to an identification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IdentifyResponse {
    /// The request's `request_id`.
    pub request_id: String,
    /// Candidates, best first.
    pub candidates: Vec<CandidateOut>,
    /// Fingerprints submitted as images: their measured quality, by position; absent when
    /// every fingerprint was a template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingerprint_quality: Vec<FingerQualityOut>,
    /// Irises submitted as images: their measured quality, right eye first; absent when
    /// every iris was a code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iris_quality: Vec<IrisQualityOut>,
    /// When the first answer was produced (RFC 3339 UTC).
    #[serde(with = "time_field")]
    #[schema(value_type = String, format = DateTime)]
    pub decided_at: u64,
}

/// Answer to a verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VerifyResponse {
    /// The request's `request_id`.
    pub request_id: String,
    /// Whether the biometrics match the person.
    pub matched: bool,
    /// Fused score (log-likelihood ratio); absent when no such person is enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "rounded::opt_llr")]
    pub score: Option<f64>,
    /// The fused score at or above which the biometrics match (`ln(1 / target FPIR)`).
    #[serde(serialize_with = "rounded::llr")]
    pub threshold: f64,
    /// Per-finger matcher scores, where both sides have the finger.
    pub finger_scores: Vec<FingerScoreOut>,
    /// Per-eye iris distances, where both sides have the eye and it was within the gate.
    pub iris_scores: Vec<IrisScoreOut>,
    /// Fingerprints submitted as images: their measured quality, by position; absent when
    /// every fingerprint was a template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingerprint_quality: Vec<FingerQualityOut>,
    /// Irises submitted as images: their measured quality, right eye first; absent when
    /// every iris was a code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iris_quality: Vec<IrisQualityOut>,
    /// When the first answer was produced (RFC 3339 UTC).
    #[serde(with = "time_field")]
    #[schema(value_type = String, format = DateTime)]
    pub decided_at: u64,
}

/// Answer to a deletion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeleteResponse {
    /// Whether the person was in the gallery and is now removed.
    pub deleted: bool,
}

/// `GET /v1/persons/{reference_id}`: a person's metadata (analysts and admins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PersonResponse {
    /// Reference id.
    pub reference_id: String,
    /// The `request_id` of the enrolment that created this record.
    pub request_id: String,
    /// `print_ready`, `under_review`, `refused`, `rejected`, `reissued`, `deleted` or
    /// `matching`.
    pub status: String,
    /// NIK.
    pub nik: String,
    /// Full name.
    pub name: String,
    /// `male` or `female`, as in the enrolment request.
    pub sex: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// Submitting district.
    pub district: String,
    /// Submitting service point.
    pub service_point: String,
    /// When the enrolment was received, RFC 3339 UTC.
    pub enrolled_at: String,
    /// `WNI` or `WNA`.
    pub citizenship: String,
    /// Passport number (WNA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passport_number: Option<String>,
    /// KITAP number (WNA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kitap_number: Option<String>,
    /// Whether a photo is stored.
    pub has_photo: bool,
    /// Whether a signature is stored.
    pub has_signature: bool,
    /// The case about this person as applicant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    /// For a refused applicant or a re-issue: the person it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
}

/// `GET /v1/persons?nik=…`: the persons in the gallery holding a NIK (analysts and admins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PersonsByNikResponse {
    /// The NIK looked up.
    pub nik: String,
    /// The persons holding it, first enrolled first (reference id, status, `enrolled_at`
    /// and the rest of their metadata).
    pub persons: Vec<PersonResponse>,
}

/// `POST /v1/admin/keys` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// `service-point`, `analyst` or `admin`.
    pub role: String,
    /// Who holds the key (shown in the audit log).
    pub name: String,
    /// District `PPRRDD` (service-point keys only).
    #[serde(default)]
    pub district: Option<String>,
    /// Service point id (service-point keys only).
    #[serde(default)]
    pub service_point: Option<String>,
    /// The person the key is issued to (an identity such as an employee number; default:
    /// `name`). Four-eyes decisions need two different owners.
    #[serde(default)]
    pub owner: Option<String>,
    /// When the key stops working, seconds since the Unix epoch.
    #[serde(default)]
    pub expires_at: Option<u64>,
}

/// `POST /v1/admin/keys` answer: the key, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateKeyResponse {
    /// The bearer key. Only its SHA-256 is stored.
    pub key: String,
    /// Public key id (for the audit log and revocation).
    pub key_id: String,
}

/// `GET /health` and `GET /ready` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// `ok`, or `not_ready`.
    pub status: String,
    /// The engine's name.
    pub engine: String,
    /// Whether a real matching engine is wired (false until the gallery lands).
    pub engine_wired: bool,
    /// Human explanation.
    pub detail: String,
}

/// Times as answers carry them: RFC 3339 UTC text (every time in the API has this one
/// format); read back from RFC 3339 or, as answers of earlier releases were kept, epoch
/// seconds.
mod time_field {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(secs: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::clock::rfc3339(*secs))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        crate::clock::time_of(&value)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 time"))
    }
}

/// Scores as an answer carries them: matcher scores and iris distances to 4 decimals, fused
/// log-likelihood ratios to 2 (the precision that means something to a reader; the stored
/// and compared values keep full precision).
mod rounded {
    use serde::Serializer;

    fn to(x: f64, places: i32) -> f64 {
        let scale = 10f64.powi(places);
        (x * scale).round() / scale
    }

    /// A matcher score or distance, 4 decimals.
    pub fn unit<S: Serializer>(x: &f32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(to(f64::from(*x), 4))
    }

    /// A fused log-likelihood ratio, 2 decimals.
    pub fn llr<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(to(*x, 2))
    }

    /// An optional fused log-likelihood ratio, 2 decimals.
    pub fn opt_llr<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match x {
            Some(x) => s.serialize_some(&to(*x, 2)),
            None => s.serialize_none(),
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn scores_are_rounded_for_readers() {
            let c = super::super::FingerScoreOut {
                position: 1,
                score: 0.195_771_95,
            };
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                r#"{"position":1,"score":0.1958}"#
            );
            let v = super::super::VerifyResponse {
                request_id: "v".into(),
                matched: true,
                score: Some(31.256_789),
                threshold: 18.420_68,
                finger_scores: Vec::new(),
                iris_scores: Vec::new(),
                fingerprint_quality: Vec::new(),
                iris_quality: Vec::new(),
                decided_at: 1,
            };
            assert!(serde_json::to_string(&v)
                .unwrap()
                .contains(r#""score":31.26"#));
        }
    }
}
