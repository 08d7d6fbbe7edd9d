//! Durable syncs per enrolment through the HTTP service: the state store's synced commits
//! and journal syncs (`tunggal_state_syncs_total`, read in process) and the gallery log's
//! fsyncs, counted around each `single` and each `duplicate` enrolment: at most 3 for a
//! single, 1 for a duplicate; then around rounds of eight enrolments in flight at once, whose
//! outcomes share commits of the state store and whose new members share gallery log
//! commits: fewer than one state store sync per enrolment. This
//! binary holds one test, so nothing else in the process commits meanwhile; the figures are
//! printed (`cargo test --test state_syncs -- --nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ops_harness;

use std::sync::Arc;

use ops_harness::{config, post_json, service_point_key, ADMIN_KEY};
use tunggal::cases::CaseStore;
use tunggal::engine::synthetic::request_of;
use tunggal::engine::{EngineOptions, GalleryEngine};
use tunggal::service::Service;
use tunggal::state::syncs::{self, Store};
use tunggal_datasets::population::{CaptureSpec, Population};

const SEED: u64 = 29;
const EACH: u64 = 6;
/// Enrolments in flight at once in the concurrent rounds.
const IN_FLIGHT: usize = 8;
/// Concurrent rounds.
const ROUNDS: u64 = 4;

fn body(pop: &Population, id: u64, number: u64, alias: Option<u64>, rid: &str) -> Vec<u8> {
    let spec = CaptureSpec {
        alias,
        ..CaptureSpec::default()
    };
    let capture = pop.capture(&pop.person(id), number, &spec);
    serde_json::to_vec(&request_of(&capture, rid, "317101", "sp-1")).unwrap()
}

/// Syncs so far: (state store commits, journal appends, gallery log fsyncs).
fn counts(engine: &GalleryEngine) -> [u64; 3] {
    [
        syncs::count(Store::Sqlite),
        syncs::count(Store::Journal),
        engine.gallery().store().wal_fsyncs(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_per_single_and_duplicate_enrolment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let cases = Arc::new(CaseStore::open(&data).unwrap());
    let (d, c) = (data.clone(), cases.clone());
    let engine = tokio::task::spawn_blocking(move || {
        let options = EngineOptions {
            calibration: tunggal::dedup::synthetic_calibration(120),
            ..EngineOptions::default()
        };
        GalleryEngine::open(&d, c, options)
    })
    .await
    .unwrap()
    .unwrap();
    let engine = Arc::new(engine);
    let mut service_config = config(&data);
    // Room for every enrolment of a concurrent round.
    service_config.queue_capacity = 2 * IN_FLIGHT;
    let service = Service::bind(
        service_config,
        engine.clone(),
        cases.clone(),
        Some(ADMIN_KEY),
    )
    .await
    .unwrap();
    let running = ops_harness::start_bound(service);
    let addr = running.addr;
    let sp = service_point_key(addr).await;
    let pop = Population::new(SEED);

    let mut totals = [[0u64; 3]; 2];
    for (kind, verdict) in ["single", "duplicate"].into_iter().enumerate() {
        for id in 0..EACH {
            // Singles: first captures of new persons; duplicates: a second capture of each
            // under another identity.
            let (number, alias) = if kind == 0 {
                (0, None)
            } else {
                (1, Some(id + 100))
            };
            let rid = format!("{verdict}-{id}");
            let before = counts(&engine);
            let r = post_json(
                addr,
                "/v1/enrolments",
                &sp,
                &body(&pop, id, number, alias, &rid),
            )
            .await;
            let after = counts(&engine);
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            assert_eq!(r.json()["verdict"], verdict, "{}", r.json());
            let delta: Vec<u64> = (0..3).map(|i| after[i] - before[i]).collect();
            println!(
                "{rid}: state store {}, journal {}, gallery log {}",
                delta[0], delta[1], delta[2]
            );
            // The state store: the outcome with everything that goes with it (for a
            // duplicate its case and trail row, the answer and the audit event) in one
            // synced commit; the intent commits without a sync of its own.
            assert_eq!(delta[0], 1, "{rid}: state store commits");
            // The audit line is appended without a sync (its event is in the commit).
            assert_eq!(delta[1], 0, "{rid}: journal appends");
            // A single: one gallery log group commit, and at most the background tick that
            // records the last batch's commit slot.
            assert!(
                delta.iter().sum::<u64>() <= 3,
                "{rid}: {delta:?} syncs in all"
            );
            for i in 0..3 {
                totals[kind][i] += delta[i];
            }
        }
    }
    for (kind, verdict) in ["single", "duplicate"].into_iter().enumerate() {
        let [s, j, g] = totals[kind];
        let n = EACH as f64;
        println!(
            "per {verdict} enrolment over {EACH}: state store {:.2}, journal {:.2}, gallery log \
             {:.2}, all {:.2}",
            s as f64 / n,
            j as f64 / n,
            g as f64 / n,
            (s + j + g) as f64 / n
        );
    }
    // Rounds of eight at once: seven new persons and a second capture of one of them under
    // another identity, so each round holds singles and a duplicate.
    let before = counts(&engine);
    let mut verdicts = [0u64; 2];
    for round in 0..ROUNDS {
        let first = 1000 + round * 10;
        let mut posts = tokio::task::JoinSet::new();
        for i in 0..IN_FLIGHT as u64 {
            let (number, id, alias) = if i + 1 == IN_FLIGHT as u64 {
                (1, first, Some(first + 500))
            } else {
                (0, first + i, None)
            };
            let rid = format!("c{round}-{i}");
            let b = body(&pop, id, number, alias, &rid);
            let sp = sp.clone();
            posts.spawn(async move { post_json(addr, "/v1/enrolments", &sp, &b).await });
        }
        while let Some(r) = posts.join_next().await {
            let r = r.unwrap();
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            match r.json()["verdict"].as_str() {
                Some("single") => verdicts[0] += 1,
                Some("duplicate") => verdicts[1] += 1,
                other => panic!("unexpected verdict {other:?}: {}", r.json()),
            }
        }
    }
    let after = counts(&engine);
    let n = ROUNDS * IN_FLIGHT as u64;
    let delta: Vec<u64> = (0..3).map(|i| after[i] - before[i]).collect();
    println!(
        "{n} enrolments, {IN_FLIGHT} in flight ({} single, {} duplicate): state store {:.2}, \
         journal {:.2}, gallery log {:.2} per enrolment; gallery log {:.2} per single",
        verdicts[0],
        verdicts[1],
        delta[0] as f64 / n as f64,
        delta[1] as f64 / n as f64,
        delta[2] as f64 / n as f64,
        delta[2] as f64 / verdicts[0].max(1) as f64,
    );
    assert!(
        verdicts[1] >= 1,
        "every round's second capture: {verdicts:?}"
    );
    // Outcomes decided together share one synced commit: below one per enrolment.
    assert!(
        delta[0] < n,
        "{} state store syncs for {n} enrolments in flight",
        delta[0]
    );
    assert_eq!(delta[1], 0, "journal appends");
    // Every duplicate has its case, each opened in its enrolment's transaction.
    assert_eq!(cases.len(), EACH as usize + verdicts[1] as usize);
    // Every answered enrolment has its audit line, written from its committed event.
    let audit = tunggal::access::audit::AuditLog::read_all(&data).unwrap();
    for (kind, verdict) in ["single", "duplicate"].into_iter().enumerate() {
        for id in 0..EACH {
            let rid = format!("{verdict}-{id}");
            let line = audit
                .iter()
                .find(|e| e.action == "enrol" && e.request_id.as_deref() == Some(&rid));
            let line = line.unwrap_or_else(|| panic!("{rid} ({kind}): no audit line"));
            assert_eq!(line.status, 200);
            assert!(line.seq.is_some(), "{rid}: the line of a staged event");
        }
    }
    running.stop().await;
}
