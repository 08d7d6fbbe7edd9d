//! The callback outbox: every verdict notice is journalled (`callbacks.jsonl` in the data
//! directory, CRC-checked lines, fsynced) before it is handed to the posting task, and marked
//! done once delivered. Notices still pending when the server stops (or that ran out of
//! attempts) are replayed when it starts again.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::callback::Notice;
use crate::service::journal::{Journal, JournalError};

/// File name of the outbox in the data directory.
pub const OUTBOX_NAME: &str = "callbacks.jsonl";

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event {
    Queued {
        id: u64,
        url: String,
        body: serde_json::Value,
    },
    Done {
        id: u64,
    },
}

/// The journal of pending notices.
#[derive(Debug)]
pub struct Outbox {
    journal: Journal<Event>,
    next: AtomicU64,
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir`; returns it with the notices still pending, in
    /// the order they were queued.
    pub fn open(dir: &Path) -> Result<(Self, Vec<(u64, Notice)>), JournalError> {
        let (journal, events) = Journal::<Event>::open(dir.join(OUTBOX_NAME))?;
        let mut pending = BTreeMap::new();
        let mut next = 0;
        for e in events {
            match e {
                Event::Queued { id, url, body } => {
                    next = next.max(id + 1);
                    pending.insert(id, Notice { url, body });
                }
                Event::Done { id } => {
                    pending.remove(&id);
                }
            }
        }
        Ok((
            Self {
                journal,
                next: AtomicU64::new(next),
            },
            pending.into_iter().collect(),
        ))
    }

    /// Journals a notice durably; returns its id.
    pub fn queue(&self, n: &Notice) -> Result<u64, JournalError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.journal.append(&Event::Queued {
            id,
            url: n.url.clone(),
            body: n.body.clone(),
        })?;
        Ok(id)
    }

    /// Marks a notice delivered.
    pub fn done(&self, id: u64) -> Result<(), JournalError> {
        self.journal.append(&Event::Done { id })
    }
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
