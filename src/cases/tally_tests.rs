//! The case counts kept in `case_tally` and the query plans of the queue's counts and of
//! the opening-date filter.

use rusqlite::Connection;

use super::query::{COUNT_ACTIVE, COUNT_OVERDUE_DAYS, COUNT_OVERDUE_TODAY, COUNT_TOTAL};
use super::tests::person;
use super::*;

const T0: u64 = 1_795_000_000;
const DAY: u64 = 86_400;

fn new_case(n: u32) -> NewCase {
    NewCase {
        kind: CaseKind::Biometric,
        applicant: person(n, "317101"),
        candidates: vec![CaseCandidate {
            person: person(n + 100_000, "317102"),
            score: f64::from(n % 40),
            finger_scores: [Some(0.3); 10],
            iris_distances: [Some(0.2), None],
            identical: Default::default(),
        }],
        callback_url: None,
        calibration: "test".into(),
    }
}

/// The counts at `now` by reading every case.
fn counted(store: &CaseStore, now: u64) -> CaseCounts {
    store
        .store()
        .read(|c| {
            let n = |sql: &str| -> i64 { c.query_row(sql, [now], |r| r.get(0)).unwrap() };
            Ok(CaseCounts {
                total: usize::try_from(n("SELECT count(*) FROM cases WHERE ?1 = ?1")).unwrap(),
                active: usize::try_from(n(
                    "SELECT count(*) FROM cases WHERE final = 0 AND ?1 = ?1",
                ))
                .unwrap(),
                overdue: usize::try_from(n(
                    "SELECT count(*) FROM cases WHERE final = 0 AND deadline_secs < ?1",
                ))
                .unwrap(),
            })
        })
        .unwrap()
}

fn assert_counts_at_every_time(store: &CaseStore) {
    for hours in (0..24 * 12).step_by(5) {
        let now = T0 + hours * 3600 + 17;
        assert_eq!(store.counts(now).unwrap(), counted(store, now), "at {now}");
    }
}

fn write(store: &CaseStore, sql: &str) {
    let s = store.store();
    s.transaction(|tx| {
        tx.execute_batch(sql).map_err(|e| s.error(e))?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn counts_from_the_tally_equal_counts_of_every_case_through_changes_and_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaseStore::open(dir.path()).unwrap();
    // Cases opened every 70 minutes over about a week: deadlines spread over many days.
    let news = (0..150u32)
        .map(|i| (new_case(i), T0 + u64::from(i) * 4_200))
        .collect();
    store.open_cases_at(news).unwrap();
    assert_counts_at_every_time(&store);
    // Decisions finalise cases (once and again: an unchanged row keeps its count),
    // deadlines move, a case is taken through the workflow.
    write(
        &store,
        "UPDATE cases SET final = 1, status = 'cleared' WHERE seq % 7 = 0;
         UPDATE cases SET final = 1 WHERE seq % 7 = 0;
         UPDATE cases SET deadline_secs = deadline_secs + 3 * 86400 WHERE seq % 5 = 0;
         UPDATE cases SET deadline_secs = deadline_secs - 2 * 86400, final = 1
             WHERE seq % 11 = 0;",
    );
    let c = store.list(&CaseQuery::default(), T0).unwrap().cases[0].clone();
    store
        .take(
            &c.case_id,
            &Actor {
                key_id: "a".into(),
                name: "Ana".into(),
                owner: String::new(),
            },
            T0 + 5,
        )
        .unwrap();
    assert_counts_at_every_time(&store);
    let before = store.counts(T0 + 4 * DAY).unwrap();
    assert!(
        before.overdue > 0 && before.active < before.total,
        "{before:?}"
    );
    // A database of schema version 13 (before the tally) gets its tally from its cases.
    write(
        &store,
        "DROP TABLE encounters; DROP TABLE encounter_templates;
         DROP TABLE encounter_galleries; DROP TABLE encounter_retired;
         DROP INDEX persons_by_ack; DROP TRIGGER persons_ack_insert;
         DROP TRIGGER persons_ack_update; ALTER TABLE persons DROP COLUMN ack_seq;
         DROP TRIGGER case_rank_insert; DROP TRIGGER case_rank_delete;
         DROP TRIGGER case_rank_update; DROP TABLE case_rank;
         DROP TRIGGER case_tally_insert; DROP TRIGGER case_tally_delete;
         DROP TRIGGER case_tally_update; DROP TABLE case_tally;
         DROP INDEX cases_by_final_opened_cover;
         CREATE INDEX cases_by_final_opened ON cases (final, opened_secs);
         DROP INDEX persons_acknowledged; DROP INDEX persons_unsettled;",
    );
    store
        .store()
        .read(|c| {
            c.execute_batch("PRAGMA user_version = 13").unwrap();
            Ok(())
        })
        .unwrap();
    drop(store);
    let store = CaseStore::open(dir.path()).unwrap();
    assert_eq!(store.counts(T0 + 4 * DAY).unwrap(), before);
    assert_counts_at_every_time(&store);
    // Deleting a case (no workflow does) keeps the tally too.
    write(
        &store,
        "DELETE FROM case_trail WHERE case_seq = 3; DELETE FROM case_persons WHERE case_seq = 3;
         DELETE FROM cases WHERE seq = 3;",
    );
    assert_counts_at_every_time(&store);
}

/// The plan lines of `sql`.
fn plan(conn: &Connection, sql: &str, args: &[rusqlite::types::Value]) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
        r.get::<_, String>(3)
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn the_counts_and_the_dated_page_read_indexes_not_every_case() {
    use rusqlite::types::Value;
    let dir = tempfile::tempdir().unwrap();
    let store = CaseStore::open(dir.path()).unwrap();
    store
        .open_cases_at(
            (0..20u32)
                .map(|i| (new_case(i), T0 + u64::from(i) * 600))
                .collect(),
        )
        .unwrap();
    let s = store.store();
    s.read(|c| {
        for (sql, args) in [
            (COUNT_TOTAL, vec![]),
            (COUNT_ACTIVE, vec![]),
            (COUNT_OVERDUE_DAYS, vec![Value::Integer(3)]),
        ] {
            let p = plan(c, sql, &args);
            assert!(p.iter().all(|l| !l.contains(" cases")), "{sql}: {p:?}");
        }
        let p = plan(
            c,
            COUNT_OVERDUE_TODAY,
            &[Value::Integer(0), Value::Integer(1)],
        );
        assert!(
            p.iter()
                .all(|l| l.starts_with("SEARCH cases USING COVERING INDEX")),
            "{p:?}"
        );
        Ok(())
    })
    .unwrap();
    for sort in [Sort::Newest, Sort::Score, Sort::TimeLeft] {
        for status in [
            StatusFilter::Active,
            StatusFilter::Untaken,
            StatusFilter::Taken,
        ] {
            let q = CaseQuery {
                status,
                opened_from: Some(T0 + 600),
                opened_to: Some(T0 + 6000),
                min_score: Some(2.0),
                sort,
                limit: 5,
                ..CaseQuery::default()
            };
            let st = q.statements(T0);
            s.read(|c| {
                let p = plan(c, &st.count, &st.count_args);
                assert!(
                    p.iter()
                        .any(|l| l.contains("COVERING INDEX cases_by_final_opened_cover")),
                    "{p:?}"
                );
                // The page's rows are chosen in the index; the table is read by key only.
                let p = plan(c, &st.page, &st.page_args);
                assert!(
                    p.iter()
                        .any(|l| l.contains("COVERING INDEX cases_by_final_opened_cover")),
                    "{sort:?} {status:?}: {p:?}"
                );
                assert!(p.iter().all(|l| !l.starts_with("SCAN cases")), "{p:?}");
                Ok(())
            })
            .unwrap();
            // The same rows as a listing that reads every case.
            let all = store
                .list(
                    &CaseQuery {
                        status,
                        sort,
                        limit: 100,
                        ..CaseQuery::default()
                    },
                    T0,
                )
                .unwrap();
            let expected: Vec<String> = all
                .cases
                .iter()
                .filter(|c| {
                    c.opened_secs >= T0 + 600 && c.opened_secs < T0 + 6000 && c.best_score() >= 2.0
                })
                .take(5)
                .map(|c| c.case_id.clone())
                .collect();
            let got: Vec<String> = store
                .list(&q, T0)
                .unwrap()
                .cases
                .iter()
                .map(|c| c.case_id.clone())
                .collect();
            assert_eq!(got, expected, "{sort:?} {status:?}");
        }
    }
}
