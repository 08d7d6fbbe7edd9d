//! Read views: a [`Snapshot`] holds the store's read lock and hands out zero-copy slices of
//! the mapped segments.

use std::sync::RwLockReadGuard;

use bytemuck::Pod;

use super::blob::BlobRef;
use super::error::{Result, StorageError};
use super::segment::{Segment, SlotAddr, SlotMeta};
use super::store::State;

/// A consistent view of the store. Writers wait while a snapshot is alive.
#[derive(Debug)]
pub struct Snapshot<'a> {
    state: RwLockReadGuard<'a, State>,
}

/// A live record borrowed from a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The record's key.
    pub key: u64,
    /// Where it is stored.
    pub addr: SlotAddr,
    /// The record bytes (one stride).
    pub record: &'a [u8],
    /// Its blob.
    pub blob: BlobRef,
    /// LSN of the mutation that wrote it.
    pub lsn: u64,
}

impl<'a> Snapshot<'a> {
    pub(crate) fn new(state: RwLockReadGuard<'a, State>) -> Self {
        Snapshot { state }
    }

    /// Number of live records.
    pub fn len(&self) -> usize {
        self.state.live_count()
    }

    /// True when no record is live.
    pub fn is_empty(&self) -> bool {
        self.state.live_count() == 0
    }

    /// True when `key` is live.
    pub fn contains(&self, key: u64) -> bool {
        self.state.lookup(key).is_some()
    }

    /// Live keys, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.state.keys_from(0)
    }

    /// Live keys of at least `min`, in no particular order: a range of the key index plus
    /// the keys written since it, not a pass over every key.
    pub fn keys_from(&self, min: u64) -> impl Iterator<Item = u64> + '_ {
        self.state.keys_from(min)
    }

    /// The live record of `key`, checked against its CRC.
    pub fn get(&self, key: u64) -> Result<Option<RecordRef<'_>>> {
        let Some(addr) = self.state.lookup(key) else {
            return Ok(None);
        };
        let Some(seg) = self.segment(addr.segment) else {
            return Ok(None);
        };
        if seg.quarantined.contains(addr.slot) || !seg.slot_is_intact(addr.slot) {
            return Err(StorageError::CorruptRecord {
                segment: addr.segment,
                slot: addr.slot,
            });
        }
        let meta = seg.meta(addr.slot);
        Ok(Some(RecordRef {
            key,
            addr,
            record: seg.record(addr.slot),
            blob: meta.blob(),
            lsn: meta.lsn,
        }))
    }

    /// The blob of `key`, read from disk and checked against its CRC.
    pub fn blob(&self, key: u64) -> Result<Option<Vec<u8>>> {
        match self.get(key)? {
            Some(r) => self.read_blob(r.blob).map(Some),
            None => Ok(None),
        }
    }

    /// Reads a blob by reference (as stored in a slot), checking its CRC.
    pub fn read_blob(&self, blob: BlobRef) -> Result<Vec<u8>> {
        self.state.blobs.read(blob)
    }

    /// All segments in id order.
    pub fn segments(&self) -> impl Iterator<Item = SegmentView<'_>> + '_ {
        self.state.segments.iter().map(|seg| SegmentView { seg })
    }

    fn segment(&self, id: u32) -> Option<&Segment> {
        let i = self
            .state
            .segments
            .binary_search_by_key(&id, Segment::id)
            .ok()?;
        self.state.segments.get(i)
    }
}

/// One segment seen through a snapshot.
#[derive(Debug, Clone, Copy)]
pub struct SegmentView<'a> {
    seg: &'a Segment,
}

impl<'a> SegmentView<'a> {
    /// Segment id.
    pub fn id(&self) -> u32 {
        self.seg.id()
    }

    /// Slots in use, live or deleted.
    pub fn len(&self) -> u32 {
        self.seg.len()
    }

    /// True when no slot is used.
    pub fn is_empty(&self) -> bool {
        self.seg.len() == 0
    }

    /// Slots not deleted.
    pub fn live_count(&self) -> u32 {
        self.seg.len() - self.seg.deleted.count()
    }

    /// Bytes per record.
    pub fn stride(&self) -> u32 {
        self.seg.stride()
    }

    /// True when slot `slot` is used, not deleted and not quarantined by a scrub.
    pub fn is_live(&self, slot: u32) -> bool {
        slot < self.seg.len()
            && !self.seg.deleted.contains(slot)
            && !self.seg.quarantined.contains(slot)
    }

    /// Metadata of slot `slot`.
    pub fn meta(&self, slot: u32) -> SlotMeta {
        self.seg.meta(slot)
    }

    /// Record bytes of slot `slot` (empty when out of range).
    pub fn record(&self, slot: u32) -> &'a [u8] {
        if slot < self.seg.len() {
            self.seg.record(slot)
        } else {
            &[]
        }
    }

    /// The record column of used slots, zero-copy; skip deleted slots with
    /// [`SegmentView::is_live`].
    pub fn records_bytes(&self) -> &'a [u8] {
        self.seg.records_bytes()
    }

    /// The record column as `&[T]`, zero-copy. `T` must be exactly one stride long and its
    /// alignment must divide the record alignment (64 bytes when the stride is a multiple
    /// of 64).
    pub fn records<T: Pod>(&self) -> Result<&'a [T]> {
        let mismatch = || StorageError::TypeMismatch {
            size: std::mem::size_of::<T>(),
            align: std::mem::align_of::<T>(),
            stride: self.seg.stride(),
        };
        if std::mem::size_of::<T>() != self.seg.stride() as usize {
            return Err(mismatch());
        }
        bytemuck::try_cast_slice(self.seg.records_bytes()).map_err(|_| mismatch())
    }

    /// Indices of live slots.
    pub fn live_slots(&self) -> impl Iterator<Item = u32> + 'a {
        let seg = self.seg;
        (0..seg.len()).filter(move |&s| !seg.deleted.contains(s) && !seg.quarantined.contains(s))
    }
}
