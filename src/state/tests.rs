use super::*;

fn version(path: &Path) -> i64 {
    let conn = Connection::open(path).unwrap();
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn open_creates_the_schema_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let (mode, sync): (String, i64) = store
        .read(|c| {
            Ok((
                c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
                    .unwrap(),
                c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap(),
            ))
        })
        .unwrap();
    assert_eq!((mode.as_str(), sync), ("wal", 2));
    drop(store);
    assert_eq!(version(&dir.path().join(STATE_FILE)), schema::VERSION);
    // Reopening applies nothing twice.
    StateStore::open(dir.path()).unwrap();
    assert_eq!(version(&dir.path().join(STATE_FILE)), schema::VERSION);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(StateStore::open(dir.path()).unwrap());
    let path = dir.path().join(STATE_FILE);
    Connection::open(&path)
        .unwrap()
        .execute_batch(&format!("PRAGMA user_version = {}", schema::VERSION + 1))
        .unwrap();
    let e = StateStore::open(dir.path()).unwrap_err();
    assert!(matches!(e, StateError::NewerSchema { .. }), "{e}");
}

#[test]
fn a_failed_transaction_leaves_nothing_and_counts_no_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let r: Result<(), StateError> = store.transaction(|tx| {
        tx.execute(
            "INSERT INTO answers VALUES ('s', 'r', 'enrol', 'h', 200, '{}', 0)",
            [],
        )
        .map_err(|e| store.error(e))?;
        Err(StateError::Poisoned)
    });
    assert!(r.is_err());
    let n: i64 = store
        .read(|c| {
            Ok(
                c.query_row("SELECT count(*) FROM answers", [], |r| r.get(0))
                    .unwrap(),
            )
        })
        .unwrap();
    assert_eq!(n, 0);
}

/// Fills the store with enough rows to span many pages, closes it (checkpointing the WAL
/// into the main file) and returns the file's path.
pub(super) fn filled_store(dir: &Path) -> PathBuf {
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
                .unwrap();
            }
            Ok(())
        })
        .unwrap();
    drop(store);
    dir.join(STATE_FILE)
}

#[test]
fn a_damaged_header_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_store(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..16].copy_from_slice(b"not a database!!");
    std::fs::write(&path, &bytes).unwrap();
    let e = StateStore::open(dir.path()).unwrap_err();
    assert!(matches!(e, StateError::Corrupt { .. }), "{e}");
}

#[test]
fn the_database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    store
        .transaction(|tx| {
            tx.execute(
                "INSERT INTO answers VALUES ('s', 'r', 'enrol', 'h', 200, '{}', 0)",
                [],
            )
            .map_err(|e| store.error(e))?;
            Ok(())
        })
        .unwrap();
    for name in [STATE_FILE, "state.sqlite3-wal"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
}
