//! Helpers shared by the storage integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use tunggal_index::storage::{Durability, Store, StoreConfig};

pub const STRIDE: u32 = 64;

/// Small geometry so that a handful of records spans several segments and growth steps.
pub fn small_config() -> StoreConfig {
    StoreConfig {
        stride: STRIDE,
        segment_max_records: 4,
        grow_records: 1,
        durability: Durability::NoSync,
        verify_on_open: true,
        checkpoint_wal_bytes: None,
    }
}

/// Deterministic record content for a key and version.
pub fn record(key: u64, version: u8) -> Vec<u8> {
    (0..STRIDE as usize)
        .map(|i| (key as u8).wrapping_mul(31) ^ (i as u8).wrapping_mul(7) ^ version)
        .collect()
}

/// Deterministic blob content (length varies with key and version).
pub fn blob(key: u64, version: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8) ^ (key as u8) ^ version.wrapping_mul(13))
        .collect()
}

/// Key → (record, blob) of all live records, blobs read and checked.
pub type Contents = BTreeMap<u64, (Vec<u8>, Vec<u8>)>;

pub fn dump(store: &Store) -> Contents {
    let snap = store.snapshot();
    let mut out = BTreeMap::new();
    for key in snap.keys() {
        let r = snap.get(key).unwrap().unwrap();
        let b = snap.read_blob(r.blob).unwrap();
        out.insert(key, (r.record.to_vec(), b));
    }
    // The segment views must agree with the key index.
    let mut live = 0;
    for seg in snap.segments() {
        for slot in seg.live_slots() {
            let key = seg.meta(slot).key;
            assert_eq!(seg.record(slot), out[&key].0.as_slice());
            live += 1;
        }
    }
    assert_eq!(live, out.len());
    out
}

/// Copies every regular file of `src` into a fresh directory under `parent`.
pub fn copy_dir(src: &Path, parent: &Path, name: &str) -> PathBuf {
    let dst = parent.join(name);
    if dst.exists() {
        fs::remove_dir_all(&dst).unwrap();
    }
    fs::create_dir_all(&dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
    dst
}

/// Paths in `dir` whose names start with `prefix` and end with `suffix`, sorted.
pub fn files(dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with(prefix) && n.ends_with(suffix)
        })
        .collect();
    v.sort();
    v
}

pub fn flip_byte(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    b[at] ^= 0xA5;
    fs::write(path, b).unwrap();
}

pub fn truncate(path: &Path, len: u64) {
    let f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len).unwrap();
}

/// A temporary directory, on tmpfs when the machine has one: these tests create thousands
/// of small stores and their fsyncs would otherwise dominate the run time.
pub fn tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}
