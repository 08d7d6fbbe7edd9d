//! The check at open and the background integrity check, on stores with damaged pages.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::integrity::IntegrityStatus;
use super::tests::filled_store;
use super::{check, StateError, StateStore};

/// The number of a page of `table` (its `nth` leaf, or its root page when `nth` is None).
fn page_of(path: &Path, table: &str, nth: Option<u32>) -> u64 {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let page: i64 = match nth {
        Some(n) => conn
            .query_row(
                "SELECT pageno FROM dbstat WHERE name = ?1 AND pagetype = 'leaf' \
                 ORDER BY pageno LIMIT 1 OFFSET ?2",
                rusqlite::params![table, n],
                |r| r.get(0),
            )
            .unwrap(),
        None => conn
            .query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap(),
    };
    u64::try_from(page).unwrap()
}

/// Overwrites page `page` (1-based) of the file at `path` whole with `0xA5`.
fn smash_page(path: &Path, page: u64) {
    let size = 4096u64;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let at = (page - 1) * size;
    assert!(f.metadata().unwrap().len() >= at + size);
    let mut before = vec![0u8; size as usize];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut before).unwrap();
    assert_ne!(before, vec![0xA5; size as usize]);
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&vec![0xA5; size as usize]).unwrap();
    f.sync_all().unwrap();
}

fn assert_wal_checkpointed(dir: &Path) {
    let wal = dir.join("state.sqlite3-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
}

#[test]
fn a_corrupted_page_of_a_big_table_is_found_by_the_background_check_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_store(dir.path());
    assert_wal_checkpointed(dir.path());
    let c = check(dir.path());
    assert!(c.exists && c.problems.is_empty(), "{c:?}");
    // A leaf in the middle of the idempotency answers, which open does not read.
    smash_page(&path, page_of(&path, "answers", Some(10)));
    let bytes_before = std::fs::read(&path).unwrap();
    // Open reads only the header, the schema and the small tables: it opens.
    let store = StateStore::open(dir.path()).unwrap();
    assert_eq!(store.integrity().status(), IntegrityStatus::Checking);
    assert!(store.integrity().damage().is_none());
    store.spawn_integrity_check().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while store.integrity().status() == IntegrityStatus::Checking {
        assert!(std::time::Instant::now() < deadline, "check never finished");
        std::thread::sleep(Duration::from_millis(10));
    }
    let detail = store.integrity().damage().expect("damage found");
    assert!(!detail.is_empty());
    assert!(matches!(
        store.integrity().status(),
        IntegrityStatus::Damaged(_)
    ));
    // Every write is refused from now on, loudly, and nothing was changed or repaired.
    let e = store
        .transaction(|tx| {
            tx.execute("INSERT INTO counters VALUES ('x', 1)", [])
                .map_err(|e| store.error(e))?;
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(e, StateError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("damaged"), "{e}");
    let e = store.transaction_unsynced(|_| Ok(())).unwrap_err();
    assert!(matches!(e, StateError::Corrupt { .. }), "{e}");
    drop(store);
    assert_eq!(std::fs::read(&path).unwrap(), bytes_before);
    let c = check(dir.path());
    assert!(!c.problems.is_empty(), "{c:?}");
}

#[test]
fn an_undamaged_store_passes_the_background_check() {
    let dir = tempfile::tempdir().unwrap();
    filled_store(dir.path());
    let store = StateStore::open(dir.path()).unwrap();
    assert_eq!(store.check_integrity(), IntegrityStatus::Passed);
    assert!(store.integrity().steps() > 0);
    store.transaction(|_| Ok(())).unwrap();
}

#[test]
fn a_corrupted_page_of_a_table_open_reads_is_refused_at_open() {
    for table in ["keys", "audit_staged", "callbacks", "counters"] {
        let dir = tempfile::tempdir().unwrap();
        let path = filled_store(dir.path());
        smash_page(&path, page_of(&path, table, None));
        let len_before = std::fs::metadata(&path).unwrap().len();
        let e = StateStore::open(dir.path()).unwrap_err();
        assert!(matches!(e, StateError::Corrupt { .. }), "{table}: {e}");
        assert!(e.to_string().contains("damaged"), "{e}");
        // Nothing was changed or repaired.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len_before);
        let c = check(dir.path());
        assert!(!c.problems.is_empty(), "{table}: {c:?}");
    }
}
