//! The registry's rows in the state store's `persons` table.

use std::path::Path;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::{reference_id, Entry, Outcome, PersonMeta, Resolution};

mod acked;
mod batch;
mod images;
mod reads;
mod settle;
use crate::state::idempotency::{self, Answer};
use crate::state::{StateError, StateStore};
pub use acked::AckMark;

/// Columns of an entry without its photo and signature.
const LITE: &str = "key, meta, outcome, case_id, resolution, deleted, deleting, lost";
/// Columns of a whole entry.
const FULL: &str = "key, meta, outcome, case_id, resolution, deleted, deleting, lost, photo, \
                    signature";

/// The registry.
#[derive(Debug)]
pub struct Registry {
    store: Arc<StateStore>,
}

struct Raw {
    key: i64,
    meta: String,
    outcome: Option<String>,
    case_id: Option<String>,
    resolution: Option<String>,
    deleted: bool,
    deleting: bool,
    lost: Option<String>,
    photo: Option<String>,
    signature: Option<String>,
}

fn raw(r: &Row<'_>) -> rusqlite::Result<Raw> {
    let full = r.as_ref().column_count() > 8;
    Ok(Raw {
        key: r.get(0)?,
        meta: r.get(1)?,
        outcome: r.get(2)?,
        case_id: r.get(3)?,
        resolution: r.get(4)?,
        deleted: r.get(5)?,
        deleting: r.get(6)?,
        lost: r.get(7)?,
        photo: if full { r.get(8)? } else { None },
        signature: if full { r.get(9)? } else { None },
    })
}

fn decode(raw: Raw) -> Result<Entry, StateError> {
    let mut meta: PersonMeta = serde_json::from_str(&raw.meta)?;
    meta.photo = raw.photo;
    meta.signature = raw.signature;
    Ok(Entry {
        key: raw.key as u64,
        meta,
        outcome: raw
            .outcome
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?,
        case_id: raw.case_id,
        resolution: raw
            .resolution
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?,
        deleted: raw.deleted,
        deleting: raw.deleting,
        lost: raw.lost,
    })
}

/// Inserts a whole entry (a new intent, or a migrated one; an existing key is kept).
pub(crate) fn insert(
    store: &StateStore,
    conn: &Connection,
    e: &Entry,
) -> Result<usize, StateError> {
    let mut meta = e.meta.clone();
    let photo = meta.photo.take();
    let signature = meta.signature.take();
    let s = &meta.summary;
    conn.execute(
        "INSERT OR IGNORE INTO persons (key, reference_id, nik, district, service_point, \
         request_id, meta, photo, signature, outcome, case_id, resolution, deleted, deleting, \
         lost, in_gallery) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
         ?15, ?16)",
        params![
            e.key as i64,
            reference_id(e.key),
            s.nik,
            s.district,
            s.service_point,
            s.request_id,
            serde_json::to_string(&meta)?,
            photo,
            signature,
            e.outcome.as_ref().map(serde_json::to_string).transpose()?,
            e.case_id,
            e.resolution
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
            e.deleted,
            e.deleting,
            e.lost,
            e.in_gallery(),
        ],
    )
    .map_err(|err| store.error(err))
}

/// Writes the status columns of `e` (everything but its demographics and attachments).
fn save_status(store: &StateStore, conn: &Connection, e: &Entry) -> Result<(), StateError> {
    conn.execute(
        "UPDATE persons SET outcome = ?2, case_id = ?3, resolution = ?4, deleted = ?5, \
         deleting = ?6, lost = ?7, in_gallery = ?8 WHERE key = ?1",
        params![
            e.key as i64,
            e.outcome.as_ref().map(serde_json::to_string).transpose()?,
            e.case_id,
            e.resolution
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
            e.deleted,
            e.deleting,
            e.lost,
            e.in_gallery(),
        ],
    )
    .map_err(|err| store.error(err))?;
    Ok(())
}

fn one(
    store: &StateStore,
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Option<Entry>, StateError> {
    let raw = conn
        .query_row(sql, args, raw)
        .optional()
        .map_err(|e| store.error(e))?;
    raw.map(decode).transpose()
}

fn lite(store: &StateStore, conn: &Connection, key: u64) -> Result<Option<Entry>, StateError> {
    one(
        store,
        conn,
        &format!("SELECT {LITE} FROM persons WHERE key = ?1"),
        [key as i64],
    )
}

/// Applies `change` to the status of `key` inside `conn`'s transaction; false if no such key.
fn change_in(
    store: &StateStore,
    conn: &Connection,
    key: u64,
    change: impl FnOnce(&mut Entry),
) -> Result<bool, StateError> {
    let Some(mut e) = lite(store, conn, key)? else {
        return Ok(false);
    };
    change(&mut e);
    save_status(store, conn, &e)?;
    Ok(true)
}

/// Reserves `n` keys (keys of aborted intents are never given out again).
fn take_keys(store: &StateStore, conn: &Connection, n: u64) -> Result<u64, StateError> {
    let first: i64 = conn
        .query_row(
            "SELECT value FROM counters WHERE name = 'next_key'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| store.error(e))?
        .unwrap_or(0);
    set_next_key(store, conn, first as u64 + n)?;
    Ok(first as u64)
}

/// Raises the next key to at least `next`.
pub(crate) fn set_next_key(
    store: &StateStore,
    conn: &Connection,
    next: u64,
) -> Result<(), StateError> {
    conn.execute(
        "INSERT INTO counters (name, value) VALUES ('next_key', ?1) \
         ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
        [next as i64],
    )
    .map_err(|e| store.error(e))?;
    Ok(())
}

impl Registry {
    /// Opens the registry of the data directory `dir` (its shared state store), refusing a
    /// directory whose journals of an older release are not migrated.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        crate::state::migrate::require_migrated(dir)?;
        Ok(Self::new(StateStore::shared(dir)?))
    }

    /// The registry in `store`.
    pub fn new(store: Arc<StateStore>) -> Self {
        Self { store }
    }

    /// The state store.
    pub fn store(&self) -> &Arc<StateStore> {
        &self.store
    }

    /// Every entry of the registry in `data_dir`, read without writing (for `fsck`), in key
    /// order; the journal of an older release when it is not migrated yet.
    pub fn read_entries(data_dir: &Path) -> Result<Vec<Entry>, StateError> {
        let journal = data_dir.join(super::REGISTRY_FILE);
        if journal.exists() {
            return super::legacy::read_journal(&journal)
                .map(|(entries, _)| entries)
                .map_err(StateError::from);
        }
        let path = data_dir.join(crate::state::STATE_FILE);
        if !path.exists() {
            return Ok(Vec::new());
        }
        let store = StateStore::open_read_only(&path)?;
        let registry = Self::new(Arc::new(store));
        registry.scan(|_| true)
    }

    fn change(&self, key: u64, change: impl FnOnce(&mut Entry)) -> Result<(), StateError> {
        let store = &self.store;
        store.transaction(|tx| change_in(store, tx, key, change).map(|_| ()))
    }

    /// Settles intents without an outcome (see the module documentation): `in_gallery`
    /// tells whether a key is in the gallery. Returns (rolled forward, aborted).
    pub fn reconcile(
        &self,
        in_gallery: impl Fn(u64) -> bool,
    ) -> Result<(usize, usize), StateError> {
        let (mut forward, mut aborted) = (0, 0);
        for key in self.unsettled_keys(|e| e.outcome.is_none())? {
            if in_gallery(key) {
                self.outcome(key, Outcome::Single)?;
                forward += 1;
            } else {
                self.abort(key)?;
                aborted += 1;
            }
        }
        Ok((forward, aborted))
    }

    /// The next key to be given out.
    pub fn next_key(&self) -> Result<u64, StateError> {
        let store = &self.store;
        store.read(|conn| {
            let next: Option<i64> = conn
                .query_row(
                    "SELECT value FROM counters WHERE name = 'next_key'",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| store.error(e))?;
            Ok(next.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
        })
    }

    /// Raises the next key past `key` (a key of a lost intent is never given out again).
    pub fn skip_key(&self, key: u64) -> Result<(), StateError> {
        let store = &self.store;
        store.transaction(|tx| set_next_key(store, tx, key.saturating_add(1)))
    }

    /// Reserves a new key for `meta` (built by `make` from the key) and stores the intent,
    /// committed without a sync of its own: it is durable once any later commit of the
    /// store is (the enrolment's outcome, or any other enrolment's), and recovery settles
    /// one lost with the power (see the module documentation).
    pub fn intent(&self, make: impl FnOnce(u64) -> PersonMeta) -> Result<u64, StateError> {
        let store = &self.store;
        store.transaction_unsynced(|tx| {
            let key = take_keys(store, tx, 1)?;
            insert(store, tx, &intent_entry(key, make(key)))?;
            Ok(key)
        })
    }

    /// As [`Registry::intent`], with whatever `with` writes in the same transaction (given
    /// the new key): it is durable exactly when the intent is.
    pub fn intent_with(
        &self,
        make: impl FnOnce(u64) -> PersonMeta,
        with: impl FnOnce(&Transaction<'_>, u64) -> Result<(), StateError>,
    ) -> Result<u64, StateError> {
        let store = &self.store;
        store.transaction_unsynced(|tx| {
            let key = take_keys(store, tx, 1)?;
            insert(store, tx, &intent_entry(key, make(key)))?;
            with(tx, key)?;
            Ok(key)
        })
    }

    /// Inside `tx`: marks the person in the gallery of the enrolment `request_id` from
    /// (`district`, `service_point`) as being deleted (see [`Registry::deleting`]); returns
    /// its key, or `None` when no such person is in the gallery.
    pub fn deleting_in(
        &self,
        tx: &Transaction<'_>,
        district: &str,
        service_point: &str,
        request_id: &str,
    ) -> Result<Option<u64>, StateError> {
        let store = &self.store;
        let found = one(
            store,
            tx,
            &format!(
                "SELECT {LITE} FROM persons WHERE district = ?1 AND service_point = ?2 \
                 AND request_id = ?3 ORDER BY key DESC LIMIT 1"
            ),
            params![district, service_point, request_id],
        )?;
        let Some(mut e) = found.filter(Entry::in_gallery) else {
            return Ok(None);
        };
        e.deleting = true;
        save_status(store, tx, &e)?;
        Ok(Some(e.key))
    }

    /// Reserves keys for many enrolments in one transaction (bulk import).
    pub fn intents(&self, metas: Vec<PersonMeta>) -> Result<Vec<u64>, StateError> {
        let store = &self.store;
        store.transaction(|tx| {
            let first = take_keys(store, tx, metas.len() as u64)?;
            let mut keys = Vec::with_capacity(metas.len());
            for (mut meta, key) in metas.into_iter().zip(first..) {
                meta.summary.reference_id = reference_id(key);
                insert(store, tx, &intent_entry(key, meta))?;
                keys.push(key);
            }
            Ok(keys)
        })
    }

    /// Stores the same outcome for many keys in one transaction (bulk import).
    pub fn outcomes(&self, keys: &[u64], outcome: &Outcome) -> Result<(), StateError> {
        let store = &self.store;
        store.transaction(|tx| {
            for &key in keys {
                change_in(store, tx, key, |e| e.outcome = Some(outcome.clone()))?;
            }
            Ok(())
        })
    }

    /// Stores the outcome of `key`.
    pub fn outcome(&self, key: u64, outcome: Outcome) -> Result<(), StateError> {
        self.change(key, |e| e.outcome = Some(outcome))
    }

    /// Stores the outcome of `key` and, in the same transaction, the idempotency `answer`
    /// (one durable commit for both); returns the entry without photo and signature.
    pub fn outcome_answered(
        &self,
        key: u64,
        outcome: Outcome,
        answer: Option<Answer>,
    ) -> Result<Entry, StateError> {
        let store = &self.store;
        let (e, ()) = self.outcome_with(key, outcome, |tx, _| match &answer {
            Some(a) => idempotency::insert(store, tx, a),
            None => Ok(()),
        })?;
        Ok(e)
    }

    /// Stores the outcome of `key` and, in the same transaction, what `with` writes (a case,
    /// the idempotency answer, a callback notice): one durable commit for all of it. `with`
    /// sees the entry (without photo and signature) with its outcome set and may change its
    /// status (its `case_id`). Returns the entry as stored and `with`'s value.
    pub fn outcome_with<T>(
        &self,
        key: u64,
        outcome: Outcome,
        with: impl FnOnce(&Transaction<'_>, &mut Entry) -> Result<T, StateError>,
    ) -> Result<(Entry, T), StateError> {
        self.change_with(key, |tx, e| {
            e.outcome = Some(outcome);
            with(tx, e)
        })
    }

    /// Applies `with` to the entry of `key` (without photo and signature) in one transaction
    /// with whatever else `with` writes, and stores its status. Returns the entry as stored
    /// and `with`'s value.
    pub fn change_with<T>(
        &self,
        key: u64,
        with: impl FnOnce(&Transaction<'_>, &mut Entry) -> Result<T, StateError>,
    ) -> Result<(Entry, T), StateError> {
        let store = &self.store;
        store.transaction(|tx| {
            let Some(mut e) = lite(store, tx, key)? else {
                return Err(StateError::Missing(reference_id(key)));
            };
            let value = with(tx, &mut e)?;
            save_status(store, tx, &e)?;
            Ok((e, value))
        })
    }

    /// Drops an intent that will never be decided (its matching failed).
    pub fn abort(&self, key: u64) -> Result<(), StateError> {
        let store = &self.store;
        store.transaction(|tx| {
            tx.execute(
                "DELETE FROM persons WHERE key = ?1 AND outcome IS NULL",
                [key as i64],
            )
            .map_err(|e| store.error(e))?;
            Ok(())
        })
    }

    /// Stores the case opened for `key`.
    pub fn case_opened(&self, key: u64, case_id: &str) -> Result<(), StateError> {
        self.change(key, |e| e.case_id = Some(case_id.to_owned()))
    }

    /// Stores the final case decision for `key`.
    pub fn closed(&self, key: u64, resolution: Resolution) -> Result<(), StateError> {
        self.change(key, |e| e.resolution = Some(resolution))
    }

    /// Stores that `key` is about to be deleted from the gallery (before the gallery
    /// delete, so that open can tell a finished deletion from a person the gallery lost).
    pub fn deleting(&self, key: u64) -> Result<(), StateError> {
        self.change(key, |e| e.deleting = true)
    }

    /// Stores that the gallery record of `key` was lost to damage (`fsck --salvage`).
    pub fn lost(&self, key: u64, reason: &str) -> Result<(), StateError> {
        self.change(key, |e| e.lost = Some(reason.to_owned()))
    }

    /// Stores the deletion of `key`.
    pub fn deleted(&self, key: u64) -> Result<(), StateError> {
        self.change(key, |e| e.deleted = true)
    }
}

fn intent_entry(key: u64, meta: PersonMeta) -> Entry {
    Entry {
        key,
        meta,
        outcome: None,
        case_id: None,
        resolution: None,
        deleted: false,
        deleting: false,
        lost: None,
    }
}

/// Inserts migrated entries and raises the next key, inside `tx`; returns rows inserted.
pub(crate) fn migrate_entries(
    store: &StateStore,
    tx: &Transaction<'_>,
    entries: &[Entry],
    next_key: u64,
) -> Result<usize, StateError> {
    let mut inserted = 0;
    for e in entries {
        inserted += insert(store, tx, e)?;
    }
    set_next_key(store, tx, next_key)?;
    Ok(inserted)
}
