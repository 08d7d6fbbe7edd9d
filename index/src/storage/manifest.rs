//! `MANIFEST`: the last checkpoint. Lists the segments with their used length and the
//! bitmap file that holds their deletions, the blob store's logical end, and the LSN up to
//! which all of that is on disk. Replaced atomically (temp → fsync → rename → fsync dir).

use std::path::Path;

use super::error::{FileKind, Result, StorageError};
use super::format::{crc, get_u32, get_u64, put_u32, put_u64};

/// Magic bytes of the manifest.
pub const MANIFEST_MAGIC: [u8; 8] = *b"TUNGMAN\0";
/// Current manifest version.
pub const MANIFEST_VERSION: u32 = 1;
/// File name of the manifest.
pub const MANIFEST_NAME: &str = "MANIFEST";
const FIXED_LEN: usize = 48;
const ENTRY_LEN: usize = 24;
const FLAG_HAS_BITMAP: u32 = 1;

/// One segment as of the checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentEntry {
    pub id: u32,
    pub len: u32,
    /// Checkpoint LSN in the name of the bitmap file, if the segment has deletions.
    pub bitmap_lsn: Option<u64>,
}

/// Decoded manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub stride: u32,
    pub max_records: u32,
    pub checkpoint_lsn: u64,
    pub next_segment_id: u32,
    pub blob_end: u64,
    /// Generation of the blob file (`blobs.dat` for 0, `blobs-<gen>.dat` after a blob
    /// compaction).
    pub blob_gen: u32,
    pub segments: Vec<SegmentEntry>,
}

impl Manifest {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; FIXED_LEN + self.segments.len() * ENTRY_LEN + 4];
        b[..8].copy_from_slice(&MANIFEST_MAGIC);
        put_u32(&mut b, 8, MANIFEST_VERSION);
        put_u32(&mut b, 12, self.stride);
        put_u32(&mut b, 16, self.max_records);
        put_u32(&mut b, 20, self.next_segment_id);
        put_u64(&mut b, 24, self.checkpoint_lsn);
        put_u64(&mut b, 32, self.blob_end);
        put_u32(&mut b, 40, self.segments.len() as u32);
        put_u32(&mut b, 44, self.blob_gen);
        for (i, s) in self.segments.iter().enumerate() {
            let at = FIXED_LEN + i * ENTRY_LEN;
            put_u32(&mut b, at, s.id);
            put_u32(&mut b, at + 4, s.len);
            put_u32(
                &mut b,
                at + 8,
                u32::from(s.bitmap_lsn.is_some()) * FLAG_HAS_BITMAP,
            );
            put_u64(&mut b, at + 16, s.bitmap_lsn.unwrap_or(0));
        }
        let end = b.len() - 4;
        let c = crc(&b[..end]);
        put_u32(&mut b, end, c);
        b
    }

    pub(crate) fn decode(b: &[u8], path: &Path) -> Result<Self> {
        let p = || path.to_path_buf();
        if b.len() < FIXED_LEN + 4 {
            return Err(StorageError::Truncated {
                kind: FileKind::Manifest,
                path: p(),
                needed: (FIXED_LEN + 4) as u64,
                found: b.len() as u64,
            });
        }
        if b[..8] != MANIFEST_MAGIC {
            return Err(StorageError::BadMagic {
                kind: FileKind::Manifest,
                path: p(),
            });
        }
        let end = b.len() - 4;
        if get_u32(b, end) != Some(crc(&b[..end])) {
            return Err(StorageError::ChecksumMismatch {
                kind: FileKind::Manifest,
                path: p(),
                what: "manifest".into(),
            });
        }
        let version = get_u32(b, 8).unwrap_or(0);
        if version != MANIFEST_VERSION {
            return Err(StorageError::UnsupportedVersion {
                kind: FileKind::Manifest,
                path: p(),
                found: version,
            });
        }
        let count = get_u32(b, 40).unwrap_or(0) as usize;
        if count
            .checked_mul(ENTRY_LEN)
            .and_then(|n| n.checked_add(FIXED_LEN))
            != Some(end)
        {
            return Err(StorageError::Inconsistent {
                kind: FileKind::Manifest,
                path: p(),
                detail: format!("{count} segment entries do not fill {end} bytes"),
            });
        }
        let mut segments = Vec::with_capacity(count);
        for i in 0..count {
            let at = FIXED_LEN + i * ENTRY_LEN;
            let flags = get_u32(b, at + 8).unwrap_or(0);
            segments.push(SegmentEntry {
                id: get_u32(b, at).unwrap_or(0),
                len: get_u32(b, at + 4).unwrap_or(0),
                bitmap_lsn: (flags & FLAG_HAS_BITMAP != 0)
                    .then(|| get_u64(b, at + 16).unwrap_or(0)),
            });
        }
        Ok(Manifest {
            stride: get_u32(b, 12).unwrap_or(0),
            max_records: get_u32(b, 16).unwrap_or(0),
            next_segment_id: get_u32(b, 20).unwrap_or(0),
            checkpoint_lsn: get_u64(b, 24).unwrap_or(0),
            blob_end: get_u64(b, 32).unwrap_or(0),
            blob_gen: get_u32(b, 44).unwrap_or(0),
            segments,
        })
    }
}
