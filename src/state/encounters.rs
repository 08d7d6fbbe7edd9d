//! The encounters of the OSIA ABIS interface in the state store (schema step 18): which
//! OSIA person and encounter each external engine reference is, the encounter as received
//! (without its images), its templates, its galleries, and the references retired from the
//! engine.
//!
//! The rows are opaque JSON here (the OSIA layer gives them their types). Reads and the
//! writes that touch no engine person are methods of [`Encounters`]; the writes that go with
//! an engine change are functions on an open transaction (`*_in`), so that the engine's
//! registry write and the encounter row commit together (`engine/encounters.rs` describes
//! the crash rule).

pub mod legacy;

use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::Value;

use super::{StateError, StateStore};

/// The gallery of encounters created without galleries.
pub const DEFAULT_GALLERY: &str = "default";

/// One encounter as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EncounterRow {
    /// The OSIA person.
    pub person_id: String,
    /// The encounter.
    pub encounter_id: String,
    /// The engine's external reference.
    pub external_id: String,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// The encounter as received, without images.
    pub document: Value,
    /// The galleries it belongs to (never empty: [`DEFAULT_GALLERY`] when none was named).
    pub galleries: Vec<String>,
}

/// A new or replacing encounter: its row and templates.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEncounter {
    /// The row.
    pub row: EncounterRow,
    /// Its templates, in order.
    pub templates: Vec<Value>,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    /// The source's encounters now belong to the target.
    Done,
    /// The source person has no encounter.
    SourceUnknown,
    /// Both persons hold this encounter id: nothing changed.
    Conflict(String),
}

/// The encounter tables of a state store.
#[derive(Debug, Clone)]
pub struct Encounters {
    store: Arc<StateStore>,
}

const COLUMNS: &str = "person_id, encounter_id, external_id, status, document";

type Raw = (String, String, String, String, String);

fn raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<Raw> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn galleries_of(
    store: &StateStore,
    conn: &Connection,
    external_id: &str,
) -> Result<Vec<String>, StateError> {
    let mut st = conn
        .prepare_cached(
            "SELECT gallery_id FROM encounter_galleries WHERE external_id = ?1 ORDER BY gallery_id",
        )
        .map_err(|e| store.error(e))?;
    let rows = st
        .query_map([external_id], |r| r.get::<_, String>(0))
        .map_err(|e| store.error(e))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| store.error(e))
}

fn decode(store: &StateStore, conn: &Connection, t: Raw) -> Result<EncounterRow, StateError> {
    let (person_id, encounter_id, external_id, status, document) = t;
    let galleries = galleries_of(store, conn, &external_id)?;
    Ok(EncounterRow {
        person_id,
        encounter_id,
        status,
        document: serde_json::from_str(&document)?,
        galleries,
        external_id,
    })
}

fn rows(
    store: &StateStore,
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<EncounterRow>, StateError> {
    let mut st = conn.prepare_cached(sql).map_err(|e| store.error(e))?;
    let found = st
        .query_map(args, raw)
        .map_err(|e| store.error(e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| store.error(e))?;
    found.into_iter().map(|t| decode(store, conn, t)).collect()
}

fn exists(
    store: &StateStore,
    conn: &Connection,
    person_id: &str,
    encounter_id: &str,
) -> Result<Option<String>, StateError> {
    conn.query_row(
        "SELECT external_id FROM encounters WHERE person_id = ?1 AND encounter_id = ?2",
        [person_id, encounter_id],
        |r| r.get(0),
    )
    .optional()
    .map_err(|e| store.error(e))
}

/// Writes `n`'s templates and galleries under its reference and takes the reference off
/// the retired list (what a created and a replaced encounter share).
fn claim(store: &StateStore, tx: &Transaction<'_>, n: &NewEncounter) -> Result<(), StateError> {
    let err = |e| store.error(e);
    let ext = &n.row.external_id;
    for (ord, t) in n.templates.iter().enumerate() {
        tx.execute(
            "INSERT INTO encounter_templates (external_id, ord, template) VALUES (?1, ?2, ?3)",
            params![ext, ord as i64, serde_json::to_string(t)?],
        )
        .map_err(err)?;
    }
    for g in &n.row.galleries {
        tx.execute(
            "INSERT OR IGNORE INTO encounter_galleries (gallery_id, external_id) VALUES (?1, ?2)",
            [g, ext],
        )
        .map_err(err)?;
    }
    forget_in(store, tx, ext)
}

/// Removes everything stored under reference `external_id` but the encounter row.
fn drop_reference(store: &StateStore, tx: &Transaction<'_>, ext: &str) -> Result<(), StateError> {
    let err = |e| store.error(e);
    tx.execute(
        "DELETE FROM encounter_templates WHERE external_id = ?1",
        [ext],
    )
    .map_err(err)?;
    tx.execute(
        "DELETE FROM encounter_galleries WHERE external_id = ?1",
        [ext],
    )
    .map_err(err)?;
    Ok(())
}

/// Records `external_id` as to be removed from the engine unless an encounter claims it.
pub fn retire_in(store: &StateStore, tx: &Transaction<'_>, ext: &str) -> Result<(), StateError> {
    tx.execute(
        "INSERT OR IGNORE INTO encounter_retired (external_id) VALUES (?1)",
        [ext],
    )
    .map_err(|e| store.error(e))?;
    Ok(())
}

/// Takes `external_id` off the retired list.
pub fn forget_in(store: &StateStore, tx: &Transaction<'_>, ext: &str) -> Result<(), StateError> {
    tx.execute(
        "DELETE FROM encounter_retired WHERE external_id = ?1",
        [ext],
    )
    .map_err(|e| store.error(e))?;
    Ok(())
}

/// Stores a new encounter whose reference is retired, claiming it; `false` (nothing
/// changed) when the person already has that encounter.
pub fn insert_in(
    store: &StateStore,
    tx: &Transaction<'_>,
    n: &NewEncounter,
) -> Result<bool, StateError> {
    let r = &n.row;
    if exists(store, tx, &r.person_id, &r.encounter_id)?.is_some() {
        return Ok(false);
    }
    // The storing order: the unique index on `seq` gives its maximum without a scan.
    let seq: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM encounters",
            [],
            |r| r.get(0),
        )
        .map_err(|e| store.error(e))?;
    tx.execute(
        &format!("INSERT INTO encounters ({COLUMNS}, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        params![
            r.person_id,
            r.encounter_id,
            r.external_id,
            r.status,
            serde_json::to_string(&r.document)?,
            seq
        ],
    )
    .map_err(|e| store.error(e))?;
    claim(store, tx, n)?;
    Ok(true)
}

/// Replaces an encounter by `n` (a new reference, claimed); returns the old reference, no
/// longer named by any row (its engine person is the caller's to delete), or `None`
/// (nothing changed) when the encounter does not exist.
pub fn replace_in(
    store: &StateStore,
    tx: &Transaction<'_>,
    n: &NewEncounter,
) -> Result<Option<String>, StateError> {
    let r = &n.row;
    let Some(old) = exists(store, tx, &r.person_id, &r.encounter_id)? else {
        return Ok(None);
    };
    tx.execute(
        "UPDATE encounters SET external_id = ?3, status = ?4, document = ?5
         WHERE person_id = ?1 AND encounter_id = ?2",
        params![
            r.person_id,
            r.encounter_id,
            r.external_id,
            r.status,
            serde_json::to_string(&r.document)?,
        ],
    )
    .map_err(|e| store.error(e))?;
    drop_reference(store, tx, &old)?;
    claim(store, tx, n)?;
    Ok(Some(old))
}

/// Deletes encounters of `person_id` (every one when `encounter_id` is `None`); returns
/// their references (empty: no such encounter), whose engine persons are the caller's to
/// delete.
pub fn delete_in(
    store: &StateStore,
    tx: &Transaction<'_>,
    person_id: &str,
    encounter_id: Option<&str>,
) -> Result<Vec<String>, StateError> {
    let err = |e| store.error(e);
    let refs: Vec<String> = {
        let mut st = tx
            .prepare(
                "SELECT external_id FROM encounters
                 WHERE person_id = ?1 AND (?2 IS NULL OR encounter_id = ?2) ORDER BY seq",
            )
            .map_err(err)?;
        let found = st
            .query_map(params![person_id, encounter_id], |r| r.get(0))
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        found
    };
    for r in &refs {
        tx.execute("DELETE FROM encounters WHERE external_id = ?1", [r])
            .map_err(err)?;
        drop_reference(store, tx, r)?;
    }
    Ok(refs)
}

impl Encounters {
    /// The encounter tables of `store`.
    pub fn new(store: Arc<StateStore>) -> Self {
        Self { store }
    }

    /// The state store.
    pub fn store(&self) -> &Arc<StateStore> {
        &self.store
    }

    /// Records `external_id` as retired in a transaction of its own.
    pub fn retire(&self, external_id: &str) -> Result<(), StateError> {
        let store = &self.store;
        store.transaction(|tx| retire_in(store, tx, external_id))
    }

    /// Forgets a retired reference (removed from the engine, or never inserted).
    pub fn forget(&self, external_id: &str) -> Result<(), StateError> {
        let store = &self.store;
        store.transaction(|tx| forget_in(store, tx, external_id))
    }

    /// The retired references still to remove from the engine.
    pub fn retired(&self) -> Result<Vec<String>, StateError> {
        strings(
            &self.store,
            "SELECT external_id FROM encounter_retired ORDER BY external_id",
        )
    }

    /// The encounter `encounter_id` of `person_id`.
    pub fn get(
        &self,
        person_id: &str,
        encounter_id: &str,
    ) -> Result<Option<EncounterRow>, StateError> {
        let store = &self.store;
        store.read(|conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM encounters WHERE person_id = ?1 AND encounter_id = ?2"
            );
            Ok(rows(store, conn, &sql, [person_id, encounter_id])?.pop())
        })
    }

    /// The templates of the encounter `encounter_id` of `person_id`, in order; `None` when
    /// there is no such encounter.
    pub fn templates(
        &self,
        person_id: &str,
        encounter_id: &str,
    ) -> Result<Option<Vec<Value>>, StateError> {
        let store = &self.store;
        store.read(|conn| {
            let Some(ext) = exists(store, conn, person_id, encounter_id)? else {
                return Ok(None);
            };
            let mut st = conn
                .prepare_cached(
                    "SELECT template FROM encounter_templates WHERE external_id = ?1 ORDER BY ord",
                )
                .map_err(|e| store.error(e))?;
            let texts = st
                .query_map([&ext], |r| r.get::<_, String>(0))
                .map_err(|e| store.error(e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| store.error(e))?;
            let values = texts
                .iter()
                .map(|t| serde_json::from_str(t))
                .collect::<Result<Vec<Value>, _>>()?;
            Ok(Some(values))
        })
    }

    /// The encounter stored under engine reference `external_id`.
    pub fn by_external(&self, external_id: &str) -> Result<Option<EncounterRow>, StateError> {
        let store = &self.store;
        store.read(|conn| {
            let sql = format!("SELECT {COLUMNS} FROM encounters WHERE external_id = ?1");
            Ok(rows(store, conn, &sql, [external_id])?.pop())
        })
    }

    /// Every encounter of `person_id`, oldest first.
    pub fn person(&self, person_id: &str) -> Result<Vec<EncounterRow>, StateError> {
        let store = &self.store;
        store.read(|conn| {
            let sql = format!("SELECT {COLUMNS} FROM encounters WHERE person_id = ?1 ORDER BY seq");
            rows(store, conn, &sql, [person_id])
        })
    }

    /// Whether engine reference `external_id` is a member of `gallery_id`.
    pub fn is_member(&self, gallery_id: &str, external_id: &str) -> Result<bool, StateError> {
        let store = &self.store;
        store.read(|conn| {
            conn.query_row(
                "SELECT 1 FROM encounter_galleries WHERE gallery_id = ?1 AND external_id = ?2",
                [gallery_id, external_id],
                |_| Ok(()),
            )
            .optional()
            .map(|f| f.is_some())
            .map_err(|e| store.error(e))
        })
    }

    /// The galleries with at least one encounter.
    pub fn galleries(&self) -> Result<Vec<String>, StateError> {
        strings(
            &self.store,
            "SELECT DISTINCT gallery_id FROM encounter_galleries ORDER BY gallery_id",
        )
    }

    /// One page of `gallery_id`'s encounters (person, encounter), in the order they were
    /// stored; `None` when the gallery has no encounter.
    pub fn gallery_content(
        &self,
        gallery_id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Option<Vec<(String, String)>>, StateError> {
        let store = &self.store;
        store.read(|conn| {
            let err = |e| store.error(e);
            let any = conn
                .query_row(
                    "SELECT 1 FROM encounter_galleries WHERE gallery_id = ?1 LIMIT 1",
                    [gallery_id],
                    |_| Ok(()),
                )
                .optional()
                .map_err(err)?;
            if any.is_none() {
                return Ok(None);
            }
            let mut st = conn
                .prepare(
                    "SELECT e.person_id, e.encounter_id FROM encounter_galleries g
                     JOIN encounters e ON e.external_id = g.external_id
                     WHERE g.gallery_id = ?1 ORDER BY e.seq LIMIT ?2 OFFSET ?3",
                )
                .map_err(err)?;
            let out = st
                .query_map(
                    params![
                        gallery_id,
                        i64::try_from(limit).unwrap_or(i64::MAX),
                        i64::try_from(offset).unwrap_or(i64::MAX)
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            Ok(Some(out))
        })
    }

    /// Moves every encounter of `source` to `target` (encounter ids kept); refused whole
    /// when both hold one encounter id.
    pub fn merge(&self, target: &str, source: &str) -> Result<Merged, StateError> {
        let store = &self.store;
        store.transaction(|tx| {
            let err = |e| store.error(e);
            let ids: Vec<String> = {
                let mut st = tx
                    .prepare("SELECT encounter_id FROM encounters WHERE person_id = ?1")
                    .map_err(err)?;
                let found = st
                    .query_map([source], |r| r.get(0))
                    .map_err(err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(err)?;
                found
            };
            if ids.is_empty() {
                return Ok(Merged::SourceUnknown);
            }
            for id in &ids {
                if exists(store, tx, target, id)?.is_some() {
                    return Ok(Merged::Conflict(id.clone()));
                }
            }
            tx.execute(
                "UPDATE encounters SET person_id = ?1 WHERE person_id = ?2",
                [target, source],
            )
            .map_err(err)?;
            Ok(Merged::Done)
        })
    }

    /// Sets an encounter's status; `false` when there is no such encounter.
    pub fn set_status(
        &self,
        person_id: &str,
        encounter_id: &str,
        status: &str,
    ) -> Result<bool, StateError> {
        let store = &self.store;
        store.transaction(|tx| {
            let n = tx
                .execute(
                    "UPDATE encounters SET status = ?3 WHERE person_id = ?1 AND encounter_id = ?2",
                    [person_id, encounter_id, status],
                )
                .map_err(|e| store.error(e))?;
            Ok(n > 0)
        })
    }
}

/// The one text column of every row `sql` selects.
fn strings(store: &StateStore, sql: &str) -> Result<Vec<String>, StateError> {
    store.read(|conn| {
        let mut st = conn.prepare(sql).map_err(|e| store.error(e))?;
        let out = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| store.error(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| store.error(e))?;
        Ok(out)
    })
}

#[cfg(test)]
mod tests;
