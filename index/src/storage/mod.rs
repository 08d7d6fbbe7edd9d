//! Gallery storage: memory-mapped fixed-stride segments, an append-only blob store and a
//! write-ahead log with group commit, checkpoints, compaction and crash recovery.
//!
//! The layer stores bytes; callers choose what a record holds. Each record has a `u64`
//! key, one fixed-stride record (read zero-copy, e.g. as `&[T]` for a `bytemuck::Pod`
//! type through [`SegmentView::records`]) and an optional variable-length blob kept cold
//! in `blobs.dat`.
//!
//! ```no_run
//! use tunggal_index::storage::{Store, StoreConfig};
//! # fn main() -> Result<(), tunggal_index::storage::StorageError> {
//! let store = Store::open("/var/lib/tunggal/gallery", StoreConfig::new(64))?;
//! store.insert(7, &[0u8; 64], b"full template")?;
//! let snap = store.snapshot();
//! for seg in snap.segments() {
//!     for slot in seg.live_slots() {
//!         let _record = seg.record(slot);
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! The on-disk format and the recovery procedure are described in `index/FORMAT.md`.

mod bitmap;
mod blob;
mod check;
mod error;
mod format;
mod keyindex;
mod manifest;
mod map;
mod op;
mod segment;
mod store;
mod view;
mod wal;

pub use bitmap::DeleteBitmap;
pub use blob::BlobRef;
pub use check::{check, salvage_logs, DamagedRecord, StoreCheck};
pub use error::{FileKind, Result, StorageError};
pub use keyindex::KEY_INDEX_NAME;
pub use segment::{SlotAddr, SlotMeta};
pub use store::{
    BlobCompactionReport, CompactionReport, KeyIndexOutcome, Recovered, RecoveryReport,
    ScrubProgress, ScrubReport, Store, StoreConfig, BLOB_NAME, INSERT_BATCH_LOCK_RUN, LOCK_NAME,
};
pub use view::{RecordRef, SegmentView, Snapshot};
pub use wal::{
    inspect as inspect_wal, Durability, LogHeader, LogInspection, TailDamage, TornTail, WalReplay,
};

/// The in-memory part of the key → slot map: keys written since the last checkpoint's key
/// index, or every key when the map was rebuilt from the slots. Keys are given out by the
/// store's owner (never chosen by a caller), so a fast, fixed-seed hash serves.
pub(crate) type KeyMap = std::collections::HashMap<u64, SlotAddr, foldhash::fast::FixedState>;
