//! The registry journal of older releases (`registry.jsonl`, events replayed in memory), read
//! by `tunggal migrate` and by `tunggal fsck` on a data directory not yet migrated.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Entry, Outcome, PersonMeta, Resolution};
use crate::state::journal::{Journal, JournalError};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(super) enum Event {
    Intent {
        key: u64,
        meta: Box<PersonMeta>,
    },
    Outcome {
        key: u64,
        outcome: Box<Outcome>,
    },
    Aborted {
        key: u64,
    },
    CaseOpened {
        key: u64,
        case_id: String,
    },
    Closed {
        key: u64,
        resolution: Resolution,
    },
    /// An administrator's deletion is about to reach the gallery.
    Deleting {
        key: u64,
    },
    /// `fsck --salvage` found the person's gallery record lost to damage: the person must
    /// enrol again.
    Lost {
        key: u64,
        reason: String,
    },
    Deleted {
        key: u64,
    },
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<u64, Entry>,
    next_key: u64,
}

impl State {
    fn apply(&mut self, event: Event) {
        if let Event::Intent { key, meta } = event {
            self.next_key = self.next_key.max(key + 1);
            self.entries.insert(
                key,
                Entry {
                    key,
                    meta: *meta,
                    outcome: None,
                    case_id: None,
                    resolution: None,
                    deleted: false,
                    deleting: false,
                    lost: None,
                },
            );
            return;
        }
        if let Event::Aborted { key } = event {
            self.entries.remove(&key);
            return;
        }
        let (Event::Outcome { key, .. }
        | Event::CaseOpened { key, .. }
        | Event::Closed { key, .. }
        | Event::Deleting { key }
        | Event::Lost { key, .. }
        | Event::Deleted { key }) = &event
        else {
            return;
        };
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        match event {
            Event::Outcome { outcome, .. } => e.outcome = Some(*outcome),
            Event::CaseOpened { case_id, .. } => e.case_id = Some(case_id),
            Event::Closed { resolution, .. } => e.resolution = Some(resolution),
            Event::Deleting { .. } => e.deleting = true,
            Event::Lost { reason, .. } => e.lost = Some(reason),
            Event::Deleted { .. } => e.deleted = true,
            Event::Intent { .. } | Event::Aborted { .. } => {}
        }
    }
}

/// The entries of the registry journal at `path`, in key order, and the next key it would
/// have given out (aborted intents keep their key used).
pub fn read_journal(path: &Path) -> Result<(Vec<Entry>, u64), JournalError> {
    let mut state = State::default();
    for e in Journal::<Event>::read(path)? {
        state.apply(e);
    }
    let next_key = state.next_key;
    let mut entries: Vec<Entry> = state.entries.into_values().collect();
    entries.sort_by_key(|e| e.key);
    Ok((entries, next_key))
}

/// Writes `entries` as a registry journal at `path` (one intent and the events that give
/// each entry its state), for tests of the migration.
#[cfg(test)]
pub fn write_journal(path: &Path, entries: &[Entry]) -> Result<(), JournalError> {
    let (journal, _) = Journal::<Event>::open(path)?;
    for e in entries {
        journal.append(&Event::Intent {
            key: e.key,
            meta: Box::new(e.meta.clone()),
        })?;
        if let Some(outcome) = &e.outcome {
            journal.append(&Event::Outcome {
                key: e.key,
                outcome: Box::new(outcome.clone()),
            })?;
        }
        if let Some(case_id) = &e.case_id {
            journal.append(&Event::CaseOpened {
                key: e.key,
                case_id: case_id.clone(),
            })?;
        }
        if let Some(resolution) = &e.resolution {
            journal.append(&Event::Closed {
                key: e.key,
                resolution: resolution.clone(),
            })?;
        }
        if e.deleting {
            journal.append(&Event::Deleting { key: e.key })?;
        }
        if let Some(reason) = &e.lost {
            journal.append(&Event::Lost {
                key: e.key,
                reason: reason.clone(),
            })?;
        }
        if e.deleted {
            journal.append(&Event::Deleted { key: e.key })?;
        }
    }
    Ok(())
}
