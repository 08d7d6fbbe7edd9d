//! Write-ahead log with group commit.
//!
//! Files are `wal-<start lsn>.log`: a 32-byte header, then frames
//! `len u32 | crc32 u32 | lsn u64 | payload[len]`, where the CRC covers the LSN and the
//! payload and LSNs are consecutive. Appends go to an in-memory batch under a mutex; a
//! writer that needs its entry on disk either becomes the leader (writes the whole batch
//! with one positioned write and, depending on [`Durability`], one `fsync`) or waits on a
//! condition variable for the current leader to cover its LSN.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::error::{FileKind, Result, StorageError};
use super::format::{crc, get_u32, get_u64, parse_wal_name, put_u32, put_u64, sync_dir, wal_name};

/// Magic bytes of a log file.
pub const WAL_MAGIC: [u8; 8] = *b"TUNGWAL\0";
/// Current log format version.
pub const WAL_VERSION: u32 = 1;
/// Bytes of a log file header.
pub const WAL_HEADER_LEN: u64 = 32;
/// Bytes of a frame header (`len`, `crc`, `lsn`).
pub const FRAME_HEADER_LEN: usize = 16;

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

fn wal_header(start_lsn: u64) -> [u8; WAL_HEADER_LEN as usize] {
    let mut h = [0u8; WAL_HEADER_LEN as usize];
    h[..8].copy_from_slice(&WAL_MAGIC);
    put_u32(&mut h, 8, WAL_VERSION);
    put_u64(&mut h, 16, start_lsn);
    let c = crc(&h[..28]);
    put_u32(&mut h, 28, c);
    h
}

fn frame_crc(lsn: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&lsn.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Creates `wal-<start_lsn>.log` with its header, fsyncs it and the directory.
fn create_log(dir: &Path, start_lsn: u64) -> Result<(File, PathBuf)> {
    let path = dir.join(wal_name(start_lsn));
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| StorageError::io(&path, e))?;
    f.write_all(&wal_header(start_lsn))
        .and_then(|()| f.sync_all())
        .map_err(|e| StorageError::io(&path, e))?;
    sync_dir(dir)?;
    Ok((f, path))
}

fn lock(m: &Mutex<WalState>) -> MutexGuard<'_, WalState> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Wal {
    fn from_recovered(dir: &Path, r: RecoveredLog, durability: Durability) -> Self {
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

    /// Bytes in the current log file, including the unwritten batch.
    pub(crate) fn current_len(&self) -> u64 {
        let g = lock(&self.state);
        g.file_len + g.pending.len() as u64
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

    /// Writes and fsyncs every appended entry, whatever the durability mode.
    pub(crate) fn sync(&self) -> Result<()> {
        let last = self.last_lsn();
        self.flush_to(last, true)
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
            drop(g);

            let mut res = if batch.is_empty() {
                Ok(())
            } else {
                file.write_all_at(&batch, at)
            };
            if res.is_ok() && want_sync {
                res = file.sync_data();
                self.fsyncs.fetch_add(1, Ordering::Relaxed);
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

struct RecoveredLog {
    file: File,
    path: PathBuf,
    start_lsn: u64,
    len: u64,
    next_lsn: u64,
}

/// What replay found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalReplay {
    /// Entries applied (those after the checkpoint).
    pub replayed: u64,
    /// Bytes cut from a torn or corrupt tail.
    pub truncated_bytes: u64,
    /// Log files removed (after a corrupt tail, torn at creation, or wholly checkpointed).
    pub removed_files: u32,
    /// LSN of the last valid entry.
    pub last_lsn: u64,
}

/// Replays the logs of `dir` after `checkpoint_lsn` through `apply`, cuts a torn or
/// corrupt tail, and returns a writer positioned after the last valid entry.
pub(crate) fn recover(
    dir: &Path,
    checkpoint_lsn: u64,
    durability: Durability,
    mut apply: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<(Wal, WalReplay)> {
    let mut report = WalReplay::default();
    let files = list_logs(dir)?;
    let mut expected = checkpoint_lsn + 1;
    let mut active: Option<(File, PathBuf, u64, u64)> = None;
    let mut stopped = false;
    let mut first = true;
    let n = files.len();
    let mut payload = Vec::new();
    for (i, (start, path)) in files.into_iter().enumerate() {
        if stopped {
            fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
            report.removed_files += 1;
            continue;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| StorageError::io(&path, e))?;
        let len = file
            .metadata()
            .map_err(|e| StorageError::io(&path, e))?
            .len();
        if len < WAL_HEADER_LEN && i + 1 == n {
            // Torn while being created: it never held an entry.
            drop(file);
            fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
            report.removed_files += 1;
            continue;
        }
        check_header(&file, &path, len, start)?;
        if first {
            if start > checkpoint_lsn + 1 {
                return Err(StorageError::Inconsistent {
                    kind: FileKind::Wal,
                    path,
                    detail: format!("log starts at {start}, after checkpoint {checkpoint_lsn}"),
                });
            }
            expected = start;
            first = false;
        } else if start != expected {
            return Err(StorageError::Inconsistent {
                kind: FileKind::Wal,
                path,
                detail: format!("log starts at {start}, expected {expected}"),
            });
        }
        let mut reader = BufReader::with_capacity(1 << 20, &file);
        let mut skip = [0u8; WAL_HEADER_LEN as usize];
        reader
            .read_exact(&mut skip)
            .map_err(|e| StorageError::io(&path, e))?;
        let mut pos = WAL_HEADER_LEN;
        loop {
            let mut head = [0u8; FRAME_HEADER_LEN];
            if len - pos < FRAME_HEADER_LEN as u64 {
                break;
            }
            reader
                .read_exact(&mut head)
                .map_err(|e| StorageError::io(&path, e))?;
            let flen = u64::from(get_u32(&head, 0).unwrap_or(0));
            let fcrc = get_u32(&head, 4).unwrap_or(0);
            let lsn = get_u64(&head, 8).unwrap_or(0);
            if flen > len - pos - FRAME_HEADER_LEN as u64 || lsn != expected {
                break;
            }
            payload.resize(flen as usize, 0);
            reader
                .read_exact(&mut payload)
                .map_err(|e| StorageError::io(&path, e))?;
            if frame_crc(lsn, &payload) != fcrc {
                break;
            }
            if lsn > checkpoint_lsn {
                apply(lsn, &payload)?;
                report.replayed += 1;
            }
            pos += FRAME_HEADER_LEN as u64 + flen;
            expected += 1;
        }
        drop(reader);
        if pos < len {
            report.truncated_bytes += len - pos;
            file.set_len(pos)
                .and_then(|()| file.sync_all())
                .map_err(|e| StorageError::io(&path, e))?;
            stopped = true;
        }
        active = Some((file, path, start, pos));
    }
    let next = expected.max(checkpoint_lsn + 1);
    report.last_lsn = next - 1;
    let recovered = match active {
        Some((file, path, start_lsn, len)) if expected == next => RecoveredLog {
            file,
            path,
            start_lsn,
            len,
            next_lsn: next,
        },
        _ => {
            let (file, path) = create_log(dir, next)?;
            for (start, old) in list_logs(dir)? {
                if start < next {
                    fs::remove_file(&old).map_err(|e| StorageError::io(&old, e))?;
                    report.removed_files += 1;
                }
            }
            RecoveredLog {
                file,
                path,
                start_lsn: next,
                len: WAL_HEADER_LEN,
                next_lsn: next,
            }
        }
    };
    sync_dir(dir)?;
    Ok((Wal::from_recovered(dir, recovered, durability), report))
}

fn check_header(file: &File, path: &Path, len: u64, start: u64) -> Result<()> {
    if len < WAL_HEADER_LEN {
        return Err(StorageError::Truncated {
            kind: FileKind::Wal,
            path: path.to_path_buf(),
            needed: WAL_HEADER_LEN,
            found: len,
        });
    }
    let mut h = [0u8; WAL_HEADER_LEN as usize];
    file.read_exact_at(&mut h, 0)
        .map_err(|e| StorageError::io(path, e))?;
    if h[..8] != WAL_MAGIC {
        return Err(StorageError::BadMagic {
            kind: FileKind::Wal,
            path: path.to_path_buf(),
        });
    }
    if h != wal_header(start) {
        return Err(StorageError::ChecksumMismatch {
            kind: FileKind::Wal,
            path: path.to_path_buf(),
            what: "header".into(),
        });
    }
    Ok(())
}
