//! Wall-clock time as the state store, the audit log and the wire answers record it.

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A time in seconds since the Unix epoch as RFC 3339 UTC, whole seconds
/// (`2026-12-05T10:01:30Z`): the one time format of every API answer.
pub fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The current time as RFC 3339 UTC, whole seconds.
pub fn now_rfc3339() -> String {
    rfc3339(now_secs())
}

/// Seconds since the Unix epoch of an RFC 3339 time.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp()).ok())
}

/// A time field of a stored answer: RFC 3339 text, or epoch seconds as answers of earlier
/// releases kept it.
pub fn time_of(value: &serde_json::Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(parse_rfc3339))
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_round_trip_through_rfc3339() {
        assert_eq!(super::rfc3339(1_796_465_796), "2026-12-05T10:16:36Z");
        assert_eq!(
            super::parse_rfc3339("2026-12-05T10:16:36Z"),
            Some(1_796_465_796)
        );
        assert_eq!(super::time_of(&serde_json::json!(5)), Some(5));
        assert_eq!(
            super::time_of(&serde_json::json!("1970-01-01T00:00:05Z")),
            Some(5)
        );
        assert_eq!(super::time_of(&serde_json::json!("yesterday")), None);
    }
}
