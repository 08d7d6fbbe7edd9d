//! Reading the logs back: replay after a checkpoint, the torn-tail / corruption decision,
//! and a read-only inspection for `fsck`.
//!
//! A damaged frame is a **torn tail**, which recovery may cut, only when all of these hold:
//! its LSN is past every commit slot (and the checkpoint), it is in the last log file, and
//! no CRC-valid frame with a later LSN follows it. Anything else is corruption: the open
//! fails with [`StorageError::WalCorrupt`] naming the file and offset, and nothing is cut.
//! A cut tail is first copied to `wal-<start>.log.torn-<offset>` beside the log, so no
//! byte is deleted.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::super::error::{FileKind, Result, StorageError};
use super::super::format::sync_dir;
use super::frame::{
    frame_crc, frame_head, read_header, slot_bytes, slot_offset, CommitSlot, LogHeader,
    FRAME_HEADER_LEN, WAL_HEADER_LEN, WAL_VERSION,
};
use super::{create_log, list_logs, Durability, Wal};

/// How far past a damaged frame's LSN a valid frame still counts as "a later entry".
const LSN_REACH: u64 = 1 << 40;

/// What replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalReplay {
    /// Entries applied (those after the checkpoint).
    pub replayed: u64,
    /// Bytes cut from a torn tail (kept in the file named by [`TornTail::kept_in`]).
    pub truncated_bytes: u64,
    /// LSN of the last valid entry.
    pub last_lsn: u64,
    /// LSN up to which the log's commit slots (or the checkpoint) vouch for every entry.
    pub committed_lsn: u64,
    /// The torn tail that was cut, if any.
    pub torn_tail: Option<TornTail>,
}

/// A torn tail cut by recovery: an unacknowledged batch that did not fully reach the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The log file.
    pub log: PathBuf,
    /// Offset of the first damaged frame (the log's new length).
    pub offset: u64,
    /// First LSN that was not recovered.
    pub first_lsn: u64,
    /// Bytes cut.
    pub bytes: u64,
    /// Where the cut bytes were kept.
    pub kept_in: PathBuf,
}

/// A damaged frame found by [`inspect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailDamage {
    /// Offset of the first damaged frame.
    pub offset: u64,
    /// LSN that was expected there.
    pub lsn: u64,
    /// Bytes from the damage to the end of the file.
    pub bytes: u64,
    /// `None` for a torn tail recovery would cut; otherwise why it is corruption.
    pub corruption: Option<String>,
}

/// What one log file holds, as [`inspect`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogInspection {
    /// The file.
    pub path: PathBuf,
    /// Start LSN from the file name.
    pub start_lsn: u64,
    /// File length.
    pub len: u64,
    /// The header.
    pub header: LogHeader,
    /// Valid frames.
    pub frames: u64,
    /// LSN of the last valid frame (`start_lsn - 1` if none).
    pub last_lsn: u64,
    /// End of the last valid frame.
    pub valid_end: u64,
    /// The first damaged frame, if any.
    pub damage: Option<TailDamage>,
}

pub(super) struct RecoveredLog {
    pub(super) file: File,
    pub(super) path: PathBuf,
    pub(super) start_lsn: u64,
    pub(super) len: u64,
    pub(super) next_lsn: u64,
    pub(super) slot: CommitSlot,
}

/// One log file as the analysis saw it.
struct Scanned {
    path: PathBuf,
    start: u64,
    len: u64,
    header: LogHeader,
    frames: u64,
    end: u64,
    damage: Option<TailDamage>,
}

/// The logs of a directory, read once: frames after `checkpoint_lsn` go to `apply`.
struct Analysis {
    files: Vec<Scanned>,
    committed: u64,
    /// Next LSN expected after the last valid frame.
    expected: u64,
    /// The first corruption found (file index and the damage), fatal for recovery.
    corrupt: Option<StorageError>,
}

fn open_ro(path: &Path) -> Result<(File, u64)> {
    let file = File::open(path).map_err(|e| StorageError::io(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| StorageError::io(path, e))?
        .len();
    Ok((file, len))
}

fn corrupt(path: &Path, offset: u64, lsn: u64, detail: String) -> StorageError {
    StorageError::WalCorrupt {
        path: path.to_path_buf(),
        offset,
        lsn,
        detail,
    }
}

fn analyse(
    dir: &Path,
    checkpoint_lsn: u64,
    apply: &mut dyn FnMut(u64, &[u8]) -> Result<()>,
) -> Result<Analysis> {
    let logs = list_logs(dir)?;
    let mut files = Vec::with_capacity(logs.len());
    for (start, path) in logs {
        let (file, len) = open_ro(&path)?;
        // Logs are created whole (temp file, rename), so a short one was truncated.
        let Ok(header) = read_header(&file, &path, len, start)? else {
            return Err(StorageError::Truncated {
                kind: FileKind::Wal,
                path,
                needed: WAL_HEADER_LEN,
                found: len,
            });
        };
        files.push(Scanned {
            path,
            start,
            len,
            header,
            frames: 0,
            end: 0,
            damage: None,
        });
    }
    let committed = files
        .iter()
        .filter_map(|f| f.header.commit)
        .map(|s| s.committed)
        .fold(checkpoint_lsn, u64::max);

    let mut expected = checkpoint_lsn + 1;
    let mut first = true;
    let mut corrupt_at: Option<StorageError> = None;
    let mut payload = Vec::new();
    let count = files.len();
    for (i, f) in files.iter_mut().enumerate() {
        let later_files = i + 1 < count;
        let header = f.header;
        if first {
            if f.start > checkpoint_lsn + 1 {
                return Err(StorageError::Inconsistent {
                    kind: FileKind::Wal,
                    path: f.path.clone(),
                    detail: format!(
                        "log starts at {}, after checkpoint {checkpoint_lsn}",
                        f.start
                    ),
                });
            }
            expected = f.start;
            first = false;
        } else if f.start != expected {
            return Err(StorageError::Inconsistent {
                kind: FileKind::Wal,
                path: f.path.clone(),
                detail: format!("log starts at {}, expected {expected}", f.start),
            });
        }
        let (file, len) = open_ro(&f.path)?;
        let mut reader = BufReader::with_capacity(1 << 20, &file);
        let mut skip = vec![0u8; header.data_start as usize];
        reader
            .read_exact(&mut skip)
            .map_err(|e| StorageError::io(&f.path, e))?;
        let mut pos = header.data_start;
        while len - pos >= FRAME_HEADER_LEN as u64 {
            let mut head = [0u8; FRAME_HEADER_LEN];
            reader
                .read_exact(&mut head)
                .map_err(|e| StorageError::io(&f.path, e))?;
            let Some(h) = frame_head(&head) else { break };
            if h.len > len - pos - FRAME_HEADER_LEN as u64 || h.lsn != expected {
                break;
            }
            payload.resize(h.len as usize, 0);
            reader
                .read_exact(&mut payload)
                .map_err(|e| StorageError::io(&f.path, e))?;
            if frame_crc(h.lsn, &payload) != h.crc {
                break;
            }
            if h.lsn > checkpoint_lsn {
                apply(h.lsn, &payload)?;
            }
            f.frames += 1;
            pos += FRAME_HEADER_LEN as u64 + h.len;
            expected += 1;
        }
        f.end = pos;
        if pos < len {
            let why = if expected <= committed {
                Some(format!(
                    "entry {expected} is damaged but the log's commit record says every entry \
                     up to {committed} is durable"
                ))
            } else if later_files {
                Some("later log files follow the damaged frame".into())
            } else {
                later_valid_frame(&file, &f.path, pos, len, expected)?
            };
            if let (Some(d), None) = (&why, &corrupt_at) {
                corrupt_at = Some(corrupt(&f.path, pos, expected, d.clone()));
            }
            f.damage = Some(TailDamage {
                offset: pos,
                lsn: expected,
                bytes: len - pos,
                corruption: why,
            });
            if corrupt_at.is_some() {
                break;
            }
        }
    }
    if corrupt_at.is_none() && expected <= committed {
        let (path, end) = files
            .last()
            .map(|f| (f.path.clone(), f.end))
            .unwrap_or_else(|| (dir.to_path_buf(), 0));
        corrupt_at = Some(corrupt(
            &path,
            end,
            expected,
            format!(
                "the log ends before entry {expected}, but its commit record says every entry \
                 up to {committed} is durable (the file was truncated)"
            ),
        ));
    }
    Ok(Analysis {
        files,
        committed,
        expected,
        corrupt: corrupt_at,
    })
}

/// Why the damaged frame at `pos` is not a torn tail: a valid later frame behind it.
fn later_valid_frame(
    file: &File,
    path: &Path,
    pos: u64,
    len: u64,
    expected: u64,
) -> Result<Option<String>> {
    let mut tail = vec![0u8; (len - pos) as usize];
    file.read_exact_at(&mut tail, pos)
        .map_err(|e| StorageError::io(path, e))?;
    let lsns = expected..expected.saturating_add(LSN_REACH);
    Ok(
        super::frame::find_valid_frame(&tail, lsns).map(|(at, lsn)| {
            format!(
                "a valid entry (LSN {lsn}) follows at byte {}",
                pos + at as u64
            )
        }),
    )
}

/// Reads every log of `dir` without changing anything: headers, commit slots, valid
/// frames, the first damaged frame of each file with recovery's verdict on it, and why
/// recovery would refuse to open (`None` when it would open).
pub fn inspect(dir: &Path, checkpoint_lsn: u64) -> Result<(Vec<LogInspection>, Option<String>)> {
    analyse_logs(dir, checkpoint_lsn, &mut |_, _| Ok(()))
}

/// [`inspect`], with every valid frame after the checkpoint passed to `apply`.
pub(crate) fn analyse_logs(
    dir: &Path,
    checkpoint_lsn: u64,
    apply: &mut dyn FnMut(u64, &[u8]) -> Result<()>,
) -> Result<(Vec<LogInspection>, Option<String>)> {
    let a = analyse(dir, checkpoint_lsn, apply)?;
    let files = a
        .files
        .into_iter()
        .map(|f| LogInspection {
            last_lsn: f.start + f.frames - 1,
            path: f.path,
            start_lsn: f.start,
            len: f.len,
            header: f.header,
            frames: f.frames,
            valid_end: f.end,
            damage: f.damage,
        })
        .collect();
    Ok((files, a.corrupt.map(|e| e.to_string())))
}

/// For a salvaged copy: cuts `log` at `valid_end` (the cut bytes kept beside it) and
/// writes both commit slots to vouch for `last_lsn`, the last entry kept.
pub(crate) fn cut_and_vouch(
    dir: &Path,
    log: &Path,
    start: u64,
    valid_end: u64,
    last_lsn: u64,
) -> Result<()> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(log)
        .map_err(|e| StorageError::io(log, e))?;
    let len = file.metadata().map_err(|e| StorageError::io(log, e))?.len();
    if valid_end < len {
        keep_tail(dir, log, &file, valid_end, len)?;
        file.set_len(valid_end)
            .map_err(|e| StorageError::io(log, e))?;
    }
    if let Ok(header) = read_header(&file, log, valid_end, start)? {
        if header.version == WAL_VERSION {
            let seq = header.commit.map_or(0, |c| c.seq);
            for k in 1..=2 {
                let slot = CommitSlot {
                    seq: seq + k,
                    committed: last_lsn,
                };
                file.write_all_at(&slot_bytes(start, slot), slot_offset(slot.seq))
                    .map_err(|e| StorageError::io(log, e))?;
            }
        }
    }
    file.sync_all().map_err(|e| StorageError::io(log, e))
}

/// Copies `[from, len)` of `log` to a new file beside it and returns its path.
fn keep_tail(dir: &Path, log: &Path, file: &File, from: u64, len: u64) -> Result<PathBuf> {
    let mut bytes = vec![0u8; (len - from) as usize];
    file.read_exact_at(&mut bytes, from)
        .map_err(|e| StorageError::io(log, e))?;
    let base = format!("{}.torn-{from:016x}", log.display());
    let mut k = 0u32;
    loop {
        let path = if k == 0 {
            PathBuf::from(&base)
        } else {
            PathBuf::from(format!("{base}-{k}"))
        };
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut out) => {
                out.write_all(&bytes)
                    .and_then(|()| out.sync_all())
                    .map_err(|e| StorageError::io(&path, e))?;
                sync_dir(dir)?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => k += 1,
            Err(e) => return Err(StorageError::io(&path, e)),
        }
    }
}

/// Replays the logs of `dir` after `checkpoint_lsn` through `apply`, refuses corruption,
/// asks `approve` (which sees the replayed state) before changing any file, cuts a torn
/// tail (keeping its bytes), and returns a writer positioned after the last valid entry.
pub(crate) fn recover(
    dir: &Path,
    checkpoint_lsn: u64,
    durability: Durability,
    mut apply: impl FnMut(u64, &[u8]) -> Result<()>,
    approve: impl FnOnce() -> Result<()>,
) -> Result<(Wal, WalReplay)> {
    let mut replayed = 0u64;
    let a = analyse(dir, checkpoint_lsn, &mut |lsn, p| {
        replayed += 1;
        apply(lsn, p)
    })?;
    if let Some(e) = a.corrupt {
        return Err(e);
    }
    approve()?;
    let mut report = WalReplay {
        replayed,
        committed_lsn: a.committed,
        last_lsn: a.expected - 1,
        ..WalReplay::default()
    };
    let mut active = None;
    for f in a.files {
        let header = f.header;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&f.path)
            .map_err(|e| StorageError::io(&f.path, e))?;
        if let Some(d) = &f.damage {
            let kept_in = keep_tail(dir, &f.path, &file, d.offset, f.len)?;
            file.set_len(d.offset)
                .and_then(|()| file.sync_all())
                .map_err(|e| StorageError::io(&f.path, e))?;
            report.truncated_bytes += d.bytes;
            report.torn_tail = Some(TornTail {
                log: f.path.clone(),
                offset: d.offset,
                first_lsn: d.lsn,
                bytes: d.bytes,
                kept_in,
            });
        }
        active = Some((file, f.path, f.start, f.end, header));
    }
    let next = a.expected;
    let recovered = match active {
        Some((file, path, start_lsn, len, header)) if header.version == WAL_VERSION => {
            // What was read back is made durable before the writer vouches for it.
            file.sync_data().map_err(|e| StorageError::io(&path, e))?;
            let slot = header.commit.unwrap_or(CommitSlot {
                seq: 1,
                committed: start_lsn - 1,
            });
            RecoveredLog {
                file,
                path,
                start_lsn,
                len,
                next_lsn: next,
                slot,
            }
        }
        other => {
            // No log yet, or an older-format one: appends go to a new file (the old one
            // stays until a checkpoint covers it).
            if let Some((file, path, ..)) = other {
                file.sync_data().map_err(|e| StorageError::io(&path, e))?;
            }
            let (file, path) = create_log(dir, next)?;
            RecoveredLog {
                file,
                path,
                start_lsn: next,
                len: WAL_HEADER_LEN,
                next_lsn: next,
                slot: CommitSlot {
                    seq: 1,
                    committed: next - 1,
                },
            }
        }
    };
    sync_dir(dir)?;
    Ok((Wal::from_recovered(dir, recovered, durability), report))
}
