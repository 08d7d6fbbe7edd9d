//! Query parameters of OSIA operations: every operation names the ones it takes; an unknown,
//! repeated or out-of-range parameter is a `400`.

use super::error::{Code, OsiaError};

/// Longest `transactionId`.
pub const MAX_TRANSACTION_ID: usize = 128;
/// Candidates returned when `maxNbCand` is absent.
pub const DEFAULT_MAX_CANDIDATES: usize = 100;
/// Most candidates one identification returns.
pub const MAX_CANDIDATES: usize = 1000;
/// Most items one page of gallery content holds.
pub const MAX_PAGE: usize = 10_000;

/// The parameters every operation takes.
pub const COMMON: [&str; 3] = ["transactionId", "callback", "priority"];

/// The parsed query of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    /// `transactionId`.
    pub transaction_id: String,
    /// `callback`: the result is posted there and the request answered `202`.
    pub callback: Option<url::Url>,
    /// `priority` 0–9 (accepted; requests run in arrival order).
    pub priority: Option<u8>,
    /// `algorithm` (accepted, not used: this ABIS has one algorithm).
    pub algorithm: Option<String>,
    /// `maxNbCand`.
    pub max_candidates: Option<usize>,
    /// `threshold`: the lowest fused score answered.
    pub threshold: Option<f64>,
    /// `accuracyLevel` (accepted, not used: this ABIS has one accuracy level).
    pub accuracy_level: Option<String>,
    /// `status` of an encounter status update.
    pub status: Option<String>,
    /// Other parameters the operation named, by name.
    pub other: Vec<(String, String)>,
}

fn invalid(message: String) -> OsiaError {
    OsiaError::bad(Code::InvalidParameter, message)
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, OsiaError> {
    value
        .parse::<T>()
        .map_err(|_| invalid(format!("{name} must be a number, got {value:?}")))
}

impl Params {
    /// Reads `pairs` for an operation that takes [`COMMON`] and `extra`.
    pub fn parse(pairs: &[(String, String)], extra: &[&str]) -> Result<Self, OsiaError> {
        let mut out = Self::default();
        let mut seen: Vec<&str> = Vec::with_capacity(pairs.len());
        let mut transaction = None;
        for (name, value) in pairs {
            if !COMMON.contains(&name.as_str()) && !extra.contains(&name.as_str()) {
                return Err(invalid(format!(
                    "unknown query parameter {name:?} for this operation"
                )));
            }
            if seen.contains(&name.as_str()) {
                return Err(invalid(format!("query parameter {name} given twice")));
            }
            seen.push(name);
            match name.as_str() {
                "transactionId" => transaction = Some(value.clone()),
                "callback" => {
                    let url = url::Url::parse(value).map_err(|e| {
                        OsiaError::bad(
                            Code::CallbackNotAllowed,
                            format!("callback is not a URL: {e}"),
                        )
                    })?;
                    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                        return Err(OsiaError::bad(
                            Code::CallbackNotAllowed,
                            "callback must be an http:// or https:// URL with a host",
                        ));
                    }
                    out.callback = Some(url);
                }
                "priority" => {
                    let p: i64 = number(name, value)?;
                    out.priority = Some(
                        u8::try_from(p)
                            .ok()
                            .filter(|p| *p <= 9)
                            .ok_or_else(|| invalid(format!("priority must be 0–9, got {p}")))?,
                    );
                }
                "algorithm" => out.algorithm = Some(value.clone()),
                "maxNbCand" => {
                    let n: i64 = number(name, value)?;
                    out.max_candidates = Some(
                        usize::try_from(n)
                            .ok()
                            .filter(|n| (1..=MAX_CANDIDATES).contains(n))
                            .ok_or_else(|| {
                                invalid(format!("maxNbCand must be 1–{MAX_CANDIDATES}, got {n}"))
                            })?,
                    );
                }
                "threshold" => {
                    let t: f64 = number(name, value)?;
                    if !t.is_finite() {
                        return Err(invalid("threshold must be a finite number".into()));
                    }
                    out.threshold = Some(t);
                }
                "accuracyLevel" => out.accuracy_level = Some(value.clone()),
                "status" => out.status = Some(value.clone()),
                _ => out.other.push((name.clone(), value.clone())),
            }
        }
        let transaction = transaction.ok_or_else(|| {
            OsiaError::bad(
                Code::InvalidTransactionId,
                "the transactionId query parameter is required",
            )
        })?;
        if transaction.is_empty()
            || transaction.chars().count() > MAX_TRANSACTION_ID
            || transaction.chars().any(char::is_control)
        {
            return Err(OsiaError::bad(
                Code::InvalidTransactionId,
                format!(
                    "transactionId must be 1–{MAX_TRANSACTION_ID} characters without control \
                     characters"
                ),
            ));
        }
        out.transaction_id = transaction;
        Ok(out)
    }

    /// The value of another parameter the operation named.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.other
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A non-negative integer parameter, `default` when absent, at most `max`.
    pub fn count(&self, name: &str, default: usize, max: usize) -> Result<usize, OsiaError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => {
                let n: i64 = number(name, v)?;
                usize::try_from(n)
                    .ok()
                    .filter(|n| *n <= max)
                    .ok_or_else(|| invalid(format!("{name} must be 0–{max}, got {n}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn transaction_id_is_required_and_bounded() {
        let e = Params::parse(&pairs(&[]), &[]).unwrap_err();
        assert_eq!(e.error_body().code, Code::InvalidTransactionId as i32);
        let long = "x".repeat(MAX_TRANSACTION_ID + 1);
        assert!(Params::parse(&pairs(&[("transactionId", &long)]), &[]).is_err());
        let p = Params::parse(&pairs(&[("transactionId", "t-1"), ("priority", "9")]), &[]).unwrap();
        assert_eq!((p.transaction_id.as_str(), p.priority), ("t-1", Some(9)));
    }

    #[test]
    fn unknown_repeated_and_out_of_range_parameters_are_refused() {
        let t = ("transactionId", "t");
        for bad in [
            vec![t, ("maxNbCand", "5")],
            vec![t, t],
            vec![t, ("priority", "10")],
            vec![t, ("priority", "-1")],
            vec![t, ("callback", "ftp://x/y")],
            vec![t, ("callback", "not a url")],
        ] {
            let e = Params::parse(&pairs(&bad), &[]).unwrap_err();
            assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST, "{bad:?}");
        }
        for bad in [("maxNbCand", "0"), ("maxNbCand", "x"), ("threshold", "NaN")] {
            assert!(Params::parse(&pairs(&[t, bad]), &["maxNbCand", "threshold"]).is_err());
        }
        let p = Params::parse(
            &pairs(&[t, ("maxNbCand", "3"), ("threshold", "12.5")]),
            &["maxNbCand", "threshold"],
        )
        .unwrap();
        assert_eq!((p.max_candidates, p.threshold), (Some(3), Some(12.5)));
    }
}
