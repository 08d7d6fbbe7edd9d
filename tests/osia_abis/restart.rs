//! Restarts: a crash inside an encounter's writes (injected with failpoints: triggers of the
//! state store refusing one write) leaves nothing acknowledged lost and no unacknowledged
//! engine person past the next start; the encounter store of the release that kept it in
//! `osia.sqlite3` is moved into `state.sqlite3` at start.

use rusqlite::Connection;

use super::harness::*;

fn sql(dir: &Path, statements: &str) {
    let conn = Connection::open(dir.join("state.sqlite3")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    conn.execute_batch(statements).unwrap();
}

async fn create(s: &Running, person: &str, enc: &str, body: &Value) -> Reply {
    send(
        Method::POST,
        &s.osia(&format!(
            "/v1/persons/{person}/encounters/{enc}?transactionId=t-{enc}"
        )),
        Some(ADMIN_KEY),
        Some(body),
    )
    .await
}

async fn read(s: &Running, person: &str, enc: &str) -> Reply {
    send(
        Method::GET,
        &s.osia(&format!(
            "/v1/persons/{person}/encounters/{enc}?transactionId=r-{enc}"
        )),
        Some(ADMIN_KEY),
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_removes_unacknowledged_inserts_and_keeps_encounters() {
    if fvc_root().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let body = encounter(fixture_items(), None);
    assert_eq!(
        create(&s, "p1", "e1", &body).await.status,
        StatusCode::CREATED
    );
    let origin = tunggal::osia::default_origin();
    // A crash between the gallery insert and the transaction storing the outcome with the
    // encounter row: that transaction fails (the failpoint), the insert stays behind.
    sql(
        dir.path(),
        "CREATE TRIGGER failpoint BEFORE INSERT ON encounters WHEN NEW.encounter_id = 'e-crash'
         BEGIN SELECT RAISE(ABORT, 'failpoint'); END;",
    );
    let r = create(&s, "p1", "e-crash", &body).await;
    assert_eq!(
        r.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{:?}",
        r.json()
    );
    sql(dir.path(), "DROP TRIGGER failpoint;");
    assert_eq!(
        s.engine().gallery().len(),
        2,
        "the gallery holds the insert"
    );
    assert_eq!(s.engine().count_external(&origin).unwrap(), 1);
    assert_eq!(s.engine().encounters().retired().unwrap().len(), 1);
    assert_eq!(
        read(&s, "p1", "e-crash").await.status,
        StatusCode::NOT_FOUND
    );
    // The state a crash leaves when the engine's open has rolled such an insert forward: a
    // person of the OSIA origin under a retired reference that no encounter claims.
    s.engine().encounters().retire("osia-orphan").unwrap();
    let probe = {
        let items: Vec<tunggal::osia::wire::BiometricData> =
            serde_json::from_value(json!(fixture_items())).unwrap();
        tunggal::osia::biometrics::read(&items, true).unwrap().probe
    };
    let e = s.engine.clone().unwrap();
    let o = origin.clone();
    tokio::task::spawn_blocking(move || e.insert_external(&o, "osia-orphan", &probe).unwrap())
        .await
        .unwrap();
    assert_eq!(s.engine().count_external(&origin).unwrap(), 2);
    s.stop().await;

    let s = start(dir.path()).await;
    assert_eq!(
        s.engine().count_external(&origin).unwrap(),
        1,
        "both unclaimed inserts are gone"
    );
    assert_eq!(s.engine().gallery().len(), 1);
    assert!(s.engine().encounters().retired().unwrap().is_empty());
    assert_eq!(read(&s, "p1", "e1").await.status, StatusCode::OK);
    assert_eq!(
        read(&s, "p1", "e-crash").await.status,
        StatusCode::NOT_FOUND
    );
    // The same encounter id is free: the failed create stored nothing.
    assert_eq!(
        create(&s, "p1", "e-crash", &body).await.status,
        StatusCode::CREATED
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_cut_short_after_its_transaction_is_finished_at_the_next_start() {
    if fvc_root().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let body = encounter(fixture_items(), None);
    assert_eq!(
        create(&s, "p2", "e1", &body).await.status,
        StatusCode::CREATED
    );
    let origin = tunggal::osia::default_origin();
    // The transaction deleting the rows and marking the person commits; recording the
    // finished deletion fails (the failpoint), as if the process stopped there.
    sql(
        dir.path(),
        "CREATE TRIGGER failpoint BEFORE UPDATE OF deleted ON persons WHEN NEW.deleted = 1
         BEGIN SELECT RAISE(ABORT, 'failpoint'); END;",
    );
    let r = send(
        Method::DELETE,
        &s.osia("/v1/persons/p2?transactionId=d-1"),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    sql(dir.path(), "DROP TRIGGER failpoint;");
    assert_eq!(read(&s, "p2", "e1").await.status, StatusCode::NOT_FOUND);
    let flags = |dir: &Path| -> (bool, bool) {
        let conn = Connection::open(dir.join("state.sqlite3")).unwrap();
        conn.query_row(
            "SELECT deleting, deleted FROM persons WHERE district = 'osia'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    assert_eq!(
        flags(dir.path()),
        (true, false),
        "not yet recorded as deleted"
    );
    s.stop().await;

    let s = start(dir.path()).await;
    assert_eq!(flags(dir.path()), (true, true), "finished");
    assert_eq!(s.engine().count_external(&origin).unwrap(), 0);
    assert_eq!(s.engine().gallery().len(), 0);
    assert_eq!(read(&s, "p2", "e1").await.status, StatusCode::NOT_FOUND);
    s.stop().await;
}

/// The encounter tables of the data directory's state store, moved out into an
/// `osia.sqlite3` of the previous release's schema, and the state store put back to schema
/// step 17: the data directory that release leaves.
fn as_previous_release(dir: &Path) {
    let state = Connection::open(dir.join("state.sqlite3")).unwrap();
    let old = Connection::open(dir.join("osia.sqlite3")).unwrap();
    let _: String = old
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .unwrap();
    old.execute_batch(
        "CREATE TABLE encounters (person_id TEXT NOT NULL, encounter_id TEXT NOT NULL,
            external_id TEXT NOT NULL UNIQUE, status TEXT NOT NULL, document TEXT NOT NULL,
            templates TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (person_id, encounter_id));
         CREATE TABLE gallery_members (gallery_id TEXT NOT NULL, external_id TEXT NOT NULL,
            PRIMARY KEY (gallery_id, external_id));
         CREATE INDEX gallery_members_by_external ON gallery_members (external_id);
         CREATE TABLE retired (external_id TEXT PRIMARY KEY);",
    )
    .unwrap();
    let mut st = state
        .prepare(
            "SELECT person_id, encounter_id, external_id, status, document, seq,
                (SELECT json_group_array(json(template)) FROM
                    (SELECT template FROM encounter_templates t
                     WHERE t.external_id = e.external_id ORDER BY ord))
             FROM encounters e",
        )
        .unwrap();
    let rows: Vec<(String, String, String, String, String, i64, String)> = st
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(st);
    assert!(!rows.is_empty());
    for (p, e, x, status, doc, seq, templates) in rows {
        old.execute(
            "INSERT INTO encounters VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![p, e, x, status, doc, templates, seq],
        )
        .unwrap();
    }
    let mut st = state
        .prepare("SELECT gallery_id, external_id FROM encounter_galleries")
        .unwrap();
    let members: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(st);
    for (g, x) in members {
        old.execute("INSERT INTO gallery_members VALUES (?1, ?2)", [g, x])
            .unwrap();
    }
    drop(old);
    state
        .execute_batch(
            "DROP TABLE encounters; DROP TABLE encounter_templates;
             DROP TABLE encounter_galleries; DROP TABLE encounter_retired;
             PRAGMA user_version = 17;",
        )
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_releases_encounter_store_is_moved_in_at_start() {
    if fvc_root().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let body = encounter(fixture_items(), Some(vec!["g1"]));
    assert_eq!(
        create(&s, "p3", "e1", &body).await.status,
        StatusCode::CREATED
    );
    let before = read(&s, "p3", "e1").await.json();
    s.stop().await;
    as_previous_release(dir.path());
    assert!(dir.path().join("osia.sqlite3").exists());

    let s = start(dir.path()).await;
    assert!(!dir.path().join("osia.sqlite3").exists());
    assert!(dir.path().join("osia.sqlite3.migrated").exists());
    assert_eq!(read(&s, "p3", "e1").await.json(), before);
    let r = send(
        Method::GET,
        &s.osia("/v1/persons/p3/encounters/e1/templates?transactionId=m-1"),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(r.json().as_array().unwrap().len(), 3, "three fingers");
    let r = send(
        Method::GET,
        &s.osia("/v1/galleries/g1?transactionId=m-2"),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(r.json(), json!([{"personId": "p3", "encounterId": "e1"}]));
    // The encounter is found by its own biometrics: the engine person and its row agree.
    let probe = json!({"filter": {}, "biometricData": fixture_items()});
    let r = send(
        Method::POST,
        &s.osia("/v1/identify/g1?transactionId=m-3"),
        Some(ADMIN_KEY),
        Some(&probe),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()[0]["personId"], "p3", "{:?}", r.json());
    s.stop().await;
    // A second start has nothing to move.
    let s = start(dir.path()).await;
    assert!(!dir.path().join("osia.sqlite3.migrated-2").exists());
    assert_eq!(read(&s, "p3", "e1").await.status, StatusCode::OK);
    s.stop().await;
}
