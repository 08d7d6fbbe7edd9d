//! Audit events staged in an enrolment's outcome transaction: rows of the `audit_staged`
//! table, written with the outcome and read back by the audit log (`access::audit`), which
//! appends their lines after the commit.

use rusqlite::{params, Transaction};

use super::{StateError, StateStore};

/// An audit event to write in an enrolment's outcome transaction ([`stage_in`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedEvent {
    /// The event as its JSON line's object (without the line's checksum).
    pub json: String,
    /// Staged rows up to this sequence number have their line synced in the file and are
    /// deleted by the same transaction.
    pub synced_upto: u64,
}

/// Writes `staged` in the transaction `tx` of `store` (and deletes the rows whose line the
/// file holds durably).
pub fn stage_in(
    store: &StateStore,
    tx: &Transaction<'_>,
    staged: &StagedEvent,
) -> Result<(), StateError> {
    let err = |e| store.error(e);
    tx.execute(
        "DELETE FROM audit_staged WHERE seq <= ?1",
        [i64::try_from(staged.synced_upto).unwrap_or(i64::MAX)],
    )
    .map_err(err)?;
    tx.execute(
        "INSERT INTO audit_staged (event) VALUES (?1)",
        params![staged.json],
    )
    .map_err(err)?;
    Ok(())
}
