//! Integrity of the state store: a check at open whose cost does not grow with the data,
//! and a background pass over the whole file.
//!
//! At open ([`check_at_open`]) SQLite reads and validates the file header and the schema,
//! and `PRAGMA quick_check(T)` runs over the small tables open and authentication read
//! ([`OPEN_CHECKED_TABLES`]); damage there refuses the open. The big tables (registry,
//! answers, cases) are checked by [`run_pass`], `PRAGMA quick_check` over the whole file
//! on a connection of its own, which the service runs on a background thread
//! ([`super::StateStore::spawn_integrity_check`]). Damage it finds is logged at ERROR and
//! kept in [`Integrity`]: from then on the store refuses every write transaction with
//! [`super::StateError::Corrupt`], `/ready` answers 503 and enrolments answer 503
//! `state_damaged`. Nothing is repaired or deleted.
//!
//! Progress is exported through the `metrics` facade: `tunggal_state_integrity_steps` (SQLite
//! virtual-machine steps of the current or last pass, sampled every [`STEP_SAMPLE`]),
//! `tunggal_state_integrity_status` (0 checking, 1 passed, 2 damaged, 3 could not run) and
//! `tunggal_state_integrity_passes_total`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use metrics::{counter, gauge};
use rusqlite::{Connection, OpenFlags};

/// Tables checked at open: read by open, authentication and the outbox, and small at any
/// number of persons or cases. `sqlite_schema` is read and parsed by every open.
pub const OPEN_CHECKED_TABLES: &[&str] = &["keys", "counters", "audit_staged", "callbacks"];

/// Virtual-machine steps between two progress samples (and cancellation checks).
pub const STEP_SAMPLE: i32 = 10_000;

/// What the background check knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntegrityStatus {
    /// No pass has finished yet.
    Checking,
    /// The last pass found no damage.
    Passed,
    /// A pass found damage (SQLite's report).
    Damaged(String),
    /// The pass could not run (the reason); nothing is known to be damaged.
    Failed(String),
}

impl IntegrityStatus {
    fn code(&self) -> u8 {
        match self {
            Self::Checking => 0,
            Self::Passed => 1,
            Self::Damaged(_) => 2,
            Self::Failed(_) => 3,
        }
    }
}

/// The integrity state of one open store, shared with its background pass.
#[derive(Debug)]
pub struct Integrity {
    status: Mutex<IntegrityStatus>,
    damaged: AtomicU8,
    steps: AtomicU64,
}

impl Default for Integrity {
    fn default() -> Self {
        Self {
            status: Mutex::new(IntegrityStatus::Checking),
            damaged: AtomicU8::new(0),
            steps: AtomicU64::new(0),
        }
    }
}

impl Integrity {
    /// The current status.
    pub fn status(&self) -> IntegrityStatus {
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// SQLite's report when a pass found damage.
    pub fn damage(&self) -> Option<String> {
        if self.damaged.load(Ordering::Acquire) == 0 {
            return None;
        }
        match self.status() {
            IntegrityStatus::Damaged(detail) => Some(detail),
            _ => None,
        }
    }

    /// Virtual-machine steps of the current or last pass (sampled).
    pub fn steps(&self) -> u64 {
        self.steps.load(Ordering::Relaxed)
    }

    /// Records `status`; damage once found stays (a later pass does not clear it).
    fn set(&self, status: IntegrityStatus) {
        let mut current = self.status.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(*current, IntegrityStatus::Damaged(_)) {
            return;
        }
        gauge!("tunggal_state_integrity_status").set(f64::from(status.code()));
        if matches!(status, IntegrityStatus::Damaged(_)) {
            self.damaged.store(1, Ordering::Release);
        }
        *current = status;
    }
}

/// Lines of a `quick_check` pragma other than `ok`.
fn problems(conn: &Connection, pragma: &str) -> Result<Vec<String>, rusqlite::Error> {
    let mut stmt = conn.prepare(pragma)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut found = Vec::new();
    for row in rows {
        let row = row?;
        if row != "ok" {
            found.push(row);
        }
    }
    Ok(found)
}

/// The check at open: the schema is read (SQLite validates the header and parses every
/// schema row) and each of [`OPEN_CHECKED_TABLES`] present is checked with its indexes.
/// Returns SQLite's report of damage (empty: none found).
pub fn check_at_open(conn: &Connection) -> Result<Vec<String>, rusqlite::Error> {
    let mut present = Vec::new();
    {
        let mut stmt = conn.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")?;
        let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for name in names {
            let name = name?;
            if OPEN_CHECKED_TABLES.contains(&name.as_str()) {
                present.push(name);
            }
        }
    }
    let mut found = Vec::new();
    for table in present {
        // The name is one of the constants above, not input.
        found.extend(problems(conn, &format!("PRAGMA quick_check(\"{table}\")"))?);
    }
    Ok(found)
}

/// Runs one whole-file `PRAGMA quick_check` of the database at `path` on a read-only
/// connection of its own and records the outcome in `integrity`. Stops early (status left
/// as it was) once every other holder of `integrity` has dropped it.
pub fn run_pass(path: &Path, integrity: &Weak<Integrity>) {
    let Some(state) = integrity.upgrade() else {
        return;
    };
    state.set(IntegrityStatus::Checking);
    state.steps.store(0, Ordering::Relaxed);
    gauge!("tunggal_state_integrity_steps").set(0.0);
    drop(state);
    let started = Instant::now();
    let outcome = (|| -> Result<Vec<String>, rusqlite::Error> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(super::BUSY_TIMEOUT)?;
        let watch = integrity.clone();
        conn.progress_handler(
            STEP_SAMPLE,
            Some(move || match watch.upgrade() {
                Some(state) => {
                    let steps = state
                        .steps
                        .fetch_add(STEP_SAMPLE.unsigned_abs().into(), Ordering::Relaxed);
                    gauge!("tunggal_state_integrity_steps").set(steps as f64);
                    false
                }
                // The store was closed: interrupt the pass.
                None => true,
            }),
        );
        problems(&conn, "PRAGMA quick_check")
    })();
    let Some(state) = integrity.upgrade() else {
        return;
    };
    counter!("tunggal_state_integrity_passes_total").increment(1);
    let seconds = started.elapsed().as_secs_f64();
    let status = match outcome {
        Ok(found) if found.is_empty() => {
            tracing::info!(
                path = %path.display(),
                seconds,
                steps = state.steps(),
                "state store integrity check passed"
            );
            IntegrityStatus::Passed
        }
        Ok(found) => damaged(path, found.join("; ")),
        Err(e) if super::is_damage(&e) => damaged(path, e.to_string()),
        Err(e) => {
            tracing::warn!(
                path = %path.display(),
                error = %e,
                "state store integrity check could not run"
            );
            IntegrityStatus::Failed(e.to_string())
        }
    };
    state.set(status);
}

fn damaged(path: &Path, detail: String) -> IntegrityStatus {
    tracing::error!(
        path = %path.display(),
        detail = %detail,
        "STATE STORE DAMAGED: the background integrity check found damage; every write is \
         refused and the service is not ready; nothing was changed or repaired: stop the \
         service and restore the file from a backup (`tunggal fsck` reports it)"
    );
    IntegrityStatus::Damaged(detail)
}

/// Starts [`run_pass`] on a thread of its own.
pub fn spawn_pass(path: &Path, integrity: &Arc<Integrity>) -> std::io::Result<()> {
    let path = path.to_path_buf();
    let weak = Arc::downgrade(integrity);
    std::thread::Builder::new()
        .name("state-integrity".into())
        .spawn(move || run_pass(&path, &weak))
        .map(|_| ())
}
