//! Pages by number through `case_rank` equal the pages `OFFSET` gives, under every sort and
//! status filter, through changes of status, score and deadline, and after the schema step
//! that adds the table.

use super::query::Statements;
use super::rows::seq_of;
use super::tests::person;
use super::*;

const T0: u64 = 1_795_000_000;

fn new_case(n: u32) -> NewCase {
    // Scores with ties (many at the 64.0 cap), fractions, values on bucket edges
    // (multiples of 1/32) and below zero.
    let score = match n % 9 {
        0 | 1 => 64.0,
        2 => -0.25,
        3 => f64::from(n % 64) / 32.0,
        _ => f64::from((n * 7_919) % 6_400) / 100.0,
    };
    NewCase {
        kind: CaseKind::Biometric,
        applicant: person(n, "317101"),
        candidates: vec![CaseCandidate {
            person: person(n + 100_000, "317102"),
            score,
            finger_scores: [Some(0.3); 10],
            iris_distances: [Some(0.2), None],
            identical: Default::default(),
        }],
        callback_url: None,
        calibration: "test".into(),
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

/// The sequence numbers of a page read with `OFFSET` (no jump).
fn by_offset(store: &CaseStore, q: &CaseQuery, now: u64) -> Vec<i64> {
    let Statements {
        page, page_args, ..
    } = q.statements(now);
    store
        .store()
        .read(|c| {
            let mut stmt = c.prepare(&page).unwrap();
            let seqs = stmt
                .query_map(rusqlite::params_from_iter(page_args.iter()), |r| {
                    r.get::<_, i64>("seq")
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            Ok(seqs)
        })
        .unwrap()
}

const STATUSES: [StatusFilter; 6] = [
    StatusFilter::Active,
    StatusFilter::All,
    StatusFilter::Is(CaseStatus::Open),
    StatusFilter::Is(CaseStatus::Escalated),
    StatusFilter::Is(CaseStatus::PendingApproval),
    StatusFilter::Is(CaseStatus::Cleared),
];

/// Every page (and one past the end) of every sort and status filter equals `OFFSET`'s.
fn assert_pages_equal_offset(store: &CaseStore, total: usize, now: u64) {
    for sort in [Sort::Newest, Sort::Score, Sort::TimeLeft] {
        for status in STATUSES {
            let mut seen = 0;
            for page in 0..=total.div_ceil(25) {
                let q = CaseQuery {
                    status,
                    sort,
                    offset: page * 25,
                    limit: 25,
                    ..CaseQuery::default()
                };
                let got: Vec<i64> = store
                    .list(&q, now)
                    .unwrap()
                    .cases
                    .iter()
                    .map(|c| seq_of(&c.case_id).unwrap())
                    .collect();
                let expected = by_offset(store, &q, now);
                assert_eq!(got, expected, "{sort:?} {status:?} page {page}");
                seen += got.len();
            }
            let all = by_offset(
                store,
                &CaseQuery {
                    status,
                    sort,
                    limit: total + 1,
                    ..CaseQuery::default()
                },
                now,
            );
            assert_eq!(seen, all.len(), "{sort:?} {status:?}: every row once");
        }
    }
}

#[test]
fn pages_by_number_equal_offset_pages_through_changes_and_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaseStore::open(dir.path()).unwrap();
    // 2,500 cases opened every 7 minutes (deadlines over about two weeks), their sequence
    // numbers from 3,000 on (the first case renumbered, the next ones follow it), so they
    // cross a newest-order bucket of 4,096.
    let n = 2_500u32;
    store.open_cases_at(vec![(new_case(0), T0)]).unwrap();
    write(
        &store,
        "PRAGMA defer_foreign_keys = ON;
         UPDATE cases SET seq = 3000 WHERE seq = 1;
         UPDATE case_trail SET case_seq = 3000 WHERE case_seq = 1;
         UPDATE case_persons SET case_seq = 3000 WHERE case_seq = 1;
         UPDATE case_search SET case_seq = 3000 WHERE case_seq = 1;",
    );
    let news = (1..n)
        .map(|i| (new_case(i), T0 + u64::from(i) * 420))
        .collect();
    store.open_cases_at(news).unwrap();
    let now = T0 + u64::from(n) * 420;
    // Statuses through the workflow's columns, as the store writes them.
    write(
        &store,
        "UPDATE cases SET status = 'cleared', final = 1 WHERE seq % 7 = 0;
         UPDATE cases SET status = 'escalated' WHERE seq % 5 = 0 AND final = 0;
         UPDATE cases SET status = 'confirmed_duplicate', final = 1 WHERE seq % 17 = 0;
         UPDATE cases SET status = 'pending_approval' WHERE seq % 11 = 0 AND final = 0;",
    );
    assert_pages_equal_offset(&store, n as usize, now);
    // Scores and deadlines move, cases are deleted (no workflow does either).
    write(
        &store,
        "UPDATE cases SET score = score + 0.5 WHERE seq % 3 = 0;
         UPDATE cases SET deadline_secs = deadline_secs + 3 * 86400 WHERE seq % 13 = 0;
         DELETE FROM case_trail WHERE case_seq IN (3004, 4096, 5000);
         DELETE FROM case_persons WHERE case_seq IN (3004, 4096, 5000);
         DELETE FROM case_search WHERE case_seq IN (3004, 4096, 5000);
         DELETE FROM cases WHERE seq IN (3004, 4096, 5000);",
    );
    assert_pages_equal_offset(&store, n as usize, now);
    // Counts kept by the triggers equal counts of every case.
    let recount = |store: &CaseStore| -> Vec<(i64, String, i64, i64)> {
        store
            .store()
            .read(|c| {
                let mut stmt = c
                    .prepare(
                        "SELECT sort, status, bucket, n FROM case_rank WHERE n > 0 \
                         ORDER BY 1, 2, 3",
                    )
                    .unwrap();
                Ok(stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect())
            })
            .unwrap()
    };
    let kept = recount(&store);
    assert!(kept.len() > 100, "{}", kept.len());
    // A database of schema version 14 gets the counts from its cases.
    write(
        &store,
        "DROP TABLE encounters; DROP TABLE encounter_templates;
         DROP TABLE encounter_galleries; DROP TABLE encounter_retired;
         DROP INDEX persons_by_ack; DROP TRIGGER persons_ack_insert;
         DROP TRIGGER persons_ack_update; ALTER TABLE persons DROP COLUMN ack_seq;
         DROP TRIGGER case_rank_insert; DROP TRIGGER case_rank_delete;
         DROP TRIGGER case_rank_update; DROP TABLE case_rank;
         DROP INDEX persons_acknowledged; DROP INDEX persons_unsettled;",
    );
    store
        .store()
        .read(|c| {
            c.execute_batch("PRAGMA user_version = 14").unwrap();
            Ok(())
        })
        .unwrap();
    drop(store);
    let store = CaseStore::open(dir.path()).unwrap();
    assert_eq!(recount(&store), kept);
    assert_pages_equal_offset(&store, n as usize, now);
}

#[test]
fn a_deep_page_reads_the_bucket_counts_and_one_index_range() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaseStore::open(dir.path()).unwrap();
    store
        .open_cases_at(
            (0..50u32)
                .map(|i| (new_case(i), T0 + u64::from(i) * 600))
                .collect(),
        )
        .unwrap();
    for sort in [Sort::Newest, Sort::Score, Sort::TimeLeft] {
        for status in [StatusFilter::Active, StatusFilter::Is(CaseStatus::Open)] {
            let q = CaseQuery {
                status,
                sort,
                offset: 30,
                limit: 5,
                ..CaseQuery::default()
            };
            let s = store.store();
            let landing = s.read(|c| super::rank::landing(&q, s, c)).unwrap();
            let Some(super::rank::Landing::Jump(jump)) = landing else {
                panic!("{sort:?} {status:?}: {landing:?}");
            };
            let st = q.statements_from(T0, Some(&jump));
            let plan: Vec<String> = s
                .read(|c| {
                    let mut stmt = c
                        .prepare(&format!("EXPLAIN QUERY PLAN {}", st.page))
                        .unwrap();
                    Ok(stmt
                        .query_map(rusqlite::params_from_iter(st.page_args.iter()), |r| {
                            r.get::<_, String>(3)
                        })
                        .unwrap()
                        .map(Result::unwrap)
                        .collect())
                })
                .unwrap();
            assert!(
                plan.iter()
                    .all(|l| l.starts_with("SEARCH cases USING INDEX")),
                "{sort:?} {status:?}: {plan:?}"
            );
            assert!(plan.iter().all(|l| !l.contains("TEMP B-TREE")), "{plan:?}");
        }
    }
    // Filters without counts skip rows themselves.
    let q = CaseQuery {
        district: Some("317101".into()),
        offset: 10,
        ..CaseQuery::default()
    };
    let s = store.store();
    assert_eq!(s.read(|c| super::rank::landing(&q, s, c)).unwrap(), None);
}
