//! Group commit: concurrent writers share fsyncs, and every acknowledged record survives a
//! crash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod storage_common;

use std::sync::{Arc, Barrier};

use storage_common::{blob, record, small_config};
use tunggal_index::storage::{Durability, Store, StoreConfig};

const THREADS: u64 = 8;
const PER_THREAD: u64 = 100;

#[test]
fn concurrent_writers_share_fsyncs_and_survive_a_crash() {
    // On the regular filesystem, not tmpfs: an fsync that returns instantly leaves nothing
    // for followers to share.
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        durability: Durability::SyncPerBatch,
        segment_max_records: 64,
        ..small_config()
    };
    let store = Arc::new(Store::open(dir.path(), cfg).unwrap());
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let mut acked = Vec::new();
                for i in 0..PER_THREAD {
                    let key = t * 1_000 + i;
                    store
                        .insert(key, &record(key, 0), &blob(key, 0, 16))
                        .unwrap();
                    acked.push(key);
                }
                acked
            })
        })
        .collect();
    let acked: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let records = THREADS * PER_THREAD;
    assert_eq!(acked.len() as u64, records);
    let fsyncs = store.wal_fsyncs();
    assert!(fsyncs >= 1);
    // Every commit waited for an fsync, yet followers rode on their leader's.
    assert!(
        fsyncs * 2 < records,
        "{fsyncs} fsyncs for {records} records: no group commit"
    );
    eprintln!("{records} records, {fsyncs} fsyncs");
    drop(store); // crash
    let store = Store::open(dir.path(), cfg).unwrap();
    assert_eq!(store.len() as u64, records);
    for key in acked {
        assert_eq!(store.get(key).unwrap(), Some(record(key, 0)));
        assert_eq!(store.blob(key).unwrap(), Some(blob(key, 0, 16)));
    }
}

#[test]
fn readers_see_consistent_snapshots_while_writers_run() {
    let dir = storage_common::tempdir();
    let store = Arc::new(Store::open(dir.path(), small_config()).unwrap());
    let writer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            for k in 0..300u64 {
                store.insert(k, &record(k, 0), b"").unwrap();
                if k % 3 == 0 {
                    store.delete(k).unwrap();
                }
            }
        })
    };
    while !writer.is_finished() {
        let snap = store.snapshot();
        let live: usize = snap.segments().map(|s| s.live_count() as usize).sum();
        assert_eq!(live, snap.len());
        for seg in snap.segments() {
            for slot in seg.live_slots() {
                let key = seg.meta(slot).key;
                assert_eq!(seg.record(slot), record(key, 0).as_slice());
            }
        }
    }
    writer.join().unwrap();
    assert_eq!(store.len(), 200);
}
