//! The registry's reads: one entry by key, request, NIK, and the scans that select
//! entries by a predicate.

use rusqlite::params;

use super::{decode, one, raw, Registry, FULL, LITE};
use crate::engine::registry::{Entry, Outcome};
use crate::state::StateError;

impl Registry {
    pub(super) fn query_one(&self, sql: &str, args: impl rusqlite::Params) -> Option<Entry> {
        let found = self.store.read(|conn| one(&self.store, conn, sql, args));
        found.unwrap_or_else(|e| {
            tracing::error!(error = %e, "reading the registry");
            None
        })
    }

    /// The entry of `key`, with its photo and signature.
    pub fn get(&self, key: u64) -> Option<Entry> {
        self.query_one(
            &format!("SELECT {FULL} FROM persons WHERE key = ?1"),
            [key as i64],
        )
    }

    /// The entry of the enrolment `request_id` from a service point.
    pub fn by_request(
        &self,
        district: &str,
        service_point: &str,
        request_id: &str,
    ) -> Option<Entry> {
        self.query_one(
            &format!(
                "SELECT {FULL} FROM persons WHERE district = ?1 AND service_point = ?2 \
                 AND request_id = ?3 ORDER BY key DESC LIMIT 1"
            ),
            params![district, service_point, request_id],
        )
    }

    /// The service points (district, service point) that submitted an enrolment
    /// `request_id`, at most `limit` of them (request ids are chosen per service point, so
    /// one id may come from several).
    pub fn origins_of(&self, request_id: &str, limit: usize) -> Vec<(String, String)> {
        let found = self.store.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT DISTINCT district, service_point FROM persons \
                     WHERE request_id = ?1 ORDER BY district, service_point LIMIT ?2",
                )
                .map_err(|e| self.store.error(e))?;
            let rows = stmt
                .query_map(params![request_id, limit as i64], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(|e| self.store.error(e))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.store.error(e))
        });
        found.unwrap_or_else(|e| {
            tracing::error!(error = %e, "reading the registry");
            Vec::new()
        })
    }

    /// The enrolled person holding `nik` (the first enrolled, if several).
    pub fn by_nik(&self, nik: &str) -> Option<Entry> {
        self.query_one(
            &format!(
                "SELECT {FULL} FROM persons WHERE nik = ?1 AND in_gallery = 1 \
                 ORDER BY key LIMIT 1"
            ),
            [nik],
        )
    }

    /// The keys of the persons in the gallery holding `nik`, in key order, at most `limit`
    /// (read on the NIK index).
    pub fn keys_by_nik(&self, nik: &str, limit: usize) -> Result<Vec<u64>, StateError> {
        self.store.read(|conn| {
            let err = |e| self.store.error(e);
            let mut stmt = conn
                .prepare_cached(
                    "SELECT key FROM persons WHERE nik = ?1 AND in_gallery = 1 \
                     ORDER BY key LIMIT ?2",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map(params![nik, limit as i64], |r| r.get::<_, i64>(0))
                .map_err(err)?;
            rows.map(|r| r.map(|k| k as u64))
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)
        })
    }

    /// Entries without photo and signature, in key order, for which `keep` holds.
    pub(super) fn scan(&self, keep: impl Fn(&Entry) -> bool) -> Result<Vec<Entry>, StateError> {
        self.store.read(|conn| {
            let mut stmt = conn
                .prepare(&format!("SELECT {LITE} FROM persons ORDER BY key"))
                .map_err(|e| self.store.error(e))?;
            let rows = stmt.query_map([], raw).map_err(|e| self.store.error(e))?;
            let mut out = Vec::new();
            for r in rows {
                let e = decode(r.map_err(|e| self.store.error(e))?)?;
                if keep(&e) {
                    out.push(e);
                }
            }
            Ok(out)
        })
    }

    pub(super) fn scan_or_log(&self, keep: impl Fn(&Entry) -> bool) -> Vec<Entry> {
        self.scan(keep).unwrap_or_else(|e| {
            tracing::error!(error = %e, "scanning the registry");
            Vec::new()
        })
    }

    /// Every duplicate outcome without its case (left by a crash of an older release, which
    /// stored the outcome and the case apart).
    pub fn duplicates_without_case(&self) -> Result<Vec<Entry>, StateError> {
        let lite = self.unsettled(|e| {
            matches!(e.outcome, Some(Outcome::Duplicate { .. })) && e.case_id.is_none()
        })?;
        Ok(lite.into_iter().filter_map(|e| self.get(e.key)).collect())
    }

    /// Entries, in key order, for which `keep` holds (each read whole).
    pub fn filter(&self, keep: impl Fn(&Entry) -> bool) -> Vec<Entry> {
        self.scan_or_log(keep)
            .into_iter()
            .filter_map(|e| self.get(e.key))
            .collect()
    }

    /// Persons of one origin (district, service point) in the gallery now.
    pub fn count_in_gallery(&self, district: &str, service_point: &str) -> Result<u64, StateError> {
        self.store.read(|conn| {
            conn.query_row(
                "SELECT count(*) FROM persons WHERE district = ?1 AND service_point = ?2 \
                 AND in_gallery = 1 AND deleting = 0",
                params![district, service_point],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(|e| self.store.error(e))
        })
    }

    /// Entries known.
    pub fn len(&self) -> usize {
        let n = self.store.read(|conn| {
            conn.query_row("SELECT count(*) FROM persons", [], |r| r.get::<_, i64>(0))
                .map_err(|e| self.store.error(e))
        });
        n.map(|n| n as usize).unwrap_or(0)
    }

    /// Whether no entry is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
