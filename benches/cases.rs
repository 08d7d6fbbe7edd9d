//! Case queue listing at 100,000 cases in the state store: one page with filters and each
//! sort order, the overdue count, and opening the store (which reads no case).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use tunggal::cases::{
    CaseCandidate, CaseKind, CaseQuery, CaseStore, NewCase, PersonSummary, Sort, StatusFilter,
};

const CASES: u32 = 100_000;
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

fn fill(store: &CaseStore) {
    let districts: Vec<String> = (0..50).map(|d| format!("3171{d:02}")).collect();
    let mut batch = Vec::new();
    for i in 0..CASES {
        let district = &districts[(i % 50) as usize];
        let score = f64::from((i.wrapping_mul(2_654_435_761) >> 8) % 4_000) / 100.0;
        batch.push((
            NewCase {
                kind: CaseKind::Biometric,
                applicant: person(i, district),
                candidates: vec![CaseCandidate {
                    person: person(i + CASES, "317101"),
                    score,
                    finger_scores: [Some(0.2); 10],
                    iris_distances: [Some(0.25), Some(0.3)],
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
    fill(&store);
    let now = T0 + u64::from(CASES) * 30;
    let mut g = c.benchmark_group("case_queue_100k");
    let queries = [
        ("newest_page1", CaseQuery::default()),
        (
            "score_page1",
            CaseQuery {
                sort: Sort::Score,
                ..CaseQuery::default()
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
    for (name, q) in &queries {
        g.bench_with_input(BenchmarkId::from_parameter(name), q, |b, q| {
            b.iter(|| black_box(store.list(q, now).unwrap()))
        });
    }
    g.bench_function("overdue_count", |b| {
        b.iter(|| black_box(store.counts(now).unwrap()))
    });
    // Opening while the store is open elsewhere in the process shares it; a fresh open
    // (file open, integrity check, schema check) needs every handle closed.
    drop(store);
    g.sample_size(10);
    g.bench_function("open", |b| {
        b.iter(|| black_box(CaseStore::open(dir.path()).unwrap().policy()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
