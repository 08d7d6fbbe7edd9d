//! `tunggal fsck`: the state of every file of a data directory, read without changing
//! anything, and with `--salvage OUT` a repaired copy written elsewhere.
//!
//! The check covers the gallery (manifest, segments, bitmaps, every checkpointed live
//! record and its blob, every write-ahead log frame and commit slot), the state store
//! (`state.sqlite3`, `PRAGMA integrity_check`; registry, idempotency answers, callback
//! outbox, API keys), the JSON-lines journals (cases, audit), the registry against the
//! gallery: every person the registry acknowledged as enrolled must be in the gallery, and
//! the image store (`images/`): every record's CRC, and every fingerprint image a registry
//! row of a person not deleted names must be a whole valid record. Image damage is
//! reported, never repaired: a salvage copies the store as it is.
//!
//! A salvage copies the directory, cuts the copy's log at its first damaged frame (the cut
//! bytes kept beside it), removes damaged checkpointed records from the copy's gallery, and
//! marks every acknowledged person the copy's gallery lacks as `lost` in the copy's
//! registry, so the copy opens and the service answers `lost` for them (they must enrol
//! again). The original is never touched.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tunggal_index::gallery::{Gallery, GalleryConfig};
use tunggal_index::image_store::{self, ImageStoreCheck};
use tunggal_index::storage::{self, StoreCheck};

use crate::engine::images::IMAGES_DIR;
use crate::engine::registry::{reference_id, Entry, Registry};
use crate::engine::GALLERY_DIR;
use crate::state::journal::{self, JournalCheck};

/// Journals of a data directory, by file name (the case journal only of an older
/// release, which `tunggal migrate` moves into the state store).
pub const JOURNALS: [&str; 2] = [
    crate::cases::legacy::CASES_FILE,
    crate::access::audit::AUDIT_FILE,
];

/// Errors of `fsck`.
#[derive(Debug, thiserror::Error)]
pub enum FsckError {
    /// The gallery could not be read at all (for example it is locked by a running server).
    #[error("gallery: {0}")]
    Storage(#[from] storage::StorageError),
    /// A journal could not be read.
    #[error("journal: {0}")]
    Journal(#[from] journal::JournalError),
    /// The state store could not be read.
    #[error("state store: {0}")]
    State(#[from] crate::state::StateError),
    /// The salvage copy could not be written.
    #[error("{path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The image store could not be read.
    #[error("image store: {0}")]
    Images(#[from] image_store::ImageStoreError),
    /// The salvage target exists and is not empty.
    #[error("{0} exists and is not empty: salvage writes a new directory")]
    TargetExists(PathBuf),
    /// The salvaged copy's gallery or registry could not be opened or written.
    #[error("salvage: {0}")]
    Salvage(String),
}

/// A person the registry acknowledged that the gallery lacks or holds damaged.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PersonDamage {
    /// Reference id.
    pub reference_id: String,
    /// The submitting request id.
    pub request_id: String,
    /// What is wrong.
    pub what: String,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct FsckReport {
    /// The data directory.
    pub data_dir: PathBuf,
    /// True when nothing is damaged.
    pub clean: bool,
    /// Persons in the gallery after replaying the valid part of the log.
    pub gallery_persons: usize,
    /// Checkpoint LSN of the gallery.
    pub checkpoint_lsn: u64,
    /// Checkpointed live records whose CRC was checked.
    pub records_checked: u64,
    /// Their blobs checked.
    pub blobs_checked: u64,
    /// Whole-file problems of the gallery.
    pub gallery_files: Vec<String>,
    /// One line per log file.
    pub logs: Vec<String>,
    /// Why the server would refuse the logs, if it would.
    pub log_verdict: Option<String>,
    /// Persons the registry acknowledged whose gallery record is missing or damaged.
    pub persons: Vec<PersonDamage>,
    /// The state store: one line, then one per problem `integrity_check` found.
    pub state: Vec<String>,
    /// One line per journal.
    pub journals: Vec<String>,
    /// The image store: one line, then one per damaged record or torn tail.
    pub images: Vec<String>,
    /// Fingerprint images registry rows name that are not whole valid records.
    pub image_refs: Vec<PersonDamage>,
}

/// Checks the data directory `data_dir` without changing it.
pub fn check(data_dir: &Path) -> Result<FsckReport, FsckError> {
    let gallery_dir = data_dir.join(GALLERY_DIR);
    let store = storage::check(&gallery_dir)?;
    let mut clean = store.is_clean();
    let mut journals = Vec::new();
    for name in JOURNALS {
        let path = data_dir.join(name);
        let c = journal::check(&path)?;
        // The case journal exists only in a data directory of an older release.
        if name == crate::cases::legacy::CASES_FILE && !c.exists {
            continue;
        }
        clean &= c.is_clean();
        journals.push(describe_journal(name, &c));
    }
    for (_, path) in crate::access::audit::files::rotated(data_dir)? {
        let c = journal::check(&path)?;
        clean &= c.is_clean();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        journals.push(describe_journal(name.as_deref().unwrap_or_default(), &c));
    }
    let (state_clean, state) = describe_state(data_dir);
    clean &= state_clean;
    let entries = read_registry(data_dir)?;
    let persons = person_damage(&entries, &store);
    clean &= persons.is_empty();
    let images = image_store::check(&data_dir.join(IMAGES_DIR))?;
    let image_refs = image_damage(&entries, &images);
    clean &= images.is_clean() && image_refs.is_empty();
    Ok(FsckReport {
        data_dir: data_dir.to_path_buf(),
        clean,
        gallery_persons: store.live_keys.len(),
        checkpoint_lsn: store.checkpoint_lsn,
        records_checked: store.records_checked,
        blobs_checked: store.blobs_checked,
        gallery_files: store
            .file_errors
            .iter()
            .map(|(p, e)| format!("{}: {e}", p.display()))
            .collect(),
        logs: store.logs.iter().map(describe_log).collect(),
        log_verdict: store.log_error.clone(),
        persons,
        state,
        journals,
        images: describe_images(&images),
        image_refs,
    })
}

/// The image store's summary line and one line per problem.
fn describe_images(c: &ImageStoreCheck) -> Vec<String> {
    let mut lines = vec![format!(
        "{}: {} segments, {} images ({} bytes) with their CRC checked, {} damaged",
        c.dir.display(),
        c.segments.len(),
        c.records,
        c.payload_bytes,
        c.damaged.len()
    )];
    for d in &c.damaged {
        lines.push(format!(
            "  {}: DAMAGED at offset {} ({} bytes): {}",
            image_store::segment_name(d.segment),
            d.offset,
            d.bytes,
            d.detail
        ));
    }
    if let Some(t) = &c.torn_tail {
        lines.push(format!(
            "  {}: torn tail at offset {} ({} bytes, never acknowledged): the next open cuts \
             it and keeps the bytes beside the segment",
            image_store::segment_name(t.segment),
            t.offset,
            t.bytes
        ));
    }
    lines
}

/// Every fingerprint image of a person not deleted whose reference is not a whole valid
/// record.
fn image_damage(entries: &[Entry], images: &ImageStoreCheck) -> Vec<PersonDamage> {
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| !e.deleted && !e.deleting) {
        for f in &e.meta.fingers {
            if let Err(why) = images.resolve(f.image) {
                out.push(PersonDamage {
                    reference_id: reference_id(e.key),
                    request_id: e.meta.summary.request_id.clone(),
                    what: format!("fingerprint image at position {}: {why}", f.position),
                });
            }
        }
    }
    out
}

/// Checks `state.sqlite3` and looks for journals of an older release not yet migrated.
fn describe_state(data_dir: &Path) -> (bool, Vec<String>) {
    let c = crate::state::check(data_dir);
    let name = crate::state::STATE_FILE;
    let mut lines = vec![match (c.exists, c.problems.is_empty()) {
        (false, _) => format!("{name}: absent (created at the next start)"),
        (true, true) => format!("{name}: schema version {}, integrity ok", c.version),
        (true, false) => format!(
            "{name}: DAMAGED, {} problems (the service refuses to open it)",
            c.problems.len()
        ),
    }];
    lines.extend(c.problems.iter().map(|p| format!("  {p}")));
    let mut clean = c.problems.is_empty();
    for journal in crate::state::migrate::MIGRATED_JOURNALS {
        if data_dir.join(journal).exists() {
            clean = false;
            lines.push(format!(
                "{journal}: from an older release, not migrated (run `tunggal migrate`)"
            ));
        }
    }
    (clean, lines)
}

fn read_registry(data_dir: &Path) -> Result<Vec<Entry>, FsckError> {
    Ok(Registry::read_entries(data_dir)?)
}

fn person_damage(entries: &[Entry], store: &StoreCheck) -> Vec<PersonDamage> {
    let damaged: BTreeMap<u64, &storage::DamagedRecord> =
        store.damaged.iter().map(|d| (d.key, d)).collect();
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| e.in_gallery() && !e.deleting) {
        let what = if let Some(d) = damaged.get(&e.key) {
            Some(format!(
                "damaged in segment {} slot {}: {}",
                d.segment, d.slot, d.what
            ))
        } else if !store.live_keys.contains(&e.key) {
            Some("acknowledged as enrolled but absent from the gallery".to_owned())
        } else {
            None
        };
        if let Some(what) = what {
            out.push(PersonDamage {
                reference_id: reference_id(e.key),
                request_id: e.meta.summary.request_id.clone(),
                what,
            });
        }
    }
    out
}

fn describe_log(l: &storage::LogInspection) -> String {
    let h = &l.header;
    let head = match h.commit {
        Some(c) => format!(
            "version {}, commit slot {} vouches for entry {}",
            h.version, c.seq, c.committed
        ),
        None => format!("version {} (no commit slots)", h.version),
    };
    let mut line = format!(
        "{}: {} bytes, {head}; {} valid entries ({}..={}), valid to byte {}",
        l.path.display(),
        l.len,
        l.frames,
        l.start_lsn,
        l.last_lsn,
        l.valid_end
    );
    if let Some(d) = &l.damage {
        match &d.corruption {
            Some(why) => line.push_str(&format!(
                "; DAMAGED at byte {} (entry {}, {} bytes to the end): {why}",
                d.offset, d.lsn, d.bytes
            )),
            None => line.push_str(&format!(
                "; torn tail at byte {} ({} bytes, entry {} onwards, never acknowledged): the \
                 next open cuts it and keeps the bytes beside the log",
                d.offset, d.bytes, d.lsn
            )),
        }
    }
    line
}

fn describe_journal(name: &str, c: &JournalCheck) -> String {
    if !c.exists {
        return format!("{name}: absent");
    }
    match (c.first_bad_line, c.bad_is_tail) {
        (None, _) => format!("{name}: {} records, intact", c.records),
        (Some(line), true) => format!(
            "{name}: {} records; torn last line {line} (never acknowledged: the next open \
             cuts it and keeps it beside the journal)",
            c.records
        ),
        (Some(line), false) => format!(
            "{name}: {} valid records; DAMAGED at line {line}, valid records follow (the \
             service refuses to open it)",
            c.records
        ),
    }
}

/// What a salvage did.
#[derive(Debug, Clone, Serialize)]
pub struct SalvageReport {
    /// The repaired copy.
    pub out: PathBuf,
    /// Last log entry kept in the copy, when its log was cut.
    pub log_kept_to: Option<u64>,
    /// Damaged checkpointed records removed from the copy's gallery.
    pub records_removed: usize,
    /// Persons marked `lost` in the copy's registry.
    pub lost: Vec<PersonDamage>,
}

/// Writes a repaired copy of `data_dir` to `out` (which must not exist or be empty).
pub fn salvage(data_dir: &Path, out: &Path) -> Result<SalvageReport, FsckError> {
    if out.exists()
        && fs::read_dir(out)
            .map_err(|source| FsckError::Io {
                path: out.to_path_buf(),
                source,
            })?
            .next()
            .is_some()
    {
        return Err(FsckError::TargetExists(out.to_path_buf()));
    }
    copy_tree(data_dir, out)?;
    let gallery_dir = out.join(GALLERY_DIR);
    // The lock file is the copy's own; a stale one from a live server would block.
    let before = storage::check(&gallery_dir)?;
    let log_kept_to = storage::salvage_logs(&gallery_dir, before.checkpoint_lsn)?;
    let after = storage::check(&gallery_dir)?;
    let mut records_removed = 0;
    if !after.damaged.is_empty() {
        let mut config = GalleryConfig::default();
        config.store.verify_on_open = false;
        let gallery = Gallery::open(&gallery_dir, config, None)
            .map_err(|e| FsckError::Salvage(e.to_string()))?;
        for d in &after.damaged {
            gallery
                .delete(d.key)
                .map_err(|e| FsckError::Salvage(e.to_string()))?;
            records_removed += 1;
        }
        gallery
            .close()
            .map_err(|e| FsckError::Salvage(e.to_string()))?;
    }
    let entries = read_registry(out)?;
    let lost = person_damage(&entries, &after);
    if !lost.is_empty() {
        let registry = Registry::open(out).map_err(|e| FsckError::Salvage(e.to_string()))?;
        for p in &lost {
            if let Some(key) = crate::engine::registry::key_of(&p.reference_id) {
                registry
                    .lost(key, &p.what)
                    .map_err(|e| FsckError::Salvage(e.to_string()))?;
            }
        }
    }
    Ok(SalvageReport {
        out: out.to_path_buf(),
        log_kept_to,
        records_removed,
        lost,
    })
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), FsckError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FsckError::Io { path, source }
    };
    fs::create_dir_all(to).map_err(io(to))?;
    for e in fs::read_dir(from).map_err(io(from))? {
        let e = e.map_err(io(from))?;
        let src = e.path();
        let dst = to.join(e.file_name());
        if e.file_type().map_err(io(&src))?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            fs::copy(&src, &dst).map_err(io(&src))?;
        }
    }
    Ok(())
}
