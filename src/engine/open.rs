//! Opening the engine: the calibration of a new gallery, the registry checked against the
//! recovered gallery before any gallery file changes, and the reconciliation of the two.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;
use tunggal_index::gallery::{Gallery, GalleryConfig, GalleryError};
use tunggal_index::search::{Calibration, Deduplicator};
use tunggal_index::storage::{Recovered, StorageError};

use super::registry::{reference_id, Outcome, Registry, Resolution};
use super::{calibrate, group, stats, EngineOptions, GalleryEngine, Recovery, GALLERY_DIR};
use crate::cases::CaseStore;
use crate::state::StateError;

/// Why the engine could not be opened.
#[derive(Debug, Error)]
pub enum OpenError {
    /// The gallery failed to open or recover.
    #[error("gallery: {0}")]
    Gallery(#[from] GalleryError),
    /// The registry failed to open.
    #[error("registry: {0}")]
    Registry(#[from] StateError),
    /// The calibration could not be learned.
    #[error("calibration: {0}")]
    Calibration(String),
    /// A directory could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The image store failed to open, or its last segment is damaged (nothing was cut).
    #[error("image store: {0}")]
    Images(#[from] tunggal_index::image_store::ImageStoreError),
    /// A case could not be opened during recovery.
    #[error("cases: {0}")]
    Cases(#[from] crate::cases::CaseError),
    /// The case store is not the state store of this data directory, so a duplicate's
    /// outcome and its case could not commit together.
    #[error("the case store given is not the one of {}", data_dir.display())]
    CasesElsewhere {
        /// The data directory.
        data_dir: PathBuf,
    },
    /// The gallery's files are damaged; nothing was changed.
    #[error(
        "gallery damaged, nothing was changed: {source}. Inspect it with `tunggal fsck \
         --data-dir {}`",
        data_dir.display()
    )]
    Damaged {
        /// What the storage layer found.
        source: tunggal_index::storage::StorageError,
        /// The data directory.
        data_dir: PathBuf,
    },
    /// The gallery lacks persons the registry acknowledged as enrolled: its files are
    /// damaged. Nothing was changed.
    #[error(
        "the gallery lacks {count} acknowledged persons ({}); its write-ahead log or segments \
         are damaged and nothing was changed: inspect with `tunggal fsck --data-dir {}`",
        examples.join(", "),
        data_dir.display()
    )]
    GalleryMissing {
        /// How many.
        count: usize,
        /// The first few reference ids.
        examples: Vec<String>,
        /// The data directory.
        data_dir: PathBuf,
    },
}

/// Why [`GalleryEngine::settle`] failed; nothing acknowledged is affected (the mark only
/// stays where it was).
#[derive(Debug, Error)]
pub enum SettleError {
    /// The gallery's checkpoint failed.
    #[error("gallery checkpoint: {0}")]
    Checkpoint(#[from] StorageError),
    /// The mark could not be written.
    #[error("acknowledgement mark: {0}")]
    Mark(#[from] StateError),
}

impl GalleryEngine {
    /// Opens the engine in `data_dir` (gallery in `data_dir/gallery`, registry beside it),
    /// learning a calibration for a new gallery, replaying the gallery WAL and reconciling
    /// the registry with it.
    pub fn open(
        data_dir: &Path,
        cases: Arc<CaseStore>,
        options: EngineOptions,
    ) -> Result<Self, OpenError> {
        let dir = data_dir.join(GALLERY_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| OpenError::Io {
            path: dir.clone(),
            source,
        })?;
        let mut config = GalleryConfig::default();
        let stored = dir.join(tunggal_index::gallery::CALIBRATION_NAME);
        let read_stored = || -> Result<Calibration, OpenError> {
            std::fs::read(&stored)
                .map_err(|source| OpenError::Io {
                    path: stored.clone(),
                    source,
                })
                .and_then(|b| {
                    serde_json::from_slice(&b)
                        .map_err(|e| OpenError::Calibration(format!("{}: {e}", stored.display())))
                })
        };
        let mut calibration = if stored.exists() {
            // A gallery calibrated for an older matcher keeps comparing with it.
            let version = read_stored()?.matcher_version;
            config.mcc = tunggal_index::gallery::matcher_for(&config.mcc, version)?;
            None
        } else {
            Some(options.calibration.calibration(&config)?)
        };
        if let Some(file) = calibrate::operator_file(data_dir)? {
            let mut c = match calibration.take() {
                Some(c) => c,
                None => read_stored()?,
            };
            if !file.apply(&mut c, &config.mcc) {
                return Err(OpenError::Calibration(format!(
                    "{} was learned with other matcher parameters",
                    calibrate::FINGER_CALIBRATION_NAME
                )));
            }
            eprintln!(
                "finger calibration {} from {}",
                c.id,
                calibrate::FINGER_CALIBRATION_NAME
            );
            calibration = Some(c);
        }
        // The registry first: every person it acknowledged as enrolled must be in the
        // recovered gallery (only a journalled deletion explains an absence), checked before
        // recovery changes any gallery file. Anything else is damage: refuse, never delete
        // registry entries to match.
        let registry = Registry::open(data_dir)?;
        if !Arc::ptr_eq(registry.store(), cases.store()) {
            return Err(OpenError::CasesElsewhere {
                data_dir: data_dir.to_path_buf(),
            });
        }
        // Only the persons acknowledged after the registry's acknowledgement mark can be
        // missing (`engine/registry/rows/acked.rs` argues why): the mark's persons are in
        // a gallery checkpoint at or past its LSN. Everyone is checked when there is no
        // mark yet, when the recovered gallery's checkpoint is before the mark's (an older
        // gallery), or when its key map was rebuilt from the slots rather than loaded.
        let mark = registry.acknowledged_mark()?;
        let after_mark = match mark {
            Some(m) => Some(registry.acknowledged_keys_after(m.seq)?),
            None => None,
        };
        let mut missing = Vec::new();
        let mut checked = (0usize, false);
        let mut read_failed = None;
        let approve = |recovered: &Recovered<'_>| {
            let all;
            let (keys, whole) = match (&after_mark, mark) {
                (Some(keys), Some(m))
                    if recovered.key_index_loaded
                        && recovered.checkpoint_lsn >= m.checkpoint_lsn =>
                {
                    (keys, false)
                }
                _ => match registry.acknowledged_keys() {
                    Ok(k) => {
                        all = k;
                        (&all, true)
                    }
                    Err(e) => {
                        read_failed = Some(e);
                        return Err("the registry could not be read".to_string());
                    }
                },
            };
            checked = (keys.len(), whole);
            missing = keys
                .iter()
                .copied()
                .filter(|&k| !recovered.holds(k))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("{} acknowledged persons missing", missing.len()))
            }
        };
        let opened = Gallery::open_approved(&dir, config, calibration, approve);
        if let Some(e) = read_failed {
            return Err(OpenError::Registry(e));
        }
        let gallery = opened.map_err(|e| match e {
            GalleryError::Storage(StorageError::RecoveryRefused(_)) if !missing.is_empty() => {
                OpenError::GalleryMissing {
                    count: missing.len(),
                    examples: missing.iter().take(5).map(|&k| reference_id(k)).collect(),
                    data_dir: data_dir.to_path_buf(),
                }
            }
            GalleryError::Storage(source) if source.is_corruption() => OpenError::Damaged {
                source,
                data_dir: data_dir.to_path_buf(),
            },
            e => OpenError::Gallery(e),
        })?;
        tracing::info!(
            checked = checked.0,
            every_acknowledged = checked.1,
            mark = ?mark,
            "acknowledged persons checked against the recovered gallery"
        );
        if let Some(t) = &gallery.recovery_report().wal.torn_tail {
            tracing::warn!(
                log = %t.log.display(),
                offset = t.offset,
                first_lsn = t.first_lsn,
                bytes = t.bytes,
                kept_in = %t.kept_in.display(),
                "gallery log ended in a torn tail (an unacknowledged write); it was cut and \
                 its bytes kept aside"
            );
        }
        let rolled_back = roll_back_lost_intents(&registry, &gallery)?;
        let (rolled_forward, aborted) = {
            // Nothing writes to the gallery while it opens: one snapshot serves every check.
            let snap = gallery.snapshot();
            let (rolled_forward, aborted) = registry.reconcile(|key| snap.contains(key))?;
            // A cleared applicant inserted before its `closed` event was written.
            for key in registry.unsettled_keys(|e| {
                matches!(e.outcome, Some(Outcome::Duplicate { .. })) && e.resolution.is_none()
            })? {
                if snap.contains(key) {
                    registry.closed(key, Resolution::Cleared)?;
                }
            }
            (rolled_forward, aborted)
        };
        // Deletions journalled but not finished: finish them (the gallery delete is
        // idempotent through `contains`).
        for key in registry.unsettled_keys(|e| e.deleting && !e.deleted)? {
            if gallery.snapshot().contains(key) {
                gallery.delete(key)?;
            }
            registry.deleted(key)?;
        }
        // Opened once the gallery holds the data directory's `LOCK`: no other process
        // appends to the images while their torn tail is judged.
        let (images, opened) = tunggal_index::image_store::ImageStore::open(
            &data_dir.join(super::images::IMAGES_DIR),
        )?;
        if let Some(torn) = &opened.torn_tail {
            tracing::warn!(
                segment = %torn.segment.display(),
                offset = torn.offset,
                bytes = torn.bytes,
                kept_in = %torn.kept_in.display(),
                "image store: a torn tail (an unacknowledged write) was cut and kept"
            );
        }
        let mut engine = Self {
            dedup: Deduplicator::new(gallery, options.search).with_claim_owners(Box::new(
                super::NikOwners(Registry::new(registry.store().clone())),
            )),
            registry,
            cases,
            notifier: std::sync::OnceLock::new(),
            counters: stats::MatchCounters::default(),
            images,
            compaction: super::image_compaction::CompactionCounters::default(),
            commits: group::GroupCommit::default(),
            recovery: Recovery {
                rolled_forward,
                aborted,
                rolled_back,
                cases_opened: 0,
            },
        };
        for e in engine.registry.duplicates_without_case()? {
            engine.open_case_for(&e)?;
            engine.recovery.cases_opened += 1;
        }
        engine.advance_acknowledged_mark()?;
        Ok(engine)
    }

    /// Checkpoints the gallery and brings the acknowledgement mark up to it, so that the next
    /// open checks no person acknowledged before now. The mark otherwise follows the
    /// checkpoints the log's growth triggers, which a bulk load or a short run may never
    /// reach. Run after a bulk load and at a clean shutdown; costs one checkpoint (the
    /// segments' dirty pages and the key index written and synced) and three small commits.
    pub fn settle(&self) -> Result<(), SettleError> {
        // Records a candidate at today's acknowledgement count when none is pending.
        self.advance_acknowledged_mark()?;
        self.gallery().store().checkpoint()?;
        // Promotes the pending candidate, whose log position is now checkpointed, and
        // records one at today's count when the pending one was older; the third advance
        // promotes that one too.
        self.advance_acknowledged_mark()?;
        self.advance_acknowledged_mark()?;
        Ok(())
    }

    /// Advances the registry's acknowledgement mark to what the gallery's checkpoints prove
    /// it holds (`engine/registry/rows/acked.rs`), so that the next open checks only the
    /// persons acknowledged since. Cheap: two counter reads, and one durable commit when
    /// the mark or its candidate moves. Run at open and periodically while serving.
    pub fn advance_acknowledged_mark(&self) -> Result<(), StateError> {
        let store = self.gallery().store();
        self.registry
            .advance_acknowledged_mark(store.checkpoint_lsn(), || store.last_lsn())?;
        Ok(())
    }
}

/// Deletes from the gallery every member at or past the registry's next key that has no
/// registry entry: its intent (committed without a sync of its own) was lost with the power
/// after its gallery insert and before its outcome, so it was never acknowledged (see
/// `engine/registry`). The next key is raised past each first, so no key is given out
/// twice. Returns how many were deleted.
fn roll_back_lost_intents(registry: &Registry, gallery: &Gallery) -> Result<usize, OpenError> {
    let next = registry.next_key()?;
    let lost: Vec<u64> = gallery
        .snapshot()
        .keys_from(next)
        .filter(|&k| registry.get(k).is_none())
        .collect();
    for &key in &lost {
        registry.skip_key(key)?;
        tracing::warn!(
            reference_id = %reference_id(key),
            "gallery member without a registry entry (its intent was lost before its outcome \
             committed; never acknowledged): rolled back"
        );
        gallery.delete(key)?;
    }
    Ok(lost.len())
}
