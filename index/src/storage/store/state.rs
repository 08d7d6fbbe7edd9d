//! The in-memory state of an open store: applying inserts, deletes and replayed log
//! entries to the mapped segments.

use super::*;

impl State {
    pub(super) fn geometry_of(&self, cfg: &StoreConfig) -> SegmentGeometry {
        cfg.geometry()
    }

    /// Slot the next record goes to, creating a segment when the last one is full.
    pub(super) fn next_slot(&mut self, dir: &Path, cfg: &StoreConfig) -> Result<SlotAddr> {
        match self.segments.last() {
            Some(s) if !s.is_full() => Ok(SlotAddr {
                segment: s.id(),
                slot: s.len(),
            }),
            _ => {
                let id = self.next_segment_id;
                self.create_segment(dir, cfg, id)?;
                Ok(SlotAddr {
                    segment: id,
                    slot: 0,
                })
            }
        }
    }

    pub(super) fn create_segment(&mut self, dir: &Path, cfg: &StoreConfig, id: u32) -> Result<()> {
        let g = self.geometry_of(cfg);
        let seg = Segment::create(&dir.join(segment_name(id)), id, g, cfg.grow_records)?;
        sync_dir(dir)?;
        self.segments.push(seg);
        self.next_segment_id = id + 1;
        Ok(())
    }

    pub(super) fn segment_mut(&mut self, id: u32) -> Option<&mut Segment> {
        let i = segment_index(&self.segments, id)?;
        self.segments.get_mut(i)
    }

    /// Fallible preparation of an insert at `at`: backs the slot and writes the blob.
    pub(super) fn prepare(
        &mut self,
        at: SlotAddr,
        blob: BlobRef,
        blob_bytes: &[u8],
        grow: u32,
    ) -> Result<()> {
        let seg = self
            .segment_mut(at.segment)
            .ok_or(StorageError::Inconsistent {
                kind: FileKind::Segment,
                path: PathBuf::new(),
                detail: format!("segment {} missing", at.segment),
            })?;
        seg.ensure_capacity(at.slot, grow)?;
        self.blobs.write(blob, blob_bytes)
    }

    /// Infallible part of an insert: fills the slot and makes it visible.
    pub(super) fn publish_insert(&mut self, lsn: u64, ins: &InsertOp<'_>) -> bool {
        let meta = SlotMeta::new(ins.key, ins.blob, lsn, ins.record);
        let Some(seg) = self.segment_mut(ins.at.segment) else {
            return false;
        };
        if !seg.put_slot(ins.at.slot, &meta, ins.record) {
            return false;
        }
        seg.publish(ins.at.slot + 1);
        if seg.deleted.contains(ins.at.slot) {
            seg.deleted.clear(ins.at.slot);
            seg.bitmap_dirty = true;
        }
        self.blobs.publish(ins.blob);
        self.keys.recent.insert(ins.key, ins.at);
        true
    }

    pub(super) fn mark_deleted(&mut self, at: SlotAddr) {
        if let Some(seg) = self.segment_mut(at.segment) {
            seg.deleted.set(at.slot);
            seg.bitmap_dirty = true;
        }
    }

    /// The slot of the live record of `key`: the keys written since the last checkpoint
    /// first, then the checkpoint's key index, whose entry counts only when the slot it
    /// names holds the live record of that key.
    pub(crate) fn lookup(&self, key: u64) -> Option<SlotAddr> {
        if let Some(&at) = self.keys.recent.get(&key) {
            return Some(at);
        }
        let at = self.keys.table.as_ref()?.find(key)?;
        self.is_live(at, key).then_some(at)
    }

    /// Live keys of at least `min`, in no particular order.
    pub(crate) fn keys_from(&self, min: u64) -> impl Iterator<Item = u64> + '_ {
        let recent = self.keys.recent.keys().copied().filter(move |&k| k >= min);
        let table = self
            .keys
            .table
            .iter()
            .flat_map(move |t| t.entries_from(min))
            .filter(move |&(k, at)| !self.keys.recent.contains_key(&k) && self.is_live(at, k))
            .map(|(k, _)| k);
        recent.chain(table)
    }

    /// Number of live records (used slots not deleted).
    pub(crate) fn live_count(&self) -> usize {
        keyindex::live_count(&self.segments) as usize
    }

    /// True when `at` holds the live record of `key`.
    pub(crate) fn is_live(&self, at: SlotAddr, key: u64) -> bool {
        segment_index(&self.segments, at.segment)
            .and_then(|i| self.segments.get(i))
            .is_some_and(|s| {
                at.slot < s.len() && !s.deleted.contains(at.slot) && s.meta(at.slot).key == key
            })
    }

    /// Called when a key that should be live was not found: if the key index table is in
    /// use and not yet checked, checks its whole-file CRC; when that fails, replaces the
    /// map by one rebuilt from the slot metadata (which reflects every entry applied so
    /// far), records why, and returns true (look again). The check runs at most once.
    pub(super) fn fall_back(&mut self) -> bool {
        let Some(table) = self.keys.table.clone() else {
            return false;
        };
        if self.keys.verified {
            return false;
        }
        match table.verify() {
            Ok(()) => {
                self.keys.verified = true;
                false
            }
            Err(reason) => {
                self.keys = Keys::in_memory(keyindex::map_from_slots(&self.segments));
                self.table_damage = Some(reason);
                true
            }
        }
    }

    /// Applies one replayed log entry. An entry that does not fit because the key index
    /// table lacks a key is applied again once [`State::fall_back`] found the table
    /// damaged and rebuilt the map (the checks that fail run before anything changes).
    pub(super) fn replay(
        &mut self,
        dir: &Path,
        cfg: &StoreConfig,
        lsn: u64,
        payload: &[u8],
    ) -> Result<()> {
        match self.replay_once(dir, cfg, lsn, payload) {
            Err(StorageError::ReplayMismatch { .. }) if self.fall_back() => {
                self.replay_once(dir, cfg, lsn, payload)
            }
            other => other,
        }
    }

    fn replay_once(
        &mut self,
        dir: &Path,
        cfg: &StoreConfig,
        lsn: u64,
        payload: &[u8],
    ) -> Result<()> {
        let mismatch = |detail: &str| StorageError::ReplayMismatch {
            lsn,
            detail: detail.to_string(),
        };
        let op = LogOp::decode(payload).ok_or_else(|| mismatch("malformed payload"))?;
        let (old, ins) = match op {
            LogOp::Delete { at, key } => {
                if !self.is_live(at, key) || self.lookup(key) != Some(at) {
                    return Err(mismatch("delete of a slot that is not live"));
                }
                self.mark_deleted(at);
                self.keys.recent.remove(&key);
                return Ok(());
            }
            LogOp::Insert(ins) => (None, ins),
            LogOp::Replace { old, new } => (Some(old), new),
        };
        if let Some(old) = old {
            if !self.is_live(old, ins.key) || self.lookup(ins.key) != Some(old) {
                return Err(mismatch("replace of a slot that is not live"));
            }
        } else if self.lookup(ins.key).is_some() {
            return Err(mismatch("insert of a live key"));
        }
        if ins.record.len() != cfg.stride as usize {
            return Err(mismatch("record length differs from the stride"));
        }
        if segment_index(&self.segments, ins.at.segment).is_none() {
            if ins.at.segment != self.next_segment_id
                || self.segments.last().is_some_and(|s| !s.is_full())
            {
                return Err(mismatch("insert into an unknown segment"));
            }
            self.create_segment(dir, cfg, ins.at.segment)?;
        }
        let expected_slot = self
            .segment_mut(ins.at.segment)
            .map(|s| s.len())
            .unwrap_or(u32::MAX);
        if ins.at.slot != expected_slot {
            return Err(mismatch("insert slot is not the segment's next slot"));
        }
        if ins.blob.len != 0 && ins.blob.offset != self.blobs.end() {
            return Err(mismatch("blob offset is not the blob store's end"));
        }
        self.prepare(ins.at, ins.blob, ins.blob_bytes, cfg.grow_records)?;
        if let Some(old) = old {
            self.mark_deleted(old);
        }
        if !self.publish_insert(lsn, &ins) {
            return Err(mismatch("slot could not be written"));
        }
        Ok(())
    }
}
