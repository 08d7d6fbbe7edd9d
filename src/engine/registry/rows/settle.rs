//! The key sets the engine reads when it opens, through the two partial indexes of schema
//! step 16: the persons acknowledged as enrolled, and the few entries left unsettled by a
//! stop. Opening costs one pass over the acknowledged keys' index and the unsettled rows,
//! never a read and decode of every row.

use super::{decode, raw, Registry, LITE};
use crate::engine::registry::Entry;
use crate::state::StateError;

/// Rows some step of the open may have to settle: an intent without its outcome, a
/// deletion under way, a duplicate without its case or its resolution. It must stay the
/// same text as the `WHERE` of the `persons_unsettled` index (schema step 16), so that
/// SQLite reads the index rather than the table; `tests::open_reads_partial_indexes` checks
/// the plan.
pub(in crate::engine::registry) const UNSETTLED: &str = "outcome IS NULL OR deleting = 1 \
     OR (substr(outcome, 1, 22) = '{\"verdict\":\"duplicate\"' \
     AND (resolution IS NULL OR case_id IS NULL))";

/// The persons acknowledged as enrolled (in the gallery, no deletion under way).
pub(in crate::engine::registry) const ACKNOWLEDGED: &str = "in_gallery = 1 AND deleting = 0";

impl Registry {
    /// Keys of every person acknowledged as enrolled, in key order: what the gallery must
    /// hold after recovery.
    pub fn acknowledged_keys(&self) -> Result<Vec<u64>, StateError> {
        let store = &self.store;
        store.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT key FROM persons WHERE {ACKNOWLEDGED} ORDER BY key"
                ))
                .map_err(|e| store.error(e))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, i64>(0))
                .map_err(|e| store.error(e))?;
            rows.map(|k| k.map(|k| k as u64).map_err(|e| store.error(e)))
                .collect()
        })
    }

    /// The unsettled entries (see [`UNSETTLED`]) that `keep` accepts, in key order, without
    /// photos and signatures.
    pub fn unsettled(&self, keep: impl Fn(&Entry) -> bool) -> Result<Vec<Entry>, StateError> {
        let store = &self.store;
        store.read(|conn| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {LITE} FROM persons WHERE {UNSETTLED} ORDER BY key"
                ))
                .map_err(|e| store.error(e))?;
            let rows = stmt.query_map([], raw).map_err(|e| store.error(e))?;
            let mut out = Vec::new();
            for r in rows {
                let e = decode(r.map_err(|e| store.error(e))?)?;
                if keep(&e) {
                    out.push(e);
                }
            }
            Ok(out)
        })
    }

    /// Keys of the unsettled entries `keep` accepts, in key order.
    pub fn unsettled_keys(&self, keep: impl Fn(&Entry) -> bool) -> Result<Vec<u64>, StateError> {
        Ok(self.unsettled(keep)?.into_iter().map(|e| e.key).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::registry::rows::batch::tests::meta;
    use crate::engine::registry::{
        reference_id, DuplicateReason, Outcome, Resolution, StoredBiometrics,
    };

    fn duplicate() -> Outcome {
        Outcome::Duplicate {
            reason: DuplicateReason::Biometric,
            candidates: Vec::new(),
            biometrics: StoredBiometrics {
                fingers: Vec::new(),
                irises: Vec::new(),
            },
        }
    }

    /// Entries in every state the open distinguishes.
    fn registry_of_every_state(dir: &std::path::Path) -> Registry {
        let r = Registry::open(dir).unwrap();
        let k: Vec<u64> = (0..12).map(|_| r.intent(meta).unwrap()).collect();
        // k[0]: an intent without outcome.
        r.outcome(k[1], Outcome::Single).unwrap();
        r.outcome(k[2], Outcome::Reissue { person: k[1] }).unwrap();
        r.outcome(k[3], duplicate()).unwrap(); // no case yet
        r.outcome(k[4], duplicate()).unwrap();
        r.case_opened(k[4], "C1").unwrap(); // awaiting analysts
        r.outcome(k[5], duplicate()).unwrap();
        r.case_opened(k[5], "C2").unwrap();
        r.closed(k[5], Resolution::Cleared).unwrap(); // enrolled
        r.outcome(k[6], duplicate()).unwrap();
        r.case_opened(k[6], "C3").unwrap();
        let of = reference_id(k[1]);
        r.closed(k[6], Resolution::ConfirmedDuplicate { duplicate_of: of })
            .unwrap();
        r.outcome(k[7], Outcome::Single).unwrap();
        r.deleting(k[7]).unwrap(); // deletion under way
        r.outcome(k[8], Outcome::Single).unwrap();
        r.deleting(k[8]).unwrap();
        r.deleted(k[8]).unwrap();
        r.abort(k[9]).unwrap();
        r.outcome(k[10], Outcome::Single).unwrap();
        // k[11]: a second intent without outcome.
        r
    }

    #[test]
    fn open_sets_equal_a_scan_of_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let r = registry_of_every_state(dir.path());
        let keys = |v: Vec<Entry>| v.into_iter().map(|e| e.key).collect::<Vec<_>>();
        let acknowledged = keys(r.scan(|e| e.in_gallery() && !e.deleting).unwrap());
        assert_eq!(acknowledged.len(), 3, "{acknowledged:?}");
        assert_eq!(r.acknowledged_keys().unwrap(), acknowledged);
        type Predicate = fn(&Entry) -> bool;
        let predicates: [(&str, Predicate); 4] = [
            ("no outcome", |e| e.outcome.is_none()),
            ("deletion under way", |e| e.deleting && !e.deleted),
            ("duplicate unresolved", |e| {
                matches!(e.outcome, Some(Outcome::Duplicate { .. })) && e.resolution.is_none()
            }),
            ("duplicate without case", |e| {
                matches!(e.outcome, Some(Outcome::Duplicate { .. })) && e.case_id.is_none()
            }),
        ];
        for (name, p) in predicates {
            let all = keys(r.scan(p).unwrap());
            assert!(!all.is_empty(), "{name}: the fixture has such entries");
            assert_eq!(r.unsettled_keys(p).unwrap(), all, "{name}");
        }
        assert_eq!(
            keys(r.duplicates_without_case().unwrap()),
            keys(
                r.scan(
                    |e| matches!(e.outcome, Some(Outcome::Duplicate { .. })) && e.case_id.is_none()
                )
                .unwrap()
            )
        );
    }

    #[test]
    fn open_reads_partial_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let r = registry_of_every_state(dir.path());
        let plan = |sql: String| -> String {
            r.store()
                .read(|c| {
                    let mut s = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
                    let rows = s.query_map([], |row| row.get::<_, String>(3)).unwrap();
                    Ok(rows.map(|x| x.unwrap()).collect::<Vec<_>>().join("; "))
                })
                .unwrap()
        };
        let a = plan(format!(
            "SELECT key FROM persons WHERE {ACKNOWLEDGED} ORDER BY key"
        ));
        assert!(
            a.contains("USING COVERING INDEX persons_acknowledged"),
            "{a}"
        );
        let u = plan(format!(
            "SELECT {LITE} FROM persons WHERE {UNSETTLED} ORDER BY key"
        ));
        assert!(u.contains("USING INDEX persons_unsettled"), "{u}");
    }
}
