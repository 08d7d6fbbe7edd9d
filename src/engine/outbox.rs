//! The callback outbox: every verdict notice is stored (a row of the state store's
//! `callbacks` table, committed durably) before it is handed to the posting task, and its row
//! is deleted once delivered. Each failed attempt is recorded with its error and the time of
//! the next one, so the backoff continues over restarts; a notice whose attempts are used up
//! (or whose target is refused) becomes a dead letter: kept, listed for admins, never retried
//! until an admin requeues it.

use std::path::Path;
use std::sync::Arc;

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::callback::Notice;
pub use crate::state::outbox_rows::{CallbackCounts, DeadLetter};
use crate::state::{StateError, StateStore};

/// File name of the outbox journal of older releases (`tunggal migrate` moves it).
pub use crate::state::migrate::OUTBOX_NAME;

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

/// A notice still to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Outbox id.
    pub id: u64,
    /// The notice.
    pub notice: Notice,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due, milliseconds since the Unix epoch (0: at once).
    pub next_attempt_ms: u64,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The pending notices.
#[derive(Debug)]
pub struct Outbox {
    store: Arc<StateStore>,
}

impl Outbox {
    /// Opens the outbox of the data directory `dir`; returns it with the notices still
    /// pending (not dead letters), in the order they were queued.
    pub fn open(dir: &Path) -> Result<(Self, Vec<(u64, Notice)>), StateError> {
        crate::state::migrate::require_migrated(dir)?;
        let outbox = Self {
            store: StateStore::shared(dir)?,
        };
        let pending = outbox.pending()?;
        Ok((outbox, pending))
    }

    fn pending(&self) -> Result<Vec<(u64, Notice)>, StateError> {
        Ok(self
            .pending_scheduled()?
            .into_iter()
            .map(|p| (p.id, p.notice))
            .collect())
    }

    /// The notices still to deliver (not dead letters), oldest first, with their attempts.
    pub fn pending_scheduled(&self) -> Result<Vec<Pending>, StateError> {
        let store = &self.store;
        store.read(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT id, url, body, attempts, next_attempt_ms FROM callbacks \
                     WHERE dead_at IS NULL ORDER BY id",
                )
                .map_err(|e| store.error(e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })
                .map_err(|e| store.error(e))?;
            let mut out = Vec::new();
            for row in rows {
                let (id, url, body, attempts, next) = row.map_err(|e| store.error(e))?;
                let body = serde_json::from_str(&body)?;
                out.push(Pending {
                    id: id as u64,
                    notice: Notice { url, body },
                    attempts: attempts.max(0) as u32,
                    next_attempt_ms: next.max(0) as u64,
                });
            }
            Ok(out)
        })
    }

    /// Records a failed attempt: `attempts` made so far, the error, and when the next is due.
    pub fn failed(
        &self,
        id: u64,
        attempts: u32,
        error: &str,
        next_attempt_ms: u64,
    ) -> Result<(), StateError> {
        let store = &self.store;
        store.transaction(|tx| {
            tx.execute(
                "UPDATE callbacks SET attempts = ?2, last_error = ?3, next_attempt_ms = ?4 \
                 WHERE id = ?1",
                params![id as i64, attempts, error, next_attempt_ms as i64],
            )
            .map_err(|e| store.error(e))?;
            Ok(())
        })
    }

    /// Makes a notice a dead letter after `attempts` attempts, the last failing with `error`.
    pub fn dead(&self, id: u64, attempts: u32, error: &str) -> Result<(), StateError> {
        let store = &self.store;
        store.transaction(|tx| {
            tx.execute(
                "UPDATE callbacks SET attempts = ?2, last_error = ?3, dead_at = ?4 WHERE id = ?1",
                params![id as i64, attempts, error, now_ms() as i64 / 1000],
            )
            .map_err(|e| store.error(e))?;
            Ok(())
        })
    }

    /// Notices still to deliver and dead letters, counted.
    pub fn counts(&self) -> Result<CallbackCounts, StateError> {
        let store = &self.store;
        store.read(|conn| {
            conn.query_row(
                "SELECT COALESCE(SUM(dead_at IS NULL), 0), COALESCE(SUM(dead_at IS NOT NULL), 0) \
                 FROM callbacks",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
            .map(|(pending, dead)| CallbackCounts {
                pending: pending.max(0) as u64,
                dead: dead.max(0) as u64,
            })
            .map_err(|e| store.error(e))
        })
    }

    /// Every dead letter, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, StateError> {
        let store = &self.store;
        store.read(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT id, url, attempts, last_error, dead_at, body FROM callbacks \
                     WHERE dead_at IS NOT NULL ORDER BY id",
                )
                .map_err(|e| store.error(e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                })
                .map_err(|e| store.error(e))?;
            let mut out = Vec::new();
            for row in rows {
                let (id, url, attempts, last_error, dead_at, body) =
                    row.map_err(|e| store.error(e))?;
                let body: serde_json::Value = serde_json::from_str(&body)?;
                out.push(DeadLetter {
                    id: id as u64,
                    url,
                    request_id: body
                        .get("request_id")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned),
                    attempts: attempts.max(0) as u32,
                    last_error: last_error.unwrap_or_default(),
                    dead_at: dead_at.max(0) as u64,
                });
            }
            Ok(out)
        })
    }

    /// Turns dead letter `id` back into a pending notice with a fresh set of attempts, due
    /// now; returns it, or `None` when `id` is not a dead letter.
    pub fn requeue(&self, id: u64) -> Result<Option<Pending>, StateError> {
        let store = &self.store;
        let row = store.transaction(|tx| {
            let changed = tx
                .execute(
                    "UPDATE callbacks SET attempts = 0, dead_at = NULL, next_attempt_ms = 0 \
                     WHERE id = ?1 AND dead_at IS NOT NULL",
                    [id as i64],
                )
                .map_err(|e| store.error(e))?;
            if changed == 0 {
                return Ok(None);
            }
            tx.query_row(
                "SELECT url, body FROM callbacks WHERE id = ?1",
                [id as i64],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map_err(|e| store.error(e))
        })?;
        let Some((url, body)) = row else {
            return Ok(None);
        };
        Ok(Some(Pending {
            id,
            notice: Notice {
                url,
                body: serde_json::from_str(&body)?,
            },
            attempts: 0,
            next_attempt_ms: 0,
        }))
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

    #[test]
    fn failures_are_kept_and_dead_letters_are_not_replayed_until_requeued() {
        let dir = tempfile::tempdir().unwrap();
        let notice = Notice {
            url: "https://example.test/cb".to_owned(),
            body: serde_json::json!({ "request_id": "r-9" }),
        };
        let (outbox, _) = Outbox::open(dir.path()).unwrap();
        let id = outbox.queue(&notice).unwrap();
        outbox.failed(id, 2, "status 500", 12_345).unwrap();
        let pending = outbox.pending_scheduled().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(
            (pending[0].attempts, pending[0].next_attempt_ms),
            (2, 12_345)
        );
        outbox.dead(id, 3, "status 503").unwrap();
        drop(outbox);
        let (outbox, pending) = Outbox::open(dir.path()).unwrap();
        assert!(pending.is_empty(), "a dead letter was replayed on start");
        let dead = outbox.dead_letters().unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].id, id);
        assert_eq!(dead[0].attempts, 3);
        assert_eq!(dead[0].last_error, "status 503");
        assert_eq!(dead[0].request_id.as_deref(), Some("r-9"));
        let back = outbox.requeue(id).unwrap().unwrap();
        assert_eq!((back.attempts, back.notice.clone()), (0, notice));
        assert!(outbox.requeue(id).unwrap().is_none(), "requeued twice");
        assert!(outbox.dead_letters().unwrap().is_empty());
        assert_eq!(outbox.pending_scheduled().unwrap().len(), 1);
    }
}
