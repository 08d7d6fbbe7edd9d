//! Many enrolments' outcomes in one transaction of the state store (the engine's group
//! commit, `engine/group.rs`).

use rusqlite::Transaction;

use super::{lite, save_status, Registry};
use crate::engine::registry::{reference_id, Entry, Outcome};
use crate::state::StateError;

/// Savepoint around one entry's writes inside a shared transaction.
const SAVEPOINT: &str = "outcome";

impl Registry {
    /// Stores the outcome of every `(key, outcome)` of `items` and, for each, what `with`
    /// writes (as [`Registry::outcome_with`] does for one), all in one transaction: one
    /// durable commit for the whole group. `with` gets the item's index.
    ///
    /// Each item's writes run inside a savepoint: an item whose writes fail is rolled back
    /// alone and gets its error in its place, the others still commit. When the savepoint
    /// cannot be rolled back (SQLite ended the transaction) or the commit fails, nothing of
    /// the group is stored and the outer error is returned.
    #[allow(clippy::type_complexity)]
    pub fn outcomes_with<T>(
        &self,
        items: Vec<(u64, Outcome)>,
        mut with: impl FnMut(usize, &Transaction<'_>, &mut Entry) -> Result<T, StateError>,
    ) -> Result<Vec<Result<(Entry, T), StateError>>, StateError> {
        let store = &self.store;
        store.transaction(|tx| {
            let mut out = Vec::with_capacity(items.len());
            for (i, (key, outcome)) in items.into_iter().enumerate() {
                tx.execute_batch(&format!("SAVEPOINT {SAVEPOINT}"))
                    .map_err(|e| store.error(e))?;
                let one = (|| {
                    let Some(mut e) = lite(store, tx, key)? else {
                        return Err(StateError::Missing(reference_id(key)));
                    };
                    e.outcome = Some(outcome);
                    let value = with(i, tx, &mut e)?;
                    save_status(store, tx, &e)?;
                    Ok((e, value))
                })();
                let end = if one.is_ok() {
                    format!("RELEASE {SAVEPOINT}")
                } else {
                    format!("ROLLBACK TO {SAVEPOINT}; RELEASE {SAVEPOINT}")
                };
                tx.execute_batch(&end).map_err(|e| store.error(e))?;
                out.push(one);
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::cases::PersonSummary;
    use crate::engine::registry::PersonMeta;

    pub(in crate::engine::registry) fn meta(key: u64) -> PersonMeta {
        PersonMeta {
            summary: PersonSummary {
                reference_id: reference_id(key),
                request_id: format!("r{key}"),
                nik: format!("317100000000{key:04}"),
                name: format!("Person {key}"),
                sex: "F".to_owned(),
                date_of_birth: "1990-01-01".to_owned(),
                district: "317101".to_owned(),
                service_point: "sp1".to_owned(),
                enrolled_at: "2026-01-01T00:00:00Z".to_owned(),
                citizenship: "WNI".to_owned(),
                passport_number: None,
                kitap_number: None,
                has_photo: false,
                has_signature: false,
            },
            photo: None,
            signature: None,
            callback_url: None,
            fingers: Vec::new(),
            eyes: Vec::new(),
        }
    }

    /// A registry with three intents and a trigger refusing the outcome of `r1` with
    /// `action` (`ABORT`: that statement; `ROLLBACK`: the whole transaction).
    fn three_with_failpoint(dir: &std::path::Path, action: &str) -> (Registry, Vec<u64>) {
        let registry = Registry::open(dir).unwrap();
        let keys: Vec<u64> = (0..3).map(|_| registry.intent(meta).unwrap()).collect();
        registry
            .store()
            .transaction(|tx| {
                tx.execute_batch(&format!(
                    "CREATE TRIGGER failpoint BEFORE UPDATE OF outcome ON persons \
                     WHEN NEW.request_id = 'r1' BEGIN SELECT RAISE({action}, 'failpoint'); END;"
                ))
                .map_err(|e| registry.store().error(e))
            })
            .unwrap();
        (registry, keys)
    }

    #[test]
    fn an_entry_that_fails_is_rolled_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (registry, keys) = three_with_failpoint(dir.path(), "ABORT");
        let items = keys.iter().map(|&k| (k, Outcome::Single)).collect();
        let results = registry
            .outcomes_with(items, |i, _, e| Ok((i, e.key)))
            .unwrap();
        assert_eq!(results.len(), 3);
        assert!(results[0].is_ok() && results[2].is_ok());
        assert!(results[1].is_err(), "{:?}", results[1]);
        let stored: Vec<bool> = keys
            .iter()
            .map(|&k| registry.get(k).unwrap().outcome.is_some())
            .collect();
        assert_eq!(stored, [true, false, true]);
    }

    #[test]
    fn a_failed_shared_transaction_stores_nothing_of_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let (registry, keys) = three_with_failpoint(dir.path(), "ROLLBACK");
        let items = keys.iter().map(|&k| (k, Outcome::Single)).collect();
        let results = registry.outcomes_with(items, |_, _, _| Ok(()));
        assert!(results.is_err(), "{results:?}");
        for &k in &keys {
            assert!(registry.get(k).unwrap().outcome.is_none(), "{k}");
        }
    }
}
