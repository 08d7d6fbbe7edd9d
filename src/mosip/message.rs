//! MOSIP ABIS messages (API specification 0.9, message version 1.1): the requests on the
//! inbound queue, the responses on the outbound queue, and the failure reasons.
//!
//! A request is read field by field from a JSON object rather than into a strict struct, so
//! that each missing or malformed field is answered with its own failure reason (and the
//! `requestId`, when present, is echoed even when the rest is wrong).

use serde::Serialize;
use serde_json::{Map, Value};

/// `returnValue` of a success.
pub const RETURN_SUCCESS: &str = "1";
/// `returnValue` of a failure.
pub const RETURN_FAILED: &str = "2";

/// The message version this adapter speaks.
pub const VERSION: &str = "1.1";

/// `failureReason` codes, exactly as the MOSIP ABIS specification numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// 1: internal error, unknown.
    InternalError = 1,
    /// 2: aborted.
    Aborted = 2,
    /// 3: unexpected error.
    UnexpectedError = 3,
    /// 4: unable to serve the request: invalid request structure.
    InvalidRequestStructure = 4,
    /// 5: missing referenceId.
    MissingReferenceId = 5,
    /// 6: missing requestId.
    MissingRequestId = 6,
    /// 7: unable to fetch biometric details (from referenceURL).
    UnableToFetchBiometrics = 7,
    /// 8: missing referenceURL.
    MissingReferenceUrl = 8,
    /// 9: missing requesttime.
    MissingRequestTime = 9,
    /// 10: referenceId already exists in the ABIS.
    ReferenceIdAlreadyExists = 10,
    /// 11: the CBEFF has no data.
    CbeffHasNoData = 11,
    /// 12: referenceId not found in the ABIS.
    ReferenceIdNotFound = 12,
    /// 13: invalid version.
    InvalidVersion = 13,
    /// 14: invalid id.
    InvalidId = 14,
    /// 15: invalid requesttime format.
    InvalidRequestTimeFormat = 15,
    /// 16: invalid CBEFF format.
    InvalidCbeffFormat = 16,
    /// 17: the datashare URL has expired.
    DatashareUrlExpired = 17,
    /// 18: biometric quality check failed.
    BiometricQualityCheckFailed = 18,
}

impl FailureReason {
    /// Every reason, by code.
    pub const ALL: [FailureReason; 18] = [
        Self::InternalError,
        Self::Aborted,
        Self::UnexpectedError,
        Self::InvalidRequestStructure,
        Self::MissingReferenceId,
        Self::MissingRequestId,
        Self::UnableToFetchBiometrics,
        Self::MissingReferenceUrl,
        Self::MissingRequestTime,
        Self::ReferenceIdAlreadyExists,
        Self::CbeffHasNoData,
        Self::ReferenceIdNotFound,
        Self::InvalidVersion,
        Self::InvalidId,
        Self::InvalidRequestTimeFormat,
        Self::InvalidCbeffFormat,
        Self::DatashareUrlExpired,
        Self::BiometricQualityCheckFailed,
    ];

    /// The code sent as `failureReason`.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The specification's wording.
    pub fn description(self) -> &'static str {
        match self {
            Self::InternalError => "internal error - unknown",
            Self::Aborted => "aborted",
            Self::UnexpectedError => "unexpected error",
            Self::InvalidRequestStructure => {
                "unable to serve the request - invalid request structure"
            }
            Self::MissingReferenceId => "missing referenceId",
            Self::MissingRequestId => "missing requestId",
            Self::UnableToFetchBiometrics => "unable to fetch biometric details",
            Self::MissingReferenceUrl => "missing referenceURL",
            Self::MissingRequestTime => "missing requesttime",
            Self::ReferenceIdAlreadyExists => "referenceId already exists",
            Self::CbeffHasNoData => "CBEFF has no data",
            Self::ReferenceIdNotFound => "referenceId not found",
            Self::InvalidVersion => "invalid version",
            Self::InvalidId => "invalid id",
            Self::InvalidRequestTimeFormat => "invalid requesttime format",
            Self::InvalidCbeffFormat => "invalid CBEFF format",
            Self::DatashareUrlExpired => "datashare URL expired",
            Self::BiometricQualityCheckFailed => "biometric quality check failed",
        }
    }
}

/// The operations of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `mosip.abis.insert`.
    Insert,
    /// `mosip.abis.identify`.
    Identify,
    /// `mosip.abis.delete`.
    Delete,
    /// `mosip.abis.ping`.
    Ping,
    /// `mosip.abis.pendingJobs`.
    PendingJobs,
    /// `mosip.abis.referenceCount`.
    ReferenceCount,
}

impl Operation {
    /// The operation named by a request's `id`.
    pub fn from_id(id: &str) -> Option<Self> {
        Some(match id {
            "mosip.abis.insert" => Self::Insert,
            "mosip.abis.identify" => Self::Identify,
            "mosip.abis.delete" => Self::Delete,
            "mosip.abis.ping" => Self::Ping,
            "mosip.abis.pendingJobs" => Self::PendingJobs,
            "mosip.abis.referenceCount" => Self::ReferenceCount,
            _ => return None,
        })
    }

    /// The `id` of the operation.
    pub fn id(self) -> &'static str {
        match self {
            Self::Insert => "mosip.abis.insert",
            Self::Identify => "mosip.abis.identify",
            Self::Delete => "mosip.abis.delete",
            Self::Ping => "mosip.abis.ping",
            Self::PendingJobs => "mosip.abis.pendingJobs",
            Self::ReferenceCount => "mosip.abis.referenceCount",
        }
    }
}

/// Options of an identify request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdentifyFlags {
    /// `flags.maxResults`.
    pub max_results: Option<usize>,
    /// `flags.targetFPIR`: −10·log10 of the target FPIR.
    pub target_fpir: Option<f64>,
}

/// A checked request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The operation.
    pub operation: Operation,
    /// `requestId`, echoed in the response.
    pub request_id: String,
    /// `referenceId` (insert, identify, delete).
    pub reference_id: Option<String>,
    /// `referenceURL` (insert; identify's `referenceUrl` when no `referenceId` is given).
    pub reference_url: Option<String>,
    /// Identify options.
    pub flags: IdentifyFlags,
    /// Identify's `gallery.referenceIds`.
    pub gallery: Option<Vec<String>>,
}

/// A request refused before it ran: the reason, and what can be echoed.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    /// The request's `id` when it named an operation.
    pub id: Option<String>,
    /// The request's `requestId` when it had one.
    pub request_id: Option<String>,
    /// Why.
    pub reason: FailureReason,
}

fn text(obj: &Map<String, Value>, name: &str) -> Option<String> {
    match obj.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Whether `t` is an ISO 8601 date-time with a UTC offset, as `requesttime` is sent
/// (`2020-03-29T07:01:24.692Z`).
pub fn valid_request_time(t: &str) -> bool {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).is_ok()
}

/// Reads and checks a request body.
pub fn parse(body: &[u8]) -> Result<Request, Refused> {
    let refuse = |id: Option<String>, request_id: Option<String>, reason| Refused {
        id,
        request_id,
        reason,
    };
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
        return Err(refuse(None, None, FailureReason::InvalidRequestStructure));
    };
    let request_id = text(&obj, "requestId");
    let id = text(&obj, "id");
    let Some(operation) = id.as_deref().and_then(Operation::from_id) else {
        return Err(refuse(id, request_id, FailureReason::InvalidId));
    };
    let id = Some(operation.id().to_owned());
    let Some(request_id) = request_id else {
        return Err(refuse(id, None, FailureReason::MissingRequestId));
    };
    let fail = |reason| Err(refuse(id.clone(), Some(request_id.clone()), reason));
    // The specification's examples name the version `ver`; MOSIP's middleware sends
    // `version`.
    let version = obj.get("ver").or_else(|| obj.get("version"));
    match version {
        None | Some(Value::Null) => {}
        Some(Value::String(v)) if v == VERSION => {}
        Some(_) => return fail(FailureReason::InvalidVersion),
    }
    match obj.get("requesttime") {
        None | Some(Value::Null) => return fail(FailureReason::MissingRequestTime),
        Some(Value::String(t)) if t.trim().is_empty() => {
            return fail(FailureReason::MissingRequestTime)
        }
        Some(Value::String(t)) if valid_request_time(t) => {}
        Some(_) => return fail(FailureReason::InvalidRequestTimeFormat),
    }
    let reference_id = text(&obj, "referenceId");
    let reference_url = text(&obj, "referenceURL").or_else(|| text(&obj, "referenceUrl"));
    let mut flags = IdentifyFlags::default();
    let mut gallery = None;
    match operation {
        Operation::Insert => {
            if reference_id.is_none() {
                return fail(FailureReason::MissingReferenceId);
            }
            if reference_url.is_none() {
                return fail(FailureReason::MissingReferenceUrl);
            }
        }
        Operation::Delete if reference_id.is_none() => {
            return fail(FailureReason::MissingReferenceId)
        }
        Operation::Identify => {
            if reference_id.is_none() && reference_url.is_none() {
                return fail(FailureReason::MissingReferenceId);
            }
            match obj.get("flags") {
                None | Some(Value::Null) => {}
                Some(Value::Object(f)) => match read_flags(f) {
                    Some(f) => flags = f,
                    None => return fail(FailureReason::InvalidRequestStructure),
                },
                Some(_) => return fail(FailureReason::InvalidRequestStructure),
            }
            match obj.get("gallery") {
                None | Some(Value::Null) => {}
                Some(g) => match read_gallery(g) {
                    Some(ids) => gallery = Some(ids),
                    None => return fail(FailureReason::InvalidRequestStructure),
                },
            }
        }
        _ => {}
    }
    Ok(Request {
        operation,
        request_id,
        reference_id,
        reference_url,
        flags,
        gallery,
    })
}

/// A flag given as a number or a numeric string.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn read_flags(f: &Map<String, Value>) -> Option<IdentifyFlags> {
    let mut flags = IdentifyFlags::default();
    if let Some(v) = f.get("maxResults").filter(|v| !v.is_null()) {
        let n = number(v)?;
        if n.is_nan() || n < 1.0 || n.fract() != 0.0 {
            return None;
        }
        flags.max_results = Some(n.min(1e6) as usize);
    }
    if let Some(v) = f.get("targetFPIR").filter(|v| !v.is_null()) {
        let t = number(v)?;
        if !t.is_finite() || t <= 0.0 || t > 200.0 {
            return None;
        }
        flags.target_fpir = Some(t);
    }
    // Other flags are agreed per deployment; none is known here, and they are ignored.
    Some(flags)
}

fn read_gallery(g: &Value) -> Option<Vec<String>> {
    let ids = g.get("referenceIds")?.as_array()?;
    ids.iter()
        .map(|r| match r {
            Value::Object(o) => text(o, "referenceId"),
            _ => None,
        })
        .collect()
}

/// The FPIR of a `targetFPIR` flag (−10·log10 FPIR).
pub fn fpir_of(target: f64) -> f64 {
    10f64.powf(-target / 10.0)
}

/// A response on the outbound queue. Counts and codes are strings, as the specification's
/// parameter table types them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// The request's `id`.
    pub id: String,
    /// The request's `requestId`.
    pub request_id: String,
    /// When the response was made, `yyyy-MM-ddTHH:mm:ss.SSSZ`.
    pub responsetime: String,
    /// `1` success, `2` failure.
    pub return_value: String,
    /// The failure reason code of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// pendingJobs: requests received and not yet answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobscount: Option<String>,
    /// referenceCount: persons inserted and not deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<String>,
    /// identify: the candidates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_list: Option<CandidateList>,
}

/// Identify's `candidateList`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateList {
    /// Number of candidates.
    pub count: String,
    /// The candidates, best first.
    pub candidates: Vec<CandidateOut>,
}

/// One candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CandidateOut {
    /// The candidate's referenceId.
    pub reference_id: String,
    /// Overall analytics.
    pub analytics: Map<String, Value>,
    /// Analytics per modality.
    pub modalities: Vec<ModalityOut>,
}

/// Analytics of one modality.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModalityOut {
    /// `FIR`, `IIR` or `FACE`.
    pub biometric_type: String,
    /// Key-value analytics.
    pub analytics: Map<String, Value>,
}

/// The current time as `responsetime` (UTC, milliseconds).
pub fn response_time() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&fmt).unwrap_or_default()
}

impl Response {
    /// A success of `operation` for `request_id`.
    pub fn success(operation: Operation, request_id: &str) -> Self {
        Self {
            id: operation.id().to_owned(),
            request_id: request_id.to_owned(),
            responsetime: response_time(),
            return_value: RETURN_SUCCESS.to_owned(),
            failure_reason: None,
            jobscount: None,
            count: None,
            candidate_list: None,
        }
    }

    /// A failure with `reason`.
    pub fn failure(id: &str, request_id: &str, reason: FailureReason) -> Self {
        Self {
            id: id.to_owned(),
            request_id: request_id.to_owned(),
            responsetime: response_time(),
            return_value: RETURN_FAILED.to_owned(),
            failure_reason: Some(reason.code().to_string()),
            jobscount: None,
            count: None,
            candidate_list: None,
        }
    }

    /// The failure answering a refused request.
    pub fn refused(r: &Refused) -> Self {
        Self::failure(
            r.id.as_deref().unwrap_or("mosip.abis.unknown"),
            r.request_id.as_deref().unwrap_or(""),
            r.reason,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(body: &str) -> FailureReason {
        parse(body.as_bytes()).unwrap_err().reason
    }

    #[test]
    fn codes_are_the_specifications() {
        let codes: Vec<u8> = FailureReason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes, (1..=18).collect::<Vec<u8>>());
        assert_eq!(FailureReason::ReferenceIdAlreadyExists.code(), 10);
        assert_eq!(FailureReason::ReferenceIdNotFound.code(), 12);
        assert_eq!(FailureReason::DatashareUrlExpired.code(), 17);
    }

    #[test]
    fn each_malformed_field_has_its_reason() {
        let t = r#""requesttime":"2020-03-29T07:01:24.692Z""#;
        assert_eq!(reason("[1]"), FailureReason::InvalidRequestStructure);
        assert_eq!(reason("{"), FailureReason::InvalidRequestStructure);
        assert_eq!(
            reason(&format!(
                r#"{{"id":"mosip.abis.nope","requestId":"r",{t}}}"#
            )),
            FailureReason::InvalidId
        );
        assert_eq!(
            reason(&format!(r#"{{"id":"mosip.abis.ping",{t}}}"#)),
            FailureReason::MissingRequestId
        );
        assert_eq!(
            reason(&format!(
                r#"{{"id":"mosip.abis.ping","ver":"9.9","requestId":"r",{t}}}"#
            )),
            FailureReason::InvalidVersion
        );
        assert_eq!(
            reason(r#"{"id":"mosip.abis.ping","requestId":"r"}"#),
            FailureReason::MissingRequestTime
        );
        assert_eq!(
            reason(r#"{"id":"mosip.abis.ping","requestId":"r","requesttime":"29/03/2020"}"#),
            FailureReason::InvalidRequestTimeFormat
        );
        assert_eq!(
            reason(&format!(
                r#"{{"id":"mosip.abis.insert","requestId":"r",{t},"referenceURL":"http://x"}}"#
            )),
            FailureReason::MissingReferenceId
        );
        assert_eq!(
            reason(&format!(
                r#"{{"id":"mosip.abis.insert","requestId":"r",{t},"referenceId":"a"}}"#
            )),
            FailureReason::MissingReferenceUrl
        );
        assert_eq!(
            reason(&format!(
                r#"{{"id":"mosip.abis.identify","requestId":"r",{t}}}"#
            )),
            FailureReason::MissingReferenceId
        );
        assert_eq!(
            reason(&format!(
                r#"{{"id":"mosip.abis.identify","requestId":"r",{t},"referenceId":"a","flags":{{"maxResults":"many"}}}}"#
            )),
            FailureReason::InvalidRequestStructure
        );
    }

    #[test]
    fn identify_reads_flags_and_gallery() {
        let body = r#"{"id":"mosip.abis.identify","version":"1.1","requestId":"r",
            "requesttime":"2020-03-29T07:01:24.692Z","referenceId":"a",
            "flags":{"maxResults":"5","targetFPIR":30,"custom":"x"},
            "gallery":{"referenceIds":[{"referenceId":"b"},{"referenceId":"c"}]}}"#;
        let r = parse(body.as_bytes()).unwrap();
        assert_eq!(r.operation, Operation::Identify);
        assert_eq!(r.flags.max_results, Some(5));
        assert_eq!(r.flags.target_fpir, Some(30.0));
        assert_eq!(r.gallery, Some(vec!["b".to_owned(), "c".to_owned()]));
        assert!((fpir_of(30.0) - 1e-3).abs() < 1e-12);
    }

    #[test]
    fn responses_use_the_specifications_names() {
        let mut r = Response::failure("mosip.abis.insert", "q", FailureReason::CbeffHasNoData);
        r.responsetime = "t".into();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"id":"mosip.abis.insert","requestId":"q","responsetime":"t","returnValue":"2","failureReason":"11"}"#
        );
        assert_eq!(response_time().len(), "2020-03-29T07:01:24.692Z".len());
    }
}
