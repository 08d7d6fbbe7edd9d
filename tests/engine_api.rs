//! The real server with the real gallery engine, over loopback with a temporary data
//! directory, driven with synthetic people.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tunggal::cases::{CaseOutcome, CaseOutcomeSink, CaseStore, Evidence};
use tunggal::engine::synthetic::request_of;
use tunggal::engine::{EngineOptions, GalleryEngine};
use tunggal::service::callbacks::CallbackConfig;
use tunggal::service::{Service, ServiceConfig, ServiceError};
use tunggal_datasets::population::{CaptureSpec, Population};

const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef0123456789";
const SEED: u64 = 11;

struct Running {
    addr: SocketAddr,
    engine: Option<Arc<GalleryEngine>>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ServiceError>>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap().unwrap();
        drop(self.engine.take());
    }

    fn engine(&self) -> &GalleryEngine {
        self.engine.as_ref().unwrap()
    }
}

/// Callbacks to the loopback receivers of these tests: allowed by host and address.
fn loopback_callbacks() -> CallbackConfig {
    CallbackConfig {
        allowed_hosts: vec!["127.0.0.1".to_owned()],
        allow_private_addresses: true,
        ..CallbackConfig::default()
    }
}

async fn start(dir: &Path) -> Running {
    start_with(dir, loopback_callbacks()).await
}

async fn start_with(dir: &Path, callbacks: CallbackConfig) -> Running {
    let config = ServiceConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        body_limit_bytes: 1024 * 1024,
        request_timeout_secs: 120,
        queue_capacity: 16,
        shutdown_grace_secs: 30,
        callbacks,
        ..ServiceConfig::default()
    };
    let cases = Arc::new(CaseStore::open(dir).unwrap());
    let (d, c) = (dir.to_path_buf(), cases.clone());
    let engine = tokio::task::spawn_blocking(move || {
        let options = EngineOptions {
            calibration_persons: 120,
            ..EngineOptions::default()
        };
        GalleryEngine::open(&d, c, options)
    })
    .await
    .unwrap()
    .unwrap();
    let policy = config.callbacks.delivery_policy();
    engine.set_notifier(tunggal::engine::callback::spawn_durable(dir, None, policy).unwrap());
    let engine = Arc::new(engine);
    let service = Service::bind(config, engine.clone(), cases, Some(ADMIN_KEY))
        .await
        .unwrap();
    let addr = service.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(service.run(async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        engine: Some(engine),
        stop: Some(tx),
        task,
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
}

async fn send(method: Method, url: &str, key: Option<&str>, body: Option<Vec<u8>>) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let response = client.request(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

async fn post(url: &str, key: &str, body: &Value) -> Reply {
    send(
        Method::POST,
        url,
        Some(key),
        Some(serde_json::to_vec(body).unwrap()),
    )
    .await
}

async fn get(url: &str, key: &str) -> Reply {
    send(Method::GET, url, Some(key), None).await
}

async fn key(s: &Running, body: Value) -> String {
    let r = post(&s.url("/v1/admin/keys"), ADMIN_KEY, &body).await;
    assert_eq!(r.status, StatusCode::CREATED);
    r.json()["key"].as_str().unwrap().to_owned()
}

async fn sp_key(s: &Running, sp: &str) -> String {
    key(
        s,
        json!({"role": "service-point", "name": sp, "district": "317101", "service_point": sp}),
    )
    .await
}

/// The request body of capture `number` of person `id`; `alias` presents another identity.
fn body(pop: &Population, id: u64, number: u64, alias: Option<u64>, rid: &str, sp: &str) -> Value {
    let spec = CaptureSpec {
        alias,
        ..CaptureSpec::default()
    };
    let capture = pop.capture(&pop.person(id), number, &spec);
    serde_json::to_value(request_of(&capture, rid, "317101", sp)).unwrap()
}

async fn enrol(s: &Running, key: &str, body: &Value) -> Value {
    let r = post(&s.url("/v1/enrolments"), key, body).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_retry_reissue_nik_conflict_roles_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let s = start(dir.path()).await;
    let ready = get(&s.url("/ready"), ADMIN_KEY).await;
    assert_eq!(ready.status, StatusCode::OK);
    let sp1 = sp_key(&s, "sp-1").await;
    let sp2 = sp_key(&s, "sp-2").await;
    let analyst = key(&s, json!({"role": "analyst", "name": "Analis"})).await;

    // Twelve different people: all single, each with its own reference id.
    let mut refs = Vec::new();
    for id in 0..12u64 {
        let v = enrol(
            &s,
            &sp1,
            &body(&pop, id, 0, None, &format!("g-{id}"), "sp-1"),
        )
        .await;
        assert_eq!(v["verdict"], "single", "person {id}: {v}");
        assert_eq!(v["status"], "print_ready");
        assert_eq!(v["reissue"], false);
        refs.push(v["reference_id"].as_str().unwrap().to_owned());
    }
    refs.dedup();
    assert_eq!(refs.len(), 12);
    // Gallery size and matcher work in /metrics: twelve searches over 0, 1, …, 11 persons.
    let m = String::from_utf8(get(&s.url("/metrics"), ADMIN_KEY).await.body).unwrap();
    let value = |name: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from {m}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("tunggal_gallery_persons"), 12);
    assert_eq!(value("tunggal_matcher_searches_total"), 12);
    assert_eq!(value("tunggal_matcher_persons_scanned_total"), 66);
    assert!(value("tunggal_matcher_comparisons_total") > 0);

    // A new capture of person 3 under an alias at another service point: duplicate.
    let dup_body = body(&pop, 3, 1, Some(1), "d-1", "sp-2");
    let dup = enrol(&s, &sp2, &dup_body).await;
    assert_eq!(dup["verdict"], "duplicate", "{dup}");
    assert_eq!(dup["duplicate_reason"], "biometric");
    assert_eq!(dup["status"], "under_review");
    let c0 = &dup["candidates"][0];
    assert_eq!(c0["reference_id"], refs[3].as_str());
    assert_eq!(c0["request_id"], "g-3");
    assert!(c0["score"].as_f64().unwrap() > 0.0);
    assert!(!c0["finger_scores"].as_array().unwrap().is_empty());
    assert!(!c0["iris_scores"].as_array().unwrap().is_empty());
    let case_id = dup["case_id"].as_str().unwrap().to_owned();
    assert!(case_id.starts_with('C'));

    // The idempotent retry returns the first answer, not "duplicate of itself".
    let again = post(&s.url("/v1/enrolments"), &sp2, &dup_body).await;
    assert_eq!(again.headers["idempotent-replay"], "true");
    assert_eq!(again.json()["case_id"], case_id.as_str());
    let first = enrol(&s, &sp1, &body(&pop, 0, 0, None, "g-0", "sp-1")).await;
    assert_eq!(first["verdict"], "single");
    assert_eq!(first["reference_id"], refs[0].as_str());

    // Person 5 re-applies under their own NIK: single, re-issue, no new person.
    let re = enrol(&s, &sp1, &body(&pop, 5, 2, None, "r-5", "sp-1")).await;
    assert_eq!(re["verdict"], "single", "{re}");
    assert_eq!(re["reissue"], true);
    assert_eq!(re["reference_id"], refs[5].as_str());

    // Someone new claims person 6's NIK: duplicate, nik_conflict.
    let mut claim = body(&pop, 40, 0, None, "n-1", "sp-1");
    let owner = body(&pop, 6, 0, None, "x", "sp-1");
    for field in ["nik", "sex", "date_of_birth"] {
        claim[field] = owner[field].clone();
    }
    let conflict = enrol(&s, &sp1, &claim).await;
    assert_eq!(conflict["verdict"], "duplicate", "{conflict}");
    assert_eq!(conflict["duplicate_reason"], "nik_conflict");
    assert_eq!(conflict["candidates"][0]["reference_id"], refs[6].as_str());

    // Persons: analysts read them, service points may not; the held applicant is visible.
    let p = get(&s.url(&format!("/v1/persons/{}", refs[3])), &analyst).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(p.json()["request_id"], "g-3");
    assert_eq!(p.json()["status"], "print_ready");
    let held = dup["reference_id"].as_str().unwrap();
    let p = get(&s.url(&format!("/v1/persons/{held}")), &analyst).await;
    assert_eq!(p.json()["status"], "under_review");
    assert_eq!(p.json()["case_id"], case_id.as_str());
    let p = get(&s.url(&format!("/v1/persons/{}", refs[3])), &sp1).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = get(&s.url("/v1/persons/P9999999999"), &analyst).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    // An analyst may not enrol; a service point may not read another's submission.
    let r = post(&s.url("/v1/enrolments"), &analyst, &dup_body).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = get(&s.url("/v1/enrolments/d-1"), &sp1).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Evidence for analysts: the matched finger's minutia pairs, the aligned iris.
    let held_ref = dup["reference_id"].as_str().unwrap().to_owned();
    let f = s.engine().finger(&held_ref, &refs[3], 1).unwrap();
    assert!(f.pairs.len() >= 4 && f.score > 0.0);
    assert!(f
        .pairs
        .iter()
        .all(|&(a, c)| a < f.applicant.minutiae.len() && c < f.candidate.minutiae.len()));
    let eye = (0..2)
        .find_map(|e| s.engine().iris(&held_ref, &refs[3], e))
        .unwrap();
    assert!(eye.distance < 0.35, "{}", eye.distance);
    assert_eq!(eye.applicant_code.len(), eye.angular * eye.radial);

    // Analysts' final decisions change the status the service point reads.
    let case = s.engine().cases().get(&case_id).unwrap();
    s.engine()
        .case_closed(&case_id, &case.new.applicant, &CaseOutcome::Cleared)
        .unwrap();
    let r = get(&s.url("/v1/enrolments/d-1"), &sp2).await.json();
    assert_eq!(r["verdict"], "single", "{r}");
    assert_eq!(r["status"], "print_ready");
    assert_eq!(r["reference_id"], held_ref.as_str());
    let conflict_case = conflict["case_id"].as_str().unwrap();
    let case = s.engine().cases().get(conflict_case).unwrap();
    let confirmed = CaseOutcome::ConfirmedDuplicate {
        duplicate_of: refs[6].clone(),
    };
    s.engine()
        .case_closed(conflict_case, &case.new.applicant, &confirmed)
        .unwrap();
    let r = get(&s.url("/v1/enrolments/n-1"), &sp1).await.json();
    assert_eq!(r["verdict"], "duplicate");
    assert_eq!(r["status"], "refused");
    assert_eq!(r["duplicate_of"], refs[6].as_str());

    // 1:1 verify by reference id: the mate matches, another person does not.
    let e = body(&pop, 7, 3, None, "v-1", "sp-1");
    let mut v =
        json!({"request_id": "v-1", "fingerprints": e["fingerprints"], "irises": e["irises"]});
    v["reference_id"] = json!(refs[7]);
    let r = post(&s.url("/v1/verify"), &analyst, &v).await;
    assert_eq!(r.json()["matched"], true, "{}", r.json());
    v["request_id"] = json!("v-2");
    v["reference_id"] = json!(refs[8]);
    let r = post(&s.url("/v1/verify"), &analyst, &v).await;
    assert_eq!(r.json()["matched"], false);
    s.stop().await;

    // Restart on the same data directory: every acknowledged answer and person is kept.
    let s = start(dir.path()).await;
    let r = get(&s.url("/v1/enrolments/g-11"), &sp1).await;
    assert_eq!(r.json()["reference_id"], refs[11].as_str());
    let r = get(&s.url("/v1/enrolments/d-1"), &sp2).await;
    assert_eq!(r.json()["status"], "print_ready");
    let r = get(&s.url("/v1/enrolments/n-1"), &sp1).await;
    assert_eq!(r.json()["status"], "refused");
    // Duplicates are still caught across the restart.
    let v = enrol(&s, &sp2, &body(&pop, 9, 4, Some(2), "d-2", "sp-2")).await;
    assert_eq!(v["verdict"], "duplicate", "{v}");
    assert_eq!(v["candidates"][0]["reference_id"], refs[9].as_str());
    // A new person after the restart gets a fresh reference id.
    let v = enrol(&s, &sp1, &body(&pop, 50, 0, None, "g-50", "sp-1")).await;
    assert_eq!(v["verdict"], "single", "{v}");
    assert!(!refs.contains(&v["reference_id"].as_str().unwrap().to_owned()));
    // A later read answers the decision's time, not the read's.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = get(&s.url("/v1/enrolments/g-50"), &sp1).await.json();
    assert_eq!(r["decided_at"], v["decided_at"], "{r}");
    // An admin deletes a person; a new capture of them is then single.
    let r = send(
        Method::DELETE,
        &s.url(&format!("/v1/persons/{}", refs[10])),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(r.json()["deleted"], true);
    // The service point's read of that enrolment now says so, not `print_ready`.
    let r = get(&s.url("/v1/enrolments/g-10"), &sp1).await.json();
    assert_eq!(r["verdict"], "single", "{r}");
    assert_eq!(r["status"], "deleted", "{r}");
    let v = enrol(&s, &sp2, &body(&pop, 10, 5, Some(1), "d-3", "sp-2")).await;
    assert_eq!(v["verdict"], "single", "{v}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enrolments_of_one_person_yield_one_single() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED + 1);
    let s = start(dir.path()).await;
    let sp1 = sp_key(&s, "sp-1").await;
    let sp2 = sp_key(&s, "sp-2").await;
    for id in 100..104u64 {
        let a = body(&pop, id, 0, None, &format!("a-{id}"), "sp-1");
        let b = body(&pop, id, 1, Some(1), &format!("b-{id}"), "sp-2");
        let url = s.url("/v1/enrolments");
        let (ra, rb) = tokio::join!(post(&url, &sp1, &a), post(&url, &sp2, &b));
        let verdicts = [ra.json(), rb.json()];
        let singles = verdicts.iter().filter(|v| v["verdict"] == "single").count();
        let dups: Vec<&Value> = verdicts
            .iter()
            .filter(|v| v["verdict"] == "duplicate")
            .collect();
        assert_eq!(singles, 1, "person {id}: {verdicts:?}");
        assert_eq!(dups.len(), 1, "person {id}: {verdicts:?}");
        let single = verdicts.iter().find(|v| v["verdict"] == "single").unwrap();
        assert_eq!(
            dups[0]["candidates"][0]["reference_id"],
            single["reference_id"]
        );
    }
    s.stop().await;
}

/// A local callback receiver: every POSTed JSON body goes to the channel.
async fn receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    receiver_at("127.0.0.1:0").await
}

/// [`receiver`] on a given address.
async fn receiver_at(at: &str) -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(at).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/cb"), rx)
}

async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Value>) -> Value {
    tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
        .await
        .expect("no callback within 30 s")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_post_final_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED + 2);
    let (url, mut rx) = receiver().await;
    let s = start(dir.path()).await;
    let sp1 = sp_key(&s, "sp-1").await;
    let sp2 = sp_key(&s, "sp-2").await;
    // Single: posted at once.
    let mut a = body(&pop, 1, 0, None, "cb-1", "sp-1");
    a["callback_url"] = json!(url);
    let v = enrol(&s, &sp1, &a).await;
    assert_eq!(v["verdict"], "single");
    let got = next(&mut rx).await;
    assert_eq!(got["request_id"], "cb-1");
    assert_eq!(got["verdict"], "single");
    // Duplicate: nothing until the case closes, then the final status.
    let mut b = body(&pop, 1, 1, Some(1), "cb-2", "sp-2");
    b["callback_url"] = json!(url);
    let v = enrol(&s, &sp2, &b).await;
    assert_eq!(v["verdict"], "duplicate", "{v}");
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(300), rx.recv()).await;
    assert!(quiet.is_err(), "no callback before the case closes");
    let case_id = v["case_id"].as_str().unwrap();
    let case = s.engine().cases().get(case_id).unwrap();
    let confirmed = CaseOutcome::ConfirmedDuplicate {
        duplicate_of: v["candidates"][0]["reference_id"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    s.engine()
        .case_closed(case_id, &case.new.applicant, &confirmed)
        .unwrap();
    let got = next(&mut rx).await;
    assert_eq!(got["request_id"], "cb-2");
    assert_eq!(got["status"], "refused");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleared_applicant_is_searched_against_persons_enrolled_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let s = start(dir.path()).await;
    let sp1 = sp_key(&s, "sp-1").await;
    for id in 0..6u64 {
        let v = enrol(
            &s,
            &sp1,
            &body(&pop, id, 0, None, &format!("g-{id}"), "sp-1"),
        )
        .await;
        assert_eq!(v["verdict"], "single", "person {id}: {v}");
    }
    // Person 30 claims person 2's NIK: a NIK conflict, held for review outside the gallery.
    let mut claim = body(&pop, 30, 0, None, "n-30", "sp-1");
    let owner = body(&pop, 2, 0, None, "x", "sp-1");
    for field in ["nik", "sex", "date_of_birth"] {
        claim[field] = owner[field].clone();
    }
    let held = enrol(&s, &sp1, &claim).await;
    assert_eq!(held["duplicate_reason"], "nik_conflict", "{held}");
    // While the case is open, person 30 enrols under their own NIK: nobody enrolled matches.
    let own = enrol(&s, &sp1, &body(&pop, 30, 1, None, "o-30", "sp-1")).await;
    assert_eq!(own["verdict"], "single", "{own}");

    // Analysts clear the claim: the applicant enters the gallery in order, and its match
    // with the person enrolled meanwhile becomes a gallery-pair case.
    let case_id = held["case_id"].as_str().unwrap();
    let case = s.engine().cases().get(case_id).unwrap();
    s.engine()
        .case_closed(case_id, &case.new.applicant, &CaseOutcome::Cleared)
        .unwrap();
    let mut pairs = Vec::new();
    s.engine()
        .cases()
        .for_each(|c| {
            if c.kind() == tunggal::cases::CaseKind::GalleryPair {
                pairs.push(c.clone());
            }
        })
        .unwrap();
    assert_eq!(pairs.len(), 1, "{pairs:?}");
    assert_eq!(pairs[0].new.applicant.request_id, "n-30");
    assert_eq!(pairs[0].new.candidates[0].person.request_id, "o-30");
    // Every later enrolment sees the cleared applicant.
    let again = enrol(&s, &sp1, &body(&pop, 30, 2, Some(3), "a-30", "sp-1")).await;
    assert_eq!(again["verdict"], "duplicate", "{again}");
    let found: Vec<&str> = again["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["request_id"].as_str())
        .collect();
    assert!(
        found.contains(&"n-30") && found.contains(&"o-30"),
        "{again}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_pending_at_shutdown_is_delivered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED + 3);
    // A free port with nobody listening yet: every attempt before the restart fails.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = start(dir.path()).await;
    let sp1 = sp_key(&s, "sp-1").await;
    let mut a = body(&pop, 1, 0, None, "late-1", "sp-1");
    a["callback_url"] = json!(format!("http://127.0.0.1:{port}/cb"));
    let v = enrol(&s, &sp1, &a).await;
    assert_eq!(v["verdict"], "single");
    s.stop().await;

    let (_, mut rx) = receiver_at(&format!("127.0.0.1:{port}")).await;
    let s = start(dir.path()).await;
    let got = next(&mut rx).await;
    assert_eq!(got["request_id"], "late-1");
    assert_eq!(got["verdict"], "single");
    // The delivery is marked done in the outbox just after the receiver answers.
    let mut left = 1;
    for _ in 0..50 {
        let d = dir.path().to_path_buf();
        left = tokio::task::spawn_blocking(move || {
            tunggal::engine::outbox::Outbox::open(&d).unwrap().1.len()
        })
        .await
        .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "the delivered callback is still pending");
    s.stop().await;
    // Delivered notices are not posted again on the next start.
    let s = start(dir.path()).await;
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(1500), rx.recv()).await;
    assert!(quiet.is_err(), "a delivered callback was posted again");
    s.stop().await;
}

/// A receiver that answers every POST with 500 and counts them.
async fn failing_receiver() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                (StatusCode::INTERNAL_SERVER_ERROR, "down")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/cb"), hits)
}

async fn dead_letters(s: &Running, key: &str) -> Reply {
    get(&s.url("/v1/admin/callbacks/dead"), key).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_hosts_off_the_allow_list_are_refused_at_request() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED + 4);
    let callbacks = CallbackConfig {
        allowed_hosts: vec!["notify.example".to_owned()],
        ..CallbackConfig::default()
    };
    let s = start_with(dir.path(), callbacks).await;
    let sp1 = sp_key(&s, "sp-1").await;
    for (i, url) in [
        "https://169.254.169.254/latest/meta-data/",
        "https://evil.example/cb",
        "https://notify.example.evil.example/cb",
        "http://127.0.0.1:9/cb",
    ]
    .into_iter()
    .enumerate()
    {
        let mut a = body(&pop, 1, 0, None, &format!("h-{i}"), "sp-1");
        a["callback_url"] = json!(url);
        let r = post(&s.url("/v1/enrolments"), &sp1, &a).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}");
        assert_eq!(r.json()["reason"], "callback_host_not_allowed", "{url}");
        assert_eq!(r.json()["pointer"], "/callback_url", "{url}");
    }
    // Nothing was enrolled or journalled by the refused requests; an allowed host passes.
    let mut a = body(&pop, 1, 0, None, "h-ok", "sp-1");
    a["callback_url"] = json!("https://notify.example/cb");
    let v = enrol(&s, &sp1, &a).await;
    assert_eq!(v["verdict"], "single", "{v}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_callbacks_become_dead_letters_an_admin_lists_and_requeues() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED + 5);
    let (url, hits) = failing_receiver().await;
    let callbacks = CallbackConfig {
        max_attempts: 3,
        base_delay_ms: 20,
        ..loopback_callbacks()
    };
    let s = start_with(dir.path(), callbacks.clone()).await;
    let sp1 = sp_key(&s, "sp-1").await;
    let mut a = body(&pop, 1, 0, None, "dl-1", "sp-1");
    a["callback_url"] = json!(url);
    assert_eq!(enrol(&s, &sp1, &a).await["verdict"], "single");
    let mut dead = Value::Null;
    for _ in 0..300 {
        let r = dead_letters(&s, ADMIN_KEY).await;
        assert_eq!(r.status, StatusCode::OK);
        dead = r.json()["dead_letters"].clone();
        if dead.as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let list = dead.as_array().expect("dead letters");
    assert_eq!(list.len(), 1, "{dead}");
    assert_eq!(list[0]["request_id"], "dl-1");
    assert_eq!(list[0]["attempts"], 3);
    assert!(
        list[0]["last_error"].as_str().unwrap().contains("500"),
        "{dead}"
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 3);
    // Only admins see or requeue dead letters.
    assert_eq!(dead_letters(&s, &sp1).await.status, StatusCode::FORBIDDEN);
    let id = list[0]["id"].as_u64().unwrap();
    let requeue = format!("/v1/admin/callbacks/{id}/requeue");
    let r = post(&s.url(&requeue), &sp1, &json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    s.stop().await;

    // A restart does not retry a dead letter.
    let s = start_with(dir.path(), callbacks).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 3);
    // The admin's requeue gives it a fresh set of attempts, and is audited.
    let r = post(&s.url(&requeue), ADMIN_KEY, &json!({})).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let r = post(
        &s.url("/v1/admin/callbacks/999999/requeue"),
        ADMIN_KEY,
        &json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    for _ in 0..300 {
        let d = dead_letters(&s, ADMIN_KEY).await.json();
        if d["dead_letters"].as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 6);
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(
        audit.contains("requeue_callback") && audit.contains(&format!("callback:{id}")),
        "requeue not audited"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_stage_timings_and_counters_after_enrolments() {
    let dir = tempfile::tempdir().unwrap();
    let pop = Population::new(SEED);
    let s = start(dir.path()).await;
    let sp = sp_key(&s, "sp-1").await;
    for id in 0..2u64 {
        let v = enrol(
            &s,
            &sp,
            &body(&pop, id, 0, None, &format!("m-{id}"), "sp-1"),
        )
        .await;
        assert_eq!(v["verdict"], "single", "{v}");
    }
    let r = get(&s.url("/metrics"), ADMIN_KEY).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "text/plain; version=0.0.4");
    let m = String::from_utf8(r.body).unwrap();
    let value = |series: &str| -> f64 {
        m.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{series} missing from {m}"))
            .parse()
            .unwrap()
    };
    // This service's own counts: exact.
    assert_eq!(value("tunggal_enrolments_total{verdict=\"single\"}"), 2.0);
    assert_eq!(
        value(
            "tunggal_http_requests_total{route=\"/v1/enrolments\",method=\"POST\",status=\"200\"}"
        ),
        2.0
    );
    assert_eq!(
        value("tunggal_http_request_duration_seconds_count{route=\"/v1/enrolments\"}"),
        2.0
    );
    assert!(value("tunggal_http_request_duration_seconds_sum{route=\"/v1/enrolments\"}") > 0.0);
    assert_eq!(value("tunggal_matcher_searches_total"), 2.0);
    assert_eq!(value("tunggal_gallery_persons"), 2.0);
    assert_eq!(value("tunggal_queue_depth"), 0.0);
    assert_eq!(value("tunggal_callbacks_dead"), 0.0);
    assert_eq!(value("tunggal_callbacks_pending"), 0.0);
    assert!(value("tunggal_state_syncs_total{store=\"sqlite\"}") > 0.0);
    // The index's stage timings and log counters (process-wide: other tests of this binary
    // add to them, so only that they were recorded and are positive).
    assert!(m.contains("# TYPE tunggal_index_stage1_seconds histogram"));
    assert!(m.contains("tunggal_index_stage1_seconds_bucket{le=\"0.0001\"}"));
    for series in [
        "tunggal_index_stage1_seconds_count",
        "tunggal_index_stage1_seconds_sum",
        "tunggal_index_stage1_probes_total",
        "tunggal_index_stage1_records_total",
        "tunggal_index_stage2_seconds_count",
        "tunggal_index_stage2_seconds_sum",
        "tunggal_index_stage2_candidates_total",
        "tunggal_index_wal_commit_seconds_count",
        "tunggal_index_wal_commit_seconds_sum",
        "tunggal_index_wal_commit_bytes_total",
        "tunggal_index_wal_group_commit_entries_count",
        "tunggal_index_wal_fsyncs_total",
    ] {
        assert!(value(series) > 0.0, "{series} is zero in {m}");
    }
    s.stop().await;
}
