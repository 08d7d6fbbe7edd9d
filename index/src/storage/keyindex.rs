//! The persisted key index `KEYINDEX`: the key → slot map of the last checkpoint as a
//! table sorted by key, memory-mapped at open and searched in place, so that opening a
//! store neither reads the metadata of every slot nor decodes the table into memory.
//!
//! The file is written whole (temp file → fsync → rename → fsync dir) after every manifest
//! write, and is never written in place. It names the checkpoint LSN and the CRC of the
//! manifest it belongs to; any other manifest makes it stale. Its header has its own CRC,
//! checked at open together with the entry count and the file length; the CRC of the
//! whole table is checked by the background scrub ([`super::Store::scrub`]), which falls
//! back to a map rebuilt from the slot metadata when it fails.
//!
//! Every entry found by a lookup is checked against the slot it names (the slot is used,
//! not deleted, and stores that key), so a damaged entry can only make a key look absent,
//! never hand out another record; the scrub then finds the damage. The same check makes
//! entries of records deleted or moved since the checkpoint harmless: the keys written
//! since live in the in-memory part of [`Keys`], which lookups consult first.

use std::path::Path;
use std::sync::Arc;

use super::format::{crc, get_u32, get_u64, put_u32, put_u64};
use super::map::MappedReadOnly;
use super::segment::{Segment, SlotAddr};
use super::KeyMap;

/// Name of the key index file in the data directory.
pub const KEY_INDEX_NAME: &str = "KEYINDEX";
const MAGIC: &[u8; 8] = b"TUNGKEY\0";
const VERSION: u32 = 2;
/// Bytes of the header; its CRC covers the bytes before [`HEADER_CRC_AT`].
const HEADER_LEN: usize = 48;
const HEADER_CRC_AT: usize = 40;
const ENTRY_LEN: usize = 16;
/// Bytes checksummed per step when the scrub verifies the whole table.
const VERIFY_CHUNK: usize = 1 << 20;

/// Live records of `segments`.
pub(crate) fn live_count(segments: &[Segment]) -> u64 {
    segments
        .iter()
        .map(|s| u64::from(s.len() - s.deleted.count()))
        .sum()
}

/// Encodes the live slots of `segments` as a key index file, entries sorted by key.
pub(crate) fn encode(segments: &[Segment], checkpoint_lsn: u64, manifest_crc: u32) -> Vec<u8> {
    let mut entries: Vec<(u64, u32, u32)> = Vec::with_capacity(live_count(segments) as usize);
    for seg in segments {
        for slot in 0..seg.len() {
            if !seg.deleted.contains(slot) {
                entries.push((seg.meta(slot).key, seg.id(), slot));
            }
        }
    }
    entries.sort_unstable();
    let mut b = vec![0u8; HEADER_LEN + ENTRY_LEN * entries.len() + 4];
    b[0..8].copy_from_slice(MAGIC);
    put_u32(&mut b, 8, VERSION);
    put_u64(&mut b, 16, checkpoint_lsn);
    put_u32(&mut b, 24, manifest_crc);
    put_u64(&mut b, 32, entries.len() as u64);
    let h = crc(&b[..HEADER_CRC_AT]);
    put_u32(&mut b, HEADER_CRC_AT, h);
    let mut at = HEADER_LEN;
    for (key, id, slot) in entries {
        put_u64(&mut b, at, key);
        put_u32(&mut b, at + 8, id);
        put_u32(&mut b, at + 12, slot);
        at += ENTRY_LEN;
    }
    let end = b.len() - 4;
    let c = crc(&b[..end]);
    put_u32(&mut b, end, c);
    b
}

/// A key index file mapped read-only: a table of `(key, segment, slot)` sorted by key.
#[derive(Debug)]
pub(crate) struct KeyTable {
    map: MappedReadOnly,
    n: usize,
}

impl KeyTable {
    /// Maps the key index file at `path` and checks its header against the opened
    /// checkpoint: magic, version, header CRC, the manifest it names and that manifest's
    /// CRC, an entry count equal to the `live` records, and the file length. The entries
    /// themselves are not read. Any failure is the reason the caller rebuilds the map.
    pub(crate) fn load(
        path: &Path,
        live: u64,
        checkpoint_lsn: u64,
        manifest_crc: u32,
    ) -> Result<KeyTable, String> {
        let len = match std::fs::metadata(path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("missing".into()),
            Err(e) => return Err(format!("unreadable: {e}")),
        };
        if len < (HEADER_LEN + 4) as u64 {
            return Err(format!("{len} bytes, shorter than its header"));
        }
        let map = MappedReadOnly::open(path).map_err(|e| format!("unreadable: {e}"))?;
        let b = map.bytes();
        if b.get(0..8) != Some(&MAGIC[..]) {
            return Err("bad magic".into());
        }
        match get_u32(b, 8) {
            Some(VERSION) => {}
            Some(1) => return Err("version 1 (entries in slot order)".into()),
            v => return Err(format!("unknown version {v:?}")),
        }
        if get_u32(b, HEADER_CRC_AT) != Some(crc(&b[..HEADER_CRC_AT])) {
            return Err("header checksum mismatch".into());
        }
        if get_u64(b, 16) != Some(checkpoint_lsn) || get_u32(b, 24) != Some(manifest_crc) {
            return Err("written for another checkpoint (stale)".into());
        }
        let n = get_u64(b, 32).unwrap_or(u64::MAX);
        let body = (b.len() - HEADER_LEN - 4) as u64;
        if n != live || body != n.saturating_mul(ENTRY_LEN as u64) {
            return Err(format!(
                "holds {n} entries in {} bytes; the checkpoint has {live} live records",
                b.len()
            ));
        }
        Ok(KeyTable { map, n: n as usize })
    }

    /// Entry `i` (below [`KeyTable::len`]).
    fn entry(&self, i: usize) -> Option<(u64, SlotAddr)> {
        let b = self.map.bytes();
        let at = HEADER_LEN + i * ENTRY_LEN;
        Some((
            get_u64(b, at)?,
            SlotAddr {
                segment: get_u32(b, at + 8)?,
                slot: get_u32(b, at + 12)?,
            },
        ))
    }

    /// Index of the first entry whose key is not below `key` (binary search).
    fn lower_bound(&self, key: u64) -> usize {
        let (mut lo, mut hi) = (0usize, self.n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(mid) {
                Some((k, _)) if k < key => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }

    /// The slot the table names for `key`, unchecked.
    pub(crate) fn find(&self, key: u64) -> Option<SlotAddr> {
        match self.entry(self.lower_bound(key)) {
            Some((k, at)) if k == key => Some(at),
            _ => None,
        }
    }

    /// Entries with a key of at least `min`, in key order, unchecked.
    pub(crate) fn entries_from(&self, min: u64) -> impl Iterator<Item = (u64, SlotAddr)> + '_ {
        (self.lower_bound(min)..self.n).filter_map(|i| self.entry(i))
    }

    /// Checks the CRC of the whole file (the scrub's part of the loading check).
    pub(crate) fn verify(&self) -> Result<(), String> {
        let b = self.map.bytes();
        let end = b.len() - 4;
        let mut h = crc32fast::Hasher::new();
        for chunk in b[..end].chunks(VERIFY_CHUNK) {
            h.update(chunk);
        }
        if get_u32(b, end) == Some(h.finalize()) {
            Ok(())
        } else {
            Err("checksum mismatch".into())
        }
    }
}

/// The key → slot map of an open store: the mapped table of the last checkpoint, and the
/// keys written since (inserted, replaced or moved by replay, a write or a compaction),
/// which take precedence. A table entry counts only when the slot it names is live and
/// stores its key (see the module documentation), so deletions need no record here.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    /// The table of the last checkpoint, when it was usable.
    pub(crate) table: Option<Arc<KeyTable>>,
    /// True once the table's whole-file CRC is known to be right (it was checked, or the
    /// table was written by this process).
    pub(crate) verified: bool,
    /// Keys written since the table, and every key when there is no table.
    pub(crate) recent: KeyMap,
}

impl Keys {
    /// A map held wholly in memory (built from the slots).
    pub(crate) fn in_memory(recent: KeyMap) -> Self {
        Keys {
            table: None,
            verified: false,
            recent,
        }
    }

    /// The table just mapped, with nothing written since.
    pub(crate) fn with_table(table: KeyTable, verified: bool) -> Self {
        Keys {
            table: Some(Arc::new(table)),
            verified,
            recent: KeyMap::default(),
        }
    }

    /// Forgets every key.
    pub(crate) fn clear(&mut self) {
        self.table = None;
        self.recent.clear();
    }
}

/// The key → slot map of the live slots of `segments`, from their slot metadata (no
/// record read). A key stored in two live slots keeps the later one; the scrub then
/// quarantines the other.
pub(crate) fn map_from_slots(segments: &[Segment]) -> KeyMap {
    let mut keys =
        KeyMap::with_capacity_and_hasher(live_count(segments) as usize, Default::default());
    for seg in segments {
        for slot in (0..seg.len()).filter(|&s| !seg.deleted.contains(s)) {
            let addr = SlotAddr {
                segment: seg.id(),
                slot,
            };
            keys.insert(seg.meta(slot).key, addr);
        }
    }
    keys
}
