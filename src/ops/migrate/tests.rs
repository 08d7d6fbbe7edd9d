use super::*;
use crate::state::idempotency::{Answer, Claim, Idempotency, IDEMPOTENCY_FILE};
use crate::state::journal::Journal;
use crate::state::{StateError, StateStore};

fn answer(request_id: &str, v: i64) -> Answer {
    Answer {
        scope: "d/sp".to_owned(),
        request_id: request_id.to_owned(),
        operation: "enrol".to_owned(),
        request_sha256: format!("h{request_id}"),
        status: 200,
        body: serde_json::json!({ "v": v }),
        audit: None,
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
    let moved = run(dir.path()).unwrap();
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
    assert!(run(dir.path()).unwrap().is_empty());
    std::fs::write(&old, &bytes).unwrap();
    let moved = run(dir.path()).unwrap();
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
    let e = run(dir.path()).unwrap_err();
    assert!(matches!(e, MigrateError::Damaged { line: 1, .. }), "{e}");
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
            fingers: Vec::new(),
            eyes: Vec::new(),
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
    let moved = run(dir.path()).unwrap();
    assert_eq!((moved[0].records, moved[0].inserted), (3, 3));
    assert!(moved[0].kept_as.exists());
    let registry = Registry::open(dir.path()).unwrap();
    for e in &entries {
        assert_eq!(registry.get(e.key).as_ref(), Some(e));
    }
    assert_eq!(Registry::read_entries(dir.path()).unwrap().len(), 3);
    // The migrated persons in the gallery are numbered as acknowledged (schema step 17),
    // and without an acknowledgement mark the engine's open checks every one of them.
    assert_eq!(registry.acknowledged_mark().unwrap(), None);
    assert_eq!(registry.acknowledged_keys().unwrap(), vec![0]);
    assert_eq!(registry.acknowledged_keys_after(0).unwrap(), vec![0]);
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
    let before = crate::state::syncs::count(crate::state::syncs::Store::Sqlite);
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
    assert!(crate::state::syncs::count(crate::state::syncs::Store::Sqlite) > before);
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
    let moved = run(dir.path()).unwrap();
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
fn migrate_moves_the_key_hashes() {
    use crate::access::keys::{KeyRecord, KeyStore, Role, KEYS_FILE};
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
    let moved = run(dir.path()).unwrap();
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

/// `cases.jsonl` as the release that kept cases in a journal wrote it: eight cases (two
/// opened in one batch) and every workflow action (view, take, release, decide by confirm,
/// clear and escalate, approve, return, deliver); see the expectations below.
const CASES_V1: &[u8] = include_bytes!("testdata/cases-v1.jsonl");

#[test]
fn migrate_moves_a_case_journal_of_the_journal_release() {
    use crate::cases::legacy::CASES_FILE;
    use crate::cases::{
        Action, CaseError, CaseKind, CaseQuery, CaseStatus, CaseStore, StatusFilter,
    };
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join(CASES_FILE);
    std::fs::write(&old, CASES_V1).unwrap();
    // Today's service refuses an unmigrated directory rather than forget its cases.
    let e = CaseStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(e, CaseError::State(StateError::NotMigrated { .. })),
        "{e}"
    );
    let lines = CASES_V1.iter().filter(|&&b| b == b'\n').count();
    let moved = run(dir.path()).unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!((moved[0].records, moved[0].inserted), (lines, 8));
    assert!(!old.exists());
    assert_eq!(std::fs::read(&moved[0].kept_as).unwrap(), CASES_V1);

    let store = CaseStore::open(dir.path()).unwrap();
    assert_eq!(store.len(), 8);
    let get = |n: u32| store.get(&format!("C{n:09}")).unwrap();
    let actions = |n: u32| -> Vec<&'static str> {
        get(n)
            .trail
            .iter()
            .map(|e| match e.action {
                Action::Opened => "opened",
                Action::Viewed => "viewed",
                Action::Taken { .. } => "taken",
                Action::Released => "released",
                Action::Decided { .. } => "decided",
                Action::Approved { .. } => "approved",
                Action::Returned { .. } => "returned",
                Action::Delivered => "delivered",
                Action::Requested | Action::SupervisorReleased { .. } => "other",
            })
            .collect()
    };
    let c1 = get(1);
    assert_eq!(c1.status, CaseStatus::ConfirmedDuplicate);
    assert!(c1.outcome_delivered);
    assert_eq!(c1.approval.as_ref().unwrap().by.name, "Budi");
    assert_eq!(c1.decision.as_ref().unwrap().by.name, "Ana");
    assert_eq!(
        actions(1),
        [
            "opened",
            "viewed",
            "taken",
            "decided",
            "approved",
            "delivered"
        ]
    );
    assert_eq!(c1.trail[0].at, c1.opened_secs);
    assert_eq!(get(2).status, CaseStatus::Cleared);
    assert_eq!(actions(2), ["opened", "taken", "released", "decided"]);
    assert_eq!(get(3).status, CaseStatus::Escalated);
    assert_eq!(get(4).status, CaseStatus::Open);
    assert_eq!(actions(4), ["opened", "decided", "returned"]);
    let c5 = get(5);
    assert_eq!(c5.holder(c5.opened_secs).unwrap().name, "Budi");
    assert_eq!(get(6).kind(), CaseKind::NikConflict);
    assert_eq!(get(7).kind(), CaseKind::GalleryPair);
    assert_eq!(get(8).new.candidates.len(), 3);
    assert!(get(2).new.callback_url.is_some());
    // Every case keeps its deadline and the queue's filters see the migrated state.
    assert!((1..=8).all(|n| get(n).deadline_secs > get(n).opened_secs));
    let now = get(8).opened_secs;
    let q = |status| CaseQuery {
        status,
        limit: 100,
        ..CaseQuery::default()
    };
    assert_eq!(store.list(&q(StatusFilter::Taken), now).unwrap().total, 1);
    assert_eq!(store.list(&q(StatusFilter::Active), now).unwrap().total, 6);
    let district = CaseQuery {
        district: Some("317102".to_owned()),
        status: StatusFilter::All,
        ..CaseQuery::default()
    };
    let page = store.list(&district, now).unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.cases[0].case_id, "C000000008");
    // New cases continue after the journal's.
    let mut new = get(6).new;
    new.applicant.reference_id = "P0000000099".to_owned();
    assert_eq!(store.open_case(new).unwrap().case_id, "C000000009");
    drop(store);
    // A second run has nothing to do; the journal reappearing is merged (its cases are
    // there already), the first copy kept aside.
    assert!(run(dir.path()).unwrap().is_empty());
    std::fs::write(&old, CASES_V1).unwrap();
    let moved = run(dir.path()).unwrap();
    assert_eq!((moved[0].records, moved[0].inserted), (lines, 0));
    assert!(moved[0].kept_as.to_string_lossy().ends_with(".migrated-2"));
    let store = CaseStore::open(dir.path()).unwrap();
    assert_eq!(store.len(), 9);
    assert_eq!(actions_len(&store, "C000000001"), 6);
}

fn actions_len(store: &crate::cases::CaseStore, case_id: &str) -> usize {
    store.get(case_id).unwrap().trail.len()
}

#[test]
fn migrate_refuses_a_case_journal_damaged_in_the_middle_and_keeps_a_torn_tail_out() {
    use crate::cases::legacy::CASES_FILE;
    use crate::cases::CaseStore;
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join(CASES_FILE);
    // A damaged second line, valid lines after it: refused, nothing changed.
    let mut bytes = CASES_V1.to_vec();
    let second = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    bytes[second + 20] ^= 0x55;
    std::fs::write(&old, &bytes).unwrap();
    let e = run(dir.path()).unwrap_err();
    assert!(matches!(e, MigrateError::Damaged { line: 2, .. }), "{e}");
    assert_eq!(std::fs::read(&old).unwrap(), bytes);
    let store = StateStore::open(dir.path()).unwrap();
    let n: i64 = store
        .read(|c| {
            Ok(c.query_row("SELECT count(*) FROM cases", [], |r| r.get(0))
                .unwrap())
        })
        .unwrap();
    assert_eq!(n, 0);
    drop(store);
    // A torn last line (a crash mid-append) is left out, as the journal release's open cut it.
    let mut torn = CASES_V1.to_vec();
    torn.extend_from_slice(b"0badc0de\t{\"event\":\"act\",\"case_id\":\"C0000");
    std::fs::write(&old, &torn).unwrap();
    let moved = run(dir.path()).unwrap();
    assert_eq!(moved[0].inserted, 8);
    assert_eq!(CaseStore::open(dir.path()).unwrap().len(), 8);
}

#[test]
fn migrate_moves_the_old_encounter_store_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    crate::state::encounters::legacy::tests::old_store(dir.path(), 4);
    let moved = run(dir.path()).unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].journal, "osia.sqlite3");
    assert_eq!((moved[0].records, moved[0].inserted), (4, 4));
    assert!(moved[0].kept_as.ends_with("osia.sqlite3.migrated"));
    assert!(!dir.path().join("osia.sqlite3").exists());
    let store = std::sync::Arc::new(StateStore::open(dir.path()).unwrap());
    let rows = crate::state::encounters::Encounters::new(store);
    assert_eq!(rows.person("p").unwrap().len(), 4);
    // A second run has nothing to do.
    assert!(run(dir.path()).unwrap().is_empty());
}
