//! Write-ahead log with group commit.
//!
//! Files are `wal-<start lsn>.log`: a 32-byte header, then frames
//! `len u32 | crc32 u32 | lsn u64 | payload[len]`, where the CRC covers the LSN and the
//! payload and LSNs are consecutive. Appends go to an in-memory batch under a mutex; a
//! writer that needs its entry on disk either becomes the leader (writes the whole batch
//! with one positioned write and, depending on [`Durability`], one `fsync`) or waits on a
//! condition variable for the current leader to cover its LSN.

mod frame;
mod recover;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::error::{Result, StorageError};
use super::format::{parse_wal_name, put_u32, put_u64, sync_dir, tmp_path, wal_name};
use frame::{frame_crc, new_header, slot_bytes, slot_offset, CommitSlot};

pub use frame::{LogHeader, FRAME_HEADER_LEN, WAL_HEADER_LEN};
pub(crate) use recover::{analyse_logs, cut_and_vouch, recover};
pub use recover::{inspect, LogInspection, TailDamage, TornTail, WalReplay};

/// When acknowledged log entries reach stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every commit waits for an `fsync` of the log; concurrent commits share one `fsync`
    /// (group commit). An acknowledged mutation survives power loss.
    #[default]
    SyncPerBatch,
    /// Commits wait for the log write only; a background thread `fsync`s every `n`
    /// milliseconds. Power loss may drop up to `n` ms of acknowledged mutations; a process
    /// crash loses nothing.
    SyncEveryMs(u64),
    /// Commits wait for the log write only and the log is `fsync`ed only at checkpoints.
    /// For tests and benchmarks.
    NoSync,
}

struct WalState {
    file: Arc<File>,
    path: PathBuf,
    start_lsn: u64,
    file_len: u64,
    pending: Vec<u8>,
    spare: Vec<u8>,
    next_lsn: u64,
    written_lsn: u64,
    durable_lsn: u64,
    leader: bool,
    poisoned: bool,
    /// The last commit slot written to the current file.
    slot: CommitSlot,
}

/// The log writer shared by all writers of a store.
pub(crate) struct Wal {
    dir: PathBuf,
    durability: Durability,
    state: Mutex<WalState>,
    cond: Condvar,
    fsyncs: AtomicU64,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("durability", &self.durability)
            .field("fsyncs", &self.fsyncs.load(Ordering::Relaxed))
            .finish()
    }
}

/// Creates `wal-<start_lsn>.log` with its header: written to a temporary file, fsynced,
/// renamed into place, directory fsynced. A log file shorter than its header is therefore
/// never a file torn while being created, always damage.
pub(crate) fn create_log(dir: &Path, start_lsn: u64) -> Result<(File, PathBuf)> {
    let path = dir.join(wal_name(start_lsn));
    let tmp = tmp_path(&path);
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| StorageError::io(&tmp, e))?;
    f.write_all(&new_header(start_lsn))
        .and_then(|()| f.sync_all())
        .map_err(|e| StorageError::io(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| StorageError::io(&path, e))?;
    sync_dir(dir)?;
    Ok((f, path))
}

fn lock(m: &Mutex<WalState>) -> MutexGuard<'_, WalState> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Wal {
    fn from_recovered(dir: &Path, r: recover::RecoveredLog, durability: Durability) -> Self {
        let last = r.next_lsn - 1;
        Wal {
            dir: dir.to_path_buf(),
            durability,
            state: Mutex::new(WalState {
                file: Arc::new(r.file),
                path: r.path,
                start_lsn: r.start_lsn,
                file_len: r.len,
                pending: Vec::new(),
                spare: Vec::new(),
                next_lsn: r.next_lsn,
                written_lsn: last,
                durable_lsn: last,
                leader: false,
                poisoned: false,
                slot: r.slot,
            }),
            cond: Condvar::new(),
            fsyncs: AtomicU64::new(0),
        }
    }

    /// Number of `fsync` calls made on log files since open.
    pub(crate) fn fsync_count(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// LSN of the last appended entry (0 if none ever).
    pub(crate) fn last_lsn(&self) -> u64 {
        lock(&self.state).next_lsn - 1
    }

    /// Bytes of frames in the current log file, including the unwritten batch.
    pub(crate) fn current_len(&self) -> u64 {
        let g = lock(&self.state);
        g.file_len.saturating_sub(WAL_HEADER_LEN) + g.pending.len() as u64
    }

    /// Appends one entry whose payload `encode` writes into the batch; returns its LSN.
    /// The entry is not yet on disk: call [`Wal::commit`].
    pub(crate) fn append(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<u64> {
        let mut g = lock(&self.state);
        if g.poisoned {
            return Err(StorageError::WalPoisoned);
        }
        let lsn = g.next_lsn;
        let start = g.pending.len();
        g.pending.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
        encode(&mut g.pending);
        let payload_len = g.pending.len() - start - FRAME_HEADER_LEN;
        let c = frame_crc(lsn, &g.pending[start + FRAME_HEADER_LEN..]);
        let head = &mut g.pending[start..start + FRAME_HEADER_LEN];
        put_u32(head, 0, payload_len as u32);
        put_u32(head, 4, c);
        put_u64(head, 8, lsn);
        g.next_lsn += 1;
        Ok(lsn)
    }

    /// Blocks until entry `lsn` is as durable as the configured [`Durability`] promises.
    pub(crate) fn commit(&self, lsn: u64) -> Result<()> {
        self.flush_to(lsn, false)
    }

    /// Writes and fsyncs every appended entry, whatever the durability mode, and records
    /// them in a commit slot.
    pub(crate) fn sync(&self) -> Result<()> {
        let last = self.last_lsn();
        self.flush_to(last, true)?;
        self.vouch()
    }

    /// Records the durable LSN in a commit slot (one slot write and one `fsync`) unless the
    /// current slot already says it or a leader is writing (its batch carries a slot).
    pub(crate) fn vouch(&self) -> Result<()> {
        let mut g = lock(&self.state);
        if g.poisoned {
            return Err(StorageError::WalPoisoned);
        }
        let Some(slot) = next_slot(&g).filter(|_| !g.leader) else {
            return Ok(());
        };
        g.leader = true;
        let file = Arc::clone(&g.file);
        let path = g.path.clone();
        let start_lsn = g.start_lsn;
        drop(g);
        let res = file
            .write_all_at(&slot_bytes(start_lsn, slot), slot_offset(slot.seq))
            .and_then(|()| file.sync_data());
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        crate::telemetry::wal_fsync();
        let mut g = lock(&self.state);
        g.leader = false;
        let outcome = match res {
            Ok(()) => {
                g.slot = slot;
                Ok(())
            }
            Err(e) => {
                g.poisoned = true;
                Err(StorageError::io(path, e))
            }
        };
        self.cond.notify_all();
        outcome
    }

    /// LSN the current commit slot vouches for.
    pub(crate) fn vouched_lsn(&self) -> u64 {
        lock(&self.state).slot.committed
    }

    fn flush_to(&self, lsn: u64, force_sync: bool) -> Result<()> {
        let want_sync = force_sync || self.durability == Durability::SyncPerBatch;
        let mut g = lock(&self.state);
        loop {
            if g.poisoned {
                return Err(StorageError::WalPoisoned);
            }
            let reached = if want_sync {
                g.durable_lsn
            } else {
                g.written_lsn
            };
            if reached >= lsn {
                return Ok(());
            }
            if g.leader {
                g = self.cond.wait(g).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            g.leader = true;
            let spare = std::mem::take(&mut g.spare);
            let mut batch = std::mem::replace(&mut g.pending, spare);
            let target = g.next_lsn - 1;
            let file = Arc::clone(&g.file);
            let path = g.path.clone();
            let at = g.file_len;
            let vouch = next_slot(&g);
            let start_lsn = g.start_lsn;
            let entries = target.saturating_sub(g.written_lsn);
            drop(g);

            let started = std::time::Instant::now();
            let mut res = match vouch {
                Some(slot) => {
                    file.write_all_at(&slot_bytes(start_lsn, slot), slot_offset(slot.seq))
                }
                None => Ok(()),
            };
            if res.is_ok() && !batch.is_empty() {
                res = file.write_all_at(&batch, at);
            }
            if res.is_ok() && want_sync {
                res = file.sync_data();
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
                crate::telemetry::wal_fsync();
            }
            if res.is_ok() {
                crate::telemetry::wal_commit(started.elapsed(), entries, batch.len() as u64);
            }

            g = lock(&self.state);
            g.leader = false;
            let written = batch.len() as u64;
            batch.clear();
            g.spare = batch;
            let outcome = match res {
                Ok(()) => {
                    g.file_len += written;
                    g.written_lsn = target;
                    if let Some(slot) = vouch {
                        g.slot = slot;
                    }
                    if want_sync {
                        g.durable_lsn = target;
                    }
                    Ok(())
                }
                Err(e) => {
                    g.poisoned = true;
                    Err(StorageError::io(path, e))
                }
            };
            self.cond.notify_all();
            outcome?;
        }
    }

    /// Starts a new log file at the next LSN and deletes the older ones. The caller must
    /// have synced the log and must block appends (it holds the store's write lock).
    pub(crate) fn rotate(&self) -> Result<()> {
        let mut g = lock(&self.state);
        while g.leader {
            g = self.cond.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        if g.poisoned {
            return Err(StorageError::WalPoisoned);
        }
        if g.start_lsn == g.next_lsn || !g.pending.is_empty() {
            return Ok(());
        }
        let (file, path) = create_log(&self.dir, g.next_lsn)?;
        g.file = Arc::new(file);
        g.path = path;
        g.start_lsn = g.next_lsn;
        g.file_len = WAL_HEADER_LEN;
        g.slot = CommitSlot {
            seq: 1,
            committed: g.start_lsn - 1,
        };
        let keep = g.start_lsn;
        drop(g);
        for (start, old) in list_logs(&self.dir)? {
            if start < keep {
                fs::remove_file(&old).map_err(|e| StorageError::io(&old, e))?;
            }
        }
        sync_dir(&self.dir)
    }
}

/// Log files in `dir`, sorted by start LSN.
pub(crate) fn list_logs(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))? {
        let e = e.map_err(|e| StorageError::io(dir, e))?;
        if let Some(start) = e.file_name().to_str().and_then(parse_wal_name) {
            v.push((start, e.path()));
        }
    }
    v.sort();
    Ok(v)
}

/// The slot a leader writes before its batch: the durable LSN, if the current slot is
/// behind it.
fn next_slot(g: &WalState) -> Option<CommitSlot> {
    (g.durable_lsn > g.slot.committed).then(|| CommitSlot {
        seq: g.slot.seq + 1,
        committed: g.durable_lsn,
    })
}
