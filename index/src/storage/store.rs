//! The gallery store: segments, blob store and write-ahead log behind one typed API, with
//! group commit, checkpoints, compaction and crash recovery.

use std::collections::HashMap;
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
    bitmap_name, parse_bitmap_name, parse_segment_name, parse_wal_name, remove_if_exists,
    segment_name, sync_dir, tmp_path, write_atomic, STRIDE_MULTIPLE, TMP_SUFFIX,
};
use super::manifest::{Manifest, SegmentEntry, MANIFEST_NAME};
use super::op::{InsertOp, LogOp};
use super::segment::{Segment, SegmentGeometry, SlotAddr, SlotMeta};
use super::view::Snapshot;
use super::wal::{self, Durability, Wal, WalReplay};

/// Name of the lock file in the data directory.
pub const LOCK_NAME: &str = "LOCK";
/// Name of the blob file in the data directory.
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
    /// Check the CRC of every checkpointed live record when opening.
    pub verify_on_open: bool,
    /// Checkpoint automatically once the current log file exceeds this many bytes.
    pub checkpoint_wal_bytes: Option<u64>,
}

impl StoreConfig {
    /// Defaults for a given stride: 256 Ki slots per segment, growth by 4096 slots,
    /// fsync per group commit, verification on open, checkpoint every 256 MiB of log.
    pub fn new(stride: u32) -> Self {
        StoreConfig {
            stride,
            segment_max_records: 1 << 18,
            grow_records: 4096,
            durability: Durability::SyncPerBatch,
            verify_on_open: true,
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

/// In-memory state guarded by the store's read-write lock.
#[derive(Debug)]
pub(crate) struct State {
    /// Segments sorted by id; the last one takes new records.
    pub(crate) segments: Vec<Segment>,
    pub(crate) keys: HashMap<u64, SlotAddr>,
    pub(crate) blobs: BlobStore,
    checkpoint_lsn: u64,
    next_segment_id: u32,
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
    _flusher: Option<Flusher>,
    _lock: File,
}

fn segment_index(segments: &[Segment], id: u32) -> Option<usize> {
    segments.binary_search_by_key(&id, Segment::id).ok()
}

impl State {
    fn geometry_of(&self, cfg: &StoreConfig) -> SegmentGeometry {
        cfg.geometry()
    }

    /// Slot the next record goes to, creating a segment when the last one is full.
    fn next_slot(&mut self, dir: &Path, cfg: &StoreConfig) -> Result<SlotAddr> {
        match self.segments.last() {
            Some(s) if !s.is_full() => Ok(SlotAddr {
                segment: s.id(),
                slot: s.len(),
            }),
            _ => {
                let id = self.next_segment_id;
                self.create_segment(dir, cfg, id)?;
                Ok(SlotAddr {
                    segment: id,
                    slot: 0,
                })
            }
        }
    }

    fn create_segment(&mut self, dir: &Path, cfg: &StoreConfig, id: u32) -> Result<()> {
        let g = self.geometry_of(cfg);
        let seg = Segment::create(&dir.join(segment_name(id)), id, g, cfg.grow_records)?;
        sync_dir(dir)?;
        self.segments.push(seg);
        self.next_segment_id = id + 1;
        Ok(())
    }

    fn segment_mut(&mut self, id: u32) -> Option<&mut Segment> {
        let i = segment_index(&self.segments, id)?;
        self.segments.get_mut(i)
    }

    /// Fallible preparation of an insert at `at`: backs the slot and writes the blob.
    fn prepare(&mut self, at: SlotAddr, blob: BlobRef, blob_bytes: &[u8], grow: u32) -> Result<()> {
        let seg = self
            .segment_mut(at.segment)
            .ok_or(StorageError::Inconsistent {
                kind: FileKind::Segment,
                path: PathBuf::new(),
                detail: format!("segment {} missing", at.segment),
            })?;
        seg.ensure_capacity(at.slot, grow)?;
        self.blobs.write(blob, blob_bytes)
    }

    /// Infallible part of an insert: fills the slot and makes it visible.
    fn publish_insert(&mut self, lsn: u64, ins: &InsertOp<'_>) -> bool {
        let meta = SlotMeta::new(ins.key, ins.blob, lsn, ins.record);
        let Some(seg) = self.segment_mut(ins.at.segment) else {
            return false;
        };
        if !seg.put_slot(ins.at.slot, &meta, ins.record) {
            return false;
        }
        seg.publish(ins.at.slot + 1);
        if seg.deleted.contains(ins.at.slot) {
            seg.deleted.clear(ins.at.slot);
            seg.bitmap_dirty = true;
        }
        self.blobs.publish(ins.blob);
        self.keys.insert(ins.key, ins.at);
        true
    }

    fn mark_deleted(&mut self, at: SlotAddr) {
        if let Some(seg) = self.segment_mut(at.segment) {
            seg.deleted.set(at.slot);
            seg.bitmap_dirty = true;
        }
    }

    /// True when `at` holds the live record of `key`.
    fn is_live(&self, at: SlotAddr, key: u64) -> bool {
        segment_index(&self.segments, at.segment)
            .and_then(|i| self.segments.get(i))
            .is_some_and(|s| {
                at.slot < s.len() && !s.deleted.contains(at.slot) && s.meta(at.slot).key == key
            })
    }

    /// Applies one replayed log entry.
    fn replay(&mut self, dir: &Path, cfg: &StoreConfig, lsn: u64, payload: &[u8]) -> Result<()> {
        let mismatch = |detail: &str| StorageError::ReplayMismatch {
            lsn,
            detail: detail.to_string(),
        };
        let op = LogOp::decode(payload).ok_or_else(|| mismatch("malformed payload"))?;
        let (old, ins) = match op {
            LogOp::Delete { at, key } => {
                if !self.is_live(at, key) || self.keys.get(&key) != Some(&at) {
                    return Err(mismatch("delete of a slot that is not live"));
                }
                self.mark_deleted(at);
                self.keys.remove(&key);
                return Ok(());
            }
            LogOp::Insert(ins) => (None, ins),
            LogOp::Replace { old, new } => (Some(old), new),
        };
        if let Some(old) = old {
            if !self.is_live(old, ins.key) || self.keys.get(&ins.key) != Some(&old) {
                return Err(mismatch("replace of a slot that is not live"));
            }
        } else if self.keys.contains_key(&ins.key) {
            return Err(mismatch("insert of a live key"));
        }
        if ins.record.len() != cfg.stride as usize {
            return Err(mismatch("record length differs from the stride"));
        }
        if segment_index(&self.segments, ins.at.segment).is_none() {
            if ins.at.segment != self.next_segment_id
                || self.segments.last().is_some_and(|s| !s.is_full())
            {
                return Err(mismatch("insert into an unknown segment"));
            }
            self.create_segment(dir, cfg, ins.at.segment)?;
        }
        let expected_slot = self
            .segment_mut(ins.at.segment)
            .map(|s| s.len())
            .unwrap_or(u32::MAX);
        if ins.at.slot != expected_slot {
            return Err(mismatch("insert slot is not the segment's next slot"));
        }
        if ins.blob.len != 0 && ins.blob.offset != self.blobs.end() {
            return Err(mismatch("blob offset is not the blob store's end"));
        }
        self.prepare(ins.at, ins.blob, ins.blob_bytes, cfg.grow_records)?;
        if let Some(old) = old {
            self.mark_deleted(old);
        }
        if !self.publish_insert(lsn, &ins) {
            return Err(mismatch("slot could not be written"));
        }
        Ok(())
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`: takes the directory lock, removes leftovers
    /// of interrupted writes, maps the segments of the last checkpoint, verifies them, and
    /// replays the log. See `index/FORMAT.md` for the procedure.
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<Store> {
        Self::open_approved(dir, config, |_| Ok(()))
    }

    /// [`Store::open`], asking `approve` before recovery changes any file: it sees the
    /// recovered key set (through `holds`) and may refuse the open with a reason
    /// ([`StorageError::RecoveryRefused`]), for example because a key it knows was
    /// acknowledged is missing. Nothing is cut then.
    pub fn open_approved(
        dir: impl AsRef<Path>,
        config: StoreConfig,
        approve: impl FnOnce(&dyn Fn(u64) -> bool) -> std::result::Result<(), String>,
    ) -> Result<Store> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        let lock = take_lock(&dir)?;
        let mut report = RecoveryReport::default();

        let manifest_path = dir.join(MANIFEST_NAME);
        let manifest = if manifest_path.exists() {
            let bytes =
                fs::read(&manifest_path).map_err(|e| StorageError::io(&manifest_path, e))?;
            Manifest::decode(&bytes, &manifest_path)?
        } else {
            initialise(&dir, &config)?
        };
        if manifest.stride != config.stride || manifest.max_records != config.segment_max_records {
            return Err(StorageError::ConfigMismatch(format!(
                "store has stride {} and {} records per segment; opened with {} and {}",
                manifest.stride, manifest.max_records, config.stride, config.segment_max_records
            )));
        }
        remove_leftovers(&dir, &manifest, &mut report)?;

        let mut segments = Vec::with_capacity(manifest.segments.len());
        for entry in &manifest.segments {
            segments.push(open_segment(&dir, &config, entry)?);
        }
        segments.sort_by_key(Segment::id);
        if segments.windows(2).any(|w| w[0].id() == w[1].id())
            || segments
                .last()
                .is_some_and(|s| s.id() >= manifest.next_segment_id)
        {
            return Err(StorageError::Inconsistent {
                kind: FileKind::Manifest,
                path: manifest_path,
                detail: "segment ids repeat or reach next_segment_id".into(),
            });
        }
        let blobs = BlobStore::open(&dir.join(BLOB_NAME), manifest.blob_end)?;

        let mut keys = HashMap::new();
        for seg in &segments {
            for slot in 0..seg.len() {
                if seg.deleted.contains(slot) {
                    continue;
                }
                if config.verify_on_open {
                    if !seg.slot_is_intact(slot) {
                        return Err(StorageError::CorruptRecord {
                            segment: seg.id(),
                            slot,
                        });
                    }
                    report.verified_records += 1;
                }
                let addr = SlotAddr {
                    segment: seg.id(),
                    slot,
                };
                if keys.insert(seg.meta(slot).key, addr).is_some() {
                    return Err(StorageError::Inconsistent {
                        kind: FileKind::Segment,
                        path: seg.path().to_path_buf(),
                        detail: format!("key {} is live twice", seg.meta(slot).key),
                    });
                }
            }
        }

        let state = std::cell::RefCell::new(State {
            segments,
            keys,
            blobs,
            checkpoint_lsn: manifest.checkpoint_lsn,
            next_segment_id: manifest.next_segment_id,
        });
        let (wal, replay) = wal::recover(
            &dir,
            manifest.checkpoint_lsn,
            config.durability,
            |lsn, p| state.borrow_mut().replay(&dir, &config, lsn, p),
            || {
                let st = state.borrow();
                let holds = |key: u64| st.keys.contains_key(&key);
                approve(&holds).map_err(StorageError::RecoveryRefused)
            },
        )?;
        let state = state.into_inner();
        report.wal = replay;
        let wal = Arc::new(wal);
        let flusher = match config.durability {
            Durability::SyncEveryMs(ms) => {
                Some(spawn_flusher(&dir, Arc::clone(&wal), ms, Wal::sync)?)
            }
            // After a burst of commits, one slot write and fsync record the last of them.
            Durability::SyncPerBatch => Some(spawn_flusher(
                &dir,
                Arc::clone(&wal),
                VOUCH_EVERY_MS,
                Wal::vouch,
            )?),
            Durability::NoSync => None,
        };
        Ok(Store {
            dir,
            config,
            state: RwLock::new(state),
            wal,
            report,
            _flusher: flusher,
            _lock: lock,
        })
    }

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
        self.read_state().keys.len()
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
            if let Some(&key) = keys.iter().find(|k| st.keys.contains_key(k)) {
                return Err(StorageError::DuplicateKey(key));
            }
        }
        self.maybe_checkpoint()?;
        let mut last = self.wal.last_lsn();
        for run in items.chunks(INSERT_BATCH_LOCK_RUN) {
            let mut st = self.write_state();
            for &(key, record, blob) in run {
                if st.keys.contains_key(&key) {
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
            let old = st.keys.get(&key).copied();
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
            let at = *st.keys.get(&key).ok_or(StorageError::KeyNotFound(key))?;
            let lsn = self
                .wal
                .append(|buf| LogOp::Delete { at, key }.encode_into(buf))?;
            st.mark_deleted(at);
            st.keys.remove(&key);
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

    /// Makes all logged mutations part of the on-disk segments and starts a fresh log:
    /// fsync log, flush segments and blobs, write changed bitmaps, write the manifest,
    /// rotate the log, delete obsolete files.
    pub fn checkpoint(&self) -> Result<()> {
        let mut st = self.write_state();
        self.checkpoint_locked(&mut st)
    }

    fn checkpoint_locked(&self, st: &mut State) -> Result<()> {
        self.wal.sync()?;
        let lsn = self.wal.last_lsn();
        for seg in &mut st.segments {
            seg.flush()?;
        }
        st.blobs.sync()?;
        let mut new_bitmaps = Vec::new();
        for seg in &st.segments {
            if seg.bitmap_dirty && seg.deleted.count() > 0 {
                let path = self.dir.join(bitmap_name(seg.id(), lsn));
                write_atomic(&self.dir, &path, &seg.deleted.encode(seg.id(), lsn))?;
                new_bitmaps.push(seg.id());
            }
        }
        let manifest = Manifest {
            stride: self.config.stride,
            max_records: self.config.segment_max_records,
            checkpoint_lsn: lsn,
            next_segment_id: st.next_segment_id,
            blob_end: st.blobs.end(),
            segments: st
                .segments
                .iter()
                .map(|s| SegmentEntry {
                    id: s.id(),
                    len: s.len(),
                    bitmap_lsn: if !s.bitmap_dirty {
                        s.bitmap_lsn
                    } else if new_bitmaps.contains(&s.id()) {
                        Some(lsn)
                    } else {
                        None
                    },
                })
                .collect(),
        };
        self.write_manifest(&manifest)?;
        for (seg, entry) in st.segments.iter_mut().zip(&manifest.segments) {
            seg.bitmap_lsn = entry.bitmap_lsn;
            seg.bitmap_dirty = false;
        }
        st.checkpoint_lsn = lsn;
        self.wal.rotate()?;
        self.remove_unreferenced(&manifest)
    }

    fn write_manifest(&self, m: &Manifest) -> Result<()> {
        write_atomic(&self.dir, &self.dir.join(MANIFEST_NAME), &m.encode())
    }

    fn remove_unreferenced(&self, m: &Manifest) -> Result<()> {
        let mut removed = Vec::new();
        remove_unlisted(&self.dir, m, &mut removed)?;
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Checkpoints, then rewrites every segment with deleted slots: live records are copied
    /// into new segments (temp file → fsync → rename → fsync dir), the manifest is switched
    /// to them, and the old files are deleted. Slot addresses of moved records change.
    pub fn compact(&self) -> Result<CompactionReport> {
        let mut st = self.write_state();
        self.checkpoint_locked(&mut st)?;
        let mut report = CompactionReport::default();
        let (victims, mut kept): (Vec<Segment>, Vec<Segment>) = std::mem::take(&mut st.segments)
            .into_iter()
            .partition(|s| s.deleted.count() > 0);
        if victims.is_empty() {
            st.segments = kept;
            return Ok(report);
        }
        let result = self.rewrite(&mut st, &victims, &mut report);
        let written = match result {
            Ok(w) => w,
            Err(e) => {
                kept.extend(victims);
                kept.sort_by_key(Segment::id);
                st.segments = kept;
                return Err(e);
            }
        };
        for seg in &written {
            for slot in 0..seg.len() {
                st.keys.insert(
                    seg.meta(slot).key,
                    SlotAddr {
                        segment: seg.id(),
                        slot,
                    },
                );
            }
        }
        kept.extend(written);
        kept.sort_by_key(Segment::id);
        st.segments = kept;
        let manifest = Manifest {
            stride: self.config.stride,
            max_records: self.config.segment_max_records,
            checkpoint_lsn: st.checkpoint_lsn,
            next_segment_id: st.next_segment_id,
            blob_end: st.blobs.end(),
            segments: st
                .segments
                .iter()
                .map(|s| SegmentEntry {
                    id: s.id(),
                    len: s.len(),
                    bitmap_lsn: s.bitmap_lsn,
                })
                .collect(),
        };
        self.write_manifest(&manifest)?;
        report.segments_removed = victims.len() as u32;
        drop(victims);
        self.remove_unreferenced(&manifest)?;
        Ok(report)
    }

    fn rewrite(
        &self,
        st: &mut State,
        victims: &[Segment],
        report: &mut CompactionReport,
    ) -> Result<Vec<Segment>> {
        let g = self.config.geometry();
        let mut live: u64 = victims
            .iter()
            .map(|s| u64::from(s.len() - s.deleted.count()))
            .sum();
        let mut out: Vec<Segment> = Vec::new();
        for v in victims {
            for slot in 0..v.len() {
                if v.deleted.contains(slot) {
                    report.slots_dropped += 1;
                    continue;
                }
                if out.last().is_none_or(Segment::is_full) {
                    let id = st.next_segment_id;
                    st.next_segment_id += 1;
                    let path = tmp_path(&self.dir.join(segment_name(id)));
                    let initial = u32::try_from(live).unwrap_or(u32::MAX).min(g.max_records);
                    out.push(Segment::create(&path, id, g, initial)?);
                }
                let Some(dst) = out.last_mut() else {
                    continue;
                };
                let at = dst.len();
                dst.ensure_capacity(at, self.config.grow_records)?;
                if !dst.put_slot(at, &v.meta(slot), v.record(slot)) {
                    return Err(StorageError::Inconsistent {
                        kind: FileKind::Segment,
                        path: dst.path().to_path_buf(),
                        detail: format!("compaction could not write slot {at}"),
                    });
                }
                dst.publish(at + 1);
                live = live.saturating_sub(1);
                report.records_moved += 1;
            }
        }
        for seg in &mut out {
            seg.flush()?;
            let final_path = self.dir.join(segment_name(seg.id()));
            fs::rename(seg.path(), &final_path).map_err(|e| StorageError::io(&final_path, e))?;
            seg.set_path(final_path);
        }
        sync_dir(&self.dir)?;
        report.segments_written = out.len() as u32;
        Ok(out)
    }

    /// Fsyncs everything logged and releases the store. Dropping without `close` leaves
    /// recovery to the next open.
    pub fn close(self) -> Result<()> {
        self.wal.sync()
    }
}

pub(super) fn take_lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_NAME);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| StorageError::io(&path, e))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(TryLockError::WouldBlock) => Err(StorageError::Locked(dir.to_path_buf())),
        Err(TryLockError::Error(e)) => Err(StorageError::io(&path, e)),
    }
}

/// Creates the blob file and the first manifest of an empty directory.
fn initialise(dir: &Path, config: &StoreConfig) -> Result<Manifest> {
    for e in fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))? {
        let e = e.map_err(|e| StorageError::io(dir, e))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if parse_segment_name(&name).is_some() || parse_wal_name(&name).is_some() {
            return Err(StorageError::MissingManifest(dir.to_path_buf()));
        }
    }
    let blob_path = dir.join(BLOB_NAME);
    // A blob file without a manifest is left from an interrupted initialisation.
    remove_if_exists(&blob_path)?;
    BlobStore::create(&blob_path)?;
    let m = Manifest {
        stride: config.stride,
        max_records: config.segment_max_records,
        checkpoint_lsn: 0,
        next_segment_id: 1,
        blob_end: BLOB_HEADER_LEN,
        segments: Vec::new(),
    };
    write_atomic(dir, &dir.join(MANIFEST_NAME), &m.encode())?;
    Ok(m)
}

pub(super) fn open_segment(
    dir: &Path,
    config: &StoreConfig,
    entry: &SegmentEntry,
) -> Result<Segment> {
    let mut seg = Segment::open(
        &dir.join(segment_name(entry.id)),
        entry.id,
        config.stride,
        entry.len,
    )?;
    if seg.max_records() != config.segment_max_records || seg.stride() != config.stride {
        return Err(StorageError::Inconsistent {
            kind: FileKind::Segment,
            path: seg.path().to_path_buf(),
            detail: "geometry differs from the manifest".into(),
        });
    }
    if let Some(lsn) = entry.bitmap_lsn {
        let path = dir.join(bitmap_name(entry.id, lsn));
        let bytes = fs::read(&path).map_err(|e| StorageError::io(&path, e))?;
        seg.deleted = DeleteBitmap::decode(&bytes, &path, entry.id, lsn, seg.max_records())?;
        if (0..seg.max_records()).any(|s| s >= entry.len && seg.deleted.contains(s)) {
            return Err(StorageError::Inconsistent {
                kind: FileKind::Bitmap,
                path,
                detail: "deleted slot past the segment length".into(),
            });
        }
        seg.bitmap_lsn = Some(lsn);
    }
    Ok(seg)
}

/// Removes temp files, and segment and bitmap files the manifest does not reference.
fn remove_leftovers(dir: &Path, m: &Manifest, report: &mut RecoveryReport) -> Result<()> {
    remove_unlisted(dir, m, &mut report.removed_files)?;
    if !report.removed_files.is_empty() {
        sync_dir(dir)?;
    }
    Ok(())
}

fn remove_unlisted(dir: &Path, m: &Manifest, removed: &mut Vec<PathBuf>) -> Result<()> {
    for e in fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))? {
        let e = e.map_err(|e| StorageError::io(dir, e))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        let stale = if name.ends_with(TMP_SUFFIX) {
            true
        } else if let Some(id) = parse_segment_name(&name) {
            !m.segments.iter().any(|s| s.id == id)
        } else if let Some((id, lsn)) = parse_bitmap_name(&name) {
            !m.segments
                .iter()
                .any(|s| s.id == id && s.bitmap_lsn == Some(lsn))
        } else {
            false
        };
        if stale {
            let path = e.path();
            remove_if_exists(&path)?;
            removed.push(path);
        }
    }
    Ok(())
}

/// How often a `SyncPerBatch` store records its durable LSN in a commit slot when a
/// burst of commits has ended.
const VOUCH_EVERY_MS: u64 = 100;

fn spawn_flusher(
    dir: &Path,
    wal: Arc<Wal>,
    ms: u64,
    tick: fn(&Wal) -> Result<()>,
) -> Result<Flusher> {
    let (tx, rx) = mpsc::channel::<()>();
    let period = Duration::from_millis(ms);
    let handle = std::thread::Builder::new()
        .name("tunggal-wal-flush".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(period) {
                // A failed sync poisons the log; writers then see the error.
                let _ = tick(&wal);
            }
        })
        .map_err(|e| StorageError::io(dir, e))?;
    Ok(Flusher {
        stop: Some(tx),
        handle: Some(handle),
    })
}
