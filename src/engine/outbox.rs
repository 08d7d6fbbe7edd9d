//! The callback outbox: every verdict notice is stored (a row of the state store's
//! `callbacks` table, committed durably) before it is handed to the posting task, and its row
//! is deleted once delivered. Notices still pending when the server stops (or that ran out of
//! attempts) are replayed when it starts again.

use std::path::Path;
use std::sync::Arc;

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::callback::Notice;
use crate::state::{StateError, StateStore};

/// File name of the outbox journal of older releases (`tunggal migrate` moves it).
pub const OUTBOX_NAME: &str = "callbacks.jsonl";

/// An event of the outbox journal of older releases.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    Queued {
        id: u64,
        url: String,
        body: serde_json::Value,
    },
    Done {
        id: u64,
    },
}

/// The pending notices.
#[derive(Debug)]
pub struct Outbox {
    store: Arc<StateStore>,
}

impl Outbox {
    /// Opens the outbox of the data directory `dir`; returns it with the notices still
    /// pending, in the order they were queued.
    pub fn open(dir: &Path) -> Result<(Self, Vec<(u64, Notice)>), StateError> {
        crate::state::migrate::require_migrated(dir)?;
        let outbox = Self {
            store: StateStore::shared(dir)?,
        };
        let pending = outbox.pending()?;
        Ok((outbox, pending))
    }

    fn pending(&self) -> Result<Vec<(u64, Notice)>, StateError> {
        let store = &self.store;
        store.read(|conn| {
            let mut stmt = conn
                .prepare("SELECT id, url, body FROM callbacks ORDER BY id")
                .map_err(|e| store.error(e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(|e| store.error(e))?;
            let mut out = Vec::new();
            for row in rows {
                let (id, url, body) = row.map_err(|e| store.error(e))?;
                let body = serde_json::from_str(&body)?;
                out.push((id as u64, Notice { url, body }));
            }
            Ok(out)
        })
    }

    /// Stores a notice durably; returns its id.
    pub fn queue(&self, n: &Notice) -> Result<u64, StateError> {
        let store = &self.store;
        store.transaction(|tx| {
            let id = next_id(store, tx)?;
            insert(store, tx, id, &n.url, &n.body)?;
            Ok(id)
        })
    }

    /// The state store the notices are kept in.
    pub fn store(&self) -> &Arc<StateStore> {
        &self.store
    }

    /// Stores a notice inside `conn`'s transaction (of [`Outbox::store`]), with whatever
    /// else it commits; returns its id.
    pub fn queue_in(&self, conn: &rusqlite::Connection, n: &Notice) -> Result<u64, StateError> {
        let id = next_id(&self.store, conn)?;
        insert(&self.store, conn, id, &n.url, &n.body)?;
        Ok(id)
    }

    /// Marks a notice delivered (its row is deleted).
    pub fn done(&self, id: u64) -> Result<(), StateError> {
        let store = &self.store;
        store.transaction(|tx| {
            tx.execute("DELETE FROM callbacks WHERE id = ?1", [id as i64])
                .map_err(|e| store.error(e))?;
            Ok(())
        })
    }
}

fn next_id(store: &StateStore, conn: &rusqlite::Connection) -> Result<u64, StateError> {
    let next: i64 = conn
        .query_row(
            "SELECT value FROM counters WHERE name = 'next_callback'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| store.error(e))?
        .unwrap_or(0);
    raise_next_id(store, conn, next as u64 + 1)?;
    Ok(next as u64)
}

fn raise_next_id(
    store: &StateStore,
    conn: &rusqlite::Connection,
    next: u64,
) -> Result<(), StateError> {
    conn.execute(
        "INSERT INTO counters (name, value) VALUES ('next_callback', ?1) \
         ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
        [next as i64],
    )
    .map_err(|e| store.error(e))?;
    Ok(())
}

fn insert(
    store: &StateStore,
    conn: &rusqlite::Connection,
    id: u64,
    url: &str,
    body: &serde_json::Value,
) -> Result<usize, StateError> {
    conn.execute(
        "INSERT OR IGNORE INTO callbacks (id, url, body) VALUES (?1, ?2, ?3)",
        params![id as i64, url, serde_json::to_string(body)?],
    )
    .map_err(|e| store.error(e))
}

/// Replays the outbox journal of an older release into `tx`: its pending notices keep their
/// ids and later ids follow the highest it gave out. Returns (records, rows inserted).
pub(crate) fn migrate_journal(
    store: &StateStore,
    tx: &rusqlite::Transaction<'_>,
    events: Vec<Event>,
) -> Result<(usize, usize), StateError> {
    let records = events.len();
    let mut pending = std::collections::BTreeMap::new();
    let mut next = 0;
    for e in events {
        match e {
            Event::Queued { id, url, body } => {
                next = next.max(id + 1);
                pending.insert(id, (url, body));
            }
            Event::Done { id } => {
                pending.remove(&id);
            }
        }
    }
    let mut inserted = 0;
    for (id, (url, body)) in &pending {
        inserted += insert(store, tx, *id, url, body)?;
    }
    raise_next_id(store, tx, next)?;
    Ok((records, inserted))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pending_notices_survive_reopening_and_done_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let notice = |i: u64| Notice {
            url: format!("https://example.test/{i}"),
            body: serde_json::json!({ "request_id": i }),
        };
        {
            let (outbox, pending) = Outbox::open(dir.path()).unwrap();
            assert!(pending.is_empty());
            let a = outbox.queue(&notice(1)).unwrap();
            let b = outbox.queue(&notice(2)).unwrap();
            outbox.done(a).unwrap();
            assert_ne!(a, b);
        }
        let (outbox, pending) = Outbox::open(dir.path()).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].1, notice(2));
        // Ids keep growing across restarts.
        assert!(outbox.queue(&notice(3)).unwrap() > pending[0].0);
    }
}
