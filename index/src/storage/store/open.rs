//! Opening a store: the directory lock, leftovers of interrupted writes, the checkpointed
//! segments and the log replay.

use super::*;

impl Store {
    /// Opens (or creates) the store in `dir`: takes the directory lock, removes leftovers
    /// of interrupted writes, maps the segments of the last checkpoint, verifies them, and
    /// replays the log. See `index/FORMAT.md` for the procedure.
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<Store> {
        Self::open_approved(dir, config, |_| Ok(()))
    }

    /// [`Store::open`], asking `approve` before recovery changes any file: it sees the
    /// recovered key set (through [`Recovered::holds`]) and the checkpoint the store opened,
    /// and may refuse the open with a reason
    /// ([`StorageError::RecoveryRefused`]), for example because a key it knows was
    /// acknowledged is missing. Nothing is cut then.
    pub fn open_approved(
        dir: impl AsRef<Path>,
        config: StoreConfig,
        approve: impl FnOnce(&Recovered<'_>) -> std::result::Result<(), String>,
    ) -> Result<Store> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        let lock = take_lock(&dir)?;
        let mut report = RecoveryReport::default();

        let manifest_path = dir.join(MANIFEST_NAME);
        let (manifest, manifest_crc) = if manifest_path.exists() {
            let bytes =
                fs::read(&manifest_path).map_err(|e| StorageError::io(&manifest_path, e))?;
            (
                Manifest::decode(&bytes, &manifest_path)?,
                manifest_identity(&bytes),
            )
        } else {
            let m = initialise(&dir, &config)?;
            let c = manifest_identity(&m.encode());
            (m, c)
        };
        if manifest.stride != config.stride || manifest.max_records != config.segment_max_records {
            return Err(StorageError::ConfigMismatch(format!(
                "store has stride {} and {} records per segment; opened with {} and {}",
                manifest.stride, manifest.max_records, config.stride, config.segment_max_records
            )));
        }
        remove_leftovers(&dir, &manifest, &mut report)?;

        let mut segments = Vec::with_capacity(manifest.segments.len());
        for entry in &manifest.segments {
            segments.push(open_segment(&dir, &config, entry)?);
        }
        segments.sort_by_key(Segment::id);
        if segments.windows(2).any(|w| w[0].id() == w[1].id())
            || segments
                .last()
                .is_some_and(|s| s.id() >= manifest.next_segment_id)
        {
            return Err(StorageError::Inconsistent {
                kind: FileKind::Manifest,
                path: manifest_path,
                detail: "segment ids repeat or reach next_segment_id".into(),
            });
        }
        let blobs = BlobStore::open(&dir.join(blob_name(manifest.blob_gen)), manifest.blob_end)?;

        let keys = if config.verify_on_open {
            report.key_index = KeyIndexOutcome::Verified;
            Keys::in_memory(rebuild_keys(&segments, true, &mut report)?)
        } else {
            let path = dir.join(KEY_INDEX_NAME);
            let live = keyindex::live_count(&segments);
            match KeyTable::load(&path, live, manifest.checkpoint_lsn, manifest_crc) {
                Ok(table) => {
                    report.key_index = KeyIndexOutcome::Loaded;
                    Keys::with_table(table, false)
                }
                Err(reason) => {
                    report.key_index = KeyIndexOutcome::Rebuilt { reason };
                    Keys::in_memory(rebuild_keys(&segments, false, &mut report)?)
                }
            }
        };
        let key_index_loaded = report.key_index == KeyIndexOutcome::Loaded;

        let state = std::cell::RefCell::new(State {
            segments,
            keys,
            blobs,
            checkpoint_lsn: manifest.checkpoint_lsn,
            next_segment_id: manifest.next_segment_id,
            blob_gen: manifest.blob_gen,
            table_damage: None,
        });
        let (wal, replay) = wal::recover(
            &dir,
            manifest.checkpoint_lsn,
            config.durability,
            |lsn, p| state.borrow_mut().replay(&dir, &config, lsn, p),
            || {
                // A key the caller expects but the table lacks may be a damaged entry:
                // the table's CRC is then checked, once (see `State::fall_back`).
                let holds = |key: u64| {
                    if state.borrow().lookup(key).is_some() {
                        return true;
                    }
                    let mut st = state.borrow_mut();
                    st.fall_back() && st.lookup(key).is_some()
                };
                approve(&Recovered {
                    holds: &holds,
                    checkpoint_lsn: manifest.checkpoint_lsn,
                    key_index_loaded,
                })
                .map_err(StorageError::RecoveryRefused)
            },
        )?;
        let mut state = state.into_inner();
        report.wal = replay;
        if let Some(reason) = state.table_damage.take() {
            report.key_index = KeyIndexOutcome::Rebuilt {
                reason: format!("{reason}, found when a key it should hold was looked up"),
            };
        }
        let wal = Arc::new(wal);
        let flusher = match config.durability {
            Durability::SyncEveryMs(ms) => {
                Some(spawn_flusher(&dir, Arc::clone(&wal), ms, Wal::sync)?)
            }
            // After a burst of commits, one slot write and fsync record the last of them.
            Durability::SyncPerBatch => Some(spawn_flusher(
                &dir,
                Arc::clone(&wal),
                VOUCH_EVERY_MS,
                Wal::vouch,
            )?),
            Durability::NoSync => None,
        };
        Ok(Store {
            dir,
            config,
            state: RwLock::new(state),
            wal,
            report,
            scrub: Arc::default(),
            _flusher: flusher,
            _lock: lock,
        })
    }
}

/// The key → slot map of the live slots of `segments`, read from their slot metadata; with
/// `verify`, every live record's CRC is checked first.
pub(super) fn rebuild_keys(
    segments: &[Segment],
    verify: bool,
    report: &mut RecoveryReport,
) -> Result<KeyMap> {
    let live = segments.iter().map(|s| s.len() as usize).sum();
    let mut keys = KeyMap::with_capacity_and_hasher(live, Default::default());
    for seg in segments {
        for slot in 0..seg.len() {
            if seg.deleted.contains(slot) {
                continue;
            }
            if verify {
                if !seg.slot_is_intact(slot) {
                    return Err(StorageError::CorruptRecord {
                        segment: seg.id(),
                        slot,
                    });
                }
                report.verified_records += 1;
            }
            let addr = SlotAddr {
                segment: seg.id(),
                slot,
            };
            if keys.insert(seg.meta(slot).key, addr).is_some() {
                return Err(StorageError::Inconsistent {
                    kind: FileKind::Segment,
                    path: seg.path().to_path_buf(),
                    detail: format!("key {} is live twice", seg.meta(slot).key),
                });
            }
        }
    }
    Ok(keys)
}

pub(in crate::storage) fn take_lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_NAME);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| StorageError::io(&path, e))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(TryLockError::WouldBlock) => Err(StorageError::Locked(dir.to_path_buf())),
        Err(TryLockError::Error(e)) => Err(StorageError::io(&path, e)),
    }
}

/// Creates the blob file and the first manifest of an empty directory.
pub(super) fn initialise(dir: &Path, config: &StoreConfig) -> Result<Manifest> {
    for e in fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))? {
        let e = e.map_err(|e| StorageError::io(dir, e))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if parse_segment_name(&name).is_some() || parse_wal_name(&name).is_some() {
            return Err(StorageError::MissingManifest(dir.to_path_buf()));
        }
    }
    let blob_path = dir.join(BLOB_NAME);
    // A blob file without a manifest is left from an interrupted initialisation.
    remove_if_exists(&blob_path)?;
    BlobStore::create(&blob_path)?;
    let m = Manifest {
        stride: config.stride,
        max_records: config.segment_max_records,
        checkpoint_lsn: 0,
        next_segment_id: 1,
        blob_end: BLOB_HEADER_LEN,
        blob_gen: 0,
        segments: Vec::new(),
    };
    write_atomic(dir, &dir.join(MANIFEST_NAME), &m.encode())?;
    Ok(m)
}

pub(in crate::storage) fn open_segment(
    dir: &Path,
    config: &StoreConfig,
    entry: &SegmentEntry,
) -> Result<Segment> {
    let mut seg = Segment::open(
        &dir.join(segment_name(entry.id)),
        entry.id,
        config.stride,
        entry.len,
    )?;
    if seg.max_records() != config.segment_max_records || seg.stride() != config.stride {
        return Err(StorageError::Inconsistent {
            kind: FileKind::Segment,
            path: seg.path().to_path_buf(),
            detail: "geometry differs from the manifest".into(),
        });
    }
    if let Some(lsn) = entry.bitmap_lsn {
        let path = dir.join(bitmap_name(entry.id, lsn));
        let bytes = fs::read(&path).map_err(|e| StorageError::io(&path, e))?;
        seg.deleted = DeleteBitmap::decode(&bytes, &path, entry.id, lsn, seg.max_records())?;
        if (0..seg.max_records()).any(|s| s >= entry.len && seg.deleted.contains(s)) {
            return Err(StorageError::Inconsistent {
                kind: FileKind::Bitmap,
                path,
                detail: "deleted slot past the segment length".into(),
            });
        }
        seg.bitmap_lsn = Some(lsn);
    }
    Ok(seg)
}

/// Removes temp files, and segment and bitmap files the manifest does not reference.
pub(super) fn remove_leftovers(
    dir: &Path,
    m: &Manifest,
    report: &mut RecoveryReport,
) -> Result<()> {
    remove_unlisted(dir, m, &mut report.removed_files)?;
    if !report.removed_files.is_empty() {
        sync_dir(dir)?;
    }
    Ok(())
}

pub(super) fn remove_unlisted(dir: &Path, m: &Manifest, removed: &mut Vec<PathBuf>) -> Result<()> {
    for e in fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))? {
        let e = e.map_err(|e| StorageError::io(dir, e))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        let stale = if name.ends_with(TMP_SUFFIX) {
            true
        } else if let Some(id) = parse_segment_name(&name) {
            !m.segments.iter().any(|s| s.id == id)
        } else if let Some((id, lsn)) = parse_bitmap_name(&name) {
            !m.segments
                .iter()
                .any(|s| s.id == id && s.bitmap_lsn == Some(lsn))
        } else if let Some(gen) = parse_blob_name(&name) {
            gen != m.blob_gen
        } else {
            false
        };
        if stale {
            let path = e.path();
            remove_if_exists(&path)?;
            removed.push(path);
        }
    }
    Ok(())
}

/// How often a `SyncPerBatch` store records its durable LSN in a commit slot when a
/// burst of commits has ended.
pub(super) const VOUCH_EVERY_MS: u64 = 100;

pub(super) fn spawn_flusher(
    dir: &Path,
    wal: Arc<Wal>,
    ms: u64,
    tick: fn(&Wal) -> Result<()>,
) -> Result<Flusher> {
    let (tx, rx) = mpsc::channel::<()>();
    let period = Duration::from_millis(ms);
    let handle = std::thread::Builder::new()
        .name("tunggal-wal-flush".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(period) {
                // A failed sync poisons the log; writers then see the error.
                let _ = tick(&wal);
            }
        })
        .map_err(|e| StorageError::io(dir, e))?;
    Ok(Flusher {
        stop: Some(tx),
        handle: Some(handle),
    })
}
