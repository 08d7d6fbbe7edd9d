//! A read-only check of a store directory, for `fsck`: the manifest, every checkpointed
//! segment, bitmap and live record, the blob of every live record, and every log file.
//! Nothing is written or repaired; the directory lock is held so no store runs meanwhile.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::blob::BlobStore;
use super::error::{Result, StorageError};
use super::format::sync_dir;
use super::manifest::Manifest;
use super::manifest::MANIFEST_NAME;
use super::op::LogOp;
use super::store::{open_segment, take_lock, StoreConfig, BLOB_NAME};
use super::wal::{self, LogInspection};

/// One damaged live record: its key (as its slot metadata says) and what failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRecord {
    /// Key from the slot metadata (itself unverified when the slot failed its CRC).
    pub key: u64,
    /// Segment id and slot.
    pub segment: u32,
    /// Slot within the segment.
    pub slot: u32,
    /// What failed.
    pub what: String,
}

/// What [`check`] found.
#[derive(Debug, Clone, Default)]
pub struct StoreCheck {
    /// Checkpoint LSN of the manifest (0 if it could not be read).
    pub checkpoint_lsn: u64,
    /// Segments listed in the manifest.
    pub segments: u32,
    /// Checkpointed live records whose CRC was checked.
    pub records_checked: u64,
    /// Blobs of those records whose CRC was checked.
    pub blobs_checked: u64,
    /// Damaged checkpointed records or blobs.
    pub damaged: Vec<DamagedRecord>,
    /// Whole-file problems (manifest, segment header, bitmap, blob header), with the file.
    pub file_errors: Vec<(PathBuf, String)>,
    /// Every log file.
    pub logs: Vec<LogInspection>,
    /// Why the logs could not be read at all, or why recovery would refuse them.
    pub log_error: Option<String>,
    /// Keys live after replaying the valid part of the log over the checkpoint: what the
    /// store (or a salvaged copy) holds.
    pub live_keys: BTreeSet<u64>,
}

impl StoreCheck {
    /// True when nothing is damaged (a torn tail recovery would cut is not damage).
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty()
            && self.file_errors.is_empty()
            && self.log_error.is_none()
            && self
                .logs
                .iter()
                .all(|l| l.damage.as_ref().is_none_or(|d| d.corruption.is_none()))
    }
}

/// Checks the store in `dir` without changing it.
pub fn check(dir: &Path) -> Result<StoreCheck> {
    let _lock = take_lock(dir)?;
    let mut out = StoreCheck::default();
    let manifest_path = dir.join(MANIFEST_NAME);
    let manifest = match fs::read(&manifest_path)
        .map_err(|e| StorageError::io(&manifest_path, e))
        .and_then(|b| Manifest::decode(&b, &manifest_path))
    {
        Ok(m) => Some(m),
        Err(e) => {
            out.file_errors.push((manifest_path, e.to_string()));
            None
        }
    };
    if let Some(m) = &manifest {
        out.checkpoint_lsn = m.checkpoint_lsn;
        out.segments = m.segments.len() as u32;
        check_segments(dir, m, &mut out);
    }
    let mut keys = std::mem::take(&mut out.live_keys);
    match wal::analyse_logs(dir, out.checkpoint_lsn, &mut |_, payload| {
        match LogOp::decode(payload) {
            Some(LogOp::Insert(ins)) => {
                keys.insert(ins.key);
            }
            Some(LogOp::Delete { key, .. }) => {
                keys.remove(&key);
            }
            Some(LogOp::Replace { new, .. }) => {
                keys.insert(new.key);
            }
            None => {}
        }
        Ok(())
    }) {
        Ok((logs, verdict)) => {
            out.logs = logs;
            out.log_error = verdict;
        }
        Err(e) => out.log_error = Some(e.to_string()),
    }
    out.live_keys = keys;
    Ok(out)
}

fn check_segments(dir: &Path, m: &Manifest, out: &mut StoreCheck) {
    let config = StoreConfig {
        segment_max_records: m.max_records,
        ..StoreConfig::new(m.stride)
    };
    let blob_path = dir.join(BLOB_NAME);
    let blobs = match BlobStore::open(&blob_path, m.blob_end) {
        Ok(b) => Some(b),
        Err(e) => {
            out.file_errors.push((blob_path, e.to_string()));
            None
        }
    };
    for entry in &m.segments {
        let seg = match open_segment(dir, &config, entry) {
            Ok(s) => s,
            Err(e) => {
                out.file_errors.push((
                    dir.join(super::format::segment_name(entry.id)),
                    e.to_string(),
                ));
                continue;
            }
        };
        for slot in 0..seg.len() {
            if seg.deleted.contains(slot) {
                continue;
            }
            let meta = seg.meta(slot);
            out.records_checked += 1;
            let damaged = |what: String| DamagedRecord {
                key: meta.key,
                segment: seg.id(),
                slot,
                what,
            };
            if !seg.slot_is_intact(slot) {
                out.damaged.push(damaged("record checksum mismatch".into()));
                continue;
            }
            out.live_keys.insert(meta.key);
            if let Some(b) = &blobs {
                out.blobs_checked += 1;
                if let Err(e) = b.read(meta.blob()) {
                    out.damaged.push(damaged(e.to_string()));
                }
            }
        }
    }
}

/// Makes the store copy in `dir` openable after log damage, for `fsck --salvage` on a
/// copy: the first damaged log (or the last one, when the log merely ends early) is cut at
/// its last valid frame, the cut bytes kept beside it, and its commit slots made to vouch
/// for what remains; log files after it are moved to `dir/salvage-aside/`. Returns the LSN
/// of the last entry kept, or `None` when recovery would open the logs as they are.
pub fn salvage_logs(dir: &Path, checkpoint_lsn: u64) -> Result<Option<u64>> {
    let _lock = take_lock(dir)?;
    let (logs, verdict) = wal::analyse_logs(dir, checkpoint_lsn, &mut |_, _| Ok(()))?;
    if verdict.is_none() {
        return Ok(None);
    }
    let cut_at = logs
        .iter()
        .position(|l| l.damage.is_some())
        .unwrap_or(logs.len().saturating_sub(1));
    let mut last = checkpoint_lsn;
    for (i, log) in logs.iter().enumerate() {
        if i < cut_at {
            continue;
        }
        if i == cut_at {
            last = last.max(log.last_lsn);
            wal::cut_and_vouch(dir, &log.path, log.start_lsn, log.valid_end, log.last_lsn)?;
            continue;
        }
        let aside = dir.join("salvage-aside");
        fs::create_dir_all(&aside).map_err(|e| StorageError::io(&aside, e))?;
        let name = log.path.file_name().map(PathBuf::from).unwrap_or_default();
        fs::rename(&log.path, aside.join(name)).map_err(|e| StorageError::io(&log.path, e))?;
    }
    sync_dir(dir)?;
    Ok(Some(last))
}
