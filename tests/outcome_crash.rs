//! A crash in the middle of an enrolment's outcome: a failpoint (a trigger refusing the
//! registry update of one request) aborts the outcome transaction after the intent and the
//! gallery insert committed, so the enrolment is never acknowledged. The engine is then
//! dropped and reopened, once as it was (the intent kept by the
//! process crash: rolled forward) and once with the intent lost as a power loss can lose
//! it (it commits without a sync of its own: rolled back). Either way every acknowledged
//! enrolment is kept, and no key is given out twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use tunggal::cases::CaseStore;
use tunggal::engine::synthetic::request_of;
use tunggal::engine::{EngineOptions, GalleryEngine};
use tunggal::enrolment::record::{EnrolmentRecord, Origin};
use tunggal::enrolment::validate;
use tunggal::enrolment::{EnrolmentEngine, Verdict};
use tunggal_datasets::date::Date;
use tunggal_datasets::population::{CaptureSpec, Population};

const DISTRICT: &str = "317101";
const POINT: &str = "sp-1";

fn record(pop: &Population, id: u64, rid: &str) -> EnrolmentRecord {
    let capture = pop.capture(&pop.person(id), 0, &CaptureSpec::default());
    let req = request_of(&capture, rid, DISTRICT, POINT);
    let today = Date::from_day_number(20_800);
    validate::enrolment(&req, today).unwrap()
}

fn open(dir: &Path) -> GalleryEngine {
    let cases = Arc::new(CaseStore::open(dir).unwrap());
    let options = EngineOptions {
        calibration: tunggal::dedup::synthetic_calibration(120),
        ..EngineOptions::default()
    };
    GalleryEngine::open(dir, cases, options).unwrap()
}

fn origin() -> Origin {
    Origin {
        district: DISTRICT.into(),
        service_point: POINT.into(),
    }
}

fn reference(v: &Verdict) -> String {
    match v {
        Verdict::Single { reference_id, .. } => reference_id.clone(),
        other => panic!("expected single, got {other:?}"),
    }
}

fn sql(dir: &Path, statements: &str) {
    let conn = rusqlite::Connection::open(dir.join("state.sqlite3")).unwrap();
    conn.execute_batch(statements).unwrap();
}

/// Enrols two persons (acknowledged), then a third whose outcome transaction the failpoint
/// aborts; returns the acknowledged reference ids and the third's key.
fn acknowledged_then_aborted(dir: &Path, pop: &Population) -> (Vec<String>, u64) {
    let engine = open(dir);
    let acked: Vec<String> = ["a", "b"]
        .iter()
        .enumerate()
        .map(|(i, rid)| reference(&engine.enrol(&record(pop, i as u64, rid)).unwrap()))
        .collect();
    sql(
        dir,
        "CREATE TRIGGER failpoint BEFORE UPDATE OF outcome ON persons \
         WHEN NEW.request_id = 'c' BEGIN SELECT RAISE(ABORT, 'failpoint'); END;",
    );
    let key = engine.registry().next_key().unwrap();
    let failed = engine.enrol(&record(pop, 2, "c"));
    assert!(failed.is_err(), "the failpoint must abort the outcome");
    // The intent and the gallery insert committed; the outcome did not.
    assert!(engine.gallery().snapshot().contains(key));
    let entry = engine.registry().get(key).unwrap();
    assert!(entry.outcome.is_none());
    // The process ends here (the gallery's lock is released with it).
    drop(engine);
    sql(dir, "DROP TRIGGER failpoint;");
    (acked, key)
}

fn check_acknowledged(engine: &GalleryEngine, acked: &[String]) {
    for (rid, reference_id) in ["a", "b"].iter().zip(acked) {
        let v = engine.status(&origin(), rid).unwrap().unwrap();
        assert_eq!(&reference(&v), reference_id, "{rid}");
        let key = tunggal::engine::registry::key_of(reference_id).unwrap();
        assert!(
            engine.gallery().snapshot().contains(key),
            "{rid} in gallery"
        );
    }
}

#[test]
fn an_aborted_outcome_after_a_process_crash_rolls_forward() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(41);
    let (acked, key) = acknowledged_then_aborted(dir.path(), &pop);
    let engine = open(dir.path());
    check_acknowledged(&engine, &acked);
    let r = engine.recovery();
    assert_eq!((r.rolled_forward, r.rolled_back), (1, 0));
    assert!(engine.gallery().snapshot().contains(key));
    let v = engine.status(&origin(), "c").unwrap().unwrap();
    assert_eq!(reference(&v), tunggal::engine::registry::reference_id(key));
}

#[test]
fn an_intent_lost_with_the_power_rolls_its_gallery_member_back() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(43);
    let (acked, key) = acknowledged_then_aborted(dir.path(), &pop);
    // What a power loss can leave: the intent's unsynced commit (its row and the raised
    // next key) gone, the synced gallery insert kept.
    sql(
        dir.path(),
        &format!(
            "DELETE FROM persons WHERE key = {key}; \
             UPDATE counters SET value = {key} WHERE name = 'next_key';"
        ),
    );
    let engine = open(dir.path());
    check_acknowledged(&engine, &acked);
    let r = engine.recovery();
    assert_eq!((r.rolled_forward, r.rolled_back), (0, 1));
    assert!(!engine.gallery().snapshot().contains(key));
    assert!(engine.status(&origin(), "c").unwrap().is_none());
    // The retry enrols afresh under a new key.
    let v = engine.enrol(&record(&pop, 2, "c")).unwrap();
    let again = tunggal::engine::registry::key_of(&reference(&v)).unwrap();
    assert!(again > key, "key {again} after the rolled-back {key}");
    drop(engine);
    let engine = open(dir.path());
    assert_eq!(engine.recovery().rolled_back, 0);
    check_acknowledged(&engine, &acked);
}
