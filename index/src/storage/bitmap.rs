//! Soft-delete bitmaps: one bit per slot, set when the slot's record is deleted or
//! replaced. Kept in memory, changed only by logged mutations, and written whole at each
//! checkpoint to `seg-<id>-<lsn>.del` with a CRC.

use std::path::Path;

use super::error::{FileKind, Result, StorageError};
use super::format::{crc, get_u32, get_u64, put_u32, put_u64};

/// Magic bytes of a bitmap file.
pub const BITMAP_MAGIC: [u8; 8] = *b"TUNGDEL\0";
/// Current bitmap format version.
pub const BITMAP_VERSION: u32 = 1;
/// Bytes before the bitmap words.
pub const BITMAP_HEADER_LEN: usize = 32;

/// A fixed-size bitmap of deleted slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteBitmap {
    words: Vec<u64>,
    bits: u32,
    set: u32,
}

impl DeleteBitmap {
    /// All slots live.
    pub fn new(bits: u32) -> Self {
        DeleteBitmap {
            words: vec![0; (bits as usize).div_ceil(64)],
            bits,
            set: 0,
        }
    }

    /// Marks `slot` deleted. Out-of-range slots are ignored.
    pub fn set(&mut self, slot: u32) {
        if let Some(w) = self.words.get_mut(slot as usize / 64) {
            let m = 1u64 << (slot % 64);
            if *w & m == 0 {
                *w |= m;
                self.set += 1;
            }
        }
    }

    /// Marks `slot` live again (used when a replay rewrites a slot).
    pub fn clear(&mut self, slot: u32) {
        if let Some(w) = self.words.get_mut(slot as usize / 64) {
            let m = 1u64 << (slot % 64);
            if *w & m != 0 {
                *w &= !m;
                self.set -= 1;
            }
        }
    }

    /// True when `slot` is marked deleted.
    pub fn contains(&self, slot: u32) -> bool {
        self.words
            .get(slot as usize / 64)
            .is_some_and(|w| w & (1u64 << (slot % 64)) != 0)
    }

    /// Number of deleted slots.
    pub fn count(&self) -> u32 {
        self.set
    }

    /// The raw words (bit `i` of word `i / 64` is slot `i`).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Serialises the bitmap of segment `segment` as of checkpoint `lsn`.
    pub fn encode(&self, segment: u32, lsn: u64) -> Vec<u8> {
        let mut b = vec![0u8; BITMAP_HEADER_LEN + self.words.len() * 8 + 4];
        b[..8].copy_from_slice(&BITMAP_MAGIC);
        put_u32(&mut b, 8, BITMAP_VERSION);
        put_u32(&mut b, 12, segment);
        put_u64(&mut b, 16, lsn);
        put_u32(&mut b, 24, self.bits);
        for (i, w) in self.words.iter().enumerate() {
            put_u64(&mut b, BITMAP_HEADER_LEN + i * 8, *w);
        }
        let end = b.len() - 4;
        let c = crc(&b[..end]);
        put_u32(&mut b, end, c);
        b
    }

    /// Parses a bitmap file, checking magic, version, CRC, segment id, checkpoint LSN and
    /// size.
    pub fn decode(b: &[u8], path: &Path, segment: u32, lsn: u64, bits: u32) -> Result<Self> {
        let p = || path.to_path_buf();
        let words = (bits as usize).div_ceil(64);
        let needed = BITMAP_HEADER_LEN + words * 8 + 4;
        if b.len() < needed {
            return Err(StorageError::Truncated {
                kind: FileKind::Bitmap,
                path: p(),
                needed: needed as u64,
                found: b.len() as u64,
            });
        }
        if b[..8] != BITMAP_MAGIC {
            return Err(StorageError::BadMagic {
                kind: FileKind::Bitmap,
                path: p(),
            });
        }
        if b.len() != needed || get_u32(b, needed - 4) != Some(crc(&b[..needed - 4])) {
            return Err(StorageError::ChecksumMismatch {
                kind: FileKind::Bitmap,
                path: p(),
                what: "bitmap".into(),
            });
        }
        let version = get_u32(b, 8).unwrap_or(0);
        if version != BITMAP_VERSION {
            return Err(StorageError::UnsupportedVersion {
                kind: FileKind::Bitmap,
                path: p(),
                found: version,
            });
        }
        if get_u32(b, 12) != Some(segment)
            || get_u64(b, 16) != Some(lsn)
            || get_u32(b, 24) != Some(bits)
        {
            return Err(StorageError::Inconsistent {
                kind: FileKind::Bitmap,
                path: p(),
                detail: "segment id, checkpoint or size differs from the manifest".into(),
            });
        }
        let mut bm = DeleteBitmap::new(bits);
        for (i, w) in bm.words.iter_mut().enumerate() {
            *w = get_u64(b, BITMAP_HEADER_LEN + i * 8).unwrap_or(0);
        }
        if !bits.is_multiple_of(64) {
            if let Some(last) = bm.words.last_mut() {
                *last &= (1u64 << (bits % 64)) - 1;
            }
        }
        bm.set = bm.words.iter().map(|w| w.count_ones()).sum();
        Ok(bm)
    }
}
