//! Blob compaction: reclaims the blobs of deleted and replaced records.

use super::*;

impl Store {
    /// Checkpoints, then copies every live record into new segments and its blob into a new
    /// blob file of the next generation, back to back, dropping deleted slots and the blobs
    /// only they referenced. Crash-safe: the new files are written whole (temp file → fsync
    /// → rename → fsync dir), the manifest naming them is the commit point, and the old
    /// segments and blob file are deleted only after it is durable (an open deletes whichever
    /// set the manifest does not name). Every record and blob is checked first: a damaged
    /// one fails the compaction (`CorruptRecord` / `CorruptBlob`) and nothing changes.
    pub fn compact_blobs(&self) -> Result<BlobCompactionReport> {
        let mut st = self.write_state();
        self.checkpoint_locked(&mut st)?;
        let mut report = BlobCompactionReport {
            bytes_before: st.blobs.end(),
            ..BlobCompactionReport::default()
        };
        let gen = st
            .blob_gen
            .checked_add(1)
            .ok_or_else(|| StorageError::Inconsistent {
                kind: FileKind::Manifest,
                path: self.dir.join(MANIFEST_NAME),
                detail: "blob generations exhausted".into(),
            })?;
        let first_id = st.next_segment_id;
        let (segments, blobs) = match self.copy_live(&st, gen, &mut report) {
            Ok(out) => out,
            Err(e) => {
                // Nothing references the partial files; the next checkpoint or open deletes
                // them. Segment ids are not reused.
                st.next_segment_id = first_id.saturating_add(report.segments_written);
                return Err(e);
            }
        };
        st.next_segment_id = segments.last().map_or(first_id, |s| s.id() + 1);
        let manifest = Manifest {
            stride: self.config.stride,
            max_records: self.config.segment_max_records,
            checkpoint_lsn: st.checkpoint_lsn,
            next_segment_id: st.next_segment_id,
            blob_end: blobs.end(),
            blob_gen: gen,
            segments: segments
                .iter()
                .map(|s| SegmentEntry {
                    id: s.id(),
                    len: s.len(),
                    bitmap_lsn: None,
                })
                .collect(),
        };
        let manifest_crc = self.write_manifest(&manifest)?;
        report.bytes_after = blobs.end();
        st.keys.clear();
        for seg in &segments {
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
        st.segments = segments;
        st.blobs = blobs;
        st.blob_gen = gen;
        let lsn = st.checkpoint_lsn;
        self.write_key_index(&mut st, lsn, manifest_crc)?;
        self.remove_unreferenced(&manifest)?;
        Ok(report)
    }

    /// Writes the new segments (ids from `st.next_segment_id`) and the blob file of
    /// generation `gen` holding the live records of `st`, renamed into place and fsynced.
    fn copy_live(
        &self,
        st: &State,
        gen: u32,
        report: &mut BlobCompactionReport,
    ) -> Result<(Vec<Segment>, BlobStore)> {
        let g = self.config.geometry();
        let blob_path = self.dir.join(blob_name(gen));
        let blob_tmp = tmp_path(&blob_path);
        remove_if_exists(&blob_tmp)?;
        let mut blobs = BlobStore::create(&blob_tmp)?;
        let mut live: u64 = st
            .segments
            .iter()
            .map(|s| u64::from(s.len() - s.deleted.count()))
            .sum();
        let mut out: Vec<Segment> = Vec::new();
        let mut next_id = st.next_segment_id;
        for src in &st.segments {
            for slot in 0..src.len() {
                if src.deleted.contains(slot) {
                    continue;
                }
                if src.quarantined.contains(slot) || !src.slot_is_intact(slot) {
                    return Err(StorageError::CorruptRecord {
                        segment: src.id(),
                        slot,
                    });
                }
                let meta = src.meta(slot);
                let payload = st.blobs.read(meta.blob())?;
                let at = blobs.reserve(payload.len())?;
                blobs.write(at, &payload)?;
                blobs.publish(at);
                if out.last().is_none_or(Segment::is_full) {
                    let path = tmp_path(&self.dir.join(segment_name(next_id)));
                    remove_if_exists(&path)?;
                    let initial = u32::try_from(live).unwrap_or(u32::MAX).min(g.max_records);
                    out.push(Segment::create(&path, next_id, g, initial)?);
                    next_id += 1;
                    report.segments_written += 1;
                }
                let Some(dst) = out.last_mut() else {
                    continue;
                };
                let to = dst.len();
                dst.ensure_capacity(to, self.config.grow_records)?;
                let record = src.record(slot);
                let moved = SlotMeta::new(meta.key, at, meta.lsn, record);
                if !dst.put_slot(to, &moved, record) {
                    return Err(StorageError::Inconsistent {
                        kind: FileKind::Segment,
                        path: dst.path().to_path_buf(),
                        detail: format!("blob compaction could not write slot {to}"),
                    });
                }
                dst.publish(to + 1);
                live = live.saturating_sub(1);
                report.records_moved += 1;
            }
        }
        blobs.sync()?;
        fs::rename(&blob_tmp, &blob_path).map_err(|e| StorageError::io(&blob_path, e))?;
        blobs.set_path(blob_path);
        for seg in &mut out {
            seg.flush()?;
            let final_path = self.dir.join(segment_name(seg.id()));
            fs::rename(seg.path(), &final_path).map_err(|e| StorageError::io(&final_path, e))?;
            seg.set_path(final_path);
        }
        sync_dir(&self.dir)?;
        Ok((out, blobs))
    }
}
