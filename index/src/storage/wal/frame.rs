//! Byte layout of a log file: the header with its two commit slots, and the frames.
//!
//! Version 2 (written today) reserves the first 4,096 bytes for the header: the fixed part
//! (magic, version, start LSN, CRC) and two commit slots. A commit slot records an LSN up
//! to which every entry of the log is known durable; the two slots are written
//! alternately, so a torn slot write leaves the other one intact. Version 1 files (a
//! 32-byte header without slots) are still read.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::super::error::{FileKind, Result, StorageError};
use super::super::format::{crc, get_u32, get_u64, put_u32, put_u64};

/// Magic bytes of a log file.
pub const WAL_MAGIC: [u8; 8] = *b"TUNGWAL\0";
/// Log format version written today.
pub const WAL_VERSION: u32 = 2;
/// The first log format version (no commit slots), still read.
pub const WAL_VERSION_1: u32 = 1;
/// Bytes of the header of a version 2 log file; frames start here.
pub const WAL_HEADER_LEN: u64 = 4096;
/// Bytes of the fixed part of the header (the whole header of version 1).
pub const WAL_FIXED_HEADER_LEN: u64 = 32;
/// Bytes of a frame header (`len`, `crc`, `lsn`).
pub const FRAME_HEADER_LEN: usize = 16;
/// Offsets of the two commit slots in a version 2 header.
const SLOT_AT: [u64; 2] = [32, 64];
/// Bytes of one commit slot.
const SLOT_LEN: usize = 32;

/// The fixed 32-byte header part: magic, version, start LSN, CRC of bytes 0..28.
pub(crate) fn fixed_header(start_lsn: u64, version: u32) -> [u8; WAL_FIXED_HEADER_LEN as usize] {
    let mut h = [0u8; WAL_FIXED_HEADER_LEN as usize];
    h[..8].copy_from_slice(&WAL_MAGIC);
    put_u32(&mut h, 8, version);
    put_u64(&mut h, 16, start_lsn);
    let c = crc(&h[..28]);
    put_u32(&mut h, 28, c);
    h
}

/// A decoded commit slot: every entry up to `committed` is durable in this log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitSlot {
    /// Write sequence of the slot; the valid slot with the higher one is current.
    pub seq: u64,
    /// LSN up to which every entry is durable.
    pub committed: u64,
}

/// Bytes of a commit slot: `seq u64 | committed u64 | 12 zero bytes | crc u32`, the CRC
/// covering the start LSN of the file and the first 28 bytes (so a slot copied from
/// another file does not validate).
pub(crate) fn slot_bytes(start_lsn: u64, slot: CommitSlot) -> [u8; SLOT_LEN] {
    let mut s = [0u8; SLOT_LEN];
    put_u64(&mut s, 0, slot.seq);
    put_u64(&mut s, 8, slot.committed);
    let c = slot_crc(start_lsn, &s);
    put_u32(&mut s, 28, c);
    s
}

fn slot_crc(start_lsn: u64, s: &[u8; SLOT_LEN]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&start_lsn.to_le_bytes());
    h.update(&s[..28]);
    h.finalize()
}

/// Where slot `seq` is written: the two slots alternate.
pub(crate) fn slot_offset(seq: u64) -> u64 {
    SLOT_AT[(seq % 2) as usize]
}

fn decode_slot(start_lsn: u64, s: &[u8; SLOT_LEN]) -> Option<CommitSlot> {
    let stored = get_u32(s, 28)?;
    if stored != slot_crc(start_lsn, s) || s[16..28].iter().any(|&b| b != 0) {
        return None;
    }
    let slot = CommitSlot {
        seq: get_u64(s, 0)?,
        committed: get_u64(s, 8)?,
    };
    (slot.seq > 0 && slot.committed + 1 >= start_lsn).then_some(slot)
}

/// The whole header of a new version 2 file: its first slot says every entry before the
/// file's start is durable.
pub(crate) fn new_header(start_lsn: u64) -> Vec<u8> {
    let mut h = vec![0u8; WAL_HEADER_LEN as usize];
    h[..WAL_FIXED_HEADER_LEN as usize].copy_from_slice(&fixed_header(start_lsn, WAL_VERSION));
    let first = CommitSlot {
        seq: 1,
        committed: start_lsn.saturating_sub(1),
    };
    let at = slot_offset(first.seq) as usize;
    h[at..at + SLOT_LEN].copy_from_slice(&slot_bytes(start_lsn, first));
    h
}

/// CRC of a frame: its LSN and payload.
pub(crate) fn frame_crc(lsn: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&lsn.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// What a log file's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHeader {
    /// Format version (1 or 2).
    pub version: u32,
    /// Offset of the first frame.
    pub data_start: u64,
    /// The current commit slot (version 2 only).
    pub commit: Option<CommitSlot>,
    /// Which of the two slots validated (version 2 only).
    pub slots_valid: [bool; 2],
}

/// Why a header could not be read at all: the file is shorter than its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShortHeader {
    /// Fewer bytes than the fixed part.
    Fixed,
    /// A version 2 fixed part, but fewer bytes than the whole header.
    Slots,
}

/// Reads and checks the header of `file` (`len` bytes, named for `start`). `Ok(Err(_))`
/// when the file is too short to hold its header (a file torn while being created, if it
/// is the last one).
pub(crate) fn read_header(
    file: &File,
    path: &Path,
    len: u64,
    start: u64,
) -> Result<std::result::Result<LogHeader, ShortHeader>> {
    if len < WAL_FIXED_HEADER_LEN {
        return Ok(Err(ShortHeader::Fixed));
    }
    let mut h = [0u8; WAL_FIXED_HEADER_LEN as usize];
    file.read_exact_at(&mut h, 0)
        .map_err(|e| StorageError::io(path, e))?;
    if h[..8] != WAL_MAGIC {
        return Err(StorageError::BadMagic {
            kind: FileKind::Wal,
            path: path.to_path_buf(),
        });
    }
    let version = get_u32(&h, 8).unwrap_or(0);
    if version != WAL_VERSION && version != WAL_VERSION_1 {
        if h == fixed_header(start, version) {
            return Err(StorageError::UnsupportedVersion {
                kind: FileKind::Wal,
                path: path.to_path_buf(),
                found: version,
            });
        }
        return Err(checksum(path, "header"));
    }
    if h != fixed_header(start, version) {
        return Err(checksum(path, "header"));
    }
    if version == WAL_VERSION_1 {
        return Ok(Ok(LogHeader {
            version,
            data_start: WAL_FIXED_HEADER_LEN,
            commit: None,
            slots_valid: [false; 2],
        }));
    }
    if len < WAL_HEADER_LEN {
        return Ok(Err(ShortHeader::Slots));
    }
    let mut slots = [None; 2];
    for (i, at) in SLOT_AT.iter().enumerate() {
        let mut s = [0u8; SLOT_LEN];
        file.read_exact_at(&mut s, *at)
            .map_err(|e| StorageError::io(path, e))?;
        slots[i] = decode_slot(start, &s);
    }
    let commit = slots.iter().flatten().max_by_key(|s| s.seq).copied();
    if commit.is_none() {
        return Err(checksum(path, "both commit slots"));
    }
    Ok(Ok(LogHeader {
        version,
        data_start: WAL_HEADER_LEN,
        commit,
        slots_valid: [slots[0].is_some(), slots[1].is_some()],
    }))
}

fn checksum(path: &Path, what: &str) -> StorageError {
    StorageError::ChecksumMismatch {
        kind: FileKind::Wal,
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// A frame header read from bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHead {
    pub len: u64,
    pub crc: u32,
    pub lsn: u64,
}

pub(crate) fn frame_head(b: &[u8]) -> Option<FrameHead> {
    Some(FrameHead {
        len: u64::from(get_u32(b, 0)?),
        crc: get_u32(b, 4)?,
        lsn: get_u64(b, 8)?,
    })
}

/// The first offset of `bytes` at which a complete, CRC-valid frame with an LSN in
/// `lsns` starts, with that LSN. Used after a damaged frame: a valid entry behind it
/// means the damage is not a torn tail.
pub(crate) fn find_valid_frame(bytes: &[u8], lsns: std::ops::Range<u64>) -> Option<(usize, u64)> {
    let last = bytes.len().checked_sub(FRAME_HEADER_LEN)?;
    (0..=last).find_map(|at| {
        let h = frame_head(&bytes[at..])?;
        if !lsns.contains(&h.lsn) {
            return None;
        }
        let body = at + FRAME_HEADER_LEN;
        let end = body.checked_add(usize::try_from(h.len).ok()?)?;
        let payload = bytes.get(body..end)?;
        (frame_crc(h.lsn, payload) == h.crc).then_some((at, h.lsn))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_validate_only_for_their_file() {
        let s = CommitSlot {
            seq: 7,
            committed: 41,
        };
        let b = slot_bytes(10, s);
        assert_eq!(decode_slot(10, &b), Some(s));
        assert_eq!(decode_slot(11, &b), None);
        for i in 0..SLOT_LEN {
            let mut d = b;
            d[i] ^= 0x01;
            assert_eq!(decode_slot(10, &d), None, "flip at {i}");
        }
    }

    #[test]
    fn a_valid_frame_is_found_behind_garbage() {
        let mut bytes = vec![0xAB; 37];
        let payload = b"entry";
        let mut head = [0u8; FRAME_HEADER_LEN];
        put_u32(&mut head, 0, payload.len() as u32);
        put_u32(&mut head, 4, frame_crc(9, payload));
        put_u64(&mut head, 8, 9);
        bytes.extend_from_slice(&head);
        bytes.extend_from_slice(payload);
        assert_eq!(find_valid_frame(&bytes, 5..20), Some((37, 9)));
        assert_eq!(find_valid_frame(&bytes, 10..20), None);
        let n = bytes.len();
        assert_eq!(find_valid_frame(&bytes[..n - 1], 5..20), None);
    }
}
