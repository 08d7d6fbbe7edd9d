//! A process-wide count of the durable syncs the service's state issues, by store, exported
//! as `tunggal_state_syncs_total{store}`.
//!
//! `sqlite` counts committed transactions of the state store: in WAL mode with
//! `synchronous=FULL` each commit `fdatasync`s the `-wal` file once (a WAL checkpoint, every
//! 1,000 pages by default, syncs more and is not counted). `journal` counts the `fdatasync`
//! of every append to a JSON-lines journal. The gallery's own write-ahead log is not counted
//! here; `strace -c -f -e trace=fdatasync,fsync` gives the process total.

use std::sync::atomic::{AtomicU64, Ordering};

/// Which store synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// A committed transaction of `state.sqlite3`.
    Sqlite,
    /// An append to a JSON-lines journal.
    Journal,
}

static SQLITE: AtomicU64 = AtomicU64::new(0);
static JOURNAL: AtomicU64 = AtomicU64::new(0);

/// Counts one sync of `store`.
pub fn record(store: Store) {
    let counter = match store {
        Store::Sqlite => &SQLITE,
        Store::Journal => &JOURNAL,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Syncs so far of `store`.
pub fn count(store: Store) -> u64 {
    match store {
        Store::Sqlite => SQLITE.load(Ordering::Relaxed),
        Store::Journal => JOURNAL.load(Ordering::Relaxed),
    }
}
