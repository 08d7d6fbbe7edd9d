//! A case's strength: how many fingers and eyes of its best candidate are strong evidence
//! of the same person. The fused score is capped per modality (fingers 40, eyes 24), so
//! many cases sit at exactly 64.0; the strength orders them within one score (the queue's
//! score sort breaks ties on it, strongest first). It is counted once when the case opens
//! and kept in `cases.strength`; cases stored before the column have strength 0.

use super::{CaseCandidate, NewCase};

/// Finger score (the matcher's similarity) of strong evidence.
pub const FINGER_STRONG: f32 = 0.15;
/// Normalised iris distance at or below which an eye is strong evidence.
pub const IRIS_STRONG: f32 = 0.28;
/// The highest strength: ten fingers and two eyes.
pub const MAX_STRENGTH: u32 = 12;

/// Fingers scoring at least [`FINGER_STRONG`] plus eyes at most [`IRIS_STRONG`] apart.
pub fn of_candidate(c: &CaseCandidate) -> u32 {
    let fingers = c
        .finger_scores
        .iter()
        .flatten()
        .filter(|&&s| s >= FINGER_STRONG)
        .count();
    let eyes = c
        .iris_distances
        .iter()
        .flatten()
        .filter(|&&d| d <= IRIS_STRONG)
        .count();
    u32::try_from(fingers + eyes).unwrap_or(MAX_STRENGTH)
}

/// The strength of a new case: that of its best (first) candidate.
pub fn of_case(new: &NewCase) -> u32 {
    new.candidates.first().map_or(0, of_candidate)
}

#[cfg(test)]
mod tests {
    use super::super::tests::person;
    use super::super::*;
    use super::of_case;

    const T0: u64 = 1_795_000_000;

    /// A case at `score` whose best candidate has `strong` strong fingers.
    fn new_case(n: u32, score: f64, strong: usize) -> NewCase {
        let mut finger_scores = [Some(0.06); 10];
        for s in finger_scores.iter_mut().take(strong) {
            *s = Some(0.4);
        }
        NewCase {
            kind: CaseKind::Biometric,
            applicant: person(n, "317101"),
            candidates: vec![CaseCandidate {
                person: person(n + 100_000, "317101"),
                score,
                finger_scores,
                iris_distances: [Some(0.2), Some(0.31)],
                identical: Default::default(),
            }],
            callback_url: None,
            calibration: "test".into(),
        }
    }

    #[test]
    fn strength_counts_strong_fingers_and_eyes_of_the_best_candidate() {
        assert_eq!(of_case(&new_case(1, 64.0, 0)), 1);
        assert_eq!(of_case(&new_case(1, 64.0, 7)), 8);
        let mut none = new_case(1, 64.0, 10);
        none.candidates[0].finger_scores[0] = None;
        none.candidates[0].iris_distances = [None, Some(0.28)];
        assert_eq!(of_case(&none), 10);
    }

    /// 47 cases at the cap in shuffled strengths, 6 below it: the score sort puts the
    /// strongest first among equal scores, and paging forward and back by cursor (through
    /// its text form) gives every case once, in that order.
    #[test]
    fn paging_through_ties_at_the_cap_skips_and_repeats_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaseStore::open(dir.path()).unwrap();
        let news = (0..53u32)
            .map(|i| {
                let (score, strong) = if i < 47 {
                    (64.0, (i * 7 % 6) as usize)
                } else {
                    (30.0 + f64::from(i % 2), (i % 3) as usize)
                };
                (new_case(i, score, strong), T0 + u64::from(i))
            })
            .collect();
        store.open_cases_at(news).unwrap();
        // Cases of an older release: no strength stored.
        store
            .store()
            .transaction(|tx| {
                tx.execute("UPDATE cases SET strength = 0 WHERE seq IN (3, 9)", [])
                    .map_err(|e| store.store().error(e))
            })
            .unwrap();
        let now = T0 + 100;
        let all = store
            .list(
                &CaseQuery {
                    sort: Sort::Score,
                    limit: 100,
                    ..CaseQuery::default()
                },
                now,
            )
            .unwrap()
            .cases;
        assert_eq!(all.len(), 53);
        let mut expected = all.clone();
        expected.sort_by(|a, b| {
            b.best_score()
                .total_cmp(&a.best_score())
                .then(b.strength.cmp(&a.strength))
                .then(a.case_id.cmp(&b.case_id))
        });
        let ids = |cases: &[Case]| cases.iter().map(|c| c.case_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&all), ids(&expected));
        assert_eq!(all[0].strength, 6, "the strongest case at the cap leads");
        let zero = all.iter().find(|c| c.case_id == "C000000003").unwrap();
        assert_eq!(zero.strength, 0);
        // Forward, ten at a time, by the text form of the last row's cursor.
        let page = |seek| CaseQuery {
            sort: Sort::Score,
            limit: 10,
            seek,
            ..CaseQuery::default()
        };
        let cursor = |c: &Case| Cursor::parse(&Cursor::of(c, Sort::Score).unwrap().text()).unwrap();
        let mut pages = vec![store.list(&page(None), now).unwrap().cases];
        while let Some(last) = pages.last().and_then(|p| p.last()).cloned() {
            let next = store
                .list(&page(Some(Seek::After(cursor(&last)))), now)
                .unwrap();
            if next.cases.is_empty() {
                break;
            }
            pages.push(next.cases);
        }
        assert_eq!(ids(&pages.concat()), ids(&expected));
        // Back from each page's first row: the page before it.
        for n in 1..pages.len() {
            let first = &pages[n][0];
            let back = store
                .list(&page(Some(Seek::Before(cursor(first)))), now)
                .unwrap();
            assert_eq!(ids(&back.cases), ids(&pages[n - 1]), "before page {n}");
        }
    }
}

#[cfg(test)]
mod plan_tests {
    use super::super::*;

    /// The score sort's pages, first and sought from a cursor either way, in the active
    /// queue and in one status, walk a score index: no step scans the table or sorts.
    #[test]
    fn the_score_sort_and_its_seeks_walk_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = CaseStore::open(dir.path()).unwrap();
        let cursor = Cursor::parse("7.4634344621183885312.3").unwrap();
        for status in [StatusFilter::Active, StatusFilter::Is(CaseStatus::Open)] {
            for seek in [None, Some(Seek::After(cursor)), Some(Seek::Before(cursor))] {
                let q = CaseQuery {
                    status,
                    sort: Sort::Score,
                    seek,
                    ..CaseQuery::default()
                };
                let st = q.statements(1_000);
                let (sql, args) = (st.page, st.page_args);
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
                let plan = plan.join("; ");
                assert!(
                    plan.contains("USING INDEX cases_by_score")
                        || plan.contains("USING INDEX cases_by_status_score"),
                    "{status:?} {seek:?}: {plan}"
                );
                assert!(
                    !plan.contains("TEMP B-TREE") && !plan.contains("SCAN"),
                    "{status:?} {seek:?}: {plan}"
                );
            }
        }
    }
}
