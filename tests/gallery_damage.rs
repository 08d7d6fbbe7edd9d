//! A damaged gallery is refused loudly, never repaired by deleting data: the engine does
//! not open over a damaged write-ahead log or a gallery that lacks acknowledged persons,
//! the registry is left byte for byte as it was, `fsck` names the file, offset and persons,
//! and `fsck --salvage` writes a copy that opens, with the lost persons marked `lost`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use tunggal::cases::CaseStore;
use tunggal::engine::registry::{reference_id, Registry};
use tunggal::engine::{EngineOptions, GalleryEngine, OpenError};
use tunggal::enrolment::EnrolmentEngine;
use tunggal::loadgen::requests::{BodyBuilder, Planned, RequestPlanner};
use tunggal::ops::fsck;
use tunggal::ops::import::{import, ImportOptions};

const SEED: u64 = 41;
const PERSONS: usize = 24;

fn open_engine(dir: &Path) -> Result<GalleryEngine, OpenError> {
    fs::create_dir_all(dir).unwrap();
    let cases = Arc::new(CaseStore::open(dir).unwrap());
    let options = EngineOptions {
        calibration: tunggal::dedup::synthetic_calibration(120),
        ..EngineOptions::default()
    };
    GalleryEngine::open(dir, cases, options)
}

/// A data directory of `PERSONS` imported persons (three committed batches of eight), the
/// engine dropped without a checkpoint so every person lives in the log.
fn imported(root: &Path) -> PathBuf {
    let (input, data) = (root.join("in"), root.join("data"));
    fs::create_dir_all(&input).unwrap();
    let mut planner = RequestPlanner::new(SEED, 0.0, 0, "dmg-");
    let plans: Vec<Planned> = planner.by_ref().take(PERSONS).collect();
    let builder = BodyBuilder::new(SEED);
    for p in &plans {
        let body = builder.enrolment(p, None).unwrap();
        let path = input.join(format!("{:06}.json", p.index + 1));
        fs::write(path, serde_json::to_vec(&body).unwrap()).unwrap();
    }
    let engine = open_engine(&data).unwrap();
    let options = ImportOptions {
        input,
        data_dir: data.clone(),
        chunk: 8,
        restart: false,
    };
    let report = import(&engine, &options, &mut |_, _| {}).unwrap();
    assert_eq!(report.imported, PERSONS);
    drop(engine);
    data
}

fn wal_of(data: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = fs::read_dir(data.join("gallery"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("wal-") && n.ends_with(".log")
        })
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            fs::copy(e.path(), dst).unwrap();
        }
    }
}

fn flip(path: &Path, at: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at as usize] ^= 0xFF;
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_damaged_log_byte_is_refused_named_and_salvaged_into_a_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let data = imported(tmp.path());
    let wal = wal_of(&data);
    let len = fs::metadata(&wal).unwrap().len();
    let registry_before = Registry::read_entries(&data).unwrap();

    // One byte in the middle of the log: corruption with valid entries behind it.
    let at = 4096 + (len - 4096) / 2;
    flip(&wal, at);
    let wal_damaged = fs::read(&wal).unwrap();
    let Err(err) = open_engine(&data) else {
        panic!("opened over a damaged log")
    };
    let msg = err.to_string();
    assert!(matches!(err, OpenError::Damaged { .. }), "{msg}");
    assert!(msg.contains(&wal.display().to_string()), "{msg}");
    assert!(msg.contains("tunggal fsck --data-dir"), "{msg}");
    // Nothing was cut or rewritten.
    assert_eq!(fs::read(&wal).unwrap(), wal_damaged);
    assert_eq!(Registry::read_entries(&data).unwrap(), registry_before);

    let report = fsck::check(&data).unwrap();
    assert!(!report.clean);
    assert!(report.log_verdict.is_some());
    assert!(
        report.logs.iter().any(|l| l.contains("DAMAGED at byte")),
        "{:?}",
        report.logs
    );
    // Persons after the damaged entry are not in the valid part of the log.
    assert!(!report.persons.is_empty());
    assert!(report.persons.len() < PERSONS);

    let out = tmp.path().join("salvaged");
    let s = fsck::salvage(&data, &out).unwrap();
    assert_eq!(s.lost.len(), report.persons.len());
    // The original is untouched; the copy opens and says who is lost.
    assert_eq!(fs::read(&wal).unwrap(), wal_damaged);
    let engine = open_engine(&out).unwrap();
    assert_eq!(engine.gallery().len(), PERSONS - s.lost.len());
    for p in &s.lost {
        let info = engine.person(&p.reference_id).unwrap().unwrap();
        assert_eq!(info.status, "lost", "{}", p.reference_id);
    }
    drop(engine);
    assert!(fsck::check(&out).unwrap().clean);
}

#[test]
fn a_log_cut_short_is_refused_and_the_registry_is_not_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = imported(tmp.path());
    let wal = wal_of(&data);
    let len = fs::metadata(&wal).unwrap().len();
    let registry_before = Registry::read_entries(&data).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    // Either the commit slot vouches for the last batch (a damaged log) or the registry
    // knows its persons were acknowledged (a gallery that lacks them): refused both ways.
    let Err(err) = open_engine(&data) else {
        panic!("opened over a truncated log")
    };
    assert!(
        matches!(
            err,
            OpenError::Damaged { .. } | OpenError::GalleryMissing { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("tunggal fsck"), "{err}");
    assert_eq!(Registry::read_entries(&data).unwrap(), registry_before);
    assert_eq!(fs::metadata(&wal).unwrap().len(), len - 7);
    let report = fsck::check(&data).unwrap();
    assert!(!report.clean);
    assert!(!report.persons.is_empty(), "fsck names the persons");
}

/// Damage at sampled offsets of every region of the log: each open is refused or has
/// every acknowledged person.
#[test]
fn damage_at_sampled_log_offsets_never_opens_with_fewer_persons() {
    let tmp = tempfile::tempdir().unwrap();
    let data = imported(tmp.path());
    let wal = wal_of(&data);
    let len = fs::metadata(&wal).unwrap().len();
    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
    let mut offsets: Vec<u64> = (0..96).step_by(7).collect();
    offsets.extend((0..40).map(|_| rng.gen_range(4096..len)));
    offsets.extend(len - 40..len);
    let (mut refused, mut opened) = (0, 0);
    for (i, at) in offsets.into_iter().enumerate() {
        let work = tmp.path().join(format!("case-{i}"));
        copy_dir(&data, &work);
        flip(&wal_of(&work), at);
        match open_engine(&work) {
            Ok(engine) => {
                opened += 1;
                assert_eq!(engine.gallery().len(), PERSONS, "flip at {at}");
            }
            Err(e) => {
                refused += 1;
                assert!(e.to_string().contains("tunggal fsck"), "flip at {at}: {e}");
            }
        }
        fs::remove_dir_all(&work).unwrap();
    }
    assert!(refused > 40, "{refused} refused, {opened} opened");
}

#[test]
fn a_damaged_checkpointed_blob_is_counted_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let data = imported(tmp.path());
    let engine = open_engine(&data).unwrap();
    engine.gallery().store().checkpoint().unwrap();
    let key = engine.gallery().snapshot().keys().min().unwrap();
    let blob = engine.gallery().snapshot().get(key).unwrap().unwrap().blob;
    drop(engine);
    // A byte inside that person's blob payload (entry: len u32, crc u32, payload).
    flip(&data.join("gallery/blobs.dat"), blob.offset + 8 + 3);
    let report = fsck::check(&data).unwrap();
    assert!(!report.clean);
    assert_eq!(report.persons.len(), 1);
    assert_eq!(report.persons[0].reference_id, reference_id(key));

    let engine = open_engine(&data).unwrap();
    assert_eq!(engine.gallery().damaged_reads(), 0);
    assert!(engine.gallery().get(key).is_err());
    assert_eq!(engine.gallery().damaged_reads(), 1);
}

/// Imports `n` more persons (request ids `prefix…`) into the open `engine`.
fn import_more(engine: &GalleryEngine, root: &Path, data: &Path, prefix: &str, n: usize) {
    let input = root.join(format!("in-{prefix}"));
    fs::create_dir_all(&input).unwrap();
    let mut planner = RequestPlanner::new(SEED + 1, 0.0, 0, prefix);
    let builder = BodyBuilder::new(SEED + 1);
    for p in planner.by_ref().take(n) {
        let body = builder.enrolment(&p, None).unwrap();
        let path = input.join(format!("{:06}.json", p.index + 1));
        fs::write(path, serde_json::to_vec(&body).unwrap()).unwrap();
    }
    let options = ImportOptions {
        input,
        data_dir: data.to_path_buf(),
        chunk: n,
        restart: false,
    };
    let report = import(engine, &options, &mut |_, _| {}).unwrap();
    assert_eq!(report.imported, n);
}

/// Replaces the gallery of `data` with the copy in `from`.
fn restore_gallery(data: &Path, from: &Path) {
    fs::remove_dir_all(data.join("gallery")).unwrap();
    copy_dir(from, &data.join("gallery"));
}

/// Once the acknowledgement mark covers the checkpointed persons, the open checks only the
/// persons acknowledged after it, and still refuses a gallery that lacks them; a gallery
/// older than the mark's checkpoint gets every acknowledged person checked. The registry is
/// left as it was.
#[test]
fn with_a_mark_the_open_checks_the_later_persons_and_everyone_for_an_older_gallery() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let engine = open_engine(&data).unwrap();
    let empty = tmp.path().join("gallery-empty");
    copy_dir(&data.join("gallery"), &empty);
    import_more(&engine, tmp.path(), &data, "early-", PERSONS);
    assert_eq!(
        engine
            .registry()
            .acknowledged_mark()
            .unwrap()
            .map(|m| m.seq),
        None
    );
    // The open recorded a candidate before the import; two checkpoints and advances later
    // the mark covers every imported person.
    for _ in 0..2 {
        engine.gallery().store().checkpoint().unwrap();
        engine.advance_acknowledged_mark().unwrap();
    }
    let mark = engine.registry().acknowledged_mark().unwrap().unwrap();
    assert_eq!(mark.seq, PERSONS as u64, "{mark:?}");
    assert!(mark.checkpoint_lsn <= engine.gallery().store().checkpoint_lsn());
    let checkpointed = tmp.path().join("gallery-checkpointed");
    copy_dir(&data.join("gallery"), &checkpointed);
    import_more(&engine, tmp.path(), &data, "late-", 8);
    let later = engine.registry().acknowledged_keys_after(mark.seq).unwrap();
    assert_eq!(later.len(), 8);
    drop(engine);
    let registry_before = Registry::read_entries(&data).unwrap();

    restore_gallery(&data, &checkpointed);
    match open_engine(&data) {
        Err(OpenError::GalleryMissing {
            count, examples, ..
        }) => {
            assert_eq!(count, 8);
            assert_eq!(examples[0], reference_id(later[0]));
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened a gallery lacking acknowledged persons"),
    }
    assert_eq!(Registry::read_entries(&data).unwrap(), registry_before);

    restore_gallery(&data, &empty);
    match open_engine(&data) {
        Err(OpenError::GalleryMissing { count, .. }) => assert_eq!(count, PERSONS + 8),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened a gallery lacking acknowledged persons"),
    }
    assert_eq!(Registry::read_entries(&data).unwrap(), registry_before);
}

#[test]
fn settling_brings_the_mark_up_to_every_acknowledged_person() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let engine = open_engine(&data).unwrap();
    import_more(&engine, tmp.path(), &data, "early-", PERSONS);
    // The log is far below its checkpoint size: without a settle the mark stays behind.
    engine.advance_acknowledged_mark().unwrap();
    let behind = engine.registry().acknowledged_mark().unwrap();
    assert!(behind.is_none_or(|m| m.seq < PERSONS as u64), "{behind:?}");
    engine.settle().unwrap();
    let mark = engine.registry().acknowledged_mark().unwrap().unwrap();
    assert_eq!(mark.seq, PERSONS as u64, "{mark:?}");
    assert_eq!(
        mark.checkpoint_lsn,
        engine.gallery().store().checkpoint_lsn()
    );
    assert!(engine
        .registry()
        .acknowledged_keys_after(mark.seq)
        .unwrap()
        .is_empty());
    // Settling again with nothing new changes nothing; the next open keeps the mark.
    engine.settle().unwrap();
    assert_eq!(engine.registry().acknowledged_mark().unwrap(), Some(mark));
    drop(engine);
    let engine = open_engine(&data).unwrap();
    assert_eq!(engine.registry().acknowledged_mark().unwrap(), Some(mark));
    assert_eq!(engine.gallery().len(), PERSONS);
}
