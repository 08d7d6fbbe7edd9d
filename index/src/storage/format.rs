//! Byte-level helpers shared by every file format: little-endian fields, CRC32, file names,
//! and the temp → fsync → rename → fsync-directory write used for whole-file replacement.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::{Result, StorageError};

/// Alignment of segment regions (the mapping itself is page-aligned).
pub const ALIGN: usize = 64;

/// Every stride is a multiple of this many bytes.
pub const STRIDE_MULTIPLE: u32 = 8;

/// Suffix of files that are being written and not yet renamed into place.
pub const TMP_SUFFIX: &str = ".tmp";

/// CRC32 (IEEE) of `bytes`.
pub fn crc(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// Reads a little-endian `u32` at `at`, or `None` if out of range.
pub fn get_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a little-endian `u64` at `at`, or `None` if out of range.
pub fn get_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// Writes a little-endian `u32` at `at` of a buffer known to be large enough.
pub fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    if let Some(b) = bytes.get_mut(at..at + 4) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

/// Writes a little-endian `u64` at `at` of a buffer known to be large enough.
pub fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    if let Some(b) = bytes.get_mut(at..at + 8) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

/// Rounds `n` up to a multiple of [`ALIGN`].
pub fn align_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// `seg-<id>.dat`
pub fn segment_name(id: u32) -> String {
    format!("seg-{id:08}.dat")
}

/// The blob file of generation `gen`: `blobs.dat` for 0, `blobs-<gen>.dat` after.
pub fn blob_name(gen: u32) -> String {
    if gen == 0 {
        "blobs.dat".into()
    } else {
        format!("blobs-{gen:08}.dat")
    }
}

/// The generation of a blob file name.
pub fn parse_blob_name(name: &str) -> Option<u32> {
    if name == "blobs.dat" {
        return Some(0);
    }
    let g = name.strip_prefix("blobs-")?.strip_suffix(".dat")?;
    if g.len() != 8 || !g.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    g.parse().ok().filter(|&g| g > 0)
}

/// `seg-<id>-<lsn>.del`
pub fn bitmap_name(id: u32, lsn: u64) -> String {
    format!("seg-{id:08}-{lsn:016x}.del")
}

/// `wal-<start lsn>.log`
pub fn wal_name(start_lsn: u64) -> String {
    format!("wal-{start_lsn:016x}.log")
}

/// Parses `seg-<id>.dat`.
pub fn parse_segment_name(name: &str) -> Option<u32> {
    let id = name.strip_prefix("seg-")?.strip_suffix(".dat")?;
    (id.len() == 8).then_some(())?;
    id.parse().ok()
}

/// Parses `seg-<id>-<lsn>.del`.
pub fn parse_bitmap_name(name: &str) -> Option<(u32, u64)> {
    let rest = name.strip_prefix("seg-")?.strip_suffix(".del")?;
    let (id, lsn) = rest.split_once('-')?;
    Some((id.parse().ok()?, u64::from_str_radix(lsn, 16).ok()?))
}

/// Parses `wal-<start lsn>.log`.
pub fn parse_wal_name(name: &str) -> Option<u64> {
    let lsn = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    u64::from_str_radix(lsn, 16).ok()
}

/// Fsyncs a directory so that creations, renames and deletions in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(dir, e))
}

/// Path of the temporary file used while writing `path`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(TMP_SUFFIX);
    PathBuf::from(s)
}

/// Replaces `path` atomically with `bytes`: write to `path.tmp`, fsync it, rename over
/// `path`, fsync the directory.
pub fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| StorageError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| StorageError::io(&tmp, e))?;
    f.sync_all().map_err(|e| StorageError::io(&tmp, e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| StorageError::io(path, e))?;
    sync_dir(dir)
}

/// Removes a file, treating "already gone" as success.
pub fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io(path, e)),
    }
}
