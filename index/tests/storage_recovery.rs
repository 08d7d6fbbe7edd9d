//! Crash recovery of checkpointed data: segments, bitmaps, manifest and blob file truncated
//! or corrupted at every byte offset of a small store, and leftovers of interrupted
//! compactions (the log's own recovery is in `wal_recovery.rs`).
//!
//! Expected outcomes (as documented in FORMAT.md):
//! * damage to anything the last checkpoint made authoritative (segment header, live
//!   checkpointed slots, bitmap, manifest, blob header): a typed corruption error;
//! * damage to data the log still holds (slots and blobs written after the checkpoint,
//!   segments created after it): repaired by replay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod storage_common;

use std::fs;
use std::path::{Path, PathBuf};

use storage_common::{
    blob, copy_dir, dump, files, flip_byte, record, small_config, truncate, Contents,
};
use tunggal_index::storage::{StorageError, Store};

/// A crashed store with a checkpoint in the middle of its history: keys 0..6 inserted with
/// blobs, key 1 deleted, checkpoint; then key 6 inserted and key 3 replaced.
struct CheckpointScenario {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    model: Contents,
}

fn checkpoint_scenario() -> CheckpointScenario {
    let tmp = storage_common::tempdir();
    let dir = tmp.path().join("src");
    let store = Store::open(&dir, small_config()).unwrap();
    let mut model = Contents::new();
    for k in 0..6u64 {
        let b = blob(k, 0, 4 + k as usize);
        store.insert(k, &record(k, 0), &b).unwrap();
        model.insert(k, (record(k, 0), b));
    }
    store.delete(1).unwrap();
    model.remove(&1);
    store.checkpoint().unwrap();
    store.insert(6, &record(6, 0), b"six").unwrap();
    model.insert(6, (record(6, 0), b"six".to_vec()));
    store.replace(3, &record(3, 1), b"three").unwrap();
    model.insert(3, (record(3, 1), b"three".to_vec()));
    drop(store);
    CheckpointScenario {
        _tmp: tmp,
        dir,
        model,
    }
}

impl CheckpointScenario {
    fn work(&self) -> PathBuf {
        copy_dir(&self.dir, self.dir.parent().unwrap(), "case")
    }
}

// Segment layout for stride 64 and 4 slots: header 64 bytes, slot metadata 4 x 32 bytes at
// 64, records at 192.
const META_AT: u64 = 64;
const RECORDS_AT: u64 = 192;

fn in_slot(t: u64, slot: u64) -> bool {
    (META_AT + slot * 32..META_AT + (slot + 1) * 32).contains(&t)
        || (RECORDS_AT + slot * 64..RECORDS_AT + (slot + 1) * 64).contains(&t)
}

#[test]
fn checkpointed_segment_corruption_is_detected_and_the_rest_is_repaired() {
    let s = checkpoint_scenario();
    // At the checkpoint: segment 1 holds keys 0..4 (slot 1 deleted), segment 2 keys 4, 5.
    // After it the log put key 6 and the new key 3 in segment 2 slots 2 and 3.
    let live_at_checkpoint: [(&str, &[u64]); 2] = [
        ("seg-00000001.dat", &[0, 2, 3]),
        ("seg-00000002.dat", &[0, 1]),
    ];
    for (name, live) in live_at_checkpoint {
        let len = fs::metadata(s.dir.join(name)).unwrap().len();
        let mut failures = 0;
        for t in 0..len {
            let dir = s.work();
            flip_byte(&dir.join(name), t as usize);
            let must_fail = t < 64 || live.iter().any(|&slot| in_slot(t, slot));
            match Store::open(&dir, small_config()) {
                Ok(store) => {
                    assert!(!must_fail, "{name} flipped at {t} was accepted");
                    assert_eq!(dump(&store), s.model, "{name} flipped at {t}");
                }
                Err(e) => {
                    assert!(must_fail, "{name} flipped at {t}: {e}");
                    assert!(e.is_corruption(), "{name} flipped at {t}: {e}");
                    if t >= 64 {
                        assert!(matches!(e, StorageError::CorruptRecord { .. }), "{e}");
                    }
                    failures += 1;
                }
            }
        }
        assert_eq!(failures, 64 + live.len() as u64 * 96);
    }
}

#[test]
fn checkpointed_segment_truncation_is_detected() {
    let s = checkpoint_scenario();
    for (name, checkpointed_len) in [("seg-00000001.dat", 4u64), ("seg-00000002.dat", 2)] {
        let needed = RECORDS_AT + checkpointed_len * 64;
        let len = fs::metadata(s.dir.join(name)).unwrap().len();
        for t in 0..len {
            let dir = s.work();
            truncate(&dir.join(name), t);
            match Store::open(&dir, small_config()) {
                Ok(store) => {
                    assert!(t >= needed, "{name} cut to {t} was accepted");
                    assert_eq!(dump(&store), s.model);
                }
                Err(e) => {
                    assert!(t < needed, "{name} cut to {t}: {e}");
                    assert!(e.is_corruption(), "{e}");
                }
            }
        }
    }
}

#[test]
fn bitmap_and_manifest_damage_is_detected() {
    let s = checkpoint_scenario();
    let bitmap = files(&s.dir, "seg-", ".del");
    assert_eq!(bitmap.len(), 1);
    let bitmap = bitmap[0].file_name().unwrap().to_owned();
    for name in [bitmap.as_os_str(), "MANIFEST".as_ref()] {
        let len = fs::metadata(s.dir.join(name)).unwrap().len();
        for t in 0..len {
            let dir = s.work();
            flip_byte(&dir.join(name), t as usize);
            let e = Store::open(&dir, small_config()).expect_err("flip accepted");
            assert!(e.is_corruption(), "{name:?} flipped at {t}: {e}");
            let dir = s.work();
            truncate(&dir.join(name), t);
            let e = Store::open(&dir, small_config()).expect_err("cut accepted");
            assert!(e.is_corruption(), "{name:?} cut to {t}: {e}");
        }
    }
}

#[test]
fn blob_damage_is_reported_on_read_unless_the_log_repairs_it() {
    let s = checkpoint_scenario();
    // Entry offsets of the checkpointed blobs of keys 0..6 (8 bytes framing + payload).
    let mut entries = Vec::new();
    let mut at = 32u64;
    for k in 0..6u64 {
        let len = 4 + k;
        entries.push((k, at, at + 8 + len));
        at += 8 + len;
    }
    let checkpoint_end = at;
    let len = fs::metadata(s.dir.join("blobs.dat")).unwrap().len();
    let mut detected = 0;
    for t in 0..len {
        let dir = s.work();
        flip_byte(&dir.join("blobs.dat"), t as usize);
        let store = match Store::open(&dir, small_config()) {
            Ok(store) => store,
            Err(e) => {
                assert!(t < 32, "blob flip at {t}: {e}");
                assert!(e.is_corruption());
                continue;
            }
        };
        assert!(t >= 32, "blob header flip at {t} accepted");
        let snap = store.snapshot();
        for (key, (_, expected)) in &s.model {
            let damaged = t < checkpoint_end
                && entries
                    .iter()
                    .any(|&(k, from, to)| k == *key && (from..to).contains(&t))
                && *key != 3;
            match snap.blob(*key) {
                Ok(b) => {
                    assert!(!damaged, "key {key} blob flipped at {t} was served");
                    assert_eq!(b.as_ref(), Some(expected));
                }
                Err(StorageError::CorruptBlob { .. }) => {
                    assert!(damaged, "key {key} reported corrupt for flip at {t}");
                    detected += 1;
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
    }
    // Keys 0, 2, 4, 5 keep their checkpointed blobs: every byte of their entries counts.
    assert_eq!(
        detected,
        [0u64, 2, 4, 5].iter().map(|k| 12 + k).sum::<u64>()
    );
}

#[test]
fn leftovers_of_interrupted_compaction_and_checkpoint_are_removed() {
    let tmp = storage_common::tempdir();
    let src = tmp.path().join("src");
    let store = Store::open(&src, small_config()).unwrap();
    let mut model = Contents::new();
    for k in 0..10u64 {
        store.insert(k, &record(k, 0), &blob(k, 0, 6)).unwrap();
        model.insert(k, (record(k, 0), blob(k, 0, 6)));
    }
    for k in [0u64, 5, 6] {
        store.delete(k).unwrap();
        model.remove(&k);
    }
    store.checkpoint().unwrap();
    let before = copy_dir(&src, tmp.path(), "before");
    store.compact().unwrap();
    let after = copy_dir(&src, tmp.path(), "after");
    drop(store);
    let names = |d: &Path, p: &str, s: &str| -> Vec<String> {
        files(d, p, s)
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().to_string())
            .collect()
    };
    let old_segments = names(&before, "seg-", ".dat");
    let new_segments = names(&after, "seg-", ".dat");
    let old_bitmaps = names(&before, "seg-", ".del");
    assert!(!old_bitmaps.is_empty());

    // Crash after the new segments were renamed into place, before the manifest switched.
    let a = copy_dir(&before, tmp.path(), "crash-a");
    for n in new_segments.iter().filter(|n| !old_segments.contains(n)) {
        fs::copy(after.join(n), a.join(n)).unwrap();
    }
    fs::write(a.join("seg-00000042.dat.tmp"), b"half-written").unwrap();
    let store = Store::open(&a, small_config()).unwrap();
    assert_eq!(dump(&store), model);
    assert!(!store.recovery_report().removed_files.is_empty());
    drop(store);
    assert_eq!(names(&a, "seg-", ".dat"), old_segments);
    assert!(names(&a, "", ".tmp").is_empty());

    // Crash after the manifest switched, before the old files were deleted.
    let b = copy_dir(&after, tmp.path(), "crash-b");
    for n in old_segments.iter().chain(&old_bitmaps) {
        if !b.join(n).exists() {
            fs::copy(before.join(n), b.join(n)).unwrap();
        }
    }
    fs::write(b.join("MANIFEST.tmp"), b"partial").unwrap();
    fs::write(b.join("seg-00000001-00000000000000ff.del"), b"stale").unwrap();
    let store = Store::open(&b, small_config()).unwrap();
    assert_eq!(dump(&store), model);
    drop(store);
    assert_eq!(names(&b, "seg-", ".dat"), new_segments);
    assert!(names(&b, "seg-", ".del").is_empty());
    assert!(names(&b, "", ".tmp").is_empty());
}
