//! The gallery store: segments, blob store and write-ahead log behind one typed API, with
//! group commit, checkpoints, compaction and crash recovery.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::bitmap::DeleteBitmap;
use super::blob::{BlobRef, BlobStore, BLOB_HEADER_LEN};
use super::error::{FileKind, Result, StorageError};
use super::format::{
    bitmap_name, blob_name, crc, parse_bitmap_name, parse_blob_name, parse_segment_name,
    parse_wal_name, remove_if_exists, segment_name, sync_dir, tmp_path, write_atomic,
    STRIDE_MULTIPLE, TMP_SUFFIX,
};
use super::keyindex::{self, KeyTable, Keys, KEY_INDEX_NAME};
use super::manifest::{Manifest, SegmentEntry, MANIFEST_NAME};
use super::op::{InsertOp, LogOp};
use super::segment::{Segment, SegmentGeometry, SlotAddr, SlotMeta};
use super::view::Snapshot;
use super::wal::{self, Durability, Wal, WalReplay};
use super::KeyMap;

mod checkpoint;
mod compact;
mod open;
mod scrub;
mod state;

use open::remove_unlisted;
pub(super) use open::{open_segment, take_lock};
pub use scrub::{ScrubProgress, ScrubReport};

/// Name of the lock file in the data directory.
pub const LOCK_NAME: &str = "LOCK";
/// Name of the blob file in the data directory before any blob compaction (see
/// [`Store::compact_blobs`]).
pub const BLOB_NAME: &str = "blobs.dat";
/// Entries [`Store::insert_batch`] applies per hold of the write lock.
pub const INSERT_BATCH_LOCK_RUN: usize = 256;

/// How a store is laid out and how it commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// Bytes per record; a multiple of 8 (64 keeps records cache-line aligned). Fixed at
    /// creation.
    pub stride: u32,
    /// Slots per segment; a full segment is sealed and a new one started. Fixed at creation.
    pub segment_max_records: u32,
    /// Minimum number of slots a segment file grows by.
    pub grow_records: u32,
    /// When commits reach stable storage.
    pub durability: Durability,
    /// Check the CRC of every checkpointed live record when opening, and build the key map
    /// from them (off by default: the key map is loaded from the key index file and
    /// records are checked by [`Store::scrub`] while the store serves).
    pub verify_on_open: bool,
    /// Checkpoint automatically once the current log file exceeds this many bytes.
    pub checkpoint_wal_bytes: Option<u64>,
}

impl StoreConfig {
    /// Defaults for a given stride: 256 Ki slots per segment, growth by 4096 slots,
    /// fsync per group commit, no verification on open (see [`Store::scrub`]), checkpoint every 256 MiB of log.
    pub fn new(stride: u32) -> Self {
        StoreConfig {
            stride,
            segment_max_records: 1 << 18,
            grow_records: 4096,
            durability: Durability::SyncPerBatch,
            verify_on_open: false,
            checkpoint_wal_bytes: Some(256 << 20),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.stride == 0 || !self.stride.is_multiple_of(STRIDE_MULTIPLE) {
            return Err(StorageError::InvalidConfig(format!(
                "stride {} is not a positive multiple of {STRIDE_MULTIPLE}",
                self.stride
            )));
        }
        if self.segment_max_records == 0 || self.grow_records == 0 {
            return Err(StorageError::InvalidConfig(
                "segment_max_records and grow_records must be positive".into(),
            ));
        }
        if let Durability::SyncEveryMs(0) = self.durability {
            return Err(StorageError::InvalidConfig(
                "SyncEveryMs needs a positive interval".into(),
            ));
        }
        Ok(())
    }

    fn geometry(&self) -> SegmentGeometry {
        SegmentGeometry {
            stride: self.stride,
            max_records: self.segment_max_records,
        }
    }
}

/// What opening the store found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Log replay outcome.
    pub wal: WalReplay,
    /// Leftover files removed: temp files, segments and bitmaps not in the manifest.
    pub removed_files: Vec<PathBuf>,
    /// Checkpointed live records whose CRC was checked.
    pub verified_records: u64,
    /// How the key → slot map was built.
    pub key_index: KeyIndexOutcome,
}

/// How opening built the key → slot map of the checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum KeyIndexOutcome {
    /// Rebuilt from every live slot with its CRC checked (`verify_on_open`).
    #[default]
    Verified,
    /// Loaded from the key index file written by the checkpoint.
    Loaded,
    /// The key index file was missing or did not fit the checkpoint (the reason says
    /// why); the map was rebuilt from the slot metadata.
    Rebuilt {
        /// Why the file was not used.
        reason: String,
    },
}

/// What an open recovered, shown to the `approve` callback of [`Store::open_approved`]
/// before recovery changes any file.
pub struct Recovered<'a> {
    holds: &'a dyn Fn(u64) -> bool,
    /// LSN of the checkpoint the store opened: every entry up to it is in the segments,
    /// and the key index (when loaded) maps exactly their live records.
    pub checkpoint_lsn: u64,
    /// True when the key map came from the key index file of that checkpoint; false when
    /// it was rebuilt from the slots (verified or not).
    pub key_index_loaded: bool,
}

impl Recovered<'_> {
    /// True when `key` is live in the recovered store.
    pub fn holds(&self, key: u64) -> bool {
        (self.holds)(key)
    }
}

impl std::fmt::Debug for Recovered<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recovered")
            .field("checkpoint_lsn", &self.checkpoint_lsn)
            .field("key_index_loaded", &self.key_index_loaded)
            .finish_non_exhaustive()
    }
}

/// Outcome of [`Store::compact`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Segments rewritten and removed.
    pub segments_removed: u32,
    /// Segments written.
    pub segments_written: u32,
    /// Live records copied.
    pub records_moved: u64,
    /// Deleted slots dropped.
    pub slots_dropped: u64,
}

/// Outcome of [`Store::compact_blobs`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlobCompactionReport {
    /// Bytes of the blob file before (its logical end).
    pub bytes_before: u64,
    /// Bytes of the new blob file.
    pub bytes_after: u64,
    /// Live records (and their blobs) copied.
    pub records_moved: u64,
    /// Segments written.
    pub segments_written: u32,
}

/// In-memory state guarded by the store's read-write lock.
#[derive(Debug)]
pub(crate) struct State {
    /// Segments sorted by id; the last one takes new records.
    pub(crate) segments: Vec<Segment>,
    pub(crate) keys: Keys,
    pub(crate) blobs: BlobStore,
    checkpoint_lsn: u64,
    next_segment_id: u32,
    /// Generation of the blob file in use.
    blob_gen: u32,
    /// Why the key index table was dropped for a map rebuilt from the slots during the
    /// open (see [`State::fall_back`]).
    table_damage: Option<String>,
}

#[derive(Debug)]
struct Flusher {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Flusher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.handle.take() {
            // A panicking flusher has nothing left to report.
            let _ = h.join();
        }
    }
}

/// A gallery store in one data directory. Thread-safe: share it behind an `Arc`.
///
/// Mutations are logged, applied in memory, and acknowledged once their log entry is as
/// durable as [`StoreConfig::durability`] asks. Reads go through [`Store::snapshot`].
/// Dropping the store without [`Store::close`] is equivalent to a crash: the next
/// [`Store::open`] recovers from the log.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    config: StoreConfig,
    state: RwLock<State>,
    wal: Arc<Wal>,
    report: RecoveryReport,
    scrub: Arc<ScrubProgress>,
    _flusher: Option<Flusher>,
    _lock: File,
}

/// The identity of a manifest file that its key index names: the CRC of everything but its
/// trailing CRC field, which is the CRC the manifest stores. (The CRC of the whole file
/// would not do: the CRC of data followed by its own CRC is the same constant for every
/// manifest.)
pub(super) fn manifest_identity(bytes: &[u8]) -> u32 {
    crc(&bytes[..bytes.len().saturating_sub(4)])
}

fn segment_index(segments: &[Segment], id: u32) -> Option<usize> {
    segments.binary_search_by_key(&id, Segment::id).ok()
}

impl Store {
    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// A consistent read view. Writers wait while it is held, so keep it short-lived.
    pub fn snapshot(&self) -> Snapshot<'_> {
        Snapshot::new(self.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the last open recovered.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// LSN up to which the log's commit slot vouches for every entry.
    pub fn vouched_lsn(&self) -> u64 {
        self.wal.vouched_lsn()
    }

    /// Number of `fsync` calls on log files since open (group commit makes this far lower
    /// than the number of commits).
    pub fn wal_fsyncs(&self) -> u64 {
        self.wal.fsync_count()
    }

    /// LSN of the last logged mutation.
    pub fn last_lsn(&self) -> u64 {
        self.wal.last_lsn()
    }

    /// LSN covered by the last checkpoint.
    pub fn checkpoint_lsn(&self) -> u64 {
        self.read_state().checkpoint_lsn
    }

    /// Number of live records.
    pub fn len(&self) -> usize {
        self.read_state().live_count()
    }

    /// True when no record is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copy of the live record of `key`, checked against its CRC.
    pub fn get(&self, key: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.snapshot().get(key)?.map(|r| r.record.to_vec()))
    }

    /// The blob of `key`, checked against its CRC.
    pub fn blob(&self, key: u64) -> Result<Option<Vec<u8>>> {
        self.snapshot().blob(key)
    }

    fn check_input(&self, record: &[u8]) -> Result<()> {
        if record.len() != self.config.stride as usize {
            return Err(StorageError::RecordSize {
                stride: self.config.stride,
                found: record.len(),
            });
        }
        Ok(())
    }

    /// Inserts a new key with its fixed-stride record and its blob (may be empty). Returns
    /// the LSN once the mutation is committed.
    pub fn insert(&self, key: u64, record: &[u8], blob: &[u8]) -> Result<u64> {
        self.write_record(key, record, blob, false)
    }

    /// Inserts many new keys, each with its fixed-stride record and blob, with one commit:
    /// every entry is logged as its own insert (the log format of [`Store::insert`]), and
    /// the call returns once the last one is committed, so a whole batch costs one log
    /// write and, under [`Durability::SyncPerBatch`], one `fsync`. Returns the LSN of the
    /// last entry (the entries have consecutive LSNs); an empty batch returns the last LSN
    /// logged so far without waiting.
    ///
    /// Sizes and keys are checked before anything is logged: a record of the wrong size, a
    /// key already live or a key given twice fails the whole batch with nothing applied.
    /// An I/O error while writing (or a concurrent insert of one of the keys) may leave a
    /// prefix of the batch applied but not acknowledged, as a failed [`Store::insert`] may:
    /// it may or may not survive a crash.
    /// The write lock is released every [`INSERT_BATCH_LOCK_RUN`] entries so readers are
    /// not held up for the whole batch.
    pub fn insert_batch(&self, items: &[(u64, &[u8], &[u8])]) -> Result<u64> {
        for (_, record, _) in items {
            self.check_input(record)?;
        }
        let mut keys: Vec<u64> = items.iter().map(|&(k, _, _)| k).collect();
        keys.sort_unstable();
        if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
            return Err(StorageError::DuplicateKey(w[0]));
        }
        {
            let st = self.read_state();
            if let Some(&key) = keys.iter().find(|&&k| st.lookup(k).is_some()) {
                return Err(StorageError::DuplicateKey(key));
            }
        }
        self.maybe_checkpoint()?;
        let mut last = self.wal.last_lsn();
        for run in items.chunks(INSERT_BATCH_LOCK_RUN) {
            let mut st = self.write_state();
            for &(key, record, blob) in run {
                if st.lookup(key).is_some() {
                    return Err(StorageError::DuplicateKey(key));
                }
                let at = st.next_slot(&self.dir, &self.config)?;
                let bref = st.blobs.reserve(blob.len())?;
                st.prepare(at, bref, blob, self.config.grow_records)?;
                let ins = InsertOp {
                    at,
                    key,
                    blob: bref,
                    record,
                    blob_bytes: blob,
                };
                let lsn = self.wal.append(|buf| LogOp::Insert(ins).encode_into(buf))?;
                if !st.publish_insert(lsn, &ins) {
                    return Err(StorageError::ReplayMismatch {
                        lsn,
                        detail: "prepared slot could not be written".into(),
                    });
                }
                last = lsn;
            }
        }
        if !items.is_empty() {
            self.wal.commit(last)?;
        }
        Ok(last)
    }

    /// Replaces the record and blob of a live key: the old slot is soft-deleted and the new
    /// version appended, in one log entry.
    pub fn replace(&self, key: u64, record: &[u8], blob: &[u8]) -> Result<u64> {
        self.write_record(key, record, blob, true)
    }

    fn write_record(&self, key: u64, record: &[u8], blob: &[u8], replace: bool) -> Result<u64> {
        self.check_input(record)?;
        self.maybe_checkpoint()?;
        let lsn = {
            let mut st = self.write_state();
            let old = st.lookup(key);
            match (replace, old) {
                (false, Some(_)) => return Err(StorageError::DuplicateKey(key)),
                (true, None) => return Err(StorageError::KeyNotFound(key)),
                _ => {}
            }
            let at = st.next_slot(&self.dir, &self.config)?;
            let bref = st.blobs.reserve(blob.len())?;
            st.prepare(at, bref, blob, self.config.grow_records)?;
            let ins = InsertOp {
                at,
                key,
                blob: bref,
                record,
                blob_bytes: blob,
            };
            let op = match old {
                Some(old) => LogOp::Replace { old, new: ins },
                None => LogOp::Insert(ins),
            };
            let lsn = self.wal.append(|buf| op.encode_into(buf))?;
            if let Some(old) = old {
                st.mark_deleted(old);
            }
            if !st.publish_insert(lsn, &ins) {
                return Err(StorageError::ReplayMismatch {
                    lsn,
                    detail: "prepared slot could not be written".into(),
                });
            }
            lsn
        };
        self.wal.commit(lsn)?;
        Ok(lsn)
    }

    /// Soft-deletes a live key.
    pub fn delete(&self, key: u64) -> Result<u64> {
        self.maybe_checkpoint()?;
        let lsn = {
            let mut st = self.write_state();
            let at = st.lookup(key).ok_or(StorageError::KeyNotFound(key))?;
            let lsn = self
                .wal
                .append(|buf| LogOp::Delete { at, key }.encode_into(buf))?;
            st.mark_deleted(at);
            st.keys.recent.remove(&key);
            lsn
        };
        self.wal.commit(lsn)?;
        Ok(lsn)
    }

    /// Checkpoints when the log has grown past the configured size. Runs before a mutation
    /// is logged, so an error here means the mutation was not applied.
    fn maybe_checkpoint(&self) -> Result<()> {
        match self.config.checkpoint_wal_bytes {
            Some(limit) if self.wal.current_len() > limit => {
                let mut st = self.write_state();
                if self.wal.current_len() > limit {
                    self.checkpoint_locked(&mut st)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Fsyncs everything logged and releases the store. Dropping without `close` leaves
    /// recovery to the next open.
    pub fn close(self) -> Result<()> {
        self.wal.sync()
    }
}
