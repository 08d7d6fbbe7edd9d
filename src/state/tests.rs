use std::io::{Read, Seek, SeekFrom, Write};

use super::*;
use crate::service::idempotency::{Answer, Claim, Idempotency, IDEMPOTENCY_FILE};
use crate::service::journal::Journal;

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
fn filled_store(dir: &Path) -> PathBuf {
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
fn a_corrupted_page_is_refused_at_open_and_reported_by_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_store(dir.path());
    assert!(
        !dir.path().join("state.sqlite3-wal").exists() || {
            std::fs::metadata(dir.path().join("state.sqlite3-wal"))
                .unwrap()
                .len()
                == 0
        }
    );
    let c = check(dir.path());
    assert!(c.exists && c.problems.is_empty(), "{c:?}");
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let len = f.metadata().unwrap().len();
    let page = 4096;
    assert!(len > 8 * page, "store too small: {len}");
    // Overwrite the third page whole, b-tree page header included.
    let at = 2 * page;
    let mut before = vec![0u8; page as usize];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut before).unwrap();
    assert_ne!(before, vec![0xA5; page as usize]);
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&vec![0xA5; page as usize]).unwrap();
    f.sync_all().unwrap();
    drop(f);
    let len_before = std::fs::metadata(&path).unwrap().len();
    let e = StateStore::open(dir.path()).unwrap_err();
    assert!(matches!(e, StateError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("damaged"), "{e}");
    // Nothing was changed or repaired.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len_before);
    let c = check(dir.path());
    assert!(!c.problems.is_empty(), "{c:?}");
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

fn answer(request_id: &str, v: i64) -> Answer {
    Answer {
        scope: "d/sp".to_owned(),
        request_id: request_id.to_owned(),
        operation: "enrol".to_owned(),
        request_sha256: format!("h{request_id}"),
        status: 200,
        body: serde_json::json!({ "v": v }),
    }
}

#[test]
fn migrate_moves_the_idempotency_journal_and_keeps_it_aside() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join(IDEMPOTENCY_FILE);
    let (journal, _) = Journal::<Answer>::open(&old).unwrap();
    journal.append(&answer("r1", 1)).unwrap();
    journal.append(&answer("r2", 2)).unwrap();
    drop(journal);
    let bytes = std::fs::read(&old).unwrap();
    // Today's service refuses an unmigrated directory rather than forget its answers.
    let e = Idempotency::open(dir.path()).unwrap_err();
    assert!(matches!(e, StateError::NotMigrated { .. }), "{e}");
    let moved = migrate::run(dir.path()).unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!((moved[0].records, moved[0].inserted), (2, 2));
    assert!(!old.exists());
    assert_eq!(std::fs::read(&moved[0].kept_as).unwrap(), bytes);
    let idem = std::sync::Arc::new(Idempotency::open(dir.path()).unwrap());
    match idem.claim("d/sp", "r2", "enrol", "hr2").unwrap() {
        Claim::Done(a) => assert_eq!(a, answer("r2", 2)),
        other => panic!("expected the migrated answer, got {other:?}"),
    }
    assert!(matches!(
        idem.claim("d/sp", "r1", "enrol", "other").unwrap(),
        Claim::Conflict
    ));
    drop(idem);
    // A second run has nothing to do; a journal reappearing is merged, the first kept aside.
    assert!(migrate::run(dir.path()).unwrap().is_empty());
    std::fs::write(&old, &bytes).unwrap();
    let moved = migrate::run(dir.path()).unwrap();
    assert_eq!((moved[0].records, moved[0].inserted), (2, 0));
    assert!(moved[0].kept_as.to_string_lossy().ends_with(".migrated-2"));
}

#[test]
fn migrate_refuses_a_journal_damaged_in_the_middle() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join(IDEMPOTENCY_FILE);
    let (journal, _) = Journal::<Answer>::open(&old).unwrap();
    journal.append(&answer("r1", 1)).unwrap();
    journal.append(&answer("r2", 2)).unwrap();
    drop(journal);
    let mut bytes = std::fs::read(&old).unwrap();
    bytes[3] ^= 0x55;
    std::fs::write(&old, &bytes).unwrap();
    let e = migrate::run(dir.path()).unwrap_err();
    assert!(
        matches!(e, migrate::MigrateError::Damaged { line: 1, .. }),
        "{e}"
    );
    assert_eq!(std::fs::read(&old).unwrap(), bytes);
}

fn person(key: u64, nik: &str, request_id: &str) -> crate::engine::registry::Entry {
    use crate::engine::registry::{reference_id, Entry, PersonMeta};
    Entry {
        key,
        meta: PersonMeta {
            summary: crate::cases::PersonSummary {
                reference_id: reference_id(key),
                request_id: request_id.to_owned(),
                nik: nik.to_owned(),
                name: format!("Person {key}"),
                sex: "F".to_owned(),
                date_of_birth: "1990-01-01".to_owned(),
                district: "3171".to_owned(),
                service_point: "sp1".to_owned(),
                enrolled_at: "2026-01-01T00:00:00Z".to_owned(),
                citizenship: "WNI".to_owned(),
                passport_number: None,
                kitap_number: None,
                has_photo: true,
                has_signature: false,
            },
            photo: Some("cGhvdG8=".to_owned()),
            signature: None,
            callback_url: None,
        },
        outcome: None,
        case_id: None,
        resolution: None,
        deleted: false,
        deleting: false,
        lost: None,
    }
}

#[test]
fn migrate_moves_the_registry_with_its_photos_and_next_key() {
    use crate::engine::registry::{legacy, Outcome, Registry, Resolution, REGISTRY_FILE};
    let dir = tempfile::tempdir().unwrap();
    let mut single = person(0, "3171000000000001", "r0");
    single.outcome = Some(Outcome::Single);
    let mut cleared = person(1, "3171000000000002", "r1");
    cleared.outcome = Some(Outcome::Rejected {
        reason: "x".to_owned(),
    });
    cleared.case_id = Some("C1".to_owned());
    cleared.resolution = Some(Resolution::Cleared);
    let mut deleted = person(4, "3171000000000003", "r4");
    deleted.outcome = Some(Outcome::Single);
    deleted.deleting = true;
    deleted.deleted = true;
    let entries = vec![single, cleared, deleted];
    legacy::write_journal(&dir.path().join(REGISTRY_FILE), &entries).unwrap();

    assert!(matches!(
        Registry::open(dir.path()).unwrap_err(),
        StateError::NotMigrated { .. }
    ));
    let moved = migrate::run(dir.path()).unwrap();
    assert_eq!((moved[0].records, moved[0].inserted), (3, 3));
    assert!(moved[0].kept_as.exists());
    let registry = Registry::open(dir.path()).unwrap();
    for e in &entries {
        assert_eq!(registry.get(e.key).as_ref(), Some(e));
    }
    assert_eq!(Registry::read_entries(dir.path()).unwrap().len(), 3);
    assert_eq!(registry.by_nik("3171000000000001").map(|e| e.key), Some(0));
    // A deleted person is no longer found by NIK.
    assert!(registry.by_nik("3171000000000003").is_none());
    assert_eq!(
        registry.by_request("3171", "sp1", "r1").map(|e| e.key),
        Some(1)
    );
    // Keys continue after the highest one the journal gave out.
    let key = registry
        .intent(|k| person(k, "3171000000000009", "r9").meta)
        .unwrap();
    assert_eq!(key, 5);
    registry.abort(key).unwrap();
    let again = registry
        .intent(|k| person(k, "3171000000000009", "r9").meta)
        .unwrap();
    assert_eq!(again, 6, "an aborted key is never given out again");
}

#[test]
fn an_outcome_and_its_answer_commit_together() {
    use crate::engine::registry::{Outcome, Registry};
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::shared(dir.path()).unwrap();
    let registry = Registry::new(store.clone());
    let idem = std::sync::Arc::new(Idempotency::new(store.clone()));
    let key = registry
        .intent(|k| person(k, "3171000000000001", "r0").meta)
        .unwrap();
    let before = syncs::count(syncs::Store::Sqlite);
    let Claim::Fresh(pending) = idem.claim("3171/sp1", "r0", "enrol", "h").unwrap() else {
        panic!("expected a fresh claim")
    };
    let answer = pending.answer(200, serde_json::json!({"verdict": "single"}));
    let entry = registry
        .outcome_answered(key, Outcome::Single, Some(answer.clone()))
        .unwrap();
    assert!(entry.in_gallery());
    assert_eq!(pending.kept(answer.clone()), answer);
    // One commit for both (other tests may commit concurrently: at least one, and the
    // answer is visible).
    assert!(syncs::count(syncs::Store::Sqlite) > before);
    match idem.claim("3171/sp1", "r0", "enrol", "h").unwrap() {
        Claim::Done(a) => assert_eq!(a, answer),
        other => panic!("expected the kept answer, got {other:?}"),
    }
    // An answer that cannot be stored (the same request_id again) rolls the outcome back.
    let key2 = registry
        .intent(|k| person(k, "3171000000000002", "r1").meta)
        .unwrap();
    let e = registry
        .outcome_answered(key2, Outcome::Single, Some(answer))
        .unwrap_err();
    assert!(matches!(e, StateError::Sqlite { .. }), "{e}");
    assert_eq!(registry.get(key2).unwrap().outcome, None);
}

#[test]
fn migrate_keeps_pending_callbacks_and_their_ids() {
    use crate::engine::callback::Notice;
    use crate::engine::outbox::{Event, Outbox, OUTBOX_NAME};
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = Journal::<Event>::open(dir.path().join(OUTBOX_NAME)).unwrap();
    for id in [3, 4] {
        journal
            .append(&Event::Queued {
                id,
                url: format!("https://example.test/{id}"),
                body: serde_json::json!({ "n": id }),
            })
            .unwrap();
    }
    journal.append(&Event::Done { id: 3 }).unwrap();
    drop(journal);
    assert!(matches!(
        Outbox::open(dir.path()).unwrap_err(),
        StateError::NotMigrated { .. }
    ));
    let moved = migrate::run(dir.path()).unwrap();
    assert_eq!((moved[0].records, moved[0].inserted), (3, 1));
    let (outbox, pending) = Outbox::open(dir.path()).unwrap();
    assert_eq!(
        pending,
        vec![(
            4,
            Notice {
                url: "https://example.test/4".to_owned(),
                body: serde_json::json!({ "n": 4 }),
            }
        )]
    );
    let next = outbox
        .queue(&Notice {
            url: "https://example.test/5".to_owned(),
            body: serde_json::Value::Null,
        })
        .unwrap();
    assert_eq!(next, 5);
    outbox.done(4).unwrap();
    outbox.done(next).unwrap();
    drop(outbox);
    assert!(Outbox::open(dir.path()).unwrap().1.is_empty());
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

#[test]
fn migrate_moves_the_key_hashes() {
    use crate::service::keys::{KeyRecord, KeyStore, Role, KEYS_FILE};
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let key = "tgl_0123456789ab_secretsecretsecretsecretsecretsecret";
    let sha256: String = Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (journal, _) = Journal::<KeyRecord>::open(dir.path().join(KEYS_FILE)).unwrap();
    journal
        .append(&KeyRecord {
            key_id: "0123456789ab".to_owned(),
            name: "Loket".to_owned(),
            role: Role::ServicePoint,
            district: Some("317101".to_owned()),
            service_point: Some("sp-1".to_owned()),
            sha256,
            created_at: 7,
            owner: String::new(),
            expires_at: None,
            revoked_at: None,
        })
        .unwrap();
    drop(journal);
    assert!(KeyStore::open(dir.path()).is_err());
    let moved = migrate::run(dir.path()).unwrap();
    assert_eq!((moved[0].records, moved[0].inserted), (1, 1));
    let keys = KeyStore::open(dir.path()).unwrap();
    let who = keys.authenticate(key).unwrap().unwrap();
    assert_eq!(
        (who.role, who.service_point.as_deref()),
        (Role::ServicePoint, Some("sp-1"))
    );
    assert!(keys.authenticate("tgl_other").unwrap().is_none());
    // A key of an older release is owned by its holder's name.
    assert_eq!(who.owner, "Loket");
}
