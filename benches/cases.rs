//! Case queue listing in the state store: one page of 25 with every filter and each sort
//! order (first, 100th, 20,000th and last pages; by number through `case_rank` and, for
//! comparison in the same run, by `OFFSET` as the previous release read them), the overdue
//! count, and opening the store (which reads no
//! case; then the same with the whole-file check the background thread runs). For
//! comparison in the same run, the previous release's count and opening-date page queries.
//! 100,000 cases by default; `TUNGGAL_BENCH_CASES=1000000` sets the count.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use tunggal::cases::{
    CaseCandidate, CaseKind, CaseQuery, CaseStatus, CaseStore, Cursor, NewCase, PersonSummary,
    Seek, Sort, StatusFilter,
};

const DEFAULT_CASES: u32 = 100_000;

/// The number of cases to fill (`TUNGGAL_BENCH_CASES`, default 100,000).
fn cases() -> u32 {
    std::env::var("TUNGGAL_BENCH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}
const T0: u64 = 1_795_000_000;

fn person(n: u32, district: &str) -> PersonSummary {
    PersonSummary {
        reference_id: format!("P{n:08}"),
        request_id: format!("req-{n:08}"),
        nik: format!("{district}0101900{n:03}"),
        name: format!("Person {n}"),
        sex: "F".into(),
        date_of_birth: "1990-01-01".into(),
        district: district.into(),
        service_point: format!("sp-{}", n % 40),
        enrolled_at: "2026-11-25T00:00:00Z".into(),
        citizenship: "WNI".into(),
        passport_number: None,
        kitap_number: None,
        has_photo: false,
        has_signature: false,
    }
}

fn fill(store: &CaseStore, n: u32) {
    let districts: Vec<String> = (0..50).map(|d| format!("3171{d:02}")).collect();
    let mut batch = Vec::new();
    for i in 0..n {
        let district = &districts[(i % 50) as usize];
        let score = f64::from((i.wrapping_mul(2_654_435_761) >> 8) % 4_000) / 100.0;
        batch.push((
            NewCase {
                kind: CaseKind::Biometric,
                applicant: person(i, district),
                candidates: vec![CaseCandidate {
                    person: person(i + n, "317101"),
                    score,
                    finger_scores: [Some(0.2); 10],
                    iris_distances: [Some(0.25), Some(0.3)],
                    identical: Default::default(),
                }],
                callback_url: None,
                calibration: "bench".into(),
            },
            T0 + u64::from(i) * 30,
        ));
        if batch.len() == 10_000 {
            store.open_cases_at(std::mem::take(&mut batch)).unwrap();
        }
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = CaseStore::open(dir.path()).unwrap();
    let n = cases();
    fill(&store, n);
    let now = T0 + u64::from(n) * 30;
    let mut g = c.benchmark_group(format!("case_queue_{n}"));
    g.sample_size(10);
    g.warm_up_time(std::time::Duration::from_secs(1));
    g.measurement_time(std::time::Duration::from_secs(2));
    let page = |sort: Sort, number: usize| CaseQuery {
        sort,
        offset: (number - 1) * 25,
        limit: 25,
        ..CaseQuery::default()
    };
    // The last page of the whole queue.
    let last = (n as usize).div_ceil(25);
    // A deep page: 20,000 when the queue has it, else its middle.
    let deep = if last > 20_000 {
        20_000
    } else {
        last.div_ceil(2)
    };
    let queries = [
        ("newest_page1", page(Sort::Newest, 1)),
        ("score_page1", page(Sort::Score, 1)),
        ("time_left_page1", page(Sort::TimeLeft, 1)),
        ("newest_page100", page(Sort::Newest, 100)),
        ("score_page100", page(Sort::Score, 100)),
        ("time_left_page100", page(Sort::TimeLeft, 100)),
        ("newest_page_deep", page(Sort::Newest, deep)),
        ("score_page_deep", page(Sort::Score, deep)),
        ("time_left_page_deep", page(Sort::TimeLeft, deep)),
        ("newest_last_page", page(Sort::Newest, last)),
        ("score_last_page", page(Sort::Score, last)),
        ("time_left_last_page", page(Sort::TimeLeft, last)),
        (
            "status_open_score_page_deep",
            CaseQuery {
                status: StatusFilter::Is(CaseStatus::Open),
                ..page(Sort::Score, deep)
            },
        ),
        (
            "untaken_newest_page1",
            CaseQuery {
                status: StatusFilter::Untaken,
                ..page(Sort::Newest, 1)
            },
        ),
        (
            "taken_score_page1",
            CaseQuery {
                status: StatusFilter::Taken,
                ..page(Sort::Score, 1)
            },
        ),
        (
            "status_open_time_left_page1",
            CaseQuery {
                status: StatusFilter::Is(CaseStatus::Open),
                ..page(Sort::TimeLeft, 1)
            },
        ),
        (
            "score_band_page1",
            CaseQuery {
                min_score: Some(10.0),
                max_score: Some(30.0),
                ..page(Sort::Score, 1)
            },
        ),
        (
            "opened_dates_newest_page1",
            CaseQuery {
                opened_from: Some(T0 + 86_400),
                opened_to: Some(T0 + 10 * 86_400),
                ..page(Sort::Newest, 1)
            },
        ),
        (
            "time_left_page200",
            CaseQuery {
                sort: Sort::TimeLeft,
                offset: 200 * 25,
                limit: 25,
                ..CaseQuery::default()
            },
        ),
        (
            "district_band_score_page3",
            CaseQuery {
                district: Some("317107".into()),
                min_score: Some(10.0),
                max_score: Some(30.0),
                sort: Sort::Score,
                offset: 50,
                limit: 25,
                ..CaseQuery::default()
            },
        ),
        (
            "service_point_dates_all",
            CaseQuery {
                status: StatusFilter::All,
                service_point: Some("sp-7".into()),
                opened_from: Some(T0 + 86_400),
                opened_to: Some(T0 + 10 * 86_400),
                limit: 25,
                ..CaseQuery::default()
            },
        ),
    ];
    // The same last pages by keyset seek from the row before them (found once, untimed):
    // what the review page's Next link asks for.
    let mut queries = queries.to_vec();
    for (name, sort) in [
        ("newest_last_page_seek", Sort::Newest),
        ("score_last_page_seek", Sort::Score),
        ("time_left_last_page_seek", Sort::TimeLeft),
    ] {
        let before = store.list(&page(sort, last - 1), now).unwrap();
        let edge = before.cases.last().unwrap();
        queries.push((
            name,
            CaseQuery {
                seek: Some(Seek::After(Cursor::of(edge, sort).unwrap())),
                ..page(sort, 1)
            },
        ));
    }
    for (name, q) in &queries {
        g.bench_with_input(BenchmarkId::from_parameter(name), q, |b, q| {
            b.iter(|| black_box(store.list(q, now).unwrap()))
        });
    }
    g.bench_function("overdue_count", |b| {
        b.iter(|| black_box(store.counts(now).unwrap()))
    });
    // The same counts and the opening-date page as the previous release's queries (every
    // case counted; the page's rows read and sorted whole), for comparison in one run.
    let state = store.store().clone();
    g.bench_function("overdue_count_every_case", |b| {
        b.iter(|| {
            state
                .read(|c| {
                    let n = |sql: &str| -> i64 { c.query_row(sql, [now], |r| r.get(0)).unwrap() };
                    Ok(black_box((
                        n("SELECT count(*) FROM cases WHERE ?1 = ?1"),
                        n("SELECT count(*) FROM cases WHERE final = 0 AND ?1 = ?1"),
                        n("SELECT count(*) FROM cases WHERE final = 0 AND deadline_secs < ?1"),
                    )))
                })
                .unwrap()
        })
    });
    g.bench_function("opened_dates_newest_page1_rows_sorted", |b| {
        b.iter(|| {
            state
                .read(|c| {
                    let from = T0 + 86_400;
                    let to = T0 + 10 * 86_400;
                    let total: i64 = c
                        .query_row(
                            "SELECT count(*) FROM (SELECT 1 FROM cases INDEXED BY \
                             cases_by_final_opened_cover WHERE final = 0 AND opened_secs >= ?1 \
                             AND opened_secs < ?2 LIMIT 10001)",
                            [from, to],
                            |r| r.get(0),
                        )
                        .unwrap();
                    let mut stmt = c
                        .prepare_cached(
                            "SELECT * FROM cases INDEXED BY cases_by_final_opened_cover \
                             WHERE final = 0 AND opened_secs >= ?1 AND opened_secs < ?2 \
                             ORDER BY seq DESC LIMIT 25 OFFSET 0",
                        )
                        .unwrap();
                    let rows: Vec<String> = stmt
                        .query_map([from, to], |r| r.get::<_, String>("new_case"))
                        .unwrap()
                        .map(Result::unwrap)
                        .collect();
                    Ok(black_box((total, rows)))
                })
                .unwrap()
        })
    });
    // The same pages by number as the previous release read them: `OFFSET` over the sort
    // order's index (the active queue), for comparison in one run.
    for (name, order, number) in [
        ("newest", "seq DESC", 100),
        ("score", "score DESC, strength DESC, seq", 100),
        ("time_left", "deadline_secs, seq", 100),
        ("newest", "seq DESC", deep),
        ("score", "score DESC, strength DESC, seq", deep),
        ("time_left", "deadline_secs, seq", deep),
        ("newest", "seq DESC", last),
        ("score", "score DESC, strength DESC, seq", last),
        ("time_left", "deadline_secs, seq", last),
    ] {
        let label = match number {
            100 => "page100".to_owned(),
            n if n == last => "last_page".to_owned(),
            _ => "page_deep".to_owned(),
        };
        let sql = format!(
            "SELECT new_case FROM cases WHERE final = 0 ORDER BY {order} LIMIT 25 OFFSET ?1"
        );
        let offset = i64::try_from((number - 1) * 25).unwrap();
        g.bench_function(format!("{name}_{label}_offset"), |b| {
            b.iter(|| {
                state
                    .read(|c| {
                        let mut stmt = c.prepare_cached(&sql).unwrap();
                        let rows: Vec<String> = stmt
                            .query_map([offset], |r| r.get::<_, String>(0))
                            .unwrap()
                            .map(Result::unwrap)
                            .collect();
                        Ok(black_box(rows))
                    })
                    .unwrap()
            })
        });
    }
    drop(state);
    // Opening while the store is open elsewhere in the process shares it; a fresh open
    // (file open, integrity check, schema check) needs every handle closed.
    drop(store);
    g.sample_size(10);
    g.bench_function("open", |b| {
        b.iter(|| black_box(CaseStore::open(dir.path()).unwrap().policy()))
    });
    // The previous release's open: the same, then `PRAGMA quick_check` of the whole file
    // (now run by a background thread).
    g.bench_function("open_with_whole_file_check", |b| {
        b.iter(|| {
            let store = CaseStore::open(dir.path()).unwrap();
            black_box(store.store().check_integrity())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
