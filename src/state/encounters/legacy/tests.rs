use super::*;
use crate::state::encounters::{Encounters, DEFAULT_GALLERY};
use std::sync::Arc;

/// The schema of the encounter store of the releases that kept it in `osia.sqlite3`.
const OLD_SCHEMA: &str = "
CREATE TABLE encounters (
    person_id TEXT NOT NULL,
    encounter_id TEXT NOT NULL,
    external_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    document TEXT NOT NULL,
    templates TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (person_id, encounter_id)
);
CREATE TABLE gallery_members (
    gallery_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    PRIMARY KEY (gallery_id, external_id)
);
CREATE INDEX gallery_members_by_external ON gallery_members (external_id);
CREATE TABLE retired (external_id TEXT PRIMARY KEY);
";

/// Writes an old encounter store of `n` encounters of person `p` (every third in gallery
/// `g1` too, the rest in the default gallery) and one retired reference.
pub(crate) fn old_store(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join(LEGACY_FILE);
    let conn = Connection::open(&path).unwrap();
    let _: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .unwrap();
    conn.execute_batch(OLD_SCHEMA).unwrap();
    for i in 0..n {
        let ext = format!("osia-{i:04}");
        let doc = serde_json::json!({"encounterType": "enrolment", "pad": "x".repeat(300)});
        conn.execute(
            "INSERT INTO encounters VALUES (?1, ?2, ?3, 'ACTIVE', ?4, ?5, ?6)",
            params![
                "p",
                format!("e{i}"),
                ext,
                doc.to_string(),
                r#"[{"position":1,"quality":60}]"#,
                i as i64 + 1
            ],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO gallery_members VALUES (?1, ?2)",
            [DEFAULT_GALLERY, &ext],
        )
        .unwrap();
        if i % 3 == 0 {
            conn.execute("INSERT INTO gallery_members VALUES ('g1', ?1)", [&ext])
                .unwrap();
        }
    }
    conn.execute("INSERT INTO retired VALUES ('osia-orphan')", [])
        .unwrap();
    drop(conn);
    path
}

fn encounters(dir: &Path) -> Encounters {
    Encounters::new(Arc::new(StateStore::open(dir).unwrap()))
}

#[test]
fn open_moves_the_old_store_in_once_and_keeps_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = old_store(dir.path(), 5);
    let s = encounters(dir.path());
    assert!(!path.exists());
    let kept = dir.path().join("osia.sqlite3.migrated");
    assert!(kept.exists(), "the old file is kept aside");
    let rows = s.person("p").unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.encounter_id.as_str()).collect();
    assert_eq!(
        ids,
        ["e0", "e1", "e2", "e3", "e4"],
        "the storing order is kept"
    );
    assert_eq!(rows[0].galleries, [DEFAULT_GALLERY, "g1"]);
    assert_eq!(rows[1].galleries, [DEFAULT_GALLERY]);
    assert_eq!(rows[0].document["encounterType"], "enrolment");
    let t = s.templates("p", "e3").unwrap().unwrap();
    assert_eq!(t, [serde_json::json!({"position": 1, "quality": 60})]);
    assert_eq!(s.retired().unwrap(), ["osia-orphan"]);
    assert_eq!(s.galleries().unwrap(), [DEFAULT_GALLERY, "g1"]);
    // The file put aside still holds every row by itself (its WAL folded in).
    let old = Connection::open_with_flags(&kept, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let n: i64 = old
        .query_row("SELECT count(*) FROM encounters", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 5);
    drop(old);
    drop(s);
    // A second open has nothing to do.
    let s = encounters(dir.path());
    assert_eq!(s.person("p").unwrap().len(), 5);
    assert!(!dir.path().join("osia.sqlite3.migrated-2").exists());
    // The same file brought back (an interrupted migration) adds nothing and is kept too.
    drop(s);
    std::fs::copy(&kept, &path).unwrap();
    let store = StateStore::open_file(&dir.path().join(crate::state::STATE_FILE)).unwrap();
    let m = migrate(&store, dir.path()).unwrap().unwrap();
    assert_eq!((m.records, m.inserted), (5, 0));
    assert!(m.kept_as.ends_with("osia.sqlite3.migrated-2"));
}

#[test]
fn a_damaged_old_store_is_refused_and_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = old_store(dir.path(), 200);
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 4 * 4096, "{} bytes", bytes.len());
    // Page 3 overwritten.
    for b in &mut bytes[2 * 4096..3 * 4096] {
        *b = 0x55;
    }
    std::fs::write(&path, &bytes).unwrap();
    let e = StateStore::open(dir.path()).unwrap_err();
    assert!(matches!(e, StateError::NotMigratable { .. }), "{e}");
    assert!(e.to_string().contains("nothing was migrated"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "left as it is");
    // Nothing reached the state store.
    let store = StateStore::open_file(&dir.path().join(crate::state::STATE_FILE)).unwrap();
    let n: i64 = store
        .read(|c| {
            Ok(
                c.query_row("SELECT count(*) FROM encounters", [], |r| r.get(0))
                    .unwrap(),
            )
        })
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn an_undecodable_row_is_refused_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = old_store(dir.path(), 3);
    let conn = Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE encounters SET templates = 'not json' WHERE encounter_id = 'e1'",
        [],
    )
    .unwrap();
    drop(conn);
    let e = StateStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(&e, StateError::NotMigratable { detail, .. } if detail.contains("\"e1\"")),
        "{e}"
    );
    assert!(path.exists());
    // A gallery naming no encounter is damage too.
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "UPDATE encounters SET templates = '[]'; INSERT INTO gallery_members VALUES ('g9', 'osia-x');",
    )
    .unwrap();
    drop(conn);
    let e = StateStore::open(dir.path()).unwrap_err();
    assert!(e.to_string().contains("osia-x"), "{e}");
    assert!(path.exists());
}

#[test]
fn a_state_store_of_step_17_is_upgraded_and_takes_the_old_rows() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(crate::state::STATE_FILE);
    drop(StateStore::open(dir.path()).unwrap());
    // The store as the release before step 18 left it.
    let conn = Connection::open(&state).unwrap();
    conn.execute_batch(
        "DROP TABLE encounters; DROP TABLE encounter_templates; DROP TABLE encounter_galleries;
         DROP TABLE encounter_retired; PRAGMA user_version = 17;",
    )
    .unwrap();
    drop(conn);
    old_store(dir.path(), 2);
    let s = encounters(dir.path());
    let version: i64 = s
        .store()
        .read(|c| {
            Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap())
        })
        .unwrap();
    assert_eq!(version, crate::state::schema::VERSION);
    assert_eq!(version, 18);
    assert_eq!(s.person("p").unwrap().len(), 2);
}
