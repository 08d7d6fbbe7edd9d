//! Append-only blob store (`blobs.dat`) for cold, variable-length data such as full
//! templates. Each entry is `len u32 | crc32 u32 | payload`; records address entries by
//! `(offset, len)`. Entries are written with positioned writes, read with positioned reads,
//! and checked on every read.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::{FileKind, Result, StorageError};
use super::format::{crc, get_u32, put_u32};

/// Magic bytes of the blob file.
pub const BLOB_MAGIC: [u8; 8] = *b"TUNGBLB\0";
/// Current blob format version.
pub const BLOB_VERSION: u32 = 1;
/// Bytes of the blob file header; the first entry starts here.
pub const BLOB_HEADER_LEN: u64 = 32;
/// Bytes of an entry's framing before the payload.
pub const BLOB_ENTRY_HEADER_LEN: u64 = 8;

/// Where a blob lives: offset of its entry and payload length. `len == 0` means "no blob".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BlobRef {
    /// Offset of the entry (its framing) in `blobs.dat`.
    pub offset: u64,
    /// Payload length in bytes.
    pub len: u32,
}

impl BlobRef {
    /// Bytes the entry occupies in the file.
    pub fn entry_len(&self) -> u64 {
        if self.len == 0 {
            0
        } else {
            BLOB_ENTRY_HEADER_LEN + u64::from(self.len)
        }
    }
}

/// The blob file and its logical end (bytes past it are unreferenced).
#[derive(Debug)]
pub(crate) struct BlobStore {
    file: File,
    path: PathBuf,
    end: u64,
    dirty: bool,
}

fn header() -> [u8; BLOB_HEADER_LEN as usize] {
    let mut h = [0u8; BLOB_HEADER_LEN as usize];
    h[..8].copy_from_slice(&BLOB_MAGIC);
    put_u32(&mut h, 8, BLOB_VERSION);
    let c = crc(&h[..28]);
    put_u32(&mut h, 28, c);
    h
}

impl BlobStore {
    /// Creates a new, empty blob file (fsynced).
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| StorageError::io(path, e))?;
        file.write_all(&header())
            .and_then(|()| file.sync_all())
            .map_err(|e| StorageError::io(path, e))?;
        Ok(BlobStore {
            file,
            path: path.to_path_buf(),
            end: BLOB_HEADER_LEN,
            dirty: false,
        })
    }

    /// Opens the blob file, checks its header, and that it holds at least `end` bytes.
    pub(crate) fn open(path: &Path, end: u64) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| StorageError::io(path, e))?;
        let len = file
            .metadata()
            .map_err(|e| StorageError::io(path, e))?
            .len();
        let needed = end.max(BLOB_HEADER_LEN);
        if len < needed {
            return Err(StorageError::Truncated {
                kind: FileKind::Blob,
                path: path.to_path_buf(),
                needed,
                found: len,
            });
        }
        let mut h = [0u8; BLOB_HEADER_LEN as usize];
        file.read_exact_at(&mut h, 0)
            .map_err(|e| StorageError::io(path, e))?;
        if h[..8] != BLOB_MAGIC {
            return Err(StorageError::BadMagic {
                kind: FileKind::Blob,
                path: path.to_path_buf(),
            });
        }
        if h != header() {
            return Err(StorageError::ChecksumMismatch {
                kind: FileKind::Blob,
                path: path.to_path_buf(),
                what: "header".into(),
            });
        }
        Ok(BlobStore {
            file,
            path: path.to_path_buf(),
            end: needed,
            dirty: false,
        })
    }

    /// Records that the file was renamed to `path` (for error messages).
    pub(crate) fn set_path(&mut self, path: PathBuf) {
        self.path = path;
    }

    /// Logical end: offset where the next entry goes.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Reserves room for a payload of `len` bytes at the logical end.
    pub(crate) fn reserve(&self, len: usize) -> Result<BlobRef> {
        let len = u32::try_from(len).map_err(|_| StorageError::BlobTooLarge(len))?;
        Ok(if len == 0 {
            BlobRef::default()
        } else {
            BlobRef {
                offset: self.end,
                len,
            }
        })
    }

    /// Writes an entry at `at.offset` (framing plus payload). Does not move the logical end.
    pub(crate) fn write(&mut self, at: BlobRef, payload: &[u8]) -> Result<()> {
        if at.len == 0 {
            return Ok(());
        }
        let mut frame = [0u8; BLOB_ENTRY_HEADER_LEN as usize];
        put_u32(&mut frame, 0, at.len);
        put_u32(&mut frame, 4, entry_crc(at.len, payload));
        self.file
            .write_all_at(&frame, at.offset)
            .and_then(|()| {
                self.file
                    .write_all_at(payload, at.offset + BLOB_ENTRY_HEADER_LEN)
            })
            .map_err(|e| StorageError::io(&self.path, e))?;
        self.dirty = true;
        Ok(())
    }

    /// Moves the logical end past the entry `at`.
    pub(crate) fn publish(&mut self, at: BlobRef) {
        self.end = self.end.max(at.offset + at.entry_len());
    }

    /// Reads and checks the entry `at`.
    pub(crate) fn read(&self, at: BlobRef) -> Result<Vec<u8>> {
        if at.len == 0 {
            return Ok(Vec::new());
        }
        let corrupt = || StorageError::CorruptBlob {
            offset: at.offset,
            len: at.len,
        };
        if at.offset < BLOB_HEADER_LEN || at.offset + at.entry_len() > self.end {
            return Err(corrupt());
        }
        let mut frame = [0u8; BLOB_ENTRY_HEADER_LEN as usize];
        self.file
            .read_exact_at(&mut frame, at.offset)
            .map_err(|e| StorageError::io(&self.path, e))?;
        let mut payload = vec![0u8; at.len as usize];
        self.file
            .read_exact_at(&mut payload, at.offset + BLOB_ENTRY_HEADER_LEN)
            .map_err(|e| StorageError::io(&self.path, e))?;
        if get_u32(&frame, 0) != Some(at.len)
            || get_u32(&frame, 4) != Some(entry_crc(at.len, &payload))
        {
            return Err(corrupt());
        }
        Ok(payload)
    }

    /// Fsyncs the file if entries were written since the last sync.
    pub(crate) fn sync(&mut self) -> Result<()> {
        if self.dirty {
            self.file
                .sync_data()
                .map_err(|e| StorageError::io(&self.path, e))?;
            self.dirty = false;
        }
        Ok(())
    }
}

fn entry_crc(len: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(payload);
    h.finalize()
}
