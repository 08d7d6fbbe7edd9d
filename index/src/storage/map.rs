//! The one place where files are memory-mapped. All `unsafe` of the storage layer lives
//! here.
//!
//! Invariants every caller relies on:
//!
//! * the data directory is held under an exclusive lock (`LOCK`, see [`super::store`]) for
//!   as long as any mapping exists, so no other cooperating process writes or truncates the
//!   mapped files;
//! * this process only ever grows a mapped file (zero-filled through the file handle, then
//!   remapped); it never truncates or shrinks one while it is mapped;
//! * remapping takes `&mut self`, so the borrow checker guarantees that no slice handed out
//!   by [`MappedFile::bytes`] outlives the mapping it points into;
//! * a file mapped read-only ([`MappedReadOnly`], the key index) is only ever replaced whole
//!   by a rename, never written in place or truncated, so the mapped inode keeps its bytes
//!   for as long as the mapping lives.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapMut};

use super::error::{Result, StorageError};

/// Zero-fill granularity used when growing a file.
const ZERO_CHUNK: usize = 1 << 20;

/// A read-write shared mapping of a whole file.
#[derive(Debug)]
pub(crate) struct MappedFile {
    file: File,
    map: MmapMut,
    path: PathBuf,
}

impl MappedFile {
    /// Maps the whole current length of `file` (which must be non-empty).
    pub(crate) fn map(file: File, path: &Path) -> Result<Self> {
        let map = map_whole(&file, path)?;
        Ok(MappedFile {
            file,
            map,
            path: path.to_path_buf(),
        })
    }

    /// Length of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The mapped bytes, writable.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }

    /// Grows the file to `new_len` bytes by writing zeros through the file handle (so a full
    /// disk is reported here as an error instead of a fault on first touch of the mapping)
    /// and remaps it. Never shrinks.
    pub(crate) fn grow(&mut self, new_len: u64) -> Result<()> {
        let old_len = self.map.len() as u64;
        if new_len <= old_len {
            return Ok(());
        }
        let zeros = vec![0u8; ZERO_CHUNK];
        let mut at = old_len;
        while at < new_len {
            let n = usize::try_from(new_len - at).map_or(ZERO_CHUNK, |r| r.min(ZERO_CHUNK));
            self.file
                .write_all_at(&zeros[..n], at)
                .map_err(|e| StorageError::io(&self.path, e))?;
            at += n as u64;
        }
        self.map = map_whole(&self.file, &self.path)?;
        Ok(())
    }

    /// Writes dirty pages of the mapping back to the file and waits for the device.
    pub(crate) fn flush(&self) -> Result<()> {
        self.map
            .flush()
            .map_err(|e| StorageError::io(&self.path, e))?;
        self.file
            .sync_all()
            .map_err(|e| StorageError::io(&self.path, e))
    }
}

fn map_whole(file: &File, path: &Path) -> Result<MmapMut> {
    // SAFETY: the mapping is shared with the file. Undefined behaviour would follow if the
    // file were truncated or written behind our back while a slice into the mapping is
    // alive. The module invariants exclude both: the directory lock keeps other cooperating
    // processes out, this process never shrinks a mapped file, and every slice borrowed
    // from the mapping is tied to `&self`/`&mut self` of the `MappedFile` that owns it.
    unsafe { MmapMut::map_mut(file) }.map_err(|e| StorageError::io(path, e))
}

/// A read-only shared mapping of a whole file that is replaced only by rename (the key
/// index), never written in place.
#[derive(Debug)]
pub(crate) struct MappedReadOnly {
    map: Mmap,
}

impl MappedReadOnly {
    /// Maps the whole current length of the file at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| StorageError::io(path, e))?;
        // SAFETY: the mapping is read-only and shared with the file. Undefined behaviour
        // would follow if the file were truncated or written while a slice into it is
        // alive. The module invariants exclude both: the directory lock keeps other
        // cooperating processes out, and this process replaces such a file only by renaming
        // a new one over it, which leaves the mapped inode unchanged. Borrowed slices are
        // tied to `&self`.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| StorageError::io(path, e))?;
        Ok(MappedReadOnly { map })
    }

    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }
}
