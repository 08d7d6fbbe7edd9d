//! Finding cases by what an analyst has in hand: a case id, a NIK, a `request_id` or a
//! name. Every person of a case (the applicant and each candidate) is kept as search terms
//! in `case_search` (`nik:<NIK>`, `req:<request_id>`, `name:<name folded>`), whose primary
//! key `(term, case_seq)` serves each lookup as one index range; the queue's keyset paging
//! (`query.rs`) is not involved.
//!
//! Matching: a case id (`C` and nine digits) and a NIK (sixteen digits) match exactly;
//! anything else matches a `request_id` exactly or the start of a full name, with ASCII
//! letters folded to lower case (`siti r` finds "Siti Rahayu").

use rusqlite::types::Value;
use rusqlite::{params, Connection};

use super::model::Case;
use super::{rows, NewCase};
use crate::state::{StateError, StateStore};

/// Most cases a search answers (newest first).
pub const SEARCH_LIMIT: usize = 100;

/// Longest search text accepted, in characters.
const MAX_LEN: usize = 128;

/// What a search looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseSearch {
    /// One case by its id.
    CaseId(String),
    /// Cases with a person (applicant or candidate) of this NIK.
    Nik(String),
    /// Cases with a person whose `request_id` is this text, or whose name starts with it
    /// (ASCII letters compared without case).
    Text(String),
}

/// Why a search text is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// Longer than the search box takes.
    #[error("a search is at most {MAX_LEN} characters")]
    TooLong,
    /// Too short to narrow the queue.
    #[error("a search needs at least 2 characters")]
    TooShort,
    /// Control characters.
    #[error("a search cannot contain control characters")]
    Control,
}

impl CaseSearch {
    /// The search a box's text asks for; `Ok(None)` for an empty box.
    pub fn parse(text: &str) -> Result<Option<Self>, SearchError> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(None);
        }
        if t.chars().count() > MAX_LEN {
            return Err(SearchError::TooLong);
        }
        if t.chars().any(char::is_control) {
            return Err(SearchError::Control);
        }
        if t.chars().count() < 2 {
            return Err(SearchError::TooShort);
        }
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        Ok(Some(if rows::seq_of(t).is_some() {
            Self::CaseId(t.to_owned())
        } else if digits(t, 16) {
            Self::Nik(t.to_owned())
        } else {
            Self::Text(t.to_owned())
        }))
    }

    /// A label for people.
    pub fn describe(&self) -> String {
        match self {
            Self::CaseId(id) => format!("case id {id}"),
            Self::Nik(nik) => format!("NIK {nik}"),
            Self::Text(t) => format!("request_id {t:?} or a name starting with {t:?}"),
        }
    }

    /// Runs the search on `conn` (of `store`): the matching cases, newest first, at most
    /// [`SEARCH_LIMIT`].
    pub(super) fn run(
        &self,
        store: &StateStore,
        conn: &Connection,
    ) -> Result<Vec<Case>, StateError> {
        let err = |e| store.error(e);
        let (sql, args) = self.sql();
        let mut stmt = conn.prepare_cached(&sql).map_err(err)?;
        let raws = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), rows::raw)
            .map_err(err)?;
        let mut cases = Vec::new();
        for raw in raws {
            let raw = raw.map_err(err)?;
            let trail = rows::trail(store, conn, raw.seq())?;
            cases.push(rows::decode(raw, trail)?);
        }
        Ok(cases)
    }

    /// The search's SQL and arguments.
    pub(super) fn sql(&self) -> (String, Vec<Value>) {
        let pick = |cond: &str| {
            format!(
                "SELECT {} FROM cases WHERE seq IN (SELECT case_seq FROM case_search WHERE {cond}) \
                 ORDER BY seq DESC LIMIT {SEARCH_LIMIT}",
                rows::COLUMNS
            )
        };
        match self {
            Self::CaseId(id) => (
                format!("SELECT {} FROM cases WHERE seq = ?", rows::COLUMNS),
                vec![Value::Integer(rows::seq_of(id).unwrap_or(0))],
            ),
            Self::Nik(nik) => (pick("term = ?"), vec![Value::Text(format!("nik:{nik}"))]),
            Self::Text(t) => {
                let prefix = format!("name:{}", fold(t));
                let end = format!("{prefix}{}", char::MAX);
                (
                    pick("term = ? OR (term >= ? AND term < ?)"),
                    vec![
                        Value::Text(format!("req:{t}")),
                        Value::Text(prefix),
                        Value::Text(end),
                    ],
                )
            }
        }
    }
}

/// A name as the search compares it: trimmed, ASCII letters in lower case (SQLite's
/// `lower()` folds the same letters, so the schema step's terms of older cases agree).
fn fold(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

/// Writes the search terms of case `seq` opened from `new`.
pub(super) fn index(
    store: &StateStore,
    conn: &Connection,
    seq: i64,
    new: &NewCase,
) -> Result<(), StateError> {
    let mut stmt = conn
        .prepare_cached("INSERT OR IGNORE INTO case_search (term, case_seq) VALUES (?1, ?2)")
        .map_err(|e| store.error(e))?;
    let people = std::iter::once(&new.applicant).chain(new.candidates.iter().map(|c| &c.person));
    for p in people {
        for term in [
            format!("nik:{}", p.nik),
            format!("req:{}", p.request_id),
            format!("name:{}", fold(&p.name)),
        ] {
            stmt.execute(params![term, seq])
                .map_err(|e| store.error(e))?;
        }
    }
    Ok(())
}
