//! The background scrub: checks the CRC of every live record while the store serves, and
//! quarantines damaged ones so that no reader uses them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::*;

/// Slots checked per hold of the read lock.
const SCRUB_CHUNK: u32 = 4096;

/// Progress counters of the scrub, readable at any time (for example as metrics).
#[derive(Debug, Default)]
pub struct ScrubProgress {
    running: AtomicBool,
    passes: AtomicU64,
    total: AtomicU64,
    checked: AtomicU64,
    quarantined: AtomicU64,
}

impl ScrubProgress {
    /// True while a pass runs.
    pub fn running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// Completed passes.
    pub fn passes(&self) -> u64 {
        self.passes.load(Ordering::Relaxed)
    }

    /// Live records when the current (or last) pass started.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Records checked by the current (or last) pass.
    pub fn checked(&self) -> u64 {
        self.checked.load(Ordering::Relaxed)
    }

    /// Records quarantined since the store was opened.
    pub fn quarantined(&self) -> u64 {
        self.quarantined.load(Ordering::Relaxed)
    }
}

/// Outcome of one [`Store::scrub`] pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScrubReport {
    /// Live records checked.
    pub checked: u64,
    /// Records found damaged and quarantined by this pass, with their keys as stored.
    pub quarantined: Vec<(SlotAddr, u64)>,
    /// Why the key index file mapped at open failed its whole-file check, when it did; the
    /// key map was then rebuilt in memory from the slot metadata (the file is left as it
    /// is and replaced by the next checkpoint).
    pub key_index: Option<String>,
}

impl Store {
    /// The scrub's progress counters.
    pub fn scrub_progress(&self) -> Arc<ScrubProgress> {
        Arc::clone(&self.scrub)
    }

    /// One scrub pass: first the CRC of the whole key index file mapped at open (not checked
    /// at open, so that opening does not read it; on a mismatch the key map is rebuilt in
    /// memory from the slot metadata under the write lock, and the report says why), then
    /// the CRC of every live record, segment by segment, holding the
    /// read lock for [`SCRUB_CHUNK`] slots at a time so that writers keep going. A record
    /// that fails its CRC, or whose key the key map does not place at its slot, is
    /// quarantined: it is no longer live to scans and reading it returns
    /// [`StorageError::CorruptRecord`]. Meant to run on its own thread after opening.
    pub fn scrub(&self) -> ScrubReport {
        let progress = &self.scrub;
        let key_index = self.scrub_key_index();
        let plan: Vec<(u32, u32)> = {
            let st = self.read_state();
            st.segments.iter().map(|s| (s.id(), s.len())).collect()
        };
        let total: u64 = {
            let st = self.read_state();
            st.segments
                .iter()
                .map(|s| u64::from(s.len() - s.deleted.count()))
                .sum()
        };
        progress.running.store(true, Ordering::Relaxed);
        progress.total.store(total, Ordering::Relaxed);
        progress.checked.store(0, Ordering::Relaxed);
        let mut report = ScrubReport {
            key_index,
            ..ScrubReport::default()
        };
        let mut bad = Vec::new();
        for (id, len) in plan {
            let mut from = 0;
            while from < len {
                let to = len.min(from.saturating_add(SCRUB_CHUNK));
                let mut checked = 0u64;
                {
                    let st = self.read_state();
                    let Some(seg) =
                        segment_index(&st.segments, id).and_then(|i| st.segments.get(i))
                    else {
                        break;
                    };
                    for slot in from..to.min(seg.len()) {
                        if seg.deleted.contains(slot) || seg.quarantined.contains(slot) {
                            continue;
                        }
                        checked += 1;
                        let key = seg.meta(slot).key;
                        let addr = SlotAddr { segment: id, slot };
                        if !seg.slot_is_intact(slot) || st.lookup(key) != Some(addr) {
                            bad.push((addr, key));
                        }
                    }
                }
                if !bad.is_empty() {
                    let mut st = self.write_state();
                    if let Some(seg) =
                        segment_index(&st.segments, id).and_then(|i| st.segments.get_mut(i))
                    {
                        for (addr, _) in &bad {
                            seg.quarantined.set(addr.slot);
                        }
                    }
                    progress
                        .quarantined
                        .fetch_add(bad.len() as u64, Ordering::Relaxed);
                    report.quarantined.append(&mut bad);
                }
                progress.checked.fetch_add(checked, Ordering::Relaxed);
                crate::telemetry::scrub_checked(checked);
                report.checked += checked;
                from = to;
            }
        }
        progress.passes.fetch_add(1, Ordering::Relaxed);
        crate::telemetry::scrub_pass();
        progress.running.store(false, Ordering::Relaxed);
        report
    }
}

impl Store {
    /// Checks the CRC of the key index table in use; on a mismatch, rebuilds the key map
    /// from the slot metadata (if the table is still the one in use) and returns why.
    fn scrub_key_index(&self) -> Option<String> {
        let table = self.read_state().keys.table.clone()?;
        let reason = table.verify().err()?;
        let mut st = self.write_state();
        if st
            .keys
            .table
            .as_ref()
            .is_some_and(|t| Arc::ptr_eq(t, &table))
        {
            let keys = keyindex::map_from_slots(&st.segments);
            st.keys = Keys::in_memory(keys);
        }
        Some(format!(
            "{}: {reason}",
            self.dir.join(KEY_INDEX_NAME).display()
        ))
    }
}
