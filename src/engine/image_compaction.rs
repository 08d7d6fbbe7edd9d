//! Compaction of the image store (`DATA_DIR/images/`): the images of deleted persons, of
//! replaced images and of enrolments that never committed are reclaimed; every image a
//! registry row of a person not deleted names is kept.
//!
//! The steps (`tunggal_index::image_store` documents the store's side):
//!
//! 1. **Seal**: the store starts a new active segment; every segment below it is an input.
//!    Enrolments go on appending to the new segment meanwhile.
//! 2. **Rewrite**: the images named by rows not deleted (`persons.meta.fingers[].image`,
//!    `persons.meta.eyes[].image`) that lie in the inputs are read (CRC checked: a damaged
//!    one fails the compaction, nothing changes) and copied into new segments, synced and
//!    renamed into place.
//! 3. **Switch**: one transaction of the state store rewrites those references to their new
//!    places. Its commit is the commit point. The seal waits until no enrolment is between
//!    the append of its images and the commit of the registry intent naming them (a shared
//!    lock those hold), so every row naming an input image is committed before the live
//!    references are read. A row naming an input image the rewrite did not copy all the
//!    same fails the transaction: nothing is switched and the compaction answers an error.
//! 4. **Remove** the inputs.
//!
//! A crash after any step loses nothing: before the switch commits the rows name the
//! inputs, still present; after it they name the outputs, durable before it. What a crash
//! leaves (outputs or inputs nobody names, a temporary `*.compact` file) is dropped by the
//! next compaction. A deleted person's row keeps its old references, which are never read.
//!
//! Readers racing with step 4 (an image route that read a row before the switch) read the
//! row again when its segment has gone (`images.rs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use tunggal_index::image_store::{ImageRef, ImageStoreError, Rewritten};

use super::GalleryEngine;
use crate::enrolment::ImageCompactionReport;
use crate::state::StateError;

/// Why an image compaction failed. In every case the images every row names stay readable.
#[derive(Debug, thiserror::Error)]
pub enum ImageCompactionError {
    /// Another compaction of this engine is running.
    #[error("an image compaction is already running")]
    Running,
    /// The image store failed (a damaged image named by a row fails the rewrite).
    #[error(transparent)]
    Store(#[from] ImageStoreError),
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A row names an image of a sealed segment that the rewrite did not copy.
    #[error(
        "person {reference_id} names an image the compaction did not copy (enrolled during \
         it); nothing was switched, try again"
    )]
    Raced {
        /// The row's reference id.
        reference_id: String,
    },
    /// A row's image references could not be read or written.
    #[error("the image references of person {reference_id} are malformed: {detail}")]
    Malformed {
        /// The row's reference id.
        reference_id: String,
        /// What is wrong.
        detail: String,
    },
    /// The compaction stopped at the failpoint after this step (tests of a crash between
    /// steps).
    #[error("the image compaction stopped after the {0:?} step")]
    Stopped(CompactionStep),
}

impl ImageCompactionError {
    /// Whether the failure is a full disk.
    pub fn is_storage_full(&self) -> bool {
        match self {
            Self::Store(e) => e.is_storage_full(),
            Self::State(e) => e.is_storage_full(),
            _ => false,
        }
    }
}

/// A step of the compaction after which [`GalleryEngine::compact_images_until`] stops, as a
/// crash there would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionStep {
    /// A new active segment was started.
    Sealed,
    /// The live images were copied into new segments.
    Rewritten,
    /// The references were switched (committed).
    Switched,
}

/// The engine's compaction locks and counters (`/metrics`).
#[derive(Debug, Default)]
pub struct CompactionCounters {
    running: Mutex<()>,
    /// Held shared by an enrolment from the append of its images to the commit of the
    /// registry intent naming them, and exclusively by the seal: once sealed, every row
    /// naming an image of a sealed segment is committed, so the live references read after
    /// the seal include it.
    writes: RwLock<()>,
    runs: AtomicU64,
    records: AtomicU64,
    reclaimed: AtomicU64,
}

impl CompactionCounters {
    /// Held by an enrolment while it appends its images and commits the intent naming them.
    pub(super) fn writing(&self) -> RwLockReadGuard<'_, ()> {
        self.writes.read().unwrap_or_else(|e| e.into_inner())
    }

    fn sealing(&self) -> RwLockWriteGuard<'_, ()> {
        self.writes.write().unwrap_or_else(|e| e.into_inner())
    }

    /// `(compactions finished, images copied, bytes reclaimed)` since the engine opened.
    pub fn read(&self) -> (u64, u64, u64) {
        (
            self.runs.load(Ordering::Relaxed),
            self.records.load(Ordering::Relaxed),
            self.reclaimed.load(Ordering::Relaxed),
        )
    }
}

impl GalleryEngine {
    /// Reclaims the image store's unnamed images (see the module documentation). Blocking;
    /// enrolments and reads go on meanwhile.
    pub fn compact_images(&self) -> Result<ImageCompactionReport, ImageCompactionError> {
        self.compact_images_until(None)
    }

    /// As [`GalleryEngine::compact_images`], stopping after `stop` (a failpoint: the
    /// caller then drops the engine as a crash would).
    pub fn compact_images_until(
        &self,
        stop: Option<CompactionStep>,
    ) -> Result<ImageCompactionReport, ImageCompactionError> {
        let _running = self
            .compaction
            .running
            .try_lock()
            .map_err(|_| ImageCompactionError::Running)?;
        let started = Instant::now();
        let halt = |step| match stop {
            Some(s) if s == step => Err(ImageCompactionError::Stopped(step)),
            _ => Ok(()),
        };
        let bytes_before = self.images.bytes_on_disk()?;
        let inputs = {
            let _sealing = self.compaction.sealing();
            self.images.seal()?
        };
        halt(CompactionStep::Sealed)?;
        let live = self.registry.live_image_refs()?;
        let rewritten = self.images.rewrite(&inputs, &live)?;
        halt(CompactionStep::Rewritten)?;
        let persons = match self.registry.switch_images(&inputs, &rewritten) {
            Ok(n) => n,
            Err(e) => {
                if matches!(
                    e,
                    ImageCompactionError::Raced { .. } | ImageCompactionError::Malformed { .. }
                ) {
                    // Rolled back before the commit: nothing names the outputs.
                    let _ = self.images.remove_segments(&rewritten.outputs);
                }
                return Err(e);
            }
        };
        halt(CompactionStep::Switched)?;
        self.images.remove_segments(&inputs)?;
        let bytes_after = self.images.bytes_on_disk()?;
        let report = report(&inputs, &rewritten, persons, bytes_before, bytes_after);
        self.compaction.runs.fetch_add(1, Ordering::Relaxed);
        self.compaction
            .records
            .fetch_add(rewritten.records, Ordering::Relaxed);
        self.compaction
            .reclaimed
            .fetch_add(report.bytes_reclaimed, Ordering::Relaxed);
        tracing::info!(
            segments_in = inputs.len(),
            segments_out = rewritten.outputs.len(),
            images = rewritten.records,
            persons,
            bytes_before,
            bytes_after,
            seconds = started.elapsed().as_secs_f64(),
            "image store compacted"
        );
        Ok(ImageCompactionReport {
            seconds: started.elapsed().as_secs_f64(),
            ..report
        })
    }
}

fn report(
    inputs: &[u32],
    w: &Rewritten,
    persons: usize,
    bytes_before: u64,
    bytes_after: u64,
) -> ImageCompactionReport {
    ImageCompactionReport {
        segments_in: inputs.len(),
        segments_out: w.outputs.len(),
        images_kept: w.records,
        persons_switched: persons,
        bytes_before,
        bytes_after,
        bytes_reclaimed: bytes_before.saturating_sub(bytes_after),
        seconds: 0.0,
    }
}

/// The image references of one registry row's `meta`, to be read or switched.
pub(super) fn refs_of(meta: &serde_json::Value) -> Vec<ImageRef> {
    let mut out = Vec::new();
    for list in ["fingers", "eyes"] {
        if let Some(items) = meta.get(list).and_then(|v| v.as_array()) {
            for item in items {
                if let Some(r) = item
                    .get("image")
                    .and_then(|v| serde_json::from_value::<ImageRef>(v.clone()).ok())
                {
                    out.push(r);
                }
            }
        }
    }
    out
}

/// Points every reference of `meta` into `inputs` at its copy; `Ok(true)` when one changed,
/// `Err(None)` when one lies in the inputs and was not copied, `Err(Some(detail))` when a
/// reference does not parse.
pub(super) fn switch_meta(
    meta: &mut serde_json::Value,
    inputs: &[u32],
    w: &Rewritten,
) -> Result<bool, Option<String>> {
    let mut changed = false;
    for list in ["fingers", "eyes"] {
        let Some(items) = meta.get_mut(list).and_then(|v| v.as_array_mut()) else {
            continue;
        };
        for item in items {
            let Some(slot) = item.get_mut("image") else {
                continue;
            };
            let old: ImageRef =
                serde_json::from_value(slot.clone()).map_err(|e| Some(e.to_string()))?;
            if !inputs.contains(&old.segment) {
                continue;
            }
            let new = w.new_ref(old).ok_or(None)?;
            *slot = serde_json::to_value(new).map_err(|e| Some(e.to_string()))?;
            changed = true;
        }
    }
    Ok(changed)
}
