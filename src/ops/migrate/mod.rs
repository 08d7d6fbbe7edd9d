//! `tunggal migrate`: moves the JSON-lines journals of an older release into the state store,
//! and the OSIA encounter store of an older release (`osia.sqlite3`, see
//! `state/encounters/legacy.rs`, which the service's open also moves).
//!
//! Each journal handled is checked (a damaged line followed by valid ones refuses the whole
//! migration; a torn last line is left out, as the old release's open would have cut it),
//! its records are inserted in one transaction (rows already present are kept, so an
//! interrupted migration can be run again), and only after that commit is the journal
//! renamed aside to `<name>.migrated` (`.migrated-2`, … if taken). Nothing is deleted.

use std::path::{Path, PathBuf};

use rusqlite::params;

use crate::access::keys::{self, KeyRecord, KEYS_FILE};
use crate::cases::legacy::{self as cases_legacy, CASES_FILE};
use crate::cases::CasePolicy;
use crate::engine::outbox::{self, OUTBOX_NAME};
use crate::engine::registry::{legacy, REGISTRY_FILE};
use crate::state::encounters;
use crate::state::idempotency::{Answer, IDEMPOTENCY_FILE};
use crate::state::journal::{self, Journal};
use crate::state::{StateError, StateStore};

/// What a migration did with one journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The journal's name.
    pub journal: &'static str,
    /// Records read from it.
    pub records: usize,
    /// Records that were not in the store yet.
    pub inserted: usize,
    /// Where the journal was put aside.
    pub kept_as: PathBuf,
}

/// Why a migration stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The store could not be opened or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A journal could not be read.
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    /// A journal is damaged in the middle.
    #[error(
        "{path}: line {line} is damaged and followed by valid records; nothing was migrated \
         (`tunggal fsck --salvage` writes a repaired copy)"
    )]
    Damaged {
        /// The journal.
        path: PathBuf,
        /// First damaged line.
        line: usize,
    },
    /// A line of a journal is intact but not a record this release knows.
    #[error(
        "{path}: line {line} is not a record this release can read ({detail}); nothing was \
         migrated"
    )]
    Unreadable {
        /// The journal.
        path: PathBuf,
        /// The line.
        line: usize,
        /// What did not decode.
        detail: String,
    },
    /// The journal could not be put aside.
    #[error("keeping {path} aside: {source}")]
    Rename {
        /// The journal.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Migrates every journal of `data_dir` the store has taken over; a journal absent is
/// skipped. Cases journalled without a deadline get the default policy's. Blocking; the
/// server must be stopped.
pub fn run(data_dir: &Path) -> Result<Vec<Moved>, MigrateError> {
    run_with(data_dir, &CasePolicy::default())
}

/// As [`run`], with the case `policy` of the service's settings.
pub fn run_with(data_dir: &Path, policy: &CasePolicy) -> Result<Vec<Moved>, MigrateError> {
    let store = StateStore::open_file(&data_dir.join(crate::state::STATE_FILE))?;
    let mut moved = Vec::new();
    if let Some(m) = encounters::legacy::migrate(&store, data_dir)? {
        moved.push(Moved {
            journal: encounters::legacy::LEGACY_FILE,
            records: m.records,
            inserted: m.inserted,
            kept_as: m.kept_as,
        });
    }
    let path = data_dir.join(REGISTRY_FILE);
    if path.exists() {
        moved.push(registry(&store, &path)?);
    }
    let path = data_dir.join(IDEMPOTENCY_FILE);
    if path.exists() {
        moved.push(answers(&store, &path)?);
    }
    let path = data_dir.join(KEYS_FILE);
    if path.exists() {
        let records: Vec<KeyRecord> = readable(&path)?;
        let inserted = store.transaction(|tx| {
            let mut n = 0;
            for r in &records {
                n += keys::insert_record(&store, tx, r)?;
            }
            Ok(n)
        })?;
        let kept_as = put_aside(&path)?;
        moved.push(Moved {
            journal: KEYS_FILE,
            records: records.len(),
            inserted,
            kept_as,
        });
    }
    let path = data_dir.join(OUTBOX_NAME);
    if path.exists() {
        let events: Vec<outbox::Event> = readable(&path)?;
        let (records, inserted) =
            store.transaction(|tx| outbox::migrate_journal(&store, tx, events))?;
        let kept_as = put_aside(&path)?;
        moved.push(Moved {
            journal: OUTBOX_NAME,
            records,
            inserted,
            kept_as,
        });
    }
    let path = data_dir.join(CASES_FILE);
    if path.exists() {
        let events: Vec<cases_legacy::Event> = readable(&path)?;
        let (records, inserted) =
            store.transaction(|tx| cases_legacy::migrate_journal(&store, tx, events, policy))?;
        let kept_as = put_aside(&path)?;
        moved.push(Moved {
            journal: CASES_FILE,
            records,
            inserted,
            kept_as,
        });
    }
    Ok(moved)
}

fn readable<T: serde::de::DeserializeOwned + serde::Serialize>(
    path: &Path,
) -> Result<Vec<T>, MigrateError> {
    let c = journal::check(path)?;
    if let (Some(line), false) = (c.first_bad_line, c.is_clean()) {
        return Err(MigrateError::Damaged {
            path: path.to_path_buf(),
            line,
        });
    }
    // Every CRC-valid line before any torn tail must be a record of this journal: one that
    // is not stops the migration rather than be left behind.
    let mut values = Journal::<serde_json::Value>::read(path)?;
    values.truncate(c.records);
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v).map_err(|e| MigrateError::Unreadable {
                path: path.to_path_buf(),
                line: i + 1,
                detail: e.to_string(),
            })
        })
        .collect()
}

fn registry(store: &StateStore, path: &Path) -> Result<Moved, MigrateError> {
    let c = journal::check(path)?;
    if let (Some(line), false) = (c.first_bad_line, c.is_clean()) {
        return Err(MigrateError::Damaged {
            path: path.to_path_buf(),
            line,
        });
    }
    let (entries, next_key) = legacy::read_journal(path)?;
    let inserted = store.transaction(|tx| {
        crate::engine::registry::migrate_entries(store, tx, &entries, next_key)
    })?;
    let kept_as = put_aside(path)?;
    Ok(Moved {
        journal: REGISTRY_FILE,
        records: entries.len(),
        inserted,
        kept_as,
    })
}

fn answers(store: &StateStore, path: &Path) -> Result<Moved, MigrateError> {
    let records: Vec<Answer> = readable(path)?;
    let now = crate::clock::now_secs() as i64;
    let inserted = store.transaction(|tx| {
        let mut stmt = tx
            .prepare(
                "INSERT OR IGNORE INTO answers (scope, request_id, operation, request_sha256, \
                 status, body, answered_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(|e| store.error(e))?;
        let mut inserted = 0;
        for a in &records {
            inserted += stmt
                .execute(params![
                    a.scope,
                    a.request_id,
                    a.operation,
                    a.request_sha256,
                    a.status,
                    serde_json::to_string(&a.body)?,
                    now
                ])
                .map_err(|e| store.error(e))?;
        }
        Ok(inserted)
    })?;
    let kept_as = put_aside(path)?;
    Ok(Moved {
        journal: IDEMPOTENCY_FILE,
        records: records.len(),
        inserted,
        kept_as,
    })
}

fn put_aside(path: &Path) -> Result<PathBuf, MigrateError> {
    crate::state::migrate::put_aside(path).map_err(|source| MigrateError::Rename {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests;
