//! The JSON of OSIA's ABIS interface 1.4: encounters, biometric data, candidates, scores and
//! errors, spelled as the specification's component schemas spell them. Objects the
//! specification closes (`additionalProperties: false`) refuse unknown fields.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `Error`: the body of a 400 or 500 answer and of a failed asynchronous result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Error code (`docs/osia.md` lists them).
    pub code: i32,
    /// What went wrong.
    pub message: String,
}

/// `Encounter.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EncounterStatus {
    /// Searched by identification.
    Active,
    /// Kept, left out of identification results.
    Inactive,
}

impl EncounterStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
        }
    }

    /// Parses `ACTIVE` or `INACTIVE`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(Self::Active),
            "INACTIVE" => Some(Self::Inactive),
            _ => None,
        }
    }
}

/// `Encounter`: one capture session of a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Encounter {
    /// The encounter's id (set by the server on reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter_id: Option<String>,
    /// `ACTIVE` or `INACTIVE`.
    pub status: EncounterStatus,
    /// Free type of the encounter.
    pub encounter_type: String,
    /// Galleries the encounter belongs to (at least one, distinct, when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub galleries: Option<Vec<String>>,
    /// Opaque client data, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_data: Option<String>,
    /// Free contextual data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contextual_data: Option<Map<String, Value>>,
    /// Free biographic data (what identification filters compare).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biographic_data: Option<Map<String, Value>>,
    /// The biometric items.
    pub biometric_data: Vec<BiometricData>,
}

/// `BiometricType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum BiometricType {
    /// Face.
    Face,
    /// Finger.
    Finger,
    /// Iris.
    Iris,
    /// Signature.
    Signature,
    /// Unknown.
    Unknown,
}

impl BiometricType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Face => "FACE",
            Self::Finger => "FINGER",
            Self::Iris => "IRIS",
            Self::Signature => "SIGNATURE",
            Self::Unknown => "UNKNOWN",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Face,
            Self::Finger,
            Self::Iris,
            Self::Signature,
            Self::Unknown,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// `CompressionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Compression {
    /// Uncompressed (the container is read from the bytes: TIFF, BMP, PNG, ISO 19794-4).
    None,
    /// WSQ.
    Wsq,
    /// JPEG.
    Jpeg,
    /// JPEG 2000.
    Jpeg2000,
    /// PNG.
    Png,
}

/// `MissingType.presence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Presence {
    /// Bandaged.
    Bandaged,
    /// Amputated.
    Amputated,
    /// Damaged.
    Damaged,
}

/// `MissingType`: a part of the biometric that could not be captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Missing {
    /// The missing part (default: the item's own subtype).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biometric_sub_type: Option<String>,
    /// Why it is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<Presence>,
}

/// `BiometricData`: one biometric item, as an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BiometricData {
    /// The modality.
    pub biometric_type: BiometricType,
    /// The finger, eye or face view (`BiometricSubType`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biometric_sub_type: Option<String>,
    /// Separates two items of one type and subtype.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The image, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A URI of the image (not fetched by this ABIS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_ref: Option<String>,
    /// Capture date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_date: Option<String>,
    /// Capture device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_device: Option<String>,
    /// `ImpressionType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impression_type: Option<String>,
    /// Image width, pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    /// Image height, pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<i64>,
    /// Bits per pixel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitdepth: Option<i64>,
    /// Resolution, dots per inch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<i64>,
    /// The image's compression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<Compression>,
    /// Parts that could not be captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<Missing>>,
    /// Vendor-specific information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The body of `POST /v1/identify/{galleryId}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IdentifyBody {
    /// Biographic filter.
    pub filter: Map<String, Value>,
    /// The probe's biometric items.
    pub biometric_data: Vec<BiometricData>,
}

/// The body of `POST /v1/verify/{galleryId}/{personId}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyBody {
    /// The probe's biometric items.
    pub biometric_data: Vec<BiometricData>,
}

/// The body of `POST /v1/verify`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyTwoBody {
    /// The first set.
    #[serde(rename = "biometricData1")]
    pub biometric_data1: Vec<BiometricData>,
    /// The second set.
    #[serde(rename = "biometricData2")]
    pub biometric_data2: Vec<BiometricData>,
}

/// `ScoreDetail`: one comparison score and what it compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoreDetail {
    /// The score.
    pub score: f64,
    /// The encounter compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encounter_id: Option<String>,
    /// The modality (absent for the fused score of an encounter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biometric_type: Option<BiometricType>,
    /// The finger or eye (absent for the fused score of an encounter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biometric_sub_type: Option<&'static str>,
    /// For an eye: the normalised Hamming distance of the iris codes (its `score` is one
    /// minus it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance: Option<f64>,
}

/// `Candidate`: a person an identification found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CandidateOut {
    /// The person.
    pub person_id: String,
    /// 1 for the best candidate.
    pub rank: i32,
    /// The best fused score over the person's matching encounters.
    pub score: f64,
    /// Per encounter its fused score, then its per-finger scores.
    pub score_list: Vec<ScoreDetail>,
}

/// The answer of a verification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyOut {
    /// Whether the two sides are the same person.
    pub decision: bool,
    /// The fused score, then the per-finger scores.
    pub scores: Vec<ScoreDetail>,
}

/// `BiometricComputedData`: a template the ABIS computed from an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputedOut {
    /// `FINGER`.
    pub biometric_type: BiometricType,
    /// The finger.
    pub biometric_sub_type: String,
    /// The item's instance, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The template, base64.
    pub template: String,
    /// `ISO_19794_2`, `ISO_19794_2_2011` or `ANSI_378`.
    pub template_format: String,
    /// The extractor's quality, 0–100.
    pub quality: i64,
    /// `ISO_19794` (0–100).
    pub quality_format: String,
    /// `Tunggal`.
    pub vendor: String,
    /// The extractor and matcher generation.
    pub algorithm: String,
}

/// The finger subtypes of `BiometricSubType` with their ISO finger position (1–10).
pub const FINGER_SUB_TYPES: [(&str, u8); 10] = [
    ("RIGHT_THUMB", 1),
    ("RIGHT_INDEX", 2),
    ("RIGHT_MIDDLE", 3),
    ("RIGHT_RING", 4),
    ("RIGHT_LITTLE", 5),
    ("LEFT_THUMB", 6),
    ("LEFT_INDEX", 7),
    ("LEFT_MIDDLE", 8),
    ("LEFT_RING", 9),
    ("LEFT_LITTLE", 10),
];

/// Every other value of `BiometricSubType` (multi-finger, palm, eye and face views).
pub const OTHER_SUB_TYPES: [&str; 37] = [
    "UNKNOWN",
    "PLAIN_RIGHT_FOUR_FINGERS",
    "PLAIN_LEFT_FOUR_FINGERS",
    "PLAIN_THUMBS",
    "UNKNOWN_PALM",
    "RIGHT_FULL_PALM",
    "RIGHT_WRITERS_PALM",
    "LEFT_FULL_PALM",
    "LEFT_WRITERS_PALM",
    "RIGHT_LOWER_PALM",
    "RIGHT_UPPER_PALM",
    "LEFT_LOWER_PALM",
    "LEFT_UPPER_PALM",
    "RIGHT_OTHER",
    "LEFT_OTHER",
    "RIGHT_INTERDIGITAL",
    "RIGHT_THENAR",
    "LEFT_INTERDIGITAL",
    "LEFT_THENAR",
    "LEFT_HYPOTHENAR",
    "RIGHT_INDEX_AND_MIDDLE",
    "RIGHT_MIDDLE_AND_RING",
    "RIGHT_RING_AND_LITTLE",
    "LEFT_INDEX_AND_MIDDLE",
    "LEFT_MIDDLE_AND_RING",
    "LEFT_RING_AND_LITTLE",
    "RIGHT_INDEX_AND_LEFT_INDEX",
    "RIGHT_INDEX_AND_MIDDLE_AND_RING",
    "RIGHT_MIDDLE_AND_RING_AND_LITTLE",
    "LEFT_INDEX_AND_MIDDLE_AND_RING",
    "LEFT_MIDDLE_AND_RING_AND_LITTLE",
    "EYE_UNDEF",
    "EYE_RIGHT",
    "EYE_LEFT",
    "PORTRAIT",
    "LEFT_PROFILE",
    "RIGHT_PROFILE",
];

/// The values of `ImpressionType`.
pub const IMPRESSION_TYPES: [&str; 19] = [
    "LIVE_SCAN_PLAIN",
    "LIVE_SCAN_ROLLED",
    "NONLIVE_SCAN_PLAIN",
    "NONLIVE_SCAN_ROLLED",
    "LATENT_IMPRESSION",
    "LATENT_TRACING",
    "LATENT_PHOTO",
    "LATENT_LIFT",
    "LIVE_SCAN_SWIPE",
    "LIVE_SCAN_VERTICAL_ROLL",
    "LIVE_SCAN_PALM",
    "NONLIVE_SCAN_PALM",
    "LATENT_PALM_IMPRESSION",
    "LATENT_PALM_TRACING",
    "LATENT_PALM_PHOTO",
    "LATENT_PALM_LIFT",
    "LIVE_SCAN_OPTICAL_CONTACTLESS_PLAIN",
    "OTHER",
    "UNKNOWN",
];

/// The ISO finger position of a finger subtype.
pub fn finger_position(sub_type: &str) -> Option<u8> {
    FINGER_SUB_TYPES
        .iter()
        .find(|(name, _)| *name == sub_type)
        .map(|(_, p)| *p)
}

/// The subtype of ISO finger position `position` (1–10).
pub fn finger_sub_type(position: u8) -> &'static str {
    FINGER_SUB_TYPES
        .iter()
        .find(|(_, p)| *p == position)
        .map_or("UNKNOWN", |(name, _)| name)
}

/// Whether `s` is a value of `BiometricSubType`.
pub fn is_sub_type(s: &str) -> bool {
    finger_position(s).is_some() || OTHER_SUB_TYPES.contains(&s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finger_sub_types_round_trip_and_others_are_known() {
        for p in 1..=10u8 {
            assert_eq!(finger_position(finger_sub_type(p)), Some(p));
        }
        assert!(is_sub_type("EYE_LEFT"));
        assert!(is_sub_type("LEFT_LITTLE"));
        assert!(!is_sub_type("LEFT_PINKY"));
        assert_eq!(finger_position("PLAIN_THUMBS"), None);
    }

    #[test]
    fn closed_objects_refuse_unknown_fields() {
        let ok = r#"{"status":"ACTIVE","encounterType":"x","biometricData":[
            {"biometricType":"FINGER","biometricSubType":"RIGHT_THUMB","missing":[{"presence":"AMPUTATED"}]}]}"#;
        let e: Encounter = serde_json::from_str(ok).unwrap();
        assert_eq!(e.biometric_data[0].missing.as_ref().unwrap().len(), 1);
        let extra = r#"{"status":"ACTIVE","encounterType":"x","biometricData":[],"nik":"1"}"#;
        assert!(serde_json::from_str::<Encounter>(extra).is_err());
        let bad_status = r#"{"status":"GONE","encounterType":"x","biometricData":[]}"#;
        assert!(serde_json::from_str::<Encounter>(bad_status).is_err());
    }
}
