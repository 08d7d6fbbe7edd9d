//! Storage benchmarks: log append throughput with group commit, and cold open (map,
//! verify, replay) of a one-million-record gallery.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tunggal_index::storage::{Durability, Store, StoreConfig};

const STRIDE: u32 = 512;
const BLOB_LEN: usize = 1024;

fn config(durability: Durability) -> StoreConfig {
    StoreConfig {
        durability,
        checkpoint_wal_bytes: Some(64 << 20),
        ..StoreConfig::new(STRIDE)
    }
}

/// Inserts `total` records split over `threads` writers; returns the elapsed time.
fn run_writers(
    store: &Arc<Store>,
    next_key: &Arc<AtomicU64>,
    threads: u64,
    total: u64,
) -> Duration {
    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    let per_thread = total.div_ceil(threads);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let store = Arc::clone(store);
            let next_key = Arc::clone(next_key);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let record = vec![0x5Au8; STRIDE as usize];
                let blob = vec![0xC3u8; BLOB_LEN];
                barrier.wait();
                for _ in 0..per_thread {
                    let key = next_key.fetch_add(1, Ordering::Relaxed);
                    store.insert(key, &record, &blob).unwrap();
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        h.join().unwrap();
    }
    start.elapsed()
}

fn wal_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_append");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(1));
    for (name, durability) in [
        ("sync_per_batch", Durability::SyncPerBatch),
        ("no_sync", Durability::NoSync),
    ] {
        for threads in [1u64, 4, 16] {
            let dir = tempfile::tempdir().unwrap();
            let store = Arc::new(Store::open(dir.path(), config(durability)).unwrap());
            let next_key = Arc::new(AtomicU64::new(0));
            group.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &threads| {
                b.iter_custom(|iters| run_writers(&store, &next_key, threads, iters));
            });
            let fsyncs = store.wal_fsyncs();
            let records = next_key.load(Ordering::Relaxed);
            eprintln!(
                "wal_append/{name}/{threads}: {records} records, {fsyncs} log fsyncs ({:.1} records per fsync)",
                records as f64 / fsyncs.max(1) as f64
            );
            drop(store);
        }
    }
    group.finish();
}

const GALLERY: u64 = 1_000_000;
const TAIL: u64 = 100_000;

fn fill(store: &Store, keys: std::ops::Range<u64>) {
    let mut record = vec![0u8; STRIDE as usize];
    for key in keys {
        record[..8].copy_from_slice(&key.to_le_bytes());
        store.insert(key, &record, &[]).unwrap();
    }
}

fn cold_open(c: &mut Criterion) {
    let mut group = c.benchmark_group("cold_open_1M_x_512B");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(5));

    let dir = tempfile::tempdir().unwrap();
    let build = StoreConfig {
        checkpoint_wal_bytes: Some(256 << 20),
        ..config(Durability::NoSync)
    };
    let t = Instant::now();
    let store = Store::open(dir.path(), build).unwrap();
    fill(&store, 0..GALLERY);
    store.checkpoint().unwrap();
    store.close().unwrap();
    eprintln!("built {GALLERY} records of {STRIDE} B in {:?}", t.elapsed());

    for (name, verify) in [
        ("checkpointed_verify", true),
        ("checkpointed_no_verify", false),
    ] {
        let cfg = StoreConfig {
            verify_on_open: verify,
            ..build
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let store = Store::open(dir.path(), cfg).unwrap();
                assert_eq!(store.len() as u64, GALLERY);
                store
            });
        });
    }

    let store = Store::open(dir.path(), build).unwrap();
    fill(&store, GALLERY..GALLERY + TAIL);
    drop(store); // crash: the tail stays in the log
    group.bench_function("checkpointed_verify_plus_100k_log_replay", |b| {
        b.iter(|| {
            let store = Store::open(dir.path(), build).unwrap();
            assert_eq!(store.recovery_report().wal.replayed, TAIL);
            store
        });
    });
    group.finish();
}

criterion_group!(benches, wal_append, cold_open);
criterion_main!(benches);
