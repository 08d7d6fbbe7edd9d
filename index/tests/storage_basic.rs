//! Round trips through the store: insert, delete, replace, typed views, blobs, growth,
//! sealing, compaction, the directory lock and configuration checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod storage_common;

use bytemuck::{Pod, Zeroable};
use storage_common::{blob, dump, files, record, small_config, Contents, STRIDE};
use tunggal_index::storage::{Durability, StorageError, Store, StoreConfig};

#[test]
fn insert_get_blob_and_reopen() {
    let dir = storage_common::tempdir();
    let mut model = Contents::new();
    {
        let store = Store::open(dir.path(), small_config()).unwrap();
        for k in 0..10u64 {
            let (r, b) = (record(k, 0), blob(k, 0, (k as usize * 7) % 23));
            let lsn = store.insert(k, &r, &b).unwrap();
            assert_eq!(lsn, k + 1);
            model.insert(k, (r, b));
        }
        assert_eq!(dump(&store), model);
        assert_eq!(store.get(3).unwrap(), Some(record(3, 0)));
        assert_eq!(store.get(99).unwrap(), None);
        assert_eq!(store.blob(4).unwrap(), Some(blob(4, 0, 5)));
        // 10 records at 4 per segment: three segments, the first two sealed (full).
        let snap = store.snapshot();
        let lens: Vec<u32> = snap.segments().map(|s| s.len()).collect();
        assert_eq!(lens, vec![4, 4, 2]);
        drop(snap);
        store.close().unwrap();
    }
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert_eq!(store.recovery_report().wal.replayed, 10);
    assert_eq!(dump(&store), model);
    assert_eq!(store.last_lsn(), 10);
    // New LSNs continue after the replayed ones.
    assert_eq!(store.insert(100, &record(100, 0), b"x").unwrap(), 11);
}

#[test]
fn delete_replace_and_errors() {
    let dir = storage_common::tempdir();
    let store = Store::open(dir.path(), small_config()).unwrap();
    store.insert(1, &record(1, 0), b"one").unwrap();
    store.insert(2, &record(2, 0), b"two").unwrap();
    assert!(matches!(
        store.insert(1, &record(1, 1), b""),
        Err(StorageError::DuplicateKey(1))
    ));
    assert!(matches!(store.delete(3), Err(StorageError::KeyNotFound(3))));
    assert!(matches!(
        store.replace(3, &record(3, 0), b""),
        Err(StorageError::KeyNotFound(3))
    ));
    assert!(matches!(
        store.insert(4, &[0u8; 10], b""),
        Err(StorageError::RecordSize {
            stride: 64,
            found: 10
        })
    ));
    store.replace(1, &record(1, 9), b"uno").unwrap();
    store.delete(2).unwrap();
    assert_eq!(store.get(1).unwrap(), Some(record(1, 9)));
    assert_eq!(store.blob(1).unwrap(), Some(b"uno".to_vec()));
    assert_eq!(store.get(2).unwrap(), None);
    assert_eq!(store.len(), 1);
    // A deleted key can be inserted again.
    store.insert(2, &record(2, 5), b"deux").unwrap();
    assert_eq!(store.get(2).unwrap(), Some(record(2, 5)));
    // The replaced and deleted slots are still there, marked deleted.
    let snap = store.snapshot();
    let seg = snap.segments().next().unwrap();
    assert_eq!(seg.len(), 4);
    assert_eq!(seg.live_count(), 2);
    assert!(!seg.is_live(0) && !seg.is_live(1) && seg.is_live(2) && seg.is_live(3));
    drop(snap);
    drop(store);
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert_eq!(store.get(1).unwrap(), Some(record(1, 9)));
    assert_eq!(store.get(2).unwrap(), Some(record(2, 5)));
    assert_eq!(store.len(), 2);
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
struct Probe {
    id: u64,
    code: [u64; 7],
}

#[test]
fn typed_zero_copy_view() {
    let dir = storage_common::tempdir();
    let store = Store::open(dir.path(), small_config()).unwrap();
    for k in 0..3u64 {
        let p = Probe {
            id: k * 10,
            code: [k; 7],
        };
        store.insert(k, bytemuck::bytes_of(&p), b"").unwrap();
    }
    let snap = store.snapshot();
    let seg = snap.segments().next().unwrap();
    let probes: &[Probe] = seg.records::<Probe>().unwrap();
    assert_eq!(probes.len(), 3);
    assert_eq!(probes[2].id, 20);
    assert_eq!(probes[1].code, [1u64; 7]);
    assert!(matches!(
        seg.records::<u64>(),
        Err(StorageError::TypeMismatch { size: 8, .. })
    ));
}

#[test]
fn directory_lock_is_exclusive() {
    let dir = storage_common::tempdir();
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert!(matches!(
        Store::open(dir.path(), small_config()),
        Err(StorageError::Locked(_))
    ));
    drop(store);
    Store::open(dir.path(), small_config()).unwrap();
}

#[test]
fn config_is_checked() {
    let dir = storage_common::tempdir();
    let bad = StoreConfig {
        stride: 60,
        ..small_config()
    };
    assert!(matches!(
        Store::open(dir.path(), bad),
        Err(StorageError::InvalidConfig(_))
    ));
    drop(Store::open(dir.path(), small_config()).unwrap());
    let other = StoreConfig {
        stride: 128,
        ..small_config()
    };
    assert!(matches!(
        Store::open(dir.path(), other),
        Err(StorageError::ConfigMismatch(_))
    ));
}

#[test]
fn checkpoint_rotates_log_and_keeps_state() {
    let dir = storage_common::tempdir();
    let mut model = Contents::new();
    let store = Store::open(dir.path(), small_config()).unwrap();
    for k in 0..6u64 {
        store.insert(k, &record(k, 0), &blob(k, 0, 9)).unwrap();
        model.insert(k, (record(k, 0), blob(k, 0, 9)));
    }
    store.delete(1).unwrap();
    model.remove(&1);
    store.checkpoint().unwrap();
    assert_eq!(store.checkpoint_lsn(), 7);
    let logs = files(dir.path(), "wal-", ".log");
    assert_eq!(logs.len(), 1);
    assert!(logs[0].ends_with("wal-0000000000000008.log"));
    assert_eq!(files(dir.path(), "seg-", ".del").len(), 1);
    store.replace(2, &record(2, 1), b"r").unwrap();
    model.insert(2, (record(2, 1), b"r".to_vec()));
    drop(store);
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert_eq!(store.recovery_report().wal.replayed, 1);
    assert_eq!(store.recovery_report().verified_records, 5);
    assert_eq!(dump(&store), model);
}

#[test]
fn automatic_checkpoint_bounds_the_log() {
    let dir = storage_common::tempdir();
    let cfg = StoreConfig {
        checkpoint_wal_bytes: Some(1024),
        ..small_config()
    };
    let store = Store::open(dir.path(), cfg).unwrap();
    for k in 0..40u64 {
        store.insert(k, &record(k, 0), &blob(k, 0, 20)).unwrap();
    }
    assert!(store.checkpoint_lsn() > 30);
    for log in files(dir.path(), "wal-", ".log") {
        assert!(std::fs::metadata(&log).unwrap().len() <= 4096 + 1024 + 200);
    }
    drop(store);
    let store = Store::open(dir.path(), cfg).unwrap();
    assert_eq!(store.len(), 40);
}

#[test]
fn compaction_drops_deleted_slots() {
    let dir = storage_common::tempdir();
    let mut model = Contents::new();
    let store = Store::open(dir.path(), small_config()).unwrap();
    for k in 0..12u64 {
        store.insert(k, &record(k, 0), &blob(k, 0, 5)).unwrap();
        model.insert(k, (record(k, 0), blob(k, 0, 5)));
    }
    for k in [0u64, 1, 2, 5, 9] {
        store.delete(k).unwrap();
        model.remove(&k);
    }
    store.replace(3, &record(3, 7), b"new").unwrap();
    model.insert(3, (record(3, 7), b"new".to_vec()));
    let before: Vec<u32> = store.snapshot().segments().map(|s| s.id()).collect();
    let report = store.compact().unwrap();
    // Segments 1-3 hold deletions; segment 4 holds only the new version of key 3.
    assert_eq!(report.slots_dropped, 6);
    assert_eq!(report.records_moved, 6);
    assert_eq!(report.segments_removed, 3);
    assert_eq!(report.segments_written, 2);
    assert_eq!(dump(&store), model);
    let snap = store.snapshot();
    let after: Vec<(u32, u32, u32)> = snap
        .segments()
        .map(|s| (s.id(), s.len(), s.live_count()))
        .collect();
    drop(snap);
    assert_eq!(before, vec![1, 2, 3, 4]);
    assert_eq!(after, vec![(4, 1, 1), (5, 4, 4), (6, 2, 2)]);
    assert_eq!(files(dir.path(), "seg-", ".dat").len(), 3);
    assert_eq!(files(dir.path(), "seg-", ".del").len(), 0);
    assert!(files(dir.path(), "", ".tmp").is_empty());
    // Compacting again finds nothing to do.
    assert_eq!(store.compact().unwrap().segments_removed, 0);
    // Inserts continue in the last, partly filled segment.
    store.insert(50, &record(50, 0), b"").unwrap();
    model.insert(50, (record(50, 0), Vec::new()));
    drop(store);
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert_eq!(dump(&store), model);
}

#[test]
fn periodic_sync_mode_commits_and_syncs() {
    let dir = storage_common::tempdir();
    let cfg = StoreConfig {
        durability: Durability::SyncEveryMs(5),
        ..small_config()
    };
    let store = Store::open(dir.path(), cfg).unwrap();
    store.insert(1, &record(1, 0), b"a").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while store.wal_fsyncs() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(store.wal_fsyncs() > 0);
    drop(store);
    let store = Store::open(dir.path(), cfg).unwrap();
    assert_eq!(store.get(1).unwrap(), Some(record(1, 0)));
}

#[test]
fn large_stride_records_grow_segment_files() {
    let dir = storage_common::tempdir();
    let cfg = StoreConfig {
        stride: 512,
        segment_max_records: 1000,
        grow_records: 16,
        ..small_config()
    };
    let store = Store::open(dir.path(), cfg).unwrap();
    for k in 0..300u64 {
        store.insert(k, &vec![k as u8; 512], b"").unwrap();
    }
    store.checkpoint().unwrap();
    drop(store);
    let store = Store::open(dir.path(), cfg).unwrap();
    let snap = store.snapshot();
    let seg = snap.segments().next().unwrap();
    assert_eq!(seg.len(), 300);
    assert_eq!(seg.records_bytes().len(), 300 * 512);
    assert_eq!(seg.record(299), vec![43u8; 512].as_slice());
    let _ = STRIDE;
}

#[test]
fn insert_batch_commits_once_and_refuses_bad_batches_whole() {
    let dir = storage_common::tempdir();
    let config = StoreConfig {
        durability: Durability::SyncPerBatch,
        ..small_config()
    };
    let store = Store::open(dir.path(), config).unwrap();
    store.insert(1, &record(1, 0), b"one").unwrap();
    let fsyncs = store.wal_fsyncs();
    let mut model = dump(&store);
    let items: Vec<(u64, Vec<u8>, Vec<u8>)> = (10..20u64)
        .map(|k| (k, record(k, 0), blob(k, 0, k as usize % 5)))
        .collect();
    let refs: Vec<(u64, &[u8], &[u8])> = items
        .iter()
        .map(|(k, r, b)| (*k, r.as_slice(), b.as_slice()))
        .collect();
    // Consecutive LSNs after the single insert; one fsync for the ten entries.
    assert_eq!(store.insert_batch(&refs).unwrap(), 11);
    assert_eq!(store.wal_fsyncs(), fsyncs + 1);
    for (k, r, b) in &items {
        model.insert(*k, (r.clone(), b.clone()));
    }
    assert_eq!(dump(&store), model);

    // Bad batches apply nothing.
    let r = record(30, 0);
    let short = [0u8; 10];
    let live: Vec<(u64, &[u8], &[u8])> = vec![(30, &r, b"a"), (12, &r, b"b")];
    assert!(matches!(
        store.insert_batch(&live),
        Err(StorageError::DuplicateKey(12))
    ));
    let twice: Vec<(u64, &[u8], &[u8])> = vec![(30, &r, b"a"), (31, &r, b""), (30, &r, b"c")];
    assert!(matches!(
        store.insert_batch(&twice),
        Err(StorageError::DuplicateKey(30))
    ));
    let sized: Vec<(u64, &[u8], &[u8])> = vec![(30, &r, b"a"), (31, &short, b"")];
    assert!(matches!(
        store.insert_batch(&sized),
        Err(StorageError::RecordSize { .. })
    ));
    assert_eq!(dump(&store), model);
    assert_eq!(store.last_lsn(), 11);
    // An empty batch logs nothing.
    assert_eq!(store.insert_batch(&[]).unwrap(), 11);

    drop(store); // crash
    let store = Store::open(dir.path(), config).unwrap();
    assert_eq!(dump(&store), model);
    assert_eq!(store.recovery_report().wal.replayed, 11);
}
