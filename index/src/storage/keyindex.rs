//! The persisted key index `KEYINDEX`: the key → slot map of the last checkpoint, so that
//! opening a store does not read the metadata of every slot.
//!
//! The file is written whole (temp file → fsync → rename → fsync dir) after every manifest
//! write. It names the checkpoint LSN and the CRC of the manifest it belongs to; any other
//! manifest makes it stale. Entries are in strictly increasing slot address order, so
//! together with the count check they address every live slot exactly once.

use super::format::{crc, get_u32, get_u64, put_u32, put_u64};
use super::segment::{Segment, SlotAddr};
use super::KeyMap;

/// Name of the key index file in the data directory.
pub const KEY_INDEX_NAME: &str = "KEYINDEX";
const MAGIC: &[u8; 8] = b"TUNGKEY\0";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 40;
const ENTRY_LEN: usize = 16;

/// Encodes the live slots of `segments` (in id order) as a key index file.
pub(crate) fn encode(segments: &[Segment], checkpoint_lsn: u64, manifest_crc: u32) -> Vec<u8> {
    let live: usize = segments
        .iter()
        .map(|s| (s.len() - s.deleted.count()) as usize)
        .sum();
    let mut b = vec![0u8; HEADER_LEN + ENTRY_LEN * live + 4];
    b[0..8].copy_from_slice(MAGIC);
    put_u32(&mut b, 8, VERSION);
    put_u64(&mut b, 16, checkpoint_lsn);
    put_u32(&mut b, 24, manifest_crc);
    put_u64(&mut b, 32, live as u64);
    let mut at = HEADER_LEN;
    for seg in segments {
        for slot in 0..seg.len() {
            if seg.deleted.contains(slot) {
                continue;
            }
            put_u64(&mut b, at, seg.meta(slot).key);
            put_u32(&mut b, at + 8, seg.id());
            put_u32(&mut b, at + 12, slot);
            at += ENTRY_LEN;
        }
    }
    let end = b.len() - 4;
    let c = crc(&b[..end]);
    put_u32(&mut b, end, c);
    b
}

/// Decodes a key index file and checks it against the opened checkpoint: the manifest it
/// names, its CRC, and that its entries address every live slot of `segments` exactly once,
/// in order. Any failure is the reason the caller rebuilds the map instead.
pub(crate) fn decode(
    b: &[u8],
    segments: &[Segment],
    checkpoint_lsn: u64,
    manifest_crc: u32,
) -> Result<KeyMap, String> {
    if b.len() < HEADER_LEN + 4 {
        return Err(format!("{} bytes, shorter than its header", b.len()));
    }
    if &b[0..8] != MAGIC {
        return Err("bad magic".into());
    }
    let end = b.len() - 4;
    if get_u32(b, end) != Some(crc(&b[..end])) {
        return Err("checksum mismatch".into());
    }
    if get_u32(b, 8) != Some(VERSION) {
        return Err(format!("unknown version {:?}", get_u32(b, 8)));
    }
    if get_u64(b, 16) != Some(checkpoint_lsn) || get_u32(b, 24) != Some(manifest_crc) {
        return Err("written for another checkpoint (stale)".into());
    }
    let n = get_u64(b, 32).unwrap_or(u64::MAX);
    let live: u64 = segments
        .iter()
        .map(|s| u64::from(s.len() - s.deleted.count()))
        .sum();
    if n != live || (end - HEADER_LEN) as u64 != n.saturating_mul(ENTRY_LEN as u64) {
        return Err(format!(
            "holds {n} entries in {} bytes; the checkpoint has {live} live records",
            b.len()
        ));
    }
    let mut keys = KeyMap::with_capacity_and_hasher(live as usize, Default::default());
    let mut seg_i = 0usize;
    let mut last: Option<(u32, u32)> = None;
    for e in b[HEADER_LEN..end].chunks_exact(ENTRY_LEN) {
        let (Some(key), Some(id), Some(slot)) = (get_u64(e, 0), get_u32(e, 8), get_u32(e, 12))
        else {
            return Err("short entry".into());
        };
        if last.is_some_and(|l| l >= (id, slot)) {
            return Err(format!("entry ({id}, {slot}) out of order"));
        }
        last = Some((id, slot));
        while segments.get(seg_i).is_some_and(|s| s.id() < id) {
            seg_i += 1;
        }
        let Some(seg) = segments.get(seg_i).filter(|s| s.id() == id) else {
            return Err(format!("entry names segment {id}, not in the manifest"));
        };
        if slot >= seg.len() || seg.deleted.contains(slot) {
            return Err(format!("entry names slot {slot} of segment {id}, not live"));
        }
        if keys.insert(key, SlotAddr { segment: id, slot }).is_some() {
            return Err(format!("key {key} appears twice"));
        }
    }
    Ok(keys)
}
