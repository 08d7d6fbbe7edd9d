//! The append-only audit log of every access to a person's data: who, what, when.
//!
//! `audit.jsonl` in the data directory, a CRC-guarded [`Journal`]. Unlike the tracing log it
//! names the person (NIK or engine person id), because that is its purpose; protect the data
//! directory accordingly.
//!
//! # Durability
//!
//! An event is appended and `fdatasync`ed before the request is answered, except the
//! `enrol` event of an enrolment whose answer the engine keeps in its outcome transaction:
//! that event is written in the same transaction (a row of `audit_staged` in the state
//! store, [`stage_in`]) and its line, which carries the row's sequence number `seq`, is then
//! appended without a sync of its own ([`AuditLog::write_staged`]). The file is synced
//! every [`SYNC_EVERY`] such lines and by every synced append, and a row is deleted (by a
//! later staging transaction) once the file was synced past its line. On open, every row
//! still staged whose `seq` the file lacks (lost with the power before a sync) is appended
//! again, the file synced and the rows deleted: an answered enrolment never loses its audit
//! event, though such a line may follow lines of later events.
//!
//! # Files
//!
//! When the current file reaches the rotation size ([`ROTATE_BYTES`] by default,
//! `audit_rotate_bytes` in the service configuration) it is synced, renamed
//! `audit.jsonl.NNNNNN` (numbered from 1, oldest first) and a new one started ([`files`]);
//! nothing is deleted. Open reads neither file whole: the current file's end is checked (a
//! torn last line is cut and kept aside) and, when rows are still staged, the log is read
//! backward only as far as their sequence numbers reach, so its cost does not grow with
//! the log. [`AuditLog::read_all`] reads every file in order.

pub mod files;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction};
use serde::{Deserialize, Serialize};

use super::keys::Principal;
use crate::clock::now_secs;
use crate::state::journal::{Journal, JournalError};
use crate::state::staged::StagedEvent;
use crate::state::{StateError, StateStore};

/// Lines appended without a sync after which the file is synced.
pub const SYNC_EVERY: u64 = 256;

/// File name of the audit log in the data directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// Size at which the current file is rotated, by default (64 MiB).
pub const ROTATE_BYTES: u64 = 64 * 1024 * 1024;

/// One audited access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// Key id of the caller.
    pub key_id: String,
    /// Key holder's name.
    pub key_name: String,
    /// Caller's role.
    pub role: String,
    /// What was done: `enrol`, `identify`, `verify`, `delete`, `read_enrolment`, `forbidden`
    /// (a request refused 403), and from the review pages `review_login`,
    /// `review_login_failed`, `view_queue`, `view_case`, `decide_case`, `approve_case`,
    /// `return_case`, `view_photo`, `view_signature`. An event without an authenticated
    /// caller (a failed log-in with an unknown key) has key id, name and role `-`.
    pub action: String,
    /// Whose data: a NIK, person ids, or the submission's scope and request id.
    pub subject: String,
    /// The request's `request_id`, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// HTTP status answered.
    pub status: u16,
    /// The analyst case the access belongs to, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    /// The sequence number of an event written first in the state store (see the module
    /// documentation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

impl AuditEvent {
    /// An event by `who` now, without a case or a sequence number.
    fn by(who: &Principal, action: &str, subject: String, status: u16) -> Self {
        Self {
            at: now_secs(),
            key_id: who.key_id.clone(),
            key_name: who.name.clone(),
            role: who.role.as_str().to_owned(),
            action: action.to_owned(),
            subject,
            request_id: None,
            status,
            case_id: None,
            seq: None,
        }
    }
}

/// An audit event to write in an enrolment's outcome transaction ([`stage_in`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedAudit {
    /// The event.
    pub event: AuditEvent,
    /// Staged rows up to this sequence number have their line synced in the file and are
    /// deleted by the same transaction.
    pub synced_upto: u64,
}

impl StagedAudit {
    /// The row the state store keeps for this event ([`crate::state::staged`]).
    pub fn row(&self) -> Result<StagedEvent, serde_json::Error> {
        Ok(StagedEvent {
            json: serde_json::to_string(&self.event)?,
            synced_upto: self.synced_upto,
        })
    }
}

/// Writes `staged` in the transaction `tx` of `store` (and deletes the rows whose line the
/// file holds durably).
pub fn stage_in(
    store: &StateStore,
    tx: &Transaction<'_>,
    staged: &StagedAudit,
) -> Result<(), StateError> {
    crate::state::staged::stage_in(store, tx, &staged.row()?)
}

/// The staged events after `after`, in order, each with its `seq`.
fn staged_after(
    store: &StateStore,
    conn: &Connection,
    after: u64,
) -> Result<Vec<AuditEvent>, StateError> {
    let err = |e| store.error(e);
    let mut stmt = conn
        .prepare_cached("SELECT seq, event FROM audit_staged WHERE seq > ?1 ORDER BY seq")
        .map_err(err)?;
    let rows = stmt
        .query_map([i64::try_from(after).unwrap_or(i64::MAX)], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(err)?;
    let mut events = Vec::new();
    for row in rows {
        let (seq, json) = row.map_err(err)?;
        let mut event: AuditEvent = serde_json::from_str(&json)?;
        event.seq = u64::try_from(seq).ok();
        events.push(event);
    }
    Ok(events)
}

/// How far the file holds the staged events.
#[derive(Debug, Default)]
struct Marks {
    /// The last `seq` appended to the file.
    written: u64,
    /// The last `seq` whose line was synced.
    synced: u64,
}

/// The open file and how far it holds the staged events.
#[derive(Debug)]
struct Inner {
    journal: Journal<AuditEvent>,
    marks: Marks,
}

/// The audit log.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    rotate_bytes: u64,
    store: Arc<StateStore>,
    inner: Mutex<Inner>,
}

impl AuditLog {
    /// Opens (creating) the audit log in `data_dir`, appending the staged events the file
    /// lacks (see the module documentation).
    pub fn open(data_dir: &Path) -> Result<Self, StateError> {
        crate::state::migrate::require_migrated(data_dir)?;
        Self::open_with(data_dir, StateStore::shared(data_dir)?)
    }

    /// Opens the audit log in `data_dir` with the state store `store`, rotated at
    /// [`ROTATE_BYTES`].
    pub fn open_with(data_dir: &Path, store: Arc<StateStore>) -> Result<Self, StateError> {
        Self::open_rotating(data_dir, store, ROTATE_BYTES)
    }

    /// Opens the audit log in `data_dir` with the state store `store`, its current file
    /// rotated once it reaches `rotate_bytes`.
    pub fn open_rotating(
        data_dir: &Path,
        store: Arc<StateStore>,
        rotate_bytes: u64,
    ) -> Result<Self, StateError> {
        let journal = Journal::<AuditEvent>::open_at_end(data_dir.join(AUDIT_FILE))?;
        let staged = store.read(|conn| staged_after(&store, conn, 0))?;
        let present: HashSet<u64> = match staged.iter().filter_map(|e| e.seq).min() {
            Some(first) => files::seqs_from(data_dir, first)?.into_iter().collect(),
            None => HashSet::new(),
        };
        let missing: Vec<AuditEvent> = staged
            .iter()
            .filter(|e| e.seq.is_some_and(|s| !present.contains(&s)))
            .cloned()
            .collect();
        if !missing.is_empty() {
            tracing::warn!(
                events = missing.len(),
                "audit log lacked events of answered enrolments kept in the state store; \
                 appended again"
            );
            journal.append_all(&missing)?;
        } else if !staged.is_empty() {
            journal.sync()?;
        }
        let last = staged.iter().filter_map(|e| e.seq).max().unwrap_or(0);
        if last > 0 {
            store.transaction(|tx| {
                tx.execute(
                    "DELETE FROM audit_staged WHERE seq <= ?1",
                    [i64::try_from(last).unwrap_or(i64::MAX)],
                )
                .map_err(|e| store.error(e))?;
                Ok(())
            })?;
        }
        let log = Self {
            dir: data_dir.to_path_buf(),
            rotate_bytes,
            store,
            inner: Mutex::new(Inner {
                journal,
                marks: Marks {
                    written: last,
                    synced: last,
                },
            }),
        };
        {
            let mut inner = log.inner.lock().map_err(|_| StateError::Poisoned)?;
            log.rotate_if_full(&mut inner)?;
        }
        Ok(log)
    }

    /// Rotates the current file once it has reached the rotation size: synced, renamed to
    /// the next number, the directory synced, a new file started.
    fn rotate_if_full(&self, inner: &mut Inner) -> Result<(), JournalError> {
        let len = inner.journal.file_len()?;
        if len == 0 || len < self.rotate_bytes {
            return Ok(());
        }
        inner.journal.sync()?;
        inner.marks.synced = inner.marks.written;
        let number = files::rotated(&self.dir)?
            .last()
            .map_or(1, |(n, _)| n.saturating_add(1));
        let current = self.dir.join(AUDIT_FILE);
        let to = self.dir.join(files::rotated_name(number));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| JournalError::Io { path, source }
        };
        std::fs::rename(&current, &to).map_err(io(&to))?;
        inner.journal = Journal::open_at_end(&current)?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        tracing::info!(file = %to.display(), "audit log rotated");
        Ok(())
    }

    /// The event of an access to stage in an enrolment's outcome transaction.
    pub fn staging(
        &self,
        who: &Principal,
        action: &str,
        subject: String,
        request_id: Option<&str>,
        status: u16,
    ) -> Result<StagedAudit, JournalError> {
        let synced_upto = self
            .inner
            .lock()
            .map_err(|_| JournalError::Poisoned)?
            .marks
            .synced;
        Ok(StagedAudit {
            event: AuditEvent {
                request_id: request_id.map(str::to_owned),
                ..AuditEvent::by(who, action, subject, status)
            },
            synced_upto,
        })
    }

    /// Appends the lines of every event staged and committed since the last call (without
    /// a sync, but every [`SYNC_EVERY`] lines), on a blocking thread.
    pub async fn write_staged(self: &Arc<Self>) -> Result<(), StateError> {
        let log = Arc::clone(self);
        tokio::task::spawn_blocking(move || log.write_staged_blocking())
            .await
            .unwrap_or(Err(StateError::Poisoned))
    }

    /// As [`AuditLog::write_staged`], blocking.
    pub fn write_staged_blocking(&self) -> Result<(), StateError> {
        let mut guard = self.inner.lock().map_err(|_| StateError::Poisoned)?;
        let inner = &mut *guard;
        let events = self
            .store
            .read(|conn| staged_after(&self.store, conn, inner.marks.written))?;
        let Some(last) = events.iter().filter_map(|e| e.seq).max() else {
            return Ok(());
        };
        inner.journal.append_unsynced(&events)?;
        inner.marks.written = last;
        if inner.marks.written - inner.marks.synced >= SYNC_EVERY {
            inner.journal.sync()?;
            inner.marks.synced = inner.marks.written;
        }
        self.rotate_if_full(inner)?;
        Ok(())
    }

    /// Records an access durably, on a blocking thread.
    pub async fn record(
        self: &Arc<Self>,
        who: &Principal,
        action: &str,
        subject: String,
        request_id: Option<&str>,
        status: u16,
    ) -> Result<(), JournalError> {
        let event = AuditEvent {
            request_id: request_id.map(str::to_owned),
            ..AuditEvent::by(who, action, subject, status)
        };
        self.append(event).await
    }

    /// Records an access made while working on case `case_id`, durably, on a blocking
    /// thread.
    pub async fn record_case(
        self: &Arc<Self>,
        who: &Principal,
        action: &str,
        subject: String,
        case_id: &str,
        status: u16,
    ) -> Result<(), JournalError> {
        let event = AuditEvent {
            case_id: Some(case_id.to_owned()),
            ..AuditEvent::by(who, action, subject, status)
        };
        self.append(event).await
    }

    /// Records a refused attempt durably: by `who` when the caller is known, else by `-`.
    pub async fn record_refusal(
        self: &Arc<Self>,
        who: Option<&Principal>,
        action: &str,
        subject: String,
        status: u16,
    ) -> Result<(), JournalError> {
        let unknown = || "-".to_owned();
        let event = AuditEvent {
            at: now_secs(),
            key_id: who.map_or_else(unknown, |w| w.key_id.clone()),
            key_name: who.map_or_else(unknown, |w| w.name.clone()),
            role: who.map_or_else(unknown, |w| w.role.as_str().to_owned()),
            action: action.to_owned(),
            subject,
            request_id: None,
            status,
            case_id: None,
            seq: None,
        };
        self.append(event).await
    }

    async fn append(self: &Arc<Self>, event: AuditEvent) -> Result<(), JournalError> {
        let log = Arc::clone(self);
        tokio::task::spawn_blocking(move || log.append_blocking(&event))
            .await
            .unwrap_or(Err(JournalError::Poisoned))
    }

    /// Appends `event` durably; its sync also covers every staged line written before.
    fn append_blocking(&self, event: &AuditEvent) -> Result<(), JournalError> {
        let mut guard = self.inner.lock().map_err(|_| JournalError::Poisoned)?;
        let inner = &mut *guard;
        inner.journal.append(event)?;
        inner.marks.synced = inner.marks.written;
        self.rotate_if_full(inner)
    }

    /// Every event recorded so far, of every file in order (for tests and tools).
    pub fn read_all(data_dir: &Path) -> Result<Vec<AuditEvent>, JournalError> {
        files::read_all(data_dir)
    }
}

#[cfg(test)]
mod tests;
