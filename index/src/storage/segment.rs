//! Fixed-stride segment files: a header, a slot-metadata column sized for the segment's
//! maximum, and a record column that grows in chunks. Records are read zero-copy as `&[T]`.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use bytemuck::{Pod, Zeroable};

use super::bitmap::DeleteBitmap;
use super::blob::BlobRef;
use super::error::{FileKind, Result, StorageError};
use super::format::{align_up, crc, get_u32, get_u64, put_u32, put_u64, STRIDE_MULTIPLE};
use super::map::MappedFile;

/// Magic bytes at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"TUNGSEG\0";
/// Current segment format version.
pub const SEGMENT_VERSION: u32 = 1;
/// Bytes of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Bytes of one slot-metadata entry.
pub const SLOT_META_LEN: usize = 32;

/// Per-slot metadata kept by the storage layer next to the caller's record.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct SlotMeta {
    /// Caller's key of the record.
    pub key: u64,
    /// Offset of the record's blob entry in the blob store.
    pub blob_offset: u64,
    /// Payload length of the blob entry.
    pub blob_len: u32,
    /// CRC32 over key, blob reference, LSN and record bytes.
    pub crc: u32,
    /// Log sequence number of the mutation that wrote the slot.
    pub lsn: u64,
}

impl SlotMeta {
    /// Builds the metadata of a record and computes its checksum.
    pub fn new(key: u64, blob: BlobRef, lsn: u64, record: &[u8]) -> Self {
        let mut m = SlotMeta {
            key,
            blob_offset: blob.offset,
            blob_len: blob.len,
            crc: 0,
            lsn,
        };
        m.crc = m.checksum(record);
        m
    }

    /// CRC32 over the fields (except `crc`) and the record bytes.
    pub fn checksum(&self, record: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(&self.key.to_le_bytes());
        h.update(&self.blob_offset.to_le_bytes());
        h.update(&self.blob_len.to_le_bytes());
        h.update(&self.lsn.to_le_bytes());
        h.update(record);
        h.finalize()
    }

    /// The blob reference stored in the slot.
    pub fn blob(&self) -> BlobRef {
        BlobRef {
            offset: self.blob_offset,
            len: self.blob_len,
        }
    }
}

/// Address of a slot: segment id and slot index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotAddr {
    /// Segment id.
    pub segment: u32,
    /// Slot index within the segment.
    pub slot: u32,
}

/// Geometry fixed when a segment is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentGeometry {
    /// Bytes per record (a multiple of [`STRIDE_MULTIPLE`]).
    pub stride: u32,
    /// Slots the segment can ever hold.
    pub max_records: u32,
}

impl SegmentGeometry {
    fn meta_offset(&self) -> usize {
        SEGMENT_HEADER_LEN
    }

    fn records_offset(&self) -> usize {
        align_up(SEGMENT_HEADER_LEN + self.max_records as usize * SLOT_META_LEN)
    }

    fn file_len(&self, capacity: u32) -> u64 {
        self.records_offset() as u64 + u64::from(capacity) * u64::from(self.stride)
    }
}

/// One mapped segment with its in-memory soft-delete bitmap.
#[derive(Debug)]
pub(crate) struct Segment {
    id: u32,
    geometry: SegmentGeometry,
    map: MappedFile,
    path: PathBuf,
    /// Slots in use (live or deleted); slots at or past this index hold no record.
    len: u32,
    pub(crate) deleted: DeleteBitmap,
    /// Slots a scrub found damaged: never read as live (in memory only; a later scrub or
    /// open finds them again).
    pub(crate) quarantined: DeleteBitmap,
    /// Set when records were written since the last flush.
    pub(crate) dirty: bool,
    /// Checkpoint LSN of the bitmap file holding this segment's deletions, if any.
    pub(crate) bitmap_lsn: Option<u64>,
    /// Set when the bitmap changed since the last checkpoint.
    pub(crate) bitmap_dirty: bool,
}

fn encode_header(id: u32, g: SegmentGeometry) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..8].copy_from_slice(&SEGMENT_MAGIC);
    put_u32(&mut h, 8, SEGMENT_VERSION);
    put_u32(&mut h, 12, g.stride);
    put_u32(&mut h, 16, id);
    put_u32(&mut h, 20, g.max_records);
    put_u64(&mut h, 24, g.meta_offset() as u64);
    put_u64(&mut h, 32, g.records_offset() as u64);
    let c = crc(&h[..60]);
    put_u32(&mut h, 60, c);
    h
}

impl Segment {
    /// Creates `path` (failing if it exists) with room for `initial` records, zero-filled,
    /// fsynced.
    pub(crate) fn create(path: &Path, id: u32, g: SegmentGeometry, initial: u32) -> Result<Self> {
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| StorageError::io(path, e))?;
        f.write_all(&encode_header(id, g))
            .map_err(|e| StorageError::io(path, e))?;
        let mut map = MappedFile::map(f, path)?;
        map.grow(g.file_len(initial.min(g.max_records)))?;
        map.flush()?;
        Ok(Segment {
            id,
            geometry: g,
            map,
            path: path.to_path_buf(),
            len: 0,
            deleted: DeleteBitmap::new(g.max_records),
            quarantined: DeleteBitmap::new(g.max_records),
            dirty: false,
            bitmap_lsn: None,
            bitmap_dirty: false,
        })
    }

    /// Maps an existing segment, checks its header against `id` and `stride`, and that it
    /// holds at least `len` records.
    pub(crate) fn open(path: &Path, id: u32, stride: u32, len: u32) -> Result<Self> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| StorageError::io(path, e))?;
        let file_len = f.metadata().map_err(|e| StorageError::io(path, e))?.len();
        if file_len < SEGMENT_HEADER_LEN as u64 {
            return Err(truncated(path, SEGMENT_HEADER_LEN as u64, file_len));
        }
        let map = MappedFile::map(f, path)?;
        let g = parse_header(map.bytes(), path)?;
        let inconsistent = |detail: String| StorageError::Inconsistent {
            kind: FileKind::Segment,
            path: path.to_path_buf(),
            detail,
        };
        let found_id = get_u32(map.bytes(), 16).unwrap_or(u32::MAX);
        if found_id != id {
            return Err(inconsistent(format!("header id {found_id}, expected {id}")));
        }
        if g.stride != stride {
            return Err(inconsistent(format!(
                "stride {}, store stride {stride}",
                g.stride
            )));
        }
        if len > g.max_records {
            return Err(inconsistent(format!(
                "manifest length {len} exceeds capacity {}",
                g.max_records
            )));
        }
        let needed = g.file_len(len);
        if (map.len() as u64) < needed || map.len() < g.records_offset() {
            return Err(truncated(
                path,
                needed.max(g.records_offset() as u64),
                map.len() as u64,
            ));
        }
        Ok(Segment {
            id,
            geometry: g,
            map,
            path: path.to_path_buf(),
            len,
            deleted: DeleteBitmap::new(g.max_records),
            quarantined: DeleteBitmap::new(g.max_records),
            dirty: false,
            bitmap_lsn: None,
            bitmap_dirty: false,
        })
    }

    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn set_path(&mut self, path: PathBuf) {
        self.path = path;
    }

    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    pub(crate) fn stride(&self) -> u32 {
        self.geometry.stride
    }

    pub(crate) fn max_records(&self) -> u32 {
        self.geometry.max_records
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len >= self.geometry.max_records
    }

    /// Record slots currently backed by the file.
    pub(crate) fn capacity(&self) -> u32 {
        let body = self
            .map
            .len()
            .saturating_sub(self.geometry.records_offset());
        u32::try_from(body / self.geometry.stride as usize).unwrap_or(u32::MAX)
    }

    /// Makes sure the file backs slot `slot`, growing it by at least `grow_by` slots (and
    /// at least doubling) when it does not. Slots past `max_records` are an error.
    pub(crate) fn ensure_capacity(&mut self, slot: u32, grow_by: u32) -> Result<()> {
        let g = self.geometry;
        if slot >= g.max_records {
            return Err(StorageError::Inconsistent {
                kind: FileKind::Segment,
                path: self.path.clone(),
                detail: format!("slot {slot} beyond capacity {}", g.max_records),
            });
        }
        let cap = self.capacity();
        if slot >= cap {
            let target = cap
                .saturating_mul(2)
                .max(cap.saturating_add(grow_by.max(1)))
                .max(slot + 1)
                .min(g.max_records);
            self.map.grow(g.file_len(target))?;
        }
        Ok(())
    }

    /// Writes metadata and record of slot `slot` into the mapping. The slot must be backed
    /// ([`Segment::ensure_capacity`]) and `record` exactly one stride long; otherwise
    /// nothing is written and `false` is returned. Does not change `len`.
    pub(crate) fn put_slot(&mut self, slot: u32, meta: &SlotMeta, record: &[u8]) -> bool {
        let g = self.geometry;
        let stride = g.stride as usize;
        if slot >= self.capacity() || record.len() != stride {
            return false;
        }
        let m_at = g.meta_offset() + slot as usize * SLOT_META_LEN;
        let r_at = g.records_offset() + slot as usize * stride;
        let bytes = self.map.bytes_mut();
        let (Some(_), Some(_)) = (
            bytes.get(m_at..m_at + SLOT_META_LEN),
            bytes.get(r_at..r_at + stride),
        ) else {
            return false;
        };
        bytes[m_at..m_at + SLOT_META_LEN].copy_from_slice(bytemuck::bytes_of(meta));
        bytes[r_at..r_at + stride].copy_from_slice(record);
        self.dirty = true;
        true
    }

    /// Makes slots below `len` visible.
    pub(crate) fn publish(&mut self, len: u32) {
        self.len = self.len.max(len);
    }

    /// Metadata of slot `slot` (zeroed past the file).
    pub(crate) fn meta(&self, slot: u32) -> SlotMeta {
        let at = self.geometry.meta_offset() + slot as usize * SLOT_META_LEN;
        self.map
            .bytes()
            .get(at..at + SLOT_META_LEN)
            .map(bytemuck::pod_read_unaligned)
            .unwrap_or_else(SlotMeta::zeroed)
    }

    /// Record bytes of slot `slot` (empty past the file).
    pub(crate) fn record(&self, slot: u32) -> &[u8] {
        let stride = self.geometry.stride as usize;
        let at = self.geometry.records_offset() + slot as usize * stride;
        self.map.bytes().get(at..at + stride).unwrap_or(&[])
    }

    /// The record column of all used slots (`len * stride` bytes), live and deleted.
    pub(crate) fn records_bytes(&self) -> &[u8] {
        let at = self.geometry.records_offset();
        let n = self.len as usize * self.geometry.stride as usize;
        self.map.bytes().get(at..at + n).unwrap_or(&[])
    }

    /// True when the slot's checksum matches its metadata and record.
    pub(crate) fn slot_is_intact(&self, slot: u32) -> bool {
        let m = self.meta(slot);
        m.crc == m.checksum(self.record(slot))
    }

    /// Writes dirty pages and fsyncs the file.
    pub(crate) fn flush(&mut self) -> Result<()> {
        if self.dirty {
            self.map.flush()?;
            self.dirty = false;
        }
        Ok(())
    }
}

fn truncated(path: &Path, needed: u64, found: u64) -> StorageError {
    StorageError::Truncated {
        kind: FileKind::Segment,
        path: path.to_path_buf(),
        needed,
        found,
    }
}

fn parse_header(b: &[u8], path: &Path) -> Result<SegmentGeometry> {
    let p = || path.to_path_buf();
    if b.get(..8) != Some(&SEGMENT_MAGIC[..]) {
        return Err(StorageError::BadMagic {
            kind: FileKind::Segment,
            path: p(),
        });
    }
    let stored = get_u32(b, 60).unwrap_or(0);
    if b.len() < SEGMENT_HEADER_LEN || crc(&b[..60]) != stored {
        return Err(StorageError::ChecksumMismatch {
            kind: FileKind::Segment,
            path: p(),
            what: "header".into(),
        });
    }
    let version = get_u32(b, 8).unwrap_or(0);
    if version != SEGMENT_VERSION {
        return Err(StorageError::UnsupportedVersion {
            kind: FileKind::Segment,
            path: p(),
            found: version,
        });
    }
    let g = SegmentGeometry {
        stride: get_u32(b, 12).unwrap_or(0),
        max_records: get_u32(b, 20).unwrap_or(0),
    };
    let offsets_ok = get_u64(b, 24) == Some(g.meta_offset() as u64)
        && get_u64(b, 32) == Some(g.records_offset() as u64);
    if g.stride == 0
        || !g.stride.is_multiple_of(STRIDE_MULTIPLE)
        || g.max_records == 0
        || !offsets_ok
    {
        return Err(StorageError::Inconsistent {
            kind: FileKind::Segment,
            path: p(),
            detail: "header geometry".into(),
        });
    }
    Ok(g)
}
