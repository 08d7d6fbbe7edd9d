//! The acknowledgement mark: which acknowledged persons the gallery is proven to hold, so
//! that the engine's open checks against the recovered gallery only the persons
//! acknowledged after it, whatever the number of persons.
//!
//! Every acknowledgement (a row becoming `in_gallery = 1 AND deleting = 0`) takes the next
//! number of the `ack_seq` counter, in the transaction that acknowledges it (schema step
//! 17's triggers). The mark is a pair (`ack_verified` = S, `ack_verified_lsn` = L) in
//! `counters`, advanced in two steps by [`Registry::advance_acknowledged_mark`]:
//!
//! 1. a *candidate* (A, Lt) is recorded: A is the counter read inside a transaction, Lt
//!    the gallery's last logged LSN read after it. Every person with `ack_seq` ≤ A was
//!    acknowledged before A was read, and the engine acknowledges a person only after its
//!    gallery insert committed (the insert, then the outcome; for a cleared applicant,
//!    the insert, then the resolution), so each of their gallery entries has an LSN ≤ Lt;
//! 2. once the gallery's checkpoint LSN has reached Lt, the candidate becomes the mark
//!    (S = A, L = Lt). A checkpoint at C ≥ Lt fsyncs the log and every segment, and writes
//!    the manifest and then the key index naming it: every entry up to C is in CRC-checked
//!    segments and the key index maps every live record of them.
//!
//! So at an open whose gallery checkpoint is at or past L, with its key index loaded, a
//! person with `ack_seq` ≤ S cannot be missing: its record is in a checkpointed segment
//! (segment headers, the manifest, the bitmaps and the key index header are checked at
//! open), nothing deletes it without the registry first marking `deleting` (which takes it
//! out of the acknowledged set), and the gallery's checkpoint only moves forward. Damage
//! to that checkpointed data is found by the background scrub (record CRCs and the key
//! index CRC), loudly, never by deleting. The open still checks every person acknowledged
//! after S (those whose gallery entries may be in the log only, where a torn tail could
//! have been cut), and checks everyone when the gallery's checkpoint is before L (a gallery
//! older than the registry) or its key map was rebuilt from the slots.

use rusqlite::{Connection, OptionalExtension};

use super::Registry;
use crate::state::{StateError, StateStore};

/// The acknowledgement counter (schema step 17).
const ACK_SEQ: &str = "ack_seq";
/// The mark: every person acknowledged with a number up to it is in the gallery's
/// checkpoint at or past [`VERIFIED_LSN`].
const VERIFIED: &str = "ack_verified";
const VERIFIED_LSN: &str = "ack_verified_lsn";
/// The candidate for the next mark, and the gallery LSN its persons' entries are within.
const CANDIDATE: &str = "ack_candidate";
const CANDIDATE_LSN: &str = "ack_candidate_lsn";

/// The persons the gallery is proven to hold: those acknowledged with a number up to
/// `seq`, once the gallery's checkpoint is at or past `checkpoint_lsn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckMark {
    /// The last acknowledgement number covered.
    pub seq: u64,
    /// The gallery checkpoint LSN that covers them.
    pub checkpoint_lsn: u64,
}

fn counter(store: &StateStore, conn: &Connection, name: &str) -> Result<Option<u64>, StateError> {
    let v: Option<i64> = conn
        .query_row("SELECT value FROM counters WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| store.error(e))?;
    Ok(v.map(|v| u64::try_from(v).unwrap_or(0)))
}

fn set_counter(
    store: &StateStore,
    conn: &Connection,
    name: &str,
    value: u64,
) -> Result<(), StateError> {
    conn.execute(
        "INSERT INTO counters (name, value) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        rusqlite::params![name, i64::try_from(value).unwrap_or(i64::MAX)],
    )
    .map_err(|e| store.error(e))?;
    Ok(())
}

fn mark(store: &StateStore, conn: &Connection) -> Result<Option<AckMark>, StateError> {
    Ok(
        match (
            counter(store, conn, VERIFIED)?,
            counter(store, conn, VERIFIED_LSN)?,
        ) {
            (Some(seq), Some(checkpoint_lsn)) => Some(AckMark {
                seq,
                checkpoint_lsn,
            }),
            _ => None,
        },
    )
}

impl Registry {
    /// The acknowledgement mark, if one was ever set.
    pub fn acknowledged_mark(&self) -> Result<Option<AckMark>, StateError> {
        self.store.read(|conn| mark(&self.store, conn))
    }

    /// Keys of the persons acknowledged as enrolled with a number after `seq`, in key order
    /// (read on the partial index `persons_by_ack`, named so that the planner does not
    /// walk the key-ordered `persons_acknowledged` instead).
    pub fn acknowledged_keys_after(&self, seq: u64) -> Result<Vec<u64>, StateError> {
        let store = &self.store;
        store.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT key FROM persons INDEXED BY persons_by_ack \
                     WHERE {} AND ack_seq > ?1 ORDER BY key",
                    super::settle::ACKNOWLEDGED
                ))
                .map_err(|e| store.error(e))?;
            let rows = stmt
                .query_map([i64::try_from(seq).unwrap_or(i64::MAX)], |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(|e| store.error(e))?;
            rows.map(|k| k.map(|k| k as u64).map_err(|e| store.error(e)))
                .collect()
        })
    }

    /// Advances the mark (see the module documentation): promotes the recorded candidate
    /// when the gallery's checkpoint LSN `checkpoint_lsn` has reached its LSN, and records
    /// a new candidate (the acknowledgement counter now, and `last_lsn()` read after it)
    /// when there is none left. A candidate is kept until promoted, so a steady stream of
    /// acknowledgements cannot postpone the mark forever. Writes (one durable commit)
    /// only when something changes. Returns the mark.
    pub fn advance_acknowledged_mark(
        &self,
        checkpoint_lsn: u64,
        last_lsn: impl FnOnce() -> u64,
    ) -> Result<Option<AckMark>, StateError> {
        let store = &self.store;
        store.transaction(|tx| {
            let mut current = mark(store, tx)?;
            let candidate = match (
                counter(store, tx, CANDIDATE)?,
                counter(store, tx, CANDIDATE_LSN)?,
            ) {
                (Some(seq), Some(lsn)) if current.is_none_or(|m| seq > m.seq) => Some((seq, lsn)),
                _ => None,
            };
            let pending = match candidate {
                Some((seq, lsn)) if lsn <= checkpoint_lsn => {
                    set_counter(store, tx, VERIFIED, seq)?;
                    set_counter(store, tx, VERIFIED_LSN, lsn)?;
                    current = Some(AckMark {
                        seq,
                        checkpoint_lsn: lsn,
                    });
                    false
                }
                Some(_) => true,
                None => false,
            };
            if !pending {
                let seq = counter(store, tx, ACK_SEQ)?.unwrap_or(0);
                if current.is_none_or(|m| seq > m.seq) {
                    // Read after the counter: every entry of a person numbered up to `seq`
                    // was logged before.
                    let lsn = last_lsn();
                    set_counter(store, tx, CANDIDATE, seq)?;
                    set_counter(store, tx, CANDIDATE_LSN, lsn)?;
                }
            }
            Ok(current)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::registry::rows::batch::tests::meta;
    use crate::engine::registry::{Outcome, Resolution};

    fn ack_seq(r: &Registry, key: u64) -> i64 {
        r.store()
            .read(|c| {
                Ok(c.query_row(
                    "SELECT ack_seq FROM persons WHERE key = ?1",
                    [key as i64],
                    |row| row.get(0),
                )
                .unwrap())
            })
            .unwrap()
    }

    fn duplicate() -> Outcome {
        Outcome::Duplicate {
            reason: crate::engine::registry::DuplicateReason::Biometric,
            candidates: Vec::new(),
            biometrics: crate::engine::registry::StoredBiometrics {
                fingers: Vec::new(),
                irises: Vec::new(),
            },
        }
    }

    #[test]
    fn each_acknowledgement_takes_the_next_number() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::open(dir.path()).unwrap();
        let k: Vec<u64> = (0..4).map(|_| r.intent(meta).unwrap()).collect();
        assert_eq!(ack_seq(&r, k[0]), 0, "an intent is not acknowledged");
        r.outcome(k[2], Outcome::Single).unwrap();
        r.outcome(k[0], Outcome::Single).unwrap();
        r.outcome(k[1], duplicate()).unwrap();
        r.outcome(k[3], Outcome::Reissue { person: k[0] }).unwrap();
        assert_eq!((ack_seq(&r, k[2]), ack_seq(&r, k[0])), (1, 2));
        assert_eq!((ack_seq(&r, k[1]), ack_seq(&r, k[3])), (0, 0));
        r.case_opened(k[1], "C1").unwrap();
        r.closed(k[1], Resolution::Cleared).unwrap();
        assert_eq!(
            ack_seq(&r, k[1]),
            3,
            "a cleared applicant is acknowledged then"
        );
        r.deleting(k[0]).unwrap();
        assert_eq!(r.acknowledged_keys_after(0).unwrap(), vec![k[1], k[2]]);
        assert_eq!(r.acknowledged_keys_after(1).unwrap(), vec![k[1]]);
        assert!(r.acknowledged_keys_after(3).unwrap().is_empty());
        assert_eq!(r.acknowledged_keys().unwrap(), vec![k[1], k[2]]);
    }

    #[test]
    fn the_mark_waits_for_the_checkpoint_and_is_not_postponed_by_new_acknowledgements() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::open(dir.path()).unwrap();
        let ack = || {
            let k = r.intent(meta).unwrap();
            r.outcome(k, Outcome::Single).unwrap();
            k
        };
        let k: Vec<u64> = (0..2).map(|_| ack()).collect();
        assert_eq!(r.acknowledged_mark().unwrap(), None);
        // A candidate (2, LSN 10); the gallery's checkpoint (5) is before it.
        assert_eq!(r.advance_acknowledged_mark(5, || 10).unwrap(), None);
        let k2 = ack();
        // Still before it: the candidate is kept, not replaced by (3, 20).
        assert_eq!(r.advance_acknowledged_mark(9, || 20).unwrap(), None);
        // The checkpoint reaches 10: the mark covers the first two; a new candidate (3, 20).
        let m = AckMark {
            seq: 2,
            checkpoint_lsn: 10,
        };
        assert_eq!(r.advance_acknowledged_mark(10, || 20).unwrap(), Some(m));
        assert_eq!(r.acknowledged_mark().unwrap(), Some(m));
        assert_eq!(r.acknowledged_keys_after(m.seq).unwrap(), vec![k2]);
        let m = AckMark {
            seq: 3,
            checkpoint_lsn: 20,
        };
        assert_eq!(r.advance_acknowledged_mark(25, || 30).unwrap(), Some(m));
        assert!(r.acknowledged_keys_after(m.seq).unwrap().is_empty());
        // Nothing new: the mark stays, and no candidate is recorded.
        assert_eq!(r.advance_acknowledged_mark(40, || 50).unwrap(), Some(m));
        assert_eq!(r.advance_acknowledged_mark(60, || 70).unwrap(), Some(m));
        assert_eq!(r.acknowledged_keys().unwrap().len(), k.len() + 1);
    }

    #[test]
    fn the_open_reads_the_acknowledgement_index() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::open(dir.path()).unwrap();
        let plan: String = r
            .store()
            .read(|c| {
                let mut s = c
                    .prepare(&format!(
                        "EXPLAIN QUERY PLAN SELECT key FROM persons INDEXED BY persons_by_ack \
                         WHERE {} AND ack_seq > 5 ORDER BY key",
                        super::super::settle::ACKNOWLEDGED
                    ))
                    .unwrap();
                let rows = s.query_map([], |row| row.get::<_, String>(3)).unwrap();
                Ok(rows.map(|x| x.unwrap()).collect::<Vec<_>>().join("; "))
            })
            .unwrap();
        assert!(plan.contains("persons_by_ack"), "{plan}");
    }

    #[test]
    fn a_store_of_schema_16_is_upgraded_and_checks_everyone_until_a_mark() {
        let dir = tempfile::tempdir().unwrap();
        let earlier = {
            let r = Registry::open(dir.path()).unwrap();
            let k: Vec<u64> = (0..2)
                .map(|_| {
                    let k = r.intent(meta).unwrap();
                    r.outcome(k, Outcome::Single).unwrap();
                    k
                })
                .collect();
            // As written by the release before schema step 17.
            r.store()
                .read(|c| {
                    c.execute_batch(
                        "DROP TABLE encounters; DROP TABLE encounter_templates;
         DROP TABLE encounter_galleries; DROP TABLE encounter_retired;
         DROP INDEX persons_by_ack; DROP TRIGGER persons_ack_insert;
                         DROP TRIGGER persons_ack_update;
                         ALTER TABLE persons DROP COLUMN ack_seq;
                         DELETE FROM counters WHERE name LIKE 'ack_%';
                         PRAGMA user_version = 16;",
                    )
                    .unwrap();
                    Ok(())
                })
                .unwrap();
            k
        };
        let r = Registry::open(dir.path()).unwrap();
        let version: i64 = r
            .store()
            .read(|c| {
                Ok(c.query_row("PRAGMA user_version", [], |x| x.get(0))
                    .unwrap())
            })
            .unwrap();
        assert_eq!(version, crate::state::schema::VERSION);
        assert_eq!(ack_seq(&r, earlier[0]), 0);
        assert_eq!(r.acknowledged_mark().unwrap(), None);
        assert_eq!(r.acknowledged_keys().unwrap(), earlier);
        let k = r.intent(meta).unwrap();
        r.outcome(k, Outcome::Single).unwrap();
        assert_eq!(ack_seq(&r, k), 1);
        assert_eq!(r.advance_acknowledged_mark(0, || 7).unwrap(), None);
        let m = AckMark {
            seq: 1,
            checkpoint_lsn: 7,
        };
        assert_eq!(r.advance_acknowledged_mark(7, || 9).unwrap(), Some(m));
        // The persons acknowledged before the upgrade are covered by the mark too.
        assert!(r.acknowledged_keys_after(m.seq).unwrap().is_empty());
    }
}
