//! A case's history: the other cases about its applicant or any of its candidates, read
//! through the `case_persons` index (one row per person of a case, keyed by reference id),
//! so the lookup costs the same with ten cases or a million.

use rusqlite::Connection;

use super::store::{Case, CaseError, CaseStore};
use super::{rows, NewCase};
use crate::state::{StateError, StateStore};

/// Most related cases a history lists (newest first).
pub const HISTORY_LIMIT: usize = 50;

/// The reference ids a case is about: its applicant, then its candidates.
pub fn persons(new: &NewCase) -> impl Iterator<Item = &str> {
    std::iter::once(new.applicant.reference_id.as_str()).chain(
        new.candidates
            .iter()
            .map(|c| c.person.reference_id.as_str()),
    )
}

/// Indexes case `seq` under every person it is about.
pub(super) fn index(
    store: &StateStore,
    conn: &Connection,
    seq: i64,
    new: &NewCase,
) -> Result<(), StateError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO case_persons (reference_id, case_seq) VALUES (?1, ?2)",
        )
        .map_err(|e| store.error(e))?;
    for reference in persons(new) {
        stmt.execute(rusqlite::params![reference, seq])
            .map_err(|e| store.error(e))?;
    }
    Ok(())
}

/// The sequence numbers of the other cases about any of `references`, newest first.
fn related(
    store: &StateStore,
    conn: &Connection,
    seq: i64,
    references: &[&str],
) -> Result<Vec<i64>, StateError> {
    let mut out: Vec<i64> = Vec::new();
    let mut stmt = conn
        .prepare_cached(
            "SELECT case_seq FROM case_persons WHERE reference_id = ?1 AND case_seq != ?2 \
             ORDER BY case_seq DESC LIMIT ?3",
        )
        .map_err(|e| store.error(e))?;
    for reference in references {
        let rows = stmt
            .query_map(
                rusqlite::params![reference, seq, HISTORY_LIMIT as i64],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| store.error(e))?;
        for row in rows {
            out.push(row.map_err(|e| store.error(e))?);
        }
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    out.dedup();
    out.truncate(HISTORY_LIMIT);
    Ok(out)
}

impl CaseStore {
    /// The other cases about the applicant or any candidate of `case`, newest first (at most
    /// [`HISTORY_LIMIT`]), each with its trail.
    pub fn history(&self, case: &Case) -> Result<Vec<Case>, CaseError> {
        let Some(seq) = rows::seq_of(&case.case_id) else {
            return Ok(Vec::new());
        };
        let references: Vec<&str> = persons(&case.new).collect();
        let store = self.store();
        Ok(store.read(|conn| {
            let mut out = Vec::new();
            for other in related(store, conn, seq, &references)? {
                if let Some(c) = rows::load(store, conn, other)? {
                    out.push(c);
                }
            }
            Ok::<_, StateError>(out)
        })?)
    }
}
