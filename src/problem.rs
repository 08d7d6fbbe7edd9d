//! RFC 9457 problem details: every error the service returns, with a stable `reason` code.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The stable, machine-readable cause of a failed request (the `reason` member of a problem).
///
/// The wire spelling is the snake_case variant name; the table in the [module
/// documentation](super) lists each with its HTTP status.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The body is not JSON or does not have the shape of the request.
    MalformedJson,
    /// The body has a member the request does not define (a misspelt or unsupported field
    /// is refused rather than silently ignored).
    UnknownField,
    /// The request line or a header cannot be parsed (for example an invalid `Content-Length`).
    MalformedRequest,
    /// The request URI is too long.
    UriTooLong,
    /// The request has too many headers, or they are too large.
    HeadersTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// `request_id` is empty, too long or uses characters other than `A-Za-z0-9._-`.
    InvalidRequestId,
    /// The NIK is not 16 ASCII digits.
    NikMalformed,
    /// The NIK's province code is unknown or its regency/district code is 00.
    NikInvalidRegion,
    /// The NIK's DDMMYY field is not a date (women: day + 40).
    NikInvalidDate,
    /// The NIK's serial is 0000.
    NikInvalidSerial,
    /// The NIK disagrees with `sex` or `date_of_birth`.
    NikMismatch,
    /// `name` is empty, too long or holds control characters.
    InvalidName,
    /// `reference_id` is not a reference id (`P` and ten digits).
    InvalidReferenceId,
    /// `sex` is neither `male` nor `female`.
    InvalidSex,
    /// `date_of_birth` is not `YYYY-MM-DD`, before 1900 or in the future.
    InvalidDateOfBirth,
    /// `district` is not a 6-digit `PPRRDD` code of a known province.
    InvalidDistrictCode,
    /// `service_point` is empty, too long or uses characters other than `A-Za-z0-9._-`.
    InvalidServicePoint,
    /// `citizenship` is neither `WNI` nor `WNA`.
    UnknownCitizenship,
    /// A `WNA` record lacks its passport or KITAP number.
    MissingWnaDocuments,
    /// A `WNI` record carries a passport or KITAP number.
    UnexpectedWnaDocuments,
    /// The passport number is not 6–12 characters `A-Z0-9`.
    InvalidPassportNumber,
    /// The KITAP number is not 8–20 characters `A-Z0-9`.
    InvalidKitapNumber,
    /// A field that must be standard base64 is not.
    BadBase64,
    /// A fingerprint `format` other than `iso19794-2` or `ansi378`.
    UnknownTemplateFormat,
    /// The template bytes are of the other format than the one declared.
    TemplateFormatMismatch,
    /// The template ends before its header or length field says it does.
    TemplateTruncated,
    /// The template's structure or a field value is invalid.
    TemplateMalformed,
    /// The template is not a finger minutiae record (`FMR\0 20\0`).
    TemplateUnknownRecord,
    /// The template holds no finger view or a view without minutiae.
    TemplateEmpty,
    /// The template's finger view is for another finger than `position`.
    FingerPositionMismatch,
    /// A finger `position` outside 1–10.
    UnknownFingerPosition,
    /// Two fingerprints with the same `position`.
    DuplicateFingerPosition,
    /// Fewer fingerprints than the operation needs.
    TooFewFingers,
    /// More than ten fingerprints or two irises.
    TooManyTemplates,
    /// A fingerprint `quality` above 100.
    InvalidQuality,
    /// An iris `eye` other than `left` or `right`.
    UnknownIrisEye,
    /// Two irises for the same eye.
    DuplicateIrisEye,
    /// An iris `layout` other than `daugman-2048` or `open-iris`.
    UnknownIrisLayout,
    /// Iris code or mask has the wrong size for its layout.
    IrisWrongLength,
    /// Too few unmasked iris bits to compare.
    IrisUnusable,
    /// A fingerprint has both or neither of a template (`format`, `quality`, `template`) and
    /// an `image`.
    InvalidFingerprintForm,
    /// A fingerprint image ends before its header or data says it does.
    ImageTruncated,
    /// A fingerprint image is over 16 MiB or claims more than 2,000 pixels a side.
    ImageTooLarge,
    /// A fingerprint image's header gives a width or height of zero.
    ImageEmpty,
    /// A JPEG image (fingerprint or eye) has more than 64 scans.
    JpegTooManyScans,
    /// The scans of a JPEG image (fingerprint or eye) would visit more than 32 × 4,000,000
    /// samples in all.
    JpegWorkOverBudget,
    /// A fingerprint image `format` other than `wsq`, `png`, `tiff`, `bmp`, `jp2` or
    /// `iso19794-4`, or a feature of that format the decoder does not support.
    ImageUnsupportedFormat,
    /// A fingerprint image's pixels have no faithful 8-bit grey form (for example CMYK).
    ImageUnsupportedPixels,
    /// A fingerprint image's content is inconsistent with its format.
    ImageCorrupt,
    /// A fingerprint image's resolution (`ppi` or the record's) is outside 250–2000 ppi.
    ImageResolutionOutOfRange,
    /// A fingerprint image at 500 ppi is under 64 or over 2,048 pixels a side.
    ImageDimensionsOutOfRange,
    /// A fingerprint image fails the enrolment rule (too little area, too few minutiae or too
    /// unclear); the detail names the extractor's reason.
    FingerUnusable,
    /// An iris has both or neither of a code (`layout`, `code`, `mask`) and an `image`.
    InvalidIrisForm,
    /// An eye image is under 96 or over 2,000 pixels a side.
    IrisImageSize,
    /// An ISO/IEC 19794-6 record holds no image of the iris's eye (nor one of an unstated
    /// eye), or only unsegmented polar images.
    IrisEyeMismatch,
    /// Identify or verify, nothing else left to compare: no pupil found in the eye image.
    IrisPupilNotFound,
    /// Identify or verify, nothing else left to compare: no limbus found around the pupil.
    IrisLimbusNotFound,
    /// Identify or verify, nothing else left to compare: pupil and limbus do not form a
    /// plausible eye.
    IrisGeometryImplausible,
    /// Identify or verify, nothing else left to compare: too little of the iris is visible.
    IrisOccluded,
    /// Identify or verify, nothing else left to compare: the iris is out of focus.
    IrisOutOfFocus,
    /// An identify or verify request without any fingerprint or iris.
    NoBiometrics,
    /// A photo or signature above the size limit.
    AttachmentTooLarge,
    /// `callback_url` is not an `https://` URL of at most 2048 characters.
    InvalidCallbackUrl,
    /// `callback_url` names a host that is not on the service point's callback allow-list.
    CallbackHostNotAllowed,
    /// The body exceeds the configured limit.
    BodyTooLarge,
    /// No valid bearer API key.
    Unauthorized,
    /// The bearer API key was revoked (or replaced by a rotation).
    KeyRevoked,
    /// The bearer API key is past its expiry time.
    KeyExpired,
    /// The key's role may not do this, or not for this district or service point.
    Forbidden,
    /// No such route or record.
    NotFound,
    /// No enrolled person has this reference id.
    PersonNotFound,
    /// The person was deleted from the gallery (a second `DELETE` answers this).
    PersonDeleted,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// The `request_id` was used before with a different body.
    IdempotencyConflict,
    /// The `request_id` is being processed; retry later for its answer.
    RequestInProgress,
    /// Several service points submitted this `request_id`: name the district and service
    /// point.
    AmbiguousRequestId,
    /// The matching queue is full; retry after `Retry-After` seconds.
    QueueFull,
    /// The request did not finish within the configured time.
    RequestTimeout,
    /// The request body did not arrive within the configured body-read time.
    BodyTimeout,
    /// The connection limits are reached (per client address, or every slot busy), or a
    /// reserve connection's request is neither a probe nor authenticated; retry later.
    TooManyConnections,
    /// No matching engine is wired into this server (the gallery is not built yet).
    EngineNotWired,
    /// The matching engine failed or is unavailable.
    EngineUnavailable,
    /// The data directory's disk is (nearly) full: nothing was stored; retry later.
    InsufficientStorage,
    /// The background integrity check found the state store damaged: nothing is written
    /// until an operator restores it.
    StateDamaged,
    /// A role in a key request is not `service-point`, `analyst` or `admin`.
    UnknownRole,
    /// A key request is inconsistent (service-point keys need district and service point).
    InvalidKeyRequest,
    /// A query parameter is unknown or its value is invalid.
    InvalidQuery,
    /// An unexpected server-side failure (details are in the server log).
    Internal,
}

impl Reason {
    /// The HTTP status this reason is answered with.
    pub fn status(self) -> StatusCode {
        use Reason::*;
        match self {
            MalformedJson
            | UnknownField
            | MalformedRequest
            | CallbackHostNotAllowed
            | InvalidQuery => StatusCode::BAD_REQUEST,
            UriTooLong => StatusCode::URI_TOO_LONG,
            HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Unauthorized | KeyRevoked | KeyExpired => StatusCode::UNAUTHORIZED,
            Forbidden => StatusCode::FORBIDDEN,
            NotFound | PersonNotFound => StatusCode::NOT_FOUND,
            PersonDeleted => StatusCode::GONE,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            IdempotencyConflict | RequestInProgress | AmbiguousRequestId => StatusCode::CONFLICT,
            QueueFull | RequestTimeout | EngineNotWired | EngineUnavailable
            | TooManyConnections | StateDamaged => StatusCode::SERVICE_UNAVAILABLE,
            BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// A short human title, the same for every occurrence of the reason.
    pub fn title(self) -> &'static str {
        use Reason::*;
        match self {
            MalformedJson => "Malformed JSON body",
            UnknownField => "Unknown field in the body",
            MalformedRequest => "Malformed request",
            UriTooLong => "Request URI too long",
            HeadersTooLarge => "Request headers too large",
            UnsupportedMediaType => "Body must be application/json",
            InvalidRequestId => "Invalid request_id",
            NikMalformed => "NIK is not 16 digits",
            NikInvalidRegion => "NIK region code is invalid",
            NikInvalidDate => "NIK birth date is invalid",
            NikInvalidSerial => "NIK serial is invalid",
            NikMismatch => "NIK disagrees with the demographics",
            InvalidName => "Invalid name",
            InvalidReferenceId => "Invalid reference id",
            InvalidSex => "Invalid sex",
            InvalidDateOfBirth => "Invalid date of birth",
            InvalidDistrictCode => "Invalid district code",
            InvalidServicePoint => "Invalid service point id",
            UnknownCitizenship => "Unknown citizenship",
            MissingWnaDocuments => "Foreign resident documents missing",
            UnexpectedWnaDocuments => "Foreign resident documents on a citizen record",
            InvalidPassportNumber => "Invalid passport number",
            InvalidKitapNumber => "Invalid KITAP number",
            BadBase64 => "Invalid base64",
            UnknownTemplateFormat => "Unknown fingerprint template format",
            TemplateFormatMismatch => "Fingerprint template is of another format",
            TemplateTruncated => "Fingerprint template is truncated",
            TemplateMalformed => "Fingerprint template is malformed",
            TemplateUnknownRecord => "Not a finger minutiae record",
            TemplateEmpty => "Fingerprint template holds no minutiae",
            FingerPositionMismatch => "Fingerprint template is for another finger",
            UnknownFingerPosition => "Unknown finger position",
            DuplicateFingerPosition => "Duplicate finger position",
            TooFewFingers => "Too few fingerprints",
            TooManyTemplates => "Too many templates",
            InvalidQuality => "Invalid quality",
            UnknownIrisEye => "Unknown iris eye",
            DuplicateIrisEye => "Duplicate iris eye",
            UnknownIrisLayout => "Unknown iris layout",
            IrisWrongLength => "Iris code or mask has the wrong length",
            IrisUnusable => "Iris template is unusable",
            InvalidFingerprintForm => "Fingerprint needs a template or an image",
            ImageTruncated => "Fingerprint image is truncated",
            ImageTooLarge => "Fingerprint image too large",
            ImageEmpty => "Fingerprint image is empty",
            JpegTooManyScans => "JPEG image has too many scans",
            JpegWorkOverBudget => "JPEG image needs too much decoding work",
            ImageUnsupportedFormat => "Unsupported fingerprint image format",
            ImageUnsupportedPixels => "Unsupported fingerprint image pixels",
            ImageCorrupt => "Fingerprint image is corrupt",
            ImageResolutionOutOfRange => "Fingerprint image resolution out of range",
            ImageDimensionsOutOfRange => "Fingerprint image size out of range",
            FingerUnusable => "Fingerprint image is unusable",
            InvalidIrisForm => "Iris needs a code or an image",
            IrisImageSize => "Eye image size out of range",
            IrisEyeMismatch => "Iris record holds no image of this eye",
            IrisPupilNotFound => "Pupil not found in the eye image",
            IrisLimbusNotFound => "Limbus not found in the eye image",
            IrisGeometryImplausible => "Implausible iris geometry",
            IrisOccluded => "Iris too occluded",
            IrisOutOfFocus => "Iris out of focus",
            NoBiometrics => "No biometrics",
            AttachmentTooLarge => "Attachment too large",
            InvalidCallbackUrl => "Invalid callback URL",
            CallbackHostNotAllowed => "Callback host not allowed",
            BodyTooLarge => "Request body too large",
            Unauthorized => "Missing or invalid API key",
            KeyRevoked => "API key revoked",
            KeyExpired => "API key expired",
            Forbidden => "Not allowed for this API key",
            NotFound => "Not found",
            PersonNotFound => "No such person",
            PersonDeleted => "Person deleted",
            MethodNotAllowed => "Method not allowed",
            IdempotencyConflict => "request_id reused with a different body",
            RequestInProgress => "request_id is being processed",
            AmbiguousRequestId => "request_id used by several service points",
            QueueFull => "Matching queue is full",
            RequestTimeout => "Request timed out",
            BodyTimeout => "Request body too slow",
            TooManyConnections => "Too many connections",
            EngineNotWired => "Matching engine not wired",
            EngineUnavailable => "Matching engine unavailable",
            InsufficientStorage => "Insufficient storage",
            StateDamaged => "State store damaged",
            UnknownRole => "Unknown role",
            InvalidKeyRequest => "Invalid key request",
            InvalidQuery => "Invalid query parameter",
            Internal => "Internal error",
        }
    }

    /// Every reason, in declaration order, for documentation and tests.
    pub fn all() -> &'static [Reason] {
        <Reason as strum::VariantArray>::VARIANTS
    }

    /// The wire spelling (`bad_base64`, …).
    pub fn code(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// An `application/problem+json` body (RFC 9457) with Tunggal's `reason` extension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// `urn:tunggal:problem:<reason>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short title, fixed per reason.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What exactly is wrong and where (never echoes biometric data or the NIK).
    pub detail: String,
    /// Stable machine-readable reason code.
    pub reason: Reason,
    /// JSON pointer to the offending field (e.g. `/fingerprints/3/template`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Seconds to wait before retrying (also sent as `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem for `reason` with a detail message.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:tunggal:problem:{}", reason.code()),
            title: reason.title().to_owned(),
            status: reason.status().as_u16(),
            detail: detail.into(),
            reason,
            pointer: None,
            retry_after: None,
        }
    }

    /// Points the problem at a field.
    pub fn at(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }

    /// Asks the client to retry after `seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason.code(), self.detail)
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_a_distinct_snake_case_code() {
        let codes: std::collections::HashSet<String> =
            Reason::all().iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Reason::all().len());
        assert!(codes.contains("bad_base64"));
        assert!(codes.iter().all(|c| !c.is_empty() && !c.contains(' ')));
    }

    #[test]
    fn problem_carries_status_and_type() {
        let p = Problem::new(Reason::QueueFull, "full").retry_after(2);
        assert_eq!(p.status, 503);
        assert_eq!(p.kind, "urn:tunggal:problem:queue_full");
        let response = p.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}

#[cfg(test)]
mod docs_tests {
    use super::Reason;

    #[test]
    fn docs_list_every_reason() {
        let docs = include_str!("../docs/service.md");
        for reason in Reason::all() {
            let row = format!("| `{}` | {} |", reason.code(), reason.status().as_u16());
            assert!(docs.contains(&row), "docs/service.md lacks {row}");
        }
    }
}
