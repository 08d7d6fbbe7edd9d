//! Drives the real `tunggal serve` HTTP service over loopback with a temporary data dir.
//!
//! `MemoryEngine` below is a TEST DOUBLE: it compares fingerprints with `FingerMatcher`
//! against an in-memory list, for validation, role and queue tests. The shipped gallery
//! engine is tested in `engine_api.rs` (and here through the binary).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tunggal::access::audit::AuditLog;
use tunggal::cases::{
    CaseOutcome, CaseOutcomeError, CaseOutcomeSink, CaseStore, Evidence, FingerComparison,
    IrisComparison, PersonSummary,
};
use tunggal::enrolment::record::{EnrolmentRecord, Origin, Probe};
use tunggal::enrolment::{Candidate, EngineError, EnrolmentEngine, Verdict, Verification};
use tunggal::service::{Service, ServiceConfig, ServiceError, UnwiredEngine};
use tunggal_index::finger::{FingerMatcher, MccParams, PreparedTemplate};
use tunggal_index::iris::IrisLayout;
use tunggal_index::template::iso::{self, IsoRecord};
use tunggal_index::template::{FingerView, RawMinutia};

const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef0123456789";
const THRESHOLD: f32 = 0.5;

/// Test double: in-memory gallery compared with the real fingerprint matcher.
struct MemoryEngine {
    matcher: FingerMatcher,
    people: Mutex<Vec<(String, Vec<PreparedTemplate>)>>,
    calls: AtomicUsize,
    hold: Mutex<Option<mpsc::Receiver<()>>>,
}

impl MemoryEngine {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            matcher: FingerMatcher::new(MccParams::default()),
            people: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
            hold: Mutex::new(None),
        })
    }

    /// Makes enrolments whose request_id starts with `hold-` wait for a send on the channel.
    fn hold(&self) -> mpsc::Sender<()> {
        let (tx, rx) = mpsc::channel();
        *self.hold.lock().unwrap() = Some(rx);
        tx
    }

    fn best(&self, probe: &Probe) -> Vec<Candidate> {
        let prepared: Vec<_> = probe
            .fingers
            .iter()
            .map(|f| self.matcher.prepare(&f.template))
            .collect();
        let people = self.people.lock().unwrap();
        let mut out: Vec<Candidate> = people
            .iter()
            .map(|(id, fingers)| {
                let score = prepared
                    .iter()
                    .flat_map(|p| fingers.iter().map(|g| self.matcher.compare(p, g)))
                    .fold(0.0f32, f32::max);
                Candidate {
                    reference_id: id.clone(),
                    request_id: String::new(),
                    score: f64::from(score),
                    finger_scores: [None; 10],
                    iris_distances: [None; 2],
                }
            })
            .filter(|c| c.score >= f64::from(THRESHOLD))
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        out
    }
}

impl Evidence for MemoryEngine {
    fn finger(&self, _a: &str, _c: &str, _position: u8) -> Option<FingerComparison> {
        None
    }

    fn iris(&self, _a: &str, _c: &str, _eye: usize) -> Option<IrisComparison> {
        None
    }

    fn photo(&self, _reference_id: &str) -> Option<Vec<u8>> {
        None
    }

    fn signature(&self, _reference_id: &str) -> Option<Vec<u8>> {
        None
    }
}

impl CaseOutcomeSink for MemoryEngine {
    fn case_closed(
        &self,
        _id: &str,
        _a: &PersonSummary,
        _o: &CaseOutcome,
    ) -> Result<(), CaseOutcomeError> {
        Ok(())
    }
}

impl EnrolmentEngine for MemoryEngine {
    fn name(&self) -> &str {
        "memory-test-double"
    }

    fn enrol(&self, record: &EnrolmentRecord) -> Result<Verdict, EngineError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if record.request_id.starts_with("hold-") {
            if let Some(rx) = self.hold.lock().unwrap().as_ref() {
                let _ = rx.recv();
            }
        }
        let candidates = self.best(&record.probe);
        if !candidates.is_empty() {
            return Ok(Verdict::Duplicate {
                reference_id: format!("held-{}", record.request_id),
                case_id: Some(format!("case-{}", record.request_id)),
                reason: "biometric".into(),
                candidates,
                refused_as_duplicate_of: None,
            });
        }
        let mut people = self.people.lock().unwrap();
        let id = format!("p{}", people.len() + 1);
        let prepared = record
            .probe
            .fingers
            .iter()
            .map(|f| self.matcher.prepare(&f.template))
            .collect();
        people.push((id.clone(), prepared));
        Ok(Verdict::Single {
            reference_id: id,
            reissue: false,
        })
    }

    fn identify(&self, probe: &Probe, max: usize) -> Result<Vec<Candidate>, EngineError> {
        let mut c = self.best(probe);
        c.truncate(max);
        Ok(c)
    }

    fn verify(&self, _reference_id: &str, _probe: &Probe) -> Result<Verification, EngineError> {
        Ok(Verification {
            matched: false,
            score: None,
        })
    }

    fn delete(&self, _reference_id: &str) -> Result<bool, EngineError> {
        Ok(false)
    }

    fn status(&self, _o: &Origin, _r: &str) -> Result<Option<Verdict>, EngineError> {
        Ok(None)
    }
}

// ---------------------------------------------------------------- fixtures

/// A deterministic ISO 19794-2 record with one view of 40 minutiae; `seed` varies it.
fn iso_template(position: u8, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let minutiae = (0..40)
        .map(|_| RawMinutia {
            kind: 1 + (next() % 2) as u8,
            x: 20 + (next() % 340) as u16,
            y: 20 + (next() % 440) as u16,
            angle: (next() % 256) as u8,
            quality: 60,
        })
        .collect();
    let record = IsoRecord {
        equipment: 0,
        width: 400,
        height: 500,
        res_x: 197,
        res_y: 197,
        views: vec![FingerView {
            position,
            quality: 80,
            minutiae,
            ..FingerView::default()
        }],
    };
    iso::encode(&record).unwrap()
}

fn iris_json(eye: &str) -> Value {
    let layout = IrisLayout::from_name("daugman-2048").unwrap();
    let code: Vec<u8> = (0..layout.code_bytes())
        .map(|i| (i * 37 % 251) as u8)
        .collect();
    let mask = vec![0xFFu8; layout.code_bytes()];
    json!({"eye": eye, "layout": "daugman-2048", "code": STANDARD.encode(code), "mask": STANDARD.encode(mask)})
}

/// A valid enrolment for the demo service point (district 317101, service point sp-1).
fn enrolment(request_id: &str, seed: u32) -> Value {
    let fingers: Vec<Value> = (1..=10u8)
        .map(|p| {
            json!({"position": p, "format": "iso19794-2", "quality": 80,
                   "template": STANDARD.encode(iso_template(p, seed * 100 + u32::from(p)))})
        })
        .collect();
    json!({
        "request_id": request_id,
        "nik": "3171014508900001",
        "name": "Siti Rahayu",
        "sex": "female",
        "date_of_birth": "1990-08-05",
        "district": "317101",
        "service_point": "sp-1",
        "citizenship": "WNI",
        "fingerprints": fingers,
        "irises": [iris_json("left"), iris_json("right")],
    })
}

fn shared_edge_case(name: &str) -> Option<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/datasets/iso-edge-cases")
        .join(name);
    std::fs::read(path).ok()
}

// ---------------------------------------------------------------- harness

struct Running {
    addr: SocketAddr,
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
    }
}

fn config(dir: &Path) -> ServiceConfig {
    ServiceConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        body_limit_bytes: 256 * 1024,
        request_timeout_secs: 60,
        queue_capacity: 4,
        shutdown_grace_secs: 10,
        ..ServiceConfig::default()
    }
}

async fn start_with(config: ServiceConfig, engine: Arc<dyn EnrolmentEngine>) -> Running {
    let cases = Arc::new(CaseStore::open(&config.data_dir).unwrap());
    let service = Service::bind(config, engine, cases, Some(ADMIN_KEY))
        .await
        .unwrap();
    let addr = service.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(service.run(async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        task,
    }
}

async fn start(dir: &Path, engine: Arc<dyn EnrolmentEngine>) -> Running {
    start_with(config(dir), engine).await
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

    fn reason(&self) -> String {
        assert_eq!(
            self.headers["content-type"], "application/problem+json",
            "status {}",
            self.status
        );
        let p = self.json();
        assert_eq!(p["status"].as_u64(), Some(u64::from(self.status.as_u16())));
        assert!(p["title"].is_string() && p["detail"].is_string());
        p["reason"].as_str().unwrap().to_owned()
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

async fn post(url: &str, key: Option<&str>, body: &Value) -> Reply {
    send(
        Method::POST,
        url,
        key,
        Some(serde_json::to_vec(body).unwrap()),
    )
    .await
}

async fn get(url: &str, key: Option<&str>) -> Reply {
    send(Method::GET, url, key, None).await
}

async fn create_key(s: &Running, body: Value) -> String {
    let r = post(&s.url("/v1/admin/keys"), Some(ADMIN_KEY), &body).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["key"].as_str().unwrap().to_owned()
}

async fn service_point_key(s: &Running) -> String {
    create_key(
        s,
        json!({"role": "service-point", "name": "Loket 1", "district": "317101", "service_point": "sp-1"}),
    )
    .await
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_inputs_are_problems_with_precise_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), MemoryEngine::new()).await;
    let key = service_point_key(&s).await;
    let truncated = shared_edge_case("openafis-101_1_truncate_3_bytes.iso").unwrap_or_else(|| {
        let t = iso_template(1, 7);
        t[..t.len() - 3].to_vec()
    });
    type Mutate = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutate, &str)> = vec![
        (
            "bad base64",
            Box::new(|b| b["fingerprints"][2]["template"] = json!("@@not base64@@")),
            "bad_base64",
        ),
        (
            "truncated ISO",
            Box::new(move |b| {
                b["fingerprints"][0]["template"] = json!(STANDARD.encode(&truncated))
            }),
            "template_truncated",
        ),
        (
            "not a minutiae record",
            Box::new(|b| {
                b["fingerprints"][0]["template"] = json!(STANDARD.encode(b"hello world, not FMR"))
            }),
            "template_unknown_record",
        ),
        (
            "wrong iris layout",
            Box::new(|b| b["irises"][0]["layout"] = json!("daugman-4096")),
            "unknown_iris_layout",
        ),
        (
            "iris all masked",
            Box::new(|b| b["irises"][1]["mask"] = json!(STANDARD.encode(vec![0u8; 256]))),
            "iris_unusable",
        ),
        (
            "iris short code",
            Box::new(|b| b["irises"][1]["code"] = json!(STANDARD.encode(vec![1u8; 100]))),
            "iris_wrong_length",
        ),
        (
            "NIK with bad date",
            Box::new(|b| b["nik"] = json!("3171017213900001")),
            "nik_invalid_date",
        ),
        (
            "NIK of the other sex",
            Box::new(|b| b["nik"] = json!("3171010508900001")),
            "nik_mismatch",
        ),
        (
            "NIK not digits",
            Box::new(|b| b["nik"] = json!("31710145089000x1")),
            "nik_malformed",
        ),
        (
            "unknown finger position",
            Box::new(|b| b["fingerprints"][3]["position"] = json!(11)),
            "unknown_finger_position",
        ),
        (
            "duplicate finger positions",
            Box::new(|b| b["fingerprints"][4]["position"] = json!(1)),
            "duplicate_finger_position",
        ),
        (
            "too few fingers",
            Box::new(|b| {
                b["fingerprints"].as_array_mut().unwrap().truncate(3);
            }),
            "too_few_fingers",
        ),
        (
            "WNA without documents",
            Box::new(|b| b["citizenship"] = json!("WNA")),
            "missing_wna_documents",
        ),
        (
            "unknown template format",
            Box::new(|b| b["fingerprints"][0]["format"] = json!("wsq")),
            "unknown_template_format",
        ),
        (
            "declared ANSI, sent ISO",
            Box::new(|b| b["fingerprints"][0]["format"] = json!("ansi378")),
            "template_format_mismatch",
        ),
        (
            "quality above 100",
            Box::new(|b| b["fingerprints"][0]["quality"] = json!(150)),
            "invalid_quality",
        ),
        (
            "bad request_id",
            Box::new(|b| b["request_id"] = json!("has spaces")),
            "invalid_request_id",
        ),
        (
            "plain http callback",
            Box::new(|b| b["callback_url"] = json!("http://example.org/cb")),
            "invalid_callback_url",
        ),
        (
            "unknown sex",
            Box::new(|b| b["sex"] = json!("x")),
            "invalid_sex",
        ),
        (
            "missing field",
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("nik");
            }),
            "malformed_json",
        ),
    ];
    assert!(cases.len() >= 10);
    for (what, mutate, reason) in &cases {
        let mut body = enrolment("bad-1", 1);
        mutate(&mut body);
        let r = post(&s.url("/v1/enrolments"), Some(&key), &body).await;
        assert_eq!(
            r.reason(),
            *reason,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // Where the fault is, and no NIK in the detail.
    let mut body = enrolment("bad-2", 1);
    body["fingerprints"][3]["position"] = json!(0);
    let p = post(&s.url("/v1/enrolments"), Some(&key), &body)
        .await
        .json();
    assert_eq!(p["pointer"], "/fingerprints/3/position");
    assert_eq!(p["status"], 422);
    let mut body = enrolment("bad-3", 1);
    body["nik"] = json!("3171017213900001");
    let p = post(&s.url("/v1/enrolments"), Some(&key), &body)
        .await
        .json();
    assert!(!p["detail"].as_str().unwrap().contains("3171017213900001"));
    // Not JSON at all, and not declared as JSON.
    let r = send(
        Method::POST,
        &s.url("/v1/enrolments"),
        Some(&key),
        Some(b"{nope".to_vec()),
    )
    .await;
    assert_eq!(r.reason(), "malformed_json");
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_413_problem() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), MemoryEngine::new()).await;
    let key = service_point_key(&s).await;
    let mut body = enrolment("big-1", 1);
    body["photo"] = json!(STANDARD.encode(vec![7u8; 300 * 1024]));
    let r = post(&s.url("/v1/enrolments"), Some(&key), &body).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.reason(), "body_too_large");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_bound_what_each_key_may_do() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), MemoryEngine::new()).await;
    let sp = service_point_key(&s).await;
    let other_sp = create_key(
        &s,
        json!({"role": "service-point", "name": "Loket 9", "district": "317102", "service_point": "sp-9"}),
    )
    .await;
    let analyst = create_key(&s, json!({"role": "analyst", "name": "Ana"})).await;
    let enrol_url = s.url("/v1/enrolments");

    let r = post(&enrol_url, None, &enrolment("a-1", 1)).await;
    assert_eq!(
        (r.status, r.reason().as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let r = post(&enrol_url, Some("tgl_unknown_key"), &enrolment("a-1", 1)).await;
    assert_eq!(r.reason(), "unauthorized");
    // A service point may not enrol for another service point, nor identify, nor manage keys.
    let r = post(&enrol_url, Some(&other_sp), &enrolment("a-1", 1)).await;
    assert_eq!(
        (r.status, r.reason().as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let ident =
        json!({"request_id": "i-1", "fingerprints": [enrolment("x", 1)["fingerprints"][0]]});
    let r = post(&s.url("/v1/identify"), Some(&sp), &ident).await;
    assert_eq!(r.reason(), "forbidden");
    let r = post(
        &s.url("/v1/admin/keys"),
        Some(&sp),
        &json!({"role": "admin", "name": "me"}),
    )
    .await;
    assert_eq!(r.reason(), "forbidden");
    // An analyst may not enrol or create keys, but may identify.
    let r = post(&enrol_url, Some(&analyst), &enrolment("a-2", 1)).await;
    assert_eq!(r.reason(), "forbidden");
    let r = post(
        &s.url("/v1/admin/keys"),
        Some(&analyst),
        &json!({"role": "admin", "name": "me"}),
    )
    .await;
    assert_eq!(r.reason(), "forbidden");
    // The owner enrols; only it (and analysts naming the service point) may read the answer.
    let r = post(&enrol_url, Some(&sp), &enrolment("a-3", 1)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["verdict"], "single");
    let r = get(&s.url("/v1/enrolments/a-3"), Some(&sp)).await;
    assert_eq!(r.json()["verdict"], "single");
    let r = get(&s.url("/v1/enrolments/a-3"), Some(&other_sp)).await;
    assert_eq!(r.reason(), "not_found");
    let r = get(
        &s.url("/v1/enrolments/a-3?district=317101&service_point=sp-1"),
        Some(&other_sp),
    )
    .await;
    assert_eq!(r.reason(), "forbidden");
    let r = get(
        &s.url("/v1/enrolments/a-3?district=317101&service_point=sp-1"),
        Some(&analyst),
    )
    .await;
    assert_eq!(r.json()["verdict"], "single");
    let r = post(&s.url("/v1/identify"), Some(&analyst), &ident).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(
        Method::DELETE,
        &s.url("/v1/persons/P0000000001"),
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(r.reason(), "forbidden");
    // Every 403 is audited with the caller's key and the route, never the raw path.
    let forbidden: Vec<(String, String)> = AuditLog::read_all(dir.path())
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "forbidden" && e.status == 403)
        .map(|e| (e.role, e.subject))
        .collect();
    let expected = [
        ("service-point", "POST /v1/enrolments"),
        ("service-point", "POST /v1/identify"),
        ("service-point", "POST /v1/admin/keys"),
        ("analyst", "POST /v1/enrolments"),
        ("analyst", "POST /v1/admin/keys"),
        ("service-point", "GET /v1/enrolments/{request_id}"),
        ("analyst", "DELETE /v1/persons/{reference_id}"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(r, s)| ((*r).to_owned(), (*s).to_owned()))
        .collect();
    assert_eq!(forbidden, expected);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_key_requests_are_problems() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), MemoryEngine::new()).await;
    let url = s.url("/v1/admin/keys");
    let r = post(&url, Some(ADMIN_KEY), &json!({"role": "root", "name": "x"})).await;
    assert_eq!(r.reason(), "unknown_role");
    let r = post(
        &url,
        Some(ADMIN_KEY),
        &json!({"role": "service-point", "name": "x"}),
    )
    .await;
    assert_eq!(r.reason(), "invalid_key_request");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_return_the_first_answer_even_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let engine = MemoryEngine::new();
    let s = start(dir.path(), engine.clone()).await;
    let key = service_point_key(&s).await;
    let url = s.url("/v1/enrolments");
    let first = post(&url, Some(&key), &enrolment("r-1", 1)).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json()["verdict"], "single");
    assert!(first.headers.get("idempotent-replay").is_none());
    let again = post(&url, Some(&key), &enrolment("r-1", 1)).await;
    assert_eq!(again.json(), first.json());
    assert_eq!(again.headers["idempotent-replay"], "true");
    assert_eq!(engine.calls.load(Ordering::SeqCst), 1);
    // Same request_id, different body.
    let r = post(&url, Some(&key), &enrolment("r-1", 2)).await;
    assert_eq!(
        (r.status, r.reason().as_str()),
        (StatusCode::CONFLICT, "idempotency_conflict")
    );
    // The same fingers under a new request_id are a duplicate (test double matching).
    let dup = post(&url, Some(&key), &enrolment("r-2", 1)).await;
    assert_eq!(dup.json()["verdict"], "duplicate");
    assert_eq!(dup.json()["candidates"][0]["reference_id"], "p1");
    s.stop().await;

    // Restart on the same data directory with a fresh engine: answers are replayed.
    let engine2 = MemoryEngine::new();
    let s = start(dir.path(), engine2.clone()).await;
    let replay = post(&s.url("/v1/enrolments"), Some(&key), &enrolment("r-1", 1)).await;
    assert_eq!(replay.json(), first.json());
    assert_eq!(replay.headers["idempotent-replay"], "true");
    assert_eq!(engine2.calls.load(Ordering::SeqCst), 0);
    let r = get(&s.url("/v1/enrolments/r-2"), Some(&key)).await;
    assert_eq!(r.json()["verdict"], "duplicate");
    // Metrics and audit saw it all.
    let metrics = String::from_utf8(get(&s.url("/metrics"), None).await.body).unwrap();
    assert!(metrics.contains(
        "tunggal_http_requests_total{route=\"/v1/enrolments\",method=\"POST\",status=\"200\"} 1"
    ));
    s.stop().await;
    let audit = AuditLog::read_all(dir.path()).unwrap();
    let enrols = audit.iter().filter(|e| e.action == "enrol").count();
    assert_eq!(enrols, 5);
    assert!(audit
        .iter()
        .any(|e| e.action == "read_enrolment" && e.status == 200));
    // The admin's key creation is audited too; everything else was the service point.
    assert!(audit
        .iter()
        .any(|e| e.action == "create_key" && e.role == "admin"));
    assert!(audit
        .iter()
        .filter(|e| e.action != "create_key")
        .all(|e| e.key_name == "Loket 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_answers_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let engine = MemoryEngine::new();
    let release = engine.hold();
    let mut cfg = config(dir.path());
    cfg.queue_capacity = 1;
    let s = start_with(cfg, engine.clone()).await;
    let key = service_point_key(&s).await;
    let url = s.url("/v1/enrolments");
    let held = tokio::spawn({
        let (url, key) = (url.clone(), key.clone());
        async move { post(&url, Some(&key), &enrolment("hold-1", 1)).await }
    });
    // Wait (bounded) until the held job occupies the queue.
    let mut admitted = false;
    for _ in 0..500 {
        let m = String::from_utf8(get(&s.url("/metrics"), None).await.body).unwrap();
        if m.contains("tunggal_queue_depth 1") {
            admitted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(admitted);
    let r = post(&url, Some(&key), &enrolment("q-2", 2)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.reason(), "queue_full");
    assert_eq!(r.headers["retry-after"], "1");
    // A retry of the held request while it runs.
    let r = post(&url, Some(&key), &enrolment("hold-1", 1)).await;
    assert_eq!(r.reason(), "request_in_progress");
    release.send(()).unwrap();
    let r = held.await.unwrap();
    assert_eq!(r.json()["verdict"], "single");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_the_running_request() {
    let dir = tempfile::tempdir().unwrap();
    let engine = MemoryEngine::new();
    let release = engine.hold();
    let s = start(dir.path(), engine.clone()).await;
    let key = service_point_key(&s).await;
    let url = s.url("/v1/enrolments");
    let addr = s.addr;
    let held = tokio::spawn(async move { post(&url, Some(&key), &enrolment("hold-9", 1)).await });
    for _ in 0..500 {
        if engine.calls.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(engine.calls.load(Ordering::SeqCst), 1);
    let stopping = tokio::spawn(s.stop());
    release.send(()).unwrap();
    let r = held.await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    stopping.await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwired_engine_is_not_ready_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), Arc::new(UnwiredEngine)).await;
    let health = get(&s.url("/health"), None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["engine_wired"], false);
    let ready = get(&s.url("/ready"), None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.reason(), "engine_not_wired");
    let key = service_point_key(&s).await;
    let r = post(&s.url("/v1/enrolments"), Some(&key), &enrolment("u-1", 1)).await;
    assert_eq!(r.reason(), "engine_not_wired");
    // Not kept: a retry runs again once an engine is there.
    let r = post(&s.url("/v1/enrolments"), Some(&key), &enrolment("u-1", 1)).await;
    assert_eq!(r.reason(), "engine_not_wired");
    let m = String::from_utf8(get(&s.url("/metrics"), None).await.body).unwrap();
    assert!(m.contains("tunggal_engine_wired 0"));
    let r = get(&s.url("/no/such/route"), None).await;
    assert_eq!(r.reason(), "not_found");
    let r = send(Method::PUT, &s.url("/health"), None, None).await;
    assert_eq!(r.reason(), "method_not_allowed");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_matches_the_real_routes() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), MemoryEngine::new()).await;
    let doc = get(&s.url("/openapi.json"), None).await.json();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let expected = [
        ("DELETE", "/v1/persons/{reference_id}"),
        ("GET", "/health"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/ready"),
        ("GET", "/v1/admin/callbacks/dead"),
        ("GET", "/v1/admin/keys"),
        ("GET", "/v1/admin/keys/events"),
        ("GET", "/v1/enrolments/{request_id}"),
        ("GET", "/v1/persons/{reference_id}"),
        ("POST", "/v1/admin/callbacks/{id}/requeue"),
        ("POST", "/v1/admin/keys"),
        ("POST", "/v1/admin/keys/{key_id}/revoke"),
        ("POST", "/v1/admin/keys/{key_id}/rotate"),
        ("POST", "/v1/enrolments"),
        ("POST", "/v1/identify"),
        ("POST", "/v1/verify"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, expected);
    // Every documented route exists on the server with that method.
    for (method, path) in &documented {
        let concrete = path
            .replace("{reference_id}", "P0000000001")
            .replace("{request_id}", "x-1")
            .replace("{key_id}", "0123456789ab")
            .replace("{id}", "1");
        let r = send(
            Method::from_bytes(method.as_bytes()).unwrap(),
            &s.url(&concrete),
            None,
            None,
        )
        .await;
        assert!(
            r.status != StatusCode::NOT_FOUND && r.status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} answered {}",
            r.status
        );
    }
    // Reasons and the bearer scheme are in the document.
    let reasons = &doc["components"]["schemas"]["Reason"];
    assert!(reasons.to_string().contains("queue_full"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    s.stop().await;
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tunggal"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_with_the_gallery_engine_and_stops_on_sigterm() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("TUNGGAL_ADMIN_KEY", ADMIN_KEY)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut said_gallery_open = false;
    let mut addr = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        said_gallery_open |= line.contains("gallery open with 0 persons");
        if let Some(a) = line.strip_prefix("tunggal: listening on http://") {
            addr = Some(a.to_owned());
            break;
        }
    }
    assert!(said_gallery_open);
    let addr = addr.unwrap();
    let r = get(&format!("http://{addr}/ready"), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["engine"], "gallery");
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().await.unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        rest.push(line);
    }
    assert!(rest.iter().any(|l| l.contains("stopped")));
}

/// Key governance: creation with an owner and expiry, listing, revocation and rotation
/// through the admin API and by a second store (the CLI), each refused from the next
/// request on, and every change in the audit log and the key trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_issued_to_owners_listed_revoked_rotated_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), MemoryEngine::new()).await;
    let probe = |key: String| {
        let url = s.url("/v1/persons/P0000000001");
        async move { get(&url, Some(&key)).await }
    };
    let created = post(
        &s.url("/v1/admin/keys"),
        Some(ADMIN_KEY),
        &json!({"role": "analyst", "name": "Ana", "owner": "NIP-198001"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let ana = created.json()["key"].as_str().unwrap().to_owned();
    let ana_id = created.json()["key_id"].as_str().unwrap().to_owned();
    assert_ne!(probe(ana.clone()).await.status, StatusCode::UNAUTHORIZED);

    // Listed with its owner, never with its hash; only admins list.
    let list = get(&s.url("/v1/admin/keys"), Some(ADMIN_KEY)).await;
    assert_eq!(list.status, StatusCode::OK);
    let listed = list.json();
    let entry = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == ana_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["owner"], "NIP-198001");
    assert_eq!(entry["role"], "analyst");
    assert!(!list.body.windows(6).any(|w| w == b"sha256"));
    assert_eq!(
        get(&s.url("/v1/admin/keys"), Some(&ana)).await.status,
        StatusCode::FORBIDDEN
    );

    // Rotation: a new secret for the same owner and role; the old key is refused at once.
    let rotated = post(
        &s.url(&format!("/v1/admin/keys/{ana_id}/rotate")),
        Some(ADMIN_KEY),
        &json!({}),
    )
    .await;
    assert_eq!(rotated.status, StatusCode::CREATED);
    let ana2 = rotated.json()["key"].as_str().unwrap().to_owned();
    let ana2_id = rotated.json()["key_id"].as_str().unwrap().to_owned();
    let old = probe(ana.clone()).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(old.json()["reason"], "key_revoked");
    assert_ne!(probe(ana2.clone()).await.status, StatusCode::UNAUTHORIZED);
    let listed = get(&s.url("/v1/admin/keys"), Some(ADMIN_KEY)).await.json();
    let new_entry = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == ana2_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (new_entry["owner"].clone(), new_entry["role"].clone()),
        (json!("NIP-198001"), json!("analyst"))
    );

    // Revocation through the admin API: refused from the next request on.
    let r = post(
        &s.url(&format!("/v1/admin/keys/{ana2_id}/revoke")),
        Some(ADMIN_KEY),
        &json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(probe(ana2.clone()).await.json()["reason"], "key_revoked");
    let again = post(
        &s.url(&format!("/v1/admin/keys/{ana2_id}/revoke")),
        Some(ADMIN_KEY),
        &json!({}),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    // Revocation by another process (the CLI's store) while the server runs.
    let budi = create_key(&s, json!({"role": "analyst", "name": "Budi"})).await;
    assert_ne!(probe(budi.clone()).await.status, StatusCode::UNAUTHORIZED);
    let budi_id = budi.split('_').nth(1).unwrap().to_owned();
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        tunggal::access::keys::KeyStore::open(&d)
            .unwrap()
            .revoke(&budi_id, "cli")
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(probe(budi).await.json()["reason"], "key_revoked");

    // Expiry.
    let soon = tunggal::access::keys::now_secs() + 2;
    let short = create_key(
        &s,
        json!({"role": "analyst", "name": "Temp", "expires_at": soon}),
    )
    .await;
    assert_ne!(probe(short.clone()).await.status, StatusCode::UNAUTHORIZED);
    while tunggal::access::keys::now_secs() <= soon {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let expired = probe(short).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.json()["reason"], "key_expired");
    let past = post(
        &s.url("/v1/admin/keys"),
        Some(ADMIN_KEY),
        &json!({"role": "analyst", "name": "Late", "expires_at": 1}),
    )
    .await;
    assert_eq!(past.json()["reason"], "invalid_key_request");

    // Every change is in the key trail and the audit log.
    let events = get(&s.url("/v1/admin/keys/events"), Some(ADMIN_KEY))
        .await
        .json();
    let actions: Vec<(String, String)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["key_id"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        (ana_id.clone(), "created"),
        (ana_id.clone(), "rotated"),
        (ana2_id.clone(), "created"),
        (ana2_id.clone(), "revoked"),
    ] {
        assert!(
            actions.contains(&(expected.0.clone(), expected.1.to_owned())),
            "{expected:?} missing from {actions:?}"
        );
    }
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    for action in ["create_key", "rotate_key", "revoke_key"] {
        assert!(audit.contains(action), "{action} not audited");
    }
    assert!(audit.contains("owner:NIP-198001"));
    s.stop().await;
}
