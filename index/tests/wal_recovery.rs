//! Crash recovery of the write-ahead log: logs truncated or corrupted at every byte offset
//! of a small store, torn batches, a later log file after damage, the previous log format,
//! and a refused recovery.
//!
//! Expected outcomes (as documented in FORMAT.md): refused (`WalCorrupt` or a header error)
//! when the damage reaches an entry the log's commit slot vouches for, a later valid entry
//! follows it, or it hits the header; otherwise (a torn tail) the store opens with exactly
//! the entries before the damaged frame, the tail is kept aside and cut, and later appends
//! are clean. Segments created after the checkpoint are rebuilt from the log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod storage_common;

use std::fs;
use std::path::{Path, PathBuf};

use storage_common::{
    blob, copy_dir, dump, files, flip_byte, record, small_config, truncate, Contents,
};
use tunggal_index::storage::{Durability, StorageError, Store, StoreConfig};

/// A store whose log holds every operation, with the log length and the expected contents
/// after each operation (index 0: before any).
struct LogScenario {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    ends: Vec<u64>,
    states: Vec<Contents>,
    /// Operations the log's commit slot vouches for, read back from the file.
    vouched: usize,
}

fn wal_path_of(dir: &Path, start: u64) -> PathBuf {
    dir.join(format!("wal-{start:016x}.log"))
}

fn wal_path(dir: &Path) -> PathBuf {
    let logs = files(dir, "wal-", ".log");
    assert_eq!(logs.len(), 1);
    logs[0].clone()
}

/// The LSN of the valid commit slot with the highest sequence (FORMAT.md: two 32-byte
/// slots at offsets 32 and 64 of the header, `seq u64 | committed u64 | 0 | crc u32`).
fn vouched_lsn(wal: &Path) -> u64 {
    let bytes = fs::read(wal).unwrap();
    let start = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
    let mut best = (0u64, 0u64);
    for at in [32usize, 64] {
        let s = &bytes[at..at + 32];
        let mut h = crc32fast::Hasher::new();
        h.update(&start.to_le_bytes());
        h.update(&s[..28]);
        if h.finalize() == u32::from_le_bytes(s[28..32].try_into().unwrap()) {
            let seq = u64::from_le_bytes(s[..8].try_into().unwrap());
            let committed = u64::from_le_bytes(s[8..16].try_into().unwrap());
            best = best.max((seq, committed));
        }
    }
    best.1
}

/// Seven operations (five inserts, a delete, a replace), each its own commit, under
/// `durability`; then a crash (`close: false`) or a clean close.
fn log_scenario_with(durability: Durability, close: bool) -> LogScenario {
    let tmp = storage_common::tempdir();
    let dir = tmp.path().join("src");
    let config = StoreConfig {
        durability,
        ..small_config()
    };
    let store = Store::open(&dir, config).unwrap();
    let wal = wal_path(&dir);
    let mut model = Contents::new();
    let mut ends = vec![fs::metadata(&wal).unwrap().len()];
    let mut states = vec![model.clone()];
    let mut step = |model: &Contents| {
        ends.push(fs::metadata(&wal).unwrap().len());
        states.push(model.clone());
    };
    for k in 0..5u64 {
        let b = blob(k, 0, 3 + k as usize * 4);
        store.insert(k, &record(k, 0), &b).unwrap();
        model.insert(k, (record(k, 0), b));
        step(&model);
    }
    store.delete(2).unwrap();
    model.remove(&2);
    step(&model);
    store.replace(4, &record(4, 1), b"v2").unwrap();
    model.insert(4, (record(4, 1), b"v2".to_vec()));
    step(&model);
    if close {
        store.close().unwrap();
    } else {
        drop(store); // crash: no checkpoint, no close
    }
    let vouched = vouched_lsn(&wal) as usize;
    LogScenario {
        _tmp: tmp,
        dir,
        ends,
        states,
        vouched,
    }
}

/// A crash of a store that never fsyncs: nothing is vouched for beyond the header.
fn log_scenario() -> LogScenario {
    log_scenario_with(Durability::NoSync, false)
}

impl LogScenario {
    /// Number of whole operations when the log is intact up to byte `t`.
    fn whole_at(&self, t: u64) -> usize {
        self.ends.iter().rposition(|&e| e <= t).unwrap_or(0)
    }

    /// Expected contents when the log is intact up to byte `t`.
    fn expected_at(&self, t: u64) -> &Contents {
        &self.states[self.whole_at(t)]
    }

    fn work(&self) -> PathBuf {
        copy_dir(&self.dir, self.dir.parent().unwrap(), "case")
    }

    /// Offsets worth damaging: the fixed header and both slots, a sample of the reserved
    /// rest of the header, and every byte of every frame.
    fn offsets(&self) -> impl Iterator<Item = u64> + '_ {
        (0..96)
            .chain((96..self.ends[0]).step_by(397))
            .chain(self.ends[0]..*self.ends.last().unwrap())
    }
}

/// Truncation at every offset of a crashed log: a cut into an entry the commit slot vouches
/// for is refused; a cut past it (the unvouched last commit) recovers the prefix; a cut
/// into the header is refused.
fn check_truncation(s: &LogScenario) {
    let len = *s.ends.last().unwrap();
    for t in 0..=len {
        let dir = s.work();
        truncate(&wal_path(&dir), t);
        let whole = s.whole_at(t);
        let opened = Store::open(&dir, small_config());
        if t < s.ends[0] || whole < s.vouched {
            let e = opened
                .err()
                .unwrap_or_else(|| panic!("truncated at {t}: opened"));
            assert!(e.is_corruption(), "truncated at {t}: {e}");
            continue;
        }
        let store = opened.unwrap_or_else(|e| panic!("truncated at {t}: {e}"));
        let expected = s.expected_at(t).clone();
        assert_eq!(dump(&store), expected, "truncated at {t}");
        assert_eq!(
            store.recovery_report().wal.truncated_bytes,
            t - s.ends[whole]
        );
        if t > s.ends[whole] {
            let torn = store.recovery_report().wal.torn_tail.clone().unwrap();
            assert_eq!(
                fs::metadata(&torn.kept_in).unwrap().len(),
                t - s.ends[whole]
            );
        }
        // Appends after the cut tail are clean.
        store.insert(1000, &record(1000, 0), b"after").unwrap();
        drop(store);
        let store = Store::open(&dir, small_config()).unwrap();
        let mut with_new = expected;
        with_new.insert(1000, (record(1000, 0), b"after".to_vec()));
        assert_eq!(dump(&store), with_new, "reopened after truncation at {t}");
        assert_eq!(store.recovery_report().wal.truncated_bytes, 0);
    }
}

#[test]
fn log_truncated_at_every_offset_recovers_the_prefix_when_nothing_is_vouched() {
    let s = log_scenario();
    assert_eq!(s.vouched, 0);
    check_truncation(&s);
}

#[test]
fn log_truncated_at_every_offset_never_cuts_a_vouched_commit() {
    let s = log_scenario_with(Durability::SyncPerBatch, false);
    // Each leader vouches for the commits before its own batch: at least six of seven.
    assert!(s.vouched >= 6, "vouched {}", s.vouched);
    check_truncation(&s);
}

/// Flip one byte at every offset of the log. An open either fails with a corruption error
/// or recovers every entry the commit slot vouches for (and then exactly the entries before
/// the damaged frame, or all of them when the damaged byte is not part of an entry).
fn check_flips(s: &LogScenario) -> (u32, u32) {
    let (mut refused, mut opened) = (0, 0);
    for t in s.offsets() {
        let dir = s.work();
        flip_byte(&wal_path(&dir), t as usize);
        match Store::open(&dir, small_config()) {
            Ok(store) => {
                opened += 1;
                let got = dump(&store);
                assert!(t >= 32, "corrupt log header at {t} was accepted");
                let whole = s.whole_at(t);
                if t < s.ends[0] {
                    assert_eq!(&got, s.states.last().unwrap(), "flipped at {t}");
                } else {
                    assert!(
                        whole >= s.vouched,
                        "flip at {t} cut vouched entry {}",
                        whole + 1
                    );
                    assert_eq!(&got, s.expected_at(t), "flipped at {t}");
                }
            }
            Err(e) => {
                refused += 1;
                assert!(e.is_corruption(), "flip at {t}: {e}");
                if t >= s.ends[0] && s.whole_at(t) >= s.vouched {
                    // Past the vouched entries only a valid later frame makes it corruption.
                    assert!(
                        matches!(e, StorageError::WalCorrupt { .. }),
                        "flip at {t}: {e}"
                    );
                }
            }
        }
    }
    (refused, opened)
}

#[test]
fn log_corrupted_at_every_offset_drops_only_an_unvouched_tail_or_fails_typed() {
    let s = log_scenario();
    let (refused, opened) = check_flips(&s);
    assert!(
        refused > 0 && opened > 0,
        "{refused} refused, {opened} opened"
    );
    let s = log_scenario_with(Durability::SyncPerBatch, false);
    check_flips(&s);
}

/// The drill: a log holding several committed batches, closed cleanly. Every
/// damage, a flip at any offset or a truncation at any length, is refused at open or opens
/// with every acknowledged entry; no open ever has fewer.
#[test]
fn closed_log_damaged_anywhere_loses_no_acknowledged_entry() {
    let s = log_scenario_with(Durability::SyncPerBatch, true);
    assert_eq!(s.vouched, s.states.len() - 1);
    let all = s.states.last().unwrap();
    let len = *s.ends.last().unwrap();
    let (mut refused, mut opened) = (0u32, 0u32);
    for t in s.offsets() {
        let dir = s.work();
        flip_byte(&wal_path(&dir), t as usize);
        match Store::open(&dir, small_config()) {
            Ok(store) => {
                opened += 1;
                assert_eq!(&dump(&store), all, "flipped at {t}: opened with fewer");
            }
            Err(e) => {
                refused += 1;
                assert!(e.is_corruption(), "flip at {t}: {e}");
            }
        }
    }
    // Flips in the stale slot and the reserved header bytes are harmless; every frame
    // byte is refused.
    assert!(refused as u64 >= len - s.ends[0], "{refused} refused");
    assert!(opened > 0);
    for t in 0..len {
        let dir = s.work();
        truncate(&wal_path(&dir), t);
        let e = Store::open(&dir, small_config())
            .err()
            .unwrap_or_else(|| panic!("truncated at {t}: opened with fewer"));
        assert!(e.is_corruption(), "truncated at {t}: {e}");
    }
}

/// A version 2 log header for `start`, its first commit slot vouching for `start - 1`.
fn log_header(start: u64) -> Vec<u8> {
    let mut h = vec![0u8; 4096];
    h[..8].copy_from_slice(b"TUNGWAL\0");
    h[8..12].copy_from_slice(&2u32.to_le_bytes());
    h[16..24].copy_from_slice(&start.to_le_bytes());
    let c = crc32fast::hash(&h[..28]);
    h[28..32].copy_from_slice(&c.to_le_bytes());
    // Slot sequence 1 lives at offset 64 (slots alternate: sequence % 2).
    h[64..72].copy_from_slice(&1u64.to_le_bytes());
    h[72..80].copy_from_slice(&(start - 1).to_le_bytes());
    let mut k = crc32fast::Hasher::new();
    k.update(&start.to_le_bytes());
    k.update(&h[64..92]);
    h[92..96].copy_from_slice(&k.finalize().to_le_bytes());
    h
}

#[test]
fn a_damaged_frame_followed_by_a_later_log_file_is_refused() {
    let s = log_scenario();
    let dir = s.work();
    // Damage the last entry's payload (alone a torn tail), then add the next log file, as
    // a rotation would have written it (FORMAT.md: fixed header, first commit slot).
    let n = s.ends.len() - 1;
    flip_byte(&wal_path(&dir), (s.ends[n - 1] + 20) as usize);
    let next = dir.join("wal-0000000000000008.log");
    fs::write(&next, log_header(8)).unwrap();
    let e = Store::open(&dir, small_config()).expect_err("opened");
    assert!(matches!(e, StorageError::WalCorrupt { .. }), "{e}");
    // Nothing was deleted or cut.
    assert_eq!(files(&dir, "wal-", ".log").len(), 2);
    assert_eq!(fs::metadata(wal_path_of(&dir, 1)).unwrap().len(), s.ends[n]);
    // Without the later file the same damage is a torn tail of the last entry.
    fs::remove_file(&next).unwrap();
    let store = Store::open(&dir, small_config()).unwrap();
    assert_eq!(&dump(&store), &s.states[n - 1]);
}

#[test]
fn batch_torn_at_every_offset_recovers_whole_entries_of_a_prefix() {
    let tmp = storage_common::tempdir();
    let dir = tmp.path().join("src");
    let store = Store::open(&dir, small_config()).unwrap();
    let wal = wal_path(&dir);
    store.insert(1, &record(1, 0), b"before").unwrap();
    let start = fs::metadata(&wal).unwrap().len();
    // Six entries over two segments of four slots, with empty and non-empty blobs.
    let items: Vec<(u64, Vec<u8>, Vec<u8>)> = (10..16u64)
        .map(|k| (k, record(k, 0), blob(k, 0, (k as usize * 5) % 9)))
        .collect();
    let refs: Vec<(u64, &[u8], &[u8])> = items
        .iter()
        .map(|(k, r, b)| (*k, r.as_slice(), b.as_slice()))
        .collect();
    store.insert_batch(&refs).unwrap();
    let len = fs::metadata(&wal).unwrap().len();
    drop(store); // crash: no checkpoint, no close

    // Frame ends of the batch's entries, from the log itself (header: len u32, crc, lsn).
    let bytes = fs::read(&wal).unwrap();
    let mut ends = vec![start];
    while *ends.last().unwrap() < len {
        let at = *ends.last().unwrap() as usize;
        let flen = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as u64;
        ends.push(at as u64 + 16 + flen);
    }
    assert_eq!(ends.len(), items.len() + 1);
    assert_eq!(*ends.last().unwrap(), len);

    for t in start..=len {
        let work = copy_dir(&dir, tmp.path(), "case");
        truncate(&wal_path(&work), t);
        let store =
            Store::open(&work, small_config()).unwrap_or_else(|e| panic!("torn at {t}: {e}"));
        let whole = ends.iter().rposition(|&e| e <= t).unwrap();
        let mut expected = Contents::new();
        expected.insert(1, (record(1, 0), b"before".to_vec()));
        for (k, r, b) in &items[..whole] {
            expected.insert(*k, (r.clone(), b.clone()));
        }
        assert_eq!(dump(&store), expected, "torn at {t}");
        assert_eq!(store.recovery_report().wal.truncated_bytes, t - ends[whole]);
        // The rest of the batch can be inserted again after the cut.
        store.insert_batch(&refs[whole..]).unwrap();
        drop(store);
        let store = Store::open(&work, small_config()).unwrap();
        assert_eq!(dump(&store).len(), 1 + items.len(), "reinserted after {t}");
    }
}

#[test]
fn segments_created_after_the_checkpoint_are_rebuilt_from_the_log() {
    let s = log_scenario();
    let final_state = s.states.last().unwrap().clone();
    for seg in files(&s.dir, "seg-", ".dat") {
        let name = seg.file_name().unwrap().to_owned();
        let len = fs::metadata(&seg).unwrap().len();
        for t in 0..len {
            let dir = s.work();
            flip_byte(&dir.join(&name), t as usize);
            let store = Store::open(&dir, small_config()).unwrap();
            assert_eq!(dump(&store), final_state, "{name:?} flipped at {t}");
        }
        let dir = s.work();
        truncate(&dir.join(&name), 10);
        let store = Store::open(&dir, small_config()).unwrap();
        assert_eq!(dump(&store), final_state);
    }
}

#[test]
fn a_version_1_log_is_replayed_and_appends_go_to_a_new_version_2_log() {
    let s = log_scenario();
    let dir = s.work();
    let wal = wal_path(&dir);
    // The same frames behind the 32-byte version 1 header (FORMAT.md).
    let bytes = fs::read(&wal).unwrap();
    let mut v1 = log_header(1)[..32].to_vec();
    v1[8..12].copy_from_slice(&1u32.to_le_bytes());
    let c = crc32fast::hash(&v1[..28]);
    v1[28..32].copy_from_slice(&c.to_le_bytes());
    v1.extend_from_slice(&bytes[s.ends[0] as usize..]);
    fs::write(&wal, &v1).unwrap();
    let store = Store::open(&dir, small_config()).unwrap();
    assert_eq!(&dump(&store), s.states.last().unwrap());
    store.insert(1000, &record(1000, 0), b"after").unwrap();
    store.close().unwrap();
    assert_eq!(files(&dir, "wal-", ".log").len(), 2);
    assert_eq!(
        fs::read(&wal).unwrap(),
        v1,
        "the version 1 file is left as it was"
    );
    let store = Store::open(&dir, small_config()).unwrap();
    assert_eq!(dump(&store).len(), s.states.last().unwrap().len() + 1);
}

#[test]
fn a_refused_recovery_changes_no_file() {
    let s = log_scenario();
    let dir = s.work();
    let wal = wal_path(&dir);
    let n = s.ends.len() - 1;
    // Cut inside the last entry: a torn tail recovery would cut.
    let t = s.ends[n] - 3;
    truncate(&wal, t);
    let e = Store::open_approved(&dir, small_config(), |recovered| {
        // Key 4's second version is in the torn entry; key 4 itself is still present.
        assert!(recovered.holds(4));
        Err("the caller knows an entry is missing".into())
    })
    .expect_err("opened");
    assert!(matches!(e, StorageError::RecoveryRefused(_)), "{e}");
    assert_eq!(fs::metadata(&wal).unwrap().len(), t);
    assert!(files(&dir, "wal-", "")
        .iter()
        .all(|p| !p.to_string_lossy().contains(".torn-")));
    // Approved, the same tail is cut and kept.
    let store = Store::open(&dir, small_config()).unwrap();
    assert_eq!(&dump(&store), &s.states[n - 1]);
    let torn = store.recovery_report().wal.torn_tail.clone().unwrap();
    assert_eq!(fs::metadata(torn.kept_in).unwrap().len(), t - s.ends[n - 1]);
}
