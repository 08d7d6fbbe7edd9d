//! The queue's search: what each kind of text finds, that every lookup is an index range,
//! and that the schema step indexes the cases stored before it.

use std::sync::Arc;

use super::tests::person;
use super::*;
use crate::state::StateStore;

const T0: u64 = 1_795_000_000;

fn new_case(n: u32, name: &str, candidate: u32) -> NewCase {
    let mut applicant = person(n, "317101");
    applicant.name = name.into();
    NewCase {
        kind: CaseKind::Biometric,
        applicant,
        candidates: vec![CaseCandidate {
            person: person(candidate, "317101"),
            score: 30.0,
            finger_scores: [Some(0.3); 10],
            iris_distances: [Some(0.2), None],
            identical: Default::default(),
        }],
        callback_url: None,
        calibration: "test".into(),
    }
}

fn ids(cases: &[Case]) -> Vec<&str> {
    cases.iter().map(|c| c.case_id.as_str()).collect()
}

fn find(store: &CaseStore, text: &str) -> Vec<String> {
    let search = CaseSearch::parse(text).unwrap().unwrap();
    ids(&store.search(&search).unwrap())
        .into_iter()
        .map(str::to_owned)
        .collect()
}

fn seeded(store: &CaseStore) {
    store
        .open_case_at(new_case(1, "Siti Rahayu", 900), T0)
        .unwrap();
    store
        .open_case_at(new_case(2, "Budi Santoso", 900), T0)
        .unwrap();
    store
        .open_case_at(new_case(3, "siti aminah", 901), T0)
        .unwrap();
}

#[test]
fn search_finds_by_nik_request_id_name_prefix_and_case_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaseStore::open(dir.path()).unwrap();
    seeded(&store);
    // NIK exactly, as applicant or as candidate (newest first).
    assert_eq!(find(&store, &person(2, "").nik), ["C000000002"]);
    assert_eq!(
        find(&store, &person(900, "").nik),
        ["C000000002", "C000000001"]
    );
    assert!(find(&store, "3171000000009999").is_empty());
    // request_id exactly.
    assert_eq!(find(&store, "r3"), ["C000000003"]);
    // Name: the start of the full name, ASCII letters without case.
    assert_eq!(find(&store, "SITI"), ["C000000003", "C000000001"]);
    assert_eq!(find(&store, "siti r"), ["C000000001"]);
    assert!(find(&store, "rahayu").is_empty());
    // Case id.
    assert_eq!(find(&store, "C000000002"), ["C000000002"]);
    assert!(find(&store, "C000000009").is_empty());
}

#[test]
fn search_text_is_checked() {
    assert_eq!(CaseSearch::parse("  "), Ok(None));
    assert_eq!(CaseSearch::parse("x"), Err(SearchError::TooShort));
    assert_eq!(CaseSearch::parse("a\u{0}b"), Err(SearchError::Control));
    assert_eq!(
        CaseSearch::parse(&"a".repeat(129)),
        Err(SearchError::TooLong)
    );
    assert_eq!(
        CaseSearch::parse(" 3171000000000001 "),
        Ok(Some(CaseSearch::Nik("3171000000000001".into())))
    );
    assert_eq!(
        CaseSearch::parse("C000000012"),
        Ok(Some(CaseSearch::CaseId("C000000012".into())))
    );
    assert_eq!(
        CaseSearch::parse("317100000000001"),
        Ok(Some(CaseSearch::Text("317100000000001".into())))
    );
}

/// Every search reads `case_search` by its primary key and `cases` by its row id: no step
/// of the plan scans a table.
#[test]
fn every_search_is_an_index_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaseStore::open(dir.path()).unwrap();
    seeded(&store);
    for search in [
        CaseSearch::Nik("3171000000000001".into()),
        CaseSearch::Text("siti".into()),
        CaseSearch::CaseId("C000000001".into()),
    ] {
        let (sql, args) = search.sql();
        let plan: Vec<String> = store
            .store()
            .read(|conn| {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                        r.get::<_, String>(3)
                    })
                    .unwrap();
                Ok(rows.map(Result::unwrap).collect())
            })
            .unwrap();
        assert!(!plan.is_empty());
        for step in &plan {
            assert!(
                !step.starts_with("SCAN") && !step.contains("TEMP B-TREE"),
                "{search:?}: {plan:?}"
            );
        }
        if !matches!(search, CaseSearch::CaseId(_)) {
            assert!(
                plan.iter()
                    .any(|s| s.contains("case_search USING PRIMARY KEY")),
                "{search:?}: {plan:?}"
            );
        }
    }
}

/// Cases stored before the search table existed are indexed by its schema step; their
/// strength reads 0.
#[test]
fn the_schema_step_indexes_stored_cases() {
    let dir = tempfile::tempdir().unwrap();
    {
        let state = Arc::new(StateStore::open(dir.path()).unwrap());
        let store = CaseStore::new(state.clone(), CasePolicy::default());
        seeded(&store);
        state
            .transaction(|tx| {
                // Back to the schema of version 10 (before the search terms, strength, history, tally
                // and rank counts).
                tx.execute_batch(
                    "DROP TABLE encounters; DROP TABLE encounter_templates;
         DROP TABLE encounter_galleries; DROP TABLE encounter_retired;
         DROP INDEX persons_by_ack;
                    DROP TRIGGER persons_ack_insert;
                    DROP TRIGGER persons_ack_update;
                    ALTER TABLE persons DROP COLUMN ack_seq;
                    DROP INDEX persons_acknowledged;
                    DROP INDEX persons_unsettled;
                    DROP TABLE case_persons;
                    DROP TRIGGER case_rank_insert;
                    DROP TRIGGER case_rank_delete;
                    DROP TRIGGER case_rank_update;
                    DROP TABLE case_rank;
                    DROP TRIGGER case_tally_insert;
                    DROP TRIGGER case_tally_delete;
                    DROP TRIGGER case_tally_update;
                    DROP TABLE case_tally;
                    DROP INDEX cases_by_final_opened_cover;
                    CREATE INDEX cases_by_final_opened ON cases (final, opened_secs);
                    DROP TABLE case_search;
                    DROP INDEX cases_by_score;
                    DROP INDEX cases_by_status_score;
                    ALTER TABLE cases DROP COLUMN strength;
                    CREATE INDEX cases_by_score ON cases (final, score DESC, seq);
                    CREATE INDEX cases_by_status_score ON cases (status, score DESC, seq);
                    PRAGMA user_version = 10;",
                )
                .map_err(|e| state.error(e))
            })
            .unwrap();
    }
    let state = Arc::new(StateStore::open(dir.path()).unwrap());
    let store = CaseStore::new(state, CasePolicy::default());
    assert_eq!(find(&store, "siti"), ["C000000003", "C000000001"]);
    assert_eq!(find(&store, &person(901, "").nik), ["C000000003"]);
    assert_eq!(find(&store, "r2"), ["C000000002"]);
    assert_eq!(store.get("C000000001").map(|c| c.strength), Some(0));
}
