//! Wire types: the JSON bodies of requests and responses, as clients write and read them.
//!
//! Enumerations that have their own reason code (`sex`, `citizenship`, `format`, `eye`,
//! `layout`) are plain strings here and are checked in [`super::validate`], so a wrong value
//! gets its precise reason instead of a generic JSON error.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One fingerprint as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FingerprintIn {
    /// Finger position 1–10 (1–5 right thumb to little finger, 6–10 left).
    pub position: i64,
    /// `iso19794-2` (ISO/IEC 19794-2:2005) or `ansi378` (ANSI INCITS 378-2004).
    pub format: String,
    /// Capture quality 0–100 reported by the service point.
    pub quality: i64,
    /// The minutiae record, standard base64.
    pub template: String,
}

/// One iris as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IrisIn {
    /// `left` or `right`.
    pub eye: String,
    /// Code layout: `daugman-2048` or `open-iris`.
    pub layout: String,
    /// Iris code bytes (little-endian words), standard base64.
    pub code: String,
    /// Mask bytes (1 = code bit valid), standard base64.
    pub mask: String,
}

/// `POST /v1/enrolments`: one person's enrolment record from a service point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
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
    /// `https://` URL to notify when a duplicate case is resolved (stored, not yet called).
    #[serde(default)]
    pub callback_url: Option<String>,
}

/// `POST /v1/identify`: a 1:N search with biometrics only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
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

/// `POST /v1/verify`: a 1:1 check of biometrics against the person enrolled under a NIK.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// Client-chosen idempotency key, 1–64 characters `A-Za-z0-9._-`.
    pub request_id: String,
    /// The claimed NIK.
    pub nik: String,
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

/// Answer to an enrolment (and to a retry with the same `request_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EnrolmentResponse {
    /// The request's `request_id`.
    pub request_id: String,
    /// `single`, `duplicate` or `rejected`.
    pub verdict: VerdictKind,
    /// Engine id of the enrolled person (`single`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<String>,
    /// Analyst case id (`duplicate`). Candidates are shown to analysts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    /// Why the engine rejected the record (`rejected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the first answer was produced (seconds since the Unix epoch).
    pub decided_at: u64,
}

/// One candidate of a 1:N search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CandidateOut {
    /// Engine id of the person.
    pub person_id: String,
    /// Fused similarity score (engine-defined scale, higher is more similar).
    pub score: f64,
}

/// Answer to an identification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IdentifyResponse {
    /// The request's `request_id`.
    pub request_id: String,
    /// Candidates, best first.
    pub candidates: Vec<CandidateOut>,
    /// When the first answer was produced (seconds since the Unix epoch).
    pub decided_at: u64,
}

/// Answer to a verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VerifyResponse {
    /// The request's `request_id`.
    pub request_id: String,
    /// Whether the biometrics match the person enrolled under the NIK.
    pub matched: bool,
    /// Fused similarity score; absent when no one is enrolled under the NIK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// When the first answer was produced (seconds since the Unix epoch).
    pub decided_at: u64,
}

/// Answer to a deletion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeleteResponse {
    /// Whether a person was enrolled under the NIK and is now removed.
    pub deleted: bool,
}

/// `POST /v1/admin/keys` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
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
