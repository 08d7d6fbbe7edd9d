//! A failed shared commit through HTTP: several enrolments in flight at once, their
//! outcomes committed in one transaction of the state store (`engine/group.rs`), and that
//! transaction refused by a failpoint (a trigger that first spends a while, so the other
//! enrolments queue behind the commit and share the next one, then rolls the transaction
//! back). Every enrolment of the group gets a `503` problem answer, none is acknowledged,
//! and once the failpoint is gone each retry with the same request id is answered, replayed
//! identically, and deduplicated as if the failed attempt had never happened: no person is
//! in the gallery twice, also after a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ops_harness;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use ops_harness::{config, http, post_json, request_bytes, service_point_key, Reply, ADMIN_KEY};
use serde_json::Value;
use tunggal::cases::CaseStore;
use tunggal::engine::synthetic::request_of;
use tunggal::engine::{EngineOptions, GalleryEngine};
use tunggal::service::Service;
use tunggal_datasets::population::{CaptureSpec, Population};

const SEED: u64 = 29;
/// New persons enrolled at once while the failpoint is armed.
const NEW: u64 = 7;

struct Server {
    running: ops_harness::Running,
    engine: Arc<GalleryEngine>,
}

async fn start(dir: &Path) -> Server {
    let mut cfg = config(dir);
    cfg.body_limit_bytes = 1024 * 1024;
    cfg.request_timeout_secs = 120;
    cfg.queue_capacity = 32;
    std::fs::create_dir_all(dir).unwrap();
    let cases = Arc::new(CaseStore::open(dir).unwrap());
    let (d, c) = (dir.to_path_buf(), cases.clone());
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
    let service = Service::bind(cfg, engine.clone(), cases, Some(ADMIN_KEY))
        .await
        .unwrap();
    Server {
        running: ops_harness::start_bound(service),
        engine,
    }
}

fn body(pop: &Population, id: u64, number: u64, alias: Option<u64>, rid: &str) -> Vec<u8> {
    let spec = CaptureSpec {
        alias,
        ..CaptureSpec::default()
    };
    let capture = pop.capture(&pop.person(id), number, &spec);
    serde_json::to_vec(&request_of(&capture, rid, "317101", "sp-1")).unwrap()
}

async fn status_of(addr: SocketAddr, key: &str, rid: &str) -> Reply {
    let auth = format!("Bearer {key}");
    let path = format!("/v1/enrolments/{rid}");
    http(
        addr,
        &request_bytes("GET", &path, &[("authorization", &auth)], b""),
    )
    .await
    .unwrap()
}

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn sql(dir: &Path, statements: &str) {
    let conn = rusqlite::Connection::open(dir.join("state.sqlite3")).unwrap();
    conn.execute_batch(statements).unwrap();
}

/// Arms the failpoint: every transaction that stores an enrolment's outcome first runs a
/// slow query (about a second of a three-way cross join), then is rolled back whole.
fn arm_failpoint(dir: &Path) {
    sql(
        dir,
        "CREATE TABLE failpoint_delay (x INTEGER);
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300)
         INSERT INTO failpoint_delay SELECT x FROM n;
         CREATE TRIGGER failpoint BEFORE UPDATE OF outcome ON persons BEGIN
           SELECT count(*) FROM failpoint_delay a, failpoint_delay b, failpoint_delay c;
           SELECT RAISE(ROLLBACK, 'failpoint: shared commit refused');
         END;",
    );
}

fn disarm_failpoint(dir: &Path) {
    sql(dir, "DROP TRIGGER failpoint; DROP TABLE failpoint_delay;");
}

/// The number of enrolments a failed shared commit names in its problem detail.
fn group_size(detail: &str) -> Option<usize> {
    let rest = detail.split("the shared commit of ").nth(1)?;
    rest.split(' ').next()?.parse().ok()
}

/// The request ids and bodies of the enrolments sent while the failpoint is armed: `NEW`
/// new persons and a returning capture (under another NIK) of the acknowledged person 0.
fn group(pop: &Population) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = (0..NEW)
        .map(|i| {
            let rid = format!("g-{i}");
            let b = body(pop, 10 + i, 0, None, &rid);
            (rid, b)
        })
        .collect();
    out.push(("g-dup".to_owned(), body(pop, 0, 1, Some(1), "g-dup")));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_shared_commit_answers_every_enrolment_and_retries_deduplicate() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let pop = Population::new(SEED);
    let server = start(&data).await;
    let addr = server.running.addr;
    let sp = service_point_key(addr).await;

    // Two acknowledged persons before the failure.
    let mut acknowledged: BTreeMap<String, String> = BTreeMap::new();
    for id in 0..2u64 {
        let rid = format!("a-{id}");
        let r = post_json(addr, "/v1/enrolments", &sp, &body(&pop, id, 0, None, &rid)).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        assert_eq!(r.json()["verdict"], "single");
        acknowledged.insert(rid, r.json()["reference_id"].as_str().unwrap().to_owned());
    }
    let before = server.engine.gallery().len();

    // Every enrolment in flight at once while each outcome transaction is refused.
    arm_failpoint(&data);
    let sent = group(&pop);
    let mut tasks = tokio::task::JoinSet::new();
    for (rid, b) in sent.clone() {
        let sp = sp.clone();
        tasks.spawn(async move { (rid, post_json(addr, "/v1/enrolments", &sp, &b).await) });
    }
    let mut largest_group = 0;
    while let Some(done) = tasks.join_next().await {
        let (rid, r) = done.unwrap();
        assert_eq!(r.status, 503, "{rid}: {}", text(&r));
        assert_eq!(r.problem_reason(), "engine_unavailable", "{rid}");
        assert!(r.header("retry-after").is_some(), "{rid}");
        let detail = r.json()["detail"].as_str().unwrap().to_owned();
        println!("{rid}: {detail}");
        let size = group_size(&detail).unwrap_or_else(|| panic!("{rid}: {detail}"));
        largest_group = largest_group.max(size);
    }
    // The enrolments really shared a failed commit (the failpoint's delay queues them).
    assert!(largest_group >= 2, "largest failed group {largest_group}");

    // None was acknowledged: no status answer names a verdict.
    for (rid, _) in &sent {
        let r = status_of(addr, &sp, rid).await;
        assert_ne!(
            r.status,
            200,
            "{rid} acknowledged after a failed commit: {}",
            text(&r)
        );
        assert!(r.status < 500 || r.status == 503, "{rid}: {}", text(&r));
    }

    // The retries, with the same request ids, are answered and deduplicated.
    disarm_failpoint(&data);
    let mut answers: BTreeMap<String, Value> = BTreeMap::new();
    for (rid, b) in &sent {
        let r = post_json(addr, "/v1/enrolments", &sp, b).await;
        assert_eq!(r.status, 200, "retry of {rid}: {}", text(&r));
        answers.insert(rid.clone(), r.json());
    }
    let mut references = BTreeSet::new();
    for i in 0..NEW {
        let v = &answers[&format!("g-{i}")];
        assert_eq!(v["verdict"], "single", "g-{i}: {v}");
        assert_eq!(v["reissue"], false, "g-{i} is a first enrolment: {v}");
        let reference = v["reference_id"].as_str().unwrap().to_owned();
        assert!(references.insert(reference.clone()), "{reference} twice");
        acknowledged.insert(format!("g-{i}"), reference);
    }
    let dup = &answers["g-dup"];
    assert_eq!(dup["verdict"], "duplicate", "{dup}");
    let candidates: Vec<&str> = dup["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["reference_id"].as_str())
        .collect();
    assert_eq!(candidates, [acknowledged["a-0"].as_str()], "{dup}");

    // Sent once more: the same answers, replayed.
    for (rid, b) in &sent {
        let r = post_json(addr, "/v1/enrolments", &sp, b).await;
        assert_eq!(r.status, 200, "{rid}: {}", text(&r));
        assert_eq!(r.json(), answers[rid], "{rid} answered differently");
    }

    // Each new person is in the gallery once: the failed attempts left no second member.
    assert_eq!(
        server.engine.gallery().len(),
        before + NEW as usize,
        "gallery members after the retries"
    );
    // A new capture of a retried person (under another NIK) names that one person.
    let r = post_json(
        addr,
        "/v1/enrolments",
        &sp,
        &body(&pop, 10, 1, Some(2), "later-dup"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let v = r.json();
    assert_eq!(v["verdict"], "duplicate", "{v}");
    let named: Vec<&str> = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["reference_id"].as_str())
        .collect();
    assert_eq!(named, [acknowledged["g-0"].as_str()], "{v}");

    // The gallery log's fsyncs are exported with the state store's syncs.
    let r = http(
        addr,
        &request_bytes(
            "GET",
            "/metrics",
            &[("authorization", &format!("Bearer {ADMIN_KEY}"))],
            b"",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", text(&r));
    let m = text(&r);
    let log_syncs: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix("tunggal_state_syncs_total{store=\"gallery_log\"} "))
        .unwrap_or_else(|| panic!("no gallery_log syncs in {m}"))
        .parse()
        .unwrap();
    assert_eq!(
        log_syncs,
        server.engine.gallery().store().wal_fsyncs() as f64,
        "{m}"
    );
    assert!(log_syncs >= 1.0, "{m}");
    server.running.stop().await;
    drop(server.engine);

    // After a restart every acknowledged enrolment keeps its reference, and recovery found
    // nothing half-done to roll forward into a second member.
    let server = start(&data).await;
    let addr = server.running.addr;
    let sp = service_point_key(addr).await;
    for (rid, reference) in &acknowledged {
        let r = status_of(addr, &sp, rid).await;
        assert_eq!(r.status, 200, "{rid} after restart: {}", text(&r));
        assert_eq!(r.json()["reference_id"], reference.as_str(), "{rid}");
    }
    assert_eq!(
        server.engine.gallery().len(),
        before + NEW as usize,
        "gallery members after the restart"
    );
    server.running.stop().await;
}
