//! Shared harness of the operations drills (TLS, slow clients, hostile input, disk full):
//! starts the real `tunggal serve` stack on loopback with a temporary data directory.
//!
//! `PreparingEngine` is a TEST DOUBLE: it runs every accepted fingerprint through the real
//! `FingerMatcher::prepare` (so hostile templates that pass validation also reach the matcher)
//! and answers `single`. It is not the shipped engine.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;
use tunggal::cases::{
    CaseOutcome, CaseOutcomeError, CaseOutcomeSink, CaseStore, Evidence, FingerComparison,
    IrisComparison, PersonSummary,
};
use tunggal::enrolment::record::{EnrolmentRecord, Origin, Probe};
use tunggal::enrolment::{Candidate, EngineError, EnrolmentEngine, Verdict, Verification};
use tunggal::service::{Service, ServiceConfig, ServiceError};
use tunggal_index::finger::{FingerMatcher, MccParams};
use tunggal_index::iris::IrisLayout;
use tunggal_index::template::iso::{self, IsoRecord};
use tunggal_index::template::{FingerView, RawMinutia};

pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef0123456789";

/// Test double: prepares every template with the real matcher and answers `single`.
pub struct PreparingEngine {
    matcher: FingerMatcher,
    enrolled: Mutex<usize>,
}

impl PreparingEngine {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            matcher: FingerMatcher::new(MccParams::default()),
            enrolled: Mutex::new(0),
        })
    }

    fn prepare_all(&self, probe: &Probe) {
        for f in &probe.fingers {
            let _ = self.matcher.prepare(&f.template);
        }
    }
}

impl Evidence for PreparingEngine {
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

impl CaseOutcomeSink for PreparingEngine {
    fn case_closed(
        &self,
        _id: &str,
        _a: &PersonSummary,
        _o: &CaseOutcome,
    ) -> Result<(), CaseOutcomeError> {
        Ok(())
    }
}

impl EnrolmentEngine for PreparingEngine {
    fn name(&self) -> &str {
        "preparing-test-double"
    }
    fn enrol(&self, record: &EnrolmentRecord) -> Result<Verdict, EngineError> {
        self.prepare_all(&record.probe);
        let mut n = self.enrolled.lock().unwrap();
        *n += 1;
        Ok(Verdict::Single {
            reference_id: format!("p{n}"),
            reissue: false,
        })
    }
    fn identify(&self, probe: &Probe, _max: usize) -> Result<Vec<Candidate>, EngineError> {
        self.prepare_all(probe);
        Ok(Vec::new())
    }
    fn verify(&self, _reference_id: &str, probe: &Probe) -> Result<Verification, EngineError> {
        self.prepare_all(probe);
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
pub fn iso_template(position: u8, seed: u32) -> Vec<u8> {
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

pub fn iris_json(eye: &str) -> Value {
    let layout = IrisLayout::from_name("daugman-2048").unwrap();
    let code: Vec<u8> = (0..layout.code_bytes())
        .map(|i| (i * 37 % 251) as u8)
        .collect();
    let mask = vec![0xFFu8; layout.code_bytes()];
    json!({"eye": eye, "layout": "daugman-2048", "code": STANDARD.encode(code), "mask": STANDARD.encode(mask)})
}

/// A valid enrolment for service point sp-1 of district 317101.
pub fn enrolment(request_id: &str, seed: u32) -> Value {
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

/// `../shared/datasets/<sub>` beside the repository, if present.
pub fn shared_dir(sub: &str) -> Option<std::path::PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/datasets")
        .join(sub);
    path.is_dir().then_some(path)
}

// ---------------------------------------------------------------- server

pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ServiceError>>,
}

impl Running {
    /// Stops the server and checks it shut down cleanly.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

pub fn config(dir: &Path) -> ServiceConfig {
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

pub async fn start(config: ServiceConfig, engine: Arc<dyn EnrolmentEngine>) -> Running {
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let cases = Arc::new(CaseStore::open(&config.data_dir).unwrap());
    let service = Service::bind(config, engine, cases, Some(ADMIN_KEY))
        .await
        .unwrap();
    start_bound(service)
}

/// Runs a bound service until [`Running::stop`].
pub fn start_bound(service: Service) -> Running {
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

// ---------------------------------------------------------------- raw HTTP/1.1 client

/// A parsed response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts a well-formed problem+json body and returns its reason.
    pub fn problem_reason(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "status {} body {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        let p = self.json();
        assert_eq!(p["status"].as_u64(), Some(u64::from(self.status)));
        assert!(p["title"].is_string() && p["detail"].is_string());
        let reason = p["reason"].as_str().unwrap().to_owned();
        assert!(!reason.is_empty());
        reason
    }
}

/// Builds one HTTP/1.1 request with `Connection: close`.
pub fn request_bytes(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Reads one `Connection: close` response to its end.
pub async fn read_reply<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Reply> {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    parse_reply(&raw)
}

pub fn parse_reply(raw: &[u8]) -> std::io::Result<Reply> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("head not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).ok()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// Sends one request over a fresh plain connection and reads the answer.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &[u8],
) -> std::io::Result<Reply> {
    stream.write_all(request).await?;
    stream.flush().await?;
    read_reply(stream).await
}

/// Sends one request to `addr` over plain TCP.
pub async fn http(addr: SocketAddr, request: &[u8]) -> std::io::Result<Reply> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    exchange(&mut stream, request).await
}

/// POSTs JSON bytes with a bearer key.
pub async fn post_json(addr: SocketAddr, path: &str, key: &str, body: &[u8]) -> Reply {
    let auth = format!("Bearer {key}");
    let request = request_bytes(
        "POST",
        path,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body,
    );
    http(addr, &request).await.unwrap()
}

/// Creates a service-point key for sp-1 of district 317101.
pub async fn service_point_key(addr: SocketAddr) -> String {
    let body = json!({"role": "service-point", "name": "Loket 1", "district": "317101", "service_point": "sp-1"});
    let r = post_json(
        addr,
        "/v1/admin/keys",
        ADMIN_KEY,
        &serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["key"].as_str().unwrap().to_owned()
}
