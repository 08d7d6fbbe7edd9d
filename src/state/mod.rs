//! The service's transactional metadata store: one SQLite database, `state.sqlite3`, in the
//! data directory.
//!
//! The database runs in WAL mode with `synchronous=FULL`: a committed transaction is on disk
//! (the `-wal` file `fdatasync`ed) before [`StateStore::transaction`] returns. The schema is
//! versioned by `PRAGMA user_version` and brought up to date at open by the steps in
//! [`schema`]; a database written by a newer release is refused. Open checks the header,
//! the schema and the small tables it reads, at a cost independent of the number of rows,
//! and refuses a damaged file with [`StateError::Corrupt`]; the whole file is checked by a
//! background pass ([`integrity`], [`StateStore::spawn_integrity_check`]) after which a
//! damaged store refuses every write. Damage is reported, never repaired.
//!
//! Every durable sync the service's own state issues is counted in [`syncs`] (one per
//! committed SQLite transaction that changed a row, one per journal append) and exported as
//! `tunggal_state_syncs_total{store}`.

pub mod encounters;
pub mod idempotency;
pub mod integrity;
pub mod journal;
pub mod migrate;
pub mod outbox_rows;
pub mod schema;
pub mod staged;
pub mod syncs;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use thiserror::Error;

/// File name of the store in the data directory.
pub const STATE_FILE: &str = "state.sqlite3";

/// How long a writer waits for the database lock held by another process (`fsck`, `migrate`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the store could not be opened, read or written.
#[derive(Debug, Error)]
pub enum StateError {
    /// SQLite failed on `path`.
    #[error("state store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        source: rusqlite::Error,
    },
    /// The file is damaged; the service refuses to open it.
    #[error(
        "state store {path} is damaged ({detail}); it was not opened and nothing was changed: \
         restore it from a backup (`tunggal fsck` reports it)"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        detail: String,
    },
    /// The schema is newer than this release knows.
    #[error("state store {path} has schema version {found}; this release knows up to {known}")]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// `user_version` found.
        found: i64,
        /// Highest version this release writes.
        known: i64,
    },
    /// A journal of an older release is still in the data directory.
    #[error(
        "{path} was written by an older release and is not in the state store yet: \
         run `tunggal migrate --data-dir {dir}` first"
    )]
    NotMigrated {
        /// The old journal.
        path: PathBuf,
        /// The data directory.
        dir: PathBuf,
    },
    /// The database file could not be created.
    #[error("state store {path}: {source}")]
    Io {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A journal of an older release could not be read.
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    /// A file of an older release could not be moved into the store (damaged, or clashing
    /// with rows already there); nothing was migrated.
    #[error(
        "{path} could not be moved into the state store: {detail}; nothing was migrated and \
         the file was left as it is (restore it from a backup, or move it away to start \
         without its rows)"
    )]
    NotMigratable {
        /// The old file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A row the caller relies on is not there.
    #[error("state store: {0} is not in the store")]
    Missing(String),
    /// A stored value could not be encoded or decoded.
    #[error("state store value: {0}")]
    Encode(#[from] serde_json::Error),
    /// The connection lock was poisoned by a panic in another thread.
    #[error("state store lock poisoned")]
    Poisoned,
}

impl StateError {
    /// Whether the failure is a full disk (or an exhausted quota).
    pub fn is_storage_full(&self) -> bool {
        match self {
            Self::Sqlite { source, .. } => is_full(source),
            Self::Journal(e) => e.is_storage_full(),
            Self::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ),
            _ => false,
        }
    }
}

fn is_full(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DiskFull))
}

fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// The open store of one data directory.
#[derive(Debug)]
pub struct StateStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    integrity: Arc<integrity::Integrity>,
}

impl StateStore {
    /// Opens (creating if needed) `state.sqlite3` in `data_dir`, checks it and brings its
    /// schema up to date.
    /// The encounter store of an older release (`osia.sqlite3`) is moved in first
    /// ([`encounters::legacy`]); damage in it refuses the open.
    pub fn open(data_dir: &Path) -> Result<Self, StateError> {
        let store = Self::open_file(&data_dir.join(STATE_FILE))?;
        if let Some(m) = encounters::legacy::migrate(&store, data_dir)? {
            tracing::info!(
                records = m.records,
                inserted = m.inserted,
                kept_as = %m.kept_as.display(),
                "the OSIA encounter store of an older release was moved into the state store"
            );
        }
        Ok(store)
    }

    /// The store of `data_dir` shared by every part of this process that has it open (the
    /// registry, idempotency, ...), so that one transaction can span them; opened on first
    /// use.
    pub fn shared(data_dir: &Path) -> Result<Arc<Self>, StateError> {
        static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<StateStore>>>> = OnceLock::new();
        let id = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        let mut open = OPEN
            .get_or_init(Mutex::default)
            .lock()
            .map_err(|_| StateError::Poisoned)?;
        open.retain(|_, store| store.strong_count() > 0);
        if let Some(store) = open.get(&id).and_then(Weak::upgrade) {
            return Ok(store);
        }
        let store = Arc::new(Self::open(data_dir)?);
        open.insert(id, Arc::downgrade(&store));
        Ok(store)
    }

    /// Opens the database at `path` read-only, without checks or schema changes (`fsck`).
    pub fn open_read_only(path: &Path) -> Result<Self, StateError> {
        let err = |source: rusqlite::Error| classify(path, source);
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            integrity: Arc::default(),
        })
    }

    /// Opens the database at `path` (see [`StateStore::open`]).
    pub fn open_file(path: &Path) -> Result<Self, StateError> {
        let path = path.to_path_buf();
        create_private(&path).map_err(|source| StateError::Io {
            path: path.clone(),
            source,
        })?;
        let err = |source: rusqlite::Error| classify(&path, source);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StateError::Corrupt {
                path,
                detail: format!("journal_mode is {mode}, not wal"),
            });
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(err)?;
        let problems = integrity::check_at_open(&conn).map_err(err)?;
        if !problems.is_empty() {
            return Err(StateError::Corrupt {
                path,
                detail: problems.join("; "),
            });
        }
        schema::upgrade(&conn, &path)?;
        Ok(Self {
            path,
            conn: Mutex::new(conn),
            integrity: Arc::default(),
        })
    }

    /// What the background integrity check knows of this store.
    pub fn integrity(&self) -> &integrity::Integrity {
        &self.integrity
    }

    /// Starts the whole-file integrity check on a thread of its own (see [`integrity`]);
    /// it stops early when the store is dropped.
    pub fn spawn_integrity_check(&self) -> Result<(), StateError> {
        integrity::spawn_pass(&self.path, &self.integrity).map_err(|source| StateError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Runs the whole-file integrity check on this thread and returns its outcome.
    pub fn check_integrity(&self) -> integrity::IntegrityStatus {
        integrity::run_pass(&self.path, &Arc::downgrade(&self.integrity));
        self.integrity.status()
    }

    /// Refuses writes once the integrity check found damage.
    fn refuse_if_damaged(&self) -> Result<(), StateError> {
        match self.integrity.damage() {
            Some(detail) => Err(StateError::Corrupt {
                path: self.path.clone(),
                detail,
            }),
            None => Ok(()),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one immediate transaction and commits it durably (one `fdatasync` of the
    /// WAL). An error from `f` rolls everything back. Blocking.
    pub fn transaction<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        self.try_transaction(f)
    }

    /// Runs `f` in one immediate transaction and commits it *without* a sync of its own
    /// (`synchronous=NORMAL` for this commit only): the commit is visible at once and
    /// survives a crash of the process, and it becomes durable against power loss with the
    /// next synced commit of the store (the `-wal` file is appended in commit order and its
    /// `fdatasync` covers every earlier frame) or the next checkpoint, whichever comes
    /// first. For writes whose loss before that sync recovery can settle (a registry
    /// intent: `engine/registry`). Not counted in [`syncs`]. Blocking.
    pub fn transaction_unsynced<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        self.refuse_if_damaged()?;
        let mut conn = self.conn.lock().map_err(|_| StateError::Poisoned)?;
        conn.execute_batch("PRAGMA synchronous=NORMAL")
            .map_err(|e| self.error(e))?;
        let committed: Result<T, StateError> = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| self.error(e))?;
            let value = f(&tx)?;
            tx.commit().map_err(|e| self.error(e))?;
            Ok(value)
        })();
        // Every other commit syncs: restore it whatever happened.
        let restored = conn
            .execute_batch("PRAGMA synchronous=FULL")
            .map_err(|e| self.error(e));
        let value = committed?;
        restored?;
        Ok(value)
    }

    /// As [`StateStore::transaction`] for an `f` with its own error type: an error from `f`
    /// rolls everything back; a transaction that changed nothing commits without a sync.
    pub fn try_transaction<T, E: From<StateError>>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.refuse_if_damaged()?;
        let mut conn = self.conn.lock().map_err(|_| StateError::Poisoned)?;
        let before = conn.total_changes();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(e))?;
        let value = f(&tx)?;
        let changed = tx.total_changes() != before;
        tx.commit().map_err(|e| self.error(e))?;
        if changed {
            syncs::record(syncs::Store::Sqlite);
        }
        Ok(value)
    }

    /// Runs a read-only `f` on the connection. Blocking.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let conn = self.conn.lock().map_err(|_| StateError::Poisoned)?;
        f(&conn)
    }

    /// Wraps a SQLite error of this store.
    pub fn error(&self, source: rusqlite::Error) -> StateError {
        classify(&self.path, source)
    }
}

/// Creates the database file readable by its owner only (SQLite gives its `-wal` and `-shm`
/// files the same mode); an existing file is left as it is.
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn classify(path: &Path, source: rusqlite::Error) -> StateError {
    if is_damage(&source) {
        StateError::Corrupt {
            path: path.to_path_buf(),
            detail: source.to_string(),
        }
    } else {
        StateError::Sqlite {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What `tunggal fsck` found in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCheck {
    /// Whether `state.sqlite3` exists.
    pub exists: bool,
    /// Schema version.
    pub version: i64,
    /// Lines of `PRAGMA integrity_check` other than `ok`, or the open error.
    pub problems: Vec<String>,
}

/// Checks `state.sqlite3` in `data_dir` with `PRAGMA integrity_check`, read-only.
pub fn check(data_dir: &Path) -> StateCheck {
    let path = data_dir.join(STATE_FILE);
    if !path.exists() {
        return StateCheck {
            exists: false,
            version: 0,
            problems: Vec::new(),
        };
    }
    let run = || -> Result<(i64, Vec<String>), rusqlite::Error> {
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut problems = Vec::new();
        for row in rows {
            let row = row?;
            if row != "ok" {
                problems.push(row);
            }
        }
        Ok((version, problems))
    };
    match run() {
        Ok((version, problems)) => StateCheck {
            exists: true,
            version,
            problems,
        },
        Err(e) => StateCheck {
            exists: true,
            version: 0,
            problems: vec![e.to_string()],
        },
    }
}

#[cfg(test)]
mod integrity_tests;
#[cfg(test)]
mod tests;
