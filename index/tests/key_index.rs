//! The persisted key index: loaded when it fits the checkpoint, rebuilt (and said so) when
//! it is missing, stale or damaged; and the background scrub that quarantines damaged
//! records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod storage_common;

use std::fs;
use std::path::Path;

use storage_common::*;
use tunggal_index::storage::{
    KeyIndexOutcome, SlotAddr, StorageError, Store, StoreConfig, KEY_INDEX_NAME,
};

fn fast_config() -> StoreConfig {
    StoreConfig {
        verify_on_open: false,
        ..small_config()
    }
}

/// A store with 11 persons (one replaced, two deleted) checkpointed, then 3 more inserts
/// and a delete in the log only. Returns the contents every open must show.
fn build(dir: &Path) -> Contents {
    let store = Store::open(dir, fast_config()).unwrap();
    for key in 1..=11u64 {
        store
            .insert(key, &record(key, 0), &blob(key, 0, 10 + key as usize))
            .unwrap();
    }
    store.replace(4, &record(4, 1), &blob(4, 1, 7)).unwrap();
    store.delete(2).unwrap();
    store.delete(9).unwrap();
    store.checkpoint().unwrap();
    for key in 20..23u64 {
        store
            .insert(key, &record(key, 0), &blob(key, 0, 5))
            .unwrap();
    }
    store.delete(5).unwrap();
    let contents = dump(&store);
    store.close().unwrap();
    contents
}

#[test]
fn an_intact_key_index_is_loaded_and_the_log_applies_on_top() {
    let tmp = tempdir();
    let dir = tmp.path().join("g");
    let expected = build(&dir);
    let store = Store::open(&dir, fast_config()).unwrap();
    assert_eq!(store.recovery_report().key_index, KeyIndexOutcome::Loaded);
    assert_eq!(store.recovery_report().verified_records, 0);
    assert_eq!(dump(&store), expected);
}

#[test]
fn a_missing_key_index_is_rebuilt_and_reported() {
    let tmp = tempdir();
    let dir = tmp.path().join("g");
    let expected = build(&dir);
    fs::remove_file(dir.join(KEY_INDEX_NAME)).unwrap();
    let store = Store::open(&dir, fast_config()).unwrap();
    assert_eq!(
        store.recovery_report().key_index,
        KeyIndexOutcome::Rebuilt {
            reason: "missing".into()
        }
    );
    assert_eq!(dump(&store), expected);
    // The next checkpoint writes it again.
    store.checkpoint().unwrap();
    drop(store);
    let store = Store::open(&dir, fast_config()).unwrap();
    assert_eq!(store.recovery_report().key_index, KeyIndexOutcome::Loaded);
    assert_eq!(dump(&store), expected);
}

#[test]
fn a_key_index_of_an_earlier_checkpoint_is_not_used() {
    let tmp = tempdir();
    let dir = tmp.path().join("g");
    let _ = build(&dir);
    let old = fs::read(dir.join(KEY_INDEX_NAME)).unwrap();
    let store = Store::open(&dir, fast_config()).unwrap();
    store.delete(1).unwrap();
    store.checkpoint().unwrap();
    let expected = dump(&store);
    drop(store);
    // As if the crash came after the manifest was written but before the key index.
    fs::write(dir.join(KEY_INDEX_NAME), &old).unwrap();
    let store = Store::open(&dir, fast_config()).unwrap();
    assert!(matches!(
        &store.recovery_report().key_index,
        KeyIndexOutcome::Rebuilt { reason } if reason.contains("stale")
    ));
    assert_eq!(dump(&store), expected);
}

#[test]
fn compaction_writes_a_key_index_for_the_moved_records() {
    let tmp = tempdir();
    let dir = tmp.path().join("g");
    let _ = build(&dir);
    let store = Store::open(&dir, fast_config()).unwrap();
    let report = store.compact().unwrap();
    assert!(report.records_moved > 0);
    let expected = dump(&store);
    drop(store);
    let store = Store::open(&dir, fast_config()).unwrap();
    assert_eq!(store.recovery_report().key_index, KeyIndexOutcome::Loaded);
    assert_eq!(dump(&store), expected);
}

/// Every key a store finds maps to the record `expected` holds for it.
fn found_are_right(store: &Store, expected: &Contents) -> usize {
    let snap = store.snapshot();
    let mut found = 0;
    for (&key, (record, blob)) in expected {
        if let Some(r) = snap.get(key).unwrap() {
            assert_eq!(r.record, record.as_slice(), "key {key}");
            assert_eq!(&snap.read_blob(r.blob).unwrap(), blob, "key {key}");
            found += 1;
        }
    }
    for key in snap.keys() {
        assert!(expected.contains_key(&key), "key {key} is not live");
    }
    found
}

#[test]
fn damage_at_every_offset_of_the_key_index_is_found_with_every_person_kept() {
    let tmp = tempdir();
    let dir = tmp.path().join("g");
    let expected = build(&dir);
    let len = fs::metadata(dir.join(KEY_INDEX_NAME)).unwrap().len() as usize;
    // The header (magic, version, checkpoint, manifest CRC, count, header CRC) is checked
    // at open; the entries and the whole-file CRC by the scrub.
    let header_checked = 44;
    let (mut loaded, mut rebuilt_late) = (0, 0);
    for at in 0..len {
        let copy = copy_dir(&dir, tmp.path(), &format!("flip-{at}"));
        flip_byte(&copy.join(KEY_INDEX_NAME), at);
        let store = Store::open(&copy, fast_config()).unwrap();
        match &store.recovery_report().key_index {
            KeyIndexOutcome::Rebuilt { reason } => {
                // Past the header, only when the log's replay looked up a key the damaged
                // table lost, which made the open check the table's CRC.
                assert!(
                    at < header_checked || reason.contains("checksum mismatch"),
                    "byte {at}: {reason}"
                );
                rebuilt_late += usize::from(at >= header_checked);
                assert_eq!(dump(&store), expected, "byte {at}");
                assert_eq!(store.scrub().key_index, None, "byte {at}");
            }
            KeyIndexOutcome::Loaded => {
                assert!(at >= header_checked, "byte {at}");
                loaded += 1;
                // No wrong record before the scrub; the scrub finds the damage and rebuilds
                // the map, after which every person is there and nothing is quarantined.
                found_are_right(&store, &expected);
                let report = store.scrub();
                assert!(
                    report
                        .key_index
                        .as_deref()
                        .is_some_and(|r| r.contains("checksum mismatch")),
                    "byte {at}: {report:?}"
                );
                assert!(report.quarantined.is_empty(), "byte {at}");
                assert_eq!(dump(&store), expected, "byte {at}");
            }
            other => panic!("byte {at}: {other:?}"),
        }
        drop(store);
        fs::remove_dir_all(&copy).unwrap();
    }
    assert_eq!(loaded + rebuilt_late, len - header_checked);
    assert!(
        loaded > 0 && rebuilt_late > 0,
        "{loaded} loaded, {rebuilt_late} rebuilt"
    );
    for cut in 0..len {
        let copy = copy_dir(&dir, tmp.path(), &format!("cut-{cut}"));
        truncate(&copy.join(KEY_INDEX_NAME), cut as u64);
        let store = Store::open(&copy, fast_config()).unwrap();
        assert!(
            matches!(
                &store.recovery_report().key_index,
                KeyIndexOutcome::Rebuilt { .. }
            ),
            "cut at {cut}"
        );
        assert_eq!(dump(&store), expected, "cut at {cut}");
        drop(store);
        fs::remove_dir_all(&copy).unwrap();
    }
}

#[test]
fn a_loaded_key_index_answers_lookups_and_ranges_through_later_writes() {
    let tmp = tempdir();
    let dir = tmp.path().join("g");
    let _ = build(&dir);
    let store = Store::open(&dir, fast_config()).unwrap();
    assert_eq!(store.recovery_report().key_index, KeyIndexOutcome::Loaded);
    // Deleted, replaced and reinserted keys since the checkpoint.
    store.delete(1).unwrap();
    store.replace(3, &record(3, 7), &blob(3, 7, 4)).unwrap();
    store.delete(3).unwrap();
    store.insert(3, &record(3, 8), &blob(3, 8, 6)).unwrap();
    store.insert(2, &record(2, 9), &blob(2, 9, 3)).unwrap();
    let expected = dump(&store);
    assert!(!expected.contains_key(&1));
    assert_eq!(store.get(3).unwrap().unwrap(), record(3, 8));
    assert_eq!(store.len(), expected.len());
    let mut from: Vec<u64> = store.snapshot().keys_from(8).collect();
    from.sort_unstable();
    let want: Vec<u64> = expected.keys().copied().filter(|&k| k >= 8).collect();
    assert_eq!(from, want);
    // The same after a checkpoint (a new table) and after a reopen.
    store.checkpoint().unwrap();
    assert_eq!(dump(&store), expected);
    drop(store);
    let store = Store::open(&dir, fast_config()).unwrap();
    assert_eq!(store.recovery_report().key_index, KeyIndexOutcome::Loaded);
    assert_eq!(dump(&store), expected);
    assert_eq!(store.scrub().key_index, None);
}

#[test]
fn a_version_1_key_index_is_rebuilt() {
    let tmp = tempdir();
    let dir = tmp.path().join("g");
    let expected = build(&dir);
    let path = dir.join(KEY_INDEX_NAME);
    let mut b = fs::read(&path).unwrap();
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    fs::write(&path, &b).unwrap();
    let store = Store::open(&dir, fast_config()).unwrap();
    assert!(matches!(
        &store.recovery_report().key_index,
        KeyIndexOutcome::Rebuilt { reason } if reason.contains("version 1")
    ));
    assert_eq!(dump(&store), expected);
}

#[test]
fn the_scrub_quarantines_a_damaged_checkpointed_record() {
    let tmp = tempdir();
    let dir = tmp.path().join("g");
    let _ = build(&dir);
    // Key 3 is slot 2 of segment 1 (four slots per segment, keys 1.. inserted in order).
    let seg = dir.join("seg-00000001.dat");
    let records_offset = (64 + 32 * 4usize).div_ceil(64) * 64;
    flip_byte(&seg, records_offset + 2 * STRIDE as usize + 5);
    let store = Store::open(&dir, fast_config()).unwrap();
    assert_eq!(store.recovery_report().key_index, KeyIndexOutcome::Loaded);
    let progress = store.scrub_progress();
    let report = store.scrub();
    let addr = SlotAddr {
        segment: 1,
        slot: 2,
    };
    assert_eq!(report.quarantined, vec![(addr, 3)]);
    assert_eq!(progress.quarantined(), 1);
    assert_eq!(progress.passes(), 1);
    assert_eq!(progress.checked(), report.checked);
    assert_eq!(report.checked, store.len() as u64);
    let snap = store.snapshot();
    assert!(matches!(
        snap.get(3),
        Err(StorageError::CorruptRecord {
            segment: 1,
            slot: 2
        })
    ));
    let seg0 = snap.segments().next().unwrap();
    assert!(!seg0.is_live(2));
    assert!(seg0.live_slots().all(|s| s != 2));
    drop(snap);
    // A second pass finds nothing new.
    assert!(store.scrub().quarantined.is_empty());
    // With verification on open the damage is refused outright.
    drop(store);
    assert!(matches!(
        Store::open(&dir, small_config()),
        Err(StorageError::CorruptRecord {
            segment: 1,
            slot: 2
        })
    ));
}

#[test]
fn a_key_the_caller_expects_sends_a_damaged_table_back_to_the_slots() {
    let tmp = tempdir();
    let dir = tmp.path().join("g");
    let expected = build(&dir);
    // The first entry (the smallest key, 1, which no later log entry touches) names
    // another key once its low byte is flipped.
    flip_byte(&dir.join(KEY_INDEX_NAME), 48);
    let store = Store::open_approved(&dir, fast_config(), |recovered| {
        assert!(recovered.key_index_loaded);
        if recovered.holds(1) {
            Ok(())
        } else {
            Err("key 1 missing".into())
        }
    })
    .unwrap();
    assert!(matches!(
        &store.recovery_report().key_index,
        KeyIndexOutcome::Rebuilt { reason } if reason.contains("checksum mismatch")
    ));
    assert_eq!(dump(&store), expected);
}
