//! The case store's workflow, listing and durability.

use super::*;

pub(crate) fn person(n: u32, district: &str) -> PersonSummary {
    PersonSummary {
        reference_id: format!("P{n}"),
        request_id: format!("r{n}"),
        nik: format!("3171{n:012}"),
        name: format!("Person {n}"),
        sex: "F".into(),
        date_of_birth: "1990-01-01".into(),
        district: district.into(),
        service_point: format!("sp-{district}"),
        enrolled_at: "2026-11-25T00:00:00Z".into(),
        citizenship: "WNI".into(),
        passport_number: None,
        kitap_number: None,
        has_photo: false,
        has_signature: false,
    }
}

fn new_case(n: u32, score: f64, district: &str) -> NewCase {
    NewCase {
        kind: CaseKind::Biometric,
        applicant: person(n, district),
        candidates: vec![CaseCandidate {
            person: person(n + 100_000, "317101"),
            score,
            finger_scores: [Some(0.3); 10],
            iris_distances: [Some(0.2), None],
            identical: Default::default(),
        }],
        callback_url: None,
        calibration: "test".into(),
    }
}

fn ana() -> Actor {
    Actor {
        key_id: "a".into(),
        name: "Ana".into(),
        owner: String::new(),
    }
}

fn budi() -> Actor {
    Actor {
        key_id: "b".into(),
        name: "Budi".into(),
        owner: String::new(),
    }
}

const T0: u64 = 1_795_000_000;

/// A clearance of two relatives with `comment`.
pub(crate) fn clear(comment: &str) -> Decision {
    Decision::new(
        DecisionKind::Clear,
        Some(DecisionReason::FamilyMember),
        comment,
    )
}

#[test]
fn four_eyes_workflow_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaseStore::open(dir.path()).unwrap();
    let id = store
        .open_case_at(new_case(1, 30.0, "317101"), T0)
        .unwrap()
        .case_id;
    assert!(matches!(
        store.open_case(NewCase {
            candidates: vec![],
            ..new_case(2, 1.0, "317101")
        }),
        Err(CaseError::NoCandidates)
    ));
    // Ana takes it and holds it; Budi cannot decide meanwhile.
    let c = store.take(&id, &ana(), T0 + 10).unwrap();
    assert_eq!(c.holder(T0 + 11).map(|a| a.name.as_str()), Some("Ana"));
    assert!(matches!(
        store.decide(&id, &budi(), clear("no"), T0 + 20),
        Err(CaseError::TakenBy(n)) if n == "Ana"
    ));
    assert!(matches!(
        store.decide(&id, &ana(), clear("  "), T0 + 20),
        Err(CaseError::CommentRequired)
    ));
    assert!(matches!(
        store.decide(
            &id,
            &ana(),
            Decision::new(
                DecisionKind::ConfirmDuplicate {
                    duplicate_of: "P9".into()
                },
                Some(DecisionReason::SamePerson),
                "x"
            ),
            T0 + 20
        ),
        Err(CaseError::UnknownCandidate(_))
    ));
    let confirm = DecisionKind::ConfirmDuplicate {
        duplicate_of: "P100001".into(),
    };
    let (c, outcome) = store
        .decide(
            &id,
            &ana(),
            Decision::new(
                confirm.clone(),
                Some(DecisionReason::SamePerson),
                "same ridges",
            ),
            T0 + 30,
        )
        .unwrap();
    assert_eq!(c.status, CaseStatus::PendingApproval);
    assert!(outcome.is_none());
    assert!(matches!(
        store.approve(&id, &ana(), "me again", T0 + 40),
        Err(CaseError::SelfApproval)
    ));
    let (c, outcome) = store.approve(&id, &budi(), "agreed", T0 + 50).unwrap();
    assert_eq!(c.status, CaseStatus::ConfirmedDuplicate);
    assert_eq!(
        outcome,
        CaseOutcome::ConfirmedDuplicate {
            duplicate_of: "P100001".into()
        }
    );
    assert!(matches!(
        store.decide(&id, &budi(), clear("late"), T0 + 60),
        Err(CaseError::WrongStatus("confirmed_duplicate"))
    ));
    store.mark_delivered(&id, &budi(), T0 + 61).unwrap();
    let before = store.get(&id).unwrap();
    drop(store);
    let again = CaseStore::open(dir.path()).unwrap();
    let after = again.get(&id).unwrap();
    assert_eq!(before, after);
    assert!(after.outcome_delivered);
    let actions: Vec<&str> = after
        .trail
        .iter()
        .map(|e| match e.action {
            Action::Opened => "opened",
            Action::Viewed => "viewed",
            Action::Taken { .. } => "taken",
            Action::Decided { .. } => "decided",
            Action::Approved { .. } => "approved",
            Action::Delivered => "delivered",
            _ => "other",
        })
        .collect();
    assert_eq!(
        actions,
        ["opened", "taken", "decided", "approved", "delivered"]
    );
    assert_eq!(after.approval.as_ref().unwrap().by.name, "Budi");
}

#[test]
fn leases_lapse_and_release_and_escalation_and_return() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaseStore::open(dir.path()).unwrap();
    let id = store
        .open_case_at(new_case(1, 30.0, "317101"), T0)
        .unwrap()
        .case_id;
    store.take(&id, &ana(), T0).unwrap();
    assert!(matches!(
        store.take(&id, &budi(), T0 + 1),
        Err(CaseError::TakenBy(_))
    ));
    // Budi may read it without taking it.
    let c = store.find(&id).unwrap().unwrap();
    assert_eq!(c.holder(T0 + 2).unwrap().key_id, "a");
    // After the lease lapses Budi takes it.
    let lapse = T0 + store.policy().lease_secs + 1;
    let c = store.take(&id, &budi(), lapse).unwrap();
    assert_eq!(c.holder(lapse).unwrap().key_id, "b");
    assert!(matches!(
        store.release(&id, &ana(), lapse),
        Err(CaseError::TakenBy(_))
    ));
    let c = store.release(&id, &budi(), lapse).unwrap();
    assert!(c.holder(lapse).is_none());
    let (c, _) = store
        .decide(
            &id,
            &ana(),
            Decision::new(DecisionKind::Escalate, None, "unsure"),
            lapse + 1,
        )
        .unwrap();
    assert_eq!(c.status, CaseStatus::Escalated);
    let (c, _) = store
        .decide(
            &id,
            &budi(),
            Decision::new(
                DecisionKind::ConfirmDuplicate {
                    duplicate_of: "P100001".into(),
                },
                Some(DecisionReason::FraudSuspected),
                "looks same",
            ),
            lapse + 2,
        )
        .unwrap();
    assert_eq!(c.status, CaseStatus::PendingApproval);
    assert!(matches!(
        store.return_case(&id, &budi(), "x", lapse + 3),
        Err(CaseError::SelfApproval)
    ));
    let c = store
        .return_case(&id, &ana(), "not convinced", lapse + 3)
        .unwrap();
    assert_eq!(c.status, CaseStatus::Open);
    let (c, outcome) = store
        .decide(&id, &ana(), clear("different people"), lapse + 4)
        .unwrap();
    assert_eq!(c.status, CaseStatus::Cleared);
    assert_eq!(outcome, Some(CaseOutcome::Cleared));
}

#[test]
fn listing_filters_sorts_pages_and_counts_overdue() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaseStore::open(dir.path()).unwrap();
    let day = 86_400;
    let news = (0..30u32)
        .map(|i| {
            let district = if i % 3 == 0 { "320101" } else { "317101" };
            (
                new_case(i, f64::from(i % 7), district),
                T0 + u64::from(i) * day / 4,
            )
        })
        .collect();
    let ids = store.open_cases_at(news).unwrap();
    assert_eq!(ids.len(), 30);
    assert_eq!(ids[0], "C000000001");
    let now = T0 + 30 * day / 4;
    let all = store
        .list(
            &CaseQuery {
                limit: 100,
                ..CaseQuery::default()
            },
            now,
        )
        .unwrap();
    assert_eq!(all.total, 30);
    assert_eq!(all.cases[0].case_id, "C000000030");
    // District and score band.
    let q = CaseQuery {
        district: Some("320101".into()),
        min_score: Some(3.0),
        limit: 100,
        ..CaseQuery::default()
    };
    let page = store.list(&q, now).unwrap();
    assert!(page.total > 0);
    assert!(page
        .cases
        .iter()
        .all(|c| c.new.applicant.district == "320101" && c.best_score() >= 3.0));
    let expected = (0..30u32).filter(|i| i % 3 == 0 && i % 7 >= 3).count();
    assert_eq!(page.total, expected);
    // Unknown district: nothing.
    let q = CaseQuery {
        district: Some("999999".into()),
        ..CaseQuery::default()
    };
    assert_eq!(store.list(&q, now).unwrap().total, 0);
    // Sorting by score and by time left.
    let by_score = store
        .list(
            &CaseQuery {
                sort: Sort::Score,
                limit: 100,
                ..CaseQuery::default()
            },
            now,
        )
        .unwrap();
    assert!(by_score
        .cases
        .windows(2)
        .all(|w| w[0].best_score() >= w[1].best_score()));
    let by_deadline = store
        .list(
            &CaseQuery {
                sort: Sort::TimeLeft,
                limit: 100,
                ..CaseQuery::default()
            },
            now,
        )
        .unwrap();
    assert!(by_deadline
        .cases
        .windows(2)
        .all(|w| w[0].deadline_secs <= w[1].deadline_secs));
    // Paging: offset and limit, total unchanged.
    let p2 = store
        .list(
            &CaseQuery {
                offset: 10,
                limit: 10,
                ..CaseQuery::default()
            },
            now,
        )
        .unwrap();
    assert_eq!(p2.total, 30);
    assert_eq!(p2.cases.len(), 10);
    assert_eq!(p2.cases[0].case_id, "C000000020");
    // Date range: opened in the first day only.
    let q = CaseQuery {
        opened_from: Some(T0),
        opened_to: Some(T0 + day),
        ..CaseQuery::default()
    };
    assert_eq!(store.list(&q, now).unwrap().total, 4);
    // Taken and decided cases leave the untaken view; final ones leave the active view.
    store.take("C000000030", &ana(), now).unwrap();
    store
        .decide("C000000029", &ana(), clear("no"), now)
        .unwrap();
    let q = |status| CaseQuery {
        status,
        limit: 100,
        ..CaseQuery::default()
    };
    assert_eq!(store.list(&q(StatusFilter::Taken), now).unwrap().total, 1);
    assert_eq!(
        store.list(&q(StatusFilter::Untaken), now).unwrap().total,
        28
    );
    assert_eq!(store.list(&q(StatusFilter::Active), now).unwrap().total, 29);
    assert_eq!(
        store
            .list(&q(StatusFilter::Is(CaseStatus::Cleared)), now)
            .unwrap()
            .total,
        1
    );
    assert_eq!(store.list(&q(StatusFilter::All), now).unwrap().total, 30);
    // Overdue: deadlines before `now`, final cases excluded.
    let counts = store.counts(now).unwrap();
    assert_eq!(counts.total, 30);
    assert_eq!(counts.active, 29);
    let overdue = store
        .list(
            &CaseQuery {
                limit: 100,
                ..CaseQuery::default()
            },
            now,
        )
        .unwrap()
        .cases
        .iter()
        .filter(|c| c.deadline_secs < now)
        .count();
    assert!(overdue > 0);
    assert_eq!(counts.overdue, overdue);
    // The index survives a restart.
    drop(store);
    let store = CaseStore::open(dir.path()).unwrap();
    assert_eq!(store.list(&q(StatusFilter::Taken), now).unwrap().total, 1);
    assert_eq!(store.counts(now).unwrap(), counts);
}

#[test]
fn a_page_counts_its_total_up_to_the_cap_and_says_when_there_are_more() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaseStore::open(dir.path()).unwrap();
    let n = COUNT_CAP as u32 + 30;
    let news = (0..n)
        .map(|i| {
            let district = if i < 40 { "320101" } else { "317101" };
            (new_case(i, f64::from(i % 7), district), T0 + u64::from(i))
        })
        .collect();
    store.open_cases_at(news).unwrap();
    let now = T0 + u64::from(n);
    let q = CaseQuery {
        limit: 25,
        ..CaseQuery::default()
    };
    let page = store.list(&q, now).unwrap();
    assert!(!page.total_exact);
    assert_eq!(page.total, COUNT_CAP + 1);
    assert_eq!(page.cases.len(), 25);
    // The newest first, counted or not.
    assert_eq!(page.cases[0].case_id, format!("C{n:09}"));
    let few = CaseQuery {
        district: Some("320101".into()),
        ..q
    };
    let page = store.list(&few, now).unwrap();
    assert!(page.total_exact);
    assert_eq!(page.total, 40);
}

#[test]
fn keyset_pages_match_offset_pages_in_every_sort_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = CaseStore::open(dir.path()).unwrap();
    // Scores repeat (ties broken by sequence number), deadlines repeat too.
    let news = (0..103u32)
        .map(|i| {
            (
                new_case(i, f64::from(i % 5), "317101"),
                T0 + u64::from(i / 3),
            )
        })
        .collect();
    store.open_cases_at(news).unwrap();
    let now = T0 + 200;
    for sort in [Sort::Newest, Sort::Score, Sort::TimeLeft] {
        let ids = |q: &CaseQuery| -> Vec<String> {
            let page = store.list(q, now).unwrap();
            page.cases.iter().map(|c| c.case_id.clone()).collect()
        };
        let by_offset = |n: usize| CaseQuery {
            sort,
            offset: n * 10,
            limit: 10,
            ..CaseQuery::default()
        };
        let mut q = by_offset(0);
        let mut pages = vec![ids(&q)];
        for n in 1..11 {
            let last = store.list(&q, now).unwrap().cases.last().cloned().unwrap();
            q = CaseQuery {
                seek: Some(Seek::After(Cursor::of(&last, sort).unwrap())),
                ..by_offset(0)
            };
            let page = ids(&q);
            assert_eq!(page, ids(&by_offset(n)), "{sort:?} page {n}");
            pages.push(page);
        }
        assert_eq!(pages[10].len(), 3, "{sort:?}: the last page");
        // Back from page 5 to page 4, through the text form of the cursor.
        let first = store.list(&by_offset(5), now).unwrap().cases[0].clone();
        let cursor = Cursor::parse(&Cursor::of(&first, sort).unwrap().text()).unwrap();
        let back = CaseQuery {
            seek: Some(Seek::Before(cursor)),
            ..by_offset(0)
        };
        assert_eq!(ids(&back), pages[4], "{sort:?}: before page 5");
    }
}
