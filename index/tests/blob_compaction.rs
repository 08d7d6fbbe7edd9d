//! Blob compaction: reclaims the blobs of deleted and replaced records, and loses nothing
//! at any crash point (before the manifest switch, or after it and before the old files
//! are deleted).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod storage_common;

use std::fs;
use std::path::{Path, PathBuf};

use storage_common::*;
use tunggal_index::storage::{KeyIndexOutcome, StorageError, Store, StoreConfig};

fn config() -> StoreConfig {
    StoreConfig {
        verify_on_open: false,
        ..small_config()
    }
}

/// 12 persons with large blobs; half deleted, two replaced; checkpointed.
fn build(dir: &Path) -> Contents {
    let store = Store::open(dir, config()).unwrap();
    for key in 1..=12u64 {
        store
            .insert(key, &record(key, 0), &blob(key, 0, 200 + key as usize))
            .unwrap();
    }
    for key in [2u64, 4, 6, 8, 10, 12] {
        store.delete(key).unwrap();
    }
    store.replace(3, &record(3, 1), &blob(3, 1, 50)).unwrap();
    store.replace(7, &record(7, 1), &[]).unwrap();
    store.checkpoint().unwrap();
    let contents = dump(&store);
    store.close().unwrap();
    contents
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut v = files(dir, "seg-", "");
    v.extend(files(dir, "blobs", ".dat"));
    v
}

#[test]
fn compaction_reclaims_blobs_and_keeps_every_record() {
    let tmp = tempdir();
    let dir = tmp.path().join("g");
    let expected = build(&dir);
    let store = Store::open(&dir, config()).unwrap();
    let report = store.compact_blobs().unwrap();
    assert_eq!(report.records_moved, 6);
    let live_blob_bytes: u64 = expected.values().map(|(_, b)| b.len() as u64).sum();
    assert!(report.bytes_after < report.bytes_before, "{report:?}");
    // Header, then one 8-byte frame per non-empty blob plus its payload.
    let non_empty = expected.values().filter(|(_, b)| !b.is_empty()).count() as u64;
    assert_eq!(report.bytes_after, 32 + 8 * non_empty + live_blob_bytes);
    assert_eq!(dump(&store), expected);
    // Writes after the compaction go to the new files and survive a crash.
    store.insert(40, &record(40, 0), &blob(40, 0, 33)).unwrap();
    let mut expected_after = expected.clone();
    expected_after.insert(40, (record(40, 0), blob(40, 0, 33)));
    drop(store);
    let n = names(&dir);
    assert!(!n.contains(&"blobs.dat".to_string()), "{n:?}");
    assert!(n.contains(&"blobs-00000001.dat".to_string()), "{n:?}");
    let store = Store::open(&dir, config()).unwrap();
    assert_eq!(store.recovery_report().key_index, KeyIndexOutcome::Loaded);
    assert_eq!(dump(&store), expected_after);
    // A second compaction moves to generation 2.
    store.delete(1).unwrap();
    store.compact_blobs().unwrap();
    expected_after.remove(&1);
    assert_eq!(dump(&store), expected_after);
    drop(store);
    let store = Store::open(&dir, config()).unwrap();
    assert_eq!(dump(&store), expected_after);
    let n = names(&dir);
    assert!(n.contains(&"blobs-00000002.dat".to_string()), "{n:?}");
    assert!(!n.contains(&"blobs-00000001.dat".to_string()), "{n:?}");
}

#[test]
fn a_crash_before_the_manifest_switch_keeps_the_old_files() {
    let tmp = tempdir();
    let dir = tmp.path().join("g");
    let expected = build(&dir);
    let before = copy_dir(&dir, tmp.path(), "before");
    let store = Store::open(&dir, config()).unwrap();
    store.compact_blobs().unwrap();
    drop(store);
    // The old state plus every new file, as if the crash came just before the manifest
    // (and the key index) were replaced; and the same with the new files still temp files.
    for as_tmp in [false, true] {
        let crash = copy_dir(&before, tmp.path(), &format!("crash-{as_tmp}"));
        let old = names(&crash);
        for f in data_files(&dir) {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            if !old.contains(&name) {
                let to = if as_tmp {
                    format!("{name}.tmp")
                } else {
                    name.clone()
                };
                fs::copy(&f, crash.join(to)).unwrap();
            }
        }
        let store = Store::open(&crash, config()).unwrap();
        assert_eq!(dump(&store), expected);
        assert!(!store.recovery_report().removed_files.is_empty());
        drop(store);
        assert_eq!(names(&crash), old);
    }
}

#[test]
fn a_crash_after_the_manifest_switch_finishes_the_deletions() {
    let tmp = tempdir();
    let dir = tmp.path().join("g");
    let expected = build(&dir);
    let before = copy_dir(&dir, tmp.path(), "before");
    let store = Store::open(&dir, config()).unwrap();
    store.compact_blobs().unwrap();
    drop(store);
    let after = names(&dir);
    // The new manifest is durable; the old segments, bitmaps and blob file are still there.
    for crash_key_index in [false, true] {
        let crash = copy_dir(&dir, tmp.path(), &format!("crash-{crash_key_index}"));
        for f in data_files(&before) {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            if !after.contains(&name) {
                fs::copy(&f, crash.join(&name)).unwrap();
            }
        }
        if crash_key_index {
            // The crash came between the manifest and the key index.
            fs::copy(before.join("KEYINDEX"), crash.join("KEYINDEX")).unwrap();
        }
        let store = Store::open(&crash, config()).unwrap();
        assert_eq!(dump(&store), expected);
        assert_eq!(
            matches!(
                store.recovery_report().key_index,
                KeyIndexOutcome::Rebuilt { .. }
            ),
            crash_key_index
        );
        drop(store);
        assert_eq!(names(&crash), after);
    }
}

#[test]
fn a_damaged_blob_refuses_the_compaction_and_changes_nothing() {
    let tmp = tempdir();
    let dir = tmp.path().join("g");
    let _ = build(&dir);
    // The first entry (key 1's blob) starts right after the 32-byte header.
    flip_byte(&dir.join("blobs.dat"), 32 + 8 + 3);
    let files_before = names(&dir);
    let store = Store::open(&dir, config()).unwrap();
    assert!(matches!(
        store.compact_blobs(),
        Err(StorageError::CorruptBlob { .. })
    ));
    // Key 1 still reads as damaged (never silently dropped); the others are intact.
    let snap = store.snapshot();
    assert!(snap.contains(1));
    assert!(snap.blob(1).is_err());
    assert!(snap.blob(5).unwrap().is_some());
    drop(snap);
    drop(store);
    let store = Store::open(&dir, config()).unwrap();
    assert!(store.snapshot().contains(1));
    drop(store);
    // Only the checkpoint's files changed (a new log); no blob file of another generation.
    assert!(names(&dir).iter().all(|n| !n.starts_with("blobs-")));
    assert!(files_before.contains(&"blobs.dat".to_string()));
}
