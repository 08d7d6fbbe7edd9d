//! Checkpoints and compaction.

use super::*;

impl Store {
    /// Makes all logged mutations part of the on-disk segments and starts a fresh log:
    /// fsync log, flush segments and blobs, write changed bitmaps, write the manifest,
    /// rotate the log, delete obsolete files.
    pub fn checkpoint(&self) -> Result<()> {
        let mut st = self.write_state();
        self.checkpoint_locked(&mut st)
    }

    pub(super) fn checkpoint_locked(&self, st: &mut State) -> Result<()> {
        self.wal.sync()?;
        let lsn = self.wal.last_lsn();
        for seg in &mut st.segments {
            seg.flush()?;
        }
        st.blobs.sync()?;
        let mut new_bitmaps = Vec::new();
        for seg in &st.segments {
            if seg.bitmap_dirty && seg.deleted.count() > 0 {
                let path = self.dir.join(bitmap_name(seg.id(), lsn));
                write_atomic(&self.dir, &path, &seg.deleted.encode(seg.id(), lsn))?;
                new_bitmaps.push(seg.id());
            }
        }
        let manifest = Manifest {
            stride: self.config.stride,
            max_records: self.config.segment_max_records,
            checkpoint_lsn: lsn,
            next_segment_id: st.next_segment_id,
            blob_end: st.blobs.end(),
            blob_gen: st.blob_gen,
            segments: st
                .segments
                .iter()
                .map(|s| SegmentEntry {
                    id: s.id(),
                    len: s.len(),
                    bitmap_lsn: if !s.bitmap_dirty {
                        s.bitmap_lsn
                    } else if new_bitmaps.contains(&s.id()) {
                        Some(lsn)
                    } else {
                        None
                    },
                })
                .collect(),
        };
        let manifest_crc = self.write_manifest(&manifest)?;
        self.write_key_index(st, lsn, manifest_crc)?;
        for (seg, entry) in st.segments.iter_mut().zip(&manifest.segments) {
            seg.bitmap_lsn = entry.bitmap_lsn;
            seg.bitmap_dirty = false;
        }
        st.checkpoint_lsn = lsn;
        self.wal.rotate()?;
        self.remove_unreferenced(&manifest)
    }

    /// Writes the manifest; returns its identity ([`manifest_identity`]), which the key
    /// index names.
    pub(super) fn write_manifest(&self, m: &Manifest) -> Result<u32> {
        let bytes = m.encode();
        write_atomic(&self.dir, &self.dir.join(MANIFEST_NAME), &bytes)?;
        Ok(manifest_identity(&bytes))
    }

    /// Writes the key index of `st` for the manifest just written (whose CRC is
    /// `manifest_crc`), then maps it as the map's table and forgets the keys held in memory.
    /// A crash before it lands leaves the previous file, which names another manifest and
    /// is therefore not used. If the new file cannot be mapped, the map stays as it was
    /// (still right: a table entry counts only when its slot holds that key).
    pub(super) fn write_key_index(
        &self,
        st: &mut State,
        lsn: u64,
        manifest_crc: u32,
    ) -> Result<()> {
        let bytes = keyindex::encode(&st.segments, lsn, manifest_crc);
        let path = self.dir.join(KEY_INDEX_NAME);
        write_atomic(&self.dir, &path, &bytes)?;
        drop(bytes);
        let live = keyindex::live_count(&st.segments);
        let table = KeyTable::load(&path, live, lsn, manifest_crc).map_err(|detail| {
            StorageError::Inconsistent {
                kind: FileKind::KeyIndex,
                path: path.clone(),
                detail,
            }
        })?;
        st.keys = Keys::with_table(table, true);
        Ok(())
    }

    pub(super) fn remove_unreferenced(&self, m: &Manifest) -> Result<()> {
        let mut removed = Vec::new();
        remove_unlisted(&self.dir, m, &mut removed)?;
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Checkpoints, then rewrites every segment with deleted slots: live records are copied
    /// into new segments (temp file → fsync → rename → fsync dir), the manifest is switched
    /// to them, and the old files are deleted. Slot addresses of moved records change.
    pub fn compact(&self) -> Result<CompactionReport> {
        let mut st = self.write_state();
        self.checkpoint_locked(&mut st)?;
        let mut report = CompactionReport::default();
        let (victims, mut kept): (Vec<Segment>, Vec<Segment>) = std::mem::take(&mut st.segments)
            .into_iter()
            .partition(|s| s.deleted.count() > 0);
        if victims.is_empty() {
            st.segments = kept;
            return Ok(report);
        }
        let result = self.rewrite(&mut st, &victims, &mut report);
        let written = match result {
            Ok(w) => w,
            Err(e) => {
                kept.extend(victims);
                kept.sort_by_key(Segment::id);
                st.segments = kept;
                return Err(e);
            }
        };
        for seg in &written {
            for slot in 0..seg.len() {
                st.keys.recent.insert(
                    seg.meta(slot).key,
                    SlotAddr {
                        segment: seg.id(),
                        slot,
                    },
                );
            }
        }
        kept.extend(written);
        kept.sort_by_key(Segment::id);
        st.segments = kept;
        let manifest = Manifest {
            stride: self.config.stride,
            max_records: self.config.segment_max_records,
            checkpoint_lsn: st.checkpoint_lsn,
            next_segment_id: st.next_segment_id,
            blob_end: st.blobs.end(),
            blob_gen: st.blob_gen,
            segments: st
                .segments
                .iter()
                .map(|s| SegmentEntry {
                    id: s.id(),
                    len: s.len(),
                    bitmap_lsn: s.bitmap_lsn,
                })
                .collect(),
        };
        let manifest_crc = self.write_manifest(&manifest)?;
        let lsn = st.checkpoint_lsn;
        self.write_key_index(&mut st, lsn, manifest_crc)?;
        report.segments_removed = victims.len() as u32;
        drop(victims);
        self.remove_unreferenced(&manifest)?;
        Ok(report)
    }

    pub(super) fn rewrite(
        &self,
        st: &mut State,
        victims: &[Segment],
        report: &mut CompactionReport,
    ) -> Result<Vec<Segment>> {
        let g = self.config.geometry();
        let mut live: u64 = victims
            .iter()
            .map(|s| u64::from(s.len() - s.deleted.count()))
            .sum();
        let mut out: Vec<Segment> = Vec::new();
        for v in victims {
            for slot in 0..v.len() {
                if v.deleted.contains(slot) {
                    report.slots_dropped += 1;
                    continue;
                }
                if out.last().is_none_or(Segment::is_full) {
                    let id = st.next_segment_id;
                    st.next_segment_id += 1;
                    let path = tmp_path(&self.dir.join(segment_name(id)));
                    let initial = u32::try_from(live).unwrap_or(u32::MAX).min(g.max_records);
                    out.push(Segment::create(&path, id, g, initial)?);
                }
                let Some(dst) = out.last_mut() else {
                    continue;
                };
                let at = dst.len();
                dst.ensure_capacity(at, self.config.grow_records)?;
                if !dst.put_slot(at, &v.meta(slot), v.record(slot)) {
                    return Err(StorageError::Inconsistent {
                        kind: FileKind::Segment,
                        path: dst.path().to_path_buf(),
                        detail: format!("compaction could not write slot {at}"),
                    });
                }
                dst.publish(at + 1);
                live = live.saturating_sub(1);
                report.records_moved += 1;
            }
        }
        for seg in &mut out {
            seg.flush()?;
            let final_path = self.dir.join(segment_name(seg.id()));
            fs::rename(seg.path(), &final_path).map_err(|e| StorageError::io(&final_path, e))?;
            seg.set_path(final_path);
        }
        sync_dir(&self.dir)?;
        report.segments_written = out.len() as u32;
        Ok(out)
    }
}
