//! The harness of the service tests: the in-memory engine double, requests and keys.

pub(crate) use std::net::SocketAddr;
pub(crate) use std::path::{Path, PathBuf};
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
pub(crate) use std::sync::{mpsc, Arc, Mutex};

pub(crate) use base64::engine::general_purpose::STANDARD;
pub(crate) use base64::Engine as _;
pub(crate) use hyper::{Method, StatusCode};
pub(crate) use serde_json::{json, Value};
pub(crate) use tunggal::access::audit::AuditLog;
pub(crate) use tunggal::cases::{
    CaseOutcome, CaseOutcomeError, CaseOutcomeSink, CaseStore, Evidence, FingerComparison,
    IrisComparison, PersonSummary,
};
pub(crate) use tunggal::enrolment::record::{EnrolmentRecord, Origin, Probe};
pub(crate) use tunggal::enrolment::{
    Candidate, EngineError, EnrolmentEngine, Verdict, Verification,
};
pub(crate) use tunggal::service::{Service, ServiceConfig, UnwiredEngine};

pub(crate) use crate::http_support::{send, Reply, Server};
pub(crate) use tunggal_index::finger::{FingerMatcher, MccParams, PreparedTemplate};
pub(crate) use tunggal_index::iris::IrisLayout;
pub(crate) use tunggal_index::template::iso::{self, IsoRecord};
pub(crate) use tunggal_index::template::{FingerView, RawMinutia};

pub(crate) const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef0123456789";
pub(crate) const THRESHOLD: f32 = 0.5;

/// Test double: in-memory gallery compared with the real fingerprint matcher.
pub(crate) struct MemoryEngine {
    pub(crate) matcher: FingerMatcher,
    pub(crate) people: Mutex<Vec<(String, Vec<PreparedTemplate>)>>,
    pub(crate) calls: AtomicUsize,
    pub(crate) hold: Mutex<Option<mpsc::Receiver<()>>>,
}

impl MemoryEngine {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            matcher: FingerMatcher::new(MccParams::default()),
            people: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
            hold: Mutex::new(None),
        })
    }

    /// Makes enrolments whose request_id starts with `hold-` wait for a send on the channel.
    pub(crate) fn hold(&self) -> mpsc::Sender<()> {
        let (tx, rx) = mpsc::channel();
        *self.hold.lock().unwrap() = Some(rx);
        tx
    }

    pub(crate) fn best(&self, probe: &Probe) -> Vec<Candidate> {
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
                    identical: Default::default(),
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
            score: Some(0.0),
            threshold: 18.42,
            finger_scores: [None; 10],
            iris_distances: [None; 2],
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
pub(crate) fn iso_template(position: u8, seed: u32) -> Vec<u8> {
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

pub(crate) fn iris_json(eye: &str) -> Value {
    let layout = IrisLayout::from_name("daugman-2048").unwrap();
    let code: Vec<u8> = (0..layout.code_bytes())
        .map(|i| (i * 37 % 251) as u8)
        .collect();
    let mask = vec![0xFFu8; layout.code_bytes()];
    json!({"eye": eye, "layout": "daugman-2048", "code": STANDARD.encode(code), "mask": STANDARD.encode(mask)})
}

/// A valid enrolment for the demo service point (district 317101, service point sp-1).
pub(crate) fn enrolment(request_id: &str, seed: u32) -> Value {
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

pub(crate) fn shared_edge_case(name: &str) -> Option<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/datasets/iso-edge-cases")
        .join(name);
    std::fs::read(path).ok()
}

// ---------------------------------------------------------------- harness

pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) server: Server,
}

impl Running {
    pub(crate) fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    pub(crate) async fn stop(self) {
        self.server.stop().await;
    }
}

pub(crate) fn config(dir: &Path) -> ServiceConfig {
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

pub(crate) async fn start_with(config: ServiceConfig, engine: Arc<dyn EnrolmentEngine>) -> Running {
    let cases = Arc::new(CaseStore::open(&config.data_dir).unwrap());
    let service = Service::bind(config, engine, cases, Some(ADMIN_KEY))
        .await
        .unwrap();
    let server = Server::run(service);
    Running {
        addr: server.addr,
        server,
    }
}

pub(crate) async fn start(dir: &Path, engine: Arc<dyn EnrolmentEngine>) -> Running {
    start_with(config(dir), engine).await
}

impl Reply {
    /// The `reason` of an `application/problem+json` answer, its shape checked.
    pub(crate) fn reason(&self) -> String {
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

pub(crate) async fn post(url: &str, key: Option<&str>, body: &Value) -> Reply {
    send(
        Method::POST,
        url,
        key,
        Some(serde_json::to_vec(body).unwrap()),
    )
    .await
}

pub(crate) async fn get(url: &str, key: Option<&str>) -> Reply {
    send(Method::GET, url, key, None).await
}

pub(crate) async fn create_key(s: &Running, body: Value) -> String {
    let r = post(&s.url("/v1/admin/keys"), Some(ADMIN_KEY), &body).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["key"].as_str().unwrap().to_owned()
}

pub(crate) async fn service_point_key(s: &Running) -> String {
    create_key(
        s,
        json!({"role": "service-point", "name": "Loket 1", "district": "317101", "service_point": "sp-1"}),
    )
    .await
}

// ---------------------------------------------------------------- tests
