//! When the verdict a read returns was decided. A read of an earlier enrolment answers the
//! time the verdict took effect, never the time of the read:
//!
//! 1. a case closed by analysts: when it closed (the approval, else the decision);
//! 2. otherwise the first answer kept for the request (the engine's own decision);
//! 3. a person loaded in bulk (import, demo), who has no kept answer: when the registry
//!    entry was written.

use crate::cases::CaseStore;
use crate::enrolment::{EngineError, EnrolmentEngine, Verdict};
use crate::state::idempotency::Answer;

/// What a read needs besides the verdict, looked up with it (blocking).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookup {
    /// `deleted` or `lost` when the person enrolled single has since left the gallery.
    pub withdrawn: Option<String>,
    /// The applicant's analyst case, if one was opened.
    pub case_id: Option<String>,
    /// When the applicant's registry entry was written (RFC 3339).
    pub enrolled_at: Option<String>,
}

/// Looks up the applicant of `verdict` (a re-issue names another person: nothing to look
/// up). Blocking.
pub fn lookup(engine: &dyn EnrolmentEngine, verdict: &Verdict) -> Result<Lookup, EngineError> {
    let (reference_id, single) = match verdict {
        Verdict::Single {
            reference_id,
            reissue: false,
        } => (reference_id, true),
        Verdict::Duplicate { reference_id, .. } => (reference_id, false),
        _ => return Ok(Lookup::default()),
    };
    let Some(person) = engine.person(reference_id)? else {
        return Ok(Lookup::default());
    };
    let withdrawn = Some(person.status).filter(|s| single && (s == "deleted" || s == "lost"));
    Ok(Lookup {
        withdrawn,
        case_id: person.case_id,
        enrolled_at: Some(person.summary.enrolled_at),
    })
}

/// The decision time, seconds since the Unix epoch (see the module documentation); `None`
/// when none is known. Blocking (reads the case).
pub fn decided_at(cases: &CaseStore, lookup: &Lookup, kept: Option<&Answer>) -> Option<u64> {
    let closed = lookup
        .case_id
        .as_deref()
        .and_then(|id| cases.get(id))
        .and_then(|case| case.closed_secs());
    closed
        .or_else(|| kept.and_then(|a| a.body.get("decided_at").and_then(crate::clock::time_of)))
        .or_else(|| {
            lookup
                .enrolled_at
                .as_deref()
                .and_then(crate::clock::parse_rfc3339)
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::clock::parse_rfc3339;

    #[test]
    fn registry_times_parse_as_rfc3339() {
        assert_eq!(parse_rfc3339("2026-12-05T08:00:00Z"), Some(1_796_457_600));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
