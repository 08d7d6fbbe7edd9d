//! A state store damaged where open does not read: the service starts, its background
//! integrity check finds the damage, `/ready` and enrolments answer 503 `state_damaged`, and
//! the file is left as it was.

use std::io::{Seek, SeekFrom, Write};

use super::harness::*;
use tunggal::state::StateStore;

/// Fills the idempotency answers with enough rows to span many pages.
fn fill_answers(dir: &Path) {
    let store = StateStore::open(dir).unwrap();
    store
        .transaction(|tx| {
            for i in 0..2000 {
                tx.execute(
                    "INSERT INTO answers VALUES ('s', ?1, 'enrol', 'h', 200, ?2, 0)",
                    rusqlite::params![
                        format!("r{i}"),
                        format!("{{\"pad\":\"{}\"}}", "x".repeat(200))
                    ],
                )
                .map_err(|e| store.error(e))?;
            }
            Ok(())
        })
        .unwrap();
}

/// Overwrites a leaf page in the middle of the answers whole; returns its number.
fn smash_an_answers_page(dir: &Path) -> u64 {
    let path = dir.join("state.sqlite3");
    let wal = dir.join("state.sqlite3-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
    let page: u64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT pageno FROM dbstat WHERE name = 'answers' AND pagetype = 'leaf' \
             ORDER BY pageno LIMIT 1 OFFSET 10",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.seek(SeekFrom::Start((page - 1) * 4096)).unwrap();
    f.write_all(&[0xA5; 4096]).unwrap();
    f.sync_all().unwrap();
    page
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_found_in_the_background_makes_the_service_refuse_enrolments() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let s = start(dir.path()).await;
    let sp = sp_key(&s, "sp-1").await;
    let v = enrol(&s, &sp, &body(&pop, 0, 0, None, "d-0", "sp-1")).await;
    assert_eq!(v["verdict"], "single", "{v}");
    assert_eq!(get(&s.url("/ready"), &sp).await.status, StatusCode::OK);
    s.stop().await;
    fill_answers(dir.path());
    let page = smash_an_answers_page(dir.path());
    let bytes = std::fs::read(dir.path().join("state.sqlite3")).unwrap();
    // The open reads no answer: the service starts.
    let s = start(dir.path()).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let ready = loop {
        let r = get(&s.url("/ready"), &sp).await;
        if r.status != StatusCode::OK || std::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json()["reason"], "state_damaged", "{}", ready.json());
    let r = post(
        &s.url("/v1/enrolments"),
        &sp,
        &body(&pop, 1, 0, None, "d-1", "sp-1"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers["content-type"], "application/problem+json");
    assert_eq!(r.json()["reason"], "state_damaged");
    s.stop().await;
    // Nothing was repaired: the damaged page is as it was left.
    let after = std::fs::read(dir.path().join("state.sqlite3")).unwrap();
    assert!(after.len() >= bytes.len());
    let at = usize::try_from((page - 1) * 4096).unwrap();
    assert_eq!(after[at..at + 4096], [0xA5; 4096]);
}
